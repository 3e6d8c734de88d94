"""The coordinate check: SP grows with width, μP stays flat (slopes against the seed-to-seed
noise), the runs on disk and in TensorBoard, resume, and bad input."""

import json
import math
import os

import numpy as np
import pytest

import keras_initcmp
from keras_initcmp.experiments.width import digits_batch, width_mlp
from keras_initcmp.reports import slopes as slope_module
from events import read_events  # tests/support

WIDTHS = (32, 128, 512)
SEEDS = 3


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("coord")
    records = keras_initcmp.coord_check(
        width_mlp, WIDTHS, digits_batch(), parametrization=["sp", "mup"], steps=3,
        seeds=SEEDS, learning_rate=0.01, experiment="mlp", logdir=logdir)
    return logdir, records


def test_sp_grows_and_mup_stays_flat_beyond_the_seed_noise(check):
    _, records = check
    fits = slope_module.slopes(records)
    for layer in ("hidden_3", "readout"):
        for step in (2, 3):
            sp, mu = fits[("sp", layer, step)], fits[("mup", layer, step)]
            assert sp.seeds == mu.seeds == SEEDS and sp.widths == len(WIDTHS)
            # Noise from the seeds: three standard errors of each slope over seeds.
            assert sp.slope > 3 * sp.stderr and sp.verdict == "grows with width", (layer, step, sp)
            assert sp.slope - mu.slope > 3 * math.hypot(sp.stderr, mu.stderr), (layer, step)
    for layer in ("hidden_1", "hidden_2", "hidden_3"):
        for step in (1, 2, 3):
            mu = fits[("mup", layer, step)]
            assert mu.verdict == "flat", (layer, step, mu)
    # At initialization SP is flat too (the scheme's 1/fan_in): the check's own control.
    assert all(fits[("sp", layer, 1)].verdict == "flat"
               for layer in ("hidden_1", "hidden_2", "hidden_3"))


def test_slope_is_least_squares_of_logs():
    records = [{"parametrization": "sp", "layer": "a", "step": 1, "seed": seed, "width": w,
                "l1": (w ** 0.5) * (1 + 0.01 * seed)} for w in (8, 16, 64) for seed in (0, 1)]
    fit = slope_module.slopes(records)[("sp", "a", 1)]
    assert fit.slope == pytest.approx(0.5) and fit.verdict == "grows with width"
    assert fit.stderr == pytest.approx(0.0, abs=1e-9)
    assert slope_module.verdict(0.1, 0.01) == "flat"
    assert slope_module.verdict(0.3, 0.2) == "flat"  # above FLAT but within 3 SE
    assert slope_module.verdict(-0.5, 0.01) == "shrinks with width"


def test_runs_records_and_event_files(check):
    logdir, records = check
    folder = os.path.join(logdir, "mlp")
    layers = ["hidden_1", "hidden_2", "hidden_3", "readout"]
    assert len(records) == 2 * len(WIDTHS) * SEEDS * len(layers) * 3
    with open(os.path.join(folder, "results.json")) as file:
        assert json.load(file) == records
    for key in ("parametrization", "width", "seed", "layer", "step", "l1", "mean", "std",
                "zero_fraction", "saturation", "nonfinite", "dead_units"):
        assert key in records[0]
    for parametrization in ("sp", "mup"):
        for width in WIDTHS:
            run = os.path.join(folder, parametrization, f"width-{width}", "seed-1")
            events = read_events(run)
            for layer in layers:
                logged = events[f"coord_l1/{layer}"]
                assert [step for step, _ in logged] == [1, 2, 3]
                from_records = [r["l1"] for r in records if (r["parametrization"], r["width"],
                                r["seed"], r["layer"]) == (parametrization, width, 1, layer)]
                np.testing.assert_allclose([float(value) for _, value in logged],
                                           from_records, rtol=1e-6)
    # μP equals SP at the base width: the same draws and the same updates.
    base = [(r["layer"], r["step"], r["l1"]) for r in records if r["width"] == WIDTHS[0]]
    half = len(base) // 2
    np.testing.assert_allclose([v for *_, v in base[:half]], [v for *_, v in base[half:]],
                               rtol=1e-5)
    # l1 by hand from the recorded statistics' own layer: a ReLU's mean |x| is its mean.
    relu = [r for r in records if r["layer"] == "hidden_1"]
    np.testing.assert_allclose([r["l1"] for r in relu], [r["mean"] for r in relu], rtol=1e-5)
    # The figure, its table, and the figure in TensorBoard (the root run).
    assert os.path.getsize(os.path.join(folder, "coord_check.png")) > 10_000
    with open(os.path.join(folder, "coord_check.md")) as file:
        assert "grows" in file.read()
    root = read_events(folder)
    assert "report/coord_check" in root
    # Custom Scalars: one chart per layer with every run's coord_l1 (the layout, read back).
    from tensorboard.plugins.custom_scalar import layout_pb2
    layout = layout_pb2.Layout.FromString(root["custom_scalars__config__"][0][1].item())
    assert [chart.multiline.tag[0] for chart in layout.category[0].chart] == [
        f"^coord_l1/{layer}$" for layer in layers]


def test_resume_runs_nothing_again(check):
    logdir, records = check
    folder = os.path.join(logdir, "mlp")
    stamp = os.path.getmtime(os.path.join(folder, "sp", "width-32", "seed-0"))
    again = keras_initcmp.coord_check(
        width_mlp, WIDTHS, digits_batch(), parametrization=["sp", "mup"], steps=3,
        seeds=SEEDS, learning_rate=0.01, experiment="mlp", logdir=logdir, report=False)
    assert again == records
    assert os.path.getmtime(os.path.join(folder, "sp", "width-32", "seed-0")) == stamp
    with pytest.raises(ValueError, match="learning_rate"):  # other settings: not mixed in
        keras_initcmp.coord_check(width_mlp, WIDTHS, digits_batch(), steps=3, seeds=SEEDS,
                                  learning_rate=0.02, experiment="mlp", logdir=logdir)


@pytest.mark.parametrize("kwargs, argument", [
    ({"widths": (64,)}, "widths"),
    ({"build": "no-such"}, "build"),
    ({"widths": (64, "a")}, "widths"),
    ({"parametrization": "ntk"}, "parametrization"),
    ({"scheme": "random"}, "scheme"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"steps": 0}, "steps"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"data": (np.zeros((3, 64)), np.zeros(2))}, "data"),
])
def test_bad_input_names_the_argument(kwargs, argument, tmp_path):
    arguments = {"build": width_mlp, "widths": (16, 32), "data": digits_batch(),
                 "logdir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        keras_initcmp.coord_check(**arguments)
    assert not os.listdir(tmp_path)  # nothing written


def test_report_redraws_a_coordinate_check(check):
    logdir, records = check
    folder = os.path.join(logdir, "mlp")
    os.remove(os.path.join(folder, "coord_check.png"))
    result = keras_initcmp.report(folder)
    assert result.kind == "coord-check" and os.path.isfile(result.figures["coord_check"])
    assert result.data["slopes"] == slope_module.slopes(records)


def test_workers_and_dask_give_the_records_of_one_process(tmp_path):
    # CoordTask travels to spawned workers by pickle, its build by reference.
    arguments = dict(widths=(16, 32), data=digits_batch(), parametrization=["sp", "mup"],
                     steps=2, logdir=tmp_path, report=False)
    here = keras_initcmp.coord_check(width_mlp, experiment="here", **arguments)
    workers = keras_initcmp.coord_check(width_mlp, experiment="workers", jobs=2, **arguments)
    # A Dask cluster on 127.0.0.1 for this sweep, stopped at its end (the sweep's pool).
    cluster = keras_initcmp.coord_check(width_mlp, experiment="dask", jobs=2, dask="local",
                                        **arguments)
    for other in (workers, cluster):
        assert [(r["parametrization"], r["width"], r["layer"], r["step"]) for r in other] == [
            (r["parametrization"], r["width"], r["layer"], r["step"]) for r in here]
        np.testing.assert_allclose([r["l1"] for r in other], [r["l1"] for r in here], rtol=1e-4)
    events = read_events(os.path.join(tmp_path, "dask", "mup", "width-32", "seed-0"))
    assert [step for step, _ in events["coord_l1/readout"]] == [1, 2]  # files came back
