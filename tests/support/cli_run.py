"""Running `keras-initcmp` in a test: in this process (`run_main`), and our own lines of
a subprocess's stderr (`our_lines`)."""

import re

from keras_initcmp import cli


# TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL (absl logs before
# InitializeLog); they are not ours, so the checks of our stderr skip them.
ABSL_NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\])")


def our_lines(stderr):
    return [line for line in stderr.splitlines() if line and not ABSL_NOISE.match(line)]


def run_main(capsys, *argv):
    """`main(argv)` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(arg) for arg in argv])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err
