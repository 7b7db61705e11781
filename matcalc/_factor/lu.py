"""LU factorization with partial pivoting, ``A = P L U`` as in SciPy; pivots not differentiated."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import as_inexact, check_matrix, mm
from .._core.primitives import linear_primitive


def _gather_rows(perm, x):
    return jnp.take_along_axis(x, perm[..., :, None], axis=-2)


# Row permutation P x as a linear primitive: JAX would transpose the gather into a scatter-add;
# a permutation's transpose is the gather by the inverse permutation.
_permute_rows_p = linear_primitive(
    "matcalc_permute_rows", _gather_rows, lambda perm, ct: _gather_rows(jnp.argsort(perm, axis=-1), ct)
)


def _tri_solve_left_unit_lower(l, b):
    return lax.linalg.triangular_solve(l, b, left_side=True, lower=True, unit_diagonal=True)


def _tri_solve_right_upper(u, b):
    return lax.linalg.triangular_solve(u, b, left_side=False, lower=False)


@jax.custom_jvp
def _lu(a):
    m, n = a.shape[-2:]
    k = min(m, n)
    lu, _, perm = lax.linalg.lu(a)
    unit = jnp.broadcast_to(jnp.eye(m, k, dtype=a.dtype), lu[..., :, :k].shape)
    l = jnp.tril(lu[..., :, :k], -1) + unit
    u = jnp.triu(lu[..., :k, :])
    # P A = L U with P = I[perm];  A = Pᵀ L U, so SciPy's p = Pᵀ: p[perm[i], i] = 1.
    p = jnp.swapaxes(jax.nn.one_hot(perm, m, dtype=a.dtype), -1, -2)
    return p, l, u


@_lu.defjvp
def _lu_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    p, l, u = _lu(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    if m == 0 or n == 0:  # empty factors, empty tangents
        return (p, l, u), (jnp.zeros_like(p), jnp.zeros_like(l), jnp.zeros_like(u))
    perm = lax.stop_gradient(jnp.argmax(jnp.real(p), axis=-2))
    # Pivots are piecewise constant: dP = 0, and P dA = dL U + L dU.
    pda = _permute_rows_p.bind(perm, da)
    l1, u1 = l[..., :k, :], u[..., :, :k]
    # Leading k×k block (de Hoog, Anderssen & Lukas 2011):
    #   L1⁻¹ (P dA)₁₁ U1⁻¹ = L1⁻¹ dL1 + dU1 U1⁻¹ = F, the first strictly lower (L1 has a unit
    #   diagonal), the second upper, so dL1 = L1 tril(F, −1) and dU1 = triu(F) U1.
    f = _tri_solve_right_upper(u1, _tri_solve_left_unit_lower(l1, pda[..., :k, :k]))
    fl = jnp.tril(f, -1)
    dl1 = mm(l1, fl)
    du1 = mm(jnp.triu(f), u1)
    dl, du = dl1, du1
    if m > k:
        # Tall: the remaining rows satisfy (P A)₂ = L2 U, so dL2 = ((P dA)₂ − L2 dU) U⁻¹.
        l2 = l[..., k:, :]
        dl2 = _tri_solve_right_upper(u1, pda[..., k:, :] - mm(l2, du1))
        dl = jnp.concatenate([dl1, dl2], axis=-2)
    if n > k:
        # Wide: the remaining columns satisfy (P A)_{:,2} = L U2, so
        # dU2 = L⁻¹((P dA)_{:,2} − dL U2).
        u2 = u[..., :, k:]
        du2 = _tri_solve_left_unit_lower(l1, pda[..., :, k:] - mm(dl1, u2))
        du = jnp.concatenate([du1, du2], axis=-1)
    return (p, l, u), (jnp.zeros_like(p), dl, du)


def lu(
    a: ArrayLike, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> tuple[Array, Array, Array] | tuple[Array, Array]:
    """LU factorization with partial pivoting; drop-in for ``jax.scipy.linalg.lu``.

    ``A = P L U`` for ``a`` of shape ``(..., m, n)``, ``k = min(m, n)``: ``P`` an ``m×m``
    permutation matrix (in ``a``'s dtype), ``L`` ``m×k`` unit lower triangular, ``U`` ``k×n``
    upper triangular.

    Derivative:
      The pivoting is piecewise constant and is not differentiated (``dP = 0``). With
      ``F = L1⁻¹ (Pᵀ dA)₁₁ U1⁻¹`` on the leading ``k×k`` block: ``dL1 = L1 tril(F, −1)``,
      ``dU1 = triu(F) U1``; tall input adds ``dL2 = ((Pᵀ dA)₂ − L2 dU1) U1⁻¹`` for the last
      ``m − k`` rows; wide input adds ``dU2 = L1⁻¹((Pᵀ dA)_{:,2} − dL1 U2)`` for the last
      ``n − k`` columns. No gauge: the factors are unique given the pivots.
      Domain: ``U1`` nonsingular (the leading ``k`` pivots nonzero); otherwise inf/NaN. At inputs
      where partial pivoting ties, the derivative is that of the factorization with the pivots
      the forward pass chose (one-sided).
      Reference: de Hoog, Anderssen & Lukas, Math. Comp. 80 (2011); Giles (2008) §3.

    Args:
      a: ``(..., m, n)`` real or complex.
      permute_l: return ``(P L, U)`` instead of ``(P, L, U)``.
      overwrite_a: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Returns:
      ``(p, l, u)``, or ``(p @ l, u)`` with ``permute_l=True``.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> p, l, u = matcalc.lu(A)
      >>> print(np.round(u, 6))
      [[3.       4.      ]
       [0.       0.666667]]
      >>> bool(np.allclose(p @ l @ u, A))
      True
    """
    del overwrite_a, check_finite
    a = as_inexact(a)
    check_matrix(a, "lu")
    p, l, u = _lu(a)
    if permute_l:
        return mm(p, l), u
    return jnp.real(p), l, u  # the permutation is real, as JAX's (also for complex a)
