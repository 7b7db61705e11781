"""Matrix exponential by scaling and squaring with optimized Taylor polynomials, and its Fréchet
derivative.

Forward: the Taylor polynomials ``T_m`` of degree m ∈ {1, 2, 4, 8, 12, 18} evaluated with
0, 1, 2, 3, 4, 5 matrix products and no solve, by the schemes of Bader, Blanes & Casas
("Computing the matrix exponential with an optimized Taylor polynomial approximation",
Mathematics 7(12):1174, 2019, Sections 3–4; here "BBC"). Degree and scaling come from the
backward error of ``T_m``: with ``h_m(x) = log(e^{−x} T_m(x)) = Σ_{k>m} c_k x^k``, ``θ_m`` is the
largest θ with ``Σ_{k>m} |c_k| θ^{k−1} ≤ u`` (u = 2⁻⁵³, float32 2⁻²⁴). For degree 18 the number
of squarings is the smallest of the norm-based one and those from ``α_p = max(d_p, d_{p+1})``,
``d_k = ‖A^k‖₁^{1/k}`` (Al-Mohy & Higham 2009, Thm 4.2: ``‖h_m(A)‖ ≤ Σ |c_k| α_p^k`` for
``p(p−1) ≤ m + 1``): α₂ from the exact norms of A² and A³, which the scheme forms anyway, and,
only where squarings remain after that, α₃ and α₄ with d₄ and d₅ by a 1-norm estimator. The trace
shift, per-matrix squarings in a batch and the bound on squarings are those of the Padé path.

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

# θ_m for T_m (degrees 1, 2, 4, 8, 12, 18), recomputed here from the series of h_m in mpmath
# (80 digits, 200 terms, bisection); they agree with BBC (2019), Table 1, to the digits printed.
_THETA_TAYLOR = {
    "64": (
        (1, 2.220446049250313e-16),
        (2, 2.580956802971767e-08),
        (4, 3.397168839976962e-04),
        (8, 4.991228871115323e-02),
        (12, 2.996158913811580e-01),
        (18, 1.090863719290036e00),
    ),
    "32": (
        (1, 1.192092800768788e-07),
        (2, 5.978858893805233e-04),
        (4, 5.116619363445086e-02),
        (8, 5.800524627688768e-01),
        (12, 1.461661507209034e00),
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
# Degree 12 (BBC eq. (11)): B_i = Σ_j a_{j,i} A^j (j = 0..3), A₆ = B₃ + B₄², T₁₂ = B₁ + (B₂ + A₆)A₆.
# Rows j = 0..3, columns i = 1..4. a_{0,2} = 4.6, a_{3,2} = 0.0017299 and a_{0,4} = 0 are BBC's
# choices; the other 13 solve the 13 equations "coefficient of x^k is 1/k!" (k = 0..12), refined
# here by Newton's method in mpmath from BBC's printed values (residual < 1e-60).
_C12 = (
    (-0.01860232051462055322434, 4.6, 0.2116931182998094429493, 0.0),
    (
        -0.005007023225733177309797,
        0.9928751035384868361405,
        0.1582243847157267253718,
        -0.1318106101383018401568,
    ),
    (
        -0.573420122960522263906,
        -0.1324455610527996388451,
        0.1656351694367274150112,
        -0.02027855540589259079336,
    ),
    (-0.1333996939438920597008, 0.0017299, 0.01078627793157924250263, -0.006759518468630863597786),
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
TAYLOR_DEGREES = (1, 2, 4, 8, 12, 18)
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
    """``T_m(x)`` (dual) by the BBC scheme of degree m; ``x2``/``x3`` may be given (duals)."""
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
    if x3 is None:
        x3 = _mul(x2, x)
    pw = (eye, x, x2, x3)
    if m == 12:
        b = [_lin([(_C12[j][i], pw[j]) for j in range(4)]) for i in range(4)]
        a6 = _add(b[2], _mul(b[3], b[3]))
        return _add(b[0], _mul(_add(b[1], a6), a6))
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
    """Degree m for the whole batch: per-matrix squarings s, x = b·2^{-s}, ``T_m(x)`` and (if
    ``db`` is given) its derivative in direction ``db·2^{-s}``, linear in db."""
    dtype = b.dtype
    real = jnp.finfo(dtype).dtype
    s = jnp.zeros(nb.shape, jnp.int32)
    x2 = x3 = None
    if top:
        theta = dict(_theta_table(dtype))[m]
        s = _ceil_log2(nb / theta)
        # Powers of c = b·2^{-e} with ‖c‖₁ ≤ 2^15 cannot overflow; d_k(b) = 2^e d_k(c).
        e = _ceil_log2(nb / 2.0**15)
        c = _scal(b, e)
        c2 = mm(c, c)
        c3 = mm(c2, c)
        scale = jnp.exp2(e.astype(real))
        d3 = _norm1(c3) ** (1 / 3)
        # p = 2: α₂ = max(d₂, d₃) from the exact norms of the powers the scheme forms anyway.
        s = jnp.minimum(s, _ceil_log2(jnp.maximum(_norm1(c2) ** (1 / 2), d3) * scale / theta))

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
    else:
        xv = b
    sc = jnp.exp2(-s.astype(real))[..., None, None].astype(dtype)
    dx = None if db is None else db * sc  # the tangent is scaled by a multiplication (linear)
    x = (xv, dx)
    if top:
        x2 = (x2v, None if db is None else mm(xv, dx) + mm(dx, xv))
        x3 = (x3v, None if db is None else mm(x2v, dx) + mm(x2[1], xv))
    tv, td = _taylor_poly(m, x, x2, x3)
    if db is not None and td is None:
        td = jnp.zeros_like(tv)
    return (tv, s) if db is None else (tv, td, s)


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
    r = c0 * tm
    bad = (s > max_squarings) | ~jnp.isfinite(nb)
    poison = jnp.where(bad, jnp.nan, 1.0).astype(a.dtype)[..., None, None]
    if da is None:
        smax = jnp.max(s)

        def body(carry):
            i, r = carry
            return i + 1, jnp.where((i < s)[..., None, None], mm(r, r), r)

        _, r = lax.while_loop(lambda c: c[0] < jnp.minimum(smax, max_squarings), body, (0, r))
        return r * poison, None
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
