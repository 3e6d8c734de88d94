"""`calculate_gain`: the recommended `gain` of a scheme for a nonlinearity (PyTorch's table).

Re-exported as `keras_initcmp.initializers.calculate_gain`.
"""

import math

from keras_initcmp import checks

__all__ = ["calculate_gain"]

_UNIT_GAIN = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "linear", "sigmoid")
_GAINS = {
    **{name: lambda param: 1.0 for name in _UNIT_GAIN},
    "tanh": lambda param: 5.0 / 3.0,
    "relu": lambda param: math.sqrt(2.0),
    "leaky_relu": lambda param: math.sqrt(
        2.0 / (1.0 + checks.number_at_least("param", 0.01 if param is None else param) ** 2)
    ),
    "selu": lambda param: 3.0 / 4.0,
}


def calculate_gain(nonlinearity, param=None):
    """Recommended `gain` for a nonlinearity, the same table as PyTorch's.

    linear, conv and sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + a²))
    with `a = param` (default 0.01); selu: 3/4.

    Example:

    >>> layer = keras.layers.Dense(
    ...     3, activation="tanh", kernel_initializer=Xavier(gain=calculate_gain("tanh")))
    """
    checks.choice("nonlinearity", nonlinearity, tuple(_GAINS))
    return _GAINS[nonlinearity](param)
