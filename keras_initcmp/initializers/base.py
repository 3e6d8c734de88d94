"""What every initializer here shares: registration, the float-only guard, the
arguments' allowed values and seed derivation.

Every class is registered with `keras.saving.register_keras_serializable(package=
"keras_initcmp")`: its name in a saved `.keras` file is `keras_initcmp>ClassName`, which
never changes when a module moves, so files saved by any version reload.
"""

import keras
import numpy as np

__all__ = ["register", "MODES", "DISTRIBUTIONS", "KERAS_DISTRIBUTION", "check_float_dtype",
           "FloatOnly", "derive_seed", "PUBLIC_MODULE"]

PUBLIC_MODULE = "keras_initcmp.initializers"
"""Where users import the classes from (and what a saved file records as their module)."""


MODES = ("fan_avg", "fan_in", "fan_out")


DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


# Keras calls the untruncated normal "untruncated_normal"; this package follows the
# papers (and PyTorch), where "normal" means untruncated.
KERAS_DISTRIBUTION = {
    "normal": "untruncated_normal",
    "truncated_normal": "truncated_normal",
    "uniform": "uniform",
}


_register_keras = keras.saving.register_keras_serializable(package="keras_initcmp")


def register(cls):
    """Registers `cls` as `keras_initcmp>ClassName` and gives it its public module, so that
    a saved file names the same module for every scheme, wherever its class is defined."""
    cls.__module__ = PUBLIC_MODULE
    return _register_keras(cls)


def check_float_dtype(dtype):
    name = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
    if not name.startswith(("float", "bfloat")):
        raise ValueError(
            "Argument `dtype` must be a floating-point dtype such as "
            f"('bfloat16', 'float16', 'float32', 'float64'). Received: dtype={dtype!r}"
        )
    return name


class FloatOnly:
    """Mixin: reject integer/bool dtypes with a clear error instead of a backend one."""

    def __call__(self, shape, dtype=None):
        return super().__call__(shape, dtype=check_float_dtype(dtype))


def derive_seed(seed, *salt):
    """A seed for another draw from `seed` and `salt` (ints): well mixed, and below
    2**31, which every backend's seed argument accepts."""
    return int(np.random.SeedSequence([int(seed), *salt]).generate_state(1)[0] % (2**31 - 1))
