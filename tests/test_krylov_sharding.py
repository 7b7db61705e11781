"""The matrix-free rules on an operator sharded by rows across 8 simulated CPU devices
(``NamedSharding`` over the rows under ``jit``) give the same values and gradients as unsharded.

``eigsh`` and ``expm_multiply`` are checked here. ``logdet`` is not: on JAX 0.10.2 with 8 simulated
CPU devices on a 2-core machine, its row-sharded program (CG and Lanczos loops with a reduction per
step) sometimes never finished executing, while the same program finished in 2 s in other runs.

Runs in a subprocess: the device count is fixed when JAX initializes
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``) and must not leak into the other tests.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

jax.config.update("jax_enable_x64", True)
from matcalc.krylov import eigsh, expm_multiply

devices = jax.devices()
print(f"{len(devices)} devices")
rows = NamedSharding(Mesh(np.array(devices), ("rows",)), PartitionSpec("rows", None))
rng = np.random.default_rng(0)
n = 64
x = rng.standard_normal((n, n))
a = x @ x.T / n + np.eye(n)
weight = rng.standard_normal((n, n))
b, c = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
key = jax.random.key(3)


def eigen_loss(m):
    w, v = eigsh(m, 3)
    return jnp.sum(w) + jnp.sum(weight * (v @ v.T))


losses = {
    "eigsh": eigen_loss,
    "expm_multiply": lambda m: jnp.sum(c * expm_multiply(m / 8, b, 0.5)),
}
sharded = jax.device_put(jnp.asarray(a), rows)
assert len(sharded.sharding.device_set) == len(devices)
for name, loss in losses.items():
    step = jax.jit(jax.value_and_grad(loss))
    value, grad = step(jnp.asarray(a))
    value_sh, grad_sh = step(sharded)
    np.testing.assert_allclose(value_sh, value, rtol=1e-10)
    np.testing.assert_allclose(grad_sh, grad, rtol=1e-8, atol=1e-10 * float(np.abs(grad).max()))
    print("ok", name)
"""


def test_row_sharded_operator_matches_unsharded():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "8 devices" in out, out
    assert {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok")} == {
        "eigsh",
        "expm_multiply",
    }, out
