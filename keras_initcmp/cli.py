"""`keras-initcmp`: compare weight-initialization schemes from the command line.

The only module of the package that prints. Bad input ends in one line on stderr,
`keras-initcmp: error: ...`, and exit status 2.
"""

import argparse
import os
import shlex
import shutil
import sys

import keras
import numpy as np

from keras_initcmp import backend, driver, experiments, initializers, schemes, summary
from keras_initcmp.backend import STRATEGIES

PROG = "keras-initcmp"

_ALL_SCHEMES = initializers.SCHEMES + driver.DATA_SCHEMES


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block), like every other error here."""

    def error(self, message):
        _fail(message.removeprefix("argument "))


def _fail(message):
    text = " ".join(str(message).split())  # one line, whatever the exception said
    sys.stderr.write(f"{PROG}: error: {text}\n")
    sys.exit(2)


# --- argument types: each names what it accepts -------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _experiment(text):
    if text not in experiments.EXPERIMENTS:
        raise argparse.ArgumentTypeError(
            f"unknown experiment {text!r}; choose from {', '.join(experiments.EXPERIMENTS)}")
    return text


def _batch_size(text):
    return None if text == "full" else _positive_int(text)


def _schemes(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in _ALL_SCHEMES:
            raise argparse.ArgumentTypeError(
                f"unknown scheme {name!r}; choose from {', '.join(_ALL_SCHEMES)}")
    if not names:
        raise argparse.ArgumentTypeError("needs at least one scheme")
    return tuple(names)


def _sizes(text):
    sizes = [_positive_int(size) for size in text.split(",")]
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"needs the input width and at least one layer, got {text!r}")
    return tuple(sizes)


def _keras_name(kind, getter):
    def check(text):
        try:
            getter(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}") from None
        return text
    return check


def _metrics(text):
    check = _keras_name("metric", keras.metrics.get)
    return [check(name.strip()) for name in text.split(",") if name.strip()]


# --- the parser ---------------------------------------------------------------------


def _common(parser, default_schemes=",".join(driver.DEFAULT_SCHEMES)):
    parser.add_argument("--schemes", type=_schemes, default=_schemes(default_schemes),
                        metavar="LIST", help=f"comma-separated schemes (default {default_schemes}; "
                        f"all: {','.join(_ALL_SCHEMES)})")
    parser.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                        help="runs per scheme, with seeds 0..N-1 (default 1)")
    parser.add_argument("--logdir", default="logs", metavar="DIR",
                        help="root of the TensorBoard runs (default logs)")
    parser.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                        help="runs at once, each in its own process (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing results instead of resuming them")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _parser():
    parser = _Parser(prog=PROG, description=(
        "Compare weight-initialization schemes (zeros, small random, Xavier, He, ...) on "
        "one network and see the result in TensorBoard."),
        epilog=f"Start with: {PROG} compare   (then {PROG} probe --activation relu)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                     metavar="{compare,probe,report,doctor,list}")

    compare = commands.add_parser(
        "compare", help="train the same network under each scheme",
        description=(
            "Train one network under each scheme and seed, from freshly seeded kernels and "
            "zero biases, with identical data, batches and optimizer. Writes a TensorBoard "
            "run per scheme and seed to LOGDIR/EXPERIMENT/SCHEME/seed-K (loss and metric "
            "curves, activation and gradient histograms, HParams) and LOGDIR/EXPERIMENT/"
            "results.json and .csv. Re-running the same command resumes an interrupted sweep."),
        epilog=(f"examples:\n  {PROG} compare --seeds 3\n"
                f"  {PROG} compare --model my_model.keras --data my_data.npz --epochs 20\n"
                f"  {PROG} compare --model my_models.py:build --data my_data.npz --loss mse"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = compare.add_argument_group("what to train")
    source.add_argument("--experiment", type=_experiment, metavar="NAME",
                        help=f"built-in experiment: {', '.join(experiments.EXPERIMENTS)} "
                        f"(default circles; see '{PROG} list')")
    source.add_argument("--model", metavar="FILE|MODULE:FUNCTION",
                        help="your own built model: a .keras file, or a function (in a module "
                        "or a .py file) that returns one; needs --data")
    source.add_argument("--data", metavar="FILE.npz",
                        help="arrays x, y and optionally x_val, y_val for --model")
    source.add_argument("--standardize", action="store_true",
                        help="breast-cancer: scale every feature to mean 0, sd 1 (training "
                        "split's statistics); output folder EXPERIMENT-standardized")
    source.add_argument("--name", metavar="NAME",
                        help="output folder for --model (default: the file or function name)")
    # SUPPRESS: an option left out is absent from args, so the experiment's default holds.
    training = compare.add_argument_group(
        "training (defaults: the experiment's; for --model, the model's compile settings, "
        "sgd, 10 epochs, batch size 32)", argument_default=argparse.SUPPRESS)
    training.add_argument("--epochs", type=_positive_int, metavar="N",
                          help="epochs; with --steps, the number of logged chunks (circles: 30)")
    training.add_argument("--steps", type=_positive_int, metavar="N",
                          help="total training steps, a multiple of --epochs (circles: 15000)")
    training.add_argument("--batch-size", type=_batch_size,
                          metavar="N|full", help="samples per step, or 'full' for full-batch "
                          "gradient descent (circles: full)")
    training.add_argument("--optimizer", type=_keras_name("optimizer", keras.optimizers.get),
                          metavar="NAME", help="Keras optimizer name, e.g. sgd, adam")
    training.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                          help="learning rate (circles: 0.01)")
    training.add_argument("--loss", type=_keras_name("loss", keras.losses.get), metavar="NAME",
                          help="Keras loss name, e.g. binary_crossentropy, mse")
    training.add_argument("--metrics", type=_metrics, metavar="LIST",
                          help="comma-separated Keras metric names, e.g. accuracy")
    compare.add_argument("--strategy", choices=STRATEGIES, default="default",
                         help="tf.distribute: 'mirrored' trains on every GPU of this machine; "
                         "'multiworker' on the cluster in TF_CONFIG (run the same command on "
                         "every worker; only the chief writes). Default: one device")
    _common(compare)
    compare.set_defaults(run=_compare)

    probe = commands.add_parser(
        "probe", help="push random data through a fresh deep net: activations per layer",
        description=(
            "The article's experiment 2, no training: N(0,1) input through a fresh net of "
            "Dense layers under each scheme. Per-layer statistics over all samples go to "
            "results.json; activation histograms (step 0, drawn from the first "
            "--histogram-samples rows) to LOGDIR/probe-ACTIVATION/SCHEME/seed-K."))
    probe.add_argument("--sizes", type=_sizes, default=driver.PROBE_SIZES, metavar="LIST",
                       help="input width, then each layer's width (default "
                       f"{','.join(map(str, driver.PROBE_SIZES))}, the article's)")
    probe.add_argument("--activation", default="tanh",
                       type=_keras_name("activation", keras.activations.get),
                       help="activation of every layer: tanh (default), relu, sigmoid, ...")
    probe.add_argument("--samples", type=_positive_int, default=100_000, metavar="N",
                       help="random input rows (default 100000, the article's)")
    probe.add_argument("--batch-size", type=_positive_int, default=5000, metavar="N",
                       help="rows per forward pass; bounds memory (default 5000)")
    probe.add_argument("--histogram-samples", type=_positive_int, default=10_000, metavar="N",
                       help="rows the TensorBoard histograms are drawn from (default 10000)")
    probe.add_argument("--bias-std", type=_nonnegative_float, default=0.0, metavar="SIGMA",
                       help="biases drawn N(0, SIGMA^2) for schemes without a bias of their "
                       "own (default 0: zero biases); the theory's sigma_b")
    probe.add_argument("--experiment", metavar="NAME",
                       help="output folder (default probe-ACTIVATION)")
    _common(probe)
    probe.set_defaults(run=_probe)

    report = commands.add_parser(
        "report", help="figures and report.md from a finished compare or probe",
        description=(
            "Read a finished compare or probe (results.json and the runs' event files) and "
            "write, next to them, report.md with PNG figures: cost curves (compare), "
            "activation histograms per scheme and layer at initialization and at the end, "
            "signal by depth (activation std and gradient norm per layer). The figures also "
            "go to TensorBoard's Images tab under the experiment's root run."),
        epilog=f"example: {PROG} report logs/circles --log-scale")
    report.add_argument("experiment_dir", metavar="LOGDIR/EXPERIMENT",
                        help="the experiment's folder, e.g. logs/circles or logs/probe-tanh")
    report.add_argument("--log-scale", action="store_true", help="plot the loss on a log scale")
    report.set_defaults(run=_make_report)

    doctor = commands.add_parser(
        "doctor", help="check a model's initialization on a batch of its data",
        description=(
            "One forward pass (and, with a loss, one backward pass) of your model at its "
            "current weights on the first N rows of --data: per-layer statistics, and "
            "findings in plain words (signal shrinking or growing with depth, dead units, "
            "saturation, vanishing gradients, inputs on different scales), each with its "
            "number and a suggestion. Exit status 1 when a finding at the --fail-on level "
            "exists."),
        epilog=(f"examples:\n  {PROG} doctor --model my_model.keras --data my_data.npz\n"
                f"  {PROG} doctor --model my_models.py:build --data my_data.npz --loss mse "
                "--json --fail-on warning"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.add_argument("--model", required=True, metavar="FILE|MODULE:FUNCTION",
                        help="a .keras file, or a function (in a module or a .py file) that "
                        "returns a built model")
    doctor.add_argument("--data", required=True, metavar="FILE.npz",
                        help="arrays x and y (x_val, y_val are ignored)")
    doctor.add_argument("--samples", type=_positive_int, default=512, metavar="N",
                        help="rows of the batch, the first N of x (default 512)")
    doctor.add_argument("--layers", nargs="+", metavar="PATTERN",
                        help="layer names, paths or shell-style patterns (default: all)")
    doctor.add_argument("--loss", type=_keras_name("loss", keras.losses.get), metavar="NAME",
                        help="Keras loss for the gradients (default: the model's compiled "
                        "loss; without either, forward pass only)")
    doctor.add_argument("--json", action="store_true", help="the report as JSON")
    doctor.add_argument("--fail-on", choices=("warning", "info"),
                        help="exit 1 when a finding at this level (or worse) exists")
    doctor.set_defaults(run=_doctor)

    listing = commands.add_parser("list", help="schemes and experiments, one line each")
    listing.set_defaults(run=_list)
    return parser


# --- the commands -------------------------------------------------------------------


def _compare(args, out):
    if args.model is None:
        if args.data is not None:
            _fail("--data: needs --model (the built-in experiments bring their own data)")
        experiment = experiments.get(args.experiment or "circles")
        options, name = {}, experiment.name
        if args.standardize:  # its own folder: raw and standardized runs sit side by side
            if "standardize" not in experiment.options:
                _fail("--standardize: only for experiment " + ", ".join(
                    e.name for e in experiments.EXPERIMENTS.values() if "standardize" in e.options))
            options, name = {"standardize": True}, f"{name}-standardized"
        model, data = experiment.build_model(), experiment.load_data(**options)
        training = dict(experiment.training)
    else:
        if args.experiment is not None:
            _fail("--experiment and --model exclude each other")
        if args.standardize:
            _fail("--standardize: only for the built-in experiments; standardize your --data")
        if args.data is None:
            _fail("--model: needs --data FILE.npz")
        if ":" in args.model and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # so that my_module:build finds ./my_module.py
        model, data = _load("--model", experiments.load_model, args.model), \
            _load("--data", experiments.load_data, args.data)
        name = args.name or os.path.splitext(os.path.basename(args.model.rpartition(":")[2]))[0]
        saved = model.get_compile_config() or {}
        if not saved.get("loss") and "loss" not in vars(args):
            _fail("--loss: required, the model is not compiled")
        training = {"optimizer": saved.get("optimizer")}
    options = vars(args)
    training.update((option, options[option]) for option in
                    ("epochs", "steps", "batch_size", "loss", "metrics") if option in options)
    if "optimizer" in options or "learning_rate" in options:
        training["optimizer"] = _optimizer(
            options.get("optimizer") or training.get("optimizer") or "sgd",
            options.get("learning_rate"))
    strategy, chief = None, True
    if args.strategy != "default":
        if backend.name() != "tensorflow":
            _fail(f"--strategy {args.strategy}: tf.distribute needs the TensorFlow backend "
                  f"(KERAS_BACKEND=tensorflow); this is KERAS_BACKEND={backend.name()}")
        from keras_initcmp import distributed
        strategy = distributed.get_strategy(args.strategy)
        chief = distributed.is_chief(strategy)
    records = driver.compare(model, data, args.schemes, args.seeds, experiment=name,
                             logdir=args.logdir, jobs=args.jobs, overwrite=args.overwrite,
                             progress=None if args.quiet or not chief else out,
                             strategy=strategy, **training)
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
                           overwrite=args.overwrite, progress=None if args.quiet else out)
    folder = os.path.join(args.logdir, args.experiment or f"probe-{args.activation}")
    text = (f"activation std per layer, {args.activation}, {args.samples} samples "
            "(predicted: mean-field theory):\n" + summary.probe_table(records))
    if args.activation in summary.TANH_LIKE:
        text += ("\n\nchi1 per scheme (first layer; ordered < 1 < chaotic):\n"
                 + summary.chi1_table(args.schemes, args.activation, args.sizes, args.bias_std))
    _report(out, text, folder)


def _doctor(args, out):
    from keras_initcmp.doctor import LEVELS, doctor
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
        _fail(f"--data: {error}" if "Argument `x`" in str(error) or "Argument `y`" in str(error)
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


def _make_report(args, out):
    from keras_initcmp.report import report as write_report  # matplotlib: only here
    result = write_report(args.experiment_dir, log_scale=args.log_scale)
    for line in result.missing:
        out.write(f"missing: {line}\n")
    out.write(f"report: {result.path} ({len(result.figures)} figures, also in TensorBoard's "
              "Images tab)\n")


def _load(option, loader, value):
    try:
        return loader(value)
    except ValueError as error:
        _fail(f"{option}: {error}")


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
        _start_multiworker(sys.argv[1:] if argv is None else argv)
        args = _parser().parse_args(argv)
        status = args.run(args, sys.stdout)
    except ValueError as error:
        _fail(error)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted; finished runs are saved, run the same "
                         "command again to resume\n")
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
