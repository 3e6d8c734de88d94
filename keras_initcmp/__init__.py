"""keras_initcmp: see and compare weight-initialization schemes in Keras 3 and TensorBoard.

Only re-exports. `import keras_initcmp` loads the initializers (so that a saved
`.keras` file that uses one reloads); everything else loads on first use, so the
driver's and the report's dependencies (matplotlib, scikit-learn) are imported only
where they are used. No subpackage is named after a public function, so `import
keras_initcmp.<part>` never hides one.

| part | subpackage |
| --- | --- |
| the schemes as Keras initializers | `initializers` |
| the scheme registry, mean-field theory | `schemes` |
| which layers, their statistics, the names on disk | `measurement` |
| TensorBoard event files: writer, reader, layout | `events` |
| Keras callbacks: `ActivationHistograms`, `RunLog` | `callbacks` |
| re-initialization: `reinitialize`, `lsuv` | `reinit` |
| the init check: `doctor` | `checkup` |
| `compare` and `probe`: sweeps of runs | `driver` |
| built-in experiments, a user's model and data | `experiments` |
| an experiment on disk | `store` |
| one run across devices | `distributed` |
| per-backend code | `backend` |
| the article's figures: `report` | `reports` |
| the command line | `cli` |
| μP for Keras 3: shapes, init, `MuReadout`, `MuAdam`/`MuSGD` | `mup` (public) |
| the coordinate check: `coord_check` | `width` |
"""

from keras_initcmp import initializers
from keras_initcmp import mup  # its optimizers and MuReadout are named in saved files
from keras_initcmp.lazy import attach

__version__ = "0.1.0"

__getattr__, __dir__, _LAZY_NAMES = attach(__name__, {
    "ActivationHistograms": ("keras_initcmp.callbacks.activation_histograms",
                             "ActivationHistograms"),
    "activation_stats": ("keras_initcmp.measurement.stats", "activation_stats"),
    "lsuv": ("keras_initcmp.reinit.unit_variance", "lsuv"),
    "compare": ("keras_initcmp.driver.entry", "compare"),
    "probe": ("keras_initcmp.driver.entry", "probe"),
    "reinitialize": ("keras_initcmp.reinit.redraw", "reinitialize"),
    "doctor": ("keras_initcmp.checkup.diagnosis", "doctor"),
    "report": ("keras_initcmp.reports.build", "report"),
    "coord_check": ("keras_initcmp.width.coordinates", "coord_check"),
})

__all__ = ["initializers", "mup", *_LAZY_NAMES]
