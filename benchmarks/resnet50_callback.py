"""Claims: what `ActivationHistograms` adds to a ResNet50 `fit`, beside Keras' own TensorBoard.

`keras.applications.ResNet50(weights=None)` on 64×64×3 inputs, 10 classes, the
callback's defaults (every layer observed, 176; a 32-image probe; no labels: no
gradients). One process per backend (the backend is chosen at import); in it, `fit`
of 3 epochs × 16 steps of 32 in four configurations:

- `plain`: no callback (the floor);
- `keras_tensorboard`: `keras.callbacks.TensorBoard(histogram_freq=1)`, shown beside;
- `every_epoch`: `ActivationHistograms(every="epoch")`, 4 snapshots (step 0 and each
  epoch's end); target 1.05× plain (no more than Keras' TensorBoard);
- `every_4`: `ActivationHistograms(every=4)`, 13 snapshots (step 0, then every 4
  steps); target 1.25× plain.

Each fit runs on a fresh model (its own traces: the training step, and the
snapshot). Before them, one warm-up fit of one batch per configuration pays what a
process pays once (TensorFlow's kernels, the summary programs shared by every model,
see docs/speed.md). Then rounds, the configurations in alternated order (forward,
then backward: this machine's speed drifts); the claims are ratios of medians. Where
the time goes: every snapshot inside the fits is timed, and the table gives the first
(trace and run), the median later one and their total beside the fit.

    .venv/bin/python benchmarks/resnet50_callback.py                 # TensorFlow, 2 rounds, ~10 min on 2 CPUs
    .venv/bin/python benchmarks/resnet50_callback.py --backends jax --rounds 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = ("plain", "keras_tensorboard", "every_epoch", "every_4")
CLASSES, BATCH, PROBE = 10, 32, 32


def build(size):
    import keras

    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3),
                                        classes=CLASSES)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model


def data(steps, size):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, size, size, 3)).astype("float32")
    return x, rng.integers(0, CLASSES, size=len(x))


def make_callbacks(config, log_dir, probe):
    """The configuration's callbacks, and the list its snapshot times go to."""
    import keras
    from keras_initcmp import ActivationHistograms

    snapshots = []
    if config == "plain":
        return [], snapshots
    if config == "keras_tensorboard":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1)], snapshots
    every = "epoch" if config == "every_epoch" else int(config.split("_")[1])
    callback = ActivationHistograms(log_dir, probe, every=every)
    snapshot = callback.snapshot

    def timed_snapshot(step):  # the fit calls it through the instance: each call timed
        start = time.perf_counter()
        snapshot(step)
        snapshots.append(time.perf_counter() - start)
    callback.snapshot = timed_snapshot
    return [callback], snapshots


def fit_once(config, x, y, epochs, size):
    """Seconds of one `fit` of a fresh model in `config`, and its snapshots' seconds."""
    model = build(size)
    with tempfile.TemporaryDirectory() as log_dir:
        callbacks, snapshots = make_callbacks(config, log_dir, x[:PROBE])
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=callbacks)
        return time.perf_counter() - start, snapshots


def child(epochs, steps, rounds, size):
    x, y = data(steps, size)
    warm_up = {config: fit_once(config, x[:BATCH], y[:BATCH], 1, size)[1] for config in CONFIGS}
    runs = {config: [] for config in CONFIGS}
    for round_ in range(rounds):
        for config in CONFIGS if round_ % 2 == 0 else reversed(CONFIGS):
            runs[config].append(fit_once(config, x, y, epochs, size))
            print(f"round {round_ + 1} {config}: {runs[config][-1][0]:.1f} s", file=sys.stderr,
                  flush=True)
    print(json.dumps({"runs": runs, "warm_up_snapshots": warm_up["every_epoch"]}))


def summarize(runs):
    """Per configuration: median fit, and its snapshots (first, median later, total)."""
    rows = {}
    for config, fits in runs.items():
        snapshots = [times for _, times in fits]
        rows[config] = {
            "fit": statistics.median(seconds for seconds, _ in fits),
            "count": len(snapshots[0]),
            "first": statistics.median(times[0] for times in snapshots) if snapshots[0] else 0.0,
            "later": statistics.median(t for times in snapshots for t in times[1:])
            if len(snapshots[0]) > 1 else 0.0,
            "total": statistics.median(sum(times) for times in snapshots),
        }
    return rows


def report_backend(backend, result, epochs, steps, rounds, size):
    from claims import report

    rows = summarize(result["runs"])
    plain = rows["plain"]["fit"]
    print(f"\n### {backend}: ResNet50 {size}x{size}, fit {epochs} epochs x {steps} steps of {BATCH},"
          f" medians of {rounds} alternated rounds; the warm-up's snapshots (the process's first:"
          f" trace, summary programs' compiles, run): "
          + ", ".join(f"{t:.2f} s" for t in result["warm_up_snapshots"]) + "\n")
    print("| configuration | fit | × plain | snapshots | first snapshot (trace and run) "
          "| later snapshot | all snapshots | fit − snapshots, × plain |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for config, row in rows.items():
        print(f"| {config} | {row['fit']:.1f} s | {row['fit'] / plain:.3f} | {row['count']} | "
              f"{row['first']:.2f} s | {row['later']:.2f} s | {row['total']:.1f} s | "
              f"{(row['fit'] - row['total']) / plain:.3f} |")
    print(flush=True)
    name = f"ResNet50 {size}x{size} fit {epochs} epochs x {steps} steps of {BATCH}"
    report(f"{name}, every='epoch'", rows["every_epoch"]["fit"], plain, "plain fit", 1.05,
           backend=backend)
    report(f"{name}, Keras' TensorBoard(histogram_freq=1)", rows["keras_tensorboard"]["fit"],
           plain, "plain fit", None, backend=backend)
    report(f"{name}, every=4", rows["every_4"]["fit"], plain, "plain fit", 1.25, backend=backend)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                        help="comma-separated (default: KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=64, help="image side (ResNet50: >= 32)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = (args.epochs, args.steps, args.rounds, args.size)
    if args.child:
        return child(*settings)
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        output = subprocess.run(
            [sys.executable, __file__, "--child", "--epochs", str(args.epochs), "--steps",
             str(args.steps), "--rounds", str(args.rounds), "--size", str(args.size)],
            env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        report_backend(backend, json.loads(output.strip().splitlines()[-1]), *settings)


if __name__ == "__main__":
    main()
