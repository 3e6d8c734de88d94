"""The grammar of `keras-initcmp`: its argument types and its argparse parser.

`parser(commands)` declares every subcommand and its options; `keras_initcmp.cli`
gives it the function that runs each command. Bad input ends, as every CLI error, in
`fail`: one line on stderr, `keras-initcmp: error: ...`, and exit status 2.
"""

import argparse
import functools
import sys

import keras

from keras_initcmp import checks, driver, experiments, initializers
from keras_initcmp.distributed import dask_cluster
from keras_initcmp.backend import STRATEGIES
from keras_initcmp.cli import width as width_command

__all__ = ["PROG", "parser", "fail"]

PROG = "keras-initcmp"

_ALL_SCHEMES = initializers.SCHEMES + driver.DATA_SCHEMES


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block), like every other error here."""

    def error(self, message):
        fail(message.removeprefix("argument "))


def fail(message):
    """Ends the program: `message` as one line on stderr, exit status 2."""
    text = " ".join(str(message).split())  # one line, whatever the exception said
    sys.stderr.write(f"{PROG}: error: {text}\n")
    sys.exit(2)


# --- argument types: each names what it accepts -------------------------------------


def _checked(parse, check, what):
    """An argument type: `parse(text)`, then `check` from `keras_initcmp.checks`."""
    def convert(text):
        try:
            return check("value", parse(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    return convert


_positive_int = _checked(int, checks.positive_int, "a positive integer")
_positive_float = _checked(float, checks.positive_number, "a positive number")
_nonnegative_float = _checked(float, checks.number_at_least, "a number >= 0")


def _resources(text):
    try:
        return dask_cluster.parse_resources(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be NAME=AMOUNT pairs such as GPU=1, "
                                         f"got {text!r}") from None


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


def _common(command, default_schemes=",".join(driver.DEFAULT_SCHEMES)):
    command.add_argument("--schemes", type=_schemes, default=_schemes(default_schemes),
                         metavar="LIST", help=f"comma-separated schemes (default {default_schemes}; "
                         f"all: {','.join(_ALL_SCHEMES)})")
    _sweep_options(command)


def _sweep_options(command, per="scheme"):
    """The options of every sweep: seeds, where the runs go, where they run, resume."""
    command.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                         help=f"runs per {per}, with seeds 0..N-1 (default 1)")
    command.add_argument("--logdir", default="logs", metavar="DIR",
                         help="root of the TensorBoard runs (default logs)")
    command.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                         help="runs at once, each in its own process (default 1)")
    command.add_argument("--dask", nargs="?", const=True, metavar="ADDRESS",
                         help="train the runs on a Dask cluster: its scheduler's address "
                         "(tcp://host:8786; bare --dask: $DASK_SCHEDULER_ADDRESS), or 'local' "
                         "for a cluster of --jobs worker processes on 127.0.0.1")
    command.add_argument("--dask-resources", type=_resources, metavar="NAME=N,...",
                         help="Dask worker resources each run holds, e.g. GPU=1")
    command.add_argument("--overwrite", action="store_true",
                         help="replace existing results instead of resuming them")
    command.add_argument("--quiet", action="store_true", help="no progress lines")


def parser(commands):
    """The `keras-initcmp` parser; `commands[name]` runs the subcommand `name` as
    `run(args, out)`."""
    top = _Parser(prog=PROG, description=(
        "Compare weight-initialization schemes (zeros, small random, Xavier, He, ...) on "
        "one network and see the result in TensorBoard."),
        epilog=f"Start with: {PROG} compare   (then {PROG} probe --activation relu)")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser,
                             metavar="{compare,probe,coord-check,report,doctor,list,article}")

    _add_compare(sub, commands["compare"])
    _add_probe(sub, commands["probe"])
    _add_report(sub, commands["report"])
    _add_doctor(sub, commands["doctor"])
    _add_listing(sub, commands["list"])
    width_command.add_parser(sub, commands["coord-check"], _positive_int, _positive_float,
                             functools.partial(_sweep_options, per="width"))
    _add_article(sub)
    return top


def _add_compare(sub, run):
    """`compare`: train the same network under each scheme."""
    compare = sub.add_parser(
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
    _source_options(compare)
    _training_options(compare)
    compare.add_argument("--strategy", choices=(*STRATEGIES, "data-parallel"), default="default",
                         help="one run on many devices: 'data-parallel' on every device of "
                         "this machine (JAX: keras.distribution.DataParallel; TensorFlow: "
                         "MirroredStrategy); tf.distribute: 'mirrored' trains on every GPU of this machine; "
                         "'multiworker' on the cluster in TF_CONFIG (run the same command on "
                         "every worker; only the chief writes). Default: one device")
    _common(compare)
    compare.set_defaults(run=run)


def _add_probe(sub, run):
    """`probe`: random data through a fresh deep net, no training."""
    probe = sub.add_parser(
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
    probe.set_defaults(run=run)


def _add_report(sub, run):
    """`report`: figures and report.md from a finished experiment."""
    report = sub.add_parser(
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
    report.set_defaults(run=run)


def _add_doctor(sub, run):
    """`doctor`: the init check of a user's model on its data."""
    doctor = sub.add_parser(
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
    doctor.set_defaults(run=run)


def _add_listing(sub, run):
    """`list`: schemes and experiments, one line each."""
    listing = sub.add_parser("list", help="schemes and experiments, one line each")
    listing.set_defaults(run=run)


def _add_article(sub):
    """`article`: listed for --help; `cli.main` runs it itself."""
    # Run by cli.main itself, which hands the options on; listed here for --help.
    sub.add_parser(
        "article", help="the article's whole comparison in one process (what compare.sh runs)",
        usage=f"{PROG} article [OPTIONS]",
        description="compare --experiment circles --seeds 3, probe --activation tanh, probe "
        "--activation relu, then a report of each; OPTIONS (e.g. --logdir DIR --jobs 2 "
        "--overwrite --quiet) go to the compare and probe commands.")


def _source_options(compare):
    """`compare`'s "what to train": a built-in experiment, or a user's model and data."""
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


def _training_options(compare):
    """`compare`'s training settings; each left out keeps the experiment's default."""
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
