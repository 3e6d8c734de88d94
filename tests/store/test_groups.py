"""The store with runs grouped by several record fields: a coordinate check's
`<parametrization>/width-<w>/seed-<k>/`."""

import json
import os

import pytest

from keras_initcmp.store import Experiment

GROUP = ("parametrization", "width")


def _records(parametrization, width, seed, l1=1.0):
    return [{"parametrization": parametrization, "width": width, "seed": seed, "layer": layer,
             "step": step, "l1": l1, "scheme": "he"} for layer in ("a", "b") for step in (1, 2)]


def test_runs_are_folders_per_parametrization_and_width(tmp_path):
    with Experiment(tmp_path, "coord", rank=("sp", "mup"), group=GROUP) as experiment:
        experiment.open({"kind": "coord-check"})
        for parametrization, width in (("mup", 64), ("sp", 128), ("sp", 64)):
            staging = experiment.start_run((parametrization, width), 0)
            open(os.path.join(staging, "events.out.tfevents.x"), "w").close()
            experiment.finish_run((parametrization, width), 0, staging,
                                  _records(parametrization, width, 0))
        assert experiment.start_run(("sp", 64), 0) is None  # done: not started twice
        assert experiment.run_dir(("sp", 64), 0) == os.path.join(
            str(tmp_path), "coord", "sp", "width-64", "seed-0")
        assert experiment.trial_id(("mup", 64), 0) == "coord/mup/width-64/seed-0"
        assert experiment.runs() == [(("sp", 64), 0), (("sp", 128), 0), (("mup", 64), 0)]
        # A run's new records replace its old ones (every layer and step), others kept.
        staging = experiment.start_run(("sp", 64), 1)
        experiment.abandon_run(staging)
        records = experiment.add(_records("sp", 64, 0, l1=2.0))
    assert [(r["parametrization"], r["width"], r["l1"]) for r in records][:4] == [
        ("sp", 64, 2.0)] * 4
    assert len(records) == 12
    with open(tmp_path / "coord" / "results.csv") as file:
        assert file.readline().startswith("parametrization,width,seed,layer,step,l1,scheme")
    assert json.loads((tmp_path / "coord" / "results.json").read_text()) == records


def test_unfinished_runs_are_found_and_cleaned(tmp_path):
    writer = Experiment(tmp_path, "coord", group=GROUP)
    writer.open({"kind": "coord-check"})
    staging = writer.start_run(("sp", 32), 2)
    assert writer.unfinished_runs() == [(("sp", 32), 2)]
    writer._session[1].close()  # the writer dies: its session lock goes with it
    writer._session = None
    with Experiment(tmp_path, "coord", group=GROUP) as again:
        again.open({"kind": "coord-check"})
        assert not os.path.exists(staging) and again.unfinished_runs() == []


def test_bad_group_and_group_values(tmp_path):
    with pytest.raises(ValueError, match="Argument `group`"):
        Experiment(tmp_path, "coord", group="width")
    experiment = Experiment(tmp_path, "coord", group=GROUP)
    with pytest.raises(ValueError, match="Argument `scheme` must be a tuple"):
        experiment.run_dir("sp", 0)
    with pytest.raises(ValueError, match="parametrization"):
        experiment.run_dir(("../sp", 64), 0)
