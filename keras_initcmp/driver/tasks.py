"""One run of a sweep: a picklable task that trains (`compare`) or probes (`probe`) one
scheme and seed into one run folder, and returns its records.

`TrainTask` and `ProbeTask` are called as `task(scheme, seed, run_dir, line)` by
`keras_initcmp.driver.sweep`, in this process or in a worker. A training run's curves,
HParams record and final metrics are `keras_initcmp.callbacks.RunLog`'s.
"""

import contextlib
import dataclasses
import math
import time

import keras
import numpy as np

from keras_initcmp import backend, store
from keras_initcmp import schemes as registry
from keras_initcmp.arrays import rows
from keras_initcmp.callbacks.activation_histograms import ActivationHistograms
from keras_initcmp.callbacks.run_log import FINAL_METRICS, RunLog
from keras_initcmp.driver import shared_runs
from keras_initcmp.driver.inputs import normal_input
from keras_initcmp.driver.progress import Progress
from keras_initcmp.distributed import data_parallel
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement import tags
from keras_initcmp.measurement.stats import activation_stats
from keras_initcmp.reinit.redraw import clone, redraw_kernels, reinitialize
from keras_initcmp.reinit.unit_variance import lsuv
from keras_initcmp.schemes import theory

__all__ = ["TrainTask", "ProbeTask"]

_STAT_FIELDS = ("mean", "std", "zero_fraction", "saturation", "nonfinite")


def _trial_id(task, scheme, seed):
    """The run's HParams trial id, from the experiment the sweep set on the task
    (`compare`'s default name when a task is called on its own)."""
    name = getattr(task, "experiment_name", None) or "custom"
    return store.Experiment(".", name).trial_id(scheme, seed)


@dataclasses.dataclass
class TrainTask:
    """Everything a training run needs; picklable, so `jobs > 1` can ship it to workers."""

    model: keras.Model
    data: dict
    compiled: dict
    epochs: int
    steps_per_epoch: int
    batch_size: int
    probe_size: int
    strategy: object = None  # tf.distribute or keras.distribution: jobs=1, no dask
    initial_weights: list = None  # the model's as it came in: every run starts from them

    def __call__(self, scheme, seed, run_dir, line):
        with backend.get().deterministic(seed):
            return self._train(scheme, seed, run_dir, line)

    def _fresh_net(self, scheme, seed):
        net = clone(self.model)
        if net is self.model:  # not clonable (subclassed): reset the one model in place
            net.set_weights(self.initial_weights)
        if registry.get(scheme).data_dependent:  # lsuv: on the built model, before training
            redraw_kernels(net, "orthogonal", seed)
            lsuv(net, rows(self.data["x"], slice(self.probe_size)), orthogonal=False)
        else:
            redraw_kernels(net, scheme, seed)
        net.compile(**keras.saving.deserialize_keras_object(self.compiled),
                    steps_per_execution=_steps_per_execution(self.steps_per_epoch))
        return net

    def _train(self, scheme, seed, run_dir, line):
        x, y = self.data["x"], self.data["y"]
        with _scope(self.strategy):
            fresh = self._fresh_net(scheme, seed)
        run_log = RunLog(run_dir, {"initializer": scheme, "seed": seed},
                          _trial_id(self, scheme, seed))
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            run_log,
            ActivationHistograms(run_dir, probe_data=rows(x, slice(self.probe_size)),
                                 probe_labels=rows(y, slice(self.probe_size))),
        ]
        if line is not None:  # first, so that its line is up before the first snapshot
            callbacks.insert(0, Progress(line, f"{scheme} seed {seed}",
                                       self.epochs * self.steps_per_epoch))
        start = time.perf_counter()
        shared = self._shared_model(fresh)
        if shared is None:
            net, epochs_run, last, evaluate = self._train_per_run(fresh, seed, callbacks)
        else:
            shared.load(fresh)
            net, epochs_run, last, evaluate = self._train_shared(shared, callbacks)
        # Final training metrics at the final weights: the epoch logs average over
        # the epoch's steps, which lags behind (by a lot for long epochs).
        train = evaluate() if _finite_or_none(last.get("loss")) is not None else {}
        loss = _finite_or_none(train.get("loss"))
        record = {
            "scheme": scheme, "seed": seed, "epochs": epochs_run,
            "steps": int(keras.ops.convert_to_numpy(net.optimizer.iterations)), "loss": loss,
            "accuracy": _finite_or_none(_accuracy(train, "")),
            "val_loss": _finite_or_none(last.get("val_loss")),
            "val_accuracy": _finite_or_none(_accuracy(last, "val_")),
            "diverged": loss is None, "seconds": round(time.perf_counter() - start, 3),
        }
        run_log.finish(record)
        return [record], net

    def _shared_model(self, fresh):
        """The model every run of this task trains on (`shared_runs`), made from the
        first run's; `None` where runs cannot share one (`shared_reason` says why)."""
        if "shared_reason" not in self.__dict__:
            self.shared_reason = shared_runs.reason_not_shared(self, fresh)
            if self.shared_reason is None:
                self._shared = shared_runs.SharedModel(fresh, self.data["x"], self.data["y"])
        return self.__dict__.get("_shared")

    def __getstate__(self):  # a worker builds its own shared model
        return {key: value for key, value in self.__dict__.items()
                if key not in ("_shared", "shared_reason")}

    def _train_per_run(self, net, seed, callbacks):
        """`fit`: `(net, epochs run, last epoch's logs, evaluate on the training data)`."""
        data = backend.get()
        x, y = self.data["x"], self.data["y"]
        validation = None
        if "x_val" in self.data:
            validation = data.evaluation_data(self.data["x_val"], self.data["y_val"],
                                              self.batch_size)
        history = self._fit(net, data.training_data(x, y, self.batch_size, seed),
                            epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
                            validation_data=validation, callbacks=callbacks)
        last = {key: values[-1] for key, values in history.history.items()}
        return net, len(history.epoch), last, \
            lambda: self._evaluate(net, data.evaluation_data(x, y, self.batch_size))

    def _train_shared(self, shared, callbacks):
        """The same as `_train_per_run`, on the shared model and its compiled loop."""
        x, y = self.data["x"], self.data["y"]
        validation = None
        if "x_val" in self.data:
            validation = shared_runs.in_batches(self.data["x_val"], self.data["y_val"],
                                                self.batch_size)
        epochs_run, last = shared.fit(
            (x, y), self.epochs, self.steps_per_epoch,
            _steps_per_execution(self.steps_per_epoch), validation, callbacks)
        return shared.net, epochs_run, last, \
            lambda: shared.evaluate(shared_runs.in_batches(x, y, self.batch_size))

    def _fit(self, net, dataset, **kwargs):
        if self.strategy is None or data_parallel.is_distribution(self.strategy):
            # (a keras.distribution splits each batch over its devices inside `fit`)
            with _scope(self.strategy):
                # The data shuffles itself (seeded, per pass); Keras' own shuffle would
                # only warn that it ignores a tf.data.Dataset.
                return net.fit(dataset, verbose=0, shuffle=False, **kwargs)
        from keras_initcmp import distributed  # Keras' fit, or where it fails, the custom loop
        return distributed.fit(net, dataset, **kwargs)

    def _evaluate(self, net, dataset):
        if self.strategy is None or data_parallel.is_distribution(self.strategy):
            with _scope(self.strategy):
                return net.evaluate(dataset, verbose=0, return_dict=True)
        from keras_initcmp import distributed
        return distributed.evaluate(net, dataset)


def _scope(strategy):
    return contextlib.nullcontext() if strategy is None else strategy.scope()


@dataclasses.dataclass
class ProbeTask:
    """Everything a probe run needs: the net's widths and activation, the input's size."""

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
        x = normal_input(seed, self.samples, self.sizes[0])
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
                    writer.scalar(tags.predicted_std_tag(record["layer"]), record["predicted_std"], 0)
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
