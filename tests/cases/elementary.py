"""Harness cases for the elementary rules (inv, solve, det, ..., vec).

Benchmark families for the elementary rules: inv, solve, det, slogdet, logdet, pinv, lstsq, matrix_power,
norm, vec, unvec, jacobian_matrix (baselines: the same ``jnp.linalg`` function under JAX's default
derivative)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import matcalc
from tests.cases import Case, op, rng, spd, symmetrize, unit_det, well_conditioned

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
    Case.harness("inv", matcalc.inv, (A4,), check=dict(reference=np.linalg.inv)),
    Case.harness("inv", matcalc.inv, (AC,), "complex", check=dict(reference=np.linalg.inv)),
    Case.harness("solve", matcalc.solve, (A4, B4), "matrix_rhs", check=dict(reference=np.linalg.solve)),
    Case.harness("solve", matcalc.solve, (A4, b4), "vector_rhs", check=dict(reference=np.linalg.solve)),
    Case.harness(
        "solve", matcalc.solve, (AC, AC[:, :2] + 1j), "complex", check=dict(reference=np.linalg.solve)
    ),
    Case.harness("det", matcalc.det, (A4,), check=dict(reference=np.linalg.det)),
    Case.harness("det", matcalc.det, (AC,), "complex", check=dict(reference=np.linalg.det)),
    Case.harness("slogdet", lambda a: tuple(matcalc.slogdet(a)), (A4,), check=dict(reference=_slogdet_ref)),
    Case.harness(
        "slogdet", lambda a: tuple(matcalc.slogdet(a)), (AC,), "complex", check=dict(reference=_slogdet_ref)
    ),
    Case.harness(
        "logdet", matcalc.logdet, (A4,), "gen", check=dict(reference=lambda a: np.linalg.slogdet(a)[1])
    ),
    Case.harness(
        "logdet",
        functools.partial(matcalc.logdet, assume_a="pos"),
        (S4,),
        "pos",
        check=dict(reference=lambda a: np.linalg.slogdet(a)[1], tangent_projection=symmetrize),
    ),
    Case.harness(
        "logdet",
        functools.partial(matcalc.logdet, assume_a="pos"),
        (HC,),
        "pos_complex",
        check=dict(reference=lambda a: np.linalg.slogdet(a)[1], tangent_projection=symmetrize),
    ),
    Case.harness("pinv", matcalc.pinv, (TALL,), "tall", check=dict(reference=np.linalg.pinv)),
    Case.harness("pinv", matcalc.pinv, (WIDE,), "wide", check=dict(reference=np.linalg.pinv)),
    Case.harness("pinv", matcalc.pinv, (AC,), "complex", check=dict(reference=np.linalg.pinv)),
    Case.harness(
        "pinv",
        functools.partial(matcalc.pinv, hermitian=True),
        (S4,),
        "hermitian",
        check=dict(reference=np.linalg.pinv, tangent_projection=symmetrize),
    ),
    Case.harness(
        "lstsq",
        _lstsq_float_outputs,
        (TALL, rng(9).standard_normal((5, 2))),
        "tall",
        check=dict(reference=_lstsq_ref),
    ),
    Case.harness(
        "lstsq",
        lambda a, b: matcalc.lstsq(a, b)[0],
        (WIDE, B4[:3, 0]),
        "wide_underdetermined",
        check=dict(reference=lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0]),
    ),
    Case.harness(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, 5),
        (A4,),
        "5",
        check=dict(reference=lambda a: np.linalg.matrix_power(a, 5)),
    ),
    Case.harness(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, -3),
        (A4,),
        "-3",
        check=dict(reference=lambda a: np.linalg.matrix_power(a, -3)),
    ),
    Case.harness(
        "matrix_power",
        lambda a: matcalc.matrix_power(a, 2),
        (AC,),
        "complex",
        check=dict(reference=lambda a: a @ a),
    ),
    *[
        Case.harness(
            "norm",
            functools.partial(matcalc.norm, ord=o),
            (A4,),
            f"ord={o}",
            check=dict(reference=functools.partial(np.linalg.norm, ord=o)),
        )
        for o in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)
    ],
    Case.harness(
        "norm",
        functools.partial(matcalc.norm, ord=2),
        (AC,),
        "complex_2",
        check=dict(reference=functools.partial(np.linalg.norm, ord=2)),
    ),
    Case.harness("norm", matcalc.norm, (b4,), "vector_2", check=dict(reference=np.linalg.norm)),
    Case.harness(
        "norm",
        functools.partial(matcalc.norm, ord=3),
        (b4,),
        "vector_3",
        check=dict(reference=functools.partial(np.linalg.norm, ord=3)),
    ),
    Case.harness(
        "norm",
        functools.partial(matcalc.norm, axis=(-2, -1), ord="nuc"),
        (np.stack([A4, 2 * A4]),),
        "batched_nuc",
        check=dict(reference=lambda a: np.linalg.norm(a, ord="nuc", axis=(-2, -1))),
    ),
    Case.harness("vec", matcalc.vec, (TALL,), check=dict(reference=lambda a: a.T.reshape(-1))),
    Case.harness(
        "unvec",
        lambda v: matcalc.unvec(v, (5, 3)),
        (TALL.T.reshape(-1),),
        check=dict(reference=lambda v: v.reshape(3, 5).T),
    ),
    Case.harness(
        "jacobian_matrix",
        lambda a: matcalc.jacobian_matrix(lambda x: x @ x, a),
        (A4[:3, :3],),
        check=dict(reference=lambda a: np.kron(np.eye(3), a) + np.kron(a.T, np.eye(3))),
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families


def _mp():
    import mpmath

    return mpmath


def _rank_deficient(n, rng, rank):
    u = np.linalg.qr(rng.standard_normal((n, n)))[0]
    v = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = np.zeros(n)
    s[:rank] = np.geomspace(2.0, 0.5, rank)
    return (u * s) @ v.T


def _mp_pinv(a, cut=1e-8):
    mp = _mp()
    u, s, v = mp.svd_r(a, full_matrices=False)  # a = u diag(s) v
    k = len(s)
    smax = max(s[i] for i in range(k))
    sinv = mp.diag([1 / s[i] if s[i] > cut * smax else 0 for i in range(k)])
    return v.T * sinv * u.T


def _mp_svals(a):
    mp = _mp()
    s = mp.svd_r(a, compute_uv=False)
    return [s[i] for i in range(len(s))]


def _tall(n, rng):
    return (well_conditioned(n, rng, m=n + n // 2),)


def _lstsq_args(n, rng):
    m = n + n // 2
    return well_conditioned(n, rng, m=m), rng.standard_normal(m)


def _top_two_tied(n, rng):
    u = np.linalg.qr(rng.standard_normal((n, n)))[0]
    v = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = np.geomspace(2.0, 0.5, n)
    s[1] = s[0]
    return ((u * s) @ v.T,)


def _avg_top_subgradient(args, w, k=2):
    (a,) = args
    u, s, vt = np.linalg.svd(a)
    return (w * (u[:, :k] @ vt[:k]) / k,)


def _nuc_subgradient(args, w):
    (a,) = args
    u, s, vt = np.linalg.svd(a)
    r = int(np.sum(s > a.shape[-1] * np.finfo(float).eps * s[0]))
    return (w * (u[:, :r] @ vt[:r]),)


def _jac_square_jax(a):
    n = a.shape[-1]
    flat = lambda v: (lambda x: (x @ x).T.reshape(-1))(v.reshape(n, n).T)
    return jax.jacfwd(flat)(a.T.reshape(-1))


def _mp_jac_square(a):
    mp = _mp()
    n = a.rows
    eye = mp.eye(n)

    def kron(x, y):
        out = mp.zeros(n * n, n * n)
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    for l in range(n):
                        out[i * n + k, j * n + l] = x[i, j] * y[k, l]
        return out

    return kron(eye, a) + kron(a.T, eye)


inv = op("inv")
solve = op("solve")
det = op("det")
slogdet = op("slogdet")
logdet = op("logdet")
pinv = op("pinv")
lstsq = op("lstsq")
matrix_power = op("matrix_power")
norm = op("norm")
vec = op("vec")
unvec = op("unvec")
jacobian_matrix = op("jacobian_matrix")

_NONSMOOTH = dict(nonsmooth=True)

CASES += [
    Case.bench(
        "inv",
        lambda n, r: (well_conditioned(n, r),),
        inv,
        jnp.linalg.inv,
        "jnp.linalg.inv",
        mp=lambda a: _mp().inverse(a),
    ),
    Case.bench(
        "solve",
        lambda n, r: (well_conditioned(n, r), r.standard_normal((n, 4))),
        solve,
        jnp.linalg.solve,
        "jnp.linalg.solve",
        variant="b: n×4",
        mp=lambda a, b: _mp().inverse(a) * b,
    ),
    Case.bench(
        "det",
        lambda n, r: (unit_det(n, r),),
        det,
        jnp.linalg.det,
        "jnp.linalg.det",
        mp=lambda a: _mp().det(a),
    ),
    Case.bench(
        "det",
        lambda n, r: (_rank_deficient(n, r, n - 1),),
        det,
        jnp.linalg.det,
        "jnp.linalg.det",
        variant="singular, rank n−1",
        degenerate=True,
        mp=lambda a: _mp().det(a),
        quick=False,
    ),
    Case.bench(
        "det",
        lambda n, r: (_rank_deficient(n, r, n - 2),),
        det,
        jnp.linalg.det,
        "jnp.linalg.det",
        variant="singular, rank n−2",
        degenerate=True,
        mp=lambda a: _mp().det(a),
        extra=dict(err_floor=1.0),
        quick=False,
        note="the gradient (adjugate) is zero at rank ≤ n−2; err is absolute there",
    ),
    Case.bench(
        "slogdet",
        lambda n, r: (well_conditioned(n, r),),
        lambda a: slogdet(a)[1],
        lambda a: jnp.linalg.slogdet(a)[1],
        "jnp.linalg.slogdet",
        mp=lambda a: _mp().log(abs(_mp().det(a))),
    ),
    Case.bench(
        "logdet",
        lambda n, r: (well_conditioned(n, r),),
        logdet,
        lambda a: jnp.linalg.slogdet(a)[1],
        "jnp.linalg.slogdet(a)[1]",
        variant="gen",
        mp=lambda a: _mp().log(abs(_mp().det(a))),
        quick=False,
    ),
    Case.bench(
        "logdet",
        lambda n, r: (spd(n, r),),
        lambda a: logdet(a, assume_a="pos"),
        lambda a: jnp.linalg.slogdet(a)[1],
        "jnp.linalg.slogdet(a)[1]",
        variant="pos (SPD)",
        alt=lambda a: 2 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a), axis1=-2, axis2=-1)), axis=-1),
        alt_name="2·Σ log diag(jnp.linalg.cholesky(a))",
        extra=dict(prefer_alt=True),
        tangent_projection=symmetrize,
        mp=lambda a: _mp().log(_mp().det(a)),
    ),
    Case.bench("pinv", _tall, pinv, jnp.linalg.pinv, "jnp.linalg.pinv", variant="tall 1.5n×n", mp=_mp_pinv),
    Case.bench(
        "pinv",
        lambda n, r: (_rank_deficient(n, r, n // 2),),
        pinv,
        jnp.linalg.pinv,
        "jnp.linalg.pinv",
        variant="rank n/2",
        degenerate=True,
        mp=_mp_pinv,
        quick=False,
        note="derivative of the constant-rank (truncated) problem",
    ),
    Case.bench(
        "lstsq",
        _lstsq_args,
        lambda a, b: lstsq(a, b)[0],
        lambda a, b: jnp.linalg.lstsq(a, b)[0],
        "jnp.linalg.lstsq",
        variant="tall 1.5n×n",
        batched=False,
        mp=lambda a, b: _mp().qr_solve(a, b)[0],
    ),
    Case.bench(
        "lstsq",
        lambda n, r: (np.eye(n), r.standard_normal(n)),
        lambda a, b: lstsq(a, b)[0],
        lambda a, b: jnp.linalg.lstsq(a, b)[0],
        "jnp.linalg.lstsq",
        variant="a = I",
        batched=False,
        degenerate=True,
        alt=lambda a, b: jnp.linalg.solve(a.T @ a, a.T @ b),
        alt_name="normal equations solve(aᵀa, aᵀb)",
        mp=lambda a, b: _mp().lu_solve(a, b),
        note="JAX's SVD-based gradient divides by σᵢ−σⱼ = 0",
    ),
    Case.bench(
        "matrix_power",
        lambda n, r: (well_conditioned(n, r, 0.8, 1.25),),
        lambda a: matrix_power(a, 5),
        lambda a: jnp.linalg.matrix_power(a, 5),
        "jnp.linalg.matrix_power",
        variant="p = 5",
        mp=lambda a: a**5,
    ),
    Case.bench(
        "matrix_power",
        lambda n, r: (well_conditioned(n, r, 0.8, 1.25),),
        lambda a: matrix_power(a, -3),
        lambda a: jnp.linalg.matrix_power(a, -3),
        "jnp.linalg.matrix_power",
        variant="p = −3",
        mp=lambda a: _mp().inverse(a) ** 3,
        quick=False,
    ),
    Case.bench(
        "norm",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: norm(a, "fro", axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, "fro", axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="fro",
        mp=lambda a: _mp().mnorm(a, "f"),
        quick=False,
    ),
    Case.bench(
        "norm",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: norm(a, "nuc", axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, "nuc", axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="nuc",
        mp=lambda a: sum(_mp_svals(a)),
        quick=False,
    ),
    Case.bench(
        "norm",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: norm(a, 2, axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, 2, axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="2",
        mp=lambda a: max(_mp_svals(a)),
    ),
    Case.bench(
        "norm",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: norm(a, 1, axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, 1, axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="1",
        mp=lambda a: _mp().mnorm(a, 1),
        quick=False,
    ),
    Case.bench(
        "norm",
        _top_two_tied,
        lambda a: norm(a, 2, axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, 2, axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="2, σ₁ = σ₂",
        degenerate=True,
        ref_grad=_avg_top_subgradient,
        quick=False,
        ref_name="averaged subgradient (u₁v₁ᵀ+u₂v₂ᵀ)/2",
        extra=_NONSMOOTH,
        note="non-smooth point: matcalc returns the basis-independent averaged subgradient; "
        "any convex combination of u₁v₁ᵀ, u₂v₂ᵀ is a valid subgradient",
    ),
    Case.bench(
        "norm",
        lambda n, r: (_rank_deficient(n, r, n // 2),),
        lambda a: norm(a, "nuc", axis=(-2, -1)),
        lambda a: jnp.linalg.norm(a, "nuc", axis=(-2, -1)),
        "jnp.linalg.norm",
        variant="nuc, rank n/2",
        degenerate=True,
        ref_grad=_nuc_subgradient,
        ref_name="minimal-norm subgradient U_r V_rᵀ",
        extra=_NONSMOOTH,
        note="non-smooth point: matcalc returns the minimal-norm subgradient U_r V_rᵀ",
    ),
    Case.bench(
        "vec",
        lambda n, r: (r.standard_normal((n, n)),),
        vec,
        lambda a: jnp.swapaxes(a, -1, -2).reshape(*a.shape[:-2], -1),
        "swapaxes + reshape",
        ref_grad=lambda args, w: (w.reshape(args[0].shape).T,),
        ref_name="closed form",
    ),
    Case.bench(
        "unvec",
        lambda n, r: (r.standard_normal(n * n),),
        lambda v: unvec(v, (int(round(v.shape[-1] ** 0.5)),) * 2),
        lambda v: jnp.swapaxes(v.reshape(*v.shape[:-1], int(round(v.shape[-1] ** 0.5)), -1), -1, -2),
        "reshape + swapaxes",
        ref_grad=lambda args, w: (w.T.reshape(-1),),
        ref_name="closed form",
    ),
    Case.bench(
        "jacobian_matrix",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: jacobian_matrix(lambda x: x @ x, a),
        _jac_square_jax,
        "jax.jacfwd of vec(A²)",
        variant="f = A²",
        batched=False,
        max_n=32,
        sizes=(4, 8, 16, 32),
        quick_sizes=(4, 16),
        mp=_mp_jac_square,
        mp_max_n=4,
    ),
]
