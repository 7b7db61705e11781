"""Re-run, once, a test whose xdist worker died of a native crash; never re-run an ordinary failure.

XLA's CPU compiler on JAX 0.10.2 has crashed a worker process (a segmentation fault inside the
compiler, at a different test each time, never reproducible alone) about once per full run of this
compile-heavy suite. xdist then reports the test it was running as failed although the test never
got to an assertion. Such a test is scheduled once more on a fresh worker: if it crashes again, or
fails, it fails. Every re-run is listed in the terminal summary, so a crash never goes unseen.
"""

import pytest

_MAX_CRASH_RERUNS = 1
_crash_reruns: dict[str, int] = {}


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
    if _crash_reruns.get(crashitem, 0) < _MAX_CRASH_RERUNS:
        _crash_reruns[crashitem] = _crash_reruns.get(crashitem, 0) + 1
        sched.mark_test_pending(crashitem)
        report.outcome = "rerun"


def pytest_report_teststatus(report):
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter):
    if _crash_reruns:
        terminalreporter.write_sep("=", "tests re-run after their worker crashed", yellow=True)
        for nodeid in _crash_reruns:
            terminalreporter.write_line(f"RERUN {nodeid}")
