"""`keras-initcmp`: compare weight-initialization schemes from the command line.

This module runs the commands (`main`, the console script's entry point);
`keras_initcmp.cli.args` declares them. The CLI's two modules are the only ones of the
package that print. Bad input ends in one line on stderr,
`keras-initcmp: error: ...`, and exit status 2.
"""

import argparse
import os
import shlex
import shutil
import sys

import keras
import numpy as np

from keras_initcmp import backend, driver, experiments, schemes
from keras_initcmp.cli import args as cli_args
from keras_initcmp.distributed import dask_cluster, data_parallel
from keras_initcmp.driver import summary
from keras_initcmp.cli.args import PROG, fail
from keras_initcmp.cli import width as width_command


def _parser():
    return cli_args.parser({"compare": _compare, "probe": _probe, "report": _make_report,
                            "doctor": _doctor, "list": _list,
                            "coord-check": width_command.run})


ARTICLE = (("compare", "--experiment", "circles", "--seeds", "3"),
           ("probe", "--activation", "tanh"),
           ("probe", "--activation", "relu"))
"""The article's comparison, command by command (`keras-initcmp article`, compare.sh)."""


# --- the commands -------------------------------------------------------------------


def _compare(args, out):
    if args.model is None:
        if args.data is not None:
            fail("--data: needs --model (the built-in experiments bring their own data)")
        experiment = experiments.get(args.experiment or "circles")
        options, name = {}, experiment.name
        if args.standardize:  # its own folder: raw and standardized runs sit side by side
            if "standardize" not in experiment.options:
                fail("--standardize: only for experiment " + ", ".join(
                    e.name for e in experiments.EXPERIMENTS.values() if "standardize" in e.options))
            options, name = {"standardize": True}, f"{name}-standardized"
        model, data = experiment.build_model(), experiment.load_data(**options)
        training = dict(experiment.training)
    else:
        if args.experiment is not None:
            fail("--experiment and --model exclude each other")
        if args.standardize:
            fail("--standardize: only for the built-in experiments; standardize your --data")
        if args.data is None:
            fail("--model: needs --data FILE.npz")
        if ":" in args.model and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # so that my_module:build finds ./my_module.py
        model, data = _load("--model", experiments.load_model, args.model), \
            _load("--data", experiments.load_data, args.data)
        name = args.name or os.path.splitext(os.path.basename(args.model.rpartition(":")[2]))[0]
        saved = model.get_compile_config() or {}
        if not saved.get("loss") and "loss" not in vars(args):
            fail("--loss: required, the model is not compiled")
        training = {"optimizer": saved.get("optimizer")}
    options = vars(args)
    training.update((option, options[option]) for option in
                    ("epochs", "steps", "batch_size", "loss", "metrics") if option in options)
    if "optimizer" in options or "learning_rate" in options:
        training["optimizer"] = _optimizer(
            options.get("optimizer") or training.get("optimizer") or "sgd",
            options.get("learning_rate"))
    strategy, chief = None, True
    if args.strategy == data_parallel.NAME:  # the backend's own: JAX or TensorFlow
        try:
            strategy = data_parallel.get()
        except ValueError:
            fail(f"--strategy {args.strategy}: needs KERAS_BACKEND=jax or tensorflow (Keras "
                 f"has no distribution for PyTorch); this is KERAS_BACKEND={backend.name()}")
        chief = data_parallel.is_chief(strategy) if data_parallel.is_distribution(strategy) \
            else True
    elif args.strategy != "default":
        if backend.name() != "tensorflow":
            fail(f"--strategy {args.strategy}: tf.distribute needs the TensorFlow backend "
                  f"(KERAS_BACKEND=tensorflow); this is KERAS_BACKEND={backend.name()}")
        from keras_initcmp import distributed
        strategy = distributed.get_strategy(args.strategy)
        chief = distributed.is_chief(strategy)
    records = driver.compare(model, data, args.schemes, args.seeds, experiment=name,
                             logdir=args.logdir, jobs=args.jobs, overwrite=args.overwrite,
                             progress=None if args.quiet or not chief else out,
                             strategy=strategy, dask=args.dask,
                             dask_resources=args.dask_resources, **training)
    if chief:
        baseline = _prior_loss(training.get("loss"), data["y"])
        text = summary.compare_table(records, baseline)
        if baseline is not None:
            text += (f"\nstuck: final loss within {1 - summary.STUCK:.0%} of {baseline:.4f}, the "
                     "loss of always predicting the training labels' prior")
        _report(out, text, os.path.join(args.logdir, name))


def _prior_loss(loss, y):
    """The cross-entropy of always predicting the label prior of `y` (its entropy), or None.

    For `binary_crossentropy` on 0/1 labels and `sparse_categorical_crossentropy`;
    None for other losses (or a loss given as a config), where it has no such meaning.
    """
    y = np.asarray(y)
    if loss == "binary_crossentropy" and np.isin(y, (0, 1)).all():
        prior = np.array([1 - y.mean(), y.mean()])
    elif loss == "sparse_categorical_crossentropy" and np.issubdtype(y.dtype, np.integer):
        prior = np.bincount(y.ravel()) / y.size
    else:
        return None
    prior = prior[prior > 0]
    return float(-(prior * np.log(prior)).sum())


def _probe(args, out):
    records = driver.probe(args.schemes, args.seeds, sizes=args.sizes,
                           activation=args.activation, samples=args.samples,
                           batch_size=args.batch_size, histogram_samples=args.histogram_samples,
                           bias_std=args.bias_std, experiment=args.experiment, logdir=args.logdir, jobs=args.jobs,
                           overwrite=args.overwrite, progress=None if args.quiet else out,
                           dask=args.dask, dask_resources=args.dask_resources)
    folder = os.path.join(args.logdir, args.experiment or f"probe-{args.activation}")
    text = (f"activation std per layer, {args.activation}, {args.samples} samples "
            "(predicted: mean-field theory):\n" + summary.probe_table(records))
    if args.activation in summary.TANH_LIKE:
        text += ("\n\nchi1 per scheme (first layer; ordered < 1 < chaotic):\n"
                 + summary.chi1_table(args.schemes, args.activation, args.sizes, args.bias_std))
    _report(out, text, folder)


def _doctor(args, out):
    from keras_initcmp.checkup.diagnosis import LEVELS, doctor
    if ":" in args.model and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    model = _load("--model", experiments.load_model, args.model)
    data = _load("--data", experiments.load_data, args.data)
    x, y = data["x"][:args.samples], data["y"][:args.samples]
    compiled = getattr(model, "compiled", False) and getattr(model, "loss", None)
    if args.loss is None and not compiled:
        y = None  # no loss to differentiate: forward pass only
    try:
        result = doctor(model, x, y, layers=args.layers, loss=args.loss)
    except ValueError as error:
        fail(f"--data: {error}" if "Argument `x`" in str(error) or "Argument `y`" in str(error)
              else f"--layers: {error}" if "Argument `layers`" in str(error) else error)
    out.write(result.to_json() + "\n" if args.json else result.table())
    worst = result.worst_level()
    if args.fail_on and worst and LEVELS.index(worst) >= LEVELS.index(args.fail_on):
        return 1
    return 0


def _list(args, out):
    w = 2 + max(len(name) for name in (*schemes.names(), *experiments.EXPERIMENTS, "--model"))
    out.write("schemes (--schemes):\n")
    for name in schemes.names():
        out.write(f"  {name:<{w}}{schemes.describe(name)}\n")
    out.write("experiments (compare --experiment):\n")
    for experiment in experiments.EXPERIMENTS.values():
        out.write(f"  {experiment.name:<{w}}{experiment.description}\n")
    out.write(f"  {'--model':<{w}}your own: --model FILE.keras|MODULE:FUNCTION --data FILE.npz\n"
              f"  {'probe':<{w}}the article's experiment 2: {PROG} probe --activation tanh|relu\n")
    from keras_initcmp.experiments.width import WIDTH_EXPERIMENTS
    out.write("width experiments (coord-check --experiment):\n")
    for experiment in WIDTH_EXPERIMENTS.values():
        out.write(f"  {experiment.name:<{w}}{experiment.description}\n")


def _make_report(args, out):
    from keras_initcmp.reports import report as write_report  # matplotlib: only here
    result = write_report(args.experiment_dir, log_scale=args.log_scale)
    for line in result.missing:
        out.write(f"missing: {line}\n")
    out.write(f"report: {result.path} ({len(result.figures)} figures, also in TensorBoard's "
              "Images tab)\n")


def _article(options, out):
    """Every command of `ARTICLE` with `options`, then a report of each, in one process:
    TensorFlow (or JAX, PyTorch) starts once, not six times."""
    folders = []
    for command in ARTICLE:
        argv = [*command, *options]
        out.write(f"\n$ {PROG} {' '.join(argv)}\n")
        step = _parser().parse_args(argv)
        step.run(step, out)
        experiment = "circles" if command[0] == "compare" else f"probe-{step.activation}"
        folders.append(os.path.join(step.logdir, experiment))
    for folder in folders:
        out.write(f"\n$ {PROG} report {folder}\n")
        step = _parser().parse_args(["report", folder])
        step.run(step, out)
    logdir = os.path.dirname(folders[0])
    out.write(f"\nAll three experiments in one TensorBoard:  tensorboard --logdir {logdir}\n")


def _load(option, loader, value):
    try:
        return loader(value)
    except ValueError as error:
        fail(f"{option}: {error}")


def _optimizer(name_or_config, learning_rate):
    config = keras.optimizers.serialize(keras.optimizers.get(name_or_config))
    if learning_rate is not None:
        config["config"]["learning_rate"] = learning_rate
    return config


def _report(out, table, folder):
    tensorboard = "tensorboard"
    if shutil.which(tensorboard) is None:  # e.g. run as .venv/bin/keras-initcmp
        tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    out.write(f"\n{table}\n\nresults: {os.path.join(folder, 'results.json')} (and .csv)\n"
              f"view:    {tensorboard} --logdir {shlex.quote(folder)}\n")


def _start_multiworker(argv):
    """`--strategy multiworker`: create the strategy before TensorFlow's first op.

    Checking `--optimizer` or `--metrics` already creates variables, after which
    TensorFlow refuses to configure its collective ops; so this looks ahead.
    """
    ahead = argparse.ArgumentParser(add_help=False)
    ahead.add_argument("--strategy")
    if ahead.parse_known_args(argv)[0].strategy == "multiworker" \
            and backend.name() == "tensorflow":
        from keras_initcmp import distributed
        distributed.get_strategy("multiworker")


def main(argv=None):
    """Console entry point; returns the exit status."""
    # Spawned --jobs workers inherit this before TensorFlow loads in them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        _start_multiworker(argv)
        if argv[:1] == ["article"] and not {"-h", "--help"} & set(argv[1:]):
            # Its options belong to the commands it runs, so argparse does not read them.
            status = _article(argv[1:], sys.stdout)
        else:
            args = _parser().parse_args(argv)
            status = args.run(args, sys.stdout)
    except dask_cluster.SchedulerUnreachable as error:
        fail(f"--dask {error.address}: no Dask scheduler answered within "
             f"{dask_cluster.CONNECT_TIMEOUT} s ({error.reason})")
    except ValueError as error:
        fail(error)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted; finished runs are saved, run the same "
                         "command again to resume\n")
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
