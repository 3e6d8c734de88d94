"""A sweep's training runs on one shared model: its training loop compiled once, not once a run.

The runs of a sweep share one architecture and differ only in their initial weights.
So the first run's model becomes the shared one, and every run loads its freshly
drawn weights and the optimizer's initial state into it, then trains through one
compiled program per backend (`backend.step_loop`): many of Keras' own
`train_step`s in one call, XLA-compiled where Keras can. Its callbacks are driven as
`fit` drives them (batch ends once per `steps_per_execution` steps, validation
before the epoch ends), so the run's curves, snapshots, HParams and record are
those of `fit`, to float32 rounding (XLA fuses ops, `fit` on TensorFlow does not).

Why not a run axis (`jax.vmap` over the runs): on a CPU the batched matmuls of R
tiny nets cost R times one (measured on circles: 4 runs in one vmapped JAX step
148 µs, one run 40 µs; TensorFlow's `vectorized_map` 300 µs); what a sweep spends
per run is the trace, and this removes it. `reason_not_shared` says when the
plain per-run `fit` is taken instead.
"""

import keras

from keras_initcmp import backend
from keras_initcmp.arrays import rows, samples

__all__ = ["SharedModel", "reason_not_shared", "in_batches"]


def reason_not_shared(task, net):
    """Why `task`'s runs cannot share one model and compiled loop (`None`: they can).

    `net` is the first run's fresh model. Each reason falls back to `fit` per run.
    """
    if backend.get().step_loop is None:
        return f"the {backend.name()} backend has no compiled loop of steps"
    if task.strategy is not None:
        return "a distribution strategy trains through its own loop"
    if task.batch_size < samples(task.data["x"]):
        return "minibatches: every run shuffles its own batches"
    if net is task.model:
        return "a model Keras cannot clone is reset in place, not shared"
    return None


class SharedModel:
    """One compiled model that trains run after run, each from its own initial weights."""

    def __init__(self, net, x, y):
        self.net = net
        # Builds the compiled loss and metrics, and the optimizer's slots, outside any
        # trace: all the state a run starts from is there to be saved and restored.
        net.test_on_batch(*keras.tree.map_structure(lambda array: array[:1], (x, y)))
        if not net.optimizer.built:
            net.optimizer.build(net.trainable_variables)
        self._fresh_optimizer = [variable.numpy() for variable in net.optimizer.variables]
        step_loop = backend.get().step_loop
        self._train = step_loop(net, training=True)
        self._test = step_loop(net, training=False)

    def load(self, fresh):
        """`fresh`'s weights, the optimizer as just built: the shared model is `fresh` now."""
        self.net.set_weights(fresh.get_weights())
        for variable, value in zip(self.net.optimizer.variables, self._fresh_optimizer, strict=True):
            variable.assign(value)
        self.net.stop_training = False
        return self.net

    def fit(self, data, epochs, steps_per_epoch, steps_per_execution, validation, callbacks):
        """`fit(x, y)` on the full batch `data`, as `keras.Model.fit` runs it; returns
        `(epochs run, last epoch's logs)`."""
        callbacks = keras.callbacks.CallbackList(callbacks, model=self.net)
        callbacks.on_train_begin()
        logs = {}
        for epoch in range(epochs):  # (at least one: `compare` checks epochs)
            self.net.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            for begin in range(0, steps_per_epoch, steps_per_execution):
                callbacks.on_train_batch_begin(begin)
                logs = self._train(data, steps_per_execution)
                callbacks.on_train_batch_end(begin + steps_per_execution - 1, logs)
                if self.net.stop_training:
                    break
            if validation is not None:
                logs = {**logs, **{f"val_{name}": value
                                   for name, value in self.evaluate(validation).items()}}
            callbacks.on_epoch_end(epoch, logs)
            if self.net.stop_training:
                break
        callbacks.on_train_end(logs)
        return epoch + 1, logs

    def evaluate(self, batches):
        """`evaluate(return_dict=True)` over `batches` (`in_batches`' list)."""
        self.net.reset_metrics()
        logs = {}
        for batch in batches:
            logs = self._test(batch)
        return logs


def in_batches(x, y, batch_size):
    """`(x, y)` as `evaluate` reads them: consecutive batches, the last one partial."""
    size = samples(x)
    return [(rows(x, slice(start, start + batch_size)), rows(y, slice(start, start + batch_size)))
            for start in range(0, size, batch_size)]
