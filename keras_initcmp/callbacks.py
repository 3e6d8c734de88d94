"""`ActivationHistograms`: per-layer activation histograms and statistics in TensorBoard.

Keras' TensorBoard callback logs weight histograms only; activation histograms were
dropped in TF2 and the Keras maintainers asked for a separate callback
(keras-team/keras PR 17624). This is that callback.
"""

import contextlib
import functools
import os

import numpy as np
import tensorflow as tf
import keras

from keras_initcmp import summaries
from keras_initcmp.stats import LayerOutputs, as_input_tensors, layer_moments, select_layers

__all__ = ["ActivationHistograms"]

# A histogram of a uniform sample of 2**20 values is indistinguishable on screen from
# one of all values, and bounds a snapshot's cost on large conv activations.
DEFAULT_MAX_HISTOGRAM_VALUES = 2**20

_SCALAR_TAGS = ("activation_mean", "activation_std", "activation_zero_fraction",
                "activation_saturation", "activation_nonfinite")


class ActivationHistograms(keras.callbacks.Callback):
    """Logs per-layer activation histograms and statistics of a fixed probe batch.

    Every snapshot runs one forward pass of `probe_data` through a multi-output
    model built once, and writes to TensorBoard, for each observed layer:

    - histogram `activations/<layer>` (finite values; Histograms and Distributions
      dashboards);
    - scalars `activation_mean/<layer>`, `activation_std/<layer>`,
      `activation_zero_fraction/<layer>` (exactly 0: dead ReLU),
      `activation_saturation/<layer>` (`|a| >= 0.99`), `activation_nonfinite/<layer>`;
    - with `probe_labels`: histograms `gradients/<layer>/<var>` and the scalar
      `gradient_norm/<layer>` of the compiled loss on the probe batch;
    - with `weights=True`: histograms `weights/<layer>/<var>`.

    The first snapshot is taken at step 0, before the first training step (the
    state the initializer produced); then after every epoch (step = epochs done)
    or every `every` training batches (step = batches done, from the optimizer's
    iteration count). A diverging model is reported (`activation_nonfinite`),
    never stops training. Under a `tf.distribute` strategy only the chief writes.

    Args:
        log_dir: Folder for the event files (created if missing).
        probe_data: Model inputs of the probe batch: an array, or a list/dict of
            arrays for a model with several inputs. Keep it small (hundreds of
            samples): every snapshot processes all of it.
        every: `"epoch"` (default) or a positive int N: snapshot every N batches.
        layers: Layer names to observe; `None` (default) observes every layer
            except input layers.
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
        if not (every == "epoch" or _is_positive_int(every)):
            raise ValueError(
                f"Argument `every` must be 'epoch' or a positive int. Received: every={every!r}"
            )
        if not _is_positive_int(bins):
            raise ValueError(f"Argument `bins` must be a positive int. Received: bins={bins!r}")
        if max_histogram_values is not None and not _is_positive_int(max_histogram_values):
            raise ValueError(
                "Argument `max_histogram_values` must be a positive int or None. "
                f"Received: max_histogram_values={max_histogram_values!r}"
            )
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
        self._step = None
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
        self._step.assign(step)
        with self._writer.as_default(), _graph_rewrites_off():
            self._snapshot_function(*self._probe_tensors)
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
        """Create the writer and trace the snapshot: once per model and writer."""
        model = self.model
        if model is None:
            raise ValueError("Call `set_model(model)` before `snapshot(step)` outside `fit`.")
        observed = select_layers(model, self.layers)
        outputs = LayerOutputs(model, observed)
        self._writer = tf.summary.create_file_writer(self.log_dir)
        if self._step is None:
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="snapshot_step")
        step = self._step
        bins, cap = self.bins, self.max_histogram_values
        # One traced writer per kind of summary, its tag a string tensor: every layer
        # calls the same graph, so tracing does not grow with depth; the numbers come
        # from functions traced once per process (`_activation_summary`).
        flat_spec = [tf.TensorSpec([], tf.string), tf.TensorSpec([None], tf.float32)]
        activation_summary = _activation_summary(bins, cap)
        value_histogram = _value_histogram(bins, cap)

        @tf.function(input_signature=flat_spec, autograph=False,
                     experimental_attributes={"_noinline": True})
        def summarize_activation(layer_name, values):
            rows, stats = activation_summary(values)
            summaries.write_histogram(tf.strings.join(["activations/", layer_name]), rows, step)
            for index, tag in enumerate(_SCALAR_TAGS):
                summaries.write_scalar(tf.strings.join([tag, "/", layer_name]), stats[index], step)

        @tf.function(input_signature=flat_spec, autograph=False,
                     experimental_attributes={"_noinline": True})
        def summarize_values(tag, values):
            summaries.write_histogram(tag, value_histogram(values), step)

        @tf.function(autograph=False)
        def snapshot(x, y):
            if y is None:
                activations, _ = outputs(x)
            else:
                with tf.GradientTape() as tape:
                    activations, predictions = outputs(x)
                    loss = model.compute_loss(x=x, y=y, y_pred=predictions, training=False)
                variables = [layer.trainable_variables for layer in observed]
                gradients = tape.gradient(loss, variables)
            for index, (layer, activation) in enumerate(zip(observed, activations)):
                summarize_activation(layer.name, _flat(activation))
                if y is not None:
                    _write_gradients(layer, variables[index], gradients[index],
                                     summarize_values, step)
                if self.weights:
                    for variable in layer.weights:
                        summarize_values(f"weights/{layer.name}/{variable.name}", _flat(variable))

        self._snapshot_function = snapshot
        self._probe_tensors = [
            None if data is None else tf.nest.map_structure(tf.convert_to_tensor, data)
            for data in (self.probe_data, self.probe_labels)]

    def _is_chief(self):
        strategy = getattr(self.model, "distribute_strategy", None) or tf.distribute.get_strategy()
        return strategy.extended.should_save_summary

    def _optimizer_iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return 0 if optimizer is None else int(optimizer.iterations.numpy())

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


_FLAT = [tf.TensorSpec([None], tf.float32)]


@functools.lru_cache(maxsize=None)
def _activation_summary(bins, max_values):
    """Histogram rows and `_SCALAR_TAGS` values of one flat tensor; no writer, so one
    trace serves every callback of the process."""
    @tf.function(input_signature=_FLAT, autograph=False)
    def summarize(values):
        moments = layer_moments(values)
        rows = summaries.buckets(values, bins, moments, max_values=max_values)
        return rows, tf.stack([tf.cast(value, tf.float64) for value in _stats_tensors(moments)])
    return summarize


@functools.lru_cache(maxsize=None)
def _value_histogram(bins, max_values):
    return tf.function(lambda values: summaries.buckets(values, bins, max_values=max_values),
                       input_signature=_FLAT, autograph=False)


def _stats_tensors(moments):
    """`moments_to_stats` in graph form, in the order of `_SCALAR_TAGS`."""
    total, count, values_sum, squares, zeros, saturated, nonfinite = tf.unstack(moments[:7])
    return (
        tf.math.divide_no_nan(values_sum, count),
        tf.sqrt(tf.math.divide_no_nan(squares, count)),
        tf.math.divide_no_nan(zeros, total),
        tf.math.divide_no_nan(saturated, total),
        nonfinite,
    )


def _write_gradients(layer, variables, gradients, summarize_values, step):
    present = [(v, g) for v, g in zip(variables, gradients) if g is not None]
    for variable, gradient in present:
        summarize_values(f"gradients/{layer.name}/{variable.name}", _flat(gradient))
    if present:
        norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(_flat(g))) for _, g in present]))
        summaries.write_scalar(f"gradient_norm/{layer.name}", norm, step)


@contextlib.contextmanager
def _graph_rewrites_off():
    """Run the snapshot graph without Grappler.

    The graph is many small independent reductions that Grappler cannot speed up
    (measured: the same time per snapshot), but its passes over it took seconds,
    growing with depth (4.3 s of a 5 s first snapshot for 16 layers). The option is
    part of the key under which TensorFlow caches an instantiated function, so it is
    set for every call, and, being process-wide, restored at once.
    """
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": previous.get("disable_meta_optimizer", False)})


def _flat(tensor):
    return tf.reshape(tf.cast(tensor, tf.float32), [-1])


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0

