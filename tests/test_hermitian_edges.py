"""Edge cases of matcalc.hermitian: accuracy against 50+-digit references at every eigenvalue gap,
exact second derivatives at repeated eigenvalues, scaling extremes, float32, complex, batching,
out-of-domain input and bad input."""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import matcalc
from matcalc._core import symmetrize
from tests._mpref import frechet_ref, funm_ref, second_ref

hm = matcalc.hermitian
EPS = np.finfo(np.float64).eps
# Orthogonal/unitary matrices with exactly representable entries, so A = Q diag(λ) Qᴴ is exact in
# float64 and a repeated λ is an exactly repeated eigenvalue of the stored matrix.
H4 = 0.5 * np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], float)
F4 = 0.5 * np.array([[1, 1, 1, 1], [1, 1j, -1, -1j], [1, -1, 1, -1], [1, -1j, -1, 1j]])

# name: (function, mpmath scalar f, f, f', f'' as NumPy scalars)
FUNCS = {
    "expm": (hm.expm, mp.exp, np.exp, np.exp, np.exp),
    "logm": (hm.logm, mp.log, np.log, lambda x: 1 / x, lambda x: -1 / x**2),
    "sqrtm": (hm.sqrtm, mp.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x**-1.5),
    "inv_sqrtm": (
        hm.inv_sqrtm,
        lambda x: 1 / mp.sqrt(x),
        lambda x: x**-0.5,
        lambda x: -0.5 * x**-1.5,
        lambda x: 0.75 * x**-2.5,
    ),
    "powm_1.5": (
        lambda a: hm.powm(a, 1.5),
        lambda x: x ** mp.mpf(1.5),
        lambda x: x**1.5,
        lambda x: 1.5 * x**0.5,
        lambda x: 0.75 * x**-0.5,
    ),
    "powm_-0.7": (
        lambda a: hm.powm(a, -0.7),
        lambda x: x ** mp.mpf(-0.7),
        lambda x: x**-0.7,
        lambda x: -0.7 * x**-1.7,
        lambda x: 1.19 * x**-2.7,
    ),
    "funm_tanh": (
        lambda a: hm.funm(a, jnp.tanh),
        mp.tanh,
        np.tanh,
        lambda x: 1 / np.cosh(x) ** 2,
        lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2,
    ),
}
GAPS = [0.0, 1e-10, np.cbrt(EPS) / 100, 1e-6, 0.7]


def _rel(got, want):
    got, want = np.asarray(got), np.asarray(want)
    scale = np.max(np.abs(want))  # scaled norms: no overflow at extreme magnitudes
    return float(np.linalg.norm((got - want) / scale) / np.linalg.norm(want / scale))


def _sym(seed, n=4, complex_=False):
    r = np.random.default_rng(seed)
    e = r.standard_normal((n, n))
    if complex_:
        e = e + 1j * r.standard_normal((n, n))
    return (e + e.conj().T) / 2


E1, E2, W = _sym(1), _sym(2), np.random.default_rng(3).standard_normal((4, 4))


def _matrix(gap, q=H4, base=(1.5, 2.25, 3.0)):
    lam = np.array([base[0], base[0] + gap, base[1], base[2]])
    return (q * lam) @ q.conj().T


@pytest.mark.parametrize("name", FUNCS)
def test_jvp_matches_mpmath_at_every_gap(name):
    fn, mf = FUNCS[name][:2]
    errs = {}
    for gap in GAPS:
        a = _matrix(gap)
        got = jax.jvp(fn, (a,), (E1,))[1]
        errs[gap] = _rel(got, frechet_ref(a, E1, mf))
    assert max(errs.values()) <= 1e-12, errs


@pytest.mark.parametrize("name", ["expm", "logm", "sqrtm", "powm_-0.7"])
def test_jvp_matches_mpmath_complex(name):
    fn, mf = FUNCS[name][:2]
    e = _sym(4, complex_=True)
    for gap in (0.0, 1e-10, 0.7):
        a = _matrix(gap, q=F4)
        assert _rel(jax.jvp(fn, (a,), (e,))[1], frechet_ref(a, e, mf)) <= 1e-12


@pytest.mark.parametrize("name", FUNCS)
def test_second_order_matches_mpmath(name):
    fn, mf = FUNCS[name][:2]
    cases = [_matrix(g) for g in (0.0, 1e-10, 1e-6, 0.7)]
    # a nearly repeated triple: λ, λ + 1e-7, λ + 2e-7
    cases.append((H4 * np.array([1.5, 1.5 + 1e-7, 1.5 + 2e-7, 3.0])) @ H4.T)
    for a in cases:
        ref = second_ref(a, E1, E2, mf)
        jj = jax.jvp(lambda x: jax.jvp(fn, (x,), (E1,))[1], (a,), (E2,))[1]
        assert _rel(jj, ref) <= 1e-12
        # Hessian of s(A) = <W, f(A)>: forward-over-reverse and reverse-over-reverse
        s = lambda x: jnp.sum(W * fn(x))
        want = float(np.sum(W * ref))
        hvp = jax.jvp(jax.grad(s), (a,), (E2,))[1]
        assert abs(float(jnp.sum(hvp * E1)) - want) <= 1e-12 * np.abs(W * ref).sum() + 1e-300
        gg = jax.grad(lambda x: jnp.sum(jax.grad(s)(x) * E1))(a)
        assert abs(float(jnp.sum(gg * E2)) - want) <= 1e-12 * np.abs(W * ref).sum()


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("c", [0.5, 2.0])
def test_second_order_at_multiple_of_identity(name, c):
    """At A = cI: f(A + tE) = f(c) I + t f'(c) E + t²/2 f''(c) E² + ..., so
    D²f(cI)(E₁, E₂) = f''(c) (E₁E₂ + E₂E₁)/2 and L_f(cI, E) = f'(c) E."""
    fn, _, f0, f1, f2 = FUNCS[name]
    a = c * np.eye(4)
    y, dy = jax.jvp(fn, (a,), (E1,))
    assert _rel(y, f0(c) * np.eye(4)) <= 1e-14
    assert _rel(dy, f1(c) * E1) <= 1e-14
    want2 = f2(c) * (E1 @ E2 + E2 @ E1) / 2
    jj = jax.jvp(lambda x: jax.jvp(fn, (x,), (E1,))[1], (a,), (E2,))[1]
    assert _rel(jj, want2) <= 1e-13
    s = lambda x: jnp.sum(W * fn(x))
    assert _rel(jax.grad(s)(a), f1(c) * symmetrize(W)) <= 1e-14
    hvp = jax.jvp(jax.grad(s), (a,), (E2,))[1]  # forward over reverse
    got = float(jnp.sum(hvp * E1))
    assert abs(got - np.sum(W * want2)) <= 1e-13 * np.sum(np.abs(W * want2))


def test_repeated_blocks_match_mpmath():
    """Two exactly repeated pairs (λ = 1, 1, 2, 2) and a triple (λ = 1, 1, 1, 3)."""
    for lam in ([1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 1.0, 3.0]):
        a = (H4 * np.array(lam)) @ H4.T
        for name in ("expm", "logm", "sqrtm"):
            fn, mf = FUNCS[name][:2]
            assert _rel(jax.jvp(fn, (a,), (E1,))[1], frechet_ref(a, E1, mf)) <= 1e-13
            jj = jax.jvp(lambda x: jax.jvp(fn, (x,), (E1,))[1], (a,), (E2,))[1]
            assert _rel(jj, second_ref(a, E1, E2, mf)) <= 1e-13


def test_generic_funm_accuracy():
    """Generic f (guarded quotient + Taylor): exp and sin through funm against mpmath."""
    for f, mf in ((jnp.exp, mp.exp), (jnp.sin, mp.sin)):
        for gap in GAPS:
            a = _matrix(gap)
            got = jax.jvp(lambda x: hm.funm(x, f), (a,), (E1,))[1]
            assert _rel(got, frechet_ref(a, E1, mf)) <= 1e-12


def test_primal_matches_mpmath():
    a = _matrix(1e-10)
    for name in FUNCS:
        fn, mf = FUNCS[name][:2]
        assert _rel(fn(a), funm_ref(a, mf)) <= 1e-13


def test_cross_check_against_jax_eigh_autodiff():
    """Where JAX's eigh-based derivative is finite (distinct eigenvalues) they agree; at A = I
    JAX's is NaN and ours is f'(1) sym(W)."""

    def jax_expm(a):
        w, v = jnp.linalg.eigh(a)
        return (v * jnp.exp(w)[None, :]) @ v.T

    a = _matrix(0.7)
    s_ours = lambda x: jnp.sum(W * hm.expm(x))
    s_jax = lambda x: jnp.sum(W * jax_expm(x))
    assert _rel(jax.grad(s_ours)(a), jax.grad(s_jax)(a)) <= 1e-12
    h_ours = jax.jvp(jax.grad(s_ours), (a,), (E1,))[1]
    h_jax = jax.jvp(jax.grad(s_jax), (a,), (E1,))[1]
    assert _rel(symmetrize(h_ours), symmetrize(h_jax)) <= 1e-10
    eye = np.eye(4)
    assert not np.all(np.isfinite(jax.grad(s_jax)(eye)))
    assert _rel(jax.grad(s_ours)(eye), np.e * symmetrize(W)) <= 1e-14


@pytest.mark.parametrize("s", [1e-150, 1e150])
def test_scaling_extremes(s):
    """Homogeneity: log(sA) = log A + log(s) I, L_log(sA, sE) = L_log(A, E);
    L_sqrt(sA, E) = s^{-1/2} L_sqrt(A, E); L_pow(sA, E) = s^{p-1} L_pow(A, E)."""
    a = _matrix(1e-10)
    assert _rel(jax.jvp(hm.logm, (s * a,), (s * E1,))[1], jax.jvp(hm.logm, (a,), (E1,))[1]) <= 1e-13
    assert _rel(hm.logm(s * a), np.asarray(hm.logm(a)) + np.log(s) * np.eye(4)) <= 1e-13
    assert (
        _rel(jax.jvp(hm.sqrtm, (s * a,), (E1,))[1], s**-0.5 * np.asarray(jax.jvp(hm.sqrtm, (a,), (E1,))[1]))
        <= 1e-13
    )
    p = -0.7
    got = jax.jvp(lambda x: hm.powm(x, p), (s * a,), (E1,))[1]
    want = s ** (p - 1) * np.asarray(jax.jvp(lambda x: hm.powm(x, p), (a,), (E1,))[1])
    assert _rel(got, want) <= 1e-13


def test_expm_large_shift():
    """L_exp(A − cI, E) = e^{−c} L_exp(A, E), also where e^{−c} is near underflow."""
    a = _matrix(1e-10)
    for c in (300.0, 700.0):
        got = jax.jvp(hm.expm, (a - c * np.eye(4),), (E1,))[1]
        want = np.exp(-c) * np.asarray(jax.jvp(hm.expm, (a,), (E1,))[1])
        assert _rel(got, want) <= 1e-12


@pytest.mark.parametrize("name", ["expm", "logm", "sqrtm", "inv_sqrtm", "funm_tanh"])
def test_float32(name):
    fn = FUNCS[name][0]
    for gap in (0.0, 1e-4, 0.7):
        a = _matrix(gap)
        y32, t32 = jax.jvp(fn, (a.astype(np.float32),), (E1.astype(np.float32),))
        y64, t64 = jax.jvp(fn, (a,), (E1,))
        assert y32.dtype == t32.dtype == np.float32
        assert _rel(y32, y64) <= 1e-5 and _rel(t32, t64) <= 1e-5
        g32 = jax.grad(lambda x: jnp.sum(W.astype(np.float32) * fn(x)))(a.astype(np.float32))
        g64 = jax.grad(lambda x: jnp.sum(W * fn(x)))(a)
        assert g32.dtype == np.float32 and _rel(g32, g64) <= 1e-5


def test_complex_gradient_is_hermitian_and_second_order_exact():
    a = _matrix(0.0, q=F4)  # exactly repeated eigenvalue 1.5, complex Hermitian
    w = _sym(5, complex_=True) + 0.3 * np.random.default_rng(6).standard_normal((4, 4))
    s = lambda x: jnp.real(jnp.sum(w * hm.sqrtm(x)))
    g = np.asarray(jax.grad(s)(a))
    np.testing.assert_allclose(g, g.conj().T, atol=1e-15)
    e1, e2 = _sym(7, complex_=True), _sym(8, complex_=True)
    ref = second_ref(a, e1, e2, mp.sqrt)
    hvp = jax.jvp(jax.grad(s), (a,), (e2,))[1]
    # JAX's convention for complex inputs: d s(a + t e) / dt = Re Σ grad ∘ e (no conjugate)
    got = float(np.real(np.sum(np.asarray(hvp) * e1)))
    want = float(np.real(np.sum(w * ref)))
    assert abs(got - want) <= 1e-12 * np.sum(np.abs(w * ref))


def test_batched_matches_loop():
    batch = np.stack([np.eye(4), _matrix(1e-10), _matrix(0.7)])
    tangents = np.stack([E1, E2, E1])
    y, t = jax.jvp(hm.logm, (batch,), (tangents,))
    g = jax.grad(lambda x: jnp.sum(W[None] * hm.logm(x)))(batch)
    hv = jax.jvp(jax.grad(lambda x: jnp.sum(W[None] * hm.logm(x))), (batch,), (tangents,))[1]
    for k in range(3):
        yk, tk = jax.jvp(hm.logm, (batch[k],), (tangents[k],))
        np.testing.assert_allclose(y[k], yk, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(t[k], tk, rtol=1e-14, atol=1e-15)
        gk = jax.grad(lambda x: jnp.sum(W * hm.logm(x)))(batch[k])
        np.testing.assert_allclose(g[k], gk, rtol=1e-14, atol=1e-15)
        hk = jax.jvp(jax.grad(lambda x: jnp.sum(W * hm.logm(x))), (batch[k],), (tangents[k],))[1]
        np.testing.assert_allclose(hv[k], hk, rtol=1e-13, atol=1e-15)
    vm = jax.vmap(jax.grad(lambda x: jnp.sum(W * hm.logm(x))))(batch)
    np.testing.assert_allclose(vm, g, rtol=1e-14, atol=1e-15)


def test_large_n_second_order_uses_slices():
    """n > 64 takes the scan path of the second derivative; it agrees with the full tensor path."""
    from matcalc._matfun import hermitian as _hermitian

    r = np.random.default_rng(9)
    n = 70
    lam = np.sort(r.uniform(1, 2, n))
    lam[1] = lam[0]
    x, y = r.standard_normal((n, n)), r.standard_normal((n, n))
    from matcalc._kernels.divided_differences import Log

    spec = Log()
    got = _hermitian._second_core(spec, jnp.asarray(lam), jnp.asarray(x), jnp.asarray(y))
    t = np.asarray(spec.dd2(lam[:, None, None], lam[None, :, None], lam[None, None, :]))
    want = np.einsum("ikj,ik,kj->ij", t, x, y) + np.einsum("ikj,ik,kj->ij", t, y, x)
    assert _rel(got, want) <= 1e-13


def test_third_order_at_distinct_eigenvalues():
    """Third derivatives fall back to JAX's eigh derivative: correct at distinct eigenvalues."""
    a = _matrix(0.7)
    e3 = _sym(10)

    def d2(x):
        return jax.jvp(lambda z: jax.jvp(hm.expm, (z,), (E1,))[1], (x,), (E2,))[1]

    got = jax.jvp(d2, (a,), (e3,))[1]
    h = 1e-4
    fd = -d2(a + 2 * h * e3) + 8 * d2(a + h * e3) - 8 * d2(a - h * e3) + d2(a - 2 * h * e3)
    fd = fd / (12 * h)
    assert _rel(got, fd) <= 1e-7


# --- out-of-domain input: documented NaN/inf


def test_logm_out_of_domain():
    neg = (H4 * np.array([-1.0, 1.0, 2.0, 3.0])) @ H4.T
    assert np.all(np.isnan(hm.logm(neg)))
    zero = (H4 * np.array([0.0, 1.0, 2.0, 3.0])) @ H4.T
    y, t = jax.jvp(hm.logm, (zero,), (E1,))
    assert not np.all(np.isfinite(y)) and not np.all(np.isfinite(t))


def test_sqrtm_at_zero_eigenvalue():
    zero = (H4 * np.array([0.0, 1.0, 2.0, 3.0])) @ H4.T
    y, t = jax.jvp(hm.sqrtm, (zero,), (E1,))
    assert np.all(np.isfinite(y))  # the value is fine
    np.testing.assert_allclose(np.asarray(y) @ np.asarray(y), zero, atol=1e-14)
    assert not np.all(np.isfinite(t))  # the derivative is infinite there
    assert not np.all(np.isfinite(jax.jvp(hm.inv_sqrtm, (zero,), (E1,))[1]))
    assert np.all(np.isnan(hm.sqrtm(-np.eye(2))[0, 0]))


def test_absm_and_signm_at_zero_eigenvalue():
    a = np.diag([0.0, 1.0, -2.0])
    e = _sym(11, n=3)
    t = np.asarray(jax.jvp(hm.absm, (a,), (e,))[1])
    # F = |x|[λi, λj] with the documented f'(0) = 0
    lam = np.diag(a)
    f = np.array([[0, 1, -1], [1, 1, 1 / 3], [-1, 1 / 3, -1]], float)
    f[0, 1] = f[1, 0] = (abs(lam[0]) - abs(lam[1])) / (lam[0] - lam[1])
    f[0, 2] = f[2, 0] = (abs(lam[0]) - abs(lam[2])) / (lam[0] - lam[2])
    f[1, 2] = f[2, 1] = (abs(lam[1]) - abs(lam[2])) / (lam[1] - lam[2])
    f[0, 0] = 0.0
    np.testing.assert_allclose(t, f * e, atol=1e-15)
    assert np.all(np.isnan(np.asarray(jax.jvp(hm.signm, (a,), (e,))[1])[0]))


# --- bad input


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        hm.expm(np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        hm.logm(np.ones((2, 3)))
    with pytest.raises(TypeError, match="callable"):
        hm.funm(np.eye(2), 3.0)
    with pytest.raises(TypeError, match="reals to reals"):
        hm.funm(np.eye(2), lambda x: jax.lax.complex(x, x))
    with pytest.raises(TypeError, match="static"):
        jax.jit(lambda a, p: hm.powm(a, p))(np.eye(2), 0.5)
    y = hm.expm(np.eye(2, dtype=np.int32))  # integers promote like jnp.linalg
    assert y.dtype == jnp.linalg.eigvalsh(np.eye(2, dtype=np.int32)).dtype


def test_input_read_as_hermitian_part():
    a = _matrix(0.7) + np.triu(np.ones((4, 4)), 1)
    np.testing.assert_allclose(hm.expm(a), hm.expm(symmetrize(a)), rtol=1e-14)
    t = jax.jvp(hm.expm, (a,), (W,))[1]
    np.testing.assert_allclose(t, jax.jvp(hm.expm, (symmetrize(a),), (symmetrize(W),))[1], rtol=1e-14)


del functools
