"""The numbers each figure plots, from an `Experiment`: plain dicts and lists, no drawing.

`figure_data(experiment)` gives `{name: data}` per figure that can be made (see
`keras_initcmp.reports.FIGURES`), plus `"final"` (compare: final numbers per scheme)
or `"std_table"` (probe: std, its mean-field prediction and the zero shares per scheme
and layer), `"dead_units"` where runs logged `activation_dead_units/<layer>`, and one
line per figure that cannot. These dicts are `Report.data`: tests check them against the event files.
"""

import itertools
import math
import statistics

import numpy as np
from keras_initcmp.measurement import tags

__all__ = ["figure_data", "MOMENT_WORDS", "SHOWN_SHARE", "QUANTITIES"]

MOMENT_WORDS = {"init": "initialization", "end": "the end of training"}
"""The two moments a figure shows: at step 0, and at each run's last logged step."""
SHOWN_SHARE = 0.999
"""Share of each histogram's values inside its column's x-range."""
QUANTITIES = (tags.STD, tags.GRADIENT_NORM)
"""The per-layer scalars of the signal-by-depth figure, in row order."""
_PANEL_STATS = ("std", "zero_fraction", "saturation", "dead_units")
_CELL_STATS = _PANEL_STATS + ("predicted_std",)
_DEAD = tags.scalar_prefix("dead_units")
_PREDICTED = "predicted_std"


def figure_data(experiment):
    """`(data, missing)`: `{name: data}` of every figure there is data for, and one line
    per figure there is none for."""
    data, missing = {}, []
    if experiment.kind == "compare":
        data["final"] = final_numbers(experiment)
        curves = cost_curve_data(experiment)
        if curves["metrics"]:
            data["cost_curves"] = curves
        else:
            missing.append("cost curves: no loss curve in any run's event files")
    else:
        data["std_table"] = probe_std_table(experiment)
    dead = dead_unit_data(experiment)
    if dead["moments"]:
        data["dead_units"] = dead
    for moment in ("init",) if experiment.kind == "probe" else ("init", "end"):
        grid = histogram_data(experiment, moment)  # a probe never trains: there is no end
        if grid["schemes"]:
            data[f"histograms_{moment}"] = grid
        else:
            missing.append(f"histograms at {MOMENT_WORDS[moment]}: no activation "
                           "histograms in the event files")
    depth = depth_data(experiment)
    if depth["layers"]:
        data["signal_by_depth"] = depth
    else:
        missing.append("signal by depth: no per-layer statistics")
    return data, missing


# --- cost curves --------------------------------------------------------------------


def cost_curve_data(experiment):
    """`{"metrics": [...], "curves": {metric: {split: {scheme: band}}}}` where a band
    is `{"steps", "mean", "min", "max", "seeds"}` over the seeds that logged a step."""
    metrics = [tag for tag in experiment.tags() if "/" not in tag and not tag.startswith("val_")
               and any(values[0][1].ndim == 0 for values in experiment.series(tag).values())]
    metrics = sorted(metrics, key=lambda tag: tag != "loss")  # stable: loss first
    curves = {}
    for metric in metrics:
        splits = {"training": _bands(experiment, metric),
                  "validation": _bands(experiment, f"val_{metric}")}
        curves[metric] = {split: bands for split, bands in splits.items() if bands}
    return {"metrics": metrics, "curves": curves, "experiment": experiment.name,
            "steps_per_chunk": experiment.settings.get("steps_per_epoch")}


def _bands(experiment, tag):
    """`{scheme: band}` of a scalar tag against training steps, over the seeds."""
    by_scheme = {}
    for (scheme, seed), series in experiment.series(tag, scalars=True).items():
        per_epoch = experiment.steps_per_epoch(scheme, seed)
        by_step = by_scheme.setdefault(scheme, {})
        for epoch, value in series:
            if math.isfinite(value):
                by_step.setdefault(epoch * per_epoch, []).append(value)
    return {scheme: _band_over_steps(by_step) for scheme, by_step in by_scheme.items() if by_step}


def _band_over_steps(by_step):
    steps = sorted(by_step)
    return {"steps": steps, "mean": [statistics.fmean(by_step[s]) for s in steps],
            "min": [min(by_step[s]) for s in steps], "max": [max(by_step[s]) for s in steps],
            "seeds": [len(by_step[s]) for s in steps]}


# --- histogram grids ----------------------------------------------------------------


def histogram_data(experiment, moment):
    """Per scheme (its lowest seed with histograms) and layer: the histogram rows at
    `moment`, with one x-range per layer."""
    panels, seeds = {}, {}
    for scheme in experiment.schemes:
        for seed in experiment.seeds(scheme):
            row = _histogram_row(experiment, scheme, seed, moment)
            if row:
                panels[scheme], seeds[scheme] = row, seed
                break
    schemes = list(panels)
    steps = {scheme: max(panel["step"] for panel in row.values())
             for scheme, row in panels.items()}
    xlim = {layer: _column_range(panels, layer) for layer in experiment.layers}
    training_steps = {}
    if experiment.kind == "compare":
        training_steps = {scheme: steps[scheme] * experiment.steps_per_epoch(scheme, seeds[scheme])
                          for scheme in schemes}
    return {"moment": moment, "schemes": schemes,
            "layers": [layer for layer in experiment.layers
                       if any(layer in row for row in panels.values())],
            "seeds": seeds, "steps": steps, "training_steps": training_steps,
            "panels": panels, "xlim": {layer: lim for layer, lim in xlim.items() if lim},
            "experiment": experiment.name, "kind": experiment.kind,
            "probe_size": experiment.settings.get("histogram_samples")}


def _histogram_row(experiment, scheme, seed, moment):
    """`{layer: panel}` of one run at `moment` (at the end: its last step, if not 0)."""
    row = {}
    for layer in experiment.layers:
        tag = tags.histogram_tag(layer)
        steps = [step for step, _ in experiment.runs[scheme, seed].get(tag, ())]
        step = 0 if moment == "init" else max(steps, default=0)
        rows = experiment.value(scheme, seed, tag, step)
        if rows is None or (moment == "end" and step == 0):
            continue
        row[layer] = {"step": step, "left": rows[:, 0].tolist(), "right": rows[:, 1].tolist(),
                      "counts": rows[:, 2].tolist(),
                      **_panel_stats(experiment, scheme, seed, layer, step)}
    return row


def _panel_stats(experiment, scheme, seed, layer, step):
    """`std`, `zero_fraction`, `saturation` and `dead_units` of the layer at `step`
    (`None` if unknown): a probe's from `results.json` (over all samples) where it has
    them, else the run's logged scalars (`dead_units`: always the scalar)."""
    record = experiment.record(scheme, seed, layer) if experiment.kind == "probe" else None
    stats = {}
    for key in _PANEL_STATS:
        if record is not None and key in record:
            stats[key] = record[key]
        else:
            stats[key] = _scalar(experiment, scheme, seed, tags.scalar_tag(key, layer), step)
    return stats


def _scalar(experiment, scheme, seed, tag, step):
    """A run's 0-d value of `tag` at `step` as a finite float, else `None`."""
    value = experiment.value(scheme, seed, tag, step)
    if value is None or np.ndim(value) != 0 or not math.isfinite(float(value)):
        return None
    return float(value)


def _column_range(panels, layer):
    """The x-range of a layer's column: every panel's central mass, padded; `None` if
    no panel has a value."""
    ranges = [_mass_range(row[layer]) for row in panels.values()
              if layer in row and sum(row[layer]["counts"]) > 0]
    if not ranges:
        return None
    lows, highs = zip(*ranges)
    low, high = min(lows), max(highs)
    pad = 0.04 * (high - low) if high > low else max(abs(high), 1.0)
    return (low - pad, high + pad)


def _mass_range(panel, share=SHOWN_SHARE):
    """The bucket edges that hold the central `share` of a histogram's values: one
    outlier must not squeeze a column's histograms into a corner."""
    counts = np.asarray(panel["counts"], float)
    cumulative = np.cumsum(counts) / counts.sum()
    tail = (1 - share) / 2
    first = int(np.searchsorted(cumulative, tail, side="right"))
    last = int(np.searchsorted(cumulative, 1 - tail, side="left"))
    return panel["left"][min(first, len(counts) - 1)], panel["right"][min(last, len(counts) - 1)]


# --- signal by depth ----------------------------------------------------------------


def depth_data(experiment):
    """Per quantity (`QUANTITIES`), moment and scheme: per-layer mean, min and max over
    seeds (`None` where no seed logged the layer)."""
    moments = ("init",) if experiment.kind == "probe" else ("init", "end")
    quantities = {}
    for quantity, moment in itertools.product(QUANTITIES, moments):
        per_layer = [_depth_values(experiment, quantity, moment, layer)
                     for layer in experiment.layers]
        lines = {scheme: _depth_line(per_layer, scheme, experiment.seeds(scheme))
                 for scheme in experiment.schemes}
        lines = {scheme: line for scheme, line in lines.items() if line}
        if lines:
            quantities.setdefault(quantity, {})[moment] = lines
    predicted = predicted_lines(experiment) if tags.STD in quantities else {}
    return {"layers": experiment.layers if quantities else [], "quantities": quantities,
            "predicted": predicted, "moments": list(moments), "kind": experiment.kind,
            "experiment": experiment.name}


def predicted_lines(experiment):
    """`{scheme: [predicted std per layer, None where none]}`: the mean-field prediction
    at initialization (`predicted_std` of `results.json`, else the runs' step-0 scalars
    `predicted_std/<layer>`), mean over seeds; schemes without any value left out."""
    lines = {}
    for scheme in experiment.schemes:
        line = [_band([_predicted(experiment, scheme, seed, layer)
                       for seed in experiment.seeds(scheme)])[0]
                for layer in experiment.layers]
        if any(value is not None for value in line):
            lines[scheme] = line
    return lines


def _predicted(experiment, scheme, seed, layer):
    record = experiment.record(scheme, seed, layer) if experiment.kind == "probe" else None
    if record is not None and record.get(_PREDICTED) is not None:
        return record[_PREDICTED]
    return _scalar(experiment, scheme, seed, tags.predicted_std_tag(layer), 0)


def dead_unit_data(experiment):
    """`{"layers", "moments", "lines": {moment: {scheme: [share per layer]}}}`: the
    share of dead units (`activation_dead_units/<layer>`, 0 for every probe sample) at
    step 0 and at the last step, mean over seeds; only moments some run logged."""
    moments = ("init",) if experiment.kind == "probe" else ("init", "end")
    lines = {}
    for moment in moments:
        per_layer = [_depth_values(experiment, _DEAD, moment, layer, scalars_only=True)
                     for layer in experiment.layers]
        by_scheme = {scheme: _depth_line(per_layer, scheme, experiment.seeds(scheme))
                     for scheme in experiment.schemes}
        by_scheme = {scheme: line["mean"] for scheme, line in by_scheme.items() if line}
        if by_scheme:
            lines[moment] = by_scheme
    return {"layers": experiment.layers, "moments": list(lines), "lines": lines}


def _depth_values(experiment, quantity, moment, layer, scalars_only=False):
    """`{(scheme, seed): value}` of one layer's quantity at `moment`, in every run (a
    probe's std from `results.json`, unless `scalars_only`)."""
    if experiment.kind == "probe" and not scalars_only:  # results.json: std over all samples, at init only
        if quantity != tags.STD:
            return {}
        records = {run: experiment.record(*run, layer) for run in experiment.runs}
        return {run: record.get("std") for run, record in records.items() if record}
    series = experiment.series(f"{quantity}/{layer}", scalars=True)
    return {run: _at_moment(values, moment) for run, values in series.items()}


def _at_moment(series, moment):
    """The value at step 0 (`"init"`), or at the last step if it is not 0 (`"end"`)."""
    if moment == "init":
        return next((value for step, value in series if step == 0), None)
    step, value = series[-1]
    return value if step > 0 else None


def _depth_line(per_layer, scheme, seeds):
    """`{mean, min, max, seeds}` over the scheme's seeds, per layer; `None` if no layer
    has a value."""
    bands = [_band([values.get((scheme, seed)) for seed in seeds]) for values in per_layer]
    if all(mean is None for mean, _, _ in bands):
        return None
    means, lows, highs = (list(column) for column in zip(*bands))
    return {"mean": means, "min": lows, "max": highs, "seeds": len(seeds)}


def _band(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None, None
    return statistics.fmean(values), min(values), max(values)


# --- tables -------------------------------------------------------------------------


def final_numbers(experiment):
    """`{scheme: {seeds, diverged, steps, <metric>, <metric>_sd}}` from `results.json`."""
    runs_of = {}
    for record in experiment.records:
        runs_of.setdefault(record["scheme"], []).append(record)
    return {scheme: _final_row(runs) for scheme, runs in runs_of.items()}


def _final_row(runs):
    row = {"seeds": len(runs), "diverged": sum(bool(r.get("diverged")) for r in runs),
           "steps": max((r.get("steps") or 0) for r in runs)}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        values = [r.get(key) for r in runs if isinstance(r.get(key), (int, float))]
        row[key] = statistics.fmean(values) if values else None
        row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
    return row


def probe_std_table(experiment):
    """`{"layers", "schemes": {scheme: {layer: {std, zero_fraction, saturation,
    dead_units, predicted_std}}}}`, the mean over seeds of `results.json` (`None` where
    no record has the value: `predicted_std` of older results or a scheme without
    theory); `dead_units` from the finished runs' step-0 scalars, where logged."""
    by_cell = {}
    for record in experiment.records:
        by_cell.setdefault((record["scheme"], record["layer"]), []).append(record)

    def cell(scheme, layer):
        records = by_cell.get((scheme, layer), ())
        values = {key: _band([r.get(key) for r in records])[0] for key in _CELL_STATS}
        if values["dead_units"] is None:
            values["dead_units"] = _band([_scalar(experiment, scheme, seed, f"{_DEAD}/{layer}", 0)
                                          for seed in experiment.seeds(scheme)])[0]
        return values
    table = {scheme: {layer: cell(scheme, layer) for layer in experiment.layers}
             for scheme in dict.fromkeys(r["scheme"] for r in experiment.records)}
    return {"layers": experiment.layers, "schemes": table}
