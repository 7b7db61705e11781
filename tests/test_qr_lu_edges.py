"""Edge cases of matcalc.qr and matcalc.lu: complete-mode gauge, wide input, rank deficiency,
cross-checks with JAX's default rules, batched float32, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from tests.cases import rng


def test_qr_complete_gauge():
    a = rng(1).standard_normal((5, 2))
    t = rng(2).standard_normal((5, 2))
    (q, r), (dq, dr) = jax.jvp(lambda x: matcalc.qr(x, "complete"), (a,), (t,))
    np.testing.assert_allclose(q.T @ dq + dq.T @ q, 0, atol=1e-12)  # Q stays orthogonal
    np.testing.assert_allclose(q[:, 2:].T @ dq[:, 2:], 0, atol=1e-12)  # parallel transport
    np.testing.assert_allclose(dq @ r + q @ dr, t, atol=1e-12)  # dA reproduced
    np.testing.assert_allclose(dr[2:], 0, atol=0)


@pytest.mark.parametrize("complex_", [False, True])
def test_qr_tall_matches_jax_default(complex_):
    r = rng(3)
    a = r.standard_normal((5, 3)) + (1j * r.standard_normal((5, 3)) if complex_ else 0)
    w = r.standard_normal((5, 3))
    f = lambda qr: lambda x: jnp.sum(w * jnp.real(qr(x)[0])) + jnp.sum(jnp.abs(qr(x)[1]) ** 2)
    np.testing.assert_allclose(jax.grad(f(matcalc.qr))(a), jax.grad(f(jnp.linalg.qr))(a), atol=1e-12)


def test_qr_wide_reconstruction_and_unitarity():
    a = rng(4).standard_normal((3, 5)) + 1j * rng(5).standard_normal((3, 5))
    t = rng(6).standard_normal((3, 5)) + 1j * rng(7).standard_normal((3, 5))
    (q, r), (dq, dr) = jax.jvp(matcalc.qr, (a,), (t,))
    np.testing.assert_allclose(dq @ r + q @ dr, t, atol=1e-12)
    np.testing.assert_allclose(q.conj().T @ dq + dq.conj().T @ q, 0, atol=1e-12)
    np.testing.assert_allclose(np.imag(np.diag(dr)), 0, atol=1e-12)  # diag(R) stays real
    np.testing.assert_allclose(np.tril(dr, -1), 0, atol=0)


def test_qr_rank_deficient_gives_nonfinite_derivative():
    a = rng(8).standard_normal((5, 3))
    a[:, 2] = 0.0  # exactly rank-deficient: R[2, 2] = 0
    g = jax.jit(jax.grad(lambda x: jnp.sum(matcalc.qr(x)[0])))(a)
    assert not np.all(np.isfinite(g))


def test_qr_batched_float32_and_bad_mode():
    a = rng(9).standard_normal((2, 3, 4))
    f = lambda x: jnp.sum(matcalc.qr(x, "r") ** 2)
    g64, g32 = jax.grad(f)(a), jax.grad(f)(a.astype(np.float32))
    np.testing.assert_allclose(g32, g64, atol=1e-4 * np.abs(g64).max())
    with pytest.raises(ValueError, match="mode"):
        matcalc.qr(a, mode="raw")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        matcalc.qr(np.ones(3))


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_lu_matches_jax_default(shape):
    a = rng(10).standard_normal(shape)
    w = rng(11).standard_normal(shape)
    k = min(shape)

    def f(lu):
        def loss(x):
            p, l, u = lu(x)
            return jnp.sum(l * w[:, :k]) + jnp.sum(u * w[:k, :]) + jnp.sum(p)

        return loss

    np.testing.assert_allclose(jax.grad(f(matcalc.lu))(a), jax.grad(f(jax.scipy.linalg.lu))(a), atol=1e-12)


def test_lu_tangent_reproduces_da_and_keeps_structure():
    a = rng(12).standard_normal((5, 3)) + 1j * rng(13).standard_normal((5, 3))
    t = rng(14).standard_normal((5, 3)) + 1j * rng(15).standard_normal((5, 3))
    (p, l, u), (dp, dl, du) = jax.jvp(matcalc.lu, (a,), (t,))
    np.testing.assert_allclose(p.astype(a.dtype) @ (dl @ u + l @ du), t, atol=1e-12)
    assert np.all(dp == 0)
    np.testing.assert_allclose(np.triu(dl), 0, atol=0)
    np.testing.assert_allclose(np.tril(du, -1), 0, atol=0)


def test_lu_batched_float32_and_bad_input():
    a = rng(16).standard_normal((2, 4, 4))
    f = lambda x: jnp.sum(matcalc.lu(x)[2] ** 2)
    g64, g32 = jax.grad(f)(a), jax.grad(f)(a.astype(np.float32))
    np.testing.assert_allclose(g32, g64, atol=1e-4 * np.abs(g64).max())
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        matcalc.lu(np.ones(4))
