"""Edge cases of matcalc.cholesky: structured block products, ill-conditioned input above the
block size, tangent spaces, bad input, float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from matcalc._factor import cholesky as chol_mod
from tests.cases import rng, spd


def _spd(n, seed, complex_=False):
    r = rng(seed)
    a = r.standard_normal((n, n)) + (1j * r.standard_normal((n, n)) if complex_ else 0)
    return a @ a.conj().T + n * np.eye(n)


@pytest.fixture
def small_blocks(monkeypatch):
    """Block size 4, so that n ≈ 10 exercises the same block code paths as n ≈ 500 does."""
    monkeypatch.setattr(chol_mod, "_BLOCK", 4)


@pytest.mark.parametrize("complex_", [False, True])
def test_blocked_path_matches_jax_default(small_blocks, complex_):
    n = 14  # 4 block columns in the adjoint, 2 recursion levels in the JVP, uneven sizes
    a = _spd(n, 1, complex_)
    w = rng(2).standard_normal((n, n))
    f = lambda g: lambda x: jnp.sum(w * jnp.real(g(x)))
    ours = jax.jit(jax.grad(f(matcalc.cholesky)))(a)
    ref = jax.grad(f(jnp.linalg.cholesky))(a)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    t = rng(3).standard_normal((n, n)).astype(a.dtype)
    _, jo = jax.jit(lambda x, dx: jax.jvp(matcalc.cholesky, (x,), (dx,)))(a, t)
    _, jr = jax.jvp(jnp.linalg.cholesky, (a,), (t,))
    np.testing.assert_allclose(jo, jr, rtol=0, atol=1e-12 * np.abs(jr).max())


@pytest.mark.parametrize("complex_", [False, True])
def test_blocked_adjoint_lower_only_and_second_order(small_blocks, complex_):
    """The hand-written blocked adjoint is the transpose of the JVP for lower-only input, and
    jvp-of-grad (forward mode through the adjoint) matches JAX's default."""
    n = 3 * chol_mod._BLOCK + 2
    a = _spd(n, 13, complex_)
    f = lambda x: matcalc.cholesky(x, symmetrize_input=False)
    t = (rng(14).standard_normal((n, n)) + (1j * rng(15).standard_normal((n, n)) if complex_ else 0)).astype(
        a.dtype
    )
    w = rng(16).standard_normal((n, n)).astype(a.dtype)
    _, jt = jax.jit(lambda x, dx: jax.jvp(f, (x,), (dx,)))(a, t)
    (jtw,) = jax.jit(lambda x, ct: jax.vjp(f, x)[1](ct))(a, w)
    lhs, rhs = np.sum(w * jt).real, np.sum(jtw * t).real
    assert abs(lhs - rhs) <= 1e-12 * np.abs(jtw).sum() * np.abs(t).max()
    assert np.all(np.triu(jtw, 1) == 0)
    loss = lambda g: lambda x: jnp.sum(jnp.real(w * g(x)))

    def ref_f(x):  # the same function written out: the Hermitian matrix read from tril(x)
        strict = jnp.tril(x, -1)
        herm = strict + jnp.conj(strict.T) + jnp.diag(jnp.real(jnp.diag(x))).astype(x.dtype)
        return jnp.linalg.cholesky(herm)

    np.testing.assert_allclose(jtw.real, jax.grad(loss(ref_f))(a).real, atol=1e-12 * np.abs(jtw).max())
    hvp = lambda g: jax.jit(lambda x, dx: jax.jvp(jax.grad(loss(g)), (x,), (dx,))[1])(a, t)
    ref = hvp(ref_f)
    np.testing.assert_allclose(hvp(f), ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_gradient_is_hermitian_with_symmetrized_input():
    a = spd(4, seed=4, complex_=True)
    w = rng(5).standard_normal((4, 4))
    g = jax.grad(lambda x: jnp.sum(w * jnp.real(matcalc.cholesky(x))))(a)
    np.testing.assert_allclose(g, np.conj(g.T), atol=1e-14)


def test_lower_only_input_gets_no_gradient_in_upper_triangle():
    a = spd(4, seed=6)
    a_bad_upper = a + np.triu(np.full((4, 4), 7.0), 1)  # the unused triangle is garbage
    f = lambda x: matcalc.cholesky(x, symmetrize_input=False)
    np.testing.assert_allclose(f(a_bad_upper), np.linalg.cholesky(a), atol=1e-13)
    w = rng(7).standard_normal((4, 4))
    g = jax.grad(lambda x: jnp.sum(w * f(x)))(a_bad_upper)
    assert np.all(np.triu(g, 1) == 0)
    # and the lower-triangle gradient matches a central difference in each lower entry
    h = 1e-6
    for i, j in [(0, 0), (2, 1), (3, 0)]:
        e = np.zeros((4, 4))
        e[i, j] = h
        fd = (np.sum(w * f(a_bad_upper + e)) - np.sum(w * f(a_bad_upper - e))) / (2 * h)
        assert abs(fd - g[i, j]) < 1e-7


def test_upper():
    a = spd(4, seed=8)
    w = rng(9).standard_normal((4, 4))
    u = matcalc.cholesky(a, upper=True)
    np.testing.assert_allclose(u, np.linalg.cholesky(a).T, atol=1e-14)
    g_u = jax.grad(lambda x: jnp.sum(w * matcalc.cholesky(x, upper=True)))(a)
    g_l = jax.grad(lambda x: jnp.sum(w.T * matcalc.cholesky(x)))(a)
    np.testing.assert_allclose(g_u, g_l, atol=1e-14)


def test_not_positive_definite_gives_nan():
    a = np.diag([1.0, -1.0, 2.0])
    l, dl = jax.jit(lambda x, t: jax.jvp(matcalc.cholesky, (x,), (t,)))(a, np.eye(3))
    assert np.isnan(l).any() and np.isnan(dl).any()


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        matcalc.cholesky(np.ones((3, 4)))


def test_at_the_real_block_size():
    n = chol_mod._BLOCK + 9
    a = _spd(n, 17)
    w = rng(18).standard_normal((n, n))
    f = lambda g: jax.jit(jax.grad(lambda x: jnp.sum(w * g(x))))
    ref = f(jnp.linalg.cholesky)(a)
    np.testing.assert_allclose(f(matcalc.cholesky)(a), ref, atol=1e-12 * np.abs(ref).max())


def test_batched_float32_blocked(small_blocks):
    n = chol_mod._BLOCK + 3
    a = np.stack([_spd(n, 10), _spd(n, 11)])
    w = rng(12).standard_normal((n, n))
    f = lambda x: jnp.sum(jnp.broadcast_to(jnp.asarray(w, x.dtype), x.shape) * matcalc.cholesky(x))
    grad = jax.jit(jax.grad(f))
    g64 = grad(a)
    g32 = grad(a.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, atol=1e-4 * np.abs(g64).max())
    for k in range(2):
        np.testing.assert_allclose(g64[k], grad(a[k]), atol=1e-14)


def _gp_kernel(n, jitter):
    """A squared-exponential GP kernel on n points of [0, 8] plus jitter: condition ~ 25/jitter."""
    x = np.linspace(0.0, 8.0, n)
    return np.exp(-((x[:, None] - x[None, :]) ** 2) / 2) + jitter * np.eye(n)


def _mp_chol_tangent(a, e, dps=50):
    """``dL = L Φ(L⁻¹ E L⁻ᵀ)`` at ``dps`` digits for real symmetric ``a``, ``e`` (mpmath)."""
    import mpmath as mp

    n = a.shape[0]
    with mp.workdps(dps):
        l = mp.cholesky(mp.matrix(a.tolist()))
        lt = [[l[i, j] for j in range(n)] for i in range(n)]

        def lower_solve(b):  # L⁻¹ b, columns of b
            y = [[mp.mpf(0)] * len(b[0]) for _ in range(n)]
            for i in range(n):
                for c in range(len(b[0])):
                    s = b[i][c] - mp.fsum(lt[i][k] * y[k][c] for k in range(i))
                    y[i][c] = s / lt[i][i]
            return y

        y = lower_solve([[mp.mpf(float(v)) for v in row] for row in e])  # L⁻¹ E
        x = lower_solve([list(col) for col in zip(*y, strict=True)])  # L⁻¹ (L⁻¹ E)ᵀ = X
        phi = [[x[i][j] if i > j else (x[i][j] / 2 if i == j else 0) for j in range(n)] for i in range(n)]
        dl = [[mp.fsum(lt[i][k] * phi[k][j] for k in range(j, i + 1)) for j in range(n)] for i in range(n)]
        return np.array([[float(v) for v in row] for row in dl])


@pytest.mark.parametrize("jitter", [1e-8, 1e-11], ids=["cond1e9", "cond1e12"])
def test_ill_conditioned_above_the_block_size_against_mpmath_and_jax(jitter):
    """Above the block size, on a GP kernel of condition 1e9–1e12, the JVP and the VJP are as
    accurate as JAX's own rule, against a 50-digit reference, and d/dt logdet(K + tK) = n."""
    n = chol_mod._BLOCK + 16
    k = _gp_kernel(n, jitter)
    e = _sym_tangent(n, 21)
    w = np.tril(rng(22).standard_normal((n, n)))
    ref = _mp_chol_tangent(k, e)
    jvp = lambda g: jax.jit(lambda a, t: jax.jvp(g, (a,), (t,))[1])(k, e)
    vjp = lambda g: jax.jit(lambda a, c: jax.vjp(g, a)[1](c)[0])(k, w)
    scale = np.abs(ref).max()
    err_ours = np.abs(jvp(matcalc.cholesky) - ref).max() / scale
    err_jax = np.abs(jvp(jnp.linalg.cholesky) - ref).max() / scale
    assert err_ours <= 4 * err_jax + 1e-13, (err_ours, err_jax)
    pair_ref = np.sum(w * ref)  # ⟨W, dL⟩ = ⟨Ā, E⟩ by the transpose identity
    perr = lambda g: abs(np.sum(vjp(g) * e) - pair_ref) / np.abs(w * ref).sum()
    assert perr(matcalc.cholesky) <= 4 * perr(jnp.linalg.cholesky) + 1e-13
    # logdet along its own direction is exactly n; the attainable error grows like eps·cond·n
    # (the blocked recursion gave 1e-3–1e-1 at n = 128–256, cond 1e9, where JAX gives 1e-7)
    logdet = lambda g: lambda a: 2 * jnp.sum(jnp.log(jnp.diag(g(a))))
    errs = {}
    for name, g in (("ours", matcalc.cholesky), ("jax", jnp.linalg.cholesky)):
        d_fwd = jax.jvp(logdet(g), (k,), (k,))[1]
        d_rev = np.sum(jax.grad(logdet(g))(k) * k)
        errs[name] = max(abs(d_fwd - n), abs(d_rev - n))
    assert errs["ours"] <= 2 * errs["jax"] + 1e-10, errs
    assert errs["ours"] <= 1e-16 * np.linalg.cond(k) * n, errs


def _sym_tangent(n, seed):
    e = rng(seed).standard_normal((n, n))
    return (e + e.T) / 2
