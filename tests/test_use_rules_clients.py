"""``use_rules`` on real client libraries, unchanged: numpyro (LKJ, a GP under NUTS), tinygp fitted
with optax, an equinox module calling ``jnp.linalg.eigh``.

Each gives the same values as the library without ``use_rules``, gradients within rounding where
JAX's are right, and exact (finite, matching finite differences of a smooth reformulation) where
JAX's are NaN.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from matcalc import rules_report, use_rules

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def _standard_dtype_promotion():
    """The client libraries are written for JAX's default (standard) promotion, not the suite's strict one."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def test_numpyro_lkj_cholesky_log_density_and_gradient():
    dist = pytest.importorskip("numpyro.distributions", reason="a client library from the dev extra")
    x = RNG.standard_normal((4, 4))
    s = x @ x.T + 4 * np.eye(4)
    corr = s / np.sqrt(np.outer(np.diag(s), np.diag(s)))
    chol = jnp.asarray(np.linalg.cholesky(corr))

    def log_density(concentration, corr_matrix):
        factor = jnp.linalg.cholesky(corr_matrix)
        return dist.LKJCholesky(4, concentration=concentration).log_prob(factor)

    args = (jnp.asarray(1.7), chol @ chol.T)
    np.testing.assert_allclose(use_rules(log_density)(*args), log_density(*args), rtol=1e-14)
    grads = jax.grad(use_rules(log_density), argnums=(0, 1))(*args)
    want = jax.grad(log_density, argnums=(0, 1))(*args)
    for got, ref in zip(grads, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    assert "cholesky" in rules_report(log_density, *args).operations


def test_numpyro_multivariate_normal_with_scale_tril():
    dist = pytest.importorskip("numpyro.distributions", reason="a client library from the dev extra")
    x = RNG.standard_normal((5, 5))
    cov = jnp.asarray(x @ x.T + 5 * np.eye(5))
    value = jnp.asarray(RNG.standard_normal(5))

    def log_density(cov, value):
        scale_tril = jnp.linalg.cholesky(cov)
        return dist.MultivariateNormal(jnp.zeros(5), scale_tril=scale_tril).log_prob(value)

    np.testing.assert_allclose(use_rules(log_density)(cov, value), log_density(cov, value), rtol=1e-14)
    got = jax.grad(use_rules(log_density), argnums=(0, 1))(cov, value)
    want = jax.grad(log_density, argnums=(0, 1))(cov, value)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)
    # scale_tril enters through triangular solves: both operations are substituted
    operations = rules_report(log_density, cov, value).operations
    assert "cholesky" in operations and "solve_triangular" in operations


def test_numpyro_gp_potential_under_nuts_matches_plain_jax():
    numpyro = pytest.importorskip("numpyro", reason="a client library from the dev extra")
    dist = numpyro.distributions
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.util import initialize_model

    x = jnp.linspace(0.0, 3.0, 6)
    y = jnp.sin(x)

    def model():
        length = numpyro.sample("length", dist.LogNormal(0.0, 1.0))
        noise = numpyro.sample("noise", dist.LogNormal(-2.0, 1.0))
        k = jnp.exp(-0.5 * ((x[:, None] - x[None, :]) / length) ** 2) + (noise + 1e-6) * jnp.eye(6)
        numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(6), covariance_matrix=k), obs=y)

    init, potential_fn, *_ = initialize_model(jax.random.key(0), model)
    point = init.z
    # The potential and its gradient agree to rounding at the initial point ...
    np.testing.assert_allclose(use_rules(potential_fn)(point), potential_fn(point), rtol=1e-13)
    got, want = jax.grad(use_rules(potential_fn))(point), jax.grad(potential_fn)(point)
    for name in point:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)

    # ... and a short NUTS chain driven by each potential follows the same path.
    def chain(potential):
        mcmc = MCMC(NUTS(potential_fn=potential), num_warmup=3, num_samples=4, progress_bar=False)
        mcmc.run(jax.random.key(1), init_params=point)
        return mcmc.get_samples()

    plain, ruled = chain(potential_fn), chain(use_rules(potential_fn))
    for name in point:
        assert np.all(np.isfinite(ruled[name]))
        np.testing.assert_allclose(ruled[name], plain[name], rtol=1e-7)


def test_tinygp_fitted_with_optax_follows_the_same_path():
    tinygp = pytest.importorskip("tinygp", reason="a client library from the dev extra")
    optax = pytest.importorskip("optax", reason="a client library from the dev extra")
    t = jnp.linspace(0.0, 4.0, 8)
    y = jnp.sin(t) + 0.05 * jnp.cos(3 * t)

    def loss(theta):
        kernel = jnp.exp(theta[1]) * tinygp.kernels.ExpSquared(jnp.exp(theta[0]))
        return -tinygp.GaussianProcess(kernel, t, diag=jnp.exp(theta[2])).log_probability(y)

    def fit(objective, steps=5):
        opt = optax.adam(0.05)
        theta = jnp.array([0.0, 0.0, -2.0])
        state = opt.init(theta)
        step = jax.jit(jax.value_and_grad(objective))
        values = []
        for _ in range(steps):
            value, grad = step(theta)
            updates, state = opt.update(grad, state)
            theta = optax.apply_updates(theta, updates)
            values.append(value)
        return theta, np.array(values)

    theta_plain, values_plain = fit(loss)
    theta_ruled, values_ruled = fit(use_rules(loss))
    np.testing.assert_allclose(values_ruled, values_plain, rtol=1e-12)
    np.testing.assert_allclose(theta_ruled, theta_plain, rtol=1e-10)
    assert values_plain[-1] < values_plain[0]


def test_equinox_module_projector_at_a_repeated_eigenvalue_is_exact_where_jax_is_nan():
    eqx = pytest.importorskip("equinox", reason="a client library from the dev extra")

    class SpectralProjector(eqx.Module):
        """The projector on the ``rank`` smallest eigenvectors, weighted by a learned matrix."""

        weight: jax.Array
        rank: int = eqx.field(static=True)

        def __call__(self, a):
            _, v = jnp.linalg.eigh(a)
            basis = v[:, : self.rank]
            return jnp.sum(self.weight * (basis @ basis.T))

    w = RNG.standard_normal((3, 3))
    layer = SpectralProjector(jnp.asarray(w + w.T), rank=2)
    a = jnp.diag(jnp.array([1.0, 1.0, 3.0]))  # the projected eigenvalue is exactly repeated
    assert not np.all(np.isfinite(jax.grad(layer)(a)))  # JAX's eigh rule divides by λ₁ − λ₂ = 0

    grad = jax.grad(use_rules(layer))(a)
    # The projector on the eigenvalue-1 space of a = diag(1, 1, 3) is smooth: P(a + tE) for symmetric E
    # has derivative −(P E Q + Q E P)/2 with Q = I − P (the gap is 3 − 1 = 2), so the gradient is
    # −(P W̄ Q + Q W̄ P)/2 symmetrized, with W̄ the weight.
    p = np.diag([1.0, 1.0, 0.0])
    q = np.eye(3) - p
    wbar = np.asarray(layer.weight)
    want = -(p @ wbar @ q + q @ wbar @ p) / 2
    np.testing.assert_allclose(0.5 * (grad + grad.T), want, atol=1e-13)

    # A batch of layers' inputs through vmap, and the module's own weight gradient.
    batch = jnp.stack([a, a + jnp.diag(jnp.array([0.0, 1e-3, 0.0]))])
    values = jax.vmap(use_rules(layer))(batch)
    np.testing.assert_allclose(values, jax.vmap(layer)(batch), rtol=1e-13)
    weight_grad = jax.grad(lambda m: use_rules(m)(a))(layer).weight
    np.testing.assert_allclose(weight_grad, p, atol=1e-14)
