"""A layer's summary where the layer produces it: the pieces every backend's `layer_summary` shares.

A snapshot summarizes each observed layer's output inside the recording wrapper
(`LayerRecorder(reduce=...)`), while the tensor is hot in cache, and keeps only
the summary: `{"moments": MOMENTS vector, "alive": per-unit bool, "rows": [bins, 3]}`.
Each backend computes it its fastest way (`backend.get().layer_summary`); this
module holds what they share:

- `one_pass_moments`: `stats.MOMENTS` in one pass over the values, with the
  shifted-data form of the variance (Chan, Golub & LeVeque 1983):

      d_i = x_i - K,   S1 = sum d_i,   S2 = sum d_i^2,
      sum = S1 + n K,  squared deviations = S2 - S1^2 / n,

  where `K` is the first value: the sums of `d` stay near the data's spread, so
  the subtraction does not cancel the way `sum x^2 - (sum x)^2 / n` does when the
  mean is large against the spread. Where the backend fuses (XLA: JAX, and
  TensorFlow's `jit_compile`) all of it is one loop over the values.
- `sample_indices`: the positions of the uniform sample above
  `max_histogram_values`, drawn once per size (sorted, so that the gather reads
  memory in order) and reused at every snapshot.
- `bucket_index` and `bucket_rows`: the rule of `tf.summary.histogram` as an
  index per value and the `[left, right, count]` rows from the counts.

Reference: T. F. Chan, G. H. Golub, R. J. LeVeque, "Algorithms for computing the
sample variance: analysis and recommendations", The American Statistician, 1983.
"""

import functools

import numpy as np
from keras import ops

__all__ = ["one_pass_moments", "sample_indices", "bucket_index", "bucket_rows",
           "SATURATION_THRESHOLD"]

SATURATION_THRESHOLD = 0.99


def one_pass_moments(values, dtype):
    """`stats.MOMENTS` of a flat float32 tensor in one pass, sums in `dtype`.

    Non-finite values are masked out of the sum, the deviations, min and max (and
    counted), in the same pass: no second program for a diverging model.

    Args:
        values: A flat float32 tensor with at least one value.
        dtype: The accumulator dtype (`"float64"` where the backend has it).
    """
    finite = ops.isfinite(values)
    first = values[0]
    pivot = ops.cast(ops.where(ops.isfinite(first), first, 0.0), dtype)
    deviations = ops.where(finite, ops.cast(values, dtype) - pivot, ops.zeros((), dtype))
    s1 = ops.sum(deviations)
    s2 = ops.sum(ops.square(deviations))
    count = ops.cast(ops.sum(ops.cast(finite, "int32")), dtype)
    total = ops.cast(ops.shape(values)[0], dtype)
    zeros = ops.cast(ops.sum(ops.cast(ops.equal(values, 0.0), "int32")), dtype)
    saturated = ops.cast(ops.sum(ops.cast(ops.abs(values) >= SATURATION_THRESHOLD, "int32")),
                         dtype)
    low = ops.min(ops.where(finite, values, float("inf")))
    high = ops.max(ops.where(finite, values, float("-inf")))
    squares = ops.maximum(s2 - s1 * s1 / ops.maximum(count, 1.0), 0.0)
    return ops.stack([total, count, s1 + count * pivot, squares, zeros, saturated,
                      total - count, ops.cast(low, dtype), ops.cast(high, dtype)])


@functools.lru_cache(maxsize=16)
def sample_indices(size, max_values, seed=0):
    """Positions of a uniform sample (with replacement) of `max_values` of `size` values.

    `None` when everything is binned (`max_values` is `None` or not below `size`).
    The same draw for a size at every call (seeded by `seed` and `size`), sorted: a
    histogram does not depend on the order, and the gather then reads in order.
    """
    if max_values is None or size <= max_values:
        return None
    positions = np.random.default_rng([seed, size]).integers(0, size, max_values)
    return np.sort(positions).astype(np.int32 if size < 2**31 else np.int64)


def bucket_index(values, low, high, bins, dtype):
    """Each value's bucket by `tf.summary.histogram`'s rule; `bins` for a non-finite value.

    `floor((x - low) / ((high - low) / bins))` in `dtype`, clamped to the last
    bucket; every value in the last bucket when `low == high`.
    """
    low, high = ops.cast(low, dtype), ops.cast(high, dtype)
    finite = ops.isfinite(values)
    spread = high > low
    width = ops.where(spread, (high - low) / bins, ops.ones((), dtype))
    offsets = ops.cast(ops.where(finite, values, 0.0), dtype) - ops.where(spread, low, 0.0)
    index = ops.clip(ops.cast(ops.floor(offsets / width), "int32"), 0, bins - 1)
    index = ops.where(spread, index, bins - 1)
    return ops.where(finite, index, bins)


def bucket_rows(counts, low, high, bins, dtype):
    """`[bins, 3]` rows `[left, right, count]` from the buckets' counts (`[bins]`).

    Edges `linspace(low, high, bins + 1)` with the last one exactly `high`; all
    zeros when no value was finite (the counts are all 0).
    """
    low, high = ops.cast(low, dtype), ops.cast(high, dtype)
    counts = ops.cast(counts, dtype)
    seen = ops.sum(counts) > 0
    edges = ops.linspace(ops.where(high > low, low, high), high, bins + 1)
    edges = ops.concatenate([edges[:-1], ops.reshape(high, [1])], axis=0)
    zeros = ops.zeros((bins,), dtype)
    return ops.stack([ops.where(seen, edges[:-1], zeros), ops.where(seen, edges[1:], zeros),
                      counts], axis=1)
