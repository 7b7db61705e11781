"""Sharded input on 8 simulated CPU devices: ``use_rules`` keeps a program's sharding constraints,
and the matrix-free rules on an operator sharded by rows (``NamedSharding`` over the rows under
``jit``) give the same values and gradients as unsharded.

``eigsh``, ``expm_multiply``, ``logdet``, ``trace_funm`` and ``trace`` are checked here. The
stochastic estimators once deadlocked here under load: jaxlib's batched CPU ``eigh`` of the probes'
tridiagonals waits on the intra-op thread pool that every device's copy of it occupies; they now
call it per matrix on CPU (``lanczos.per_matrix``).

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
from matcalc.krylov import eigsh, expm_multiply, logdet, trace, trace_funm

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
    "logdet": lambda m: logdet(m, key=key, num_probes=8, order=20, preconditioner_rank=8),
    "trace_funm": lambda m: trace_funm(m, jnp.log, key=key, num_probes=8, order=20),
    "trace": lambda m: trace(m, key=key, num_probes=8),
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


_USE_RULES_SCRIPT = """
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

jax.config.update("jax_enable_x64", True)
import matcalc

devices = jax.devices()
print(f"{len(devices)} devices")
mesh = Mesh(np.array(devices), ("batch",))
batch = NamedSharding(mesh, PartitionSpec("batch", None, None))
rng = np.random.default_rng(0)
x = rng.standard_normal((8, 5, 5))
spd = jnp.asarray(x @ np.swapaxes(x, -1, -2) + 5 * np.eye(5))


def model(a):
    factor = jnp.linalg.cholesky(a)
    factor = jax.lax.with_sharding_constraint(factor, batch)
    return jnp.sum(jnp.log(jnp.diagonal(factor, axis1=-2, axis2=-1)) ** 2)


sharded = jax.device_put(spd, batch)
plain = jax.jit(jax.value_and_grad(model))
ruled = jax.jit(jax.value_and_grad(matcalc.use_rules(model)))
value, grad = plain(sharded)
value_r, grad_r = ruled(sharded)
np.testing.assert_allclose(value_r, value, rtol=1e-13)
np.testing.assert_allclose(grad_r, grad, rtol=1e-10, atol=1e-14)
assert grad_r.sharding.is_equivalent_to(batch, 3), grad_r.sharding
text = jax.jit(matcalc.use_rules(model)).lower(sharded).as_text()
assert "sdy.sharding_constraint" in text and "cholesky" in str(matcalc.rules_report(model, spd))
print("ok use_rules")
"""


def _run_on_8_devices(script):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, proc.stdout + proc.stderr


def test_use_rules_keeps_the_sharding_constraints_of_the_program():
    """A model with a sharding constraint on its Cholesky factor, on a batch sharded over 8
    devices: the same value and gradient under use_rules, the gradient keeps the batch sharding and
    the constraint is in the compiled program."""
    proc, out = _run_on_8_devices(_USE_RULES_SCRIPT)
    assert proc.returncode == 0, out
    assert "8 devices" in out and "ok use_rules" in out, out


def test_row_sharded_operator_matches_unsharded():
    proc, out = _run_on_8_devices(_SCRIPT)
    assert proc.returncode == 0, out
    assert "8 devices" in out, out
    assert {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok")} == {
        "eigsh",
        "expm_multiply",
        "logdet",
        "trace_funm",
        "trace",
    }, out
