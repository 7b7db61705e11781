"""Edge cases of matcalc.schur and matcalc.hessenberg: gauges, invariant losses, the real Schur
form's 2×2 blocks (finite differences of SciPy, eigenvalues, standard form, batches mixing block
structures, normal blocks), batched float32, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import rng
from tests.cases.factor import COMPLEX_PAIRS, REAL_SPEC, real_schur_gauge


def test_schur_invariant_losses():
    """Z T² Zᴴ = A² and Σ T_ii² = tr(A²) do not depend on the Schur gauge."""
    a = rng(1).standard_normal((4, 4))
    w = rng(2).standard_normal((4, 4))

    def loss(x):
        t, z = matcalc.schur(x, output="complex")
        a2 = jnp.real(z @ t @ t @ jnp.conj(z.T))
        return jnp.sum(w * a2) + jnp.sum(jnp.real(jnp.diag(t) ** 2))

    ref = lambda x: jnp.sum(w * (x @ x)) + jnp.trace(x @ x)
    np.testing.assert_allclose(jax.grad(loss)(a), jax.grad(ref)(a), atol=1e-11)


def test_schur_gauge_and_structure():
    a = rng(3).standard_normal((4, 4)) + 1j * rng(4).standard_normal((4, 4))
    da = rng(5).standard_normal((4, 4)) + 1j * rng(6).standard_normal((4, 4))
    (t, z), (dt, dz) = jax.jvp(matcalc.schur, (a,), (da,))
    om = z.conj().T @ dz
    np.testing.assert_allclose(om + om.conj().T, 0, atol=1e-12)
    np.testing.assert_allclose(np.diag(om), 0, atol=1e-12)
    np.testing.assert_allclose(np.tril(dt, -1), 0, atol=0)
    np.testing.assert_allclose(
        dz @ t @ z.conj().T + z @ dt @ z.conj().T + z @ t @ dz.conj().T, da, atol=1e-11
    )


def _blocks(t):
    """Start rows of the 2×2 blocks of a real Schur form."""
    return [i for i in range(t.shape[-1] - 1) if t[i + 1, i] != 0]


def _pairs_matrix(n, seed):
    """Random real n×n matrix whose real Schur form has at least one 2×2 block."""
    for s in range(seed, seed + 100):
        a = rng(s).standard_normal((n, n))
        if np.any(np.abs(np.linalg.eigvals(a).imag) > 0.3):
            return a
    raise AssertionError("no matrix with a complex pair found")


def _fd_real_schur(a, da, h=1e-5):
    """5-point central difference of SciPy's real Schur form, in the canonical gauge."""
    f = lambda x: [np.asarray(y) for y in real_schur_gauge(scipy.linalg.schur(x, output="real"))]
    fp2, fp1, fm1, fm2 = (f(a + k * h * da) for k in (2, 1, -1, -2))
    return [
        (-p2 + 8 * p1 - 8 * m1 + m2) / (12 * h) for p2, p1, m1, m2 in zip(fp2, fp1, fm1, fm2, strict=True)
    ]


# Compiled once per shape and shared: evaluated eagerly, the block rule's many small operations
# dominate these tests' time (the harness compares eager with jit once, in tests/test_rules.py).
_gauged_jvp = jax.jit(lambda a, da: jax.jvp(lambda x: real_schur_gauge(matcalc.schur(x)), (a,), (da,)))
_schur_jvp = jax.jit(lambda a, da: jax.jvp(matcalc.schur, (a,), (da,)))


def _grad_and_hvp(f, a, u):
    """``∇f(a)`` and ``∇²f(a) u``, compiled."""
    return jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,)))(a, u)


@pytest.mark.parametrize("n,seed", [(2, 40), (3, 41), (4, 42), (5, 43), (6, 44)])
def test_real_schur_blocks_match_scipy_finite_differences(n, seed):
    """dT, dZ against finite differences of scipy.linalg.schur(output="real"): the 2×2-block
    rotation gauge (d T_ii = d T_{i+1,i+1}) is LAPACK's standardization."""
    a = _pairs_matrix(n, seed)
    da = rng(seed + 100).standard_normal((n, n))
    (t, _), (dt, dz) = _gauged_jvp(a, da)
    assert _blocks(np.asarray(t))
    fdt, fdz = _fd_real_schur(a, da)
    np.testing.assert_allclose(t, real_schur_gauge(scipy.linalg.schur(a))[0], atol=1e-12)
    assert np.linalg.norm(dt - fdt) <= 1e-8 * np.linalg.norm(fdt)
    assert np.linalg.norm(dz - fdz) <= 1e-8 * np.linalg.norm(fdz)


def test_real_schur_diagonal_follows_eigenvalues():
    """For a block [[a, b], [c, a]]: a = Re λ, bc = −(Im λ)², so d T_ii = d T_{i+1,i+1} = Re dλ and
    d(bc) = −2 Im λ Im dλ; for a 1×1 block d T_ii = dλ (dλ = yᴴ dA x / yᴴ x, SciPy's eig)."""
    a = COMPLEX_PAIRS
    da = rng(50).standard_normal(a.shape)
    (t, _), (dt, _) = jax.jvp(matcalc.schur, (a,), (da,))
    t, dt = np.asarray(t), np.asarray(dt)
    lam, yl, xr = scipy.linalg.eig(a, left=True, right=True)
    dlam = np.einsum("ij,ik,kj->j", yl.conj(), da, xr) / np.einsum("ij,ij->j", yl.conj(), xr)
    starts = _blocks(t)
    assert len(starts) == 2
    i = 0
    while i < a.shape[0]:
        if i in starts:
            b, c = t[i, i + 1], t[i + 1, i]
            k = np.argmin(np.abs(lam - (t[i, i] + 1j * np.sqrt(-b * c))))
            np.testing.assert_allclose([dt[i, i], dt[i + 1, i + 1]], [dlam[k].real] * 2, atol=1e-12)
            d_bc = dt[i, i + 1] * c + b * dt[i + 1, i]
            np.testing.assert_allclose(d_bc, -2 * lam[k].imag * dlam[k].imag, atol=1e-12)
            i += 2
        else:
            k = np.argmin(np.abs(lam - t[i, i]))
            np.testing.assert_allclose(dt[i, i], dlam[k].real, atol=1e-12)
            i += 1


def test_real_schur_blocks_structure_and_reconstruction():
    """dT keeps T's structure (zero strictly block-lower part, standardized blocks), K = Zᵀ dZ is
    skew with zero diagonal, and dA = dZ T Zᵀ + Z dT Zᵀ + Z T dZᵀ."""
    a = COMPLEX_PAIRS
    da = rng(51).standard_normal(a.shape)
    (t, z), (dt, dz) = jax.jvp(matcalc.schur, (a,), (da,))
    t, z, dt, dz = map(np.asarray, (t, z, dt, dz))
    starts = _blocks(t)
    lower = np.tril(np.ones_like(t, dtype=bool), -1)
    for i in starts:
        lower[i + 1, i] = False
        np.testing.assert_allclose(dt[i, i], dt[i + 1, i + 1], atol=1e-13)
    assert np.all(dt[lower] == 0)
    assert np.any(dt[[i + 1 for i in starts], starts] != 0)  # the blocks' lower entries move
    k = z.T @ dz
    np.testing.assert_allclose(k + k.T, 0, atol=1e-13)
    np.testing.assert_allclose(np.diag(k), 0, atol=1e-13)
    np.testing.assert_allclose(dz @ t @ z.T + z @ dt @ z.T + z @ t @ dz.T, da, atol=1e-12)


@pytest.mark.parametrize("a", [COMPLEX_PAIRS, _pairs_matrix(6, 60)], ids=["n5", "n6"])
def test_real_schur_blocks_invariant_losses(a):
    """Z T² Zᵀ = A² and tr(T²) = tr(A²): exact gradients (reverse mode) and second derivatives."""
    w = rng(52).standard_normal(a.shape)

    def loss(x):
        t, z = matcalc.schur(x)
        return jnp.sum(w * (z @ t @ t @ z.T)) + jnp.trace(t @ t)

    ref = lambda x: jnp.sum(w * (x @ x)) + jnp.trace(x @ x)
    u = rng(53).standard_normal(a.shape)
    (g, hvp), (g_ref, hvp_ref) = _grad_and_hvp(loss, a, u), _grad_and_hvp(ref, a, u)
    np.testing.assert_allclose(g, g_ref, atol=1e-11)
    np.testing.assert_allclose(hvp, hvp_ref, atol=1e-10)


def test_real_schur_normal_block():
    """A normal block a I + b J (b = −c: every rotation keeps it standard, LAPACK's Z is not
    differentiable there): the rule takes θ = 0; derivatives are finite, the structure holds and
    gauge-invariant losses get exact first and second derivatives. Also a rotation matrix, whose
    block has b + c ~ eps (within LAPACK's backward error, so read as normal: θ ~ 1/eps would
    drown these losses in rounding)."""
    c, s = np.cos(0.7), np.sin(0.7)
    exact = np.array([[c, -s, 0.3], [s, c, 0.2], [0.0, 0.0, 2.0]])
    q, _ = np.linalg.qr(rng(54).standard_normal((3, 3)))
    rotation = q @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ q.T
    w = rng(55).standard_normal((3, 3))

    def loss(x):
        t, z = matcalc.schur(x)
        return jnp.sum(w * (z @ t @ t @ z.T)) + jnp.trace(t @ t)

    ref = lambda x: jnp.sum(w * (x @ x)) + jnp.trace(x @ x)
    for a in (exact, rotation):
        da = rng(56).standard_normal((3, 3))
        (t, z), (dt, dz) = _schur_jvp(a, da)
        assert _blocks(np.asarray(t)) and np.all(np.isfinite(dt)) and np.all(np.isfinite(dz))
        recon = dz @ t @ z.T + z @ dt @ z.T + z @ t @ dz.T
        np.testing.assert_allclose(recon, da, atol=1e-12 * max(1.0, np.abs(dz).max()))
        # second order: the rule differentiates itself along the unstandardized curve (θ = 0)
        (g, hvp), (g_ref, hvp_ref) = _grad_and_hvp(loss, a, da), _grad_and_hvp(ref, a, da)
        np.testing.assert_allclose(g, g_ref, atol=1e-12)
        np.testing.assert_allclose(hvp, hvp_ref, atol=1e-12)
    t = np.asarray(matcalc.schur(exact)[0])
    assert t[0, 1] + t[1, 0] == 0  # the exactly normal branch (θ = 0) was taken
    t = np.asarray(matcalc.schur(rotation)[0])
    i = _blocks(t)[0]
    assert 0 < abs(t[i, i + 1] + t[i + 1, i]) <= 12 * np.finfo(float).eps * np.abs(t).max()


def _mixed_batch():
    # REAL_SPEC: real spectrum (T triangular); the other has 2×2 blocks
    a = np.stack([REAL_SPEC, _pairs_matrix(4, 70)])
    assert not _blocks(np.asarray(matcalc.schur(a[0])[0]))
    assert _blocks(np.asarray(matcalc.schur(a[1])[0]))
    return a, rng(71).standard_normal(a.shape)


def test_real_schur_batch_mixing_block_structures():
    """One batch, one member with 2×2 blocks and one without: native batching, vmap and jit agree
    with the members computed alone (the block structure is data, not a trace-time constant)."""
    a, da = _mixed_batch()
    single = [_schur_jvp(a[k], da[k]) for k in range(2)]
    native = _schur_jvp(a, da)
    vmapped = jax.jit(jax.vmap(lambda x, v: jax.jvp(matcalc.schur, (x,), (v,))))(a, da)
    for got in (native, vmapped):
        for k in range(2):
            for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(single[k]), strict=True):
                np.testing.assert_allclose(g[k], w, atol=1e-13)
    # each member also matches SciPy finite differences
    for k in range(2):
        _, (dt, dz) = _gauged_jvp(a[k], da[k])
        fdt, fdz = _fd_real_schur(a[k], da[k])
        assert np.linalg.norm(dt - fdt) <= 1e-8 * np.linalg.norm(fdt)
        assert np.linalg.norm(dz - fdz) <= 1e-8 * np.linalg.norm(fdz)
    # reverse mode through the batch
    w = rng(72).standard_normal(a.shape)
    loss = lambda x: jnp.sum(w * real_schur_gauge(matcalc.schur(x))[1])
    g_batch = jax.jit(jax.grad(loss))(a)
    g_vmap = jax.jit(jax.vmap(jax.grad(lambda x, wk: jnp.sum(wk * real_schur_gauge(matcalc.schur(x))[1]))))(
        a, w
    )
    np.testing.assert_allclose(g_batch, g_vmap, atol=1e-12)


def test_real_schur_blocks_float32():
    """float32: JVP and gradient agree with float64 to single-precision accuracy."""
    a, da = _mixed_batch()
    _, (dt64, dz64) = _gauged_jvp(a, da)
    _, (dt32, dz32) = _gauged_jvp(a.astype(np.float32), da.astype(np.float32))
    assert dt32.dtype == np.float32
    for x32, x64 in ((dt32, dt64), (dz32, dz64)):
        x32, x64 = np.asarray(x32, np.float64), np.asarray(x64)
        assert np.linalg.norm(x32 - x64) <= 1e-3 * np.linalg.norm(x64)
    w = rng(73).standard_normal(a.shape)
    loss = lambda x: jnp.sum(jnp.asarray(w, x.dtype) * real_schur_gauge(matcalc.schur(x))[0])
    grad = jax.jit(jax.grad(loss))
    g64, g32 = np.asarray(grad(a)), np.asarray(grad(a.astype(np.float32)))
    assert g32.dtype == np.float32
    assert np.linalg.norm(g32.astype(np.float64) - g64) <= 1e-3 * np.linalg.norm(g64)


def test_hessenberg_gauge_and_reconstruction():
    a = rng(7).standard_normal((5, 5)) + 1j * rng(8).standard_normal((5, 5))
    da = rng(9).standard_normal((5, 5)) + 1j * rng(10).standard_normal((5, 5))
    (h, q), (dh, dq) = jax.jvp(lambda x: matcalc.hessenberg(x, calc_q=True), (a,), (da,))
    np.testing.assert_allclose(dq[:, 0], 0, atol=0)  # Q e1 = e1
    np.testing.assert_allclose(np.imag(np.diag(dh, -1)), 0, atol=1e-12)  # real subdiagonal
    np.testing.assert_allclose(np.tril(dh, -2), 0, atol=0)
    np.testing.assert_allclose(
        dq @ h @ q.conj().T + q @ dh @ q.conj().T + q @ h @ dq.conj().T, da, atol=1e-11
    )


def test_hessenberg_h_only_batched_float32():
    a = rng(11).standard_normal((2, 4, 4))
    w = rng(12).standard_normal((4, 4))  # broadcast explicitly below
    f = lambda x: jnp.sum(jnp.broadcast_to(jnp.asarray(w, x.dtype), x.shape) * matcalc.hessenberg(x))
    g64, g32 = jax.grad(f)(a), jax.grad(f)(a.astype(np.float32))
    np.testing.assert_allclose(g32, g64, atol=1e-3 * np.abs(g64).max())
    np.testing.assert_allclose(g64[0], jax.grad(f)(a[0]), atol=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="output"):
        matcalc.schur(np.eye(3), output="upper")
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        matcalc.hessenberg(np.ones((3, 2)))
