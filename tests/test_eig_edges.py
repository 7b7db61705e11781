"""Edge cases of matcalc.eig / eigvals: gauge convention, gauge-invariant losses, repeated
eigenvalues of a diagonalizable matrix, cross-checks with JAX's default eigenvalue rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import rng


@pytest.mark.parametrize("complex_", [False, True])
def test_eigvals_gradient_matches_jax_default(complex_):
    r = rng(1)
    a = r.standard_normal((4, 4)) + (1j * r.standard_normal((4, 4)) if complex_ else 0)
    w = r.standard_normal(4)
    f = lambda ev: lambda x: jnp.sum(w * jnp.abs(ev(x)) ** 2)
    np.testing.assert_allclose(
        jax.grad(f(matcalc.eigvals))(a), jax.grad(f(jnp.linalg.eigvals))(a), atol=1e-12
    )


def test_gauge_convention_and_its_derivative():
    r = rng(2)
    a = r.standard_normal((4, 4)) + 1j * r.standard_normal((4, 4))
    t = r.standard_normal((4, 4)) + 1j * r.standard_normal((4, 4))
    (w, v), (dw, dv) = jax.jvp(matcalc.eig, (a,), (t,))
    np.testing.assert_allclose(a @ v, v * w[None, :], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1, atol=1e-14)
    k = np.argmax(np.abs(v), axis=0)
    cols = np.arange(4)
    assert np.all(np.abs(v[k, cols].imag) == 0) and np.all(v[k, cols].real > 0)
    np.testing.assert_allclose(np.real(np.sum(v.conj() * dv, axis=0)), 0, atol=1e-12)
    np.testing.assert_allclose(dv[k, cols].imag, 0, atol=1e-12)
    # dλ = yᴴ dA x / yᴴ x with LAPACK's left eigenvectors
    wl, vl, vr = scipy.linalg.eig(a, left=True, right=True)
    order = [int(np.argmin(np.abs(wl - x))) for x in np.asarray(w)]
    yl, xr = vl[:, order], vr[:, order]
    ref = np.sum(yl.conj() * (t @ xr), axis=0) / np.sum(yl.conj() * xr, axis=0)
    np.testing.assert_allclose(dw, ref, atol=1e-12)


@pytest.mark.parametrize("complex_", [False, True])
def test_gauge_invariant_loss_v_f_lambda_vinv(complex_):
    """V exp(Λ) V⁻¹ = expm(A): its gradient does not depend on the eigenvector gauge."""
    r = rng(3)
    a = r.standard_normal((4, 4)) / 2 + (1j * r.standard_normal((4, 4)) / 2 if complex_ else 0)
    wt = r.standard_normal((4, 4))

    def via_eig(x):
        w, v = matcalc.eig(x)
        return jnp.sum(wt * jnp.real((v * jnp.exp(w)[None, :]) @ jnp.linalg.inv(v)))

    def via_expm(x):
        return jnp.sum(wt * jnp.real(jax.scipy.linalg.expm(x)))

    np.testing.assert_allclose(via_eig(a), via_expm(a), rtol=1e-12)
    np.testing.assert_allclose(jax.grad(via_eig)(a), jax.grad(via_expm)(a), atol=1e-11)


def test_repeated_eigenvalue_of_diagonalizable_matrix():
    """A = S diag(1, 1, 2) S⁻¹: spectral projector of the simple eigenvalue and symmetric
    functions of the eigenvalues get exact, finite gradients."""
    r = rng(4)
    s = r.standard_normal((3, 3)) + 2 * np.eye(3)
    a = s @ np.diag([1.0, 1.0, 2.0]) @ np.linalg.inv(s)
    wt = r.standard_normal((3, 3))

    def projector_loss(x):
        w, v = matcalc.eig(x)
        m = jax.lax.stop_gradient(jnp.abs(w - 2) < 0.5).astype(v.dtype)
        return jnp.sum(wt * jnp.real((v * m[None, :]) @ jnp.linalg.inv(v)))

    g = jax.grad(projector_loss)(a)
    assert np.all(np.isfinite(g))

    # reference: the projector onto the eigenvalue-2 eigenspace is x yᴴ / (yᴴ x), smooth here;
    # its derivative by central differences of a NumPy computation
    def proj_np(x):
        w, vl, vr = scipy.linalg.eig(x, left=True, right=True)
        i = int(np.argmin(np.abs(w - 2)))
        p = np.outer(vr[:, i], vl[:, i].conj()) / (vl[:, i].conj() @ vr[:, i])
        return np.sum(wt * p.real)

    h = 1e-6
    fd = np.zeros((3, 3))
    for idx in np.ndindex(3, 3):
        e = np.zeros((3, 3))
        e[idx] = h
        fd[idx] = (proj_np(a + e) - proj_np(a - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-7)
    # Σ λ² = tr(A²): gradient 2Aᵀ
    g2 = jax.grad(lambda x: jnp.sum(jnp.real(matcalc.eigvals(x) ** 2)))(a)
    np.testing.assert_allclose(g2, 2 * a.T, atol=1e-10)


def test_batched_float32():
    a = rng(5).standard_normal((2, 3, 3))
    f = lambda x: jnp.sum(jnp.abs(matcalc.eigvals(x)))
    g64 = jax.grad(f)(a)
    g32 = jax.grad(f)(a.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, atol=1e-4 * np.abs(g64).max())
    np.testing.assert_allclose(g64[1], jax.grad(f)(a[1]), atol=1e-14)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        matcalc.eig(np.ones((2, 3)))
