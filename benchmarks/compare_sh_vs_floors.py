"""Claim: `./scripts/compare.sh` (the article's whole comparison) within 1.5× the sum of its floors.

`compare.sh` is `keras-initcmp article`: circles (4 schemes × 3 seeds × 15,000
steps), probe for tanh and for relu (4 schemes each, 100,000 × 1000 input) and a
report of each, in one process. Timed as a user runs it, in a fresh process into
a fresh folder, after the install. Its floors, measured in the same run: the
article's NumPy loop for the 12 circles runs, the bare chain of the probe's
matmuls for each of the 8 probes, and one `import tensorflow, keras`.

    .venv/bin/python benchmarks/compare_sh_vs_floors.py      # about 4 minutes on 2 cores
"""

import os
import subprocess
import sys
import tempfile
import time

from floors import SCALES, bare_chain, numpy_circles, timed

from claims import report  # noqa: E402
from keras_initcmp import driver, experiments  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def wall(command, **kwargs):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def main():
    with tempfile.TemporaryDirectory() as logdir:
        article = wall([os.path.join(ROOT, "scripts", "compare.sh"), "--logdir", logdir],
                       cwd=ROOT)
    data = experiments.get("circles").load_data()
    circles = timed(lambda: [numpy_circles(data, 15000, SCALES[scheme])
                             for scheme in SCALES for _ in range(3)])
    sizes, batch_size = driver.PROBE_SIZES, 5000
    timed(bare_chain, sizes, "relu", batch_size, batch_size)  # warm-up: first trace
    probes = sum(timed(bare_chain, sizes, activation, 100_000, batch_size)
                 for activation in ("tanh", "relu") for _ in SCALES)
    start_up = wall([sys.executable, "-c", "import tensorflow, keras"])
    print(f"floors: NumPy circles {circles:.1f} s, bare probe chains {probes:.1f} s, "
          f"import {start_up:.1f} s")
    report("./scripts/compare.sh wall (12 circles runs, 8 probes, 3 reports)", article,
           circles + probes + start_up, "sum of its floors", 1.5)


if __name__ == "__main__":
    main()
