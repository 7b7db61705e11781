"""matcalc.spd: values against SciPy, exact first and second derivatives at A = B (where every
eigenvalue of A^{-1/2} B A^{-1/2} repeats), batching, float32, domain and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import spd as random_spd

S = matcalc.spd


def _sym(seed, n=3, complex_=False):
    r = np.random.default_rng(seed)
    e = r.standard_normal((n, n))
    if complex_:
        e = e + 1j * r.standard_normal((n, n))
    return (e + e.conj().T) / 2


# At A = B = I, along B = I + tE: the second derivative in t of each squared distance/divergence
# (Taylor expansion of the closed form at the identity).
SECOND_AT_IDENTITY = {
    "affine_invariant": (lambda a, b: S.affine_invariant_distance(a, b, squared=True), 2.0),
    "log_euclidean": (lambda a, b: S.log_euclidean_distance(a, b, squared=True), 2.0),
    "bures_wasserstein": (lambda a, b: S.bures_wasserstein_distance(a, b, squared=True), 0.5),
    "stein": (S.stein_divergence, 0.25),
    "logdet": (S.logdet_divergence, 1.0),
}


@pytest.mark.parametrize("name", SECOND_AT_IDENTITY)
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_exact_second_order_at_equal_arguments(name, complex_):
    fn, c = SECOND_AT_IDENTITY[name]
    eye = np.eye(3, dtype=complex if complex_ else float)
    e = _sym(1, complex_=complex_)
    # value, gradient (0) and Hessian-vector product at A = B = I
    assert abs(float(fn(eye, eye))) <= 1e-14
    g = jax.grad(fn, argnums=1)(eye, eye)
    assert np.all(np.isfinite(g)) and np.max(np.abs(g)) <= 1e-14
    hvp = jax.jvp(lambda b: jax.grad(fn, argnums=1)(eye, b), (eye,), (e,))[1]
    got = float(np.real(np.sum(np.asarray(hvp) * e)))
    want = c * float(np.real(np.trace(e @ e)))
    assert abs(got - want) <= 1e-13 * abs(want)


def test_second_order_at_equal_spd_arguments():
    """At A = B ≠ I, along B = A + tE: d²/dt² δ²_R = 2‖A^{-1/2} E A^{-1/2}‖²_F (affine-inv.)."""
    a = random_spd(3, seed=3)
    e = _sym(4)
    fn = lambda b: S.affine_invariant_distance(a, b, squared=True)
    hvp = jax.jvp(jax.grad(fn), (a,), (e,))[1]
    s = np.linalg.inv(scipy.linalg.sqrtm(a))
    want = 2 * np.sum((s @ e @ s) ** 2)
    assert abs(float(jnp.sum(hvp * e)) - want) <= 1e-12 * want


DISTANCES = (S.affine_invariant_distance, S.log_euclidean_distance, S.bures_wasserstein_distance)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_distances_exactly_zero_with_zero_subgradient_at_equal_arguments(complex_):
    # A few random B for which the rounding floor is visible (√(~1e-14) for Bures–Wasserstein).
    for seed in range(4):
        a = random_spd(4, seed=seed, complex_=complex_, hi=50.0)
        for fn in DISTANCES:
            assert float(fn(a, a)) == 0.0
            assert float(jax.jit(fn)(a, a)) == 0.0
            for g in jax.grad(fn, argnums=(0, 1))(a, a):
                assert np.all(np.asarray(g) == 0)


def test_equal_pair_in_a_batch_does_not_mask_its_neighbours():
    a = np.stack([random_spd(3, seed=5), random_spd(3, seed=5)])
    b = np.stack([random_spd(3, seed=5), random_spd(3, seed=6)])
    for fn in DISTANCES:
        d = fn(a, b)
        assert float(d[0]) == 0.0
        np.testing.assert_allclose(d[1], fn(a[1], b[1]), rtol=1e-14)
        g = jax.grad(lambda x: jnp.sum(fn(x, b)))(a)
        assert np.all(np.asarray(g[0]) == 0)
        np.testing.assert_allclose(g[1], jax.grad(fn)(a[1], b[1]), rtol=1e-12, atol=1e-15)
        assert float(np.max(np.abs(g[1]))) > 1e-3
        # the squared forms are smooth: exact 0 gradient at A = B through the formula, not a mask
        assert float(fn(a, b, squared=True)[1]) > 0


def test_values_against_scipy():
    a, b = random_spd(4, seed=6), random_spd(4, seed=7, hi=10.0)
    w = scipy.linalg.eigvalsh(b, a)
    np.testing.assert_allclose(S.affine_invariant_distance(a, b), np.linalg.norm(np.log(w)), rtol=1e-13)
    np.testing.assert_allclose(
        S.affine_invariant_distance(a, b), S.affine_invariant_distance(b, a), rtol=1e-13
    )
    mu1, mu2 = np.arange(4.0), np.ones(4)
    fid = np.sum((mu1 - mu2) ** 2) + np.trace(a + b) - 2 * np.trace(scipy.linalg.sqrtm(a @ b)).real
    np.testing.assert_allclose(S.frechet_distance(mu1, a, mu2, b), fid, rtol=1e-12)
    kl2 = np.trace(np.linalg.solve(b, a)) - np.log(np.linalg.det(a) / np.linalg.det(b)) - 4
    np.testing.assert_allclose(S.logdet_divergence(a, b), kl2, rtol=1e-12)


def test_gradients_against_closed_forms():
    a, b = random_spd(3, seed=8), random_spd(3, seed=9)
    # logdet divergence: ∂/∂A = B⁻¹ − A⁻¹; Stein: ∂/∂A = ½((A+B)/2)⁻¹ − ½A⁻¹
    np.testing.assert_allclose(
        jax.grad(S.logdet_divergence)(a, b), np.linalg.inv(b) - np.linalg.inv(a), rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(
        jax.grad(S.stein_divergence)(a, b),
        0.5 * np.linalg.inv((a + b) / 2) - 0.5 * np.linalg.inv(a),
        rtol=1e-12,
        atol=1e-13,
    )
    # Bures–Wasserstein²: ∂/∂A = I − T with T = A^{-1/2}(A^{1/2} B A^{1/2})^{1/2} A^{-1/2}
    ra = scipy.linalg.sqrtm(a)
    t = np.linalg.inv(ra) @ scipy.linalg.sqrtm(ra @ b @ ra) @ np.linalg.inv(ra)
    g = jax.grad(lambda x: S.bures_wasserstein_distance(x, b, squared=True))(a)
    np.testing.assert_allclose(g, np.eye(3) - (t + t.T) / 2, rtol=1e-11, atol=1e-12)
    # Fréchet distance: ∂/∂μ₁ = 2(μ₁ − μ₂)
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    np.testing.assert_allclose(jax.grad(S.frechet_distance)(mu1, a, mu2, b), 2 * mu1, rtol=1e-14)


def test_batched_and_float32():
    a = np.stack([random_spd(3, seed=10), np.eye(3)])
    b = np.stack([random_spd(3, seed=11), np.eye(3)])
    for fn in (
        S.affine_invariant_distance,
        S.log_euclidean_distance,
        S.bures_wasserstein_distance,
        S.stein_divergence,
        S.logdet_divergence,
    ):
        d = fn(a, b)
        assert d.shape == (2,)
        np.testing.assert_allclose(d[0], fn(a[0], b[0]), rtol=1e-13)
        d32 = fn(a.astype(np.float32), b.astype(np.float32))
        assert d32.dtype == np.float32
        np.testing.assert_allclose(d32[0], d[0], rtol=1e-4)
    g = jax.grad(lambda x: jnp.sum(S.log_euclidean_distance(x, b, squared=True)))(a)
    np.testing.assert_allclose(
        g[0], jax.grad(lambda x: S.log_euclidean_distance(x, b[0], squared=True))(a[0]), rtol=1e-13
    )


def test_domain_and_bad_input():
    a = random_spd(3, seed=12)
    neg = -np.eye(3)
    for fn in (
        S.affine_invariant_distance,
        S.log_euclidean_distance,
        S.stein_divergence,
        S.logdet_divergence,
    ):
        assert np.isnan(float(fn(a, neg)))
    with pytest.raises(ValueError, match="same size"):
        S.stein_divergence(np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        S.log_euclidean_distance(np.ones(3), np.eye(3))
    with pytest.raises(ValueError, match="mean shapes"):
        S.frechet_distance(np.zeros(2), np.eye(3), np.zeros(3), np.eye(3))
