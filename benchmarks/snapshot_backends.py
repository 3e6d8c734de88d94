"""The callback's snapshot against a bare forward pass of the same probe, on every backend.

    .venv/bin/python benchmarks/snapshot_backends.py [--repeats 5]

For each Keras backend (a fresh process each: the backend is chosen at import) and
two models — an MLP 784-512-256-128-64-10 (ReLU) and a small conv net (three Conv2D
on 28×28×1), both on a 512-sample probe — it times, after one warm-up call each:

- the floor: one compiled inference pass of the model on the probe (`tf.function`,
  `jax.jit` over `stateless_call`, or eager under `torch.no_grad`), its output
  copied to the host;
- one `ActivationHistograms.snapshot` (statistics, buckets, event-file writes).

Prints a Markdown table of medians and the ratio snapshot / floor, then one claim
line (`claims.py`) per backend and model: the conv net's target is 3.0×, the MLP's
is reported beside it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BACKENDS = ("tensorflow", "jax", "torch")
PROBE_SIZE = 512


def build(kind):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if kind == "mlp":
        layers = [keras.Input((784,))] + [keras.layers.Dense(units, activation="relu")
                                          for units in (512, 256, 128, 64)]
        x = rng.normal(size=(PROBE_SIZE, 784)).astype("float32")
    else:
        layers = [keras.Input((28, 28, 1))] + [
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same")
            for filters in (16, 32, 32)] + [keras.layers.GlobalAveragePooling2D()]
        x = rng.normal(size=(PROBE_SIZE, 28, 28, 1)).astype("float32")
    model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    return model, x


def forward_function(model):
    """The model's inference pass, compiled the way the backend compiles, output on the host."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        compiled = tf.function(lambda x: model(x, training=False), autograph=False)
        return lambda x: compiled(x).numpy()
    if backend == "jax":
        import jax
        compiled = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
        return lambda x: keras.ops.convert_to_numpy(compiled(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables], x))
    import torch

    def forward(x):
        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(x, training=False))
    return forward


def median_seconds(function, repeats):
    function()  # warm-up: tracing and compilation are not the steady cost
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(kind, repeats):
    import keras_initcmp

    model, x = build(kind)
    forward = forward_function(model)
    with tempfile.TemporaryDirectory() as folder:
        callback = keras_initcmp.ActivationHistograms(folder, probe_data=x)
        callback.set_model(model)
        steps = iter(range(10**6))
        snapshot = median_seconds(lambda: callback.snapshot(next(steps)), repeats)
        callback.close()
    return {"floor": median_seconds(lambda: forward(x), repeats), "snapshot": snapshot}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({kind: measure(kind, args.repeats) for kind in ("mlp", "conv")}))
        return
    from claims import report

    results = []
    print("| backend | model | bare forward (floor) | snapshot | snapshot / floor |")
    print("| --- | --- | ---: | ---: | ---: |")
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        output = subprocess.run([sys.executable, __file__, "--child", "1",
                                 "--repeats", str(args.repeats)],
                                env=env, capture_output=True, text=True, check=True).stdout
        for kind, times in json.loads(output.strip().splitlines()[-1]).items():
            print(f"| {backend} | {kind} | {times['floor'] * 1e3:.1f} ms | "
                  f"{times['snapshot'] * 1e3:.1f} ms | {times['snapshot'] / times['floor']:.2f}× |")
            results.append((backend, kind, times))
    for backend, kind, times in results:
        report(f"{NAMES[kind]} snapshot", times["snapshot"], times["floor"],
               "bare forward of the probe", 3.0 if kind == "conv" else None, backend=backend)


NAMES = {"mlp": "MLP 784-512-256-128-64-10", "conv": "three-Conv2D net"}


if __name__ == "__main__":
    main()
