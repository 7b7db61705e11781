"""Harness cases for the generalized Hermitian-definite eigenproblem ``eigh_generalized`` (types 1,
2, 3), against ``scipy.linalg.eigh(a, b, type=...)``.

The eigenvectors are compared through the gauge of the ``eigh`` cases (each column's
largest-magnitude entry made real positive), which fixes the sign/phase LAPACK leaves free; the
normalization (``Vᴴ B V = I``, or ``Vᴴ B⁻¹ V = I`` for type 3) is SciPy's.
"""

import functools

import numpy as np
import scipy.linalg

import matcalc
from matcalc._core import symmetrize
from tests.cases import Case, rng, spd
from tests.cases.hermitian import eigh_gauge


def _hermitian(n, seed, complex_=False):
    r = rng(seed)
    x = r.standard_normal((n, n))
    if complex_:
        x = x + 1j * r.standard_normal((n, n))
    return (x + x.conj().T) / 2


A4 = _hermitian(4, 31)
B4 = spd(4, seed=32, spread=4.0)
AC3 = _hermitian(3, 33, complex_=True)
BC3 = spd(3, seed=34, complex_=True, spread=3.0)


def _case(a, b, kind, variant):
    return Case(
        "eigh_generalized",
        lambda a_, b_: tuple(matcalc.eigh_generalized(a_, b_, type=kind)),
        (a, b),
        variant,
        check=dict(
            reference=functools.partial(scipy.linalg.eigh, type=kind),
            output_gauge=eigh_gauge,
            tangent_projection=symmetrize,
        ),
    )


CASES = [
    _case(A4, B4, 1, "type1_real"),
    _case(AC3, BC3, 1, "type1_complex"),
    _case(A4, B4, 2, "type2_real"),
    _case(AC3, BC3, 3, "type3_complex"),
]

del np
