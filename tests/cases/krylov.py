"""Harness cases for the matrix-free rules of ``matcalc.krylov``.

``expm_multiply`` is a ``jax.custom_vjp`` rule by default (its step count is data-dependent, so its
tangent could not be transposed), hence ``check_jvp=False`` and ``check_second_order=False`` there
(the transpose identity is checked against finite differences; second order, forward over reverse,
is tested in ``tests/test_expm_multiply.py``); ``derivative="forward"`` is the forward-mode rule,
checked with ``check_vjp=False``. References are SciPy's dense ``expm``.
"""

import functools

import numpy as np
import scipy.linalg

from matcalc.krylov import expm_multiply
from tests.cases import Case, rng

A6 = 0.6 * rng(31).standard_normal((6, 6))
B6 = rng(32).standard_normal((6, 2))
T = np.array(0.7)


def _expm_multiply_ref(a, b, t):
    return scipy.linalg.expm(t * a) @ b


CASES = [
    Case(
        "krylov.expm_multiply",
        expm_multiply,
        (A6, B6, T),
        "reverse_A_B_t",
        check=dict(reference=_expm_multiply_ref, check_jvp=False, check_second_order=False),
        float32_rtol=1e-4,
    ),
    Case(
        "krylov.expm_multiply",
        functools.partial(expm_multiply, derivative="forward"),
        (A6, B6, T),
        "forward_A_B_t",
        check=dict(reference=_expm_multiply_ref, check_vjp=False),
        float32_rtol=1e-4,
    ),
]
