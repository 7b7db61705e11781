"""Principal roots and powers at the inputs the primary algorithms cannot handle: real matrices
whose principal square root is not real (the JAX mirror returns the complex root), singular
matrices (fractional powers), and ill-conditioned matrices (accuracy of ``sqrtm``'s derivative
against an mpmath reference)."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sl

import matcalc
import matcalc.scipy.linalg as msl

# --- the mirror's complex principal root of real input ----------------------------------------

_mirror_sqrtm = jax.jit(msl.sqrtm)
_mirror_jvp = jax.jit(lambda a, e: jax.jvp(msl.sqrtm, (a,), (e,)))


def _mirror_grad(a, w):
    return jax.grad(lambda a: jnp.real(jnp.sum(w * msl.sqrtm(a))))(a)


_mirror_grad = jax.jit(_mirror_grad)

NONREAL = np.array([[1.0, 2.0], [3.0, 4.0]])  # eigenvalues (5 ± √33)/2: one negative
REALROOT = np.array([[4.0, 1.0], [0.5, 9.0]])
E2 = np.array([[0.3, -0.2], [0.5, 0.7]])
W2 = np.array([[1.0, 2.0j], [0.5 - 1.0j, -1.0]])


def _csqrtm_fd(a, e, h=1e-3):
    """``L_sqrt(A, E)`` by SciPy's complex Schur root, 5-point central difference (error ~h⁴)."""
    f = [sl.sqrtm((a + k * h * e).astype(complex)) for k in (-2, -1, 1, 2)]
    return (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)


def test_mirror_sqrtm_complex_root_of_real_input():
    x = _mirror_sqrtm(jnp.array([[-1.0, 0.0], [0.0, 4.0]]))
    assert x.dtype == jnp.complex128
    np.testing.assert_allclose(x, np.diag([1j, 2.0]), atol=1e-15)
    want = sl.sqrtm(NONREAL.astype(complex))
    x = _mirror_sqrtm(jnp.array(NONREAL))
    np.testing.assert_allclose(x, want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(x @ x, NONREAL, atol=1e-13)
    # the top-level function keeps its real-dtype convention: NaN where the root is not real
    assert np.all(np.isnan(matcalc.sqrtm(jnp.array(NONREAL))))


def test_mirror_sqrtm_batch_keeps_real_path():
    batch = jnp.array(np.stack([NONREAL, REALROOT]))
    x = _mirror_sqrtm(batch)
    np.testing.assert_allclose(x[0], sl.sqrtm(NONREAL.astype(complex)), rtol=1e-13, atol=1e-14)
    # the matrix with a real root is the real DB root, cast (imaginary part exactly zero)
    assert np.all(np.imag(x[1]) == 0)
    np.testing.assert_array_equal(np.real(x[1]), matcalc.sqrtm(jnp.array(REALROOT)))
    np.testing.assert_allclose(x[1], sl.sqrtm(REALROOT), rtol=1e-14)


def test_mirror_sqrtm_derivative_at_nonreal_root():
    batch = jnp.array(np.stack([NONREAL, REALROOT]))
    tang = jnp.array(np.stack([E2, E2.T]))
    x, dx = _mirror_jvp(batch, tang)
    for k in range(2):
        a, e = np.asarray(batch[k]), np.asarray(tang[k])
        # Sylvester identity X dX + dX X = dA and the complex finite difference
        np.testing.assert_allclose(x[k] @ dx[k] + dx[k] @ x[k], e, atol=1e-14)
        np.testing.assert_allclose(dx[k], _csqrtm_fd(a, e), rtol=1e-9, atol=1e-10)
    assert np.any(np.abs(np.imag(dx[0])) > 0.1)  # the tangent at the non-real root is complex
    # reverse mode: ∇ of Re Σ W ∘ X is Re L(Aᵀ, W); its pairing with E is Re⟨W, L(A, E)⟩
    w = jnp.array(np.stack([W2, W2.T]))
    g = _mirror_grad(batch, w)
    assert g.dtype == jnp.float64
    for k in range(2):
        want = np.real(np.sum(np.asarray(w[k]) * np.asarray(dx[k])))
        np.testing.assert_allclose(np.sum(np.asarray(g[k]) * np.asarray(tang[k])), want, rtol=1e-12)
    # and on its own: ⟨∇, E⟩ vs the finite difference of the loss
    want = np.real(np.sum(W2 * _csqrtm_fd(NONREAL, E2)))
    np.testing.assert_allclose(np.sum(np.asarray(g[0]) * E2), want, rtol=1e-9)


def test_mirror_sqrtm_second_derivative_at_nonreal_root_is_nan():
    f = jax.jit(lambda a, e: jax.jvp(lambda a: jax.jvp(msl.sqrtm, (a,), (e,))[1], (a,), (e,))[1])
    a, e = jnp.array(NONREAL), jnp.array(E2)
    assert np.all(np.isnan(f(a, e)))
