"""What the JAX and PyTorch backends share: input pipelines from NumPy arrays, without `tf.data`."""

import math

import keras
import numpy as np

__all__ = ["ShuffledBatches", "training_data", "evaluation_data"]


class ShuffledBatches(keras.utils.PyDataset):
    """Batches of `(x, y)` in a new seeded order every epoch (one pass per epoch).

    With `shuffle=False` the order is the arrays' own; a batch size of at least
    the data's length gives full-batch gradient descent (one batch per epoch).
    """

    def __init__(self, x, y, batch_size, seed=0, shuffle=True):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(x))
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self):
        indices = np.arange(len(self.x))
        return self._rng.permutation(indices) if self.shuffle else indices

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        if self.batch_size == len(self.x):
            return self.x, self.y
        picks = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[picks], self.y[picks]

    def on_epoch_end(self):
        self._order = self._new_order()


def training_data(x, y, batch_size, seed):
    return ShuffledBatches(x, y, batch_size, seed=seed)


def evaluation_data(x, y, batch_size):
    return ShuffledBatches(x, y, batch_size, shuffle=False)
