"""Claims: a later (and the first) `ActivationHistograms` snapshot against the bare forward pass, every backend.

    .venv/bin/python benchmarks/snapshot_floor.py                        # conv, MLP; all backends
    .venv/bin/python benchmarks/snapshot_floor.py --models resnet50 --repeats 3

For each Keras backend (a fresh process each: the backend is chosen at import) and
model — `conv`: three Conv2D (16, 32, 32, ReLU) on a 512 × 28 × 28 × 1 probe;
`mlp`: 784-512-256-128-64-10 ReLU on 512 × 784; `resnet50`:
`keras.applications.ResNet50(weights=None)` at 64 × 64 × 3, 10 classes, a
32-image probe, every layer observed (176) — it times, in alternated rounds
(medians), after the first calls:

- the bare forward: one compiled inference pass of the probe (`tf.function`,
  `jax.jit` over `stateless_call`, eager under `torch.no_grad`), on the host;
- the "one reduction per layer" floor: the same pass through the snapshot's own
  machinery (`backend.snapshot_function`, recording wrapper) with each layer's
  output reduced by one `sum`, where it is produced: the least any per-layer
  statistic can cost;
- `ActivationHistograms.snapshot` (defaults: 30 bins, `max_histogram_values`
  2^20; statistics, buckets, dead units, event-file writes).

And once: the first snapshot (trace, compile and run) against the first bare
forward (trace and run) of a fresh copy of the model. Prints a Markdown table and
one claim line (`claims.py`) per backend, model and ratio: later snapshot / bare
forward (target 2.0×), first snapshot / first forward (target 2.5×, TensorFlow and
JAX).
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
MODELS = ("conv", "mlp", "resnet50")


def build(kind):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if kind == "resnet50":
        model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
        return model, rng.normal(size=(32, 64, 64, 3)).astype("float32")
    if kind == "mlp":
        layers = [keras.Input((784,))] + [keras.layers.Dense(units, activation="relu")
                                          for units in (512, 256, 128, 64)]
        x = rng.normal(size=(512, 784)).astype("float32")
    else:
        layers = [keras.Input((28, 28, 1))] + [
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same")
            for filters in (16, 32, 32)] + [keras.layers.GlobalAveragePooling2D()]
        x = rng.normal(size=(512, 28, 28, 1)).astype("float32")
    return keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")]), x


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


def one_reduction_function(model):
    """The floor: the snapshot's machinery with one `sum` per layer, taken where produced."""
    from keras import ops
    from keras_initcmp import backend
    from keras_initcmp.measurement.recording import LayerRecorder, select_layers

    recorder = LayerRecorder(select_layers(model), reduce=ops.sum)
    return backend.get().snapshot_function(model, recorder, lambda sums, gradients, weights: sums)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(kind, repeats):
    import keras_initcmp

    model, x = build(kind)
    with tempfile.TemporaryDirectory() as folder:
        first_forward = timed(lambda: forward_function(model)(x))  # a fresh trace
        callback = keras_initcmp.ActivationHistograms(folder, probe_data=x)
        callback.set_model(model)
        first = timed(lambda: callback.snapshot(0))
        forward, floor = forward_function(model), one_reduction_function(model)
        forward(x), floor(x)
        times = {"forward": [], "floor": [], "snapshot": []}
        for step in range(1, repeats + 1):  # rounds alternated: load drifts hit all three
            times["forward"].append(timed(lambda: forward(x)))
            times["floor"].append(timed(lambda: floor(x)))
            times["snapshot"].append(timed(lambda: callback.snapshot(step)))
        callback.close()
    result = {name: statistics.median(values) for name, values in times.items()}
    return {**result, "first_forward": first_forward, "first_snapshot": first}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="conv,mlp")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models.split(",")
    if args.child:
        print(json.dumps({kind: measure(kind, args.repeats) for kind in models}))
        return
    from claims import report

    results = []
    print("| backend | model | bare forward | one sum per layer (floor) | later snapshot | "
          "snapshot / forward | floor / forward | first forward | first snapshot | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        output = subprocess.run([sys.executable, __file__, "--child", "--models", args.models,
                                 "--repeats", str(args.repeats)],
                                env=env, capture_output=True, text=True, check=True).stdout
        for kind, t in json.loads(output.strip().splitlines()[-1]).items():
            print(f"| {backend} | {kind} | {t['forward'] * 1e3:.1f} ms | {t['floor'] * 1e3:.1f} ms | "
                  f"{t['snapshot'] * 1e3:.1f} ms | {t['snapshot'] / t['forward']:.2f}× | "
                  f"{t['floor'] / t['forward']:.2f}× | {t['first_forward']:.2f} s | "
                  f"{t['first_snapshot']:.2f} s | {t['first_snapshot'] / t['first_forward']:.2f}× |",
                  flush=True)
            results.append((backend, kind, t))
    for backend, kind, t in results:
        report(f"{NAMES[kind]} later snapshot", t["snapshot"], t["forward"],
               "bare forward of the probe", 2.0 if kind != "mlp" else None, backend=backend)
        report(f"{NAMES[kind]} one sum per layer (the floor)", t["floor"], t["forward"],
               "bare forward of the probe", None, backend=backend)
        report(f"{NAMES[kind]} first snapshot (trace and run)", t["first_snapshot"],
               t["first_forward"], "first bare forward (trace and run)",
               2.5 if backend != "torch" else None, backend=backend)


NAMES = {"mlp": "MLP 784-512-256-128-64-10", "conv": "three-Conv2D net",
         "resnet50": "ResNet50 64x64, 176 layers"}


if __name__ == "__main__":
    main()
