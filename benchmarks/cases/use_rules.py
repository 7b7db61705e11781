"""Benchmark rows for ``use_rules``: a Gaussian log-density written against jax.numpy only
(Cholesky-free: ``slogdet`` + ``solve``), run through matcalc's rules, against the same function
with JAX's rules. The ratio is the cost of the substitution."""

import jax.numpy as jnp
import numpy as np

from benchmarks.cases import BenchCase, op


def _build(n, r):
    a = r.standard_normal((n, n))
    s = a @ a.T / n + np.eye(n)
    return (s, r.standard_normal(n))


def _log_density_batched(s, x):
    quad = jnp.sum(x * jnp.linalg.solve(s, x[..., None])[..., 0], axis=-1)
    return -0.5 * quad - 0.5 * jnp.linalg.slogdet(s)[1]


def _ours(s, x):
    return op("use_rules")(_log_density_batched)(s, x)


def _ref_grad(args, w):
    # ∂/∂S = ½ (S⁻¹x xᵀS⁻¹ − S⁻¹),  ∂/∂x = −S⁻¹x
    s, x = args
    si = np.linalg.inv(s)
    y = si @ x
    return (w * 0.5 * (np.outer(y, y) - si), -w * y)


CASES = [
    BenchCase(
        "use_rules",
        _build,
        _ours,
        _log_density_batched,
        "the same function, JAX's rules",
        variant="Gaussian log-density (solve, slogdet)",
        ref_grad=_ref_grad,
        ref_name="closed form",
    ),
]
