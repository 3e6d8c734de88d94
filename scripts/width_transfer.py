"""Learning-rate transfer in small (Tensor Programs V, Figure 1): `width-mlp` trained on the
digits at several widths over a grid of Adam learning rates (powers of 2), under SP and
under μP (base width 64). Under μP the best learning rate should stay put as the model
widens; under SP it drifts down.

Prints a Markdown table (final training loss per width and learning rate, the best
marked) and the best learning rate per width, and writes the figure and the records:

    python scripts/width_transfer.py --out logs/width-transfer

Options: --widths 64,128,256,512,1024 --log2-lrs=-12,-11,...,-4 --epochs 3 --seeds 1.
"""

import argparse
import json
import os
import sys

import numpy as np


def _train(parametrization, width, learning_rate, seed, epochs, data, base_width):
    import keras

    from keras_initcmp import mup
    from keras_initcmp.experiments.width import width_mlp
    from keras_initcmp.reinit.redraw import redraw_kernels

    x, y = data
    keras.utils.set_random_seed(seed)
    model = width_mlp(width)
    shapes = None
    if parametrization == "mup":
        shapes = mup.base_shapes(model, width_mlp(base_width), width_mlp(2 * base_width))
        mup.initialize(model, shapes, "he", seed)
    else:
        redraw_kernels(model, "he", seed)
    model.compile(optimizer=mup.optimizer("adam", learning_rate, shapes),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    loss = float(model.evaluate(x, y, batch_size=len(x), verbose=0))
    return loss if np.isfinite(loss) else float("inf")


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0 - 0.5).astype("float32"), y.astype("int32")


def _figure(records, widths, path):
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(widths)))
    for ax, parametrization in zip(axes, ("sp", "mup")):
        for colour, width in zip(colours, widths):
            rows = sorted((r["log2_lr"], r["loss"]) for r in records
                          if (r["parametrization"], r["width"]) == (parametrization, width))
            grid = sorted({lr for lr, _ in rows})
            mean = [np.mean([loss for lr, loss in rows if lr == g]) for g in grid]
            ax.plot(grid, np.minimum(mean, 10), marker="o", markersize=3, color=colour,
                    label=f"width {width}")
        ax.set_title({"sp": "SP", "mup": "μP"}[parametrization])
        ax.set_xlabel("log2 learning rate (Adam)")
        ax.set_yscale("log")
    axes[0].set_ylabel("training loss")
    axes[1].legend(fontsize=7)
    figure.savefig(path, dpi=110, facecolor="white")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,256,512,1024")
    parser.add_argument("--log2-lrs", default="-12,-11,-10,-9,-8,-7,-6,-5,-4")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", default="logs/width-transfer")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    grid = [int(k) for k in args.log2_lrs.split(",")]
    os.makedirs(args.out, exist_ok=True)
    records_path = os.path.join(args.out, "results.json")
    records = []
    if os.path.exists(records_path):  # resume: never redo (or overwrite) a finished run
        with open(records_path) as file:
            records = json.load(file)
    done = {(r["parametrization"], r["width"], r["log2_lr"], r["seed"]) for r in records}
    data = _digits()
    for parametrization in ("sp", "mup"):
        for width in widths:
            for k in grid:
                for seed in range(args.seeds):
                    if (parametrization, width, k, seed) in done:
                        continue
                    loss = _train(parametrization, width, 2.0**k, seed, args.epochs, data,
                                  min(widths))
                    records.append({"parametrization": parametrization, "width": width,
                                    "log2_lr": k, "seed": seed, "epochs": args.epochs,
                                    "loss": loss if np.isfinite(loss) else None})
                    with open(records_path + ".tmp", "w") as file:
                        json.dump(records, file, indent=1)
                    os.replace(records_path + ".tmp", records_path)
                    print(parametrization, width, k, seed, loss, file=sys.stderr, flush=True)
    _figure([dict(r, loss=np.inf if r["loss"] is None else r["loss"]) for r in records],
            widths, os.path.join(args.out, "width_transfer.png"))
    for parametrization in ("sp", "mup"):
        print(f"\n{parametrization}: training loss after {args.epochs} epochs "
              f"(mean over {args.seeds} seed(s)); best per width in bold\n")
        print("| width | " + " | ".join(f"2^{k}" for k in grid) + " | best |")
        print("| --- |" + " --- |" * (len(grid) + 1))
        for width in widths:
            losses = [np.mean([r["loss"] if r["loss"] is not None else np.inf for r in records
                               if (r["parametrization"], r["width"], r["log2_lr"]) ==
                               (parametrization, width, k)]) for k in grid]
            best = int(np.argmin(losses))
            cells = [(f"**{loss:.3f}**" if i == best else f"{loss:.3f}")
                     if np.isfinite(loss) else "diverged" for i, loss in enumerate(losses)]
            print(f"| {width} | " + " | ".join(cells) + f" | 2^{grid[best]} |")


if __name__ == "__main__":
    sys.exit(main())
