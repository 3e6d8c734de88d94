"""A sweep's runs on one shared model and compiled loop (`shared_runs`) against `fit` per run.

The shared path must change nothing but the time: the same records and the same
event values (curves, statistics, histograms, gradients) as separate `fit`s of
the same seeds, to float32 rounding (its training steps are XLA-compiled, `fit`'s
on TensorFlow are not); and where it does not apply, `fit` per run is taken.
"""

import math
import os

import numpy as np
import pytest

from keras_initcmp.driver import entry
from keras_initcmp import driver, experiments, store
from keras_initcmp.driver import shared_runs
from events import read_events

CIRCLES = experiments.get("circles")
SCHEMES = ("zeros", "xavier", "he")
SETTINGS = {**CIRCLES.training, "steps": 90, "epochs": 3}


@pytest.fixture(scope="module")
def circles():
    return CIRCLES.build_model(), CIRCLES.load_data()


@pytest.fixture
def shared_fits(monkeypatch):
    """Counts the runs trained on a shared model."""
    calls = []
    fit = shared_runs.SharedModel.fit

    def counted(self, *args, **kwargs):
        calls.append(self.net)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(shared_runs.SharedModel, "fit", counted)
    return calls


def sweep(circles, logdir, seeds=1, **settings):
    model, data = circles
    return driver.compare(model, data, SCHEMES, seeds=seeds, experiment="circles",
                          logdir=logdir, **{**SETTINGS, **settings})


def per_run_sweep(circles, logdir, monkeypatch, **settings):
    with monkeypatch.context() as patch:
        patch.setattr(shared_runs, "reason_not_shared", lambda task, net: "per-run, for the test")
        return sweep(circles, logdir, **settings)


def assert_same_events(shared_dir, per_run_dir):
    shared, per_run = read_events(shared_dir), read_events(per_run_dir)
    assert shared.keys() == per_run.keys()
    for tag in per_run:
        assert [step for step, _ in shared[tag]] == [step for step, _ in per_run[tag]], tag
        for (step, a), (_, b) in zip(shared[tag], per_run[tag]):
            if a.dtype.kind != "f":
                continue  # the HParams record: compared through the records
            # Histogram counts move by a value crossing an edge only at float32
            # rounding; there are none such in this setting, so rows compare whole.
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=f"{tag} @ {step}")


def test_shared_runs_give_the_records_and_events_of_separate_fits(circles, tmp_path, monkeypatch,
                                                                   shared_fits):
    shared = sweep(circles, tmp_path / "shared")
    assert len(shared_fits) == len(SCHEMES) and len(set(map(id, shared_fits))) == 1
    per_run = per_run_sweep(circles, tmp_path / "per-run", monkeypatch)
    assert len(shared_fits) == len(SCHEMES)  # the forced per-run sweep did not share
    for a, b in zip(shared, per_run):
        assert {k: a[k] for k in ("scheme", "seed", "epochs", "steps", "diverged")} \
            == {k: b[k] for k in ("scheme", "seed", "epochs", "steps", "diverged")}
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[metric] == pytest.approx(b[metric], rel=1e-4), (a["scheme"], metric)
    assert shared[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)  # zeros: never moves
    for scheme in SCHEMES:
        run = os.path.join("circles", scheme, "seed-0")
        assert_same_events(tmp_path / "shared" / run, tmp_path / "per-run" / run)


def test_each_run_starts_from_its_own_weights_and_a_fresh_optimizer(circles, tmp_path,
                                                                    shared_fits):
    """Adam's moments and step count, carried from one run into the next, would make the
    second seed's run differ from the same run in a sweep of its own."""
    adam = {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}}}
    both = sweep(circles, tmp_path / "both", seeds=2, **adam)
    alone = sweep(circles, tmp_path / "alone", seeds=1, **adam)
    for together, single in zip([r for r in both if r["seed"] == 0], alone):
        assert together["loss"] == pytest.approx(single["loss"], rel=1e-6)
    loss = {(r["scheme"], r["seed"]): r["loss"] for r in both}
    assert all(r["steps"] == SETTINGS["steps"] for r in both)
    for scheme in ("xavier", "he"):  # seed 1 trained from its own, other weights
        assert loss[scheme, 1] != pytest.approx(loss[scheme, 0], rel=1e-3), scheme


def test_a_diverging_run_stops_where_fit_stops_it(circles, tmp_path, monkeypatch, shared_fits):
    """TerminateOnNaN ends the run after the execution whose loss is NaN, as in `fit`."""
    huge = {"optimizer": {"class_name": "SGD", "config": {"learning_rate": 1e38}},
            "steps": 90, "epochs": 9}
    shared = sweep(circles, tmp_path / "shared", **huge)
    per_run = per_run_sweep(circles, tmp_path / "per-run", monkeypatch, **huge)
    assert shared_fits
    assert [(r["epochs"], r["steps"], r["diverged"]) for r in shared] \
        == [(r["epochs"], r["steps"], r["diverged"]) for r in per_run]
    assert any(r["diverged"] and r["epochs"] < 9 for r in shared)


def test_minibatches_fall_back_to_fit_per_run(circles, tmp_path, shared_fits):
    records = sweep(circles, tmp_path, batch_size=64)
    assert not shared_fits
    assert [r["steps"] for r in records] == [SETTINGS["steps"]] * len(SCHEMES)


def test_why_runs_are_not_shared(circles):
    model, data = circles
    full_batch = entry._train_task(model, data, **SETTINGS)
    assert shared_runs.reason_not_shared(full_batch, CIRCLES.build_model()) is None
    assert "clone" in shared_runs.reason_not_shared(full_batch, full_batch.model)
    minibatches = entry._train_task(model, data, **{**SETTINGS, "batch_size": 64})
    assert "minibatches" in shared_runs.reason_not_shared(minibatches, CIRCLES.build_model())
    full_batch.strategy = object()  # (only its presence matters)
    assert "strategy" in shared_runs.reason_not_shared(full_batch, CIRCLES.build_model())


def test_the_shared_model_resumes_into_the_store_like_any_run(circles, tmp_path, shared_fits):
    """A second sweep adds its runs to the first's results; each run folder is complete."""
    sweep(circles, tmp_path, seeds=1)
    records = sweep(circles, tmp_path, seeds=2)
    assert len(records) == 2 * len(SCHEMES)
    experiment = store.Experiment(tmp_path, "circles")
    for record in records:
        events = read_events(experiment.run_dir(record["scheme"], record["seed"]))
        assert [step for step, _ in events["loss"]] == [1, 2, 3]
