"""The scheme registry: complete entries, aliases, errors, and variances that match the initializers."""

import math
import pickle
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_initcmp import cli, schemes
from keras_initcmp import initializers as ki

ENTRIES = ("zeros", "random", "xavier", "glorot", "he", "orthogonal", "pytorch-default",
           "delta-orthogonal", "lsuv")
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7", "#999999"}  # with the grey of its extended palette


def test_names_in_registry_order_aliases_last():
    assert schemes.names() == ENTRIES + ("keras-default",)
    assert schemes.names(include_data_dependent=False) == ki.SCHEMES
    assert "lsuv" not in ki.SCHEMES


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_is_complete(name):
    scheme = schemes.get(name)
    assert scheme.name == name
    assert scheme.description and "\n" not in scheme.description  # one line of `list`
    assert re.fullmatch(r"#[0-9A-F]{6}", scheme.colour) and scheme.colour in OKABE_ITO
    assert scheme.marker
    assert scheme.data_dependent == (name == "lsuv")
    assert (scheme.initializer is None) == scheme.data_dependent
    assert (scheme.weight_variance is None) == scheme.data_dependent
    assert (scheme.bias is None) == (scheme.bias_variance is None) == (name != "pytorch-default")


def test_colours_and_markers_are_distinct_and_keep_the_figures_values():
    entries = [schemes.get(name) for name in ENTRIES]
    assert len({s.colour for s in entries}) == len(entries)
    assert len({s.marker for s in entries}) == len(entries)
    # The colours and markers the figures used before the registry existed.
    assert {name: schemes.get(name).colour for name in ENTRIES[:6] + ("lsuv",)} == {
        "zeros": "#000000", "random": "#E69F00", "xavier": "#009E73", "he": "#0072B2",
        "glorot": "#56B4E9", "orthogonal": "#CC79A7", "lsuv": "#D55E00"}
    assert [schemes.get(name).marker for name in ENTRIES[:6]] == ["s", "o", "^", "v", "D", "P"]


def test_keras_default_is_an_alias_of_glorot_and_what_keras_gives_a_layer():
    assert schemes.get("keras-default") is schemes.get("glorot")
    assert "keras-default" in schemes.get("glorot").aliases
    assert "names no initializer" in schemes.describe("keras-default")
    assert schemes.describe("glorot") == schemes.get("glorot").description
    # What a layer that names no initializer gets: glorot_uniform, draw for draw.
    layer_default = keras.layers.Dense(3).kernel_initializer
    assert type(layer_default) is keras.initializers.GlorotUniform
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(schemes.get("keras-default").initializer(5)((64, 32))),
        keras.ops.convert_to_numpy(keras.initializers.GlorotUniform(seed=5)((64, 32))))


@pytest.mark.parametrize("name", ["kaiming", "", None, 3, "He"])
def test_unknown_name(name):
    with pytest.raises(ValueError, match=re.escape(
            "Argument `scheme` must be one of ('delta-orthogonal', 'glorot', 'he', 'keras-default', "
            "'lsuv', 'orthogonal', 'pytorch-default', 'random', 'xavier', 'zeros'). "
            f"Received: scheme={name!r}")):
        schemes.get(name)


def test_factories_make_fresh_seeded_initializers():
    factory = schemes.get("he").initializer
    first, second = factory(1), factory(1)
    assert first is not second and isinstance(first, ki.He)
    assert first.get_config()["seed"] == 1
    assert isinstance(schemes.get("zeros").initializer(7), ki.Zeros)


def test_pytorch_default_bias_factory_takes_the_kernel_shape():
    bias = schemes.get("pytorch-default").bias(3, (3, 3, 16, 8))
    assert isinstance(bias, ki.PyTorchDefault) and bias.get_config()["fan_in"] == 144
    assert schemes.get("pytorch-default").bias_variance(144) == pytest.approx(1 / (3 * 144))


def test_a_scheme_pickles_and_is_frozen():
    for name in ENTRIES:
        assert pickle.loads(pickle.dumps(schemes.get(name))) == schemes.get(name)
    with pytest.raises(Exception):
        schemes.get("he").colour = "#FFFFFF"
    with pytest.raises(TypeError):
        schemes.get("glorot").aliases["x"] = "y"


# --- weight_variance is what the initializers draw: Var(W) · fan_in = σ_w² --------


def _sigma_w2_matches(values, fan_in, expected, kurtosis):
    """Sample variance × fan_in within 5 standard errors, Var(s²) ≈ σ⁴ (κ − 1) / n."""
    values = np.asarray(values, dtype=np.float64).ravel()
    variance = expected / fan_in
    return abs(values.var() - variance) <= 5 * variance * math.sqrt((kurtosis - 1) / values.size) + 1e-12


@pytest.mark.parametrize("shape", [(512, 256), (256, 512)])
@pytest.mark.parametrize("name, kurtosis", [
    ("zeros", 3.0), ("random", 3.0), ("xavier", 3.0), ("glorot", 1.8), ("he", 3.0),
    ("orthogonal", 3.0), ("pytorch-default", 1.8), ("delta-orthogonal", 3.0),
    ("keras-default", 1.8)])
def test_weight_variance_is_the_drawn_variance_times_fan_in(name, kurtosis, shape):
    fan_in, fan_out = shape
    scheme = schemes.get(name)
    values = keras.ops.convert_to_numpy(scheme.initializer(40)(shape))
    expected = scheme.weight_variance(fan_in, fan_out)
    assert _sigma_w2_matches(values, fan_in, expected, kurtosis)
    if expected:  # negative control: the neighbouring answer (σ_w² off by a factor 1.5)
        assert not _sigma_w2_matches(values, fan_in, 1.5 * expected, kurtosis)


# --- the command line and the import boundary ----------------------------------------


def test_list_prints_every_name_and_alias_from_the_registry(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in schemes.names():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(schemes.describe(name))}$", out, re.M)
    assert re.search(r"^  keras-default +same as glorot: what Keras gives a layer that names no "
                     r"initializer", out, re.M)


def test_registry_and_theory_import_neither_keras_nor_plotting():
    package = Path(schemes.__file__).parent.parent
    script = f"""
import sys, types
package = types.ModuleType("keras_initcmp")
package.__path__ = [{str(package)!r}]  # the modules alone, not the package's __init__
sys.modules["keras_initcmp"] = package
from keras_initcmp import schemes
from keras_initcmp.schemes import theory
theory.predicted_std((10, 5), "tanh", "xavier")
print(sorted(m for m in ("keras", "tensorflow", "jax", "torch", "matplotlib", "sklearn")
             if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
