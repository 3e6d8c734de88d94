"""μP's optimizers: one Adam and one SGD step against a hand computation, SP's training at
the base width, the predicted factors at twice the width, and save / load under fit."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_initcmp import mup
from keras_initcmp.experiments.width import width_mlp
from keras_initcmp.reinit.redraw import redraw_kernels

BASE, DELTA = 16, 32
X = np.random.default_rng(0).normal(size=(32, 64)).astype("float32")
Y = np.random.default_rng(1).integers(0, 10, size=32).astype("int32")
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _numpy(model):
    return [keras.ops.convert_to_numpy(v).astype(np.float64) for v in model.trainable_variables]


def _gradients(model):
    import tensorflow as tf  # this file runs on TensorFlow (the suite's backend)
    with tf.GradientTape() as tape:
        loss = LOSS(Y, model(X, training=True))
    return [g.numpy().astype(np.float64) for g in tape.gradient(loss, model.trainable_variables)]


def _mup_model(width, seed=0):
    model = width_mlp(width)
    shapes = mup.base_shapes(model, width_mlp(BASE), width_mlp(DELTA))
    mup.initialize(model, shapes, "he", seed)
    return model, shapes


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_one_step_matches_the_hand_computation(name):
    width, lr = 64, 0.01
    model, shapes = _mup_model(width)
    before, grads = _numpy(model), _gradients(model)
    multipliers = mup.lr_multipliers(shapes, name)
    model.compile(optimizer=mup.optimizer(name, lr, shapes), loss=LOSS)
    model.train_on_batch(X, Y)
    m = width / BASE
    # The rates of the table in keras_initcmp.mup.optim, written from the kinds here.
    by_hand = {"hidden_1/kernel": (1, m), "hidden_1/bias": (1, m), "hidden_2/kernel": (1 / m, 1),
               "hidden_2/bias": (1, m), "hidden_3/kernel": (1 / m, 1), "hidden_3/bias": (1, m),
               "readout/kernel": (1 / m, 1 / m), "readout/bias": (1, 1)}
    for variable, w0, g, w1 in zip(model.trainable_variables, before, grads, _numpy(model)):
        rate = lr * by_hand[variable.path][0 if name == "adam" else 1]
        assert multipliers.get(variable.path, 1.0) * lr == pytest.approx(rate)
        expected = w0 + _first_step(name, rate, g)
        np.testing.assert_allclose(w1, expected, rtol=2e-4, atol=2e-6, err_msg=variable.path)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_mup_trains_as_sp_at_the_base_width_and_by_the_factors_at_twice(name):
    def train(width, parametrization):
        model = width_mlp(width)
        shapes = mup.base_shapes(model, width_mlp(BASE), width_mlp(DELTA))
        if parametrization == "mup":
            mup.initialize(model, shapes, "he", 0)
        else:
            redraw_kernels(model, "he", 0)
            shapes = None
        start = _numpy(model)
        model.compile(optimizer=mup.optimizer(name, 0.01, shapes), loss=LOSS)
        for _ in range(3):
            model.train_on_batch(X, Y)
        return model, start, _numpy(model)

    _, _, sp = train(BASE, "sp")
    _, _, mu = train(BASE, "mup")
    for a, b in zip(sp, mu):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # At twice the width, one step: the hidden kernels' Adam steps halve (rate 1/m), and
    # under SGD the input layer's step doubles (rate m). Same draws, so compare ratios
    # of each step to SP's step on the same weights.
    width = 2 * BASE
    model, shapes = _mup_model(width)
    grads, before = _gradients(model), _numpy(model)
    model.compile(optimizer=mup.optimizer(name, 0.01, shapes), loss=LOSS)
    model.train_on_batch(X, Y)
    paths = [v.path for v in model.trainable_variables]
    steps = dict(zip(paths, (w1 - w0 for w0, w1 in zip(before, _numpy(model)))))
    path, factor = ("hidden_2/kernel", 0.5) if name == "adam" else ("hidden_1/kernel", 2.0)
    gradient = grads[paths.index(path)]
    sp_step = _first_step(name, 0.01, gradient)  # SP's step from the same weights
    # atol: float32 weights of size ~0.5 hold a step to ~3e-8 (their last bit)
    np.testing.assert_allclose(steps[path], factor * sp_step, rtol=1e-3, atol=2e-7)
    assert np.abs(sp_step).max() > 1e-4  # the check has steps to compare


def _first_step(name, rate, g):
    """One step from fresh optimizer state: SGD `-rate g`; Keras' Adam `-α m / (√v + ε)`
    with `m = (1-β1) g`, `v = (1-β2) g²`, `α = rate √(1-β2) / (1-β1)`."""
    if name == "sgd":
        return -rate * g
    b1, b2, eps = 0.9, 0.999, 1e-7
    alpha = rate * np.sqrt(1 - b2) / (1 - b1)
    return -alpha * (1 - b1) * g / (np.sqrt((1 - b2) * g**2) + eps)


def test_multipliers_survive_save_and_load(tmp_path):
    model, shapes = _mup_model(64)
    model.compile(optimizer=mup.optimizer("adam", 0.01, shapes), loss=LOSS)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    path = os.path.join(tmp_path, "mup.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, mup.MuAdam)
    assert loaded.optimizer.multipliers == mup.lr_multipliers(shapes, "adam")
    # The loaded optimizer keeps training with the same rates: one more step each.
    before = _numpy(loaded)
    model.train_on_batch(X, Y)
    loaded.train_on_batch(X, Y)
    for a, b, w0 in zip(_numpy(model), _numpy(loaded), before):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert not np.array_equal(b, w0)


_OTHER_BACKEND = textwrap.dedent("""
    import os, sys
    import keras, numpy as np
    from keras_initcmp import mup
    from keras_initcmp.experiments.width import width_mlp
    from keras_initcmp.reinit.redraw import redraw_kernels
    model = width_mlp(64)
    shapes = mup.base_shapes(model, width_mlp(16), width_mlp(32))
    mup.initialize(model, shapes, "he", 0)
    x = np.random.default_rng(0).normal(size=(32, 64)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, size=32).astype("int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for name in ("sgd", "adam"):
        net = keras.models.clone_model(model); net.set_weights(model.get_weights())
        net.compile(optimizer=mup.optimizer(name, 0.01, shapes), loss=loss)
        before = [np.array(w) for w in net.get_weights()]
        net.fit(x, y, batch_size=32, epochs=1, verbose=0)
        after = net.get_weights()
        if name == "sgd":  # SGD's step over SP's on the same gradient: the multiplier
            sp = keras.models.clone_model(model); sp.set_weights(model.get_weights())
            sp.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
            sp.fit(x, y, batch_size=32, epochs=1, verbose=0)
            for v, w0, w1, s1 in zip(net.weights, before, after, sp.get_weights()):
                expected = mup.lr_multipliers(shapes, "sgd").get(v.path, 1.0)
                # atol: the last bit of float32 weights of size ~0.5
                assert np.allclose(w1 - w0, expected * (s1 - w0), rtol=1e-3, atol=2e-7), v.path
        path = os.path.join(sys.argv[1], name + ".keras")
        net.save(path)
        loaded = keras.models.load_model(path)
        assert loaded.optimizer.multipliers == net.optimizer.multipliers
        loaded.fit(x, y, batch_size=32, epochs=1, verbose=0)
    # At the base width μP trains as SP: same draws, same updates, three Adam steps.
    base = width_mlp(16)
    base_shapes = mup.base_shapes(base, width_mlp(16), width_mlp(32))
    nets = []
    for parametrization in ("sp", "mup"):
        net = keras.models.clone_model(base)
        if parametrization == "mup":
            mup.initialize(net, mup.base_shapes(net, width_mlp(16), width_mlp(32)), "he", 0)
            optimizer = mup.optimizer("adam", 0.01, base_shapes)
        else:
            redraw_kernels(net, "he", 0)
            optimizer = keras.optimizers.Adam(0.01)
        net.compile(optimizer=optimizer, loss=loss)
        for _ in range(3):
            net.train_on_batch(x, y)
        nets.append(net.get_weights())
    for a, b in zip(*nets):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-7)
    print("ok", keras.backend.backend())
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_init_optimizer_and_saving_on_other_backends(backend, tmp_path):
    environment = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", _OTHER_BACKEND, str(tmp_path)],
                            env=environment, capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ok {backend}" in result.stdout
