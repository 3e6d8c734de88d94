"""`keras-initcmp coord-check`: its options (`add_parser`) and what it runs (`run`).

Prints the run lines, the slope table (one row per parametrization and layer, one
column per step) and where the runs, the figure and TensorBoard are.
"""

import argparse
import os
import sys

__all__ = ["add_parser", "run"]


def _list_of(parse, what):
    def convert(text):
        try:
            values = [parse(part) for part in text.split(",") if part.strip()]
        except ValueError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return values
    return convert


def _widths(text):
    widths = _list_of(int, "comma-separated positive widths")(text)
    if any(width < 1 for width in widths) or len(set(widths)) < 2:
        raise argparse.ArgumentTypeError(f"must be at least two distinct positive widths, "
                                         f"comma-separated, got {text!r}")
    return widths


def add_parser(sub, run_command, positive_int, positive_float, sweep_options):
    """Declares `coord-check` on the subparsers `sub`; `run_command(args, out)` runs it;
    `sweep_options(command)` adds the options every sweep shares (seeds, logdir, jobs,
    dask, overwrite, quiet)."""
    from keras_initcmp.mup import MUP_SCHEMES
    from keras_initcmp.mup.optim import OPTIMIZERS
    from keras_initcmp.experiments.width import WIDTH_EXPERIMENTS
    from keras_initcmp.width.coordinates import PARAMETRIZATIONS

    command = sub.add_parser(
        "coord-check", help="the coordinate check: each layer's activations against width",
        description=(
            "Train a model at several widths for a few steps and record each layer's mean "
            "|output| before every update: under SP it grows with width, under muP "
            "(--parametrization mup) it stays flat. Prints each layer's log-log slope per "
            "step and writes coord_check.png."))
    command.add_argument("--experiment", default="width-mlp", metavar="NAME",
                         help=f"a built-in width experiment ({', '.join(WIDTH_EXPERIMENTS)}) "
                         "or a module:function returning a model for a width (default "
                         "width-mlp)")
    command.add_argument("--data", metavar="FILE.npz",
                         help="the fixed batch (x, y) for a module:function experiment")
    command.add_argument("--name", metavar="NAME",
                         help="output folder under --logdir (default: the experiment's name)")
    command.add_argument("--widths", type=_widths, metavar="LIST",
                         help="comma-separated widths (default: the experiment's)")
    command.add_argument("--parametrization", default=["sp"], metavar="LIST",
                         type=_list_of(_choice(PARAMETRIZATIONS), f"a comma-separated list "
                                       f"from {','.join(PARAMETRIZATIONS)}"),
                         help="sp, mup or sp,mup (default sp)")
    command.add_argument("--scheme", default="he", choices=MUP_SCHEMES,
                         help="the registry scheme SP draws with (default he)")
    command.add_argument("--steps", type=positive_int, default=4, metavar="N",
                         help="steps per run (default 4)")
    command.add_argument("--optimizer", choices=tuple(OPTIMIZERS),
                         help="default: the experiment's (adam)")
    command.add_argument("--learning-rate", type=positive_float, metavar="LR",
                         help="default: the experiment's")
    command.add_argument("--base-width", type=positive_int, metavar="N",
                         help="where muP equals SP (default: the smallest width)")
    sweep_options(command)
    command.set_defaults(run=run_command)
    return command


def _choice(allowed):
    def parse(text):
        text = text.strip()
        if text not in allowed:
            raise ValueError(text)
        return text
    return parse


def run(args, out):
    """Runs `coord-check` from parsed `args`; writes to `out`."""
    from keras_initcmp.cli.args import fail
    from keras_initcmp.width.coordinates import coord_check
    from keras_initcmp.reports.slopes import slope_table

    from keras_initcmp.experiments.width import WIDTH_EXPERIMENTS

    data = None
    if ":" not in args.experiment and args.experiment not in WIDTH_EXPERIMENTS:
        fail(f"--experiment: must be one of {', '.join(WIDTH_EXPERIMENTS)} or a "
             f"module:function, got {args.experiment!r}")
    if ":" in args.experiment:
        if args.data is None:
            fail("--experiment module:function: needs --data FILE.npz (the fixed batch)")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # so that my_module:build finds ./my_module.py
        from keras_initcmp.experiments import load_data
        data = load_data(args.data)
    elif args.data is not None:
        fail("--data: only with a module:function --experiment (the built-ins bring theirs)")
    name = args.name or os.path.splitext(os.path.basename(
        args.experiment.rpartition(":")[2]))[0]
    records = coord_check(
        args.experiment, args.widths, data, parametrization=args.parametrization,
        scheme=args.scheme, steps=args.steps, seeds=args.seeds, optimizer=args.optimizer,
        learning_rate=args.learning_rate, base_width=args.base_width, experiment=name,
        logdir=args.logdir, jobs=args.jobs, dask=args.dask, dask_resources=args.dask_resources,
        overwrite=args.overwrite,
        progress=None if args.quiet else out)
    folder = os.path.join(args.logdir, name)
    out.write(f"\n{slope_table(records)}\n\nslope of log l1 on log width per layer and step "
              f"(t=1: initialization)\nresults: {os.path.join(folder, 'results.json')}\n"
              f"figure:  {os.path.join(folder, 'coord_check.png')}\n"
              f"view:    tensorboard --logdir {folder}\n")
