"""The sweep over schemes × seeds: resume from the experiment's store, run what is
left in this process, in worker processes or on a Dask cluster, and write the
experiment's root files.

`sweep(task, settings, ...)` is what `compare` and `probe` end in; the task is one
of `keras_initcmp.driver.tasks`. Every path and write is `keras_initcmp.store`'s.
"""

import concurrent.futures
import contextlib
import logging
import pickle

from tensorboard.plugins.hparams import summary_v2 as hp

from keras_initcmp import checks, store
from keras_initcmp.events import layout
from keras_initcmp.driver import summary, workers
from keras_initcmp.distributed import data_parallel
from keras_initcmp import schemes as registry
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.driver.progress import Line
from keras_initcmp.reinit.redraw import check_schemes
from keras_initcmp.callbacks.run_log import FINAL_METRICS
from keras_initcmp.driver.tasks import TrainTask

__all__ = ["sweep", "run_pool", "run_all"]


def sweep(task, settings, experiment, logdir, schemes, seeds, jobs, overwrite, progress,
          dask=None, dask_resources=None):
    """Every `(scheme, seed)` not yet in the experiment's results, run by `task`; returns
    every record of the experiment (all sweeps'), in the registry's order.

    The runs go to this process (`jobs=1`), to `jobs` local worker processes, or to a
    Dask cluster (`dask`, `dask_resources`: `keras_initcmp.distributed.dask_cluster`)."""
    schemes = check_schemes(schemes)
    seeds = checks.positive_int("seeds", seeds)
    jobs = checks.positive_int("jobs", jobs)
    if not isinstance(experiment, str):
        raise ValueError(f"Argument `experiment` must be a plain folder name. "
                         f"Received: experiment={experiment!r}")
    # Schemes in the registry's (the article's) order, then seeds.
    experiment = store.Experiment(logdir, experiment, rank=registry.names())
    task.experiment_name = experiment.name  # not a field: not a setting; pickles along
    # The cluster first: one that does not answer leaves nothing written.
    with run_pool(jobs, dask, dask_resources) as pool, experiment:
        records = experiment.open(settings, overwrite)
        done = {(record["scheme"], record["seed"]) for record in records}
        requested = [(scheme, seed) for scheme in schemes for seed in range(seeds)]
        todo = [run for run in requested if run not in done]
        strategy = getattr(task, "strategy", None)
        if strategy is not None and not data_parallel.is_distribution(strategy):
            # every tf.distribute worker does the chief's runs
            from keras_initcmp import distributed
            todo = [run for run, flag in zip(requested, distributed.chief_flags(
                strategy, [run in todo for run in requested])) if flag]
        if progress is not None and len(todo) < len(requested):
            progress.write(f"{experiment.folder}: resuming, {len(requested) - len(todo)} of "
                           f"{len(requested)} runs already in results.json\n")
        with _without_retracing_warnings():
            for _ in run_all(task, todo, experiment, pool, progress):
                pass
        records = experiment.records()  # every sweep's, when several share the experiment
        if isinstance(task, TrainTask) and records:
            _write_hparams_config(experiment)
        if records:  # Custom Scalars: one chart per statistic with every layer
            layout.write_layout(experiment.folder, training=isinstance(task, TrainTask))
    return records


@contextlib.contextmanager
def run_pool(jobs, dask, dask_resources):
    """Where the runs go: `None` (this process), a `LocalPool` or a connected `DaskPool`."""
    if dask is None:
        if dask_resources is not None:
            raise ValueError(f"Argument `dask_resources` needs `dask` (a cluster's worker "
                             f"resources). Received: dask_resources={dask_resources!r}")
        yield None if jobs == 1 else workers.LocalPool(jobs)
        return
    from keras_initcmp.distributed import dask_cluster
    address = dask_cluster.check_address(dask, jobs)
    with dask_cluster.DaskPool(address, workers.run_in_worker, jobs,
                               dask_cluster.parse_resources(dask_resources)) as pool:
        yield pool


@contextlib.contextmanager
def _without_retracing_warnings():
    # Every run is a new model with new tf.functions by design; TensorFlow's "N out of
    # the last M calls triggered retracing" warning would only be noise here.
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def run_all(task, todo, experiment, pool, progress):
    """Runs `todo` in this process, or in the workers of `pool` (`workers.LocalPool`,
    `dask_cluster.DaskPool`); yields each run's records as it is finished (moved into
    place and added to the results by the store).

    A run that another live sweep already started or finished (`start_run` gives
    `None`) is skipped. A run that fails is abandoned (its folder removed); in workers,
    the other runs go on and keep their records, then the first failure is raised.
    """
    line = None if progress is None else Line(progress)
    if pool is None or (isinstance(pool, workers.LocalPool) and len(todo) < 2):
        for scheme, seed in todo:
            staging = experiment.start_run(scheme, seed)
            if staging is not None:
                yield _finish(experiment, scheme, seed, staging, line,
                              lambda: (task(scheme, seed, staging, line)[0], ""))
        return
    staged = {}
    for scheme, seed in todo:  # claimed here, before any worker starts
        staging = experiment.start_run(scheme, seed)
        if staging is not None:
            staged[scheme, seed] = staging
    if not staged:
        return
    failure = None
    task_bytes = pickle.dumps(task)
    with pool.submitter(task_bytes, workers.task_key(task_bytes), len(staged)) as submit:
        futures = {submit(scheme, seed): (scheme, seed, staging)
                   for (scheme, seed), staging in staged.items()}
        for future in concurrent.futures.as_completed(futures):
            scheme, seed, staging = futures[future]
            try:
                yield _finish(experiment, scheme, seed, staging, line,
                              lambda: _unpacked(future.result(), staging, pool.where))
            except Exception as error:  # the others' records still count
                failure = failure or error
    if failure is not None:
        raise failure
    # (runs left unfinished by an interrupt are removed by `experiment.close()`)


def _unpacked(result, staging, where):
    """A worker's `(records, files, host)`: its files written into `staging`;
    `(records, note)` for the progress line, which names the host `where` asked."""
    records, files, host = result
    workers.write_files(staging, files)
    return records, f"  [{host}]" if where else ""


def _finish(experiment, scheme, seed, staging, line, run):
    """`run()`'s records, moved into place by the store; on failure the run is abandoned.
    `run()` returns `(records, note)`; the note ends the run's progress line."""
    try:
        records, note = run()
    except BaseException:
        experiment.abandon_run(staging)
        raise
    experiment.finish_run(scheme, seed, staging, records)
    if line is not None:
        line.finish(summary.run_line(records) + note)
    return records


def _write_hparams_config(experiment):
    """The experiment's HParams columns: initializer, seed and the final metrics of
    every record in `results.json` (every sweep's), replacing the previous config."""
    with experiment.replace_root_event_file(store.HPARAMS_SUFFIX) as folder:
        records = experiment.records()
        metrics = [name for name in FINAL_METRICS
                   if any(record.get(name) is not None for record in records)]
        schemes = list(dict.fromkeys(record["scheme"] for record in records))
        writer = EventWriter(folder, filename_suffix=store.HPARAMS_SUFFIX)
        writer.summary(hp.hparams_config_pb(
            hparams=[hp.HParam("initializer", hp.Discrete(schemes)),
                     hp.HParam("seed", hp.IntInterval(0, max(r["seed"] for r in records)))],
            metrics=[hp.Metric(f"final/{name}", display_name=f"final {name}")
                     for name in metrics]))
        writer.close()

