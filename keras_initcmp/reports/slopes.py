"""A coordinate check's numbers: how each layer's activation size scales with width
(log-log slopes, verdicts, the summary table).

For each parametrization, layer and step `t`, the least-squares slope of `log l1` on
`log width`: 0 where the layer's mean |output| does not change with width (μP's
promise), about 1 where it grows in proportion to the width (SP's hidden layers and
readout after one Adam step). With several seeds the slope is fitted per seed, and
its spread over seeds gives a standard error.

Verdict: `grows with width` when the slope is above `FLAT` and above `SPREAD` standard
errors, `shrinks with width` when below `-FLAT` and `-SPREAD` standard errors, `flat`
otherwise. `FLAT = 0.2`: over a 32-fold widening (64 to 2048) a slope of 0.2 changes
l1 by 2×, against 32× for SP's slope of 1; the measured μP slopes in `docs/width.md`
stay within ±0.1 with a seed-to-seed spread of a few hundredths.

Example:

>>> fits = slopes(records)
>>> fits[("sp", "dense_2", 3)].verdict
'grows with width'
"""

import collections
import dataclasses
import math

import numpy as np

__all__ = ["Slope", "slopes", "slope_table", "FLAT", "SPREAD"]

FLAT = 0.2
"""A slope within ±FLAT is `flat` (see the module docstring for why)."""
SPREAD = 3.0
"""Standard errors (over seeds) a slope must also exceed to count as growing or shrinking."""


@dataclasses.dataclass(frozen=True)
class Slope:
    """One fit: `slope` (mean over seeds), `stderr` (over seeds; nan for one seed),
    `widths` fitted, `seeds`, and the plain-words `verdict`."""

    slope: float
    stderr: float
    widths: int
    seeds: int
    verdict: str


def _fit(widths, values):
    """Least-squares slope of log(values) on log(widths); nan without two widths or
    with a value that is not positive and finite."""
    x, y = np.log(np.asarray(widths, float)), np.asarray(values, float)
    if len(set(widths)) < 2 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        return float("nan")
    return float(np.polyfit(x, np.log(y), 1)[0])


def verdict(slope, stderr):
    """`flat`, `grows with width` or `shrinks with width` (see the module docstring)."""
    if math.isnan(slope):
        return "no fit"
    noise = 0.0 if math.isnan(stderr) else SPREAD * stderr
    if slope > max(FLAT, noise):
        return "grows with width"
    if slope < -max(FLAT, noise):
        return "shrinks with width"
    return "flat"


def slopes(records):
    """`{(parametrization, layer, step): Slope}` from coordinate-check records."""
    points = collections.defaultdict(lambda: collections.defaultdict(dict))
    for record in records:
        key = (record["parametrization"], record["layer"], record["step"])
        points[key][record["seed"]][record["width"]] = record["l1"]
    fits = {}
    for key, by_seed in points.items():
        per_seed = [_fit(list(values), list(values.values())) for values in by_seed.values()]
        finite = [value for value in per_seed if not math.isnan(value)]
        slope = float(np.mean(finite)) if finite else float("nan")
        stderr = (float(np.std(finite, ddof=1) / math.sqrt(len(finite)))
                  if len(finite) > 1 else float("nan"))
        widths = max((len(values) for values in by_seed.values()), default=0)
        fits[key] = Slope(slope, stderr, widths, len(finite), verdict(slope, stderr))
    return fits


def slope_table(records):
    """The summary table: one row per parametrization and layer (in call order), one
    column per step, each cell `slope verdict` (`+0.98 grows`, `-0.02 flat`)."""
    fits = slopes(records)
    steps = sorted({step for _, _, step in fits})
    rows = []
    for parametrization, layer in dict.fromkeys((p, layer) for p, layer, _ in fits):
        cells = []
        for step in steps:
            fit = fits.get((parametrization, layer, step))
            cells.append("" if fit is None else
                         f"{fit.slope:+.2f} {fit.verdict.split()[0]}" if not math.isnan(fit.slope)
                         else "no fit")
        rows.append([parametrization, layer, *cells])
    header = ["param.", "layer", *[f"t={step}" for step in steps]]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = [header, ["-" * width for width in widths]] + rows
    # The layout of the other summary tables: first column left, the others right.
    return "\n".join("  ".join(str(cell).ljust(width) if i < 2 else str(cell).rjust(width)
                               for i, (cell, width) in enumerate(zip(line, widths))).rstrip()
                      for line in lines)
