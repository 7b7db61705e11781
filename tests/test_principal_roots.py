"""Principal roots and powers at the inputs the primary algorithms cannot handle: real matrices
whose principal square root is not real (the JAX mirror returns the complex root), singular
matrices (fractional powers), and ill-conditioned matrices (accuracy of ``sqrtm``'s derivative
against an mpmath reference)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import matcalc
import matcalc.scipy.linalg as msl

# --- the mirror's complex principal root of real input ----------------------------------------

_mirror_sqrtm = jax.jit(msl.sqrtm)
_mirror_jvp = jax.jit(lambda a, e: jax.jvp(msl.sqrtm, (a,), (e,)))


def _mirror_grad(a, w):
    return jax.grad(lambda a: jnp.real(jnp.sum(w * msl.sqrtm(a))))(a)


_mirror_grad = jax.jit(_mirror_grad)

NONREAL = np.array([[1.0, 2.0], [3.0, 4.0]])  # eigenvalues (5 ± √33)/2: one negative
REALROOT = np.array([[4.0, 1.0], [0.5, 9.0]])
E2 = np.array([[0.3, -0.2], [0.5, 0.7]])
W2 = np.array([[1.0, 2.0j], [0.5 - 1.0j, -1.0]])


def _csqrtm_fd(a, e, h=1e-3):
    """``L_sqrt(A, E)`` for real A, E by SciPy's principal root (real Schur form, complex where
    needed), 5-point central difference (error ~h⁴)."""
    f = [sl.sqrtm(a + k * h * e) for k in (-2, -1, 1, 2)]
    return (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)


def test_mirror_sqrtm_complex_root_of_real_input():
    x = _mirror_sqrtm(jnp.array([[-1.0, 0.0], [0.0, 4.0]]))
    assert x.dtype == jnp.complex128
    np.testing.assert_allclose(x, np.diag([1j, 2.0]), atol=1e-15)
    want = sl.sqrtm(NONREAL)
    x = _mirror_sqrtm(jnp.array(NONREAL))
    np.testing.assert_allclose(x, want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(x @ x, NONREAL, atol=1e-13)
    # the top-level function keeps its real-dtype convention: NaN where the root is not real
    assert np.all(np.isnan(matcalc.sqrtm(jnp.array(NONREAL))))


def test_mirror_sqrtm_batch_keeps_real_path():
    batch = jnp.array(np.stack([NONREAL, REALROOT]))
    x = _mirror_sqrtm(batch)
    np.testing.assert_allclose(x[0], sl.sqrtm(NONREAL), rtol=1e-13, atol=1e-14)
    # the matrix with a real root is the real DB root, cast (imaginary part exactly zero)
    assert np.all(np.imag(x[1]) == 0)
    np.testing.assert_array_equal(np.real(x[1]), matcalc.sqrtm(jnp.array(REALROOT)))
    np.testing.assert_allclose(x[1], sl.sqrtm(REALROOT), rtol=1e-14)


def test_mirror_sqrtm_derivative_at_nonreal_root():
    batch = jnp.array(np.stack([NONREAL, REALROOT]))
    tang = jnp.array(np.stack([E2, E2.T]))
    x, dx = _mirror_jvp(batch, tang)
    for k in range(2):
        a, e = np.asarray(batch[k]), np.asarray(tang[k])
        # Sylvester identity X dX + dX X = dA and the complex finite difference
        np.testing.assert_allclose(x[k] @ dx[k] + dx[k] @ x[k], e, atol=1e-14)
        np.testing.assert_allclose(dx[k], _csqrtm_fd(a, e), rtol=1e-9, atol=1e-10)
    assert np.any(np.abs(np.imag(dx[0])) > 0.1)  # the tangent at the non-real root is complex
    # reverse mode: ∇ of Re Σ W ∘ X is Re L(Aᵀ, W); its pairing with E is Re⟨W, L(A, E)⟩
    w = jnp.array(np.stack([W2, W2.T]))
    g = _mirror_grad(batch, w)
    assert g.dtype == jnp.float64
    for k in range(2):
        want = np.real(np.sum(np.asarray(w[k]) * np.asarray(dx[k])))
        np.testing.assert_allclose(np.sum(np.asarray(g[k]) * np.asarray(tang[k])), want, rtol=1e-12)
    # and on its own: ⟨∇, E⟩ vs the finite difference of the loss
    want = np.real(np.sum(W2 * _csqrtm_fd(NONREAL, E2)))
    np.testing.assert_allclose(np.sum(np.asarray(g[0]) * E2), want, rtol=1e-9)


def test_mirror_sqrtm_principal_branch_n14():
    """Three real negative eigenvalues, n = 14 (> 12: the tangent's Sylvester solve is JAX's
    Schur solver). The Schur form of the complex-cast matrix carries them with imaginary parts
    of rounding size and either sign; on this matrix JAX's own ``sqrtm`` returns ``−i r^{1/2}``
    for some (not the principal root, 1.9 away from SciPy's), SciPy's real-input path and
    matcalc ``+i r^{1/2}``."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((14, 14))
    e = rng.standard_normal((14, 14))
    x, dx = _mirror_jvp(jnp.array(a), jnp.array(e))
    want = sl.sqrtm(a)
    np.testing.assert_allclose(x, want, rtol=0, atol=1e-13 * np.abs(want).max())
    lam = np.linalg.eigvals(a)
    negative = lam[(np.abs(lam.imag) < 1e-12) & (lam.real < 0)].real
    mu = np.linalg.eigvals(np.asarray(x))
    for r in negative:  # the eigenvalue of X nearest ±i√|r| is +i√|r|
        assert np.min(np.abs(mu - 1j * np.sqrt(-r))) < 1e-10 < np.min(np.abs(mu + 1j * np.sqrt(-r)))
    np.testing.assert_allclose(x @ dx + dx @ x, e, atol=1e-12)
    np.testing.assert_allclose(dx, _csqrtm_fd(a, e, h=1e-4), rtol=0, atol=1e-8 * np.abs(dx).max())


def test_mirror_sqrtm_second_derivative_at_nonreal_root_is_nan():
    f = jax.jit(lambda a, e: jax.jvp(lambda a: jax.jvp(msl.sqrtm, (a,), (e,))[1], (a,), (e,))[1])
    a, e = jnp.array(NONREAL), jnp.array(E2)
    assert np.all(np.isnan(f(a, e)))


# --- fractional powers of singular matrices ------------------------------------------------------

_U = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
_W = np.array([[-1.0, 1.0], [-1.0, 1.0], [2.0, -1.0]])  # Wᵀ U = [[5, -5], [-2, 4]], eigenvalues 4.5 ± √10.25
SINGULAR = [
    np.diag([0.0, 4.0, 0.0]),
    np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0]),  # u vᵀ, vᵀu = 4
    _U @ _W.T,  # rank 2, not normal
    np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 4.0]]),  # defective zero eigenvalue
]
REGULAR3 = np.array([[4.0, 1.0, 0.0], [0.0, 9.0, 1.0], [0.5, 0.0, 1.0]])
POWER_BATCH = np.stack([*SINGULAR, REGULAR3])


def _singular_power_closed_form(t):
    """``A^t`` for t > 0: ``diag(0, 4^t, 0)``; ``(u vᵀ)^t = (vᵀu)^{t−1} u vᵀ``; ``(U Wᵀ)^t =
    U (WᵀU)^{t−1} Wᵀ`` (the nonzero eigenvalues of U Wᵀ are those of WᵀU; ``A^t = U f(WᵀU) Wᵀ``
    with ``f(x) = x^{t−1}``); NaN for the defective zero eigenvalue; SciPy for the regular one."""
    return np.stack(
        [
            np.diag([0.0, 4.0**t, 0.0]),
            4.0 ** (t - 1) * SINGULAR[1],
            _U @ sl.fractional_matrix_power(_W.T @ _U, t - 1) @ _W.T,
            np.full((3, 3), np.nan),
            sl.fractional_matrix_power(REGULAR3, t),
        ]
    )


@pytest.mark.parametrize("t", [0.3, 1.7])
def test_fractional_power_of_singular_matrices(t):
    x = np.asarray(matcalc.fractional_matrix_power(jnp.array(POWER_BATCH), t))
    want = _singular_power_closed_form(t)
    # measured (‖error‖_max / ‖A^t‖₁): ≤ 4.5e-15 at t = 0.3, ≤ 2.7e-14 at t = 1.7 (the rank-2 matrix,
    # whose deflated B = A + σ₁P₀ has a spread spectrum); bound: 1e-13, a few hundred ε
    for k in (0, 1, 2, 4):
        scale = np.linalg.norm(want[k], 1)
        np.testing.assert_allclose(x[k], want[k], rtol=0, atol=1e-13 * scale, err_msg=f"matrix {k}")
    # SciPy agrees on the first two (its Schur–Parlett value loses digits on the third)
    for k in (0, 1):
        ref = sl.fractional_matrix_power(POWER_BATCH[k], t)
        np.testing.assert_allclose(x[k], ref, rtol=0, atol=1e-13 * np.linalg.norm(ref, 1))
    # defective zero eigenvalue: NaN (the deflation needs a semisimple zero eigenvalue)
    assert np.all(np.isnan(x[3]))


def test_fractional_power_singular_2x2_and_negative_power():
    x = matcalc.fractional_matrix_power(jnp.diag(jnp.array([0.0, 4.0])), 0.3)
    np.testing.assert_allclose(x, np.diag([0.0, 4.0**0.3]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(x, sl.fractional_matrix_power(np.diag([0.0, 4.0]), 0.3), atol=1e-15)
    # a negative power of a singular matrix does not exist: NaN (SciPy: NaN too)
    assert np.all(np.isnan(matcalc.fractional_matrix_power(jnp.diag(jnp.array([0.0, 4.0])), -0.3)))


@jax.jit
def _power_jvp_vjp(a, e, w):
    """``(A^0.3, L(A, E), Lᵀ(A, W))`` from one linearization (the VJP is its transpose)."""
    x, lin = jax.linearize(lambda a: matcalc.fractional_matrix_power(a, 0.3), a)
    return x, lin(e), jax.linear_transpose(lin, a)(w)[0]


def test_fractional_power_derivative_at_singular_input_is_nan():
    rng = np.random.default_rng(0)
    e = rng.standard_normal(POWER_BATCH.shape)
    w = rng.standard_normal(POWER_BATCH.shape)
    x, dx, g = (np.asarray(y) for y in _power_jvp_vjp(jnp.array(POWER_BATCH), jnp.array(e), jnp.array(w)))
    # the singular matrices: value finite (semisimple zero eigenvalue), derivative NaN
    for k in range(4):
        assert np.all(np.isnan(dx[k])) and np.all(np.isnan(g[k])), k
    assert np.all(np.isfinite(x[:3]))
    # the regular matrix in the same batch: unaffected, and right (central difference of SciPy)
    h = 1e-3
    f = [sl.fractional_matrix_power(REGULAR3 + k * h * e[4], 0.3) for k in (-2, -1, 1, 2)]
    fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
    np.testing.assert_allclose(dx[4], fd, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(np.sum(g[4] * e[4]), np.sum(w[4] * dx[4]), rtol=1e-12)


def test_logm_of_singular_input():
    a = jnp.array(np.stack([np.diag([0.0, 4.0, 0.0]), SINGULAR[1], SINGULAR[2], REGULAR3]))
    f = np.asarray(matcalc.logm(a))
    # documented: NaN where the square roots meet the singularity exactly (SciPy: -inf entries)
    assert np.all(np.isnan(f[:2]))
    # U Wᵀ: rounding leaves an eigenvalue of order ε‖A‖; the logarithm of that nearby matrix:
    # eigenvalues log λ(WᵀU) and one below log(10³ ε ‖A‖)
    lam = np.sort(np.linalg.eigvals(f[2]).real)
    np.testing.assert_allclose(lam[1:], np.sort(np.log(np.linalg.eigvals(_W.T @ _U).real)), rtol=1e-8)
    assert lam[0] < np.log(1e3 * 2.2e-16 * np.linalg.norm(SINGULAR[2], 2))
    np.testing.assert_allclose(f[3], sl.logm(REGULAR3), rtol=1e-13, atol=1e-14)


# --- accuracy of sqrtm's derivative on ill-conditioned input (mpmath reference) ----------------


def _mp_sqrtm_frechet(a, e, dps=50):
    """``L`` with ``X L + L X = E``, X the principal root of the float64 matrix ``a``, at ``dps``
    digits: ``A = V Λ V⁻¹`` (mpmath), ``L = V ((V⁻¹ E V)_ij / (λ_i^{1/2} + λ_j^{1/2})) V⁻¹``."""
    import mpmath as mp

    with mp.workdps(dps):
        w, v = mp.eig(mp.matrix(a.tolist()))
        vi = mp.inverse(v)
        s = [mp.sqrt(x) for x in w]
        f = vi * mp.matrix(e.tolist()) * v
        n = a.shape[0]
        g = mp.matrix(n, n)
        for i in range(n):
            for j in range(n):
                g[i, j] = f[i, j] / (s[i] + s[j])
        lmat = v * g * vi
        return np.array([[float(mp.re(lmat[i, j])) for j in range(n)] for i in range(n)])


def _ill_conditioned(kappa, rng, n=8):
    """An SPD and a non-normal (``V Λ V⁻¹``, κ(V) ≈ 10) matrix with eigenvalues 1 … 1/κ."""
    lam = np.logspace(0, -np.log10(kappa), n)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v = np.eye(n) + 0.3 * np.triu(rng.standard_normal((n, n)), 1) + 0.05 * rng.standard_normal((n, n))
    return [(q * lam) @ q.T, (v * lam) @ np.linalg.inv(v)]


_sqrtm_jvps = {
    s: jax.jit(lambda a, e, s=s: jax.jvp(lambda a: matcalc.sqrtm(a, sylvester=s), (a,), (e,))[1])
    for s in ("auto", "sign")
}


def test_sqrtm_derivative_accuracy_ill_conditioned():
    """The derivative's relative error on ill-conditioned A is of order κ(A)·ε for any backward
    stable method (a perturbation δA of size ε‖A‖ moves L by ``D²sqrt(A)[δA, E]``, of relative
    size κ(A)ε for SPD A). Measured with n = 8–20, SPD and non-normal: the differentiated DB
    iterates 0.02–1.3 κε (one non-normal n = 20 case 8 κε), the Sylvester solves
    (``"sign"``/``"kron"``) at most 0.02 κε; on these four (n = 8) 0.03–0.56 κε and
    0.001–0.014 κε. Bound: 2 κ₂(A) ε for both."""
    rng = np.random.default_rng(0)
    mats = _ill_conditioned(1e8, rng) + _ill_conditioned(1e12, rng)
    a = np.stack(mats)
    e = rng.standard_normal(a.shape)
    refs = [_mp_sqrtm_frechet(a[k], e[k]) for k in range(len(mats))]
    for s, f in _sqrtm_jvps.items():
        dx = np.asarray(f(jnp.array(a), jnp.array(e)))
        for k in range(len(mats)):
            err = np.linalg.norm(dx[k] - refs[k]) / np.linalg.norm(refs[k])
            bound = 2 * np.linalg.cond(a[k]) * np.finfo(float).eps
            assert err <= bound, (s, k, err, bound)
