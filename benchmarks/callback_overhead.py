"""What does ActivationHistograms cost? All configurations side by side, in one run.

    .venv/bin/python benchmarks/callback_overhead.py [--repeats 3] [--epochs 3]

Two models: (a) an MLP 784-512-256-128-64-10 (ReLU) on 30,000 synthetic samples and
(b) a small conv net (three Conv2D on 28×28×1) on 10,000 samples, batch 128. For each:

- one snapshot against one plain forward pass of the same probe batch (the floor);
- `fit` wall and CPU time and peak RSS with no callback, with Keras'
  `TensorBoard(histogram_freq=1)`, and with `ActivationHistograms` at
  `every="epoch"`, `every=100` and `every=10`; on request (`--configs`), two more
  that say where the memory goes: `probe_forward`, a bare forward pass of the probe
  wherever `every="epoch"` snapshots (the floor), and `every_epoch_trim`, the
  snapshots followed by glibc's `malloc_trim` (the C heap freed but kept).

Each fit runs in a fresh process (peak RSS is per process), after one warm-up epoch,
configurations interleaved and repeated; the table gives medians and ratios to the
plain fit. Prints a Markdown table, then the claims (`claims.py`): the MLP fit's CPU
time with `every="epoch"` (target 1.03×, and Keras' TensorBoard beside it), and the conv
net's `fit` peak RSS with `every="epoch"` (target 1.10× plain, issue 21).

Where that memory goes, measured in the snapshot's own process: the peak RSS that one
call adds above the RSS before it (`/proc/self/status` VmHWM, reset through
`/proc/self/clear_refs`; Linux only), for the first and a later bare forward pass of
the probe (the floor: a fit never runs the 512-sample probe) and the first and a later
snapshot. Runs on the backend `KERAS_BACKEND` names (default TensorFlow).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = ("plain", "keras_tensorboard", "every_epoch", "every_100", "every_10")
DIAGNOSTICS = ("probe_forward", "every_epoch_trim")  # (--configs only: see make_callback)
PROBE_SIZE = 512


def build(kind):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "mlp":
        x = rng.normal(size=(30_000, 784)).astype("float32")
        layers = [keras.Input((784,))] + [
            keras.layers.Dense(units, activation="relu") for units in (512, 256, 128, 64)]
    else:
        x = rng.normal(size=(10_000, 28, 28, 1)).astype("float32")
        layers = [keras.Input((28, 28, 1)),
                  keras.layers.Conv2D(32, 3, activation="relu"),
                  keras.layers.Conv2D(64, 3, activation="relu"),
                  keras.layers.MaxPooling2D(),
                  keras.layers.Conv2D(64, 3, activation="relu"),
                  keras.layers.GlobalAveragePooling2D()]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    y = rng.integers(0, 10, len(x))
    return model, x, y


def make_callback(config, log_dir, probe):
    import keras
    from keras_initcmp import ActivationHistograms

    if config == "plain":
        return []
    if config == "probe_forward":  # the memory floor: the probe's bare forward, when a snapshot runs
        from snapshot_floor import forward_function
        from keras_initcmp.measurement.stats import as_input_tensors

        tensors, forward = as_input_tensors(probe, "probe"), {}

        def run(*_):
            forward.setdefault("function", forward_function(callback.model))(tensors)
        callback = keras.callbacks.LambdaCallback(on_train_begin=run, on_epoch_end=run)
        return [callback]
    if config == "every_epoch_trim":  # how much of the rest is C heap freed but kept
        import ctypes

        callback = ActivationHistograms(log_dir, probe)
        snapshot, libc = callback.snapshot, ctypes.CDLL("libc.so.6")

        def trimmed(step):
            snapshot(step)
            libc.malloc_trim(0)
        callback.snapshot = trimmed
        return [callback]
    if config == "keras_tensorboard":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_graph=False)]
    every = "epoch" if config == "every_epoch" else int(config.split("_")[1])
    return [ActivationHistograms(log_dir, probe, every=every)]


def measure_fit(kind, config, epochs):
    """Runs in a child process: one warm-up epoch, then the timed fit."""
    model, x, y = build(kind)
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as log_dir:
        callbacks = make_callback(config, log_dir, x[:PROBE_SIZE])
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=callbacks)
        wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall, "cpu": cpu, "peak_mib": peak_mib}


def measure_snapshot(kind, repeats=20):
    """Median seconds of one snapshot and of one forward pass of the probe (the floor),
    and the peak RSS (MiB) that the first and a later call of each adds."""
    from keras_initcmp import ActivationHistograms
    from keras_initcmp.measurement.stats import as_input_tensors
    from snapshot_floor import forward_function
    from snapshot_scaling import median_seconds

    model, x, _ = build(kind)
    probe = as_input_tensors(x[:PROBE_SIZE], "probe")
    forward = forward_function(model)
    memory = {"first_forward_mib": peak_added(lambda: forward(probe)),
              "later_forward_mib": peak_added(lambda: forward(probe))}
    with tempfile.TemporaryDirectory() as log_dir:
        callback = ActivationHistograms(log_dir, x[:PROBE_SIZE])
        callback.set_model(model)
        memory["first_snapshot_mib"] = peak_added(lambda: callback.snapshot(0))
        memory["later_snapshot_mib"] = peak_added(lambda: callback.snapshot(1))
        floor = median_seconds(lambda: forward(probe), repeats)
        snapshot = median_seconds(lambda: callback.snapshot(1), repeats)
        callback.close()
    return {"forward": floor, "snapshot": snapshot, **memory}


def _status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_added(function):
    """MiB the peak RSS rose above the RSS before `function()` (resets this process's
    peak: `measure_fit`'s peak is read in another process)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    before = _status_mib("VmRSS")
    function()
    return _status_mib("VmHWM") - before


def child(kind, config, epochs):
    result = measure_snapshot(kind) if config == "snapshot" else measure_fit(kind, config, epochs)
    print(json.dumps(result))


def run_child(kind, config, epochs):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, config, "--epochs", str(epochs)],
        capture_output=True, text=True, check=True, env=environment)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", default="mlp,conv")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.epochs)

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
          f"{args.epochs} epochs after a warm-up, batch 128, probe {PROBE_SIZE}, "
          f"median of {args.repeats}\n")
    for kind in args.models.split(","):
        snapshot = run_child(kind, "snapshot", args.epochs)
        configs = args.configs.split(",")
        runs = {config: [] for config in configs}
        for _ in range(args.repeats):
            for config in configs:
                runs[config].append(run_child(kind, config, args.epochs))
        medians = {config: {key: statistics.median(r[key] for r in results)
                            for key in ("wall", "cpu", "peak_mib")}
                   for config, results in runs.items()}
        plain = medians["plain"]
        print(f"### {kind}: one snapshot {snapshot['snapshot'] * 1e3:.1f} ms, forward-pass floor "
              f"{snapshot['forward'] * 1e3:.1f} ms, ratio {snapshot['snapshot'] / snapshot['forward']:.2f}×."
              f" Peak RSS added by one call (first, later): bare forward of the probe "
              f"{snapshot['first_forward_mib']:.0f}, {snapshot['later_forward_mib']:.0f} MiB; "
              f"snapshot {snapshot['first_snapshot_mib']:.0f}, "
              f"{snapshot['later_snapshot_mib']:.0f} MiB\n")
        print("| configuration | fit wall (s) | × plain | fit CPU (s) | × plain | peak RSS (MiB) | × plain |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for config, m in medians.items():
            print(f"| {config} | {m['wall']:.2f} | {m['wall'] / plain['wall']:.3f} | {m['cpu']:.2f} | "
                  f"{m['cpu'] / plain['cpu']:.3f} | {m['peak_mib']:.0f} | "
                  f"{m['peak_mib'] / plain['peak_mib']:.3f} |")
        print()
        report_claims(kind, medians, snapshot)


def report_claims(kind, medians, snapshot):
    from claims import report

    # (The snapshot-vs-forward claims are snapshot_floor.py's, on every backend.)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    plain = medians["plain"]
    if kind == "mlp":
        report(f"{NAMES[kind]} 3-epoch fit CPU time, every='epoch'", medians["every_epoch"]["cpu"],
               plain["cpu"], "plain fit", 1.03, backend=backend)
        if "keras_tensorboard" in medians:
            report(f"{NAMES[kind]} 3-epoch fit CPU time, Keras' TensorBoard(histogram_freq=1)",
                   medians["keras_tensorboard"]["cpu"], plain["cpu"], "plain fit", None,
                   backend=backend)
    else:
        report(f"{NAMES[kind]} fit peak RSS, every='epoch'", medians["every_epoch"]["peak_mib"],
               plain["peak_mib"], "plain fit", 1.10, unit="MiB", backend=backend)
        if "probe_forward" in medians:
            report(f"{NAMES[kind]} fit peak RSS, the probe's bare forward where each snapshot runs",
                   medians["probe_forward"]["peak_mib"], plain["peak_mib"], "plain fit", None,
                   unit="MiB", backend=backend)
        report(f"{NAMES[kind]} peak RSS added by the first snapshot (512-sample probe)",
               snapshot["first_snapshot_mib"], snapshot["first_forward_mib"],
               "by the first bare forward of the probe", None, unit="MiB", backend=backend)


NAMES = {"mlp": "MLP 784-512-256-128-64-10", "conv": "three-Conv2D net"}


if __name__ == "__main__":
    main()
