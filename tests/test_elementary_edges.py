"""Edge cases of the elementary rules: singular input, repeated singular values, subgradients,
bad input, promotion, and agreement with JAX's default derivatives where those are finite."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from matcalc.testing import check_rule
from tests.cases import rng, spd, well_conditioned


def cofactor_adjugate(a):
    """adj(A) from (n-1)-minors in NumPy: an independent reference for singular A."""
    n = a.shape[0]
    adj = np.empty_like(a)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(a, j, axis=0), i, axis=1)
        adj[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return adj


def rank_deficient(n, r, seed=0):
    x = rng(seed)
    return x.standard_normal((n, r)) @ x.standard_normal((r, n))


# ------------------------------------------------------------------------------ det / adjugate


@pytest.mark.parametrize("rank", [3, 2, 1])
def test_det_gradient_at_singular_matrix_is_transposed_adjugate(rank):
    a = rank_deficient(4, rank, seed=rank)
    g = jax.grad(matcalc.det)(a)
    want = cofactor_adjugate(a).T
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, want, atol=1e-12 * max(1.0, np.abs(want).max()))
    if rank <= 2:
        np.testing.assert_allclose(g, 0.0, atol=1e-12)


def test_det_gradient_at_singular_matches_jax_where_finite():
    a = rank_deficient(4, 3, seed=11)
    ours = jax.grad(matcalc.det)(a)
    theirs = jax.grad(jnp.linalg.det)(a)
    if np.all(np.isfinite(theirs)):
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_det_second_order_at_rank_deficient_matrix():
    # det is a polynomial: the Hessian-vector product is exact and the FD of the gradient is
    # accurate; a check at rank n-1 exercises the SVD adjugate's own rule.
    a = rank_deficient(4, 3, seed=5)
    v = rng(6).standard_normal((4, 4))
    hv = jax.jvp(jax.grad(matcalc.det), (a,), (v,))[1]
    h = 1e-4
    g = jax.grad(matcalc.det)
    fd = (-g(a + 2 * h * v) + 8 * g(a + h * v) - 8 * g(a - h * v) + g(a - 2 * h * v)) / (12 * h)
    np.testing.assert_allclose(hv, fd, rtol=1e-7, atol=1e-9)


def test_det_batched_mix_of_singular_and_regular():
    a = np.stack([rank_deficient(3, 2, seed=1), well_conditioned(3, seed=2)])
    g = jax.grad(lambda x: jnp.sum(matcalc.det(x)))(a)
    np.testing.assert_allclose(g[0], cofactor_adjugate(a[0]).T, atol=1e-12)
    np.testing.assert_allclose(g[1], np.linalg.det(a[1]) * np.linalg.inv(a[1]).T, rtol=1e-12)
    gv = jax.vmap(jax.grad(matcalc.det))(a)
    np.testing.assert_allclose(gv, g, atol=1e-12)


def test_det_harness_at_rank_n_minus_1():
    check_rule(
        matcalc.det, rank_deficient(3, 2, seed=3), reference=np.linalg.det, check_vmap=False, primal_rtol=1e-8
    )


# ------------------------------------------------------------------------------ lstsq / pinv


def test_lstsq_gradient_at_identity_is_finite_and_exact():
    n = 4
    a = np.eye(n)
    b = rng(1).standard_normal(n)
    w = rng(2).standard_normal(n)
    ga, gb = jax.grad(lambda a, b: jnp.dot(w, matcalc.lstsq(a, b)[0]), argnums=(0, 1))(a, b)
    # at A = I: x = b, dx = db − dA b  ⇒  ∇_A = −w bᵀ, ∇_b = w
    np.testing.assert_allclose(ga, -np.outer(w, b), atol=1e-13)
    np.testing.assert_allclose(gb, w, atol=1e-13)


def test_lstsq_matches_numpy_outputs_and_jax_gradient():
    a = rng(3).standard_normal((6, 3))
    b = rng(4).standard_normal((6, 2))
    x, resid, rank, s = matcalc.lstsq(a, b)
    nx, nres, nrank, ns = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(x, nx, rtol=1e-12)
    np.testing.assert_allclose(resid, nres, rtol=1e-10)
    assert int(rank) == nrank
    np.testing.assert_allclose(s, ns, rtol=1e-12)
    loss = lambda f: lambda a: jnp.sum(jnp.sin(f(a, b)[0]))
    np.testing.assert_allclose(
        jax.grad(loss(matcalc.lstsq))(a), jax.grad(loss(jnp.linalg.lstsq))(a), rtol=1e-10, atol=1e-12
    )


def test_lstsq_numpy_resid_shape_rule():
    a = rng(5).standard_normal((3, 5))
    assert matcalc.lstsq(a, np.ones(3), numpy_resid=True)[1].shape == (0,)
    assert matcalc.lstsq(a.T, np.ones(5), numpy_resid=True)[1].shape == (1,)


def _fixed_rank_projection(a, r):
    u, _, vh = np.linalg.svd(a)
    pu = u[:, :r] @ u[:, :r].T
    pv = vh[:r].T @ vh[:r]
    return lambda e: pu @ e + e @ pv - pu @ e @ pv


def test_pinv_rank_deficient_derivative_along_fixed_rank_tangents():
    a = rank_deficient(5, 2, seed=7)
    rtol = 1e-8
    f = functools.partial(matcalc.pinv, rtol=rtol)
    proj = _fixed_rank_projection(a, 2)
    e = proj(rng(8).standard_normal((5, 5)))
    jv = jax.jvp(f, (a,), (e,))[1]
    h = 1e-4
    ref = lambda x: np.linalg.pinv(x, rcond=1e-6)  # the O(h²) singular values are cut
    fd = (-ref(a + 2 * h * e) + 8 * ref(a + h * e) - 8 * ref(a - h * e) + ref(a - 2 * h * e)) / (12 * h)
    np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-8)


def test_pinv_gradient_matches_jax():
    a = rng(9).standard_normal((5, 3))
    w = rng(10).standard_normal((3, 5))
    g1 = jax.grad(lambda a: jnp.sum(w * matcalc.pinv(a)))(a)
    g2 = jax.grad(lambda a: jnp.sum(w * jnp.linalg.pinv(a)))(a)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ norms


def test_spectral_norm_subgradient_at_repeated_top_singular_value():
    # ‖I‖₂ = 1 with a 3-fold σ_max: the documented subgradient averages the cluster: I/3.
    g = jax.grad(functools.partial(matcalc.norm, ord=2))(np.eye(3))
    np.testing.assert_allclose(g, np.eye(3) / 3, atol=1e-14)
    g = jax.grad(functools.partial(matcalc.norm, ord=-2))(np.diag([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(g, np.diag([0.5, 0.0, 0.5]), atol=1e-14)


def test_nuclear_norm_subgradient_at_rank_deficiency():
    a = rank_deficient(4, 2, seed=12)
    g = jax.grad(functools.partial(matcalc.norm, ord="nuc"))(a)
    u, s, vh = np.linalg.svd(a)
    np.testing.assert_allclose(g, u[:, :2] @ vh[:2], atol=1e-12)


def test_nuclear_norm_gradient_at_repeated_singular_values_is_exact():
    q1, _ = np.linalg.qr(rng(13).standard_normal((4, 4)))
    q2, _ = np.linalg.qr(rng(14).standard_normal((4, 4)))
    a = q1 @ np.diag([2.0, 2.0, 2.0, 1.0]) @ q2.T
    g = jax.grad(functools.partial(matcalc.norm, ord="nuc"))(a)
    np.testing.assert_allclose(g, q1 @ q2.T, atol=1e-12)


def test_norms_at_zero_have_zero_subgradient():
    for ord_ in ("fro", "nuc", 1, np.inf, 2):
        g = jax.grad(functools.partial(matcalc.norm, ord=ord_))(np.zeros((3, 3)))
        np.testing.assert_array_equal(g, 0.0)
    np.testing.assert_array_equal(jax.grad(matcalc.norm)(np.zeros(4)), 0.0)


@pytest.mark.parametrize("ord_", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norm_gradients_match_jax(ord_):
    a = well_conditioned(4, seed=15)
    f = lambda n: jax.grad(functools.partial(n, ord=ord_))(a)
    np.testing.assert_allclose(f(matcalc.norm), f(jnp.linalg.norm), rtol=1e-10, atol=1e-12)


def test_norm_axis_and_keepdims_like_jax():
    x = rng(16).standard_normal((2, 3, 4))
    for kw in [
        dict(),
        dict(axis=1),
        dict(axis=(0, 2), ord="nuc"),
        dict(axis=-1, ord=1, keepdims=True),
        dict(axis=(1, 2), ord=2, keepdims=True),
    ]:
        np.testing.assert_allclose(matcalc.norm(x, **kw), np.linalg.norm(x, **kw), rtol=1e-12)
    with pytest.raises(ValueError, match="ord"):
        matcalc.norm(x, ord=2)
    with pytest.raises(ValueError, match="Invalid order .bogus. for matrix norm"):
        matcalc.norm(x[0], ord="bogus")


# ------------------------------------------------------------------------------ matrix_power


@pytest.mark.parametrize("n", [0, 1, 2, 7, 13, -1, -4])
def test_matrix_power_values_and_gradients_match_jax(n):
    a = well_conditioned(3, seed=17) * 0.9
    np.testing.assert_allclose(matcalc.matrix_power(a, n), np.linalg.matrix_power(a, n), rtol=1e-11)
    w = rng(18).standard_normal((3, 3))
    g = lambda mp: jax.grad(lambda a: jnp.sum(w * mp(a, n)))(a)
    np.testing.assert_allclose(g(matcalc.matrix_power), g(jnp.linalg.matrix_power), rtol=1e-10, atol=1e-12)


def test_matrix_power_rejects_non_integer_exponent():
    with pytest.raises(TypeError, match="integer"):
        matcalc.matrix_power(np.eye(2), 1.5)


# ------------------------------------------------------------------------------ gradients vs JAX


def _grad_pair(ours, theirs, *args):
    def loss(f):
        def g(*xs):
            out = f(*xs)
            leaves = [o for o in jax.tree.leaves(out) if jnp.issubdtype(o.dtype, jnp.inexact)]
            return sum(jnp.sum(jnp.sin(jnp.real(o))) for o in leaves)

        return jax.grad(g, argnums=tuple(range(len(args))))(*args)

    return loss(ours), loss(theirs)


@pytest.mark.parametrize(
    "name, args",
    [
        ("inv", (well_conditioned(4, 1),)),
        ("solve", (well_conditioned(4, 2), rng(3).standard_normal((4, 2)))),
        ("solve", (well_conditioned(4, 2), rng(3).standard_normal(4))),
        ("det", (well_conditioned(4, 4),)),
        ("slogdet", (well_conditioned(4, 5),)),
        ("pinv", (rng(6).standard_normal((3, 5)),)),
    ],
)
def test_gradients_agree_with_jax_default(name, args):
    ours, theirs = _grad_pair(getattr(matcalc, name), getattr(jnp.linalg, name), *args)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)


def test_logdet_pos_matches_slogdet_gradient_and_nan_outside_domain():
    s = spd(4, seed=19)
    g1 = jax.grad(functools.partial(matcalc.logdet, assume_a="pos"))(s)
    g2 = jax.grad(lambda a: jnp.linalg.slogdet(a)[1])(s)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)
    not_pd = np.diag([1.0, -1.0, 2.0])
    assert np.isnan(matcalc.logdet(not_pd, assume_a="pos"))
    with pytest.raises(ValueError, match="assume_a"):
        matcalc.logdet(s, assume_a="sym")


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "fn", [matcalc.inv, matcalc.det, matcalc.slogdet, matcalc.logdet, lambda a: matcalc.matrix_power(a, 2)]
)
def test_non_square_input_names_the_shape(fn):
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        fn(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        fn(np.ones(3))


def test_solve_shape_errors():
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(4,\)"):
        matcalc.solve(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        matcalc.solve(np.eye(3), np.ones((4, 2)))
    with pytest.raises(ValueError, match="square"):
        matcalc.solve(np.ones((3, 2)), np.ones(3))


def test_integer_input_is_promoted_like_jax():
    a = np.array([[2, 1], [1, 3]])
    for name in ("inv", "det"):
        ours, theirs = getattr(matcalc, name)(a), getattr(jnp.linalg, name)(a)
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-14)
    x = matcalc.solve(a, np.array([1, 2]))
    assert x.dtype == jnp.linalg.solve(a, np.array([1, 2])).dtype


def test_singular_input_behaves_as_jax():
    s = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert not np.all(np.isfinite(matcalc.inv(s)))
    assert not np.all(np.isfinite(jnp.linalg.inv(s)))
    assert not np.all(np.isfinite(matcalc.solve(s, np.ones(2))))
    assert not np.all(np.isfinite(jnp.linalg.solve(s, np.ones(2))))
    sign, logabs = matcalc.slogdet(s)
    assert sign == 0 and logabs == -np.inf


def test_batched_solve_broadcasting_like_jax():
    a = np.stack([well_conditioned(3, i) for i in range(2)])
    b = rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(
        matcalc.solve(a, b), jnp.linalg.solve(a, np.broadcast_to(b, (2, 3, 4))), rtol=1e-12
    )
    want = np.stack([np.linalg.solve(a_i, b[:, 0]) for a_i in a])
    np.testing.assert_allclose(matcalc.solve(a, b[:, 0]), want, rtol=1e-12)


# ------------------------------------------------------------------------------ Kronecker view


def test_jacobian_matrix_kronecker_formulas():
    a = well_conditioned(3, seed=20)
    i = np.eye(3)
    j2 = matcalc.jacobian_matrix(lambda x: x @ x, a)
    np.testing.assert_allclose(j2, np.kron(i, a) + np.kron(a.T, i), rtol=1e-13)
    j3 = matcalc.jacobian_matrix(lambda x: x @ x @ x, a)
    np.testing.assert_allclose(j3, np.kron(i, a @ a) + np.kron(a.T, a) + np.kron(a.T @ a.T, i), rtol=1e-12)
    jinv = matcalc.jacobian_matrix(matcalc.inv, a)
    ai = np.linalg.inv(a)
    np.testing.assert_allclose(jinv, -np.kron(ai.T, ai), rtol=1e-12)


def test_vec_unvec_roundtrip_and_convention():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(matcalc.vec(a), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(matcalc.unvec(matcalc.vec(a), (2, 3)), a)
    # vec(A X B) = (Bᵀ ⊗ A) vec(X)
    x, b, c = (rng(k).standard_normal((3, 3)) for k in (21, 22, 23))
    np.testing.assert_allclose(matcalc.vec(b @ x @ c), np.kron(c.T, b) @ matcalc.vec(x), rtol=1e-12)
    with pytest.raises(ValueError, match="length"):
        matcalc.unvec(np.ones(5), (2, 3))
