"""Strategies of `tf.distribute`: which one, who is chief, and which training path it takes.

Measured with Keras 3.15 / TensorFlow 2.21 (tests/distributed/test_distributed.py checks both):

- `"multiworker"` (`tf.distribute.MultiWorkerMirroredStrategy`, workers from
  `TF_CONFIG`): `Model.fit` fails before the first step (`evaluate` and
  `train_on_batch` call the same symbolic build): the build passes a nested batch to
  `strategy.reduce`, which the collective strategy cannot reduce (`ValueError: Attempt to convert a value
  (PerReplica...) ... to a Tensor`; keras-team/keras#20585). Always the custom loop.
- `"mirrored"` (`tf.distribute.MirroredStrategy`, the devices of one machine): Keras'
  own `Model.fit` inside the strategy's scope works with one replica, and with several
  only while `steps_per_execution` is 1 *and* the first batch of the training and of
  the validation data splits evenly over the replicas. Otherwise it fails at the first
  step: `InvalidArgumentError: You must feed a value for placeholder tensor` (its steps
  run inside a `tf.cond`, where the optimizer's cross-replica merge cannot;
  keras-team/keras#19246), or `InvalidArgumentError: Inputs to operation AddN of type
  AddN must have the same size and shape` (the symbolic build averages the first
  batch over the replicas). So with more than one replica, the custom loop.

The custom loop is `keras_initcmp.distributed.custom_loop`'s; `fit` and `evaluate` below
pick the path. Under any strategy
only the chief writes (`is_chief`); `ActivationHistograms` does that itself.
"""

import tensorflow as tf

from keras_initcmp.backend import STRATEGIES
from keras_initcmp.distributed.custom_loop import custom_evaluate, custom_fit

__all__ = ["STRATEGIES", "get_strategy", "strategy_name", "is_chief", "chief_flags",
           "uses_custom_loop", "fit", "evaluate"]
_multiworker = None  # one per process: the collective ops are configured once


def get_strategy(name="default", devices=None):
    """The `tf.distribute` strategy called `name` (one of `STRATEGIES`).

    `"default"` is the current strategy (one device, unless inside a scope);
    `"mirrored"` mirrors over `devices` (default: every GPU, else the CPU);
    `"multiworker"` reads the cluster from the `TF_CONFIG` environment variable and
    must be created when the program starts, before TensorFlow runs any op.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        global _multiworker
        if devices is not None:
            raise ValueError("Argument `devices` does not apply to 'multiworker': the "
                             f"cluster comes from TF_CONFIG. Received: devices={devices!r}")
        if _multiworker is None:
            try:
                _multiworker = tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:
                raise RuntimeError(
                    "MultiWorkerMirroredStrategy must be created when the program starts, "
                    "before TensorFlow runs any op: call "
                    "`keras_initcmp.distributed.get_strategy('multiworker')` first and pass "
                    f"the strategy on. ({error})") from None
        return _multiworker
    raise ValueError(f"Argument `strategy` must be one of {STRATEGIES}. Received: "
                     f"strategy={name!r}")


def is_chief(strategy=None):
    """Whether this process writes summaries and results (always, without a cluster)."""
    return (strategy or tf.distribute.get_strategy()).extended.should_save_summary


def strategy_name(strategy):
    """`"default"`, `"mirrored"` or `"multiworker"` for a strategy of those kinds."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multiworker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "default"
    return type(strategy).__name__


def chief_flags(strategy, flags):
    """The chief's list of booleans, on every worker (one all-reduce across workers).

    For decisions that every worker must take alike from files only the chief has,
    such as which runs a resumed sweep still has to do.
    """
    if not flags or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return list(flags)
    # Each replica of the chief adds its share of the flags, every other replica zeros.
    share = float(is_chief(strategy)) / len(strategy.extended.worker_devices)
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant([float(flag) * share for flag in flags]))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)
    return [bool(value > 0.5) for value in total.numpy()]


def uses_custom_loop(model):
    """Whether `fit`/`evaluate` train `model` with the custom loop (see the module doc)."""
    strategy = model.distribute_strategy
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            or strategy.num_replicas_in_sync > 1)


def fit(model, dataset, *, epochs=1, steps_per_epoch=None, validation_data=None,
        callbacks=None, verbose=0):
    """`model.fit(dataset, ...)`, or `custom_fit` where the model's strategy needs it."""
    if uses_custom_loop(model):
        return custom_fit(model, dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                          validation_data=validation_data, callbacks=callbacks)
    return model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                     validation_data=validation_data, callbacks=callbacks, verbose=verbose,
                     shuffle=False)


def evaluate(model, dataset):
    """`model.evaluate(dataset, return_dict=True)`, or `custom_evaluate` where needed."""
    if uses_custom_loop(model):
        return custom_evaluate(model, dataset)
    return model.evaluate(dataset, verbose=0, return_dict=True)


# --- internals ------------------------------------------------------------------------
