"""expm(method="taylor"): the optimized Taylor schemes of Bader, Blanes & Casas (2019) and the 15+
scheme of Sastre, Ibáñez & Defez (2019) with scaling and squaring, and its Fréchet derivative.
References: SciPy's expm and expm_frechet (Al-Mohy & Higham), the block-triangular identity
expm([[A, E], [0, A]]) = [[e^A, L], [0, e^A]] evaluated by SciPy, closed forms, central
differences."""

import functools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.linalg as sl

import matcalc
from matcalc._matfun.expm import _degree_index, _prepare
from matcalc._matfun.expm_taylor import (
    _A18,
    _B18,
    _C8,
    _C15,
    _H15,
    _THETA_TAYLOR,
    _top18,
    _top_powers,
    _use15,
)
from tests.cases import rng

_T = functools.partial(matcalc.expm, method="taylor")
_fwd = jax.jit(_T)
_jvp = jax.jit(lambda a, e: jax.jvp(_T, (a,), (e,)))
_vjp = jax.jit(lambda a, w: jax.vjp(_T, a)[1](w)[0])


def _rel(x, y):
    # scaled to max|y| first, so entries near 1e300 do not overflow the norm
    x, y = np.asarray(x, dtype=np.complex128), np.asarray(y, dtype=np.complex128)
    m = max(np.abs(y).max(), 1e-300)
    return np.linalg.norm(x / m - y / m) / max(np.linalg.norm(y / m), 1e-300)


def _block_frechet(a, e):
    n = a.shape[0]
    return sl.expm(np.block([[a, e], [np.zeros_like(a), a]]))[:n, n:]


def _poly_coeffs(m):
    """Coefficients of the polynomial each scheme evaluates, by exact polynomial arithmetic on
    the scalar x (numpy.polynomial, float64)."""
    P = np.polynomial.Polynomial
    x, one = P([0, 1]), P([1])
    if m == 8:
        c = _C8
        x2 = x * x
        x4 = x2 * (c["x1"] * x + c["x2"] * x2)
        x8 = (c["x3"] * x2 + x4) * (c["x4"] * one + c["x5"] * x + c["x6"] * x2 + c["x7"] * x4)
        return (one + x + c["y2"] * x2 + x8).coef
    if m == 15:
        return _scheme_15_plus(_C15, one, x).coef
    pw = [one, x, x * x, x * x * x]
    pw.append(pw[3] * pw[3])
    b1 = sum(_A18[j] * pw[j] for j in range(4))
    b2, b3, b4, b5 = (sum(_B18[j][i] * pw[j] for j in range(5)) for i in range(4))
    a9 = b1 * b5 + b4
    return (b2 + (b3 + a9) * a9).coef


@pytest.mark.parametrize("m", [8, 15, 18])
def test_schemes_are_taylor_polynomials(m):
    c = _poly_coeffs(m)
    exact = m if m != 15 else 15  # 15+: degree 16, Taylor's coefficients through x¹⁵
    assert len(c) == (m + 1 if m != 15 else 17)
    want = np.array([1 / math.factorial(k) for k in range(exact + 1)])
    assert np.abs(c[: exact + 1] / want - 1).max() < 1e-12
    if m == 15:  # the x¹⁶ coefficient Sastre, Ibáñez & Defez report
        assert abs(c[16] * math.factorial(16) - 0.5457) < 1e-4


def _scheme_15_plus(c, one, x):
    """The 15+ polynomial of the coefficients c in the ring of ``one`` and ``x``."""
    x2 = x * x
    y0 = x2 * (c[0] * x2 + c[1] * x)
    y1 = (y0 + c[2] * x2 + c[3] * x) * (y0 + c[4] * x2) + c[5] * y0 + c[6] * x2
    top = (y1 + c[7] * x2 + c[8] * x) * (y1 + c[9] * y0 + c[10] * x)
    return top + c[11] * y1 + c[12] * y0 + c[13] * x2 + x + one


def _mp_coeffs(c):
    """Coefficients of the 15+ polynomial in 50-digit arithmetic (lists as polynomials)."""

    def mul(p, q):
        r = [mpmath.mpf(0)] * (len(p) + len(q) - 1)
        for i, a in enumerate(p):
            for j, b in enumerate(q):
                r[i + j] += a * b
        return r

    class P(list):
        def __add__(self, o):
            n = max(len(self), len(o))
            return P([(self[k] if k < len(self) else 0) + (o[k] if k < len(o) else 0) for k in range(n)])

        def __mul__(self, o):
            return P(mul(self, o)) if isinstance(o, P) else P([o * v for v in self])

        __rmul__ = __mul__

    return _scheme_15_plus(c, P([mpmath.mpf(1)]), P([mpmath.mpf(0), mpmath.mpf(1)]))


def test_15_plus_coefficients_and_backward_error():
    """_C15 is the solution of the Taylor equations rounded to double; θ₁₅₊ (float64 and float32)
    and the |c_k| behind the series bound follow from it (all recomputed here in mpmath)."""
    with mpmath.workdps(50):
        eqs = lambda *c: [_mp_coeffs(c)[k] - 1 / mpmath.factorial(k) for k in range(2, 16)]  # noqa: E731
        c = mpmath.findroot(eqs, [mpmath.mpf(v) for v in _C15], tol=mpmath.mpf(10) ** -45)
        c = [c[i] for i in range(14)]
        assert np.allclose([float(v) for v in c], _C15, rtol=4e-16, atol=0)
        p = _mp_coeffs(c)
        assert abs(p[16] * mpmath.factorial(16) - mpmath.mpf("0.5457")) < 1e-4
        terms = 80  # h(x) = log(e^{−x} p(x)) = Σ h_k x^k; with q = e^{−x} p = exp(h): k q_k = Σ j h_j q_{k−j}
        q = [
            mpmath.fsum((-1) ** (k - i) * p[i] / mpmath.factorial(k - i) for i in range(min(k, 16) + 1))
            for k in range(terms)
        ]
        h = [mpmath.mpf(0)] * terms
        for k in range(1, terms):
            h[k] = (k * q[k] - mpmath.fsum(j * h[j] * q[k - j] for j in range(1, k))) / k
        h = [abs(v) for v in h]
    assert max(h[:16]) < 1e-40  # p equals e^x through x¹⁵
    assert np.allclose([float(v) for v in h[16:41]], _H15, rtol=1e-12, atol=0)

    def theta(u):
        lo, hi = 0.0, 10.0
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if sum(h[k] * mid ** (k - 1) for k in range(16, terms)) <= u else (lo, mid)
        return lo

    for bits, u in (("64", 2.0**-53), ("32", 2.0**-24)):
        assert abs(theta(u) / dict(_THETA_TAYLOR[bits])[15] - 1) < 1e-12


def _top_choice(a):
    """(15+ chosen, degree-18 squarings) for a matrix past the norm-based range of 15+."""
    a = jnp.asarray(a)
    nb = jnp.asarray(np.abs(np.asarray(a)).sum(axis=0).max())
    c, c2, n2, e, n1 = _top_powers(a, nb)
    return bool(_use15(c, n2, e, n1)), int(_top18((c, c2, n2, e, nb, None))[1])


def test_15_plus_without_squaring_above_its_norm_range():
    # ‖A‖₁ = 2 and β = max(‖A²‖^{1/2}, (‖A²‖⁸‖A‖)^{1/17}) are both above θ₁₅₊, yet the series bound
    # Σ|c_k|‖A²‖^j‖A‖^i ≤ u‖A‖ holds at n = 96: 15+ (four products), no squaring. At n = 64 it
    # does not (‖A²‖ is larger): degree 18 (five products), whose α₂ asks for no squaring either.
    theta15 = dict(_THETA_TAYLOR["64"])[15]
    for n, bound_holds in ((96, True), (64, False)):
        g = rng(40).standard_normal((n, n))
        g *= 2.0 / np.abs(g).sum(axis=0).max()
        n1, n2 = 2.0, np.abs(g @ g).sum(axis=0).max()
        assert max(np.sqrt(n2), n2 ** (8 / 17) * n1 ** (1 / 17)) > theta15
        bound = sum(h * n2 ** (k // 2) * n1 ** (k % 2) for k, h in enumerate(_H15, start=16))
        assert (bound <= 2.0**-53 * n1) == bound_holds
        assert _top_choice(g) == (bound_holds, 0)
        assert _rel(_fwd(g), sl.expm(g)) < 1e-14
    # a normal matrix with ρ = 1.2 > 1: every ‖A^k‖^{1/k} is 1.2, so degree 18 with a squaring
    d = np.diag([1.2, -1.2, 0.5])
    assert _top_choice(d) == (False, 1)
    # a batch takes 15+ only if every matrix may
    both = jnp.asarray(np.stack([np.triu(np.ones((3, 3))) * 0.2, d]))
    c, _, n2, e, n1 = _top_powers(both, jnp.abs(both).sum(axis=-2).max(axis=-1))
    assert not bool(_use15(c, n2, e, n1))
    assert bool(_use15(c[:1], n2[:1], e[:1], n1[:1]))


def test_15_plus_above_its_norm_range_derivatives():
    # ‖B‖₁ > θ₁₅₊ after the trace shift, but ‖B²‖ is small: the 15+ branch of the top degree, with
    # its own tangent (JVP), transpose (VJP) and second order
    a = np.diag([0.3, -0.2, 0.1, 0.0]) + np.diag([1.0, 0.0, 0.8], 1)
    assert _top_choice(a - np.trace(a) / 4 * np.eye(4)) == (True, 0)
    r = rng(22)
    e, w, v = r.standard_normal((3, 4, 4))
    x, lx = _jvp(a, e)
    assert _rel(x, sl.expm(a)) < 1e-15
    assert _rel(lx, sl.expm_frechet(a, e, compute_expm=False)) < 1e-14
    assert _rel(_vjp(a, w), sl.expm_frechet(a.T, w, compute_expm=False)) < 1e-14
    grad = jax.grad(lambda a: jnp.sum(w * _T(a)))
    hv = jax.jvp(grad, (a,), (v,))[1]
    h = 1e-5
    fd = (np.asarray(grad(a + h * v)) - np.asarray(grad(a - h * v))) / (2 * h)
    assert _rel(hv, fd) < 1e-7


# just inside each degree's θ (1, 2, 4, 8, 15+, 18 without squaring), then scaled cases
NORMS = [t * 0.9 for _, t in _THETA_TAYLOR["64"]] + [3.0, 30.0, 300.0]


def _test_matrix(kind, norm):
    r = rng(1)
    a = r.standard_normal((6, 6))
    if kind == "triangular":  # non-normal: strictly upper part 100× the diagonal
        a = np.triu(a) + 99 * np.triu(a, 1)
    if kind == "complex":
        a = a + 1j * r.standard_normal((6, 6))
    a *= norm / np.linalg.norm(a, 1)
    return a, r.standard_normal((6, 6)).astype(a.dtype)


@pytest.mark.parametrize("kind", ["random", "triangular", "complex"])
def test_norms_hit_every_degree(kind):
    # the degree actually used (after the trace shift) for each of NORMS
    table = _THETA_TAYLOR["64"]
    picked = [
        int(_degree_index(_prepare(jnp.asarray(_test_matrix(kind, nrm)[0]))[3], table)) for nrm in NORMS
    ]
    assert set(picked) == set(range(len(table)))
    nb = float(_prepare(jnp.asarray(_test_matrix(kind, NORMS[-1])[0]))[3])
    assert picked[-1] == len(table) - 1 and nb > 100 * table[-1][1]  # and squarings


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kind", ["random", "triangular", "complex"])
def test_matches_scipy_across_norms(norm, kind):
    a, e = _test_matrix(kind, norm)
    x, lx = _jvp(a, e)
    assert x.dtype == a.dtype
    assert _rel(x, sl.expm(a)) < 1e-12
    # the forward (squarings in a while loop) and the JVP (a fixed-trip scan) are separate compiled
    # programs and may round differently: a difference of order eps in the scaled polynomial grows by
    # about 2 per squaring
    nb = float(_prepare(jnp.asarray(a))[3])
    squarings = max(0, math.ceil(math.log2(nb / _THETA_TAYLOR["64"][-1][1])))
    assert _rel(_fwd(a), x) <= 2.0**squarings * np.finfo(np.float64).eps
    assert _rel(lx, sl.expm_frechet(a, e, compute_expm=False)) < 1e-12


def test_larger_matrix():
    a = rng(2).standard_normal((40, 40))
    a *= 25.0 / np.linalg.norm(a, 1)
    e = rng(3).standard_normal((40, 40))
    x, lx = _jvp(a, e)
    assert _rel(x, sl.expm(a)) < 1e-12
    assert _rel(lx, sl.expm_frechet(a, e, compute_expm=False)) < 1e-12


# the hard matrices of the Padé path's edge tests
HARD = {
    "large_offdiagonal": np.array([[1.0, 1e10], [0.0, 1.0]]),
    "minus_1e6_identity": -1e6 * np.eye(3),
    "nilpotent": np.triu(rng(4).standard_normal((4, 4)), 1) * 1e5,
    "rotation_1e4": np.array([[0.0, 1e4], [-1e4, 0.0]]),
    "non_normal_nearly_singular": np.triu(rng(5).standard_normal((5, 5))) * 20 + np.diag([1e-9, 0, 1, -1, 2]),
}


@pytest.mark.parametrize("name", list(HARD))
def test_hard_matrices(name):
    a = HARD[name]
    e = rng(6).standard_normal(a.shape)
    x, lx = _jvp(a, e)
    want = sl.expm(a)
    tol = {"rotation_1e4": 1e-10}.get(name, 1e-12)  # rotation: error ~ θ·eps, the conditioning
    assert _rel(x, want) < tol
    if name == "minus_1e6_identity":
        assert np.array_equal(np.asarray(x), want)
        assert np.all(np.asarray(_vjp(a, np.ones_like(a))) == 0)
    elif name == "large_offdiagonal":
        # A = I + N, N² = 0: L(A, E) = e (E + (NE + EN)/2 + NEN/6) exactly (the block-triangular
        # reference loses 7e-11 here)
        n = a - np.eye(2)
        assert _rel(lx, np.e * (e + (n @ e + e @ n) / 2 + n @ e @ n / 6)) < 1e-14
    else:
        assert _rel(lx, _block_frechet(a, e)) < 10 * tol
    if name == "nilpotent":
        assert _rel(x, np.eye(4) + a + a @ a / 2 + a @ a @ a / 6) < 1e-14


def _degree18_squarings(a):
    return _top_choice(a)[1]


def test_degree18_squarings_from_powers_of_a():
    """s = min over ⌈log₂(α_p/θ₁₈)⌉, α_p = max(d_p, d_{p+1}), d_k = ‖A^k‖₁^{1/k} (Al-Mohy & Higham
    2009, Thm 4.2), and the norm-based ⌈log₂(‖A‖₁/θ₁₈)⌉."""
    theta = _THETA_TAYLOR["64"][-1][1]

    def d(a, k):
        return np.abs(np.linalg.matrix_power(a, k)).sum(axis=0).max() ** (1 / k)

    # A Gaussian matrix of 1-norm 2: the norm asks for one squaring, α₂ < θ for none.
    g = rng(40).standard_normal((64, 64))
    g *= 2.0 / np.abs(g).sum(axis=0).max()
    assert max(d(g, 2), d(g, 3)) < theta < 2.0
    assert _degree18_squarings(g) == 0
    # Nilpotent (J⁴ = 0), weights 10: ‖J‖₁ and α₂ = α₃ = 10 ask for 4; α₄ = max(d₄, d₅) = 0 for none.
    j = np.diag([10.0, 10.0, 10.0], 1)
    assert np.allclose([d(j, 2), d(j, 3)], 10.0) and d(j, 4) == d(j, 5) == 0.0
    assert _degree18_squarings(j) == 0
    x = np.asarray(_fwd(j))
    assert _rel(x, np.eye(4) + j + j @ j / 2 + j @ j @ j / 6) < 1e-15
    # Normal: every d_k = ρ(A) = 4, so s = ⌈log₂(4/θ)⌉ = 2 from every bound.
    assert _degree18_squarings(np.diag([4.0, -4.0, 1.0])) == math.ceil(math.log2(4.0 / theta)) == 2


def test_more_than_16_squarings():
    th = 3e6
    a = np.array([[0.0, th], [-th, 0.0]]) + np.array([[0.0, 1.0], [0.0, 0.0]])
    e = np.array([[0.3, -1.0], [0.5, 0.2]])
    x, lx = _jvp(a, e)
    big = sl.expm(np.block([[a, e], [np.zeros((2, 2)), a]]))
    assert np.abs(np.asarray(x) - big[:2, :2]).max() < 1e-8
    assert _rel(lx, big[:2, 2:]) < 1e-8


def test_out_of_range_is_nan_never_for_finite_norms():
    assert np.all(np.isnan(_fwd(np.array([[np.nan, 0.0], [0.0, 1.0]]))))
    big = rng(15).standard_normal((3, 3)) * 1e6
    assert np.all(np.isnan(matcalc.expm(big, max_squarings=4, method="taylor")))
    # tiny, huge-but-harmless (nilpotent, shifted identity) and 2^40-squaring norms stay finite
    g = rng(16).standard_normal((3, 3))
    skew = (g - g.T) * 1e12  # e^A orthogonal; 44 squarings
    nil = np.array([[0.0, 1e300], [0.0, 0.0]])
    for a in (g * 1e-300, g * 1e-20, nil, -1e300 * np.eye(3) + np.triu(g, 1), skew):
        x = np.asarray(_fwd(a))
        assert np.all(np.isfinite(x))
    assert abs(np.linalg.norm(np.asarray(_fwd(skew)), 2) - 1) < 1e-2


@pytest.mark.parametrize("norm", [0.2, 2.0, 10.0, 60.0])
def test_float32(norm):
    # measured: ≲ 5e-7 up to ‖A‖₁ = 10, then growing like 2e-8·‖A‖₁ (5e-6 at 300); 60 keeps
    # e^A inside float32's range
    tol = 1e-6 * max(1, norm / 10)
    a = rng(11).standard_normal((5, 5))
    a *= norm / np.linalg.norm(a, 1)
    a32 = a.astype(np.float32)
    e32 = rng(12).standard_normal((5, 5)).astype(np.float32)
    x, lx = _jvp(a32, e32)
    assert x.dtype == jnp.float32 and lx.dtype == jnp.float32
    a64 = a32.astype(np.float64)
    assert _rel(x, sl.expm(a64)) < tol
    assert _rel(lx, sl.expm_frechet(a64, e32.astype(np.float64), compute_expm=False)) < tol
    c = (a32 + 1j * a32.T).astype(np.complex64) / 2
    assert _fwd(c).dtype == jnp.complex64
    assert _rel(_fwd(c), sl.expm(c.astype(np.complex128))) < tol


@pytest.mark.parametrize("method", ["taylor", "pade"])
def test_vjp_is_the_transpose(method):
    # ⟨W, L(A, E)⟩ = ⟨L(Aᵀ, W), E⟩ in JAX's bilinear pairing (no conjugation, also for complex A):
    # the VJP is the Fréchet derivative at Aᵀ. Both matrices need squarings.
    r = rng(20)
    vjp = _vjp if method == "taylor" else jax.jit(lambda a, w: jax.vjp(matcalc.expm, a)[1](w)[0])
    for a in (
        r.standard_normal((5, 5)) * 4,
        3 * (r.standard_normal((5, 5)) + 1j * r.standard_normal((5, 5))),
    ):
        e = r.standard_normal((5, 5)).astype(a.dtype)
        w = r.standard_normal((5, 5)).astype(a.dtype)
        g = vjp(a, w)
        lx = _jvp(a, e)[1]
        assert (
            abs(np.sum(np.asarray(w) * np.asarray(lx)) - np.sum(np.asarray(g) * e)) < 1e-12 * np.abs(g).sum()
        )
        assert _rel(g, sl.expm_frechet(a.T, w, compute_expm=False)) < 1e-12


def test_second_order_against_finite_differences():
    r = rng(21)
    a = r.standard_normal((4, 4)) * 1.5  # degree 18 with a squaring
    w, v = r.standard_normal((2, 4, 4))
    grad = jax.grad(lambda a: jnp.sum(w * _T(a)))
    hv = jax.jvp(grad, (a,), (v,))[1]
    h = 1e-5
    fd = (np.asarray(grad(a + h * v)) - np.asarray(grad(a - h * v))) / (2 * h)
    assert _rel(hv, fd) < 1e-7


def test_batch_and_vmap_with_mixed_norms():
    norms = np.array([1e-3, 0.2, 1.0, 5.0, 20.0, 300.0])
    a = rng(12).standard_normal((6, 4, 4))
    a *= (norms / np.linalg.norm(a, 1, axis=(-2, -1)))[:, None, None]
    e = rng(13).standard_normal((6, 4, 4))
    x, lx = _jvp(a, e)
    for k in range(6):  # per-matrix squarings: each as accurate as alone
        assert _rel(x[k], sl.expm(a[k])) < 1e-13 * max(1, norms[k])
        assert _rel(lx[k], _block_frechet(a[k], e[k])) < 1e-12 * max(1, norms[k])
    assert _rel(jax.vmap(_T)(a), x) < 1e-14
    w = rng(14).standard_normal((6, 4, 4))
    gb = _vjp(a, w)
    for k in range(6):
        assert _rel(gb[k], _vjp(a[k], w[k])) < 1e-13


def test_jit_does_not_recompile_across_norms():
    traces = []

    @jax.jit
    def f(a):
        traces.append(1)
        return _T(a)

    base = rng(30).standard_normal((3, 3))
    for norm in (1e-12, 1e-3, 0.05, 0.3, 1.0, 50.0):
        a = base * norm
        # mpmath reference: at norm 50 (‖A‖₁ ≈ 170) SciPy itself is off by 2e-12
        want = np.array(mpmath.expm(mpmath.matrix(a.tolist())).tolist(), dtype=float)
        assert _rel(f(a), want) < 1e-13
    assert len(traces) == 1


def test_bad_method():
    with pytest.raises(ValueError, match=r"expm: method must be one of 'pade', 'taylor'; got 'Taylor'"):
        matcalc.expm(np.eye(2), method="Taylor")
    with pytest.raises(ValueError, match="method must be one of"):
        matcalc.expm(np.eye(2), method=None)


def test_strongly_non_normal_triangular():
    # O(1) diagonal, off-diagonal 1e5: reference e^A = V e^Λ V⁻¹ in 120-digit mpmath (distinct
    # eigenvalues). Measured 2e-13 (Padé: 1e-14); the error grows with the non-normality.
    a = np.triu(rng(3).standard_normal((4, 4)), 1) * 1e5 + np.diag([1.0, 2.0, -1.0, 0.5])
    with mpmath.workdps(120):
        lam, v = mpmath.eig(mpmath.matrix(a.tolist()))
        want = v * mpmath.diag([mpmath.exp(t) for t in lam]) * mpmath.inverse(v)
        want = np.array(want.tolist(), dtype=float)
    assert _rel(_fwd(a), want) < 1e-12
