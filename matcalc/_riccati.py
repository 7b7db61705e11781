"""Continuous and discrete algebraic Riccati equations with derivative rules, GPU-capable (no Schur).

Forward (value only, never differentiated by autodiff):

* CARE: the matrix sign function of the Hamiltonian ``[[A, −G], [−Q, −Aᴴ]]`` (Roberts 1980; Gardiner
  & Laub 1986), the stabilizing solution read off ``(sign H + I) [I; X] = 0`` by least squares, then
  Newton–Kleinman corrections ``Acᴴ Δ + Δ Ac = −Res(X)`` on matcalc's Lyapunov solver.
* DARE: the structure-preserving doubling algorithm (SDA; Chu, Fan & Lin 2005), then Newton–Hewer
  corrections ``Acᴴ Δ Ac − Δ + Res(X) = 0`` on matcalc's Stein solver.

Both end with a check that the closed loop is stable (a spectral radius below one by repeated
squaring, after a Cayley map for the CARE); where it fails, or the residual is not small, the result
is NaN.

Derivative (one rule for both, by the implicit function theorem; Kao & Hennequin, arXiv 2011.11430):
at the solution the gain ``K`` is stationary, so differentiating the equation written with the gain
held fixed gives a Lyapunov (CARE) or Stein (DARE) equation in ``dX`` with the closed-loop matrix
``Ac = A − B K``, solved by matcalc's (linear-in-the-right-hand-side, differentiable) Lyapunov
solvers; reverse mode is JAX's transposition of that solve.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.typing import ArrayLike

from ._core import _H, check_square, eye_like, mm, promote_inexact, relative_tol, symmetrize
from ._core.primitives import is_tracer
from ._equations import solve_continuous_lyapunov, solve_discrete_lyapunov
from ._matfun.signm import signm

NEWTON_MAX_STEPS = 8
SDA_MAX_STEPS = 64
STABILITY_SQUARINGS = 64


def _solve(a, b):
    return jnp.linalg.solve(a, b)


def _norm1(x):
    return jnp.max(jnp.sum(jnp.abs(x), axis=-2), axis=-1)


# ---------------------------------------------------------------------------------------------
# reduction to the standard forms  Aᴴ X + X A − X G X + Q = 0  and  X = Aᴴ X (I + G X)⁻¹ A + Q


def _reduce_e(a, q, e, s):
    # E nonsingular: multiply the equation by E⁻ᴴ (left) and E⁻¹ (right): the same X solves the
    # equation with Â = A E⁻¹, Ŝ = E⁻ᴴ S, Q̂ = E⁻ᴴ Q E⁻¹ and E = I.
    if e is not None:
        eh = _H(e)
        a = _H(_solve(eh, _H(a)))
        q = symmetrize(_H(_solve(eh, _H(_solve(eh, q)))))
        if s is not None:
            s = _solve(eh, s)
    return a, q, s


def _reduce(a, b, q, r, e, s):
    a, q, s = _reduce_e(a, q, e, s)
    # cross term: (X B + S) R⁻¹ (Bᴴ X + Sᴴ) = X B R⁻¹ Bᴴ X + ... ⇒ Ã = A − B R⁻¹ Sᴴ,
    # Q̃ = Q − S R⁻¹ Sᴴ (the same for the DARE's (Aᴴ X B + S) term).
    g = mm(b, _solve(r, _H(b)))
    if s is not None:
        rsh = _solve(r, _H(s))
        a = a - mm(b, rsh)
        q = q - mm(s, rsh)
    return a, symmetrize(g), symmetrize(q)


def _scale(g, q):
    # X = α Y: Y solves the same equation with (α G, Q / α); α = sqrt(‖Q‖/‖G‖) balances them.
    ng, nq = _norm1(g), _norm1(q)
    alpha = jnp.where((ng > 0) & (nq > 0), jnp.sqrt(nq / jnp.where(ng > 0, ng, 1)), 1.0)
    alpha = jnp.where(jnp.isfinite(alpha), alpha, 1.0)
    ac = alpha.astype(g.dtype)[..., None, None]
    return alpha, g * ac, q / ac


def _spectral_radius_below_one(c):
    """``ρ(c) < 1`` by repeated squaring: ``c^(2^64)`` underflows for a stable matrix and
    overflows (inf/NaN) otherwise; exact powers never exceed the transient peak."""
    p = lax.fori_loop(0, STABILITY_SQUARINGS, lambda _, m: mm(m, m), c)
    return jnp.max(jnp.abs(p), axis=(-2, -1)) < 1


def _newton(x, step, tol):
    """Newton corrections ``x ← x + step(x)`` until ``‖Δ‖₁ ≤ tol ‖x‖₁`` (per matrix; at most
    NEWTON_MAX_STEPS), on the value only."""
    batch = x.shape[:-2]

    def cond(carry):
        k, _, active = carry
        return (k < NEWTON_MAX_STEPS) & jnp.any(active)

    def body(carry):
        k, x, active = carry
        dx = step(x)
        x_new = symmetrize(x + dx)
        small = _norm1(dx) <= tol * _norm1(x_new)
        x = jnp.where(active[..., None, None], x_new, x)
        return k + 1, x, active & ~small & jnp.all(jnp.isfinite(dx), axis=(-2, -1))

    _, x, _ = lax.while_loop(cond, body, (0, x, jnp.ones(batch, bool)))
    return x


def _tol(x):
    return relative_tol(x.dtype, x.shape[-1], factor=10)


# ---------------------------------------------------------------------------------------------
# CARE


def _care_residual(a, g, q, x):
    return mm(_H(a), x) + mm(x, a) - mm(mm(x, g), x) + q


def _care_value(a, b, q, r, e, s):
    a, g, q = _reduce(a, b, q, r, e, s)
    n = a.shape[-1]
    alpha, gs, qs = _scale(g, q)
    # stable invariant subspace of H = [[A, −G], [−Q, −Aᴴ]] is span [I; Y]; (sign H + I)[I; Y] = 0
    h = jnp.concatenate([jnp.concatenate([a, -gs], -1), jnp.concatenate([-qs, -_H(a)], -1)], -2)
    z = signm(h)
    eye = eye_like(a)
    lhs = jnp.concatenate([z[..., :n, n:], z[..., n:, n:] + eye], -2)
    rhs = -jnp.concatenate([z[..., :n, :n] + eye, z[..., n:, :n]], -2)
    qf, rf = jnp.linalg.qr(lhs)
    y = lax.linalg.triangular_solve(rf, mm(_H(qf), rhs), left_side=True, lower=False)
    x = symmetrize(y * alpha.astype(a.dtype)[..., None, None])

    def step(x):
        # Newton–Kleinman in correction form: (A − G X)ᴴ Δ + Δ (A − G X) = −Res(X)
        ac = a - mm(g, x)
        return solve_continuous_lyapunov(_H(ac), -_care_residual(a, g, q, x))

    x = _newton(x, step, _tol(x))
    # stabilizing: A − G X stable ⇔ ρ((γ − Ac)⁻¹(γ + Ac)) < 1 (Cayley map, γ > 0)
    ac = a - mm(g, x)
    gamma = jnp.sqrt(jnp.sum(jnp.abs(ac) ** 2, axis=(-2, -1)) / n) + jnp.finfo(ac.dtype).tiny
    ge = gamma.astype(a.dtype)[..., None, None] * eye
    ok = _spectral_radius_below_one(_solve(ge - ac, ge + ac))
    res = _norm1(_care_residual(a, g, q, x))
    scale = (2 * _norm1(a) + _norm1(g) * _norm1(x)) * _norm1(x) + _norm1(q)
    ok = ok & (res <= 1e3 * _tol(x) * scale)
    return jnp.where(ok[..., None, None], x, jnp.nan)


@jax.custom_jvp
def _care(a, b, q, r, e, s):
    return _care_value(a, b, q, r, e, s)


@_care.defjvp
def _care_jvp(primals, tangents):
    a, b, q, r, e, s = primals
    da, db, dq, dr, de, ds = tangents
    x = _care(a, b, q, r, e, s)
    # F(X, K) = Q + Kᴴ R K − S K − Kᴴ Sᴴ + (A − B K)ᴴ X E + Eᴴ X (A − B K) equals the Riccati
    # residual at K = R⁻¹(Bᴴ X E + Sᴴ), where ∂F/∂K = 0; so with Ac = A − B K:
    #   Acᴴ dX E + Eᴴ dX Ac + M = 0,
    #   M = dQ + Kᴴ dR K − dS K − Kᴴ dSᴴ + (dA − dB K)ᴴ X E + Eᴴ X (dA − dB K) + dEᴴ X Ac + Acᴴ X dE.
    xe = x if e is None else mm(x, e)
    kr = mm(_H(b), xe) if s is None else mm(_H(b), xe) + _H(s)
    k = _solve(r, kr)
    ac = a - mm(b, k)
    w = da - mm(db, k)
    m = dq + mm(mm(_H(k), dr), k) + mm(_H(w), xe) + mm(_H(xe), w)
    if s is not None:
        dsk = mm(ds, k)
        m = m - dsk - _H(dsk)
    if e is not None:
        xac = mm(x, ac)
        m = m + mm(_H(de), xac) + mm(_H(xac), de)
        # (Ac E⁻¹)ᴴ dX + dX (Ac E⁻¹) = −E⁻ᴴ M E⁻¹
        eh = _H(e)
        ac = _H(_solve(eh, _H(ac)))
        m = _H(_solve(eh, _H(_solve(eh, m))))
    return x, solve_continuous_lyapunov(_H(ac), -m)


# ---------------------------------------------------------------------------------------------
# DARE


def _dare_value(a, b, q, r, e, s):
    a0, q0, s0 = a, q, s
    a, g, q = _reduce(a, b, q, r, e, s)
    alpha, gs, qs = _scale(g, q)
    batch = jnp.broadcast_shapes(a.shape[:-2], g.shape[:-2], q.shape[:-2])
    eye = jnp.broadcast_to(eye_like(a), (*batch, *a.shape[-2:]))
    ak = jnp.broadcast_to(a, eye.shape)
    tol = _tol(q)

    # SDA: A ← A (I + G H)⁻¹ A, G ← G + A (I + G H)⁻¹ G Aᴴ, H ← H + Aᴴ H (I + G H)⁻¹ A; H → Y
    # quadratically, error ~ ρ(Ac)^(2^k) (Chu, Fan & Lin 2005; Lin & Xu 2006).
    def cond(carry):
        k, _, _, _, active = carry
        return (k < SDA_MAX_STEPS) & jnp.any(active)

    def body(carry):
        k, ak, gk, hk, active = carry
        w = eye + mm(gk, hk)
        wa = _solve(w, ak)
        wg = _solve(w, gk)
        a2 = mm(ak, wa)
        g2 = symmetrize(gk + mm(mm(ak, wg), _H(ak)))
        h2 = symmetrize(hk + mm(mm(_H(ak), hk), wa))
        small = _norm1(h2 - hk) <= tol * _norm1(h2)
        act = active[..., None, None]
        still = active & ~small & jnp.all(jnp.isfinite(h2), axis=(-2, -1))
        return (k + 1, jnp.where(act, a2, ak), jnp.where(act, g2, gk), jnp.where(act, h2, hk), still)

    gs = jnp.broadcast_to(gs, eye.shape)
    qs = jnp.broadcast_to(qs, eye.shape)
    _, _, _, y, _ = lax.while_loop(cond, body, (0, ak, gs, qs, jnp.ones(batch, bool)))
    x = y * alpha.astype(a.dtype)[..., None, None]
    # Newton on the equation with R itself (no R⁻¹: accurate for ill-conditioned R ≻ 0)
    a, q, s = _reduce_e(a0, q0, e, s0)

    def closed_loop(x):
        # K = (R + Bᴴ X B)⁻¹(Bᴴ X A + Sᴴ), Ac = A − B K
        xb = mm(x, b)
        kr = mm(_H(xb), a) if s is None else mm(_H(xb), a) + _H(s)
        k = _solve(r + mm(_H(b), xb), kr)
        return a - mm(b, k), k

    def residual(x):
        # Res(X) = Q + Kᴴ R K − S K − Kᴴ Sᴴ + Acᴴ X Ac − X at the optimal K
        ac, k = closed_loop(x)
        res = q + mm(mm(_H(k), r), k) + mm(mm(_H(ac), x), ac) - x
        if s is not None:
            sk = mm(s, k)
            res = res - sk - _H(sk)
        return res

    def step(x):
        # Newton–Hewer in correction form: Acᴴ Δ Ac − Δ + Res(X) = 0
        return solve_discrete_lyapunov(_H(closed_loop(x)[0]), residual(x))

    x = _newton(x, step, _tol(x))
    ac, k = closed_loop(x)
    ok = _spectral_radius_below_one(ac)
    res = _norm1(residual(x))
    scale = _norm1(x) * (1 + _norm1(ac) ** 2) + _norm1(q) + _norm1(k) ** 2 * _norm1(r)
    ok = ok & (res <= 1e3 * _tol(x) * scale)
    return jnp.where(ok[..., None, None], x, jnp.nan)


@jax.custom_jvp
def _dare(a, b, q, r, e, s):
    return _dare_value(a, b, q, r, e, s)


@_dare.defjvp
def _dare_jvp(primals, tangents):
    a, b, q, r, e, s = primals
    da, db, dq, dr, de, ds = tangents
    x = _dare(a, b, q, r, e, s)
    # F(X, K) = Q + Kᴴ R K − S K − Kᴴ Sᴴ + (A − B K)ᴴ X (A − B K) − Eᴴ X E equals the Riccati
    # residual at K = (R + Bᴴ X B)⁻¹(Bᴴ X A + Sᴴ), where ∂F/∂K = 0; so with Ac = A − B K:
    #   Acᴴ dX Ac − Eᴴ dX E + M = 0,
    #   M = dQ + Kᴴ dR K − dS K − Kᴴ dSᴴ + (dA − dB K)ᴴ X Ac + Acᴴ X (dA − dB K) − dEᴴ X E − Eᴴ X dE.
    xb = mm(x, b)
    kr = mm(_H(xb), a) if s is None else mm(_H(xb), a) + _H(s)
    k = _solve(r + mm(_H(b), xb), kr)
    ac = a - mm(b, k)
    w = da - mm(db, k)
    xac = mm(x, ac)
    m = dq + mm(mm(_H(k), dr), k) + mm(_H(w), xac) + mm(_H(xac), w)
    if s is not None:
        dsk = mm(ds, k)
        m = m - dsk - _H(dsk)
    if e is not None:
        xe = mm(x, e)
        m = m - mm(_H(de), xe) - mm(_H(xe), de)
        # (Ac E⁻¹)ᴴ dX (Ac E⁻¹) − dX + E⁻ᴴ M E⁻¹ = 0
        eh = _H(e)
        ac = _H(_solve(eh, _H(ac)))
        m = _H(_solve(eh, _H(_solve(eh, m))))
    return x, solve_discrete_lyapunov(_H(ac), m)


_care_jit = jax.jit(_care)
_dare_jit = jax.jit(_dare)


# ---------------------------------------------------------------------------------------------
# public functions


def _prepare(op, a, b, q, r, e, s):
    args = [a, b, q, r] + [x for x in (e, s) if x is not None]
    args = promote_inexact(*args)
    a, b, q, r = args[:4]
    rest = args[4:]
    e = rest.pop(0) if e is not None else None
    s = rest.pop(0) if s is not None else None
    check_square(a, op, "a")
    check_square(q, op, "q")
    check_square(r, op, "r")
    n = a.shape[-1]
    if b.ndim < 2 or b.shape[-2] != n:
        raise ValueError(f"{op}: b must have shape (..., {n}, m) for a of shape {a.shape}, got {b.shape}")
    m = b.shape[-1]
    if q.shape[-1] != n:
        raise ValueError(f"{op}: q must have shape (..., {n}, {n}) for a of shape {a.shape}, got {q.shape}")
    if r.shape[-1] != m:
        raise ValueError(f"{op}: r must have shape (..., {m}, {m}) for b of shape {b.shape}, got {r.shape}")
    if e is not None:
        check_square(e, op, "e")
        if e.shape[-1] != n:
            raise ValueError(
                f"{op}: e must have shape (..., {n}, {n}) for a of shape {a.shape}, got {e.shape}"
            )
    if s is not None and (s.ndim < 2 or s.shape[-2:] != (n, m)):
        raise ValueError(f"{op}: s must have shape (..., {n}, {m}) for b of shape {b.shape}, got {s.shape}")
    shapes = [x.shape[:-2] for x in (a, b, q, r, e, s) if x is not None]
    batch = jnp.broadcast_shapes(*shapes)

    def bc(x):
        return None if x is None else jnp.broadcast_to(x, (*batch, *x.shape[-2:]))

    # q and r enter through their Hermitian parts (SciPy requires them Hermitian)
    return bc(a), bc(b), bc(symmetrize(q)), bc(symmetrize(r)), bc(e), bc(s)


def _diagnose(op, discrete, a, b, q, r, e, s):
    """Name the failed condition for concrete input whose solution came out NaN."""
    args = [np.asarray(x) for x in (a, b, q, r)]
    e_ = None if e is None else np.asarray(e)
    s_ = None if s is None else np.asarray(s)
    a_, b_, q_, r_ = (x.reshape(-1, *x.shape[-2:]) for x in args)
    n = a_.shape[-1]
    for i in range(a_.shape[0]):
        ai, bi, qi, ri = a_[i], b_[i], q_[i], r_[i]
        ei = None if e_ is None else e_.reshape(-1, n, n)[i]
        si = None if s_ is None else s_.reshape(-1, *s_.shape[-2:])[i]
        if not all(np.all(np.isfinite(x)) for x in (ai, bi, qi, ri)):
            return f"{op}: the input has non-finite entries"
        if np.linalg.cond(ri) > 1 / np.finfo(ri.dtype).eps:
            return f"{op}: r is singular (condition number {np.linalg.cond(ri):.3g})"
        if ei is not None:
            if np.linalg.cond(ei) > 1 / np.finfo(ei.dtype).eps:
                return f"{op}: e is singular (condition number {np.linalg.cond(ei):.3g})"
            ai = ai @ np.linalg.inv(ei)
        if si is not None:
            sh = si if ei is None else np.linalg.solve(ei.conj().T, si)
            ai = ai - bi @ np.linalg.solve(ri, sh.conj().T)
        # PBH test: an eigenvalue λ of Ã with Re λ ≥ 0 (|λ| ≥ 1) and rank [Ã − λI, B] < n
        for lam in np.linalg.eigvals(ai):
            unstable = abs(lam) >= 1 - 1e-10 if discrete else lam.real >= -1e-10
            if unstable:
                sv = np.linalg.svd(np.hstack([ai - lam * np.eye(n), bi]), compute_uv=False)
                if sv[-1] <= 1e-10 * max(sv[0], 1):
                    item = f" (item {i} of the batch)" if a_.shape[0] > 1 else ""
                    return (
                        f"{op}: (a, b) is not stabilizable: the eigenvalue {lam:.6g} of the "
                        f"(reduced) a is uncontrollable{item}"
                    )
    where = "on the unit circle" if discrete else "on the imaginary axis"
    pencil = "symplectic pencil" if discrete else "Hamiltonian matrix"
    return (
        f"{op}: no stabilizing solution was found: the {pencil} "
        f"has eigenvalues (numerically) {where} (e.g. an unobservable mode of (q, a) {where}), or the "
        "iteration did not converge"
    )


def _finish(op, discrete, x, inputs):
    if any(is_tracer(v) for v in inputs if v is not None):
        return x
    if bool(jnp.any(jnp.isnan(x))):
        raise ValueError(_diagnose(op, discrete, *inputs))
    return x


def solve_continuous_are(
    a: ArrayLike,
    b: ArrayLike,
    q: ArrayLike,
    r: ArrayLike,
    e: ArrayLike | None = None,
    s: ArrayLike | None = None,
    balanced: bool = True,
) -> Array:
    """Stabilizing solution of the continuous algebraic Riccati equation; drop-in for
    ``scipy.linalg.solve_continuous_are`` (GPU-capable: no Schur, QZ or eigendecomposition).

    Solves ``Aᴴ X E + Eᴴ X A − (Eᴴ X B + S) R⁻¹ (Bᴴ X E + Sᴴ) + Q = 0`` (``E = I``, ``S = 0`` when
    omitted) for the Hermitian ``X`` with ``A − B K`` (``E``-)stable, ``K = R⁻¹(Bᴴ X E + Sᴴ)``.
    With ``E⁻¹`` and ``R⁻¹`` folded in, it reduces to ``Aᴴ X + X A − X G X + Q = 0``, solved by the
    matrix sign function of the Hamiltonian ``[[A, −G], [−Q, −Aᴴ]]`` (the stable invariant
    subspace ``[I; X]``), then Newton–Kleinman corrections ``(A − G X)ᴴ Δ + Δ (A − G X) = −Res(X)``
    on ``solve_continuous_lyapunov`` until the correction is at round-off level. ``q`` and
    ``r`` enter through their Hermitian parts.

    Domain and failures: ``R`` and ``E`` nonsingular, ``(A, B)`` stabilizable and no unobservable
    mode of ``(Q, A)`` on the imaginary axis (the Hamiltonian has no imaginary eigenvalues). Where
    no stabilizing solution exists, or the final closed-loop stability check or residual check
    fails, the result is NaN under ``jit``/``grad``/``vmap``; on concrete input a ``ValueError``
    names the failed condition (non-finite input, singular ``r`` or ``e``, an uncontrollable
    eigenvalue of ``a`` in the closed right half-plane, or eigenvalues on the imaginary axis).

    Derivative:
      At the solution the gain ``K`` is stationary, so (implicit function theorem; Kao & Hennequin,
      arXiv 2011.11430) with ``Ac = A − B K``:
      ``Acᴴ dX E + Eᴴ dX Ac + M = 0``,
      ``M = dQ + Kᴴ dR K − dS K − Kᴴ dSᴴ + (dA − dB K)ᴴ X E + Eᴴ X (dA − dB K) + dEᴴ X Ac + Acᴴ X dE``,
      one Lyapunov equation ``(Ac E⁻¹)ᴴ dX + dX (Ac E⁻¹) = −E⁻ᴴ M E⁻¹`` solved by
      ``solve_continuous_lyapunov`` (linear in ``M``); reverse mode is its transpose, the adjoint
      Lyapunov equation with ``Ac E⁻¹``. Tangents of ``q`` and ``r`` act through their Hermitian
      parts. Second order differentiates this rule.

    Args:
      a: ``(..., n, n)``. b: ``(..., n, m)``. q: ``(..., n, n)`` Hermitian. r: ``(..., m, m)``
        Hermitian nonsingular. e: optional ``(..., n, n)`` nonsingular. s: optional ``(..., n, m)``.
        Batch axes broadcast; real or complex.
      balanced: accepted for compatibility with SciPy (no effect: the iterations need no
        balancing; ``Q`` and ``G`` are scaled to equal norms internally).

    Returns:
      ``(..., n, n)`` the stabilizing solution X.

    Examples:
      >>> one = jnp.ones((1, 1))
      >>> X = matcalc.solve_continuous_are(one, one, one, one)  # 2x − x² + 1 = 0
      >>> print(f"{float(X[0, 0]):.6f}")  # 1 + √2
      2.414214
    """
    del balanced
    op = "solve_continuous_are"
    args = _prepare(op, a, b, q, r, e, s)
    return _finish(op, False, _care_jit(*args), args)


def solve_discrete_are(
    a: ArrayLike,
    b: ArrayLike,
    q: ArrayLike,
    r: ArrayLike,
    e: ArrayLike | None = None,
    s: ArrayLike | None = None,
    balanced: bool = True,
) -> Array:
    """Stabilizing solution of the discrete algebraic Riccati equation; drop-in for
    ``scipy.linalg.solve_discrete_are`` (GPU-capable: no Schur, QZ or eigendecomposition).

    Solves ``Aᴴ X A − Eᴴ X E − (Aᴴ X B + S)(R + Bᴴ X B)⁻¹(Bᴴ X A + Sᴴ) + Q = 0`` (``E = I``,
    ``S = 0`` when omitted) for the Hermitian ``X`` with ``A − B K`` Schur-stable relative to ``E``,
    ``K = (R + Bᴴ X B)⁻¹(Bᴴ X A + Sᴴ)``. With ``E⁻¹`` and ``R⁻¹`` folded in it reduces to
    ``X = Aᴴ X (I + G X)⁻¹ A + Q``, solved by the structure-preserving doubling algorithm (Chu, Fan
    & Lin 2005), then Newton–Hewer corrections ``Acᴴ Δ Ac − Δ + Res(X) = 0`` on
    ``solve_discrete_lyapunov``. ``q`` and ``r`` enter through their Hermitian parts.

    Domain and failures: ``R`` and ``E`` nonsingular, ``(A, B)`` stabilizable and no unobservable
    mode of ``(Q, A)`` on the unit circle; the doubling iteration is guaranteed for ``Q ⪰ 0``,
    ``R ≻ 0``. Where no stabilizing solution is found, or the final closed-loop stability check
    (spectral radius below one) or residual check fails, the result is NaN under
    ``jit``/``grad``/``vmap``; on concrete input a ``ValueError`` names the failed condition.

    Derivative:
      At the solution the gain ``K`` is stationary, so (implicit function theorem; Kao & Hennequin,
      arXiv 2011.11430) with ``Ac = A − B K``:
      ``Acᴴ dX Ac − Eᴴ dX E + M = 0``,
      ``M = dQ + Kᴴ dR K − dS K − Kᴴ dSᴴ + (dA − dB K)ᴴ X Ac + Acᴴ X (dA − dB K) − dEᴴ X E − Eᴴ X dE``,
      one Stein equation ``(Ac E⁻¹)ᴴ dX (Ac E⁻¹) − dX + E⁻ᴴ M E⁻¹ = 0`` solved by
      ``solve_discrete_lyapunov`` (linear in ``M``); reverse mode is its transpose. Tangents of
      ``q`` and ``r`` act through their Hermitian parts. Second order differentiates this rule.

    Args:
      a: ``(..., n, n)``. b: ``(..., n, m)``. q: ``(..., n, n)`` Hermitian. r: ``(..., m, m)``
        Hermitian nonsingular. e: optional ``(..., n, n)`` nonsingular. s: optional ``(..., n, m)``.
        Batch axes broadcast; real or complex.
      balanced: accepted for compatibility with SciPy (no effect).

    Returns:
      ``(..., n, n)`` the stabilizing solution X.

    Examples:
      >>> one = jnp.ones((1, 1))
      >>> X = matcalc.solve_discrete_are(one, one, one, one)  # x = x − x²/(1 + x) + 1
      >>> print(f"{float(X[0, 0]):.6f}")  # the golden ratio
      1.618034
    """
    del balanced
    op = "solve_discrete_are"
    args = _prepare(op, a, b, q, r, e, s)
    return _finish(op, True, _dare_jit(*args), args)
