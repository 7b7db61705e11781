"""Cholesky factorization with Murray's (2016) rule, evaluated blockwise.

``A = L Lᴴ`` with ``L`` lower triangular with a positive real diagonal.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._rules import _H, as_inexact, check_square, mm, symmetrize

# Below this size the JVP uses the one-shot formula; above it, the recursive block form.
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


@jax.custom_jvp
def _cholesky(a):
    # LAPACK potrf reads the lower triangle only.
    return jnp.tril(lax.linalg.cholesky(a, symmetrize_input=False))


@_cholesky.defjvp
def _cholesky_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    l = _cholesky(a)
    # The factorization reads the lower triangle, so the effective tangent is the Hermitian matrix
    # built from dA's lower triangle (the upper triangle of a is unused and gets no gradient).
    dl_ = jnp.tril(da, -1)
    da_h = dl_ + _H(dl_) + jnp.real(jnp.tril(jnp.triu(da))).astype(da.dtype)
    return l, _chol_jvp_blocked(l, da_h)


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """Cholesky factor of a (batch of) Hermitian positive definite matrices; drop-in for
    ``jnp.linalg.cholesky``.

    Returns ``L`` lower triangular with ``A = L Lᴴ`` (``upper=True``: ``U = Lᴴ`` with ``A = Uᴴ U``).

    Derivative:
      ``dL = L Φ(L⁻¹ dA L⁻ᴴ)``, ``Φ`` = lower triangle with the diagonal halved (Murray 2016,
      arXiv:1602.07527, eq. 11). It is evaluated by the recursive 2×2 block form (about n³ flops
      instead of 4n³), whose transpose, taken by JAX for reverse mode, is Murray's blocked reverse
      algorithm; ``jvp``-of-``grad`` works.
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
