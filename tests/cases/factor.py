"""Harness cases for the factorizations: cholesky, qr, lu, eig, eigvals, svd, svdvals,
schur, hessenberg.

Outputs with a gauge are compared through ``output_gauge`` maps that fix it (phases of singular
vector pairs and Schur vectors from one row, projectors for complete-mode extra columns); the
eigenvector gauge of ``eig`` is the documented one, reproduced with NumPy in the reference.

Benchmark families for the factorizations (cholesky, qr, lu, eig, eigvals, svd, svdvals, schur, hessenberg)
and the solves on a stored factor (cho_solve of cho_factor, solve_triangular, lu_solve of lu_factor):
against JAX's default derivative of the same factorization. Outputs are made invariant to the
factorization's gauge (signs of Q's columns, eigenvector phases) so that any correct rule gives the same
derivative."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, op, orthogonal, rng, spd, symmetrize, well_conditioned

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
    Case.harness("cholesky", matcalc.cholesky, (S4,), check=dict(reference=np.linalg.cholesky)),
    Case.harness(
        "cholesky",
        functools.partial(matcalc.cholesky, symmetrize_input=False),
        (S4,),
        "lower_only",
        check=dict(reference=np.linalg.cholesky),
    ),
    Case.harness("cholesky", matcalc.cholesky, (HC3,), "complex", check=dict(reference=np.linalg.cholesky)),
    # --- qr
    Case.harness("qr", matcalc.qr, (TALL,), "tall", check=dict(reference=np.linalg.qr)),
    Case.harness("qr", matcalc.qr, (WIDE,), "wide", check=dict(reference=np.linalg.qr)),
    Case.harness(
        "qr",
        functools.partial(matcalc.qr, mode="complete"),
        (TALL,),
        "complete_tall",
        check=dict(reference=lambda a: np.linalg.qr(a, "complete"), output_gauge=qr_complete_gauge(3)),
    ),
    Case.harness(
        "qr",
        functools.partial(matcalc.qr, mode="r"),
        (WIDE_C,),
        "r_wide_complex",
        check=dict(reference=lambda a: np.linalg.qr(a, "r")),
    ),
    Case.harness("qr", matcalc.qr, (AC3,), "complex", check=dict(reference=np.linalg.qr)),
    # --- lu
    Case.harness("lu", matcalc.lu, (A4,), check=dict(reference=scipy.linalg.lu)),
    Case.harness("lu", matcalc.lu, (TALL_LU,), "tall", check=dict(reference=scipy.linalg.lu)),
    Case.harness("lu", matcalc.lu, (WIDE_C,), "wide_complex", check=dict(reference=scipy.linalg.lu)),
    Case.harness(
        "lu",
        functools.partial(matcalc.lu, permute_l=True),
        (AC3,),
        "permute_l_complex",
        check=dict(reference=functools.partial(scipy.linalg.lu, permute_l=True)),
    ),
    # --- eig / eigvals
    Case.harness("eig", lambda a: tuple(matcalc.eig(a)), (A4,), check=dict(reference=eig_reference)),
    Case.harness(
        "eig", lambda a: tuple(matcalc.eig(a)), (AC3,), "complex", check=dict(reference=eig_reference)
    ),
    Case.harness("eigvals", matcalc.eigvals, (A4,), check=dict(reference=np.linalg.eigvals)),
    Case.harness("eigvals", matcalc.eigvals, (AC3,), "complex", check=dict(reference=np.linalg.eigvals)),
    # --- svd / svdvals
    Case.harness(
        "svd", matcalc.svd, (A4,), "square", check=dict(reference=_svd_ref(True), output_gauge=svd_gauge)
    ),
    Case.harness(
        "svd", matcalc.svd, (TALL,), "tall_full", check=dict(reference=_svd_ref(True), output_gauge=svd_gauge)
    ),
    Case.harness(
        "svd",
        functools.partial(matcalc.svd, full_matrices=False),
        (WIDE_C,),
        "wide_complex",
        check=dict(reference=_svd_ref(False), output_gauge=svd_gauge),
    ),
    Case.harness(
        "svd",
        matcalc.svd,
        (TALL_C,),
        "tall_full_complex",
        check=dict(reference=_svd_ref(True), output_gauge=svd_gauge),
    ),
    Case.harness("svdvals", matcalc.svdvals, (WIDE,), check=dict(reference=scipy.linalg.svdvals)),
    Case.harness(
        "svdvals", matcalc.svdvals, (TALL_C,), "complex", check=dict(reference=scipy.linalg.svdvals)
    ),
    # --- schur / hessenberg
    Case.harness(
        "schur",
        functools.partial(matcalc.schur, output="complex"),
        (A4,),
        "complex_output",
        check=dict(
            reference=functools.partial(scipy.linalg.schur, output="complex"), output_gauge=schur_gauge
        ),
    ),
    Case.harness(
        "schur",
        matcalc.schur,
        (AC3,),
        "complex",
        check=dict(reference=scipy.linalg.schur, output_gauge=schur_gauge),
    ),
    Case.harness(
        "schur",
        matcalc.schur,
        (REAL_SPEC,),
        "real_spectrum",
        check=dict(reference=scipy.linalg.schur, output_gauge=schur_gauge),
    ),
    Case.harness(
        "schur",
        matcalc.schur,
        (COMPLEX_PAIRS,),
        "real_2x2_blocks",
        check=dict(reference=scipy.linalg.schur, output_gauge=real_schur_gauge),
    ),
    Case.harness(
        "hessenberg",
        functools.partial(matcalc.hessenberg, calc_q=True),
        (A4,),
        "calc_q",
        check=dict(reference=functools.partial(scipy.linalg.hessenberg, calc_q=True)),
    ),
    Case.harness(
        "hessenberg",
        functools.partial(matcalc.hessenberg, calc_q=True),
        (AC3,),
        "complex",
        check=dict(reference=functools.partial(scipy.linalg.hessenberg, calc_q=True)),
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families


def _mp():
    import mpmath

    return mpmath


def _sq(x):
    return x * x if not jnp.iscomplexobj(x) else jnp.abs(x) ** 2


def _qr_out(q, r):
    # D = sign(diag R): (Q D, D R) is the gauge with a positive diagonal of R.
    d = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    return q * d[..., None, :], r * d[..., :, None]


def _mp_qr(a):
    mp = _mp()
    q, r = mp.qr(a)
    k = min(a.rows, a.cols)
    q = q[:, :k] if q.cols > k else q
    r = r[:k, :] if r.rows > k else r
    for i in range(k):
        if r[i, i] < 0:
            for j in range(r.cols):
                r[i, j] = -r[i, j]
            for j in range(q.rows):
                q[j, i] = -q[j, i]
    return q, r


def _lu_args(n, r):
    return (r.standard_normal((n, n)),)


def _mp_lu_fixed_perm(a):
    """L, U of Pᵀ A without pivoting, with P from SciPy's LU of the float64 input."""
    mp = _mp()
    n = a.rows
    af = np.array([[float(a[i, j]) for j in range(n)] for i in range(n)])
    p, _, _ = scipy.linalg.lu(af)
    perm = np.argmax(p, axis=0)  # row i of Pᵀ A is row perm[i] of A
    u = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            u[i, j] = a[int(perm[i]), j]
    l = mp.eye(n)
    for k in range(n):
        for i in range(k + 1, n):
            l[i, k] = u[i, k] / u[k, k]
            for j in range(k, n):
                u[i, j] -= l[i, k] * u[k, j]
    return l, u


def _sorted_eigvals(w):
    return jnp.sort(w)  # lexicographic (real, then imaginary), as NumPy's sort_complex


def _mp_sorted_eig(a):
    mp = _mp()
    w = mp.eig(a, left=False, right=False)
    w = sorted([mp.mpc(x) for x in w], key=lambda z: (float(z.real), float(z.imag)))
    return w


def _general(n, r):
    return (r.standard_normal((n, n)) / np.sqrt(n),)


def _real_spectrum(n, r):
    # real, distinct eigenvalues: the real Schur form is triangular (no 2×2 blocks, whose
    # derivative is documented NaN)
    q, _ = np.linalg.qr(r.standard_normal((n, n)))
    t = np.triu(r.standard_normal((n, n)) / np.sqrt(n), 1) + np.diag(np.linspace(1.0, 2.0, n))
    return (q @ t @ q.T,)


def _eig_funm_out(w, v):
    # V e^Λ V⁻¹: invariant to each eigenvector's scale and phase
    return jnp.real((v * jnp.exp(w)[..., None, :]) @ jnp.linalg.inv(v))


def _svd_out(u, s, vh):
    return _sq(u), s, _sq(vh)


def _mp_svd_out(a):
    mp = _mp()
    u, s, v = mp.svd_r(a, full_matrices=False)
    sq = lambda m: mp.matrix([[m[i, j] ** 2 for j in range(m.cols)] for i in range(m.rows)])
    return sq(u), [s[i] for i in range(len(s))], sq(v)


def _repeated_sv(n, r):
    s = np.geomspace(2.0, 0.5, n)
    s[: max(2, n // 4)] = 1.0
    return ((orthogonal(n, r) * s) @ orthogonal(n, r).T,)


def _svd_sqrt_out(u, s, vh):
    return (u * jnp.sqrt(s)[..., None, :]) @ vh


def _mp_svd_sqrt(a):
    mp = _mp()
    u, s, v = mp.svd_r(a)
    return u * mp.diag([mp.sqrt(s[i]) for i in range(len(s))]) * v


def _polar_out(u, s, vh):
    return u @ vh


def _mp_polar(a):
    u, _, v = _mp().svd_r(a)
    return u * v


def _square_out(t, z):
    return _sq(t), _sq(z)


def _sym_square(x):
    """Symmetrize square leaves only (the matrix, not the right-hand side)."""
    return symmetrize(x) if x.ndim >= 2 and x.shape[-1] == x.shape[-2] else x


def _cho_args(n, r):
    return spd(n, r), r.standard_normal((n, 8))


def _tri_args(n, r):
    return np.linalg.cholesky(spd(n, r)), r.standard_normal((n, 8))


def _mp_tril_solve(a, b):
    mp = _mp()
    t = mp.matrix(a.rows, a.cols)
    for i in range(a.rows):
        for j in range(i + 1):
            t[i, j] = a[i, j]
    return mp.inverse(t) * b


CASES += [
    Case.bench(
        "cholesky",
        lambda n, r: (spd(n, r),),
        op("cholesky"),
        jnp.linalg.cholesky,
        "jnp.linalg.cholesky",
        tangent_projection=symmetrize,
        mp=lambda a: _mp().cholesky(a),
    ),
    Case.bench(
        "qr",
        lambda n, r: (well_conditioned(n, r),),
        lambda a: _qr_out(*op("qr")(a)),
        lambda a: _qr_out(*jnp.linalg.qr(a)),
        "jnp.linalg.qr",
        variant="square, (QD, DR)",
        mp=_mp_qr,
    ),
    Case.bench(
        "qr",
        lambda n, r: (well_conditioned(n, r, m=n + n // 2),),
        lambda a: _qr_out(*op("qr")(a)),
        lambda a: _qr_out(*jnp.linalg.qr(a)),
        "jnp.linalg.qr",
        variant="tall 1.5n×n, (QD, DR)",
        mp=_mp_qr,
        quick=False,
    ),
    Case.bench(
        "lu",
        _lu_args,
        lambda a: tuple(op("lu")(a)[1:]),
        lambda a: tuple(jsl.lu(a)[1:]),
        "jax.scipy.linalg.lu",
        variant="(L, U)",
        mp=_mp_lu_fixed_perm,
        note="pivots not differentiated",
    ),
    Case.bench(
        "eig",
        _general,
        lambda a: _sorted_eigvals(op("eig")(a)[0]),
        lambda a: _sorted_eigvals(jnp.linalg.eig(a)[0]),
        "jnp.linalg.eig (CPU-only)",
        variant="values",
        mp=_mp_sorted_eig,
    ),
    Case.bench(
        "eig",
        _general,
        lambda a: _eig_funm_out(*op("eig")(a)),
        lambda a: _eig_funm_out(*jnp.linalg.eig(a)),
        "jnp.linalg.eig (CPU-only)",
        variant="vectors, loss V e^Λ V⁻¹",
        mp=lambda a: _mp().expm(a),
        quick=False,
        note="JAX has no eigenvector derivative by default",
    ),
    Case.bench(
        "eigvals",
        _general,
        lambda a: _sorted_eigvals(op("eigvals")(a)),
        lambda a: _sorted_eigvals(jnp.linalg.eigvals(a)),
        "jnp.linalg.eigvals (CPU-only)",
        mp=_mp_sorted_eig,
    ),
    Case.bench(
        "svd",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: _svd_out(*op("svd")(a, full_matrices=False)),
        lambda a: _svd_out(*jnp.linalg.svd(a, full_matrices=False)),
        "jnp.linalg.svd",
        variant="(U∘U, s, Vᴴ∘Vᴴ)",
        mp=_mp_svd_out,
    ),
    Case.bench(
        "svd",
        _repeated_sv,
        lambda a: _svd_sqrt_out(*op("svd")(a, full_matrices=False)),
        lambda a: _svd_sqrt_out(*jnp.linalg.svd(a, full_matrices=False)),
        "jnp.linalg.svd",
        variant="repeated σ, loss U√ΣVᴴ",
        degenerate=True,
        mp=_mp_svd_sqrt,
        note="no SVD rule can be exact here: the in-cluster term g′(σ)·Sym(Uᴴ Ḡ V) is not "
        "in the cotangents of (U, s, Vᴴ)",
    ),
    Case.bench(
        "svd",
        _repeated_sv,
        lambda a: _polar_out(*op("svd")(a, full_matrices=False)),
        lambda a: _polar_out(*jnp.linalg.svd(a, full_matrices=False)),
        "jnp.linalg.svd",
        variant="repeated σ, polar factor U Vᴴ",
        degenerate=True,
        mp=_mp_polar,
        note="basis-independent and split-independent: exact for matcalc's rule",
    ),
    Case.bench(
        "svdvals",
        lambda n, r: (r.standard_normal((n, n)),),
        op("svdvals"),
        lambda a: jnp.linalg.svd(a, compute_uv=False),
        "jnp.linalg.svd(compute_uv=False)",
        mp=lambda a: [x for x in _mp().svd_r(a, compute_uv=False)],
    ),
    Case.bench(
        "schur",
        _real_spectrum,
        lambda a: _square_out(*op("schur")(a)),
        lambda a: _square_out(*jsl.schur(a)),
        "jax.scipy.linalg.schur (CPU-only, no rule)",
        variant="real spectrum, (T∘T, Z∘Z)",
    ),
    Case.bench(
        "hessenberg",
        _general,
        lambda a: _square_out(*op("hessenberg")(a, calc_q=True)),
        lambda a: _square_out(*jsl.hessenberg(a, calc_q=True)),
        "jax.scipy.linalg.hessenberg (CPU-only, no rule)",
        variant="(H∘H, Q∘Q)",
    ),
    Case.bench(
        "cho_solve",
        _cho_args,
        lambda a, b: op("cho_solve")(op("cho_factor")(a), b),
        lambda a, b: jsl.cho_solve(jsl.cho_factor(a), b),
        "jax.scipy.linalg.cho_solve(cho_factor)",
        variant="of cho_factor, b: n×8",
        requires=("cho_factor",),
        tangent_projection=_sym_square,
        mp=lambda a, b: _mp().inverse(a) * b,
        note="gradient in a and b; reverse mode reuses the forward factor",
    ),
    Case.bench(
        "solve_triangular",
        _tri_args,
        lambda a, b: op("solve_triangular")(a, b, lower=True),
        lambda a, b: jsl.solve_triangular(a, b, lower=True),
        "jax.scipy.linalg.solve_triangular",
        variant="lower, b: n×8",
        mp=_mp_tril_solve,
    ),
    Case.bench(
        "lu_solve",
        lambda n, r: (well_conditioned(n, r), r.standard_normal((n, 8))),
        lambda a, b: op("lu_solve")(op("lu_factor")(a), b),
        lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b),
        "jax.scipy.linalg.lu_solve(lu_factor)",
        variant="of lu_factor, b: n×8",
        requires=("lu_factor",),
        mp=lambda a, b: _mp().inverse(a) * b,
        quick=False,
        note="pivots not differentiated; reverse mode reuses the forward factor",
    ),
]
