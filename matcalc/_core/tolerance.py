"""One tolerance policy for "repeated", "singular" and "converged".

Every rule that must decide whether two eigenvalues (singular values, diagonal entries) are the
same, or whether a pivot or a singular value is zero, compares against a multiple of the backward
error of the factorization that produced them:

    cluster_tol(v) = factor · size · eps · max|v|

``size`` is the order ``n`` of the matrix (``max(m, n)`` for singular values) and ``factor`` the
call site's safety margin (1 for the spectra of ``eig``/``svd``/``norm``/``det``, 4 for ``eigh``'s
and Schur's clusters, LAPACK's bound). Iterations (Newton, Denman–Beavers, inverse scaling and
squaring) stop at a relative change below ``relative_tol = factor · size · eps``. The constants
stay with the call sites; the formula lives here.
"""

from __future__ import annotations

import jax.numpy as jnp


def cluster_tol(values, *, factor=1, size=None, axis=-1):
    """``factor · size · eps · max|values|`` over ``axis`` (kept, with size 1).

    Values within this distance of each other count as repeated, and a nonnegative value below it
    as zero. ``size`` defaults to the length of ``values`` along ``axis``; ``eps`` is the machine
    epsilon of ``values``' (real) precision; an empty ``values`` gives 0.
    """
    if size is None:
        size = values.shape[axis]
    eps = jnp.finfo(values.dtype).eps
    return factor * size * eps * jnp.max(jnp.abs(values), axis=axis, keepdims=True, initial=0)


def relative_tol(dtype, size, factor=1):
    """``factor · size · eps``: the relative change below which an iteration has converged (or a
    relative residual counts as rounding), for matrices of order ``size`` in ``dtype``."""
    return factor * size * jnp.finfo(dtype).eps


__all__ = ["cluster_tol", "relative_tol"]
