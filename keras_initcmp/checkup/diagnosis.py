"""An init check: one pass of a model at its current weights, and what is wrong with it in plain words.

`doctor(model, x, y)` runs one forward pass (and, with `y`, one backward pass) of
any built Keras model on one batch, through the package's own pieces: the layers
and their paths from `keras_initcmp.measurement.recording`, the compiled pass from
`keras_initcmp.backend` (so every model type and backend works as the callback
does) and the statistics from `keras_initcmp.measurement.stats`. It returns a `DoctorReport`:
per-layer numbers and `Finding`s, each with the number behind it and a suggestion.
What is looked at, every threshold and the scheme advice are the rules of
`keras_initcmp.checkup.findings` (re-exported here: `Finding`, `suggest_scheme`, `LEVELS` and
the thresholds).

Nothing here prints; `DoctorReport.table()` and `.to_json()` return strings.
"""

import dataclasses
import json
import math

import keras
import numpy as np
from keras import ops

from keras_initcmp import backend
from keras_initcmp.measurement import stats
from keras_initcmp.checkup.findings import (  # noqa: F401 (re-exported: the rules' constants)
    DEAD_UNITS_SHARE, EXPLODED_STD, FLOAT32_MAX, FLOAT32_TINY, GRADIENT_RATIO,
    INPUT_SCALE_SPAN, LEVELS, MIN_DEPTH, SATURATING, SATURATION_SHARE, SIGNAL_FACTOR,
    SIGNAL_SPAN, SUGGESTION_DEPTH, UNIT_SATURATING, VANISHED_STD, Finding, fans, findings,
    suggest_scheme)
from keras_initcmp.measurement.recording import LayerRecorder, ensure_built, select_layers

__all__ = ["doctor", "DoctorReport", "Finding", "suggest_scheme", "LEVELS"]

_ACTIVATION_LAYERS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu",
                      "PReLU": "leaky_relu", "Softmax": "softmax"}



@dataclasses.dataclass
class DoctorReport:
    """What `doctor` returns.

    Attributes:
        findings: `Finding`s, warnings first, then in layer order.
        layers: `{path: {"activation", "mean", "std", "zero_fraction", "saturation",
            "nonfinite", "dead_units", "gradient_norm", "weight_variance"}}` in call
            order; `gradient_norm` is `None` without `y` or trainable weights,
            `weight_variance` (`mean(kernel²) · fan_in`, the σ_w² of
            `keras_initcmp.schemes`) `None` for a layer without a kernel.
        model: The model's name.
        samples: Samples in the batch.
        gradients: Whether a backward pass ran.
    """

    findings: list
    layers: dict
    model: str = ""
    samples: int = 0
    gradients: bool = False

    def worst_level(self):
        """`"warning"`, `"info"`, or `None` when nothing was found."""
        levels = {finding.level for finding in self.findings}
        return next((level for level in reversed(LEVELS) if level in levels), None)

    def to_json(self, indent=2):
        """The report as a JSON string (NaN and Inf as `null`)."""
        data = {"model": self.model, "samples": self.samples, "gradients": self.gradients,
                "worst_level": self.worst_level(),
                "findings": [dataclasses.asdict(finding) for finding in self.findings],
                "layers": self.layers}
        return json.dumps(_json_ready(data), indent=indent, allow_nan=False)

    def table(self):
        """The report as plain text: one line per layer, then the findings."""
        rows = [("layer", "activation", "mean", "std", "zero", "dead", "saturated",
                 "nonfinite", "grad norm", "sigma_w2")]
        for path, layer in self.layers.items():
            rows.append((path, layer["activation"] or "-", _number(layer["mean"]),
                         _number(layer["std"]), _share(layer["zero_fraction"]),
                         _share(layer["dead_units"]),
                         _share(layer["saturation"]) if layer["activation"] in SATURATING else "-",
                         str(layer["nonfinite"]), _number(layer["gradient_norm"]),
                         _number(layer["weight_variance"], "{:.3g}")))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [f"doctor: model '{self.model}', {self.samples} samples, "
                 f"{len(self.layers)} layers, "
                 + ("forward and backward pass" if self.gradients else "forward pass only"), ""]
        lines += ["  ".join(cell.ljust(width) if column < 2 else cell.rjust(width)
                            for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
                  for row in rows]
        lines.append("")
        if not self.findings:
            lines.append("no findings")
        for finding in self.findings:
            lines.append(f"{finding.level}: {finding.code} at {finding.layer}: {finding.message}")
            lines.append(f"  suggestion: {finding.suggestion}")
        return "\n".join(lines) + "\n"


def doctor(model, x, y=None, layers=None, loss=None):
    """Check a model's initialization: one pass on a batch, per-layer numbers and findings.

    The model runs at its current weights (fresh from its initializers, or loaded):
    one inference pass records every selected layer's output; with `y`, one
    backward pass gives each layer's gradient norm. Statistics are those of
    `keras_initcmp.activation_stats`, over the whole batch.

    Args:
        model: A built Keras model: Sequential, functional, subclassed, nested,
            keras_hub; any backend.
        x: One batch of the model's inputs (a few hundred samples suffice): an
            array, or a list/dict of arrays.
        y: Targets for `x`, or `None` (default) for no backward pass.
        layers: Layer names, paths or shell-style patterns, or `None` (default) for
            every layer (see `keras_initcmp.measurement.recording.select_layers`).
        loss: With `y`: a Keras loss (name, config or object) for the gradients.
            Defaults to the model's compiled loss. The model itself is never
            compiled or changed: `loss` goes to a thin wrapper around it.

    Returns:
        A `DoctorReport`.

    Raises:
        ValueError: bad `x`, `y` or `layers`, or `y` without `loss` for a model
            that is not compiled with one.

    Example:

    >>> report = keras_initcmp.doctor(model, x_train[:512], y_train[:512])
    >>> [(f.code, f.layer) for f in report.findings]
    [('signal-shrinking', 'dense'), ('signal-vanished', 'dense_20')]
    >>> print(report.table())
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"Argument `model` must be a built keras.Model. Received: model={model!r}")
    x = stats.as_input_tensors(x, "x")
    runner = model
    if y is not None:
        y = stats.as_input_tensors(y, "y")
        if _samples(y) != _samples(x):
            raise ValueError(f"Arguments `x` and `y` must have the same number of samples. "
                             f"Received: {_samples(x)} and {_samples(y)}")
        if loss is not None:
            runner = _WithLoss(model, loss)
        elif not (getattr(model, "compiled", False) and getattr(model, "loss", None)):
            raise ValueError(f"Argument `loss` is needed with `y`: model '{model.name}' is not "
                             "compiled with a loss. Received: loss=None")
    elif loss is not None:
        raise ValueError("Argument `loss` needs `y` (the targets). Received: y=None")
    ensure_built(model, x)
    selected = select_layers(model, layers)
    recorder = LayerRecorder(selected)
    results = backend.get().snapshot_function(runner, recorder, _summarize)(x, y)
    per_layer = {path: _layer_stats(selected[path], result) for path, result in results.items()}
    return DoctorReport(findings(x, per_layer, selected), per_layer, model.name, _samples(x),
                        y is not None)


class _WithLoss(keras.Model):
    """The user's model, compiled with a loss of the doctor's choice, the model untouched."""

    def __init__(self, model, loss):
        super().__init__(name=f"{model.name}_with_loss")
        self.inner = model
        self.compile(loss=loss)

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)


def _samples(data):
    return int(keras.tree.flatten(data)[0].shape[0])


# --- on the device: a few numbers per layer ---------------------------------------


def _summarize(activations, gradients, weights):
    results = {}
    for path, activation in activations.items():
        values = stats.flat(activation)
        result = {"moments": stats.layer_moments(values), "alive": stats.alive_units(activation),
                  "low": ops.mean(ops.cast(ops.logical_and(
                      values >= 0.0, values <= 1.0 - stats.SATURATION_THRESHOLD), "float32"))}
        if gradients is not None and gradients.get(path):
            result["gradient_norm"] = ops.sqrt(sum(
                ops.sum(ops.square(stats.flat(g))) for g in gradients[path].values()))
        kernel = weights.get(path, {}).get("kernel")
        if kernel is not None and len(kernel.shape) >= 2:
            result["kernel_mean_square"] = ops.mean(ops.square(stats.flat(kernel)))
        results[path] = result
    return results


def _layer_stats(layer, result):
    numbers = stats.moments_to_stats(result["moments"], result["alive"])
    activation = _activation_name(layer)
    if activation in UNIT_SATURATING:  # saturated at 0 as well as at 1
        numbers["saturation"] += float(result["low"])
    numbers["gradient_norm"] = _float(result.get("gradient_norm"))
    numbers["weight_variance"] = None
    if "kernel_mean_square" in result:
        numbers["weight_variance"] = float(result["kernel_mean_square"]) * fans(layer)[0]
    return {"activation": activation, **numbers}


def _float(value):
    return None if value is None else float(value)


def _activation_name(layer):
    """The Keras name of what a layer applies last (`"relu"`), or `None` where it applies none."""
    name = type(layer).__name__
    if name in _ACTIVATION_LAYERS:
        return _ACTIVATION_LAYERS[name]
    function = getattr(layer, "activation", None)
    if callable(function):
        return getattr(function, "__name__", None)
    return None



# --- formatting -------------------------------------------------------------------


def _number(value, form="{:.3g}"):
    if value is None:
        return "-"
    return form.format(value) if math.isfinite(value) else str(value)


def _share(value):
    return "-" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _json_ready(value):
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
