"""The public API: `import keras_initcmp` loads the initializers only, the rest on first
use; every public name is what DESIGN.md says (a function, a class or a module), defined
where it is loaded from, and no import of a subpackage hides one."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import importlib, inspect, json, pkgutil, sys
import keras  # Keras itself may import matplotlib and scikit-learn where they are installed
before = set(sys.modules)
import keras_initcmp
loaded = sorted(set(sys.modules) - before)

def kinds():
    return {name: ("module" if inspect.ismodule(value) else "class" if inspect.isclass(value)
                   else "function", getattr(value, "__module__", value.__name__))
            for name in keras_initcmp.__all__ for value in [getattr(keras_initcmp, name)]}

first = kinds()
# Every subpackage and module imported (not the per-backend ones of other backends)...
for module in pkgutil.walk_packages(keras_initcmp.__path__, "keras_initcmp."):
    if module.name.startswith("keras_initcmp.backend.") and not module.name.endswith(
            (".common", "." + keras.backend.backend())):
        continue
    if module.name.startswith("keras_initcmp.distributed.") and keras.backend.backend() != "tensorflow":
        continue
    if module.name.endswith(".__main__"):  # runs the command line
        continue
    importlib.import_module(module.name)
# ... and every public name still what it was.
print(json.dumps({"loaded": loaded, "first": first, "after": kinds(),
                  "all": sorted(keras_initcmp.__all__)}))
"""

PUBLIC = {
    "initializers": ("module", "keras_initcmp.initializers"),
    "ActivationHistograms": ("class", "keras_initcmp.callbacks.activation_histograms"),
    "activation_stats": ("function", "keras_initcmp.measurement.stats"),
    "compare": ("function", "keras_initcmp.driver.entry"),
    "probe": ("function", "keras_initcmp.driver.entry"),
    "reinitialize": ("function", "keras_initcmp.reinit.redraw"),
    "lsuv": ("function", "keras_initcmp.reinit.unit_variance"),
    "doctor": ("function", "keras_initcmp.checkup.diagnosis"),
    "report": ("function", "keras_initcmp.reports.build"),
    "coord_check": ("function", "keras_initcmp.width.coordinates"),
    "mup": ("module", "keras_initcmp.mup"),
}


@pytest.fixture(scope="module", params=["tensorflow", "jax"])
def api(request):
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, json.loads(result.stdout.strip().splitlines()[-1])


def test_import_loads_no_driver_report_plotting_or_sklearn(api):
    backend, report = api
    loaded = report["loaded"]
    assert "keras_initcmp.initializers" in loaded
    for heavy in ("matplotlib", "sklearn", "keras_initcmp.driver", "keras_initcmp.reports",
                  "keras_initcmp.callbacks", "keras_initcmp.experiments",
                  "keras_initcmp.measurement", "keras_initcmp.backend", "multiprocessing"):
        assert not any(name == heavy or name.startswith(heavy + ".") for name in loaded), heavy
    if backend != "tensorflow":
        assert not any(name.split(".")[0] == "tensorflow" for name in loaded)


def test_every_public_name_is_what_design_says_before_and_after_every_import(api):
    _, report = api
    expected = {name: list(kind) for name, kind in PUBLIC.items()}
    assert {name: report["first"][name] for name in PUBLIC} == expected
    assert {name: report["after"][name] for name in PUBLIC} == expected
    assert set(PUBLIC) <= set(report["all"])
