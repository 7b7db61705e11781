"""Benchmark rows for the general matrix functions (expm, expm_frechet, logm, sqrtm,
fractional_matrix_power, funm, signm, polar, frechet) and the matrix equations (Sylvester,
Lyapunov). Rows light up once the operations land in matcalc."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from . import BenchCase, op, well_conditioned, with_one_norm
from ._alts import (
    iss_logm,
    kron_discrete_lyapunov,
    kron_sylvester,
    newton_schulz_sqrtm,
    newton_signm,
)


def _mp():
    import mpmath

    return mpmath


def _positive_spectrum(n, r):
    """Non-normal, eigenvalues clustered around 2 in the right half-plane (sqrtm/logm domain)."""
    return (2 * np.eye(n) + 0.5 * r.standard_normal((n, n)) / np.sqrt(n),)


def _expm_batch(n, batch, r):
    norms = np.geomspace(0.01, 20.0, batch)
    return (np.stack([with_one_norm(n, r, float(s)) for s in norms]),)


def _huge_offdiag(n, r):
    a = np.eye(n)
    a[0, -1] = 1e10
    return (a,)


def _mp_frechet(f_mp):
    def frechet(a, e):
        mp = _mp()
        n = a.rows
        big = mp.zeros(2 * n, 2 * n)
        for i in range(n):
            for j in range(n):
                big[i, j] = big[n + i, n + j] = a[i, j]
                big[i, n + j] = e[i, j]
        fb = f_mp(big)
        top = mp.matrix(n, n)
        low = mp.matrix(n, n)
        for i in range(n):
            for j in range(n):
                top[i, j] = fb[i, j]
                low[i, j] = fb[i, n + j]
        return top, low

    return frechet


def _signm_input(n, r):
    s = well_conditioned(n, r, 0.7, 1.5)
    lam = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * np.linspace(1.0, 3.0, n)
    return ((s * lam) @ np.linalg.inv(s),)


def _mp_signm(a):
    mp = _mp()
    x = a
    for _ in range(60):
        x = (x + mp.inverse(x)) / 2
    return x


def _mp_polar(a):
    mp = _mp()
    u, s, v = mp.svd_r(a)
    return u * v, v.T * mp.diag(s) * v


def _stable(n, r):
    return (-(2 * np.eye(n) + 0.3 * r.standard_normal((n, n)) / np.sqrt(n)), r.standard_normal((n, n)))


def _sylvester_args(n, r):
    a = 2 * np.eye(n) + 0.3 * r.standard_normal((n, n)) / np.sqrt(n)
    b = 1.5 * np.eye(n) + 0.3 * r.standard_normal((n, n)) / np.sqrt(n)
    return a, b, r.standard_normal((n, n))


def _discrete_args(n, r):
    return 0.5 * well_conditioned(n, r, 0.5, 1.5), r.standard_normal((n, n))


_NS = dict(alt=newton_schulz_sqrtm, alt_name="Newton–Schulz, 30 steps unrolled")
_ISS = dict(alt=iss_logm, alt_name="inverse scaling & squaring, Denman–Beavers 6×12 fixed steps")

CASES = [
    BenchCase(
        "expm",
        lambda n, r: (with_one_norm(n, r, 2.0),),
        op("expm"),
        jsl.expm,
        "jax.scipy.linalg.expm",
        variant="‖A‖₁ = 2",
        mp=lambda a: _mp().expm(a),
    ),
    BenchCase(
        "expm",
        lambda n, r: (with_one_norm(n, r, 2.0),),
        op("expm"),
        jsl.expm,
        "jax.scipy.linalg.expm",
        variant="batch 256, ‖A‖₁ ∈ [0.01, 20]",
        batch_build=_expm_batch,
        fixed_batch=256,
        sizes=(32,),
        quick=False,
        note="each matrix should pay only for its own Padé degree and squarings",
    ),
    BenchCase(
        "expm",
        _huge_offdiag,
        op("expm"),
        jsl.expm,
        "jax.scipy.linalg.expm",
        variant="I + 1e10·e₁eₙᵀ",
        degenerate=True,
        mp=lambda a: _mp().expm(a),
        note="needs > 16 squarings",
        quick=False,
    ),
    BenchCase(
        "expm",
        lambda n, r: (with_one_norm(n, r, 2.0),),
        lambda a: op("expm")(a, method="taylor"),
        jsl.expm,
        "jax.scipy.linalg.expm",
        variant='method="taylor", ‖A‖₁ = 2',
        mp=lambda a: _mp().expm(a),
        note="5 products, no solve (degree-18 optimized Taylor)",
    ),
    BenchCase(
        "expm",
        lambda n, r: (with_one_norm(n, r, 2.0),),
        lambda a: op("expm")(a, method="taylor"),
        jsl.expm,
        "jax.scipy.linalg.expm",
        variant='method="taylor", batch 256, ‖A‖₁ ∈ [0.01, 20]',
        batch_build=_expm_batch,
        fixed_batch=256,
        sizes=(32,),
        quick=False,
    ),
    BenchCase(
        "expm_frechet",
        lambda n, r: (with_one_norm(n, r, 2.0), r.standard_normal((n, n))),
        lambda a, e: tuple(op("expm_frechet")(a, e)),
        lambda a, e: tuple(jsl.expm_frechet(a, e)),
        "jax.scipy.linalg.expm_frechet",
        mp=_mp_frechet(lambda x: _mp().expm(x)),
        mp_max_n=6,
    ),
    BenchCase(
        "frechet",
        lambda n, r: (with_one_norm(n, r, 2.0), r.standard_normal((n, n))),
        lambda a, e: op("frechet")(op("expm"), a, e),
        lambda a, e: jax.jvp(jsl.expm, (a,), (e,))[1],
        "jax.jvp(jax.scipy.linalg.expm)",
        variant="f = expm",
        requires=("expm",),
        mp=lambda a, e: _mp_frechet(lambda x: _mp().expm(x))(a, e)[1],
        mp_max_n=6,
    ),
    BenchCase(
        "sqrtm",
        _positive_spectrum,
        op("sqrtm"),
        jsl.sqrtm,
        "jax.scipy.linalg.sqrtm (CPU-only, no derivative)",
        mp=lambda a: _mp().sqrtm(a),
        **_NS,
    ),
    BenchCase(
        "logm", _positive_spectrum, op("logm"), None, "none in JAX", mp=lambda a: _mp().logm(a), **_ISS
    ),
    BenchCase(
        "fractional_matrix_power",
        _positive_spectrum,
        lambda a: op("fractional_matrix_power")(a, 0.3),
        None,
        "none in JAX",
        variant="p = 0.3",
        alt=lambda a: jsl.expm(0.3 * iss_logm(a)),
        alt_name="expm(0.3 · ISS logm) (autodiff)",
        mp=lambda a: _mp().expm(_mp().mpf("0.3") * _mp().logm(a)),
    ),
    BenchCase(
        "funm",
        _positive_spectrum,
        lambda a: op("funm")(a, jnp.sin),
        lambda a: jsl.funm(a, jnp.sin),
        "jax.scipy.linalg.funm (CPU-only, no derivative)",
        variant="f = sin",
        mp=lambda a: (_mp().expm(1j * a) - _mp().expm(-1j * a)) / 2j,
    ),
    BenchCase(
        "signm",
        _signm_input,
        op("signm"),
        None,
        "none in JAX",
        alt=newton_signm,
        alt_name="Newton X ← (X + X⁻¹)/2, 25 fixed steps",
        mp=_mp_signm,
        mp_max_n=6,
    ),
    BenchCase(
        "polar",
        lambda n, r: (well_conditioned(n, r),),
        lambda a: tuple(op("polar")(a)),
        lambda a: tuple(jsl.polar(a)),
        "jax.scipy.linalg.polar (QDWH: no reverse mode)",
        alt=lambda a: tuple(jsl.polar(a, method="svd")),
        alt_name="jax.scipy.linalg.polar(method='svd')",
        mp=_mp_polar,
    ),
    BenchCase(
        "solve_sylvester",
        _sylvester_args,
        op("solve_sylvester"),
        jsl.solve_sylvester,
        "jax.scipy.linalg.solve_sylvester (CPU-only, no derivative)",
        alt=kron_sylvester,
        alt_name="dense Kronecker solve (n ≤ 48)",
        mp=lambda a, b, c: _mp_kron_sylvester(a, b, c),
        mp_max_n=5,
    ),
    BenchCase(
        "solve_continuous_lyapunov",
        _stable,
        op("solve_continuous_lyapunov"),
        None,
        "none in JAX",
        alt=lambda a, q: kron_sylvester(a, a.T, q),
        alt_name="dense Kronecker solve (n ≤ 48)",
        mp=lambda a, q: _mp_kron_sylvester(a, a.T, q),
        mp_max_n=5,
    ),
    BenchCase(
        "solve_discrete_lyapunov",
        _discrete_args,
        op("solve_discrete_lyapunov"),
        None,
        "none in JAX",
        alt=kron_discrete_lyapunov,
        alt_name="dense Kronecker solve (n ≤ 48)",
        mp=lambda a, q: _mp_kron_discrete(a, q),
        mp_max_n=5,
    ),
]


def _mp_vec_solve(k, c, n, m):
    mp = _mp()
    vc = mp.matrix([[c[i, j]] for j in range(m) for i in range(n)])
    x = mp.lu_solve(k, vc)
    out = mp.matrix(n, m)
    for j in range(m):
        for i in range(n):
            out[i, j] = x[j * n + i]
    return out


def _mp_kron(x, y):
    mp = _mp()
    out = mp.zeros(x.rows * y.rows, x.cols * y.cols)
    for i in range(x.rows):
        for j in range(x.cols):
            for k in range(y.rows):
                for l in range(y.cols):
                    out[i * y.rows + k, j * y.cols + l] = x[i, j] * y[k, l]
    return out


def _mp_kron_sylvester(a, b, c):
    mp = _mp()
    n, m = a.rows, b.rows
    k = _mp_kron(mp.eye(m), a) + _mp_kron(b.T, mp.eye(n))
    return _mp_vec_solve(k, c, n, m)


def _mp_kron_discrete(a, q):
    mp = _mp()
    n = a.rows
    return _mp_vec_solve(mp.eye(n * n) - _mp_kron(a, a), q, n, n)
