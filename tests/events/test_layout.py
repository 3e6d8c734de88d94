"""The Custom Scalars layout: its charts, its event file, its replacement on a re-run.

tests/tensorboard/test_tensorboard_e2e.py checks it through a real TensorBoard; these are the fast
checks of the file itself.
"""

import os
import re

import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2, metadata

from events import read_events
from keras_initcmp.events import layout

TAGS = ["loss", "val_loss", "accuracy", "val_accuracy", "binary_accuracy", "final/loss",
        "final/accuracy", "gradient_norm/h1", "gradient_norm/out"] + [
    f"activation_{stat}/{layer}" for stat in ("std", "mean", "zero_fraction", "saturation",
                                              "nonfinite") for layer in ("h1", "h2", "out")]


def charts(proto):
    return {chart.title: list(chart.multiline.tag) for category in proto.category
            for chart in category.chart}


def test_one_chart_per_statistic_matches_every_layer_and_nothing_else():
    proto = layout.custom_scalars_layout(training=True)
    assert [category.title for category in proto.category] == ["activations by layer",
                                                                 "training"]
    matched = {title: {tag for tag in TAGS if re.match(regex, tag)}
               for title, [regex] in charts(proto).items()}
    for stat in ("std", "mean", "zero_fraction", "saturation", "nonfinite"):
        assert matched[f"activation_{stat}, every layer"] == {
            f"activation_{stat}/{layer}" for layer in ("h1", "h2", "out")}
    assert matched["loss"] == {"loss", "val_loss"}  # not final/loss: one point
    assert matched["accuracy"] == {"accuracy", "val_accuracy", "binary_accuracy"}
    assert matched["gradient_norm, every layer"] == {"gradient_norm/h1", "gradient_norm/out"}


def test_probe_layout_has_no_training_charts():
    proto = layout.custom_scalars_layout(training=False)
    assert [category.title for category in proto.category] == ["activations by layer"]
    assert set(charts(proto)) == {title for title, _ in layout.ACTIVATION_CHARTS}


def test_write_layout_replaces_its_own_file_only(tmp_path):
    other = tf.summary.create_file_writer(str(tmp_path))  # e.g. the HParams config
    with other.as_default():
        tf.summary.scalar("kept", 1.0, step=0)
    other.close()
    first = layout.write_layout(tmp_path, training=False)
    second = layout.write_layout(tmp_path, training=True)
    files = sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("."))
    assert len(files) == 2 and second.endswith(layout.LAYOUT_SUFFIX)
    assert first == second or not os.path.exists(first)
    events = read_events(tmp_path)
    assert "kept" in events
    [(step, content)] = events[metadata.CONFIG_SUMMARY_TAG]
    written = layout_pb2.Layout.FromString(content.item())
    assert step == 0 and written == layout.custom_scalars_layout(training=True)
