"""The suite's crash policy: a test whose worker dies is re-run once; ordinary failures are not."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]

_TESTS = """
    import os
    from pathlib import Path

    def _crash_on_first_run(name):
        marker = Path(__file__).with_name(name)
        if not marker.exists():
            marker.write_text("crashed")
            os.abort()

    def test_crashes_once_then_passes():
        _crash_on_first_run("first-run-crashed")

    def test_crashes_every_time():
        os.abort()

    def test_fails_by_assertion(tmp_path):
        counter = Path(__file__).with_name("assertion-runs")
        counter.write_text(counter.read_text() + "x" if counter.exists() else "x")
        assert False
"""


@pytest.mark.slow
def test_a_crashed_worker_reruns_its_test_once_and_failures_are_not_rerun(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from tests._crash_rerun import pytest_handlecrashitem, pytest_report_teststatus, "
        "pytest_terminal_summary  # noqa: F401\n"
    )
    (tmp_path / "test_policy.py").write_text(textwrap.dedent(_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = f"{_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["PYTHONFAULTHANDLER"] = "0"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "worksteal"]  # the suite's scheduling
        + ["-p", "no:benchmark", "-p", "no:cacheprovider", "-o", "addopts=", "-rA", "-q", "test_policy.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "PASSED test_policy.py::test_crashes_once_then_passes" in out, out
    assert "FAILED test_policy.py::test_crashes_every_time" in out, out
    assert "FAILED test_policy.py::test_fails_by_assertion" in out, out
    assert (tmp_path / "assertion-runs").read_text() == "x", "an assertion failure was re-run"
    assert "RERUN test_policy.py::test_crashes_once_then_passes" in out, out
    assert "2 rerun" in out, out
