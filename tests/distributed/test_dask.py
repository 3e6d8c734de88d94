"""A sweep's runs on a real Dask cluster: the same records and event values as in this
process, resume, a worker and the driver killed mid-sweep, a run that raises, a
scheduler that does not answer.

Every cluster is a `LocalCluster` of worker processes on 127.0.0.1 (HTTP ports
included), started and closed here; every wait is bounded.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
from distributed import Client, LocalCluster  # noqa: E402

from keras_initcmp import driver, experiments  # noqa: E402
from keras_initcmp.distributed import dask_cluster  # noqa: E402
from keras_initcmp.driver import sweep, workers  # noqa: E402
from cli_run import our_lines  # noqa: E402
from dask_tasks import FailsForHe  # noqa: E402
from events import read_events  # noqa: E402
from paths import ROOT  # noqa: E402

CIRCLES = experiments.get("circles")
TIMEOUT = 300
SHORT = {**CIRCLES.training, "steps": 20, "epochs": 2}
# Long enough (seconds per run) for a kill to land inside a run.
LONG = {**CIRCLES.training, "steps": 15000, "epochs": 3}
SCHEMES = ("zeros", "xavier", "he")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-initcmp")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
       "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def circles():
    return CIRCLES.build_model(), CIRCLES.load_data()


@pytest.fixture(scope="module")
def worker_tmp(tmp_path_factory):
    """The workers' temporary folder (`$TMPDIR`, inherited when they start)."""
    folder = tmp_path_factory.mktemp("worker-tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def cluster(worker_tmp):
    """Two worker processes, one run at a time each, every server on 127.0.0.1."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as local:
        yield local


@pytest.fixture(scope="module")
def reference(circles, tmp_path_factory):
    """The in-process sweep of `SCHEMES` with `LONG` settings."""
    model, data = circles
    return driver.compare(model, data, SCHEMES, experiment="circles",
                          logdir=tmp_path_factory.mktemp("reference"), **LONG)


def assert_same_records(records, expected):
    assert [(r["scheme"], r["seed"]) for r in records] == \
        [(r["scheme"], r["seed"]) for r in expected]
    for record, other in zip(records, expected):
        for key, value in record.items():
            if key == "seconds":
                continue
            if isinstance(value, float):  # float32 rounding: another process's kernels
                np.testing.assert_allclose(value, other[key], rtol=1e-5, err_msg=key)
            else:
                assert value == other[key], (key, record, other)


def listening(process_tree):
    return [(connection.laddr.ip, connection.laddr.port) for process in process_tree
            for connection in process.net_connections(kind="inet")
            if connection.status == "LISTEN"]


class Watched:
    """A progress stream that notes the listening sockets of this process and its
    children the first time it is written to (while the sweep's cluster is up)."""

    def __init__(self):
        self.lines, self.sockets = [], None

    def write(self, text):
        import psutil
        if self.sockets is None:
            me = psutil.Process()
            self.sockets = listening([me, *me.children(recursive=True)])
        self.lines.append(text)

    def flush(self):
        pass


def test_a_local_cluster_sweep_equals_the_in_process_sweep(circles, tmp_path, worker_tmp):
    model, data = circles
    expected = driver.compare(model, data, ("zeros", "he"), 2, experiment="circles",
                              logdir=tmp_path / "here", **SHORT)
    stream = Watched()
    records = driver.compare(model, data, ("zeros", "he"), 2, experiment="circles",
                             logdir=tmp_path / "dask", dask="local", jobs=2, progress=stream,
                             dask_resources="slot=1", **SHORT)  # each local worker has one
    assert_same_records(records, expected)
    for scheme, seed in [("zeros", 0), ("he", 1)]:
        here = read_events(tmp_path / "here" / "circles" / scheme / f"seed-{seed}")
        there = read_events(tmp_path / "dask" / "circles" / scheme / f"seed-{seed}")
        assert here.keys() == there.keys() and len(here) > 10
        for tag in here:
            assert [step for step, _ in here[tag]] == [step for step, _ in there[tag]], tag
            for (_, a), (_, b) in zip(here[tag], there[tag]):
                if a.dtype.kind == "f":
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=tag)
                else:  # HParams records, text
                    np.testing.assert_array_equal(a, b)
    # Each run's line names the worker that trained it; every server was on 127.0.0.1.
    lines = "".join(stream.lines).splitlines()
    assert len(lines) == 4 and all("[tcp://127.0.0.1:" in line for line in lines), lines
    assert stream.sockets and {ip for ip, _ in stream.sockets} == {"127.0.0.1"}, stream.sockets
    assert not os.listdir(worker_tmp)  # each worker removed its run folders


def test_a_second_sweep_on_a_cluster_resumes(circles, tmp_path, cluster):
    model, data = circles
    run = dict(experiment="circles", logdir=tmp_path, dask=cluster.scheduler_address, **SHORT)
    first = driver.compare(model, data, ("zeros", "he"), 1, **run)
    stream = Watched()
    both = driver.compare(model, data, ("zeros", "he"), 2, progress=stream, **run)
    lines = "".join(stream.lines).splitlines()
    assert "resuming, 2 of 4 runs already in results.json" in lines[0]
    assert sorted(line.split("  ")[0].strip() for line in lines[1:]) == \
        ["he seed 1", "zeros seed 1"]  # only the new runs went to the cluster
    assert [r for r in both if r["seed"] == 0] == first  # seconds too: not run again
    listeners = listening([__import__("psutil").Process()])
    assert {ip for ip, _ in listeners} <= {"127.0.0.1"}, listeners


def test_resources_no_worker_offers_are_refused_before_anything_is_written(circles, tmp_path,
                                                                          cluster):
    model, data = circles
    with pytest.raises(ValueError, match=r"Argument `dask_resources`: no worker of .* offers "
                                         r"\{'GPU': 1\.0\}.*--resources GPU=1"):
        driver.compare(model, data, ("he",), logdir=tmp_path, dask=cluster.scheduler_address,
                       dask_resources={"GPU": 1}, **SHORT)
    assert not os.listdir(tmp_path)


def test_a_worker_killed_mid_run_has_its_run_rescheduled(circles, tmp_path, cluster,
                                                         reference, worker_tmp):
    model, data = circles
    result = {}

    def sweep_in_background():
        try:
            result["records"] = driver.compare(model, data, SCHEMES, experiment="circles",
                                               logdir=tmp_path, dask=cluster.scheduler_address,
                                               **LONG)
        except BaseException as error:  # noqa: BLE001 (re-raised in the test's thread)
            result["error"] = error

    thread = threading.Thread(target=sweep_in_background)
    thread.start()
    with Client(cluster.scheduler_address, timeout=30, set_as_default=False) as client:
        deadline = time.monotonic() + TIMEOUT
        while True:  # he's run has written its first events in a worker's own folder
            assert thread.is_alive(), result
            assert time.monotonic() < deadline
            folders = [name for name in os.listdir(worker_tmp)
                       if name.startswith(f"{workers.RUN_PREFIX}he-seed-0-")
                       and os.listdir(worker_tmp / name)]
            if folders:
                break
            time.sleep(0.02)
        [address] = [worker for worker, keys in client.processing().items()
                     if any(str(key).startswith(f"{dask_cluster.KEY_PREFIX}he-seed-0-")
                            for key in keys)]
        pid = client.run(os.getpid, workers=[address])[address]
        os.kill(pid, signal.SIGKILL)
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    # The killed attempt's folder is left behind (no `finally` ran in it): cut mid-run.
    assert (worker_tmp / folders[0]).is_dir()
    assert_same_records(result["records"], reference)
    folder = tmp_path / "circles"
    assert json.loads((folder / "results.json").read_text()) == result["records"]
    assert sorted(os.listdir(folder / "he")) == ["seed-0"]


def test_a_driver_killed_mid_sweep_resumes_without_duplicates(tmp_path, cluster, reference):
    folder = tmp_path / "circles"
    command = [SCRIPT, "compare", "--experiment", "circles",
               "--steps", str(LONG["steps"]), "--epochs", str(LONG["epochs"]), "--schemes",
               ",".join(SCHEMES), "--quiet", "--logdir", str(tmp_path),
               "--dask", cluster.scheduler_address]
    killed = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV)
    deadline = time.monotonic() + TIMEOUT
    saved = []
    while not saved:  # one run finished, the others not yet
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline
        try:
            saved = json.loads((folder / "results.json").read_text())
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=TIMEOUT)
    assert killed.returncode == -signal.SIGKILL
    saved = json.loads((folder / "results.json").read_text())
    assert 1 <= len(saved) < len(SCHEMES)

    rerun = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert rerun.returncode == 0, rerun.stderr
    records = json.loads((folder / "results.json").read_text())
    assert_same_records(records, reference)  # every run once
    for record in saved:  # not trained again
        assert record in records
    for scheme in SCHEMES:
        assert sorted(os.listdir(folder / scheme)) == ["seed-0"]  # no hidden leftovers


def test_a_run_that_raises_reaches_the_user_and_the_others_keep_their_records(tmp_path,
                                                                              cluster):
    task = FailsForHe((6, 4, 3), "tanh", 64, 64, 64)
    with pytest.raises(RuntimeError, match="he seed 0 failed on purpose"):
        sweep.sweep(task, {"kind": "probe"}, "probe", tmp_path, ("zeros", "he", "xavier"), 1,
                    1, False, None, dask=cluster.scheduler_address)
    records = json.loads((tmp_path / "probe" / "results.json").read_text())
    assert sorted({r["scheme"] for r in records}) == ["xavier", "zeros"]
    assert not (tmp_path / "probe" / "he" / "seed-0").exists()  # abandoned, not half there


def test_a_scheduler_that_does_not_answer_is_one_line_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    start = time.monotonic()
    result = subprocess.run(
        [SCRIPT, "probe", "--sizes", "8,4", "--samples",
         "16", "--logdir", str(tmp_path / "logs"), "--dask", address],
        capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert time.monotonic() - start < dask_cluster.CONNECT_TIMEOUT + 60
    assert result.returncode == 2
    [line] = [line for line in our_lines(result.stderr) if not line.startswith("20")]
    assert line.startswith(f"keras-initcmp: error: --dask {address}: no Dask scheduler "
                           f"answered within {dask_cluster.CONNECT_TIMEOUT} s"), line
    assert not (tmp_path / "logs").exists()


def test_bad_dask_arguments_name_the_argument(circles, tmp_path, monkeypatch):
    model, data = circles
    monkeypatch.delenv(dask_cluster.ADDRESS_VARIABLE, raising=False)
    cases = [({"dask": 5}, "Argument `dask` must be 'local', a scheduler address"),
             ({"dask": True}, r"reads the scheduler address from \$DASK_SCHEDULER_ADDRESS"),
             ({"dask": "tcp://127.0.0.1:1", "jobs": 2}, "Argument `jobs` sizes the local"),
             ({"dask_resources": {"GPU": 1}}, "Argument `dask_resources` needs `dask`"),
             ({"dask": "local", "dask_resources": "GPU"}, "NAME=AMOUNT pairs"),
             ({"dask": "local", "dask_resources": {"GPU": 0}}, "positive finite number")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            driver.compare(model, data, ("he",), logdir=tmp_path, **{**SHORT, **kwargs})
    assert not os.listdir(tmp_path)
