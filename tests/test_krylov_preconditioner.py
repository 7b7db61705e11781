"""The pivoted-Cholesky preconditioner of ``matcalc.krylov.logdet``: the factorization itself, the exact
``log det P`` and ``P^{-1/2}`` of the low-rank-plus-shift form, and the preconditioned estimator's value
and gradient within a few standard deviations that the tests compute exactly from the dense matrices."""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from matcalc.krylov import logdet
from matcalc.krylov._operators import as_operator
from matcalc.krylov.preconditioner import pivoted_cholesky

N, RANK, P = 96, 24, 32
SEEDS = (0, 1, 2)


@cache
def _kernel():
    """A squared-exponential kernel matrix plus noise: eigenvalues decaying from ~10 to the noise 1e-2."""
    x = np.sort(np.random.default_rng(0).uniform(0.0, 8.0, N))
    return np.exp(-((x[:, None] - x[None, :]) ** 2) / 2) + 1e-2 * np.eye(N)


def _dense(pre):
    w, lam, s = (np.asarray(t) for t in pre)
    return (w * (lam + s)) @ w.conj().T + s * (np.eye(w.shape[0]) - w @ w.conj().T)


def _inv_sqrt_dense(m):
    lam, q = np.linalg.eigh(m)
    return (q / np.sqrt(lam)) @ q.conj().T


def _hutchinson_std(m, p=P):
    """Exact standard deviation of the Rademacher Hutchinson estimate of tr M (M real symmetric)."""
    m = (m + m.T) / 2
    return np.sqrt(2 * (np.sum(m**2) - np.sum(np.diag(m) ** 2)) / p)


def _log_spd(m):
    lam, q = np.linalg.eigh(m)
    return (q * np.log(lam)) @ q.T


@pytest.mark.parametrize("complex_", [False, True])
def test_pivoted_cholesky_reproduces_a_low_rank_matrix(complex_):
    rng = np.random.default_rng(3)
    f = rng.standard_normal((40, 6)) + (1j * rng.standard_normal((40, 6)) if complex_ else 0)
    a = f @ f.conj().T  # rank 6, positive semidefinite
    pre = pivoted_cholesky(as_operator(jnp.asarray(a)), 6)
    # the residual is exhausted: the shift is at the round-off floor and P − s I = A
    assert float(pre.shift) <= 1e-12 * np.max(np.abs(np.diag(a)))
    np.testing.assert_allclose(_dense(pre), a, atol=1e-11 * np.max(np.abs(a)))
    # asking for more steps than the rank stops at the rank (no division by an exhausted pivot)
    more = pivoted_cholesky(as_operator(jnp.asarray(a)), 10)
    np.testing.assert_allclose(_dense(more), a, atol=1e-11 * np.max(np.abs(a)))


@pytest.mark.parametrize("kind", ["dense", "bcoo"])
def test_low_rank_shift_has_exact_logdet_and_inverse_square_root(kind):
    a = jnp.asarray(_kernel())
    operator = as_operator(jsparse.BCOO.fromdense(a) if kind == "bcoo" else a)
    pre = pivoted_cholesky(operator, RANK)
    p_dense = _dense(pre)
    w = np.asarray(pre.basis)
    np.testing.assert_allclose(w.T @ w, np.eye(RANK), atol=1e-12)
    np.testing.assert_allclose(float(pre.logdet()), np.linalg.slogdet(p_dense)[1], rtol=1e-12)
    x = np.random.default_rng(4).standard_normal((N, 3))
    np.testing.assert_allclose(pre.inv_sqrt(jnp.asarray(x)), _inv_sqrt_dense(p_dense) @ x, atol=1e-10)
    # P captures A's large eigenvalues: C = P^{-1/2} A P^{-1/2} is far better conditioned than A
    root = _inv_sqrt_dense(p_dense)
    assert np.linalg.cond(root @ _kernel() @ root) < 1e-2 * np.linalg.cond(_kernel())


@cache
def _logdet_jit(rank):
    def value_and_info(a, key):
        return logdet(a, key=key, num_probes=P, order=30, preconditioner_rank=rank, return_info=True)

    return jax.jit(jax.value_and_grad(value_and_info, has_aux=True))


def test_preconditioned_logdet_value_and_gradient_are_within_a_few_standard_deviations():
    a = _kernel()
    pre = pivoted_cholesky(as_operator(jnp.asarray(a)), RANK)
    root = _inv_sqrt_dense(_dense(pre))
    c = root @ a @ root
    exact = np.linalg.slogdet(a)[1]
    e = np.random.default_rng(10).standard_normal((N, N))
    e = (e + e.T) / 2
    # the value is log det P + (Hutchinson estimate of tr log C); ⟨gradient, E⟩ is the Hutchinson
    # estimate of tr(C⁻¹ P^{-1/2} E P^{-1/2}) = tr(A⁻¹ E)
    value_std = _hutchinson_std(_log_spd(c))
    grad_std = _hutchinson_std(np.linalg.solve(c, root @ e @ root))
    plain_value_std = _hutchinson_std(_log_spd(a))
    assert value_std < 0.1 * plain_value_std  # what the preconditioner is for
    for seed in SEEDS:
        (value, info), grad = _logdet_jit(RANK)(jnp.asarray(a), jax.random.key(seed))
        assert abs(value - exact) <= 4.5 * value_std, (seed, value - exact, value_std)
        assert 0.4 * value_std <= info["stderr"] <= 2.5 * value_std
        directional = np.sum(np.asarray(grad) * e)
        want = np.trace(np.linalg.solve(a, e))
        assert abs(directional - want) <= 4.5 * grad_std, (seed, directional - want, grad_std)
        np.testing.assert_allclose(grad, np.asarray(grad).T, atol=1e-12)


def test_preconditioned_logdet_of_an_indefinite_operator_is_nan():
    shifted = jnp.asarray(_kernel() - 0.5 * np.eye(N))
    (value, _), grad = _logdet_jit(RANK)(shifted, jax.random.key(0))
    assert np.isnan(value) and np.all(np.isnan(grad))


def test_preconditioner_rank_is_validated():
    with pytest.raises(ValueError, match="preconditioner_rank: expected an int >= 0"):
        logdet(jnp.eye(3), key=jax.random.key(0), preconditioner_rank=-1)
