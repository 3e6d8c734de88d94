"""`keras_initcmp.doctor` and `keras-initcmp doctor`: sick models named by code and layer, a healthy control with none."""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_initcmp import initializers
from keras_initcmp.checkup.diagnosis import doctor
from cli_run import run_main

# The module itself: the package's `doctor` attribute is the function (exported lazily).
doctor_module = importlib.import_module("keras_initcmp.checkup.diagnosis")

WIDTH = 64
DEPTH = 30


def relu_mlp(scheme, depth=DEPTH, width=WIDTH, compile=True):
    """`depth` Dense ReLU layers `d0..`, then a sigmoid `out`; kernels by `scheme`, zero biases."""
    layers = [keras.Input((width,))]
    layers += [keras.layers.Dense(width, activation="relu", name=f"d{i}",
                                  kernel_initializer=scheme(seed=i)) for i in range(depth)]
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="out",
                                     kernel_initializer=initializers.Xavier(seed=depth)))
    model = keras.Sequential(layers)
    if compile:
        model.compile(loss="binary_crossentropy")
    return model


def batch(samples=256, width=WIDTH, seed=0):
    x = np.random.default_rng(seed).normal(size=(samples, width)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def codes(report, level=None):
    return [(f.code, f.layer) for f in report.findings if level is None or f.level == level]


@pytest.fixture(scope="module")
def xavier_report():
    return doctor(relu_mlp(initializers.Xavier), *batch())


@pytest.fixture(scope="module")
def he_report():
    return doctor(relu_mlp(initializers.He), *batch())


def test_xavier_relu_signal_shrinks_and_vanishes_at_the_first_layer_below_the_threshold(xavier_report):
    stds = [xavier_report.layers[f"d{i}"]["std"] for i in range(DEPTH)]
    below = next(i for i, s in enumerate(stds) if s < doctor_module.VANISHED_STD * stds[0])
    assert 15 <= below <= 25  # 2^(-k/2) < 1e-3 from k = 20
    assert codes(xavier_report) == [("signal-shrinking", "d0"), ("signal-vanished", f"d{below}"),
                                    ("gradient-vanishing", "d0")]
    shrinking, vanished, gradient = xavier_report.findings
    assert all(f.level == "warning" for f in xavier_report.findings)
    assert shrinking.value == pytest.approx(2 ** -0.5, rel=0.05)  # ReLU halves the variance
    # 0.58 * 0.707^(d - 1) = 1.2e-38: d ≈ 250 layers.
    assert 200 < shrinking.details["float32_depth"] < 300
    assert "float32" in shrinking.message and shrinking.details["layers"][-1] == f"d{DEPTH - 1}"
    assert vanished.value == pytest.approx(stds[below] / stds[0])
    assert "'he'" in shrinking.suggestion and "sigma_w2 = 2" in shrinking.suggestion
    assert gradient.value < 1 / doctor_module.GRADIENT_RATIO
    assert xavier_report.layers["d5"]["weight_variance"] == pytest.approx(1.0, rel=0.2)
    assert xavier_report.worst_level() == "warning"


def test_he_relu_is_a_healthy_control(he_report):
    assert he_report.findings == [] and he_report.worst_level() is None
    assert list(he_report.layers) == [f"d{i}" for i in range(DEPTH)] + ["out"]
    assert set(he_report.layers["d0"]) == {"activation", *doctor_module.stats.STATISTICS,
                                           "gradient_norm", "weight_variance"}
    assert he_report.gradients and all(layer["gradient_norm"] > 0
                                       for layer in he_report.layers.values())
    assert he_report.layers["d29"]["weight_variance"] == pytest.approx(2.0, rel=0.2)
    assert "no findings" in he_report.table()


def test_report_as_json_and_table(xavier_report):
    data = json.loads(xavier_report.to_json())
    assert data["worst_level"] == "warning" and data["samples"] == 256 and data["gradients"]
    assert [(f["code"], f["layer"]) for f in data["findings"]] == codes(xavier_report)
    assert set(data["findings"][0]) == {"level", "code", "layer", "value", "message",
                                        "suggestion", "details"}
    assert data["layers"]["d0"]["std"] == pytest.approx(xavier_report.layers["d0"]["std"])
    table = xavier_report.table()
    assert table.splitlines()[2].split()[:4] == ["layer", "activation", "mean", "std"]
    assert "warning: signal-vanished at d" in table and "  suggestion: " in table


def tanh_stack(initializer):
    """Four tanh Dense(32) layers `t0..t3`, kernels from `initializer(seed=i)`."""
    return keras.Sequential([keras.Input((32,))] + [
        keras.layers.Dense(32, activation="tanh", name=f"t{i}", kernel_initializer=initializer(seed=i))
        for i in range(4)])


def test_tanh_with_large_weights_saturates():
    model = tanh_stack(lambda seed: initializers.ScaledNormal(1.0, seed=seed))
    report = doctor(model, batch(width=32)[0])
    assert codes(report) == [("saturation", "t0")]
    saturation = report.findings[0]
    assert saturation.value > doctor_module.SATURATION_SHARE
    assert list(saturation.details["layers"]) == ["t0", "t1", "t2", "t3"]
    assert "'xavier'" in saturation.suggestion


def test_tanh_with_xavier_does_not_saturate():
    """The negative control of the test above: the same architecture and batch, xavier kernels."""
    report = doctor(tanh_stack(initializers.Xavier), batch(width=32)[0])
    assert "saturation" not in [code for code, _ in codes(report)]
    assert report.findings == []
    # Not vacuous: the signal is alive, and t0 has ~1% of its values at |a| >= 0.99, far under
    # the finding's share (50%).
    shares = [report.layers[f"t{i}"]["saturation"] for i in range(4)]
    assert 0 < max(shares) < doctor_module.SATURATION_SHARE / 2
    assert min(report.layers[f"t{i}"]["std"] for i in range(4)) > 0.3


def test_raw_breast_cancer_features_need_standardizing_standardized_ones_do_not():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x, y = x[:256].astype("float32"), y[:256].astype("float32")
    standardized = (x - x.mean(0)) / x.std(0)
    model = keras.Sequential([
        keras.Input((30,)),
        keras.layers.Dense(16, activation="relu", kernel_initializer=initializers.He(seed=0)),
        keras.layers.Dense(1, activation="sigmoid", kernel_initializer=initializers.Xavier(seed=1))])
    raw = doctor(model, x)
    scale = next(f for f in raw.findings if f.code == "input-scale")
    assert (scale.layer, scale.level) == ("input", "warning") and scale.value > 1e4
    assert "standardize" in scale.suggestion
    assert doctor(model, standardized).findings == []


def biased_relu(bias):
    return keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(32, activation="relu", name="biased",
                           kernel_initializer=initializers.He(seed=0),
                           bias_initializer=keras.initializers.Constant(bias)),
        keras.layers.Dense(1, name="head")])


def test_a_bias_of_minus_10_kills_the_layer():
    report = doctor(biased_relu(-10.0), batch(width=16)[0])
    assert codes(report) == [("dead-units", "biased")]
    assert report.findings[0].value == 1.0 and report.layers["biased"]["dead_units"] == 1.0
    assert "bias" in report.findings[0].suggestion


def test_a_zero_bias_kills_no_unit():
    """The negative control of the test above: the same architecture, kernel and batch, bias 0."""
    report = doctor(biased_relu(0.0), batch(width=16)[0])
    assert "dead-units" not in [code for code, _ in codes(report)]
    assert report.findings == []
    # Not vacuous: the ReLU does zero about half of the values, but no unit for every sample.
    layer = report.layers["biased"]
    assert layer["dead_units"] == 0 and 0.3 < layer["zero_fraction"] < 0.7


def test_loss_for_an_uncompiled_model_leaves_it_uncompiled():
    model = relu_mlp(initializers.He, depth=2, compile=False)
    x, y = batch(32)
    with pytest.raises(ValueError, match="Argument `loss` is needed with `y`"):
        doctor(model, x, y)
    report = doctor(model, x, y, loss="binary_crossentropy", layers=["d*"])
    assert list(report.layers) == ["d0", "d1"] and report.layers["d1"]["gradient_norm"] > 0
    assert not model.compiled
    with pytest.raises(ValueError, match="Argument `layers`"):
        doctor(model, x, layers=["nope"])


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctor")
    x, y = batch(64, width=32)
    np.savez(folder / "data.npz", x=x, y=y)
    for name, scheme in (("sick", initializers.Xavier), ("healthy", initializers.He)):
        relu_mlp(scheme, depth=12, width=32).save(folder / f"{name}.keras")
    return folder


def test_cli_json_and_fail_on_warning(cli_files, capsys):
    data = ["--data", cli_files / "data.npz"]
    status, out, _ = run_main(capsys, "doctor", "--model", cli_files / "sick.keras", *data,
                              "--json", "--fail-on", "warning")
    report = json.loads(out)
    assert status == 1 and report["gradients"]
    assert [(f["code"], f["layer"]) for f in report["findings"]][:1] == [("signal-shrinking", "d0")]
    status, out, _ = run_main(capsys, "doctor", "--model", cli_files / "healthy.keras", *data,
                              "--fail-on", "warning", "--samples", "32")
    assert status == 0 and "no findings" in out and "32 samples" in out
    status, _, _ = run_main(capsys, "doctor", "--model", cli_files / "sick.keras", *data)
    assert status == 0  # without --fail-on, findings do not fail


@pytest.mark.parametrize("argv, message", [
    (["--layers", "nope"], "--layers: Argument `layers` must name layers"),
    (["--samples", "0"], "--samples: must be a positive integer"),
    (["--fail-on", "error"], "--fail-on: invalid choice"),
])
def test_cli_bad_input_is_one_line_and_exit_2(cli_files, capsys, argv, message):
    status, out, err = run_main(capsys, "doctor", "--model", cli_files / "healthy.keras",
                                "--data", cli_files / "data.npz", *argv)
    assert status == 2 and not out
    assert err.startswith(f"keras-initcmp: error: {message}") and err.count("\n") == 1


def test_doctor_under_jax_in_a_subprocess():
    script = textwrap.dedent("""
        import json, sys
        import keras
        sys.path.insert(0, sys.argv[1])
        from test_doctor import batch, relu_mlp
        from keras_initcmp import initializers
        from keras_initcmp.checkup.diagnosis import doctor
        sick = doctor(relu_mlp(initializers.Xavier, depth=10, width=32), *batch(64, 32))
        healthy = doctor(relu_mlp(initializers.He, depth=10, width=32), *batch(64, 32))
        print(json.dumps([keras.backend.backend(), [(f.code, f.layer) for f in sick.findings],
                          len(healthy.findings), healthy.layers["d9"]["gradient_norm"]]))
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    backend, sick, healthy, gradient_norm = json.loads(done.stdout.strip().splitlines()[-1])
    assert backend == "jax" and ("signal-shrinking", "d0") in [tuple(f) for f in sick]
    assert healthy == 0 and gradient_norm > 0
