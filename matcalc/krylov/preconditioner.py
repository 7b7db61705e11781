"""A low-rank-plus-shift preconditioner from a partial pivoted Cholesky factorization, for the
stochastic log-determinant and for conjugate-gradient solves with Hermitian positive definite
operators.

``P = L Lᴴ + s I`` with ``L`` (``n × k``) the first ``k`` columns of a greedily pivoted Cholesky
factorization of ``A`` (Harbrecht, Peters & Schneider 2012), computed from ``diag(A)`` and ``k``
columns ``A e_p`` (a slice of a dense matrix, a product with a unit vector otherwise, so
matrix-free), and the shift ``s`` the mean of the residual diagonal ``diag(A − L Lᴴ)`` (which
is ``σ²`` plus what ``L`` missed for a kernel matrix ``K + σ² I``, the case of Gardner et al.
2018). ``P`` has an exact ``log det`` and an exact inverse
square root in ``O(n k²)``: with ``L = Q R`` and ``R Rᴴ = U Λ Uᴴ``, ``W = Q U`` (orthonormal columns),

    P = W (Λ + s) Wᴴ + s (I − W Wᴴ),   P^{-1/2} = s^{-1/2} I + W ((Λ + s)^{-1/2} − s^{-1/2}) Wᴴ,
    P^{-1} = s^{-1} I + W ((Λ + s)^{-1} − s^{-1}) Wᴴ,
    log det P = Σ log(Λ_i + s) + (n − k) log s.

One factorization serves both halves of a Gaussian-process likelihood: ``P⁻¹`` preconditions the
CG solve of ``K⁻¹ y`` (``LowRankShift.inverse_operator()``, a lineax operator) and ``logdet(K,
preconditioner=P)`` splits off ``log det P``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._operators import Operator, as_operator
from .lanczos import mm


class LowRankShift(NamedTuple):
    """``P = W (Λ + s) Wᴴ + s (I − W Wᴴ)``: ``basis`` ``W`` (``n × k``, orthonormal columns),
    ``eigenvalues`` ``Λ`` (``k``) and ``shift`` ``s > 0``; a preconditioner for Hermitian positive
    definite operators, built by ``LowRankShift.pivoted_cholesky(A, k)``.

    ``P⁻¹ x`` (``solve``), ``P^{-1/2} x`` (``inv_sqrt``) and ``log det P`` (``logdet``) are exact, in
    ``O(n k)`` per column. One factorization serves a whole Gaussian-process likelihood: pass
    ``P.inverse_operator()`` as lineax CG's ``preconditioner`` option for ``K⁻¹ y``, and ``P`` as
    ``matcalc.krylov.logdet(K, preconditioner=P)``.

    Examples:
        >>> from matcalc.krylov import LowRankShift
        >>> a = jnp.array([[4.0, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
        >>> p = LowRankShift.pivoted_cholesky(a, 2)  # pivots 0 and 1: residual diagonal (0, 0, 1)
        >>> print(f"{float(p.shift):.4f} {float(p.logdet()):.4f}")  # s = 1/3, log det(LLᵀ + sI)
        0.3333 0.7115
        >>> print(np.round(p.solve(jnp.array([0.0, 0.0, 1.0])), 6))  # P⁻¹ e₃ = e₃/s
        [0. 0. 3.]
    """

    basis: jax.Array
    eigenvalues: jax.Array
    shift: jax.Array

    def _power(self, x: jax.Array, power: float) -> jax.Array:
        """``P^power x = s^power x + W ((Λ + s)^power − s^power) Wᴴ x`` (``x``: ``(n,)`` or ``(n, p)``)."""
        shift_power = self.shift**power
        scale = (self.eigenvalues + self.shift) ** power - shift_power
        coef = mm(jnp.conj(self.basis).T, x)
        coef = coef * (scale[:, None] if x.ndim == 2 else scale).astype(coef.dtype)
        return x * shift_power.astype(x.dtype) + mm(self.basis, coef)

    def inv_sqrt(self, x: jax.Array) -> jax.Array:
        """``P^{-1/2} x`` for ``x`` of shape ``(n,)`` or ``(n, p)``."""
        return self._power(x, -0.5)

    def solve(self, x: jax.Array) -> jax.Array:
        """``P⁻¹ x`` for ``x`` of shape ``(n,)`` or ``(n, p)``, exactly, in ``O(n k)`` per column."""
        return self._power(x, -1.0)

    def inverse_operator(self):
        """``P⁻¹`` as a positive semidefinite ``lineax.FunctionLinearOperator``: the
        ``preconditioner`` option of ``lineax.CG`` expects the inverse's action."""
        import lineax as lx

        n = self.basis.shape[0]
        structure = jax.ShapeDtypeStruct((n,), self.basis.dtype)
        return lx.FunctionLinearOperator(self.solve, structure, lx.positive_semidefinite_tag)

    @classmethod
    def pivoted_cholesky(cls, A: Any, rank: int) -> LowRankShift:
        """``P = L Lᴴ + s I`` from ``rank`` steps of greedily pivoted Cholesky on a Hermitian positive
        semidefinite ``A`` (2-D array, ``BCOO`` matrix or lineax operator), as a ``LowRankShift``.

        Cost: ``diag(A)`` and ``rank`` columns ``A e_p`` (a slice of a dense matrix, one product each
        otherwise), then ``O(n rank²)``. ``L`` is the first ``rank`` columns of the pivoted Cholesky
        factor (Harbrecht, Peters & Schneider 2012; the largest residual diagonal entry is the next
        pivot) and ``s`` the mean of the residual diagonal ``diag(A − L Lᴴ)``, floored at
        ``eps max|diag A|``; if ``A`` has rank ``r < rank`` the factorization stops at ``r`` columns.

        Not differentiated (``A`` is read through ``stop_gradient``): it is a fixed preconditioner.
        ``logdet(A, preconditioner=P)`` and CG solves preconditioned with
        ``P.inverse_operator()`` give values and gradients that do not depend on the choice of ``P``
        (in expectation for ``logdet``, up to the solver tolerance for CG), so one ``P`` built once
        serves both. ``rank`` must satisfy ``1 <= rank <= n``.
        """
        return pivoted_cholesky(A, rank)

    def logdet(self) -> jax.Array:
        """``log det P = Σ log(Λ_i + s) + (n − k) log s``, exactly."""
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


def pivoted_cholesky(A: Any, rank: int) -> LowRankShift:
    """``P = L Lᴴ + s I`` from ``rank`` steps of pivoted Cholesky on ``A``: the implementation of
    ``LowRankShift.pivoted_cholesky``, which documents it.
    """
    operator = as_operator(A, name="A", square=True)
    if (
        isinstance(rank, bool)
        or not isinstance(rank, (int, np.integer))
        or not 1 <= int(rank) <= operator.shape[0]
    ):
        raise ValueError(f"rank: expected an int with 1 <= rank <= n = {operator.shape[0]}, got {rank!r}")
    rank = int(rank)
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
