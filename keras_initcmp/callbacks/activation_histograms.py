"""`ActivationHistograms`: per-layer activation histograms and statistics in TensorBoard.

Keras' TensorBoard callback logs weight histograms only; activation histograms were
dropped in TF2 and the Keras maintainers asked for a separate callback
(keras-team/keras PR 17624). This is that callback, for any Keras model on any
backend: the layers' outputs are summarized during one inference pass, each where
its layer produces it (`keras_initcmp.measurement.recording`,
`keras_initcmp.measurement.reduction`), on the device, by the backend's fastest
kernels (`keras_initcmp.backend`), and the few numbers per layer that reach the
host are written by `keras_initcmp.events.writer` (no TensorFlow needed).
"""

import functools
import os

import keras
from keras import ops

from keras_initcmp import backend, checks
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement.recording import LayerRecorder, ensure_built, select_layers
from keras_initcmp.measurement import tags
from keras_initcmp.measurement.stats import (STATISTICS, as_input_tensors, flat, moments_to_stats,
                                             summary_function)

__all__ = ["ActivationHistograms"]

# A histogram of a uniform sample of 2**20 values is indistinguishable on screen from
# one of all values, and bounds a snapshot's cost on large conv activations.
DEFAULT_MAX_HISTOGRAM_VALUES = 2**20


class ActivationHistograms(keras.callbacks.Callback):
    """Logs per-layer activation histograms and statistics of a fixed probe batch.

    Every snapshot runs one inference pass of `probe_data` that records the
    observed layers' outputs (any model: Sequential, functional, subclassed,
    nested, keras_hub; any backend), and writes to TensorBoard, for each observed
    layer (`<layer>` is its path, `backbone/transformer_layer_0` inside a nested
    model):

    - histogram `activations/<layer>` (finite values; Histograms and Distributions
      dashboards);
    - scalars `activation_mean/<layer>`, `activation_std/<layer>`,
      `activation_zero_fraction/<layer>` (exactly 0: dead ReLU),
      `activation_saturation/<layer>` (`|a| >= 0.99`), `activation_nonfinite/<layer>`,
      `activation_dead_units/<layer>` (share of units, the last axis, that are 0
      for every probe sample);
    - with `probe_labels`: histograms `gradients/<layer>/<var>` and the scalar
      `gradient_norm/<layer>` of the compiled loss on the probe batch;
    - with `weights=True`: histograms `weights/<layer>/<var>`.

    The first snapshot is taken at step 0, before the first training step (the
    state the initializer produced); then after every epoch (step = epochs done)
    or every `every` training batches (step = batches done, from the optimizer's
    iteration count). A diverging model is reported (`activation_nonfinite`),
    never stops training. Under a `tf.distribute` strategy (or a multi-process
    JAX or PyTorch run) only the chief writes.

    Args:
        log_dir: Folder for the event files (created if missing).
        probe_data: Model inputs of the probe batch: an array, or a list/dict of
            arrays for a model with several inputs. Keep it small (hundreds of
            samples): every snapshot processes all of it.
        every: `"epoch"` (default) or a positive int N: snapshot every N batches.
        layers: Layer names, paths or shell-style patterns to observe
            (`["bert_backbone/transformer_layer_*"]`); `None` (default) observes
            every layer except input layers, with nested models expanded into
            their layers.
        bins: Histogram buckets, default 30 (as `tf.summary.histogram`).
        probe_labels: Targets for `probe_data`; enables gradient histograms and
            norms. Default `None`.
        weights: Also log weight histograms. Default `False`.
        max_histogram_values: Bin at most this many values per layer (and
            variable), a uniform sample drawn the same way at every snapshot, to
            bound a snapshot's cost on large activations; the histogram's counts
            then add up to this number, its edges still span all values. The
            scalars are always exact over all values. Default `2**20`
            (1,048,576, e.g. a 512-sample probe of a 64-channel 32×32 conv
            layer is 33.5 M values); `None` bins everything.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     ActivationHistograms("logs/run1", probe_data=x[:512])])

    Then `tensorboard --logdir logs`. In a custom training loop call
    `snapshot(step)` yourself and `close()` at the end.
    """

    def __init__(self, log_dir, probe_data, every="epoch", layers=None, bins=30,
                 probe_labels=None, weights=False, max_histogram_values=DEFAULT_MAX_HISTOGRAM_VALUES):
        super().__init__()
        if not (every == "epoch" or checks.is_positive_int(every)):
            raise ValueError(
                f"Argument `every` must be 'epoch' or a positive int. Received: every={every!r}"
            )
        bins = checks.positive_int("bins", bins)
        max_histogram_values = checks.positive_int("max_histogram_values", max_histogram_values,
                                                   allow_none=True)
        self.log_dir = os.fspath(log_dir)
        self.probe_data = as_input_tensors(probe_data, "probe_data")
        self.probe_size = keras.tree.flatten(self.probe_data)[0].shape[0]
        self.probe_labels = None
        if probe_labels is not None:
            self.probe_labels = as_input_tensors(probe_labels, "probe_labels")
            label_size = keras.tree.flatten(self.probe_labels)[0].shape[0]
            if label_size != self.probe_size:
                raise ValueError(
                    "Argument `probe_labels` must have one label per sample of `probe_data`. "
                    f"Received: {label_size} labels for {self.probe_size} samples"
                )
        self.every = every
        self.layers = None if layers is None else list(layers)
        self.bins = bins
        self.weights = bool(weights)
        self.max_histogram_values = max_histogram_values
        self._writer = None
        self._snapshot_function = None
        self._last_step = None
        if every != "epoch":
            # Only then: Keras calls batch hooks that a callback implements.
            self.on_train_batch_end = self._after_batch

    # --- Keras hooks -----------------------------------------------------------

    def set_model(self, model):
        if model is not getattr(self, "_model", None):
            self.close()  # the traced snapshot and its writer belong to the old model
        super().set_model(model)

    def on_train_begin(self, logs=None):
        if self._is_chief():  # other workers write nothing, not even the folder
            self._check_writable()
        self._check_probe_shape()
        if self._optimizer_iterations() == 0 and self._last_step is None:
            self.snapshot(0)

    def on_epoch_end(self, epoch, logs=None):
        if self.every == "epoch":
            self.snapshot(epoch + 1)

    def _after_batch(self, batch, logs=None):
        batches_done = self._optimizer_iterations()
        last = self._last_step or 0
        if batches_done // self.every > last // self.every:
            self.snapshot(batches_done)

    def on_train_end(self, logs=None):
        self.close()

    # --- public API ------------------------------------------------------------

    def snapshot(self, step):
        """Log one snapshot of the current model at `step` (for custom training loops).

        Call `set_model(model)` first when the callback is not passed to `fit`.
        """
        if not self._is_chief():
            return
        if self._snapshot_function is None:
            self._build()
        results = self._snapshot_function(self.probe_data, self.probe_labels)
        for path, result in results.items():
            self._write_layer(path, result, int(step))
        self._writer.flush()
        self._last_step = int(step)

    def close(self):
        """Flush and close the event file; a later snapshot opens a new one."""
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._snapshot_function = None

    # --- internals -------------------------------------------------------------

    def _build(self):
        """Create the writer and find (or compile) the model's snapshot."""
        if self.model is None:
            raise ValueError("Call `set_model(model)` before `snapshot(step)` outside `fit`.")
        ensure_built(self.model, self.probe_data)
        self._writer = EventWriter(self.log_dir)
        self._snapshot_function = _snapshot_function(
            self.model, self.layers, self.bins, self.max_histogram_values, self.weights)

    def _write_layer(self, path, result, step):
        writer = self._writer
        writer.histogram(tags.histogram_tag(path), result["rows"], step)
        statistics = moments_to_stats(result["moments"], result["alive"])
        for statistic in STATISTICS:
            writer.scalar(tags.scalar_tag(statistic, path), statistics[statistic], step)
        for name, rows in result.get("gradients", {}).items():
            writer.histogram(tags.gradient_tag(path, name), rows, step)
        if "gradient_norm" in result:
            writer.scalar(tags.gradient_norm_tag(path), result["gradient_norm"], step)
        for name, rows in result.get("weights", {}).items():
            writer.histogram(tags.weight_tag(path, name), rows, step)

    def _is_chief(self):
        return backend.get().is_chief(self.model)

    def _optimizer_iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return 0 if optimizer is None else int(ops.convert_to_numpy(optimizer.iterations))

    def _check_writable(self):
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            if not os.access(self.log_dir, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {self.log_dir!r}")
        except OSError as error:
            raise ValueError(
                f"Argument `log_dir` must be a writable folder. Received: log_dir={self.log_dir!r} "
                f"({error})"
            ) from error

    def _check_probe_shape(self):
        """Fail before the first training step, not after an epoch, on a probe that cannot fit."""
        inputs = getattr(self.model, "inputs", None) or []
        probes = keras.tree.flatten(self.probe_data)
        if not inputs:
            return  # a subclassed model: its first call tells
        if len(inputs) != len(probes):
            raise ValueError(
                f"Argument `probe_data` must match the model's inputs "
                f"{[tuple(i.shape) for i in inputs]}. "
                f"Received: probe_data with shapes {[p.shape for p in probes]}"
            )
        for model_input, probe in zip(inputs, probes):
            expected = tuple(model_input.shape)[1:]
            if len(expected) != probe.ndim - 1 or any(
                    e is not None and e != p for e, p in zip(expected, probe.shape[1:])):
                raise ValueError(
                    f"Argument `probe_data` must match the model's input shape "
                    f"{(None, *expected)}. Received: probe_data of shape {probe.shape}"
                )



_SNAPSHOTS = "_keras_initcmp_snapshots"


def _snapshot_function(model, layers, bins, max_histogram_values, weights):
    """The model's compiled snapshot for these settings, compiled once per model: every
    callback on the model shares it (`shared_runs`: one trace for a sweep's runs)."""
    # Kept on the model itself, so that it goes with the model (a cache keyed by the
    # model would keep every model alive through the function's reference to it);
    # set past Keras' attribute tracking, which would track a dict as model state.
    compiled = model.__dict__.get(_SNAPSHOTS)
    if compiled is None:
        compiled = {}
        object.__setattr__(model, _SNAPSHOTS, compiled)
    key = (None if layers is None else tuple(layers), bins, max_histogram_values, weights)
    if key not in compiled:
        # Each output is summarized where its layer produces it (`reduce`): the pass
        # never holds every layer's output, and each is read while hot in cache.
        recorder = LayerRecorder(select_layers(model, layers),
                                 reduce=summary_function(bins, max_histogram_values))
        compiled[key] = backend.get().snapshot_function(
            model, recorder, functools.partial(_summarize, bins, max_histogram_values, weights))
    return compiled[key]


def _summarize(bins, max_histogram_values, log_weights, summaries, gradients, weights):
    """On the device: per layer, the summary taken where the layer produced its output
    (moments, buckets, dead units), and the gradients' and weights' buckets."""
    def histogram(tensor):
        return summary_function(bins, max_histogram_values)(tensor)["rows"]

    results = {}
    for path, summary in summaries.items():
        result = dict(summary)
        if gradients is not None and gradients.get(path):
            result["gradients"] = {name: histogram(g) for name, g in gradients[path].items()}
            result["gradient_norm"] = ops.sqrt(sum(
                ops.sum(ops.square(flat(g))) for g in gradients[path].values()))
        if log_weights:
            result["weights"] = {name: histogram(value) for name, value in weights[path].items()}
        results[path] = result
    return results
