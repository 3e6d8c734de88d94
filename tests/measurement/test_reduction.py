"""Each backend's `layer_summary` (the snapshot's reduction where a layer produces its output) against NumPy.

Every backend runs `support/reduction_suite.py` in its own process on the same
arrays (dead units, a unit whose values cancel, NaN/±Inf, all non-finite, all
equal, a large mean over a small spread, a vector, float16/bfloat16, several
batches combined); here NumPy computes the same statistics and buckets from the
arrays. TensorFlow's buckets are also read back against `tf.summary.histogram`'s.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats as scipy_stats

import reduction_suite
from events import read_events
from paths import ROOT, SUPPORT
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement.stats import moments_to_stats, summary_function
from keras_initcmp.backend import tensorflow as tf_backend

BACKENDS = ["tensorflow", "tensorflow-xla", "jax", "torch"]


@pytest.fixture(scope="module", params=BACKENDS)
def suite(request):
    name, _, xla = request.param.partition("-")
    env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2",
           "XLA_FROM": "0" if xla else "",
           # this checkout's package, not whichever one is installed
           "PYTHONPATH": os.pathsep.join([ROOT, SUPPORT, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, os.path.join(SUPPORT, "reduction_suite.py")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == name
    return report


def numpy_statistics(array):
    values = np.asarray(array, np.float64)
    flat = values.ravel()
    finite = flat[np.isfinite(flat)]
    units = values.reshape(-1, values.shape[-1]) if values.ndim >= 2 else flat.reshape(-1, 1)
    alive = np.any(units != 0, axis=0) if values.ndim >= 2 else np.array([np.any(flat != 0)])
    return {"mean": finite.mean() if finite.size else np.nan,
            "std": finite.std() if finite.size else np.nan,
            "zero_fraction": np.mean(flat == 0), "saturation": np.mean(np.abs(flat) >= 0.99),
            "nonfinite": int(np.sum(~np.isfinite(flat))), "dead_units": 1 - np.mean(alive),
            "min": finite.min() if finite.size else np.inf,
            "max": finite.max() if finite.size else -np.inf}


def numpy_rows(array, bins, dtype):
    """`tf.summary.histogram`'s rule in `dtype` (the backend's accumulator)."""
    flat = np.asarray(array, np.float32).ravel()
    finite = flat[np.isfinite(flat)].astype(dtype)
    if not finite.size:
        return np.zeros((bins, 3))
    low, high = finite.min(), finite.max()
    counts = np.zeros(bins)
    if high > low:
        width = (high - low) / dtype(bins)
        index = np.clip(np.floor((finite - low) / width), 0, bins - 1).astype(int)
        counts += np.bincount(index, minlength=bins)
        edges = np.linspace(np.float64(low), np.float64(high), bins + 1)
    else:
        counts[-1] = finite.size
        edges = np.full(bins + 1, np.float64(high))
    edges[-1] = high
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


def assert_statistics(summary, expected, name, rtol):
    ours = moments_to_stats(summary["moments"], summary["alive"])
    for key in ("zero_fraction", "saturation", "nonfinite", "dead_units"):
        assert ours[key] == expected[key], (name, key)
    # The mean to `rtol` of the spread too: a mean near 0 has no relative precision.
    np.testing.assert_allclose(ours["mean"], expected["mean"], rtol=rtol,
                               atol=rtol * np.nan_to_num(expected["std"]), err_msg=name)
    np.testing.assert_allclose(ours["std"], expected["std"], rtol=rtol, err_msg=name)
    assert summary["moments"][-2:] == [expected["min"], expected["max"]], name


@pytest.mark.parametrize("name", list(reduction_suite.arrays()))
def test_every_statistic_and_bucket_equals_numpy(suite, name):
    array = reduction_suite.arrays()[name]
    summary = suite["summaries"][name]
    exact = suite["accumulator"] == "float64"
    assert_statistics(summary, numpy_statistics(array), name, rtol=1e-6 if exact else 2e-5)
    if name == "drift":
        return  # sampled: test_the_sample_above_the_cap_is_uniform
    expected = numpy_rows(array, reduction_suite.BINS, np.dtype(suite["accumulator"]).type)
    rows = np.asarray(summary["rows"])
    np.testing.assert_array_equal(rows[:, 2], expected[:, 2], err_msg=name)
    # Edges to the accumulator's rounding (linspace's formula differs between backends).
    scale = np.max(np.abs(expected[:, :2]))
    np.testing.assert_allclose(rows[:, :2], expected[:, :2], rtol=0,
                               atol=(1e-12 if exact else 1e-6) * max(scale, 1e-30), err_msg=name)


def test_a_large_mean_over_a_small_spread_keeps_its_std(suite):
    # 1000 + 0.01 N(0, 1): sum x^2 - (sum x)^2 / n in float32 would cancel every digit.
    array = reduction_suite.arrays()["offset"]
    ours = moments_to_stats(suite["summaries"]["offset"]["moments"])
    assert ours["std"] == pytest.approx(np.asarray(array, np.float64).std(), rel=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_outputs(suite, dtype):
    case = suite["low_precision"][dtype]
    values = np.asarray(case["values"], np.float32)
    exact = suite["accumulator"] == "float64"
    assert_statistics(case["summary"], numpy_statistics(values), dtype,
                      rtol=1e-6 if exact else 2e-5)
    expected = numpy_rows(values, reduction_suite.BINS, np.dtype(suite["accumulator"]).type)
    np.testing.assert_array_equal(np.asarray(case["summary"]["rows"])[:, 2], expected[:, 2])


def test_dead_units_and_moments_combined_across_batches(suite):
    array = reduction_suite.arrays()["relu_dead"]
    expected = numpy_statistics(array)
    combined = moments_to_stats(suite["batches"]["moments"], suite["batches"]["alive"])
    assert combined["dead_units"] == expected["dead_units"] == 2 / 16  # unit 5 is alive
    assert combined["zero_fraction"] == expected["zero_fraction"]
    assert combined["mean"] == pytest.approx(expected["mean"], rel=1e-6)
    assert combined["std"] == pytest.approx(expected["std"], rel=1e-6)


def chi_square(counts, full_counts):
    expected = full_counts / full_counts.sum() * counts.sum()
    kept = expected >= 5
    statistic = np.sum((counts[kept] - expected[kept]) ** 2 / expected[kept])
    return statistic, scipy_stats.chi2.ppf(0.999, kept.sum() - 1)


def test_the_sample_above_the_cap_is_uniform(suite):
    array = reduction_suite.arrays()["drift"].ravel()  # its mean drifts along the tensor
    rows = np.asarray(suite["summaries"]["drift"]["rows"])
    assert rows[:, 2].sum() == reduction_suite.CAP
    assert rows[0, 0] == array.min() and rows[-1, 1] == array.max()  # edges span all values
    full = numpy_rows(array, reduction_suite.BINS, np.float64)[:, 2]
    statistic, critical = chi_square(rows[:, 2], full)
    assert statistic < critical, (statistic, critical)
    # Negative control: the front of the tensor, binned the same way, is far from uniform.
    front = numpy_rows(np.concatenate([array[:reduction_suite.CAP], [array.min(), array.max()]]),
                       reduction_suite.BINS, np.float64)[:, 2]
    assert chi_square(front, full)[0] > 10 * critical


def test_a_pass_keeps_only_the_summaries(suite):
    released = suite["released"]
    assert released["kept_only_summaries"]
    if suite["backend"] == "torch":  # eager: the outputs are real tensors, freed at once
        assert released["watched"] == 3 and released["alive_after"] == 0


DATA = {
    "normal": np.random.default_rng(2).normal(size=(64, 100)).astype(np.float32),
    "on_edges": np.repeat(np.arange(31, dtype=np.float32), 7).reshape(-1, 7),
    "relu_like": np.maximum(np.random.default_rng(3).normal(size=(500, 10)), 0).astype(np.float32),
    "single_value": np.full((10, 10), 0.5, np.float32),
    "large": np.random.default_rng(5).standard_t(3, size=(3000, 100)).astype(np.float32),
}


@pytest.mark.parametrize("xla_from", [0, 10**12], ids=["xla", "plain"])
@pytest.mark.parametrize("bins", [1, 7, 30])
def test_tensorflow_buckets_equal_tf_summary_histogram(tmp_path, monkeypatch, xla_from, bins):
    monkeypatch.setattr(tf_backend, "XLA_FROM", xla_from)
    monkeypatch.setattr(tf_backend, "XLA_INDEX_FROM", xla_from)
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for name, data in DATA.items():
            tf.summary.histogram(f"reference/{name}", data, step=0, buckets=bins)
    writer.close()
    ours = EventWriter(tmp_path)
    for name, data in DATA.items():
        with tf_backend._graph_rewrites_off():  # as the snapshot runs it
            rows = summary_function(bins, None)(tf.constant(data))["rows"]
        ours.histogram(f"ours/{name}", np.asarray(rows), step=0)
    ours.close()
    events = read_events(tmp_path)
    for name in DATA:
        np.testing.assert_array_equal(events[f"ours/{name}"][0][1],
                                      events[f"reference/{name}"][0][1], err_msg=name)
