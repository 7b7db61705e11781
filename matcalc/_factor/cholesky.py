"""Cholesky factorization with Murray's (2016) rule, evaluated blockwise.

``A = L Lᴴ`` with ``L`` lower triangular with a positive real diagonal.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._kernels.linear_primitive import linear_primitive
from .._rules import _H, as_inexact, check_square, mm, symmetrize

# Below this size the JVP and its adjoint use the one-shot formula; above it, block forms.
_BLOCK = 64


def _phi(x):
    """Lower triangle with the diagonal halved (Murray 2016, eq. 10)."""
    n = x.shape[-1]
    w = jnp.tril(jnp.ones((n, n), dtype=x.real.dtype)) - 0.5 * jnp.eye(n, dtype=x.real.dtype)
    return x * jnp.broadcast_to(w.astype(x.dtype), x.shape)


def _chol_jvp_direct(l, da):
    # A = L Lᴴ  ⇒  L⁻¹ dA L⁻ᴴ = L⁻¹ dL + (L⁻¹ dL)ᴴ, and L⁻¹ dL is lower triangular with a real
    # diagonal, so L⁻¹ dL = Φ(L⁻¹ dA L⁻ᴴ) and dL = L Φ(L⁻¹ dA L⁻ᴴ)  (Murray 2016, eq. 11).
    x = lax.linalg.triangular_solve(l, da, left_side=False, lower=True, transpose_a=True,
                                    conjugate_a=True)
    x = lax.linalg.triangular_solve(l, x, left_side=True, lower=True)
    return mm(l, _phi(x))


def _chol_jvp_blocked(l, da):
    """``dL`` for Hermitian ``dA`` by the recursive 2×2 block form of the same rule.

    With ``A = [[A11, A21ᴴ], [A21, A22]]``: ``L11 = chol(A11)``, ``L21 = A21 L11⁻ᴴ``,
    ``L22 = chol(A22 − L21 L21ᴴ)``. Differentiating each line:
      dL11 = chol'(A11)[dA11]
      dL21 = (dA21 − L21 dL11ᴴ) L11⁻ᴴ
      dS   = dA22 − dL21 L21ᴴ − L21 dL21ᴴ          (Hermitian)
      dL22 = chol'(S)[dS]
    This costs about n³ flops against 4n³ for the one-shot formula, and its transpose (JAX's
    reverse mode) is the blocked reverse algorithm of Murray (2016, §4).
    """
    n = l.shape[-1]
    if n <= _BLOCK:
        return _chol_jvp_direct(l, da)
    h = n // 2
    l11, l21, l22 = l[..., :h, :h], l[..., h:, :h], l[..., h:, h:]
    da11, da21, da22 = da[..., :h, :h], da[..., h:, :h], da[..., h:, h:]
    dl11 = _chol_jvp_blocked(l11, da11)
    rhs = da21 - mm(l21, _H(dl11))
    dl21 = lax.linalg.triangular_solve(l11, rhs, left_side=False, lower=True, transpose_a=True,
                                       conjugate_a=True)
    t = mm(dl21, _H(l21))
    ds = da22 - t - _H(t)
    dl22 = _chol_jvp_blocked(l22, ds)
    top = jnp.concatenate([dl11, jnp.zeros_like(da[..., :h, h:])], axis=-1)
    bottom = jnp.concatenate([dl21, dl22], axis=-1)
    return jnp.concatenate([top, bottom], axis=-2)


def _chol_tangent(l, da):
    """``dL`` for a tangent of which only the lower triangle is read (as LAPACK reads ``A``):
    the effective tangent is the Hermitian ``tril(dA, −1) + tril(dA, −1)ᴴ + Re diag(dA)``."""
    strict = jnp.tril(da, -1)
    da_h = strict + _H(strict) + jnp.real(jnp.tril(jnp.triu(da))).astype(da.dtype)
    return _chol_jvp_blocked(l, da_h)


def _chol_adjoint_direct(l, lbar):
    """Adjoint of ``_chol_tangent`` in ``Re tr(Xᴴ Y)`` for lower ``L̄`` (Murray 2016, eq. 12).

    ``dL = L Φ(L⁻¹ dA_h L⁻ᴴ)``: each factor's adjoint in turn gives ``M = Φ(Lᴴ L̄)``,
    ``G = L⁻ᴴ M L⁻¹`` and, from ``dA_h``'s construction out of ``tril(dA)``,
    ``Ā = tril(G + Gᴴ, −1) + Re diag(G)``.
    """
    m = _phi(mm(_H(l), lbar))
    g = lax.linalg.triangular_solve(l, m, left_side=True, lower=True, transpose_a=True,
                                    conjugate_a=True)
    g = lax.linalg.triangular_solve(l, g, left_side=False, lower=True)
    return jnp.tril(g + _H(g), -1) + jnp.real(jnp.tril(jnp.triu(g))).astype(g.dtype)


def _chol_adjoint_blocked(l, lbar):
    """Adjoint of ``_chol_tangent`` by a left-looking sweep over block columns, last first.

    Blocked Cholesky computes block column ``[j:k)`` as ``D = chol(A_DD − R Rᴴ)`` and
    ``C = (A_CD − B Rᴴ) D⁻ᴴ`` (``R = L[j:k, :j]``, ``B = L[k:, :j]``, ``C = L[k:, j:k]``).
    Its adjoint (Murray 2016, §4) sends ``Ȳ = C̄ D⁻¹`` to ``Ā_CD``, ``D̄ − tril(Ȳᴴ C)`` through the
    diagonal block's adjoint to ``Ā_DD``, and ``−Ȳ R``, ``−Ȳᴴ B − (Ā_DD + Ā_DDᴴ) R`` to the
    cotangents of earlier columns. Summed over the later columns, what column ``[j:k)`` receives
    is ``−W C`` with ``W = Ā + Āᴴ`` restricted to rows and columns ``≥ k``, which is final by
    then: one ``(n−k)² × b`` product per column (about n³/3 multiply-adds in all, against
    about 2n³ for transposing the one-shot formula) and no scattered updates.
    """
    n = l.shape[-1]
    if n <= _BLOCK:
        return _chol_adjoint_direct(l, lbar)
    w = None  # Ā + Āᴴ on the trailing rows and columns done so far
    for j in reversed(range(0, n, _BLOCK)):
        k = min(j + _BLOCK, n)
        d, dbar = l[..., j:k, j:k], lbar[..., j:k, j:k]
        if w is not None:
            c = l[..., k:, j:k]
            y = lax.linalg.triangular_solve(d, lbar[..., k:, j:k] - mm(w, c), left_side=False,
                                            lower=True)
            dbar = dbar - jnp.tril(mm(_H(y), c))
        s = _chol_adjoint_direct(d, dbar)
        s = s + _H(s)
        w = s if w is None else jnp.concatenate(
            [jnp.concatenate([s, _H(y)], axis=-1), jnp.concatenate([y, w], axis=-1)], axis=-2)
    return jnp.tril(w, -1) + 0.5 * jnp.tril(jnp.triu(w))


def _chol_transpose(l, ct):
    # JAX's transpose in ⟨W, X⟩ = Re Σ W_ij X_ij is conj ∘ adjoint ∘ conj.
    return jnp.conj(_chol_adjoint_blocked(l, jnp.tril(jnp.conj(ct))))


_chol_tangent_p = linear_primitive("matcalc_cholesky_tangent", _chol_tangent, _chol_transpose)


@jax.custom_jvp
def _cholesky(a):
    # LAPACK potrf reads the lower triangle only.
    return jnp.tril(lax.linalg.cholesky(a, symmetrize_input=False))


@_cholesky.defjvp
def _cholesky_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    l = _cholesky(a)
    # Forward mode: the recursive block form; reverse mode: the left-looking blocked adjoint.
    return l, _chol_tangent_p.bind(l, da)


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """Cholesky factor of a (batch of) Hermitian positive definite matrices; drop-in for
    ``jnp.linalg.cholesky``.

    Returns ``L`` lower triangular with ``A = L Lᴴ`` (``upper=True``: ``U = Lᴴ`` with ``A = Uᴴ U``).

    Derivative:
      ``dL = L Φ(L⁻¹ dA L⁻ᴴ)``, ``Φ`` = lower triangle with the diagonal halved (Murray 2016,
      arXiv:1602.07527, eq. 11). Forward mode evaluates it by the recursive 2×2 block form (about
      n³ flops instead of 4n³). Reverse mode is a hand-written left-looking blocked adjoint
      (Murray 2016, §4: ``Ā = tril(G + Gᴴ, −1) + Re diag(G)``, ``G = L⁻ᴴ Φ(Lᴴ L̄) L⁻¹``, evaluated
      block column by block column in about n³/3 multiply-adds); ``jvp``-of-``grad`` works.
      Tangent space: with ``symmetrize_input=True`` (default) the function is
      ``A ↦ chol((A + Aᴴ)/2)``, so the tangent is replaced by its Hermitian part and gradients are
      Hermitian. With ``symmetrize_input=False`` only the lower triangle of ``a`` is read (as
      LAPACK does): the tangent is ``tril(dA) + tril(dA, −1)ᴴ`` (real diagonal) and the gradient is
      supported on the lower triangle, none leaks into the unused upper triangle.
      Domain: positive definite input. Otherwise the factor is NaN (as ``jnp.linalg.cholesky``)
      and so are its derivatives.

    Args:
      a: ``(..., n, n)`` real or complex; integer input is promoted to the default float.
      upper: return the upper factor ``Lᴴ``.
      symmetrize_input: use ``(a + aᴴ)/2`` (default, as JAX) instead of the lower triangle only.

    Returns:
      ``(..., n, n)`` triangular factor.
    """
    a = as_inexact(a)
    check_square(a, "cholesky")
    if symmetrize_input:
        a = symmetrize(a)
    l = _cholesky(a)
    return _H(l) if upper else l


del functools
