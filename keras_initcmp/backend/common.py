"""What the JAX and PyTorch backends share: input pipelines from NumPy arrays, without `tf.data`."""

import math

import keras
import numpy as np

from keras_initcmp.arrays import rows, samples

__all__ = ["EndlessBatches", "OrderedBatches", "training_data", "evaluation_data"]


class EndlessBatches(keras.utils.PyDataset):
    """Batches of `(x, y)` without end, in a new seeded order on every pass over the data.

    Infinite (`num_batches` is None), as `tf.data`'s `.repeat()`: `fit` takes
    `steps_per_epoch` from it, and a compiled step that runs many batches per call
    (`steps_per_execution`) never runs out. Pass `p` uses the order
    `default_rng([seed, p]).permutation(n)`, so any batch can be rebuilt from its
    index alone. A batch size of at least the data's length gives full-batch
    gradient descent: the whole arrays every step.
    """

    def __init__(self, x, y, batch_size, seed=0):
        super().__init__()
        self.x, self.y = x, y
        self.size = samples(x)
        self.batch_size = min(batch_size, self.size)
        self.seed = seed
        self._batches_per_pass = math.ceil(self.size / self.batch_size)
        self._order = (None, None)

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        if self.batch_size == self.size:
            return self.x, self.y
        epoch, batch = divmod(index, self._batches_per_pass)
        if self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        picks = self._order[1][batch * self.batch_size:(batch + 1) * self.batch_size]
        return rows(self.x, picks), rows(self.y, picks)


class OrderedBatches(keras.utils.PyDataset):
    """One pass over `(x, y)` in order, for `evaluate`."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y = x, y
        self.size = samples(x)
        self.batch_size = min(batch_size, self.size)

    def __len__(self):
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, index):
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return rows(self.x, window), rows(self.y, window)


def training_data(x, y, batch_size, seed):
    return EndlessBatches(x, y, batch_size, seed=seed)


def evaluation_data(x, y, batch_size):
    return OrderedBatches(x, y, batch_size)
