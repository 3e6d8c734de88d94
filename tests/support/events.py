"""Read TensorBoard event files back with the package's own reader, as TensorBoard loads them."""

from keras_initcmp.events.reader import read_events

__all__ = ["read_events", "steps", "value"]


def steps(events, tag):
    return [step for step, _ in events[tag]]


def value(events, tag, step):
    """The value logged under `tag` at `step` (a float for scalars, rows for histograms)."""
    for logged_step, array in events[tag]:
        if logged_step == step:
            return float(array) if array.ndim == 0 else array
    raise KeyError(f"{tag} has no step {step}: {steps(events, tag)}")
