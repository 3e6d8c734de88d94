"""`RunLog`: one training run's curves, HParams record and final metrics, as a Keras
callback writing TensorBoard event files (no TensorFlow)."""

import keras
from tensorboard.plugins.hparams import summary_v2 as hp

from keras_initcmp.events.writer import EventWriter

__all__ = ["RunLog", "FINAL_METRICS"]


FINAL_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
"""The metrics a `compare` record ends with (and the HParams columns)."""


class RunLog(keras.callbacks.Callback):
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
        for name in FINAL_METRICS:
            if record[name] is not None:
                self._writer.scalar(f"final/{name}", record[name], record["epochs"])
        self._writer.close()
