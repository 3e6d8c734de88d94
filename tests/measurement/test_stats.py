"""activation_stats against an independent NumPy forward pass, and the histogram format."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_initcmp import activation_stats
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement.stats import buckets, flat, layer_moments
from events import read_events


def numpy_stats(a):
    units = np.asarray(a, dtype=np.float64)
    a = units.ravel()
    finite = a[np.isfinite(a)]
    return {"mean": finite.mean(), "std": finite.std(), "zero_fraction": np.mean(a == 0),
            "saturation": np.mean(np.abs(a) >= 0.99), "nonfinite": int(np.sum(~np.isfinite(a))),
            # over all samples at once: a unit is dead when it is 0 for every one of them
            "dead_units": np.mean(np.all(units.reshape(-1, units.shape[-1]) == 0, axis=0))}


def our_buckets(data, bins, max_values=None):
    values = flat(np.asarray(data, np.float32))
    return np.asarray(buckets(values, bins, layer_moments(values), max_values=max_values))


def tanh_relu_model():
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="tanh", name="tanh_layer"),
        keras.layers.Dense(5, activation="relu", name="relu_layer"),
    ])


def numpy_forward(model, x):
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in model.layers)
    hidden = np.tanh(x @ w1 + b1)
    return {"tanh_layer": hidden, "relu_layer": np.maximum(hidden @ w2 + b2, 0)}


def with_units_alive_in_some_batches(model, x):
    """Sets relu unit 0 dead for every sample and relu unit 1 alive only for samples 3 and 45.

    tanh unit 0 reads x[:, 0] alone; x[:, 0] = 2 at samples 3 and 45, -1 elsewhere, so
    relu unit 1 = relu(tanh(x0) - 0.5) is 0.46 there and 0 elsewhere. With batches of 7
    (or 1) it is 0 in every batch but two: a per-batch dead-unit count would call it dead.
    """
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in model.layers)
    w1[:, 0], b1[0] = np.eye(6)[0], 0.0
    w2[:, 0], b2[0] = 0.0, -1.0
    w2[:, 1], b2[1] = np.eye(8)[0], -0.5
    model.layers[0].set_weights([w1, b1])
    model.layers[1].set_weights([w2, b2])
    x = x.copy()
    x[:, 0] = -1.0
    x[[3, 45], 0] = 2.0
    return x


@pytest.mark.parametrize("batch_size", [None, 1, 7, 50])
def test_activation_stats_equal_numpy_on_every_batching(batch_size):
    keras.utils.set_random_seed(0)
    model = tanh_relu_model()
    x = with_units_alive_in_some_batches(model, np.random.default_rng(0).normal(size=(50, 6)) * 3)
    stats = activation_stats(model, x, batch_size=batch_size)
    assert list(stats) == ["tanh_layer", "relu_layer"]
    activations = numpy_forward(model, x)
    for name, activation in activations.items():
        expected = numpy_stats(activation)
        assert stats[name]["nonfinite"] == expected.pop("nonfinite")
        for key, value in expected.items():
            assert stats[name][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (name, key)
    # Both statistics actually vary: a test of a dead or saturated layer only would be weak.
    assert 0 < stats["relu_layer"]["zero_fraction"] < 1
    assert 0 < stats["tanh_layer"]["saturation"] < 1
    # The dead-unit check is not vacuous: unit 0 dead, unit 1 alive in only 2 of 50 samples
    # (so 0 in most batches of 1 or 7), and not every unit dead.
    relu = activations["relu_layer"]
    assert np.all(relu[:, 0] == 0) and np.flatnonzero(relu[:, 1]).tolist() == [3, 45]
    assert 0 < stats["relu_layer"]["dead_units"] < 1
    assert stats["tanh_layer"]["dead_units"] == 0


def test_nonfinite_values_are_counted_and_excluded_from_mean_and_std():
    keras.utils.set_random_seed(1)
    model = tanh_relu_model()
    x = np.random.default_rng(1).normal(size=(20, 6))
    x[3, 0] = np.nan
    stats = activation_stats(model, x, batch_size=6)
    activations = numpy_forward(model, x)
    assert stats["tanh_layer"]["nonfinite"] == 8  # the whole row of sample 3
    assert stats["tanh_layer"]["std"] == pytest.approx(numpy_stats(activations["tanh_layer"])["std"], rel=1e-5)
    assert np.isfinite(stats["relu_layer"]["mean"])


def test_layer_selection_and_unknown_layer():
    model = tanh_relu_model()
    x = np.zeros((4, 6))
    assert list(activation_stats(model, x, layers=["relu_layer"])) == ["relu_layer"]
    with pytest.raises(ValueError, match=r"Argument `layers` must name layers of model .*"
                                         r"\('tanh_layer', 'relu_layer'\)\. Received: 'nope' in "
                                         r"layers=\['nope'\]"):
        activation_stats(model, x, layers=["nope"])


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"Argument `batch_size` must be a positive int or None\. "
                                         rf"Received: batch_size={batch_size!r}"):
        activation_stats(tanh_relu_model(), np.zeros((4, 6)), batch_size=batch_size)


def test_batched_stats_bound_memory_on_the_articles_input_size():
    """100,000 × 1000 float32 is 400 MB; batching keeps each pass at 5,000 rows."""
    model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(10, activation="tanh", name="wide_tanh")])
    x = np.lib.stride_tricks.as_strided(np.ones(1000, np.float32), (100_000, 1000), (0, 4))
    stats = activation_stats(model, x, batch_size=5_000)
    expected = np.tanh(np.ones(1000) @ model.get_weights()[0])
    assert stats["wide_tanh"]["mean"] == pytest.approx(expected.mean(), rel=1e-4)
    assert stats["wide_tanh"]["std"] == pytest.approx(expected.std(), rel=1e-3)


# --- the histogram format ----------------------------------------------------

DATA = {
    "normal": np.random.default_rng(2).normal(size=(64, 100)).astype(np.float32),
    "on_edges": np.repeat(np.arange(31, dtype=np.float32), 7),
    "relu_like": np.maximum(np.random.default_rng(3).normal(size=5000), 0).astype(np.float32),
    "single_value": np.full(100, 0.5, np.float32),
    "large": np.random.default_rng(5).standard_t(3, size=300_000).astype(np.float32),  # split path
}


@pytest.mark.parametrize("bins", [1, 7, 30])
def test_buckets_equal_tf_summary_histogram_as_tensorboard_reads_them(tmp_path, bins):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for name, data in DATA.items():
            tf.summary.histogram(f"reference/{name}", data, step=0, buckets=bins)
    writer.close()
    ours = EventWriter(tmp_path)
    for name, data in DATA.items():
        ours.histogram(f"ours/{name}", our_buckets(data, bins), step=0)
    ours.close()
    events = read_events(tmp_path)
    for name in DATA:
        reference = events[f"reference/{name}"][0][1]
        ours = events[f"ours/{name}"][0][1]
        np.testing.assert_array_equal(ours, reference, err_msg=name)


def test_buckets_ignore_nonfinite_and_handle_all_nonfinite():
    data = np.array([np.nan, 1.0, np.inf, 2.0, -np.inf, 3.0], np.float32)
    rows = our_buckets(data, 2)
    np.testing.assert_array_equal(rows, [[1.0, 2.0, 1.0], [2.0, 3.0, 2.0]])
    empty = our_buckets([np.nan, np.inf], 3)
    np.testing.assert_array_equal(empty, np.zeros((3, 3)))


def test_buckets_sample_at_most_max_values():
    data = np.random.default_rng(4).normal(size=100_000)
    rows = our_buckets(data, 30, max_values=1000)
    assert rows[:, 2].sum() == 1000
    assert our_buckets(data, 30)[:, 2].sum() == 100_000
