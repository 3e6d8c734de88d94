"""The comparison driver's public entry: `compare` and `probe`.

`compare` is the article's experiment 1 for any Keras model (train a copy per scheme
and seed), `probe` its experiment 2 (push random data through a fresh deep net, no
training). Both write one TensorBoard run per scheme and seed,
`<logdir>/<experiment>/<scheme>/seed-<k>/`, and add each finished run's records to
`<logdir>/<experiment>/results.json` and `results.csv`. This module checks and resolves
their arguments into a task; the work is done elsewhere: `keras_initcmp.reinit.redraw`
(kernels drawn afresh), `keras_initcmp.driver.tasks` (one run), `keras_initcmp.driver.sweep` (every
scheme and seed, resume, worker processes) and `keras_initcmp.store` (every path and
write: an interrupted sweep loses at most the run in flight, resumes where it stopped,
and several sweeps may write into one experiment at once).
"""

import dataclasses
import hashlib
import json
import math
import os
import tempfile

import keras
import numpy as np

from keras_initcmp import backend, checks, experiments, store
from keras_initcmp.arrays import samples
from keras_initcmp import schemes as registry
from keras_initcmp.driver.inputs import clear_input_cache
from keras_initcmp.driver.tasks import ProbeTask, TrainTask
from keras_initcmp.driver.sweep import sweep
from keras_initcmp.distributed import data_parallel

__all__ = ["compare", "probe", "DEFAULT_SCHEMES", "DATA_SCHEMES",
           "COMPARE_FIELDS", "PROBE_FIELDS", "PROBE_SIZES"]

DEFAULT_SCHEMES = ("zeros", "random", "xavier", "he")
"""The article's four schemes."""
DATA_SCHEMES = tuple(name for name in registry.names() if registry.get(name).data_dependent)
"""Data-dependent schemes (the registry's `data_dependent`), `compare` only: applied to
the built model on a training batch, before training (`lsuv`: orthogonal kernels from
`reinitialize`, then `keras_initcmp.lsuv` on the first `probe_size` training samples)."""
COMPARE_FIELDS = store.COMPARE_FIELDS
"""`keras_initcmp.store.COMPARE_FIELDS`, re-exported."""
PROBE_FIELDS = store.PROBE_FIELDS
"""`keras_initcmp.store.PROBE_FIELDS`, re-exported."""
PROBE_SIZES = (1000, 800, 500, 300, 200, 100, 10)
"""The article's probe net: 1000 inputs, then six layers."""


def compare(model, data, schemes=DEFAULT_SCHEMES, seeds=1, *, experiment="custom",
            logdir="logs", optimizer=None, loss=None, metrics=None, epochs=10, steps=None,
            batch_size=32, probe_size=512, jobs=1, overwrite=False, progress=None,
            strategy=None, dask=None, dask_resources=None):
    """Train a copy of `model` under every scheme and seed; log and return the results.

    Every copy gets freshly seeded kernels (`reinitialize`), zero biases, a fresh
    optimizer, and the same data, batch order and seed. Each run writes, into
    `<logdir>/<experiment>/<scheme>/seed-<k>/`: per-epoch scalars (`loss`, metrics,
    `val_*`), the `ActivationHistograms` of the first `probe_size` training samples
    (with gradients), and an HParams record (`initializer`, `seed`). Runs already in
    `results.json` with the same settings are skipped (resume).

    Args:
        model: A built Keras model, or a path to a `.keras` file. If it is compiled,
            its optimizer, loss and metrics are the defaults.
        data: `{"x", "y"[, "x_val", "y_val"]}` arrays, a tuple `(x, y[, x_val, y_val])`,
            or a path to an `.npz` file with those names.
        schemes: Scheme names from the registry (`keras_initcmp.schemes.names()`,
            data-dependent ones such as `lsuv` included).
        seeds: Number of seeds per scheme; runs use seeds `0 .. seeds-1`.
        experiment: Name of the output folder under `logdir`.
        logdir: Root folder of the TensorBoard runs.
        optimizer, loss, metrics: As in `Model.compile`. An optimizer instance is used
            as a template (each run gets a fresh copy). `optimizer` defaults to the
            model's, else `"sgd"`; `loss` to the model's (required if not compiled).
        epochs: Epochs to train; with `steps`, the number of equal chunks the steps are
            logged in (curves and histogram snapshots).
        steps: Total training steps, or `None` for `epochs` passes over the data.
        batch_size: Samples per step, or `None` for full-batch gradient descent.
        probe_size: Training samples the activation histograms are taken on.
        jobs: Runs to train at once, each in its own process (with `dask="local"`:
            the local cluster's worker processes).
        overwrite: Replace existing results (and their run folders) instead of
            resuming; without it, results from other settings are an error.
        progress: A text stream for a live line per run, or `None` for silence.
        strategy: `None` (one device), `"data-parallel"` (every local device, the
            backend's own: `keras.distribution.DataParallel` on JAX, `"mirrored"` on
            TensorFlow, an error on PyTorch; `keras_initcmp.distributed.data_parallel`),
            a `keras.distribution.DataParallel`, `"mirrored"`, `"multiworker"` or a
            `tf.distribute.Strategy`: every run is built and trained in its scope
            (`keras_initcmp.distributed.fit` picks Keras' fit or the custom loop). With
            `"multiworker"`, start the same call on every worker of `TF_CONFIG`, and
            create the strategy first, before TensorFlow's first op
            (`distributed.get_strategy("multiworker")`); only the chief writes to
            `logdir`, the others to a temporary folder they remove. Needs `jobs=1`.
        dask: Train the runs on a Dask distributed cluster, one task per scheme and
            seed: a scheduler address (`"tcp://host:8786"`), `True` for
            `$DASK_SCHEDULER_ADDRESS`, or `"local"` (a `LocalCluster` of `jobs`
            workers on 127.0.0.1 for this sweep). Workers return each run's records
            and event files to this process, which alone writes `logdir`; a worker
            that dies has its run rescheduled (`keras_initcmp.dask_cluster`).
        dask_resources: Dask worker resources each run holds, e.g. `{"GPU": 1}`.

    Returns:
        The list of result records (`COMPARE_FIELDS`), also in `results.json`.

    Example:

    >>> records = keras_initcmp.compare(model, (x, y), schemes=("xavier", "he"), epochs=5)
    """
    if strategy == data_parallel.NAME:  # the backend's own, on JAX and TensorFlow
        strategy = data_parallel.get()
    elif strategy not in (None, "default") and backend.name() != "tensorflow" \
            and not data_parallel.is_distribution(strategy):
        raise ValueError(f"Argument `strategy` (tf.distribute) needs the TensorFlow backend. "
                         f"Received: strategy={strategy!r} with KERAS_BACKEND={backend.name()!r}")
    if strategy in (None, "default"):
        strategy = None
    elif isinstance(strategy, str):
        from keras_initcmp import distributed
        strategy = distributed.get_strategy(strategy)
    if strategy is not None and jobs != 1:
        raise ValueError(f"Argument `jobs` must be 1 with a tf.distribute strategy or a "
                         f"keras.distribution (its devices train one run at a time). "
                         f"Received: jobs={jobs!r}")
    if strategy is not None and dask is not None:
        raise ValueError(f"Argument `dask` spreads runs over workers, `strategy` one run "
                         f"over devices: choose one. Received: dask={dask!r} with "
                         f"strategy={strategy!r}")
    task = _train_task(model, data, optimizer=optimizer, loss=loss, metrics=metrics,
                       epochs=epochs, steps=steps, batch_size=batch_size, probe_size=probe_size)
    task.strategy = strategy
    settings = {"kind": "compare", "model": _digest(_architecture(task.model)),
                "data": _digest(task.data), **_settings(task)}
    if data_parallel.is_distribution(strategy):
        settings["strategy"] = data_parallel.NAME
        chief = data_parallel.is_chief(strategy)
    elif strategy is not None:
        from keras_initcmp import distributed
        settings["strategy"] = distributed.strategy_name(strategy)
        chief = distributed.is_chief(strategy)
    if strategy is not None and not chief:
            # Other workers train alongside the chief; what they write goes to a
            # temporary folder, removed at the end (the Keras convention).
            with tempfile.TemporaryDirectory(prefix="keras-initcmp-worker-") as scratch:
                return sweep(task, settings, experiment, scratch, schemes, seeds, 1,
                              False, None)
    try:
        return sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite,
                     progress, dask, dask_resources)
    finally:  # a model trained in place (not clonable) leaves as it came
        task.model.set_weights(task.initial_weights)


def probe(schemes=DEFAULT_SCHEMES, seeds=1, *, sizes=PROBE_SIZES, activation="tanh",
          samples=100_000, batch_size=5000, histogram_samples=10_000, bias_std=0.0,
          experiment=None, logdir="logs", jobs=1, overwrite=False, progress=None,
          dask=None, dask_resources=None):
    """The article's experiment 2: per-layer activations of a fresh deep net, no training.

    For every scheme and seed, a Sequential of Dense layers `sizes[1:]` (all with
    `activation`) on `sizes[0]` inputs gets `samples` rows of `N(0, 1)` data (the
    same for every scheme of a seed). `activation_stats` runs over all rows in batches
    of `batch_size`, so memory is bounded by the input and one batch; TensorBoard
    histograms (step 0) use the first `histogram_samples` rows.

    Beside each layer's measured `std`, the record holds the mean-field prediction
    `predicted_std` (`keras_initcmp.schemes.theory.predicted_std`, input second moment 1,
    `bias_std`), `None` where no theory applies (a scheme without a `σ_w²/fan_in`
    form, an activation theory does not know); the run folder gets it as the scalar
    `predicted_std/<layer>` at step 0.

    Biases are zero, or the scheme's own (`pytorch-default`); with `bias_std > 0`, the
    biases of every scheme without its own bias are drawn `N(0, bias_std²)` after
    `reinitialize`, the same draws for every scheme of a seed. That is a probe
    setting, not a property of a scheme, so it is a post-step here rather than a
    registry entry, and it matches the theory, which also takes a scheme's own bias
    over `bias_std`.

    Args:
        schemes: Scheme names; seeds: number of seeds (`0 .. seeds-1`).
        sizes: Input width, then each layer's width (the article's by default).
        activation: A Keras activation name (`"tanh"`, `"relu"`, ...).
        samples: Rows of random input (the article's 100,000 by default).
        batch_size: Rows per forward pass for the statistics.
        histogram_samples: Rows the histograms are drawn from.
        bias_std: σ_b of the `N(0, σ_b²)` biases, `0.0` (default) for zero biases.
        experiment: Output folder under `logdir`; default `"probe-<activation>"`.
        logdir, jobs, overwrite, progress, dask, dask_resources: As in `compare`.

    Returns:
        One record per scheme, seed and layer (`PROBE_FIELDS`), also in `results.json`.
    """
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(f"Argument `activation` must be a Keras activation name such as "
                         f"('tanh', 'relu', 'sigmoid', 'linear'). Received: activation={activation!r}"
                         ) from None
    if isinstance(sizes, str) or len(sizes) < 2:
        raise ValueError(f"Argument `sizes` must list the input width and at least one layer "
                         f"width. Received: sizes={sizes!r}")
    if isinstance(schemes, (tuple, list)) and set(schemes) & set(DATA_SCHEMES):
        raise ValueError(f"Argument `schemes`: {sorted(set(schemes) & set(DATA_SCHEMES))} need "
                         f"training data; use them with `compare`. Received: schemes={list(schemes)!r}")
    bias_std = checks.number_at_least("bias_std", bias_std, 0.0)
    task = ProbeTask(tuple(checks.positive_int("sizes", size) for size in sizes), activation,
                     checks.positive_int("samples", samples),
                     checks.positive_int("batch_size", batch_size),
                     min(checks.positive_int("histogram_samples", histogram_samples), samples),
                     bias_std)
    settings = {"kind": "probe", **_settings(task)}
    experiment = f"probe-{activation}" if experiment is None else experiment
    try:
        return sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite,
                     progress, dask, dask_resources)
    finally:  # the input cache holds `samples × sizes[0]` floats: 400 MB for the article's
        clear_input_cache()


def _train_task(model, data, *, optimizer=None, loss=None, metrics=None, epochs=10,
                steps=None, batch_size=32, probe_size=512):
    """`compare`'s arguments checked and resolved into one picklable training task."""
    if isinstance(model, (str, os.PathLike)):
        model = experiments.load_model(os.fspath(model))
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"Argument `model` must be a built Keras model or a path to a "
                         f".keras file. Received: model={model!r}")
    data = _as_data(data)
    epochs = checks.positive_int("epochs", epochs)
    size = samples(data["x"])
    batch_size = size if batch_size is None else min(checks.positive_int("batch_size", batch_size), size)
    if steps is None:
        steps_per_epoch = math.ceil(size / batch_size)
    else:
        if checks.positive_int("steps", steps) % epochs:
            raise ValueError(f"Argument `steps` must be a multiple of `epochs` ({epochs}), which "
                             f"splits the steps into equal epochs. Received: steps={steps}")
        steps_per_epoch = steps // epochs
    return TrainTask(model, data, _compile_config(model, optimizer, loss, metrics), epochs,
                      steps_per_epoch, batch_size, checks.positive_int("probe_size", probe_size),
                      initial_weights=model.get_weights())


def _settings(task):
    """A task's fields that make two sweeps comparable (model and data go in as digests)."""
    return {field.name: getattr(task, field.name) for field in dataclasses.fields(task)
            if field.name not in ("model", "data", "strategy", "initial_weights")}



def _as_data(data):
    if isinstance(data, (str, os.PathLike)):
        return experiments.load_data(os.fspath(data))
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        data = dict(zip(("x", "y", "x_val", "y_val"), data))
    if not hasattr(data, "keys"):
        raise ValueError("Argument `data` must be {'x', 'y'[, 'x_val', 'y_val']}, a tuple "
                         f"(x, y[, x_val, y_val]) or an .npz path. Received: data={data!r:.80}")
    return experiments.check_data(data, "Argument `data`")


def _compile_config(model, optimizer, loss, metrics):
    """Serialized compile arguments: explicit ones, else the model's, else defaults."""
    saved = model.get_compile_config() or {}
    optimizer = optimizer if optimizer is not None else saved.get("optimizer", "sgd")
    try:  # an instance, a name or a config, in the one form that deserializes everywhere
        optimizer = keras.optimizers.serialize(keras.optimizers.get(optimizer))
        # Keras numbers auto-named instances (sgd, sgd_1, ...): not a setting.
        optimizer["config"].pop("name", None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Argument `optimizer` must be a Keras optimizer, name or config. "
                         f"Received: optimizer={optimizer!r}") from error
    config = {
        "optimizer": optimizer,
        "loss": loss if loss is not None else saved.get("loss"),
        "metrics": metrics if metrics is not None else saved.get("metrics"),
    }
    if config["loss"] is None:
        raise ValueError("Argument `loss` is required when the model is not compiled. "
                         "Received: loss=None")
    return keras.saving.serialize_keras_object(config)


def _architecture(model):
    """The model's layers and weight shapes as JSON, without names: Keras numbers
    unnamed layers per process (dense_3), which must not make two sweeps differ."""
    return json.dumps([
        [type(layer).__name__,
         {key: value for key, value in layer.get_config().items() if key != "name"},
         [list(weight.shape) for weight in layer.weights]]
        for layer in model.layers], sort_keys=True, default=str)


def _digest(value):
    """A short fingerprint of a model config or of data arrays, for settings.json."""
    hasher = hashlib.sha256()
    if isinstance(value, dict):
        for key in sorted(value):
            hasher.update(key.encode())
            for array in keras.tree.flatten(value[key]):  # a dict or list of inputs too
                hasher.update(np.ascontiguousarray(array).tobytes())
    else:
        hasher.update(value.encode())
    return hasher.hexdigest()[:16]
