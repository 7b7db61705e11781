"""QR factorization with derivative rules for tall, square and wide input, reduced, complete and
"r" modes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_matrix, mm
from .._core.results import QRResult

_MODES = ("reduced", "complete", "r")


def _skew_from_lower(c):
    """``Ω = tril(C,−1) − tril(C,−1)ᴴ + i Im diag(C)``: the skew-Hermitian matrix whose strictly
    lower part is C's, and whose diagonal keeps diag(R) real."""
    low = jnp.tril(c, -1)
    om = low - _H(low)
    if jnp.iscomplexobj(c):
        n = c.shape[-1]
        eye = jnp.broadcast_to(jnp.eye(n, dtype=c.real.dtype), c.shape)
        om = om + 1j * (jnp.imag(c) * eye).astype(c.dtype)
    return om


def _qr_square_jvp(q, r, da):
    """Tall or square ``A = Q R`` (Q: m×n orthonormal columns, R: n×n): ``(dQ, dR, Ω)``.

    ``X = dA R⁻¹`` and ``C = Qᴴ X = Qᴴ dQ + dR R⁻¹``. ``Ω = Qᴴ dQ`` is skew-Hermitian and
    ``dR R⁻¹`` is upper triangular with a real diagonal (diag R stays real), so the strictly lower
    part of C is Ω's, the imaginary part of C's diagonal is Ω's diagonal, and
      dR = (C − Ω) R,   dQ = X − Q (C − Ω)   (the second term keeps dQ's part outside range(Q)
    equal to (I − QQᴴ) dA R⁻¹).  Walter & Lehmann (2010); Seeger et al. (2017), arXiv:1710.08717.
    """
    x = lax.linalg.triangular_solve(r, da, left_side=False, lower=False)
    c = mm(_H(q), x)
    om = _skew_from_lower(c)
    dr_rinv = jnp.triu(c - om)
    dr = mm(dr_rinv, r)
    dq = x - mm(q, dr_rinv)
    return dq, dr, om


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _qr(a, mode):
    return tuple(jnp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced"))


@_qr.defjvp
def _qr_jvp(mode, primals, tangents):
    (a,), (da,) = primals, tangents
    q, r = _qr(a, mode)
    m, n = a.shape[-2:]
    if m >= n:
        q1, r1 = q[..., :, :n], r[..., :n, :]
        dq1, dr1, _ = _qr_square_jvp(q1, r1, da)
        if mode == "complete" and m > n:
            # Complete mode: Q = [Q1 Q2] with Q2 any orthonormal basis of range(A)^⊥. Gauge:
            # Q2ᴴ dQ2 = 0 (parallel transport), so from Q1ᴴ Q2 = 0:
            #   dQ2 = −Q1 dQ1ᴴ Q2 = −Q1 R⁻ᴴ dAᴴ Q2.
            q2 = q[..., :, n:]
            dq2 = -mm(q1, mm(_H(dq1), q2))
            dq = jnp.concatenate([dq1, dq2], axis=-1)
            dr = jnp.concatenate([dr1, jnp.zeros_like(r[..., n:, :])], axis=-2)
        else:
            dq, dr = dq1, dr1
        return (q, r), (dq, dr)
    # Wide: A = [X Y] = Q [R1 R2]. The square rule on X gives dQ, dR1 and Ω = Qᴴ dQ; from
    # R2 = Qᴴ Y:  dR2 = dQᴴ Y + Qᴴ dY = Qᴴ dY − Ω R2.
    r1, r2 = r[..., :, :m], r[..., :, m:]
    dq, dr1, om = _qr_square_jvp(q, r1, da[..., :, :m])
    dr2 = mm(_H(q), da[..., :, m:]) - mm(om, r2)
    return (q, r), (dq, jnp.concatenate([dr1, dr2], axis=-1))


def qr(a: ArrayLike, mode: str = "reduced") -> Array | QRResult:
    """QR factorization; drop-in for ``jnp.linalg.qr`` (modes ``"reduced"``, ``"complete"``,
    ``"r"``).

    ``A = Q R`` for ``a`` of shape ``(..., m, n)``, ``k = min(m, n)``: ``"reduced"`` gives
    ``Q (m×k)``, ``R (k×n)``; ``"complete"`` gives ``Q (m×m)``, ``R (m×n)``; ``"r"`` gives ``R``
    only (the reduced one). The factors are LAPACK's (Householder), whose ``R`` has a real diagonal
    of either sign.

    Derivative:
      Tall or square (``m ≥ n``): with ``X = dA R⁻¹``, ``C = Qᴴ X`` and
      ``Ω = tril(C,−1) − tril(C,−1)ᴴ + i Im diag(C)`` (``= Qᴴ dQ``):
      ``dR = (C − Ω) R``, ``dQ = X − Q (C − Ω)``.
      Wide (``m < n``, ``A = [X Y]``, ``R = [R1 R2]``): the square rule on ``X`` plus
      ``dR2 = Qᴴ dY − Ω R2``.
      Complete mode, tall: the extra columns ``Q2`` span ``range(A)^⊥`` and are defined only up to
      a unitary ``Q2 ↦ Q2 W``. Gauge convention: ``Q2ᴴ dQ2 = 0`` (parallel transport), giving
      ``dQ2 = −Q1 R⁻ᴴ dAᴴ Q2``. A loss that depends on ``Q2`` only through ``Q2 Q2ᴴ`` (or is
      otherwise invariant to ``W``) gets its exact gradient.
      Gauge of the phases (complex): ``diag(R)`` stays real, i.e. ``Im diag(Qᴴ dQ) = Im diag(C)``.
      Domain: the leading ``k×k`` block of ``R`` nonsingular (full column rank for tall input; the
      first ``m`` columns independent for wide input); otherwise derivatives are inf/NaN.
      References: Walter & Lehmann (2010); Seeger et al., arXiv:1710.08717 (2017), §3.3.

    Args:
      a: ``(..., m, n)`` real or complex.
      mode: ``"reduced"`` (default), ``"complete"`` or ``"r"``.

    Returns:
      ``(q, r)``, or ``r`` for ``mode="r"``.

    Examples:
      >>> A = jnp.array([[3., 1.], [4., 2.]])
      >>> q, r = matcalc.qr(A)
      >>> print(np.round(np.abs(r), 6))
      [[5.  2.2]
       [0.  0.4]]
      >>> bool(np.allclose(q @ r, A)), bool(np.allclose(q.T @ q, np.eye(2)))
      (True, True)
    """
    a = as_inexact(a)
    check_matrix(a, "qr")
    if mode not in _MODES:
        raise ValueError(f"qr: mode must be one of {_MODES}, got {mode!r}")
    m, n = a.shape[-2:]
    internal = "complete" if (mode == "complete" and m > n) else "reduced"
    q, r = _qr(a, internal)
    if mode == "r":
        return r
    return QRResult(q, r)
