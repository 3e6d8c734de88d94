"""`keras-initcmp`: end to end in a subprocess, a user's own model, and every bad input."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_initcmp.cli import commands
from cli_run import our_lines, run_main


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """A compiled .keras regression model, its data, a module:function and bad files."""
    folder = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype("float32")
    np.savez(folder / "data.npz", x=x[:32], y=x[:32].sum(1), x_val=x[32:], y_val=x[32:].sum(1))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.save(folder / "model.keras")
    (folder / "factory.py").write_text(textwrap.dedent("""
        import keras
        def build():
            return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        def broken():
            raise RuntimeError("no model today")
    """))
    np.savez(folder / "no_y.npz", x=x)
    np.savez(folder / "objects.npz", x=np.array([{"a": 1}] * 3, dtype=object), y=x[:3])
    (folder / "text.npz").write_text("not an archive")
    (folder / "garbage.keras").write_bytes(b"PK not really a zip")
    return folder


def test_compare_end_to_end_in_a_subprocess_then_resume_and_refuse(tmp_path, capsys):
    command = [os.path.join(os.path.dirname(sys.executable), "keras-initcmp"), "compare",
               "--steps", "20", "--epochs", "2", "--schemes", "zeros,he",
               "--logdir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    assert re.search(r"^zeros seed 0 +20 steps +loss 0\.6931", done.stdout, re.M)
    assert re.search(r"^scheme +seeds +loss \(mean ± sd\) +accuracy +val accuracy +diverged +stuck$",
                     done.stdout, re.M)
    # Balanced circles: the constant predictor's loss is ln 2, where zeros stays.
    assert re.search(r"^zeros +1 +0\.6931 +0\.500 +0\.500 +0/1 +1/1$", done.stdout, re.M)
    assert "stuck: final loss within 1% of 0.6931" in done.stdout
    assert done.stdout.rstrip().endswith(f"--logdir {tmp_path / 'circles'}")
    assert not our_lines(done.stderr)
    records = json.loads((tmp_path / "circles" / "results.json").read_text())
    assert [(r["scheme"], r["steps"]) for r in records] == [("zeros", 20), ("he", 20)]

    # The same command again resumes: nothing left to train, same table.
    status, out, err = run_main(capsys, *command[1:])
    assert status == 0 and "resuming, 2 of 2 runs already in results.json" in out
    assert json.loads((tmp_path / "circles" / "results.json").read_text()) == records

    status, out, err = run_main(capsys, *command[1:3], "40", *command[4:])
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"keras-initcmp: error: {tmp_path / 'circles'} holds results from "
                          "other settings (different steps_per_epoch)")
    assert "--overwrite" in err


def test_compare_a_users_keras_file_and_npz(tmp_path, capsys, user_files):
    status, out, err = run_main(capsys, "compare", "--model", user_files / "model.keras",
                                "--data", user_files / "data.npz", "--epochs", "2",
                                "--schemes", "xavier,he", "--quiet", "--logdir", tmp_path)
    assert (status, err) == (0, "")
    assert "seed 0" not in out  # --quiet: no progress lines, only the summary
    records = json.loads((tmp_path / "model" / "results.json").read_text())
    assert [r["scheme"] for r in records] == ["xavier", "he"]
    assert all(r["accuracy"] is None and r["val_loss"] > 0 for r in records)
    assert (tmp_path / "model" / "he" / "seed-0").is_dir()


def huber(prediction, y, delta=1.0):
    """Keras' Huber loss (default δ = 1), written out: the mean over samples of ½r² where
    |r| ≤ δ, δ(|r| - ½δ) beyond."""
    r = np.abs(prediction.ravel() - y)
    return np.mean(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)))


def test_compare_a_users_keras_file_keeps_its_loss_and_redraws_its_kernels(tmp_path, capsys,
                                                                          user_files, monkeypatch):
    """Steps and epochs in the records; the user's loss (mean absolute error: no default) kept;
    the file's trained-looking weights replaced by the scheme's draws before training.

    (Not Huber with its own δ: Keras 3.15's `Huber.get_config` drops `delta`, so a .keras
    file cannot hold it; the model reloads with δ = 1.)"""
    from keras_initcmp.driver import tasks

    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1)])
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mean_absolute_error")
    model.save(tmp_path / "mae.keras")
    saved = model.get_weights()

    started, finished, fresh_net, train = {}, {}, tasks.TrainTask._fresh_net, tasks.TrainTask._train

    def keep_fresh(self, scheme, seed):  # each run's weights as the scheme drew them
        net = fresh_net(self, scheme, seed)
        started[scheme] = [np.array(w, np.float64) for w in net.get_weights()]
        return net

    def keep_final(self, scheme, seed, run_dir, line):  # and as training left them
        records, net = train(self, scheme, seed, run_dir, line)
        finished[scheme] = net.get_weights()
        return records, net

    monkeypatch.setattr(tasks.TrainTask, "_fresh_net", keep_fresh)
    monkeypatch.setattr(tasks.TrainTask, "_train", keep_final)
    status, out, err = run_main(capsys, "compare", "--model", tmp_path / "mae.keras",
                                "--data", user_files / "data.npz", "--epochs", "2",
                                "--batch-size", "8", "--schemes", "orthogonal,he", "--quiet",
                                "--logdir", tmp_path / "logs")
    assert (status, err) == (0, "")
    records = json.loads((tmp_path / "logs" / "mae" / "results.json").read_text())
    # 32 training rows in batches of 8: 4 steps per epoch, 2 epochs.
    assert sorted((r["scheme"], r["epochs"], r["steps"]) for r in records) == [
        ("he", 2, 8), ("orthogonal", 2, 8)]

    data = np.load(user_files / "data.npz")
    for record in records:
        net = keras.models.clone_model(model)
        net.set_weights(finished[record["scheme"]])
        for split, key in (("", "loss"), ("_val", "val_loss")):
            prediction = keras.ops.convert_to_numpy(net(data["x" + split])).astype(np.float64)
            residuals = prediction.ravel() - data["y" + split]
            # float32 forward passes of 32 and 16 rows: agreement to 1e-5 relative.
            assert record[key] == pytest.approx(np.mean(np.abs(residuals)), rel=1e-5), (
                record["scheme"], key)
            # Not vacuous: MSE or Huber at the same weights is far off.
            assert record[key] != pytest.approx(np.mean(residuals**2), rel=0.05)
            assert record[key] != pytest.approx(huber(prediction, data["y" + split]), rel=0.05)

    # Orthogonal: W Wᵀ = I for the 3×8 kernel (rows orthonormal) and WᵀW = 1 for the 8×1;
    # float32 draws: 1e-5. Biases zero, not the file's.
    kernel, bias, head, head_bias = started["orthogonal"]
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(head.T @ head, [[1.0]], atol=1e-5)
    assert not np.any(bias) and not np.any(head_bias)
    # Negative control: the file's own kernel is not orthogonal, and he drew other kernels.
    file_kernel = saved[0].astype(np.float64)
    assert not np.allclose(file_kernel @ file_kernel.T, np.eye(3), atol=0.1)
    for kernel_index in (0, 2):
        assert not np.allclose(started["he"][kernel_index], saved[kernel_index])
        assert not np.allclose(started["he"][kernel_index], started["orthogonal"][kernel_index])


def test_compare_a_function_from_a_py_file(tmp_path, capsys, user_files):
    spec = f"{user_files / 'factory.py'}:build"
    status, out, err = run_main(capsys, "compare", "--model", spec, "--data",
                                user_files / "data.npz", "--loss", "mse", "--epochs", "1",
                                "--schemes", "orthogonal", "--logdir", tmp_path)
    assert status == 0, err
    assert (tmp_path / "build" / "orthogonal" / "seed-0").is_dir()


def test_probe_and_list(tmp_path, capsys):
    status, out, err = run_main(capsys, "probe", "--sizes", "50,40,30", "--samples", "300",
                                "--activation", "relu", "--schemes", "zeros,he",
                                "--logdir", tmp_path)
    assert status == 0, err
    assert re.search(r"^zeros +0 +0$", out, re.M)
    assert len(json.loads((tmp_path / "probe-relu" / "results.json").read_text())) == 4
    status, out, err = run_main(capsys, "list")
    assert status == 0 and re.search(r"^  he +N\(0, 2/fan_in\)", out, re.M)
    assert re.search(r"^  circles +the article's experiment 1", out, re.M)


@pytest.mark.parametrize("argv, message", [
    (["compare", "--schemes", "zeros,foo"],
     "--schemes: unknown scheme 'foo'; choose from zeros, random, xavier, glorot, he, orthogonal"),
    (["compare", "--experiment", "spirals"], "--experiment: unknown experiment 'spirals'; "
     "choose from circles"),
    (["compare", "--seeds", "0"], "--seeds: must be a positive integer, got '0'"),
    (["compare", "--steps", "100", "--epochs", "3"],
     "Argument `steps` must be a multiple of `epochs` (3)"),
    (["compare", "--batch-size", "half"], "--batch-size: must be a positive integer"),
    (["compare", "--optimizer", "sgdd"], "--optimizer: unknown optimizer 'sgdd'"),
    (["compare", "--model", "{u}/model.keras"], "--model: needs --data FILE.npz"),
    (["compare", "--data", "{u}/data.npz"], "--data: needs --model"),
    (["compare", "--model", "{u}/missing.keras", "--data", "{u}/data.npz"],
     "--model: cannot load model '{u}/missing.keras': no such file"),
    (["compare", "--model", "{u}/garbage.keras", "--data", "{u}/data.npz"],
     "--model: cannot load model '{u}/garbage.keras': "),
    (["compare", "--model", "{u}/factory.py:broken", "--data", "{u}/data.npz"],
     "--model: cannot load model '{u}/factory.py:broken': no model today"),
    (["compare", "--model", "{u}/factory.py:build", "--data", "{u}/data.npz"],
     "--loss: required, the model is not compiled"),
    (["compare", "--model", "{u}/model.keras", "--data", "{u}/missing.npz"],
     "--data: cannot read data '{u}/missing.npz': no such file"),
    (["compare", "--model", "{u}/model.keras", "--data", "{u}/no_y.npz"],
     "--data: {u}/no_y.npz lacks array(s) 'y'"),
    (["compare", "--model", "{u}/model.keras", "--data", "{u}/objects.npz"],
     "--data: cannot read data '{u}/objects.npz': Object arrays cannot be loaded"),
    (["compare", "--model", "{u}/model.keras", "--data", "{u}/text.npz"],
     "--data: cannot read data '{u}/text.npz': "),
    (["probe", "--activation", "swishy"], "--activation: unknown activation 'swishy'"),
    (["probe", "--sizes", "100"], "--sizes: needs the input width and at least one layer"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, user_files, tmp_path, capsys):
    argv = [arg.format(u=user_files) for arg in argv] + ["--logdir", str(tmp_path)] * (
        argv[0] != "frobnicate")
    status, out, err = run_main(capsys, *argv)
    assert status == 2
    assert err.startswith("keras-initcmp: error: ") and message.format(u=user_files) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.listdir(tmp_path)  # nothing written


def test_article_runs_every_command_and_report_in_one_process(tmp_path, capsys, monkeypatch):
    """What compare.sh runs: the commands of `cli.commands.ARTICLE` with the options, then reports."""
    monkeypatch.setattr(commands, "ARTICLE", (
        ("compare", "--experiment", "circles", "--steps", "20", "--epochs", "2",
         "--schemes", "zeros,he"),
        ("probe", "--activation", "tanh", "--sizes", "20,10,5", "--samples", "300",
         "--schemes", "zeros,he")))
    status, out, _ = run_main(capsys, "article", "--logdir", str(tmp_path), "--quiet")
    assert status == 0
    circles = json.loads((tmp_path / "circles" / "results.json").read_text())
    assert [(r["scheme"], r["steps"]) for r in circles] == [("zeros", 20), ("he", 20)]
    probe = json.loads((tmp_path / "probe-tanh" / "results.json").read_text())
    assert [(r["scheme"], r["layer"]) for r in probe][:2] == [("zeros", "layer_1"), ("zeros", "layer_2")]
    assert all(r["std"] == 0 for r in probe if r["scheme"] == "zeros")
    for folder in ("circles", "probe-tanh"):  # each report names its schemes' results
        report = (tmp_path / folder / "report.md").read_text()
        assert "zeros" in report and "he" in report
    assert out.count("$ keras-initcmp ") == 4
