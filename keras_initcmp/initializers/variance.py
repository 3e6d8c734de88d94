"""Variance-scaling initializers: `ScaledNormal` (`randn * 0.01`), `Xavier` and `He`.

Each is a thin preset on `keras.initializers.RandomNormal` or `VarianceScaling`. Kernel
layout and fans follow Keras: the last axis is `fan_out`, the one before it `fan_in`,
and conv kernels multiply both by the receptive field, so a `(3, 3, 64, 128)` kernel
has `fan_in = 576`.
"""

import keras

from keras_initcmp import checks
from keras_initcmp.initializers.base import (DISTRIBUTIONS, KERAS_DISTRIBUTION, MODES, FloatOnly,
                                             register)

__all__ = ["ScaledNormal", "Xavier", "He"]


@register
class ScaledNormal(FloatOnly, keras.initializers.RandomNormal):
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


class _ScaledVariance(FloatOnly, keras.initializers.VarianceScaling):
    """`VarianceScaling` with this package's argument names and validation."""

    def __init__(self, scale, mode, distribution, seed):
        checks.choice("mode", mode, MODES)
        checks.choice("distribution", distribution, DISTRIBUTIONS)
        super().__init__(
            scale=scale,
            mode=mode,
            distribution=KERAS_DISTRIBUTION[distribution],
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
