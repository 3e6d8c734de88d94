"""Schemes: the registry (`registry`: every scheme's name, initializers, description,
colour, mean-field σ_w²; a new scheme is one entry there) and mean-field signal
propagation (`theory`). Plain Python and NumPy: no Keras at import.

`keras_initcmp.schemes.get("he")`, `names()`, `describe()` are the registry's.
"""

from keras_initcmp.schemes.registry import Scheme, describe, get, names

__all__ = ["Scheme", "get", "names", "describe"]
