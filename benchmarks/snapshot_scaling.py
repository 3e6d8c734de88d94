"""How does one ActivationHistograms snapshot grow with depth? Side by side, in one run.

    .venv/bin/python benchmarks/snapshot_scaling.py [--depths 4,16,64] [--width 256] [--probe 512]

For a ReLU MLP of each depth (width `--width`): the median time of one plain forward
pass of the probe (the floor), of one snapshot, of one snapshot with gradients
(`probe_labels`), their ratios, the number of values summarized per snapshot, the
bytes written to the event file per snapshot, and the traced-graph build time (the
first snapshot). Prints a Markdown table.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_initcmp import ActivationHistograms  # noqa: E402
from keras_initcmp.initializers import He  # noqa: E402


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def event_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def measure(depth, width, probe_size, repeats):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((width,))]
        + [keras.layers.Dense(width, activation="relu", kernel_initializer=He(seed=i))
           for i in range(depth)]
        + [keras.layers.Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    probe = rng.normal(size=(probe_size, width)).astype("float32")
    labels = rng.integers(0, 10, probe_size)
    forward = tf.function(lambda batch: model(batch, training=False))
    probe_tensor = tf.constant(probe)
    forward(probe_tensor)
    row = {"depth": depth, "values": probe_size * (width * depth + 10),
           "forward": median_seconds(lambda: forward(probe_tensor).numpy(), repeats)}
    for name, callback_labels in (("snapshot", None), ("with_gradients", labels)):
        with tempfile.TemporaryDirectory() as log_dir:
            callback = ActivationHistograms(log_dir, probe, probe_labels=callback_labels)
            callback.set_model(model)
            start = time.perf_counter()
            callback.snapshot(0)
            row[f"{name}_first"] = time.perf_counter() - start
            before = event_bytes(log_dir)
            step = iter(range(1, 10**6))
            row[name] = median_seconds(lambda: callback.snapshot(next(step)), repeats)
            row[f"{name}_bytes"] = (event_bytes(log_dir) - before) / repeats
            callback.close()
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", default="4,16,64")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--probe", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"ReLU MLP, width {args.width}, probe {args.probe}, {os.cpu_count()} CPUs, "
          f"median of {args.repeats}\n")
    print("| hidden layers | values / snapshot | forward (ms) | snapshot (ms) | × forward "
          "| + gradients (ms) | × forward | event bytes / snapshot | first snapshot, tracing (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for depth in (int(d) for d in args.depths.split(",")):
        r = measure(depth, args.width, args.probe, args.repeats)
        print(f"| {depth} | {r['values']:,} | {r['forward'] * 1e3:.1f} | {r['snapshot'] * 1e3:.1f} | "
              f"{r['snapshot'] / r['forward']:.1f} | {r['with_gradients'] * 1e3:.1f} | "
              f"{r['with_gradients'] / r['forward']:.1f} | {r['with_gradients_bytes']:,.0f} | "
              f"{r['with_gradients_first']:.1f} |")


if __name__ == "__main__":
    main()
