"""Weight-initialization schemes as Keras 3 initializers, exact to their papers.

Every scheme is a thin preset on a public Keras initializer (``VarianceScaling``,
``RandomNormal``, ``Orthogonal``, ``Zeros``), registered as serializable under the
package ``keras_initcmp`` so that a saved ``.keras`` model reloads after
``import keras_initcmp``. Kernel layout and fans follow Keras: the last axis is
``fan_out``, the one before it ``fan_in``, and conv kernels multiply both by the
receptive field, so a ``(3, 3, 64, 128)`` kernel has ``fan_in = 576``.

Which schemes exist, under which names, is `keras_initcmp.schemes`' business: `SCHEMES`
and `get` read that registry.
"""

import keras
import numpy as np

from keras_initcmp import checks
from keras_initcmp import schemes as _schemes
from keras_initcmp.gains import calculate_gain

__all__ = [
    "Zeros",
    "ScaledNormal",
    "Xavier",
    "He",
    "Orthogonal",
    "PyTorchDefault",
    "DeltaOrthogonal",
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
        self.scale = checks.positive_number("scale", scale)
        super().__init__(mean=0.0, stddev=self.scale, seed=seed)

    def get_config(self):
        return {"scale": self.scale, "seed": super().get_config()["seed"]}


class _ScaledVariance(_FloatOnly, keras.initializers.VarianceScaling):
    """`VarianceScaling` with this package's argument names and validation."""

    def __init__(self, scale, mode, distribution, seed):
        checks.choice("mode", mode, MODES)
        checks.choice("distribution", distribution, DISTRIBUTIONS)
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
        self.gain = checks.positive_number("gain", gain)
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
        self.negative_slope = checks.number_at_least("negative_slope", negative_slope)
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
        super().__init__(gain=checks.positive_number("gain", gain), seed=seed)

    def get_config(self):
        return {"gain": self.gain, "seed": super().get_config()["seed"]}


def derive_seed(seed, *salt):
    """A seed for another draw from `seed` and `salt` (ints): well mixed, and below
    2**31, which every backend's seed argument accepts."""
    return int(np.random.SeedSequence([int(seed), *salt]).generate_state(1)[0] % (2**31 - 1))


# The frameworks' defaults build on the classes above; defined in their own module,
# exported from here like every scheme.
from keras_initcmp.framework_defaults import DeltaOrthogonal, PyTorchDefault  # noqa: E402

SCHEMES = _schemes.names(include_data_dependent=False)
"""Registry names accepted by `get` (`keras_initcmp.schemes`, data-dependent ones
excluded), in the article's order first, aliases last."""


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
    if not isinstance(name_or_config, str) or name_or_config not in SCHEMES:
        raise ValueError(
            f"Argument `name_or_config` must be one of {tuple(sorted(SCHEMES))} "
            f"or an initializer config dict. Received: name_or_config={name_or_config!r}"
        )
    return _schemes.get(name_or_config).initializer(seed)
