"""Harness cases for the algebraic Riccati equations and the trigonometric matrix functions.

References are SciPy's solvers; for the generalized (``e``) forms the reference is SciPy's solver
on the equivalent standard problem ``(A E⁻¹, B, E⁻ᴴ Q E⁻¹, R, S = E⁻ᴴ S)`` (the same ``X``).
"""

import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, rng, well_conditioned


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
    Case(
        "solve_continuous_are",
        matcalc.solve_continuous_are,
        (A3, B31, Q3, R1),
        check=dict(reference=scipy.linalg.solve_continuous_are),
    ),
    Case(
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
    Case(
        "solve_discrete_are",
        matcalc.solve_discrete_are,
        (0.5 * A3, B31, Q3, R1),
        check=dict(reference=scipy.linalg.solve_discrete_are, fd_step=1e-3),
    ),
    Case(
        "solve_discrete_are",
        matcalc.solve_discrete_are,
        (0.5 * AC3, BC32, QC3, RCC2, EC3, SC32),
        "complex_e_s",
        check=dict(reference=reduced_reference(scipy.linalg.solve_discrete_are), fd_step=1e-3),
        float32_rtol=None,
        float32_skip="the real case covers float32",
    ),
    Case("cosm", matcalc.cosm, (T3,), check=dict(reference=scipy.linalg.cosm)),
    Case("cosm", matcalc.cosm, (TC3,), "complex", check=dict(reference=scipy.linalg.cosm)),
    Case("sinm", matcalc.sinm, (T3,), check=dict(reference=scipy.linalg.sinm)),
    Case("tanm", matcalc.tanm, (T3,), check=dict(reference=scipy.linalg.tanm)),
    Case("tanm", matcalc.tanm, (TC3,), "complex", check=dict(reference=scipy.linalg.tanm)),
    Case("coshm", matcalc.coshm, (T3,), check=dict(reference=scipy.linalg.coshm)),
    Case("sinhm", matcalc.sinhm, (TC3,), "complex", check=dict(reference=scipy.linalg.sinhm)),
    Case("tanhm", matcalc.tanhm, (T3,), check=dict(reference=scipy.linalg.tanhm)),
]
