"""Benchmark rows for the algebraic Riccati equations (the implicit-function gradient against
autodiff through a fixed number of Newton steps written in plain JAX; JAX has no Riccati solver)
and the trigonometric matrix functions (against the same composition on jax.scipy.linalg.expm)."""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import lax

from . import BenchCase, op, well_conditioned
from ._alts import kron_discrete_lyapunov, kron_sylvester

NEWTON_STEPS = 12


def _system(n, r):
    """A stable plant (so X₀ = 0 is a stabilizing start for Newton–Kleinman), B with n/4 inputs."""
    m = max(1, n // 4)
    a = -(np.eye(n) + 0.3 * r.standard_normal((n, n)) / n**0.5)
    b = r.standard_normal((n, m)) / n**0.5
    c = r.standard_normal((n, n)) / n**0.5
    q = c @ c.T + 0.1 * np.eye(n)
    g = r.standard_normal((m, m))
    return a, b, q, g @ g.T / m + np.eye(m)


def newton_kleinman_care(a, b, q, r):
    """Continuous ARE by NEWTON_STEPS Newton–Kleinman steps from X₀ = 0 (A stable), each a dense
    Kronecker Lyapunov solve ``(A − G X)ᵀ X⁺ + X⁺ (A − G X) = −(Q + X G X)``; differentiated by
    autodiff through every step."""
    g = b @ jnp.linalg.solve(r, b.T)

    def step(x, _):
        ac = a - g @ x
        return kron_sylvester(ac.T, ac, -(q + x @ g @ x)), None

    return lax.scan(step, jnp.zeros_like(a), None, length=NEWTON_STEPS)[0]


def newton_hewer_dare(a, b, q, r):
    """Discrete ARE by NEWTON_STEPS Newton–Hewer steps from X₀ = 0 (A Schur-stable), each a dense
    Kronecker Stein solve ``Acᵀ X⁺ Ac − X⁺ + Q + Kᵀ R K = 0``; autodiff through every step."""

    def step(x, _):
        k = jnp.linalg.solve(r + b.T @ x @ b, b.T @ x @ a)
        ac = a - b @ k
        return kron_discrete_lyapunov(ac.T, q + k.T @ r @ k), None

    return lax.scan(step, jnp.zeros_like(a), None, length=NEWTON_STEPS)[0]


def _discrete_system(n, r):
    a, b, q, rr = _system(n, r)
    return 0.5 * (a + 2 * np.eye(n)), b, q, rr  # eigenvalues around 0.5


def _jax_cosm(a):
    return jnp.real(jsl.expm(1j * a))


def _jax_tanhm(a):
    ep, em = jsl.expm(a), jsl.expm(-a)
    return jnp.linalg.solve(ep + em, ep - em)


CASES = [
    BenchCase(
        "solve_continuous_are",
        _system,
        op("solve_continuous_are"),
        None,
        "none in JAX",
        alt=newton_kleinman_care,
        alt_name=f"autodiff through {NEWTON_STEPS} Newton–Kleinman steps (Kronecker Lyapunov, n ≤ 48)",
    ),
    BenchCase(
        "solve_discrete_are",
        _discrete_system,
        op("solve_discrete_are"),
        None,
        "none in JAX",
        alt=newton_hewer_dare,
        alt_name=f"autodiff through {NEWTON_STEPS} Newton–Hewer steps (Kronecker Stein, n ≤ 48)",
    ),
    BenchCase(
        "cosm",
        lambda n, r: (well_conditioned(n, r),),
        op("cosm"),
        _jax_cosm,
        "Re jax.scipy.linalg.expm(iA) (autodiff through Padé)",
    ),
    BenchCase(
        "tanhm",
        lambda n, r: (well_conditioned(n, r),),
        op("tanhm"),
        _jax_tanhm,
        "(e^A + e^−A)⁻¹(e^A − e^−A) on jax.scipy.linalg.expm",
    ),
]
