"""Claim: the circles comparison (`compare`, all its logging) against the article's NumPy loop.

Four schemes × 15,000 full-batch steps each: `keras_initcmp.compare` (curves,
histograms and gradients at 31 steps, validation, HParams, `results.json`) on the
running backend, its runs sharing one model and compiled loop (`shared_runs`),
side by side with the same sweep forced through `fit` per run (the path before),
a bare Keras `fit` (no callbacks) and the article's NumPy loop doing the same
4 × 15,000 steps: the floor, timed before and after the rest, the faster kept (the
machine drifts). Beside it the same loop with BLAS on one thread, which is faster
still on matrices this small. Framework start-up (the import) is outside every
timing; compiling is inside.

    .venv/bin/python benchmarks/circles_vs_numpy.py          # about a minute on 2 cores
    KERAS_BACKEND=jax .venv/bin/python benchmarks/circles_vs_numpy.py
"""

import argparse
import os
import tempfile

import threadpoolctl

from floors import SCALES, numpy_circles, timed

import keras  # noqa: E402

from claims import report  # noqa: E402
from keras_initcmp.reinit.redraw import reinitialize  # noqa: E402
from keras_initcmp import backend, driver, experiments  # noqa: E402
from keras_initcmp.driver import tasks as runs
from keras_initcmp.driver import shared_runs


def bare_keras_circles(model, data, steps, epochs):
    """`fit` alone: the driver's data pipeline and steps per execution, no callbacks."""
    net = reinitialize(model, "he", 0)
    net.compile(keras.optimizers.SGD(0.01), "binary_crossentropy", metrics=["accuracy"],
                steps_per_execution=runs._steps_per_execution(steps // epochs))
    dataset = backend.get().training_data(data["x"], data["y"], len(data["x"]), 0)
    net.fit(dataset, epochs=epochs, steps_per_epoch=steps // epochs, verbose=0, shuffle=False)


def compare_seconds(model, data, settings, per_run=False):
    reason = shared_runs.reason_not_shared
    if per_run:
        shared_runs.reason_not_shared = lambda task, net: "per run, for the benchmark"
    try:
        with tempfile.TemporaryDirectory() as logdir:
            return timed(driver.compare, model, data, tuple(SCALES), experiment="circles",
                         logdir=logdir, **settings)
    finally:
        shared_runs.reason_not_shared = reason


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15000)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    name = backend.name()
    print(f"{os.cpu_count()} CPUs, Keras {keras.__version__}, backend {name}")
    experiment = experiments.get("circles")
    model, data = experiment.build_model(), experiment.load_data()
    settings = {**experiment.training, "steps": args.steps, "epochs": args.epochs}
    def numpy_loops(threads=None):
        with threadpoolctl.threadpool_limits(threads):
            return timed(lambda: [numpy_circles(data, args.steps, SCALES[s]) for s in SCALES])

    numpy, one_thread = [numpy_loops()], [numpy_loops(1)]
    shared = compare_seconds(model, data, settings)
    per_run = compare_seconds(model, data, settings, per_run=True)
    bare_keras_circles(model, data, args.epochs * 10, args.epochs)  # warm-up: first trace
    bare = sum(timed(bare_keras_circles, model, data, args.steps, args.epochs) for _ in SCALES)
    numpy, one_thread = min(numpy + [numpy_loops()]), min(one_thread + [numpy_loops(1)])
    steps = f"4 schemes x {args.steps} full-batch steps"
    report(f"circles compare, {steps}", shared, numpy, "NumPy loop", 1.0, backend=name)
    report(f"circles compare, {steps}, against NumPy with one BLAS thread", shared, one_thread,
           "NumPy loop, 1 BLAS thread", None, backend=name)
    report(f"circles compare, fit per run (before), {steps}", per_run, numpy, "NumPy loop",
           None, backend=name)
    report(f"circles bare Keras fit (no callbacks, traced once), {steps}", bare, numpy,
           "NumPy loop", None, backend=name)


if __name__ == "__main__":
    main()
