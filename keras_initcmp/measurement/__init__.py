"""Measurement: which layers are observed and what is measured of their outputs.

| module | its one job |
| --- | --- |
| `recording` | which layers (paths, patterns) and their outputs recorded in one forward pass |
| `stats` | the statistics on the device, and `activation_stats` |
| `reduction` | a layer's summary where it is produced: the pieces each backend's `layer_summary` shares |
| `tags` | the statistics schema's names on disk: every TensorBoard tag (plain Python) |

Re-exported lazily: `tags` is read without Keras' backends (the report needs no
TensorFlow), `stats` needs the backend.
"""

from keras_initcmp.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "activation_stats": ("keras_initcmp.measurement.stats", "activation_stats"),
    "LayerRecorder": ("keras_initcmp.measurement.recording", "LayerRecorder"),
    "select_layers": ("keras_initcmp.measurement.recording", "select_layers"),
    "STATISTICS": ("keras_initcmp.measurement.tags", "STATISTICS"),
})
