"""Constant initializers: `Zeros`, the article's failure baseline."""

import keras

from keras_initcmp.initializers.base import FloatOnly, register

__all__ = ["Zeros"]


@register
class Zeros(FloatOnly, keras.initializers.Zeros):
    """All-zero weights: the article's failure baseline.

    `W = 0`. With every kernel zero, all units of a layer compute the same output
    and receive the same gradient, so symmetry is never broken: a ReLU network
    stays at its initial loss (`ln 2` on a balanced binary task). Suits no hidden
    layer; it is here to show why random initialization is needed.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=Zeros())

    Reference: Ng, *Deep Learning Specialization*, "Initialization" assignment.
    """

    def get_config(self):
        return {}
