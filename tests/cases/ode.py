"""Harness cases for ``matcalc.ode.odeint``: one per reverse-mode adjoint.

The three adjoints are ``jax.custom_vjp`` rules (reverse mode only), so the cases run with
``check_jvp=False`` (the transpose identity is checked against finite differences) and
``check_second_order=False``. ``adjoint="forward"`` (a ``custom_jvp`` with no reverse mode) runs
with ``check_vjp=False``: finite differences, jit, vmap and jvp-of-jvp.

Problems are small linear ODEs ``y' = A y`` with the matrix exponential as reference, integrated at
rtol = atol = 1e-12 so that finite differences of the adaptive solution are accurate to about
solver tolerance / step = 1e-9 (hence ``fd_rtol=1e-7``).
"""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.linalg

from matcalc.ode import odeint
from tests.cases import Case, rng

A3 = 0.5 * rng(11).standard_normal((3, 3))
Y3 = rng(12).standard_normal(3)
T3 = np.array([0.0, 0.5, 1.2])
TOL = dict(rtol=1e-12, atol=1e-12)
_F32 = "tolerances of 1e-12 are unattainable in float32; tests/test_ode.py has a float32 test"


def _linear(y, t, a):
    return a @ y


def _solve_all(adjoint, y0, t, a):
    return odeint(_linear, y0, t, a, adjoint=adjoint, **TOL)


def _solve_at(adjoint, y0, a):
    return odeint(_linear, y0, jnp.asarray(T3), a, adjoint=adjoint, **TOL)


def _ref_all(y0, t, a):
    return np.stack([scipy.linalg.expm(a * s) @ y0 for s in t])


def _ref_at(y0, a):
    return _ref_all(y0, T3, a)


_CHECK = dict(check_jvp=False, check_second_order=False, fd_rtol=1e-7)

CASES = [
    Case(
        "ode.odeint",
        functools.partial(_solve_all, "backsolve"),
        (Y3, T3, A3),
        "backsolve_y0_t_A",
        check=dict(reference=_ref_all, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case(
        "ode.odeint",
        functools.partial(_solve_at, "interpolated"),
        (Y3, A3),
        "interpolated_y0_A",
        check=dict(reference=_ref_at, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case(
        "ode.odeint",
        functools.partial(_solve_at, "quadrature"),
        (Y3, A3),
        "quadrature_y0_A",
        check=dict(reference=_ref_at, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case(
        "ode.odeint",
        functools.partial(_solve_at, "forward"),
        (Y3, A3),
        "forward_y0_A",
        check=dict(reference=_ref_at, check_vjp=False, fd_rtol=1e-7, second_order_rtol=1e-5),
        float32_rtol=None,
        float32_skip=_F32,
    ),
]
