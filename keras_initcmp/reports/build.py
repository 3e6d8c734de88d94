"""`report`: the article's figures from a finished `compare` or `probe` (the public
`keras_initcmp.report`).

Reads an experiment folder `<logdir>/<experiment>/` (its `results.json`,
`settings.json` and the event files of every run `<scheme>/seed-<k>/`) and writes,
next to them, `report.md` with PNG figures:

- `cost_curves.png` (compare only): loss and metrics against training steps, one
  line per scheme, the mean over seeds with a min–max band; validation dashed.
- `histograms_init.png`, and `histograms_end.png` after training: activation
  histograms, rows = schemes, columns = layers, one x-range per column.
- `signal_by_depth.png`: activation std (log scale) against layer index per scheme,
  at initialization and at the end, with the mean-field prediction dashed where the
  runs have one (`predicted_std`); gradient norm by depth where it was logged.

Histogram panels and `report.md` give the share of exact zeros and, where the runs
logged `activation_dead_units/<layer>`, of dead units (0 for every probe sample).

The same figures go to TensorBoard's Images dashboard, tags `report/<figure>`, in an
event file of the experiment's root run (the folder itself). The library never
prints; what is missing goes into `Report.missing` and `report.md`, and input that
is not a (finished) experiment raises a one-line `ValueError`. Nothing imports
TensorFlow, and `draw` (matplotlib's figures and Agg canvas) loads only when a report
is drawn.

One module per step, each a function of the one before:

| module | job |
| --- | --- |
| `read` | the experiment folder → an `Experiment` (records, settings, every run's series) |
| `aggregate` | `Experiment` → the numbers each figure plots (`Report.data`) |
| `draw` | those numbers → matplotlib figures (headless, never pyplot) |
| `write` | figures → PNG files, `report.md`, TensorBoard images |
| `palette` | each scheme's colour and marker, the same in every figure |
"""

import dataclasses
import os

from keras_initcmp.reports.aggregate import figure_data
from keras_initcmp.reports.palette import scheme_color
from keras_initcmp.reports.read import load_experiment
from keras_initcmp.reports import write

__all__ = ["report", "Report", "FIGURES", "scheme_color"]

FIGURES = ("cost_curves", "histograms_init", "histograms_end", "signal_by_depth")
"""Figure names: `<name>.png` in the experiment folder, `report/<name>` in TensorBoard."""


@dataclasses.dataclass
class Report:
    """What `report` wrote and the data it plotted.

    Attributes:
        path: The `report.md` file.
        kind: `"compare"`, `"probe"` or `"coord-check"` (then `figures` holds
            `coord_check` and `data["slopes"]` the fits of `keras_initcmp.reports.slopes`).
        figures: `{name: png path}` for the figures made (see `FIGURES`).
        data: `{name: plotted data}` per figure, plus `"final"` (compare: final
            numbers per scheme) or `"std_table"` (probe: std, `predicted_std`, zero
            and dead-unit shares per scheme and layer), and `"dead_units"` where
            logged. `data["signal_by_depth"]["predicted"]` is `{scheme: [predicted
            std per layer]}` (empty without theory).
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
            or has no finished run yet, or the report cannot be written there.
    """
    from keras_initcmp.reports import draw  # matplotlib's figures: only when drawing

    folder = os.fspath(experiment_dir)
    coordinates = _coordinate_check_records(folder)
    if coordinates:  # a coordinate check has its own figure and table (keras_initcmp.width)
        from keras_initcmp.reports.width import FIGURE, write_figure
        from keras_initcmp.reports.slopes import slopes
        png = write_figure(folder, coordinates, dpi, tensorboard)
        return Report(os.path.join(folder, f"{FIGURE}.md"), "coord-check", {FIGURE: png},
                      {"slopes": slopes(coordinates)}, {}, [])
    experiment = load_experiment(folder)
    data, missing = figure_data(experiment)
    missing = experiment.missing + missing
    drawn = draw.draw_figures(data, FIGURES, log_scale)
    for name, figure in drawn.items():
        data[name]["artist_colors"] = draw.artist_colors(figure)
    figures = write.save_figures(folder, drawn, FIGURES, dpi)
    captions = {name: write.caption(name, data[name], log_scale) for name in figures}
    path = write.write_markdown(folder, experiment, figures, captions, data, missing)
    if tensorboard:
        write.log_images(folder, figures, captions)
    colors = {scheme: scheme_color(scheme) for scheme in experiment.schemes}
    return Report(path, experiment.kind, figures, data, colors, missing)


def _coordinate_check_records(folder):
    """The records of `folder`'s `results.json` if it is a coordinate check's, else `[]`."""
    from keras_initcmp.store import Experiment

    if not os.path.isfile(os.path.join(folder, "results.json")):
        return []
    try:
        records = Experiment.from_folder(folder).records()
    except ValueError:  # a damaged file: load_experiment says so in the report's words
        return []
    return records if records and "parametrization" in records[0] else []
