"""One coordinate-check run: a model at one width, initialized (SP or μP), trained a few
steps on a fixed batch, with each layer's mean |output| recorded before every update.

`CoordTask` is called as `task((parametrization, width), seed, run_dir, line)` by the
sweep (in this process or a worker: it pickles), like `compare`'s tasks, and returns
`(records, None)`. It writes the run's event file (`coord_l1/<layer>` at step `t`).
"""

import dataclasses
import time
from typing import Any, Callable, Optional

import keras
import numpy as np

from keras_initcmp import mup
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.measurement.recording import LayerRecorder, select_layers
from keras_initcmp.measurement.stats import alive_units, flat, layer_moments, moments_to_stats

__all__ = ["CoordTask", "L1_TAG", "delta_width"]

L1_TAG = "coord_l1/{layer}"
"""Scalar tag of a layer's mean |output| at step t (the run's TensorBoard scalars)."""


def delta_width(base_width):
    """The width μP's shapes compare the base with to find what grows: twice the base."""
    return 2 * base_width


@dataclasses.dataclass
class CoordTask:
    """The settings every run of one coordinate check shares.

    Attributes:
        build: `width -> fresh Keras model` (picklable for worker processes: a
            module-level function, a `functools.partial`, or a `module:function`
            string loaded where the run happens).
        x, y: The fixed batch.
        scheme: The registry scheme SP draws from, and μP's starting point.
        steps: Steps per run (records at t = 1..steps, each before its update).
        optimizer: `"adam"`, `"adamw"` or `"sgd"`.
        learning_rate: The base learning rate (μP scales it per variable).
        base_width: Where μP equals SP.
        loss: A Keras loss (name, instance or config).
    """

    build: Any
    x: np.ndarray
    y: np.ndarray
    scheme: str
    steps: int
    optimizer: str
    learning_rate: float
    base_width: int
    loss: Any
    _builder: Optional[Callable] = dataclasses.field(default=None, repr=False)

    def __getstate__(self):  # a loaded `module:function` is loaded again in a worker
        return {**self.__dict__, "_builder": None}

    def model(self, width):
        """A fresh model at `width`, checked."""
        if self._builder is None:
            from keras_initcmp.width.builders import load_builder
            self._builder = load_builder(self.build)
        model = self._builder(width)
        if not isinstance(model, keras.Model) or not model.built:
            raise ValueError(f"Argument `build` must return a built keras.Model for each "
                             f"width. Received for width={width}: {model!r:.200}")
        return model

    def __call__(self, group, seed, run_dir, line):
        parametrization, width = group
        started = time.perf_counter()
        keras.utils.set_random_seed(seed)  # anything the model draws itself (dropout)
        model = self.model(width)
        shapes = None
        if parametrization == "mup":
            shapes = mup.base_shapes(model, self.model(self.base_width),
                                     self.model(delta_width(self.base_width)))
            mup.initialize(model, shapes, self.scheme, seed)
        else:
            from keras_initcmp.reinit.redraw import redraw_kernels
            redraw_kernels(model, self.scheme, seed)
        model.compile(optimizer=mup.optimizer(self.optimizer, self.learning_rate, shapes),
                      loss=keras.losses.get(self.loss) if isinstance(self.loss, dict)
                      else self.loss)  # a config dict (JSON, a setting) is deserialized
        recorder = LayerRecorder(select_layers(model))
        writer = EventWriter(run_dir)
        records = []
        try:
            for step in range(1, self.steps + 1):
                if line is not None:
                    line.update(f"{parametrization} width {width} seed {seed}: step {step}")
                outputs, _ = recorder.run(model, self.x)
                for layer, output in outputs.items():
                    record = _record(output)
                    records.append({"parametrization": parametrization, "width": int(width),
                                    "seed": int(seed), "layer": layer, "step": step,
                                    "l1": record.pop("l1"), "scheme": self.scheme, **record})
                    writer.scalar(L1_TAG.format(layer=layer), records[-1]["l1"], step)
                model.train_on_batch(self.x, self.y)
        finally:
            writer.close()
        seconds = time.perf_counter() - started
        for record in records:
            record["seconds"] = round(seconds, 3)
        return records, None


def _record(output):
    """`l1` (mean |output|) and the project's statistics of one layer's output."""
    values = np.asarray(keras.ops.convert_to_numpy(output), np.float64)
    finite = values[np.isfinite(values)]
    l1 = float(np.mean(np.abs(finite))) if finite.size else float("nan")
    stats = moments_to_stats(keras.ops.convert_to_numpy(layer_moments(flat(output))),
                             keras.ops.convert_to_numpy(alive_units(output)))
    return {"l1": _finite_or_none(l1), **{key: _finite_or_none(value)
                                          for key, value in stats.items()}}


def _finite_or_none(value):
    """JSON has no NaN: a non-finite statistic (a diverged run) is recorded as null."""
    return value if isinstance(value, int) or np.isfinite(value) else None
