"""The frameworks' own defaults and delta-orthogonal, as Keras initializers.

`PyTorchDefault` is what PyTorch gives `nn.Linear`/`nn.Conv*` (kernel and bias);
`DeltaOrthogonal` is Xiao et al.'s conv initialization. Both are exported, and
registered, as `keras_initcmp.initializers.PyTorchDefault` / `.DeltaOrthogonal`.
"""

import math
import numbers

import keras

from keras_initcmp import checks
from keras_initcmp.initializers import (Orthogonal, _check_float_dtype, _FloatOnly, derive_seed,
                                        register)

__all__ = ["PyTorchDefault", "DeltaOrthogonal"]


def _kernel_fan_in(kernel_shape):
    """Keras' fan-in of a kernel `(..., in, out)`: everything but the last axis."""
    kernel_shape = tuple(kernel_shape)
    if len(kernel_shape) < 2:
        raise ValueError(
            "Argument `kernel_shape` must have rank >= 2, e.g. (in, out) or "
            f"(kh, kw, in, out). Received: kernel_shape={kernel_shape!r}"
        )
    return math.prod(int(n) for n in kernel_shape[:-1])


@register
class PyTorchDefault(_FloatOnly, keras.initializers.VarianceScaling):
    """PyTorch's default for `nn.Linear` and `nn.Conv*`: kernel and bias `U(±1/√fan_in)`.

    `W ~ U(-1/√n, 1/√n)`, `Var(W) = 1 / (3 n)`, `n = fan_in` (conv kernels: times
    the receptive field, as PyTorch's `in_channels/groups × kernel size`). This is
    exactly `reset_parameters` of those modules: `kaiming_uniform_(a=√5)`, whose gain
    `√(2 / (1 + 5))` gives the bound `√3 · √(1/3) / √n = 1/√n`; and the bias,
    `U(±1/√n)` with the same, the kernel's, `n`. It preserves no activation's
    variance: the forward variance shrinks by `σ_w² = 1/3` per linear layer (1/6
    under ReLU), so deep stacks fade unless normalization rescues them; it is here
    because it is what PyTorch users get, the scheme a ported model was trained under.

    A bias initializer only sees the bias's shape `(units,)`, not the kernel's fan-in,
    so the bias is a separate instance that is told it: `PyTorchDefault(fan_in=n)`,
    or `kernel_init.bias_for(kernel_shape)`. Without `fan_in`, a shape of rank < 2 is
    an error rather than the silently wrong `U(±1/√units)`.

    Args:
        seed: An int or `None`. Defaults to `None`.
        fan_in: `None` (default): a kernel initializer, `n` from the kernel's shape.
            A positive int: a bias initializer, `U(±1/√fan_in)` for any shape.

    Example:

    >>> kernel_init = PyTorchDefault(seed=1)
    >>> layer = keras.layers.Dense(
    ...     64, kernel_initializer=kernel_init,
    ...     bias_initializer=kernel_init.bias_for((784, 64)))

    Reference: PyTorch, `torch.nn.Linear.reset_parameters` (and `_ConvNd`); the
    `a=√5` is discussed in pytorch/pytorch issue 15314.
    """

    def __init__(self, seed=None, fan_in=None):
        self.fan_in = checks.positive_int("fan_in", fan_in, allow_none=True)
        # sqrt(3 · scale / fan_in) = 1/sqrt(fan_in): Keras' own uniform fan-in scaling.
        super().__init__(scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)

    def __call__(self, shape, dtype=None):
        if self.fan_in is None:
            if len(shape) < 2:
                raise ValueError(
                    "Argument `fan_in` must be given to draw a bias (a shape of rank < 2): "
                    "use PyTorchDefault(fan_in=<the kernel's fan_in>) or "
                    f"kernel_initializer.bias_for(kernel_shape). Received: shape={tuple(shape)!r}"
                )
            return super().__call__(shape, dtype)
        limit = 1.0 / math.sqrt(self.fan_in)
        return keras.random.uniform(shape, minval=-limit, maxval=limit,
                                    dtype=_check_float_dtype(dtype), seed=self.seed)

    def bias_for(self, kernel_shape):
        """The bias initializer of a layer with this kernel: `U(±1/√fan_in)`, fan-in its.

        Its seed is derived from this instance's, so that kernel and bias are not the
        same draws (with one seed, the bias would repeat the kernel's first row).
        """
        seed = keras.initializers.VarianceScaling.get_config(self)["seed"]
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            seed = derive_seed(seed, 0xB1A5)
        elif seed is not None:  # a keras.random.SeedGenerator: share it, it advances
            seed = self.seed
        return PyTorchDefault(seed=seed, fan_in=_kernel_fan_in(kernel_shape))

    def get_config(self):
        return {"seed": keras.initializers.VarianceScaling.get_config(self)["seed"],
                "fan_in": self.fan_in}


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


# Their public home, as saved in a `.keras` file's config ("module"): where users import
# them from, the same for every scheme of the package.
for _initializer in (PyTorchDefault, DeltaOrthogonal):
    _initializer.__module__ = "keras_initcmp.initializers"
