"""The JAX backend: snapshots as one `jax.jit` program over the model's variable values.

The model runs statelessly (`keras.StatelessScope` maps every variable to a value
passed in), so the recorded layer outputs are traced values of the same program
and the statistics are reduced inside it; gradients come from `jax.grad` over the
trainable values. The program is compiled once per model and probe shape.
"""

import contextlib
import os

import jax
import keras
import numpy as np

from keras_initcmp.backend.common import evaluation_data, training_data
from keras_initcmp.measurement.recording import variable_names
from keras_initcmp.measurement.stats import ops_summary

__all__ = ["ACCUMULATOR", "snapshot_function", "layer_summary", "step_loop", "is_chief",
           "deterministic", "training_data", "evaluation_data", "limit_threads"]

ACCUMULATOR = "float64" if jax.config.jax_enable_x64 else "float32"
MAX_STEPS_PER_EXECUTION = 500
"""Most training steps per compiled call (`steps_per_execution`): bounds the search for a divisor of steps_per_epoch."""


def snapshot_function(model, recorder, summarize):
    """See `keras_initcmp.backend`."""
    trainable = list(model.trainable_variables)
    non_trainable = list(model.non_trainable_variables)
    position = {id(variable): index for index, variable in enumerate(trainable)}

    def forward(trainable_values, non_trainable_values, x, y):
        mapping = list(zip(trainable, trainable_values)) \
            + list(zip(non_trainable, non_trainable_values))
        with keras.StatelessScope(state_mapping=mapping):
            activations, predictions = recorder.run(model, x)
            weights = {path: {name: variable.value for name, variable in
                              variable_names(layer).items()}
                       for path, layer in recorder.layers.items()}
            loss = None if y is None else model.compute_loss(
                x=x, y=y, y_pred=predictions, training=False)
        return loss, (activations, weights)

    def snapshot(trainable_values, non_trainable_values, x, y):
        if y is None:
            _, (activations, weights) = forward(trainable_values, non_trainable_values, x, y)
            return summarize(activations, None, weights)
        grads, (activations, weights) = jax.grad(forward, has_aux=True)(
            trainable_values, non_trainable_values, x, y)
        gradients = {path: {name: grads[position[id(variable)]] for name, variable in
                            variable_names(layer, trainable_only=True).items()
                            if id(variable) in position}
                     for path, layer in recorder.layers.items()}
        return summarize(activations, gradients, weights)

    compiled = jax.jit(snapshot)

    def run(x, y=None):
        if y is not None:
            _build_loss(model, x, y)
        result = compiled([v.value for v in trainable], [v.value for v in non_trainable], x, y)
        return recorder.in_call_order(keras.tree.map_structure(np.asarray, result))

    run.compiled = compiled  # the compiled program, for inspection (tracing counts)
    return run


def _build_loss(model, x, y):
    # The compiled loss builds itself (and its trackers) on its first call, which
    # must happen outside the stateless program: once, eagerly, on one sample.
    first = keras.tree.map_structure(lambda array: array[:1], (x, y))
    model.compute_loss(x=first[0], y=first[1], y_pred=model(first[0], training=False),
                       training=False)


def step_loop(model, training):
    """See `keras_initcmp.backend`: Keras' stateless `train_step`/`test_step` in a
    `jax.lax.fori_loop`, jitted once, on the model's variable values (written back)."""
    step = model.train_step if training else model.test_step
    groups = [model.trainable_variables, model.non_trainable_variables]
    groups += [model.optimizer.variables] if training else []
    groups += [model.metrics_variables]

    def loop(state, data, steps):
        # The logs' structure for the loop's carry, from an abstract step: one step
        # in the compiled program, not a first one before the loop as well.
        logs = jax.tree.map(lambda spec: jax.numpy.zeros(spec.shape, spec.dtype),
                            jax.eval_shape(step, state, data)[0])
        return jax.lax.fori_loop(0, steps, lambda _, carry: step(carry[1], data), (logs, state))

    compiled = jax.jit(loop)

    def run(data, steps=1):
        state = tuple([variable.value for variable in group] for group in groups)
        logs, state = compiled(state, data, steps)
        for group, values in zip(groups, state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return {name: np.asarray(value) for name, value in logs.items()}

    return run


def layer_summary(bins, max_values):
    """See `keras_initcmp.backend`: the `keras.ops` summary (`stats.ops_summary`),
    traced into the one jitted snapshot where each layer produces its output; XLA
    fuses a layer's moments into one loop over its values."""
    return ops_summary(bins, max_values)


def is_chief(model):
    return jax.process_index() == 0


@contextlib.contextmanager
def deterministic(seed):
    """Seed Keras, Python and NumPy (JAX's own ops are deterministic)."""
    keras.utils.set_random_seed(seed)
    yield


def limit_threads(threads):
    """Use at most `threads` threads for ops; XLA reads its flags when its CPU client
    starts, at the first op, so this must come before it (worker processes)."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_cpu_multi_thread_eigen=false"
                               f" intra_op_parallelism_threads={threads}").strip()
