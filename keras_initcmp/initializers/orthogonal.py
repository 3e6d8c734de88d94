"""Orthogonal initializers: `Orthogonal` (Saxe et al. 2013) and, for conv kernels,
`DeltaOrthogonal` (Xiao et al. 2018)."""

import keras

from keras_initcmp import checks
from keras_initcmp.initializers.base import FloatOnly, check_float_dtype, derive_seed, register

__all__ = ["Orthogonal", "DeltaOrthogonal"]


@register
class Orthogonal(FloatOnly, keras.initializers.Orthogonal):
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


@register
class DeltaOrthogonal(Orthogonal):
    """Delta-orthogonal conv kernels: 0 except the spatial centre, an orthogonal matrix × gain.

    For a conv kernel `(k..., c_in, c_out)`, `W[centre] = gain · Q` with `Q` a random
    `c_in × c_out` orthogonal matrix (`QᵀQ = I`, or `QQᵀ = I` when `c_in < c_out`) and
    every other tap exactly 0; the centre is `(k - 1) // 2` on each spatial axis.
    At initialization each conv layer then acts on every pixel as the same orthogonal
    map, so the input-output Jacobian of the whole stack is orthogonal at the centre
    and has all singular values `gain`: dynamical isometry, which lets plain tanh CNNs
    of 10,000 layers train without batch norm or residual connections (Xiao et al.,
    with `gain` chosen at the edge of chaos; 1 for tanh with zero bias). Any other
    shape (a `Dense` kernel) gets plain `Orthogonal`.

    Args:
        gain: Multiplier of the orthogonal matrix. Defaults to `1.0`.
        seed: An int or `None`. Defaults to `None`.

    Example:

    >>> layer = keras.layers.Conv2D(64, 3, padding="same", activation="tanh",
    ...                             kernel_initializer=DeltaOrthogonal())

    Reference: Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington, "Dynamical
    Isometry and a Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla
    Convolutional Neural Networks", ICML 2018 (arXiv:1806.05393), Algorithm 2.
    """

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 3:
            return super().__call__(shape, dtype)
        *spatial, c_in, c_out = shape
        centre = super().__call__((c_in, c_out), dtype)  # Keras' orthogonal, times gain
        centre = keras.ops.reshape(centre, (1,) * len(spatial) + (c_in, c_out))
        padding = [[(k - 1) // 2, k - 1 - (k - 1) // 2] for k in spatial] + [[0, 0], [0, 0]]
        return keras.ops.pad(centre, padding)
