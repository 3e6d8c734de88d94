"""Every scheme's draws and `lsuv` on JAX and PyTorch, against the papers and NumPy.

One subprocess per backend runs `initializer_suite.py` (the backend is chosen at import,
TensorFlow unimportable there); this process checks what it prints. The TensorFlow
backend's draws are checked in tests/initializers/ and tests/reinit/.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import initializer_suite as suite_module
from paths import ROOT, SUPPORT

FAN_IN, FAN_OUT = suite_module.DENSE
CONV_FAN_IN = 3 * 3 * 64
NORMAL, UNIFORM = 3.0, 9.0 / 5.0  # kurtosis of the normal and the uniform law

# Written out from the papers, not from the registry: (variance, kurtosis) of one weight.
EXPECTED = {
    "zeros": (0.0, None),
    "random": (0.01**2, NORMAL),
    "xavier": (1 / FAN_IN, NORMAL),
    "glorot": (2 / (FAN_IN + FAN_OUT), UNIFORM),  # U(±√(6 / (fan_in + fan_out)))
    "keras-default": (2 / (FAN_IN + FAN_OUT), UNIFORM),  # glorot_uniform
    "he": (2 / FAN_IN, NORMAL),
    "pytorch-default": (1 / (3 * FAN_IN), UNIFORM),  # U(±1/√fan_in)
    "orthogonal": (None, None),  # its Gram matrix is checked instead
    "delta-orthogonal": (None, None),  # a dense kernel: orthogonal
}
ORTHOGONAL_ATOL = 1e-4  # float32 draws, Gram entries summed over 512 products


@pytest.fixture(scope="module", params=["jax", "torch"])
def suite(request):
    # This checkout's package first: an editable install elsewhere must not answer for it.
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": path}
    done = subprocess.run([sys.executable, os.path.join(SUPPORT, "initializer_suite.py")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == request.param and report["tensorflow_imported"] is False
    return report


def within_5_standard_errors(draw, expected, kurtosis):
    """For n iid draws, Var(s²) ≈ σ⁴ (κ - 1) / n, κ the (non-excess) kurtosis: with
    n = 131,072 normal draws, 5 SE is ±2.0% of σ²; uniform draws, ±1.4%."""
    standard_error = expected * math.sqrt((kurtosis - 1.0) / draw["size"])
    return abs(draw["var"] - expected) < 5 * standard_error


def test_every_scheme_has_its_papers_variance(suite):
    draws = suite["draws"]
    assert set(draws) == set(EXPECTED) | {"he-conv"}
    moments = {name: value for name, value in EXPECTED.items() if value[1] is not None}
    for name, (variance, kurtosis) in moments.items():
        assert within_5_standard_errors(draws[name], variance, kurtosis), (name, draws[name])
        # Negative control: the neighbouring scheme, the one with the nearest variance
        # (xavier and glorot are 4/3 apart), must fail the same test.
        neighbour = min((other for other in moments if moments[other][0] != variance),
                        key=lambda other: abs(math.log(moments[other][0] / variance)))
        assert not within_5_standard_errors(draws[name], moments[neighbour][0], kurtosis), (
            name, neighbour)
        assert abs(draws[name]["mean"]) < 5 * math.sqrt(variance / draws[name]["size"]), name
    assert draws["zeros"]["max_abs"] == 0
    # Uniform laws stay within their bounds.
    assert draws["glorot"]["max_abs"] <= math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert draws["pytorch-default"]["max_abs"] <= 1 / math.sqrt(FAN_IN)
    # A conv kernel's fan_in counts the receptive field: 2 / (3·3·64), not 2 / 64 nor fan_out.
    assert within_5_standard_errors(draws["he-conv"], 2 / CONV_FAN_IN, NORMAL)
    assert not within_5_standard_errors(draws["he-conv"], 2 / (2 * CONV_FAN_IN), NORMAL)


def test_orthogonal_kernels_have_an_identity_gram_matrix(suite):
    gram = suite["gram"]
    assert gram["orthogonal"] < ORTHOGONAL_ATOL and gram["delta-orthogonal"] < ORTHOGONAL_ATOL
    assert suite["delta_centre_gram"] < ORTHOGONAL_ATOL and suite["delta_off_centre_max"] == 0
    # Negative control: xavier, the scheme with orthogonal's variance (1 / fan_in), is not.
    assert gram["xavier"] > 0.1


ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}


def pre_activation_variances(weights):
    h = suite_module.lsuv_data().astype(np.float64)
    variances = []
    for index, activation in enumerate(suite_module.LSUV_ACTIVATIONS):
        kernel, bias = (np.asarray(w, np.float64) for w in weights[2 * index:2 * index + 2])
        z = h @ kernel + bias
        variances.append(z.var())
        h = ACTIVATIONS[activation](z)
    return variances


def test_lsuv_gives_unit_pre_activation_variance(suite):
    tol = 0.01  # what the suite asked of lsuv: |Var(z) - 1| < tol on its 200 × 16 batch
    variances = pre_activation_variances(suite["lsuv_weights"])
    record = suite["lsuv_record"]
    assert list(record) == ["d0", "d1", "d2"]
    for (name, layer), variance in zip(record.items(), variances):
        assert abs(variance - 1) < tol, (name, variance)
        assert layer["converged"] and layer["variance"] == pytest.approx(variance, rel=1e-4)
    # Negative control: the neighbouring scheme, orthogonal kernels without the rescaling,
    # on the same data (std 3, mean 1) is far from unit variance at the first layer.
    orthogonal = pre_activation_variances(suite["orthogonal_weights"])
    assert abs(orthogonal[0] - 1) > 10 * tol and not all(abs(v - 1) < tol for v in orthogonal)
