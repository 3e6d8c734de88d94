"""Tolerances of mean-field predictions: how far a finite net's measured std may fall
from the infinite-width theory (test_theory and test_driver share them)."""

import math

import numpy as np
from scipy import special

from keras_initcmp import schemes
from keras_initcmp.schemes import theory


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


# Written out again, independently of theory.py (Keras' definitions and defaults).
NUMPY = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": special.expit,
    "gelu": lambda x: 0.5 * x * (1 + special.erf(x / math.sqrt(2))),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x * special.expit(x),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
}


def shape_moments(activation, q):
    """Of φ(h), h ~ N(0, q): mean, second moment, central kurtosis, E[φ⁴]/E[φ²]², and the
    elasticity d ln Var(φ) / d ln q (how a relative error in q reaches the variance)."""
    phi = NUMPY[activation]
    m1, m2 = theory.moments(phi, q)
    m3 = theory.moments(lambda x: phi(x) ** 3, q)[0]
    m4 = theory.moments(lambda x: phi(x) ** 2, q)[1]
    variance = m2 - m1**2
    central = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / variance**2
    step = 1e-4
    n1, n2 = theory.moments(phi, q * (1 + step))
    elasticity = math.log((n2 - n1**2) / variance) / math.log1p(step)
    return m1, m2, central, m4 / m2**2, elasticity


def deep_tolerances(sizes, activation, scheme, samples):
    """5 standard errors of ln(measured / predicted std), layer by layer, for a deep net.

    The prediction is for infinite width. Within layer l the n_l units have independent
    weight columns, but the S samples of one unit share that column, its bias, and, past
    the first layer, a per-unit offset (its weights times the previous layer's non-zero
    mean): they are not independent. At worst (every sample alike) a layer holds only
    n_l independent values, plus the S samples' own spread. A variance (or the second
    moment handed on to the next layer) estimated from N independent values has
    relative variance (κ − 1) / N, κ the kurtosis of the values (the larger of the
    central and the raw kind), so ln std (half of ln Var) has variance
    (κ_l − 1) / 4 · (1/n_l + 1/S). A relative error in one layer's second moment reaches
    later layers with a factor ≤ 1 (= 1 for homogeneous ReLU; < 1 for tanh, which
    saturates), and layers draw independent weights, so the variances add over layers
    1..l. The mean-field approximation's own error (O(1/n) in q) and the quadrature's
    (~1e-12) are far smaller. Calibration over 10 seeds: ReLU's errors are up to 2.3
    of these standard errors, rms ≤ 1 (the bound is nearly attained: ReLU's per-unit
    offsets make the units unequal); tanh's ≤ 0.25 (its units are nearly equal: the
    bound is loose, which is why `first_layer_tolerance` tests the formula sharply). For the
    article's ReLU net the 5σ band is ±24% at the 800-unit first layer and a factor ~7
    at the 10-unit output: ten units cannot tell much.
    """
    entry = schemes.get(scheme)
    second_moment, total, tolerances = 1.0, 0.0, []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bias = entry.bias_variance(fan_in) if entry.bias_variance else 0.0
        q = entry.weight_variance(fan_in, fan_out) * second_moment + bias
        _, next_moment, central, raw, _ = shape_moments(activation, q)
        total += (max(central, raw) - 1) / 4 * (1 / fan_out + 1 / samples)
        tolerances.append(5 * math.sqrt(total))
        second_moment = next_moment
    return tolerances
