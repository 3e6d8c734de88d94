"""End to end: what the driver writes is what a real TensorBoard serves and shows.

One small comparison (two compare experiments and a probe) is served by a real
`tensorboard` on 127.0.0.1; its JSON API must return exactly what the event files and
`results.json` hold, and headless Chromium must render every dashboard with the runs.
The server, chromedriver and Chromium run in sessions of their own and are ended by
id on teardown, failure or not; the teardown then checks that no process is left.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import tbharness
from paths import SUPPORT
from e2e_logs import (EPOCHS, FINAL_METRICS, LAYERS, PROBE_LAYERS, PROBE_ROWS, SAMPLES, SCHEMES,
                      SEEDS, make_logs)
from events import read_events
from keras_initcmp.events import layout

LOAD_TIMEOUT = 90  # seconds for TensorBoard to load everything (about 2 s when idle)


def _run_names(records):
    return {experiment: sorted({f"{experiment}/{r['scheme']}/seed-{r['seed']}" for r in rows})
            for experiment, rows in records.items()}


def _split(events):
    """Event-file tags by kind: `(scalars, histograms)`, each `{tag: [(step, value)]}`."""
    scalars, histograms = {}, {}
    for tag, points in events.items():
        kind = points[0][1]
        if kind.dtype.kind in "fiu" and kind.ndim == 0:
            scalars[tag] = [(step, float(array)) for step, array in points]
        elif kind.ndim == 2 and kind.shape[1] == 3:
            histograms[tag] = points
    return scalars, histograms


class Served:
    """The fixture's logdir, what its files hold, and the server that serves it."""

    def __init__(self, root, board, records):
        self.root, self.board, self.records = root, board, records
        self.runs_by_experiment = _run_names(records)
        self.runs = [run for runs in self.runs_by_experiment.values() for run in runs]
        self.scalars, self.histograms = {}, {}
        for run in self.runs:
            self.scalars[run], self.histograms[run] = _split(read_events(root / "logs" / run))

    def check_loaded(self):
        """Asserts that the server holds everything the files do (polled until it does)."""
        assert set(self.runs) <= set(self.board.runs())
        requests = [{"plugin": "scalars", "tag": tag}
                    for tag in {tag for run in self.runs for tag in self.scalars[run]}]
        requests += [{"plugin": "histograms", "tag": tag, "run": run}
                     for run in self.runs for tag in self.histograms[run]]
        served = {}
        for answer in self.board.time_series(requests):  # one call for all of it
            for run, series in answer["runToSeries"].items():
                served.setdefault(run, {})[answer["tag"]] = [point["step"] for point in series]
        for run in self.runs:
            expected = {tag: [step for step, _ in points] for tag, points in
                        (self.scalars[run] | self.histograms[run]).items()}
            assert served.get(run) == expected, f"{run} not (fully) loaded yet"
        sessions = {session["name"] for group in self.board.session_groups()
                    for session in group["sessions"]}
        assert {run for experiment in ("tiny", "tiny-b")
                for run in self.runs_by_experiment[experiment]} <= sessions
        assert self.board.get("/data/plugin/custom_scalars/layout").get("category")


def _logs_of(backend, logdir):
    """The experiments written on `backend`: here, or in a process without TensorFlow."""
    if backend == "tensorflow":
        return make_logs(logdir)
    script = os.path.join(SUPPORT, "e2e_logs.py")
    result = subprocess.run([sys.executable, script, str(logdir)], capture_output=True,
                            text=True, timeout=600, check=False,
                            env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["tensorflow", "jax"])
def served(tmp_path_factory, request):
    root = tmp_path_factory.mktemp(f"tensorboard-e2e-{request.param}")
    start = time.perf_counter()
    board = tbharness.TensorBoard(root / "logs", root)
    try:
        board.start(wait=False)  # starts (seconds) while the driver writes
        records = _logs_of(request.param, root / "logs")
        written = time.perf_counter() - start
        board.wait_ready()
        served = Served(root, board, records)
        tbharness.wait_until(served.check_loaded, LOAD_TIMEOUT, interval=0.5)
        print(f"\nTensorBoard e2e: logs written in {written:.1f} s, "
              f"all served at {time.perf_counter() - start:.1f} s")
        yield served
    finally:
        board.stop()
        left = tbharness.processes_mentioning(str(root))
        assert not left, f"processes left behind: {left}"


# --- the HTTP API -------------------------------------------------------------------


def test_every_scheme_and_seed_is_a_run(served):
    expected = {f"tiny/{scheme}/seed-{seed}" for scheme in SCHEMES for seed in range(SEEDS)}
    assert set(served.runs_by_experiment["tiny"]) == expected
    # Each experiment's root is a run too: its HParams config and Custom Scalars layout.
    assert set(served.board.runs()) == set(served.runs) | {"tiny", "tiny-b", "probe-tanh"}


@pytest.mark.parametrize("experiment, layers, rows, steps", [
    ("tiny", LAYERS, SAMPLES, list(range(EPOCHS + 1))),
    ("probe-tanh", PROBE_LAYERS, PROBE_ROWS, [0]),
])
def test_activation_histograms_are_served_as_written(served, experiment, layers, rows, steps):
    for run in served.runs_by_experiment[experiment]:
        tags = served.board.get("/data/plugin/histograms/tags")[run]
        assert set(tags) == set(served.histograms[run])
        assert {f"activations/{layer}" for layer in layers} <= set(tags)
        for tag, written in served.histograms[run].items():
            shown = served.board.histograms(run, tag)
            assert [step for step, _ in shown] == [step for step, _ in written], (run, tag)
            for (step, buckets), (_, array) in zip(shown, written):
                np.testing.assert_allclose(np.asarray(buckets), array, rtol=1e-6,
                                           err_msg=f"{run} {tag} step {step}")
        for layer, units in layers.items():
            shown = served.board.histograms(run, f"activations/{layer}")
            assert [step for step, _ in shown] == steps, (run, layer)
            for step, buckets in shown:
                # Every activation of the probe rows, each in one bucket.
                assert sum(count for _, _, count in buckets) == rows * units, (run, layer, step)


def test_scalars_are_served_as_written(served):
    for run in served.runs:
        written = served.scalars[run]
        shown_tags = served.board.get("/data/plugin/scalars/tags")[run]
        assert set(shown_tags) == set(written), run
        layers = PROBE_LAYERS if run.startswith("probe-") else LAYERS
        statistics = ("mean", "std", "zero_fraction", "saturation", "nonfinite")
        assert {f"activation_{stat}/{layer}" for stat in statistics for layer in layers} \
            <= set(shown_tags)
        if not run.startswith("probe-"):
            assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(shown_tags)
        for tag, points in written.items():
            shown = served.board.scalars(run, tag)
            assert [step for step, _ in shown] == [step for step, _ in points], (run, tag)
            assert [value for _, value in shown] == pytest.approx(
                [value for _, value in points], rel=1e-6, nan_ok=True), (run, tag)


def test_hparams_lists_every_run_with_initializer_and_final_metrics(served):
    experiment = served.board.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    assert {info["name"] for info in experiment["hparamInfos"]} == {"initializer", "seed"}
    assert {info["name"]["tag"] for info in experiment["metricInfos"]} \
        == {f"final/{name}" for name in FINAL_METRICS}
    metrics = [f"final/{name}" for name in FINAL_METRICS]
    sessions = {session["name"]: (group, session)
                for group in served.board.session_groups(metrics)
                for session in group["sessions"]}
    for name in ("tiny", "tiny-b"):
        for record in served.records[name]:
            run = f"{name}/{record['scheme']}/seed-{record['seed']}"
            assert run in sessions, f"{run} not in the HParams dashboard: {sorted(sessions)}"
            group, session = sessions[run]
            assert group["hparams"] == {"initializer": record["scheme"],
                                        "seed": float(record["seed"])}
            values = {value["name"]["tag"]: value["value"] for value in session["metricValues"]}
            assert values == pytest.approx(
                {f"final/{name}": record[name] for name in FINAL_METRICS}, rel=1e-6)


def test_hparams_session_group_per_run_across_experiments(served):
    groups = served.board.session_groups()
    assert [len(group["sessions"]) for group in groups] == [1] * len(groups)
    assert len(groups) == len(served.runs_by_experiment["tiny"]) \
        + len(served.runs_by_experiment["tiny-b"])


def test_custom_scalars_chart_every_layer_of_a_statistic(served):
    listing = served.board.get("/data/plugins_listing")
    assert listing["custom_scalars"]["enabled"]
    shown = served.board.get("/data/plugin/custom_scalars/layout")
    # Three experiments wrote layouts; TensorBoard merges them into one, no repeats.
    expected = layout.custom_scalars_layout(training=True)
    assert [(category["title"], [chart["title"] for chart in category["chart"]])
            for category in shown["category"]] \
        == [(category.title, [chart.title for chart in category.chart])
            for category in expected.category]
    charts = {chart["title"]: chart["multiline"]["tag"] for category in shown["category"]
              for chart in category["chart"]}
    for statistic in ("std", "mean", "zero_fraction", "saturation", "nonfinite"):
        [regex] = charts[f"activation_{statistic}, every layer"]
        for run in served.runs:
            layers = PROBE_LAYERS if run.startswith("probe-") else LAYERS
            reply = served.board.get("/data/plugin/custom_scalars/scalars", run=run, tag=regex)
            assert reply["regex_valid"]
            # One chart, every layer of the run in it, with the values the files hold.
            assert set(reply["tag_to_events"]) == {f"activation_{statistic}/{layer}"
                                                   for layer in layers}, (run, regex)
            for tag, points in reply["tag_to_events"].items():
                assert [value for _, _, value in points] == pytest.approx(
                    [value for _, value in served.scalars[run][tag]], rel=1e-6)
    for title, tags in (("loss", {"loss", "val_loss"}),
                        ("accuracy", {"accuracy", "val_accuracy"}),
                        ("gradient_norm, every layer", {f"gradient_norm/{n}" for n in LAYERS})):
        [regex] = charts[title]
        assert {tag for tag in served.scalars["tiny/he/seed-0"] if re.match(regex, tag)} == tags


# --- the dashboards in a browser ----------------------------------------------------


@pytest.fixture(scope="module")
def browser(served):
    if tbharness.find_chromium() is None:
        pytest.skip(f"Chromium and chromedriver are not installed: {tbharness.INSTALL_HINT}")
    with tbharness.Browser(served.root / "browser") as browser:
        yield browser


def _compare_runs(served):
    return served.runs_by_experiment["tiny"] + served.runs_by_experiment["tiny-b"]


# dashboard: (element it renders into, chart element, what must be on it). Histograms and
# Distributions show 12 cards per category page, tag by tag, run by run; Scalars opens
# only its first categories.
DASHBOARDS = {
    "histograms": ("tf-histogram-dashboard", "vz-histogram-timeseries",
                   lambda served: served.runs + ["activations/h1", "activations/h2"]),
    "distributions": ("tf-distribution-dashboard", "vz-distribution-chart",
                      lambda served: served.runs + ["activations/h1", "activations/h2"]),
    "scalars": ("tf-scalar-dashboard", "vz-line-chart2",
                lambda served: served.runs + ["loss", "activation_std", "gradient_norm"]),
    "timeseries": ("metrics-dashboard", "line-chart",
                   lambda served: served.runs + ["loss", "activation_std"]),
    "hparams": ("tf-hparams-dashboard", "tf-hparams-table-view",
                lambda served: [run.split("/", 1)[1] for run in _compare_runs(served)]
                + list(SCHEMES) + [f"final {name}" for name in FINAL_METRICS]),
    "custom_scalars": ("tf-custom-scalar-dashboard", "vz-line-chart2",
                       lambda served: served.runs + [
                           title for title, _ in layout.TRAINING_CHARTS + layout.ACTIVATION_CHARTS]),
}


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_dashboard_renders_the_runs(served, browser, dashboard):
    root, chart, needles = DASHBOARDS[dashboard]
    needles = needles(served)

    def rendered(page):
        missing = [needle for needle in needles if needle not in page["text"]]
        assert not missing, f"#{dashboard} does not show {missing}"
        # Charts exist and have drawn something (SVG paths: bars, lines, axes).
        assert page["tags"].get(chart, 0) >= 1, f"#{dashboard}: no <{chart}>"
        assert page["tags"].get("path", 0) >= 2 * page["tags"][chart]

    # A new query string forces a fresh page load, so nothing of the previous dashboard
    # is left; forceSVG draws the Time Series charts without WebGL (none headless).
    browser.open(f"{served.board.url}/?forceSVG=true&view={dashboard}#{dashboard}")
    browser.wait_for(rendered, root=root, timeout=45)
    png = browser.screenshot()
    _assert_nontrivial(png, dashboard)


def _assert_nontrivial(png, what):
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000, (what, len(png))
    pixels = tf.io.decode_png(png, channels=3).numpy()
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000, (what, pixels.shape)
    colors = np.unique(pixels.reshape(-1, 3) @ np.array([65536, 256, 1]))
    assert len(colors) > 100 and pixels.std() > 20, (what, len(colors), pixels.std())
