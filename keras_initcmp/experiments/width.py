"""Built-in width experiments for `keras-initcmp coord-check`: `width-mlp`, `width-transformer`.

Each is a `build(width)` function, a fixed batch from a real data set (scikit-learn's
digits, installed with the package: nothing is downloaded) and the optimizer settings
at which SP's growth with width shows within four steps. The readouts are linear
(logits, trained with a from-logits loss): μP's statements are about the logits.
"""

import dataclasses
import functools
from typing import Callable

import keras
import numpy as np

__all__ = ["WidthExperiment", "WIDTH_EXPERIMENTS", "get_width_experiment", "width_mlp",
           "width_transformer", "digits_batch"]

BATCH = 256
"""Samples in the fixed batch of the built-in experiments."""


@dataclasses.dataclass(frozen=True)
class WidthExperiment:
    """A `build(width)`, its fixed batch and its coordinate-check settings.

    Attributes:
        name: The name `--experiment` takes.
        description: One line for `keras-initcmp list`.
        build: `width -> fresh, built Keras model` (module-level: it pickles).
        load_batch: `() -> (x, y)`, the fixed batch.
        settings: Defaults of `coord_check` (optimizer, learning_rate, widths, loss).
    """

    name: str
    description: str
    build: Callable
    load_batch: Callable
    settings: dict


def digits_batch(rows=False):
    """The first `BATCH` of scikit-learn's 1,797 digits, pixels scaled to [0, 1] and
    centred; `rows=True` gives each as a sequence of its 8 pixel rows (8 × 8)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))[:BATCH]
    x = (x[order] / 16.0 - 0.5).astype("float32")
    return (x.reshape(-1, 8, 8) if rows else x), y[order].astype("int32")


def width_mlp(width, depth=3, name="width_mlp"):
    """A ReLU MLP on the digits: 64 inputs, `depth` hidden layers of `width`, 10 logits."""
    inputs = keras.Input((64,), name="pixels")
    hidden = inputs
    for index in range(depth):
        hidden = keras.layers.Dense(width, activation="relu", name=f"hidden_{index + 1}")(hidden)
    outputs = keras.layers.Dense(10, name="readout")(hidden)
    return keras.Model(inputs, outputs, name=name)


def width_transformer(width, heads=4, name="width_transformer"):
    """A one-block transformer classifier on the digits' 8 pixel rows as 8 tokens:
    embedding to `width`, self-attention (`heads` heads of `width / heads`), a ReLU MLP
    of `2 width`, residuals and LayerNorm, mean over tokens, 10 logits."""
    if width % heads:
        raise ValueError(f"Argument `width` must be a multiple of heads={heads}. "
                         f"Received: width={width}")
    inputs = keras.Input((8, 8), name="rows")
    tokens = keras.layers.Dense(width, name="embed")(inputs)
    attended = keras.layers.MultiHeadAttention(heads, width // heads, name="attention")(
        tokens, tokens)
    tokens = keras.layers.LayerNormalization(name="norm_1")(tokens + attended)
    hidden = keras.layers.Dense(2 * width, activation="relu", name="mlp_in")(tokens)
    hidden = keras.layers.Dense(width, name="mlp_out")(hidden)
    tokens = keras.layers.LayerNormalization(name="norm_2")(tokens + hidden)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(tokens)
    outputs = keras.layers.Dense(10, name="readout")(pooled)
    return keras.Model(inputs, outputs, name=name)


_LOSS = {"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}

WIDTH_EXPERIMENTS = {experiment.name: experiment for experiment in (
    WidthExperiment(
        name="width-mlp",
        description=("a 3-hidden-layer ReLU MLP on 256 digits (scikit-learn), Adam lr 0.01, "
                     "4 steps: SP's hidden layers and logits grow with width, μP's stay flat"),
        build=width_mlp,
        load_batch=digits_batch,
        settings={"optimizer": "adam", "learning_rate": 0.01, "loss": _LOSS,
                  "widths": (64, 128, 256, 512, 1024)},
    ),
    WidthExperiment(
        name="width-transformer",
        description=("a one-block transformer classifier (4 heads) on the digits' pixel rows, "
                     "Adam lr 0.01, 4 steps"),
        build=width_transformer,
        load_batch=functools.partial(digits_batch, rows=True),
        settings={"optimizer": "adam", "learning_rate": 0.01, "loss": _LOSS,
                  "widths": (64, 128, 256, 512)},
    ),
)}


def get_width_experiment(name):
    """The built-in `WidthExperiment` called `name`, or a ValueError listing them."""
    if name not in WIDTH_EXPERIMENTS:
        raise ValueError(f"Argument `experiment` must be one of {tuple(WIDTH_EXPERIMENTS)} "
                         f"or a 'module:function'. Received: experiment={name!r}")
    return WIDTH_EXPERIMENTS[name]
