"""Figures: the circles sweep (4 schemes × 3 seeds) in process, with `--jobs 2`, and on a
local Dask cluster of two workers (`--dask local --jobs 2`).

Each is the console script, timed from start to exit (its import and, for the engines,
its workers' start-up included), rounds alternated, the fastest round of each kept
(the machine drifts). The Dask overhead per run is what the Dask sweep takes beyond
`--jobs 2` (the same two worker processes), over the 12 runs.

    .venv/bin/python benchmarks/sweep_engines.py              # a few minutes on 2 cores
    .venv/bin/python benchmarks/sweep_engines.py --rounds 1 --steps 3000
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from claims import report

SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-initcmp")
ENGINES = {"in process": [], "--jobs 2": ["--jobs", "2"],
           "--dask local --jobs 2": ["--dask", "local", "--jobs", "2"]}
RUNS = 12  # 4 schemes × 3 seeds


def sweep_seconds(options, steps, logdir):
    command = [SCRIPT, "compare", "--experiment", "circles", "--seeds", "3", "--quiet",
               "--overwrite", "--logdir", logdir, *options]
    if steps is not None:
        command += ["--steps", str(steps)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per run (default: the experiment's, 15000)")
    args = parser.parse_args()
    best = {name: float("inf") for name in ENGINES}
    with tempfile.TemporaryDirectory() as logdir:
        for round_index in range(args.rounds):
            order = list(ENGINES) if round_index % 2 == 0 else list(reversed(ENGINES))
            for name in order:
                seconds = sweep_seconds(ENGINES[name], args.steps, os.path.join(logdir, str(hash(name))))
                print(f"round {round_index + 1}: {name}: {seconds:.1f} s", flush=True)
                best[name] = min(best[name], seconds)
    floor = best["in process"]
    print("\n| circles, 4 schemes × 3 seeds | wall (s) |\n| --- | --- |")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.1f} |")
    overhead = (best["--dask local --jobs 2"] - best["--jobs 2"]) / RUNS
    print(f"\nDask overhead per run (beyond --jobs 2): {overhead:.2f} s\n")
    for name in ("--jobs 2", "--dask local --jobs 2"):
        report(f"circles sweep {name}", best[name], floor, "in process", None)


if __name__ == "__main__":
    main()
