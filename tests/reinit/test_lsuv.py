"""LSUV: the post-condition from an independent NumPy forward pass, its bounds, warnings and errors."""

import math
import warnings

import keras
import numpy as np
import pytest

from keras_initcmp import lsuv
from keras_initcmp.reinit.unit_variance import MIN_SAMPLES

@pytest.fixture(autouse=True, scope="module")
def fresh_keras_names():
    """Other test files rely on Keras' auto names ("dense"); leave the counters as found."""
    yield
    keras.backend.clear_session()


ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def mlp(activations, width=32, inputs=16, **dense_kwargs):
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [keras.layers.Dense(width, activation=activation, name=f"d{index}", **dense_kwargs)
           for index, activation in enumerate(activations)])


def data(shape, scale=3.0, shift=1.0, seed=0):
    """Deliberately not standardized: LSUV must fix the scale, not inherit it."""
    return np.random.default_rng(seed).normal(size=shape) * scale + shift


def dense(layer, h):
    w, b = layer.get_weights()
    return h @ w + b


def activate(layer, z):
    return ACTIVATIONS[layer.activation.__name__](z)


def numpy_forward(model, x):
    """Each Dense layer's output before its activation, and the model's output (Dense/Dropout only)."""
    pre, h = {}, np.asarray(x, dtype=np.float64)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            pre[layer.name] = dense(layer, h)
            h = activate(layer, pre[layer.name])
    return pre, h


def assert_unit_variance(pre, record, tol):
    assert list(record) == list(pre)
    for name, z in pre.items():
        assert abs(z.var() - 1.0) < tol, (name, z.var())
        assert record[name]["converged"]
        assert record[name]["variance"] == pytest.approx(z.var(), rel=1e-4), name


@pytest.mark.parametrize("tol", [0.1, 0.01])
def test_every_layer_has_unit_pre_activation_variance(tol):
    model = mlp(["tanh", "relu", "tanh", "relu", "sigmoid", "linear"])
    x = data((200, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that converges warns about nothing
        record = lsuv(model, x, tol=tol, seed=0)
    pre, output = numpy_forward(model, x)
    assert_unit_variance(pre, record, tol)
    # The fused activations are back in place: the model computes what NumPy does.
    assert [layer.activation.__name__ for layer in model.layers] == [
        "tanh", "relu", "tanh", "relu", "sigmoid", "linear"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), output, rtol=1e-4, atol=1e-5)


def test_negative_control_default_init_of_a_deep_relu_net_is_not_unit_variance():
    """Glorot (Keras' default) has Var(W) = 1/n for equal widths: ReLU halves the
    variance at every layer, so 8 layers down it is far below 1 - tol; LSUV fixes it."""
    keras.utils.set_random_seed(0)
    model = mlp(["relu"] * 8)
    x = data((200, 16), scale=1.0, shift=0.0)
    before, _ = numpy_forward(model, x)
    assert before["d7"].var() < 0.5 * before["d0"].var()
    assert abs(before["d7"].var() - 1.0) > 0.5
    record = lsuv(model, x, seed=0)
    after, _ = numpy_forward(model, x)
    assert_unit_variance(after, record, 0.1)


def test_zero_bias_converges_in_one_step():
    """With b = 0, z is linear in W: Var(z / sqrt(Var z)) = 1 exactly, up to rounding."""
    model = mlp(["relu", "tanh", "relu"])
    record = lsuv(model, data((100, 16), scale=5.0, shift=0.0), seed=1)
    assert [r["iterations"] for r in record.values()] == [1, 1, 1]
    assert all(abs(r["variance"] - 1.0) < 1e-5 for r in record.values())


def biased_model(stddev):
    """Biases spread across units add a variance the kernel scale cannot remove."""
    return mlp(["relu"], bias_initializer=keras.initializers.RandomNormal(stddev=stddev, seed=3))


def test_a_varying_bias_needs_several_steps_and_max_iter_bounds_them():
    x = data((100, 16), scale=5.0, shift=0.0)
    bias_variance = float(np.var(biased_model(0.6).layers[0].get_weights()[1]))
    assert 0.1 < bias_variance < 0.8  # one step overshoots, the fixed point exists
    with pytest.warns(UserWarning, match=r"layer 'd0' did not reach a variance within "
                                         r"tol=0\.1 of 1 in max_iter=1 iterations"):
        record = lsuv(biased_model(0.6), x, max_iter=1, seed=0)
    assert record["d0"]["iterations"] == 1 and not record["d0"]["converged"]
    assert abs(record["d0"]["variance"] - 1.0) >= 0.1
    model = biased_model(0.6)
    record = lsuv(model, x, max_iter=10, seed=0)
    assert 1 < record["d0"]["iterations"] <= 10
    assert_unit_variance(numpy_forward(model, x)[0], record, 0.1)


def test_a_bias_variance_above_one_never_converges_and_stops_at_max_iter():
    x = data((100, 16), scale=5.0, shift=0.0)
    model = biased_model(2.0)
    assert np.var(model.layers[0].get_weights()[1]) > 1.1  # no kernel scale reaches 1
    with pytest.warns(UserWarning, match=r"layer 'd0' did not reach .* max_iter=4 iterations"):
        record = lsuv(model, x, max_iter=4, seed=0)
    assert record["d0"]["iterations"] == 4 and not record["d0"]["converged"]
    assert record["d0"]["variance"] > 1.1
    assert np.all(np.isfinite(model.layers[0].get_weights()[0]))


def test_dead_layer_warns_and_keeps_its_orthogonal_kernel():
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(8, activation="relu", bias_initializer=keras.initializers.Constant(-100.0),
                           name="killer"),
        keras.layers.Dense(4, name="dead"),
        keras.layers.Dense(3, name="after"),
    ])
    with pytest.warns(UserWarning) as caught:
        record = lsuv(model, data((50, 16)), seed=0)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2
    assert messages[0].startswith("LSUV: layer 'dead' is dead: its output has variance 0 ")
    assert messages[1].startswith("LSUV: layer 'after' is dead")  # its input is all zeros too
    assert record["killer"]["converged"]  # a constant bias adds no variance
    assert record["dead"] == {"iterations": 0, "variance": 0.0, "converged": False}
    # Left alone: still the orthogonal pre-init (4 singular values of 1), never scaled by 1/0.
    kernel = model.get_layer("dead").get_weights()[0]
    np.testing.assert_allclose(np.linalg.svd(kernel, compute_uv=False), np.ones(4), rtol=1e-5)
    assert not record["after"]["converged"]
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def numpy_conv(x, kernel, bias):
    """'valid' 2-D convolution, stride 1, channels last."""
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[:2], axis=(1, 2))
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def numpy_max_pool(x):
    n, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def test_conv_layers_on_a_lazily_built_model_and_layers_without_kernel_skipped():
    model = keras.Sequential([  # no Input: lsuv builds it on the batch
        keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(6, 3, activation="tanh", name="c2"),
        keras.layers.Flatten(),
        keras.layers.Dense(5, name="out"),
    ])
    x = data((24, 10, 10, 3), scale=2.0)
    record = lsuv(model, x, tol=0.05, seed=0)
    c1, c2, out = (model.get_layer(name) for name in ("c1", "c2", "out"))
    pre = {"c1": numpy_conv(x, *c1.get_weights())}
    pre["c2"] = numpy_conv(numpy_max_pool(activate(c1, pre["c1"])), *c2.get_weights())
    pre["out"] = dense(out, np.tanh(pre["c2"]).reshape(len(x), -1))
    assert_unit_variance(pre, record, 0.05)


def test_non_kernel_layers_are_skipped_and_keep_their_weights():
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(12, name="d0"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Activation("relu", name="act"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(6, name="d1"),
    ])
    bn_before = [w.copy() for w in model.get_layer("bn").get_weights()]
    x = data((64, 16))
    record = lsuv(model, x, seed=0)
    assert list(record) == ["d0", "d1"]
    for before, after in zip(bn_before, model.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(before, after)
    # Independent check through Keras itself: these Dense layers have no fused activation.
    outputs = keras.Model(model.inputs[0], [model.get_layer(n).output for n in record])(x)
    for name, z in zip(record, outputs):
        assert abs(np.var(keras.ops.convert_to_numpy(z), dtype=np.float64) - 1.0) < 0.1, name


def test_functional_model_with_branches_and_dict_inputs():
    p, q = keras.Input((5,), name="p"), keras.Input((7,), name="q")
    a = keras.layers.Dense(8, activation="relu", name="a")(p)
    b = keras.layers.Dense(8, activation="tanh", name="b")(q)
    merged = keras.layers.Concatenate()([a, b])
    model = keras.Model({"p": p, "q": q}, keras.layers.Dense(3, name="o")(merged))
    x = {"p": data((60, 5), seed=1), "q": data((60, 7), scale=0.2, seed=2)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = lsuv(model, x, seed=0)
    la, lb, lo = (model.get_layer(name) for name in "abo")
    pre = {"a": dense(la, x["p"]), "b": dense(lb, x["q"])}
    pre["o"] = dense(lo, np.concatenate([activate(la, pre["a"]), activate(lb, pre["b"])], axis=1))
    assert_unit_variance(pre, record, 0.1)


def test_layer_selection_touches_only_the_named_layers():
    model = mlp(["relu", "relu", "relu"])
    before = model.get_weights()
    record = lsuv(model, data((50, 16)), layers=["d1"], seed=0)
    assert list(record) == ["d1"]
    after = model.get_weights()
    for index in (0, 1, 4, 5):  # d0 and d2 kernels and biases
        np.testing.assert_array_equal(before[index], after[index])
    assert not np.allclose(before[2], after[2])


def test_without_orthogonal_pre_init_kernels_are_only_rescaled():
    model = mlp(["tanh", "relu"])
    before = [layer.get_weights()[0] for layer in model.layers]
    lsuv(model, data((50, 16)), orthogonal=False)
    for kernel, layer in zip(before, model.layers):
        ratio = layer.get_weights()[0] / kernel
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)


def kernels(model):
    return [layer.get_weights()[0] for layer in model.layers]


def test_same_seed_same_result_whatever_the_starting_weights():
    x = data((50, 16, ))
    models = []
    for start in (1, 2, 2):
        keras.utils.set_random_seed(start)
        models.append(mlp(["relu", "relu"], width=16))
    assert not np.allclose(kernels(models[0])[0], kernels(models[1])[0])
    records = [lsuv(models[0], x, seed=3), lsuv(models[1], x, seed=3), lsuv(models[2], x, seed=4)]
    assert records[0] == records[1]
    for first, second in zip(kernels(models[0]), kernels(models[1])):
        np.testing.assert_array_equal(first, second)
    assert not np.allclose(kernels(models[1])[0], kernels(models[2])[0])
    # Distinct seed per layer: two 16 × 16 kernels are not the same orthogonal matrix up to scale.
    k0, k1 = kernels(models[0])
    assert not np.allclose(k0 / np.linalg.norm(k0), k1 / np.linalg.norm(k1), atol=1e-3)


def test_too_small_a_batch_is_an_error():
    model = mlp(["relu"])
    with pytest.raises(ValueError, match=rf"Argument `x_batch` must hold at least {MIN_SAMPLES} "
                                         r"samples.*Received: x_batch with 1 sample\(s\)"):
        lsuv(model, data((1, 16)))
    with pytest.raises(ValueError, match=r"Argument `x_batch` must hold at least one sample"):
        lsuv(model, np.zeros((0, 16)))


@pytest.mark.parametrize("kwargs, message", [
    ({"tol": -1}, r"Argument `tol` must be a positive finite number\. Received: tol=-1"),
    ({"tol": 0}, r"Received: tol=0$"),
    ({"tol": math.nan}, r"Received: tol=nan"),
    ({"tol": math.inf}, r"Received: tol=inf"),
    ({"tol": True}, r"Received: tol=True"),
    ({"tol": "0.1"}, r"Received: tol='0\.1'"),
    ({"max_iter": 0}, r"Argument `max_iter` must be a positive int\. Received: max_iter=0"),
    ({"max_iter": 2.5}, r"Received: max_iter=2\.5"),
    ({"max_iter": True}, r"Received: max_iter=True"),
    ({"max_iter": None}, r"Received: max_iter=None"),
    ({"seed": 1.5}, r"Argument `seed` must be an int or None\. Received: seed=1\.5"),
    ({"seed": "1"}, r"Received: seed='1'"),
    ({"layers": ["drop"]}, r"Argument `layers` must name layers with a `kernel`.*\['drop'\] have none"),
    ({"layers": ["nope"]}, r"Argument `layers` must name layers of model"),
])
def test_bad_arguments(kwargs, message):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
                              keras.layers.Dropout(0.1, name="drop")])
    with pytest.raises(ValueError, match=message):
        lsuv(model, np.zeros((8, 4)), **kwargs)


def test_subclassed_and_nested_models_reach_unit_pre_activation_variance():
    """No functional graph to read inputs from: the recorded pass serves, by path."""
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Dense(16, activation="tanh", name="first")
            self.block = keras.Sequential([keras.layers.Dense(8, activation="relu", name="deep")],
                                          name="block")

        def call(self, x):
            return self.block(self.first(x))

    x = data((256, 6))
    model = Subclassed()
    model(x)
    records = lsuv(model, x, seed=0)
    assert list(records) == ["first", "block/deep"]
    first, deep = model.first, model.block.layers[0]
    z1 = x @ first.kernel.numpy() + first.bias.numpy()
    z2 = np.tanh(z1) @ deep.kernel.numpy() + deep.bias.numpy()
    for z in (z1, z2):  # independent NumPy forward pass, before each activation
        assert abs(np.var(z) - 1.0) < 0.1
