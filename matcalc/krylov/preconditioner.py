"""A low-rank-plus-shift preconditioner from a partial pivoted Cholesky factorization, for the
stochastic log-determinant of Hermitian positive definite operators.

``P = L Lᴴ + s I`` with ``L`` (``n × k``) the first ``k`` columns of a greedily pivoted Cholesky
factorization of ``A`` (Harbrecht, Peters & Schneider 2012), computed from ``diag(A)`` and ``k``
columns ``A e_p`` (a slice of a dense matrix, a product with a unit vector otherwise, so
matrix-free), and the shift ``s`` the mean of the residual diagonal ``diag(A − L Lᴴ)`` (which
is ``σ²`` plus what ``L`` missed for a kernel matrix ``K + σ² I``, the case of Gardner et al.
2018). ``P`` has an exact ``log det`` and an exact inverse
square root in ``O(n k²)``: with ``L = Q R`` and ``R Rᴴ = U Λ Uᴴ``, ``W = Q U`` (orthonormal columns),

    P = W (Λ + s) Wᴴ + s (I − W Wᴴ),   P^{-1/2} = s^{-1/2} I + W ((Λ + s)^{-1/2} − s^{-1/2}) Wᴴ,
    log det P = Σ log(Λ_i + s) + (n − k) log s.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._operators import Operator
from .lanczos import mm


class LowRankShift(NamedTuple):
    """``P = W (Λ + s) Wᴴ + s (I − W Wᴴ)``: ``basis`` ``W`` (``n × k``, orthonormal columns),
    ``eigenvalues`` ``Λ`` (``k``) and ``shift`` ``s > 0``."""

    basis: jax.Array
    eigenvalues: jax.Array
    shift: jax.Array

    def inv_sqrt(self, x: jax.Array) -> jax.Array:
        """``P^{-1/2} x`` for ``x`` of shape ``(n,)`` or ``(n, p)``."""
        root_s = jnp.sqrt(self.shift)
        scale = 1 / jnp.sqrt(self.eigenvalues + self.shift) - 1 / root_s
        coef = mm(jnp.conj(self.basis).T, x)
        coef = coef * (scale[:, None] if x.ndim == 2 else scale).astype(coef.dtype)
        return x / root_s.astype(x.dtype) + mm(self.basis, coef)

    def logdet(self) -> jax.Array:
        n, k = self.basis.shape
        return jnp.sum(jnp.log(self.eigenvalues + self.shift)) + (n - k) * jnp.log(self.shift)


def _diagonal(operator: Operator) -> jax.Array:
    """``diag(A)``, real (the operator is Hermitian)."""
    if operator.kind == "dense":
        d = jnp.diagonal(operator.matrix)
    elif operator.kind == "bcoo":
        rows, cols = operator.matrix.indices[:, 0], operator.matrix.indices[:, 1]
        on_diagonal = jnp.where(rows == cols, operator.matrix.data, 0)
        d = jnp.zeros(operator.shape[0], operator.dtype).at[rows].add(on_diagonal)
    else:
        import lineax as lx

        d = lx.diagonal(operator.matrix)
    return jnp.real(d)


def pivoted_cholesky(operator: Operator, rank: int) -> LowRankShift:
    """``P = L Lᴴ + s I`` from ``rank`` steps of greedily pivoted Cholesky on ``A`` (not
    differentiated: it is a fixed preconditioner for the estimator, whose value and gradient do
    not depend on the choice of ``P`` in expectation)."""
    operator = lax.stop_gradient(operator)
    n = operator.shape[0]
    dtype = operator.dtype
    real = jnp.finfo(dtype).dtype
    d0 = _diagonal(operator)
    tiny = jnp.finfo(real).eps * jnp.max(jnp.abs(d0))

    def step(i, carry):
        factor, residual = carry
        pivot = jnp.argmax(residual)
        pivot_value = residual[pivot]
        column = operator.column(pivot)
        # column p of A − L Lᴴ, scaled: l = (A e_p − L conj(L[p, :])) / √(residual_p)
        update = column - mm(factor, jnp.conj(factor[pivot]))
        usable = pivot_value > tiny  # the residual is exhausted (A has rank < i + 1)
        l = jnp.where(usable, update / jnp.sqrt(jnp.where(usable, pivot_value, 1)).astype(dtype), 0)
        factor = factor.at[:, i].set(l)
        residual = jnp.maximum(residual - jnp.abs(l) ** 2, 0)
        return factor, residual

    factor, residual = lax.fori_loop(0, rank, step, (jnp.zeros((n, rank), dtype), d0))
    shift = jnp.maximum(jnp.mean(residual), tiny)
    q, r = jnp.linalg.qr(factor)
    eigenvalues, u = jnp.linalg.eigh(mm(r, jnp.conj(r).T))
    return LowRankShift(mm(q, u), jnp.maximum(eigenvalues, 0), shift)
