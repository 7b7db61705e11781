"""The bad-input probes (``tests/bad_input_probes.py``: every public operation on vectors, non-square,
0×0, empty, 1×1, integer, bool, half-precision, complex, NaN/Inf input and invalid options, each
against JAX's counterpart on the same input) run in a process of their own.

They feed LAPACK kernels degenerate buffers (0×0, half precision) by the hundred; isolating them
keeps any harm such a call does to a process's memory out of the workers that compile the rest of
the suite (two full runs lost a worker to a segmentation fault in XLA after they were added).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bad_input_probes():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not an xdist worker
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:benchmark",
            "-o",
            "addopts=",
            "-W",
            "error",
            str(ROOT / "tests" / "bad_input_probes.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    summary = re.search(r"(\d+) passed", out)
    assert summary and int(summary.group(1)) > 900, out[-3000:]  # the probe table ran, not a stub
    assert not re.search(r"\b\d+ (failed|error)", out.splitlines()[-1]), out[-3000:]
