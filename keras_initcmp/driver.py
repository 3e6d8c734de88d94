"""The comparison driver: one network under several initialization schemes.

`compare` is the article's experiment 1 for any Keras model (train a copy per scheme
and seed), `probe` its experiment 2 (push random data through a fresh deep net, no
training). Both write one TensorBoard run per scheme and seed,
`<logdir>/<experiment>/<scheme>/seed-<k>/`, and add each finished run's records to
`<logdir>/<experiment>/results.json` and `results.csv`. Every path and every write of
those files is `keras_initcmp.store`'s (`store.Experiment`): runs are written into a
hidden folder and renamed into place when finished, results are a read-merge-write under
a lock, so an interrupted sweep loses at most the run in flight, resumes where it
stopped, and several sweeps may write into one experiment at once.
"""

import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import pickle
import tempfile
import time

import keras
import numpy as np
from tensorboard.plugins.hparams import summary_v2 as hp

from keras_initcmp import backend, experiments, initializers, layout, store, summary, theory
from keras_initcmp import schemes as registry
from keras_initcmp.eventfile import EventWriter
from keras_initcmp.callbacks import ActivationHistograms
from keras_initcmp.lsuv import lsuv
from keras_initcmp.stats import activation_stats

__all__ = ["compare", "probe", "reinitialize", "DEFAULT_SCHEMES", "DATA_SCHEMES",
           "COMPARE_FIELDS", "PROBE_FIELDS"]

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
_STAT_FIELDS = ("mean", "std", "zero_fraction", "saturation", "nonfinite")
_FINAL_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
PROBE_SIZES = (1000, 800, 500, 300, 200, 100, 10)
"""The article's probe net: 1000 inputs, then six layers."""

def reinitialize(model, scheme, seed=0):
    """`model` with every kernel drawn afresh from `scheme`, and its biases.

    Works on any Keras model: the kernels are found among all of its variables,
    nested models and blocks included, by their Keras names (`kernel`,
    `depthwise_kernel`, `pointwise_kernel`, `recurrent_kernel`, `embeddings`);
    `bias` variables get the scheme's own bias where the registry has one
    (`pytorch-default`: `U(±1/√fan_in)`, the fan-in of the layer's kernel) and are set
    to 0 otherwise, as in the article; everything else
    (normalization, ...) keeps its own initial value. Each kernel gets its own
    initializer instance with its own seed, derived from `seed` and the kernel's
    position, so the same `seed` gives every scheme the same underlying random
    draws (`xavier` and `he` differ only by their scale).

    Args:
        model: A built Keras model.
        scheme: One of `keras_initcmp.initializers.SCHEMES`.
        seed: Non-negative int.

    Returns:
        A new, uncompiled model with the same architecture and layer names, where
        Keras can clone the model (Sequential, functional, keras_hub); a model it
        cannot clone (a subclassed model without `get_config`) is re-initialized in
        place and returned.
    """
    _check_schemes((scheme,), registry.names(include_data_dependent=False))
    net = _clone(model)
    redraw_kernels(net, scheme, seed)
    return net


KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel",
                "embeddings")
"""Names of the weight matrices a scheme replaces (Dense, Conv*, SeparableConv*,
DepthwiseConv*, RNN cells, EinsumDense, Embedding)."""


# Which of a layer's kernels a bias belongs with (its fan-in is the bias's): the
# plain kernel, else a separable conv's pointwise one, else the first found.
_BIAS_KERNEL_PRIORITY = {"kernel": 0, "pointwise_kernel": 1}


def redraw_kernels(model, scheme, seed):
    """In place: every kernel of `model` from `scheme` (seeded by position); every bias
    from the scheme's registry entry (`Scheme.bias(kernel_seed, kernel_shape)`) where it
    has one and the bias's layer has a kernel, else zero."""
    entry = registry.get(scheme)
    position = itertools.count()
    variables = list(model.weights)
    kernels = {}  # owner path -> (priority, kernel shape, kernel seed)
    for variable in variables:
        if variable.name in KERNEL_NAMES:
            kernel_seed = _kernel_seed(seed, next(position))
            initializer = initializers.get(scheme, seed=kernel_seed)
            variable.assign(initializer(tuple(variable.shape), dtype=variable.dtype))
            found = (_BIAS_KERNEL_PRIORITY.get(variable.name, 2), tuple(variable.shape),
                     kernel_seed)
            owner = _owner(variable)
            if owner not in kernels or found[0] < kernels[owner][0]:
                kernels[owner] = found
    for variable in variables:
        if variable.name != "bias":
            continue
        found = kernels.get(_owner(variable))
        shape = tuple(variable.shape)
        if entry.bias is not None and found is not None:
            _, kernel_shape, kernel_seed = found
            variable.assign(entry.bias(kernel_seed, kernel_shape)(shape, dtype=variable.dtype))
        else:
            variable.assign(keras.ops.zeros(shape, dtype=variable.dtype))


def _owner(variable):
    """The path of the layer a variable belongs to (`model/dense_1` of `model/dense_1/bias`)."""
    return getattr(variable, "path", variable.name).rpartition("/")[0]


def _clone(model):
    """A fresh copy of `model` where Keras can make one, else `model` itself."""
    try:
        clone = keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError, AttributeError, KeyError):
        return model
    if not clone.built:
        return model
    return clone


def _kernel_seed(seed, position):
    # Well mixed and below 2**31, which every backend's seed argument accepts.
    return int(np.random.SeedSequence([seed, position]).generate_state(1)[0] % (2**31 - 1))


def compare(model, data, schemes=DEFAULT_SCHEMES, seeds=1, *, experiment="custom",
            logdir="logs", optimizer=None, loss=None, metrics=None, epochs=10, steps=None,
            batch_size=32, probe_size=512, jobs=1, overwrite=False, progress=None,
            strategy=None):
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
        jobs: Runs to train at once, each in its own process.
        overwrite: Replace existing results (and their run folders) instead of
            resuming; without it, results from other settings are an error.
        progress: A text stream for a live line per run, or `None` for silence.
        strategy: `None` (one device), `"mirrored"`, `"multiworker"` or a
            `tf.distribute.Strategy`: every run is built and trained in its scope
            (`keras_initcmp.distributed.fit` picks Keras' fit or the custom loop). With
            `"multiworker"`, start the same call on every worker of `TF_CONFIG`, and
            create the strategy first, before TensorFlow's first op
            (`distributed.get_strategy("multiworker")`); only the chief writes to
            `logdir`, the others to a temporary folder they remove. Needs `jobs=1`.

    Returns:
        The list of result records (`COMPARE_FIELDS`), also in `results.json`.

    Example:

    >>> records = keras_initcmp.compare(model, (x, y), schemes=("xavier", "he"), epochs=5)
    """
    if strategy not in (None, "default") and backend.name() != "tensorflow":
        raise ValueError(f"Argument `strategy` (tf.distribute) needs the TensorFlow backend. "
                         f"Received: strategy={strategy!r} with KERAS_BACKEND={backend.name()!r}")
    if strategy in (None, "default"):
        strategy = None
    elif isinstance(strategy, str):
        from keras_initcmp import distributed
        strategy = distributed.get_strategy(strategy)
    if strategy is not None and jobs != 1:
        raise ValueError(f"Argument `jobs` must be 1 with a tf.distribute strategy (its "
                         f"devices train one run at a time). Received: jobs={jobs!r}")
    task = _train_task(model, data, optimizer=optimizer, loss=loss, metrics=metrics,
                       epochs=epochs, steps=steps, batch_size=batch_size, probe_size=probe_size)
    task.strategy = strategy
    settings = {"kind": "compare", "model": _digest(_architecture(task.model)),
                "data": _digest(task.data), **_settings(task)}
    if strategy is not None:
        from keras_initcmp import distributed
        settings["strategy"] = distributed.strategy_name(strategy)
        if not distributed.is_chief(strategy):
            # Other workers train alongside the chief; what they write goes to a
            # temporary folder, removed at the end (the Keras convention).
            with tempfile.TemporaryDirectory(prefix="keras-initcmp-worker-") as scratch:
                return _sweep(task, settings, experiment, scratch, schemes, seeds, 1,
                              False, None)
    try:
        return _sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite,
                      progress)
    finally:  # a model trained in place (not clonable) leaves as it came
        task.model.set_weights(task.initial_weights)


def probe(schemes=DEFAULT_SCHEMES, seeds=1, *, sizes=PROBE_SIZES, activation="tanh",
          samples=100_000, batch_size=5000, histogram_samples=10_000, bias_std=0.0,
          experiment=None, logdir="logs", jobs=1, overwrite=False, progress=None):
    """The article's experiment 2: per-layer activations of a fresh deep net, no training.

    For every scheme and seed, a Sequential of Dense layers `sizes[1:]` (all with
    `activation`) on `sizes[0]` inputs gets `samples` rows of `N(0, 1)` data (the
    same for every scheme of a seed). `activation_stats` runs over all rows in batches
    of `batch_size`, so memory is bounded by the input and one batch; TensorBoard
    histograms (step 0) use the first `histogram_samples` rows.

    Beside each layer's measured `std`, the record holds the mean-field prediction
    `predicted_std` (`keras_initcmp.theory.predicted_std`, input second moment 1,
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
        logdir, jobs, overwrite, progress: As in `compare`.

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
    if isinstance(bias_std, bool) or not isinstance(bias_std, (int, float, np.floating)) \
            or not math.isfinite(bias_std) or bias_std < 0:
        raise ValueError(f"Argument `bias_std` must be a finite number >= 0. "
                         f"Received: bias_std={bias_std!r}")
    task = _ProbeTask(tuple(_positive_int("sizes", size) for size in sizes), activation,
                      _positive_int("samples", samples), _positive_int("batch_size", batch_size),
                      min(_positive_int("histogram_samples", histogram_samples), samples),
                      float(bias_std))
    settings = {"kind": "probe", **_settings(task)}
    experiment = f"probe-{activation}" if experiment is None else experiment
    return _sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite, progress)


def _train_task(model, data, *, optimizer=None, loss=None, metrics=None, epochs=10,
                steps=None, batch_size=32, probe_size=512):
    """`compare`'s arguments checked and resolved into one picklable training task."""
    if isinstance(model, (str, os.PathLike)):
        model = experiments.load_model(os.fspath(model))
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"Argument `model` must be a built Keras model or a path to a "
                         f".keras file. Received: model={model!r}")
    data = _as_data(data)
    epochs = _positive_int("epochs", epochs)
    size = len(data["x"])
    batch_size = size if batch_size is None else min(_positive_int("batch_size", batch_size), size)
    if steps is None:
        steps_per_epoch = math.ceil(size / batch_size)
    else:
        if _positive_int("steps", steps) % epochs:
            raise ValueError(f"Argument `steps` must be a multiple of `epochs` ({epochs}), which "
                             f"splits the steps into equal epochs. Received: steps={steps}")
        steps_per_epoch = steps // epochs
    return _TrainTask(model, data, _compile_config(model, optimizer, loss, metrics), epochs,
                      steps_per_epoch, batch_size, _positive_int("probe_size", probe_size),
                      initial_weights=model.get_weights())


def _settings(task):
    """A task's fields that make two sweeps comparable (model and data go in as digests)."""
    return {field.name: getattr(task, field.name) for field in dataclasses.fields(task)
            if field.name not in ("model", "data", "strategy", "initial_weights")}


def _trial_id(task, scheme, seed):
    """The run's HParams trial id, from the experiment the sweep set on the task
    (`compare`'s default name when a task is called on its own)."""
    name = getattr(task, "experiment_name", None) or "custom"
    return store.Experiment(".", name).trial_id(scheme, seed)


# --- one run ------------------------------------------------------------------------


@dataclasses.dataclass
class _TrainTask:
    """Everything a training run needs; picklable, so `jobs > 1` can ship it to workers."""

    model: keras.Model
    data: dict
    compiled: dict
    epochs: int
    steps_per_epoch: int
    batch_size: int
    probe_size: int
    strategy: object = None  # a tf.distribute.Strategy: not picklable, so jobs=1
    initial_weights: list = None  # the model's as it came in: every run starts from them

    def __call__(self, scheme, seed, run_dir, line):
        with backend.get().deterministic(seed):
            return self._train(scheme, seed, run_dir, line)

    def _fresh_net(self, scheme, seed):
        net = _clone(self.model)
        if net is self.model:  # not clonable (subclassed): reset the one model in place
            net.set_weights(self.initial_weights)
        if registry.get(scheme).data_dependent:  # lsuv: on the built model, before training
            redraw_kernels(net, "orthogonal", seed)
            lsuv(net, self.data["x"][:self.probe_size], orthogonal=False)
        else:
            redraw_kernels(net, scheme, seed)
        net.compile(**keras.saving.deserialize_keras_object(self.compiled),
                    steps_per_execution=_steps_per_execution(self.steps_per_epoch))
        return net

    def _train(self, scheme, seed, run_dir, line):
        x, y = self.data["x"], self.data["y"]
        data = backend.get()
        with contextlib.nullcontext() if self.strategy is None else self.strategy.scope():
            net = self._fresh_net(scheme, seed)
        validation = None
        if "x_val" in self.data:
            validation = data.evaluation_data(self.data["x_val"], self.data["y_val"],
                                              self.batch_size)
        run_log = _RunLog(run_dir, {"initializer": scheme, "seed": seed},
                          _trial_id(self, scheme, seed))
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            run_log,
            ActivationHistograms(run_dir, probe_data=x[:self.probe_size],
                                 probe_labels=y[:self.probe_size]),
        ]
        if line is not None:  # first, so that its line is up before the first snapshot
            callbacks.insert(0, _Progress(line, f"{scheme} seed {seed}",
                                       self.epochs * self.steps_per_epoch))
        start = time.perf_counter()
        history = self._fit(net, data.training_data(x, y, self.batch_size, seed),
                            epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
                            validation_data=validation, callbacks=callbacks)
        last = {key: values[-1] for key, values in history.history.items()}
        train = {}
        if _finite_or_none(last.get("loss")) is not None:
            # Final training metrics at the final weights: the epoch logs average over
            # the epoch's steps, which lags behind (by a lot for long epochs).
            train = self._evaluate(net, data.evaluation_data(x, y, self.batch_size))
        loss = _finite_or_none(train.get("loss"))
        record = {
            "scheme": scheme, "seed": seed, "epochs": len(history.epoch),
            "steps": int(keras.ops.convert_to_numpy(net.optimizer.iterations)), "loss": loss,
            "accuracy": _finite_or_none(_accuracy(train, "")),
            "val_loss": _finite_or_none(last.get("val_loss")),
            "val_accuracy": _finite_or_none(_accuracy(last, "val_")),
            "diverged": loss is None, "seconds": round(time.perf_counter() - start, 3),
        }
        run_log.finish(record)
        return [record], net

    def _fit(self, net, dataset, **kwargs):
        if self.strategy is None:
            # The data shuffles itself (seeded, per pass); Keras' own shuffle would only
            # warn that it ignores a tf.data.Dataset.
            return net.fit(dataset, verbose=0, shuffle=False, **kwargs)
        from keras_initcmp import distributed  # Keras' fit, or where it fails, the custom loop
        return distributed.fit(net, dataset, **kwargs)

    def _evaluate(self, net, dataset):
        if self.strategy is None:
            return net.evaluate(dataset, verbose=0, return_dict=True)
        from keras_initcmp import distributed
        return distributed.evaluate(net, dataset)


@dataclasses.dataclass
class _ProbeTask:
    sizes: tuple
    activation: str
    samples: int
    batch_size: int
    histogram_samples: int
    bias_std: float = 0.0

    def __call__(self, scheme, seed, run_dir, line):
        with backend.get().deterministic(seed):
            return self._probe(scheme, seed, run_dir)

    def _probe(self, scheme, seed, run_dir):
        base = keras.Sequential(
            [keras.Input((self.sizes[0],))]
            + [keras.layers.Dense(width, activation=self.activation, name=f"layer_{index}")
               for index, width in enumerate(self.sizes[1:], start=1)],
            name="probe")
        net = reinitialize(base, scheme, seed)
        if self.bias_std > 0 and registry.get(scheme).bias is None:
            _normal_biases(net, self.bias_std, seed)
        x = _normal_input(seed, self.samples, self.sizes[0])
        stats = activation_stats(net, x, batch_size=self.batch_size)
        histograms = ActivationHistograms(run_dir, probe_data=x[:self.histogram_samples])
        histograms.set_model(net)
        histograms.snapshot(0)
        histograms.close()
        predicted = self.predicted_std(scheme)
        if len(predicted) != len(stats):  # stats found other layers: no layer-wise match
            predicted = [None] * len(stats)
        records = [{"scheme": scheme, "seed": seed, "layer": layer,
                    **{key: _finite_or_none(values[key]) for key in _STAT_FIELDS},
                    "predicted_std": _finite_or_none(prediction)}
                   for (layer, values), prediction in zip(stats.items(), predicted)]
        if any(record["predicted_std"] is not None for record in records):
            writer = EventWriter(run_dir)
            for record in records:
                if record["predicted_std"] is not None:
                    writer.scalar(f"predicted_std/{record['layer']}", record["predicted_std"], 0)
            writer.close()
        return records, net

    def predicted_std(self, scheme):
        """Mean-field std per layer (`None`s where theory has no answer)."""
        try:
            return theory.predicted_std(self.sizes, self.activation, scheme,
                                        input_second_moment=1.0, bias_std=self.bias_std)
        except ValueError:  # an activation the theory has no NumPy form of
            return [None] * (len(self.sizes) - 1)


def _normal_biases(net, bias_std, seed):
    """Every bias of `net` from `N(0, bias_std²)`, the same draws for every scheme of a seed."""
    rng = np.random.default_rng([seed, 0xB1A5])
    for variable in net.weights:
        if variable.name == "bias":
            values = rng.normal(0.0, bias_std, tuple(variable.shape))
            variable.assign(keras.ops.convert_to_tensor(values, dtype=variable.dtype))


@functools.lru_cache(maxsize=1)
def _normal_input(seed, samples, width):
    # Cached: every scheme of a seed probes the same input, and drawing 10^8 normals
    # costs about as much as the forward pass.
    return np.random.default_rng(seed).standard_normal((samples, width), dtype=np.float32)


def _steps_per_execution(steps_per_epoch):
    # Many steps per call into the graph (Keras' per-call overhead dominates a tiny
    # net), but a divisor of steps_per_epoch: Keras runs whole
    # executions, so 7 per execution would run 14 of 10 steps.
    limit = min(steps_per_epoch, backend.get().MAX_STEPS_PER_EXECUTION)
    return max(d for d in range(1, limit + 1) if steps_per_epoch % d == 0)


def _accuracy(logs, prefix):
    if f"{prefix}accuracy" in logs:
        return logs[f"{prefix}accuracy"]
    # A metric object logs under its own name, e.g. binary_accuracy.
    names = [key for key in logs if key.endswith("accuracy")
             and key.startswith(prefix) and (prefix or not key.startswith("val_"))]
    return logs[names[0]] if names else None


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class _RunLog(keras.callbacks.Callback):
    """One run's curves (Keras' epoch logs, step = epoch), HParams record and final metrics."""

    def __init__(self, log_dir, hparams, trial_id):
        super().__init__()
        self._writer = EventWriter(log_dir)
        # `experiment.trial_id(scheme, seed)`, `circles/he/seed-0`: unique across the
        # experiments one TensorBoard shows, so HParams keeps one session per run,
        # whatever (hidden, staging) folder the run is written in.
        self._writer.summary(hp.hparams_pb(hparams, trial_id=trial_id))
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self._writer.scalar(name, float(value), epoch + 1)
        self._writer.flush()

    def finish(self, record):
        """The final metrics as `final/<name>` scalars (the HParams columns), then close."""
        for name in _FINAL_METRICS:
            if record[name] is not None:
                self._writer.scalar(f"final/{name}", record[name], record["epochs"])
        self._writer.close()


class _Line:
    """One status line on a stream: rewritten in place on a terminal, else printed once done."""

    def __init__(self, stream):
        self.stream = stream
        self.live = getattr(stream, "isatty", lambda: False)()

    def update(self, text):
        if self.live:
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()

    def finish(self, text):
        self.stream.write(f"\r{text}\x1b[K\n" if self.live else f"{text}\n")
        self.stream.flush()


class _Progress(keras.callbacks.Callback):
    """Live `label  [####....]  steps  loss` line, updated once per execution."""

    def __init__(self, line, label, total_steps):
        super().__init__()
        self.line, self.label, self.total = line, label, total_steps
        self.start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.on_train_batch_end(0)  # the line shows while the first steps are traced

    def on_train_batch_end(self, batch, logs=None):
        done = int(self.model.optimizer.iterations.numpy())
        filled = 20 * done // self.total
        loss = (logs or {}).get("loss")
        self.line.update(
            f"{self.label:<20} [{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} steps"
            + ("" if loss is None else f"  loss {float(loss):.4f}")
            + f"  {time.perf_counter() - self.start:.1f}s")


# --- the sweep: resume, the experiment's store, processes ---------------------------


def _sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite, progress):
    schemes = _check_schemes(schemes)
    seeds = _positive_int("seeds", seeds)
    jobs = _positive_int("jobs", jobs)
    if not isinstance(experiment, str):
        raise ValueError(f"Argument `experiment` must be a plain folder name. "
                         f"Received: experiment={experiment!r}")
    # Schemes in the registry's (the article's) order, then seeds.
    experiment = store.Experiment(logdir, experiment, rank=registry.names())
    task.experiment_name = experiment.name  # not a field: not a setting; pickles along
    with experiment:
        records = experiment.open(settings, overwrite)
        done = {(record["scheme"], record["seed"]) for record in records}
        requested = [(scheme, seed) for scheme in schemes for seed in range(seeds)]
        todo = [run for run in requested if run not in done]
        if getattr(task, "strategy", None) is not None:  # every worker does the chief's runs
            from keras_initcmp import distributed
            todo = [run for run, flag in zip(requested, distributed.chief_flags(
                task.strategy, [run in todo for run in requested])) if flag]
        if progress is not None and len(todo) < len(requested):
            progress.write(f"{experiment.folder}: resuming, {len(requested) - len(todo)} of "
                           f"{len(requested)} runs already in results.json\n")
        with _without_retracing_warnings():
            for _ in _execute(task, todo, experiment, jobs, progress):
                pass
        records = experiment.records()  # every sweep's, when several share the experiment
        if isinstance(task, _TrainTask) and records:
            _write_hparams_config(experiment)
        if records:  # Custom Scalars: one chart per statistic with every layer
            layout.write_layout(experiment.folder, training=isinstance(task, _TrainTask))
    return records


@contextlib.contextmanager
def _without_retracing_warnings():
    # Every run is a new model with new tf.functions by design; TensorFlow's "N out of
    # the last M calls triggered retracing" warning would only be noise here.
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def _execute(task, todo, experiment, jobs, progress):
    """Runs `todo` in this process or in `jobs` workers; yields each run's records as it
    is finished (moved into place and added to the results by the store).

    A run that another live sweep already started or finished (`start_run` gives
    `None`) is skipped. A run that fails is abandoned (its folder removed).
    """
    line = None if progress is None else _Line(progress)
    if jobs == 1 or len(todo) < 2:
        for scheme, seed in todo:
            staging = experiment.start_run(scheme, seed)
            if staging is None:
                continue
            try:
                records, _ = task(scheme, seed, staging, line)
            except BaseException:
                experiment.abandon_run(staging)
                raise
            experiment.finish_run(scheme, seed, staging, records)
            if line is not None:
                line.finish(summary.run_line(records))
            yield records
        return
    staged = {}
    for scheme, seed in todo:  # claimed here, before any worker starts writing
        staging = experiment.start_run(scheme, seed)
        if staging is not None:
            staged[scheme, seed] = staging
    if not staged:
        return
    context = multiprocessing.get_context("spawn")  # fork after TensorFlow started is unsafe
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with concurrent.futures.ProcessPoolExecutor(
            min(jobs, len(staged)), mp_context=context, initializer=_start_worker,
            initargs=(pickle.dumps(task), threads)) as pool:
        futures = {pool.submit(_worker_run, scheme, seed, staging): (scheme, seed, staging)
                   for (scheme, seed), staging in staged.items()}
        try:
            for future in concurrent.futures.as_completed(futures):
                scheme, seed, staging = futures[future]
                try:
                    records = future.result()
                except BaseException:
                    experiment.abandon_run(staging)
                    raise
                experiment.finish_run(scheme, seed, staging, records)
                if line is not None:
                    line.finish(summary.run_line(records))
                yield records
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    # (runs left unfinished by a failure are removed by `experiment.close()`)


_WORKER_TASK = None


def _start_worker(task_bytes, threads):
    global _WORKER_TASK
    # Share the cores among the workers instead of each one claiming all of them. This
    # must precede TensorFlow's first op, hence the task (a model) arrives as bytes.
    backend.get().limit_threads(threads)
    _WORKER_TASK = pickle.loads(task_bytes)


def _worker_run(scheme, seed, run_dir):
    records, _ = _WORKER_TASK(scheme, seed, run_dir, None)
    return records


def _write_hparams_config(experiment):
    """The experiment's HParams columns: initializer, seed and the final metrics of
    every record in `results.json` (every sweep's), replacing the previous config."""
    with experiment.replace_root_event_file(store.HPARAMS_SUFFIX) as folder:
        records = experiment.records()
        metrics = [name for name in _FINAL_METRICS
                   if any(record.get(name) is not None for record in records)]
        schemes = list(dict.fromkeys(record["scheme"] for record in records))
        writer = EventWriter(folder, filename_suffix=store.HPARAMS_SUFFIX)
        writer.summary(hp.hparams_config_pb(
            hparams=[hp.HParam("initializer", hp.Discrete(schemes)),
                     hp.HParam("seed", hp.IntInterval(0, max(r["seed"] for r in records)))],
            metrics=[hp.Metric(f"final/{name}", display_name=f"final {name}")
                     for name in metrics]))
        writer.close()


# --- argument checks ----------------------------------------------------------------


def _check_schemes(schemes, allowed=None):
    allowed = registry.names() if allowed is None else tuple(allowed)
    if isinstance(schemes, str) or not schemes:
        raise ValueError(f"Argument `schemes` must be a non-empty list of names from "
                         f"{allowed}. Received: schemes={schemes!r}")
    unknown = [scheme for scheme in schemes if scheme not in allowed]
    if unknown:
        raise ValueError(f"Argument `schemes` must name schemes from {allowed}. "
                         f"Received: unknown {unknown[0]!r} in schemes={list(schemes)!r}")
    return tuple(dict.fromkeys(schemes))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Argument `{name}` must be a positive int. Received: {name}={value!r}")
    return int(value)


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
            hasher.update(np.ascontiguousarray(value[key]).tobytes())
    else:
        hasher.update(value.encode())
    return hasher.hexdigest()[:16]
