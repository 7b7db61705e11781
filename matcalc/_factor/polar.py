"""Polar decomposition with forward- and reverse-mode rules; the value by the SVD or by QDWH."""

from __future__ import annotations

import functools
import operator
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_dtype, check_matrix, check_option, mm


def _svd_parts(a):
    w, s, vh = jnp.linalg.svd(a, full_matrices=False)
    # NaN/Inf input: the SVD may return finite W, V with NaN σ; propagate NaN to W, V (so U = W Vᴴ)
    bad = jnp.any(jnp.isnan(s), axis=-1)[..., None, None]
    return jnp.where(bad, jnp.nan, w), s, jnp.where(bad, jnp.nan, _H(vh))


def _qdwh_factors(a, eps, max_iterations):
    """``(U, P)`` by JAX's QDWH iteration (QR and Cholesky only: no SVD), batched over leading axes."""
    m, n = a.shape[-2:]
    if a.size == 0:  # nothing to iterate on: empty factors of the right shapes
        return jnp.zeros(a.shape, a.dtype), jnp.zeros((*a.shape[:-2], n, n), a.dtype)

    def one(x):
        u, h, _, _ = jax.lax.linalg.qdwh(x, eps=eps, max_iterations=max_iterations)
        return u, h

    flat = a.reshape(-1, m, n)
    u, p = jax.vmap(one)(flat)
    return u.reshape(a.shape), p.reshape((*a.shape[:-2], n, n))


def _qdwh_parts(a, eps, max_iterations):
    """``U, P`` from QDWH and the spectral data ``A = W Σ Vᴴ`` the rule needs, without an SVD of A:
    ``P = V Σ Vᴴ`` is Hermitian positive semidefinite, so ``eigh(P)`` gives ``Σ`` and ``V``, and
    ``A = U P = (U V) Σ Vᴴ`` gives ``W = U V``."""
    u, p = _qdwh_factors(a, eps, max_iterations)
    lam, v = jnp.linalg.eigh((p + _H(p)) / 2)
    s = jnp.abs(lam)  # P ⪰ 0: a negative eigenvalue is rounding of a (near-)zero singular value
    return u, p, mm(u, v), s, v


def _factors(a, method, eps, max_iterations):
    """``(U, P)`` and ``(W, σ, V)`` with ``A = W Σ Vᴴ``, ``U = W Vᴴ``, ``P = V Σ Vᴴ`` (right side)."""
    if method == "qdwh":
        u, p, w, s, v = _qdwh_parts(a, eps, max_iterations)
        return (u, p), (w, s, v)
    w, s, v = _svd_parts(a)
    u = mm(w, _H(v))
    p = mm(v * s[..., None, :].astype(a.dtype), _H(v))
    return (u, p), (w, s, v)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _polar_right(a, method, eps, max_iterations):
    if method == "qdwh":
        return _qdwh_factors(a, eps, max_iterations)
    return _factors(a, method, eps, max_iterations)[0]


@_polar_right.defjvp
def _polar_right_jvp(method, eps, max_iterations, primals, tangents):
    (a,), (da,) = primals, tangents
    (u, p), (w, s, v) = _factors(a, method, eps, max_iterations)
    # A = W Σ Vᴴ, U = W Vᴴ, P = V Σ Vᴴ; G = Wᴴ dA V.
    # P² = AᴴA ⇒ Σ D + D Σ = Gᴴ Σ + Σ G with D = Vᴴ dP V:  D_ij = (σ_i G_ij + σ_j Ḡ_ji)/(σ_i+σ_j)
    # dU = (dA − U dP) P⁻¹ ⇒ Wᴴ dU V = (G − Gᴴ)/(σ_i + σ_j) (no σ⁻¹: finite at rank n−1),
    # plus (I − W Wᴴ) dA V Σ⁻¹ Vᴴ for tall A. Only the span of each singular subspace enters, so
    # any W, V with A = W Σ Vᴴ serve: the SVD's, or (QDWH) V from eigh(P) and W = U V.
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


_polar_right_jit = jax.jit(_polar_right, static_argnums=(1, 2, 3))


def _check_qdwh_options(eps, max_iterations):
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"polar: eps must be None or a positive Python float, got {eps!r}")
        eps = float(eps)
    if max_iterations is not None:
        if isinstance(max_iterations, bool):
            raise ValueError(
                f"polar: max_iterations must be None or a positive integer, got {max_iterations!r}"
            )
        try:
            max_iterations = operator.index(max_iterations)
        except TypeError:
            raise ValueError(
                f"polar: max_iterations must be None or a positive integer, got {max_iterations!r}"
            ) from None
        if max_iterations < 1:
            raise ValueError(
                f"polar: max_iterations must be None or a positive integer, got {max_iterations!r}"
            )
    return eps, max_iterations


def polar(
    a: ArrayLike,
    side: Literal["right", "left"] = "right",
    *,
    method: Literal["svd", "qdwh"] = "svd",
    eps: float | None = None,
    max_iterations: int | None = None,
) -> tuple[Array, Array]:
    """Polar decomposition ``A = U P`` (right) or ``A = P U`` (left); drop-in for
    ``scipy.linalg.polar`` (returns ``(u, p)``). Batched; GPU-capable (both methods).

    ``method="svd"`` (the default) forms ``U = W Vᴴ`` and ``P = V Σ Vᴴ`` from the SVD
    ``A = W Σ Vᴴ``; ``method="qdwh"`` runs JAX's QR-based dynamically weighted Halley iteration
    (``jax.lax.linalg.qdwh``: QR and matrix products only, no SVD), stopping when successive
    iterates agree to ``(4 eps)^(1/3)`` relative (``eps`` defaults to the working precision) or
    after ``max_iterations`` steps (default 10). The derivative is the same rule for both.

    Derivative:
      With ``A = W Σ Vᴴ`` and ``G = Wᴴ dA V`` (right side):
      ``dP = V D Vᴴ``, ``D_ij = (σ_i G_ij + σ_j conj(G_ji)) / (σ_i + σ_j)`` (from ``P dP + dP P =
      dAᴴA + AᴴdA``) and ``dU = W ((G − Gᴴ)/(σ_i + σ_j)) Vᴴ + (I − WWᴴ) dA V Σ⁻¹ Vᴴ`` (from
      ``dU = (dA − U dP) P⁻¹``). Forward and reverse mode (by transposition). Independent of the
      SVD's gauge and finite at repeated singular values. With ``method="qdwh"`` the spectral data
      come from the computed factors, not from an SVD of ``A``: ``P = V Σ Vᴴ`` by ``eigh`` and
      ``W = U V``. Domain: rank ≥ n − 1 for square A (full column rank for tall A; QDWH itself
      needs full rank); ``σ_i + σ_j = 0`` gives inf/NaN.
      Reference: Higham 2008, §8.1; Nakatsukasa, Bai & Gygi 2010 (QDWH).

    Args:
      a: ``(..., m, n)``; ``side="right"`` needs ``m ≥ n``, ``side="left"`` needs ``m ≤ n``.
      side: ``"right"`` or ``"left"``.
      method: ``"svd"`` or ``"qdwh"``.
      eps: QDWH's convergence tolerance, a positive float (``None``: the dtype's epsilon).
        Only with ``method="qdwh"``.
      max_iterations: QDWH's iteration cap, a positive integer (``None``: 10). Only with
        ``method="qdwh"``.

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
      >>> uq, pq = matcalc.polar(A, method="qdwh")  # no SVD
      >>> bool(np.allclose(uq, u, atol=1e-5)), bool(np.allclose(pq, p, atol=1e-5))
      (True, True)
    """
    check_option("polar", "side", side, ("right", "left"))
    check_option("polar", "method", method, ("svd", "qdwh"))
    eps, max_iterations = _check_qdwh_options(eps, max_iterations)
    a = as_inexact(a)
    check_dtype("polar", "a", a)
    check_matrix(a, "polar")
    m, n = a.shape[-2:]
    if side == "right":
        if m < n:
            raise ValueError(f"polar: side='right' needs m >= n, got shape {a.shape}")
        return _polar_right_jit(a, method, eps, max_iterations)
    if m > n:
        raise ValueError(f"polar: side='left' needs m <= n, got shape {a.shape}")
    u, p = _polar_right_jit(_H(a), method, eps, max_iterations)
    return _H(u), p
