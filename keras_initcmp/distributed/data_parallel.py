"""One run across every local device with the backend's own data parallelism:
`compare(..., strategy="data-parallel")`, `--strategy data-parallel`.

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`:
  the variables replicated on every device, each batch split along its first axis,
  gradients averaged by XLA's collectives. A run builds its model and trains inside
  the distribution's `scope()` (Keras' own `fit`; the shared compiled loop of
  `driver.shared_runs` is single-device, so it is not taken). With several JAX
  processes (`keras.distribution.initialize`) only process 0 writes.
- TensorFlow: `tf.distribute.MirroredStrategy` (`"mirrored"`,
  `keras_initcmp.distributed.strategies`).
- PyTorch: Keras has no distribution there; a `ValueError` says so.

The batch must split evenly over the devices (JAX places equal shards).
"""

import keras

from keras_initcmp import backend

__all__ = ["NAME", "get", "is_distribution", "is_chief"]

NAME = "data-parallel"
"""The strategy's name, in `settings.json` on JAX (TensorFlow's is `"mirrored"`)."""


def get():
    """The running backend's data parallelism over every local device."""
    name = backend.name()
    if name == "jax":
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    if name == "tensorflow":
        from keras_initcmp.distributed.strategies import get_strategy
        return get_strategy("mirrored")
    raise ValueError(f"Argument `strategy`: {NAME!r} needs the JAX or TensorFlow backend; "
                     f"Keras has no distribution for PyTorch. Received: strategy={NAME!r} "
                     f"with KERAS_BACKEND={name!r}")


def is_distribution(strategy):
    """Whether `strategy` is a `keras.distribution` one (not `tf.distribute`)."""
    return isinstance(strategy, (keras.distribution.DataParallel,
                                 keras.distribution.ModelParallel))


def is_chief(strategy):
    """Whether this process writes: process 0 of a multi-process JAX run, else always."""
    del strategy  # every process of a distribution knows its index
    return backend.get().is_chief(None)
