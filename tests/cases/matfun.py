"""Harness cases for the general matrix functions and matrix equations."""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, rng, well_conditioned


def _scaled(n, norm1, seed, complex_=False):
    a = well_conditioned(n, seed, complex_)
    return a * (norm1 / np.linalg.norm(a, 1))


A3 = well_conditioned(3, seed=11)
AC = well_conditioned(3, seed=12, complex_=True)
POS = well_conditioned(3, seed=13) + 2.5 * np.eye(3)  # spectrum in the right half-plane
POSC = well_conditioned(3, seed=14, complex_=True) + 2.5 * np.eye(3)
STABLE = -POS
E3 = rng(15).standard_normal((3, 3))
B2 = well_conditioned(2, seed=16) + 2.5 * np.eye(2)
C32 = rng(17).standard_normal((3, 2))
Q3 = rng(18).standard_normal((3, 3))


def _sig(a):
    return scipy.linalg.signm(a).real


CASES = [
    # expm: Padé 3, and Padé 13 with squarings (every branch: tests/test_expm_edges.py)
    Case("expm", matcalc.expm, (_scaled(3, 0.01, 21),), "pade3", check=dict(reference=scipy.linalg.expm)),
    Case(
        "expm",
        matcalc.expm,
        (_scaled(3, 12.0, 22),),
        "pade13_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case(
        "expm",
        matcalc.expm,
        (_scaled(3, 3.0, 23, complex_=True),),
        "complex",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case(
        "expm",
        matcalc.expm,
        (_scaled(3, 20.0, 27, complex_=True),),
        "complex_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case(
        "expm",
        functools.partial(matcalc.expm, method="taylor"),
        (_scaled(3, 12.0, 28),),
        "taylor_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case(
        "expm",
        functools.partial(matcalc.expm, method="taylor"),
        (_scaled(3, 20.0, 29, complex_=True),),
        "taylor_complex_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case(
        "expm_frechet",
        lambda a, e: matcalc.expm_frechet(a, e),
        (_scaled(3, 2.0, 24), E3),
        check=dict(reference=lambda a, e: scipy.linalg.expm_frechet(a, e)),
    ),
    Case("logm", matcalc.logm, (POS,), check=dict(reference=scipy.linalg.logm)),
    Case("logm", matcalc.logm, (POSC,), "complex", check=dict(reference=scipy.linalg.logm)),
    Case("sqrtm", matcalc.sqrtm, (POS,), check=dict(reference=scipy.linalg.sqrtm)),
    Case(
        "sqrtm",
        functools.partial(matcalc.sqrtm, sylvester="sign"),
        (POSC,),
        "complex_sign",
        check=dict(reference=scipy.linalg.sqrtm),
    ),
    Case(
        "fractional_matrix_power",
        lambda a: matcalc.fractional_matrix_power(a, 0.37),
        (POS,),
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, 0.37).real),
    ),
    Case(
        "funm",
        lambda a: matcalc.funm(a, jnp.sin),
        (A3,),
        check=dict(reference=lambda a: scipy.linalg.funm(a, np.sin)),
    ),
    Case("signm", matcalc.signm, (A3,), check=dict(reference=_sig)),
    Case("polar", matcalc.polar, (A3,), "right", check=dict(reference=scipy.linalg.polar)),
    Case(
        "polar",
        lambda a: matcalc.polar(a, "left"),
        (AC,),
        "left_complex",
        check=dict(reference=lambda a: scipy.linalg.polar(a, "left")),
    ),
    Case(
        "frechet",
        lambda a, e: matcalc.frechet(matcalc.sqrtm, a, e),
        (POS, E3),
        "sqrtm",
        check=dict(
            reference=lambda a, e: scipy.linalg.solve_sylvester(
                scipy.linalg.sqrtm(a), scipy.linalg.sqrtm(a), e
            )
        ),
    ),
    Case(
        "solve_sylvester",
        matcalc.solve_sylvester,
        (POS, B2, C32),
        "kron",
        check=dict(reference=scipy.linalg.solve_sylvester),
    ),
    Case(
        "solve_sylvester",
        functools.partial(matcalc.solve_sylvester, method="sign"),
        (POS, B2, C32),
        "sign",
        check=dict(reference=scipy.linalg.solve_sylvester),
    ),
    Case(
        "solve_continuous_lyapunov",
        matcalc.solve_continuous_lyapunov,
        (STABLE, Q3),
        check=dict(reference=scipy.linalg.solve_continuous_lyapunov),
    ),
    Case(
        "solve_discrete_lyapunov",
        matcalc.solve_discrete_lyapunov,
        (0.4 * A3, Q3),
        check=dict(reference=scipy.linalg.solve_discrete_lyapunov),
    ),
]
