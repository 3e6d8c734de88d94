"""Built-in experiments for `keras-initcmp compare`, and loaders for a user's own model and data.

An experiment bundles a model, its data and the training settings that go with them,
so that `keras-initcmp compare --experiment NAME` reproduces a known comparison.
"""

import dataclasses
import importlib
import importlib.util
import os
import zipfile
from typing import Callable

import keras
import numpy as np

__all__ = ["Experiment", "EXPERIMENTS", "get", "load_model", "load_data"]


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
    """

    name: str
    description: str
    build_model: Callable
    load_data: Callable
    training: dict


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

EXPERIMENTS = {experiment.name: experiment for experiment in (CIRCLES,)}


def get(name):
    """The built-in `Experiment` called `name`, or a ValueError listing them."""
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Argument `experiment` must be one of {tuple(EXPERIMENTS)}. "
            f"Received: experiment={name!r}"
        )
    return EXPERIMENTS[name]


def load_model(spec):
    """A built Keras model from a `.keras` file or a `module:function` that returns one.

    `module` may be a dotted module name on `sys.path` or a path to a `.py` file.
    A `.keras` file keeps its compile settings (optimizer, loss, metrics), which
    `compare` uses unless told otherwise.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"Argument `model` must be a path or 'module:function'. Received: model={spec!r}")
    if ":" in spec and not os.path.exists(spec):
        model = _call_factory(spec)
    else:
        if not os.path.isfile(spec):
            raise ValueError(f"cannot load model {spec!r}: no such file")
        try:
            model = keras.saving.load_model(spec)
        except Exception as error:  # Keras raises many kinds for a bad file; all mean "does not load".
            raise ValueError(f"cannot load model {spec!r}: {_first_line(error)}") from error
    if not isinstance(model, keras.Model):
        raise ValueError(f"model {spec!r} is a {type(model).__name__}, not a keras.Model")
    if not model.built or not model.inputs:
        raise ValueError(f"model {spec!r} is not built: give it a keras.Input(shape) first layer")
    return model


def _call_factory(spec):
    module_name, _, function_name = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            module_spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(module_name))[0], module_name)
            if module_spec is None or not os.path.isfile(module_name):
                raise FileNotFoundError(f"no such file {module_name!r}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, function_name)()
    except Exception as error:  # the user's code may raise anything; report it in one line
        raise ValueError(f"cannot load model {spec!r}: {_first_line(error)}") from error


def load_data(path):
    """`{"x", "y"[, "x_val", "y_val"]}` from an `.npz` file, loaded without pickle."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy gives one array
            raise ValueError("not an .npz archive of named arrays")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ValueError(f"cannot read data {path!r}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read data {path!r}: {_first_line(error)}") from error
    return check_data(arrays, str(path))


def check_data(arrays, source="data"):
    """The training arrays of `arrays`, checked: `x`, `y`, optional `x_val` with `y_val`."""
    missing = [key for key in ("x", "y") if key not in arrays]
    if ("x_val" in arrays) != ("y_val" in arrays):
        missing.append("y_val" if "x_val" in arrays else "x_val")
    if missing:
        raise ValueError(f"{source} lacks array(s) {', '.join(repr(m) for m in missing)}; "
                         "it needs 'x' and 'y', and optionally 'x_val' with 'y_val'")
    data = {key: np.asarray(arrays[key]) for key in ("x", "y", "x_val", "y_val") if key in arrays}
    for key, array in data.items():
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or array.ndim == 0:
            raise ValueError(f"{source}: array {key!r} must be a numeric array with one row per "
                             f"sample. Received: dtype {array.dtype}, shape {array.shape}")
    for inputs, targets in (("x", "y"), ("x_val", "y_val")):
        if inputs in data and (len(data[inputs]) != len(data[targets]) or not len(data[inputs])):
            raise ValueError(f"{source}: {inputs!r} and {targets!r} must have the same, non-zero "
                             f"number of rows. Received: {len(data[inputs])} and {len(data[targets])}")
    return data


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
