"""Per-layer activation statistics: the numbers behind every histogram this package draws.

`activation_stats` is pure (no files, no TensorBoard); the callback, the driver and
`probe` share it and the pieces below, so a statistic means the same everywhere:

- `mean`, `std`: over the finite values (population std, like `np.std`);
- `zero_fraction`: share of values exactly 0 (dead ReLU units, zero init);
- `saturation`: share of values with `|a| >= 0.99` (tanh/sigmoid-style saturation);
- `nonfinite`: count of NaN and ±Inf values.
"""

import numpy as np
import tensorflow as tf
import keras

__all__ = ["activation_stats", "STATISTICS", "SATURATION_THRESHOLD"]

STATISTICS = ("mean", "std", "zero_fraction", "saturation", "nonfinite")
SATURATION_THRESHOLD = 0.99


def select_layers(model, layers=None):
    """The model's layers to observe, in layer order: by name, or all but input layers."""
    candidates = [layer for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer)]
    if layers is None:
        return candidates
    if isinstance(layers, str) or not all(isinstance(name, str) for name in layers):
        raise ValueError(
            f"Argument `layers` must be a list of layer names or None. Received: layers={layers!r}"
        )
    available = {layer.name: layer for layer in candidates}
    unknown = [name for name in layers if name not in available]
    if unknown or not layers:
        raise ValueError(
            f"Argument `layers` must name layers of model '{model.name}', one or more of "
            f"{tuple(available)}. Received: layers={list(layers)!r}"
        )
    wanted = set(layers)
    return [layer for layer in candidates if layer.name in wanted]


class LayerOutputs:
    """Every observed layer's output (and the model's output) from one forward pass.

    A Sequential model is run layer by layer on the real tensors, so a model built
    lazily by `fit` (whose recorded input may carry a fixed batch size) accepts a
    probe of any size; any other model gets one multi-output functional model,
    built once, over its own inputs.
    """

    def __init__(self, model, layers):
        self.model = model
        self.layers = layers
        self._sequential = isinstance(model, keras.Sequential)
        if not self._sequential:
            self._functional = keras.Model(
                model.inputs, [layer.output for layer in layers] + list(model.outputs)
            )

    def __call__(self, x):
        """Returns `(list of layer outputs, model output)`, inference mode."""
        if not self._sequential:
            results = self._functional(x, training=False)
            activations, predictions = results[:len(self.layers)], results[len(self.layers):]
            return activations, predictions[0] if len(predictions) == 1 else predictions
        wanted = set(id(layer) for layer in self.layers)
        activations = []
        for layer in self.model.layers:
            x = layer(x, training=False)
            if id(layer) in wanted:
                activations.append(x)
        return activations, x


def layer_moments(activation):
    """Sufficient statistics of one tensor, to be combined across batches.

    Returns a float64 vector (see `MOMENTS`): total count, finite count, sum of the
    finite values, sum of their squared deviations from their mean, zeros,
    saturated, non-finite, and the finite minimum and maximum. A few cheap
    reductions over float32 when every value is finite (checked through the sum,
    which any NaN or Inf poisons); a masked variant only for diverging models.
    """
    values = tf.reshape(tf.cast(activation, tf.float32), [-1])
    total = tf.cast(tf.size(values), tf.float64)
    values_sum = tf.reduce_sum(values)
    return tf.cond(tf.math.is_finite(values_sum),
                   lambda: _finite_moments(values, values_sum, total),
                   lambda: _masked_moments(values, total))


MOMENTS = ("total", "finite", "sum", "squared_deviations", "zeros", "saturated",
           "nonfinite", "min", "max")
_EMPTY_MOMENTS = np.array([0.0] * 7 + [np.inf, -np.inf])


# Traced once per process, then called by every layer of every traced caller.
flat_moments = tf.function(layer_moments, input_signature=[tf.TensorSpec([None], tf.float32)],
                           autograph=False)


def _counts(values):
    zeros = tf.reduce_sum(tf.cast(tf.equal(values, 0.0), tf.int32))
    saturated = tf.reduce_sum(tf.cast(tf.abs(values) >= SATURATION_THRESHOLD, tf.int32))
    return tf.cast(zeros, tf.float64), tf.cast(saturated, tf.float64)


def _finite_moments(values, values_sum, total):
    mean = values_sum / tf.cast(total, tf.float32)
    squares = tf.reduce_sum(tf.math.squared_difference(values, mean))
    zeros, saturated = _counts(values)
    return tf.stack([total, total, tf.cast(values_sum, tf.float64), tf.cast(squares, tf.float64),
                     zeros, saturated, tf.constant(0.0, tf.float64),
                     tf.cast(tf.reduce_min(values), tf.float64),
                     tf.cast(tf.reduce_max(values), tf.float64)])


def _masked_moments(values, total):
    finite = tf.math.is_finite(values)
    finite_count = tf.reduce_sum(tf.cast(finite, tf.float64))
    finite_values = tf.where(finite, values, tf.zeros_like(values))
    values_sum = tf.reduce_sum(tf.cast(finite_values, tf.float64))
    mean = tf.cast(tf.math.divide_no_nan(values_sum, finite_count), tf.float32)
    deviations = tf.where(finite, values - mean, tf.zeros_like(values))
    squares = tf.reduce_sum(tf.cast(tf.square(deviations), tf.float64))
    zeros, saturated = _counts(values)
    low = tf.reduce_min(tf.where(finite, values, float("inf")))
    high = tf.reduce_max(tf.where(finite, values, float("-inf")))
    return tf.stack([total, finite_count, values_sum, squares, zeros, saturated,
                     total - finite_count, tf.cast(low, tf.float64), tf.cast(high, tf.float64)])


def combine_moments(a, b):
    """Chan et al.'s pairwise update: the moments of two batches taken together."""
    combined = a + b
    count = combined[1]
    if a[1] and b[1]:
        mean_a, mean_b = a[2] / a[1], b[2] / b[1]
        combined[3] = a[3] + b[3] + (mean_b - mean_a) ** 2 * a[1] * b[1] / count
    combined[7], combined[8] = min(a[7], b[7]), max(a[8], b[8])
    return combined


def moments_to_stats(moments):
    """The public statistics (`STATISTICS`) from `layer_moments` output."""
    total, count, values_sum, squares, zeros, saturated, nonfinite = (
        float(value) for value in moments[:7])
    return {
        "mean": values_sum / count if count else float("nan"),
        "std": float(np.sqrt(squares / count)) if count else float("nan"),
        "zero_fraction": zeros / total if total else float("nan"),
        "saturation": saturated / total if total else float("nan"),
        "nonfinite": int(nonfinite),
    }


def _batches(x, batch_size):
    size = keras.tree.flatten(x)[0].shape[0]
    step = batch_size or size
    for start in range(0, size, step):
        yield keras.tree.map_structure(lambda array: array[start:start + step], x)


def activation_stats(model, x, layers=None, batch_size=None):
    """Per-layer activation statistics of `model` on inputs `x`, computed in batches.

    Args:
        model: A built Keras model (Sequential or functional).
        x: The model's inputs: an array, or a list/dict of arrays for several inputs.
        layers: Layer names to observe, or `None` for every layer but input layers.
        batch_size: Samples per forward pass, or `None` for one pass over all of `x`.
            Memory grows with `batch_size`, not with the size of `x`: the article's
            100,000 × 1000 input fits with `batch_size=5000`.

    Returns:
        `{layer_name: {"mean", "std", "zero_fraction", "saturation", "nonfinite"}}` in
        layer order. `mean` and `std` are over the finite values; the fractions and
        the non-finite count over all values of the layer's output.

    Example:

    >>> stats = activation_stats(model, x_test[:1000])
    >>> stats["dense_1"]["std"]
    """
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(
            f"Argument `batch_size` must be a positive int or None. Received: batch_size={batch_size!r}"
        )
    x = as_input_tensors(x, "x")
    observed = select_layers(model, layers)
    outputs = LayerOutputs(model, observed)

    @tf.function(reduce_retracing=True, autograph=False)
    def batch_moments(batch):
        activations, _ = outputs(batch)
        return [flat_moments(tf.reshape(tf.cast(a, tf.float32), [-1])) for a in activations]

    totals = [_EMPTY_MOMENTS.copy() for _ in observed]
    for batch in _batches(x, batch_size):
        for index, moments in enumerate(batch_moments(batch)):
            totals[index] = combine_moments(totals[index], moments.numpy())
    return {layer.name: moments_to_stats(moments) for layer, moments in zip(observed, totals)}


def as_input_tensors(x, argument):
    """Inputs as numeric arrays with a common, non-zero number of samples, or a ValueError."""
    def convert(array):
        array = np.asarray(array)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(
                f"Argument `{argument}` must hold numeric arrays. "
                f"Received: {argument} of dtype {array.dtype}"
            )
        if array.ndim == 0 or array.shape[0] == 0:
            raise ValueError(
                f"Argument `{argument}` must hold at least one sample. "
                f"Received: {argument} of shape {array.shape}"
            )
        return array

    converted = keras.tree.map_structure(convert, x)
    sizes = {array.shape[0] for array in keras.tree.flatten(converted)}
    if len(sizes) != 1:
        raise ValueError(
            f"Argument `{argument}` must have the same number of samples in every input. "
            f"Received: {argument} with sizes {sorted(sizes)}"
        )
    return converted
