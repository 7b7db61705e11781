"""LU plumbing shared by the elementary rules, the matrix functions and the matrix equations:
``P A = L U`` with its row permutation, solves with it (and with its transpose), and
``sign(det A)``, ``log|det A|`` from it. No derivative rule here: the rules that call these
differentiate through their own formulas."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._core import diag


def lu_pivoted(a):
    """``(lu, pivots, permutation)`` of ``P A = L U``."""
    return lax.linalg.lu(a)


def lu_pivoted_solve(lu, perm, b, trans: bool = False):
    """Solve ``A x = b`` (``trans``: ``Aᵀ x = b``) for ``b[..., n, k]`` from ``P A = L U``."""
    if not trans:
        pb = jnp.take_along_axis(b, perm[..., :, None], axis=-2)
        y = lax.linalg.triangular_solve(lu, pb, left_side=True, lower=True, unit_diagonal=True)
        return lax.linalg.triangular_solve(lu, y, left_side=True, lower=False)
    # Aᵀ = Uᵀ Lᵀ P
    y = lax.linalg.triangular_solve(lu, b, left_side=True, lower=False, transpose_a=True)
    z = lax.linalg.triangular_solve(lu, y, left_side=True, lower=True, unit_diagonal=True, transpose_a=True)
    inv_perm = jnp.argsort(perm, axis=-1)
    return jnp.take_along_axis(z, inv_perm[..., :, None], axis=-2)


def lu_sign_logabs(lu, piv):
    """sign(det A) and log|det A| from ``P A = L U`` (``piv``: LAPACK row-swap pivots)."""
    d = diag(lu)
    n = piv.shape[-1]
    swaps = jnp.count_nonzero(piv != jnp.broadcast_to(jnp.arange(n, dtype=piv.dtype), piv.shape), axis=-1)
    perm_sign = jnp.where(swaps % 2 == 1, -1.0, 1.0).astype(lu.dtype)
    absd = jnp.abs(d)
    safe = jnp.where(absd == 0, 1.0, absd)
    if jnp.iscomplexobj(lu):
        unit = jnp.where(absd == 0, 0, d / safe.astype(lu.dtype))
    else:
        unit = jnp.sign(d)
    sign = perm_sign * jnp.prod(unit, axis=-1)
    logabs = jnp.sum(jnp.log(absd), axis=-1)
    return sign, logabs


__all__ = ["lu_pivoted", "lu_pivoted_solve", "lu_sign_logabs"]
