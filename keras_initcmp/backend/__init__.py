"""The per-backend pieces behind one neutral API; the rest of the package never asks which backend.

One module per Keras backend (`tensorflow`, `jax`, `torch`), as Keras keeps its own,
each with the same names:

- `ACCUMULATOR`: the dtype of on-device sums, edges and bucket indices (float64
  where the backend has it);
- `MAX_STEPS_PER_EXECUTION`: most training steps per compiled call;
- `layer_summary(bins, max_values)`: a function `activation -> {"moments": the
  `stats.MOMENTS` vector, "alive": per-unit bool, "rows": [bins, 3] buckets}` (no
  "rows" when `bins` is None) that a snapshot applies to each layer's output where
  it is produced (`LayerRecorder(reduce=...)`): scalars exact over every value,
  buckets over at most `max_values` (`keras_initcmp.measurement.reduction`), each backend its
  fastest way;
- `limit_threads(threads)`: cap the op threads of a worker process;
- `snapshot_function(model, recorder, summarize)`: a compiled function
  `run(x, y=None)` for one inference pass (and with `y` one backward pass) that
  records the layers' outputs and returns `summarize(activations, gradients,
  weights)` as NumPy, where `activations` is `{path: what the recorder keeps}`
  (the tensor, or its `reduce`d summary), `gradients`
  `{path: {variable name: gradient}}` (or `None` without `y`) and `weights`
  `{path: {variable name: value}}`;
- `step_loop(model, training)`: a function `run(data, steps=1)` that runs `steps` of
  the model's own `train_step` (or `test_step`) on one batch in one compiled call,
  on the model's variables, and returns the last step's logs as NumPy; `None` where
  the backend compiles nothing (PyTorch), see `keras_initcmp.driver.shared_runs`;
- `is_chief(model)`: whether this process writes (only the chief, under a
  `tf.distribute` strategy or a multi-process JAX run);
- `deterministic(seed)`: a context manager that seeds Keras (and, on TensorFlow,
  turns op determinism on) and restores the previous state on exit;
- `training_data(x, y, batch_size, seed)` and `evaluation_data(x, y, batch_size)`:
  what `fit` and `evaluate` take, shuffled per epoch with `seed`.

Only `backend/tensorflow.py` (and `distributed.py`) import TensorFlow.
"""

import importlib

import keras

__all__ = ["get", "name", "STRATEGIES"]

STRATEGIES = ("default", "mirrored", "multiworker")
"""The `tf.distribute` strategies `compare` offers (`keras_initcmp.distributed`): TensorFlow only."""


def name():
    """The running Keras backend: `"tensorflow"`, `"jax"` or `"torch"`."""
    return keras.backend.backend()


def get():
    """The module of the running backend (see the module docstring for its names)."""
    backend = name()
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(f"keras_initcmp supports the Keras backends ('jax', 'tensorflow', "
                         f"'torch'). Received: KERAS_BACKEND={backend!r}")
    return importlib.import_module(f"keras_initcmp.backend.{backend}")
