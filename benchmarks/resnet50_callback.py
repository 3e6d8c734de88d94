"""Claims: `ActivationHistograms` on ResNet50 — its cost in `fit`, its first and later snapshots.

`keras.applications.ResNet50(weights=None)` on 64×64×3 inputs, 10 classes, every
layer observed (176) on a 32-image probe, the callback's defaults (no labels: no
gradients):

1. `fit` of 3 epochs × 16 steps of 32 with `ActivationHistograms(every="epoch")`
   against the same plain `fit` (each on a fresh model, both traced, after a
   warm-up fit); target 1.10×;
2. the first snapshot (trace and run) against the first call of a bare compiled
   forward pass of the probe (trace and run); target 1.5 s;
3. a later snapshot against a bare forward pass of the probe (medians); target 2.0×.

Each backend runs in its own process (the backend is chosen at import):

    .venv/bin/python benchmarks/resnet50_callback.py --backends tensorflow,jax,torch
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE, CLASSES, BATCH, PROBE = (64, 64, 3), 10, 32, 32


def build():
    import keras

    model = keras.applications.ResNet50(weights=None, input_shape=SHAPE, classes=CLASSES)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model


def data(steps):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, *SHAPE)).astype("float32")
    return x, rng.integers(0, CLASSES, size=len(x))


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def child(epochs, steps, repeats):
    from claims import report
    from keras_initcmp import ActivationHistograms, backend
    from keras_initcmp.measurement.stats import as_input_tensors

    name = backend.name()
    x, y = data(steps)
    probe = x[:PROBE]
    fit = {"x": x, "y": y, "batch_size": BATCH, "verbose": 0}
    build().fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # warm-up: first traces
    plain = timed(lambda: build().fit(epochs=epochs, **fit))
    with tempfile.TemporaryDirectory() as logdir:
        callback = ActivationHistograms(logdir, probe)
        with_callback = timed(lambda: build().fit(epochs=epochs, callbacks=[callback], **fit))
    report(f"ResNet50 fit {epochs} epochs x {steps} steps of {BATCH}, every='epoch'",
           with_callback, plain, "plain fit", 1.10, backend=name)

    model = build()
    probe_tensor = as_input_tensors(probe, "probe")
    forward = backend_forward(model)
    first_forward = timed(lambda: forward(probe_tensor))
    with tempfile.TemporaryDirectory() as logdir:
        callback = ActivationHistograms(logdir, probe)
        callback.set_model(model)
        first = timed(lambda: callback.snapshot(0))
        later = statistics.median(timed(lambda: callback.snapshot(1)) for _ in range(repeats))
        callback.close()
    bare = statistics.median(timed(lambda: forward(probe_tensor)) for _ in range(repeats))
    report("ResNet50 first snapshot (trace and run), 176 layers", first, first_forward,
           "first bare forward (trace and run)", 1.5, backend=name, target_unit="s")
    report("ResNet50 later snapshot", later, bare, "bare forward of the probe", 2.0,
           backend=name)


def backend_forward(model):
    """A compiled inference pass, as each backend compiles one, ending on the host."""
    import keras

    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf
        compiled = tf.function(lambda x: model(x, training=False))
        return lambda x: compiled(x).numpy()
    if name == "jax":
        import jax
        values = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        compiled = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        return lambda x: keras.ops.convert_to_numpy(compiled(values, non_trainable, x))
    import torch

    def forward(x):
        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(x, training=False))
    return forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                        help="comma-separated (default: KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.epochs, args.steps, args.repeats)
    for name in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([sys.executable, __file__, "--child", "--epochs", str(args.epochs),
                        "--steps", str(args.steps), "--repeats", str(args.repeats)],
                       env=env, check=True)


if __name__ == "__main__":
    main()
