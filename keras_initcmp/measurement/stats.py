"""Per-layer activation statistics: the numbers behind every histogram this package draws.

The one statistics schema of the package: `STATISTICS` (what a user reads),
`MOMENTS` (the sufficient statistics computed on the device and combined across
batches) and their TensorBoard tags (`keras_initcmp.measurement.tags`, plain Python). The callback, the driver,
`probe`, the layout and the report read them from here:

- `mean`, `std`: over the finite values (population std, like `np.std`);
- `zero_fraction`: share of values exactly 0 (dead ReLU units, zero init);
- `saturation`: share of values with `|a| >= 0.99` (tanh/sigmoid-style saturation);
- `nonfinite`: count of NaN and ±Inf values;
- `dead_units`: share of units (the last axis) that are 0 for every sample.

The device part is each backend's `layer_summary` (`summary_function`), applied
to every layer's output where the layer produces it: one fused XLA pass on JAX,
per-layer XLA programs on TensorFlow, native single-pass kernels on PyTorch
(`keras_initcmp.measurement.reduction` holds what they share). `layer_moments`,
`alive_units` and `buckets` are the same statistics in plain `keras.ops`, for
any backend; only a few numbers per layer reach the host.
`activation_stats` is pure (no files, no TensorBoard).
"""

import functools

import numpy as np
import keras
from keras import ops

from keras_initcmp import backend, checks
from keras_initcmp.measurement import reduction
from keras_initcmp.measurement.reduction import SATURATION_THRESHOLD
from keras_initcmp.measurement.tags import STATISTICS, scalar_prefix, scalar_tag  # noqa: F401 (re-exported)
from keras_initcmp.measurement.recording import LayerRecorder, ensure_built, select_layers

__all__ = ["activation_stats", "STATISTICS", "MOMENTS", "SATURATION_THRESHOLD",
           "scalar_prefix", "scalar_tag", "as_input_tensors"]

MOMENTS = ("total", "finite", "sum", "squared_deviations", "zeros", "saturated",
           "nonfinite", "min", "max")
"""The layout of `layer_moments`' vector: counts, the finite values' sum and sum of
squared deviations from their mean (Chan et al.'s form, combinable across batches),
and the finite minimum and maximum."""
_AT = {name: index for index, name in enumerate(MOMENTS)}
_EMPTY_MOMENTS = np.array([0.0] * 7 + [np.inf, -np.inf])


def flat(tensor):
    """A tensor as a flat float32 vector (float16/bfloat16 outputs of mixed precision included)."""
    return ops.reshape(ops.cast(tensor, "float32"), [-1])


def layer_moments(values):
    """`MOMENTS` of a flat float32 tensor, as a vector in the backend's accumulator dtype.

    A few cheap reductions when every value is finite (checked through the sum,
    which any NaN or Inf poisons); a masked variant only for diverging models.
    """
    dtype = backend.get().ACCUMULATOR
    total = ops.cast(ops.size(values), dtype)
    values_sum = ops.sum(values)
    return ops.cond(ops.isfinite(values_sum),
                    lambda: _finite_moments(values, values_sum, total, dtype),
                    lambda: _masked_moments(values, total, dtype))


def _counts(values, dtype):
    zeros = ops.sum(ops.cast(ops.equal(values, 0.0), "int32"))
    saturated = ops.sum(ops.cast(ops.abs(values) >= SATURATION_THRESHOLD, "int32"))
    return ops.cast(zeros, dtype), ops.cast(saturated, dtype)


def _finite_moments(values, values_sum, total, dtype):
    mean = values_sum / ops.cast(total, "float32")
    squares = ops.sum(ops.square(values - mean))
    zeros, saturated = _counts(values, dtype)
    return ops.stack([total, total, ops.cast(values_sum, dtype), ops.cast(squares, dtype),
                      zeros, saturated, ops.zeros((), dtype),
                      ops.cast(ops.min(values), dtype), ops.cast(ops.max(values), dtype)])


def _masked_moments(values, total, dtype):
    finite = ops.isfinite(values)
    finite_count = ops.sum(ops.cast(finite, dtype))
    finite_values = ops.where(finite, values, 0.0)
    values_sum = ops.sum(ops.cast(finite_values, dtype))
    mean = ops.cast(values_sum / ops.maximum(finite_count, 1.0), "float32")
    squares = ops.sum(ops.cast(ops.square(ops.where(finite, values - mean, 0.0)), dtype))
    zeros, saturated = _counts(values, dtype)
    low = ops.min(ops.where(finite, values, float("inf")))
    high = ops.max(ops.where(finite, values, float("-inf")))
    return ops.stack([total, finite_count, values_sum, squares, zeros, saturated,
                      total - finite_count, ops.cast(low, dtype), ops.cast(high, dtype)])


def alive_units(activation):
    """Per unit of the last axis: whether any sample gives it a value other than 0."""
    if len(activation.shape) < 2:
        return ops.reshape(ops.any(ops.not_equal(activation, 0)), [1])
    axes = tuple(range(len(activation.shape) - 1))
    return ops.any(ops.not_equal(activation, 0), axis=axes)


def buckets(values, bins, moments, max_values=None, seed=0):
    """`[bins, 3]` rows `[left, right, count]` over the finite values, on the device.

    The rule of `tf.summary.histogram`: `bins` equal buckets over `[min, max]`, a
    value's bucket `floor((x - min) / ((max - min) / bins))` clamped to the last,
    all counts in the last bucket when every value is equal, all zeros when there is
    no finite value; edges and indices in the backend's accumulator dtype (float64
    where the backend has it, as TensorBoard computes them). Counted with a segment
    sum: O(N), where `tf.summary.histogram` builds an N × bins one-hot matrix.

    Args:
        values: A flat float32 tensor.
        bins: Number of buckets, a positive Python int.
        moments: `layer_moments(values)`: its min and max are the edges.
        max_values: Bin at most this many values, drawn uniformly (with
            replacement, the same draw at every call for `seed`); `None` bins all.
    """
    dtype = backend.get().ACCUMULATOR
    low, high = moments[_AT["min"]], moments[_AT["max"]]
    if max_values is not None:
        values = sample(values, max_values, seed)
    index = reduction.bucket_index(values, low, high, bins, dtype)
    counts = ops.segment_sum(ops.cast(index < bins, "int32"), ops.minimum(index, bins - 1),
                             num_segments=bins)
    return reduction.bucket_rows(counts, low, high, bins, dtype)


def sample(values, max_values, seed=0):
    """At most `max_values` of a flat tensor, drawn uniformly with replacement, the same
    draw at every call (`reduction.sample_indices`: drawn once per size, on the host)."""
    size = values.shape[0]
    if size is None:  # a dynamic shape (TensorFlow graphs only): drawn in the graph
        def draw():
            return ops.take(values, keras.random.randint(
                (max_values,), 0, ops.size(values), seed=seed))
        return ops.cond(ops.size(values) > max_values, draw, lambda: values)
    positions = reduction.sample_indices(size, max_values, seed)
    return values if positions is None else ops.take(values, positions)


def ops_summary(bins, max_values):
    """`activation -> {"moments", "alive"[, "rows"]}` in `keras.ops`, one fused program
    where the backend compiles the snapshot whole (XLA under `jax.jit`).

    `moments` is `reduction.one_pass_moments`, `alive` is `alive_units`, `rows` the
    `buckets` (only when `bins` is not `None`)."""
    def summarize(activation):
        values = flat(activation)
        moments = reduction.one_pass_moments(values, backend.get().ACCUMULATOR)
        result = {"moments": moments, "alive": alive_units(activation)}
        if bins is not None:
            result["rows"] = buckets(values, bins, moments, max_values)
        return result
    return summarize


@functools.lru_cache(maxsize=None)
def summary_function(bins, max_values=None):
    """The backend's `layer_summary(bins, max_values)`, built once per process and
    setting: what a snapshot applies to each layer's output where it is produced."""
    return backend.get().layer_summary(bins, max_values)


def combine_moments(a, b):
    """Chan et al.'s pairwise update: the moments of two batches taken together."""
    combined = a + b
    count = combined[_AT["finite"]]
    if a[_AT["finite"]] and b[_AT["finite"]]:
        mean_a = a[_AT["sum"]] / a[_AT["finite"]]
        mean_b = b[_AT["sum"]] / b[_AT["finite"]]
        combined[_AT["squared_deviations"]] = (
            a[_AT["squared_deviations"]] + b[_AT["squared_deviations"]]
            + (mean_b - mean_a) ** 2 * a[_AT["finite"]] * b[_AT["finite"]] / count)
    combined[_AT["min"]] = min(a[_AT["min"]], b[_AT["min"]])
    combined[_AT["max"]] = max(a[_AT["max"]], b[_AT["max"]])
    return combined


def moments_to_stats(moments, alive=None):
    """The public statistics (`STATISTICS`) from `layer_moments` output (and `alive_units`)."""
    moments = np.asarray(moments, np.float64)
    total, count = moments[_AT["total"]], moments[_AT["finite"]]
    squares = moments[_AT["squared_deviations"]]
    return {
        "mean": float(moments[_AT["sum"]] / count) if count else float("nan"),
        "std": float(np.sqrt(squares / count)) if count else float("nan"),
        "zero_fraction": float(moments[_AT["zeros"]] / total) if total else float("nan"),
        "saturation": float(moments[_AT["saturated"]] / total) if total else float("nan"),
        "nonfinite": int(moments[_AT["nonfinite"]]),
        "dead_units": float("nan") if alive is None else float(1.0 - np.mean(alive)),
    }


def _batches(x, batch_size):
    size = keras.tree.flatten(x)[0].shape[0]
    step = batch_size or size
    for start in range(0, size, step):
        yield keras.tree.map_structure(lambda array: array[start:start + step], x)


def activation_stats(model, x, layers=None, batch_size=None):
    """Per-layer activation statistics of `model` on inputs `x`, computed in batches.

    Works with any built Keras model (Sequential, functional, subclassed, nested,
    keras_hub) on any backend: the layers' outputs are recorded during one
    inference pass per batch (`keras_initcmp.measurement.recording`), reduced on the device,
    and only their moments reach the host.

    Args:
        model: A built Keras model.
        x: The model's inputs: an array, or a list/dict of arrays for several inputs.
        layers: Layer names, paths or shell-style patterns to observe, or `None`
            (default) for every layer but input layers, nested models expanded.
        batch_size: Samples per forward pass, or `None` (default) for one pass over
            all of `x`. Memory grows with `batch_size`, not with the size of `x`:
            the article's 100,000 × 1000 input fits with `batch_size=5000`.

    Returns:
        `{layer_path: {"mean", "std", "zero_fraction", "saturation", "nonfinite",
        "dead_units"}}` in call order. `mean` and `std` are over the finite values;
        the fractions and the non-finite count over all values of the layer's output.

    Example:

    >>> stats = activation_stats(model, x_test[:1000])
    >>> stats["dense_1"]["std"]
    """
    batch_size = checks.positive_int("batch_size", batch_size, allow_none=True)
    x = as_input_tensors(x, "x")
    ensure_built(model, x)
    # Each layer's output is reduced where it is produced: a batch never holds
    # every layer's output at once.
    recorder = LayerRecorder(select_layers(model, layers), reduce=summary_function(None))

    def batch_moments(summaries, gradients, weights):
        return {path: (summary["moments"], summary["alive"])
                for path, summary in summaries.items()}

    run = backend.get().snapshot_function(model, recorder, batch_moments)
    totals, alive = {}, {}
    for batch in _batches(x, batch_size):
        for path, (moments, units) in run(batch).items():
            totals[path] = combine_moments(totals.get(path, _EMPTY_MOMENTS.copy()),
                                           np.asarray(moments, np.float64))
            alive[path] = np.logical_or(alive.get(path, False), np.asarray(units))
    return {path: moments_to_stats(moments, alive[path]) for path, moments in totals.items()}


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
