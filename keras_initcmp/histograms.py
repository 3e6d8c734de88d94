"""Histogram summaries in TensorBoard's own format, bucketed in O(N).

`tf.summary.histogram` buckets with an N × bins float64 one-hot matrix: on a conv
layer's activations that is a temporary of gigabytes. `buckets` computes the very
same `[left_edge, right_edge, count]` rows (same edges, same bucket rule, same
edge cases) with a bincount, and `write_histogram` writes them with the histogram
plugin's metadata, so the Histograms and Distributions dashboards show them exactly
as they show their own.
"""

import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata

__all__ = ["buckets", "write_histogram"]

_METADATA = histogram_metadata.create_summary_metadata(display_name=None, description=None)


def buckets(values, bins, max_values=None, seed=(0, 0)):
    """`[bins, 3]` float64 rows `[left, right, count]` over the finite values.

    Matches `tf.summary.histogram`: `bins` equal buckets over `[min, max]`, the last
    one closed; all counts in the last bucket when every value is equal; all zeros
    when there is no finite value.

    Args:
        values: A tensor of any shape.
        bins: Number of buckets, a positive Python int.
        max_values: Bin at most this many values, drawn uniformly (with
            replacement) by a stateless generator with `seed`; `None` bins all.
    """
    values = tf.reshape(values, [-1])
    if max_values is not None and values.shape[0] is not None and values.shape[0] > max_values:
        picks = tf.random.stateless_uniform(
            [max_values], seed=seed, maxval=tf.size(values, tf.int64), dtype=tf.int64)
        values = tf.gather(values, picks)
    values = tf.cast(values, tf.float64)
    finite = tf.math.is_finite(values)
    any_finite = tf.reduce_any(finite)
    low = tf.reduce_min(tf.where(finite, values, tf.constant(float("inf"), tf.float64)))
    high = tf.reduce_max(tf.where(finite, values, tf.constant(float("-inf"), tf.float64)))
    width = (high - low) / bins
    # tf.summary.histogram's rule, with non-finite values sent past the last bucket
    # (index `bins`), where bincount's maxlength drops them.
    offsets = tf.where(finite, values - low, tf.zeros_like(values))
    indices = tf.cast(tf.floor(tf.math.divide_no_nan(offsets, width)), tf.int32)
    indices = tf.where(finite, tf.minimum(indices, bins - 1), bins)
    counts = tf.math.bincount(indices, minlength=bins, maxlength=bins, dtype=tf.float64)
    single_value = tf.equal(high, low)
    counts = tf.where(
        single_value,
        tf.concat([tf.zeros([bins - 1], tf.float64), [tf.reduce_sum(counts)]], 0),
        counts,
    )
    edges = tf.concat([tf.linspace(low, high, bins + 1)[:-1], [high]], 0)
    edges = tf.where(single_value, tf.fill([bins + 1], high), edges)
    rows = tf.stack([edges[:-1], edges[1:], counts], axis=1)
    return tf.where(any_finite, rows, tf.zeros_like(rows))


def write_histogram(tag, rows, step):
    """Write `buckets` rows to the default summary writer as a histogram summary."""
    return tf.summary.write(tag=tag, tensor=rows, step=step, metadata=_METADATA)
