"""Harness cases for the factorizations: cholesky, qr, lu, eig, eigvals, svd, svdvals,
schur, hessenberg.

Outputs with a gauge are compared through ``output_gauge`` maps that fix it (phases of singular
vector pairs and Schur vectors from one row, projectors for complete-mode extra columns); the
eigenvector gauge of ``eig`` is the documented one, reproduced with NumPy in the reference.
"""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, rng, spd, well_conditioned

A4 = well_conditioned(4, seed=11)
AC3 = well_conditioned(3, seed=12, complex_=True)
TALL = rng(13).standard_normal((5, 3))
# (rng(13)'s matrix has a near pivot tie that the second-order finite difference crosses)
TALL_LU = rng(22).standard_normal((5, 3))
WIDE = rng(14).standard_normal((3, 5))
WIDE_C = WIDE + 1j * rng(15).standard_normal((3, 5))
TALL_C = TALL + 1j * rng(16).standard_normal((5, 3))
S4 = spd(4, seed=17)
HC3 = spd(3, seed=18, complex_=True)
# real matrix with real, distinct eigenvalues (for the real Schur form)
_q, _ = np.linalg.qr(rng(19).standard_normal((4, 4)))
_t = np.diag([-1.0, 0.5, 1.5, 3.0]) + np.triu(rng(20).standard_normal((4, 4)), 1)
REAL_SPEC = _q @ _t @ _q.T
# real matrix with two complex-conjugate pairs and one real eigenvalue (real Schur form with two
# 2×2 blocks); spectrum 0.5 ± 1.10i, −0.3 ± 1.18i, −1
_q, _ = np.linalg.qr(rng(23).standard_normal((5, 5)))
_t = np.triu(rng(24).standard_normal((5, 5)), 1)
_t[:2, :2] = [[0.5, 1.5], [-0.8, 0.5]]
_t[2, 2] = -1.0
_t[3:, 3:] = [[-0.3, 0.7], [-2.0, -0.3]]
COMPLEX_PAIRS = _q @ _t @ _q.T


def svd_gauge(out):
    """Fix the joint phase (sign) of each singular pair by the first column of ``vh``; replace
    extra (full_matrices) columns by their projector."""
    u, s, vh = out
    k = s.shape[-1]
    ph = vh[..., :k, 0] / jnp.abs(vh[..., :k, 0]).astype(vh.dtype)
    res = (u[..., :, :k] * ph[..., None, :], s, vh[..., :k, :] * jnp.conj(ph)[..., :, None])
    if u.shape[-1] > k:
        u2 = u[..., :, k:]
        res += (u2 @ jnp.conj(jnp.swapaxes(u2, -1, -2)),)
    if vh.shape[-2] > k:
        v2h = vh[..., k:, :]
        res += (jnp.conj(jnp.swapaxes(v2h, -1, -2)) @ v2h,)
    return res


def qr_complete_gauge(n):
    def gauge(out):
        q, r = out
        q2 = q[..., :, n:]
        return q[..., :, :n], r, q2 @ jnp.conj(jnp.swapaxes(q2, -1, -2))

    return gauge


def schur_gauge(out):
    """``Z ↦ Z D``, ``T ↦ Dᴴ T D`` with ``D`` making the first row of ``Z`` real positive."""
    t, z = out
    d = z[..., 0, :] / jnp.abs(z[..., 0, :]).astype(z.dtype)
    return d[..., :, None] * t * jnp.conj(d)[..., None, :], z * jnp.conj(d)[..., None, :]


def real_schur_gauge(out):
    """Real Schur form: a canonical rotation for each standardized 2×2 block, then ``schur_gauge``.

    A block ``[[a, b], [c, a]]`` stays standardized under rotation by 90° (``b, c ↦ −c, −b``);
    LAPACK (dlanv2) takes the standardizing rotation nearest the block its QR iteration delivers,
    so its choice flips between the two densely in ``A`` (many jumps per 0.1 along a line). The
    map rotates the block where ``|b| < |c|``, making ``|b| ≥ |c|``: locally constant away from
    ``b = −c``, it leaves finite differences smooth.
    """
    t, z = out
    n = t.shape[-1]
    sub = jnp.diagonal(t, offset=-1, axis1=-2, axis2=-1)
    sup = jnp.diagonal(t, offset=1, axis1=-2, axis2=-1)
    flip = (sub != 0) & (jnp.abs(sup) < jnp.abs(sub))
    no = jnp.zeros(flip.shape[:-1] + (1,), bool)
    first, second = jnp.concatenate([flip, no], -1), jnp.concatenate([no, flip], -1)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=t.dtype), t.shape)
    up = jnp.where(first, -1.0, 0.0).astype(t.dtype)[..., :, None] * jnp.broadcast_to(
        jnp.eye(n, k=1, dtype=t.dtype), t.shape
    )
    keep = jnp.where(first | second, 0.0, 1.0).astype(t.dtype)
    g = keep[..., :, None] * eye + up - jnp.swapaxes(up, -1, -2)  # G_bb = [[0, −1], [1, 0]]
    gt = jnp.swapaxes(g, -1, -2)
    return schur_gauge((gt @ t @ g, z @ g))


def eig_reference(a):
    """NumPy's eig with the documented gauge: unit columns, largest entry real positive."""
    w, v = np.linalg.eig(a)
    k = np.argmax(np.abs(v), axis=0)
    vk = v[k, np.arange(v.shape[1])]
    return w, v * (np.conj(vk) / np.abs(vk))


def _svd_ref(full):
    return lambda a: tuple(np.linalg.svd(a, full_matrices=full))


CASES = [
    # --- cholesky
    Case("cholesky", matcalc.cholesky, (S4,), check=dict(reference=np.linalg.cholesky)),
    Case(
        "cholesky",
        functools.partial(matcalc.cholesky, symmetrize_input=False),
        (S4,),
        "lower_only",
        check=dict(reference=np.linalg.cholesky),
    ),
    Case("cholesky", matcalc.cholesky, (HC3,), "complex", check=dict(reference=np.linalg.cholesky)),
    # --- qr
    Case("qr", matcalc.qr, (TALL,), "tall", check=dict(reference=np.linalg.qr)),
    Case("qr", matcalc.qr, (WIDE,), "wide", check=dict(reference=np.linalg.qr)),
    Case(
        "qr",
        functools.partial(matcalc.qr, mode="complete"),
        (TALL,),
        "complete_tall",
        check=dict(reference=lambda a: np.linalg.qr(a, "complete"), output_gauge=qr_complete_gauge(3)),
    ),
    Case(
        "qr",
        functools.partial(matcalc.qr, mode="r"),
        (WIDE_C,),
        "r_wide_complex",
        check=dict(reference=lambda a: np.linalg.qr(a, "r")),
    ),
    Case("qr", matcalc.qr, (AC3,), "complex", check=dict(reference=np.linalg.qr)),
    # --- lu
    Case("lu", matcalc.lu, (A4,), check=dict(reference=scipy.linalg.lu)),
    Case("lu", matcalc.lu, (TALL_LU,), "tall", check=dict(reference=scipy.linalg.lu)),
    Case("lu", matcalc.lu, (WIDE_C,), "wide_complex", check=dict(reference=scipy.linalg.lu)),
    Case(
        "lu",
        functools.partial(matcalc.lu, permute_l=True),
        (AC3,),
        "permute_l_complex",
        check=dict(reference=functools.partial(scipy.linalg.lu, permute_l=True)),
    ),
    # --- eig / eigvals
    Case("eig", lambda a: tuple(matcalc.eig(a)), (A4,), check=dict(reference=eig_reference)),
    Case("eig", lambda a: tuple(matcalc.eig(a)), (AC3,), "complex", check=dict(reference=eig_reference)),
    Case("eigvals", matcalc.eigvals, (A4,), check=dict(reference=np.linalg.eigvals)),
    Case("eigvals", matcalc.eigvals, (AC3,), "complex", check=dict(reference=np.linalg.eigvals)),
    # --- svd / svdvals
    Case("svd", matcalc.svd, (A4,), "square", check=dict(reference=_svd_ref(True), output_gauge=svd_gauge)),
    Case(
        "svd", matcalc.svd, (TALL,), "tall_full", check=dict(reference=_svd_ref(True), output_gauge=svd_gauge)
    ),
    Case(
        "svd",
        functools.partial(matcalc.svd, full_matrices=False),
        (WIDE_C,),
        "wide_complex",
        check=dict(reference=_svd_ref(False), output_gauge=svd_gauge),
    ),
    Case(
        "svd",
        matcalc.svd,
        (TALL_C,),
        "tall_full_complex",
        check=dict(reference=_svd_ref(True), output_gauge=svd_gauge),
    ),
    Case("svdvals", matcalc.svdvals, (WIDE,), check=dict(reference=scipy.linalg.svdvals)),
    Case("svdvals", matcalc.svdvals, (TALL_C,), "complex", check=dict(reference=scipy.linalg.svdvals)),
    # --- schur / hessenberg
    Case(
        "schur",
        functools.partial(matcalc.schur, output="complex"),
        (A4,),
        "complex_output",
        check=dict(
            reference=functools.partial(scipy.linalg.schur, output="complex"), output_gauge=schur_gauge
        ),
    ),
    Case(
        "schur",
        matcalc.schur,
        (AC3,),
        "complex",
        check=dict(reference=scipy.linalg.schur, output_gauge=schur_gauge),
    ),
    Case(
        "schur",
        matcalc.schur,
        (REAL_SPEC,),
        "real_spectrum",
        check=dict(reference=scipy.linalg.schur, output_gauge=schur_gauge),
    ),
    Case(
        "schur",
        matcalc.schur,
        (COMPLEX_PAIRS,),
        "real_2x2_blocks",
        check=dict(reference=scipy.linalg.schur, output_gauge=real_schur_gauge),
    ),
    Case(
        "hessenberg",
        functools.partial(matcalc.hessenberg, calc_q=True),
        (A4,),
        "calc_q",
        check=dict(reference=functools.partial(scipy.linalg.hessenberg, calc_q=True)),
    ),
    Case(
        "hessenberg",
        functools.partial(matcalc.hessenberg, calc_q=True),
        (AC3,),
        "complex",
        check=dict(reference=functools.partial(scipy.linalg.hessenberg, calc_q=True)),
    ),
]
