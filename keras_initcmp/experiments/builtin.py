"""Built-in experiments for `keras-initcmp compare`: circles, breast-cancer, deep-digits.

An experiment bundles a model, its data and the training settings that go with them,
so that `keras-initcmp compare --experiment NAME` reproduces a known comparison.
"""

import dataclasses
import functools
from typing import Callable

import keras
import numpy as np

__all__ = ["Experiment", "EXPERIMENTS", "get"]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A model, its data and the training settings of one built-in comparison.

    Attributes:
        name: The name `--experiment` takes.
        description: One line for `keras-initcmp list`.
        build_model: Returns a fresh, built Keras model.
        load_data: Returns `{"x", "y"}` and optionally `{"x_val", "y_val"}` arrays.
        training: Keyword arguments of `keras_initcmp.compare` (optimizer, loss,
            metrics, steps, epochs, batch_size).
        options: Keyword options of `load_data` (each a bool, default off), e.g.
            `("standardize",)`; `keras-initcmp compare` offers each as a flag.
    """

    name: str
    description: str
    build_model: Callable
    load_data: Callable
    training: dict
    options: tuple = ()


def _circles_data():
    # The Coursera "Initialization" assignment seeds NumPy's global generator with 1
    # (training) and 2 (test) before make_circles; random_state=1/2 draws the same points.
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=300, noise=0.05, factor=0.8, random_state=1)
    x_val, y_val = make_circles(n_samples=100, noise=0.05, factor=0.8, random_state=2)
    return {"x": x.astype("float32"), "y": y.astype("float32")[:, None],
            "x_val": x_val.astype("float32"), "y_val": y_val.astype("float32")[:, None]}


def _circles_model():
    return keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(10, activation="relu", name="hidden_1"),
        keras.layers.Dense(5, activation="relu", name="hidden_2"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ], name="circles")


CIRCLES = Experiment(
    name="circles",
    description=("the article's experiment 1: two noisy circles (300 train / 100 test), "
                 "net [2, 10, 5, 1] ReLU-ReLU-sigmoid, full-batch SGD lr 0.01, 15,000 steps"),
    build_model=_circles_model,
    load_data=_circles_data,
    training={
        # A config, not an instance: the driver builds a fresh optimizer for every run.
        "optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01}},
        "loss": "binary_crossentropy",
        "metrics": ["accuracy"],
        "steps": 15000,
        "epochs": 30,
        "batch_size": None,
    },
)


# --- real data, offline: scikit-learn ships these inside its wheel --------------------


def _split(x, y, seed=0):
    """80/20 train/validation split, stratified by class and seeded (the same every run)."""
    from sklearn.model_selection import train_test_split

    x, x_val, y, y_val = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return x, y, x_val, y_val


def _standardized(x, x_val):
    """Mean 0 and sd 1 per feature with the training split's statistics (constant features stay 0)."""
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mean) / sd, (x_val - mean) / sd


def _breast_cancer_data(standardize=False):
    # The Wisconsin diagnostic set: 569 tumours, 30 features on very different scales
    # (mean area up to 2,501, smoothness about 0.1); label 1 = benign (357 of 569).
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x, y, x_val, y_val = _split(x, y)
    if standardize:
        x, x_val = _standardized(x, x_val)
    return {"x": x.astype("float32"), "y": y.astype("float32")[:, None],
            "x_val": x_val.astype("float32"), "y_val": y_val.astype("float32")[:, None]}


def _relu_mlp(name, inputs, hidden, outputs, output_activation):
    """A plain MLP: Dense ReLU layers `hidden_1..` of the given widths, then `output`."""
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [keras.layers.Dense(width, activation="relu", name=f"hidden_{index}")
           for index, width in enumerate(hidden, start=1)]
        + [keras.layers.Dense(outputs, activation=output_activation, name="output")],
        name=name)


BREAST_CANCER = Experiment(
    name="breast-cancer",
    description=("the article author's own net on real data: breast cancer (455 train / 114 "
                 "test, scikit-learn), [30, 20, 10, 5, 1] ReLU...sigmoid, full-batch SGD "
                 "lr 0.01, 15,000 steps; raw features unless --standardize"),
    # The article author's own training net: 30 features, ReLU 20, 10, 5, one sigmoid unit.
    build_model=functools.partial(_relu_mlp, "breast_cancer", 30, (20, 10, 5), 1, "sigmoid"),
    load_data=_breast_cancer_data,
    training=dict(CIRCLES.training),  # the article author's: the same as for the circles
    options=("standardize",),
)


DEEP_DIGITS_DEPTH = 30
"""Weight layers of the deep-digits net: 29 hidden ReLU layers and the softmax output."""
DEEP_DIGITS_WIDTH = 64


def _digits_data():
    # 1,797 handwritten digits, 8 x 8 pixels of 0..16, 10 classes; pixels standardized
    # with the training split's statistics (the corner pixels that are always 0 stay 0).
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y, x_val, y_val = _split(x, y)
    x, x_val = _standardized(x, x_val)
    return {"x": x.astype("float32"), "y": y.astype("int32"),
            "x_val": x_val.astype("float32"), "y_val": y_val.astype("int32")}


DEEP_DIGITS = Experiment(
    name="deep-digits",
    description=("He et al. 2015 fig. 3 in small: a plain 30-layer ReLU MLP (width 64) on "
                 "the digits (1,437 train / 360 test, scikit-learn), SGD lr 0.001 + momentum "
                 "0.9, batch 64, 3,000 steps; He learns, Xavier (fan_in) stalls"),
    build_model=functools.partial(_relu_mlp, "deep_digits", 64,
                                  (DEEP_DIGITS_WIDTH,) * (DEEP_DIGITS_DEPTH - 1), 10, "softmax"),
    load_data=_digits_data,
    training={
        "optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.001, "momentum": 0.9}},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "steps": 3000,
        "epochs": 30,
        "batch_size": 64,
    },
)

EXPERIMENTS = {experiment.name: experiment for experiment in (CIRCLES, BREAST_CANCER, DEEP_DIGITS)}


def get(name):
    """The built-in `Experiment` called `name`, or a ValueError listing them."""
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Argument `experiment` must be one of {tuple(EXPERIMENTS)}. "
            f"Received: experiment={name!r}"
        )
    return EXPERIMENTS[name]
