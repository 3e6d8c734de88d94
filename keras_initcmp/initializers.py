"""Weight-initialization schemes as Keras 3 initializers, exact to their papers.

Every scheme is a thin preset on a public Keras initializer (``VarianceScaling``,
``RandomNormal``, ``Orthogonal``, ``Zeros``), registered as serializable under the
package ``keras_initcmp`` so that a saved ``.keras`` model reloads after
``import keras_initcmp``. Kernel layout and fans follow Keras: the last axis is
``fan_out``, the one before it ``fan_in``, and conv kernels multiply both by the
receptive field, so a ``(3, 3, 64, 128)`` kernel has ``fan_in = 576``.
"""

import math
import numbers

import keras

__all__ = [
    "Zeros",
    "ScaledNormal",
    "Xavier",
    "He",
    "Orthogonal",
    "SCHEMES",
    "get",
    "calculate_gain",
]

MODES = ("fan_avg", "fan_in", "fan_out")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")
# Keras calls the untruncated normal "untruncated_normal"; this package follows the
# papers (and PyTorch), where "normal" means untruncated.
_KERAS_DISTRIBUTION = {
    "normal": "untruncated_normal",
    "truncated_normal": "truncated_normal",
    "uniform": "uniform",
}

register = keras.saving.register_keras_serializable(package="keras_initcmp")


def _check_choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"Argument `{name}` must be one of {tuple(sorted(allowed))}. "
            f"Received: {name}={value!r}"
        )
    return value


def _check_positive(name, value):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"Argument `{name}` must be a positive finite number. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _check_non_negative(name, value):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Argument `{name}` must be a non-negative finite number. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _check_float_dtype(dtype):
    name = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
    if not name.startswith(("float", "bfloat")):
        raise ValueError(
            "Argument `dtype` must be a floating-point dtype such as "
            f"('bfloat16', 'float16', 'float32', 'float64'). Received: dtype={dtype!r}"
        )
    return name


class _FloatOnly:
    """Mixin: reject integer/bool dtypes with a clear error instead of a backend one."""

    def __call__(self, shape, dtype=None):
        return super().__call__(shape, dtype=_check_float_dtype(dtype))


@register
class Zeros(_FloatOnly, keras.initializers.Zeros):
    """All-zero weights: the article's failure baseline.

    `W = 0`. With every kernel zero, all units of a layer compute the same output
    and receive the same gradient, so symmetry is never broken: a ReLU network
    stays at its initial loss (`ln 2` on a balanced binary task). Suits no hidden
    layer; it is here to show why random initialization is needed.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=Zeros())

    Reference: Ng, *Deep Learning Specialization*, "Initialization" assignment.
    """

    def get_config(self):
        return {}


@register
class ScaledNormal(_FloatOnly, keras.initializers.RandomNormal):
    """Small random weights `N(0, 1) * scale`, untruncated: `np.random.randn(...) * 0.01`.

    `Var(W) = scale²`, independent of the layer's size. Breaks symmetry, but the
    signal shrinks by `scale² · fan_in` per layer, so deep tanh networks collapse
    to 0 activations (and vanishing gradients) layer by layer.

    Args:
        scale: Standard deviation of the weights, a positive finite number.
            Defaults to `0.01`.
        seed: An int or `None` (a fresh random seed). An instance with a given
            seed produces the same values on every call.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=ScaledNormal(0.01))

    Reference: the article's `initialize_parameters_random`; Ng, *Deep Learning
    Specialization*.
    """

    def __init__(self, scale=0.01, seed=None):
        self.scale = _check_positive("scale", scale)
        super().__init__(mean=0.0, stddev=self.scale, seed=seed)

    def get_config(self):
        return {"scale": self.scale, "seed": super().get_config()["seed"]}


class _ScaledVariance(_FloatOnly, keras.initializers.VarianceScaling):
    """`VarianceScaling` with this package's argument names and validation."""

    def __init__(self, scale, mode, distribution, seed):
        _check_choice("mode", mode, MODES)
        _check_choice("distribution", distribution, DISTRIBUTIONS)
        super().__init__(
            scale=scale,
            mode=mode,
            distribution=_KERAS_DISTRIBUTION[distribution],
            seed=seed,
        )
        # Keras stores its own distribution name; keep the public one.
        self.distribution_name = distribution

    def _config(self, **arguments):
        seed = keras.initializers.VarianceScaling.get_config(self)["seed"]
        return {"mode": self.mode, "distribution": self.distribution_name,
                **arguments, "seed": seed}


@register
class Xavier(_ScaledVariance):
    """Xavier/Glorot initialization: `Var(W) = gain² / n`, `n` chosen by `mode`.

    Defaults are the article's (and Caffe's) `randn * sqrt(1 / fan_in)`: keeps the
    forward variance constant through linear or tanh units, which are linear near
    0 (Glorot & Bengio's derivation assumes a symmetric activation with slope 1 at
    0). `mode="fan_avg", distribution="uniform"` is Glorot & Bengio's "normalized
    initialization" `U(±sqrt(6 / (fan_in + fan_out)))`, a compromise between the
    forward and the backward pass. Under ReLU, which zeroes half the signal, the
    variance halves at every layer: use `He` there.

    Args:
        mode: `"fan_in"` (default), `"fan_out"` or `"fan_avg"`.
        distribution: `"normal"` (untruncated, default), `"truncated_normal"`
            (cut at ±2σ, σ corrected so the variance stays `gain² / n`) or
            `"uniform"` (`U(±sqrt(3 gain² / n))`).
        gain: Multiplier of the standard deviation, e.g.
            `calculate_gain("tanh")`. Defaults to `1.0`.
        seed: An int or `None`. Defaults to `None`.

    Example:

    >>> layer = keras.layers.Dense(3, activation="tanh",
    ...                            kernel_initializer=Xavier())

    Reference: Glorot & Bengio, "Understanding the difficulty of training deep
    feedforward neural networks", AISTATS 2010.
    """

    def __init__(self, mode="fan_in", distribution="normal", gain=1.0, seed=None):
        self.gain = _check_positive("gain", gain)
        super().__init__(self.gain**2, mode, distribution, seed)

    def get_config(self):
        return self._config(gain=self.gain)


@register
class He(_ScaledVariance):
    """He/Kaiming initialization: `Var(W) = 2 / ((1 + a²) · n)`, `n` chosen by `mode`.

    Defaults are the article's `randn * sqrt(2 / fan_in)`. A ReLU passes only the
    positive half of its input, halving the second moment; doubling the weight
    variance restores it, so every ReLU layer keeps the same activation scale
    however deep the network (He et al. 2015, sec. 2.2). For leaky ReLU with
    slope `a` the factor is `2 / (1 + a²)`.

    Args:
        mode: `"fan_in"` (default, preserves the forward pass) or `"fan_out"`
            (preserves the backward pass) or `"fan_avg"`.
        distribution: `"normal"` (untruncated, default), `"truncated_normal"` or
            `"uniform"`.
        negative_slope: Slope `a` of the leaky ReLU for negative inputs.
            Defaults to `0.0` (plain ReLU).
        seed: An int or `None`. Defaults to `None`.

    Example:

    >>> layer = keras.layers.Dense(3, activation="relu", kernel_initializer=He())

    Reference: He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing
    Human-Level Performance on ImageNet Classification", ICCV 2015.
    """

    def __init__(self, mode="fan_in", distribution="normal", negative_slope=0.0,
                 seed=None):
        self.negative_slope = _check_non_negative("negative_slope", negative_slope)
        super().__init__(2.0 / (1.0 + self.negative_slope**2), mode, distribution, seed)

    def get_config(self):
        return self._config(negative_slope=self.negative_slope)


@register
class Orthogonal(_FloatOnly, keras.initializers.Orthogonal):
    """Orthogonal weights scaled by `gain`: `Wᵀ W = gain² I` (or `W Wᵀ`, whichever is smaller).

    The kernel, flattened to `(prod(shape[:-1]), shape[-1])`, is the orthogonal
    factor of a Gaussian matrix's QR decomposition. All singular values equal
    `gain`, so a deep linear network preserves the norm of every input direction
    exactly, not only on average: learning speed becomes independent of depth
    (Saxe et al.). Suits deep linear/tanh stacks and RNNs; use
    `gain=calculate_gain("relu")` under ReLU.

    Args:
        gain: Multiplier of the orthogonal matrix. Defaults to `1.0`.
        seed: An int or `None`. Defaults to `None`.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=Orthogonal())

    Reference: Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear
    dynamics of learning in deep linear neural networks", ICLR 2014
    (arXiv:1312.6120, 2013).
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(gain=_check_positive("gain", gain), seed=seed)

    def get_config(self):
        return {"gain": self.gain, "seed": super().get_config()["seed"]}


_REGISTRY = {
    "zeros": lambda seed: Zeros(),
    "random": lambda seed: ScaledNormal(seed=seed),
    "xavier": lambda seed: Xavier(seed=seed),
    "glorot": lambda seed: Xavier(mode="fan_avg", distribution="uniform", seed=seed),
    "he": lambda seed: He(seed=seed),
    "orthogonal": lambda seed: Orthogonal(seed=seed),
}
SCHEMES = tuple(_REGISTRY)
"""Registry names accepted by `get`, in the article's order first."""


def get(name_or_config, seed=None):
    """Return a fresh initializer for a registry name or a Keras config.

    Args:
        name_or_config: One of `SCHEMES` (`"he"`, ...), or a dict as made by
            `keras.initializers.serialize` / `get_config` round-trips.
        seed: An int or `None`. Replaces the seed of the scheme or config, so
            that a model builder can give every layer its own, distinct seed.

    Returns:
        A new initializer instance; never one shared with another call.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=get("he", seed=1))
    """
    if isinstance(name_or_config, dict):
        initializer = keras.initializers.deserialize(name_or_config)
        if seed is None:
            return initializer
        config = initializer.get_config()
        if "seed" in config:
            config["seed"] = seed
        return type(initializer).from_config(config)
    if not isinstance(name_or_config, str) or name_or_config not in _REGISTRY:
        raise ValueError(
            f"Argument `name_or_config` must be one of {tuple(sorted(SCHEMES))} "
            f"or an initializer config dict. Received: name_or_config={name_or_config!r}"
        )
    return _REGISTRY[name_or_config](seed)


_UNIT_GAIN = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "linear", "sigmoid")
_GAINS = {
    **{name: lambda param: 1.0 for name in _UNIT_GAIN},
    "tanh": lambda param: 5.0 / 3.0,
    "relu": lambda param: math.sqrt(2.0),
    "leaky_relu": lambda param: math.sqrt(
        2.0 / (1.0 + _check_non_negative("param", 0.01 if param is None else param) ** 2)
    ),
    "selu": lambda param: 3.0 / 4.0,
}


def calculate_gain(nonlinearity, param=None):
    """Recommended `gain` for a nonlinearity, the same table as PyTorch's.

    linear, conv and sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + a²))
    with `a = param` (default 0.01); selu: 3/4.

    Example:

    >>> layer = keras.layers.Dense(
    ...     3, activation="tanh", kernel_initializer=Xavier(gain=calculate_gain("tanh")))
    """
    _check_choice("nonlinearity", nonlinearity, tuple(_GAINS))
    return _GAINS[nonlinearity](param)
