"""Harness cases for the solves on a stored factor: solve_triangular, cho_factor/cho_solve,
lu_factor/lu_solve, alone and composed (gradients reaching ``a`` through the factor's rule).

References are SciPy's; SciPy's ``cho_factor`` leaves the input's entries in the unused triangle,
JAX (and matcalc) zeros, so that reference is masked to the factor's triangle.
"""

import functools

import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, rng, spd, well_conditioned

T4 = well_conditioned(4, seed=31) + 3 * np.eye(4)  # full matrix: only one triangle is read
TC3 = well_conditioned(3, seed=32, complex_=True) + 3 * np.eye(3)
B42 = rng(33).standard_normal((4, 2))
BC3 = rng(34).standard_normal((3, 2)) + 1j * rng(35).standard_normal((3, 2))
B4 = rng(36).standard_normal(4)
S4 = spd(4, seed=37)
HC3 = spd(3, seed=38, complex_=True)
A4 = well_conditioned(4, seed=39)
AC3 = well_conditioned(3, seed=40, complex_=True)
TALL = rng(41).standard_normal((5, 3))
WIDE_C = rng(42).standard_normal((3, 5)) + 1j * rng(43).standard_normal((3, 5))

L4 = scipy.linalg.cholesky(S4, lower=True)
UC3 = scipy.linalg.cholesky(HC3, lower=False)
LU4, PIV4 = scipy.linalg.lu_factor(A4)
LUC3, PIVC3 = scipy.linalg.lu_factor(AC3)
PIV4, PIVC3 = PIV4.astype(np.int32), PIVC3.astype(np.int32)


def _tri(a, b, **kw):
    return matcalc.solve_triangular(a, b, **kw)


def _tri_ref(**kw):
    return lambda a, b: scipy.linalg.solve_triangular(a, b, **kw)


def _cho_factor_ref(lower):
    def ref(a):
        c, _ = scipy.linalg.cho_factor(a, lower=lower)
        return np.tril(c) if lower else np.triu(c)

    return ref


def _op(a, trans):
    return a if trans == 0 else (a.T if trans == 1 else a.conj().T)


CASES = [
    # --- solve_triangular
    Case.harness(
        "solve_triangular",
        functools.partial(_tri, lower=True),
        (T4, B42),
        "lower",
        check=dict(reference=_tri_ref(lower=True)),
    ),
    Case.harness("solve_triangular", _tri, (T4, B4), "upper_vector", check=dict(reference=_tri_ref())),
    Case.harness(
        "solve_triangular",
        functools.partial(_tri, trans=1, unit_diagonal=True),
        (T4, B42),
        "trans1_unit",
        check=dict(reference=_tri_ref(trans=1, unit_diagonal=True)),
    ),
    Case.harness(
        "solve_triangular",
        functools.partial(_tri, trans=2, lower=True),
        (TC3, BC3),
        "trans2_complex",
        check=dict(reference=_tri_ref(trans=2, lower=True)),
    ),
    # --- cho_factor / cho_solve
    Case.harness(
        "cho_factor",
        lambda a: matcalc.cho_factor(a)[0],
        (S4,),
        "upper",
        check=dict(reference=_cho_factor_ref(False)),
    ),
    Case.harness(
        "cho_factor",
        lambda a: matcalc.cho_factor(a, lower=True)[0],
        (HC3,),
        "lower_complex",
        check=dict(reference=_cho_factor_ref(True)),
    ),
    Case.harness(
        "cho_solve",
        lambda c, b: matcalc.cho_solve((c, True), b),
        (L4, B42),
        "lower",
        check=dict(reference=lambda c, b: scipy.linalg.cho_solve((c, True), b)),
    ),
    Case.harness(
        "cho_solve",
        lambda c, b: matcalc.cho_solve((c, False), b),
        (UC3, BC3),
        "upper_complex",
        check=dict(reference=lambda c, b: scipy.linalg.cho_solve((c, False), b)),
    ),
    Case.harness(
        "cho_solve",
        lambda a, b: matcalc.cho_solve(matcalc.cho_factor(a), b),
        (S4, B4),
        "of_cho_factor",
        check=dict(reference=np.linalg.solve),
    ),
    # --- lu_factor / lu_solve
    Case.harness("lu_factor", matcalc.lu_factor, (A4,), check=dict(reference=scipy.linalg.lu_factor)),
    Case.harness(
        "lu_factor", matcalc.lu_factor, (TALL,), "tall", check=dict(reference=scipy.linalg.lu_factor)
    ),
    Case.harness(
        "lu_factor",
        matcalc.lu_factor,
        (WIDE_C,),
        "wide_complex",
        check=dict(reference=scipy.linalg.lu_factor),
    ),
    Case.harness(
        "lu_solve",
        lambda lu, b: matcalc.lu_solve((lu, PIV4), b),
        (LU4, B42),
        check=dict(reference=lambda lu, b: scipy.linalg.lu_solve((lu, PIV4), b)),
    ),
    Case.harness(
        "lu_solve",
        lambda lu, b: matcalc.lu_solve((lu, PIVC3), b, trans=2),
        (LUC3, BC3),
        "trans2_complex",
        check=dict(reference=lambda lu, b: scipy.linalg.lu_solve((lu, PIVC3), b, 2)),
    ),
    Case.harness(
        "lu_solve",
        lambda a, b: matcalc.lu_solve(matcalc.lu_factor(a), b, trans=1),
        (A4, B4),
        "trans1_of_lu_factor",
        check=dict(reference=lambda a, b: np.linalg.solve(_op(a, 1), b)),
    ),
]
