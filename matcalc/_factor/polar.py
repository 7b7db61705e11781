"""Polar decomposition with forward- and reverse-mode rules (SVD based, GPU-capable)."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_dtype, check_matrix, check_option, mm


def _parts(a):
    w, s, vh = jnp.linalg.svd(a, full_matrices=False)
    # NaN/Inf input: the SVD may return finite W, V with NaN σ; propagate NaN to W, V (so U = W Vᴴ)
    bad = jnp.any(jnp.isnan(s), axis=-1)[..., None, None]
    return jnp.where(bad, jnp.nan, w), s, jnp.where(bad, jnp.nan, _H(vh))


@jax.custom_jvp
def _polar_right(a):
    w, s, v = _parts(a)
    return mm(w, _H(v)), mm(v * s[..., None, :].astype(a.dtype), _H(v))


@_polar_right.defjvp
def _polar_right_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, s, v = _parts(a)
    u = mm(w, _H(v))
    p = mm(v * s[..., None, :].astype(a.dtype), _H(v))
    # A = W Σ Vᴴ, U = W Vᴴ, P = V Σ Vᴴ; G = Wᴴ dA V.
    # P² = AᴴA ⇒ Σ D + D Σ = Gᴴ Σ + Σ G with D = Vᴴ dP V:  D_ij = (σ_i G_ij + σ_j Ḡ_ji)/(σ_i+σ_j)
    # dU = (dA − U dP) P⁻¹ ⇒ Wᴴ dU V = (G − Gᴴ)/(σ_i + σ_j) (no σ⁻¹: finite at rank n−1),
    # plus (I − W Wᴴ) dA V Σ⁻¹ Vᴴ for tall A.
    sc = s.astype(a.dtype)
    denom = sc[..., :, None] + sc[..., None, :]
    g = mm(mm(_H(w), da), v)
    gh = _H(g)
    d = (sc[..., :, None] * g + gh * sc[..., None, :]) / denom
    omega = (g - gh) / denom
    dp = mm(mm(v, d), _H(v))
    du = mm(mm(w, omega), _H(v))
    if a.shape[-2] > a.shape[-1]:
        dav = mm(da, v)
        perp = dav - mm(w, mm(_H(w), dav))
        du = du + mm(perp / sc[..., None, :], _H(v))
    return (u, p), (du, dp)


_polar_right_jit = jax.jit(_polar_right)


def polar(a: ArrayLike, side: Literal["right", "left"] = "right") -> tuple[Array, Array]:
    """Polar decomposition ``A = U P`` (right) or ``A = P U`` (left); drop-in for
    ``scipy.linalg.polar`` (returns ``(u, p)``). Batched; GPU-capable (SVD).

    Derivative:
      With ``A = W Σ Vᴴ`` and ``G = Wᴴ dA V`` (right side):
      ``dP = V D Vᴴ``, ``D_ij = (σ_i G_ij + σ_j conj(G_ji)) / (σ_i + σ_j)`` (from ``P dP + dP P =
      dAᴴA + AᴴdA``) and ``dU = W ((G − Gᴴ)/(σ_i + σ_j)) Vᴴ + (I − WWᴴ) dA V Σ⁻¹ Vᴴ`` (from
      ``dU = (dA − U dP) P⁻¹``). Forward and reverse mode (by transposition). Independent of the
      SVD's gauge and finite at repeated singular values. Domain: rank ≥ n − 1 for square A
      (full column rank for tall A); ``σ_i + σ_j = 0`` gives inf/NaN.
      Reference: Higham 2008, §8.1; REFERENCES.md (polar).

    Args:
      a: ``(..., m, n)``; ``side="right"`` needs ``m ≥ n``, ``side="left"`` needs ``m ≤ n``.
      side: ``"right"`` or ``"left"``.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> u, p = matcalc.polar(A)
      >>> bool(np.allclose(u @ p, A)), bool(np.allclose(u.T @ u, np.eye(2)))
      (True, True)
      >>> print(np.round(np.linalg.eigvalsh(p), 6))  # the singular values of A
      [0.365966 5.464986]
      >>> g = jax.grad(lambda A: jnp.trace(matcalc.polar(A)[1]))(A)  # ∇ tr P = ∇‖A‖_* = U
      >>> bool(np.allclose(g, u))
      True
    """
    check_option("polar", "side", side, ("right", "left"))
    a = as_inexact(a)
    check_dtype("polar", "a", a)
    check_matrix(a, "polar")
    m, n = a.shape[-2:]
    if side == "right":
        if m < n:
            raise ValueError(f"polar: side='right' needs m >= n, got shape {a.shape}")
        return _polar_right_jit(a)
    if m > n:
        raise ValueError(f"polar: side='left' needs m <= n, got shape {a.shape}")
    u, p = _polar_right_jit(_H(a))
    return _H(u), p
