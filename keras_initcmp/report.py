"""`report`: the article's figures from a finished `compare` or `probe`.

Reads an experiment folder `<logdir>/<experiment>/` (its `results.json`,
`settings.json` and the event files of every run `<scheme>/seed-<k>/`) and writes,
next to them, `report.md` with PNG figures:

- `cost_curves.png` (compare only): loss and metrics against training steps, one
  line per scheme, the mean over seeds with a min–max band; validation dashed.
- `histograms_init.png`, and `histograms_end.png` after training: activation
  histograms, rows = schemes, columns = layers, one x-range per column.
- `signal_by_depth.png`: activation std (log scale) against layer index per scheme,
  at initialization and at the end; gradient norm by depth where it was logged.

The same figures go to TensorBoard's Images dashboard, tags `report/<figure>`, in an
event file of the experiment's root run (the folder itself). Rendering is headless:
matplotlib's object API on the Agg canvas, never pyplot, so a user's backend is left
alone. The library never prints; what is missing goes into `Report.missing` and
`report.md`, and input that is not a (finished) experiment raises a one-line
`ValueError`.
"""

import dataclasses
import glob
import hashlib
import json
import math
import os
import re
import statistics

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = ["report", "Report", "FIGURES", "scheme_color"]

FIGURES = ("cost_curves", "histograms_init", "histograms_end", "signal_by_depth")
"""Figure names: `<name>.png` in the experiment folder, `report/<name>` in TensorBoard."""

# Okabe & Ito (2008), the colour-blind-safe qualitative palette. The article's four
# schemes get black, orange, bluish green and blue: distinct under every common
# colour-vision deficiency, and yellow (weak on white) is never used for them.
_SCHEME_COLORS = {"zeros": "#000000", "random": "#E69F00", "xavier": "#009E73",
                  "he": "#0072B2", "glorot": "#56B4E9", "orthogonal": "#CC79A7"}
_SPARE_COLORS = ("#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
_SCHEME_MARKERS = {"zeros": "s", "random": "o", "xavier": "^", "he": "D", "glorot": "v",
                   "orthogonal": "P"}
_REPORT_SUFFIX = ".report"  # the event file of the Images, replaced on every report
_RUN_FOLDER = re.compile(r"seed-(\d+)$")


def scheme_color(scheme):
    """The scheme's colour, the same in every figure and every report (Okabe–Ito)."""
    if scheme in _SCHEME_COLORS:
        return _SCHEME_COLORS[scheme]
    digest = int(hashlib.sha256(str(scheme).encode()).hexdigest(), 16)
    return _SPARE_COLORS[digest % len(_SPARE_COLORS)]


def _scheme_marker(scheme):
    return _SCHEME_MARKERS.get(scheme, "o")


@dataclasses.dataclass
class Report:
    """What `report` wrote and the data it plotted.

    Attributes:
        path: The `report.md` file.
        kind: `"compare"` or `"probe"`.
        figures: `{name: png path}` for the figures made (see `FIGURES`).
        data: `{name: plotted data}` per figure, plus `"final"` (compare: final
            numbers per scheme) or `"std_table"` (probe: std per scheme and layer).
        colors: `{scheme: colour}` used in every figure.
        missing: One line per run that is missing or unfinished, or figure not made.
    """

    path: str
    kind: str
    figures: dict
    data: dict
    colors: dict
    missing: list


def report(experiment_dir, *, log_scale=False, dpi=110, tensorboard=True):
    """Write `report.md` and the figures of a finished `compare` or `probe`.

    Args:
        experiment_dir: `<logdir>/<experiment>`, the folder with `results.json`.
        log_scale: Plot the loss on a log scale (cost curves).
        dpi: Resolution of the PNG files.
        tensorboard: Also log the figures to TensorBoard's Images dashboard under
            the experiment's root run (tags `report/<figure>`).

    Returns:
        A `Report`: paths, the plotted data (`Report.data`), colours and what is missing.

    Raises:
        ValueError: in one line, when `experiment_dir` is not an experiment folder
            or has no finished run yet.
    """
    folder = os.fspath(experiment_dir)
    experiment = _load_experiment(folder)
    figures, data = {}, {}
    missing = list(experiment.missing)
    colors = {scheme: scheme_color(scheme) for scheme in experiment.schemes}

    if experiment.kind == "compare":
        data["final"] = _final_numbers(experiment)
        curves = _cost_curve_data(experiment)
        if curves["metrics"]:
            data["cost_curves"] = curves
        else:
            missing.append("cost curves: no loss curve in any run's event files")
    else:
        data["std_table"] = _probe_std_table(experiment)

    for moment in ("init", "end"):
        if moment == "end" and experiment.kind == "probe":
            continue  # a probe never trains: there is no end
        grid = _histogram_data(experiment, moment)
        if grid["schemes"]:
            data[f"histograms_{moment}"] = grid
        else:
            missing.append(f"histograms at {_MOMENT_WORDS[moment]}: no activation "
                           "histograms in the event files")
    depth = _depth_data(experiment)
    if depth["layers"]:
        data["signal_by_depth"] = depth
    else:
        missing.append("signal by depth: no per-layer statistics")

    painters = {"cost_curves": lambda d: _plot_cost_curves(d, log_scale),
                "histograms_init": _plot_histograms, "histograms_end": _plot_histograms,
                "signal_by_depth": _plot_depth}
    captions = {}
    for name in FIGURES:
        if name not in data:
            stale = os.path.join(folder, f"{name}.png")  # from an earlier report
            if os.path.isfile(stale):
                os.remove(stale)
            continue
        figure = painters[name](data[name])
        data[name]["artist_colors"] = _artist_colors(figure)
        path = os.path.join(folder, f"{name}.png")
        try:
            figure.savefig(path, dpi=dpi, facecolor="white")
        except OSError as error:
            raise ValueError(f"cannot write the report into {folder}: {error}") from None
        figures[name] = path
        captions[name] = _caption(name, experiment, data[name], log_scale)

    path = os.path.join(folder, "report.md")
    text = _markdown(experiment, figures, captions, data, missing)
    try:
        with open(path, "w") as file:
            file.write(text)
    except OSError as error:
        raise ValueError(f"cannot write the report into {folder}: {error}") from None
    if tensorboard:
        _log_images(folder, figures, captions)
    return Report(path, experiment.kind, figures, data, colors, missing)


# --- reading an experiment ----------------------------------------------------------


@dataclasses.dataclass
class _Experiment:
    folder: str
    name: str
    kind: str
    settings: dict
    records: list
    runs: dict  # {(scheme, seed): {tag: [(step, ndarray), ...]}} of the finished runs
    layers: list
    missing: list

    @property
    def schemes(self):
        return list(dict.fromkeys(scheme for scheme, _ in self.runs))

    def seeds(self, scheme):
        return sorted(seed for s, seed in self.runs if s == scheme)


def _load_experiment(folder):
    if not os.path.exists(folder):
        raise ValueError(f"{folder} does not exist: pass <logdir>/<experiment>, "
                         "the folder keras-initcmp compare or probe wrote")
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is not a folder: pass <logdir>/<experiment>, "
                         "the folder keras-initcmp compare or probe wrote")
    results = os.path.join(folder, "results.json")
    settings = _read_json(os.path.join(folder, "settings.json"), {})
    if not os.path.exists(results):
        inner = sorted(name for name in os.listdir(folder)
                       if os.path.isfile(os.path.join(folder, name, "results.json")))
        if inner:
            raise ValueError(f"{folder} is a log folder, not an experiment: pass one of its "
                             f"experiments, e.g. {os.path.join(folder, inner[0])}")
        if settings or _run_folders(folder):
            raise ValueError(f"{folder} has no finished run yet (no results.json): the "
                             "experiment is still running or was interrupted before its "
                             "first run ended")
        raise ValueError(f"{folder} is not an experiment folder: it has no results.json "
                         "(keras-initcmp compare or probe writes <logdir>/<experiment>/"
                         "results.json)")
    records = _read_json(results, None)
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and {"scheme", "seed"} <= r.keys() for r in records):
        raise ValueError(f"{results} is not a keras-initcmp results file (expected a JSON "
                         "list of records with 'scheme' and 'seed')")
    if not records:
        raise ValueError(f"{folder} has no finished run yet (results.json is empty)")
    kind = settings.get("kind") or ("probe" if "layer" in records[0] else "compare")
    if kind not in ("compare", "probe") or (kind == "probe") != ("layer" in records[0]):
        raise ValueError(f"{results} does not match settings.json (kind {kind!r})")

    missing, runs = [], {}
    finished = list(dict.fromkeys((r["scheme"], r["seed"]) for r in records))
    for scheme, seed in finished:
        run_dir = os.path.join(folder, scheme, f"seed-{seed}")
        label = f"{scheme}/seed-{seed}"
        if not os.path.isdir(run_dir):
            missing.append(f"{label}: in results.json, but its run folder is missing")
            continue
        events = _read_events(run_dir)
        if not any(tag.startswith("activations/") for tag in events):
            missing.append(f"{label}: in results.json, but its run folder has no "
                           "activation histograms")
            if kind == "probe" or "loss" not in events:
                continue
        runs[scheme, seed] = events
    for scheme, seed in _run_folders(folder):
        if (scheme, seed) not in finished:
            missing.append(f"{scheme}/seed-{seed}: still running or interrupted (a run "
                           "folder without a result); left out")
    if not runs:
        raise ValueError(f"{folder}: none of the {len(finished)} runs in results.json has "
                         "a run folder with event files")
    if kind == "probe":
        layers = list(dict.fromkeys(r["layer"] for r in records))
    else:
        layers = []
        for events in runs.values():
            for tag in events:
                if tag.startswith("activations/"):
                    layer = tag.partition("/")[2]
                    if layer not in layers:
                        layers.append(layer)
    name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
    return _Experiment(folder, name, kind, settings, records, runs, layers, missing)


def _read_json(path, default):
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None


def _run_folders(folder):
    """`(scheme, seed)` of every `<scheme>/seed-<k>/` folder with event files."""
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*", "seed-*"))):
        match = _RUN_FOLDER.search(path)
        if match and os.path.isdir(path) and glob.glob(os.path.join(glob.escape(path),
                                                                    "*tfevents*")):
            found.append((os.path.basename(os.path.dirname(path)), int(match.group(1))))
    return found


def _read_events(run_dir):
    """`{tag: [(step, ndarray), ...]}` of a run's tensor summaries, in the order written."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0})
    try:
        accumulator.Reload()
    except Exception as error:  # a truncated or foreign file: TensorBoard's many errors
        raise ValueError(f"cannot read the event files in {run_dir}: {error}") from None
    events = {}
    for tag in accumulator.Tags()["tensors"]:
        series = {}
        for event in accumulator.Tensors(tag):
            series[event.step] = tf.make_ndarray(event.tensor_proto)
        events[tag] = sorted(series.items())
    return events


def _scalar_series(events, tag):
    return [(step, float(value)) for step, value in events.get(tag, []) if value.ndim == 0]


def _value_at(events, tag, step):
    for logged, value in events.get(tag, []):
        if logged == step:
            return value
    return None


# --- the data of each figure --------------------------------------------------------

_MOMENT_WORDS = {"init": "initialization", "end": "the end of training"}
_SHOWN_SHARE = 0.999  # of each histogram's values, inside its column's x-range


def _steps_per_epoch(experiment, scheme, seed):
    per_epoch = experiment.settings.get("steps_per_epoch")
    if isinstance(per_epoch, int) and per_epoch > 0:
        return per_epoch
    for record in experiment.records:
        if (record["scheme"], record["seed"]) == (scheme, seed) and record.get("epochs"):
            return max(1, round(record["steps"] / record["epochs"]))
    return 1


def _cost_curve_data(experiment):
    """`{"metrics": [...], "curves": {metric: {split: {scheme: band}}}}` where a band
    is `{"steps", "mean", "min", "max", "seeds"}` over the seeds that logged a step."""
    metrics = []
    for events in experiment.runs.values():
        for tag in events:
            if "/" not in tag and not tag.startswith("val_") and tag not in metrics \
                    and events[tag] and events[tag][0][1].ndim == 0:
                metrics.append(tag)
    metrics = sorted(metrics, key=lambda tag: tag != "loss")  # stable: loss first
    curves = {}
    for metric in metrics:
        curves[metric] = {}
        for split, tag in (("training", metric), ("validation", f"val_{metric}")):
            bands = {}
            for scheme in experiment.schemes:
                by_step = {}
                for seed in experiment.seeds(scheme):
                    per_epoch = _steps_per_epoch(experiment, scheme, seed)
                    for epoch, value in _scalar_series(experiment.runs[scheme, seed], tag):
                        if math.isfinite(value):
                            by_step.setdefault(epoch * per_epoch, []).append(value)
                if by_step:
                    steps = sorted(by_step)
                    bands[scheme] = {
                        "steps": steps,
                        "mean": [statistics.fmean(by_step[s]) for s in steps],
                        "min": [min(by_step[s]) for s in steps],
                        "max": [max(by_step[s]) for s in steps],
                        "seeds": [len(by_step[s]) for s in steps],
                    }
            if bands:
                curves[metric][split] = bands
    return {"metrics": metrics, "curves": curves, "experiment": experiment.name,
            "steps_per_chunk": experiment.settings.get("steps_per_epoch")}


def _end_step(events, layer):
    steps = [step for step, _ in events.get(f"activations/{layer}", [])]
    return max(steps) if steps else None


def _histogram_data(experiment, moment):
    """Per scheme (its lowest seed) and layer: the histogram rows at `moment`."""
    panels, schemes, seeds, steps = {}, [], {}, {}
    for scheme in experiment.schemes:
        for seed in experiment.seeds(scheme):
            events = experiment.runs[scheme, seed]
            row = {}
            for layer in experiment.layers:
                step = 0 if moment == "init" else _end_step(events, layer)
                if step is None or (moment == "end" and step == 0):
                    continue
                rows = _value_at(events, f"activations/{layer}", step)
                if rows is None:
                    continue
                stats = _panel_stats(experiment, events, scheme, seed, layer, step)
                row[layer] = {"step": step, "left": rows[:, 0].tolist(),
                              "right": rows[:, 1].tolist(), "counts": rows[:, 2].tolist(),
                              **stats}
            if row:
                panels[scheme], seeds[scheme] = row, seed
                steps[scheme] = max(panel["step"] for panel in row.values())
                schemes.append(scheme)
                break
    xlim = {}
    for layer in experiment.layers:
        ranges = [_mass_range(panels[scheme][layer]) for scheme in schemes
                  if layer in panels[scheme] and sum(panels[scheme][layer]["counts"]) > 0]
        if ranges:
            lows, highs = zip(*ranges)
            low, high = min(lows), max(highs)
            pad = 0.04 * (high - low) if high > low else max(abs(high), 1.0)
            xlim[layer] = (low - pad, high + pad)
    layers = [layer for layer in experiment.layers if any(layer in panels[s] for s in schemes)]
    training_steps = {}
    if experiment.kind == "compare":
        for scheme in schemes:
            training_steps[scheme] = steps[scheme] * _steps_per_epoch(
                experiment, scheme, seeds[scheme])
    return {"moment": moment, "schemes": schemes, "layers": layers, "seeds": seeds,
            "steps": steps, "training_steps": training_steps, "panels": panels, "xlim": xlim,
            "experiment": experiment.name, "kind": experiment.kind,
            "probe_size": experiment.settings.get("histogram_samples")}


def _mass_range(panel, share=_SHOWN_SHARE):
    """The bucket edges that hold the central `share` of a histogram's values: one
    outlier must not squeeze a column's histograms into a corner."""
    counts = np.asarray(panel["counts"], float)
    cumulative = np.cumsum(counts) / counts.sum()
    tail = (1 - share) / 2
    first = int(np.searchsorted(cumulative, tail, side="right"))
    last = int(np.searchsorted(cumulative, 1 - tail, side="left"))
    return panel["left"][min(first, len(counts) - 1)], panel["right"][min(last, len(counts) - 1)]


def _panel_stats(experiment, events, scheme, seed, layer, step):
    if experiment.kind == "probe":
        for record in experiment.records:
            if (record["scheme"], record["seed"], record["layer"]) == (scheme, seed, layer):
                return {key: record.get(key) for key in ("std", "zero_fraction", "saturation")}
    stats = {}
    for key in ("std", "zero_fraction", "saturation"):
        value = _value_at(events, f"activation_{key}/{layer}", step)
        stats[key] = None if value is None else float(value)
    return stats


def _band(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None, None
    return statistics.fmean(values), min(values), max(values)


def _depth_data(experiment):
    """Per quantity (`activation_std`, `gradient_norm`), moment and scheme: per-layer
    mean, min and max over seeds (`None` where no seed logged the layer)."""
    layers = experiment.layers
    quantities = {}
    moments = ("init",) if experiment.kind == "probe" else ("init", "end")
    for quantity in ("activation_std", "gradient_norm"):
        for moment in moments:
            lines = {}
            for scheme in experiment.schemes:
                per_layer = []
                for layer in layers:
                    values = [_depth_value(experiment, quantity, moment, scheme, seed, layer)
                              for seed in experiment.seeds(scheme)]
                    per_layer.append(_band(values))
                if any(mean is not None for mean, _, _ in per_layer):
                    lines[scheme] = {"mean": [b[0] for b in per_layer],
                                     "min": [b[1] for b in per_layer],
                                     "max": [b[2] for b in per_layer],
                                     "seeds": len(experiment.seeds(scheme))}
            if lines:
                quantities.setdefault(quantity, {})[moment] = lines
    return {"layers": layers if quantities else [], "quantities": quantities,
            "moments": list(moments), "kind": experiment.kind, "experiment": experiment.name}


def _depth_value(experiment, quantity, moment, scheme, seed, layer):
    if experiment.kind == "probe":
        if quantity != "activation_std":
            return None
        for record in experiment.records:
            if (record["scheme"], record["seed"], record["layer"]) == (scheme, seed, layer):
                return record.get("std")
        return None
    events = experiment.runs[scheme, seed]
    series = _scalar_series(events, f"{quantity}/{layer}")
    if not series:
        return None
    if moment == "init":
        return next((value for step, value in series if step == 0), None)
    step, value = series[-1]
    return value if step > 0 else None


def _final_numbers(experiment):
    rows = {}
    for record in experiment.records:
        rows.setdefault(record["scheme"], []).append(record)
    table = {}
    for scheme, runs in rows.items():
        entry = {"seeds": len(runs),
                 "diverged": sum(bool(r.get("diverged")) for r in runs),
                 "steps": max((r.get("steps") or 0) for r in runs)}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
            values = [r.get(key) for r in runs if isinstance(r.get(key), (int, float))]
            entry[key] = statistics.fmean(values) if values else None
            entry[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
        table[scheme] = entry
    return table


def _probe_std_table(experiment):
    layers = experiment.layers
    table = {}
    for scheme in dict.fromkeys(r["scheme"] for r in experiment.records):
        table[scheme] = {}
        for layer in layers:
            table[scheme][layer] = {
                key: _band([r.get(key) for r in experiment.records
                            if r["scheme"] == scheme and r["layer"] == layer])[0]
                for key in ("std", "zero_fraction", "saturation")}
    return {"layers": layers, "schemes": table}


# --- drawing ------------------------------------------------------------------------

_TITLE = 11
_SMALL = 7.5


def _new_figure(width, height):
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # headless, whatever backend pyplot would use
    return figure


def _scheme_handles(schemes):
    return [Line2D([], [], color=scheme_color(s), marker=_scheme_marker(s), lw=2, label=s)
            for s in schemes]


def _legend(figure, handles):
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7),
                  fontsize=9, frameon=False, handlelength=2.5, columnspacing=1.5)


def _band_handle():
    return Patch(facecolor="0.3", alpha=0.18, label="min–max over seeds")


def _plot_cost_curves(data, log_scale):
    metrics = data["metrics"]
    figure = _new_figure(4.6 * len(metrics) + 1.4, 3.6)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    schemes, has_validation = [], False
    for ax, metric in zip(axes, metrics):
        for split, style in (("training", "-"), ("validation", "--")):
            for scheme, band in data["curves"][metric].get(split, {}).items():
                color = scheme_color(scheme)
                ax.plot(band["steps"], band["mean"], style, color=color, lw=1.8, gid=scheme)
                if max(band["seeds"]) > 1:
                    ax.fill_between(band["steps"], band["min"], band["max"], color=color,
                                    alpha=0.18, lw=0, gid=scheme)
                if scheme not in schemes:
                    schemes.append(scheme)
                has_validation |= split == "validation"
        ax.set_title(metric.replace("_", " "), fontsize=_TITLE)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{metric.replace('_', ' ')} (mean over each logged chunk)"
                      if metric == "loss" else metric.replace("_", " "))
        if metric == "loss" and log_scale:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    data["yscale"] = {metric: ax.get_yscale() for metric, ax in zip(metrics, axes)}
    handles = _scheme_handles(schemes)
    handles += [Line2D([], [], color="0.3", ls="-", label="training")]
    if has_validation:
        handles += [Line2D([], [], color="0.3", ls="--", label="validation")]
    handles.append(_band_handle())
    _legend(figure, handles)
    figure.suptitle(f"{data['experiment']}: cost curves, mean over seeds, band = min–max",
                    fontsize=_TITLE + 1)
    return figure


def _plot_histograms(data):
    schemes, layers = data["schemes"], data["layers"]
    figure = _new_figure(max(2.15 * len(layers) + 1.2, 6.5), 1.45 * len(schemes) + 1.3)
    axes = figure.subplots(len(schemes), len(layers), squeeze=False, sharex="col")
    for row, scheme in enumerate(schemes):
        color = scheme_color(scheme)
        for column, layer in enumerate(layers):
            ax = axes[row][column]
            ax.set_yticks([])
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
            if layer in data["xlim"]:
                ax.set_xlim(*data["xlim"][layer])
            panel = data["panels"][scheme].get(layer)
            if row == 0:
                ax.set_title(layer, fontsize=10)
            if column == 0:
                ax.set_ylabel(scheme, fontsize=10, color=color, fontweight="bold")
            if panel is None:
                ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center",
                        va="center", fontsize=_SMALL, color="0.4")
                continue
            _draw_histogram(ax, panel, color, scheme)
            ax.tick_params(axis="x", labelsize=_SMALL)
    if data["moment"] == "init":
        when = "at initialization (step 0)"
    else:
        steps = sorted(set(data["training_steps"].values()))
        when = ("after training" if not steps else
                f"after {steps[0]:,} training steps" if len(steps) == 1 else
                f"at the end of training ({steps[0]:,}–{steps[-1]:,} steps)")
    seeds = sorted(set(data["seeds"].values()))
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else "lowest seed of each scheme"
    size = data.get("probe_size")
    on = f"{size:,} probe samples" if isinstance(size, int) else "the probe batch"
    figure.suptitle(f"{data['experiment']}: activation histograms {when}", fontsize=_TITLE + 1)
    figure.supxlabel(f"activation value (one range per column, holding {_SHOWN_SHARE:.1%} of "
                     f"every panel's values) — {seed_text}, {on}",
                     fontsize=9)
    figure.supylabel("share of values (each panel to its own peak)", fontsize=9)
    return figure


def _draw_histogram(ax, panel, color, scheme):
    left, right, counts = (np.asarray(panel[key], float) for key in ("left", "right", "counts"))
    total = counts.sum()
    if total <= 0:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center",
                va="center", fontsize=_SMALL, color="#D55E00")
        return
    low, high = float(left[0]), float(right[-1])
    view = float(np.diff(ax.get_xlim())[0])
    notes = [] if panel.get("std") is None else [f"σ {panel['std']:.2g}"]
    if high - low < 0.03 * view:
        # Every value equal, or collapsed far below the column's range: bars that
        # narrow would not show, so draw one visible spike and say where it is.
        ax.bar([(low + high) / 2], [1.0], width=max(high - low, 0.015 * view), color=color,
               gid=scheme)
        peak = 1.0
        low_text, high_text = f"{low:.2g}", f"{high:.2g}"
        notes = ([f"all = {high:.3g}"] if low == high else notes + [
            f"≈ {(low + high) / 2:.3g}" if low_text == high_text
            else f"in [{low_text}, {high_text}]"])
    else:
        share = counts / total
        ax.stairs(share, np.append(left, high), fill=True, color=color, alpha=0.85, lw=0.8,
                  gid=scheme)
        peak = share.max()
        zeros = panel.get("zero_fraction") or 0
        if zeros >= 0.01:
            notes.append(f"=0: {zeros:.0%}")
            at_zero = (left <= 0) & (0 <= right)
            others = share[~at_zero].max(initial=0)
            if zeros >= 0.1 and at_zero.any() and 0 < 2 * others < peak:
                # A dead-ReLU spike at 0 would flatten the rest: clip it, say so.
                peak = others
                notes[-1] += " (bar clipped)"
        if (panel.get("saturation") or 0) >= 0.01 and max(abs(low), abs(high)) <= 1:
            # Bounded (tanh/sigmoid-like) outputs only: there |a| >= 0.99 is saturation.
            notes.append(f"|a|≥.99: {panel['saturation']:.0%}")
    ax.set_ylim(0, peak * (1.12 + 0.2 * len(notes)))  # headroom: the notes never hide bars
    ax.text(0.98, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top",
            fontsize=_SMALL, bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                   "alpha": 0.75, "lw": 0})


_QUANTITY_LABELS = {"activation_std": "activation std", "gradient_norm": "gradient norm"}


def _plot_depth(data):
    quantities = [q for q in ("activation_std", "gradient_norm") if q in data["quantities"]]
    moments = data["moments"]
    layers = data["layers"]
    index = np.arange(1, len(layers) + 1)
    figure = _new_figure(max(3.0 + 0.45 * len(layers), 5.0) * len(moments) + 1.3,
                         3.3 * len(quantities) + 0.6)
    axes = figure.subplots(len(quantities), len(moments), squeeze=False, sharey="row")
    schemes, zeros_drawn = [], False
    for row, quantity in enumerate(quantities):
        positive = [v for lines in data["quantities"][quantity].values()
                    for line in lines.values() for v in line["min"] + line["mean"]
                    if v is not None and v > 0]
        floor = min(positive) / 10 if positive else 1e-8
        for column, moment in enumerate(moments):
            ax = axes[row][column]
            lines = data["quantities"][quantity].get(moment, {})
            for scheme, line in lines.items():
                color = scheme_color(scheme)
                mean = np.array([np.nan if v is None else v for v in line["mean"]], float)
                low = np.array([np.nan if v is None else v for v in line["min"]], float)
                high = np.array([np.nan if v is None else v for v in line["max"]], float)
                shown = np.where(mean > 0, mean, np.nan)
                ax.plot(index, shown, "-", marker=_scheme_marker(scheme), color=color, lw=1.8,
                        ms=5, gid=scheme)
                if line["seeds"] > 1:
                    ax.fill_between(index, np.where(low > 0, low, floor), np.where(high > 0, high, np.nan),
                                    color=color, alpha=0.18, lw=0, gid=scheme)
                zero = mean == 0
                if zero.any():  # log scale: exact zeros sit on the floor, hollow
                    zeros_drawn = True
                    ax.plot(index[zero], np.full(zero.sum(), floor), ls="none",
                            marker=_scheme_marker(scheme), mfc="none", color=color, ms=6,
                            gid=scheme)
                if scheme not in schemes:
                    schemes.append(scheme)
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor / 2)
            ax.set_xticks(index)
            ax.set_xticklabels([f"{i}\n{name}" if len(layers) <= 8 else str(i)
                                for i, name in zip(index, layers)], fontsize=8)
            ax.grid(True, which="major", alpha=0.3)
            label = _QUANTITY_LABELS[quantity]
            ax.set_title(f"{label} at {_MOMENT_WORDS[moment]}", fontsize=_TITLE)
            if column == 0:
                ax.set_ylabel(f"{label} (log scale)" if quantity == "activation_std"
                              else f"{label} (L2, log scale)")
            if row == len(quantities) - 1:
                ax.set_xlabel("layer (1 = first after the input)")
    handles = _scheme_handles(schemes)
    if any(line["seeds"] > 1 for lines in data["quantities"].get("activation_std", {}).values()
           for line in lines.values()):
        handles.append(_band_handle())
    if zeros_drawn:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="0.3",
                              label="exactly 0 (drawn at the bottom)"))
    _legend(figure, handles)
    seeds = max((line["seeds"] for lines in data["quantities"].get("activation_std", {}).values()
                 for line in lines.values()), default=1)
    source = ("over all probe samples" if data["kind"] == "probe" else "on the probe batch") + (
        f", mean over {seeds} seeds" if seeds > 1 else ", 1 seed")
    figure.suptitle(f"{data['experiment']}: signal by depth ({source})", fontsize=_TITLE + 1)
    return figure


def _artist_colors(figure):
    """`{scheme: sorted colours}` of the figure's artists tagged with a scheme."""
    from matplotlib.colors import to_hex

    found = {}
    for ax in figure.axes:
        for artist in ax.get_children():
            scheme = artist.get_gid()
            if not scheme:
                continue
            colors = set()
            for getter in ("get_color", "get_facecolor", "get_edgecolor"):
                if hasattr(artist, getter):
                    value = getattr(artist, getter)()
                    value = np.atleast_2d(value) if not isinstance(value, str) else [value]
                    colors.update(to_hex(c, keep_alpha=False) for c in value if len(c))
                    break
            found.setdefault(scheme, set()).update(colors)
    return {scheme: sorted(colors) for scheme, colors in found.items()}


# --- report.md and TensorBoard ------------------------------------------------------


def _caption(name, experiment, data, log_scale):
    if name == "cost_curves":
        return ("Cost against training steps, one line per scheme: the mean over seeds, the "
                "band spans their min and max; validation dashed. Each point is the mean over "
                "one logged chunk of steps." + (" Loss on a log scale." if log_scale else "")
                + " A flat line is a net that does not learn (zeros: symmetry never broken).")
    if name.startswith("histograms"):
        return ("Rows are schemes, columns layers; each column shares its x-range, so a "
                "distribution collapsing to 0 shows as a spike, saturation as mass at ±1. "
                "σ is the layer's activation std, =0 the share of exact zeros (dead ReLU).")
    return ("Activation std per layer (log scale), one line per scheme: flat means the "
            "signal keeps its size through depth; falling means it vanishes, rising that it "
            "explodes." + (" Gradient norm per layer likewise, where gradients were logged."
                           if "gradient_norm" in data["quantities"] else ""))


def _number(value, form="{:.4g}"):
    return "–" if value is None else form.format(value)


def _markdown(experiment, figures, captions, data, missing):
    lines = [f"# {experiment.name}: initialization report", ""]
    if experiment.kind == "compare":
        settings = experiment.settings
        runs = len({(r["scheme"], r["seed"]) for r in experiment.records})
        detail = []
        if settings.get("epochs") and settings.get("steps_per_epoch"):
            detail.append(f"{settings['epochs'] * settings['steps_per_epoch']:,} steps "
                          f"logged in {settings['epochs']} chunks")
        if settings.get("batch_size"):
            detail.append(f"batch size {settings['batch_size']}")
        lines.append(f"`keras-initcmp compare`: {runs} runs "
                     f"({', '.join(dict.fromkeys(r['scheme'] for r in experiment.records))})"
                     + (f"; {', '.join(detail)}" if detail else "") + ".")
    else:
        settings = experiment.settings
        sizes = settings.get("sizes")
        lines.append("`keras-initcmp probe`: forward pass of N(0, 1) data at initialization, "
                     "no training"
                     + (f"; layers {list(sizes)}" if sizes else "")
                     + (f", activation {settings['activation']}" if settings.get("activation") else "")
                     + (f", {settings['samples']:,} samples" if settings.get("samples") else "")
                     + ".")
    lines.append("")
    if missing:
        lines += ["## Missing", ""] + [f"- {line}" for line in missing] + [""]
    if experiment.kind == "compare":
        lines += ["## Final numbers", "", "Mean over seeds (± sd), at the final weights.", ""]
        lines += ["| scheme | seeds | steps | loss | accuracy | val loss | val accuracy | diverged |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for scheme, row in data["final"].items():
            def mean_sd(key):
                text = _number(row[key])
                return text if row[f"{key}_sd"] is None else f"{text} ± {row[f'{key}_sd']:.2g}"
            lines.append(f"| {scheme} | {row['seeds']} | {row['steps']:,} | {mean_sd('loss')} | "
                         f"{_number(row['accuracy'], '{:.3f}')} | {_number(row['val_loss'])} | "
                         f"{_number(row['val_accuracy'], '{:.3f}')} | "
                         f"{row['diverged']}/{row['seeds']} |")
        lines.append("")
    titles = {"cost_curves": "Cost curves",
              "histograms_init": "Activation histograms at initialization",
              "histograms_end": "Activation histograms at the end of training",
              "signal_by_depth": "Signal by depth"}
    for name in FIGURES:
        if name in figures:
            lines += [f"## {titles[name]}", "", f"![{titles[name]}]({name}.png)", "",
                      captions[name], ""]
    depth = data.get("signal_by_depth")
    if experiment.kind == "probe":
        table = data["std_table"]
        lines += ["## Activation std per layer", "",
                  "Mean over seeds, over all samples (`results.json`).", ""]
        lines += _layer_table(table["layers"], {
            scheme: [values[layer]["std"] for layer in table["layers"]]
            for scheme, values in table["schemes"].items()})
        if any(values[layer]["zero_fraction"] for values in table["schemes"].values()
               for layer in table["layers"]):
            lines += ["", "Share of exact zeros per layer:", ""]
            lines += _layer_table(table["layers"], {
                scheme: [values[layer]["zero_fraction"] for layer in table["layers"]]
                for scheme, values in table["schemes"].items()}, "{:.0%}")
        lines.append("")
    elif depth and "activation_std" in depth["quantities"]:
        for moment in depth["moments"]:
            lines_by_scheme = depth["quantities"]["activation_std"].get(moment)
            if lines_by_scheme:
                lines += [f"Activation std per layer at {_MOMENT_WORDS[moment]} "
                          "(probe batch, mean over seeds):", ""]
                lines += _layer_table(depth["layers"], {
                    scheme: line["mean"] for scheme, line in lines_by_scheme.items()})
                lines.append("")
    lines += ["Figures are also in TensorBoard (Images, tags `report/...`): "
              "`tensorboard --logdir <this folder>`.", ""]
    return "\n".join(lines)


def _layer_table(layers, rows, form="{:.3g}"):
    out = ["| scheme | " + " | ".join(layers) + " |",
           "| --- | " + " | ".join("---:" for _ in layers) + " |"]
    for scheme, values in rows.items():
        out.append(f"| {scheme} | " + " | ".join(_number(v, form) for v in values) + " |")
    return out


def _log_images(folder, figures, captions):
    """The figures as images of the root run, in one event file replaced every time."""
    import tensorflow as tf

    for old in glob.glob(os.path.join(glob.escape(folder), f"events.out.tfevents.*{_REPORT_SUFFIX}")):
        os.remove(old)
    writer = tf.summary.create_file_writer(folder, filename_suffix=_REPORT_SUFFIX)
    try:
        with writer.as_default():
            for name, path in figures.items():
                image = tf.io.decode_png(tf.io.read_file(path), channels=3)
                tf.summary.image(f"report/{name}", image[None], step=0,
                                 description=captions.get(name))
    finally:
        writer.close()
