"""The pivoted-Cholesky preconditioner of ``matcalc.krylov.logdet``: the factorization itself, the exact
``log det P`` and ``P^{-1/2}`` of the low-rank-plus-shift form, and the preconditioned estimator's value
and gradient within a few standard deviations that the tests compute exactly from the dense matrices."""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from matcalc.krylov import LowRankShift, logdet
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


@pytest.mark.parametrize("kind", ["dense", "bcoo", "lineax"])
def test_public_pivoted_cholesky_takes_every_operator_kind_and_solves_exactly(kind):
    import lineax as lx

    a = jnp.asarray(_kernel())
    user_input = {
        "dense": a,
        "bcoo": jsparse.BCOO.fromdense(a),
        "lineax": lx.MatrixLinearOperator(a, lx.positive_semidefinite_tag),
    }[kind]
    pre = LowRankShift.pivoted_cholesky(user_input, RANK)
    reference = pivoted_cholesky(as_operator(a), RANK)
    np.testing.assert_allclose(_dense(pre), _dense(reference), atol=1e-12)
    x = np.random.default_rng(5).standard_normal((N, 3))
    p_inv = np.linalg.inv(_dense(pre))
    np.testing.assert_allclose(pre.solve(jnp.asarray(x)), p_inv @ x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pre.solve(jnp.asarray(x[:, 0])), p_inv @ x[:, 0], rtol=1e-10, atol=1e-10)
    # as lineax CG's preconditioner: the same solution in fewer steps (measured 19 against 35)
    operator = lx.MatrixLinearOperator(a, lx.positive_semidefinite_tag)
    solver = lx.CG(rtol=1e-10, atol=1e-10, max_steps=10 * N)
    b = jnp.asarray(x[:, 0])
    plain = lx.linear_solve(operator, b, solver=solver)
    options = {"preconditioner": pre.inverse_operator()}
    preconditioned = lx.linear_solve(operator, b, solver=solver, options=options)
    np.testing.assert_allclose(preconditioned.value, np.linalg.solve(_kernel(), x[:, 0]), rtol=1e-7)
    assert int(preconditioned.stats["num_steps"]) <= 0.6 * int(plain.stats["num_steps"])


def test_logdet_with_a_given_preconditioner_equals_the_built_in_one_and_passes_no_gradient_to_it():
    a = jnp.asarray(_kernel())
    key = jax.random.key(3)
    (value, info), grad = _logdet_jit(RANK)(a, key)

    def given(m):
        # P built from the traced matrix itself, as a user does inside a loss
        pre = LowRankShift.pivoted_cholesky(m, RANK)
        return logdet(m, key=key, num_probes=P, order=30, preconditioner=pre, return_info=True)

    (value_given, info_given), grad_given = jax.jit(jax.value_and_grad(given, has_aux=True))(a)
    np.testing.assert_allclose(value_given, value, rtol=1e-13)
    np.testing.assert_allclose(info_given["stderr"], info["stderr"], rtol=1e-10)
    np.testing.assert_allclose(grad_given, grad, rtol=1e-10, atol=1e-12)


def test_given_preconditioner_and_rank_are_validated():
    a = jnp.asarray(_kernel())
    key = jax.random.key(0)
    pre = LowRankShift.pivoted_cholesky(a, RANK)
    with pytest.raises(ValueError, match="preconditioner: give a preconditioner or preconditioner_rank"):
        logdet(a, key=key, preconditioner=pre, preconditioner_rank=RANK)
    with pytest.raises(TypeError, match="preconditioner: expected a matcalc.krylov.LowRankShift"):
        logdet(a, key=key, preconditioner=np.eye(N))
    with pytest.raises(ValueError, match=r"preconditioner: its basis must have shape \(50, k\)"):
        logdet(a[:50, :50], key=key, preconditioner=pre)
    for rank in (0, N + 1, 2.0, True):
        with pytest.raises(ValueError, match="rank: expected an int with 1 <= rank <= n"):
            LowRankShift.pivoted_cholesky(a, rank)


def test_low_rank_shift_examples_run():
    import doctest

    globs = {"jax": jax, "jnp": jnp, "np": np}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    (test,) = doctest.DocTestFinder(recurse=False).find(LowRankShift, globs=globs)
    assert len(test.examples) >= 3
    out = []
    runner.run(test, out=out.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(out)
