"""Harness cases for the algebraic Riccati equations and the trigonometric matrix functions.

References are SciPy's solvers; for the generalized (``e``) forms the reference is SciPy's solver
on the equivalent standard problem ``(A E⁻¹, B, E⁻ᴴ Q E⁻¹, R, S = E⁻ᴴ S)`` (the same ``X``).

Benchmark families for the algebraic Riccati equations (the implicit-function gradient against autodiff
through a fixed number of Newton steps written in plain JAX; JAX has no Riccati solver) and the
trigonometric matrix functions (against the same composition on jax.scipy.linalg.expm)."""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg
from jax import lax

import matcalc
from tests.cases import Case, op, rng, well_conditioned
from tests.cases._alts import kron_discrete_lyapunov, kron_sylvester


def system(n, m, seed, complex_=False, scale=1.0):
    """A random (stabilizable, generically controllable) system with Q ≻ 0 and R ≻ 0."""
    r_ = rng(seed)
    a = scale * r_.standard_normal((n, n))
    b = r_.standard_normal((n, m))
    c = r_.standard_normal((n, n))
    if complex_:
        a = a + 1j * scale * r_.standard_normal((n, n))
        b = b + 1j * r_.standard_normal((n, m))
        c = c + 1j * r_.standard_normal((n, n))
    q = c @ c.conj().T / n + 0.1 * np.eye(n)
    g = r_.standard_normal((m, m))
    r = g @ g.T / m + np.eye(m)
    return a, b, q, r


def reduced_reference(solver):
    """SciPy's ``solver`` on the standard problem equivalent to the one with ``e`` (and ``s``)."""

    def ref(a, b, q, r, e=None, s=None):
        if e is not None:
            eih = np.linalg.inv(e).conj().T
            a = a @ np.linalg.inv(e)
            q = eih @ q @ eih.conj().T
            s = None if s is None else eih @ s
        return solver(a, b, q, r, s=s)

    return ref


A3, B31, Q3, R1 = system(3, 1, seed=31)
AC3, BC32, QC3, RC2 = system(3, 2, seed=32, complex_=True)
E3 = well_conditioned(3, seed=33)
EC3 = well_conditioned(3, seed=33, complex_=True)
RCC2 = RC2.astype(complex)  # (strict dtype promotion: every input complex)
S31 = 0.2 * rng(34).standard_normal((3, 1))
SC32 = 0.2 * (rng(35).standard_normal((3, 2)) + 1j * rng(36).standard_normal((3, 2)))
T3 = 0.6 * well_conditioned(3, seed=37)
TC3 = 0.6 * well_conditioned(3, seed=38, complex_=True)

CASES = [
    Case.harness(
        "solve_continuous_are",
        matcalc.solve_continuous_are,
        (A3, B31, Q3, R1),
        check=dict(reference=scipy.linalg.solve_continuous_are),
    ),
    Case.harness(
        "solve_continuous_are",
        matcalc.solve_continuous_are,
        (AC3, BC32, QC3, RCC2, EC3, SC32),
        "complex_e_s",
        check=dict(reference=reduced_reference(scipy.linalg.solve_continuous_are)),
        float32_rtol=None,
        float32_skip="the real case covers float32",
    ),
    # (the 5-point difference at the harness's default step, 7e-3 here, has truncation error
    # ~1e-7 on SciPy's own solution too; 1e-3 brings it to ~5e-12)
    Case.harness(
        "solve_discrete_are",
        matcalc.solve_discrete_are,
        (0.5 * A3, B31, Q3, R1),
        check=dict(reference=scipy.linalg.solve_discrete_are, fd_step=1e-3),
    ),
    Case.harness(
        "solve_discrete_are",
        matcalc.solve_discrete_are,
        (0.5 * AC3, BC32, QC3, RCC2, EC3, SC32),
        "complex_e_s",
        check=dict(reference=reduced_reference(scipy.linalg.solve_discrete_are), fd_step=1e-3),
        float32_rtol=None,
        float32_skip="the real case covers float32",
    ),
    Case.harness("cosm", matcalc.cosm, (T3,), check=dict(reference=scipy.linalg.cosm)),
    Case.harness("cosm", matcalc.cosm, (TC3,), "complex", check=dict(reference=scipy.linalg.cosm)),
    Case.harness("sinm", matcalc.sinm, (T3,), check=dict(reference=scipy.linalg.sinm)),
    Case.harness("tanm", matcalc.tanm, (T3,), check=dict(reference=scipy.linalg.tanm)),
    Case.harness("tanm", matcalc.tanm, (TC3,), "complex", check=dict(reference=scipy.linalg.tanm)),
    Case.harness("coshm", matcalc.coshm, (T3,), check=dict(reference=scipy.linalg.coshm)),
    Case.harness("sinhm", matcalc.sinhm, (TC3,), "complex", check=dict(reference=scipy.linalg.sinhm)),
    Case.harness("tanhm", matcalc.tanhm, (T3,), check=dict(reference=scipy.linalg.tanhm)),
]


# ---------------------------------------------------------------------------------------------
# benchmark families

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


CASES += [
    Case.bench(
        "solve_continuous_are",
        _system,
        op("solve_continuous_are"),
        None,
        "none in JAX",
        alt=newton_kleinman_care,
        alt_name=f"autodiff through {NEWTON_STEPS} Newton–Kleinman steps (Kronecker Lyapunov, n ≤ 48)",
    ),
    Case.bench(
        "solve_discrete_are",
        _discrete_system,
        op("solve_discrete_are"),
        None,
        "none in JAX",
        alt=newton_hewer_dare,
        alt_name=f"autodiff through {NEWTON_STEPS} Newton–Hewer steps (Kronecker Stein, n ≤ 48)",
    ),
    Case.bench(
        "cosm",
        lambda n, r: (well_conditioned(n, r),),
        op("cosm"),
        _jax_cosm,
        "Re jax.scipy.linalg.expm(iA) (autodiff through Padé)",
    ),
    Case.bench(
        "tanhm",
        lambda n, r: (well_conditioned(n, r),),
        op("tanhm"),
        _jax_tanhm,
        "(e^A + e^−A)⁻¹(e^A − e^−A) on jax.scipy.linalg.expm",
    ),
]
