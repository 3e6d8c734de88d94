"""`keras_initcmp.reports` on a small real compare and probe: files, plotted data, colours,
TensorBoard images, bad input; and on known event files without TensorFlow."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from matplotlib.patches import StepPatch
from PIL import Image

import keras_initcmp
from keras_initcmp import cli
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.reports import FIGURES, scheme_color
from keras_initcmp.reports import report as make_report
from keras_initcmp.reports import write
from events import read_events
from paths import ROOT

SCHEMES = ("zeros", "he")
SEEDS = 2
PROBE_SCHEMES = ("random", "xavier")
STEPS, EPOCHS = 4, 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A compare (2 schemes x 2 seeds, 4 full-batch steps in 2 chunks) and a probe, reported."""
    logdir = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(6, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    keras_initcmp.compare(model, (x[:32], y[:32], x[32:], y[32:]), SCHEMES, SEEDS,
                          experiment="tiny", logdir=logdir, loss="binary_crossentropy",
                          metrics=["accuracy"], optimizer=keras.optimizers.SGD(0.1),
                          steps=STEPS, epochs=EPOCHS, batch_size=None)
    keras_initcmp.probe(PROBE_SCHEMES, 1, sizes=(16, 12, 8, 4), activation="tanh",
                        samples=200, batch_size=100, histogram_samples=100, logdir=logdir)
    compare_dir, probe_dir = logdir / "tiny", logdir / "probe-tanh"
    # The Figure objects `report` saves, kept as drawn: the figure tests read their axes.
    drawn, save_figures = {}, write.save_figures

    def keep_figures(folder, figures, names, dpi):
        drawn[os.path.basename(folder)] = dict(figures)
        return save_figures(folder, figures, names, dpi)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(write, "save_figures", keep_figures)
        compare, probe = make_report(compare_dir), make_report(probe_dir)
    return {"logdir": logdir, "compare": (compare_dir, compare), "probe": (probe_dir, probe),
            "drawn": {"compare": drawn["tiny"], "probe": drawn["probe-tanh"]}}


def results(folder):
    return json.loads((folder / "results.json").read_text())


# --- files --------------------------------------------------------------------------


def test_every_figure_is_a_valid_png_of_sensible_size(runs):
    expected = {"compare": FIGURES, "probe": ("histograms_init", "signal_by_depth")}
    for kind, (folder, report) in ((k, runs[k]) for k in ("compare", "probe")):
        assert report.kind == kind and report.missing == []
        assert sorted(report.figures) == sorted(expected[kind])
        for name, path in report.figures.items():
            assert path == str(folder / f"{name}.png")
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                assert image.format == "PNG"
                width, height = image.size
            assert 500 <= width <= 2500 and 300 <= height <= 2000, (name, image.size)
            assert os.path.getsize(path) > 10_000


def test_report_md_links_every_figure_and_holds_the_tables(runs):
    folder, report = runs["compare"]
    text = (folder / "report.md").read_text()
    assert report.path == str(folder / "report.md")
    for name in report.figures:
        assert f"]({name}.png)" in text
    zeros = [r for r in results(folder) if r["scheme"] == "zeros"]
    loss = np.mean([r["loss"] for r in zeros])
    assert f"| zeros | {SEEDS} | {STEPS} | {loss:.4g} " in text
    assert "## Missing" not in text

    folder, report = runs["probe"]
    text = (folder / "report.md").read_text()
    for record in results(folder):
        if record["scheme"] == "random" and record["layer"] == "layer_3":
            row = next(line for line in text.splitlines() if line.startswith("| random |"))
            assert row.endswith(f" {record['std']:.3g} |")


# --- the plotted data ---------------------------------------------------------------


def test_signal_by_depth_plots_the_logged_values(runs):
    folder, report = runs["compare"]
    depth = report.data["signal_by_depth"]
    layers = ["hidden", "out"]
    assert depth["layers"] == layers and depth["moments"] == ["init", "end"]
    for quantity in ("activation_std", "gradient_norm"):
        for scheme in SCHEMES:
            events = [read_events(folder / scheme / f"seed-{seed}") for seed in range(SEEDS)]
            for moment, step in (("init", 0), ("end", EPOCHS)):
                values = np.array([[float(dict(e[f"{quantity}/{layer}"])[step]) for layer in layers]
                                   for e in events])
                line = depth["quantities"][quantity][moment][scheme]
                np.testing.assert_allclose(line["mean"], values.mean(0), rtol=1e-6)
                np.testing.assert_allclose(line["min"], values.min(0), rtol=1e-6)
                np.testing.assert_allclose(line["max"], values.max(0), rtol=1e-6)
    # Zero init: the hidden layer's output is relu(0) = 0, a std of exactly 0.
    assert depth["quantities"]["activation_std"]["init"]["zeros"]["mean"][0] == 0


def test_probe_std_by_depth_equals_results_json(runs):
    folder, report = runs["probe"]
    depth, table = report.data["signal_by_depth"], report.data["std_table"]
    assert depth["moments"] == ["init"] and "gradient_norm" not in depth["quantities"]
    for scheme in PROBE_SCHEMES:
        stds = [r["std"] for r in results(folder) if r["scheme"] == scheme]
        assert depth["quantities"]["activation_std"]["init"][scheme]["mean"] == stds
        assert [table["schemes"][scheme][layer]["std"] for layer in table["layers"]] == stds
    assert table["layers"] == ["layer_1", "layer_2", "layer_3"]


def test_probe_predicted_std_is_plotted_dashed_and_tabled_beside_the_measured(runs):
    folder, report = runs["probe"]
    depth, table = report.data["signal_by_depth"], report.data["std_table"]
    text = (folder / "report.md").read_text()
    assert sorted(depth["predicted"]) == sorted(PROBE_SCHEMES)
    for scheme in PROBE_SCHEMES:
        predicted = [r["predicted_std"] for r in results(folder) if r["scheme"] == scheme]
        assert all(isinstance(value, float) for value in predicted)
        assert depth["predicted"][scheme] == predicted
        assert [table["schemes"][scheme][layer]["predicted_std"]
                for layer in table["layers"]] == predicted
        row = f"| {scheme}, predicted | " + " | ".join(f"{v:.3g}" for v in predicted) + " |"
        assert row in text
        # The scalars in the run folder hold the same prediction.
        events = read_events(folder / scheme / "seed-0")
        np.testing.assert_allclose([float(dict(events[f"predicted_std/{layer}"])[0])
                                    for layer in table["layers"]], predicted, rtol=1e-6)


def test_dead_units_read_back_equal_to_the_logged_scalars(runs):
    folder, report = runs["compare"]
    dead = report.data["dead_units"]
    assert dead["moments"] == ["init", "end"] and dead["layers"] == ["hidden", "out"]
    for scheme in SCHEMES:
        events = [read_events(folder / scheme / f"seed-{seed}") for seed in range(SEEDS)]
        for moment, step in (("init", 0), ("end", EPOCHS)):
            values = np.array([[float(dict(e[f"activation_dead_units/{layer}"])[step])
                                for layer in dead["layers"]] for e in events])
            np.testing.assert_allclose(dead["lines"][moment][scheme], values.mean(0), rtol=1e-6)
            grid = report.data[f"histograms_{moment}"]
            for layer, value in zip(dead["layers"], values[0]):  # the lowest seed is drawn
                assert grid["panels"][scheme][layer]["dead_units"] == pytest.approx(value)
    # Zero init: every hidden unit is relu(0) = 0 for every sample, all dead.
    assert dead["lines"]["init"]["zeros"][0] == 1.0
    text = (folder / "report.md").read_text()
    assert "Dead units per layer at initialization" in text
    assert "| zeros | 100% |" in text
    assert "dead the share of units" in text  # the histograms' caption

    folder, report = runs["probe"]
    for scheme in PROBE_SCHEMES:
        events = read_events(folder / scheme / "seed-0")
        logged = [float(dict(events[f"activation_dead_units/{layer}"])[0])
                  for layer in report.data["std_table"]["layers"]]
        assert report.data["dead_units"]["lines"]["init"][scheme] == pytest.approx(logged)
        assert [report.data["std_table"]["schemes"][scheme][layer]["dead_units"]
                for layer in report.data["std_table"]["layers"]] == pytest.approx(logged)


_PROBE_LAYERS = ("layer_1", "layer_2")
_PROBE_KNOWN = {  # scheme: (std, predicted_std per layer; None: null, "absent": no key, dead)
    "he": ([0.58, 0.57], [0.584, 0.581], [0.25, 0.5]),
    "lsuv": ([1.0, 1.0], [None, None], None),
    "old": ([0.3, 0.1], "absent", None)}


def _write_known_probe(folder):
    """A probe folder written by `EventWriter` alone: known std, prediction and dead units."""
    records = []
    for scheme, (stds, predicted, dead) in _PROBE_KNOWN.items():
        writer = EventWriter(folder / scheme / "seed-0", filename_suffix=".v2")
        for index, layer in enumerate(_PROBE_LAYERS):
            writer.histogram(f"activations/{layer}", _HE_ROWS, 0)
            writer.scalar(f"activation_std/{layer}", stds[index], 0)
            if dead is not None:
                writer.scalar(f"activation_dead_units/{layer}", dead[index], 0)
            if predicted != "absent" and predicted[index] is not None:
                writer.scalar(f"predicted_std/{layer}", predicted[index], 0)
            record = {"scheme": scheme, "seed": 0, "layer": layer, "mean": 0.1,
                      "std": stds[index], "zero_fraction": 0.5, "saturation": 0.0,
                      "nonfinite": 0}
            if predicted != "absent":
                record["predicted_std"] = predicted[index]
            records.append(record)
        writer.close()
    (folder / "results.json").write_text(json.dumps(records))
    (folder / "settings.json").write_text(json.dumps(
        {"kind": "probe", "sizes": [8, 6, 4], "activation": "relu", "samples": 64}))


def test_known_probe_prediction_and_dead_units_read_back_and_absent_gracefully(tmp_path):
    folder = tmp_path / "probe-relu"
    _write_known_probe(folder)
    report = make_report(folder, tensorboard=False)
    assert report.missing == []
    depth, table = report.data["signal_by_depth"], report.data["std_table"]
    assert depth["predicted"] == {"he": [0.584, 0.581]}  # null and absent: nothing extra
    assert table["schemes"]["he"]["layer_2"]["predicted_std"] == 0.581
    assert table["schemes"]["lsuv"]["layer_1"]["predicted_std"] is None
    assert table["schemes"]["old"]["layer_1"]["predicted_std"] is None
    dead = report.data["dead_units"]
    assert dead["moments"] == ["init"] and dead["lines"]["init"] == {"he": [0.25, 0.5]}
    assert [table["schemes"][s]["layer_1"]["dead_units"] for s in _PROBE_KNOWN] == [0.25, None,
                                                                                    None]
    panels = report.data["histograms_init"]["panels"]
    assert panels["he"]["layer_2"]["dead_units"] == 0.5
    assert panels["old"]["layer_2"]["dead_units"] is None

    text = (folder / "report.md").read_text()
    assert "| he | 0.58 | 0.57 |\n| he, predicted | 0.584 | 0.581 |\n| lsuv | 1 | 1 |" in text
    assert "lsuv, predicted" not in text and "old, predicted" not in text
    dead_table = text.split("Dead units per layer at initialization")[1]
    assert "| he | 25% | 50% |\n\n" in dead_table and "| lsuv |" not in dead_table
    assert "mean-field prediction" in text

    # The figure: one dashed line, in he's colour, on the std panel; the legend says so.
    from keras_initcmp.reports import draw
    figure = draw.plot_depth(report.data["signal_by_depth"])
    [ax] = figure.axes
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_gid() for line in dashed] == ["he"]
    np.testing.assert_allclose(dashed[0].get_ydata(), [0.584, 0.581])
    assert dashed[0].get_color() == scheme_color("he")
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert "measured" in labels and any(label.startswith("theory") for label in labels)

    # Older results: no prediction, no dead units anywhere, nothing extra drawn or written.
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    records = [{k: v for k, v in r.items() if k != "predicted_std"}
               for r in results(older)]
    (older / "results.json").write_text(json.dumps(records))
    for scheme in _PROBE_KNOWN:
        for path in (older / scheme / "seed-0").glob("*tfevents*"):
            path.unlink()
        writer = EventWriter(older / scheme / "seed-0", filename_suffix=".v2")
        for layer in _PROBE_LAYERS:
            writer.histogram(f"activations/{layer}", _HE_ROWS, 0)
        writer.close()
    report = make_report(older, tensorboard=False)
    assert report.data["signal_by_depth"]["predicted"] == {} and "dead_units" not in report.data
    text = (older / "report.md").read_text()
    assert "predicted" not in text and "Dead units" not in text and "dashed" not in text.lower()
    figure = draw.plot_depth(report.data["signal_by_depth"])
    assert not [line for line in figure.axes[0].get_lines() if line.get_linestyle() == "--"]


def test_cost_curves_plot_mean_and_band_over_seeds_against_steps(runs):
    folder, report = runs["compare"]
    curves = report.data["cost_curves"]
    assert curves["metrics"] == ["loss", "accuracy"]
    per_chunk = STEPS // EPOCHS
    for metric in curves["metrics"]:
        for split, tag in (("training", metric), ("validation", f"val_{metric}")):
            for scheme in SCHEMES:
                values = np.array([[v for _, v in read_events(folder / scheme / f"seed-{s}")[tag]]
                                   for s in range(SEEDS)], float)
                band = curves["curves"][metric][split][scheme]
                assert band["steps"] == [per_chunk * epoch for epoch in range(1, EPOCHS + 1)]
                np.testing.assert_allclose(band["mean"], values.mean(0), rtol=1e-6)
                np.testing.assert_allclose(band["min"], values.min(0), rtol=1e-6)
                np.testing.assert_allclose(band["max"], values.max(0), rtol=1e-6)
                assert band["seeds"] == [SEEDS] * EPOCHS


def test_histogram_grids_plot_the_logged_histograms_with_a_shared_range_per_layer(runs):
    folder, report = runs["compare"]
    for name, step in (("histograms_init", 0), ("histograms_end", EPOCHS)):
        grid = report.data[name]
        assert grid["schemes"] == list(SCHEMES) and grid["layers"] == ["hidden", "out"]
        for scheme in SCHEMES:
            events = read_events(folder / scheme / "seed-0")  # the lowest seed is drawn
            for layer in grid["layers"]:
                panel = grid["panels"][scheme][layer]
                rows = dict(events[f"activations/{layer}"])[step]
                assert panel["step"] == step
                np.testing.assert_array_equal(panel["left"], rows[:, 0])
                np.testing.assert_array_equal(panel["counts"], rows[:, 2])
                # One range per column, holding 99.9% of every row's values.
                low, high = grid["xlim"][layer]
                inside = (rows[:, 0] >= low) & (rows[:, 1] <= high)
                assert rows[inside, 2].sum() >= 0.999 * rows[:, 2].sum()
    # Zero init: every hidden activation is exactly 0, a single-value histogram.
    zeros = report.data["histograms_init"]["panels"]["zeros"]["hidden"]
    assert set(zeros["left"]) == set(zeros["right"]) == {0.0}
    assert report.data["histograms_end"]["training_steps"] == {"zeros": STEPS, "he": STEPS}


# --- the figures' own data, read back from their axes and compared with the event files --


def seed_values(folder, scheme, tag, steps=None):
    """`[seeds, steps]` of a scalar tag in every seed's event files (at `steps`, or all)."""
    rows = []
    for seed in range(SEEDS):
        series = dict(read_events(folder / scheme / f"seed-{seed}")[tag])
        rows.append([float(series[step]) for step in (steps or sorted(series))])
    return np.array(rows)


def scheme_lines(ax, scheme, style):
    return [line for line in ax.get_lines() if line.get_gid() == scheme
            and line.get_linestyle() == style]


def band_ys(ax, scheme):
    """The y-values of the scheme's min–max band (its polygon's vertices), sorted."""
    [band] = [c for c in ax.collections if c.get_gid() == scheme]
    return np.unique(np.round(np.concatenate([p.vertices[:, 1] for p in band.get_paths()]), 9))


def assert_panel_plots(ax, scheme, rows):
    """The panel's stairs are the logged counts as shares on the logged edges; a panel
    too narrow to show bars has one spike at the middle of the logged range instead."""
    [patch] = [p for p in ax.patches if p.get_gid() == scheme]
    low, high = rows[0, 0], rows[-1, 1]
    if isinstance(patch, StepPatch):
        shares, edges, _ = patch.get_data()
        np.testing.assert_allclose(shares, rows[:, 2] / rows[:, 2].sum(), rtol=1e-12)
        np.testing.assert_allclose(edges, np.append(rows[:, 0], high), rtol=1e-12)
    else:
        assert high - low < 0.03 * np.diff(ax.get_xlim())[0]
        assert patch.get_x() + patch.get_width() / 2 == pytest.approx((low + high) / 2, abs=1e-12)
    return type(patch).__name__


def test_cost_curve_axes_plot_the_event_files_mean_and_band(runs):
    folder, figure = runs["compare"][0], runs["drawn"]["compare"]["cost_curves"]
    axes = figure.axes[:2]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    steps = [STEPS // EPOCHS * epoch for epoch in range(1, EPOCHS + 1)]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for style, tag in (("-", metric), ("--", f"val_{metric}")):
            for scheme in SCHEMES:
                values = seed_values(folder, scheme, tag)
                [line] = scheme_lines(ax, scheme, style)
                np.testing.assert_array_equal(line.get_xdata(), steps)
                np.testing.assert_allclose(line.get_ydata(), values.mean(0), rtol=1e-6)
        for scheme in SCHEMES:  # the bands of training and validation: min and max over seeds
            values = np.concatenate([seed_values(folder, scheme, tag)
                                     for tag in (metric, f"val_{metric}")], 1)
            bands = [c for c in ax.collections if c.get_gid() == scheme]
            assert len(bands) == 2
            ys = np.concatenate([p.vertices[:, 1] for c in bands for p in c.get_paths()])
            expected = np.concatenate([values.min(0), values.max(0)])
            np.testing.assert_allclose(np.unique(np.round(ys, 6)),
                                       np.unique(np.round(expected, 6)), rtol=1e-6)


def test_histogram_axes_plot_the_logged_histograms_of_the_lowest_seed(runs):
    folder = runs["compare"][0]
    layers, kinds = ["hidden", "out"], set()
    for name, step in (("histograms_init", 0), ("histograms_end", EPOCHS)):
        axes = runs["drawn"]["compare"][name].axes
        assert len(axes) == len(SCHEMES) * len(layers)
        for row, scheme in enumerate(SCHEMES):
            events = read_events(folder / scheme / "seed-0")
            for column, layer in enumerate(layers):
                ax = axes[row * len(layers) + column]
                rows = dict(events[f"activations/{layer}"])[step]
                dead = float(dict(events[f"activation_dead_units/{layer}"])[step])
                notes = " ".join(text.get_text() for text in ax.texts)
                assert (f"dead: {dead:.0%}" in notes) == (dead >= 0.01), (name, scheme, layer)
                kinds.add(assert_panel_plots(ax, scheme, rows))
                if rows[0, 0] == rows[-1, 1]:
                    assert f"all = {rows[0, 0]:.3g}" in notes
    assert kinds == {"StepPatch", "Rectangle"}  # both ways of drawing a panel were checked
    # Zero init: the hidden panel at step 0 is the single-value spike at 0, all units dead.
    zeros_hidden = runs["drawn"]["compare"]["histograms_init"].axes[0]
    assert "dead: 100%" in " ".join(text.get_text() for text in zeros_hidden.texts)


def test_signal_by_depth_axes_plot_the_event_files_values(runs):
    folder, figure = runs["compare"][0], runs["drawn"]["compare"]["signal_by_depth"]
    layers = ["hidden", "out"]
    index = np.arange(1, len(layers) + 1)
    grid = [(quantity, moment, step) for quantity in ("activation_std", "gradient_norm")
            for moment, step in (("init", 0), ("end", EPOCHS))]
    axes, checked_bands = figure.axes[:len(grid)], []
    for ax, (quantity, moment, step) in zip(axes, grid):
        for scheme in SCHEMES:
            values = np.array([[float(dict(read_events(folder / scheme / f"seed-{s}")[
                f"{quantity}/{layer}"])[step]) for layer in layers] for s in range(SEEDS)])
            mean = values.mean(0)
            [line] = scheme_lines(ax, scheme, "-")
            np.testing.assert_array_equal(line.get_xdata(), index)
            # Log scale: a positive mean is drawn as it is, an exact 0 as a gap in the line
            # and a hollow marker on the floor.
            np.testing.assert_allclose(line.get_ydata(), np.where(mean > 0, mean, np.nan), rtol=1e-6)
            zeros = scheme_lines(ax, scheme, "None")
            expected_zeros = [list(index[mean == 0])] if (mean == 0).any() else []
            assert [list(z.get_xdata()) for z in zeros] == expected_zeros
            if (values > 0).all():  # the min–max band over seeds (where the log scale has one)
                np.testing.assert_allclose(band_ys(ax, scheme), np.unique(np.round(
                    np.concatenate([values.min(0), values.max(0)]), 9)), rtol=1e-6)
                checked_bands.append((quantity, moment, scheme))
    # The hidden layer of zero init has a std of exactly 0 at step 0: the floor marker exists.
    assert scheme_lines(axes[0], "zeros", "None")
    assert ("activation_std", "end", "he") in checked_bands


def test_probe_axes_plot_the_logged_histograms_and_predictions(runs):
    folder, drawn = runs["probe"][0], runs["drawn"]["probe"]
    layers = ["layer_1", "layer_2", "layer_3"]
    [ax] = drawn["signal_by_depth"].axes
    for row, scheme in enumerate(PROBE_SCHEMES):
        events = read_events(folder / scheme / "seed-0")
        predicted = [float(dict(events[f"predicted_std/{layer}"])[0]) for layer in layers]
        [dashed] = scheme_lines(ax, scheme, "--")
        np.testing.assert_allclose(dashed.get_ydata(), predicted, rtol=1e-6)
        for column, layer in enumerate(layers):
            rows = dict(events[f"activations/{layer}"])[0]
            assert_panel_plots(drawn["histograms_init"].axes[row * len(layers) + column], scheme, rows)


def test_each_scheme_has_one_colour_in_every_figure_and_report(runs):
    colors = {}
    for kind in ("compare", "probe"):
        report = runs[kind][1]
        for name in report.figures:
            drawn = report.data[name]["artist_colors"]
            assert drawn, name
            for scheme, used in drawn.items():
                assert used == [scheme_color(scheme).lower()], (kind, name, scheme, used)
                colors.setdefault(scheme, set()).update(used)
        assert report.colors == {s: scheme_color(s) for s in report.colors}
    assert all(len(used) == 1 for used in colors.values())
    article = [scheme_color(s) for s in ("zeros", "random", "xavier", "he")]
    assert len(set(article)) == 4
    # Okabe-Ito, the colour-blind-safe palette
    okabe_ito = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
                 "#CC79A7"}
    assert set(article) <= okabe_ito and scheme_color("someone-else") in okabe_ito


# --- TensorBoard --------------------------------------------------------------------


def test_figures_are_in_the_images_dashboard_of_the_root_run(runs):
    for kind in ("compare", "probe"):
        folder, report = runs[kind]
        events = read_events(folder)
        for name, path in report.figures.items():
            [(step, image)] = events[f"report/{name}"]
            with Image.open(path) as png:
                assert (step, int(image[0]), int(image[1])) == (0, *png.size)
        assert sum(tag.startswith("report/") for tag in events) == len(report.figures)
    assert "_hparams_/experiment" in read_events(runs["compare"][0])  # left as it was


def test_missing_and_unfinished_runs_are_stated_and_left_out(runs, tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(runs["compare"][0], folder)
    shutil.rmtree(folder / "he" / "seed-1")  # in results.json, folder gone
    shutil.copytree(folder / "zeros" / "seed-0", folder / "zeros" / "seed-7")  # no result yet
    report = make_report(folder, log_scale=True)
    assert report.missing == [
        "he/seed-1: in results.json, but its run folder is missing",
        "zeros/seed-7: still running or interrupted (a run folder without a result); left out"]
    text = (folder / "report.md").read_text()
    assert "## Missing" in text and "he/seed-1" in text and "zeros/seed-7" in text
    assert report.data["cost_curves"]["curves"]["loss"]["training"]["he"]["seeds"] == [1, 1]
    assert report.data["cost_curves"]["yscale"] == {"loss": "log", "accuracy": "linear"}
    # The copied report's images were replaced, not added to.
    assert len(list(folder.glob("events.out.tfevents.*.report"))) == 1
    assert len(read_events(folder)["report/cost_curves"]) == 1


# --- bad input ----------------------------------------------------------------------


def test_bad_input_is_one_clear_line(runs, tmp_path):
    logdir = runs["logdir"]
    (tmp_path / "file.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    running = tmp_path / "running"
    shutil.copytree(runs["compare"][0] / "he", running / "he")
    shutil.copy(runs["compare"][0] / "settings.json", running)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    cases = {
        tmp_path / "nowhere": "does not exist",
        tmp_path / "file.txt": "is not a folder",
        tmp_path / "empty": "is not an experiment folder: it has no results.json",
        logdir: f"is a log folder, not an experiment: pass one of its experiments, e.g. {logdir}",
        running: "has no finished run yet (no results.json): the experiment is still running",
        broken: "cannot read ",
    }
    for folder, message in cases.items():
        with pytest.raises(ValueError, match=re.escape(message)) as error:
            make_report(folder)
        assert "\n" not in str(error.value)


def test_cli_prints_the_path_and_exits_2_on_bad_input(runs, tmp_path, capsys):
    folder = runs["probe"][0]
    assert cli.main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report: {folder / 'report.md'} (2 figures")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-initcmp: error: ") and err.count("\n") == 1
    assert "does not exist" in err and "Traceback" not in err


# --- without TensorFlow -------------------------------------------------------------

# Runs the report in a fresh process where `import tensorflow` fails and every attempt
# is recorded (KERAS_BACKEND=jax, so Keras itself never asks for it): a JAX or PyTorch
# install without TensorFlow. Prints what the report read back, as JSON.
_WITHOUT_TF = r"""
import json, sys
attempts = []
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, NoTensorFlow())

from keras_initcmp.events.reader import read_events
from keras_initcmp.reports import report
from keras_initcmp.reports.write import png_size

result = report(sys.argv[1])
root = read_events(sys.argv[1])
images = {tag: [int(values[0][1][0]), int(values[0][1][1]), len(values)]
          for tag, values in root.items() if tag.startswith("report/")}
sizes = {name: list(png_size(open(path, "rb").read())) for name, path in result.figures.items()}
print(json.dumps({"data": result.data, "missing": result.missing,
                  "figures": sorted(result.figures),
                  "markdown": open(result.path).read(), "images": images, "sizes": sizes,
                  "attempts": attempts,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"
                                   and sys.modules[m] is not None)},
                 default=list))
"""

_LOSS = {("zeros", 0): [0.693, 0.693], ("he", 0): [0.5, 0.3], ("he", 1): [0.7, 0.1]}
_STD = {("zeros", 0): {0: [0.0, 0.0], 2: [0.0, 0.0]},  # per step: [dense, dense_1]
        ("he", 0): {0: [1.0, 0.5], 2: [1.5, 0.4]},
        ("he", 1): {0: [3.0, 0.7], 2: [2.5, 0.6]}}
_HE_ROWS = np.array([[-2, -1, 4], [-1, 0, 24], [0, 1, 28], [1, 2, 8]], float)


def _write_known_experiment(folder):
    """A compare folder written by `EventWriter` alone: 2 chunks of 3 steps, known values."""
    records = []
    for (scheme, seed), losses in _LOSS.items():
        writer = EventWriter(folder / scheme / f"seed-{seed}", filename_suffix=".v2")
        for epoch, loss in enumerate(losses, 1):
            if epoch == 2:
                writer.scalar("loss", 9.9, epoch)  # rewritten below: the last value counts
            writer.scalar("loss", loss, epoch)
            writer.scalar("accuracy", 1 - loss, epoch)
        for step, stds in _STD[scheme, seed].items():
            for layer, std in zip(("dense", "dense_1"), stds):
                rows = [[0.0, 0.0, 64.0]] if scheme == "zeros" else _HE_ROWS * (1 + step)
                writer.histogram(f"activations/{layer}", rows, step)
                writer.scalar(f"activation_std/{layer}", std, step)
                writer.scalar(f"activation_zero_fraction/{layer}", float(scheme == "zeros"), step)
                writer.scalar(f"gradient_norm/{layer}", 0.1 * (seed + 1), step)
        writer.close()
        records.append({"scheme": scheme, "seed": seed, "epochs": 2, "steps": 6,
                        "loss": losses[-1], "accuracy": 1 - losses[-1], "val_loss": None,
                        "val_accuracy": None, "diverged": False, "seconds": 1.0})
    (folder / "results.json").write_text(json.dumps(records))
    (folder / "settings.json").write_text(json.dumps(
        {"kind": "compare", "epochs": 2, "steps_per_epoch": 3, "batch_size": 8}))


def test_report_needs_no_tensorflow_and_reads_back_the_written_numbers(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs the jax backend installed")
    folder = tmp_path / "known"
    _write_known_experiment(folder)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    root = ROOT
    done = subprocess.run([sys.executable, "-c", _WITHOUT_TF, str(folder)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["attempts"] == [] and out["loaded"] == []
    assert out["missing"] == [] and out["figures"] == sorted(FIGURES)
    data = out["data"]

    he = data["cost_curves"]["curves"]["loss"]["training"]["he"]
    assert he["steps"] == [3, 6] and he["seeds"] == [2, 2]
    np.testing.assert_allclose(he["mean"], [0.6, 0.2], rtol=1e-6)
    np.testing.assert_allclose([he["min"], he["max"]], [[0.5, 0.1], [0.7, 0.3]], rtol=1e-6)
    zeros = data["cost_curves"]["curves"]["accuracy"]["training"]["zeros"]
    np.testing.assert_allclose(zeros["mean"], [0.307, 0.307], rtol=1e-6)

    depth = data["signal_by_depth"]["quantities"]
    assert data["signal_by_depth"]["layers"] == ["dense", "dense_1"]
    np.testing.assert_allclose(depth["activation_std"]["init"]["he"]["mean"], [2.0, 0.6],
                               rtol=1e-6)
    np.testing.assert_allclose(depth["activation_std"]["end"]["he"]["min"], [1.5, 0.4], rtol=1e-6)
    assert depth["activation_std"]["init"]["zeros"]["mean"] == [0.0, 0.0]
    np.testing.assert_allclose(depth["gradient_norm"]["end"]["he"]["max"], [0.2, 0.2], rtol=1e-6)

    for name, step in (("histograms_init", 0), ("histograms_end", 2)):
        panel = data[name]["panels"]["he"]["dense"]  # the lowest seed
        assert data[name]["seeds"] == {"zeros": 0, "he": 0} and panel["step"] == step
        assert panel["counts"] == (_HE_ROWS[:, 2] * (1 + step)).tolist()
        assert panel["std"] == {0: 1.0, 2: 1.5}[step]
    assert data["histograms_init"]["panels"]["zeros"]["dense"]["zero_fraction"] == 1.0
    assert data["histograms_end"]["training_steps"] == {"zeros": 6, "he": 6}

    markdown = out["markdown"]
    assert "| he | 2 | 6 | 0.2 ± 0.14 | 0.800 | – | – | 0/2 |" in markdown
    assert "| zeros | 1 | 6 | 0.693 | 0.307 | – | – | 0/1 |" in markdown
    assert "| he | 2 | 0.6 |" in markdown  # std at initialization, mean over the seeds
    for name in FIGURES:
        assert f"]({name}.png)" in markdown
        assert out["images"][f"report/{name}"] == [*out["sizes"][name], 1]
