"""`coord_check`: the coordinate check, what each layer's activations do as the model widens.

Train a model at several widths for a few steps and plot each layer's mean |output|
against width: under the standard parametrization (SP) it grows with width after the
first update; under μP (`keras_initcmp.mup`) it stays flat. Runs are a sweep like
`compare`'s: one TensorBoard run per parametrization, width and seed, resume and the
store's guarantees, worker processes with `jobs`.
"""

import hashlib
import json
import re

import numpy as np

from keras_initcmp import checks, store
from keras_initcmp.mup import check_scheme
from keras_initcmp.mup.optim import OPTIMIZERS
from keras_initcmp.width.training import L1_TAG, CoordTask

__all__ = ["coord_check", "PARAMETRIZATIONS", "DEFAULT_LEARNING_RATES"]

PARAMETRIZATIONS = ("sp", "mup")
"""`sp`: the registry scheme as it is; `mup`: μP relative to the base width."""
DEFAULT_LEARNING_RATES = {"adam": 0.01, "adamw": 0.01, "sgd": 0.1}
"""The learning rate when none is given and the experiment has none."""


def coord_check(build, widths=None, data=None, *, parametrization="sp", scheme="he", steps=4,
                seeds=1, optimizer=None, learning_rate=None, base_width=None, loss=None,
                experiment="coord-check", logdir="logs", batch_size=None, jobs=1, dask=None,
                dask_resources=None, overwrite=False, report=True, progress=None):
    """Train `build(width)` a few steps at each width; record each layer's mean |output|.

    At every step `t` (before its update; `t = 1` is initialization) each layer's
    `l1 = mean |output|` on the fixed batch is recorded, with the project's statistics
    (`mean`, `std`, `zero_fraction`, `saturation`, `nonfinite`, `dead_units`). Formula of
    the summary: the least-squares slope of `log l1` on `log width` per layer and step
    (`keras_initcmp.reports.slopes`).

    Args:
        build: `width -> fresh, built Keras model`; a built-in width experiment's name
            (`"width-mlp"`, `"width-transformer"`: its batch, widths and optimizer are
            the defaults); or `"module:function"` (dotted module or `.py` path).
        widths: At least two distinct positive ints (default: the built-in's).
        data: The fixed batch, `(x, y)` or `{"x", "y"}` (default: the built-in's).
        parametrization: `"sp"`, `"mup"` or a list of them (default `"sp"`).
        scheme: The registry scheme SP draws with, variance ∝ 1/fan_in (default `"he"`).
        steps: Steps per run (default 4). seeds: Seeds per width (default 1).
        optimizer: `"adam"`, `"adamw"` or `"sgd"` (default: the built-in's, else adam).
        learning_rate: Default: the built-in's, else `DEFAULT_LEARNING_RATES`.
        base_width: Where μP equals SP (default: the smallest width).
        loss: A Keras loss (default: the built-in's; else sparse categorical
            cross-entropy from logits for integer `y`, mean squared error otherwise).
        experiment, logdir: Runs go to
            `<logdir>/<experiment>/<parametrization>/width-<w>/seed-<k>/`.
        batch_size: Use only the first `batch_size` samples (default: all of `data`).
        jobs: Runs at once, each in its own process (default 1); with `dask`, runs at once
            on the cluster.
        dask, dask_resources: A Dask scheduler's address (or `"local"`) and each run's
            worker resources, as `compare` takes them (`keras_initcmp.distributed`).
        overwrite: Replace earlier results instead of resuming.
        report: Also draw the figure `coord_check.png` and log it to TensorBoard.
        progress: A text stream for a live line per run, or `None`.

    Returns:
        Every record of the experiment: `parametrization, width, seed, layer, step, l1,
        scheme, mean, std, ...`, as in `results.json`.

    Example:

    >>> records = keras_initcmp.coord_check("width-mlp", parametrization=["sp", "mup"])

    Paper: G. Yang, E. J. Hu et al., "Tensor Programs V", 2022 (arXiv 2203.03466),
    Figure 5 and Appendix D.1 (the coordinate check).
    """
    # The sweep's executor, as compare's: this process, worker processes or Dask.
    from keras_initcmp.driver.sweep import run_all, run_pool

    defaults = _builtin_defaults(build)
    widths = _widths(defaults.get("widths") if widths is None else widths)
    parametrizations = _parametrizations(parametrization)
    check_scheme(scheme)
    optimizer = checks.choice("optimizer", defaults.get("optimizer", "adam")
                              if optimizer is None else optimizer, tuple(OPTIMIZERS))
    if learning_rate is None:
        learning_rate = defaults.get("learning_rate", DEFAULT_LEARNING_RATES[optimizer])
    learning_rate = checks.positive_number("learning_rate", learning_rate)
    base_width = checks.positive_int("base_width", min(widths) if base_width is None
                                     else base_width)
    x, y = _batch(data if data is not None else defaults.get("data"), batch_size)
    if loss is None:
        loss = defaults.get("loss") or _default_loss(y)
    task = CoordTask(build, x, y, scheme, checks.positive_int("steps", steps), optimizer,
                     learning_rate, base_width, loss)
    seeds = checks.positive_int("seeds", seeds)
    jobs = checks.positive_int("jobs", jobs)
    settings = {"kind": "coord-check", "build": _build_name(build),
                "model": _digest(task.model(base_width).to_json()),
                "data": _digest((x, y)), "scheme": scheme, "steps": task.steps,
                "optimizer": optimizer, "learning_rate": learning_rate,
                "base_width": base_width, "loss": loss}
    folder = store.Experiment(logdir, experiment, rank=PARAMETRIZATIONS,
                              group=("parametrization", "width"))
    with run_pool(jobs, dask, dask_resources) as pool, folder:
        done = {(record["parametrization"], record["width"], record["seed"])
                for record in folder.open(settings, overwrite)}
        todo = [((p, w), seed) for p in parametrizations for w in widths
                for seed in range(seeds) if (p, w, seed) not in done]
        for _ in run_all(task, todo, folder, pool, progress):
            pass
        records = folder.records()
        if records:
            _write_layout(folder.folder, records)
    if report and records:
        from keras_initcmp.reports.width import write_figure
        write_figure(folder.folder, records)
    return records


def _write_layout(folder, records):
    """TensorBoard's Custom Scalars: one chart per layer, `coord_l1/<layer>` against the
    step t, one line per run (parametrization, width, seed)."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    from keras_initcmp.events.layout import write_layout

    layers = dict.fromkeys(record["layer"] for record in records)
    charts = [layout_pb2.Chart(title=f"mean |output| of {layer}, every width",
                               multiline=layout_pb2.MultilineChartContent(
                                   tag=[f"^{re.escape(L1_TAG.format(layer=layer))}$"]))
              for layer in layers]
    write_layout(folder, layout=layout_pb2.Layout(category=[
        layout_pb2.Category(title="coordinate check", chart=charts)]))


def _builtin_defaults(build):
    """The built-in width experiment's batch and settings where `build` names one."""
    if not isinstance(build, str) or ":" in build:
        return {}
    from keras_initcmp.experiments.width import WIDTH_EXPERIMENTS
    if build not in WIDTH_EXPERIMENTS:
        raise ValueError(f"Argument `build` must be a function of the width, one of "
                         f"{tuple(WIDTH_EXPERIMENTS)} or 'module:function'. "
                         f"Received: build={build!r}")
    entry = WIDTH_EXPERIMENTS[build]
    return {**entry.settings, "data": entry.load_batch()}


def _widths(widths):
    if widths is None or isinstance(widths, (str, int)) or not all(
            checks.is_positive_int(w) for w in widths) or len(set(widths)) < 2:
        raise ValueError(f"Argument `widths` must be at least two distinct positive ints. "
                         f"Received: widths={widths!r}")
    return tuple(sorted(set(int(w) for w in widths)))


def _parametrizations(value):
    values = (value,) if isinstance(value, str) else tuple(value or ())
    if not values or any(v not in PARAMETRIZATIONS for v in values):
        raise ValueError(f"Argument `parametrization` must be one of {PARAMETRIZATIONS} or a "
                         f"list of them. Received: parametrization={value!r}")
    return tuple(dict.fromkeys(values))


def _batch(data, batch_size):
    if isinstance(data, dict) and {"x", "y"} <= set(data):
        data = (data["x"], data["y"])
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"Argument `data` must be (x, y) or {{'x', 'y'}} arrays. "
                         f"Received: data={data!r:.200}")
    x, y = (np.asarray(part) for part in data)
    if not len(x) or len(x) != len(y):
        raise ValueError(f"Argument `data` must hold as many samples in x as in y, at least "
                         f"one. Received: {len(x)} and {len(y)}")
    size = checks.positive_int("batch_size", batch_size, allow_none=True) or len(x)
    return x[:size], y[:size]


def _default_loss(y):
    if np.issubdtype(y.dtype, np.integer):
        return {"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}
    return "mean_squared_error"


def _build_name(build):
    if isinstance(build, str):
        return build
    return f"{getattr(build, '__module__', '?')}:{getattr(build, '__qualname__', repr(build))}"


def _digest(value):
    hasher = hashlib.sha256()
    for part in (value if isinstance(value, tuple) else (value,)):
        hasher.update(part.tobytes() if isinstance(part, np.ndarray) else
                      json.dumps(part, sort_keys=True, default=str).encode())
    return hasher.hexdigest()[:16]
