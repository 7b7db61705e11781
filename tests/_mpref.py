"""High-precision (mpmath) references for Hermitian matrix functions and their derivatives.

``f(A)`` is evaluated from an mpmath eigendecomposition at high precision, and the first and second
Fréchet derivatives by central differences with a step of 1e-30 at 80–110 digits, so the references
are independent of the Daleckii–Krein formulas under test and accurate to ~40 digits.
"""

import mpmath as mp
import numpy as np


def _to_mp(x):
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return mp.matrix([[mp.mpc(complex(v)) for v in row] for row in x])
    return mp.matrix([[mp.mpf(float(v)) for v in row] for row in x])


def _to_np(m, cplx):
    conv = complex if cplx else (lambda z: float(mp.re(z)))
    return np.array([[conv(m[i, j]) for j in range(m.cols)] for i in range(m.rows)])


def mp_funm(a, f):
    """``f(A)`` for an mpmath Hermitian matrix ``a``."""
    cplx = any(mp.im(a[i, j]) != 0 for i in range(a.rows) for j in range(a.cols))
    w, q = mp.eighe(a) if cplx else mp.eigsy(a)
    return q * mp.diag([f(x) for x in w]) * q.H


def funm_ref(a, f, dps=50):
    with mp.workdps(dps):
        return _to_np(mp_funm(_to_mp(a), f), np.iscomplexobj(a))


def frechet_ref(a, e, f, dps=80):
    """``L_f(A, E)`` by a central difference (step 1e-30) at ``dps`` digits."""
    with mp.workdps(dps):
        h = mp.mpf("1e-30")
        am, em = _to_mp(a), _to_mp(e)
        d = (mp_funm(am + h * em, f) - mp_funm(am - h * em, f)) / (2 * h)
        return _to_np(d, np.iscomplexobj(a) or np.iscomplexobj(e))


def second_ref(a, e1, e2, f, dps=110):
    """``D²f(A)(E₁, E₂)`` by a central mixed difference (step 1e-30) at ``dps`` digits."""
    with mp.workdps(dps):
        h = mp.mpf("1e-30")
        am, p, q = _to_mp(a), _to_mp(e1), _to_mp(e2)
        d = (
            mp_funm(am + h * p + h * q, f)
            - mp_funm(am + h * p - h * q, f)
            - mp_funm(am - h * p + h * q, f)
            + mp_funm(am - h * p - h * q, f)
        ) / (4 * h * h)
        return _to_np(d, np.iscomplexobj(a))
