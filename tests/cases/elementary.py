"""Harness cases for the elementary rules (inv, solve, det, ..., vec)."""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.linalg

import matcalc
from matcalc._core import symmetrize
from tests.cases import Case, rng, spd, well_conditioned

A4 = well_conditioned(4, seed=1)
AC = well_conditioned(3, seed=2, complex_=True)
B4 = rng(3).standard_normal((4, 2))
b4 = rng(4).standard_normal(4)
TALL = rng(5).standard_normal((5, 3))
WIDE = rng(6).standard_normal((3, 5))
S4 = spd(4, seed=7)
HC = spd(3, seed=8, complex_=True)


def _slogdet_ref(a):
    return tuple(np.linalg.slogdet(a))


def _lstsq_ref(a, b):
    x, _, _, s = np.linalg.lstsq(a, b, rcond=None)
    r = np.sum(np.abs(b - a @ x) ** 2, axis=0)
    return x, r, s


def _lstsq_float_outputs(a, b):
    x, resid, _, s = matcalc.lstsq(a, b)
    return x, resid, s


CASES = [
    Case("inv", matcalc.inv, (A4,), check=dict(reference=np.linalg.inv)),
    Case("inv", matcalc.inv, (AC,), "complex", check=dict(reference=np.linalg.inv)),
    Case("solve", matcalc.solve, (A4, B4), "matrix_rhs", check=dict(reference=np.linalg.solve)),
    Case("solve", matcalc.solve, (A4, b4), "vector_rhs", check=dict(reference=np.linalg.solve)),
    Case("solve", matcalc.solve, (AC, AC[:, :2] + 1j), "complex", check=dict(reference=np.linalg.solve)),
    Case("det", matcalc.det, (A4,), check=dict(reference=np.linalg.det)),
    Case("det", matcalc.det, (AC,), "complex", check=dict(reference=np.linalg.det)),
    Case("slogdet", lambda a: tuple(matcalc.slogdet(a)), (A4,), check=dict(reference=_slogdet_ref)),
    Case(
        "slogdet", lambda a: tuple(matcalc.slogdet(a)), (AC,), "complex", check=dict(reference=_slogdet_ref)
    ),
    Case("logdet", matcalc.logdet, (A4,), "gen", check=dict(reference=lambda a: np.linalg.slogdet(a)[1])),
    Case(
        "logdet",
        functools.partial(matcalc.logdet, assume_a="pos"),
        (S4,),
        "pos",
        check=dict(reference=lambda a: np.linalg.slogdet(a)[1], tangent_projection=symmetrize),
    ),
    Case(
        "logdet",
        functools.partial(matcalc.logdet, assume_a="pos"),
        (HC,),
        "pos_complex",
        check=dict(reference=lambda a: np.linalg.slogdet(a)[1], tangent_projection=symmetrize),
    ),
    Case("pinv", matcalc.pinv, (TALL,), "tall", check=dict(reference=np.linalg.pinv)),
    Case("pinv", matcalc.pinv, (WIDE,), "wide", check=dict(reference=np.linalg.pinv)),
    Case("pinv", matcalc.pinv, (AC,), "complex", check=dict(reference=np.linalg.pinv)),
    Case(
        "pinv",
        functools.partial(matcalc.pinv, hermitian=True),
        (S4,),
        "hermitian",
        check=dict(reference=np.linalg.pinv, tangent_projection=symmetrize),
    ),
    Case(
        "lstsq",
        _lstsq_float_outputs,
        (TALL, rng(9).standard_normal((5, 2))),
        "tall",
        check=dict(reference=_lstsq_ref),
    ),
    Case(
        "lstsq",
        lambda a, b: matcalc.lstsq(a, b)[0],
        (WIDE, B4[:3, 0]),
        "wide_underdetermined",
        check=dict(reference=lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0]),
    ),
    Case(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, 5),
        (A4,),
        "5",
        check=dict(reference=lambda a: np.linalg.matrix_power(a, 5)),
    ),
    Case(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, -3),
        (A4,),
        "-3",
        check=dict(reference=lambda a: np.linalg.matrix_power(a, -3)),
    ),
    Case(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, 2),
        (AC,),
        "complex",
        check=dict(reference=lambda a: a @ a),
    ),
    *[
        Case(
            "norm",
            functools.partial(matcalc.norm, ord=o),
            (A4,),
            f"ord={o}",
            check=dict(reference=functools.partial(np.linalg.norm, ord=o)),
        )
        for o in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)
    ],
    Case(
        "norm",
        functools.partial(matcalc.norm, ord=2),
        (AC,),
        "complex_2",
        check=dict(reference=functools.partial(np.linalg.norm, ord=2)),
    ),
    Case("norm", matcalc.norm, (b4,), "vector_2", check=dict(reference=np.linalg.norm)),
    Case(
        "norm",
        functools.partial(matcalc.norm, ord=3),
        (b4,),
        "vector_3",
        check=dict(reference=functools.partial(np.linalg.norm, ord=3)),
    ),
    Case(
        "norm",
        functools.partial(matcalc.norm, axis=(-2, -1), ord="nuc"),
        (np.stack([A4, 2 * A4]),),
        "batched_nuc",
        check=dict(reference=lambda a: np.linalg.norm(a, ord="nuc", axis=(-2, -1))),
    ),
    Case("vec", matcalc.vec, (TALL,), check=dict(reference=lambda a: a.T.reshape(-1))),
    Case(
        "unvec",
        lambda v: matcalc.unvec(v, (5, 3)),
        (TALL.T.reshape(-1),),
        check=dict(reference=lambda v: v.reshape(3, 5).T),
    ),
    Case(
        "jacobian_matrix",
        lambda a: matcalc.jacobian_matrix(lambda x: x @ x, a),
        (A4[:3, :3],),
        check=dict(reference=lambda a: np.kron(np.eye(3), a) + np.kron(a.T, np.eye(3))),
    ),
]

del jnp, scipy
