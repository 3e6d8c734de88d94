"""TensorBoard summaries written from traced code: histograms bucketed in O(N), scalars.

`tf.summary.histogram` buckets with an N × bins float64 one-hot matrix: on a conv
layer's activations that is a temporary of gigabytes. `buckets` computes the very
same `[left_edge, right_edge, count]` rows (same edges, same bucket rule, same
edge cases) with a bincount, and `write_histogram` writes them with the histogram
plugin's metadata, so the Histograms and Distributions dashboards show them exactly
as they show their own. Tags may be string tensors, so one traced function serves
every layer.
"""

import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from keras_initcmp import stats

__all__ = ["buckets", "write_histogram", "write_scalar"]

_HISTOGRAM = histogram_metadata.create_summary_metadata(display_name=None, description=None)
_SCALAR = scalar_metadata.create_summary_metadata(display_name=None, description=None)


def buckets(values, bins, moments=None, max_values=None, seed=(0, 0)):
    """`[bins, 3]` float64 rows `[left, right, count]` over the finite values.

    Matches `tf.summary.histogram` edge for edge and count for count: `bins` equal
    buckets over `[min, max]`, the last one closed; all counts in the last bucket
    when every value is equal; all zeros when there is no finite value.

    Args:
        values: A tensor of any shape.
        bins: Number of buckets, a positive Python int.
        moments: `stats.layer_moments(values)` if already computed (its min, max
            and non-finite count save passes over the data).
        max_values: Bin at most this many values, drawn uniformly (with
            replacement) by a stateless generator with `seed`; `None` bins all.
            The edges still span the minimum and maximum of all values.
    """
    values = tf.reshape(values, [-1])
    if moments is None:
        moments = stats.layer_moments(values)
    low, high, nonfinite = moments[7], moments[8], moments[6]
    if max_values is not None:
        values = tf.cond(tf.size(values) > max_values,
                         lambda: _sample(values, max_values, seed), lambda: values)
    finite_values = tf.cond(nonfinite > 0,
                            lambda: tf.boolean_mask(values, tf.math.is_finite(values)),
                            lambda: values)
    count = tf.cast(tf.size(finite_values), tf.float64)

    def spread():
        edges = tf.concat([tf.linspace(low, high, bins + 1)[:-1], [high]], 0)
        counts = tf.cast(_fixed_width_counts(finite_values, low, high, bins), tf.float64)
        return tf.stack([edges[:-1], edges[1:], counts], axis=1)

    def single_value():
        edges = tf.fill([bins], high)
        counts = tf.concat([tf.zeros([bins - 1], tf.float64), [count]], 0)
        return tf.stack([edges, edges, counts], axis=1)

    def empty():
        return tf.zeros([bins, 3], tf.float64)

    return tf.case([(tf.equal(count, 0), empty), (tf.equal(low, high), single_value)],
                   default=spread)


def _sample(values, max_values, seed):
    picks = tf.random.stateless_uniform(
        [max_values], seed=seed, maxval=tf.size(values, tf.int64), dtype=tf.int64)
    return tf.gather(values, picks)


def _fixed_width_counts(values, low, high, bins, parts=4):
    """`tf.histogram_fixed_width` in float64, which computes tf.summary.histogram's
    `floor((x - min) / ((max - min) / bins))`, clamped; its counting loop is
    sequential, so split the values and let the parts run in parallel."""
    value_range = tf.stack([low, high])
    part = tf.size(values) // parts
    chunks = tf.split(values, [part] * (parts - 1) + [tf.size(values) - part * (parts - 1)])
    return tf.add_n([tf.histogram_fixed_width(tf.cast(chunk, tf.float64), value_range, bins)
                     for chunk in chunks])


def write_histogram(tag, rows, step):
    """Write `buckets` rows to the default summary writer as a histogram summary."""
    return tf.summary.write(tag=tag, tensor=rows, step=step, metadata=_HISTOGRAM)


def write_scalar(tag, value, step):
    """Write a scalar summary as `tf.summary.scalar` does (float32), with a tensor tag."""
    return tf.summary.write(tag=tag, tensor=tf.cast(value, tf.float32), step=step,
                            metadata=_SCALAR)
