"""Which layers of a model are observed, by path, and their outputs recorded in one forward pass.

One mechanism for every model type and backend: the selected layers' `call` is
wrapped for the duration of one ordinary forward pass of the model (eager, inside
`tf.function`, inside `jax.jit`, under `torch.no_grad`), and each wrapper appends
the layer's output to a list; on exit every layer is restored. A subclassed
model's `call` is Python that Keras never sees as a graph, so reading
`layer.output` (the functional approach) cannot serve it; recording can, and it
serves functional, Sequential, nested and keras_hub models in the same way.

Paths (DESIGN.md, "Which layers"): a top-level layer is `name`; a layer inside a
nested model is `outer/inner`. The default selection expands nested *models*
recursively and keeps every other layer (a transformer block, a custom layer with
sublayers) as one unit; input layers are skipped.
"""

import contextlib
import fnmatch

import keras

__all__ = ["layer_paths", "select_layers", "LayerRecorder", "ensure_built"]


def ensure_built(model, x):
    """Build a model that is not built yet (a subclassed model before `fit`'s first step)
    by one eager call on the first sample of `x`: Keras builds it inside the first
    compiled call otherwise, and the outputs recorded there belong to its scratch graph."""
    if not model.built:
        model(keras.tree.map_structure(lambda array: array[:1], x), training=False)


def layer_paths(model):
    """`{path: layer}` of every observable layer of `model`, nested models expanded, in order."""
    paths = {}
    seen = set()

    def visit(container, prefix):
        for layer in _sublayers(container):
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            path = f"{prefix}{layer.name}"
            if isinstance(layer, keras.Model):
                visit(layer, f"{path}/")
            else:
                paths[path] = layer

    visit(model, "")
    return paths


def _sublayers(model):
    # `Model.layers` is the functional graph's layers for a functional or Sequential
    # model and the tracked sublayers for a subclassed one.
    return list(model.layers)


def select_layers(model, layers=None):
    """`{path: layer}` to observe: all of `layer_paths(model)`, or those `layers` names.

    Args:
        model: A Keras model.
        layers: `None`, or a list of layer names, paths and shell-style patterns
            (`"bert_backbone/transformer_layer_*"`); a name matches a layer's own
            name at any depth, a path or pattern its whole path.

    Raises:
        ValueError: `layers` is not a list of strings, or one of them matches nothing
            (the message lists the available paths).
    """
    available = layer_paths(model)
    if layers is None:
        return available
    if isinstance(layers, str) or not layers or not all(isinstance(n, str) for n in layers):
        raise ValueError(
            "Argument `layers` must be a non-empty list of layer names, paths or patterns, "
            f"or None. Received: layers={layers!r}")
    chosen = set()
    for wanted in layers:
        matches = {path for path in available if _matches(path, wanted)}
        if not matches:
            raise ValueError(
                f"Argument `layers` must name layers of model '{model.name}', one or more of "
                f"{tuple(available)}. Received: {wanted!r} in layers={list(layers)!r}")
        chosen |= matches
    return {path: layer for path, layer in available.items() if path in chosen}


def _matches(path, wanted):
    name = path.rsplit("/", 1)[-1]
    return path == wanted or name == wanted or fnmatch.fnmatchcase(path, wanted)


class LayerRecorder:
    """Records the outputs of the selected layers during one forward pass.

    A layer called several times in one pass (a shared layer) contributes its first
    call's output. A layer whose output is a structure (an RNN with
    `return_state=True`) contributes its first tensor, the layer's main output by
    Keras' convention.

    Args:
        layers: `{path: layer}` as from `select_layers`.
        record: `"outputs"` (default), or `"inputs"`: each layer's first argument
            (what LSUV rescales a layer on).
        reduce: `None` (default), or a function of one recorded tensor that is
            applied where the layer produces it, inside the wrapper: the pass then
            keeps only `reduce`'s (small) result, not the full tensor, so each
            output is summarized while it is hot in cache and may be freed as
            soon as the next layer has read it (the callback's snapshot).

    Example:

    >>> recorder = LayerRecorder(select_layers(model))
    >>> with recorder.recording() as outputs:
    ...     model(x, training=False)
    >>> outputs["dense"]
    """

    def __init__(self, layers, record="outputs", reduce=None):
        if record not in ("inputs", "outputs"):
            raise ValueError(f"Argument `record` must be one of ('inputs', 'outputs'). "
                             f"Received: record={record!r}")
        if reduce is not None and not callable(reduce):
            raise ValueError(f"Argument `reduce` must be a function or None. "
                             f"Received: reduce={reduce!r}")
        self.layers = dict(layers)
        self.record = record
        self.reduce = reduce
        self.call_order = []

    @contextlib.contextmanager
    def recording(self):
        """Wrap the layers' `call` for the `with` block; yields `{path: output}` in call order."""
        outputs = {}
        originals = {}
        try:
            for path, layer in self.layers.items():
                originals[path] = layer.__dict__.get("call")
                # object.__setattr__: Keras (and torch.nn.Module) track attributes set
                # through their __setattr__; the temporary wrapper must not be tracked.
                object.__setattr__(layer, "call", _recording_call(
                    layer.call, path, outputs, self.record == "inputs", self.reduce))
            yield outputs
        finally:
            for path, original in originals.items():
                layer = self.layers[path]
                if original is None:
                    del layer.__dict__["call"]
                else:
                    object.__setattr__(layer, "call", original)

    def run(self, model, x):
        """One inference pass of `model` on `x`: `({path: output} in call order, model output)`."""
        with self.recording() as outputs:
            predictions = model(x, training=False)
        self.call_order = list(outputs)
        return outputs, predictions

    def in_call_order(self, results):
        """`{path: ...}` reordered as the layers were called in the last `run`.

        Compiled functions return dicts with sorted keys (`tf.nest`, JAX pytrees);
        the order that means depth is the order of the calls, noted while tracing.
        """
        return {path: results[path] for path in self.call_order if path in results}


def _recording_call(call, path, outputs, inputs, reduce):
    keep = (lambda tensor: tensor) if reduce is None else reduce

    def wrapper(*args, **kwargs):
        if inputs and path not in outputs:
            outputs[path] = keep(args[0] if args else next(iter(kwargs.values())))
        result = call(*args, **kwargs)
        if not inputs and path not in outputs:
            outputs[path] = keep(keras.tree.flatten(result)[0])
        return result
    return wrapper


def variable_names(layer, trainable_only=False):
    """`{name: variable}` of a layer's weights, named relative to the layer.

    A Dense layer's are `kernel` and `bias`; a block with sublayers gives each of its
    variables its path inside the block (`self_attention/query/kernel`), so that
    names stay distinct.
    """
    variables = layer.trainable_variables if trainable_only else layer.weights
    names = {}
    for variable in variables:
        path = variable.path
        prefix = f"{layer.name}/"
        name = path[path.index(prefix) + len(prefix):] if prefix in path else variable.name
        names.setdefault(name, variable)
    return names
