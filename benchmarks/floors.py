"""The floors the speed claims are measured against: plain code doing the same work.

- `numpy_circles`: the article's NumPy loop for the circles net (its model and
  gradient descent, nothing logged);
- `bare_chain`: the probe's matmuls and activations over its input, batch by batch
  (TensorFlow, nothing recorded);
- `timed`: seconds of one call.

Imported by the claim scripts beside it (`circles_vs_numpy.py`, `probe_vs_matmuls.py`,
`compare_sh_vs_floors.py`); not a benchmark of its own.
"""

import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


SCALES = {"zeros": lambda n: 0.0, "random": lambda n: 0.01,
          "xavier": lambda n: math.sqrt(1 / n), "he": lambda n: math.sqrt(2 / n)}


def numpy_circles(data, steps, scale, learning_rate=0.01):
    """The article's (Coursera's) model and loop: [2, 10, 5, 1], ReLU, ReLU, sigmoid."""
    x, y = data["x"].T.astype(np.float64), data["y"].T.astype(np.float64)
    sizes = (2, 10, 5, 1)
    rng = np.random.RandomState(3)
    weights = [rng.randn(n_out, n_in) * scale(n_in) for n_in, n_out in zip(sizes, sizes[1:])]
    biases = [np.zeros((n, 1)) for n in sizes[1:]]
    m = x.shape[1]
    for step in range(steps):
        z1 = weights[0] @ x + biases[0]
        a1 = np.maximum(z1, 0)
        z2 = weights[1] @ a1 + biases[1]
        a2 = np.maximum(z2, 0)
        a3 = 1 / (1 + np.exp(-(weights[2] @ a2 + biases[2])))
        if step % 1000 == 0:  # the article prints the cost every 1000 steps
            cost = -np.mean(y * np.log(a3) + (1 - y) * np.log(1 - a3))
        dz3 = (a3 - y) / m
        dz2 = (weights[2].T @ dz3) * (z2 > 0)
        dz1 = (weights[1].T @ dz2) * (z1 > 0)
        grads = [(dz1 @ x.T, dz1.sum(1, keepdims=True)), (dz2 @ a1.T, dz2.sum(1, keepdims=True)),
                 (dz3 @ a2.T, dz3.sum(1, keepdims=True))]
        for index, (dw, db) in enumerate(grads):
            weights[index] -= learning_rate * dw
            biases[index] -= learning_rate * db
    return cost


def bare_chain(sizes, activation, samples, batch_size, seed=0):
    """The probe's input, matmuls and activations, batch by batch, nothing else."""
    x = np.random.default_rng(seed).standard_normal((samples, sizes[0]), dtype=np.float32)
    weights = [tf.constant(np.random.default_rng(1).standard_normal((a, b), dtype=np.float32)
                           * math.sqrt(2 / a)) for a, b in zip(sizes, sizes[1:])]
    act = keras.activations.get(activation)

    @tf.function
    def forward(batch):
        total = tf.constant(0.0)
        for kernel in weights:
            batch = act(batch @ kernel)
            total += tf.reduce_sum(batch)  # keeps every layer from being pruned
        return total

    for start in range(0, samples, batch_size):
        forward(x[start:start + batch_size]).numpy()


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start
