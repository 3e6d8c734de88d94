"""Mean-field theory: closed forms vs quadrature, and predictions vs a real forward pass."""

import math

import keras
import numpy as np
import pytest

from keras_initcmp import schemes
from keras_initcmp.schemes import theory
from tolerances import NUMPY, deep_tolerances, shape_moments

ARTICLE_SIZES = (1000, 800, 500, 300, 200, 100, 10)
SAMPLES = 5000


def _reference(function, q):
    """E[function(√q z)] by the trapezoid rule on a fine grid, |z| ≤ 40: slow but obvious."""
    z = np.linspace(-40.0, 40.0, 1_600_001)
    density = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    values = function(math.sqrt(q) * z) * density
    return float(np.sum(values) - 0.5 * (values[0] + values[-1])) * (z[1] - z[0])


# --- expectations -------------------------------------------------------------------


@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 2.0, 50.0, 1e4])
def test_relu_closed_form_matches_quadrature(q):
    closed = theory.moments("relu", q)
    assert closed == pytest.approx((math.sqrt(q / (2 * math.pi)), q / 2), rel=1e-15)
    quadrature = theory.moments(lambda x: np.maximum(x, 0.0), q)  # a callable: quadrature
    assert quadrature == pytest.approx(closed, rel=1e-9)
    assert theory.length_map(q, 2.0, "relu") == pytest.approx(q, rel=1e-15)
    assert theory.length_map(q, 2.0, lambda x: np.maximum(x, 0.0)) == pytest.approx(q, rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "softplus", "selu", "elu",
                                        "silu", "leaky_relu"])
@pytest.mark.parametrize("q", [0.5, 100.0])
def test_quadrature_matches_a_fine_grid(activation, q):
    # q = 100: tanh's transition (width 0.1 in z) is finer than Gauss–Hermite's node spacing.
    phi = NUMPY[activation]
    mean, second = theory.moments(activation, q)
    assert mean == pytest.approx(_reference(phi, q), rel=1e-7, abs=1e-12)
    assert second == pytest.approx(_reference(lambda x: phi(x) ** 2, q), rel=1e-7)


def test_keras_activation_functions_are_recognized():
    assert theory.moments(keras.activations.tanh, 1.0) == theory.moments("tanh", 1.0)
    assert theory.moments(keras.activations.relu, 2.0) == theory.moments("relu", 2.0)


# --- fixed points and χ₁ ---------------------------------------------------------------


def test_tanh_edge_of_chaos():
    # σ_w² = 1, σ_b = 0: q* = 0 and χ₁ = φ'(0)² = 1 (Schoenholz et al. 2017, Fig. 1).
    assert theory.chi1(1.0, "tanh", 0.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.fixed_point(1.0, "tanh") < 1e-4
    assert theory.chi1(0.8, "tanh", theory.fixed_point(0.8, "tanh")) == pytest.approx(0.8)  # ordered
    q_star = theory.fixed_point(2.0, "tanh")
    assert theory.length_map(q_star, 2.0, "tanh") == pytest.approx(q_star, rel=1e-8)
    assert theory.chi1(2.0, "tanh", q_star) > 1.0  # chaotic
    # A tanh given as a callable, differentiated numerically, agrees.
    assert theory.chi1(2.0, np.tanh, q_star) == pytest.approx(theory.chi1(2.0, "tanh", q_star),
                                                              rel=1e-7)


def test_relu_fixed_points_and_he_criticality():
    assert theory.chi1(2.0, "relu", 0.7) == pytest.approx(1.0, rel=1e-12)  # He: χ₁ = 1 at any q
    assert theory.fixed_point(1.0, "relu", sigma_b2=0.5) == pytest.approx(1.0)  # 0.5 / (1 − 1/2)
    assert theory.fixed_point(2.0, "relu", q0=3.0) == 3.0
    assert theory.fixed_point(3.0, "relu") == math.inf


# --- predictions vs a real forward pass ------------------------------------------------


def measured_std(sizes, activation, scheme, samples, seed=0):
    """The article's experiment 2 in NumPy: randn data through the net, std per layer.

    Weights (and a scheme's own bias) come from the scheme's initializers, as the
    driver builds them; the std is what `activation_stats` reports: over all elements
    of a layer's output, mean subtracted (population std).
    """
    phi = NUMPY[activation]
    entry = schemes.get(scheme)
    x = np.random.default_rng(seed).standard_normal((samples, sizes[0])).astype(np.float32)
    stds = []
    for index, shape in enumerate(zip(sizes[:-1], sizes[1:])):
        layer_seed = 100 * seed + index
        kernel = keras.ops.convert_to_numpy(entry.initializer(layer_seed)(shape))
        bias = (keras.ops.convert_to_numpy(entry.bias(layer_seed, shape)((shape[1],)))
                if entry.bias else 0.0)
        x = phi(x @ kernel + bias).astype(np.float32)
        stds.append(float(np.std(x, dtype=np.float64)))
    return stds


def _log_errors(measured, predicted):
    return [abs(math.log(m / p)) for m, p in zip(measured, predicted)]


def first_layer_tolerance(n_in, n_out, activation, scheme, samples):
    """5 standard errors of ln(measured / predicted std) for ONE layer fed with randn data.

    Zero-mean independent inputs give every unit a zero-mean Gaussian pre-activation,
    so only three finite-size effects remain (all relative variances):
      - each unit's weight norm: q_j = q · |w_j|² / E|w_j|², relative variance
        (κ_w − 1) / n_in with κ_w = 3 (normal weights); n_out units average it;
      - each sample's input norm |x_s|² / n_in, relative variance 2 / n_in, shared by
        all units of the sample; S samples average it;
      - the S · n_out output values themselves: (κ − 1) / (S n_out), κ the central
        kurtosis of φ(h), inflated by (1 + n_out / n_in) because two units of one sample
        are correlated by ~1/√n_in.
    The first two move q and reach Var(φ) with the elasticity e = d ln Var / d ln q;
    ln std is half of ln Var. Measured over 10 seeds for relu/he, sigmoid/xavier,
    tanh/xavier, gelu/he and selu/xavier at 1000 → 1000, S = 4000: |z| ≤ 2, rms 0.8.
    """
    q = schemes.get(scheme).weight_variance(n_in, n_out)
    _, _, central, _, elasticity = shape_moments(activation, q)
    log_variance = (elasticity**2 * (2 / (n_in * n_out) + 2 / (n_in * samples))
                    + (central - 1) * (1 + n_out / n_in) / (n_out * samples))
    return 5 * math.sqrt(log_variance / 4)


@pytest.mark.parametrize("activation, scheme, neighbour", [
    ("relu", "he", "xavier"), ("sigmoid", "xavier", "he"), ("tanh", "xavier", "he"),
    ("gelu", "he", "xavier")])
def test_first_layer_std_is_mean_subtracted_to_a_fraction_of_a_percent(activation, scheme,
                                                                          neighbour):
    sizes, samples = (1000, 1000), 4000
    measured = measured_std(sizes, activation, scheme, samples, seed=1)[0]
    tolerance = first_layer_tolerance(*sizes, activation, scheme, samples)
    assert tolerance < 0.01
    predicted = theory.predicted_std(sizes, activation, scheme)[0]
    assert abs(math.log(measured / predicted)) < tolerance
    # Negative controls: the neighbouring scheme; the root mean square sqrt(E[φ²]),
    # which is not the std wherever E[φ] ≠ 0 (ReLU: by a factor sqrt(π / (π − 1))).
    assert abs(math.log(measured / theory.predicted_std(sizes, activation, neighbour)[0])) > tolerance
    mean, second, *_ = shape_moments(activation, schemes.get(scheme).weight_variance(*sizes))
    if abs(mean) > 1e-3:
        assert abs(math.log(measured / math.sqrt(second))) > tolerance


@pytest.mark.parametrize("activation, scheme, neighbour", [
    ("tanh", "xavier", "he"),
    ("relu", "he", "xavier"),
])
def test_prediction_matches_the_articles_deep_net(activation, scheme, neighbour):
    measured = measured_std(ARTICLE_SIZES, activation, scheme, SAMPLES)
    tolerances = deep_tolerances(ARTICLE_SIZES, activation, scheme, SAMPLES)
    errors = _log_errors(measured, theory.predicted_std(ARTICLE_SIZES, activation, scheme))
    assert all(e < t for e, t in zip(errors, tolerances)), (errors, tolerances)
    # Negative control: the neighbouring scheme's prediction is rejected at every layer
    # wide enough to tell (the 10-unit output layer's band is a factor ~3-7).
    wrong = _log_errors(measured, theory.predicted_std(ARTICLE_SIZES, activation, neighbour))
    assert all(e > t for e, t in zip(wrong[:-1], tolerances[:-1])), (wrong, tolerances)


def test_pytorch_default_prediction_includes_its_bias():
    measured = measured_std(ARTICLE_SIZES, "relu", "pytorch-default", SAMPLES)
    tolerances = deep_tolerances(ARTICLE_SIZES, "relu", "pytorch-default", SAMPLES)
    predicted = theory.predicted_std(ARTICLE_SIZES, "relu", "pytorch-default")
    errors = _log_errors(measured, predicted)
    assert all(e < t for e, t in zip(errors, tolerances)), (errors, tolerances)
    # Negative control: σ_w² = 1/3 without the bias, q shrinking by 1/6 per layer. The
    # bias, Var(b) = 1/(3 fan_in), is a small part of q at first and most of it by
    # layer 5, where the bias-free prediction is rejected.
    without_bias, q = [], 1 / 3
    for _ in ARTICLE_SIZES[1:]:
        without_bias.append(math.sqrt(q * (math.pi - 1) / (2 * math.pi)))
        q = q / 6
    wrong = _log_errors(measured, without_bias)
    assert wrong[4] > tolerances[4] and wrong[5] > tolerances[5], (wrong, tolerances)
    he = _log_errors(measured, theory.predicted_std(ARTICLE_SIZES, "relu", "he"))
    assert all(e > t for e, t in zip(he[:-1], tolerances[:-1])), (he, tolerances)


# --- arguments ---------------------------------------------------------------------


def test_schemes_without_a_weight_variance_predict_nothing():
    assert theory.predicted_std(ARTICLE_SIZES, "relu", "lsuv") == [None] * 6


def test_input_second_moment_and_bias_std():
    # One linear layer: q = σ_w² · mean(x²) + σ_b², and the output std is √q.
    assert theory.predicted_std((100, 50), "linear", "he", input_second_moment=4.0,
                                bias_std=1.0) == pytest.approx([3.0])
    assert theory.predicted_std((100, 50), "linear", "keras-default") == pytest.approx(
        [math.sqrt(2 * 100 / 150)])


@pytest.mark.parametrize("call, message", [
    (lambda: theory.predicted_std((1000,), "relu", "he"), r"Argument `sizes` must be .* "
                                                          r"Received: sizes=\(1000,\)"),
    (lambda: theory.predicted_std((10, 0), "relu", "he"), r"Received: sizes=\(10, 0\)"),
    (lambda: theory.predicted_std((10, 5), "swishy", "he"),
     r"Argument `activation` must be one of \(.*'tanh'.*\) or an elementwise NumPy callable\. "
     r"Received: activation='swishy'"),
    (lambda: theory.predicted_std((10, 5), "relu", "kaiming"),
     r"Argument `scheme` must be one of .* Received: scheme='kaiming'"),
    (lambda: theory.predicted_std((10, 5), "relu", "he", bias_std=-1.0),
     r"Argument `bias_std` must be a finite number >= 0\. Received: bias_std=-1\.0"),
    (lambda: theory.predicted_std((10, 5), "relu", "he", input_second_moment=float("nan")),
     r"Argument `input_second_moment` .* Received: input_second_moment=nan"),
    (lambda: theory.chi1(True, "tanh", 0.0), r"Argument `sigma_w2` .* Received: sigma_w2=True"),
    (lambda: theory.moments(lambda x: 1.0, 1.0), r"Argument `activation` must map a NumPy array "
                                                 r"elementwise"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
