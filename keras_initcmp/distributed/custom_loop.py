"""The custom training loop under `tf.distribute`: `custom_fit` and `custom_evaluate`,
for the strategies where Keras' own `fit` fails (see `keras_initcmp.distributed.strategies`).

The tf.distribute guide's pattern: `experimental_distribute_dataset`, `strategy.run`,
the compiled loss per example averaged over the *global* batch by
`tf.nn.compute_average_loss`, the compiled optimizer and metrics, and Keras callbacks.
On one device it reproduces `fit` to float rounding.
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["custom_fit", "custom_evaluate"]


_EVALUATION_STEPS = 100


def custom_fit(model, dataset, *, epochs=1, steps_per_epoch=None, validation_data=None,
               callbacks=None):
    """Train `model` on `dataset` with `strategy.run`, as `fit` would; returns a `History`.

    The model must be built and compiled (a single loss) inside the scope of its
    strategy. `dataset` is a `tf.data.Dataset` of `(x, y[, sample_weight])` batches of
    the *global* batch size, identical on every worker (same order: seed any shuffle);
    each worker takes its share of every batch (`AutoShardPolicy.DATA`). As in `fit`,
    with `steps_per_epoch` one iterator runs across epochs (repeat the dataset), and
    without it every epoch is one pass (then a dataset that reshuffles on every
    iteration gets other orders than under `fit` from the second epoch on: Keras 3.15
    opens two iterators per epoch; repeat it, as the driver does). A step applies the compiled optimizer to the
    gradient of the compiled loss, per example, summed over the replicas and divided by
    the global batch size (`tf.nn.compute_average_loss`; regularization losses by
    `tf.nn.scale_regularization_loss`): the same update as `fit` on one device. The
    model's `steps_per_execution` steps run per call into the graph.

    Keras callbacks get the usual hooks (`on_train_batch_end` once per execution, with
    the running `loss`; `on_epoch_end` with `loss`, the compiled metrics and `val_*`
    over `validation_data`, a dataset); `model.stop_training` ends training. So
    `ActivationHistograms` works unchanged: its snapshots run on the chief only, on
    the probe batch once, and read the weights without any collective, so the
    workers never wait for each other there.
    """
    strategy = model.distribute_strategy
    loss_fn = _unreduced_loss(model)
    if not model.optimizer.built:
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
    _build_metrics(model, dataset.element_spec)
    per_execution = _steps_per_execution(model)
    distributed = strategy.experimental_distribute_dataset(_data_sharded(dataset))

    def replica_step(batch):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        global_size = _global_batch_size(x)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = _average_loss(loss_fn, y, y_pred, sample_weight, global_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = model.optimizer.scale_loss(loss)  # as fit: mixed-precision loss scaling
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return _replica_totals(loss, global_size, x)

    train_function = _loop_function(strategy, replica_step)

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, model=model, epochs=epochs, steps=steps_per_epoch, verbose=0)
    model.stop_training = False
    callback_list.on_train_begin()
    iterator = None
    epoch_logs = {}
    for epoch in range(epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        if iterator is None or steps_per_epoch is None:
            iterator = iter(distributed)
        totals, step = np.zeros(3), 0
        while steps_per_epoch is None or step < steps_per_epoch:
            steps = per_execution if steps_per_epoch is None else min(per_execution, steps_per_epoch - step)
            callback_list.on_train_batch_begin(step)
            done = train_function(iterator, tf.constant(steps)).numpy()
            totals += done
            if done[2] == 0:
                if steps_per_epoch is not None:
                    raise ValueError("The dataset ran out of data: with `steps_per_epoch` it must "
                                     "yield `steps_per_epoch * epochs` batches (repeat it).")
                break
            step += int(done[2])
            callback_list.on_train_batch_end(step - 1, {"loss": _mean(totals)})
            if model.stop_training or done[2] < steps:
                break
        epoch_logs = {**_metric_results(model), "loss": _mean(totals)}
        if validation_data is not None:
            epoch_logs.update({f"val_{name}": value for name, value
                               in custom_evaluate(model, validation_data).items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)  # as fit (EMA)
    callback_list.on_train_end(epoch_logs)
    return model.history


def custom_evaluate(model, dataset):
    """`evaluate` with `strategy.run`: `{"loss": ..., <compiled metrics>}` over `dataset`.

    `dataset` as in `custom_fit` (one pass); the loss is averaged over all samples.
    """
    strategy = model.distribute_strategy
    loss_fn = _unreduced_loss(model)

    def replica_step(batch):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        global_size = _global_batch_size(x)
        y_pred = model(x, training=False)
        loss = _average_loss(loss_fn, y, y_pred, sample_weight, global_size)
        if model.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return _replica_totals(loss, global_size, x)

    _build_metrics(model, dataset.element_spec)
    test_function = _loop_function(strategy, replica_step)
    model.reset_metrics()
    iterator = iter(strategy.experimental_distribute_dataset(_data_sharded(dataset)))
    totals = np.zeros(3)
    while True:
        done = test_function(iterator, tf.constant(_EVALUATION_STEPS)).numpy()
        totals += done
        if done[2] < _EVALUATION_STEPS:
            break
    return {**_metric_results(model), "loss": _mean(totals)}


class _Unreduced(keras.losses.Loss):
    """A loss function's value per example, ranks aligned as Keras' compiled loss does."""

    def __init__(self, fn, name):
        super().__init__(name=name, reduction=None)
        self.fn = fn

    def call(self, y_true, y_pred):
        y_true = keras.ops.convert_to_tensor(y_true)
        y_pred = keras.ops.convert_to_tensor(y_pred)
        # (batch,) labels against (batch, 1) outputs: expand the labels, as Keras does.
        for a, b in ((0, 1), (1, 0)):
            pair = [y_true, y_pred]
            small, large = pair[a], pair[b]
            if len(large.shape) == len(small.shape) + 1 and large.shape[-1] == 1:
                if len(small.shape) == 1:
                    pair[a] = keras.ops.expand_dims(small, -1)
                else:
                    pair[b] = keras.ops.squeeze(large, -1)
                y_true, y_pred = pair
        return self.fn(y_true, y_pred)


def _unreduced_loss(model):
    """The model's compiled loss as a `keras.losses.Loss` that returns per-example values."""
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (list, tuple, dict)):
        raise ValueError("The custom training loop needs a model compiled with a single loss "
                         f"(a name, function or `keras.losses.Loss`). Received: loss={loss!r}")
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return type(loss).from_config({**loss.get_config(), "reduction": None})
    return _Unreduced(loss, getattr(loss, "__name__", "loss"))


def _average_loss(loss_fn, y, y_pred, sample_weight, global_size):
    values = loss_fn(y, y_pred)
    if len(values.shape) > 1:  # mean over the non-batch axes, as Keras' loss reduction
        values = tf.reduce_mean(values, axis=list(range(1, len(values.shape))))
    if sample_weight is not None:
        sample_weight = tf.reshape(tf.cast(sample_weight, values.dtype), tf.shape(values))
    return tf.nn.compute_average_loss(values, sample_weight=sample_weight,
                                      global_batch_size=global_size)


def _build_metrics(model, element_spec):
    """Create the compiled metrics' variables before the training graph is traced.

    Keras builds them lazily, at their first update; inside the training loop that
    fails under MirroredStrategy. One update on a zero batch of the dataset's
    structure (batch size 1) builds them, and is reset at once.
    """
    strategy = model.distribute_strategy

    def update_on_zeros():
        zeros = tf.nest.map_structure(
            lambda spec: tf.zeros([1] + [1 if d is None else d for d in spec.shape[1:]],
                                  spec.dtype), element_spec)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(zeros)
        model.compute_metrics(x, y, model(x, training=False), sample_weight=sample_weight)

    tf.function(lambda: strategy.run(update_on_zeros), autograph=False)()
    model.reset_metrics()


def _loop_function(strategy, replica_step):
    """A graph running up to `steps` replica steps; returns (loss sum, samples, steps).

    `get_next_as_optional` (all workers agree on it) ends a one-pass epoch inside the
    graph, so a partial execution still counts.
    """

    @tf.function
    def one_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        loss_sum, size = (strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                          for value in per_replica)
        return tf.stack([loss_sum, size, 1.0])

    @tf.function(autograph=False)
    def run_steps(iterator, steps):
        # A while loop on the next batch's Optional, as in Keras' fit: a step inside a
        # `tf.cond` fails under MirroredStrategy (its optimizer update merges replicas),
        # and no batch beyond `steps` is taken from the iterator.
        def more(done, totals, batch):
            return tf.logical_and(done < steps, batch.has_value())

        def step(done, totals, batch):
            totals += one_step(batch.get_value())
            batch = tf.cond(done + 1 < steps, iterator.get_next_as_optional, lambda: batch)
            return done + 1, totals, batch

        return tf.while_loop(more, step, [tf.constant(0), tf.zeros([3]),
                                          iterator.get_next_as_optional()])[1]

    return run_steps


def _replica_totals(loss, global_size, x):
    """This replica's share of the batch's loss sum and of its samples.

    `loss` is already this replica's part of the global mean (per-example losses
    summed here, divided by the global batch size), so summed over the replicas,
    `loss * global_size` is the batch's loss sum (regularization included, as in `fit`).
    """
    local_size = tf.shape(keras.tree.flatten(x)[0])[0]
    return (tf.cast(loss, tf.float32) * tf.cast(global_size, tf.float32),
            tf.cast(local_size, tf.float32))


def _global_batch_size(x):
    """The batch size summed over every replica: right for a smaller last batch too."""
    # Summed as a float: MirroredStrategy's all-reduce of an int32 fails in a loop.
    local = tf.cast(tf.shape(keras.tree.flatten(x)[0])[0], tf.float32)
    total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)
    return tf.cast(total, tf.int64)


def _data_sharded(dataset):
    """Every worker reads the whole dataset and keeps its part of every batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _steps_per_execution(model):
    steps = getattr(model, "steps_per_execution", 1)
    return int(steps) if isinstance(steps, (int, np.integer)) and steps > 0 else 1


def _metric_results(model):
    """The compiled metrics (not the loss tracker, which this loop does not feed)."""
    results = {}
    for name, value in model.get_metrics_result().items():
        if name != "loss":
            results[name] = float(value)
    return results


def _mean(totals):
    return float(totals[0] / totals[1]) if totals[1] else float("nan")
