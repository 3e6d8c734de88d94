"""Another framework's default as a Keras initializer: `PyTorchDefault`, what PyTorch
gives `nn.Linear`/`nn.Conv*` (kernel and bias)."""

import math
import numbers

import keras

from keras_initcmp import checks
from keras_initcmp.initializers.base import FloatOnly, check_float_dtype, derive_seed, register

__all__ = ["PyTorchDefault"]


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
class PyTorchDefault(FloatOnly, keras.initializers.VarianceScaling):
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
                                    dtype=check_float_dtype(dtype), seed=self.seed)

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
