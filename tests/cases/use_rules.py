"""Harness cases for ``use_rules``: functions written against jax.numpy / jax.scipy only, run
through matcalc's rules; references from NumPy/SciPy.

Benchmark families for ``use_rules``: a Gaussian log-density written against jax.numpy only (Cholesky-free:
``slogdet`` + ``solve``), run through matcalc's rules, against the same function with JAX's rules. The ratio
is the cost of the substitution."""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, op, rng, spd

# exactly repeated eigenvalue 1 (twice) and 3, in a rotated basis
_q, _ = np.linalg.qr(rng(31).standard_normal((3, 3)))
REPEATED = (_q * np.array([1.0, 1.0, 3.0])) @ _q.T
SPLIT = (_q * np.array([1.0, 1.5, 3.0])) @ _q.T
S4 = spd(4, seed=32)
X4 = rng(33).standard_normal(4)


def _sym(t):
    return (t + t.T) / 2


def _projector(a):
    _, v = jnp.linalg.eigh(a)
    return v[:, :2] @ v[:, :2].T


def _projector_ref(a):
    _, v = np.linalg.eigh(a)
    return v[:, :2] @ v[:, :2].T


def _gaussian(s):
    # log N(x; 0, S) + tr expm(S/8), the Cholesky factor used as a library would
    c = jnp.linalg.cholesky(s)
    z = jsl.solve_triangular(c, jnp.asarray(X4, s.dtype), lower=True)
    return -0.5 * z @ z - jnp.sum(jnp.log(jnp.diag(c))) + jnp.trace(jsl.expm(s / 8))


def _gaussian_ref(s):
    c = np.linalg.cholesky(s)
    z = scipy.linalg.solve_triangular(c, X4, lower=True)
    return -0.5 * z @ z - np.sum(np.log(np.diag(c))) + np.trace(scipy.linalg.expm(s / 8))


CASES = [
    Case.harness(
        "use_rules",
        matcalc.use_rules(_projector),
        (REPEATED,),
        variant="eigh_projector_repeated",
        # second order is matcalc.eigh's own, not exact at an exactly repeated eigenvalue (see
        # tests/test_use_rules.py::test_second_order_projector_at_repeated_eigenvalue); checked
        # at the split spectrum below
        check=dict(reference=_projector_ref, tangent_projection=_sym, check_second_order=False),
    ),
    Case.harness(
        "use_rules",
        matcalc.use_rules(_projector),
        (SPLIT,),
        variant="eigh_projector_split",
        check=dict(reference=_projector_ref, tangent_projection=_sym),
    ),
    Case.harness(
        "use_rules",
        matcalc.use_rules(_gaussian),
        (S4,),
        variant="cholesky_triangular_expm",
        check=dict(reference=_gaussian_ref, tangent_projection=_sym),
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families


def _build(n, r):
    a = r.standard_normal((n, n))
    s = a @ a.T / n + np.eye(n)
    return (s, r.standard_normal(n))


def _log_density_batched(s, x):
    quad = jnp.sum(x * jnp.linalg.solve(s, x[..., None])[..., 0], axis=-1)
    return -0.5 * quad - 0.5 * jnp.linalg.slogdet(s)[1]


def _ours(s, x):
    return op("use_rules")(_log_density_batched)(s, x)


def _ref_grad(args, w):
    # ∂/∂S = ½ (S⁻¹x xᵀS⁻¹ − S⁻¹),  ∂/∂x = −S⁻¹x
    s, x = args
    si = np.linalg.inv(s)
    y = si @ x
    return (w * 0.5 * (np.outer(y, y) - si), -w * y)


CASES += [
    Case.bench(
        "use_rules",
        _build,
        _ours,
        _log_density_batched,
        "the same function, JAX's rules",
        variant="Gaussian log-density (solve, slogdet)",
        ref_grad=_ref_grad,
        ref_name="closed form",
    ),
]


# ---------------------------------------------------------------------------------------------
# Whole models: the same unmodified code with JAX's rules and with matcalc's (``use_rules``).


def _gp_build(n, r):
    x = np.sort(r.uniform(0.0, 10.0, n))
    y = np.sin(x) + 0.1 * r.standard_normal(n)
    return (np.array([0.0, 0.0, np.log(0.1)]), x, y)


def _gp_marginal_likelihood(theta, x, y):
    """A GP's log marginal likelihood as a user writes it with jax.scipy (squared-exponential kernel)."""
    import jax.scipy.linalg as jsl

    log_scale, log_amp, log_noise = theta[0], theta[1], theta[2]
    d = (x[:, None] - x[None, :]) / jnp.exp(log_scale)
    k = jnp.exp(2 * log_amp) * jnp.exp(-0.5 * d**2) + (jnp.exp(2 * log_noise) + 1e-6) * jnp.eye(x.shape[0])
    factor = jsl.cho_factor(k, lower=True)
    alpha = jsl.cho_solve(factor, y)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(factor[0])))
    return -0.5 * (y @ alpha) - 0.5 * log_det - 0.5 * x.shape[0] * jnp.log(2 * jnp.pi)


def _mvn_build(n, r):
    a = r.standard_normal((n, n))
    return (r.standard_normal(n), a @ a.T / n + np.eye(n))


def _mvn_log_density(x, cov):
    """JAX's own ``multivariate_normal.logpdf`` (library code that never imports matcalc)."""
    from jax.scipy.stats import multivariate_normal

    return multivariate_normal.logpdf(x, jnp.zeros_like(x), cov)


def _numpyro_mvn_log_density(x, cov):
    """numpyro's ``MultivariateNormal(covariance_matrix=...).log_prob`` (needs numpyro, a dev extra)."""
    from numpyro.distributions import MultivariateNormal

    return MultivariateNormal(jnp.zeros_like(x), covariance_matrix=cov).log_prob(x)


def _bw_build(n, r):
    a, b = r.standard_normal((n, n)), r.standard_normal((n, n))
    return (a @ a.T / n + np.eye(n), b @ b.T / n + np.eye(n))


def _bures_wasserstein_loss(a, b):
    """Squared Bures–Wasserstein distance through ``jax.scipy.linalg.sqrtm`` (JAX has no derivative)."""
    import jax.scipy.linalg as jsl

    root_a = jnp.real(jsl.sqrtm(a))
    cross = jnp.real(jsl.sqrtm(root_a @ b @ root_a))
    return jnp.trace(a) + jnp.trace(b) - 2 * jnp.trace(cross)


def _fidelity_build(n, r):
    psi = r.standard_normal(n) + 1j * r.standard_normal(n)
    return (r.standard_normal((n, n)) / np.sqrt(n), r.standard_normal((n, n)) / np.sqrt(n), psi)


def _quantum_fidelity(m, k, psi):
    """|⟨ψ| e^{-iH} |ψ⟩|² for H = sym(M) + i·skew(K), through ``jax.scipy.linalg.expm``."""
    import jax.scipy.linalg as jsl

    h = 0.5 * (m + m.T) + 0.5j * (k - k.T)
    psi = psi / jnp.linalg.norm(psi)
    amplitude = jnp.vdot(psi, jsl.expm(-1j * h) @ psi)
    return jnp.abs(amplitude) ** 2


def _mlp_build(n, r):
    scale = 1 / np.sqrt(n)
    return (scale * r.standard_normal((n, n)), scale * r.standard_normal((n, n)), r.standard_normal(n))


def _mlp_no_linear_algebra(w1, w2, x):
    """No linear-algebra operation at all: ``use_rules`` must add nothing to the compiled program."""
    return jnp.sum(jnp.tanh(w2 @ jnp.tanh(w1 @ x)) ** 2)


def _with_rules(fn):
    def call(*args):
        return op("use_rules")(fn)(*args)

    call.__name__ = f"use_rules({fn.__name__})"
    return call


_SAME = "the same code, JAX's rules"
_MODELS = "whole model: "
CASES += [
    Case.bench(
        "use_rules",
        _gp_build,
        _with_rules(_gp_marginal_likelihood),
        _gp_marginal_likelihood,
        _SAME,
        variant=_MODELS + "GP marginal likelihood (cho_factor, cho_solve)",
        batched=False,
        sizes=(512, 2048),
        quick_sizes=(128,),
    ),
    Case.bench(
        "use_rules",
        _mvn_build,
        _with_rules(_mvn_log_density),
        _mvn_log_density,
        _SAME,
        variant=_MODELS + "jax.scipy.stats multivariate_normal.logpdf",
        batched=False,
        sizes=(256,),
        quick_sizes=(64,),
    ),
    Case.bench(
        "use_rules",
        _mvn_build,
        _with_rules(_numpyro_mvn_log_density),
        _numpyro_mvn_log_density,
        _SAME,
        variant=_MODELS + "numpyro MultivariateNormal.log_prob",
        batched=False,
        sizes=(256,),
        quick_sizes=(64,),
        note="needs numpyro (in the dev extra)",
    ),
    Case.bench(
        "use_rules",
        _bw_build,
        _with_rules(_bures_wasserstein_loss),
        _bures_wasserstein_loss,
        _SAME,
        variant=_MODELS + "Bures–Wasserstein loss (jax.scipy.linalg.sqrtm)",
        batched=False,
        sizes=(64,),
        quick_sizes=(16,),
    ),
    Case.bench(
        "use_rules",
        _fidelity_build,
        _with_rules(_quantum_fidelity),
        _quantum_fidelity,
        _SAME,
        variant=_MODELS + "quantum fidelity (jax.scipy.linalg.expm of -iH)",
        batched=False,
        sizes=(64,),
        quick_sizes=(16,),
    ),
    Case.bench(
        "use_rules",
        _mlp_build,
        _with_rules(_mlp_no_linear_algebra),
        _mlp_no_linear_algebra,
        _SAME,
        variant=_MODELS + "no linear algebra (ratio should be 1.00)",
        batched=False,
        sizes=(256,),
        quick_sizes=(64,),
    ),
]
