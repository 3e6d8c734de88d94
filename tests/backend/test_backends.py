"""JAX and PyTorch: the callback, statistics, gradients, probe and compare, with TensorFlow unimportable.

Each backend runs `backend_suite.py` in its own process (the backend is chosen at
import). What it reports is checked against an independent NumPy forward pass, the
mean-field theory and, for the same weights and probe, the TensorFlow backend in
this process (float32 tolerance).
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import backend_suite
from paths import SUPPORT
from keras_initcmp import activation_stats
from keras_initcmp.schemes import theory
from keras_initcmp.measurement.stats import STATISTICS
from keras_initcmp.store import COMPARE_FIELDS



@pytest.fixture(scope="module", params=["jax", "torch"])
def suite(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"backend-{request.param}")
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, os.path.join(SUPPORT, "backend_suite.py"), str(folder)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == request.param
    return report, folder


def numpy_layers(weights, x):
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    hidden = np.maximum(x @ w1 + b1, 0)
    return {"hidden": hidden, "out": 1 / (1 + np.exp(-(hidden @ w2 + b2)))}


def numpy_stats(a):
    return {"mean": a.mean(), "std": a.std(), "zero_fraction": np.mean(a == 0),
            "saturation": np.mean(np.abs(a) >= 0.99), "nonfinite": 0,
            "dead_units": np.mean(np.all(a == 0, axis=0))}


def test_nothing_imports_tensorflow(suite):
    report, _ = suite
    assert report["tensorflow_imported"] is False


def test_activation_stats_equal_numpy(suite):
    report, _ = suite
    for layer, activation in numpy_layers(report["weights"], backend_suite.X).items():
        expected = numpy_stats(activation)
        for statistic in STATISTICS:
            assert report["stats"][layer][statistic] == pytest.approx(
                expected[statistic], rel=1e-5, abs=1e-6), (layer, statistic)
    assert 0 < report["stats"]["hidden"]["zero_fraction"] < 1  # the check is not vacuous


def test_callback_step_0_equals_numpy_on_the_probe(suite):
    report, _ = suite
    probe = backend_suite.X[:32]
    for layer, activation in numpy_layers(report["weights"], probe).items():
        expected = numpy_stats(activation)
        for statistic in STATISTICS:
            logged = report["events"][f"activation_{statistic}/{layer}"]
            assert sorted(logged, key=int) == ["0", "1", "2"]
            assert logged["0"] == pytest.approx(expected[statistic], rel=1e-5, abs=1e-6)


def test_same_weights_same_statistics_and_gradients_as_tensorflow(suite):
    """The cross-backend check: TensorFlow in this process, the same weights from NumPy."""
    report, _ = suite
    model = backend_suite.fixed_model()
    model.set_weights([np.asarray(w, np.float32) for w in report["weights"]])
    ours = activation_stats(model, backend_suite.X)
    for layer in ours:
        for statistic in STATISTICS:
            assert report["stats"][layer][statistic] == pytest.approx(
                ours[layer][statistic], rel=1e-5, abs=1e-6), (layer, statistic)
    y = backend_suite.Y[:32]
    x = backend_suite.X[:32]
    with_tf = gradient_norms(model, x, y)
    for layer, norm in with_tf.items():
        assert report["events"][f"gradient_norm/{layer}"]["0"] == pytest.approx(norm, rel=1e-5)


def gradient_norms(model, x, y):
    """Per layer, the norm of d(mean binary cross-entropy)/d(kernel, bias), by hand in NumPy."""
    w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    p = 1 / (1 + np.exp(-(hidden @ w2 + b2)))
    d_out = (p - y) / len(x)                   # d loss / d logit
    d_hidden = (d_out @ w2.T) * (z1 > 0)
    norm = lambda *grads: math.sqrt(sum(float(np.sum(g ** 2)) for g in grads))  # noqa: E731
    return {"out": norm(hidden.T @ d_out, d_out.sum(0)),
            "hidden": norm(x.T @ d_hidden, d_hidden.sum(0))}


def test_probe_follows_the_mean_field_prediction(suite):
    report, _ = suite
    by_scheme = {}
    for record in report["probe"]:
        by_scheme.setdefault(record["scheme"], []).append(record["std"])
    for scheme, measured in by_scheme.items():
        predicted = theory.predicted_std((100, 80, 60), "relu", scheme)
        # 500 samples × 80 or 60 units: the std of one layer's output is known to a few
        # per cent; 15 % leaves room for the finite width (the kernels are one draw).
        np.testing.assert_allclose(measured, predicted, rtol=0.15, err_msg=scheme)
    # Negative control: He's prediction does not fit Xavier's shrinking signal.
    assert by_scheme["xavier"][-1] < 0.8 * theory.predicted_std((100, 80, 60), "relu", "he")[-1]


def test_compare_zeros_stays_at_ln2_and_he_learns(suite):
    report, folder = suite
    records = {record["scheme"]: record for record in report["compare"]}
    assert set(records["he"]) == set(COMPARE_FIELDS)
    assert records["zeros"]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert records["zeros"]["accuracy"] == 0.5
    assert records["he"]["loss"] < math.log(2) - 0.03
    assert records["he"]["steps"] == 3000
    for scheme in ("zeros", "he"):
        assert os.path.isdir(folder / "logs" / "circles" / scheme / "seed-0")
    with open(folder / "logs" / "circles" / "results.json") as file:
        assert [r["scheme"] for r in json.load(file)] == ["zeros", "he"]


def test_shared_runs_where_the_backend_compiles_them(suite):
    """JAX trains a sweep's runs on one shared model (`shared_runs`), with the records
    of `fit` per run; PyTorch, which compiles nothing, falls back to `fit` per run."""
    report, _ = suite
    if report["backend"] == "torch":
        assert report["shared_fits"] == 0 and "compare_per_run" not in report
        return
    assert report["shared_fits"] == 2
    for shared, per_run in zip(report["compare"], report["compare_per_run"]):
        assert (shared["epochs"], shared["steps"]) == (per_run["epochs"], per_run["steps"])
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert shared[metric] == pytest.approx(per_run[metric], rel=1e-4), metric
