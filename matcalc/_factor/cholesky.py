"""Cholesky factorization with Murray's (2016) rule and structured triangular products.

``A = L Lᴴ`` with ``L`` lower triangular with a positive real diagonal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_square, mm, symmetrize
from .._core.primitives import linear_primitive

# Block size of the structured triangular products in the JVP and its adjoint.
_BLOCK = 64


def _phi(x):
    """Lower triangle with the diagonal halved (Murray 2016, eq. 10)."""
    n = x.shape[-1]
    w = jnp.tril(jnp.ones((n, n), dtype=x.real.dtype)) - 0.5 * jnp.eye(n, dtype=x.real.dtype)
    return x * jnp.broadcast_to(w.astype(x.dtype), x.shape)


def _chol_jvp(l, da):
    # A = L Lᴴ  ⇒  L⁻¹ dA L⁻ᴴ = L⁻¹ dL + (L⁻¹ dL)ᴴ, and L⁻¹ dL is lower triangular with a real
    # diagonal, so L⁻¹ dL = Φ(L⁻¹ dA L⁻ᴴ) and dL = L Φ(L⁻¹ dA L⁻ᴴ)  (Murray 2016, eq. 11).
    # X = L⁻¹ dA L⁻ᴴ goes through two triangular solves on the whole factor: a block recursion
    # that forms the Schur complement's tangent dA22 − dL21 L21ᴴ − L21 dL21ᴴ explicitly loses
    # about cond(A)·eps relative to it (1e-3 on logdet at cond 1e8), the solves do not.
    x = lax.linalg.triangular_solve(l, da, left_side=False, lower=True, transpose_a=True, conjugate_a=True)
    x = lax.linalg.triangular_solve(l, x, left_side=True, lower=True)
    return _lower_times_lower(l, _phi(x))


def _lower_times_lower(l, m):
    """``L M`` for lower triangular ``L`` and ``M``, by block rows: row block ``[i:k)`` is
    ``L[i:k, :k] M[:k, :k]`` (the zero blocks are never multiplied; about n³/3 multiply-adds)."""
    n = l.shape[-1]
    if n <= _BLOCK:
        return mm(l, m)
    rows = []
    for i in range(0, n, _BLOCK):
        k = min(i + _BLOCK, n)
        rows.append(_pad_columns(mm(l[..., i:k, :k], m[..., :k, :k]), n))
    return jnp.concatenate(rows, axis=-2)


def _tril_of_upper_times_lower(l, m):
    """``tril(Lᴴ M)`` for lower triangular ``L`` and ``M``: entry ``(i, j)``, ``i ≥ j``, sums
    ``conj(L_ki) M_kj`` over ``k ≥ i`` only, so row block ``[i:k)`` is ``L[i:, i:k]ᴴ M[i:, :k]``."""
    n = l.shape[-1]
    if n <= _BLOCK:
        return jnp.tril(mm(_H(l), m))
    rows = []
    for i in range(0, n, _BLOCK):
        k = min(i + _BLOCK, n)
        rows.append(_pad_columns(mm(_H(l[..., i:, i:k]), m[..., i:, :k]), n))
    return jnp.tril(jnp.concatenate(rows, axis=-2))


def _pad_columns(x, n):
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])


def _chol_tangent(l, da):
    """``dL`` for a tangent of which only the lower triangle is read (as LAPACK reads ``A``):
    the effective tangent is the Hermitian ``tril(dA, −1) + tril(dA, −1)ᴴ + Re diag(dA)``."""
    strict = jnp.tril(da, -1)
    da_h = strict + _H(strict) + jnp.real(jnp.tril(jnp.triu(da))).astype(da.dtype)
    return _chol_jvp(l, da_h)


def _chol_adjoint(l, lbar):
    """Adjoint of ``_chol_tangent`` in ``Re tr(Xᴴ Y)`` for lower ``L̄`` (Murray 2016, eq. 12).

    ``dL = L Φ(L⁻¹ dA_h L⁻ᴴ)``: each factor's adjoint in turn gives ``M = Φ(Lᴴ L̄)``,
    ``G = L⁻ᴴ M L⁻¹`` and, from ``dA_h``'s construction out of ``tril(dA)``,
    ``Ā = tril(G + Gᴴ, −1) + Re diag(G)``. ``Φ`` reads the lower triangle of ``Lᴴ L̄`` only,
    which costs a sixth of the full product; ``G`` comes from two triangular solves.
    """
    m = _phi(_tril_of_upper_times_lower(l, lbar))
    g = lax.linalg.triangular_solve(l, m, left_side=True, lower=True, transpose_a=True, conjugate_a=True)
    g = lax.linalg.triangular_solve(l, g, left_side=False, lower=True)
    return jnp.tril(g + _H(g), -1) + jnp.real(jnp.tril(jnp.triu(g))).astype(g.dtype)


def _chol_transpose(l, ct):
    # JAX's transpose in ⟨W, X⟩ = Re Σ W_ij X_ij is conj ∘ adjoint ∘ conj.
    return jnp.conj(_chol_adjoint(l, jnp.tril(jnp.conj(ct))))


_chol_tangent_p = linear_primitive("matcalc_cholesky_tangent", _chol_tangent, _chol_transpose)


@jax.custom_jvp
def _cholesky(a):
    # LAPACK potrf reads the lower triangle only.
    return jnp.tril(lax.linalg.cholesky(a, symmetrize_input=False))


@_cholesky.defjvp
def _cholesky_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    l = _cholesky(a)
    # Reverse mode evaluates the hand-written adjoint ``_chol_adjoint`` (a linear primitive).
    return l, _chol_tangent_p.bind(l, da)


def cholesky(a: ArrayLike, *, upper: bool = False, symmetrize_input: bool = True) -> Array:
    """Cholesky factor of a (batch of) Hermitian positive definite matrices; drop-in for
    ``jnp.linalg.cholesky``.

    Returns ``L`` lower triangular with ``A = L Lᴴ`` (``upper=True``: ``U = Lᴴ`` with ``A = Uᴴ U``).

    Derivative:
      ``dL = L Φ(L⁻¹ dA L⁻ᴴ)``, ``Φ`` = lower triangle with the diagonal halved (Murray 2016,
      arXiv:1602.07527, eq. 11). Both modes evaluate it through two
      triangular solves on the whole factor, which keep the accuracy of the one-shot formula on
      ill-conditioned input (block recursions through the Schur complement's tangent do not);
      the products with triangular factors skip their zero blocks. Reverse mode is the
      hand-written adjoint (Murray 2016, eq. 12: ``Ā = tril(G + Gᴴ, −1) + Re diag(G)``,
      ``G = L⁻ᴴ Φ(Lᴴ L̄) L⁻¹``, only the lower triangle of ``Lᴴ L̄`` formed); ``jvp``-of-``grad`` works.
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

    Examples:
      >>> A = jnp.array([[4., 2.], [2., 5.]])
      >>> L = matcalc.cholesky(A)
      >>> print(np.round(L, 6))
      [[2. 0.]
       [1. 2.]]
      >>> E = jnp.array([[0., 1.], [1., 0.]])
      >>> _, dL = jax.jvp(matcalc.cholesky, (A,), (E,))  # dL Lᵀ + L dLᵀ = dA, dL lower triangular
      >>> bool(np.allclose(dL @ L.T + L @ dL.T, E)), float(dL[0, 1]) == 0.0
      (True, True)
    """
    a = as_inexact(a)
    check_square(a, "cholesky")
    if symmetrize_input:
        a = symmetrize(a)
    l = _cholesky(a)
    return _H(l) if upper else l
