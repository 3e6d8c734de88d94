"""The suite's shared set-up: TensorFlow as the default backend, quiet C++ logs, and
`tests/support/` (the helpers every part's tests share) importable here and in every
subprocess a test starts."""

import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "support")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, SUPPORT)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SUPPORT, os.environ.get("PYTHONPATH")]))

BROWSER_TESTS = "tests/tensorboard/"


def pytest_terminal_summary(terminalreporter):
    """Says loudly, at the end of the run, when the browser tests were skipped: a green
    run without them has not checked what a user sees in TensorBoard."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if report.nodeid.startswith(BROWSER_TESTS) and "Chromium" in str(report.longrepr)]
    if skipped:
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(skipped)} TensorBoard browser tests did not run: Chromium and chromedriver "
            "are missing (.ci/run installs them with apt-get).", red=True, bold=True)
