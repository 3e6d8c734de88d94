"""Mean-field signal propagation: the std each layer should have at initialization.

In a wide random network the pre-activations `h` of layer `l` are Gaussian with a
second moment `q^l` that obeys the length map (Poole et al. 2016; Schoenholz et al.
2017)::

    q^l = σ_w² · E_z[φ(√q^(l−1) z)²] + σ_b²,   z ~ N(0, 1),

where the kernel has `Var(W) = σ_w² / fan_in` and the bias `Var(b) = σ_b²`. The first
layer sees the data itself: `q^1 = σ_w² · mean(x²) + σ_b²`. `σ_w²` of a scheme comes
from `keras_initcmp.schemes` (`Scheme.weight_variance`), so theory and initializers
cannot drift apart.

What is predicted is what `keras_initcmp.activation_stats` measures: the population
std over all elements of a layer's *output* φ(h), mean subtracted, i.e.
`sqrt(E[φ(h)²] − E[φ(h)]²)` with `h ~ N(0, q)`. For ReLU that is
`sqrt(q (π − 1) / (2π))`, not `sqrt(q / 2)` (the root mean square).

Expectations: closed form for `linear` and `relu`; otherwise Gauss–Hermite
quadrature (`numpy.polynomial.hermite_e.hermegauss`) for smooth activations at
moderate `q`, and, where that rule is known to fail, the same expectation folded at
0, `E[f(z)] = ∫₀^∞ (f(x) + f(−x)) φ(x) dx`, by Gauss–Legendre on `[0, 12]`. Gauss–Hermite
nodes are spaced about `π / √(2n)` apart near 0, so they cannot resolve a kink at 0
(ReLU-like: error `O(1/n)`, 1e-3 at n = 200) or tanh's transition once it is narrower
than that (`√q ≳ 4`: 2% error in `E[tanh²]` at `q = 100`); folding puts the kink on
the boundary, where Gauss–Legendre's nodes cluster, and is exact to ~1e-12 there.
User callables, whose smoothness is unknown, always take the folded rule.

NumPy only: no Keras, no TensorFlow.

Example:

>>> from keras_initcmp import theory
>>> [round(s, 3) for s in theory.predicted_std((1000, 800, 500), "relu", "he")]
[0.826, 0.826]
"""

import math

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from keras_initcmp import checks, schemes

__all__ = ["ACTIVATIONS", "moments", "length_map", "fixed_point", "chi1", "predicted_std"]

# --- activations: Keras names -> (φ, φ'), NumPy -----------------------------------

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[float])


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _normal_cdf(x):
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _normal_pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# (φ, φ', smooth): smooth means no kink at 0, so Gauss–Hermite applies.
_TABLE = {
    "linear": (lambda x: x, np.ones_like, True),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), False),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, True),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)), True),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))), False),
    "selu": (lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
             lambda x: _SELU_SCALE * np.where(x > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(x, 0.0))),
             False),
    "gelu": (lambda x: x * _normal_cdf(x), lambda x: _normal_cdf(x) + x * _normal_pdf(x), True),
    "softplus": (lambda x: np.logaddexp(0.0, x), _sigmoid, True),
    "silu": (lambda x: x * _sigmoid(x),
             lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x))), True),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x),  # Keras' default slope 0.2
                   lambda x: np.where(x > 0, 1.0, 0.2), False),
    "softsign": (lambda x: x / (1.0 + np.abs(x)), lambda x: 1.0 / (1.0 + np.abs(x)) ** 2, False),
    "relu6": (lambda x: np.clip(x, 0.0, 6.0), lambda x: ((x > 0) & (x < 6)).astype(float), False),
    "hard_tanh": (lambda x: np.clip(x, -1.0, 1.0), lambda x: (np.abs(x) < 1).astype(float), False),
    "hard_sigmoid": (lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
                     lambda x: (np.abs(x) < 3).astype(float) / 6.0, False),
}
_TABLE["swish"] = _TABLE["silu"]
ACTIVATIONS = tuple(_TABLE)
"""Keras activation names with a built-in NumPy form (any NumPy callable works too)."""


class _Activation:
    def __init__(self, name, phi, dphi, smooth):
        self.name, self.phi, self.dphi, self.smooth = name, phi, dphi, smooth


def _numeric_derivative(phi):
    def dphi(x):
        step = 1e-5 * (1.0 + np.abs(x))
        return (phi(x + step) - phi(x - step)) / (2.0 * step)
    return dphi


def _activation(activation):
    """A name from `ACTIVATIONS`, a Keras activation function, or a NumPy callable."""
    if callable(activation) and not isinstance(activation, str):
        name = getattr(activation, "__name__", None)
        if str(getattr(activation, "__module__", "")).startswith("keras") and name in _TABLE:
            return _Activation(name, *_TABLE[name])
        probe = np.linspace(-2.0, 2.0, 5)
        try:
            values = np.asarray(activation(probe), dtype=float)
        except Exception as error:  # noqa: BLE001 - any failure means "not elementwise NumPy"
            raise ValueError(f"Argument `activation` must map a NumPy array elementwise; "
                             f"calling it failed: {error}. Received: activation={activation!r}"
                             ) from None
        if values.shape != probe.shape:
            raise ValueError("Argument `activation` must map a NumPy array elementwise (same "
                             f"shape out). Received: activation={activation!r}")
        return _Activation(name or repr(activation), activation,
                           _numeric_derivative(activation), False)
    if not isinstance(activation, str) or activation not in _TABLE:
        raise ValueError(f"Argument `activation` must be one of {tuple(sorted(_TABLE))} or an "
                         f"elementwise NumPy callable. Received: activation={activation!r}")
    return _Activation(activation, *_TABLE[activation])


# --- expectations over z ~ N(0, 1) ----------------------------------------------------

_HERMITE_NODES, _HERMITE_WEIGHTS = hermegauss(160)  # even: no node on a kink at 0
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / math.sqrt(2.0 * math.pi)
_HERMITE_MAX_Q = 16.0  # beyond, tanh-like transitions are narrower than the node spacing
_FOLD_END = 12.0  # P(|z| > 12) ≈ 4e-33
_t, _w = leggauss(160)
_FOLD_NODES = 0.5 * _FOLD_END * (_t + 1.0)
_FOLD_WEIGHTS = 0.5 * _FOLD_END * _w * np.exp(-0.5 * _FOLD_NODES**2) / math.sqrt(2.0 * math.pi)
del _t, _w


def _expect(function, q, smooth):
    """`E[function(√q z)]`, z ~ N(0, 1)."""
    scale = math.sqrt(q)
    if smooth and q <= _HERMITE_MAX_Q:
        return float(np.dot(_HERMITE_WEIGHTS, function(scale * _HERMITE_NODES)))
    x = scale * _FOLD_NODES
    return float(np.dot(_FOLD_WEIGHTS, function(x) + function(-x)))


def _moments(act, q):
    if act.name == "linear":
        return 0.0, q
    if act.name == "relu":  # h ~ N(0, q): E[relu h] = √(q/2π), E[relu² h] = q/2
        return math.sqrt(q / (2.0 * math.pi)), q / 2.0
    return (_expect(act.phi, q, act.smooth),
            _expect(lambda x: act.phi(x) ** 2, q, act.smooth))


def moments(activation, q):
    """`(E[φ(h)], E[φ(h)²])` for `h ~ N(0, q)`.

    Args:
        activation: A name from `ACTIVATIONS`, a Keras activation function, or an
            elementwise NumPy callable.
        q: The pre-activation variance, `>= 0`.
    """
    return _moments(_activation(activation), checks.number_at_least("q", q))


def length_map(q, sigma_w2, activation, sigma_b2=0.0):
    """One step of the length map: `σ_w² · E_z[φ(√q z)²] + σ_b²`.

    Args:
        q: The previous layer's pre-activation variance.
        sigma_w2: `σ_w²`, the kernel variance times the fan-in.
        activation: As for `moments`.
        sigma_b2: `σ_b²`, the bias variance. Defaults to `0.0`.
    """
    act = _activation(activation)
    q = checks.number_at_least("q", q)
    return (checks.number_at_least("sigma_w2", sigma_w2) * _moments(act, q)[1]
            + checks.number_at_least("sigma_b2", sigma_b2))


def fixed_point(sigma_w2, activation, sigma_b2=0.0, q0=1.0, tol=1e-10, max_iter=100_000):
    """`q*`, the fixed point of the length map reached from `q0` (Poole et al. 2016).

    Iterates the map until a step changes `q` by less than `tol · (1 + q)`. ReLU and
    linear have closed forms: `q* = σ_b² / (1 − σ_w² c)`, `c = 1/2` or `1`, when
    `σ_w² c < 1`; `inf` when it is above 1 (or equal with `σ_b > 0`); `q0` when
    `σ_w² c = 1` and `σ_b = 0` (every `q` is fixed). At the edge of chaos of tanh
    (`σ_w² = 1`, `σ_b = 0`), `q*` is 0, approached slowly (`q ≈ 1/(2l)`).

    Returns:
        `q*` as a float (`inf` where the map diverges).

    Raises:
        ValueError: bad arguments, or no convergence within `max_iter` steps.
    """
    act = _activation(activation)
    sigma_w2 = checks.number_at_least("sigma_w2", sigma_w2)
    sigma_b2 = checks.number_at_least("sigma_b2", sigma_b2)
    q = checks.number_at_least("q0", q0)
    tol = checks.number_at_least("tol", tol)
    if act.name in ("relu", "linear"):
        gain = sigma_w2 * (0.5 if act.name == "relu" else 1.0)
        if gain < 1.0:
            return sigma_b2 / (1.0 - gain)
        if gain == 1.0 and sigma_b2 == 0.0:
            return q
        return math.inf
    for _ in range(int(max_iter)):
        new = sigma_w2 * _moments(act, q)[1] + sigma_b2
        if not math.isfinite(new):
            return math.inf
        if abs(new - q) <= tol * (1.0 + new):
            return new
        q = new
    raise ValueError(f"The length map of {act.name} with sigma_w2={sigma_w2}, "
                     f"sigma_b2={sigma_b2} did not converge in max_iter={max_iter} steps "
                     f"(last q={q:g}).")


def chi1(sigma_w2, activation, q_star):
    """`χ₁ = σ_w² · E_z[φ'(√q* z)²]`, the mean squared singular value of a layer's Jacobian.

    `χ₁ = 1` is the edge of chaos (Schoenholz et al. 2017): below, nearby inputs
    converge and gradients vanish exponentially with depth; above, they diverge and
    gradients explode. tanh at `σ_w² = 1`, `σ_b = 0` (`q* = 0`) has `χ₁ = 1`.
    Callables are differentiated numerically (central differences).
    """
    act = _activation(activation)
    q_star = checks.number_at_least("q_star", q_star)
    sigma_w2 = checks.number_at_least("sigma_w2", sigma_w2)
    return sigma_w2 * _expect(lambda x: act.dphi(x) ** 2, q_star, act.smooth)


def _check_sizes(sizes):
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if len(sizes) < 2 or not all(checks.is_positive_int(n) for n in sizes):
        raise ValueError("Argument `sizes` must be the input width and at least one layer "
                         f"width, positive integers, e.g. (1000, 800, 500). Received: sizes={sizes!r}")
    return tuple(int(n) for n in sizes)


def predicted_std(sizes, activation, scheme, input_second_moment=1.0, bias_std=0.0):
    """Mean-field std of every layer's output in a dense net at initialization.

    Layer `l` maps `sizes[l-1]` units to `sizes[l]` and applies `activation`; the
    kernel variance is `σ_w² / fan_in` with `σ_w² = weight_variance(fan_in, fan_out)`
    of `scheme`. The prediction is the std that `activation_stats` measures: over all
    elements of the layer's output, mean subtracted, `sqrt(E[φ(h)²] − E[φ(h)]²)`,
    `h ~ N(0, q^l)`.

    Args:
        sizes: The input width, then each layer's width: `(1000, 800, ..., 10)`.
        activation: As for `moments`, the same in every layer.
        scheme: A name in `keras_initcmp.schemes`.
        input_second_moment: The mean of `x²` over all input elements. Defaults to
            `1.0` (standardized or `randn` data).
        bias_std: `σ_b` of the biases. Defaults to `0.0`. A scheme with a bias of
            its own (`pytorch-default`, `Var(b) = 1/(3 fan_in)`) uses that instead.

    Returns:
        A list of `len(sizes) - 1` floats, or of as many `None` for a scheme
        without a `σ_w² / fan_in` form (`lsuv`).

    Example:

    >>> [round(s, 3) for s in predicted_std((1000, 800, 500), "tanh", "xavier")]
    [0.628, 0.486]
    """
    sizes = _check_sizes(sizes)
    entry = schemes.get(scheme)
    act = _activation(activation)
    second_moment = checks.number_at_least("input_second_moment", input_second_moment)
    bias_std = checks.number_at_least("bias_std", bias_std)
    if entry.weight_variance is None:
        return [None] * (len(sizes) - 1)
    stds = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        sigma_b2 = entry.bias_variance(fan_in) if entry.bias_variance else bias_std**2
        q = entry.weight_variance(fan_in, fan_out) * second_moment + sigma_b2
        mean, second_moment = _moments(act, q)
        stds.append(math.sqrt(max(second_moment - mean**2, 0.0)))
    return stds
