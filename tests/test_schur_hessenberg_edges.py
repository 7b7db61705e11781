"""Edge cases of matcalc.schur and matcalc.hessenberg: gauges, invariant losses, the real-Schur
2×2-block limitation (NaN, documented), batched float32, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from tests.cases import rng


def test_schur_invariant_losses():
    """Z T² Zᴴ = A² and Σ T_ii² = tr(A²) do not depend on the Schur gauge."""
    a = rng(1).standard_normal((4, 4))
    w = rng(2).standard_normal((4, 4))

    def loss(x):
        t, z = matcalc.schur(x, output="complex")
        a2 = jnp.real(z @ t @ t @ jnp.conj(z.T))
        return jnp.sum(w * a2) + jnp.sum(jnp.real(jnp.diag(t) ** 2))

    ref = lambda x: jnp.sum(w * (x @ x)) + jnp.trace(x @ x)
    np.testing.assert_allclose(jax.grad(loss)(a), jax.grad(ref)(a), atol=1e-11)


def test_schur_gauge_and_structure():
    a = rng(3).standard_normal((4, 4)) + 1j * rng(4).standard_normal((4, 4))
    da = rng(5).standard_normal((4, 4)) + 1j * rng(6).standard_normal((4, 4))
    (t, z), (dt, dz) = jax.jvp(matcalc.schur, (a,), (da,))
    om = z.conj().T @ dz
    np.testing.assert_allclose(om + om.conj().T, 0, atol=1e-12)
    np.testing.assert_allclose(np.diag(om), 0, atol=1e-12)
    np.testing.assert_allclose(np.tril(dt, -1), 0, atol=0)
    np.testing.assert_allclose(dz @ t @ z.conj().T + z @ dt @ z.conj().T + z @ t @ dz.conj().T, da,
                               atol=1e-11)


def test_real_schur_with_complex_pair_gives_nan():
    a = np.array([[0.0, -2.0, 1.0], [1.0, 0.0, 0.5], [0.0, 0.0, 3.0]])
    (t, z), (dt, dz) = jax.jvp(matcalc.schur, (a,), (np.ones((3, 3)),))
    assert np.all(np.isfinite(t)) and np.any(np.diag(t, -1) != 0)
    assert np.all(np.isnan(dt)) and np.all(np.isnan(dz))
    # the complex form handles it
    _, (dtc, dzc) = jax.jvp(lambda x: matcalc.schur(x, "complex"), (a,), (np.ones((3, 3)),))
    assert np.all(np.isfinite(dtc)) and np.all(np.isfinite(dzc))


def test_hessenberg_gauge_and_reconstruction():
    a = rng(7).standard_normal((5, 5)) + 1j * rng(8).standard_normal((5, 5))
    da = rng(9).standard_normal((5, 5)) + 1j * rng(10).standard_normal((5, 5))
    (h, q), (dh, dq) = jax.jvp(lambda x: matcalc.hessenberg(x, calc_q=True), (a,), (da,))
    np.testing.assert_allclose(dq[:, 0], 0, atol=0)  # Q e1 = e1
    np.testing.assert_allclose(np.imag(np.diag(dh, -1)), 0, atol=1e-12)  # real subdiagonal
    np.testing.assert_allclose(np.tril(dh, -2), 0, atol=0)
    np.testing.assert_allclose(dq @ h @ q.conj().T + q @ dh @ q.conj().T + q @ h @ dq.conj().T, da,
                               atol=1e-11)


def test_hessenberg_h_only_batched_float32():
    a = rng(11).standard_normal((2, 4, 4))
    w = rng(12).standard_normal((4, 4))  # broadcast explicitly below
    f = lambda x: jnp.sum(jnp.broadcast_to(jnp.asarray(w, x.dtype), x.shape)
                          * matcalc.hessenberg(x))
    g64, g32 = jax.grad(f)(a), jax.grad(f)(a.astype(np.float32))
    np.testing.assert_allclose(g32, g64, atol=1e-3 * np.abs(g64).max())
    np.testing.assert_allclose(g64[0], jax.grad(f)(a[0]), atol=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="output"):
        matcalc.schur(np.eye(3), output="upper")
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        matcalc.hessenberg(np.ones((3, 2)))
