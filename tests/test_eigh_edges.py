"""Edge cases of matcalc.eigh / eigvalsh: exactly repeated eigenvalues (what the rule returns, and
which losses get exact gradients), cross-checks with JAX, float32, batching and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from matcalc._core import symmetrize

H4 = 0.5 * np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], float)
F4 = 0.5 * np.array([[1, 1, 1, 1], [1, 1j, -1, -1j], [1, -1, 1, -1], [1, -1j, -1, 1j]])
DEGEN = (H4 * np.array([1.0, 1.0, 2.0, 3.0])) @ H4.T  # exactly repeated eigenvalue 1
DEGEN_C = (F4 * np.array([1.0, 1.0, 2.0, 3.0])) @ F4.conj().T


def _sym(seed, n=4, complex_=False):
    r = np.random.default_rng(seed)
    e = r.standard_normal((n, n))
    if complex_:
        e = e + 1j * r.standard_normal((n, n))
    return (e + e.conj().T) / 2


def _transport(v, w, e, i, tol=1e-12):
    """The documented eigenvector derivative dv_i = −(A − λ_i I)⁺ E v_i (NumPy), with the
    pseudo-inverse treating the whole cluster of λ_i as its null space."""
    d = w - w[i]
    far = np.abs(d) > tol
    mu = np.where(far, 1 / np.where(far, d, 1), 0.0)
    return -((v * mu) @ v.conj().T) @ e @ v[:, i]


@pytest.mark.parametrize("a", [DEGEN, DEGEN_C, np.eye(3)], ids=["real", "complex", "identity"])
def test_jvp_is_the_documented_transported_derivative(a):
    e = _sym(1, a.shape[0], np.iscomplexobj(a))
    (w, v), (dw, dv) = jax.jvp(lambda x: tuple(matcalc.eigh(x)), (a,), (e,))
    w_np = np.linalg.eigvalsh(a)
    np.testing.assert_allclose(w, w_np, atol=1e-14)
    v = np.asarray(v)
    dw_ref = np.real(np.einsum("ki,kl,li->i", v.conj(), e, v))
    n = len(w_np)
    dv_ref = np.empty_like(v)
    for i in range(n):
        dv_ref[:, i] = _transport(v, w_np, e, i)
    np.testing.assert_allclose(dw, dw_ref, atol=1e-14)
    np.testing.assert_allclose(dv, dv_ref, atol=1e-14)
    assert np.all(np.isfinite(dv))
    # zero rotation inside the cluster
    np.testing.assert_allclose(v[:, :2].conj().T @ np.asarray(dv)[:, :2], 0, atol=1e-14)


def test_basis_dependent_loss_gets_transpose_of_documented_jvp():
    """ℓ = Re Σ W ∘ V + Σ c λ (depends on the arbitrary basis of the cluster): the gradient is the
    transpose of the documented JVP, <∇ℓ, E> = Re Σ W ∘ dV + Σ c dλ for every E."""
    r = np.random.default_rng(2)
    wv, c = r.standard_normal((4, 4)), r.standard_normal(4)

    def loss(x):
        lam, vec = matcalc.eigh(x)
        return jnp.sum(wv * vec) + jnp.sum(c * lam)

    g = jax.grad(loss)(DEGEN)
    _, v = matcalc.eigh(DEGEN)
    v = np.asarray(v)
    for seed in range(3):
        e = _sym(10 + seed)
        w_np = np.linalg.eigvalsh(DEGEN)
        dv = np.empty_like(v)
        for i in range(4):
            dv[:, i] = _transport(v, w_np, e, i)
        dlam = np.einsum("ki,kl,li->i", v, e, v)
        want = np.sum(wv * dv) + np.sum(c * dlam)
        assert abs(float(jnp.sum(g * e)) - want) <= 1e-13 * (1 + abs(want))


def _np_projector(a, k=2):
    w, v = np.linalg.eigh(symmetrize(a))
    return v[:, :k] @ v[:, :k].conj().T


@pytest.mark.parametrize("a", [DEGEN, DEGEN_C], ids=["real", "complex"])
def test_projector_loss_exact_at_repeated_eigenvalue(a):
    """P = V_c V_cᴴ for the repeated pair is smooth in A; its gradient is exact (vs finite
    differences of NumPy's projector)."""
    wmat = _sym(3, complex_=np.iscomplexobj(a)) + 0.5

    def loss(x, eigh):
        _, vec = eigh(x)
        p = vec[:, :2] @ jnp.conj(vec[:, :2]).T
        return jnp.real(jnp.sum(wmat * p))

    g = jax.grad(loss)(a, matcalc.eigh)
    assert np.all(np.isfinite(g))
    for seed in range(2):
        e = _sym(20 + seed, complex_=np.iscomplexobj(a))
        h = 1e-4
        f = lambda t: np.real(np.sum(wmat * _np_projector(a + t * e)))
        fd = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
        assert abs(float(np.real(np.sum(np.asarray(g) * e))) - fd) <= 1e-9 * (1 + abs(fd))


def test_cluster_symmetric_eigenvalue_loss_exact():
    """Σ_{i∈c} g(λ_i) over the repeated cluster: exact gradient at the repeat (eigh, eigvalsh)."""
    e = _sym(4)
    f = lambda t: np.sum(np.linalg.eigvalsh(DEGEN + t * e)[:2] ** 3)
    h = 1e-4
    fd = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
    for fn in (lambda x: matcalc.eigh(x)[0], matcalc.eigvalsh):
        g = jax.grad(lambda x: jnp.sum(fn(x)[:2] ** 3))(DEGEN)
        assert abs(float(jnp.sum(g * e)) - fd) <= 1e-9


def test_eigvalsh_second_order_at_repeat_is_documented_value():
    """At A = I, d²/dt² Σ g(λ_i(I + tE)) = g''(1) tr(E²); eigvalsh's second derivative returns the
    documented Σ g''(1) Ẽ_ii² (the within-cluster splitting term is missing; use hermitian.funm)."""
    e = _sym(5, n=3)
    s = lambda x: jnp.sum(matcalc.eigvalsh(x) ** 3)
    hvp = jax.jvp(jax.grad(s), (np.eye(3),), (e,))[1]
    _, v = matcalc.eigh(np.eye(3))
    et = np.asarray(v).T @ e @ np.asarray(v)
    assert abs(float(jnp.sum(hvp * e)) - 6 * np.sum(np.diag(et) ** 2)) <= 1e-13
    s_exact = lambda x: jnp.trace(matcalc.hermitian.funm(x, lambda t: t**3))
    hvp2 = jax.jvp(jax.grad(s_exact), (np.eye(3),), (e,))[1]
    assert abs(float(jnp.sum(hvp2 * e)) - 6 * np.trace(e @ e)) <= 1e-13


def test_cross_check_against_jax_distinct():
    a = (H4 * np.array([0.5, 1.0, 2.0, 3.0])) @ H4.T
    r = np.random.default_rng(6)
    wv = r.standard_normal((4, 4))

    def loss(x, eigh):
        lam, vec = eigh(x)
        vec = vec * jnp.sign(vec[0:1, :])  # gauge-invariant
        return jnp.sum(wv * vec) + jnp.sum(lam**2)

    g_ours = jax.grad(loss)(a, matcalc.eigh)
    g_jax = jax.grad(loss)(a, jnp.linalg.eigh)
    np.testing.assert_allclose(symmetrize(g_ours), symmetrize(g_jax), rtol=1e-12, atol=1e-13)
    e = _sym(7)
    h_ours = jax.jvp(jax.grad(lambda x: loss(x, matcalc.eigh)), (a,), (e,))[1]
    h_jax = jax.jvp(jax.grad(lambda x: loss(x, jnp.linalg.eigh)), (a,), (e,))[1]
    np.testing.assert_allclose(symmetrize(h_ours), symmetrize(h_jax), rtol=1e-10, atol=1e-11)


def test_near_repeated_gap():
    """Gaps cbrt(eps)/100 and 1e-10: the eigenvector derivative is genuinely large (∝ 1/gap) and
    agrees with JAX; the cluster projector's gradient stays exact."""
    for gap in (np.cbrt(np.finfo(float).eps) / 100, 1e-10):
        a = (H4 * np.array([1.0, 1.0 + gap, 2.0, 3.0])) @ H4.T
        e = _sym(8)
        _, (dw, dv) = jax.jvp(lambda x: tuple(matcalc.eigh(x)), (a,), (e,))
        _, (dw_j, dv_j) = jax.jvp(jnp.linalg.eigh, (a,), (e,))
        np.testing.assert_allclose(dw, dw_j, atol=1e-12)
        np.testing.assert_allclose(dv, dv_j, rtol=1e-6 * max(1, 1e-6 / gap))


def test_upper_triangle_and_float32_and_batch():
    a = DEGEN + np.triu(np.ones((4, 4)), 1)  # only the U triangle is read with UPLO="U"
    w, v = matcalc.eigh(a, UPLO="U", symmetrize_input=False)
    up = np.triu(a) + np.triu(a, 1).T
    np.testing.assert_allclose(w, np.linalg.eigvalsh(up), atol=1e-14)
    np.testing.assert_allclose(matcalc.eigvalsh(a, UPLO="U", symmetrize_input=False), w, atol=1e-14)
    w32, v32 = matcalc.eigh(DEGEN.astype(np.float32))
    assert w32.dtype == v32.dtype == np.float32
    g32 = jax.grad(lambda x: jnp.sum(matcalc.eigvalsh(x)[:2] ** 2))(DEGEN.astype(np.float32))
    g64 = jax.grad(lambda x: jnp.sum(matcalc.eigvalsh(x)[:2] ** 2))(DEGEN)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, atol=1e-5)
    batch = np.stack([DEGEN, np.eye(4), (H4 * np.array([0.5, 1.0, 2.0, 3.0])) @ H4.T])
    loss = lambda x: jnp.sum(matcalc.eigvalsh(x)[..., :2] ** 2)
    gb = jax.grad(loss)(batch)
    for k in range(3):
        np.testing.assert_allclose(gb[k], jax.grad(loss)(batch[k]), atol=1e-14)
    res = matcalc.eigh(batch)
    assert res.eigenvalues.shape == (3, 4) and res.eigenvectors.shape == (3, 4, 4)


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        matcalc.eigh(np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        matcalc.eigvalsh(np.ones((2, 3)))
    for fn in (matcalc.eigh, matcalc.eigvalsh):
        for sym in (True, False):  # validated whether or not the triangle is read
            with pytest.raises(ValueError, match="UPLO must be None, 'L' or 'U', got 'X'"):
                fn(np.eye(2), UPLO="X", symmetrize_input=sym)
    # a second matrix is not silently ignored: jnp.linalg.eigh has no generalized problem
    with pytest.raises(TypeError, match=r"UPLO .* array of shape \(2, 2\)"):
        matcalc.eigh(np.eye(2), 2 * np.eye(2))
    with pytest.raises(TypeError, match="UPLO"):
        matcalc.eigvalsh(np.eye(2), np.eye(2))
    w = matcalc.eigvalsh(np.eye(2, dtype=np.int32))
    assert w.dtype == jnp.linalg.eigvalsh(np.eye(2, dtype=np.int32)).dtype  # JAX: float32
