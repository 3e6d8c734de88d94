"""The e2e harness ends every process it started, also children that ignore SIGTERM."""

import time

import pytest

import tbharness


def test_stop_ends_the_whole_session_even_when_sigterm_is_ignored(tmp_path):
    marker = str(tmp_path)
    # A child in the background and a subshell (it carries the marker in its command
    # line) with a child, both ignoring SIGTERM: all must go.
    script = f": {marker}; sleep 300 & (trap '' TERM; sleep 300; :) & wait"
    process = tbharness._Process(["bash", "-c", script], str(tmp_path / "log"))

    def started():  # bash, its subshell and the two sleeps
        assert len(tbharness.session_processes(process.session)) == 4

    tbharness.wait_until(started, 10)
    assert len(tbharness.processes_mentioning(marker)) >= 2
    start = time.monotonic()
    process.stop(grace=0.5)
    assert time.monotonic() - start < 10
    assert tbharness.session_processes(process.session) == []
    assert tbharness.processes_mentioning(marker) == []


def test_failure_inside_with_still_stops(tmp_path):
    class Failing(tbharness._Started):
        def start(self):
            self.process = tbharness._Process(["bash", "-c", f": {tmp_path}; sleep 300; :"],
                                              str(tmp_path / "log"))
            return self

        def stop(self):
            self.process.stop(grace=0.5)

    with pytest.raises(RuntimeError, match="boom"):
        with Failing():
            def running():  # bash has exec'd: its command line carries the marker
                assert tbharness.processes_mentioning(str(tmp_path))

            tbharness.wait_until(running, 10)
            raise RuntimeError("boom")
    assert tbharness.processes_mentioning(str(tmp_path)) == []
