"""μP's base shapes and initialization, checked against values computed here from fan-in,
fan-out and the base shapes (not from the package's rules)."""

import math

import keras
import numpy as np
import pytest

from keras_initcmp import mup
from keras_initcmp.experiments.width import width_mlp, width_transformer
from keras_initcmp.reinit.redraw import redraw_kernels

BASE, DELTA = 16, 32


def _kind(fan_in_grows, fan_out_grows):
    return {(True, True): "hidden", (False, True): "input", (True, False): "output",
            (False, False): "scalar"}[fan_in_grows, fan_out_grows]


def test_mlp_kinds_and_multipliers_match_the_fans():
    width = 64
    shapes = mup.base_shapes(width_mlp(width), width_mlp(BASE), width_mlp(DELTA))
    # Written out from the architecture: 64 pixels -> 3 x width -> 10 logits.
    m = width / BASE
    expected = {"hidden_1/kernel": ("input", 1, m), "hidden_1/bias": ("input", 1, m),
                "hidden_2/kernel": ("hidden", m, m), "hidden_2/bias": ("input", 1, m),
                "hidden_3/kernel": ("hidden", m, m), "hidden_3/bias": ("input", 1, m),
                "readout/kernel": ("output", m, 1), "readout/bias": ("scalar", 1, 1)}
    got = {path: (shape.kind, shape.fan_in_mult, shape.fan_out_mult)
           for path, shape in shapes.items()}
    assert got == expected
    adam = mup.lr_multipliers(shapes, "adam")
    sgd = mup.lr_multipliers(shapes, "sgd")
    assert adam == {"hidden_2/kernel": 1 / m, "hidden_3/kernel": 1 / m, "readout/kernel": 1 / m}
    assert sgd == {"hidden_1/kernel": m, "hidden_1/bias": m, "hidden_2/bias": m,
                   "hidden_3/bias": m, "readout/kernel": 1 / m}


def test_transformer_block_kinds_follow_the_einsum_fans():
    width, heads = 64, 4
    model = width_transformer(width)
    shapes = mup.base_shapes(model, width_transformer(BASE), width_transformer(DELTA))
    m = width / BASE
    for variable in model.weights:
        shape = shapes[variable.path]
        dims = tuple(variable.shape)
        name = variable.path
        if name.endswith(("query/kernel", "key/kernel", "value/kernel")):
            fans = (dims[0], dims[1] * dims[2])  # (width, heads, key_dim): in = width
            grows = (True, True)
        elif name.endswith("attention_output/kernel"):
            fans = (dims[0] * dims[1], dims[2])  # (heads, key_dim, width)
            grows = (True, True)
        elif name == "embed/kernel":
            fans, grows = dims, (False, True)
        elif name in ("mlp_in/kernel", "mlp_out/kernel"):
            fans, grows = dims, (True, True)
        elif name == "readout/kernel":
            fans, grows = dims, (True, False)
        else:  # biases, LayerNorm: one axis of width (or 10 for the readout's bias)
            fans, grows = (1, math.prod(dims)), (False, name != "readout/bias")
        assert (shape.kind, shape.fan_in, shape.fan_out) == (_kind(*grows), *fans), name
        query = "attention/query/" in name
        assert shape.attention_scale == pytest.approx(
            math.sqrt((BASE / heads) / (width / heads)) if query else 1.0), name
        assert shape.fan_in_mult == (m if grows[0] else 1.0), name
    # The attention's 1/d logits are folded into the query: Adam's rate times the scale.
    adam = mup.lr_multipliers(shapes, "adam")
    assert adam["attention/query/kernel"] == pytest.approx(1 / m * math.sqrt(1 / m))
    assert adam["attention/key/kernel"] == pytest.approx(1 / m)


def test_mup_equals_sp_at_the_base_width():
    model = width_mlp(BASE)
    shapes = mup.base_shapes(model, width_mlp(BASE), width_mlp(DELTA))
    assert mup.lr_multipliers(shapes, "adam") == {} and mup.lr_multipliers(shapes, "sgd") == {}
    mup.initialize(model, shapes, "he", seed=3)
    sp = width_mlp(BASE)
    redraw_kernels(sp, "he", 3)
    for a, b in zip(model.weights, sp.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("scheme, sigma2", [("he", 2.0), ("xavier", 1.0)])
def test_init_variance_per_kind_within_five_standard_errors(scheme, sigma2):
    width = 256
    model = width_mlp(width)
    shapes = mup.base_shapes(model, width_mlp(BASE), width_mlp(DELTA))
    mup.initialize(model, shapes, scheme, seed=0)
    m = width / BASE
    for variable in model.weights:
        if not variable.path.endswith("kernel"):
            continue
        values = keras.ops.convert_to_numpy(variable).ravel().astype(np.float64)
        fan_in = variable.shape[0]
        # Expected from the fans alone: σ²/fan_in, the readout's std also divided by m.
        expected = sigma2 / fan_in / (m**2 if variable.path == "readout/kernel" else 1)
        # SE of a normal sample variance: expected·√(2/n) (He and Xavier draw normals).
        se = expected * math.sqrt(2 / values.size)
        assert abs(values.var() - expected) < 5 * se, variable.path
        if variable.path == "readout/kernel":  # negative control: SP's variance is far off
            assert abs(values.var() - sigma2 / fan_in) > 5 * (sigma2 / fan_in) * math.sqrt(
                2 / values.size)


def test_readout_zero_init_and_mureadout():
    width = 64
    model = width_mlp(width)
    shapes = mup.base_shapes(model, width_mlp(BASE), width_mlp(DELTA))
    mup.initialize(model, shapes, "he", seed=0, readout_zero_init=True)
    assert not np.any(keras.ops.convert_to_numpy(model.get_layer("readout").kernel))

    def build(w):
        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(w, activation="relu")(inputs)
        return keras.Model(inputs, mup.MuReadout(3, width_mult=w / BASE)(hidden))

    net = build(width)
    shapes = mup.base_shapes(net, build(BASE), build(DELTA))
    readout = [s for s in shapes.values() if s.kind == "output"][0]
    assert readout.readout  # the layer applies 1/m itself: nothing folded, Adam rate 1
    assert readout.path not in mup.lr_multipliers(shapes, "adam")
    assert mup.lr_multipliers(shapes, "sgd")[readout.path] == width / BASE
    x = np.ones((2, 8), "float32")
    layer = net.layers[-1]
    plain = x @ keras.ops.convert_to_numpy(net.layers[1].kernel)
    hidden = np.maximum(plain + keras.ops.convert_to_numpy(net.layers[1].bias), 0)
    expected = hidden / (width / BASE) @ keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(net(x)), expected, rtol=1e-5, atol=1e-6)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="Argument `scheme`.*Received: scheme='random'"):
        mup.check_scheme("random")
    with pytest.raises(ValueError, match="Argument `base`"):
        mup.base_shapes(width_mlp(BASE), "not a model")
    with pytest.raises(ValueError, match="Argument `optimizer`"):
        mup.lr_multipliers({}, "rmsprop")
    with pytest.raises(ValueError, match="Argument `multipliers`"):
        mup.MuAdam(0.1, multipliers={"a": -1})
    with pytest.raises(ValueError, match="Argument `width_mult`"):
        mup.MuReadout(3, width_mult=0)


def test_conv_and_batchnorm_shapes():
    def build(width):
        inputs = keras.Input((6, 6, 3))
        hidden = keras.layers.Conv2D(width, 3, activation="relu", name="conv_in")(inputs)
        hidden = keras.layers.BatchNormalization(name="norm")(hidden)
        hidden = keras.layers.Conv2D(width, 3, name="conv_hidden")(hidden)
        pooled = keras.layers.GlobalAveragePooling2D()(hidden)
        return keras.Model(inputs, keras.layers.Dense(4, name="readout")(pooled))

    shapes = mup.base_shapes(build(32), build(8), build(16))
    # The window never grows: fan-in 3·3·channels, the width multiplier the channels'.
    assert (shapes["conv_in/kernel"].kind, shapes["conv_in/kernel"].fan_in) == ("input", 27)
    hidden = shapes["conv_hidden/kernel"]
    assert (hidden.kind, hidden.fan_in, hidden.fan_in_mult) == ("hidden", 9 * 32, 4.0)
    assert shapes["norm/moving_mean"].kind == "input" and not shapes["norm/moving_mean"].trainable
    sgd = mup.lr_multipliers(shapes, "sgd")
    assert sgd["norm/gamma"] == 4.0 and "norm/moving_mean" not in sgd  # no optimizer sees it
    assert "conv_hidden/kernel" not in sgd  # m_out / m_in = 1
