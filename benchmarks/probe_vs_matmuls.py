"""Claim: `probe` over the article's 100,000 × 1000 input against the bare chain of its matmuls.

One scheme (He, ReLU) on the article's net: `keras_initcmp.probe` (every statistic
of every layer over all 100,000 samples, histograms of 10,000) against the same
matmuls and activations batch by batch with nothing recorded: the floor. Both
include drawing the 10^8 random inputs; the first trace of each is warmed up.

    .venv/bin/python benchmarks/probe_vs_matmuls.py          # about 20 s on 2 cores
"""

import argparse
import tempfile

from floors import bare_chain, timed

from claims import report  # noqa: E402
from keras_initcmp import backend, driver  # noqa: E402
from keras_initcmp.driver import inputs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    sizes, batch_size = driver.PROBE_SIZES, 5000
    timed(bare_chain, sizes, "relu", batch_size, batch_size)  # warm-up: first trace
    chain = timed(bare_chain, sizes, "relu", args.samples, batch_size)
    with tempfile.TemporaryDirectory() as logdir:  # warm-up: first traces
        driver.probe(("he",), activation="relu", samples=batch_size, batch_size=batch_size,
                     histogram_samples=batch_size, logdir=logdir)
    inputs.clear_input_cache()
    with tempfile.TemporaryDirectory() as logdir:
        probe = timed(driver.probe, ("he",), activation="relu", samples=args.samples,
                      batch_size=batch_size, logdir=logdir)
    report(f"probe, 1 scheme, {args.samples} x {sizes[0]} input", probe, chain,
           "bare chain of its matmuls", None, backend=backend.name())


if __name__ == "__main__":
    main()
