"""Base shapes: which dimensions of each variable grow with width, and by how much.

μP (Yang et al. 2022) treats a weight by how many of its two dimensions, fan-in and
fan-out, are "infinite" (grow with the model's width): both (hidden, matrix-like),
only the fan-out (input-like: an input layer's kernel, every bias and normalization
vector of a width-sized layer), only the fan-in (output-like: the readout), or none
(scalar-like: left as it is). `microsoft/mup` finds them by comparing each parameter's
shape with a base model's (`set_base_shapes(model, base, delta)`); `base_shapes` does the
same for a Keras model: a dimension is infinite where it differs between `base` and
`delta` (a third model at another width, needed only when `model` has the base width),
and its width multiplier is `model`'s size over `base`'s.

Fan-in and fan-out axes by layer: Dense `(in, out)`; EinsumDense from its equation (the
kernel's letters shared with the input are the fan-in); Conv `(*window, in, out)` (the
window never grows); ConvTranspose `(*window, out, in)`; DepthwiseConv
`(*window, channels, multiplier)` (vector-like); Embedding `(vocabulary, dim)`
(input-like); any other variable (bias, LayerNorm scale) has only fan-out axes.
MultiHeadAttention: its projections are EinsumDense layers; `attention_scale` is the
factor by which μP's attention logits `q·k / d` differ from Keras' fixed `q·k / √d`,
`√(d_base / d)` for key dimension `d`. Keras does not let that scale be set (it is the
private `_inverse_sqrt_key_dim`), so `keras_initcmp.mup` folds it into the query
projection: its kernel's initial scale and learning rate (see `keras_initcmp.mup.init`).

Example:

>>> shapes = base_shapes(build(1024), build(64), delta=build(128))
>>> shapes["dense_1/kernel"].kind
'hidden'

Paper: G. Yang, E. J. Hu et al., "Tensor Programs V: Tuning Large Neural Networks via
Zero-Shot Hyperparameter Transfer", 2022 (arXiv 2203.03466), Table 3 and Appendix J.
"""

import dataclasses
import math

import keras

__all__ = ["VariableShape", "base_shapes", "KINDS"]

KINDS = ("input", "hidden", "output", "scalar")
"""The four kinds of variable, by which of fan-in and fan-out grow with width."""


@dataclasses.dataclass(frozen=True)
class VariableShape:
    """One variable's base shape: its kind and its width multipliers.

    Attributes:
        path: The variable's Keras path (`dense_1/kernel`).
        kind: One of `KINDS`.
        fan_in, fan_out: The variable's fans in `model`.
        fan_in_mult, fan_out_mult: `model`'s fan over `base`'s (1 for a finite fan).
        attention_scale: `√(d_base / d)` for a MultiHeadAttention query projection's
            variables (μP's `1/d` logits folded in), else 1.
        readout: `True` for a `MuReadout` kernel, whose layer applies the output
            multiplier itself (nothing is folded into its weights).
        trainable: Whether an optimizer updates it (BatchNorm's moving statistics not).
    """

    path: str
    kind: str
    fan_in: int
    fan_out: int
    fan_in_mult: float = 1.0
    fan_out_mult: float = 1.0
    attention_scale: float = 1.0
    readout: bool = False
    trainable: bool = True


def base_shapes(model, base, delta=None):
    """`{variable path: VariableShape}` of `model`'s weights, relative to `base`.

    Args:
        model: A built Keras model.
        base: The same architecture at the base width (where μP equals SP).
        delta: The same architecture at another width than `base`'s, to tell which
            dimensions grow with width; default `None` uses `model` (then `model` must
            differ from `base` in width).

    Returns:
        A dict in the order of `model.weights`.

    Raises:
        ValueError: the models do not have the same variables (count, ranks), or a
            model is not built.
    """
    delta = model if delta is None else delta
    for name, net in (("model", model), ("base", base), ("delta", delta)):
        if not isinstance(net, keras.Model) or not net.built:
            raise ValueError(f"Argument `{name}` must be a built Keras model. "
                             f"Received: {name}={net!r:.200}")
    described = [_describe(net) for net in (model, base, delta)]
    counts = [len(d) for d in described]
    if len(set(counts)) != 1:
        raise ValueError(f"Arguments `model`, `base` and `delta` must be the same "
                         f"architecture at different widths. Received models with "
                         f"{counts} variables")
    shapes = {}
    for mine, theirs, other in zip(*described):
        if len(mine["shape"]) != len(theirs["shape"]) or mine["axes"] != theirs["axes"]:
            raise ValueError(f"Arguments `model` and `base` must be the same architecture: "
                             f"variable {mine['path']} has shape {mine['shape']} in `model` "
                             f"and {theirs['shape']} in `base`")
        shapes[mine["path"]] = _shape(mine, theirs, other)
    return shapes


def _shape(mine, base, delta):
    infinite = [a != b for a, b in zip(base["shape"], delta["shape"])]
    fan_in_axes, fan_out_axes = mine["axes"]

    def fan(axes, shape):
        return math.prod(shape[axis] for axis in axes)

    def mult(axes):
        grows = any(infinite[axis] for axis in axes)
        return grows, (fan(axes, mine["shape"]) / fan(axes, base["shape"]) if grows else 1.0)

    in_grows, in_mult = mult(fan_in_axes)
    out_grows, out_mult = mult(fan_out_axes)
    kind = {(True, True): "hidden", (False, True): "input", (True, False): "output",
            (False, False): "scalar"}[in_grows, out_grows]
    scale = 1.0
    if mine["key_dim"] is not None and mine["key_dim"] != base["key_dim"]:
        scale = math.sqrt(base["key_dim"] / mine["key_dim"])
    return VariableShape(mine["path"], kind, fan(fan_in_axes, mine["shape"]),
                         fan(fan_out_axes, mine["shape"]), in_mult, out_mult, scale,
                         mine["readout"] and kind == "output", mine["trainable"])


def _describe(model):
    """Per variable of `model.weights`, in order: path, shape, (fan-in axes, fan-out
    axes), the key dim of the MultiHeadAttention whose query it is, readout flag."""
    owners = {}  # id(variable) -> (layer, key_dim of a query projection or None)
    for layer, key_dim in _layers_innermost_first(model):
        for variable in layer.weights:
            owners.setdefault(id(variable), (layer, key_dim))
    described = []
    for variable in model.weights:
        layer, key_dim = owners.get(id(variable), (None, None))
        shape = tuple(int(size) for size in variable.shape)
        described.append({"path": variable.path, "shape": shape,
                          "axes": _axes(layer, variable, shape), "key_dim": key_dim,
                          "readout": getattr(layer, "mup_readout", False),
                          "trainable": bool(variable.trainable)})
    return described


def _layers_innermost_first(model):
    """Every layer under `model`, each after its own sublayers, with the key dim of the
    MultiHeadAttention whose query projection it is (else None)."""
    ordered, seen = [], set()

    def visit(layer, key_dim):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        children = _children(layer)
        for child in children:
            visit(child, layer.key_dim if isinstance(layer, keras.layers.MultiHeadAttention)
                  and child is layer.query_dense else None)
        ordered.append((layer, key_dim))

    visit(model, None)
    return ordered


def _children(layer):
    # Public attributes only: a model's `layers`, MultiHeadAttention's projections. The
    # variables of a custom layer's own sublayers get the Dense-like default axes.
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return [layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense]
    return list(getattr(layer, "layers", None) or [])


def _axes(layer, variable, shape):
    """`(fan-in axes, fan-out axes)` of `variable`, a weight of `layer`."""
    rank = len(shape)
    every = tuple(range(rank))
    if variable.name not in ("kernel", "embeddings", "depthwise_kernel", "pointwise_kernel") \
            or rank < 2:
        return (), every  # a vector (bias, normalization): its size is its fan-out
    if isinstance(layer, keras.layers.EinsumDense) and variable.name == "kernel":
        inputs, kernel = layer.get_config()["equation"].split("->")[0].split(",")
        fan_in = tuple(axis for axis, letter in enumerate(kernel) if letter in inputs)
        return fan_in, tuple(axis for axis in every if axis not in fan_in)
    if variable.name == "depthwise_kernel":
        return every[:-2], every[-2:]
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                          keras.layers.Conv3DTranspose)):
        return every[:-2] + (rank - 1,), (rank - 2,)
    return every[:-1], (rank - 1,)  # Dense, Conv*, Embedding, pointwise
