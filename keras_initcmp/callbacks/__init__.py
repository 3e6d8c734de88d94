"""Keras callbacks, one a module: `ActivationHistograms` (per-layer activation
histograms and statistics to TensorBoard) and `RunLog` (a training run's curves,
HParams record and final metrics). Re-exported lazily (the snapshot needs the backend).
"""

from keras_initcmp.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "ActivationHistograms": ("keras_initcmp.callbacks.activation_histograms",
                             "ActivationHistograms"),
    "RunLog": ("keras_initcmp.callbacks.run_log", "RunLog"),
})
