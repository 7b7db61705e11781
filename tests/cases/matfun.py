"""Harness cases for the general matrix functions and matrix equations.

Benchmark families for the general matrix functions (expm, expm_frechet, logm, sqrtm,
fractional_matrix_power, funm, signm, polar, frechet) and the matrix equations (Sylvester, Lyapunov)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, op, rng, well_conditioned, with_one_norm
from tests.cases._alts import (
    iss_logm,
    kron_discrete_lyapunov,
    kron_sylvester,
    newton_schulz_sqrtm,
    newton_signm,
)


def _scaled(n, norm1, seed, complex_=False):
    a = well_conditioned(n, seed, complex_=complex_)
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
    Case.harness(
        "expm", matcalc.expm, (_scaled(3, 0.01, 21),), "pade3", check=dict(reference=scipy.linalg.expm)
    ),
    Case.harness(
        "expm",
        matcalc.expm,
        (_scaled(3, 12.0, 22),),
        "pade13_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case.harness(
        "expm",
        matcalc.expm,
        (_scaled(3, 3.0, 23, complex_=True),),
        "complex",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case.harness(
        "expm",
        matcalc.expm,
        (_scaled(3, 20.0, 27, complex_=True),),
        "complex_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case.harness(
        "expm",
        functools.partial(matcalc.expm, method="taylor"),
        (_scaled(3, 12.0, 28),),
        "taylor_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case.harness(
        "expm",
        functools.partial(matcalc.expm, method="taylor"),
        (_scaled(3, 20.0, 29, complex_=True),),
        "taylor_complex_squarings",
        check=dict(reference=scipy.linalg.expm),
    ),
    Case.harness(
        "expm_frechet",
        lambda a, e: matcalc.expm_frechet(a, e),
        (_scaled(3, 2.0, 24), E3),
        check=dict(reference=lambda a, e: scipy.linalg.expm_frechet(a, e)),
    ),
    Case.harness("logm", matcalc.logm, (POS,), check=dict(reference=scipy.linalg.logm)),
    Case.harness("logm", matcalc.logm, (POSC,), "complex", check=dict(reference=scipy.linalg.logm)),
    Case.harness("sqrtm", matcalc.sqrtm, (POS,), check=dict(reference=scipy.linalg.sqrtm)),
    Case.harness(
        "sqrtm",
        functools.partial(matcalc.sqrtm, sylvester="sign"),
        (POSC,),
        "complex_sign",
        check=dict(reference=scipy.linalg.sqrtm),
    ),
    Case.harness(
        "fractional_matrix_power",
        lambda a: matcalc.fractional_matrix_power(a, 0.37),
        (POS,),
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, 0.37).real),
    ),
    Case.harness(
        "funm",
        lambda a: matcalc.funm(a, jnp.sin),
        (A3,),
        check=dict(reference=lambda a: scipy.linalg.funm(a, np.sin)),
    ),
    Case.harness("signm", matcalc.signm, (A3,), check=dict(reference=_sig)),
    Case.harness("polar", matcalc.polar, (A3,), "right", check=dict(reference=scipy.linalg.polar)),
    Case.harness(
        "polar",
        lambda a: matcalc.polar(a, "left"),
        (AC,),
        "left_complex",
        check=dict(reference=lambda a: scipy.linalg.polar(a, "left")),
    ),
    Case.harness(
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
    Case.harness(
        "solve_sylvester",
        matcalc.solve_sylvester,
        (POS, B2, C32),
        "kron",
        check=dict(reference=scipy.linalg.solve_sylvester),
    ),
    Case.harness(
        "solve_sylvester",
        functools.partial(matcalc.solve_sylvester, method="sign"),
        (POS, B2, C32),
        "sign",
        check=dict(reference=scipy.linalg.solve_sylvester),
    ),
    Case.harness(
        "solve_continuous_lyapunov",
        matcalc.solve_continuous_lyapunov,
        (STABLE, Q3),
        check=dict(reference=scipy.linalg.solve_continuous_lyapunov),
    ),
    Case.harness(
        "solve_discrete_lyapunov",
        matcalc.solve_discrete_lyapunov,
        (0.4 * A3, Q3),
        check=dict(reference=scipy.linalg.solve_discrete_lyapunov),
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families


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


def _norm_2(n, r):
    return (with_one_norm(n, r, 2.0),)


def _expm_bench(variant, method=None, build=_norm_2, batch=False, **kw):
    """An ``expm`` family against ``jax.scipy.linalg.expm`` (``batch``: 256 matrices of 32×32 with
    ‖A‖₁ from 0.01 to 20)."""
    ours = op("expm") if method is None else (lambda a: op("expm")(a, method=method))
    if batch:
        kw.update(batch_build=_expm_batch, fixed_batch=256, sizes=(32,), quick=False)
    else:
        kw.setdefault("mp", lambda a: _mp().expm(a))
    return Case.bench("expm", build, ours, jsl.expm, "jax.scipy.linalg.expm", variant=variant, **kw)


_TAYLOR = 'method="taylor", '
CASES += [
    _expm_bench("‖A‖₁ = 2", note="Padé degree 9: 5 products + one LU solve (JAX: the same)"),
    _expm_bench(
        "batch 256, ‖A‖₁ ∈ [0.01, 20]",
        batch=True,
        note="each matrix should pay only for its own Padé degree and squarings",
    ),
    _expm_bench(
        "I + 1e10·e₁eₙᵀ", build=_huge_offdiag, degenerate=True, note="needs > 16 squarings", quick=False
    ),
    _expm_bench(
        _TAYLOR + "‖A‖₁ = 2",
        "taylor",
        note="4 products, no solve (15+ without squaring, from the ‖A²‖ bound)",
    ),
    _expm_bench(
        _TAYLOR + "batch 256, ‖A‖₁ ∈ [0.01, 20]",
        "taylor",
        batch=True,
        note="degree 18 for the batch: 5 products + each matrix's own 0–5 squarings",
    ),
    Case.bench(
        "expm_frechet",
        lambda n, r: (with_one_norm(n, r, 2.0), r.standard_normal((n, n))),
        lambda a, e: tuple(op("expm_frechet")(a, e)),
        lambda a, e: tuple(jsl.expm_frechet(a, e)),
        "jax.scipy.linalg.expm_frechet",
        mp=_mp_frechet(lambda x: _mp().expm(x)),
        mp_max_n=6,
    ),
    Case.bench(
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
    Case.bench(
        "sqrtm",
        _positive_spectrum,
        op("sqrtm"),
        jsl.sqrtm,
        "jax.scipy.linalg.sqrtm (CPU-only, no derivative)",
        mp=lambda a: _mp().sqrtm(a),
        **_NS,
    ),
    Case.bench(
        "logm", _positive_spectrum, op("logm"), None, "none in JAX", mp=lambda a: _mp().logm(a), **_ISS
    ),
    Case.bench(
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
    Case.bench(
        "funm",
        _positive_spectrum,
        lambda a: op("funm")(a, jnp.sin),
        lambda a: jsl.funm(a, jnp.sin),
        "jax.scipy.linalg.funm (CPU-only, no derivative)",
        variant="f = sin",
        mp=lambda a: (_mp().expm(1j * a) - _mp().expm(-1j * a)) / 2j,
    ),
    Case.bench(
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
    Case.bench(
        "polar",
        lambda n, r: (well_conditioned(n, r),),
        lambda a: tuple(op("polar")(a)),
        lambda a: tuple(jsl.polar(a)),
        "jax.scipy.linalg.polar (QDWH: no reverse mode)",
        alt=lambda a: tuple(jsl.polar(a, method="svd")),
        alt_name="jax.scipy.linalg.polar(method='svd')",
        mp=_mp_polar,
    ),
    Case.bench(
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
    Case.bench(
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
    Case.bench(
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
