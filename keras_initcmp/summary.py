"""Plain-text summaries of result records (`compare` and `probe`); returns strings, never prints."""

import statistics

__all__ = ["run_line", "compare_table", "probe_table", "table"]


def run_line(records):
    """One line for a finished run: its final metrics, or its per-layer std for a probe."""
    first = records[0]
    label = f"{first['scheme']} seed {first['seed']}"
    if "layer" in first:
        return f"{label:<20} std per layer: " + " ".join(_number(r["std"]) for r in records)
    if first["diverged"]:
        return f"{label:<20} diverged after {first['steps']} steps  {first['seconds']:.1f}s"
    parts = [f"{first['steps']} steps", f"loss {_number(first['loss'])}"]
    parts += [f"{name} {first[key]:.3f}" for name, key in
              (("acc", "accuracy"), ("val_acc", "val_accuracy")) if first[key] is not None]
    return f"{label:<20} " + "  ".join(parts) + f"  {first['seconds']:.1f}s"


STUCK = 0.99
"""A run is stuck when its final loss is at least this share of the constant predictor's."""


def compare_table(records, baseline=None):
    """Per scheme: runs, final loss mean ± sd, mean accuracy and val accuracy, diverged.

    With `baseline`, the loss of the best constant prediction (for a classifier: the
    training labels' prior, whose cross-entropy is the prior's entropy), a column
    `stuck` counts the finite runs that ended at `STUCK` (99 %) of it or above: they
    learned (next to) nothing about the inputs.
    """
    rows = []
    for scheme, runs in _by_scheme(records).items():
        rows.append([
            scheme, str(len(runs)), _mean_sd([r["loss"] for r in runs]),
            _mean([r["accuracy"] for r in runs]), _mean([r["val_accuracy"] for r in runs]),
            f"{sum(r['diverged'] for r in runs)}/{len(runs)}",
        ])
        if baseline is not None:
            stuck = sum(r["loss"] is not None and r["loss"] >= STUCK * baseline for r in runs)
            rows[-1].append(f"{stuck}/{len(runs)}")
    return table(["scheme", "seeds", "loss (mean ± sd)", "accuracy", "val accuracy",
                  "diverged"] + ([] if baseline is None else ["stuck"]), rows)


def probe_table(records):
    """Activation std per scheme (rows) and layer (columns), averaged over seeds."""
    layers = list(dict.fromkeys(r["layer"] for r in records))
    rows = []
    for scheme, runs in _by_scheme(records).items():
        by_layer = {layer: [r["std"] for r in runs if r["layer"] == layer] for layer in layers}
        rows.append([scheme] + [_mean(by_layer[layer], "{:.3g}") for layer in layers])
    return table(["std of"] + layers, rows)


def table(header, rows):
    """Left-aligned first column, right-aligned others, two spaces apart."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths])]
                     + [line(row) for row in rows])


def _by_scheme(records):
    groups = {}
    for record in records:
        groups.setdefault(record["scheme"], []).append(record)
    return groups


def _finite(values):
    return [value for value in values if value is not None]


def _mean(values, form="{:.3f}"):
    values = _finite(values)
    return form.format(statistics.fmean(values)) if values else "-"


def _mean_sd(values):
    values = _finite(values)
    if len(values) < 2:
        return _mean(values, "{:.4f}")
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def _number(value):
    return "nan" if value is None else f"{value:.4g}"
