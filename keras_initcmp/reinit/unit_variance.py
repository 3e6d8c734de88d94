"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2015) for Keras 3.

A data-dependent initialization: it needs a batch of real inputs, so it runs on a
built model after construction and before training. It rescales kernels only; it
adds no layers and no state, so the model saves and trains as before.

Which variance. The paper's Algorithm 1 normalizes `Var(B_L)`, "the output blob of
layer L", where L is a convolution or inner-product layer; Caffe keeps the
nonlinearity in a separate layer, and the reference code measures the blob before it
(`var_before_relu_if_inplace=True`, `forward(end=L)` in `ducha-aiki/LSUVinit`; the
PyTorch port hooks the `Conv2d`/`Linear` modules themselves). Keras fuses the
activation into `Dense` and `Conv*`, so `lsuv` measures the same quantity, the
layer's output *before* its activation, `z = x W + b`: the layer is called with its
activation switched to linear for the measurement. Measuring after a fused activation
(what LSUV-keras does) would make the target unreachable for bounded activations
(`Var(tanh(z)) < 1`, `Var(sigmoid(z)) <= 1/4`): the loop would drive every unit into
saturation and stop only at `max_iter`.
"""

import math
import numbers
import warnings

import keras
import numpy as np

from keras_initcmp import checks
from keras_initcmp.initializers import Orthogonal
from keras_initcmp.measurement.recording import LayerRecorder, select_layers
from keras_initcmp.measurement.stats import as_input_tensors

__all__ = ["lsuv", "MIN_SAMPLES"]

MIN_SAMPLES = 2
"""Fewest samples `lsuv` accepts. The variance is pooled over every element of a
layer's output (samples × units × positions, as in the reference code), but with one
sample it measures only the spread across units of a single input: the kernel would be
fitted to one point, not to the data. Use a few hundred samples where you can."""


def lsuv(model, x_batch, tol=0.1, max_iter=10, layers=None, seed=None, orthogonal=True):
    """Layer-sequential unit variance: rescale each kernel until its output has variance 1 on data.

    First every selected kernel is replaced by an orthogonal matrix (Saxe et al.),
    each from `Orthogonal(seed=seed + i)` for the i-th selected layer. Then, layer by
    layer in model order, with `z_L = x_L W_L + b_L` the layer's output before its
    activation on `x_batch` (the inputs `x_L` already reflect the earlier, finished
    layers):

        while |Var(z_L) - 1| >= tol and iterations < max_iter:
            W_L <- W_L / sqrt(Var(z_L))

    `Var` is the population variance over all elements of `z_L`. With a zero bias,
    `z_L` is linear in `W_L`, so one step gives `Var(z_L) = 1` up to rounding; a
    bias that varies across units needs more steps, and one whose own variance
    (roughly) exceeds `1 + tol` cannot be compensated by the kernel (the layer is
    reported as not converged). Biases, and layers without a `kernel` (pooling,
    normalization, dropout, activations...), are left alone.

    Suits any activation — ReLU, leaky ReLU, tanh, sigmoid, and those with no
    analytical gain (the paper's maxout): the scale comes from the data, not from a
    formula for `f`, so there is nothing to derive per nonlinearity (the paper's
    argument). Normalizing before the activation keeps tanh and sigmoid units out
    of saturation.

    Each iteration calls the layer once on its stored inputs; each layer's inputs
    come from one recorded forward pass of the model. The model
    is changed in place, in inference mode (dropout off).

    Args:
        model: Any Keras model (Sequential, functional, subclassed, nested: layers
            inside nested models are processed, named by their path). An unbuilt model is
            built by calling it on `x_batch`.
        x_batch: The model's inputs: an array, or a list/dict of arrays for several
            inputs, with at least `MIN_SAMPLES` (2) samples — the paper uses a
            training mini-batch; a few hundred samples give a stable variance.
        tol: Tolerance on `|Var - 1|`, a positive number. Defaults to `0.1`.
        max_iter: Most rescaling steps per layer, a positive int. Defaults to `10`.
        layers: Names of the layers to initialize, each with a `kernel`, or `None`
            for every layer that has one. Defaults to `None`.
        seed: An int or `None`, for the orthogonal pre-initialization. Defaults to
            `None`.
        orthogonal: Whether to pre-initialize with orthogonal kernels (the paper's
            LSUV); `False` keeps the current kernels and only rescales them (the
            paper's "LSUV on top of" other inits). Defaults to `True`.

    Returns:
        `{layer_path: {"iterations", "variance", "converged"}}` in layer order, for
        each processed layer: rescaling steps taken, `Var(z_L)` on `x_batch` at the
        end, and whether `|Var - 1| < tol`. A layer that does not converge, or whose
        output is dead (variance 0) or non-finite, gives a `UserWarning` and is left
        as it is; the next layers are still processed.

    Example:

    >>> model = keras.Sequential([keras.Input((784,)),
    ...                           keras.layers.Dense(256, activation="relu"),
    ...                           keras.layers.Dense(10)])
    >>> record = lsuv(model, x_train[:512], seed=0)
    >>> record["dense"]["converged"], record["dense"]["iterations"]
    (True, 1)

    Reference: Mishkin & Matas, "All you need is a good init", ICLR 2016
    (arXiv:1511.06422, 2015), Algorithm 1.
    """
    tol = checks.positive_number("tol", tol)
    max_iter = checks.positive_int("max_iter", max_iter)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"Argument `seed` must be an int or None. Received: seed={seed!r}")
    x = as_input_tensors(x_batch, "x_batch")
    samples = keras.tree.flatten(x)[0].shape[0]
    if samples < MIN_SAMPLES:
        raise ValueError(
            f"Argument `x_batch` must hold at least {MIN_SAMPLES} samples: LSUV scales "
            "each layer to unit variance over the batch, and one sample cannot show "
            f"how the data vary. Received: x_batch with {samples} sample(s)"
        )
    if not model.built:
        model(x, training=False)
    targets = _kernel_layers(model, layers)
    if orthogonal:
        for index, layer in enumerate(targets.values()):
            initializer = Orthogonal(seed=None if seed is None else int(seed) + index)
            layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
    records = {}
    if targets:
        # A loop, not a comprehension: `_normalize`'s warnings point at the caller.
        for (path, layer), inputs in zip(targets.items(), _layer_inputs(model, targets, x)):
            records[path] = _normalize(layer, inputs, tol, int(max_iter))
    return records


def _kernel_layers(model, layers):
    """`{path: layer}` of the selected layers that own a kernel variable, in model order."""
    selected = select_layers(model, layers)
    targets = {path: layer for path, layer in selected.items()
               if isinstance(getattr(layer, "kernel", None), keras.Variable)}
    if layers is not None and len(targets) != len(selected):
        without = [path for path in selected if path not in targets]
        raise ValueError(
            "Argument `layers` must name layers with a `kernel` (Dense, Conv...). "
            f"Received: layers={list(layers)!r}, where {without!r} have none"
        )
    return targets


def _layer_inputs(model, targets, x):
    """Yields each target layer's input on `x`, computed after the previous target is done.

    Lazy on purpose: a layer's inputs depend on the kernels before it, so they are
    read only once those layers are final: one recorded forward pass per target
    (any model type: `keras_initcmp.measurement.recording`).
    """
    for path, layer in targets.items():
        recorder = LayerRecorder({path: layer}, record="inputs")
        inputs, _ = recorder.run(model, x)
        yield inputs[path]


def _pre_activation(layer, inputs):
    """The layer's output with its fused activation switched off for this one call."""
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return layer(inputs, training=False)
    # object.__setattr__ bypasses Keras' attribute tracking: nothing is added to or
    # removed from the layer's tracked state by the temporary swap.
    object.__setattr__(layer, "activation", keras.activations.linear)
    try:
        return layer(inputs, training=False)
    finally:
        object.__setattr__(layer, "activation", activation)


def _variance(layer, inputs):
    values = keras.ops.convert_to_numpy(_pre_activation(layer, inputs))
    return float(np.var(values, dtype=np.float64))


def _normalize(layer, inputs, tol, max_iter):
    """Algorithm 1's inner loop for one layer; returns its record."""
    variance = _variance(layer, inputs)
    iterations = 0
    while abs(variance - 1.0) >= tol and iterations < max_iter:
        if not (math.isfinite(variance) and variance > 0.0):
            break
        scale = 1.0 / math.sqrt(variance)
        if not math.isfinite(scale):
            break
        layer.kernel.assign(layer.kernel * scale)
        variance = _variance(layer, inputs)
        iterations += 1
    converged = abs(variance - 1.0) < tol
    if not math.isfinite(variance):
        warnings.warn(
            f"LSUV: layer '{layer.name}' has a non-finite output (NaN or Inf) on "
            "`x_batch`; its kernel is left as it is. Check the inputs and the layers "
            "before it.", stacklevel=3)
        converged = False
    elif variance == 0.0 or (iterations < max_iter and not converged):
        warnings.warn(
            f"LSUV: layer '{layer.name}' is dead: its output has variance "
            f"{variance:.3g} on `x_batch` (are its inputs all zero, e.g. after dead "
            "ReLUs?), so no kernel scale can make it 1; its kernel is left as it is.",
            stacklevel=3)
        converged = False
    elif not converged:
        warnings.warn(
            f"LSUV: layer '{layer.name}' did not reach a variance within tol={tol:g} "
            f"of 1 in max_iter={max_iter} iterations (variance {variance:.4g}); a bias "
            "that varies across units cannot be scaled away by the kernel. Going on "
            "with the next layer.", stacklevel=3)
    return {"iterations": iterations, "variance": variance, "converged": converged}
