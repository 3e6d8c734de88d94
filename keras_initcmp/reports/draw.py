"""Drawing the report's figures from their data (`aggregate`): matplotlib `Figure`s, unsaved.

Headless: matplotlib's object API on the Agg canvas, never pyplot, so a user's
backend is left alone. Every artist that stands for a scheme carries the scheme's
name as its `gid`, so `artist_colors` can check that a scheme has one colour
throughout.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from keras_initcmp.reports.aggregate import MOMENT_WORDS, QUANTITIES, SHOWN_SHARE
from keras_initcmp.reports.palette import scheme_color, scheme_marker
from keras_initcmp.measurement import tags

__all__ = ["draw_figures", "artist_colors"]

_TITLE = 11
_SMALL = 7.5
_QUANTITY_LABELS = {tags.STD: "activation std", tags.GRADIENT_NORM: "gradient norm"}


def draw_figures(data, names, log_scale=False):
    """`{name: Figure}` for each of `names` that `data` holds, in that order."""
    painters = {"cost_curves": lambda d: plot_cost_curves(d, log_scale),
                "histograms_init": plot_histograms, "histograms_end": plot_histograms,
                "signal_by_depth": plot_depth}
    return {name: painters[name](data[name]) for name in names if name in data}


def artist_colors(figure):
    """`{scheme: sorted colours}` of the figure's artists tagged with a scheme."""
    found = {}
    for artist in (a for ax in figure.axes for a in ax.get_children() if a.get_gid()):
        found.setdefault(artist.get_gid(), set()).update(_colors_of(artist))
    return {scheme: sorted(colors) for scheme, colors in found.items()}


def _colors_of(artist):
    for getter in ("get_color", "get_facecolor", "get_edgecolor"):
        if hasattr(artist, getter):
            value = getattr(artist, getter)()
            value = np.atleast_2d(value) if not isinstance(value, str) else [value]
            return {to_hex(c, keep_alpha=False) for c in value if len(c)}
    return set()


# --- shared pieces ------------------------------------------------------------------


def _new_figure(width, height):
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # headless, whatever backend pyplot would use
    return figure


def _scheme_handles(schemes):
    return [Line2D([], [], color=scheme_color(s), marker=scheme_marker(s), lw=2, label=s)
            for s in schemes]


def _legend(figure, handles):
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7),
                  fontsize=9, frameon=False, handlelength=2.5, columnspacing=1.5)


def _band_handle():
    return Patch(facecolor="0.3", alpha=0.18, label="min–max over seeds")


# --- cost curves --------------------------------------------------------------------


def plot_cost_curves(data, log_scale):
    """One panel per metric: the mean over seeds per scheme, a min–max band, validation
    dashed. Sets `data["yscale"]`."""
    metrics = data["metrics"]
    figure = _new_figure(4.6 * len(metrics) + 1.4, 3.6)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    schemes, has_validation = {}, False
    for ax, metric in zip(axes, metrics):
        for split, style in (("training", "-"), ("validation", "--")):
            bands = data["curves"][metric].get(split, {})
            _draw_bands(ax, bands, style)
            schemes.update(dict.fromkeys(bands))
            has_validation |= split == "validation" and bool(bands)
        label = metric.replace("_", " ")
        ax.set_title(label, fontsize=_TITLE)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{label} (mean over each logged chunk)" if metric == "loss" else label)
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


def _draw_bands(ax, bands, style):
    for scheme, band in bands.items():
        color = scheme_color(scheme)
        ax.plot(band["steps"], band["mean"], style, color=color, lw=1.8, gid=scheme)
        if max(band["seeds"]) > 1:
            ax.fill_between(band["steps"], band["min"], band["max"], color=color,
                            alpha=0.18, lw=0, gid=scheme)


# --- histogram grids ----------------------------------------------------------------


def plot_histograms(data):
    """Rows = schemes, columns = layers, one x-range per column."""
    schemes, layers = data["schemes"], data["layers"]
    figure = _new_figure(max(2.15 * len(layers) + 1.2, 6.5), 1.45 * len(schemes) + 1.3)
    axes = figure.subplots(len(schemes), len(layers), squeeze=False, sharex="col")
    for row, scheme in enumerate(schemes):
        for column, layer in enumerate(layers):
            _draw_panel(axes[row][column], data, scheme, layer, row == 0, column == 0)
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
    figure.supxlabel(f"activation value (one range per column, holding {SHOWN_SHARE:.1%} of "
                     f"every panel's values) — {seed_text}, {on}",
                     fontsize=9)
    figure.supylabel("share of values (each panel to its own peak)", fontsize=9)
    return figure


def _draw_panel(ax, data, scheme, layer, first_row, first_column):
    color = scheme_color(scheme)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if layer in data["xlim"]:
        ax.set_xlim(*data["xlim"][layer])
    if first_row:
        ax.set_title(layer, fontsize=10)
    if first_column:
        ax.set_ylabel(scheme, fontsize=10, color=color, fontweight="bold")
    panel = data["panels"][scheme].get(layer)
    if panel is None:
        ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center",
                va="center", fontsize=_SMALL, color="0.4")
        return
    _draw_histogram(ax, panel, color, scheme)
    ax.tick_params(axis="x", labelsize=_SMALL)


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
    if (panel.get("dead_units") or 0) >= 0.01:  # units 0 for every probe sample: by "=0"
        at = next((i + 1 for i, note in enumerate(notes) if note.startswith("=0")), len(notes))
        notes.insert(at, f"dead: {panel['dead_units']:.0%}")
    ax.set_ylim(0, peak * (1.12 + 0.2 * len(notes)))  # headroom: the notes never hide bars
    ax.text(0.98, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top",
            fontsize=_SMALL, bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                   "alpha": 0.75, "lw": 0})


# --- signal by depth ----------------------------------------------------------------


def plot_depth(data):
    """Rows = quantities, columns = moments: one line per scheme against layer index,
    log scale, exact zeros hollow on the floor; the mean-field prediction of the std at
    initialization (`data["predicted"]`) dashed beside it, in the scheme's colour."""
    quantities = [q for q in QUANTITIES if q in data["quantities"]]
    moments, layers = data["moments"], data["layers"]
    index = np.arange(1, len(layers) + 1)
    figure = _new_figure(max(3.0 + 0.45 * len(layers), 5.0) * len(moments) + 1.3,
                         3.3 * len(quantities) + 0.6)
    axes = figure.subplots(len(quantities), len(moments), squeeze=False, sharey="row")
    schemes, zeros_drawn, theory_drawn = {}, False, False
    predicted = data.get("predicted") or {}
    for row, quantity in enumerate(quantities):
        extra = predicted.values() if quantity == tags.STD and "init" in moments else ()
        floor = _log_floor(data["quantities"][quantity], extra)
        for column, moment in enumerate(moments):
            ax = axes[row][column]
            lines = data["quantities"][quantity].get(moment, {})
            zeros_drawn |= _draw_depth_lines(ax, index, lines, floor)
            if quantity == tags.STD and moment == "init":
                theory_drawn |= _draw_predicted(ax, index, predicted)
            schemes.update(dict.fromkeys(lines))
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor / 2)
            ax.set_xticks(index)
            ax.set_xticklabels([f"{i}\n{name}" if len(layers) <= 8 else str(i)
                                for i, name in zip(index, layers)], fontsize=8)
            ax.grid(True, which="major", alpha=0.3)
            label = _QUANTITY_LABELS[quantity]
            ax.set_title(f"{label} at {MOMENT_WORDS[moment]}", fontsize=_TITLE)
            if column == 0:
                ax.set_ylabel(f"{label} (log scale)" if quantity == tags.STD
                              else f"{label} (L2, log scale)")
            if row == len(quantities) - 1:
                ax.set_xlabel("layer (1 = first after the input)")
    std_lines = [line for lines in data["quantities"].get(tags.STD, {}).values()
                 for line in lines.values()]
    handles = _scheme_handles(schemes)
    if theory_drawn:
        handles += [Line2D([], [], color="0.3", ls="-", label="measured"),
                    Line2D([], [], color="0.3", ls="--", label="theory (mean field)")]
    if any(line["seeds"] > 1 for line in std_lines):
        handles.append(_band_handle())
    if zeros_drawn:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="0.3",
                              label="exactly 0 (drawn at the bottom)"))
    _legend(figure, handles)
    seeds = max((line["seeds"] for line in std_lines), default=1)
    source = ("over all probe samples" if data["kind"] == "probe" else "on the probe batch") + (
        f", mean over {seeds} seeds" if seeds > 1 else ", 1 seed")
    figure.suptitle(f"{data['experiment']}: signal by depth ({source})", fontsize=_TITLE + 1)
    return figure


def _log_floor(lines_by_moment, extra=()):
    """A tenth of the smallest positive value of a row (and of the `extra` lists of
    values drawn in it): where exact zeros are drawn."""
    positive = [v for lines in lines_by_moment.values() for line in lines.values()
                for v in line["min"] + line["mean"] if v is not None and v > 0]
    positive += [v for values in extra for v in values if v is not None and v > 0]
    return min(positive) / 10 if positive else 1e-8


def _draw_depth_lines(ax, index, lines, floor):
    """The schemes' lines on one axis; whether an exact zero was drawn."""
    zeros_drawn = False
    for scheme, line in lines.items():
        color, marker = scheme_color(scheme), scheme_marker(scheme)
        mean, low, high = (np.array([np.nan if v is None else v for v in line[key]], float)
                           for key in ("mean", "min", "max"))
        ax.plot(index, np.where(mean > 0, mean, np.nan), "-", marker=marker, color=color,
                lw=1.8, ms=5, gid=scheme)
        if line["seeds"] > 1:
            ax.fill_between(index, np.where(low > 0, low, floor), np.where(high > 0, high, np.nan),
                            color=color, alpha=0.18, lw=0, gid=scheme)
        zero = mean == 0
        if zero.any():  # log scale: exact zeros sit on the floor, hollow
            zeros_drawn = True
            ax.plot(index[zero], np.full(zero.sum(), floor), ls="none", marker=marker,
                    mfc="none", color=color, ms=6, gid=scheme)
    return zeros_drawn


def _draw_predicted(ax, index, predicted):
    """Each scheme's predicted std, dashed in its colour; whether any was drawn."""
    drawn = False
    for scheme, values in predicted.items():
        values = np.array([np.nan if v is None else v for v in values], float)
        values = np.where(values > 0, values, np.nan)
        if np.isnan(values).all():
            continue
        ax.plot(index, values, "--", color=scheme_color(scheme), lw=1.4, alpha=0.9, gid=scheme)
        drawn = True
    return drawn
