"""Many runs on a Dask distributed cluster: `compare(..., dask=ADDRESS)`, `--dask ADDRESS`.

Each `(scheme, seed)` run is one Dask task, the driver's `run` function
(`keras_initcmp.driver.workers.run_in_worker`):
the worker trains into a temporary folder of its own and returns the run's records
and files to the driver, which writes them into the experiment (no shared filesystem).
The task (the model and the data) goes to the workers once, replicated on each, so a
worker that dies takes no run's input with it; Dask reschedules its run on another.

`dask` is a scheduler address (`tcp://host:8786`), `True` for
`$DASK_SCHEDULER_ADDRESS`, or `"local"`: a `LocalCluster` of `jobs` worker processes
for this sweep, every server of it (scheduler, workers, their HTTP ports) on
127.0.0.1. `resources` (`{"GPU": 1}`) are the Dask worker resources each run holds.

Dask is an optional extra (`pip install "keras-initcmp[dask]"`), imported only here.
"""

import contextlib
import logging
import math
import os
import secrets


__all__ = ["DaskPool", "SchedulerUnreachable", "check_address", "parse_resources",
           "CONNECT_TIMEOUT", "ADDRESS_VARIABLE", "KEY_PREFIX"]

CONNECT_TIMEOUT = 10
"""Seconds to wait for a scheduler to answer before giving up."""
ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
"""The environment variable `dask=True` (a bare `--dask`) reads the address from."""
KEY_PREFIX = "keras-initcmp-"
"""Starts every run's task key: `keras-initcmp-<scheme>-seed-<k>-<sweep token>`."""


class SchedulerUnreachable(ValueError):
    """No Dask scheduler answered at `address` within `CONNECT_TIMEOUT` seconds."""

    def __init__(self, address, reason):
        self.address, self.reason = address, reason
        super().__init__(f"Argument `dask`: no Dask scheduler answered at {address!r} within "
                         f"{CONNECT_TIMEOUT} s ({reason}). Received: dask={address!r}")


def check_address(dask, jobs):
    """`dask` resolved to `"local"` or a scheduler address (no connection yet).

    Raises:
        ValueError: not a string or `True`; `True` with `$DASK_SCHEDULER_ADDRESS`
            unset; `jobs` other than 1 with a remote scheduler (its workers are its own).
    """
    if dask is True:
        dask = os.environ.get(ADDRESS_VARIABLE, "")
        if not dask:
            raise ValueError(f"Argument `dask`: True reads the scheduler address from "
                             f"${ADDRESS_VARIABLE}, which is not set. Received: dask=True")
    if not isinstance(dask, str) or not dask.strip() or any(c.isspace() for c in dask):
        raise ValueError(f"Argument `dask` must be 'local', a scheduler address such as "
                         f"'tcp://host:8786', or True (${ADDRESS_VARIABLE}). Received: dask={dask!r}")
    if dask != "local" and jobs != 1:
        raise ValueError(f"Argument `jobs` sizes the local cluster (dask='local') only; a "
                         f"scheduler's workers are started with it (`dask worker`). "
                         f"Received: jobs={jobs!r} with dask={dask!r}")
    return dask


def parse_resources(resources):
    """`{"GPU": 1}` or `"GPU=1,MEM=2e9"` as a dict of positive numbers; `None` stays `None`."""
    if resources is None:
        return None
    if isinstance(resources, str):
        text = resources
        pairs = [item.partition("=") for item in text.split(",") if item.strip()]
        try:
            resources = {name.strip(): float(value) for name, sep, value in pairs if sep}
        except ValueError:
            resources = {}
        if not pairs or len(resources) != len(pairs):
            raise ValueError(f"Argument `dask_resources` must be NAME=AMOUNT pairs such as "
                             f"'GPU=1'. Received: dask_resources={text!r}")
    if not isinstance(resources, dict) or not resources or not all(
            isinstance(name, str) and name for name in resources):
        raise ValueError(f"Argument `dask_resources` must be a dict of resource names and "
                         f"amounts such as {{'GPU': 1}}. Received: dask_resources={resources!r}")
    for name, amount in resources.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) \
                or not math.isfinite(amount) or amount <= 0:
            raise ValueError(f"Argument `dask_resources[{name!r}]` must be a positive finite "
                             f"number. Received: dask_resources={resources!r}")
    return {name: float(amount) for name, amount in resources.items()}


class DaskPool:
    """A Dask client for one sweep (and its `LocalCluster` with `"local"`); a context
    manager: connects on entry, closes everything it started on exit.

    Args:
        address: `"local"` or a scheduler address (`check_address`).
        run: The function of a run in a worker, `run(key, task_bytes, threads,
            backend_name, scheme, seed)` (`driver.workers.run_in_worker`), importable
            on the workers.
        jobs: Worker processes of the local cluster.
        resources: Dask resources each run holds, or `None`.
    """

    where = True  # progress lines name the worker that trained the run

    def __init__(self, address, run, jobs=1, resources=None):
        self.address, self.run, self.jobs, self.resources = address, run, jobs, resources
        self.client = self.cluster = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError(f"Argument `dask` needs Dask distributed: pip install "
                             f"'keras-initcmp[dask]'. Received: dask={self.address!r}") from None
        with contextlib.ExitStack() as stack:
            if self.address == "local":
                # Every server on 127.0.0.1, its HTTP port included (an empty host
                # would mean every interface).
                self.cluster = stack.enter_context(LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address="127.0.0.1:0",
                    worker_dashboard_address="127.0.0.1:0", resources=self.resources,
                    silence_logs=logging.ERROR))
            try:
                self.client = stack.enter_context(Client(
                    self.cluster or self.address, timeout=CONNECT_TIMEOUT,
                    set_as_default=False))
            except (OSError, TimeoutError) as error:
                raise SchedulerUnreachable(self.address, _first_line(error)) from None
            self._check_resources()
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info):
        self._stack.close()
        self.client = self.cluster = None

    @contextlib.contextmanager
    def submitter(self, task_bytes, key, runs):
        """`submit(scheme, seed)`: a `concurrent.futures.Future` of the run's
        `(records, files, where)`; what is left running at exit is cancelled."""
        from keras_initcmp import backend
        threads = None  # a remote worker's threads are as it was started
        if self.cluster is not None:
            threads = max(1, (os.cpu_count() or 1) // self.jobs)
        data = self.client.scatter(task_bytes, broadcast=True, hash=False)
        executor = self.client.get_executor(pure=False, resources=self.resources)
        token = secrets.token_hex(4)
        try:
            yield lambda scheme, seed: executor.submit(
                self.run, key, data, threads, backend.name(), scheme, seed,
                key=f"{KEY_PREFIX}{scheme}-seed-{seed}-{token}")
        finally:
            executor.shutdown(wait=False)  # cancels what a failure left running
            self.client.cancel([data])

    def _check_resources(self):
        """Refuses resources no connected worker offers (the runs would wait forever);
        with no worker connected yet (an adaptive cluster), the runs wait for one."""
        if not self.resources:
            return
        workers = self.client.scheduler_info().get("workers", {})
        offered = [info.get("resources", {}) for info in workers.values()]
        if offered and not any(all(have.get(name, 0) >= amount
                                   for name, amount in self.resources.items())
                               for have in offered):
            raise ValueError(f"Argument `dask_resources`: no worker of {self.address} offers "
                             f"{self.resources} (they offer {offered}); start workers with "
                             f"`dask worker ... --resources "
                             f"{','.join(f'{n}={_plain(a)}' for n, a in self.resources.items())}`. "
                             f"Received: dask_resources={self.resources!r}")


def _plain(amount):
    return int(amount) if math.isclose(amount, round(amount)) else amount


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
