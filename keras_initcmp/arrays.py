"""Rows of nested array structures: how many samples a structure holds, and a subset of
its rows. What the input pipelines, the runs and the loaders share; `keras.tree` only.
"""

import keras

__all__ = ["samples", "rows"]


def samples(structure):
    """The number of rows of an array, or of the first array of a list or dict of them."""
    return keras.tree.flatten(structure)[0].shape[0]


def rows(structure, index):
    """The rows `index` (a slice or an index array) of an array or of each array of a structure."""
    return keras.tree.map_structure(lambda array: array[index], structure)
