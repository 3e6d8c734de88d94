"""The scheme registry: every weight-initialization scheme, once, with all that is known of it.

One `Scheme` per scheme holds what the rest of the package asks about it: the
one-line description (`keras-initcmp list`), the kernel and bias initializers, whether
it needs data (`lsuv`), its colour and marker in figures, its aliases, and its
mean-field weight variance for `keras_initcmp.schemes.theory`. A new scheme is one entry in
`_ENTRIES` below (and, for a new form, its initializer class in `keras_initcmp.initializers`).

This module imports neither Keras nor TensorFlow, matplotlib or scikit-learn: the
factories import `keras_initcmp.initializers` only when they are called, so figures
and theory can read the registry cheaply and `initializers` can read it at import
time without an import cycle. Every factory and variance function is a module-level
object, so a `Scheme` pickles (the driver's `--jobs` workers).

Example:

>>> from keras_initcmp import schemes
>>> schemes.get("keras-default").name
'glorot'
>>> schemes.get("he").weight_variance(512, 256)
2.0
"""

import dataclasses
import types
from typing import Callable, Mapping, Optional

__all__ = ["Scheme", "get", "names", "describe"]


@dataclasses.dataclass(frozen=True)
class Scheme:
    """One initialization scheme.

    Attributes:
        name: The registry name (`"he"`).
        description: One line, as `keras-initcmp list` shows it.
        initializer: `seed -> keras initializer` for kernels (a fresh instance per
            call), or `None` for a data-dependent scheme.
        bias: `(seed, kernel_shape) -> keras initializer` for the bias of a layer
            whose kernel has `kernel_shape`, or `None`: zero bias. A bias
            initializer sees only the bias's own shape, `(units,)`, so it cannot find
            the kernel's fan-in by itself (`pytorch-default` needs it).
        data_dependent: `True` where the weights are set from a batch of data after
            the model is built (`lsuv`: orthogonal kernels, then `keras_initcmp.lsuv`).
            The driver does that step; the registry only marks it.
        colour: Hex colour of the scheme in every figure (Okabe–Ito palette).
        marker: Matplotlib marker of the scheme in every figure.
        aliases: `{alias: one-line description}` of other names for the same scheme.
        weight_variance: `(fan_in, fan_out) -> σ_w²`, the mean-field weight
            variance: the pre-activation's second moment is `σ_w²` times the input's
            mean square (for i.i.d. kernels: `Var(W) = σ_w² / fan_in`). `None` where no
            such form exists (data-dependent scaling).
        bias_variance: `fan_in -> Var(b)` of the scheme's own bias, with `fan_in`
            the kernel's; `None` where the bias is zero.
    """

    name: str
    description: str
    initializer: Optional[Callable]
    bias: Optional[Callable] = None
    data_dependent: bool = False
    colour: str = "#999999"
    marker: str = "o"
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    weight_variance: Optional[Callable[[int, int], float]] = None
    bias_variance: Optional[Callable[[int], float]] = None

    def __post_init__(self):
        # Frozen means frozen: a read-only view of the aliases.
        object.__setattr__(self, "aliases", types.MappingProxyType(dict(self.aliases)))

    def __reduce__(self):  # a mappingproxy does not pickle; rebuild from a dict
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        fields["aliases"] = dict(self.aliases)
        return (_rebuild, (fields,))


def _rebuild(fields):
    return Scheme(**fields)


# --- factories: picklable, import Keras only when called --------------------------


@dataclasses.dataclass(frozen=True)
class _Preset:
    """`seed -> initializers.<cls>(**arguments, seed=seed)`, the class looked up when called."""

    cls: str
    arguments: tuple = ()
    seeded: bool = True

    def __call__(self, seed=None):
        from keras_initcmp import initializers

        arguments = dict(self.arguments)
        if self.seeded:
            arguments["seed"] = seed
        return getattr(initializers, self.cls)(**arguments)


def _pytorch_bias(seed, kernel_shape):
    """The bias of `nn.Linear`/`nn.Conv*`: `U(±1/√fan_in)` with the kernel's fan-in."""
    from keras_initcmp import initializers

    return initializers.PyTorchDefault(seed=seed).bias_for(kernel_shape)


# --- mean-field weight variances σ_w², Var(W) = σ_w² / fan_in --------------------


def _zero(fan_in, fan_out):
    return 0.0


def _random(fan_in, fan_out):  # N(0, 0.01²): σ_w² grows with the fan-in
    return 0.01**2 * fan_in


def _one(fan_in, fan_out):
    return 1.0


def _two(fan_in, fan_out):
    return 2.0


def _glorot(fan_in, fan_out):  # Var = 2 / (fan_in + fan_out)
    return 2.0 * fan_in / (fan_in + fan_out)


def _orthogonal(fan_in, fan_out):
    # fan_in >= fan_out: orthonormal columns, each unit sees |x|² / fan_in, σ_w² = 1.
    # fan_in < fan_out: orthonormal rows, entries of variance 1 / fan_out.
    return min(1.0, fan_in / fan_out)


def _third(fan_in, fan_out):  # U(±1/√fan_in): Var = 1 / (3 fan_in)
    return 1.0 / 3.0


def _pytorch_bias_variance(fan_in):
    return 1.0 / (3.0 * fan_in)


_ENTRIES = (
    Scheme("zeros", "all weights 0: symmetry is never broken, the net does not learn (baseline)",
           _Preset("Zeros", seeded=False), colour="#000000", marker="s",
           weight_variance=_zero),
    Scheme("random", "N(0, 1) * 0.01: too small for deep nets, tanh activations collapse to 0",
           _Preset("ScaledNormal"), colour="#E69F00", marker="o", weight_variance=_random),
    Scheme("xavier", "N(0, 1/fan_in): keeps tanh healthy, halves ReLU variance every layer",
           _Preset("Xavier"), colour="#009E73", marker="^", weight_variance=_one),
    Scheme("glorot", "U(+-sqrt(6/(fan_in+fan_out))): Glorot & Bengio 2010's normalized init",
           _Preset("Xavier", (("mode", "fan_avg"), ("distribution", "uniform"))),
           colour="#56B4E9", marker="v", weight_variance=_glorot,
           aliases={"keras-default": "same as glorot: what Keras gives a layer that names "
                                     "no initializer (glorot_uniform)"}),
    Scheme("he", "N(0, 2/fan_in): keeps ReLU variance constant through depth (He et al. 2015)",
           _Preset("He"), colour="#0072B2", marker="D", weight_variance=_two),
    Scheme("orthogonal", "random orthogonal matrix (Saxe et al. 2013)",
           _Preset("Orthogonal"), colour="#CC79A7", marker="P", weight_variance=_orthogonal),
    Scheme("pytorch-default", "U(+-1/sqrt(fan_in)) kernel and bias: PyTorch's nn.Linear/nn.Conv "
           "default, Var = 1/(3 fan_in)",
           _Preset("PyTorchDefault"), bias=_pytorch_bias, colour="#F0E442", marker="*",
           weight_variance=_third, bias_variance=_pytorch_bias_variance),
    Scheme("delta-orthogonal", "conv kernels 0 except an orthogonal centre tap (Xiao et al. "
           "2018); other kernels orthogonal",
           _Preset("DeltaOrthogonal"), colour="#999999", marker="p",
           weight_variance=_orthogonal),
    Scheme("lsuv", "orthogonal, then each layer scaled to unit variance on a training batch "
           "(Mishkin & Matas 2015; compare only)",
           None, data_dependent=True, colour="#D55E00", marker="X"),
)
_BY_NAME = {scheme.name: scheme for scheme in _ENTRIES}
_BY_NAME.update({alias: scheme for scheme in _ENTRIES for alias in scheme.aliases})


def names(include_data_dependent=True):
    """The names `get` accepts: the schemes in registry order, then their aliases.

    Args:
        include_data_dependent: Whether to include schemes that need data (`lsuv`).
            `False` gives exactly the initializer schemes,
            `keras_initcmp.initializers.SCHEMES`.

    Returns:
        A tuple of names.
    """
    chosen = [s for s in _ENTRIES if include_data_dependent or not s.data_dependent]
    return tuple(s.name for s in chosen) + tuple(alias for s in chosen for alias in s.aliases)


def get(name):
    """The `Scheme` registered under `name` or one of its aliases.

    Raises:
        ValueError: `name` is not a registered name or alias.
    """
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ValueError(f"Argument `scheme` must be one of {tuple(sorted(_BY_NAME))}. "
                         f"Received: scheme={name!r}")
    return _BY_NAME[name]


def describe(name):
    """The one line `keras-initcmp list` shows for a name or an alias."""
    scheme = get(name)
    return scheme.aliases.get(name, scheme.description)
