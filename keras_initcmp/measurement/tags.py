"""The statistics schema's names on disk: every TensorBoard tag this package writes or reads.

Plain Python (no Keras, no TensorFlow), so the report, the layout and the store-side
code read the same names as the callback that writes them. The statistics themselves
(`STATISTICS`, their meaning and the moments they come from) are `keras_initcmp.measurement.stats`'.
"""

__all__ = ["STATISTICS", "scalar_prefix", "scalar_tag", "ACTIVATIONS", "GRADIENT_NORM",
           "PREDICTED_STD", "STD", "histogram_tag", "gradient_tag", "weight_tag",
           "gradient_norm_tag", "predicted_std_tag"]

STATISTICS = ("mean", "std", "zero_fraction", "saturation", "nonfinite", "dead_units")
"""The statistics of one layer's output, in the order they are reported."""

ACTIVATIONS = "activations"
"""Prefix of the activation histograms: `activations/<layer>`."""
GRADIENT_NORM = "gradient_norm"
"""Prefix of the per-layer gradient norms: `gradient_norm/<layer>`."""
PREDICTED_STD = "predicted_std"
"""Prefix of probe's mean-field predictions: `predicted_std/<layer>`."""


def scalar_prefix(statistic):
    """The TensorBoard tag prefix of a statistic, before the layer's path: `activation_std`."""
    return f"activation_{statistic}"


STD = scalar_prefix("std")
"""`activation_std`: the statistic the figures draw by depth."""


def scalar_tag(statistic, layer_path):
    """The TensorBoard scalar tag of a statistic of a layer: `activation_std/dense_1`."""
    return f"{scalar_prefix(statistic)}/{layer_path}"


def histogram_tag(layer_path):
    return f"{ACTIVATIONS}/{layer_path}"


def gradient_tag(layer_path, variable):
    return f"gradients/{layer_path}/{variable}"


def weight_tag(layer_path, variable):
    return f"weights/{layer_path}/{variable}"


def gradient_norm_tag(layer_path):
    return f"{GRADIENT_NORM}/{layer_path}"


def predicted_std_tag(layer_path):
    return f"{PREDICTED_STD}/{layer_path}"
