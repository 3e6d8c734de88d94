"""Real `keras-initcmp compare` processes sharing one experiment, and one killed mid-run.

Each test starts the console script in subprocesses (as a user would, two terminals at
once), with tiny settings: circles, 20 steps in 2 epochs (the kill test: longer runs,
so that the kill lands inside one).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_initcmp import store
from keras_initcmp.events.reader import read_events

SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-initcmp")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TIMEOUT = 300


def compare(logdir, schemes, steps=20, epochs=2, seeds=1):
    return [SCRIPT, "compare", "--experiment", "circles", "--steps", str(steps), "--epochs",
            str(epochs), "--seeds", str(seeds), "--schemes", schemes, "--quiet",
            "--logdir", str(logdir)]


def start(command):
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)


def finish(process):
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def our_lines(stderr):
    from cli_run import our_lines as lines  # skips TensorFlow's C++ start-up lines
    return lines(stderr)


def without_seconds(records):
    return [{key: value for key, value in record.items() if key != "seconds"}
            for record in records]


def hidden_runs(folder):
    return [os.path.join(scheme, name) for scheme in os.listdir(folder)
            if os.path.isdir(folder / scheme) and not scheme.startswith(".")
            for name in os.listdir(folder / scheme) if name.startswith(".")]


def assert_each_step_once(run_dir):
    """No run folder mixes two attempts: every tag has each step once."""
    events = read_events(run_dir)
    assert events, run_dir
    for tag, logged in events.items():
        steps = [step for step, _ in logged]
        assert len(steps) == len(set(steps)), (run_dir, tag, steps)


def test_two_sweeps_with_disjoint_schemes_share_one_experiment(tmp_path):
    first, second = start(compare(tmp_path, "zeros,xavier")), start(compare(tmp_path, "he"))
    results = [finish(first), finish(second)]
    for status, out, err in results:
        assert status == 0, err
        assert not our_lines(err), err
    folder = tmp_path / "circles"
    records = json.loads((folder / "results.json").read_text())
    assert [(r["scheme"], r["seed"], r["steps"]) for r in records] == \
        [("zeros", 0, 20), ("xavier", 0, 20), ("he", 0, 20)]  # the registry's order
    csv_lines = (folder / "results.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(store.COMPARE_FIELDS) and len(csv_lines) == 4
    experiment = store.Experiment(tmp_path, "circles")
    assert experiment.runs() == [("he", 0), ("xavier", 0), ("zeros", 0)]  # by name: no rank
    assert not experiment.unfinished_runs() and not hidden_runs(folder)
    for scheme in ("zeros", "xavier", "he"):
        assert_each_step_once(folder / scheme / "seed-0")
    # One HParams config and one layout, each replaced under the lock.
    assert len(experiment.root_event_files(store.HPARAMS_SUFFIX)) == 1
    assert len(experiment.root_event_files(store.LAYOUT_SUFFIX)) == 1


def test_a_sweep_with_other_settings_stops_and_the_first_keeps_its_records(tmp_path):
    folder = tmp_path / "circles"
    first = start(compare(tmp_path, "zeros"))
    deadline = time.monotonic() + TIMEOUT  # the first has opened the experiment
    while not (folder / store.SETTINGS_JSON).exists() and first.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = start(compare(tmp_path, "he", steps=40))
    (status, _, err), (other, _, other_err) = finish(first), finish(second)
    assert status == 0, err
    # Whether the first is still running (a live sweep) or done (results): one line.
    assert other == 2, other_err
    [line] = our_lines(other_err)
    assert line.startswith(f"keras-initcmp: error: {folder} ")
    assert "other settings (different steps_per_epoch)" in line
    records = json.loads((folder / "results.json").read_text())
    assert [(r["scheme"], r["steps"]) for r in records] == [("zeros", 20)]
    assert not (folder / "he").exists()
    assert json.loads((folder / "settings.json").read_text())["steps_per_epoch"] == 10


def test_a_sweep_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path):
    settings = dict(steps=3000, epochs=3)
    reference = start(compare(tmp_path / "reference", "zeros,he", **settings))
    status, _, err = finish(reference)
    assert status == 0, err
    expected = json.loads((tmp_path / "reference" / "circles" / "results.json").read_text())

    logdir = tmp_path / "killed"
    folder = logdir / "circles"
    killed = start(compare(logdir, "zeros,he", **settings))
    deadline = time.monotonic() + TIMEOUT
    while True:  # zeros finished, he's events being written in its hidden folder
        assert killed.poll() is None, "finished before it could be killed mid-run"
        assert time.monotonic() < deadline
        staged = [name for name in os.listdir(folder / "he")] if (folder / "he").is_dir() else []
        if any(name.startswith(".") and os.listdir(folder / "he" / name) for name in staged):
            break
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=TIMEOUT)
    assert killed.returncode == -signal.SIGKILL
    saved = json.loads((folder / "results.json").read_text())
    assert [r["scheme"] for r in saved] == ["zeros"]
    assert hidden_runs(folder) and not (folder / "he" / "seed-0").exists()  # cut mid-run

    status, _, err = finish(start(compare(logdir, "zeros,he", **settings)))  # the same command
    assert status == 0, err
    records = json.loads((folder / "results.json").read_text())
    assert records[0] == saved[0]  # zeros was not trained again
    assert without_seconds(records) == without_seconds(expected)
    for record, reference_record in zip(records, expected):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert record[key] == pytest.approx(reference_record[key], abs=1e-7), key
    assert not hidden_runs(folder)  # the killed attempt's folder is gone
    for scheme in ("zeros", "he"):
        assert_each_step_once(folder / scheme / "seed-0")
        assert [step for step, _ in read_events(folder / scheme / "seed-0")["loss"]] == [1, 2, 3]
