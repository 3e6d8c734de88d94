"""`import keras_initcmp` loads the initializers only; the rest on first use (PEP 562)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
import keras  # Keras itself may import matplotlib and scikit-learn where they are installed
before = set(sys.modules)
import keras_initcmp
loaded = sorted(set(sys.modules) - before)
lazy = keras_initcmp.ActivationHistograms.__name__, keras_initcmp.compare.__name__
print(json.dumps({"loaded": loaded, "lazy": lazy,
                  "report_is_module": type(keras_initcmp.report).__name__}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_import_loads_no_driver_report_plotting_or_sklearn(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = report["loaded"]
    assert "keras_initcmp.initializers" in loaded
    for heavy in ("matplotlib", "sklearn", "keras_initcmp.driver", "keras_initcmp.report",
                  "keras_initcmp.callbacks", "keras_initcmp.experiments", "multiprocessing"):
        assert not any(name == heavy or name.startswith(heavy + ".") for name in loaded), heavy
    if backend != "tensorflow":
        assert not any(name.split(".")[0] == "tensorflow" for name in loaded)
    # ... and the lazy names still resolve, to what they name (no function hides a module).
    assert report["lazy"] == ["ActivationHistograms", "compare"]
    assert report["report_is_module"] == "module"
