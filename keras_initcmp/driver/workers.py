"""A sweep's runs in other processes: the one protocol of `--jobs` and `--dask`.

A worker process trains a run into a temporary folder of its own, then returns the
run's records *and* the files it wrote (bytes), and removes the folder. The driver
process, the store's single writer, writes those files into the run's staging folder
and finishes the run as it finishes a run of its own. So no filesystem is shared
between the driver and its workers, and the store's guarantees (resume, concurrent
sweeps, a kill loses at most the runs in flight) are the same whichever engine ran the
run.

Two engines submit that one function: `LocalPool` (`--jobs N`, a process pool on this
machine, here) and `keras_initcmp.distributed.dask_cluster.DaskPool` (`--dask`, a Dask
distributed cluster). Each is a context manager `pool.submitter(task_bytes, key, runs)`
(`key = task_key(task_bytes)`) yielding `submit(scheme, seed) -> concurrent.futures.Future` of
`(records, files, where)`.
"""

import concurrent.futures
import contextlib
import hashlib
import multiprocessing
import os
import pickle
import shutil
import socket
import sys
import tempfile
import threading

__all__ = ["LocalPool", "run_in_worker", "task_key", "write_files", "RUN_PREFIX"]

RUN_PREFIX = "keras-initcmp-run-"
"""Starts the name of a worker's temporary run folder: `<prefix><scheme>-seed-<k>-<x>`."""

# One run at a time per process: Keras' seed and TensorFlow's op determinism are
# process-wide, so two runs in two threads of one worker would share them.
_RUN_LOCK = threading.Lock()
_TASK = {}  # {key: task}: the last task this process loaded (it holds the data)
_THREADS_SET = False


def task_key(task_bytes):
    """A short fingerprint of a pickled task: a worker loads each task once."""
    return hashlib.sha256(task_bytes).hexdigest()[:16]


def run_in_worker(key, task_bytes, threads, backend_name, scheme, seed):
    """Trains (or probes) `(scheme, seed)` in this worker process.

    Args:
        key: `task_key(task_bytes)`.
        task_bytes: The pickled task, or `None` where this process already loaded it
            (`LocalPool`'s initializer).
        threads: Op threads for this process (set before its first op), or `None`
            to leave them as the worker was started.
        backend_name: The driver's Keras backend; a worker on another one refuses.
        scheme, seed: The run.

    Returns:
        `(records, files, where)`: the task's records, `{relative path: bytes}` of
        every file the run wrote, and the worker (Dask address, else host name).
    """
    with _RUN_LOCK:
        task = _load(key, task_bytes, threads, backend_name)
        folder = tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{scheme}-seed-{seed}-")
        try:
            records, _ = task(scheme, seed, folder, None)
            files = _read_files(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return records, files, _where()


def write_files(folder, files):
    """Writes a worker's `files` (`{relative path: bytes}`) under `folder`."""
    root = os.path.realpath(folder)
    for relative, content in files.items():
        path = os.path.realpath(os.path.join(root, relative))
        if os.path.isabs(relative) or not path.startswith(root + os.sep):
            raise ValueError(f"A worker returned a file outside its run folder: {relative!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(content)


class LocalPool:
    """`--jobs N`: worker processes on this machine (spawned: fork after TensorFlow
    started is unsafe), the cores shared among them."""

    where = False  # progress lines name no host: it is this one

    def __init__(self, jobs):
        self.jobs = jobs

    @contextlib.contextmanager
    def submitter(self, task_bytes, key, runs):
        from keras_initcmp import backend
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        with concurrent.futures.ProcessPoolExecutor(
                min(self.jobs, runs), mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(key, task_bytes, threads)) as pool:
            try:
                yield lambda scheme, seed: pool.submit(run_in_worker, key, None, None,
                                                       backend.name(), scheme, seed)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def _start_worker(key, task_bytes, threads):
    # The task (a model) arrives as bytes, loaded after the thread limit: the limit
    # must precede TensorFlow's first op.
    _load(key, task_bytes, threads, None)


def _load(key, task_bytes, threads, backend_name):
    global _THREADS_SET
    from keras_initcmp import backend
    if backend_name is not None and backend.name() != backend_name:
        raise ValueError(f"This worker runs Keras on the {backend.name()!r} backend, the "
                         f"sweep on {backend_name!r}: start the workers with "
                         f"KERAS_BACKEND={backend_name}")
    if threads is not None and not _THREADS_SET:
        _THREADS_SET = True
        # (too late where something in this worker already ran an op: then as started)
        with contextlib.suppress(RuntimeError):
            backend.get().limit_threads(threads)
    if key not in _TASK:
        if task_bytes is None:
            raise ValueError(f"Task {key} is not loaded in this worker")
        _TASK.clear()  # the previous sweep's model and data
        _TASK[key] = pickle.loads(task_bytes)
    return _TASK[key]


def _read_files(folder):
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, folder)] = file.read()
    return files


def _where():
    if "distributed" in sys.modules:  # in a Dask worker: its address names host and port
        from distributed import get_worker
        with contextlib.suppress(ValueError):
            return get_worker().address
    return socket.gethostname()
