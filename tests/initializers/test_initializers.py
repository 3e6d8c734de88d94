"""Initializers: moments against theory (tolerance from n), fans, seeds, serialization, errors."""

import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy import stats

from keras_initcmp import initializers as ki

CONV = (3, 3, 64, 128)  # fan_in 576, fan_out 1152, 73,728 draws
DENSE = (512, 256)  # fan_in 512, fan_out 256, 131,072 draws
NORMAL_KURTOSIS = 3.0
UNIFORM_KURTOSIS = 9.0 / 5.0
TRUNCATED_KURTOSIS = 3.0 + float(stats.truncnorm(-2, 2).stats(moments="k"))


def variance_matches(values, expected, kurtosis):
    """Is the sample variance within 5 standard errors of `expected`?

    For iid draws, Var(s²) ≈ σ⁴ (κ - 1) / n, κ the (non-excess) kurtosis.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    standard_error = expected * math.sqrt((kurtosis - 1.0) / values.size)
    return abs(values.var() - expected) < 5 * standard_error


def draw(initializer, shape):
    values = keras.ops.convert_to_numpy(initializer(shape))
    assert values.shape == shape and values.size >= 65_536
    return values


def test_conv_fan_in_is_kernel_height_times_width_times_channels():
    values = draw(ki.He(seed=1), CONV)
    assert variance_matches(values, 2 / 576, NORMAL_KURTOSIS)
    assert not variance_matches(values, 2 / 64, NORMAL_KURTOSIS)  # fan without receptive field
    assert not variance_matches(values, 2 / 1152, NORMAL_KURTOSIS)  # fan_out


@pytest.mark.parametrize(
    "mode, fan, other_fan",
    [("fan_in", 576, 1152), ("fan_out", 1152, 576), ("fan_avg", 864, 576)],
)
def test_xavier_modes_choose_their_fan(mode, fan, other_fan):
    values = draw(ki.Xavier(mode=mode, seed=2), CONV)
    assert variance_matches(values, 1 / fan, NORMAL_KURTOSIS)
    assert not variance_matches(values, 1 / other_fan, NORMAL_KURTOSIS)


def test_xavier_default_is_the_articles_sqrt_one_over_fan_in_and_he_doubles_it():
    xavier = draw(ki.Xavier(seed=3), DENSE)
    he = draw(ki.He(seed=3), DENSE)
    assert variance_matches(xavier, 1 / 512, NORMAL_KURTOSIS)
    assert not variance_matches(xavier, 2 / 512, NORMAL_KURTOSIS)
    assert variance_matches(he, 2 / 512, NORMAL_KURTOSIS)
    assert not variance_matches(he, 1 / 512, NORMAL_KURTOSIS)


def test_normal_is_untruncated():
    values = draw(ki.He(seed=4), DENSE)
    sigma = math.sqrt(2 / 512)
    # P(|z| > 2) = 4.55%: an untruncated normal has thousands beyond 2σ.
    expected_tail = 2 * stats.norm.sf(2) * values.size
    beyond = np.sum(np.abs(values) > 2 * sigma)
    assert abs(beyond - expected_tail) < 5 * math.sqrt(expected_tail)


def test_truncated_normal_is_cut_at_two_sigma_with_variance_corrected():
    values = draw(ki.Xavier(distribution="truncated_normal", seed=5), DENSE)
    assert variance_matches(values, 1 / 512, TRUNCATED_KURTOSIS)
    # Negative control: the same truncation without the correction.
    uncorrected = (1 / 512) * float(stats.truncnorm(-2, 2).var())
    assert not variance_matches(values, uncorrected, TRUNCATED_KURTOSIS)
    corrected_sigma = math.sqrt(1 / 512) / float(stats.truncnorm(-2, 2).std())
    assert np.abs(values).max() <= 2 * corrected_sigma * (1 + 1e-6)


def test_uniform_bounds_and_variance():
    values = draw(ki.Xavier(mode="fan_avg", distribution="uniform", seed=6), DENSE)
    limit = math.sqrt(6 / (512 + 256))  # Glorot & Bengio eq. 16
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit
    assert variance_matches(values, limit**2 / 3, UNIFORM_KURTOSIS)
    assert not variance_matches(values, 1 / 512, UNIFORM_KURTOSIS)


def test_glorot_registry_name_is_normalized_initialization():
    values = draw(ki.get("glorot", seed=7), DENSE)
    assert variance_matches(values, 2 / (512 + 256), UNIFORM_KURTOSIS)
    assert not variance_matches(draw(ki.get("xavier", seed=7), DENSE), 2 / 768, NORMAL_KURTOSIS)


def test_he_leaky_relu_slope():
    values = draw(ki.He(negative_slope=0.5, seed=8), DENSE)
    assert variance_matches(values, 2 / (1.25 * 512), NORMAL_KURTOSIS)
    assert not variance_matches(values, 2 / 512, NORMAL_KURTOSIS)


def test_scaled_normal_is_randn_times_scale():
    values = draw(ki.ScaledNormal(seed=9), DENSE)
    assert variance_matches(values, 0.01**2, NORMAL_KURTOSIS)
    assert not variance_matches(values, 0.012**2, NORMAL_KURTOSIS)
    assert abs(values.mean()) < 5 * 0.01 / math.sqrt(values.size)


def test_zeros():
    assert not np.any(draw(ki.Zeros(), DENSE))


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_columns_are_orthonormal_times_gain(gain):
    values = draw(ki.Orthogonal(gain=gain, seed=10), DENSE).astype(np.float64)
    np.testing.assert_allclose(values.T @ values, gain**2 * np.eye(256), atol=1e-4)
    gaussian = draw(ki.Xavier(seed=10), DENSE).astype(np.float64)
    assert not np.allclose(gaussian.T @ gaussian, np.eye(256), atol=1e-2)


@pytest.mark.parametrize(
    "nonlinearity, param, gain",
    [("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0),
     ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
     ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
     ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("selu", None, 0.75)],
)
def test_calculate_gain_matches_pytorch_table(nonlinearity, param, gain):
    assert ki.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-12)


# --- PyTorch's default -----------------------------------------------------------


@pytest.mark.parametrize("shape, fan_in, wrong_fan", [(DENSE, 512, 256), (CONV, 576, 64)])
def test_pytorch_default_kernel_is_uniform_one_over_sqrt_fan_in(shape, fan_in, wrong_fan):
    values = draw(ki.PyTorchDefault(seed=20), shape)
    limit = 1 / math.sqrt(fan_in)  # nn.Linear: kaiming_uniform_(a=√5)
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit
    assert variance_matches(values, 1 / (3 * fan_in), UNIFORM_KURTOSIS)
    # Negative controls: He's 2/fan_in, and the wrong fan (dense: fan_out; conv: the
    # channels without the receptive field).
    assert not variance_matches(values, 2 / fan_in, UNIFORM_KURTOSIS)
    assert not variance_matches(values, 1 / (3 * wrong_fan), UNIFORM_KURTOSIS)


def test_pytorch_default_bias_uses_the_kernels_fan_in():
    kernel_init = ki.PyTorchDefault(seed=21)
    bias_init = kernel_init.bias_for(CONV)
    assert bias_init.get_config()["fan_in"] == 576  # 3 * 3 * 64, not the 128 units
    values = draw(bias_init, (65_536,))
    limit = 1 / math.sqrt(576)
    assert limit * 0.99 < np.abs(values).max() <= limit
    assert variance_matches(values, 1 / (3 * 576), UNIFORM_KURTOSIS)
    # Negative control: a bias that took its fan-in from its own shape, U(±1/√units).
    assert not variance_matches(values, 1 / (3 * 128), UNIFORM_KURTOSIS)
    assert variance_matches(draw(ki.PyTorchDefault(fan_in=576, seed=1), (65_536,)),
                            1 / (3 * 576), UNIFORM_KURTOSIS)


def test_pytorch_default_bias_is_not_the_kernels_first_row():
    kernel = draw(ki.PyTorchDefault(seed=22), DENSE)
    bias = keras.ops.convert_to_numpy(ki.PyTorchDefault(seed=22).bias_for(DENSE)((256,)))
    same_seed = keras.ops.convert_to_numpy(ki.PyTorchDefault(seed=22, fan_in=512)((256,)))
    np.testing.assert_array_equal(same_seed, kernel[0])  # why bias_for derives a seed
    assert not np.any(bias == kernel[0])
    again = keras.ops.convert_to_numpy(ki.PyTorchDefault(seed=22).bias_for(DENSE)((256,)))
    np.testing.assert_array_equal(bias, again)


def test_pytorch_default_without_fan_in_refuses_a_bias_shape():
    with pytest.raises(ValueError, match=r"Argument `fan_in` must be given to draw a bias .*"
                                         r"Received: shape=\(64,\)"):
        ki.PyTorchDefault()((64,))
    with pytest.raises(ValueError, match=r"Argument `kernel_shape` must have rank >= 2.* "
                                         r"Received: kernel_shape=\(64,\)"):
        ki.PyTorchDefault().bias_for((64,))


@pytest.mark.parametrize("value", [0, -3, 1.5, True, "3"])
def test_bad_fan_in(value):
    with pytest.raises(ValueError, match=r"Argument `fan_in` must be a positive int or None\. "
                                         rf"Received: fan_in={value!r}"):
        ki.PyTorchDefault(fan_in=value)


# --- delta-orthogonal ----------------------------------------------------------


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
@pytest.mark.parametrize("shape", [(3, 3, 64, 128), (3, 3, 128, 64), (4, 4, 32, 32),
                                   (5, 48, 96), (3, 3, 3, 16, 16)])
def test_delta_orthogonal_is_an_orthogonal_centre_tap(shape, gain):
    values = keras.ops.convert_to_numpy(ki.DeltaOrthogonal(gain=gain, seed=30)(shape))
    values = values.astype(np.float64)
    *spatial, c_in, c_out = shape
    centre = tuple((k - 1) // 2 for k in spatial)
    matrix = values[centre]
    gram = matrix.T @ matrix if c_in >= c_out else matrix @ matrix.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(c_in, c_out)), atol=1e-5)
    off_centre = values.copy()
    off_centre[centre] = 0
    assert not np.any(off_centre)  # exactly 0, not small
    # Negative control: plain orthogonal weights of a conv kernel are spread over every tap.
    plain = keras.ops.convert_to_numpy(ki.Orthogonal(gain=gain, seed=30)(shape))
    plain[centre] = 0
    assert np.count_nonzero(plain) > 0.99 * plain.size - matrix.size


def test_delta_orthogonal_centre_variance():
    # Orthonormal rows of length 1152: entries ~ N(0, 1/1152) to first order.
    values = keras.ops.convert_to_numpy(ki.DeltaOrthogonal(seed=31)((3, 3, 64, 1152)))[1, 1]
    assert values.size >= 65_536
    assert variance_matches(values, 1 / 1152, NORMAL_KURTOSIS)
    assert not variance_matches(values, 1 / (9 * 64), NORMAL_KURTOSIS)  # Var(W) = 1/fan_in


def test_delta_orthogonal_of_a_dense_kernel_is_orthogonal():
    np.testing.assert_array_equal(draw(ki.DeltaOrthogonal(gain=2.0, seed=32), DENSE),
                                  draw(ki.Orthogonal(gain=2.0, seed=32), DENSE))
    assert isinstance(ki.DeltaOrthogonal(), keras.initializers.Orthogonal)


# --- seeds -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random", "xavier", "glorot", "he", "orthogonal",
                                  "pytorch-default", "delta-orthogonal", "keras-default"])
def test_same_seed_same_values_and_different_seeds_differ(name):
    first = draw(ki.get(name, seed=11), DENSE)
    again = draw(ki.get(name, seed=11), DENSE)
    other = draw(ki.get(name, seed=12), DENSE)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_get_returns_fresh_instances():
    assert ki.get("he", seed=1) is not ki.get("he", seed=1)
    assert isinstance(ki.get("zeros"), ki.Zeros)
    assert ki.SCHEMES == ("zeros", "random", "xavier", "glorot", "he", "orthogonal",
                          "pytorch-default", "delta-orthogonal", "keras-default")
    assert isinstance(ki.get("pytorch-default"), ki.PyTorchDefault)
    assert isinstance(ki.get("delta-orthogonal"), ki.DeltaOrthogonal)
    assert ki.get("keras-default").get_config() == ki.get("glorot").get_config()


def test_get_accepts_a_config_and_replaces_its_seed():
    config = keras.initializers.serialize(ki.He(mode="fan_out", seed=1))
    initializer = ki.get(config, seed=5)
    assert isinstance(initializer, ki.He)
    assert initializer.get_config() == {"mode": "fan_out", "distribution": "normal",
                                        "negative_slope": 0.0, "seed": 5}


# --- serialization -----------------------------------------------------------

INSTANCES = [
    ki.Zeros(),
    ki.ScaledNormal(scale=0.05, seed=1),
    ki.Xavier(mode="fan_avg", distribution="uniform", gain=5 / 3, seed=2),
    ki.He(mode="fan_out", distribution="truncated_normal", negative_slope=0.1, seed=3),
    ki.Orthogonal(gain=2.0, seed=4),
    ki.PyTorchDefault(seed=5),
    ki.PyTorchDefault(seed=6, fan_in=100),
    ki.DeltaOrthogonal(gain=0.5, seed=7),
]
CONSTRUCTOR_ARGUMENTS = [
    {},
    {"scale": 0.05, "seed": 1},
    {"mode": "fan_avg", "distribution": "uniform", "gain": 5 / 3, "seed": 2},
    {"mode": "fan_out", "distribution": "truncated_normal", "negative_slope": 0.1, "seed": 3},
    {"gain": 2.0, "seed": 4},
    {"seed": 5, "fan_in": None},
    {"seed": 6, "fan_in": 100},
    {"gain": 0.5, "seed": 7},
]


@pytest.mark.parametrize("instance, arguments", list(zip(INSTANCES, CONSTRUCTOR_ARGUMENTS)))
def test_get_config_is_exactly_the_constructor_arguments(instance, arguments):
    assert instance.get_config() == arguments
    rebuilt = type(instance).from_config(instance.get_config())
    np.testing.assert_array_equal(draw(rebuilt, DENSE), draw(instance, DENSE))


@pytest.mark.parametrize("instance", INSTANCES)
def test_keras_serialize_roundtrip(instance):
    config = keras.initializers.serialize(instance)
    assert config["registered_name"] == f"keras_initcmp>{type(instance).__name__}"
    restored = keras.initializers.deserialize(json.loads(json.dumps(config)))
    assert type(restored) is type(instance)
    assert restored.get_config() == instance.get_config()


RELOAD = """
import json, sys
import keras
{import_line}
model = keras.saving.load_model(sys.argv[1])
print(json.dumps([[type(l.kernel_initializer).__module__, l.kernel_initializer.get_config()]
                  for l in model.layers if hasattr(l, 'kernel_initializer')]))
"""


def test_saved_model_with_every_scheme_reloads_in_a_fresh_process(tmp_path):
    inputs = keras.Input((4,))
    outputs = inputs
    for index, instance in enumerate(INSTANCES):
        outputs = keras.layers.Dense(3, kernel_initializer=instance, name=f"d{index}")(outputs)
    path = tmp_path / "every_scheme.keras"
    keras.Model(inputs, outputs).save(path)

    def reload(import_line):
        script = RELOAD.format(import_line=import_line)
        return subprocess.run([sys.executable, "-c", script, str(path)],
                              capture_output=True, text=True, timeout=120)

    loaded = reload("import keras_initcmp")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == [
        ["keras_initcmp.initializers", arguments] for arguments in CONSTRUCTOR_ARGUMENTS
    ]
    # Negative control: without the import Keras does not know the classes.
    unknown = reload("")
    assert unknown.returncode != 0
    assert "keras_initcmp>" in unknown.stderr


def test_conv_and_bias_initializers_survive_a_keras_file(tmp_path):
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", name="conv",
                                 kernel_initializer=ki.DeltaOrthogonal(gain=2.0, seed=1))(inputs)
    kernel_init = ki.PyTorchDefault(seed=2)
    outputs = keras.layers.Dense(5, name="dense", kernel_initializer=kernel_init,
                                 bias_initializer=kernel_init.bias_for((4, 5)))(hidden)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "conv_bias.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for name in ("conv", "dense"):
        for key in ("kernel_initializer", "bias_initializer"):
            original, restored = (getattr(m.get_layer(name), key) for m in (model, loaded))
            assert type(restored) is type(original)
            assert restored.get_config() == original.get_config()
        for original, restored in zip(model.get_layer(name).weights, loaded.get_layer(name).weights):
            np.testing.assert_array_equal(original.numpy(), restored.numpy())
    assert loaded.get_layer("dense").bias_initializer.get_config() == {"seed": kernel_init.bias_for(
        (4, 5)).get_config()["seed"], "fan_in": 4}


# --- bad input ---------------------------------------------------------------

BAD_NUMBERS = [0, -1.0, float("nan"), float("inf"), True, "1"]


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize(
    "factory, argument",
    [(lambda v: ki.ScaledNormal(scale=v), "scale"),
     (lambda v: ki.Xavier(gain=v), "gain"),
     (lambda v: ki.Orthogonal(gain=v), "gain"),
     (lambda v: ki.DeltaOrthogonal(gain=v), "gain")],
)
def test_bad_scale_or_gain(factory, argument, value):
    with pytest.raises(ValueError, match=rf"Argument `{argument}` must be a positive finite number\. "
                                         rf"Received: {argument}={value!r}"):
        factory(value)


@pytest.mark.parametrize("value", [-0.1, float("nan"), True])
def test_bad_negative_slope(value):
    with pytest.raises(ValueError, match=rf"Argument `negative_slope` .* Received: negative_slope={value!r}"):
        ki.He(negative_slope=value)


@pytest.mark.parametrize("cls", [ki.Xavier, ki.He])
def test_unknown_mode_and_distribution(cls):
    with pytest.raises(ValueError, match=r"Argument `mode` must be one of \('fan_avg', 'fan_in', "
                                         r"'fan_out'\)\. Received: mode='fan_inn'"):
        cls(mode="fan_inn")
    with pytest.raises(ValueError, match=r"Argument `distribution` must be one of \('normal', "
                                         r"'truncated_normal', 'uniform'\)\. "
                                         r"Received: distribution='gaussian'"):
        cls(distribution="gaussian")


@pytest.mark.parametrize("name", ["kaiming", None, 3, "lsuv"])
def test_unknown_scheme(name):
    # lsuv is a scheme but not an initializer: it needs data (the driver's step).
    with pytest.raises(ValueError, match=r"Argument `name_or_config` must be one of \("
                                         r"'delta-orthogonal', 'glorot', 'he', 'keras-default', "
                                         r"'orthogonal', 'pytorch-default', 'random', 'xavier', "
                                         r"'zeros'\) .*"
                                         rf"Received: name_or_config={name!r}"):
        ki.get(name)


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match=r"Argument `nonlinearity` must be one of \(.*'tanh'\)\. "
                                         r"Received: nonlinearity='swish'"):
        ki.calculate_gain("swish")


@pytest.mark.parametrize("instance", INSTANCES, ids=lambda i: type(i).__name__)
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_non_float_dtype(instance, dtype):
    with pytest.raises(ValueError, match=rf"Argument `dtype` must be a floating-point dtype .* "
                                         rf"Received: dtype='{dtype}'"):
        instance((4, 4), dtype=dtype)
