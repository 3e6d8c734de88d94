"""Re-initialization: every kernel of a built model drawn afresh from a scheme.

`reinitialize` (public, re-exported by `keras_initcmp.driver`) and the pieces the
driver's runs share: `redraw_kernels` (in place, kernel seeds derived from one seed
and each kernel's position), `clone` (a fresh copy where Keras can make one) and
`check_schemes` (scheme names against the registry).
"""

import itertools

import keras

from keras_initcmp import initializers
from keras_initcmp import schemes as registry

__all__ = ["reinitialize", "redraw_kernels", "clone", "check_schemes", "KERNEL_NAMES"]


def reinitialize(model, scheme, seed=0):
    """`model` with every kernel drawn afresh from `scheme`, and its biases.

    Works on any Keras model: the kernels are found among all of its variables,
    nested models and blocks included, by their Keras names (`kernel`,
    `depthwise_kernel`, `pointwise_kernel`, `recurrent_kernel`, `embeddings`);
    `bias` variables get the scheme's own bias where the registry has one
    (`pytorch-default`: `U(±1/√fan_in)`, the fan-in of the layer's kernel) and are set
    to 0 otherwise, as in the article; everything else
    (normalization, ...) keeps its own initial value. Each kernel gets its own
    initializer instance with its own seed, derived from `seed` and the kernel's
    position, so the same `seed` gives every scheme the same underlying random
    draws (`xavier` and `he` differ only by their scale).

    Args:
        model: A built Keras model.
        scheme: One of `keras_initcmp.initializers.SCHEMES`.
        seed: Non-negative int.

    Returns:
        A new, uncompiled model with the same architecture and layer names, where
        Keras can clone the model (Sequential, functional, keras_hub); a model it
        cannot clone (a subclassed model without `get_config`) is re-initialized in
        place and returned.
    """
    check_schemes((scheme,), registry.names(include_data_dependent=False))
    net = clone(model)
    redraw_kernels(net, scheme, seed)
    return net


KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel",
                "embeddings")
"""Names of the weight matrices a scheme replaces (Dense, Conv*, SeparableConv*,
DepthwiseConv*, RNN cells, EinsumDense, Embedding)."""


# Which of a layer's kernels a bias belongs with (its fan-in is the bias's): the
# plain kernel, else a separable conv's pointwise one, else the first found.
_BIAS_KERNEL_PRIORITY = {"kernel": 0, "pointwise_kernel": 1}


def redraw_kernels(model, scheme, seed):
    """In place: every kernel of `model` from `scheme` (seeded by position); every bias
    from the scheme's registry entry (`Scheme.bias(kernel_seed, kernel_shape)`) where it
    has one and the bias's layer has a kernel, else zero."""
    entry = registry.get(scheme)
    position = itertools.count()
    variables = list(model.weights)
    kernels = {}  # owner path -> (priority, kernel shape, kernel seed)
    for variable in variables:
        if variable.name in KERNEL_NAMES:
            kernel_seed = initializers.derive_seed(seed, next(position))
            initializer = initializers.get(scheme, seed=kernel_seed)
            variable.assign(initializer(tuple(variable.shape), dtype=variable.dtype))
            found = (_BIAS_KERNEL_PRIORITY.get(variable.name, 2), tuple(variable.shape),
                     kernel_seed)
            owner = _owner(variable)
            if owner not in kernels or found[0] < kernels[owner][0]:
                kernels[owner] = found
    for variable in variables:
        if variable.name != "bias":
            continue
        found = kernels.get(_owner(variable))
        shape = tuple(variable.shape)
        if entry.bias is not None and found is not None:
            _, kernel_shape, kernel_seed = found
            variable.assign(entry.bias(kernel_seed, kernel_shape)(shape, dtype=variable.dtype))
        else:
            variable.assign(keras.ops.zeros(shape, dtype=variable.dtype))


def _owner(variable):
    """The path of the layer a variable belongs to (`model/dense_1` of `model/dense_1/bias`)."""
    return getattr(variable, "path", variable.name).rpartition("/")[0]


def clone(model):
    """A fresh copy of `model` where Keras can make one, else `model` itself."""
    try:
        copy = keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError, AttributeError, KeyError):
        return model
    if not copy.built:
        return model
    return copy


def check_schemes(schemes, allowed=None):
    """`schemes` (a non-empty list of names from `allowed`, default every registry
    name) as a tuple without repeats, or a `ValueError` naming the first unknown one."""
    allowed = registry.names() if allowed is None else tuple(allowed)
    if isinstance(schemes, str) or not schemes:
        raise ValueError(f"Argument `schemes` must be a non-empty list of names from "
                         f"{allowed}. Received: schemes={schemes!r}")
    unknown = [scheme for scheme in schemes if scheme not in allowed]
    if unknown:
        raise ValueError(f"Argument `schemes` must name schemes from {allowed}. "
                         f"Received: unknown {unknown[0]!r} in schemes={list(schemes)!r}")
    return tuple(dict.fromkeys(schemes))
