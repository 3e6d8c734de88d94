"""The PyTorch backend: eager snapshots under `torch.no_grad`, gradients by `torch.autograd.grad`.

PyTorch runs eagerly: the recorded layer outputs are the tensors of the one
inference pass, reduced where they are (CPU or GPU); only the moments and bucket
rows are copied to the host.
"""

import contextlib

import keras
import torch

from keras_initcmp.backend.common import evaluation_data, training_data
from keras_initcmp.measurement.recording import variable_names

__all__ = ["ACCUMULATOR", "snapshot_function", "flat_function", "step_loop", "is_chief",
           "deterministic", "training_data", "evaluation_data", "limit_threads"]

ACCUMULATOR = "float64"
MAX_STEPS_PER_EXECUTION = 1
"""Most training steps per compiled call (`steps_per_execution`): Keras' PyTorch trainer runs one step per call (it refuses more)."""

step_loop = None
"""No compiled loop of steps: PyTorch runs eagerly, nothing is traced per run that a
shared program could save, and `fit`'s Python loop is the loop."""


def snapshot_function(model, recorder, summarize):
    """See `keras_initcmp.backend`."""

    def weights():
        return {path: {name: variable.value for name, variable in variable_names(layer).items()}
                for path, layer in recorder.layers.items()}

    def run(x, y=None):
        x = keras.tree.map_structure(keras.ops.convert_to_tensor, x)
        if y is None:
            with torch.no_grad():
                activations, _ = recorder.run(model, x)
                result = summarize(activations, None, weights())
        else:
            y = keras.tree.map_structure(keras.ops.convert_to_tensor, y)
            activations, predictions = recorder.run(model, x)
            loss = model.compute_loss(x=x, y=y, y_pred=predictions, training=False)
            trainable = {path: variable_names(layer, trainable_only=True)
                         for path, layer in recorder.layers.items()}
            gradients = _gradients(loss, trainable)
            with torch.no_grad():
                activations = {path: a.detach() for path, a in activations.items()}
                result = summarize(activations, gradients, weights())
        return recorder.in_call_order(keras.tree.map_structure(keras.ops.convert_to_numpy, result))

    return run


def _gradients(loss, trainable):
    flat = [(path, name, variable) for path, variables in trainable.items()
            for name, variable in variables.items()]
    grads = torch.autograd.grad(loss, [variable.value for _, _, variable in flat],
                                allow_unused=True) if flat else []
    gradients = {path: {} for path in trainable}
    for (path, name, _), grad in zip(flat, grads):
        if grad is not None:
            gradients[path][name] = grad
    return gradients


def flat_function(function):
    """`function` itself: it is traced inside the one compiled snapshot (JAX) or run
    eagerly (PyTorch); see `stats.flat_summary`."""
    return function


def is_chief(model):
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        or torch.distributed.get_rank() == 0


@contextlib.contextmanager
def deterministic(seed):
    """Seed Keras, Python, NumPy and torch (which `keras.utils.set_random_seed` covers)."""
    keras.utils.set_random_seed(seed)
    yield


def limit_threads(threads):
    """Use at most `threads` threads for ops; call before the first op (worker processes)."""
    torch.set_num_threads(threads)
