"""Benchmark rows for the factorizations (cholesky, qr, lu, eig, eigvals, svd, svdvals, schur,
hessenberg) and the solves on a stored factor (cho_solve of cho_factor, solve_triangular, lu_solve
of lu_factor): against JAX's default derivative of the same factorization. Outputs are made
invariant to the factorization's gauge (signs of Q's columns, eigenvector phases) so that any
correct rule gives the same derivative. Rows light up once the operations land in matcalc."""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

from . import BenchCase, op, orthogonal, spd, symmetrize, well_conditioned


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


CASES = [
    BenchCase(
        "cholesky",
        lambda n, r: (spd(n, r),),
        op("cholesky"),
        jnp.linalg.cholesky,
        "jnp.linalg.cholesky",
        tangent_projection=symmetrize,
        mp=lambda a: _mp().cholesky(a),
    ),
    BenchCase(
        "qr",
        lambda n, r: (well_conditioned(n, r),),
        lambda a: _qr_out(*op("qr")(a)),
        lambda a: _qr_out(*jnp.linalg.qr(a)),
        "jnp.linalg.qr",
        variant="square, (QD, DR)",
        mp=_mp_qr,
    ),
    BenchCase(
        "qr",
        lambda n, r: (well_conditioned(n, r, m=n + n // 2),),
        lambda a: _qr_out(*op("qr")(a)),
        lambda a: _qr_out(*jnp.linalg.qr(a)),
        "jnp.linalg.qr",
        variant="tall 1.5n×n, (QD, DR)",
        mp=_mp_qr,
        quick=False,
    ),
    BenchCase(
        "lu",
        _lu_args,
        lambda a: tuple(op("lu")(a)[1:]),
        lambda a: tuple(jsl.lu(a)[1:]),
        "jax.scipy.linalg.lu",
        variant="(L, U)",
        mp=_mp_lu_fixed_perm,
        note="pivots not differentiated",
    ),
    BenchCase(
        "eig",
        _general,
        lambda a: _sorted_eigvals(op("eig")(a)[0]),
        lambda a: _sorted_eigvals(jnp.linalg.eig(a)[0]),
        "jnp.linalg.eig (CPU-only)",
        variant="values",
        mp=_mp_sorted_eig,
    ),
    BenchCase(
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
    BenchCase(
        "eigvals",
        _general,
        lambda a: _sorted_eigvals(op("eigvals")(a)),
        lambda a: _sorted_eigvals(jnp.linalg.eigvals(a)),
        "jnp.linalg.eigvals (CPU-only)",
        mp=_mp_sorted_eig,
    ),
    BenchCase(
        "svd",
        lambda n, r: (r.standard_normal((n, n)),),
        lambda a: _svd_out(*op("svd")(a, full_matrices=False)),
        lambda a: _svd_out(*jnp.linalg.svd(a, full_matrices=False)),
        "jnp.linalg.svd",
        variant="(U∘U, s, Vᴴ∘Vᴴ)",
        mp=_mp_svd_out,
    ),
    BenchCase(
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
    BenchCase(
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
    BenchCase(
        "svdvals",
        lambda n, r: (r.standard_normal((n, n)),),
        op("svdvals"),
        lambda a: jnp.linalg.svd(a, compute_uv=False),
        "jnp.linalg.svd(compute_uv=False)",
        mp=lambda a: [x for x in _mp().svd_r(a, compute_uv=False)],
    ),
    BenchCase(
        "schur",
        _real_spectrum,
        lambda a: _square_out(*op("schur")(a)),
        lambda a: _square_out(*jsl.schur(a)),
        "jax.scipy.linalg.schur (CPU-only, no rule)",
        variant="real spectrum, (T∘T, Z∘Z)",
    ),
    BenchCase(
        "hessenberg",
        _general,
        lambda a: _square_out(*op("hessenberg")(a, calc_q=True)),
        lambda a: _square_out(*jsl.hessenberg(a, calc_q=True)),
        "jax.scipy.linalg.hessenberg (CPU-only, no rule)",
        variant="(H∘H, Q∘Q)",
    ),
    BenchCase(
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
    BenchCase(
        "solve_triangular",
        _tri_args,
        lambda a, b: op("solve_triangular")(a, b, lower=True),
        lambda a, b: jsl.solve_triangular(a, b, lower=True),
        "jax.scipy.linalg.solve_triangular",
        variant="lower, b: n×8",
        mp=_mp_tril_solve,
    ),
    BenchCase(
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
