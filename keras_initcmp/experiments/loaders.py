"""Loaders of a user's own model and data: `--model` (a `.keras` file or a
`module:function`) and `--data` (an `.npz` archive), each checked, with one-line errors.
"""

import importlib
import importlib.util
import os
import zipfile

import keras
import numpy as np

from keras_initcmp.arrays import samples

__all__ = ["load_model", "load_data", "check_data"]


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
    """The training arrays of `arrays`, checked: `x`, `y`, optional `x_val` with `y_val`.

    Each may be an array, or a list or dict of arrays (a model with several inputs or
    outputs, a keras_hub model's `token_ids`/`padding_mask`...), every array with one
    row per sample.
    """
    missing = [key for key in ("x", "y") if key not in arrays]
    if ("x_val" in arrays) != ("y_val" in arrays):
        missing.append("y_val" if "x_val" in arrays else "x_val")
    if missing:
        raise ValueError(f"{source} lacks array(s) {', '.join(repr(m) for m in missing)}; "
                         "it needs 'x' and 'y', and optionally 'x_val' with 'y_val'")
    data = {key: keras.tree.map_structure(np.asarray, arrays[key])
            for key in ("x", "y", "x_val", "y_val") if key in arrays}
    for key, structure in data.items():
        for array in keras.tree.flatten(structure):
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or array.ndim == 0:
                raise ValueError(f"{source}: array {key!r} must be a numeric array with one row "
                                 f"per sample. Received: dtype {array.dtype}, shape {array.shape}")
    for inputs, targets in (("x", "y"), ("x_val", "y_val")):
        if inputs not in data:
            continue
        rows = {array.shape[0] for key in (inputs, targets) for array in keras.tree.flatten(data[key])}
        if len(rows) != 1 or not rows.pop():
            raise ValueError(f"{source}: {inputs!r} and {targets!r} must have the same, non-zero "
                             f"number of rows. Received: {samples(data[inputs])} and "
                             f"{samples(data[targets])}")
    return data


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
