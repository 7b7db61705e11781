"""Edge cases of matcalc.svd / svdvals: repeated and zero singular values, float32 range,
gauges, tall/wide/complex/batched, cross-checks with JAX's default rule where it is finite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import rng


def _with_singular_values(m, n, s, seed, complex_=False):
    r = rng(seed)
    a = r.standard_normal((m, n)) + (1j * r.standard_normal((m, n)) if complex_ else 0)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return (u * np.asarray(s)) @ vh


def _fd_grad(f, a, h=1e-6):
    """Central-difference gradient of a real scalar function (real/imag parts for complex a)."""
    g = np.zeros(a.shape, dtype=a.dtype)
    for idx in np.ndindex(a.shape):
        for unit in [1.0, 1j] if np.iscomplexobj(a) else [1.0]:
            e = np.zeros(a.shape, dtype=a.dtype)
            e[idx] = unit * h
            d = (f(a + e) - f(a - e)) / (2 * h)
            g[idx] += d * unit if unit == 1.0 else d * 1j
    return g


def _polar_u(a):
    return matcalc.svd(a, full_matrices=False)[0] @ matcalc.svd(a, full_matrices=False)[2]


def _grad(f, a):
    # JAX's convention for complex input: grad = conj(∂f/∂z̄·2)... compare via real pairing instead.
    return jax.grad(f)(a)


@pytest.mark.parametrize("shape,complex_", [((3, 3), False), ((5, 3), False), ((3, 3), True), ((3, 5), True)])
def test_polar_factor_gradient_at_repeated_singular_values(shape, complex_):
    """U Vᴴ is smooth at full rank whatever the multiplicities: exact, finite gradient."""
    m, n = shape
    a = _with_singular_values(m, n, [2.0, 2.0, 1.0], seed=1, complex_=complex_)
    w = rng(2).standard_normal((m, n))

    def loss(x):
        u, _, vh = matcalc.svd(x, full_matrices=False)
        return jnp.sum(w * jnp.real(u @ vh))

    g = jax.grad(loss)(a)
    assert np.all(np.isfinite(g))

    def ref(x):
        if m >= n:
            return np.sum(w * np.real(scipy.linalg.polar(x)[0]))
        return np.sum(w * np.real(scipy.linalg.polar(x, side="left")[0]))

    fd = _fd_grad(ref, a)
    # jax.grad of a real loss of complex input returns the conjugate of the ∂/∂Re + i∂/∂Im form
    got = np.conj(g) if complex_ else g
    np.testing.assert_allclose(got, fd, atol=1e-7)


def test_identity_matrix():
    a = np.eye(3)
    w = rng(3).standard_normal((3, 3))
    g = jax.grad(lambda x: jnp.sum(w * _polar_u(x)))(a)
    # d polar(I)[E] = (E − Eᵀ)/2, so the gradient is the skew part of w
    np.testing.assert_allclose(g, (w - w.T) / 2, atol=1e-13)
    g2 = jax.grad(lambda x: jnp.sum(matcalc.svd(x)[1] ** 3))(a)
    np.testing.assert_allclose(g2, 3 * np.eye(3), atol=1e-13)


def test_cluster_projector_and_functions_of_s_at_repeated_values():
    a = _with_singular_values(4, 4, [3.0, 1.0, 1.0, 0.5], seed=4)
    w = rng(5).standard_normal((4, 4))
    w = w + w.T

    def proj(x):  # projector onto the left singular subspace of the repeated pair
        u = matcalc.svd(x)[0][:, 1:3]
        return jnp.sum(w * (u @ u.T))

    def proj_ref(x):
        u = np.linalg.svd(x)[0][:, 1:3]
        return np.sum(w * (u @ u.T))

    np.testing.assert_allclose(jax.grad(proj)(a), _fd_grad(proj_ref, a), atol=1e-7)

    def logdet(x):
        return jnp.sum(jnp.log(matcalc.svd(x)[1]))

    np.testing.assert_allclose(jax.grad(logdet)(a), np.linalg.inv(a).T, atol=1e-12)
    np.testing.assert_allclose(
        jax.grad(lambda x: jnp.sum(jnp.log(matcalc.svdvals(x))))(a), np.linalg.inv(a).T, atol=1e-12
    )


def test_nearly_repeated_singular_values_match_jax():
    d = np.cbrt(np.finfo(float).eps) / 100
    a = _with_singular_values(4, 3, [2.0, 2.0 + d, 1.0], seed=6)
    w = rng(7).standard_normal((4, 3))

    def loss(svd):
        def f(x):
            u, s, vh = svd(x, full_matrices=False)
            return jnp.sum(w * (u @ jnp.diag(jnp.sin(s)) @ vh))

        return f

    ours = jax.grad(loss(matcalc.svd))(a)
    ref = jax.grad(loss(jnp.linalg.svd))(a)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_zero_singular_values():
    # rank 2 in a 5×4: two zero singular values (one of multiplicity two)
    a = _with_singular_values(5, 4, [2.0, 1.0, 0.0, 0.0], seed=8)
    w = rng(9).standard_normal((5, 4))
    # ‖A‖_F² through the factors: gradient 2A
    g = jax.grad(lambda x: jnp.sum(matcalc.svd(x)[1] ** 2))(a)
    np.testing.assert_allclose(g, 2 * a, atol=1e-13)

    # best rank-2 approximation: smooth at a rank-2 input (gap σ2 > σ3 = 0)
    def trunc(x):
        u, s, vh = matcalc.svd(x, full_matrices=False)
        return jnp.sum(w * ((u[:, :2] * s[None, :2]) @ vh[:2]))

    def trunc_ref(x):
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        return np.sum(w * ((u[:, :2] * s[None, :2]) @ vh[:2]))

    g = jax.grad(trunc)(a)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, _fd_grad(trunc_ref, a), atol=1e-7)
    # the full JVP is finite
    _, t = jax.jvp(matcalc.svd, (a,), (w,))
    assert all(np.all(np.isfinite(x)) for x in t)


def test_float32_no_overflow_at_large_scale():
    """σ ~ 1e20: σ² overflows float32, σ does not."""
    a64 = _with_singular_values(3, 3, [3.0, 2.0, 1.0], seed=10) * 1e20
    w = rng(11).standard_normal((3, 3))

    def loss(x):
        u, s, vh = matcalc.svd(x)
        return jnp.sum(jnp.asarray(w, x.dtype) * (u @ vh)) + jnp.sum(s) / 1e20

    g64 = jax.grad(loss)(a64)
    g32 = jax.grad(loss)(a64.astype(np.float32))
    assert np.all(np.isfinite(g32))
    g32, g64 = g32 * 1e20, g64 * 1e20
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-3 * np.abs(g64).max())


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_full_matrices_gauge_parallel_transport(shape):
    a = rng(12).standard_normal(shape)
    t = rng(13).standard_normal(shape)
    (u, s, vh), (du, ds, dvh) = jax.jvp(matcalc.svd, (a,), (t,))
    k = min(shape)
    for q, dq in ((u, du), (vh.T, dvh.T)):
        np.testing.assert_allclose(q.T @ dq + dq.T @ q, 0, atol=1e-12)  # stays orthogonal
        if q.shape[-1] > k:
            np.testing.assert_allclose(q[:, k:].T @ dq[:, k:], 0, atol=1e-12)  # the gauge


def test_complex_phase_gauge_is_balanced():
    a = rng(14).standard_normal((3, 3)) + 1j * rng(15).standard_normal((3, 3))
    t = rng(16).standard_normal((3, 3)) + 1j * rng(17).standard_normal((3, 3))
    (u, s, vh), (du, _, dvh) = jax.jvp(matcalc.svd, (a,), (t,))
    ou = np.diag(u.conj().T @ du)
    ov = np.diag(vh @ dvh.conj().T)
    np.testing.assert_allclose(ou.imag, -ov.imag, atol=1e-12)
    p = np.diag(u.conj().T @ t @ vh.conj().T)
    np.testing.assert_allclose(ou.imag, p.imag / (2 * s), atol=1e-12)


@pytest.mark.parametrize("shape,complex_", [((4, 3), False), ((3, 4), True), ((3, 3), True)])
def test_gauge_invariant_loss_matches_jax_default(shape, complex_):
    r = rng(18)
    a = r.standard_normal(shape) + (1j * r.standard_normal(shape) if complex_ else 0)
    w = r.standard_normal(shape)

    def loss(svd):
        def f(x):
            u, s, vh = svd(x, full_matrices=False)
            return jnp.sum(w * jnp.real((u * jnp.tanh(s)[..., None, :].astype(u.dtype)) @ vh))

        return f

    ours = jax.grad(loss(matcalc.svd))(a)
    ref = jax.grad(loss(jnp.linalg.svd))(a)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_hermitian_flag_and_values_only():
    a = rng(19).standard_normal((4, 4))
    a = a + a.T
    w = rng(20).standard_normal((4, 4))

    def loss(h):
        def f(x):
            u, s, vh = matcalc.svd(x, hermitian=h)
            return jnp.sum(w * ((u * (s**2)[None, :]) @ vh)) + jnp.sum(jnp.sqrt(s))

        return f

    g_h = jax.grad(loss(True))(a)
    g_g = jax.grad(loss(False))(a)
    np.testing.assert_allclose(g_h, (g_g + g_g.T) / 2, atol=1e-12)
    np.testing.assert_allclose(matcalc.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False))
    np.testing.assert_allclose(
        jax.grad(lambda x: jnp.sum(matcalc.svd(x, compute_uv=False)))(a),
        jax.grad(lambda x: jnp.sum(matcalc.svdvals(x)))(a),
    )


def test_batched_and_svdvals_second_order():
    # Distinct singular values: second derivatives at repeated ones are not exact (documented).
    a = np.stack([_with_singular_values(3, 3, [3.0, 2.0, 1.0], seed=s) for s in (21, 22)])
    f = lambda x: jnp.sum(matcalc.svdvals(x) ** 2)  # = ‖A‖_F²: Hessian 2·I
    t = rng(23).standard_normal(a.shape)
    hv = jax.jvp(jax.grad(f), (a,), (t,))[1]
    np.testing.assert_allclose(hv, 2 * t, atol=1e-12)
    s, vmapped = matcalc.svd(a)[1], jax.vmap(lambda x: matcalc.svd(x)[1])(a)
    np.testing.assert_allclose(s, vmapped, atol=1e-14)


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        matcalc.svd(np.ones(3))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        matcalc.svd(np.ones((3, 4)), hermitian=True)
