"""ActivationHistograms: event files read back and compared with independent computations."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats as scipy_stats

from keras_initcmp import ActivationHistograms, activation_stats
from keras_initcmp.initializers import He
from events import read_events, steps, value
from paths import SUPPORT

from keras_initcmp.measurement.stats import STATISTICS

STAT_TAGS = tuple(f"activation_{statistic}" for statistic in STATISTICS)
RNG = np.random.default_rng(0)
X = RNG.normal(size=(96, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)
PROBE = X[:40]


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu", kernel_initializer=He(seed=seed), name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="out"),
    ])
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    return model


def expected_tags(layers):
    return {f"{kind}/{layer}" for layer in layers for kind in ("activations",) + STAT_TAGS}


def assert_scalars_equal_stats(events, step, stats):
    for layer, layer_stats in stats.items():
        for tag, key in zip(STAT_TAGS, STATISTICS):
            assert value(events, f"{tag}/{layer}", step) == pytest.approx(
                layer_stats[key], rel=1e-5, abs=1e-6), (tag, layer, step)


def test_every_epoch_tags_steps_counts_and_values(tmp_path):
    model = mlp()
    untrained = activation_stats(model, PROBE)
    callback = ActivationHistograms(tmp_path, PROBE)
    model.fit(X, Y, epochs=3, batch_size=32, verbose=0, callbacks=[callback])
    events = read_events(tmp_path)
    assert set(events) == expected_tags(["hidden", "out"])
    for tag in events:
        assert steps(events, tag) == [0, 1, 2, 3]
    for layer, units in (("hidden", 8), ("out", 1)):
        for step in range(4):
            assert value(events, f"activations/{layer}", step)[:, 2].sum() == len(PROBE) * units
    assert_scalars_equal_stats(events, 0, untrained)
    assert_scalars_equal_stats(events, 3, activation_stats(model, PROBE))
    assert untrained != activation_stats(model, PROBE)  # training changed what step 3 shows


def test_histogram_at_step_zero_is_the_probe_activation_of_the_initial_weights(tmp_path):
    model = mlp(seed=3)
    hidden = np.maximum(PROBE @ model.layers[0].get_weights()[0], 0)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[ActivationHistograms(tmp_path, PROBE, bins=5)])
    rows = value(read_events(tmp_path), "activations/hidden", 0)
    counts, edges = np.histogram(hidden, bins=5, range=(hidden.min(), hidden.max()))
    np.testing.assert_allclose(rows[:, 0], edges[:-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rows[:, 2], counts)


def test_every_n_batches(tmp_path):
    model = mlp()
    callback = ActivationHistograms(tmp_path, PROBE, every=2)
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])  # 3 batches/epoch
    assert steps(read_events(tmp_path), "activations/hidden") == [0, 2, 4, 6]


def test_every_epoch_does_not_implement_batch_hooks():
    epoch = ActivationHistograms("unused", PROBE)
    batches = ActivationHistograms("unused", PROBE, every=5)
    assert "on_train_batch_end" not in vars(epoch)
    assert type(epoch).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
    assert "on_train_batch_end" in vars(batches)


def test_layer_selection_gradients_and_weights(tmp_path):
    model = mlp()
    callback = ActivationHistograms(tmp_path, PROBE, layers=["hidden"], probe_labels=Y[:40],
                                    weights=True)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[callback])
    events = read_events(tmp_path)
    assert set(events) == expected_tags(["hidden"]) | {
        "gradients/hidden/kernel", "gradients/hidden/bias", "gradient_norm/hidden",
        "weights/hidden/kernel", "weights/hidden/bias"}
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(Y[:40, None], model(PROBE))
        loss = tf.reduce_mean(loss)
    kernel_gradient, bias_gradient = tape.gradient(loss, model.layers[0].trainable_variables)
    norm = np.sqrt(np.sum(kernel_gradient.numpy() ** 2) + np.sum(bias_gradient.numpy() ** 2))
    assert value(events, "gradient_norm/hidden", 2) == pytest.approx(norm, rel=1e-4)
    assert value(events, "gradients/hidden/kernel", 2)[:, 2].sum() == 4 * 8
    kernel = model.layers[0].get_weights()[0]
    weight_rows = value(events, "weights/hidden/kernel", 2)
    assert weight_rows[0, 0] == pytest.approx(kernel.min()) and weight_rows[-1, 1] == pytest.approx(kernel.max())


def test_conv_model(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = RNG.normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = RNG.integers(0, 2, 16)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ActivationHistograms(tmp_path, x[:5])])
    events = read_events(tmp_path)
    assert value(events, "activations/conv", 1)[:, 2].sum() == 5 * 6 * 6 * 4
    assert_scalars_equal_stats(events, 1, activation_stats(model, x[:5]))


def test_functional_model_with_two_inputs(tmp_path):
    keras.utils.set_random_seed(0)
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    joined = keras.layers.Concatenate(name="join")([left, right])
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")(joined)
    model = keras.Model([left, right], keras.layers.Dense(1, name="out")(hidden))
    model.compile("sgd", "mse")
    x = [RNG.normal(size=(20, 3)), RNG.normal(size=(20, 2))]
    probe = [x[0][:7], x[1][:7]]
    model.fit(x, RNG.normal(size=20), epochs=1, verbose=0,
              callbacks=[ActivationHistograms(tmp_path, probe)])
    events = read_events(tmp_path)
    assert set(events) == expected_tags(["join", "hidden", "out"])
    assert value(events, "activations/hidden", 1)[:, 2].sum() == 7 * 6
    assert_scalars_equal_stats(events, 1, activation_stats(model, probe))


def test_sequential_built_lazily_by_fit_accepts_any_probe_size(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(5, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile("sgd", "mse")
    assert not model.built
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0,
              callbacks=[ActivationHistograms(tmp_path, X[:13])])
    events = read_events(tmp_path)
    assert steps(events, "activations/hidden") == [0, 1]
    assert value(events, "activations/hidden", 0)[:, 2].sum() == 13 * 5


def test_nonfinite_activations_are_counted_and_training_goes_on(tmp_path):
    model = mlp()
    model.layers[0].activation = keras.activations.tanh  # tanh(NaN) is NaN; relu(NaN) is not
    kernel, bias = model.layers[0].get_weights()
    kernel[0, 0] = np.nan  # unit 0 is NaN for every sample
    model.layers[0].set_weights([kernel, bias])
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[ActivationHistograms(tmp_path, PROBE)])
    assert len(history.history["loss"]) == 2
    events = read_events(tmp_path)
    assert value(events, "activation_nonfinite/hidden", 0) == 40
    assert value(events, "activations/hidden", 0)[:, 2].sum() == 40 * 7
    finite_units = np.tanh(PROBE @ kernel[:, 1:] + bias[1:])
    assert value(events, "activation_std/hidden", 0) == pytest.approx(finite_units.std(), rel=1e-5)
    # The NaN gradient has spread to every weight: all values non-finite, an empty histogram.
    assert value(events, "activation_nonfinite/hidden", 2) == 40 * 8
    np.testing.assert_array_equal(value(events, "activations/hidden", 2), np.zeros((30, 3)))


def test_interrupted_fit_leaves_snapshots_readable(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mlp().fit(X, Y, epochs=5, verbose=0,
                  callbacks=[ActivationHistograms(tmp_path, PROBE), Interrupt()])
    assert steps(read_events(tmp_path), "activations/hidden") == [0, 1, 2]


def test_snapshot_in_a_custom_training_loop(tmp_path):
    model = mlp()
    callback = ActivationHistograms(tmp_path, PROBE)
    callback.set_model(model)
    expected = {}
    for step in (0, 10):
        callback.snapshot(step)
        expected[step] = activation_stats(model, PROBE)
        model.train_on_batch(X, Y)
    callback.close()
    events = read_events(tmp_path)
    assert steps(events, "activation_std/out") == [0, 10]
    for step, stats in expected.items():
        assert_scalars_equal_stats(events, step, stats)
    assert expected[0] != expected[10]


def test_snapshot_is_traced_once(tmp_path):
    model = mlp()
    callback = ActivationHistograms(tmp_path, PROBE)
    model.fit(X, Y, epochs=4, verbose=0, callbacks=[callback])
    callback.set_model(model)
    callback.snapshot(99)
    assert callback._snapshot_function.compiled.experimental_get_tracing_count() == 1


def test_max_histogram_values_caps_the_histogram_not_the_statistics(tmp_path):
    model = mlp()
    callback = ActivationHistograms(tmp_path, PROBE, max_histogram_values=50)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callback])
    events = read_events(tmp_path)
    assert value(events, "activations/hidden", 1)[:, 2].sum() == 50
    assert value(events, "activations/out", 1)[:, 2].sum() == 40  # fewer than the cap: all
    assert_scalars_equal_stats(events, 1, activation_stats(model, PROBE))


def chi_square_to_full(capped, full):
    """Pearson's chi-square of the capped histogram's counts against the full one's shares.

    A uniform draw of C values with replacement gives multinomial counts with the full
    histogram's shares p_i, so X² = Σ (O_i - C p_i)² / (C p_i) follows chi²(k - 1). Buckets
    with an expected count under 5 are pooled (the approximation's rule of thumb), so the
    critical value below holds for this C. Returns (X², degrees of freedom).
    """
    observed, shares = np.asarray(capped, float), np.asarray(full, float) / np.sum(full)
    expected = observed.sum() * shares
    small = expected < 5
    observed = np.append(observed[~small], observed[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    keep = expected > 0
    observed, expected = observed[keep], expected[keep]
    return float(np.sum((observed - expected) ** 2 / expected)), observed.size - 1


def test_capped_histogram_is_a_fair_sample_of_the_full_one(tmp_path):
    """The capped histogram against the full one (chi-square), read back from the event files.

    Input sorted along the samples, so the values in memory order run from low to high:
    a cap that took the first C values instead of a uniform draw would show only the
    low end. That front slice is the negative control and must fail the same test.
    """
    samples, cap = 4000, 2000
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4, activation="tanh",
                                                                    name="sorted_tanh")])
    model.layers[0].set_weights([np.array([[0.25, 0.5, 1.0, 2.0]], np.float32),
                                 np.zeros(4, np.float32)])
    probe = np.sort(np.random.default_rng(7).normal(size=(samples, 1)), axis=0).astype(np.float32)
    for folder, limit in (("capped", cap), ("full", None)):
        callback = ActivationHistograms(tmp_path / folder, probe, max_histogram_values=limit)
        callback.set_model(model)
        callback.snapshot(0)
        callback.close()
    capped = value(read_events(tmp_path / "capped"), "activations/sorted_tanh", 0)
    full = value(read_events(tmp_path / "full"), "activations/sorted_tanh", 0)
    assert capped[:, 2].sum() == cap and full[:, 2].sum() == 4 * samples
    np.testing.assert_array_equal(capped[:, :2], full[:, :2])  # the edges span all values
    # Critical value at a false-alarm rate of 1e-4 for the pooled buckets' degrees of freedom:
    # a fair draw of 2,000 values passes 9,999 times in 10,000; the draw is seeded, so the
    # test is deterministic. A front slice of 2,000 (the lowest 500 samples) is off by far more.
    statistic, dof = chi_square_to_full(capped[:, 2], full[:, 2])
    assert dof >= 15 and statistic < scipy_stats.chi2.isf(1e-4, dof), (statistic, dof)
    # Negative control: the first `cap` values in memory order, binned on the same edges.
    front = keras.ops.convert_to_numpy(model(probe)).astype(np.float64).ravel()[:cap]
    edges = np.append(full[:, 0], full[-1, 1])
    front = np.clip(front, edges[0], edges[-1])  # the model's own values: inside up to rounding
    front_counts = np.histogram(front, bins=edges)[0]
    assert front_counts.sum() == cap
    statistic, dof = chi_square_to_full(front_counts, full[:, 2])
    assert statistic > scipy_stats.chi2.isf(1e-4, dof), (statistic, dof)


# --- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"every": "batch"}, r"Argument `every` must be 'epoch' or a positive int\. Received: every='batch'"),
    ({"every": 0}, r"Received: every=0"),
    ({"every": True}, r"Received: every=True"),
    ({"bins": 0}, r"Argument `bins` must be a positive int\. Received: bins=0"),
    ({"probe_data": np.zeros((0, 4))}, r"Argument `probe_data` must hold at least one sample"),
    ({"probe_data": np.array([["a"] * 4])}, r"Argument `probe_data` must hold numeric arrays"),
    ({"probe_labels": np.zeros(3)}, r"Argument `probe_labels` must have one label per sample .* 3 labels for 40"),
    ({"max_histogram_values": 0}, r"Argument `max_histogram_values` must be a positive int or None"),
])
def test_bad_arguments_at_construction(kwargs, message):
    arguments = {"log_dir": "unused", "probe_data": PROBE, **kwargs}
    with pytest.raises(ValueError, match=message):
        ActivationHistograms(**arguments)


def test_probe_of_the_wrong_shape_fails_before_the_first_training_step(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match=r"Argument `probe_data` must match the model's input shape "
                                         r"\(None, 4\)\. Received: probe_data of shape \(40, 3\)"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ActivationHistograms(tmp_path, PROBE[:, :3])])
    assert int(model.optimizer.iterations) == 0


def test_unknown_layer_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"Argument `layers` must name layers .*Received: 'hiden' in layers=\['hiden'\]"):
        mlp().fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ActivationHistograms(tmp_path, PROBE, layers=["hiden"])])


def test_unwritable_log_dir_fails_at_train_begin(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    model = mlp()
    with pytest.raises(ValueError, match=r"Argument `log_dir` must be a writable folder\. "
                                         rf"Received: log_dir='{blocker / 'run'}'"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ActivationHistograms(blocker / "run", PROBE)])
    assert int(model.optimizer.iterations) == 0


MIRRORED = """
import os, sys
import numpy as np, tensorflow as tf, keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_initcmp import ActivationHistograms, activation_stats
sys.path.insert(0, sys.argv[2])
from events import read_events, steps, value
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32"); y = (x[:, 0] > 0).astype("float32")
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile("sgd", "binary_crossentropy")
model.fit(x, y, epochs=2, batch_size=16, verbose=0,
          callbacks=[ActivationHistograms(sys.argv[1], x[:10], probe_labels=y[:10])])
files = [f for f in os.listdir(sys.argv[1]) if "tfevents" in f]
events = read_events(sys.argv[1])
expected = activation_stats(model, x[:10])["hidden"]["std"]
print(len(files), steps(events, "activations/hidden"), value(events, "activations/hidden", 2)[:, 2].sum(),
      abs(value(events, "activation_std/hidden", 2) - expected) < 1e-5 * expected,
      steps(events, "gradient_norm/out"))
"""


def test_mirrored_strategy_over_two_logical_cpus_writes_one_set_of_events(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "logs"), SUPPORT],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == "1 [0, 1, 2] 60.0 True [0, 1, 2]"
