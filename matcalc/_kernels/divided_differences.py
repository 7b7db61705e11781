"""First and second divided differences ``f[a, b]``, ``f[a, b, c]``, accurate at every gap.

The Daleckii–Krein formula for the Fréchet derivative of a Hermitian matrix function,
``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]``, and the second derivative (Bhatia,
*Matrix Analysis*, Thm V.3.3)

    D²f(A)(E₁, E₂) = U Z Uᴴ,   Z_ij = Σ_k f[λi, λk, λj] (Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj),  Ẽ = Uᴴ E U,

need divided differences at eigenvalue gaps from exactly zero to far apart. The naive quotient
``(f(a) − f(b)) / (a − b)`` loses ``eps·|f| / |a − b|`` to cancellation and is ``0/0`` at a repeat.

This module provides, per scalar function, a *spec* object (hashable, so it can be a static
parameter of a primitive) with

* ``f(x)`` and ``derivatives(x, k)`` (``[f, f', ..., f⁽ᵏ⁾]``);
* ``dd1(a, b)``: closed forms without cancellation for the named functions
  (``sqrt[a,b] = 1/(√a+√b)``, ``exp[a,b] = e^{(a+b)/2} sinh(δ)/δ`` with ``δ = (a−b)/2``,
  ``log[a,b] = 2 atanh(z)/(a−b)`` with ``z = (a−b)/(a+b)``, and for powers
  ``a^p − b^p = 2 (ab)^{p/2} sinh(p atanh z)``); for a generic ``f`` a guarded quotient that
  switches to the Taylor series ``f'(m) + f'''(m) δ²/3! + f⁽⁵⁾(m) δ⁴/5!`` about the midpoint
  ``m`` when ``|a − b| ≤ τ₁ ℓ`` (``τ₁ = eps^{1/7}``, length scale ``ℓ = max(1, |m|)``) *and* the
  series' truncation error, estimated from its last terms (``|t₅| min(1, |t₅/t₃|)``), is below
  the quotient's rounding error ``eps·(|f(a)|+|f(b)|)/|a−b|``. The scale on which a generic ``f``
  varies is unknown; the estimate keeps the Taylor branch from being used where it is worse, e.g.
  for exp about ``m = 50`` at ``|a − b| = 0.3`` (2e-9 relative by the series, 1e-16 by the
  quotient) or for log at eigenvalues far below 1. Measured against mpmath: ~1e-14 relative for
  exp, sin and log at eigenvalues from 1e-12 to 1e2 (``hermitian.logm`` has exact closed forms).
* ``dd2(a, b, c)``: the median/extremes quotient ``(f[mid, hi] − f[lo, mid]) / (hi − lo)`` from
  the accurate ``dd1`` when the spread ``hi − lo`` exceeds ``τ₂ ℓ``, otherwise the Taylor series
  about the mean ``m``: ``f[a,b,c] = Σ_k f⁽ᵏ⁺²⁾(m)/(k+2)! · h_k(a−m, b−m, c−m)`` with complete
  homogeneous symmetric polynomials ``h_k`` (recurrence ``h_k = −e₂ h_{k−2} + e₃ h_{k−3}`` since
  ``e₁ = 0``). Named functions use orders up to ``f⁽⁸⁾`` (``τ₂ = eps^{1/8}``, error ≲ 1e-13
  relative; exp's cut is a fixed spread ``8τ₂``, its derivatives vary on the same scale at every
  ``m``), a generic ``f`` up to ``f⁽⁶⁾`` by nested ``jvp`` (``τ₂ = eps^{1/6}``, the Taylor branch
  again only where its estimated truncation error is below the quotient's rounding error).

``abs`` and ``sign`` are not smooth at 0 and use exact piecewise forms instead.

References: Higham, *Functions of Matrices* (SIAM 2008), Thm 3.11 and §B.16 (divided
differences); McCurdy, Ng & Parlett, Math. Comp. 43 (1984) (exp); Bhatia, *Matrix Analysis*
(1997), ch. V; ChainRules.jl (the guarded quotient this improves on).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = [
    "ScalarFunction",
    "Exp",
    "Log",
    "Power",
    "Sqrt",
    "InvSqrt",
    "Abs",
    "Sign",
    "Generic",
]


def _eps(x) -> float:
    return float(jnp.finfo(x.dtype).eps)


def _sinhc(x):
    """``sinh(x)/x`` (1 at 0), accurate for every x (sinh is computed to relative accuracy)."""
    nz = x != 0
    safe = jnp.where(nz, x, 1)
    return jnp.where(nz, jnp.sinh(safe) / safe, 1)


def _atanhc(z):
    """``atanh(z)/z`` (1 at 0) for |z| < 1."""
    nz = z != 0
    safe = jnp.where(nz, z, 0.5)
    return jnp.where(nz, jnp.arctanh(safe) / safe, 1)


def _median3(a, b, c):
    return jnp.maximum(jnp.minimum(a, b), jnp.minimum(jnp.maximum(a, b), c))


def _sorted3(a, b, c):
    """``(lo, mid, hi, hi − lo)`` of three broadcast arrays, elementwise."""
    a, b, c = jnp.broadcast_arrays(a, b, c)
    lo = jnp.minimum(jnp.minimum(a, b), c)
    hi = jnp.maximum(jnp.maximum(a, b), c)
    return lo, _median3(a, b, c), hi, hi - lo


class ScalarFunction:
    """A real scalar function with accurate first and second divided differences.

    Subclasses are frozen dataclasses (hashable, compared by value) so a spec can be a static
    parameter. Inputs of every method are real arrays that broadcast together.
    """

    #: highest derivative used by the Taylor branch of ``dd2`` (``2 + K`` with K the last h_k)
    dd2_order: int = 8
    #: True when the derivatives vary on a scale ``|x|`` (log, powers); False for scale 1 (exp)
    relative_scale: bool = False

    def f(self, x):
        raise NotImplementedError

    def derivatives(self, x, k: int) -> list:
        """``[f(x), f'(x), ..., f⁽ᵏ⁾(x)]``."""
        raise NotImplementedError

    def dd1(self, a, b):
        raise NotImplementedError

    # -- second divided difference ---------------------------------------------------------
    def _scale(self, m):
        am = jnp.abs(m)
        return am if self.relative_scale else jnp.maximum(am, 1)

    def dd2(self, a, b, c):
        """``f[a, b, c]`` (symmetric in its arguments)."""
        a, b, c = jnp.broadcast_arrays(a, b, c)
        lo, mid, hi, spread = _sorted3(a, b, c)
        order = self.dd2_order
        tau = _eps(a) ** (1.0 / order)
        # Taylor branch about the mean: Σ_k f⁽ᵏ⁺²⁾(m)/(k+2)! h_k(y), h_k complete homogeneous.
        m = (a + b + c) / 3
        y1, y2, y3 = a - m, b - m, c - m
        e2 = y1 * y2 + y1 * y3 + y2 * y3
        e3 = y1 * y2 * y3
        d = self.derivatives(m, order)
        h = [jnp.ones_like(m), jnp.zeros_like(m), -e2]
        for k in range(3, order - 1):
            h.append(-e2 * h[k - 2] + e3 * h[k - 3])
        taylor = sum(d[k + 2] / math.factorial(k + 2) * h[k] for k in range(order - 1))
        q_hi, q_lo = self.dd1(mid, hi), self.dd1(lo, mid)
        use_taylor = (spread <= tau * self._scale(m)) & self._dd2_taylor_trusted(d, spread, q_hi, q_lo)
        safe_spread = jnp.where(use_taylor, 1, spread)
        quotient = (q_hi - q_lo) / safe_spread
        return jnp.where(use_taylor, taylor, quotient)

    def _dd2_taylor_trusted(self, d, spread, q_hi, q_lo):
        """Whether the Taylor branch of ``dd2`` beats the quotient where both are allowed
        (named functions: always, their scale is known)."""
        return True


# --------------------------------------------------------------------------------------------
# exp


@dataclass(frozen=True)
class Exp(ScalarFunction):
    def f(self, x):
        return jnp.exp(x)

    def _scale(self, m):
        # exp's derivatives vary on the same scale at every m (f⁽ᵏ⁾ = f), so the Taylor branch of
        # dd2 is cut at a fixed spread, not one growing with |m| (about m = 50 a spread of 0.5
        # truncates to ~1e-7 relative; the quotient of the accurate dd1's has eps/spread). The
        # cut 8τ₂ ≈ 0.09 is where the truncation error (≲ 1e-14 relative) meets the quotient's.
        return jnp.full_like(m, 8.0)

    def derivatives(self, x, k):
        e = jnp.exp(x)
        return [e] * (k + 1)

    def dd1(self, a, b):
        # exp[a,b] = e^{(a+b)/2} sinh(δ)/δ, δ = (a−b)/2 (no cancellation); far apart the plain
        # quotient has none either and cannot overflow where e^max(a,b) does not.
        delta = (a - b) / 2
        near = jnp.abs(delta) <= 1
        close = jnp.exp((a + b) / 2) * _sinhc(jnp.where(near, delta, 0))
        safe = jnp.where(near, 1, a - b)
        far = (jnp.exp(a) - jnp.exp(b)) / safe
        return jnp.where(near, close, far)


# --------------------------------------------------------------------------------------------
# log


@dataclass(frozen=True)
class Log(ScalarFunction):
    relative_scale = True

    def f(self, x):
        return jnp.log(x)

    def derivatives(self, x, k):
        out = [jnp.log(x)]
        inv = 1 / x
        p = inv
        for j in range(1, k + 1):
            out.append((-1) ** (j - 1) * math.factorial(j - 1) * p)
            p = p * inv
        return out

    def dd1(self, a, b):
        # log[a,b] = 2 atanh(z)/(a−b) = atanhc(z) · 2/(a+b), z = (a−b)/(a+b), for |z| ≤ 1/2;
        # beyond, log(a/b)/(a−b) has no cancellation (a/b is at least 3 away from 1).
        s = a + b
        z = (a - b) / s
        near = jnp.abs(z) <= 0.5
        close = _atanhc(jnp.where(near, z, 0)) * (2 / s)
        safe_b = jnp.where(near, 1, b)
        safe_d = jnp.where(near, 1, a - b)
        far = jnp.log(jnp.where(near, 2, a) / safe_b) / safe_d
        return jnp.where(near, close, far)


# --------------------------------------------------------------------------------------------
# powers


@dataclass(frozen=True)
class Power(ScalarFunction):
    """``x ↦ x^p`` for real ``p`` on ``x ≥ 0`` (``x > 0`` when ``p < 1``)."""

    p: float
    relative_scale = True

    def f(self, x):
        return jnp.power(x, self.p)

    def derivatives(self, x, k):
        out = [jnp.power(x, self.p)]
        coef = 1.0
        for j in range(1, k + 1):
            coef *= self.p - (j - 1)
            out.append(coef * jnp.power(x, self.p - j))
        return out

    def dd1(self, a, b):
        # a^p − b^p = 2 (ab)^{p/2} sinh(p atanh z), z = (a−b)/(a+b), so
        # x^p[a,b] = a^{p/2} b^{p/2} · 2p/(a+b) · sinhc(p atanh z) · atanhc(z)        (|z| ≤ 1/2);
        # beyond, a^p − b^p = b^p expm1(p log(a/b)) has no cancellation.
        p = self.p
        s = a + b
        z = (a - b) / s
        near = jnp.abs(z) <= 0.5
        zn = jnp.where(near, z, 0)
        w = jnp.arctanh(zn)
        scale = jnp.power(a, p / 2) * jnp.power(b, p / 2) * (2 * p / s)
        close = scale * _sinhc(p * w) * _atanhc(zn)
        safe_b = jnp.where(near, 1, b)
        safe_d = jnp.where(near, 1, a - b)
        ratio = jnp.where(near, 2, a) / safe_b
        far = jnp.power(safe_b, p) * jnp.expm1(p * jnp.log(ratio)) / safe_d
        # exactly equal (incl. 0): f'(a)
        return jnp.where(a == b, p * jnp.power(a, p - 1), jnp.where(near, close, far))


@dataclass(frozen=True)
class Sqrt(Power):
    """``√x``: ``sqrt[a,b] = 1/(√a + √b)`` (``inf`` at ``a = b = 0``)."""

    p: float = 0.5

    def f(self, x):
        return jnp.sqrt(x)

    def dd1(self, a, b):
        return 1 / (jnp.sqrt(a) + jnp.sqrt(b))


@dataclass(frozen=True)
class InvSqrt(Power):
    """``1/√x``: ``x^{-1/2}[a,b] = −1/(√a √b (√a + √b))``."""

    p: float = -0.5

    def f(self, x):
        return jax.lax.rsqrt(x)

    def dd1(self, a, b):
        ra, rb = jnp.sqrt(a), jnp.sqrt(b)
        return -1 / (ra * rb * (ra + rb))


# --------------------------------------------------------------------------------------------
# abs and sign (piecewise; not smooth at 0)


def _same_sign(*xs):
    pos = xs[0] > 0
    neg = xs[0] < 0
    for x in xs[1:]:
        pos = pos & (x > 0)
        neg = neg & (x < 0)
    return pos | neg


@dataclass(frozen=True)
class Abs(ScalarFunction):
    """``|x|``. Divided differences are exact: ``sign`` on one side of 0, ``(|a|−|b|)/(a−b)``
    across it. At ``a = b = 0`` the derivative is undefined; we return 0 (a subgradient)."""

    def f(self, x):
        return jnp.abs(x)

    def derivatives(self, x, k):
        return [jnp.abs(x), jnp.sign(x)] + [jnp.zeros_like(x)] * (k - 1)

    def dd1(self, a, b):
        eq = a == b
        safe = jnp.where(eq, 1, a - b)
        return jnp.where(eq, jnp.sign(a), (jnp.abs(a) - jnp.abs(b)) / safe)

    def dd2(self, a, b, c):
        a, b, c = jnp.broadcast_arrays(a, b, c)
        lo, mid, hi, spread = _sorted3(a, b, c)
        zero = _same_sign(a, b, c) | (spread == 0)
        safe = jnp.where(zero, 1, spread)
        return jnp.where(zero, 0, (self.dd1(mid, hi) - self.dd1(lo, mid)) / safe)


@dataclass(frozen=True)
class Sign(ScalarFunction):
    """``sign(x)`` (matrix sign). ``f[a,b] = 0`` on one side of 0 and ``2/(|a|+|b|)`` across it;
    at a zero eigenvalue the derivative does not exist and the result is ``nan``."""

    def f(self, x):
        return jnp.sign(x)

    def derivatives(self, x, k):
        z = jnp.where(x == 0, jnp.nan, 0).astype(x.dtype)
        return [jnp.sign(x)] + [z] * k

    def dd1(self, a, b):
        same = _same_sign(a, b)
        undefined = (a == 0) | (b == 0)
        safe = jnp.where(same | undefined, 1, jnp.abs(a) + jnp.abs(b))
        return jnp.where(undefined, jnp.nan, jnp.where(same, 0, 2 / safe))

    def dd2(self, a, b, c):
        a, b, c = jnp.broadcast_arrays(a, b, c)
        lo, mid, hi, _ = _sorted3(a, b, c)
        same = _same_sign(a, b, c)
        undefined = (a == 0) | (b == 0) | (c == 0)
        safe = jnp.where(same | undefined, 1, hi - lo)
        q = (self.dd1(mid, hi) - self.dd1(lo, mid)) / safe
        return jnp.where(undefined, jnp.nan, jnp.where(same, 0, q))


# --------------------------------------------------------------------------------------------
# generic f


def _nested_derivatives(fn: Callable, x, k: int) -> list:
    """``[f, f', ..., f⁽ᵏ⁾]`` at ``x`` for an elementwise ``fn`` by nested forward mode."""
    out = []
    g = fn
    for _ in range(k + 1):
        out.append(g(x))
        g = (lambda h: lambda t: jax.jvp(h, (t,), (jnp.ones_like(t),))[1])(g)
    return out


@dataclass(frozen=True)
class Generic(ScalarFunction):
    """A user function ``fn`` (elementwise, real → real, differentiable by JAX).

    ``dd1`` is the guarded quotient with a Taylor branch described in the module docstring;
    ``dd2`` uses derivatives up to ``f⁽⁶⁾`` by nested ``jax.jvp``.
    """

    fn: Callable
    dd2_order = 6

    def f(self, x):
        y = jnp.asarray(self.fn(x))
        if jnp.iscomplexobj(y):
            raise TypeError(
                "hermitian.funm: func must map reals to reals (the result must be Hermitian); "
                f"it returned {y.dtype}"
            )
        return y.astype(x.dtype)

    def derivatives(self, x, k):
        return [d.astype(x.dtype) for d in _nested_derivatives(self.f, x, k)]

    def dd1(self, a, b):
        a, b = jnp.broadcast_arrays(a, b)
        eps = _eps(a)
        tau = eps ** (1.0 / 7)
        m = (a + b) / 2
        delta = (a - b) / 2
        d = self.derivatives(m, 5)
        d2 = delta * delta
        t3, t5 = d[3] / 6 * d2, d[5] / 120 * d2 * d2
        taylor = d[1] + t3 + t5
        fa, fb = self.f(a), self.f(b)
        gap = jnp.abs(a - b)
        # The scale on which a generic f varies is unknown: inside |δ| ≤ τ₁ max(1, |m|) the
        # Taylor branch is taken only where its truncation error (the next term, extrapolated
        # geometrically: |t5| min(1, |t5/t3|)) is below the quotient's rounding error
        # eps (|f(a)| + |f(b)|)/|a − b|, e.g. not for exp about m = 50 at |a − b| = 0.3.
        at5 = jnp.abs(t5)
        trunc = at5 * jnp.minimum(1, at5 / jnp.where(t3 == 0, at5, jnp.abs(t3)))
        trunc = jnp.where(at5 == 0, 0, trunc)
        rounding = eps * (jnp.abs(fa) + jnp.abs(fb)) / jnp.where(gap == 0, 1, gap)
        use_taylor = (jnp.abs(delta) <= tau * jnp.maximum(jnp.abs(m), 1)) & ((gap == 0) | (trunc <= rounding))
        safe = jnp.where(use_taylor, 1, a - b)
        quotient = (fa - fb) / safe
        return jnp.where(use_taylor, taylor, quotient)

    def _dd2_taylor_trusted(self, d, spread, q_hi, q_lo):
        # As in dd1: the Taylor branch (terms up to f⁽⁶⁾ s⁴/6!) only where its truncation error,
        # the last even term extrapolated geometrically, is below the quotient's rounding error
        # eps (|f[mid, hi]| + |f[lo, mid]|)/spread.
        s2 = spread * spread
        t2 = jnp.abs(d[4]) / 24 * s2
        t4 = jnp.abs(d[6]) / 720 * s2 * s2
        trunc = t4 * jnp.minimum(1, t4 / jnp.where(t2 == 0, t4, t2))
        trunc = jnp.where(t4 == 0, 0, trunc)
        rounding = _eps(spread) * (jnp.abs(q_hi) + jnp.abs(q_lo)) / jnp.where(spread == 0, 1, spread)
        return (spread == 0) | (trunc <= rounding)
