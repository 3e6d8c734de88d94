"""The doctor's rules: from per-layer numbers to `Finding`s in plain words.

`findings(x, per_layer, selected)` turns what `keras_initcmp.doctor` measured (the
inputs, and per layer: its statistics, gradient norm and kernel variance) into
`Finding`s, each with the number behind it and a suggestion. What is looked at
(every threshold is a module constant below):

- signal by depth: among the layers of one *kind* (same class and activation, in
  call order), the geometric-mean factor by which the output std changes per layer
  (`signal-shrinking`, `signal-growing`), the first layer whose std is below
  `VANISHED_STD` (above `EXPLODED_STD`) times the first one's (`signal-vanished`,
  `signal-exploded`), and the depth at which, at that rate, the signal would leave
  float32's range (below its smallest normal number, `FLOAT32_TINY`, or above its
  largest);
- `dead-units`: units (the last axis) that are exactly 0 for every sample, the
  definition of keras-contrib's `DeadReluDetector`;
- `saturation`: tanh-like outputs with `|a| >= 0.99`, sigmoid-like ones also `<= 0.01`;
- `gradient-vanishing`, `gradient-exploding`: the gradient norm of the first layer
  with trainable weights over the last one's (with `y` only);
- `nonfinite`: NaN or Inf in a layer's output;
- `input-scale`: input features whose stds span more than `INPUT_SCALE_SPAN`
  (raw features of different units: the breast-cancer data's span 1e5).

Scheme advice: for an activation, the registry scheme whose `χ₁` (the mean squared
singular value of a layer's Jacobian, `keras_initcmp.schemes.theory.chi1`) is closest to 1,
the edge of chaos, where both the signal and the gradients keep their size through
depth: `he` for ReLU, `xavier` for tanh (and linear, SELU).
"""

import dataclasses
import functools
import math

import keras
import numpy as np

from keras_initcmp import schemes
from keras_initcmp.schemes import theory
from keras_initcmp.measurement.recording import variable_names

__all__ = ["findings", "Finding", "suggest_scheme", "fans", "LEVELS", "SATURATING",
           "SYMMETRIC_SATURATING", "UNIT_SATURATING"]

LEVELS = ("info", "warning")
"""Finding levels, mildest first."""

SIGNAL_FACTOR = 1.25
"""A per-layer std factor outside `[1/SIGNAL_FACTOR, SIGNAL_FACTOR]` is a trend."""
SIGNAL_SPAN = 10.0
"""A trend is a warning once the std has changed by more than this over the layers of its kind (an info below)."""
MIN_DEPTH = 3
"""Fewest layers of one kind for a trend in the signal to be measured."""
VANISHED_STD = 1e-3
"""`signal-vanished`: a layer's std below this times the first layer of its kind."""
EXPLODED_STD = 1e3
"""`signal-exploded`: a layer's std above this times the first layer of its kind."""
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
"""float32's smallest normal number (1.2e-38): below it values lose precision, then become 0."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
DEAD_UNITS_SHARE = 0.5
"""`dead-units`: more than this share of a layer's units exactly 0 for every sample."""
SATURATION_SHARE = 0.5
"""`saturation`: more than this share of a saturating layer's outputs saturated."""
GRADIENT_RATIO = 100.0
"""`gradient-vanishing`/`-exploding`: first over last layer's gradient norm beyond this factor."""
INPUT_SCALE_SPAN = 100.0
"""`input-scale`: largest over smallest per-feature std of an input beyond this."""
SUGGESTION_DEPTH = 50
"""Layers of the length map iterated from `q = 1` before `χ₁` is read (the variance a deep net settles to)."""

SYMMETRIC_SATURATING = ("tanh", "hard_tanh", "softsign")
"""Activations that saturate at ±1."""
UNIT_SATURATING = ("sigmoid", "hard_sigmoid")
"""Activations that saturate at 0 and 1."""
SATURATING = SYMMETRIC_SATURATING + UNIT_SATURATING


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing the doctor found.

    Attributes:
        level: `"warning"` (likely to hurt training) or `"info"`.
        code: A stable identifier, e.g. `"signal-vanished"`, `"dead-units"`.
        layer: The layer's path (`"dense_3"`, `"backbone/block_1"`), or the input's
            name (`"input"`, `"input[1]"`, a dict key) for `input-scale`.
        value: The number behind the finding (a share, factor or ratio; see `message`).
        message: What was found, in plain words, with its numbers.
        suggestion: What to try.
        details: Further numbers (e.g. `{"layers": {path: share}}`), JSON-ready.
    """

    level: str
    code: str
    layer: str
    value: float
    message: str
    suggestion: str
    details: dict = dataclasses.field(default_factory=dict)


def findings(x, per_layer, selected):
    """Every `Finding` for inputs `x` and the layers' numbers, warnings first, then in
    layer order."""
    found = _input_findings(x)
    found += _signal_findings(per_layer, selected)
    found += _unit_findings(per_layer)
    found += _gradient_findings(per_layer, selected)
    found.sort(key=lambda finding: -LEVELS.index(finding.level))  # stable: layer order kept
    return found


def fans(layer):
    """`(fan_in, fan_out)` of a layer's kernel, Keras' convention (receptive field × channels)."""
    shape = tuple(variable_names(layer)["kernel"].shape)
    return int(np.prod(shape[:-1])), int(shape[-1])



def _input_findings(x):
    findings = []
    inputs = keras.tree.flatten(x)
    if isinstance(x, dict):
        names = sorted(x)  # keras.tree.flatten orders a dict by key
    else:
        names = ["input"] if len(inputs) == 1 else [f"input[{i}]" for i in range(len(inputs))]
    for name, array in zip(names, inputs):
        if not np.issubdtype(array.dtype, np.floating) or array.ndim < 2 or len(array) < 2:
            continue  # token ids, masks, single samples: no feature scale to compare
        features = np.asarray(array, np.float64).reshape(-1, array.shape[-1])
        spread = np.nanstd(np.where(np.isfinite(features), features, np.nan), axis=0)
        varying = np.flatnonzero(spread > 0)
        if len(varying) < 2:
            continue
        low, high = varying[np.argmin(spread[varying])], varying[np.argmax(spread[varying])]
        span = float(spread[high] / spread[low])
        if span > INPUT_SCALE_SPAN:
            findings.append(Finding(
                "warning", "input-scale", name, span,
                f"the input features' stds span {span:.3g}x, from {spread[low]:.3g} "
                f"(feature {low}) to {spread[high]:.3g} (feature {high}): the large "
                "features drown the small ones and set the first layer's scale",
                "standardize every feature to mean 0, std 1 with the training split's "
                "statistics (sklearn.preprocessing.StandardScaler, or a "
                "keras.layers.Normalization layer adapted on the training data)",
                {"min_std": float(spread[low]), "max_std": float(spread[high]),
                 "min_feature": int(low), "max_feature": int(high)}))
    return findings


def _kinds(per_layer, selected):
    """`{(class, activation): [path, ...]}` in call order."""
    kinds = {}
    for path in per_layer:
        kind = (type(selected[path]).__name__, per_layer[path]["activation"])
        kinds.setdefault(kind, []).append(path)
    return kinds


def _signal_findings(per_layer, selected):
    findings = []
    for (cls, activation), paths in _kinds(per_layer, selected).items():
        stds = [per_layer[path]["std"] for path in paths]
        if len(paths) < MIN_DEPTH or not all(math.isfinite(s) for s in stds) or stds[0] <= 0:
            continue
        kind = f"{cls} layers" + (f" with {activation}" if activation else "")
        last = max(stds[-1], FLOAT32_TINY / 2**23)  # the smallest float32 (subnormal)
        factor = (last / stds[0]) ** (1.0 / (len(stds) - 1))
        change = last / stds[0]
        if 1.0 / SIGNAL_FACTOR <= factor <= SIGNAL_FACTOR:
            continue
        shrinking = factor < 1.0
        limit = FLOAT32_TINY if shrinking else FLOAT32_MAX
        depth = 1 + math.log(limit / stds[0]) / math.log(factor)
        advice = _scheme_advice(paths, per_layer, selected)
        level = "warning" if max(change, 1.0 / change) > SIGNAL_SPAN else "info"
        findings.append(Finding(
            level, "signal-shrinking" if shrinking else "signal-growing", paths[0], factor,
            f"the output std of the {len(paths)} {kind} {'shrinks' if shrinking else 'grows'} "
            f"by {factor:.3g}x per layer, from {stds[0]:.3g} at {paths[0]} to {stds[-1]:.3g} at "
            f"{paths[-1]}; at this rate it would {'fall below' if shrinking else 'exceed'} "
            f"float32's {'smallest normal number' if shrinking else 'largest number'} "
            f"({limit:.3g}) at layer {depth:.0f} of this kind",
            advice, {"layers": paths, "first_std": stds[0], "last_std": stds[-1],
                     "float32_depth": depth}))
        bound = VANISHED_STD if shrinking else EXPLODED_STD
        crossed = next((i for i, s in enumerate(stds)
                        if (s < bound * stds[0] if shrinking else s > bound * stds[0])), None)
        if crossed is not None:
            path, ratio = paths[crossed], stds[crossed] / stds[0]
            findings.append(Finding(
                "warning", "signal-vanished" if shrinking else "signal-exploded", path, ratio,
                f"{path} is the first of the {kind} whose output std ({stds[crossed]:.3g}) is "
                f"{'below' if shrinking else 'above'} {bound:g} times the first one's "
                f"({stds[0]:.3g} at {paths[0]}): {ratio:.3g}x, {crossed} layers in",
                advice, {"std": stds[crossed], "first_std": stds[0], "depth": crossed + 1}))
    return findings


def _scheme_advice(paths, per_layer, selected):
    kernels = [path for path in paths if per_layer[path]["weight_variance"] is not None]
    activation = per_layer[paths[0]]["activation"] or "linear"
    if not kernels:
        return ("check the initializers of the layers before these, and normalize between "
                "layers (BatchNormalization, LayerNormalization)")
    fan_in, fan_out = fans(selected[kernels[len(kernels) // 2]])
    suggestion = suggest_scheme(activation, fan_in, fan_out)
    measured = float(np.mean([per_layer[path]["weight_variance"] for path in kernels]))
    if suggestion is None:
        return (f"these layers' kernels have sigma_w2 = mean(W^2) * fan_in = {measured:.3g}; "
                "scale them so the output std stays constant through depth (keras_initcmp.lsuv)")
    name, sigma_w2, chi = suggestion
    return (f"initialize the kernels with '{name}' "
            f"(keras_initcmp.initializers.get('{name}')): sigma_w2 = {sigma_w2:.3g} keeps "
            f"{activation}'s signal and gradients through depth (chi1 = {chi:.2f}); these "
            f"layers have sigma_w2 = mean(W^2) * fan_in = {measured:.3g}")


@functools.lru_cache(maxsize=None)
def suggest_scheme(activation, fan_in, fan_out):
    """The registry scheme closest to the edge of chaos for `activation`: `(name, σ_w², χ₁)`.

    For each scheme of `keras_initcmp.schemes` with a mean-field weight variance,
    `σ_w² = weight_variance(fan_in, fan_out)`; the length map is iterated
    `SUGGESTION_DEPTH` layers from `q = 1` (zero bias), and `χ₁` read there
    (`keras_initcmp.schemes.theory.chi1`). The scheme with `χ₁` nearest 1 (in ratio) wins;
    ties go to the earlier scheme in the registry. `None` for an activation
    `keras_initcmp.schemes.theory` does not know.

    Example:

    >>> suggest_scheme("relu", 64, 64)
    ('he', 2.0, 1.0)
    """
    if activation not in theory.ACTIVATIONS:
        return None
    best = None
    for name in schemes.names(include_data_dependent=False):
        scheme = schemes.get(name)
        if scheme.name != name or scheme.weight_variance is None:
            continue  # an alias, or no σ_w² form
        sigma_w2 = scheme.weight_variance(fan_in, fan_out)
        if sigma_w2 <= 0:
            continue
        q = 1.0
        for _ in range(SUGGESTION_DEPTH):
            q = theory.length_map(q, sigma_w2, activation)
            if not math.isfinite(q) or q > 1e12:
                break
        if not math.isfinite(q) or q > 1e12:
            continue
        chi = theory.chi1(sigma_w2, activation, q)
        if chi <= 0:
            continue
        distance = abs(math.log(chi))
        if best is None or distance < best[0] - 1e-9:
            best = (distance, name, sigma_w2, chi)
    return None if best is None else best[1:]


def _unit_findings(per_layer):
    findings = []
    computing = {path: numbers for path, numbers in per_layer.items()
                 if numbers["weight_variance"] is not None or numbers["activation"] is not None}
    dead = {path: numbers["dead_units"] for path, numbers in computing.items()
            if numbers["dead_units"] > DEAD_UNITS_SHARE}
    if dead:
        path, share = next(iter(dead.items()))
        more = f"; {len(dead) - 1} more layers over {DEAD_UNITS_SHARE:.0%}" if len(dead) > 1 else ""
        findings.append(Finding(
            "warning", "dead-units", path, share,
            f"{share:.0%} of {path}'s units are exactly 0 for every sample of the batch "
            f"(dead: they pass no signal and get no gradient){more}",
            "look at the layer's bias (a large negative bias keeps a ReLU off) and the input's "
            "scale; zero biases, 'he' kernels, or leaky_relu keep units alive",
            {"layers": dead}))
    saturated = {path: numbers["saturation"] for path, numbers in computing.items()
                 if numbers["activation"] in SATURATING
                 and numbers["saturation"] > SATURATION_SHARE}
    if saturated:
        path, share = next(iter(saturated.items()))
        activation = per_layer[path]["activation"]
        ends = "|a| >= 0.99" if activation in SYMMETRIC_SATURATING else "a <= 0.01 or a >= 0.99"
        more = f"; {len(saturated) - 1} more layers over {SATURATION_SHARE:.0%}" \
            if len(saturated) > 1 else ""
        findings.append(Finding(
            "warning", "saturation", path, share,
            f"{share:.0%} of {path}'s {activation} outputs are saturated ({ends}), where the "
            f"gradient is almost 0{more}",
            "smaller kernels: 'xavier' (sigma_w2 = 1) for tanh; and standardized inputs",
            {"layers": saturated}))
    nonfinite = {path: numbers["nonfinite"] for path, numbers in per_layer.items()
                 if numbers["nonfinite"] > 0}
    if nonfinite:
        path, count = next(iter(nonfinite.items()))
        findings.append(Finding(
            "warning", "nonfinite", path, float(count),
            f"{path} is the first layer with NaN or Inf in its output ({count} values)",
            "look for overflow: a too large initialization, unscaled inputs, or a log/division "
            "of 0 in a custom layer", {"layers": nonfinite}))
    return findings


def _gradient_findings(per_layer, selected):
    paths = [path for path, numbers in per_layer.items() if numbers["gradient_norm"] is not None]
    if len(paths) < 2:
        return []
    first, last = per_layer[paths[0]]["gradient_norm"], per_layer[paths[-1]]["gradient_norm"]
    if not (math.isfinite(first) and math.isfinite(last)) or last <= 0:
        return []
    ratio = first / last
    if 1.0 / GRADIENT_RATIO <= ratio <= GRADIENT_RATIO:
        return []
    vanishing = ratio < 1.0
    activations = [per_layer[path]["activation"] for path in paths]
    activation = max(set(activations), key=activations.count) or "linear"
    kernel_paths = [p for p in paths if per_layer[p]["activation"] == activation
                    and per_layer[p]["weight_variance"] is not None] or paths
    return [Finding(
        "warning", "gradient-vanishing" if vanishing else "gradient-exploding", paths[0], ratio,
        f"the gradient norm of the first layer with trainable weights, {paths[0]} ({first:.3g}), "
        f"is {ratio:.3g}x that of the last, {paths[-1]} ({last:.3g}): the early layers "
        f"{'barely learn' if vanishing else 'take steps far too large'}",
        _scheme_advice(kernel_paths, per_layer, selected),
        {"first_norm": first, "last_norm": last, "last_layer": paths[-1]})]
