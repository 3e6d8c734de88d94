"""The experiment folder on disk: resume, settings, damage, concurrent sweeps, kills.

Fast and without TensorFlow: `keras_initcmp/store.py` is loaded as a module of a bare
package over the package's folder (the package's `__init__` imports Keras), here and
in the child processes.
"""

import csv
import fcntl
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from paths import ROOT

PACKAGE_DIR = os.path.join(ROOT,
                           "keras_initcmp")
# The store and the modules it imports (relatively), without the package's __init__.
BARE_PACKAGE = f"""
import importlib, sys, types
bare = types.ModuleType("keras_initcmp_store_under_test")
bare.__path__ = [{PACKAGE_DIR!r}]
sys.modules[bare.__name__] = bare
store = importlib.import_module("keras_initcmp_store_under_test.store")
"""


def _load_store():
    if "keras_initcmp" in sys.modules:  # the whole suite has imported the package anyway
        return importlib.import_module("keras_initcmp.store")
    scope = {}
    exec(BARE_PACKAGE, scope)
    return scope["store"]


store = _load_store()

SETTINGS = {"kind": "compare", "epochs": 2, "batch_size": 32, "model": "abc"}
RANK = ("zeros", "random", "xavier", "he")


def record(scheme, seed, **values):
    return {"scheme": scheme, "seed": seed, "loss": 0.5, "diverged": False, **values}


def keys(records):
    return [(r["scheme"], r["seed"]) + ((r["layer"],) if "layer" in r else ()) for r in records]


def csv_rows(folder):
    with open(os.path.join(folder, "results.csv"), newline="") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def assert_csv_matches_json(folder):
    with open(os.path.join(folder, "results.json")) as file:
        records = json.load(file)
    header, rows = csv_rows(folder)
    assert tuple(header) == store.fields_for(records)
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        assert row == {field: "" if rec.get(field) is None else str(rec[field])
                       for field in header}


def lock_is_held(folder):
    with open(os.path.join(folder, ".lock"), "a") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


# --- child processes ----------------------------------------------------------------

PRELUDE = BARE_PACKAGE + """
import json, os, sys, time
logdir, args = sys.argv[1], json.loads(sys.argv[2])
"""


class Child:
    """A Python process running `code` after PRELUDE; its stdout goes to a file we poll."""

    def __init__(self, tmp_path, code, logdir, **args):
        self.out = tmp_path / f"child-{random.getrandbits(32):08x}.out"
        with open(self.out, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", PRELUDE + textwrap.dedent(code), str(logdir),
                 json.dumps(args)], stdout=out, stderr=subprocess.STDOUT)

    def lines(self):
        return self.out.read_text().splitlines()

    def wait_for(self, prefix, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if line.startswith(prefix)]
            if found:
                return found[0]
            if self.process.poll() is not None:
                break
            time.sleep(0.005)
        self.kill()
        pytest.fail(f"child never printed {prefix!r}; it wrote:\n{self.out.read_text()}")

    def join(self, timeout=120):
        try:
            rc = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"child did not end; it wrote:\n{self.out.read_text()}")
        assert rc == 0, self.out.read_text()

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        return self.process.wait(30)


# --- layout and arguments -----------------------------------------------------------


def test_store_imports_neither_tensorflow_nor_keras(tmp_path):
    child = Child(tmp_path, """
        heavy = sorted(name for name in sys.modules
                       if name.split(".")[0] in ("tensorflow", "keras", "torch", "jax"))
        print("heavy", json.dumps(heavy), flush=True)
    """, tmp_path)
    child.join()
    assert json.loads(child.wait_for("heavy ").partition(" ")[2]) == []


def test_paths_follow_the_contract(tmp_path):
    experiment = store.Experiment(tmp_path, "circles")
    assert experiment.folder == os.path.join(str(tmp_path), "circles")
    assert experiment.run_dir("he", 3) == os.path.join(str(tmp_path), "circles", "he", "seed-3")
    assert experiment.trial_id("he", np.int64(3)) == "circles/he/seed-3"
    again = store.Experiment.from_folder(str(tmp_path / "circles") + os.sep)
    assert (again.logdir, again.name) == (str(tmp_path), "circles")
    assert store.PROBE_FIELDS[-1] == "predicted_std" and "layer" in store.PROBE_FIELDS
    assert store.COMPARE_FIELDS[:2] == ("scheme", "seed")


@pytest.mark.parametrize("name", ["a/b", "", ".hidden", None, "..", 3])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError) as error:
        store.Experiment(tmp_path, name)
    assert str(error.value) == ("Argument `experiment` must be a plain folder name. "
                                f"Received: experiment={name!r}")


def test_bad_scheme_seed_suffix_and_rank_are_refused_in_house_style(tmp_path):
    experiment = store.Experiment(tmp_path, "exp")
    with pytest.raises(ValueError, match=r"^Argument `scheme` must be a plain folder name\. "
                                         r"Received: scheme='\.\./he'$"):
        experiment.run_dir("../he", 0)
    for seed in (-1, True, 1.0, "0"):
        with pytest.raises(ValueError, match=r"^Argument `seed` must be a non-negative int\. "
                                             rf"Received: seed={seed!r}$"):
            experiment.run_dir("he", seed)
    with pytest.raises(ValueError, match=r"^Argument `suffix` must .* Received: suffix='report'$"):
        experiment.root_event_files("report")
    with pytest.raises(ValueError, match=r"^Argument `rank` must .* Received: rank='he'$"):
        store.Experiment(tmp_path, "exp", rank="he")
    with pytest.raises(ValueError, match=r"^Argument `settings` must be a dict"):
        experiment.open(["epochs", 2])


def test_writing_needs_an_open_sweep(tmp_path):
    experiment = store.Experiment(tmp_path, "exp")
    with pytest.raises(ValueError, match=r"is not open: call open\(settings\)"):
        experiment.add([record("he", 0)])
    assert experiment.records() == [] and experiment.runs() == []


# --- resume, settings, damage, overwrite --------------------------------------------


def test_a_reopened_experiment_resumes_with_its_records(tmp_path):
    with store.Experiment(tmp_path, "exp", rank=RANK) as first:
        assert first.open(SETTINGS) == []
        first.add([record("he", 0)])
        first.add([record("zeros", 0, loss=0.69)])
    again = store.Experiment(tmp_path, "exp", rank=RANK)
    previous = again.open(dict(SETTINGS))
    assert keys(previous) == [("zeros", 0), ("he", 0)]
    assert previous[0]["loss"] == 0.69
    assert json.loads((tmp_path / "exp" / "settings.json").read_text()) == SETTINGS
    again.close()


def test_other_settings_are_refused_naming_the_changed_keys_and_nothing_changes(tmp_path):
    with store.Experiment(tmp_path, "exp") as first:
        first.open(SETTINGS)
        first.add([record("he", 0)])
    folder = tmp_path / "exp"
    before = {name: (folder / name).read_bytes()
              for name in ("results.json", "results.csv", "settings.json")}
    changed = {**SETTINGS, "epochs": 5, "batch_size": None, "steps": 100}
    with pytest.raises(ValueError) as error:
        store.Experiment(tmp_path, "exp").open(changed)
    assert str(error.value) == (
        f"{folder} holds results from other settings (different batch_size, epochs, "
        "steps). Pass overwrite=True (--overwrite) to replace them, or choose another logdir.")
    assert {name: (folder / name).read_bytes() for name in before} == before


def test_settings_are_compared_as_they_read_back_from_disk(tmp_path):
    settings = {"kind": "probe", "sizes": (1000, 10), "dtype": np.dtype("float32")}
    with store.Experiment(tmp_path, "exp") as first:
        first.open(settings)
        first.add([{"scheme": "he", "seed": 0, "layer": "layer_1", "std": 1.0}])
    with store.Experiment(tmp_path, "exp") as again:  # a tuple and a dtype: no mismatch
        assert len(again.open(settings)) == 1


def test_an_experiment_without_results_takes_new_settings(tmp_path):
    with store.Experiment(tmp_path, "exp") as first:
        first.open(SETTINGS)  # interrupted before its first run finished
    with store.Experiment(tmp_path, "exp") as again:
        assert again.open({**SETTINGS, "epochs": 9}) == []
    assert json.loads((tmp_path / "exp" / "settings.json").read_text())["epochs"] == 9


@pytest.mark.parametrize("text, detail", [
    ("{truncated", r"\(Expecting property name"),
    ("[1, 2]", r"\(expected a JSON list of records with 'scheme' and 'seed'\)"),
    ('[{"scheme": "he", "seed": -1}]', r"\(expected a JSON list"),
])
def test_a_damaged_results_file_is_refused_and_kept(tmp_path, text, detail):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "results.json").write_text(text)
    (folder / "settings.json").write_text(json.dumps(SETTINGS))
    advice = r"Pass overwrite=True \(--overwrite\) to replace it"
    with pytest.raises(ValueError, match=rf"results\.json is not a results file {detail}.*{advice}"
                       ) as error:
        store.Experiment(tmp_path, "exp").open(SETTINGS)
    assert "\n" not in str(error.value)
    assert (folder / "results.json").read_text() == text
    with pytest.raises(ValueError, match=r"results\.json is not a results file"):
        store.Experiment(tmp_path, "exp").records()
    with store.Experiment(tmp_path, "exp") as experiment:
        assert experiment.open(SETTINGS, overwrite=True) == []
        assert keys(experiment.add([record("he", 0)])) == [("he", 0)]
    assert keys(json.loads((folder / "results.json").read_text())) == [("he", 0)]


def test_overwrite_removes_runs_and_results_and_keeps_everything_else(tmp_path):
    folder = tmp_path / "exp"
    with store.Experiment(tmp_path, "exp") as first:
        first.open(SETTINGS)
        for scheme in ("he", "zeros"):
            staging = first.start_run(scheme, 0)
            (tmp_path / staging / "events.out.tfevents.1.old").write_text("old run")
            first.finish_run(scheme, 0, staging, [record(scheme, 0)])
    (folder / "he" / "notes.txt").write_text("mine")  # not a run: kept, and so is he/
    (folder / "legacy" / "seed-4").mkdir(parents=True)  # a run no record names
    (folder / "other-tool").mkdir()
    (folder / "other-tool" / "data.txt").write_text("theirs")
    (folder / "events.out.tfevents.1.host.foreign").write_text("theirs")
    (folder / "empty").mkdir()
    with store.Experiment(tmp_path, "exp") as again:
        assert again.open({**SETTINGS, "epochs": 7}, overwrite=True) == []
        assert again.runs() == [] and again.records() == []
    assert sorted(os.listdir(folder)) == [".lock", ".sessions", "empty",
                                         "events.out.tfevents.1.host.foreign", "he",
                                         "other-tool", "settings.json"]
    assert os.listdir(folder / "he") == ["notes.txt"]
    assert (folder / "other-tool" / "data.txt").read_text() == "theirs"
    assert json.loads((folder / "settings.json").read_text())["epochs"] == 7


# --- records: merge, order, CSV -----------------------------------------------------


def test_records_are_merged_by_run_and_ordered_by_rank(tmp_path):
    with store.Experiment(tmp_path, "exp", rank=RANK) as experiment:
        experiment.open({"kind": "probe"})
        layers = ("layer_3", "layer_1", "layer_2")  # the network's order, not alphabetical
        runs = [(scheme, seed) for scheme in ("he", "custom", "zeros", "xavier", "apple")
                for seed in (2, 0, 1)]
        random.Random(0).shuffle(runs)
        for scheme, seed in runs:
            experiment.add([{"scheme": scheme, "seed": seed, "layer": layer, "std": 1.0}
                            for layer in layers])
        expected = [(scheme, seed, layer) for scheme in ("zeros", "xavier", "he", "apple", "custom")
                    for seed in (0, 1, 2) for layer in layers]
        assert keys(experiment.records()) == expected
        # A run added again replaces all of its records (here one layer fewer).
        merged = experiment.add([{"scheme": "he", "seed": 1, "layer": layer, "std": 2.0}
                                 for layer in layers[:2]])
        he_1 = [r for r in merged if (r["scheme"], r["seed"]) == ("he", 1)]
        assert [(r["layer"], r["std"]) for r in he_1] == [("layer_3", 2.0), ("layer_1", 2.0)]
        assert len(merged) == len(expected) - 1
        assert merged == experiment.records()
    assert_csv_matches_json(tmp_path / "exp")


def test_rank_may_be_a_function(tmp_path):
    with store.Experiment(tmp_path, "exp", rank=lambda scheme: -len(scheme)) as experiment:
        experiment.open(SETTINGS)
        for scheme in ("he", "xavier", "zeros", "random"):
            experiment.add([record(scheme, 1), record(scheme, 0)])
        assert keys(experiment.records()) == [("random", 0), ("random", 1), ("xavier", 0),
                                              ("xavier", 1), ("zeros", 0), ("zeros", 1),
                                              ("he", 0), ("he", 1)]


def test_csv_matches_json_for_every_kind_of_value(tmp_path):
    with store.Experiment(tmp_path, "exp") as experiment:
        experiment.open(SETTINGS)
        experiment.add([{"scheme": "he", "seed": np.int64(0), "epochs": 2, "loss": np.float32(0.25),
                         "accuracy": None, "diverged": np.bool_(False), "seconds": 1 / 3,
                         "note": 'a "quoted", comma'}])
        experiment.add([record("zeros", 0, loss=None, diverged=True)])
        [he] = [r for r in experiment.records() if r["scheme"] == "he"]
    assert he["seed"] == 0 and type(he["seed"]) is int and he["loss"] == 0.25
    assert he["diverged"] is False and he["seconds"] == 1 / 3
    header, rows = csv_rows(tmp_path / "exp")
    assert tuple(header) == store.COMPARE_FIELDS + ("note",)
    assert_csv_matches_json(tmp_path / "exp")
    assert rows[0]["note"] == 'a "quoted", comma' and float(rows[0]["seconds"]) == 1 / 3


def test_records_that_results_files_cannot_hold_are_refused(tmp_path):
    with store.Experiment(tmp_path, "exp") as experiment:
        experiment.open(SETTINGS)
        experiment.add([record("he", 0)])
        with pytest.raises(ValueError, match=r"^Argument `records` must hold finite numbers"):
            experiment.add([record("he", 1, loss=float("nan"))])
        with pytest.raises(ValueError, match=r"^Argument `records` must be flat records"):
            experiment.add([{"scheme": "he", "seed": 2, "loss": [1, 2]}])
        with pytest.raises(ValueError, match=r"^Argument `records` must be a list"):
            experiment.add(record("he", 3))
        with pytest.raises(ValueError, match=r"^Argument `records` must be of the experiment's "
                                             r"kind .* holds compare records"):
            experiment.add([{"scheme": "he", "seed": 4, "layer": "dense"}])
        assert keys(experiment.records()) == [("he", 0)]


# --- run folders --------------------------------------------------------------------


def test_a_run_is_written_aside_and_appears_whole_when_finished(tmp_path):
    with store.Experiment(tmp_path, "exp", rank=RANK) as experiment:
        experiment.open(SETTINGS)
        staging = experiment.start_run("he", 0)
        assert os.path.dirname(staging) == os.path.join(experiment.folder, "he")
        (tmp_path / staging / "train").mkdir()
        (tmp_path / staging / "train" / "events.out.tfevents.1.a").write_text("curves")
        assert experiment.runs() == [] and experiment.unfinished_runs() == [("he", 0)]
        merged = experiment.finish_run("he", 0, staging, [record("he", 0)])
        assert keys(merged) == [("he", 0)] and experiment.runs() == [("he", 0)]
        assert experiment.unfinished_runs() == []
        with open(os.path.join(experiment.run_dir("he", 0), "train",
                               "events.out.tfevents.1.a")) as file:
            assert file.read() == "curves"
        assert experiment.start_run("he", 0) is None  # finished: not started twice
        abandoned = experiment.start_run("zeros", 0)
        (tmp_path / abandoned / "events.out.tfevents.1.b").write_text("half")
    assert store.Experiment(tmp_path, "exp").unfinished_runs() == []  # close removed it
    assert store.Experiment(tmp_path, "exp").runs() == [("he", 0)]


def test_finishing_a_run_replaces_an_old_folder_as_a_whole(tmp_path):
    old = tmp_path / "exp" / "he" / "seed-0"  # an interrupted run of an in-place writer
    (old / "train").mkdir(parents=True)
    (old / "events.out.tfevents.1.old").write_text("old")
    (old / "train" / "events.out.tfevents.1.old").write_text("old")
    with store.Experiment(tmp_path, "exp") as experiment:
        experiment.open(SETTINGS)
        staging = experiment.start_run("he", 0)
        (tmp_path / staging / "events.out.tfevents.2.new").write_text("new")
        experiment.finish_run("he", 0, staging, [record("he", 0)])
    assert sorted(os.listdir(old)) == ["events.out.tfevents.2.new"]
    assert sorted(os.listdir(old.parent)) == ["seed-0"]
    with store.Experiment(tmp_path, "exp") as experiment:
        experiment.open(SETTINGS)
        with pytest.raises(ValueError, match=r"^Argument `staging` must be the folder"):
            experiment.finish_run("he", 1, str(old), [record("he", 1)])
        staging = experiment.start_run("he", 1)
        with pytest.raises(ValueError, match=r"^Argument `records` must be records of the run"):
            experiment.finish_run("he", 1, staging, [record("he", 2)])


def test_a_sweep_killed_during_a_run_leaves_no_run_folder_and_its_leftovers_go(tmp_path):
    child = Child(tmp_path, """
        experiment = store.Experiment(logdir, "exp")
        experiment.open(args["settings"])
        experiment.add([{"scheme": "xavier", "seed": 0}])
        staging = experiment.start_run("he", 0)
        with open(os.path.join(staging, "events.out.tfevents.1.half"), "w") as file:
            file.write("half a run")
        print("staging", staging, flush=True)
        time.sleep(600)
    """, tmp_path, settings=SETTINGS)
    staging = child.wait_for("staging ").partition(" ")[2]
    with store.Experiment(tmp_path, "exp") as other:  # a concurrent sweep, same settings
        assert keys(other.open(SETTINGS)) == [("xavier", 0)]
        assert other.unfinished_runs() == [("he", 0)]  # the live one's run is left alone
        assert other.start_run("he", 0) is None  # ... and not started twice
        assert os.listdir(staging) == ["events.out.tfevents.1.half"]
        with pytest.raises(ValueError, match=r"being written by another sweep right now"):
            store.Experiment(tmp_path, "exp").open(SETTINGS, overwrite=True)
    assert child.kill() == -signal.SIGKILL
    with store.Experiment(tmp_path, "exp") as after:
        assert keys(after.open(SETTINGS)) == [("xavier", 0)]
        assert after.unfinished_runs() == [] and after.runs() == []
        assert not os.path.lexists(staging)
        assert os.listdir(os.path.join(after.folder, ".sessions")) == [after._session[0]]
        staging = after.start_run("he", 0)
        assert staging is not None
        after.finish_run("he", 0, staging, [record("he", 0)])
        assert after.runs() == [("he", 0)] and os.listdir(after.run_dir("he", 0)) == []


# --- concurrent sweeps --------------------------------------------------------------

ADDER = """
    experiment = store.Experiment(logdir, "exp", rank=args["rank"])
    experiment.open(args["settings"])
    print("ready", flush=True)
    while not os.path.exists(args["go"]):
        time.sleep(0.001)
    for seed in range(args["runs"]):
        experiment.add([{"scheme": args["scheme"], "seed": seed, "loss": seed / 7,
                         "diverged": False}])
    experiment.close()
    print("done", flush=True)
"""


def test_two_processes_adding_into_one_experiment_keep_every_record(tmp_path):
    runs, go = 40, tmp_path / "go"
    children = [Child(tmp_path, ADDER, tmp_path, rank=RANK, settings=SETTINGS, go=str(go),
                      scheme=scheme, runs=runs) for scheme in ("he", "xavier")]
    for child in children:
        child.wait_for("ready")
    go.write_text("")
    for child in children:
        child.join()
    records = store.Experiment(tmp_path, "exp").records()
    assert keys(records) == [(scheme, seed) for scheme in ("xavier", "he") for seed in range(runs)]
    assert [r["loss"] for r in records[:3]] == [0, 1 / 7, 2 / 7]
    assert_csv_matches_json(tmp_path / "exp")
    assert not [name for name in os.listdir(tmp_path / "exp") if name.startswith(".tmp-")]


SWEEPER = """
    experiment = store.Experiment(logdir, "exp", rank=args["rank"])
    experiment.open(args["settings"])
    print("ready", flush=True)
    while not os.path.exists(args["go"]):
        time.sleep(0.001)
    mine = 0
    for scheme in args["schemes"]:
        for seed in range(args["seeds"]):
            staging = experiment.start_run(scheme, seed)
            if staging is None:
                continue
            with open(os.path.join(staging, "writer.txt"), "w") as file:
                file.write(args["me"])
            time.sleep(0.002)
            experiment.finish_run(scheme, seed, staging,
                                  [{"scheme": scheme, "seed": seed, "writer": args["me"]}])
            mine += 1
    experiment.close()
    print("runs", mine, flush=True)
"""


def test_two_sweeps_of_the_same_runs_share_them_out_and_stay_consistent(tmp_path):
    go, seeds, schemes = tmp_path / "go", 8, ["zeros", "xavier", "he"]
    children = [Child(tmp_path, SWEEPER, tmp_path, rank=RANK, settings=SETTINGS, go=str(go),
                      schemes=order, seeds=seeds, me=me)
                for me, order in (("a", schemes), ("b", schemes[::-1]))]
    for child in children:
        child.wait_for("ready")
    go.write_text("")
    for child in children:
        child.join()
    counts = [int(child.wait_for("runs ").split()[1]) for child in children]
    experiment = store.Experiment(tmp_path, "exp", rank=RANK)
    records = experiment.records()
    assert keys(records) == [(s, seed) for s in schemes for seed in range(seeds)]
    assert sum(counts) == len(records)  # every run trained once, by one of the two
    assert experiment.runs() == keys(records) and experiment.unfinished_runs() == []
    for rec in records:  # each folder holds the attempt its record describes
        run_dir = experiment.run_dir(rec["scheme"], rec["seed"])
        with open(os.path.join(run_dir, "writer.txt")) as file:
            assert file.read() == rec["writer"]
    assert_csv_matches_json(experiment.folder)


def test_a_concurrent_sweep_with_other_settings_is_refused_and_the_first_keeps_its_records(
        tmp_path):
    first = store.Experiment(tmp_path, "exp")
    first.open(SETTINGS)
    # No results yet, but the first sweep is live: its settings stand.
    with pytest.raises(ValueError) as error:
        store.Experiment(tmp_path, "exp").open({**SETTINGS, "epochs": 3})
    assert str(error.value) == (f"{first.folder} is being written by another sweep with other "
                                "settings (different epochs). Wait for it to finish, or choose "
                                "another logdir.")
    first.add([record("he", 0)])
    with pytest.raises(ValueError, match=r"holds results from other settings \(different epochs\)"):
        store.Experiment(tmp_path, "exp").open({**SETTINGS, "epochs": 3})
    assert keys(first.add([record("zeros", 0)])) == [("he", 0), ("zeros", 0)]
    first.close()
    assert json.loads((tmp_path / "exp" / "settings.json").read_text()) == SETTINGS
    assert keys(store.Experiment(tmp_path, "exp").records()) == [("he", 0), ("zeros", 0)]


def test_a_sweep_whose_settings_were_replaced_underneath_it_writes_nothing(tmp_path):
    first = store.Experiment(tmp_path, "exp")
    first.open(SETTINGS)
    first.add([record("he", 0)])
    staging = first.start_run("zeros", 0)
    (tmp_path / "exp" / "settings.json").write_text(json.dumps({**SETTINGS, "model": "xyz"}))
    with pytest.raises(ValueError, match=r"holds other settings now \(different model\)"):
        first.add([record("he", 1)])
    with pytest.raises(ValueError, match=r"holds other settings now"):
        first.finish_run("zeros", 0, staging, [record("zeros", 0)])
    assert not os.path.lexists(staging) and first.runs() == []
    assert keys(first.records()) == [("he", 0)]
    first.close()


# --- processes killed with SIGKILL --------------------------------------------------

STALLED = """
    experiment = store.Experiment(logdir, "exp")
    experiment.open(args["settings"])
    experiment.add([{"scheme": "he", "seed": 0}])
    replace = os.replace
    def stalled(source, target):
        if os.path.basename(target) == args["stall_on"]:
            print("stalled", flush=True)
            time.sleep(600)
        replace(source, target)
    os.replace = stalled
    experiment.add([{"scheme": "he", "seed": 1}])
"""


@pytest.mark.parametrize("stall_on, kept", [("results.json", [("he", 0)]),
                                            ("results.csv", [("he", 0), ("he", 1)])])
def test_a_process_killed_while_writing_under_the_lock_leaves_readable_results(
        tmp_path, stall_on, kept):
    child = Child(tmp_path, STALLED, tmp_path, settings=SETTINGS, stall_on=stall_on)
    child.wait_for("stalled")
    folder = tmp_path / "exp"
    assert lock_is_held(folder)  # killed in the middle of a locked write
    assert [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    assert child.kill() == -signal.SIGKILL
    assert not lock_is_held(folder)  # the kernel released it
    experiment = store.Experiment(tmp_path, "exp")
    assert keys(experiment.records()) == kept
    assert keys(experiment.open(SETTINGS)) == kept
    assert_csv_matches_json(folder)  # open rewrote a CSV the kill left behind
    assert not [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    assert keys(experiment.add([record("he", 2)])) == kept + [("he", 2)]
    experiment.close()


KEEP_ADDING = """
    experiment = store.Experiment(logdir, "exp")
    experiment.open(args["settings"])
    print("ready", flush=True)
    for seed in range(args["start"], args["start"] + 100000):
        experiment.add([{"scheme": "he", "seed": seed, "padding": "x" * 20000}])
        print("added", seed, flush=True)
"""


def test_processes_killed_at_random_moments_lose_no_finished_record(tmp_path):
    chance, start, folder = random.Random(1), 0, tmp_path / "exp"
    for _ in range(8):
        child = Child(tmp_path, KEEP_ADDING, tmp_path, settings=SETTINGS, start=start)
        child.wait_for("ready")
        time.sleep(chance.uniform(0.05, 0.3))
        child.kill()
        finished = [int(line.split()[1]) for line in child.lines() if line.startswith("added ")]
        seeds = [r["seed"] for r in store.Experiment(tmp_path, "exp").records()]
        assert set(finished) <= set(seeds)  # every add that returned is on disk ...
        assert seeds == sorted(set(seeds)) and set(seeds) <= set(range(start + len(finished) + 1))
        start = max(seeds, default=-1) + 1
    assert start > 6  # the children did write between the kills
    with store.Experiment(tmp_path, "exp") as experiment:
        assert [r["seed"] for r in experiment.open(SETTINGS)] == list(range(start))
    assert_csv_matches_json(folder)


# --- root event files ---------------------------------------------------------------


def test_replacing_a_root_event_file_keeps_one_and_leaves_the_others(tmp_path):
    experiment = store.Experiment(tmp_path, "exp")
    folder = tmp_path / "exp"
    folder.mkdir()
    for name in ("events.out.tfevents.1.host.custom-scalars",
                 "events.out.tfevents.2.host.custom-scalars",
                 "events.out.tfevents.3.host.hparams-config", "events.out.tfevents.4.host",
                 "notes.custom-scalars"):
        (folder / name).write_text("old")
    with experiment.replace_root_event_file(store.LAYOUT_SUFFIX) as root:
        assert root == experiment.folder and lock_is_held(folder)
        with open(os.path.join(root, "events.out.tfevents.9.host.custom-scalars"), "w") as file:
            file.write("new")
    assert experiment.root_event_files(store.LAYOUT_SUFFIX) == [
        os.path.join(experiment.folder, "events.out.tfevents.9.host.custom-scalars")]
    assert (folder / "events.out.tfevents.9.host.custom-scalars").read_text() == "new"
    assert sorted(name for name in os.listdir(folder) if not name.startswith(".")) == [
        "events.out.tfevents.3.host.hparams-config", "events.out.tfevents.4.host",
        "events.out.tfevents.9.host.custom-scalars", "notes.custom-scalars"]
    assert not lock_is_held(folder)


def test_a_failed_replacement_keeps_the_old_root_event_file(tmp_path):
    experiment = store.Experiment(tmp_path, "exp")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "events.out.tfevents.1.host.report").write_text("old")
    with pytest.raises(RuntimeError, match="drawing failed"):
        with experiment.replace_root_event_file(store.REPORT_SUFFIX) as root:
            with open(os.path.join(root, "events.out.tfevents.2.host.report"), "w") as file:
                file.write("half")
            raise RuntimeError("drawing failed")
    [path] = experiment.root_event_files(store.REPORT_SUFFIX)
    with open(path) as file:
        assert file.read() == "old"


def test_results_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    with store.Experiment(tmp_path, "exp") as experiment:
        experiment.open(SETTINGS)
        experiment.add([record("he", 0)])
    for name in ("results.json", "results.csv", "settings.json"):
        assert os.stat(tmp_path / "exp" / name).st_mode & 0o777 == 0o666 & ~umask
