"""Read TensorBoard event files back, the way TensorBoard itself loads them."""

import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator


def read_events(log_dir):
    """`{tag: [(step, ndarray), ...]}` for every tensor summary (scalars and histograms)."""
    accumulator = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0})
    accumulator.Reload()
    return {
        tag: [(event.step, tf.make_ndarray(event.tensor_proto))
              for event in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def steps(events, tag):
    return [step for step, _ in events[tag]]


def value(events, tag, step):
    """The value logged under `tag` at `step` (a float for scalars, rows for histograms)."""
    for logged_step, array in events[tag]:
        if logged_step == step:
            return float(array) if array.ndim == 0 else array
    raise KeyError(f"{tag} has no step {step}: {steps(events, tag)}")
