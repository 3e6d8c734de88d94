"""The TensorFlow backend: `tf.function` snapshots, `tf.data` input, `tf.distribute` chief.

The snapshot graph is traced once per model (and probe shape) without AutoGraph,
and run without Grappler: it is many small independent reductions that Grappler
cannot speed up (measured: the same time per snapshot), but its passes over them
took seconds, growing with depth (4.3 s of a 5 s first snapshot for 16 layers).
"""

import contextlib
import functools

import keras
import numpy as np
import tensorflow as tf

from keras_initcmp.arrays import samples
from keras_initcmp.measurement.recording import variable_names
from keras_initcmp.measurement.reduction import (SATURATION_THRESHOLD, bucket_index,
                                                 one_pass_moments, sample_indices)

__all__ = ["ACCUMULATOR", "snapshot_function", "layer_summary", "step_loop", "is_chief",
           "deterministic", "training_data", "evaluation_data", "limit_threads"]

ACCUMULATOR = "float64"
MAX_STEPS_PER_EXECUTION = 500
"""Most training steps per compiled call (`steps_per_execution`): bounds the search for a divisor of steps_per_epoch."""


def snapshot_function(model, recorder, summarize):
    """See `keras_initcmp.backend`."""
    paths = list(recorder.layers)

    @tf.function(autograph=False)
    def traced(x, y):
        weights = {path: {name: variable.value for name, variable in
                          variable_names(recorder.layers[path]).items()} for path in paths}
        if y is None:
            activations, _ = recorder.run(model, x)
            return summarize(activations, None, weights)
        trainable = {path: variable_names(recorder.layers[path], trainable_only=True)
                     for path in paths}
        with tf.GradientTape() as tape:
            activations, predictions = recorder.run(model, x)
            loss = model.compute_loss(x=x, y=y, y_pred=predictions, training=False)
        gradients = tape.gradient(loss, trainable)
        return summarize(activations, _present(gradients), weights)

    def run(x, y=None):
        tensors = [None if data is None else tf.nest.map_structure(tf.convert_to_tensor, data)
                   for data in (x, y)]
        with _graph_rewrites_off():
            result = traced(*tensors)
        return recorder.in_call_order(keras.tree.map_structure(np.asarray, result))

    run.compiled = traced  # the compiled program, for inspection (tracing counts)
    return run


XLA_FROM = None
"""Layers of at least this many values get their moments from an XLA program, smaller
ones from plain kernels (see `layer_summary`); `None`: plain kernels for every size.
Off by default: each compiled size keeps ~41 bytes per value resident after its first
call (784 MiB for an 18.9 M-value layer), which made the conv net's `fit` peak RSS 2.3×
plain; and the plain kernels measured faster (a later ResNet50 snapshot 0.42 s against
0.66 s, the conv net's 149 ms against 177 ms, first snapshots faster too; docs/speed.md)."""
XLA_INDEX_FROM = 2**16
"""Layers of at least this many values get their buckets' index from an XLA program."""


def layer_summary(bins, max_values):
    """See `keras_initcmp.backend`. Per layer, where the layer produces its output, one
    call of a summary function traced once per process for every size (called, not
    inlined: a snapshot's graph stays one op per layer however deep the model; 176
    layers' reductions inlined made ResNet50's first snapshot take minutes).

    A layer of at least `XLA_FROM` values (when set; off by default): one XLA
    program for the moments (every statistic fused into one loop over the values,
    where plain kernels make about eight passes); from `XLA_INDEX_FROM` values, one for the buckets' index of the
    (sampled) values (one pass for what takes eight plain float64 passes). XLA
    compiles each once per distinct size, at the first snapshot: below these sizes
    plain kernels cost less than a compile. The buckets are counted by the
    native `tf.math.bincount` (XLA has no fast scatter on a CPU), dead units by a
    plain `reduce_any`."""
    def summarize(activation):
        last = activation.shape[-1] if len(activation.shape) >= 2 else 1
        units = tf.reshape(tf.cast(activation, tf.float32),
                           [-1, tf.shape(activation)[-1] if last is None else last])
        size = None if None in units.shape else units.shape[0] * units.shape[1]
        known = size is not None
        fused = known and XLA_FROM is not None and size >= XLA_FROM
        return _summary_function(bins, fused, known and size >= XLA_INDEX_FROM)(
            units, _positions(units, size, max_values if bins else None))

    return summarize


def _positions(units, size, max_values):
    """The sample's positions (`reduction.sample_indices`), or none to bin every value."""
    if size is None and max_values is not None:  # a dynamic shape: drawn in the graph
        count = tf.size(units)
        return tf.cond(count > max_values, lambda: tf.random.stateless_uniform(
            [max_values], seed=[0, 0], minval=0, maxval=count, dtype=tf.int32),
            lambda: tf.zeros([0], tf.int32))
    if size is None or sample_indices(size, max_values) is None:
        return tf.zeros([0], tf.int32)
    return _captured(size, max_values)


@functools.lru_cache(maxsize=None)
def _summary_function(bins, fused, fused_index):
    """`(units [N, C], sample positions or []) -> summary`, traced once for every size."""
    def summary(units, positions):
        values = tf.reshape(units, [-1])
        moments = (_xla_moments if fused else _plain_moments)(values)
        result = {"moments": moments, "alive": tf.reduce_any(tf.not_equal(units, 0.0), axis=0)}
        if bins is not None:
            to_bin = tf.cond(tf.size(positions) > 0, lambda: tf.gather(values, positions),
                             lambda: values)
            low, high = moments[-2], moments[-1]
            index_of = _xla_index if fused_index else bucket_index
            index = index_of(to_bin, low, high, bins, ACCUMULATOR)
            counts = tf.math.bincount(index, minlength=bins, maxlength=bins)
            result["rows"] = _rows(counts, low, high, bins)
        return result

    signature = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)]
    return tf.function(summary, input_signature=signature, autograph=False,
                       experimental_attributes={"_noinline": True})


def _rows(counts, low, high, bins):
    """`reduction.bucket_rows` with TensorFlow's own `linspace` op, as in
    `tf.summary.histogram`: one kernel, whose edges no graph rewrite reorders."""
    edges = tf.linspace(tf.where(high > low, low, high), high, bins + 1)
    edges = tf.concat([edges[:-1], [high]], 0)
    seen = tf.reduce_sum(counts) > 0
    zeros = tf.zeros([bins], ACCUMULATOR)
    return tf.stack([tf.where(seen, edges[:-1], zeros), tf.where(seen, edges[1:], zeros),
                     tf.cast(counts, ACCUMULATOR)], axis=1)


_FLAT = tf.TensorSpec([None], tf.float32)
_BOUND = tf.TensorSpec([], ACCUMULATOR)
_xla_moments = tf.function(lambda values: one_pass_moments(values, ACCUMULATOR),
                           input_signature=[_FLAT], autograph=False, jit_compile=True)
_xla_index = tf.function(bucket_index, autograph=False, jit_compile=True)


def _plain_moments(values):
    """`MOMENTS` by plain kernels: two passes for the deviations (the mean first), the
    counts as int32 masks; the masked form only when a value is not finite."""
    total = tf.reduce_sum(values)

    def finite():
        count = tf.cast(tf.size(values), tf.float64)
        squares = tf.reduce_sum(tf.square(values - total / tf.cast(tf.size(values), tf.float32)))
        # int32 masks, not `count_nonzero`'s int64: half the bytes written per value.
        zeros = tf.cast(tf.reduce_sum(tf.cast(tf.equal(values, 0.0), tf.int32)), tf.float64)
        saturated = tf.cast(tf.reduce_sum(tf.cast(
            tf.abs(values) >= SATURATION_THRESHOLD, tf.int32)), tf.float64)
        low, high = tf.reduce_min(values), tf.reduce_max(values)
        return tf.stack([count, count, tf.cast(total, tf.float64), tf.cast(squares, tf.float64),
                         zeros, saturated, tf.zeros((), tf.float64), tf.cast(low, tf.float64),
                         tf.cast(high, tf.float64)])

    return tf.cond(tf.math.is_finite(total), finite,
                   lambda: one_pass_moments(values, ACCUMULATOR))


@functools.lru_cache(maxsize=16)
def _captured(size, max_values):
    # Made eagerly, so that a graph captures it by reference: not a constant of
    # megabytes in every graph that samples a layer of this size.
    with tf.init_scope():
        return tf.constant(sample_indices(size, max_values))


def step_loop(model, training):
    """See `keras_initcmp.backend`. Training steps are XLA-compiled where every layer
    supports it: on a small net a graph step is its ops' dispatch, ~3× an XLA step
    (measured 143 µs against 45 µs on the circles net). Keras turns XLA off under op
    determinism, as not every op has a deterministic XLA kernel: a loop that fails
    to compile runs as a plain graph. Evaluation steps, one per call, stay a plain
    graph traced once for every batch size (XLA would compile each size anew, 0.7 s)."""
    step = model.train_step if training else model.test_step

    def loop(data, steps):
        def run_steps(done, logs):
            return tf.while_loop(lambda done, _: done < steps,
                                 lambda done, _: (done + 1, step(data)), (done, logs))[1]
        try:  # Keras' own steps return the metrics' results: one step in the program
            return run_steps(tf.constant(0), model.get_metrics_result())
        except (TypeError, ValueError):  # a custom step with other logs: the first one
            return run_steps(tf.constant(1), step(data))  # sets them (two in the program)

    compiled = {"xla": training and _supports_xla(model)}

    def compile_for(data):
        signature = [tf.nest.map_structure(
            lambda tensor: tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype), data),
            tf.TensorSpec([], tf.int32)]
        compiled["function"] = tf.function(loop, input_signature=signature, autograph=False,
                                           jit_compile=compiled["xla"])

    def run(data, steps=1):
        data = tf.nest.map_structure(tf.convert_to_tensor, data)
        if "function" not in compiled:
            compile_for(data)
        try:
            logs = compiled["function"](data, tf.constant(steps))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            if not compiled["xla"]:  # (XLA fails to compile before anything runs)
                raise
            compiled["xla"] = False
            compile_for(data)
            logs = compiled["function"](data, tf.constant(steps))
        return {name: np.asarray(value) for name, value in logs.items()}

    return run


def _supports_xla(model):
    layers, seen = [model], []
    while layers:
        layer = layers.pop()
        seen.append(layer)
        layers.extend(getattr(layer, "layers", []))
    return all(getattr(layer, "supports_jit", True) for layer in seen)


def _present(gradients):
    return {path: {name: g for name, g in variables.items() if g is not None}
            for path, variables in gradients.items()}


@contextlib.contextmanager
def _graph_rewrites_off():
    # The option is part of the key under which TensorFlow caches an instantiated
    # function, so it is set for every call and, being process-wide, restored at once.
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": previous.get("disable_meta_optimizer", False)})


def is_chief(model):
    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    return strategy.extended.should_save_summary


@contextlib.contextmanager
def deterministic(seed):
    """Seed Keras, Python and NumPy; TensorFlow's op determinism on for the block."""
    keras.utils.set_random_seed(seed)
    # TensorFlow exports only `enable_op_determinism`; its inverse and the query live
    # beside it in `tensorflow.python.framework.config` (TF >= 2.9).
    from tensorflow.python.framework import config as tf_config
    was_deterministic = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_deterministic:
            tf_config.disable_op_determinism()


def limit_threads(threads):
    """Use at most `threads` threads for ops; call before the first op (worker processes)."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def training_data(x, y, batch_size, seed):
    """Endless batches, reshuffled every epoch; full-batch: the same tensors every step."""
    x, y = _as_nest(x), _as_nest(y)
    if batch_size >= samples(x):
        return tf.data.Dataset.from_tensors((x, y)).repeat()
    return (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(samples(x), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size).repeat().prefetch(tf.data.AUTOTUNE))


def evaluation_data(x, y, batch_size):
    """One pass in order: a dataset costs Keras ~15 ms a call, arrays ~100 ms."""
    x, y = _as_nest(x), _as_nest(y)
    if batch_size >= samples(x):
        return tf.data.Dataset.from_tensors((x, y))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _as_nest(structure):
    # tf.data reads a list as one tensor to stack; several inputs or targets are a tuple.
    return keras.tree.lists_to_tuples(structure)
