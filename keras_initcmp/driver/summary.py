"""Plain-text summaries of result records (`compare` and `probe`); returns strings, never prints."""

import math
import statistics

__all__ = ["run_line", "compare_table", "probe_table", "chi1_table", "table", "TANH_LIKE"]


def run_line(records):
    """One line for a finished run: its final metrics, or its per-layer std for a probe."""
    first = records[0]
    if "parametrization" in first:  # a coordinate check: l1 per layer at the last step
        last = [r for r in records if r["step"] == records[-1]["step"]]
        return (f"{first['parametrization']} width {first['width']} seed {first['seed']}: l1 at "
                f"t={last[0]['step']}: " + " ".join(_number(r["l1"]) for r in last))
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
    """Activation std per scheme (rows) and layer (columns), averaged over seeds.

    Under each scheme's measured row, where the records have a mean-field prediction
    (`predicted_std`), a `  predicted` row with it, so that each layer's measured and
    predicted std stand in one column, one above the other.
    """
    layers = list(dict.fromkeys(r["layer"] for r in records))
    rows = []
    for scheme, runs in _by_scheme(records).items():
        for key, label in (("std", scheme), ("predicted_std", "  predicted")):
            by_layer = {layer: [r.get(key) for r in runs if r["layer"] == layer]
                        for layer in layers}
            if key == "predicted_std" and not any(_finite(v) for v in by_layer.values()):
                continue  # no theory for this scheme (or records from before it)
            rows.append([label] + [_mean(by_layer[layer], "{:.3g}") for layer in layers])
    return table(["std of"] + layers, rows)


TANH_LIKE = ("tanh", "hard_tanh", "softsign")
"""Odd, saturating activations: the ones with an ordered and a chaotic phase
(Poole et al. 2016), for which `chi1_table` is meaningful."""


def chi1_table(scheme_names, activation, sizes, bias_std=0.0):
    """Per scheme: σ_w², σ_b², the fixed point q* and χ₁ = σ_w² E[φ'(√q* z)²] with its phase.

    `χ₁ < 1` is the ordered phase (nearby inputs converge, gradients vanish with
    depth), `χ₁ > 1` the chaotic one (they diverge, gradients explode), `χ₁ ≈ 1`
    (within 1e-3) the edge of chaos. σ_w² is the scheme's for the first layer
    (`sizes[0]` to `sizes[1]`); σ_b² the scheme's own bias variance where it has one,
    else `bias_std²`. Schemes without a mean-field weight variance (`lsuv`) are left out.
    """
    from keras_initcmp import schemes  # NumPy only; this module needs it only here
    from keras_initcmp.schemes import theory

    fan_in, fan_out = sizes[0], sizes[1]
    rows = []
    for name in dict.fromkeys(scheme_names):
        entry = schemes.get(name)
        if entry.weight_variance is None:
            continue
        sigma_w2 = entry.weight_variance(fan_in, fan_out)
        sigma_b2 = entry.bias_variance(fan_in) if entry.bias_variance else bias_std**2
        try:
            q_star = theory.fixed_point(sigma_w2, activation, sigma_b2)
            chi = theory.chi1(sigma_w2, activation, q_star) if math.isfinite(q_star) else math.inf
        except ValueError:
            q_star = chi = math.nan
        if not math.isfinite(chi):
            phase = "-"
        elif abs(chi - 1.0) < 1e-3:
            phase = "edge of chaos"
        else:
            phase = "ordered" if chi < 1.0 else "chaotic"
        rows.append([name, f"{sigma_w2:.4g}", f"{sigma_b2:.4g}", f"{q_star:.4g}",
                     f"{chi:.4g}", phase])
    return table(["scheme", "sigma_w^2", "sigma_b^2", "q*", "chi1", "phase"], rows)


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
