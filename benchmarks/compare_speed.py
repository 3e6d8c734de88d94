"""How fast is the comparison driver against the article's plain NumPy?

1. circles: `keras_initcmp.compare` over the article's four schemes (1 seed, 15,000
   full-batch steps each, with all its logging) against the article's NumPy loop
   doing the same 4 x 15,000 steps, and against a bare Keras `fit` (no callbacks).
2. probe: `keras_initcmp.probe` for one scheme on the article's 100,000 x 1000 input
   against a bare chain of the same matmuls (TensorFlow, same batches, no statistics);
   both include drawing the 10^8 random inputs.

TensorFlow's import is outside every timing. Run:

    .venv/bin/python benchmarks/compare_speed.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/compare_speed.py --steps 3000 --samples 20000   # quick
"""

import argparse
import math
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_initcmp import backend, driver, experiments, runs  # noqa: E402

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


def bare_keras_circles(model, data, steps, epochs):
    """`fit` alone: the driver's data pipeline and steps per execution, no callbacks."""
    net = driver.reinitialize(model, "he", 0)
    net.compile(keras.optimizers.SGD(0.01), "binary_crossentropy", metrics=["accuracy"],
                steps_per_execution=runs._steps_per_execution(steps // epochs))
    dataset = backend.get().training_data(data["x"], data["y"], len(data["x"]), 0)
    net.fit(dataset, epochs=epochs, steps_per_epoch=steps // epochs, verbose=0, shuffle=False)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}")

    experiment = experiments.get("circles")
    model, data = experiment.build_model(), experiment.load_data()
    settings = {**experiment.training, "steps": args.steps, "epochs": args.epochs}
    numpy_seconds = timed(lambda: [numpy_circles(data, args.steps, SCALES[s]) for s in SCALES])
    bare_keras_circles(model, data, args.epochs * 10, args.epochs)  # warm-up: first trace
    bare_seconds = sum(timed(bare_keras_circles, model, data, args.steps, args.epochs)
                       for _ in SCALES)
    with tempfile.TemporaryDirectory() as logdir:
        compare_seconds = timed(driver.compare, model, data, tuple(SCALES),
                                experiment="circles", logdir=logdir, **settings)
    print(f"\ncircles, 4 schemes x {args.steps} full-batch steps:")
    for name, seconds in (("NumPy loop (the article's)", numpy_seconds),
                          ("bare Keras fit, 4 runs", bare_seconds),
                          ("keras_initcmp.compare, all logging", compare_seconds)):
        print(f"  {name:<36} {seconds:7.1f} s   {seconds / numpy_seconds:5.1f} x NumPy")

    sizes, batch_size = driver.PROBE_SIZES, 5000
    timed(bare_chain, sizes, "relu", batch_size, batch_size)  # warm-up: first trace
    chain_seconds = timed(bare_chain, sizes, "relu", args.samples, batch_size)
    runs.clear_input_cache()  # both timings include drawing the input
    with tempfile.TemporaryDirectory() as logdir:
        probe_seconds = timed(driver.probe, ("he",), activation="relu", samples=args.samples,
                              batch_size=batch_size, logdir=logdir)
    print(f"\nprobe, 1 scheme, {args.samples} x {sizes[0]} input, net {list(sizes)}:")
    for name, seconds in (("bare chain of the matmuls (TF)", chain_seconds),
                          ("keras_initcmp.probe", probe_seconds)):
        print(f"  {name:<36} {seconds:7.1f} s   {seconds / chain_seconds:5.1f} x bare")


if __name__ == "__main__":
    main()
