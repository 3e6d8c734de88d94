"""A TensorBoard custom-scalars layout for a sweep: one chart per statistic, every layer.

TensorBoard's Scalars dashboard draws one chart per tag, so comparing the activation
std of six layers means six charts. The Custom Scalars dashboard draws a chart per
regular expression instead: `^activation_std/` puts every layer's std, of every
selected run, in one chart, and "std by depth" is one glance.

The driver writes the layout at the root of each experiment (`<logdir>/<experiment>/`).
TensorBoard merges the layouts of all experiments under one logdir by category title and
drops charts that repeat, so several experiments show as one set of charts.
"""

import numpy as np
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

from keras_initcmp import store
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement.tags import GRADIENT_NORM, STATISTICS, scalar_prefix

__all__ = ["TRAINING_CHARTS", "ACTIVATION_CHARTS", "custom_scalars_layout", "write_layout"]

LAYOUT_SUFFIX = store.LAYOUT_SUFFIX
"""Ends the name of the event file `write_layout` writes (and replaces on a re-run)."""

TRAINING_CHARTS = (
    ("loss", r"^(val_)?loss$"),
    ("accuracy", r"^(val_)?(\w+_)?accuracy$"),
    (f"{GRADIENT_NORM}, every layer", f"^{GRADIENT_NORM}/"),
)
"""`(chart title, tag regex)` of the training category: Keras' epoch logs and the
callback's gradient norms."""

# std first: the chart that shows a signal collapsing or exploding with depth.
ACTIVATION_CHARTS = tuple(
    (f"{scalar_prefix(statistic)}, every layer", f"^{scalar_prefix(statistic)}/")
    for statistic in ("std",) + tuple(s for s in STATISTICS if s != "std"))
"""`(chart title, tag regex)` of the activation category, one per statistic the
`ActivationHistograms` callback logs."""


def custom_scalars_layout(training=True):
    """The layout: an "activations by layer" category, then (if `training`) a "training" one.

    Activations come first in every layout, so that TensorBoard's merge of several
    experiments' layouts (in the order of their run names) keeps the same order.

    Returns:
        A `tensorboard.plugins.custom_scalar.layout_pb2.Layout`.
    """
    categories = [("activations by layer", ACTIVATION_CHARTS)] \
        + ([("training", TRAINING_CHARTS)] if training else [])
    return layout_pb2.Layout(category=[
        layout_pb2.Category(title=title, chart=[
            layout_pb2.Chart(title=chart, multiline=layout_pb2.MultilineChartContent(tag=[regex]))
            for chart, regex in charts])
        for title, charts in categories])


def write_layout(folder, training=True, layout=None):
    """Writes `custom_scalars_layout(training)` (or `layout`, another `Layout`: a
    coordinate check's) as a TensorBoard run in `folder`.

    The layout written by an earlier call into `folder` is replaced, so a resumed or
    extended sweep keeps one.

    Args:
        folder: An experiment's root, e.g. `logs/circles`.
        training: Include the training charts (loss, accuracy, gradient norms); `False`
            for `probe`, which does not train.

    Returns:
        The path of the event file written.
    """
    # Through the store, under the experiment's lock: concurrent sweeps replace the
    # file one after the other, and a failed write keeps the old one.
    with store.Experiment.from_folder(folder).replace_root_event_file(LAYOUT_SUFFIX) as root:
        writer = EventWriter(root, filename_suffix=LAYOUT_SUFFIX)
        # What `custom_scalar.summary.pb` writes, which needs TensorFlow to build it.
        writer.tensor(custom_scalar_metadata.CONFIG_SUMMARY_TAG,
                      np.array((layout or custom_scalars_layout(training)).SerializeToString(),
                               dtype=object),
                      custom_scalar_metadata.create_summary_metadata(), step=0)
        writer.close()
    return writer.path
