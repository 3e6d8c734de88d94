"""μP's initialization: a registry scheme's draws, rescaled per variable from its base shape.

With a scheme whose kernel variance is `σ_w² / fan_in` (`he`, `xavier`,
`pytorch-default`), input-like and hidden weights are already what μP asks (Table 3 of
the paper: variance `∝ 1/fan_in`), and the readout's output multiplier `1/m` (`m` its
fan-in's width multiplier), folded into a plain `Dense` readout's kernel, makes its
standard deviation `σ_w / √fan_in · 1/m`. A MultiHeadAttention query projection's
variables are also scaled by `√(d_base / d)`: μP's attention logits `q·k / d`, folded into
`q` (Keras' scale `1/√d` cannot be set). At the base width every factor is 1, so μP's
weights are SP's exactly, draw for draw: both come from `redraw_kernels` with the same
seed, and the factors only multiply.

Example:

>>> shapes = mup.base_shapes(model, base, delta)
>>> mup.initialize(model, shapes, scheme="he", seed=0)

Paper: G. Yang, E. J. Hu et al., "Tensor Programs V", 2022 (arXiv 2203.03466), Table 3
and Table 8 (the `MuReadout` form).
"""

import keras

from keras_initcmp import schemes as registry

__all__ = ["initialize", "init_multipliers", "check_scheme", "MUP_SCHEMES"]


def _fan_in_schemes():
    """Registry schemes whose kernel variance is a constant over fan-in (checked at three
    fan pairs, both fans varied), as μP's rules assume."""
    found = []
    for name in registry.names(include_data_dependent=False):
        variance = registry.get(name).weight_variance
        if variance is None:
            continue
        values = {round(variance(a, b), 12) for a, b in ((64, 64), (128, 256), (256, 32))}
        if len(values) == 1 and values.pop() > 0:
            found.append(name)
    return tuple(found)


MUP_SCHEMES = _fan_in_schemes()
"""Scheme names μP can start from: variance `σ_w² / fan_in`, `σ_w²` constant and > 0."""


def check_scheme(scheme):
    """`scheme`, or a `ValueError` when it is not one of `MUP_SCHEMES`."""
    if scheme not in MUP_SCHEMES:
        raise ValueError(f"Argument `scheme` must be a scheme with variance proportional "
                         f"to 1/fan_in, one of {MUP_SCHEMES}. Received: scheme={scheme!r}")
    return scheme


def init_multipliers(shapes):
    """`{path: factor}` on each variable's SP standard deviation (1 where unchanged).

    Formula: output-like (a plain readout) `1 / fan_in_mult`; times `attention_scale`
    (a query projection's `√(d_base / d)`); 1 otherwise.
    """
    factors = {}
    for path, shape in shapes.items():
        factor = shape.attention_scale
        if shape.kind == "output" and not shape.readout:
            factor /= shape.fan_in_mult
        factors[path] = factor
    return factors


def initialize(model, shapes, scheme="he", seed=0, readout_zero_init=False):
    """In place: `model`'s kernels from `scheme` (as SP) times μP's factors.

    Args:
        model: A built Keras model.
        shapes: `keras_initcmp.mup.base_shapes(model, base, delta)`.
        scheme: One of `MUP_SCHEMES` (default `"he"`).
        seed: Non-negative int: the same seed gives SP and μP the same draws.
        readout_zero_init: Start output-like kernels at zero (default False), `mup`'s
            other choice: the readout then learns from 0 at every width.

    Returns:
        `model`.

    Raises:
        ValueError: `scheme` is not one of `MUP_SCHEMES`; `shapes` are not `model`'s.
    """
    # Imported here: reinit loads the initializers and the registry, already loaded by
    # `import keras_initcmp`, but keeps this module's import light for saved files.
    from keras_initcmp.reinit.redraw import redraw_kernels

    check_scheme(scheme)
    paths = [variable.path for variable in model.weights]
    if list(shapes) != paths:
        raise ValueError(f"Argument `shapes` must be base_shapes of `model`, with its "
                         f"variables {paths[:4]}... Received: shapes for {list(shapes)[:4]}...")
    redraw_kernels(model, scheme, seed)
    factors = init_multipliers(shapes)
    for variable in model.weights:
        shape = shapes[variable.path]
        if readout_zero_init and shape.kind == "output" and variable.name == "kernel":
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
        elif factors[variable.path] != 1.0:
            variable.assign(variable * factors[variable.path])
    return model
