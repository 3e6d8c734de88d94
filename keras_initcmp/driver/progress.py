"""The live progress line of a sweep: one status line per run on a text stream.

`compare(..., progress=stream)` and `probe` take a stream (the CLI passes stdout):
`Line` rewrites itself in place on a terminal and prints once, finished, elsewhere;
`Progress` is the Keras callback that feeds a training run's steps and loss to it.
"""

import time

import keras

__all__ = ["Line", "Progress"]


class Line:
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


class Progress(keras.callbacks.Callback):
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

