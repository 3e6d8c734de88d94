"""A coordinate check's figure, in the style of the paper's: one panel per step, width on
a log axis, mean |output| (`l1`) on a log axis, one line per layer (mean over seeds); SP
in the top row, μP below. Saved as `<experiment>/coord_check.png` and logged to
TensorBoard's Images dashboard (tag `report/coord_check`, the root run) through the
report package's writers; the slope table goes to `<experiment>/coord_check.md`.
"""

import collections
import os

import numpy as np

__all__ = ["draw_figure", "write_figure", "FIGURE"]

FIGURE = "coord_check"
"""The figure's name: its PNG file's and its TensorBoard tag's (`report/<name>`)."""

_NAMES = {"sp": "SP", "mup": "μP"}


def _series(records):
    """`{parametrization: {layer: {step: (widths, mean l1 over seeds)}}}`, in record order."""
    values = collections.defaultdict(lambda: collections.defaultdict(
        lambda: collections.defaultdict(lambda: collections.defaultdict(list))))
    for record in records:
        if record["l1"] is not None:
            values[record["parametrization"]][record["layer"]][record["step"]][
                record["width"]].append(record["l1"])
    return {p: {layer: {step: (sorted(by_width), [float(np.mean(by_width[w]))
                                                  for w in sorted(by_width)])
                        for step, by_width in steps.items()}
                for layer, steps in layers.items()}
            for p, layers in values.items()}


def draw_figure(records):
    """The figure as a matplotlib `Figure` (headless, never pyplot)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = _series(records)
    rows = [p for p in ("sp", "mup") if p in series]
    steps = sorted({record["step"] for record in records})
    layers = list(dict.fromkeys(record["layer"] for record in records))
    colours = colormaps["viridis"](np.linspace(0.0, 0.9, max(len(layers), 1)))
    figure = Figure(figsize=(2.6 * len(steps) + 1.8, 2.4 * len(rows) + 0.4),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_2d(figure.subplots(len(rows), len(steps), sharex=True, sharey="row",
                                         squeeze=False))
    for row, parametrization in enumerate(rows):
        for column, step in enumerate(steps):
            ax = axes[row, column]
            for colour, layer in zip(colours, layers):
                found = series[parametrization].get(layer, {}).get(step)
                if found:
                    ax.plot(*found, marker="o", markersize=3, color=colour, label=layer,
                            gid=layer)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{_NAMES[parametrization]}, t = {step}", fontsize=9)
            if row == len(rows) - 1:
                ax.set_xlabel("width")
            if column == 0:
                ax.set_ylabel("mean |output|")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=7, title="layer")
    return figure


def write_figure(folder, records, dpi=110, tensorboard=True):
    """Saves the figure as `<folder>/coord_check.png`, the slope table as
    `<folder>/coord_check.md`, and (by default) the figure into TensorBoard; returns
    the PNG's path. Raises a one-line `ValueError` when the folder cannot be written."""
    from keras_initcmp.reports.write import log_images, save_figures
    from keras_initcmp.reports.slopes import FLAT, SPREAD, slope_table

    figure = draw_figure(records)
    paths = save_figures(folder, {FIGURE: figure}, (FIGURE,), dpi)
    caption = ("Coordinate check: mean |output| of each layer against width, per step "
               "t (t = 1 is initialization), SP above and μP below.")
    text = (f"# Coordinate check\n\n{caption}\n\n![{FIGURE}]({FIGURE}.png)\n\n"
            f"Slope of log l1 on log width per layer and step; `flat` within ±{FLAT} "
            f"(and {SPREAD:g} standard errors over seeds):\n\n```\n{slope_table(records)}\n```\n")
    try:
        with open(os.path.join(folder, f"{FIGURE}.md"), "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        raise ValueError(f"cannot write the report into {folder}: {error}") from None
    if tensorboard:
        log_images(folder, paths, {FIGURE: caption})
    return paths[FIGURE]
