"""Regenerates docs/images/*.png: TensorBoard's views of the article's comparison.

Runs the article's two experiments with the `keras-initcmp` CLI into a temporary logdir
(circles under the four schemes, one seed; probe for tanh and for relu), serves it
with a real TensorBoard on 127.0.0.1, and screenshots each view with headless
Chromium. Everything it starts is stopped at the end, whatever happens.

Usage (through scripts/screenshots.sh, which sets up .venv):

    ./scripts/screenshots.sh                    # the full article settings
    ./scripts/screenshots.sh --steps 3000       # a shorter circles run
    ./scripts/screenshots.sh --logdir logs      # pictures of existing logs, no runs
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import tbharness  # noqa: E402  (the tests' TensorBoard and Chromium harness)

EXPERIMENTS = ("circles", "probe-tanh", "probe-relu")

# name: (dashboard, URL hash settings, viewport (width, height), what must be shown).
# Histograms and Distributions lay their cards out tag by tag and run by run, two to a
# row: with two runs selected, each row is one layer, the two schemes side by side.
VIEWS = {
    "tensorboard-histograms-tanh": (
        "histograms", {"regexInput": "^probe-tanh/(random|xavier)/",
                       "tagFilter": "^activations/"},
        (1200, 1720), ["activations/layer_6", "probe-tanh/random/seed-0"]),
    "tensorboard-histograms-relu": (
        "histograms", {"regexInput": "^probe-relu/(xavier|he)/", "tagFilter": "^activations/"},
        (1200, 1720), ["activations/layer_6", "probe-relu/he/seed-0"]),
    "tensorboard-histograms-circles": (
        "histograms", {"regexInput": "^circles/(zeros|he)/", "tagFilter": "^activations/"},
        (1200, 980), ["activations/hidden_1", "circles/zeros/seed-0"]),
    "tensorboard-distributions-circles": (
        "distributions", {"regexInput": "^circles/(zeros|he)/", "tagFilter": "^activations/"},
        (1200, 980), ["activations/hidden_1", "circles/he/seed-0"]),
    "tensorboard-scalars-loss": (
        "scalars", {"regexInput": "^circles/", "tagFilter": "^(val_)?loss$",
                    "_smoothingWeight": "0"},
        (1400, 660), ["circles/zeros/seed-0", "val_loss"]),
    "tensorboard-custom-scalars": (
        "custom_scalars", {"regexInput": "^circles/(xavier|he)/", "_smoothingWeight": "0"},
        (1400, 1000), ["activation_std, every layer", "circles/he/seed-0"]),
    "tensorboard-hparams": (
        "hparams", {}, (1600, 420), ["he/seed-0", "zeros/seed-0", "final loss"]),
}
ROOTS = {"histograms": ("tf-histogram-dashboard", "vz-histogram-timeseries"),
         "distributions": ("tf-distribution-dashboard", "vz-distribution-chart"),
         "scalars": ("tf-scalar-dashboard", "vz-line-chart2"),
         "custom_scalars": ("tf-custom-scalar-dashboard", "vz-line-chart2"),
         "hparams": ("tf-hparams-dashboard", "tf-hparams-table-view")}


def run_experiments(logdir, steps, samples):
    cli = [sys.executable, "-m", "keras_initcmp.cli"]
    common = ["--logdir", logdir]
    commands = [["compare", "--experiment", "circles"] + (["--steps", str(steps)] if steps else []),
                ["probe", "--activation", "tanh"] + (["--samples", str(samples)] if samples else []),
                ["probe", "--activation", "relu"] + (["--samples", str(samples)] if samples else [])]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    for command in commands:
        print(f"\n$ keras-initcmp {' '.join(command + common)}", flush=True)
        start = time.perf_counter()
        subprocess.run(cli + command + common, check=True, env=env)
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)


def shoot(logdir, out, workdir, only=None):
    os.makedirs(out, exist_ok=True)
    # Started next to the logdir, TensorBoard shows its name ("logs"), not a temp path.
    with tbharness.TensorBoard(os.path.basename(logdir), workdir,
                               cwd=os.path.dirname(logdir)) as board:
        def loaded():
            runs = board.runs()
            assert all(any(run.startswith(f"{name}/") for run in runs) for name in EXPERIMENTS)
            assert board.get("/data/plugin/custom_scalars/layout").get("category")
            assert board.session_groups()
        tbharness.wait_until(loaded, 120, interval=1)
        time.sleep(3)  # let the last reload finish reading every run
        with tbharness.Browser(os.path.join(workdir, "browser")) as browser:
            for name, (dashboard, settings, size, needles) in VIEWS.items():
                if only and name not in only:
                    continue
                root, chart = ROOTS[dashboard]

                def rendered(page):
                    missing = [needle for needle in needles if needle not in page["text"]]
                    assert not missing, f"{name}: not shown: {missing}"
                    assert page["tags"].get(chart, 0) >= 1, f"{name}: no <{chart}>"

                browser.set_viewport(*size)
                hash_ = "&".join([dashboard] + [f"{key}={urllib.parse.quote(value, safe='')}"
                                                for key, value in settings.items()])
                browser.open(f"{board.url}/?view={name}#{hash_}")
                browser.wait_for(rendered, root=root, timeout=60)
                time.sleep(2)  # transitions and late chart redraws
                path = os.path.join(out, f"{name}.png")
                with open(path, "wb") as file:
                    file.write(browser.screenshot())
                print(f"{path}  {os.path.getsize(path) // 1024} KiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"),
                        help="folder for the PNGs (default docs/images)")
    parser.add_argument("--logdir", help="screenshot these logs (with circles, probe-tanh "
                        "and probe-relu in it) instead of running the experiments")
    parser.add_argument("--steps", type=int, help="circles training steps (default the "
                        "article's 15000)")
    parser.add_argument("--samples", type=int, help="probe input rows (default 100000)")
    parser.add_argument("--only", help="comma-separated view names: " + ", ".join(VIEWS))
    args = parser.parse_args(argv)
    if tbharness.find_chromium() is None:
        parser.error(f"Chromium and chromedriver are needed: {tbharness.INSTALL_HINT}")
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="keras-initcmp-screenshots-") as workdir:
        logdir = args.logdir
        if logdir is None:
            logdir = os.path.join(workdir, "logs")
            run_experiments(logdir, args.steps, args.samples)
        shoot(os.path.abspath(logdir), os.path.abspath(args.out), workdir, only)


if __name__ == "__main__":
    main()
