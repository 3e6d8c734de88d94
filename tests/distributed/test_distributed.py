"""tf.distribute: the custom loop against Keras' fit, MirroredStrategy over two logical
CPUs, MultiWorkerMirroredStrategy with two worker processes on one machine."""

import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_initcmp import ActivationHistograms, distributed
from events import read_events, steps, value

import distributed_worker
from paths import ROOT, SUPPORT

RNG = np.random.default_rng(1)
X = RNG.normal(size=(70, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.float32)


def mlp(steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(6, activation="relu", kernel_regularizer="l2", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="out"),
    ])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5), "binary_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def one_pass():
    # 70 samples in batches of 16: every epoch ends on a batch of 6.
    return tf.data.Dataset.from_tensor_slices((X, Y)).batch(16)


def test_custom_fit_reproduces_fit_on_one_device(tmp_path):
    reference = mlp()
    expected = reference.fit(one_pass(), epochs=2, validation_data=one_pass(), verbose=0, shuffle=False,
                             callbacks=[ActivationHistograms(tmp_path / "fit", X[:10])])
    model = mlp(steps_per_execution=3)
    assert not distributed.uses_custom_loop(model)
    history = distributed.custom_fit(model, one_pass(), epochs=2, validation_data=one_pass(),
                                     callbacks=[ActivationHistograms(tmp_path / "custom", X[:10])])
    assert history.history.keys() == expected.history.keys()
    for key, values in expected.history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-6, err_msg=key)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(list(distributed.custom_evaluate(model, one_pass()).values()),
                               list(reference.evaluate(one_pass(), verbose=0, return_dict=True).values()),
                               rtol=1e-6)
    fit_events, custom_events = read_events(tmp_path / "fit"), read_events(tmp_path / "custom")
    assert steps(custom_events, "activation_std/hidden") == [0, 1, 2]
    for step in (0, 2):
        np.testing.assert_allclose(value(custom_events, "activations/hidden", step),
                                   value(fit_events, "activations/hidden", step), rtol=1e-5)


def test_custom_fit_stops_on_terminate_on_nan_and_needs_enough_data():
    model = mlp()
    model.optimizer.learning_rate.assign(1e30)  # diverges within the first epoch
    history = distributed.custom_fit(model, one_pass(), epochs=5,
                                     callbacks=[keras.callbacks.TerminateOnNaN()])
    assert len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="ran out of data"):
        distributed.custom_fit(mlp(), one_pass(), epochs=2, steps_per_epoch=5)


def test_strategy_names():
    assert distributed.get_strategy() is tf.distribute.get_strategy()
    assert distributed.is_chief()
    with pytest.raises(ValueError, match=r"must be one of \('default', 'mirrored', "
                                         r"'multiworker'\)\. Received: strategy='tpu'"):
        distributed.get_strategy("tpu")


# --- the same net under every strategy: distributed_worker.py ---------------------------

# The driver: the circles experiment cut short, 2 schemes x 20 full-batch steps (300
# points, 150 per replica on two), validation on 100 points.
SHORT = ["compare", "--experiment", "circles", "--steps", "20", "--epochs", "2",
         "--schemes", "zeros,he", "--quiet"]


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    """`distributed_worker`'s net trained by Keras' own fit on one device, and its events."""
    log_dir = tmp_path_factory.mktemp("single")
    result = distributed_worker.train(tf.distribute.get_strategy(), log_dir)
    assert not result["custom_loop"]
    return result, read_events(log_dir)


@pytest.fixture(scope="module")
def single_device_sweep(tmp_path_factory):
    """`SHORT` on one device: the results.json records."""
    from keras_initcmp import cli
    logdir = tmp_path_factory.mktemp("sweep")
    assert cli.main(SHORT + ["--logdir", str(logdir)]) == 0
    return results(logdir)


def results(logdir):
    with open(os.path.join(logdir, "circles", "results.json")) as file:
        return json.load(file)


def assert_same_training(run, single):
    assert run["history"].keys() == single["history"].keys()
    for key, values in single["history"].items():
        np.testing.assert_allclose(run["history"][key], values, rtol=1e-5, err_msg=key)
    for got, want in zip(run["weights"], single["weights"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for layer, stats in single["stats"].items():
        for key, want in stats.items():
            assert run["stats"][layer][key] == pytest.approx(want, rel=1e-5, abs=1e-6)


def assert_same_events(events, expected):
    """Equal snapshots at steps 0, 1, 2, each of the probe batch once (20 x 8 values)."""
    assert steps(events, "activations/hidden") == [0, 1, 2]
    assert events.keys() == expected.keys()
    for tag in events:
        for step in (0, 2):
            np.testing.assert_allclose(value(events, tag, step), value(expected, tag, step),
                                       rtol=1e-5, atol=1e-6, err_msg=(tag, step))
    assert value(events, "activations/hidden", 2)[:, 2].sum() == 160


def assert_same_results(records, expected):
    assert [(r["scheme"], r["seed"], r["epochs"], r["steps"]) for r in records] == \
        [(r["scheme"], r["seed"], r["epochs"], r["steps"]) for r in expected]
    for record, want in zip(records, expected):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert record[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (record, key)


# --- MirroredStrategy over two logical CPUs: one subprocess -----------------------------

MIRRORED = """
import json, os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, sys.argv[2])
import distributed_worker
from keras_initcmp import driver, experiments
folder = sys.argv[1]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = {"train": distributed_worker.train(strategy, os.path.join(folder, "train"), try_fit=True)}
with strategy.scope():  # steps_per_execution=1, a first batch of 25: 13 + 12
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
try:
    model.fit(distributed_worker.X[:25], distributed_worker.Y[:25], batch_size=25, verbose=0)
except Exception as error:
    result["uneven_fit_error"] = f"{type(error).__name__}: {str(error)[:200]}"
circles = experiments.get("circles")
driver.compare(circles.build_model(), circles.load_data(), ("zeros", "he"), experiment="circles",
               logdir=os.path.join(folder, "logs"), strategy=strategy,
               **{**circles.training, "steps": 20, "epochs": 2})
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirrored")
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(folder), SUPPORT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, json.loads(result.stdout.splitlines()[-1])


def test_mirrored_strategy_over_two_logical_cpus(mirrored, single_device):
    """The custom loop over two replicas gives Keras' fit on one device; one snapshot each."""
    folder, result = mirrored
    run = result["train"]
    assert run["replicas"] == 2 and run["custom_loop"] and run["chief"]
    assert_same_training(run, single_device[0])
    assert_same_events(read_events(folder / "train"), single_device[1])
    assert len(os.listdir(folder / "train")) == 1
    # Why more than one replica takes the custom loop: Keras' fit fails with
    # steps_per_execution > 1 (keras-team/keras#19246), or a first batch that does not
    # split evenly over the replicas (here with steps_per_execution=1).
    assert run["fit_error"].startswith("InvalidArgumentError: "), run["fit_error"]
    assert "Inputs to operation AddN of type AddN must have the same size and shape" in \
        result["uneven_fit_error"], result.get("uneven_fit_error")


def test_compare_under_mirrored_strategy_on_two_logical_cpus(mirrored, single_device_sweep):
    folder, _ = mirrored
    assert_same_results(results(folder / "logs"), single_device_sweep)
    with open(folder / "logs" / "circles" / "settings.json") as file:
        assert json.load(file)["strategy"] == "mirrored"
    assert os.listdir(folder / "logs" / "circles" / "he" / "seed-0")


def test_compare_refuses_jobs_with_a_strategy(tmp_path):
    from keras_initcmp import driver, experiments
    circles = experiments.get("circles")
    with pytest.raises(ValueError, match=r"Argument `jobs` must be 1 with a tf\.distribute "
                                         r"strategy .* Received: jobs=2"):
        driver.compare(circles.build_model(), circles.load_data(), jobs=2,
                       strategy=tf.distribute.get_strategy(), logdir=tmp_path)


# --- MultiWorkerMirroredStrategy: two worker processes ---------------------------------

WORKER_TIMEOUT = 200

# Runs inside a private network namespace (`unshare -rn`): TensorFlow's gRPC servers
# listen on every interface, and there the only one is this namespace's loopback.
# argv: timeout, folder, then the worker's command; "{index}" in it becomes 0 or 1.
# Each worker gets TMPDIR=<folder>/tmp-<index>.
LAUNCHER = """
import fcntl, json, os, socket, struct, subprocess, sys, time
timeout, folder, command = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # `ip link set lo up`
    flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
workers, results = [], []
try:
    for index in range(2):
        tmp = os.path.join(folder, f"tmp-{index}")
        os.makedirs(tmp)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": tmp,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [part.replace("{index}", str(index)) for part in command], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + timeout
    for process in workers:
        out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        results.append({"returncode": process.returncode, "stdout": out, "stderr": err[-3000:]})
finally:
    for process in workers:
        if process.poll() is None:
            process.kill()
            process.wait()
print(json.dumps(results))
"""


def _private_network():
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def run_two_workers(folder, *command):
    """Both workers' stdout; both processes always ended, within WORKER_TIMEOUT."""
    launcher = subprocess.Popen(
        ["unshare", "-rn", sys.executable, "-c", LAUNCHER, str(WORKER_TIMEOUT), str(folder),
         *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [ROOT, os.environ.get("PYTHONPATH", "")])})
    try:
        out, err = launcher.communicate(timeout=WORKER_TIMEOUT + 30)
    finally:
        if launcher.poll() is None:  # the launcher and both workers: one process group
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert launcher.returncode == 0, err[-3000:]
    workers = json.loads(out.splitlines()[-1])
    for worker in workers:
        assert worker["returncode"] == 0, worker["stderr"]
    return [worker["stdout"] for worker in workers]


@pytest.fixture(scope="module")
def multiworker(tmp_path_factory):
    if not _private_network():
        pytest.skip("needs `unshare -rn` (a private network namespace): TensorFlow's gRPC "
                    "servers listen on all interfaces, and this test keeps them off the "
                    "machine's network")
    folder = tmp_path_factory.mktemp("multiworker")
    outputs = run_two_workers(folder, sys.executable, os.path.join(SUPPORT, "distributed_worker.py"),
                              str(folder), "{index}", *SHORT)
    return folder, outputs


def test_multiworker_two_processes_match_one_device(multiworker, single_device):
    folder, outputs = multiworker
    chief, other = (json.loads(out.splitlines()[-1]) for out in outputs)
    assert (chief["chief"], other["chief"]) == (True, False)
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["custom_loop"] and other["custom_loop"]
    # Why: Keras' fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
    for worker in (chief, other):
        assert worker["fit_error"].startswith(
            "ValueError: Attempt to convert a value (PerReplica"), worker["fit_error"]
    # The same numbers as Keras' own fit of the same net and data on one device.
    for worker in (chief, other):
        assert_same_training(worker, single_device[0])
    # Only the chief wrote: the same snapshots as on one device.
    assert not os.path.exists(folder / "worker-1")
    assert len(os.listdir(folder / "worker-0")) == 1
    assert_same_events(read_events(folder / "worker-0"), single_device[1])


def test_cli_multiworker_resumes_and_matches_one_device(multiworker, single_device_sweep):
    """Both workers ran the same command on the same --logdir; only the chief wrote."""
    folder, outputs = multiworker
    assert_same_results(results(folder / "logs"), single_device_sweep)
    assert "he" in outputs[0]  # the chief's summary table
    assert len(outputs[1].splitlines()) == 1  # the other worker printed only its JSON line
    assert os.listdir(folder / "tmp-1") == []  # its scratch logdir: removed
