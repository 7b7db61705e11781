"""Matrix exponential by scaling and squaring with optimized Taylor polynomials, and its Fréchet
derivative.

Forward: polynomial approximants of degree m ∈ {1, 2, 4, 8, 15+, 18} evaluated with
0, 1, 2, 3, 4, 5 matrix products and no solve: the Taylor polynomials ``T_m`` by the schemes of
Bader, Blanes & Casas ("Computing the matrix exponential with an optimized Taylor polynomial
approximation", Mathematics 7(12):1174, 2019, Sections 3–4; here "BBC"), and "15+", the
degree-16 polynomial of Sastre, Ibáñez & Defez ("Boosting the computation of the matrix
exponential", Appl. Math. Comput. 340:206–220, 2019, Section 3) that equals ``T_15`` through x¹⁵
and has 0.546/16! as its x¹⁶ coefficient. Degree and scaling come from the backward error: with
``h_m(x) = log(e^{−x} p_m(x)) = Σ_k c_k x^k`` (k > 15 for 15+, k > m otherwise), ``θ_m`` is the
largest θ with ``Σ |c_k| θ^{k−1} ≤ u`` (u = 2⁻⁵³, float32 2⁻²⁴). Above the norm-based range of
15+, 15+ still serves without squaring where ``β = max(‖A²‖^{1/2}, (‖A²‖⁸‖A‖)^{1/17}) ≤ θ_{15+}``
(‖A^k‖ ≤ β^k for every k ≥ 16, so ``‖h(A)‖ ≤ Σ |c_k| β^k``) or where the series itself,
``Σ_{k≥16} |c_k| ‖A²‖^{⌊k/2⌋} ‖A‖^{k mod 2}``, is at most ``u‖A‖`` (norms from A², which it
forms anyway). Otherwise degree 18 is used, with the number of squarings the smallest of the norm-based
one and those from ``α_p = max(d_p, d_{p+1})``, ``d_k = ‖A^k‖₁^{1/k}`` (Al-Mohy & Higham 2009,
Thm 4.2: ``‖h_m(A)‖ ≤ Σ |c_k| α_p^k`` for ``p(p−1) ≤ m + 1``): α₂ from the exact norms of A² and
A³, which the scheme forms anyway, and, only where squarings remain after that, α₃ and α₄ with
d₄ and d₅ by a 1-norm estimator. The trace shift, per-matrix squarings in a batch and the bound
on squarings are those of the Padé path.

Derivative: each product of the evaluation scheme is differentiated, ``d(XY) = dX·Y + X·dY``
(degree 18: 10 products for the tangent), then the squaring phase ``L ← R L + L R`` (the Padé
path's squaring-chain primitive, whose transpose is the same chain at ``Rᴴ``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import Array, lax

from .._core import _H, eye_like, mm, mv, trace
from .expm import _ceil_log2, _degree_index, _norm1, _prepare, _scal, _square_scan, squaring_chain_p

# θ_m (degrees 1, 2, 4, 8, 15+, 18), computed here from the series of h_m in mpmath (80–100
# digits, 150–200 terms, bisection); those of T_m agree with BBC (2019), Table 1, to the digits
# printed.
_THETA_TAYLOR = {
    "64": (
        (1, 2.220446049250313e-16),
        (2, 2.580956802971767e-08),
        (4, 3.397168839976962e-04),
        (8, 4.991228871115323e-02),
        (15, 6.764217495424514e-01),
        (18, 1.090863719290036e00),
    ),
    "32": (
        (1, 1.192092800768788e-07),
        (2, 5.978858893805233e-04),
        (4, 5.116619363445086e-02),
        (8, 5.800524627688768e-01),
        (15, 2.346206912756924e00),
        (18, 3.010066362817634e00),
    ),
}

# Degree 8 (BBC eq. (10), with x₃ = 2/3): A₄ = A₂(x₁A + x₂A₂),
# A₈ = (x₃A₂ + A₄)(x₄I + x₅A + x₆A₂ + x₇A₄), T₈ = I + A + y₂A₂ + A₈.
_R177 = math.sqrt(177.0)
_X3 = 2.0 / 3.0
_C8 = {
    "x1": _X3 * (1 + _R177) / 88,
    "x2": _X3 * (1 + _R177) / 352,
    "x3": _X3,
    "x4": (-271 + 29 * _R177) / (315 * _X3),
    "x5": 11 * (-1 + _R177) / (1260 * _X3),
    "x6": 11 * (-9 + _R177) / (5040 * _X3),
    "x7": (89 - _R177) / (5040 * _X3**2),
    "y2": (857 - 58 * _R177) / 630,
}
# Degree 15+ (Sastre, Ibáñez & Defez 2019, eq. (10)–(12) with their coefficient choice):
#   y₀ = A₂(c₀A₂ + c₁A),  y₁ = (y₀ + c₂A₂ + c₃A)(y₀ + c₄A₂) + c₅y₀ + c₆A₂,
#   p = (y₁ + c₇A₂ + c₈A)(y₁ + c₉y₀ + c₁₀A) + c₁₁y₁ + c₁₂y₀ + c₁₃A₂ + A + I.
# The 14 coefficients solve "coefficient of x^k is 1/k!" (k = 2..15); refined here by Newton's
# method in mpmath from the printed values (residual < 1e-80). The x¹⁶ coefficient is then
# 0.5457/16!, which the θ of 15+ accounts for.
_C15 = (
    0.0004018761610201035462933,
    0.002945531440279682980475,
    -0.008709066576837675967653,
    0.4017568440673567801524,
    0.03230762888122312081975,
    5.768988513026144729133,
    0.02338576034271298833677,
    0.2381070373870987224693,
    2.22420917249637356119,
    -5.792361707073260521798,
    -0.04130276365929782911033,
    10.40801735231354364615,
    -63.31712455883370716153,
    0.3484665863364574085406,
)
# Degree 18 (BBC eq. (16)): A₆ = A₃², B₁ = Σ_{j≤3} a_{j1} A^j, B_i = Σ_{j∈{0,1,2,3,6}} b_{j,i} A^j
# (i = 2..5), A₉ = B₁B₅ + B₄, T₁₈ = B₂ + (B₃ + A₉)A₉. a_{01} = b_{0,2} = b_{0,5} = b_{1,5} = 0 (BBC);
# the other 20 satisfy the 19 Taylor equations (k = 0..18), refined here by minimum-norm Newton
# steps in mpmath from BBC's printed values (residual < 1e-60).
_A18 = (0.0, -0.1003655810301446200161, -0.008029246482411569601285, -0.0008921384980457299556983)
_B18 = (  # columns B₂, B₃, B₄, B₅; rows: powers 0, 1, 2, 3, 6
    (0.0, -10.96763960529620625935, -0.09043168323908105619715, 0.0),
    (0.3978497494996450761452, 1.680158138789061971828, -0.06764045190713819075601, 0.0),
    (
        1.367837784604117199225,
        0.05717798464788655127029,
        0.06759613017704596460828,
        -0.09233646193671185927512,
    ),
    (
        0.4982896225253826775569,
        -0.006982101224880520842905,
        0.02955525704293155274261,
        -0.01693649390020817171889,
    ),
    (
        -0.0006378981945947233092416,
        0.00003349750170860705383134,
        -0.00001391802575160607011247,
        -0.00001400867981820361597923,
    ),
)
# |c_k|, k = 16..40, of h(x) = log(e^{−x} p(x)) = Σ c_k x^k for 15+ (mpmath, 100 digits); the
# terms past 40 are below 1e-30 wherever they are used (‖A²‖ ≤ 1).
_H15 = (
    2.1711086342891314e-14,
    1.8899629088545794e-14,
    8.200277986785999e-15,
    2.3607571977483632e-15,
    5.063388199215226e-16,
    8.609482007196363e-17,
    1.2050205782851377e-17,
    1.4215974173514773e-18,
    1.4334065562830763e-19,
    1.2414483978992304e-20,
    9.17240194644083e-22,
    5.609521944111633e-23,
    2.5628558677697358e-24,
    4.5903673349054275e-26,
    6.803771903363677e-27,
    1.082392461743174e-27,
    1.3119190692754278e-28,
    4.021488351254368e-28,
    3.5607388681364355e-28,
    2.062020042336115e-28,
    8.923089073671478e-29,
    3.0797587242024675e-29,
    8.827484274117513e-30,
    2.159953064964807e-30,
    4.602332376958208e-31,
)
TAYLOR_DEGREES = (1, 2, 4, 8, 15, 18)  # 15 is the 15+ scheme (a degree-16 polynomial)
TAYLOR_PRODUCTS = dict(zip(TAYLOR_DEGREES, range(6), strict=True))


def _theta_table(dtype):
    return _THETA_TAYLOR["32" if jnp.finfo(dtype).bits == 32 else "64"]


# ---------------------------------------------------------------------------------------------
# Dual matrices (X, dX): dX is None where the tangent is not wanted (forward) or is zero (I).


def _mul(p, q):
    """``(PQ, dP·Q + P·dQ)``."""
    (pv, pd), (qv, qd) = p, q
    d = ([mm(pd, qv)] if pd is not None else []) + ([mm(pv, qd)] if qd is not None else [])
    return mm(pv, qv), (sum(d[1:], d[0]) if d else None)


def _lin(terms):
    """``Σ c_k X_k`` of dual matrices (terms with c = 0 dropped)."""
    terms = [(c, x) for c, x in terms if c != 0]
    v = sum(c * x[0] for c, x in terms)
    ds = [c * x[1] for c, x in terms if x[1] is not None]
    return v, (sum(ds[1:], ds[0]) if ds else None)


def _add(*xs):
    return _lin([(1.0, x) for x in xs])


def _taylor_poly(m, x, x2=None, x3=None):
    """``p_m(x)`` (dual) by the scheme of degree m (15: 15+); ``x2``/``x3`` may be given (duals)."""
    eye = (jnp.broadcast_to(eye_like(x[0]), x[0].shape), None)
    if m == 1:
        return _add(eye, x)
    if x2 is None:
        x2 = _mul(x, x)
    if m == 2:
        return _lin([(1.0, eye), (1.0, x), (0.5, x2)])
    if m == 4:
        inner = _lin([(0.5, eye), (1 / 6, x), (1 / 24, x2)])
        return _add(eye, x, _mul(x2, inner))
    if m == 8:
        c = _C8
        x4 = _mul(x2, _lin([(c["x1"], x), (c["x2"], x2)]))
        x8 = _mul(
            _lin([(c["x3"], x2), (1.0, x4)]),
            _lin([(c["x4"], eye), (c["x5"], x), (c["x6"], x2), (c["x7"], x4)]),
        )
        return _lin([(1.0, eye), (1.0, x), (c["y2"], x2), (1.0, x8)])
    if m == 15:
        c = _C15
        y0 = _mul(x2, _lin([(c[0], x2), (c[1], x)]))
        y1 = _lin(
            [
                (1.0, _mul(_lin([(1.0, y0), (c[2], x2), (c[3], x)]), _lin([(1.0, y0), (c[4], x2)]))),
                (c[5], y0),
                (c[6], x2),
            ]
        )
        top = _mul(_lin([(1.0, y1), (c[7], x2), (c[8], x)]), _lin([(1.0, y1), (c[9], y0), (c[10], x)]))
        return _lin([(1.0, top), (c[11], y1), (c[12], y0), (c[13], x2), (1.0, x), (1.0, eye)])
    if x3 is None:
        x3 = _mul(x2, x)
    x6 = _mul(x3, x3)
    pw = (eye, x, x2, x3, x6)
    b1 = _lin([(_A18[j], pw[j]) for j in range(4)])
    b2, b3, b4, b5 = (_lin([(_B18[j][i], pw[j]) for j in range(5)]) for i in range(4))
    a9 = _add(_mul(b1, b5), b4)
    return _add(b2, _mul(_add(b3, a9), a9))


def _normest_prod(x, y):
    """Lower estimate of ‖x·y‖₁ (Hager/Higham 1-norm estimator, two steps, O(n²) work)."""
    n = x.shape[-1]
    real = jnp.finfo(x.dtype).dtype
    v = jnp.full((*x.shape[:-1],), 1.0 / n, dtype=x.dtype)
    w = mv(x, mv(y, v))
    est1 = jnp.sum(jnp.abs(w), axis=-1)
    aw = jnp.abs(w)
    sgn = jnp.where(aw == 0, jnp.ones_like(w), w / jnp.where(aw == 0, 1, aw).astype(x.dtype))
    z = mv(_H(y), mv(_H(x), sgn))
    j = jnp.argmax(jnp.abs(z), axis=-1)
    ej = jax.nn.one_hot(j, n, dtype=real).astype(x.dtype)
    est2 = jnp.sum(jnp.abs(mv(x, mv(y, ej))), axis=-1)
    return jnp.maximum(est1, est2)


def _branch(m, top, b, nb, db):
    """Degree m for the whole batch (``top``: 15+ or 18, chosen below): per-matrix squarings s,
    x = b·2^{-s}, ``p_m(x)`` and (if ``db`` is given) its derivative in direction ``db·2^{-s}``,
    linear in db."""
    if not top:
        x = (b, db)
        tv, td = _taylor_poly(m, x)
        return _finish(tv, td, jnp.zeros(nb.shape, jnp.int32), db)
    c, c2, n2, e, n1 = _top_powers(b, nb)
    return lax.cond(_use15(c, n2, e, n1), _top15, _top18, (c, c2, n2, e, nb, db))


def _top_powers(b, nb):
    """``c = b·2^{-e}`` (e ≥ 0, ‖c‖₁ ≤ 2^15 so that its powers cannot overflow; d_k(b) = 2^e d_k(c)),
    c², ‖c²‖₁, e and ‖c‖₁."""
    e = jnp.maximum(_ceil_log2(nb / 2.0**15), 0)
    c = _scal(b, e)
    c2 = mm(c, c)
    return c, c2, _norm1(c2), e, nb * jnp.exp2(-e.astype(nb.dtype))  # ‖c‖₁, exactly


def _use15(c, n2, e, n1):
    """Whether 15+ serves the whole batch without squaring. ‖A^k‖ ≤ ‖A²‖^j ‖A‖^i for k = 2j + i
    (i = 0, 1), so ‖A^k‖ ≤ β^k for every k ≥ 16 and ‖h(A)‖ ≤ Σ |c_k| ‖A²‖^j ‖A‖^i; either bound
    within the backward error u‖A‖ will do (e = 0 then, so x = c = b)."""
    theta15 = dict(_theta_table(c.dtype))[15]
    beta = jnp.maximum(jnp.sqrt(n2), n2 ** (8 / 17) * n1 ** (1 / 17))
    u = jnp.finfo(c.dtype).eps / 2
    series = sum(h * n2 ** (k // 2) * (n1 if k % 2 else 1.0) for k, h in enumerate(_H15, start=16))
    return jnp.all(((beta <= theta15) | ((beta <= 1) & (series <= u * n1))) & (e == 0))


def _finish(tv, td, s, db):
    if db is not None and td is None:
        td = jnp.zeros_like(tv)
    return (tv, s) if db is None else (tv, td, s)


def _top15(ops):
    """15+ without squaring (``_use15``: e = 0 and c = b)."""
    c, c2, _, _, nb, db = ops
    x2 = (c2, None if db is None else mm(c, db) + mm(db, c))
    tv, td = _taylor_poly(15, (c, db), x2)
    return _finish(tv, td, jnp.zeros(nb.shape, jnp.int32), db)


def _top18(ops):
    """Degree 18 with squarings from the norm and the ``α_p`` bounds."""
    c, c2, n2, e, nb, db = ops
    dtype = c.dtype
    real = jnp.finfo(dtype).dtype
    theta = dict(_theta_table(dtype))[18]
    s = _ceil_log2(nb / theta)
    c3 = mm(c2, c)
    scale = jnp.exp2(e.astype(real))
    d3 = _norm1(c3) ** (1 / 3)
    # p = 2: α₂ = max(d₂, d₃) from the exact norms of the powers the scheme forms anyway.
    s = jnp.minimum(s, _ceil_log2(jnp.maximum(n2 ** (1 / 2), d3) * scale / theta))

    def refine(s):
        # p = 3, 4: α = min(max(d₃, d₄), max(d₄, d₅)), d₄ and d₅ estimated (O(n²) each).
        d4 = _normest_prod(c2, c2) ** (1 / 4)
        d5 = _normest_prod(c2, c3) ** (1 / 5)
        alpha = jnp.minimum(jnp.maximum(d3, d4), jnp.maximum(d4, d5)) * scale
        return jnp.minimum(s, _ceil_log2(alpha / theta))

    # The estimates only matter where squarings remain.
    s = lax.cond(jnp.any(s > 0), refine, lambda s: s, s)
    t = e - s  # x = b·2^{-s} = c·2^{t}, exactly
    xv = _scal(c, -t)
    x2v, x3v = _scal(c2, -2 * t), _scal(c3, -3 * t)
    sc = jnp.exp2(-s.astype(real))[..., None, None].astype(dtype)
    dx = None if db is None else db * sc  # the tangent is scaled by a multiplication (linear)
    x2 = (x2v, None if db is None else mm(xv, dx) + mm(dx, xv))
    x3 = (x3v, None if db is None else mm(x2v, dx) + mm(x2[1], xv))
    tv, td = _taylor_poly(18, (xv, dx), x2, x3)
    return _finish(tv, td, s, db)


def _expm_taylor_impl(a, max_squarings, da=None):
    """Forward (``da is None``: squarings in a while loop) or value and Fréchet derivative
    (squarings in the fixed-trip scan and the squaring-chain primitive of the Padé path)."""
    table = _theta_table(a.dtype)
    b, mu, use, nb = _prepare(a)
    idx = _degree_index(nb, table)
    degrees = [m for m, _ in table]
    top = len(degrees) - 1
    real = jnp.finfo(a.dtype).dtype
    if da is None:
        branches = [
            (lambda m, t: lambda ops: _branch(m, t, *ops, None))(m, k == top) for k, m in enumerate(degrees)
        ]
        tm, s = lax.switch(idx, branches, (b, nb))
    else:
        # Trace shift: a = μI + b with dμ = tr(da)/n (where the shift is used), db = da − dμ I.
        dmu = use.astype(a.dtype) * trace(da) / a.shape[-1]
        db = da - dmu[..., None, None] * jnp.broadcast_to(eye_like(a), a.shape)
        branches = [
            (lambda m, t: lambda ops: _branch(m, t, *ops))(m, k == top) for k, m in enumerate(degrees)
        ]
        tm, dtm, s = lax.switch(idx, branches, (b, nb, db))
    sc = jnp.exp2(-s.astype(real))[..., None, None].astype(a.dtype)
    c0 = jnp.exp(mu[..., None, None] * sc)  # e^{μ/2^s}
    bad = (s > max_squarings) | ~jnp.isfinite(nb)
    poison = jnp.where(bad, jnp.nan, 1.0).astype(a.dtype)[..., None, None]
    if da is None:
        smax = jnp.max(s)

        def body(carry):
            i, r = carry
            return i + 1, jnp.where((i < s)[..., None, None], mm(r, r), r)

        # NaN where out of range, set before the squarings (which keep it): one pass fewer
        r = (c0 * poison) * tm
        _, r = lax.while_loop(lambda c: c[0] < jnp.minimum(smax, max_squarings), body, (0, r))
        return r, None
    r = c0 * tm
    # R0 = e^{μ'} T_m(x), μ' = μ/2^s ⇒ dR0 = e^{μ'}(dμ' T_m + dT_m)
    lr = c0 * (dtm + (sc * dmu[..., None, None]) * tm)
    r_s = _square_scan(r, s, max_squarings)
    lr = squaring_chain_p.bind(r, s, lr, max_trips=max_squarings)
    # NaN where out of range; the tangent is scaled (not selected) so that it stays linear.
    return r_s * poison, lr * poison


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _expm_taylor_rule(a, max_squarings: int):
    return _expm_taylor_impl(a, max_squarings)[0]


@_expm_taylor_rule.defjvp
def _expm_taylor_rule_jvp(max_squarings, primals, tangents):
    (a,), (da,) = primals, tangents
    return _expm_taylor_impl(a, max_squarings, da)


@functools.partial(jax.jit, static_argnums=1)
def expm_taylor_jit(a: Array, max_squarings: int) -> Array:
    """``exp(a)`` by the optimized Taylor scheme (validated input; see ``matcalc.expm``)."""
    return _expm_taylor_rule(a, max_squarings)
