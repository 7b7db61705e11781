"""Matrix-free rules of ``matcalc.krylov``: eigsh, svds (against NumPy and matcalc's dense rules) and the
stochastic estimators logdet, trace_funm, trace (tested statistically with variances computed exactly
from the dense matrix)."""

from functools import cache

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

import matcalc
from matcalc.krylov import eigsh, logdet, svds, trace, trace_funm

N = 120
K = 5


def _orthogonal(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _with_eigenvalues(lam, seed):
    q = _orthogonal(len(lam), seed)
    a = (q * lam) @ q.T
    return (a + a.T) / 2


@cache
def _matrix():
    """Top five eigenvalues 1.8, 2.2, 2.2 (exactly repeated), 2.6, 3.0; the rest in [−2, 1.5]."""
    lam = np.concatenate([np.linspace(-2.0, 1.5, N - K), [1.8, 2.2, 2.2, 2.6, 3.0]])
    return _with_eigenvalues(lam, 0)


@cache
def _indefinite():
    """Largest magnitude: −3.5, −2.5, 2.0, 2.8, 3.2 (ascending); the rest in [−1, 1]."""
    lam = np.concatenate([np.linspace(-1.0, 1.0, N - K), [-3.5, -2.5, 2.0, 2.8, 3.2]])
    return _with_eigenvalues(lam, 1)


@cache
def _eigsh_jit(which):
    return jax.jit(lambda a: eigsh(a, K, which))


def _check_pairs(a, w, v, expected):
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(v.T @ v, np.eye(K), atol=1e-12)
    np.testing.assert_allclose(a @ v, v * w, atol=1e-10)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_eigsh_matches_numpy(which):
    a = _indefinite() if which == "LM" else _matrix()
    ref = np.linalg.eigvalsh(a)
    if which == "LA":
        expected = ref[-K:]
    elif which == "SA":
        expected = ref[:K]
    else:
        expected = np.sort(ref[np.argsort(-np.abs(ref))[:K]])
    w, v = _eigsh_jit(which)(a)
    assert np.all(np.diff(w) >= 0)  # ascending, like SciPy
    _check_pairs(a, np.asarray(w), np.asarray(v), expected)


# ---------------------------------------------------------------------------------------------
# gradients: a gauge-invariant loss with a cluster of two repeated eigenvalues inside the k


@cache
def _loss_weights():
    rng = np.random.default_rng(3)
    return rng.standard_normal((N, 3)), rng.standard_normal((N, N))


def _loss_from_pairs(w, v):
    b, m = (jnp.asarray(x) for x in _loss_weights())
    cluster = v[:, 1:3] @ v[:, 1:3].T  # projector onto the eigenspace of the repeated 2.2
    return jnp.sum(jnp.sin(w)) + jnp.sum((v @ (v.T @ b)) ** 2) + jnp.sum(cluster * m)


def _operator_of(kind, a):
    if kind == "dense":
        return a
    if kind == "bcoo":
        return jsparse.BCOO.fromdense(a, nse=a.size)
    return lx.MatrixLinearOperator(a)


@cache
def _loss_and_grad(kind):
    def loss(a):
        return _loss_from_pairs(*eigsh(_operator_of(kind, a), K, "LA"))

    return jax.jit(jax.value_and_grad(loss))


def _dense_loss(a):
    w, v = matcalc.eigh(a)
    return _loss_from_pairs(w[-K:], v[:, -K:])


def test_eigsh_gradient_matches_dense_eigh_rule_and_finite_differences():
    a = jnp.asarray(_matrix())
    value, grad = _loss_and_grad("dense")(a)
    ref_value, ref_grad = jax.value_and_grad(_dense_loss)(a)
    np.testing.assert_allclose(value, ref_value, rtol=1e-11)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-9 * np.abs(ref_grad).max())
    np.testing.assert_allclose(grad, grad.T, atol=1e-14)

    e = np.random.default_rng(4).standard_normal((N, N))
    e = (e + e.T) / 2
    h = 1e-5
    plus, _ = _loss_and_grad("dense")(a + h * e)
    minus, _ = _loss_and_grad("dense")(a - h * e)
    np.testing.assert_allclose((plus - minus) / (2 * h), np.sum(grad * e), rtol=1e-7)


@pytest.mark.parametrize("kind", ["bcoo", "lineax"])
def test_eigsh_gradient_flows_to_sparse_and_lineax_operators(kind):
    a = jnp.asarray(_matrix())
    _, dense_grad = _loss_and_grad("dense")(a)
    value, grad = _loss_and_grad(kind)(a)
    np.testing.assert_allclose(value, _dense_loss(a), rtol=1e-11)
    np.testing.assert_allclose(grad, dense_grad, rtol=0, atol=1e-9 * np.abs(dense_grad).max())


def test_eigsh_gradient_of_bcoo_data():
    a = _matrix()
    sparse_a = jsparse.BCOO.fromdense(jnp.asarray(a))

    def loss(data):
        op = jsparse.BCOO((data, sparse_a.indices), shape=sparse_a.shape)
        return _loss_from_pairs(*eigsh(op, K, "LA"))

    grad = jax.jit(jax.grad(loss))(sparse_a.data)
    ref = jax.grad(_dense_loss)(jnp.asarray(a))
    rows, cols = np.asarray(sparse_a.indices).T
    # The dense rule reads A as symmetric: its gradient per stored entry is the symmetric part.
    np.testing.assert_allclose(grad, ref[rows, cols], atol=1e-9 * np.abs(ref).max())


def test_eigsh_complex_hermitian_gradient_matches_dense_eigh_rule():
    rng = np.random.default_rng(12)
    n = 80
    q, _ = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    lam = np.concatenate([np.linspace(-1, 1, n - 3), [2.0, 2.5, 3.0]])
    a = (q * lam) @ q.conj().T
    a = jnp.asarray((a + a.conj().T) / 2)
    m = jnp.asarray(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))

    def loss_from(w, v):
        return jnp.sum(w**2) + jnp.real(jnp.sum((v @ v.conj().T) * m))

    def dense_loss(x):
        w, v = matcalc.eigh(x)
        return loss_from(w[-3:], v[:, -3:])

    (w, _), grad = jax.jit(
        lambda x: (eigsh(x, 3, "LA"), jax.grad(lambda y: loss_from(*eigsh(y, 3, "LA")))(x))
    )(a)
    np.testing.assert_allclose(w, lam[-3:], atol=1e-10)
    ref = jax.grad(dense_loss)(a)
    np.testing.assert_allclose(grad, ref, atol=1e-9 * np.abs(ref).max())


def test_eigsh_under_vmap_values_and_gradients():
    mats = np.stack([_with_eigenvalues(np.linspace(-1, 1 + 0.5 * s, 60), s) for s in range(3)])

    def loss_from(w, v):
        return jnp.sum(w**2) + jnp.sum(v[:5] @ v[:5].T)

    def loss(m):
        w, v = eigsh(m, 3, "LA")
        return loss_from(w, v), (w, v)

    def dense_loss(m):
        w, v = matcalc.eigh(m)
        return loss_from(w[-3:], v[:, -3:])

    (_, (w, v)), grad = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(mats)
    ref = jax.vmap(jax.grad(dense_loss))(jnp.asarray(mats))
    np.testing.assert_allclose(grad, ref, atol=1e-9 * np.abs(ref).max())
    for m, wi, vi in zip(mats, np.asarray(w), np.asarray(v), strict=True):
        np.testing.assert_allclose(wi, np.linalg.eigvalsh(m)[-3:], atol=1e-10)
        np.testing.assert_allclose(m @ vi, vi * wi, atol=1e-10)


def test_eigsh_jvp_is_unsupported():
    a = jnp.asarray(_with_eigenvalues(np.arange(1.0, 9.0), 2))
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda m: eigsh(m, 2)[0], (a,), (a,))


def test_eigsh_not_converged_gives_nan():
    a = _with_eigenvalues(np.linspace(0, 1, 200), 5)  # no gap at all: not resolved in one restart
    w, v = eigsh(a, 4, "LA", maxiter=0, ncv=8)
    assert np.all(np.isnan(w))


def test_eigsh_small_operator_uses_the_dense_path():
    a = _with_eigenvalues(np.arange(1.0, 9.0), 2)
    w, v = eigsh(a, 3, "SA", return_eigenvectors=True)
    np.testing.assert_allclose(w, [1.0, 2.0, 3.0], atol=1e-13)
    np.testing.assert_allclose(eigsh(a, 2, "LA", return_eigenvectors=False), [7.0, 8.0], atol=1e-13)


@pytest.mark.slow
def test_eigsh_grid_laplacian_closed_form():
    """2-D Dirichlet Laplacian on a 60×60 grid (n = 3600) as BCOO:
    λ_ij = 4 sin²(πi/2(N+1)) + 4 sin²(πj/2(N+1)); the top four include an exact double eigenvalue."""
    m = 60
    t = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    lap = (sp.kron(t, sp.eye(m)) + sp.kron(sp.eye(m), t)).tocoo()
    a = jsparse.BCOO((jnp.asarray(lap.data), jnp.asarray(np.stack([lap.row, lap.col], 1))), shape=lap.shape)
    s = 4 * np.sin(np.pi * np.arange(1, m + 1) / (2 * (m + 1))) ** 2
    exact = np.sort((s[:, None] + s[None, :]).ravel())[-4:]
    w, v = jax.jit(lambda x: eigsh(x, 4, "LA", ncv=40, maxiter=2000))(a)
    np.testing.assert_allclose(w, exact, rtol=1e-12, atol=0)
    np.testing.assert_allclose(lap @ np.asarray(v), np.asarray(v) * np.asarray(w), atol=1e-9)


def _spd_with_small_eigenvalues(n=160, small=8, seed=11):
    """Eigenvalues 1e-4 … 1e-2 (``small`` of them) and the rest in [1, 2]: κ = 2e4, but 2 off them."""
    lam = np.concatenate([np.geomspace(1e-4, 1e-2, small), np.linspace(1.0, 2.0, n - small)])
    q = _orthogonal(n, seed)
    return (q * lam) @ q.T, q[:, :small], lam[:small]


def _deflation_of(m, w):
    from matcalc.krylov.lanczos import Deflation

    m, w = jnp.asarray(m), jnp.asarray(w)
    e = w.T @ m @ w
    return Deflation(w, lambda r: (m @ w).T @ r, lambda c: m @ w @ c, lambda y: jnp.linalg.solve(e, y))


def test_deflated_cg_converges_at_the_rate_of_the_deflated_spectrum_and_stays_exact():
    from matcalc.krylov.lanczos import block_cg

    m, small_vectors, _ = _spd_with_small_eigenvalues()
    b = jnp.asarray(np.random.default_rng(12).standard_normal((m.shape[0], 2)))
    exact = np.linalg.solve(m, np.asarray(b))
    mj = jnp.asarray(m)

    def error(x):
        return np.linalg.norm(np.asarray(x) - exact) / np.linalg.norm(exact)

    # 30 iterations: with the small eigenvectors deflated the rest has κ = 2 (contraction ≈ 0.17 per
    # step), without them κ = 2e4 (≈ 0.986 per step) and CG has not resolved the small modes yet
    deflated = block_cg(lambda x: mj @ x, b, tol=1e-13, maxiter=30, deflation=_deflation_of(m, small_vectors))
    plain = block_cg(lambda x: mj @ x, b, tol=1e-13, maxiter=30)
    assert error(deflated) < 1e-10
    assert error(plain) > 1e-3
    # iterating on after the residual has stagnated (a tolerance below round-off) does not drift: the
    # coarse correction keeps r ⊥ W (without it the error grew to 70 by 100 iterations)
    stagnant = block_cg(
        lambda x: mj @ x, b, tol=1e-18, maxiter=150, deflation=_deflation_of(m, small_vectors)
    )
    assert error(stagnant) < 1e-10
    # any deflation space keeps the solution exact: a random one, given enough iterations
    random_space = _orthogonal(m.shape[0], 13)[:, :8]
    some = block_cg(lambda x: mj @ x, b, tol=1e-13, maxiter=2000, deflation=_deflation_of(m, random_space))
    assert error(some) < 1e-8


def test_per_matrix_eigh_is_one_lapack_call_per_matrix_on_cpu():
    """A batched CPU ``eigh`` splits its batch over XLA's intra-op pool and waits; several devices of
    one process doing so at once deadlocked the sharded estimators. ``per_matrix`` compiles to
    single-matrix calls on CPU and gives the batched result."""
    from matcalc.krylov.lanczos import per_matrix

    stack = np.random.default_rng(14).standard_normal((5, 7, 7))
    stack = stack + np.swapaxes(stack, 1, 2)
    split = jax.jit(lambda s: per_matrix(jnp.linalg.eigh, s))
    w, v = split(stack)
    w_ref, v_ref = np.linalg.eigh(stack)
    np.testing.assert_allclose(w, w_ref, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.einsum("bij,bij->bj", v, v_ref)), 1, atol=1e-12)
    calls = [line for line in split.lower(stack).compile().as_text().splitlines() if "syevd" in line]
    assert calls and all("f64[7,7]" in line and "f64[5,7,7]" not in line for line in calls), calls


def test_eigsh_default_basis_keeps_half_and_converges_at_a_small_gap():
    """k = 10 at the top of the 16×16×16 anisotropic grid Laplacian's spectrum (relative gap 8.5e-4,
    spectrum in closed form) with the default basis: ``ncv = 64``, restarts keep 32 columns."""
    from benchmarks.eigsh_matrix_free import all_eigenvalues
    from matcalc.krylov._operators import as_operator
    from matcalc.krylov.eigsh import _config

    lam = all_eigenvalues((16, 16, 16)).reshape(-1)
    n = lam.size
    a = lx.DiagonalLinearOperator(jnp.asarray(lam))  # Krylov convergence depends on the spectrum only
    cfg = _config(as_operator(a), 10, "LA", None, None, None, None)
    assert (cfg.ncv, cfg.keep, cfg.block) == (64, 32, 4)
    assert _config(as_operator(jnp.eye(50)), 2, "LA", None, None, None, None).ncv == 26  # n/2 ≥ 20
    # 25 restarts (measured: 18) are enough with half the basis kept; keeping only the wanted 16 of
    # 64 columns needs 66
    w = eigsh(a, 10, "LA", maxiter=25, return_eigenvectors=False)
    np.testing.assert_allclose(w, np.sort(lam)[-10:], rtol=1e-13)
    assert n == 4096


# ---------------------------------------------------------------------------------------------
# svds


@cache
def _rectangular():
    u = _orthogonal(90, 6)[:, :60]
    v = _orthogonal(60, 7)
    s = np.concatenate([np.linspace(0.1, 1.0, 56), [1.4, 1.7, 2.1, 2.5]])
    return (u * s) @ v.T


def test_svds_values_and_gauge_invariant_gradient():
    a = jnp.asarray(_rectangular())
    m = np.random.default_rng(8).standard_normal((90, 60))

    def loss_from(u, s, vh):
        return jnp.sum(s**2) + jnp.sum((u @ vh) * m)  # U Vᴴ of the top block: gauge invariant

    def loss(x):
        return loss_from(*svds(x, 3))

    def dense_loss(x):
        u, s, vh = jnp.linalg.svd(x, full_matrices=False)
        return loss_from(u[:, :3][:, ::-1], s[:3][::-1], vh[:3][::-1])

    (u, s, vh), (value, grad) = jax.jit(lambda x: (svds(x, 3), jax.value_and_grad(loss)(x)))(a)
    np.testing.assert_allclose(s, np.linalg.svd(_rectangular(), compute_uv=False)[:3][::-1], atol=1e-10)
    np.testing.assert_allclose(np.asarray(u).T @ _rectangular() @ np.asarray(vh).T, np.diag(s), atol=1e-10)
    ref_value, ref_grad = jax.value_and_grad(dense_loss)(a)  # distinct singular values: JAX's rule
    np.testing.assert_allclose(value, ref_value, rtol=1e-11)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-8 * np.abs(ref_grad).max())


def test_svds_complex_values_and_gauge_invariant_gradient():
    rng = np.random.default_rng(13)
    u, _ = np.linalg.qr(rng.standard_normal((50, 30)) + 1j * rng.standard_normal((50, 30)))
    v, _ = np.linalg.qr(rng.standard_normal((30, 30)) + 1j * rng.standard_normal((30, 30)))
    sv = np.concatenate([np.linspace(0.1, 1.0, 27), [1.5, 2.0, 2.6]])
    a_np = (u * sv) @ v.conj().T
    m = jnp.asarray(rng.standard_normal((50, 30)) + 1j * rng.standard_normal((50, 30)))

    def loss_from(u, s, vh):
        return jnp.sum(s**2) + jnp.real(jnp.sum((u @ vh) * m))  # U Vᴴ of the top block

    def dense_loss(x):
        u, s, vh = jnp.linalg.svd(x, full_matrices=False)
        return loss_from(u[:, :3][:, ::-1], s[:3][::-1], vh[:3][::-1])

    a = jnp.asarray(a_np)
    s, grad = jax.jit(lambda x: (svds(x, 3)[1], jax.grad(lambda y: loss_from(*svds(y, 3)))(x)))(a)
    np.testing.assert_allclose(s, sv[-3:], atol=1e-10)
    ref = jax.grad(dense_loss)(a)  # distinct singular values: JAX's rule is exact
    np.testing.assert_allclose(grad, ref, atol=1e-8 * np.abs(ref).max())


def test_svds_wide_matrix_values():
    a = _rectangular().T
    u, s, vh = svds(a, 2)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False)[:2][::-1], atol=1e-10)
    np.testing.assert_allclose(np.asarray(u).T @ a @ np.asarray(vh).T, np.diag(s), atol=1e-10)


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_input_is_named():
    a = _matrix()
    with pytest.raises(ValueError, match=r"A: expected a square operator, got shape \(3, 4\)"):
        eigsh(np.ones((3, 4)), 1)
    with pytest.raises(ValueError, match=r"k: expected 1 <= k < n = 120, got k = 120"):
        eigsh(a, 120)
    with pytest.raises(ValueError, match=r"k: expected 1 <= k < n = 120, got k = 0"):
        eigsh(a, 0)
    with pytest.raises(ValueError, match="which: expected one of"):
        eigsh(a, 2, "LR")
    nonsym = a + np.triu(np.ones_like(a), 1)
    with pytest.raises(ValueError, match="A: eigsh needs a Hermitian"):
        eigsh(nonsym, 2)
    with pytest.raises(ValueError, match="A: eigsh needs a Hermitian"):
        eigsh(jsparse.BCOO.fromdense(jnp.asarray(nonsym)), 2)
    with pytest.raises(ValueError, match=r"v0: expected a vector of shape \(120,\)"):
        eigsh(a, 2, v0=np.ones(3))
    with pytest.raises(ValueError, match="which: svds supports only 'LM'"):
        svds(a, 2, which="SM")
    with pytest.raises(ValueError, match=r"k: expected 1 <= k < n = 60"):
        svds(_rectangular(), 60)
    with pytest.raises(TypeError, match="key: expected a PRNG key"):
        logdet(a, key=0)
    with pytest.raises(TypeError, match="key: expected a PRNG key.*shape \\(3,\\)"):
        logdet(a, key=jnp.ones(3))
    with pytest.raises(TypeError, match="key: a PRNG key is required"):
        trace(a, key=None)
    with pytest.raises(ValueError, match="probe: expected 'rademacher' or 'normal'"):
        logdet(a, key=jax.random.key(0), probe="gaussian")
    with pytest.raises(ValueError, match="num_probes: expected an int >= 1"):
        trace(a, key=jax.random.key(0), num_probes=0)
    with pytest.raises(ValueError, match=r"A: expected a square operator"):
        logdet(np.ones((3, 4)), key=jax.random.key(0))


# ---------------------------------------------------------------------------------------------
# stochastic estimators: errors within a few exact standard deviations

P = 64
SEEDS = (0, 1, 2)


def _hutchinson_std(m, p=P):
    """Exact standard deviation of the Rademacher Hutchinson estimate of tr M (M symmetric)."""
    m = (m + m.T) / 2
    return np.sqrt(2 * (np.sum(m**2) - np.sum(np.diag(m) ** 2)) / p)


@cache
def _spd():
    lam = np.linspace(0.5, 3.0, N)
    return _with_eigenvalues(lam, 9), lam


@cache
def _logdet_jit():
    def value_and_info(a, key):
        return logdet(a, key=key, num_probes=P, order=30, return_info=True)

    return jax.jit(jax.value_and_grad(value_and_info, has_aux=True))


def test_logdet_value_and_gradient_are_within_a_few_standard_deviations():
    a, lam = _spd()
    q = _orthogonal(N, 9)
    log_a = (q * np.log(lam)) @ q.T
    inv_a = (q / lam) @ q.T
    exact = np.sum(np.log(lam))
    assert np.isclose(exact, np.linalg.slogdet(a)[1])
    e = np.random.default_rng(10).standard_normal((N, N))
    e = (e + e.T) / 2
    m = (e @ inv_a + inv_a @ e) / 2  # ⟨gradient, E⟩ is the Hutchinson estimate of tr(A⁻¹E) = tr M
    value_std, grad_std = _hutchinson_std(log_a), _hutchinson_std(m)
    for seed in SEEDS:
        (value, info), grad = _logdet_jit()(jnp.asarray(a), jax.random.key(seed))
        # The quadrature (30 steps, κ = 6) is exact to rounding here, so only the probes' variance is left.
        assert abs(value - exact) <= 4.5 * value_std, (seed, value - exact, value_std)
        assert 0.5 * value_std <= info["stderr"] <= 2 * value_std
        directional = np.sum(np.asarray(grad) * e)
        assert abs(directional - np.trace(m)) <= 4.5 * grad_std, (seed, directional - np.trace(m), grad_std)
        np.testing.assert_allclose(grad, np.asarray(grad).T, atol=1e-14)


def test_complex_hermitian_logdet_value_and_gradient_are_within_a_few_standard_deviations():
    rng = np.random.default_rng(14)
    n = 60
    q, _ = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    lam = np.linspace(0.5, 3.0, n)
    a = (q * lam) @ q.conj().T
    a = (a + a.conj().T) / 2
    log_a = (q * np.log(lam)) @ q.conj().T
    e = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    e = (e + e.conj().T) / 2
    inv_a = np.linalg.inv(a)
    # real Rademacher probes on a Hermitian M: zᵀ M z = tr M + 2 Σ_{i<j} z_i z_j Re m_ij, so the
    # exact standard deviation is that of the real symmetric part Re M
    value_std = _hutchinson_std(np.real(log_a))
    m = (inv_a @ e + e @ inv_a) / 2
    grad_std = _hutchinson_std(np.real(m))
    dense_grad = jax.grad(lambda x: jnp.linalg.slogdet(x)[1])(jnp.asarray(a))
    pairing = np.real(np.sum(np.asarray(dense_grad) * e))  # JAX's pairing: Re Σ g_ij E_ij
    np.testing.assert_allclose(pairing, np.real(np.trace(inv_a @ e)), rtol=1e-12)
    f = jax.jit(jax.value_and_grad(lambda x, k: jnp.real(logdet(x, key=k, num_probes=P, order=30))))
    for seed in SEEDS:
        value, grad = f(jnp.asarray(a), jax.random.key(seed))
        assert abs(value - np.sum(np.log(lam))) <= 4.5 * value_std, (seed, value, value_std)
        directional = np.real(np.sum(np.asarray(grad) * e))
        assert abs(directional - pairing) <= 4.5 * grad_std, (seed, directional - pairing, grad_std)
        np.testing.assert_allclose(grad, np.conj(np.asarray(grad)).T, atol=1e-12)


def test_logdet_of_an_indefinite_operator_is_nan():
    a, lam = _spd()
    shifted = jnp.asarray(a - 1.0 * np.eye(N))  # eigenvalues in [−0.5, 2]
    (value, info), grad = _logdet_jit()(shifted, jax.random.key(0))
    assert np.isnan(value) and np.all(np.isnan(grad))


def test_logdet_on_bcoo_with_normal_probes_and_reorthogonalization():
    a, lam = _spd()
    sparse_a = jsparse.BCOO.fromdense(jnp.asarray(a))
    q = _orthogonal(N, 9)
    log_a = (q * np.log(lam)) @ q.T
    std = np.sqrt(2 * np.sum(log_a**2) / P)  # normal probes: Var = 2 ‖log A‖_F² / p
    value = logdet(
        sparse_a, key=jax.random.key(5), num_probes=P, order=30, probe="normal", reorthogonalize=True
    )
    assert abs(value - np.sum(np.log(lam))) <= 4.5 * std


@cache
def _trace_funm_jit():
    def value(a, key):
        return trace_funm(a, jnp.exp, key=key, num_probes=P, order=30)

    return jax.jit(jax.value_and_grad(value))


def test_trace_funm_value_and_gradient_are_within_a_few_standard_deviations():
    a, lam = _spd()
    q = _orthogonal(N, 9)
    exp_a = (q * np.exp(lam)) @ q.T
    e = np.random.default_rng(11).standard_normal((N, N))
    e = (e + e.T) / 2
    # D exp(A)[E] = Q (F ∘ Qᵀ E Q) Qᵀ with F_ij = exp[λi, λj] (Daleckii–Krein)
    d = lam[:, None] - lam[None, :]
    same = np.abs(d) < 1e-12
    f = np.where(
        same, np.exp(lam)[:, None], (np.exp(lam)[:, None] - np.exp(lam)[None, :]) / np.where(same, 1, d)
    )
    frechet = q @ (f * (q.T @ e @ q)) @ q.T
    for seed in SEEDS:
        value, grad = _trace_funm_jit()(jnp.asarray(a), jax.random.key(seed))
        assert abs(value - np.sum(np.exp(lam))) <= 4.5 * _hutchinson_std(exp_a)
        directional = np.sum(np.asarray(grad) * e)
        assert abs(directional - np.trace(frechet)) <= 4.5 * _hutchinson_std(frechet)


def test_trace_is_within_a_few_standard_deviations():
    a = _matrix()
    f = jax.jit(lambda x, key: trace(x, key=key, num_probes=P, return_info=True))
    for seed in SEEDS:
        value, info = f(jnp.asarray(a), jax.random.key(seed))
        assert abs(value - np.trace(a)) <= 4.5 * _hutchinson_std(a)
        assert 0.5 * _hutchinson_std(a) <= info["stderr"] <= 2 * _hutchinson_std(a)


def test_lanczos_breakdown_keeps_the_quadrature_exact_and_gradients_finite():
    """For A = 2I every Rademacher probe spans an invariant subspace after one step (β₁ = 0)."""
    n = 50
    a = 2 * jnp.eye(n)
    key = jax.random.key(0)

    def both(x):
        log_det = logdet(x, key=key, num_probes=4, order=10)
        return log_det, jax.value_and_grad(lambda y: trace_funm(y, jnp.exp, key=key, num_probes=4, order=10))(
            x
        )

    log_det, (value, grad) = jax.jit(both)(a)
    np.testing.assert_allclose(log_det, n * np.log(2), rtol=1e-14)
    np.testing.assert_allclose(value, n * np.exp(2), rtol=1e-14)
    # tr(e^A dA) estimated with z zᵀ: the diagonal z_i² = 1 is exact, the off-diagonal is probe noise
    np.testing.assert_allclose(np.diag(grad), np.exp(2), rtol=1e-13)


@pytest.mark.parametrize("which", ["SA", "LM"])
def test_eigsh_gradient_for_smallest_and_largest_magnitude(which):
    """The complement solve runs on A − λ_i I (SA) or on ±(λ_i I − A) by the sign of λ_i (LM)."""
    a = jnp.asarray(_indefinite())
    lam = np.linalg.eigvalsh(_indefinite())
    pick = np.arange(K) if which == "SA" else np.sort(np.argsort(-np.abs(lam))[:K])
    b = jnp.asarray(_loss_weights()[0])

    def loss_from(w, v):
        return jnp.sum(w**3) + jnp.sum((v[:, :2] @ (v[:, :2].T @ b)) ** 2) + jnp.sum((v @ (v.T @ b)) ** 2)

    def dense_loss(x):
        w, v = matcalc.eigh(x)
        return loss_from(w[pick], v[:, pick])

    grad = jax.jit(jax.grad(lambda x: loss_from(*eigsh(x, K, which))))(a)
    ref = jax.grad(dense_loss)(a)
    np.testing.assert_allclose(grad, ref, atol=1e-9 * np.abs(ref).max())


def test_float32_eigsh_and_logdet():
    a, lam = _spd()
    a32 = jnp.asarray(a, dtype=jnp.float32)

    def both(x):
        return eigsh(x, 3, "LA", return_eigenvectors=False), logdet(x, key=jax.random.key(0), num_probes=8)

    w, log_det = jax.jit(both)(a32)
    assert w.dtype == jnp.float32 and log_det.dtype == jnp.float32
    np.testing.assert_allclose(w, np.linalg.eigvalsh(np.asarray(a32, np.float64))[-3:], rtol=1e-5)
    assert np.isfinite(log_det)


# ---------------------------------------------------------------------------------------------
# second order: forward over reverse (jax.jvp of jax.grad, jax.hessian); reverse over reverse raises


def _symmetric(seed, n=N):
    e = np.random.default_rng(seed).standard_normal((n, n))
    return jnp.asarray((e + e.T) / 2)


def test_eigsh_second_order_matches_dense_eigh_rule():
    # distinct eigenvalues among the k (at a repeated pair inside the k, see eigsh's docstring)
    a, e = jnp.asarray(_indefinite()), _symmetric(12)
    b = jnp.asarray(_loss_weights()[0])

    def loss_from(w, v):
        return jnp.sum(jnp.sin(w)) + jnp.sum((v @ (v.T @ b)) ** 2)

    loss = lambda x: loss_from(*eigsh(x, K, "LA"))  # noqa: E731
    dense_loss = lambda x: loss_from(*(lambda w, v: (w[-K:], v[:, -K:]))(*matcalc.eigh(x)))  # noqa: E731
    hv = jax.jit(lambda x, d: jax.jvp(jax.grad(loss), (x,), (d,))[1])(a, e)
    ref = jax.jvp(jax.grad(dense_loss), (a,), (e,))[1]
    np.testing.assert_allclose(hv, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for lax.while_loop"):
        jax.grad(lambda x: jnp.sum(e * jax.grad(loss)(x)))(a)


def test_svds_second_order_matches_dense_svd():
    a, m = jnp.asarray(_rectangular()), np.random.default_rng(13).standard_normal((90, 60))
    d = jnp.asarray(np.random.default_rng(14).standard_normal((90, 60)))

    def loss_from(u, s, vh):
        return jnp.sum(s**3) + jnp.sum((u @ vh) * m)

    def dense_loss(x):
        u, s, vh = jnp.linalg.svd(x, full_matrices=False)
        return loss_from(u[:, :3], s[:3], vh[:3])

    hv = jax.jvp(jax.grad(lambda x: loss_from(*svds(x, 3))), (a,), (d,))[1]
    ref = jax.jvp(jax.grad(dense_loss), (a,), (d,))[1]  # distinct singular values: JAX's rule
    np.testing.assert_allclose(hv, ref, rtol=0, atol=1e-7 * np.abs(ref).max())


def test_logdet_second_order_is_within_a_few_standard_deviations():
    """With the probes fixed, the forward-over-reverse derivative is that of the gradient
    estimate: per probe z, zᵀ M z with M = (E A⁻¹ + A⁻¹ E)/2 becomes zᵀ dM z, an unbiased estimate
    of tr dM = −tr(A⁻¹ V A⁻¹ E), whose variance is computed exactly."""
    a, lam = _spd()
    q = _orthogonal(N, 9)
    inv_a = (q / lam) @ q.T
    e, v = np.asarray(_symmetric(15)), _symmetric(16)
    d_inv = -inv_a @ np.asarray(v) @ inv_a
    dm = (e @ d_inv + d_inv @ e) / 2

    def hvp(x, key):
        grad = jax.grad(lambda y: logdet(y, key=key, num_probes=P, order=30))
        return jax.jvp(grad, (x,), (v,))[1], grad(x)

    hvp = jax.jit(hvp)
    for seed in SEEDS:
        h, grad = hvp(jnp.asarray(a), jax.random.key(seed))
        directional = np.sum(np.asarray(h) * e)
        assert abs(directional - np.trace(dm)) <= 4.5 * _hutchinson_std(dm), (seed, directional, np.trace(dm))
    # and it is the derivative of the gradient estimate itself (same probes), to the CG tolerance
    step = 1e-5
    plus = hvp(jnp.asarray(a) + step * v, jax.random.key(0))[1]
    minus = hvp(jnp.asarray(a) - step * v, jax.random.key(0))[1]
    h0 = hvp(jnp.asarray(a), jax.random.key(0))[0]
    np.testing.assert_allclose(h0, (plus - minus) / (2 * step), rtol=0, atol=1e-6 * np.abs(h0).max())


def test_trace_funm_second_order_in_both_modes():
    # the estimator is differentiated as written (fixed-trip Lanczos): the derivative of the same
    # random estimate, in forward-over-reverse and reverse-over-reverse alike
    n = 60  # small (the reverse-over-reverse program is compile-bound), above the Lanczos order 40
    a, v, e = (
        jnp.asarray(_with_eigenvalues(np.linspace(0.5, 3.0, n), 9)),
        _symmetric(17, n),
        _symmetric(18, n),
    )
    grad = jax.grad(lambda x: trace_funm(x, jnp.exp, key=jax.random.key(0), num_probes=8))
    hv = jax.jvp(grad, (a,), (v,))[1]
    step = 1e-5
    fd = (grad(a + step * v) - grad(a - step * v)) / (2 * step)
    np.testing.assert_allclose(hv, fd, rtol=0, atol=1e-7 * np.abs(hv).max())
    reverse = jax.grad(lambda x: jnp.sum(e * grad(x)))(a)  # ⟨e, H v⟩ = ⟨H e, v⟩
    np.testing.assert_allclose(np.sum(reverse * v), np.sum(hv * e), rtol=1e-10)
