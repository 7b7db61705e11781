"""expm / expm_frechet edge cases: every Padé degree and squaring branch, hard matrices, complex
eigenvalue pairs, non-normal input, float32, complex, batches of very different norms, and
out-of-range input. References: SciPy, the block-triangular identity
expm([[A, E], [0, A]]) = [[e^A, L], [0, e^A]] evaluated by SciPy, and JAX's own derivative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import matcalc
from matcalc._matfun.expm import _THETA
from tests.cases import rng


def _rel(x, y):
    # scaled to max|y| first, so entries near 1e300 do not overflow the norm
    x, y = np.asarray(x, dtype=np.complex128), np.asarray(y, dtype=np.complex128)
    m = max(np.abs(y).max(), 1e-300)
    return np.linalg.norm(x / m - y / m) / max(np.linalg.norm(y / m), 1e-300)


def _block_frechet(a, e):
    n = a.shape[0]
    big = np.block([[a, e], [np.zeros_like(a), a]])
    return sl.expm(big)[:n, n:]


# norms just inside each Padé bracket (3, 5, 7, 9, 13 without and with squarings) and beyond
NORMS = [t * 0.9 for _, t in _THETA["64"]] + [30.0, 400.0]


@pytest.mark.parametrize("norm", NORMS)
def test_every_branch_matches_scipy(norm):
    a = rng(1).standard_normal((6, 6))
    a *= norm / np.linalg.norm(a, 1)
    e = rng(2).standard_normal((6, 6))
    x, lx = matcalc.expm_frechet(a, e)
    assert _rel(x, sl.expm(a)) < 1e-13 * max(1, norm)
    assert _rel(lx, _block_frechet(a, e)) < 1e-12 * max(1, norm)
    # JAX's default derivative (autodiff through its Padé + squaring) where finite
    jl = jax.jvp(jax.scipy.linalg.expm, (a,), (e,))[1]
    assert _rel(lx, jl) < 1e-12 * max(1, norm)
    w = rng(3).standard_normal((6, 6))
    g = jax.grad(lambda a: jnp.sum(w * matcalc.expm(a)))(a)
    gj = jax.grad(lambda a: jnp.sum(w * jax.scipy.linalg.expm(a)))(a)
    assert _rel(g, gj) < 1e-12 * max(1, norm)


def test_large_offdiagonal():
    a = np.array([[1.0, 1e10], [0.0, 1.0]])
    want = np.e * np.array([[1.0, 1e10], [0.0, 1.0]])
    assert _rel(matcalc.expm(a), want) < 1e-14
    assert _rel(matcalc.expm(a), sl.expm(a)) < 1e-12
    assert not np.all(np.isfinite(jax.scipy.linalg.expm(a)))  # JAX: NaN past 16 squarings
    e = rng(3).standard_normal((2, 2))
    assert _rel(matcalc.expm_frechet(a, e)[1], _block_frechet(a, e)) < 1e-10


def test_large_negative_multiple_of_identity():
    a = -1e6 * np.eye(3)
    assert np.array_equal(np.asarray(matcalc.expm(a)), sl.expm(a))
    g = jax.grad(lambda a: jnp.sum(matcalc.expm(a)))(a)
    assert np.all(np.isfinite(g)) and np.all(np.asarray(g) == 0)


@pytest.mark.parametrize("scale", [1.0, 1e5, 1e300])
def test_nilpotent(scale):
    n = rng(4).standard_normal((4, 4))
    n = np.triu(n, 1) * scale if scale < 1e300 else np.array([[0.0, scale], [0.0, 0.0]])
    k = n.shape[0]
    want = np.eye(k) + n + n @ n / 2 + n @ n @ n / 6 if scale < 1e300 else np.eye(2) + n
    assert _rel(matcalc.expm(n), want) < 1e-14
    if scale < 1e300:  # at 1e300 the true Jacobian itself overflows (terms ~ 1e600)
        assert np.all(np.isfinite(jax.jacfwd(matcalc.expm)(n)))


@pytest.mark.parametrize("theta", [0.5, 100.0, 1e4])
def test_rotation_generator(theta):
    a = np.array([[0.0, theta], [-theta, 0.0]])
    want = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    assert np.abs(np.asarray(matcalc.expm(a)) - want).max() < 1e-15 * theta * 50
    assert np.abs(np.asarray(matcalc.expm(a)) - sl.expm(a)).max() < 1e-15 * theta * 50


def test_non_normal_and_nearly_singular():
    a = np.triu(rng(5).standard_normal((5, 5))) * 20 + np.diag([1e-9, 0, 1, -1, 2])
    assert _rel(matcalc.expm(a), sl.expm(a)) < 1e-12
    e = rng(6).standard_normal((5, 5))
    assert _rel(matcalc.expm_frechet(a, e)[1], _block_frechet(a, e)) < 1e-11


def test_complex_input():
    a = rng(7).standard_normal((5, 5)) * 3 + 2j * rng(8).standard_normal((5, 5))
    e = rng(9).standard_normal((5, 5)) + 1j * rng(10).standard_normal((5, 5))
    x, lx = matcalc.expm_frechet(a, e)
    assert x.dtype == jnp.complex128
    assert _rel(x, sl.expm(a)) < 1e-12
    assert _rel(lx, _block_frechet(a, e)) < 1e-11


@pytest.mark.parametrize("norm", [0.2, 1.5, 3.0, 50.0])
def test_float32(norm):
    a = rng(11).standard_normal((5, 5))
    a *= norm / np.linalg.norm(a, 1)
    x = matcalc.expm(a.astype(np.float32))
    assert x.dtype == jnp.float32
    assert _rel(x, sl.expm(a)) < 2e-5 * max(1, norm)
    g = jax.grad(lambda a: jnp.sum(matcalc.expm(a)))(a.astype(np.float32))
    g64 = jax.grad(lambda a: jnp.sum(matcalc.expm(a)))(a)
    assert g.dtype == jnp.float32 and _rel(g, g64) < 2e-5 * max(1, norm)


def test_batch_with_widely_different_norms():
    norms = np.array([1e-3, 0.2, 1.0, 5.0, 20.0, 300.0])
    a = rng(12).standard_normal((6, 4, 4))
    a *= (norms / np.linalg.norm(a, 1, axis=(-2, -1)))[:, None, None]
    e = rng(13).standard_normal((6, 4, 4))
    x, lx = matcalc.expm_frechet(a, e)
    for k in range(6):
        assert _rel(x[k], sl.expm(a[k])) < 1e-13 * max(1, norms[k])
        assert _rel(lx[k], _block_frechet(a[k], e[k])) < 1e-12 * max(1, norms[k])
    # batched VJP equals the per-matrix VJP
    w = rng(14).standard_normal((6, 4, 4))
    gb = jax.vjp(matcalc.expm, a)[1](w)[0]
    for k in range(6):
        gk = jax.vjp(matcalc.expm, a[k])[1](w[k])[0]
        assert _rel(gb[k], gk) < 1e-13
    # user-level vmap agrees too
    assert _rel(jax.vmap(matcalc.expm)(a), x) < 1e-14


def test_out_of_range_is_nan():
    a = np.array([[np.nan, 0.0], [0.0, 1.0]])
    assert np.all(np.isnan(matcalc.expm(a)))
    big = rng(15).standard_normal((3, 3)) * 1e6
    assert np.all(np.isnan(matcalc.expm(big, max_squarings=4)))
    # overflow is overflow (inf or NaN), never a finite wrong number
    assert not np.all(np.isfinite(matcalc.expm(np.diag([800.0, 0.0]))))


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        matcalc.expm(np.ones((2, 3)))
    with pytest.raises(ValueError, match="E must have"):
        matcalc.expm_frechet(np.eye(2), np.eye(3))
    x = matcalc.expm(np.eye(2, dtype=np.int32))
    assert x.dtype == jax.scipy.linalg.expm(np.eye(2, dtype=np.int32)).dtype  # JAX: float32


def test_expm_frechet_compute_expm_flag():
    a, e = rng(16).standard_normal((2, 3, 3))
    lx = matcalc.expm_frechet(a, e, compute_expm=False)
    assert _rel(lx, sl.expm_frechet(a, e, compute_expm=False)) < 1e-13


def test_more_than_16_squarings_with_derivatives():
    # a rotation by 3e6 rad needs ~20 squarings (JAX returns NaN past 16); errors of order
    # θ·eps ≈ 7e-10 are the problem's conditioning.
    th = 3e6
    a = np.array([[0.0, th], [-th, 0.0]]) + np.array([[0.0, 1.0], [0.0, 0.0]])
    e = np.array([[0.3, -1.0], [0.5, 0.2]])
    x, lx = matcalc.expm_frechet(a, e)
    big = sl.expm(np.block([[a, e], [np.zeros((2, 2)), a]]))
    assert np.abs(np.asarray(x) - big[:2, :2]).max() < 1e-8
    assert _rel(lx, big[:2, 2:]) < 1e-8
    assert not np.all(np.isfinite(jax.scipy.linalg.expm(a)))
    # the VJP is the Fréchet derivative at Aᴴ
    g = jax.vjp(matcalc.expm, a)[1](e)[0]
    assert _rel(g, matcalc.expm_frechet(a.T, e)[1]) < 1e-9
