"""Every public op on a batch sharded over 8 simulated CPU devices (``NamedSharding`` over the
batch axis under ``jit``) gives the same forward value and gradient as unsharded.

Runs ``python -m benchmarks.sharding`` in a subprocess, because the device count is fixed when JAX
initializes (``XLA_FLAGS=--xla_force_host_platform_device_count=8``) and must not leak into the
other tests.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ELEMENTARY = [
    "inv",
    "solve",
    "det",
    "slogdet",
    "logdet",
    "pinv",
    "lstsq",
    "matrix_power",
    "norm",
    "vec",
    "unvec",
    "jacobian_matrix",
]


PARTS = 2  # two processes share the operations (the check is the suite's longest single item)


@pytest.mark.parametrize("part", range(PARTS))
def test_sharded_batch_matches_unsharded(part):
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.sharding", "--part", f"{part}/{PARTS}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert "8 devices, batch 8" in out, out
    assert proc.returncode == 0, out
    checked = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok")}
    from tests.cases import benchmark_cases

    ops = list(dict.fromkeys(c.op for c in benchmark_cases()))
    mine = {name for i, name in enumerate(ops) if i % PARTS == part}
    assert checked == mine, f"checked {sorted(checked)}, expected {sorted(mine)}\n{out}"
    missing = [op for op in ELEMENTARY if op in mine and op not in checked]
    assert not missing, f"elementary ops not checked sharded: {missing}\n{out}"
