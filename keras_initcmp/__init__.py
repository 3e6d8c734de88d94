"""keras_initcmp: see and compare weight-initialization schemes in Keras 3 and TensorBoard.

Only re-exports. `import keras_initcmp` loads the initializers (so that a saved
`.keras` file that uses one reloads); everything else loads on first use
(PEP 562), so the driver's and the report's dependencies (matplotlib,
scikit-learn) are imported only where they are used.
"""

import importlib

from keras_initcmp import initializers

__version__ = "0.1.0"

# name -> (module, attribute); a module itself where the attribute is None.
_LAZY = {
    "ActivationHistograms": ("keras_initcmp.callbacks", "ActivationHistograms"),
    "activation_stats": ("keras_initcmp.stats", "activation_stats"),
    "lsuv": ("keras_initcmp.unit_variance", "lsuv"),
    "compare": ("keras_initcmp.driver", "compare"),
    "probe": ("keras_initcmp.driver", "probe"),
    "reinitialize": ("keras_initcmp.driver", "reinitialize"),
    "doctor": ("keras_initcmp.checkup", "doctor"),
    "report": ("keras_initcmp.report", None),
}

__all__ = ["initializers", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'keras_initcmp' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
