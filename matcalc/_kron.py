"""The course's chapter-3 view: ``vec``, ``unvec`` and explicit Jacobian matrices.

``vec`` stacks columns (column-major), so ``vec(A X B) = (Bᵀ ⊗ A) vec(X)`` and the Jacobian of
``A ↦ A²`` is ``I ⊗ A + Aᵀ ⊗ I``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from ._core import _T, as_inexact


def vec(a: ArrayLike) -> Array:
    """Column-major vectorization of the last two axes: ``(..., m, n) → (..., m·n)``.

    Linear, so its derivative is itself: ``d vec(A) = vec(dA)``.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> print(matcalc.vec(A))  # columns stacked
      [1. 3. 2. 4.]
    """
    a = jnp.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"vec: input must have at least 2 dimensions, got shape {a.shape}")
    return _T(a).reshape(*a.shape[:-2], a.shape[-1] * a.shape[-2])


def unvec(v: ArrayLike, shape: tuple[int, ...]) -> Array:
    """Inverse of ``vec``: ``(..., m·n) → (..., m, n)`` for ``shape = (m, n)``.

    Examples:
      >>> v = jnp.array([1., 3., 2., 4.])
      >>> print(matcalc.unvec(v, (2, 2)))
      [[1. 2.]
       [3. 4.]]
      >>> bool(np.array_equal(matcalc.vec(matcalc.unvec(v, (2, 2))), v))
      True
    """
    v = jnp.asarray(v)
    if not (
        isinstance(shape, tuple | list)
        and len(shape) == 2
        and all(isinstance(d, int | np.integer) and d >= 0 for d in shape)
    ):
        raise ValueError(f"unvec: shape must be a pair (m, n) of non-negative integers, got {shape!r}")
    m, n = shape
    if v.ndim < 1 or v.shape[-1] != m * n:
        raise ValueError(f"unvec: last axis must have length {m * n} for shape {shape}, got {v.shape}")
    return _T(v.reshape(*v.shape[:-1], n, m))


def jacobian_matrix(f: Callable, a: ArrayLike) -> jax.Array:
    """The explicit Jacobian of a matrix function in the ``vec`` convention.

    For ``f: (m, n) → (p, q)`` returns ``J`` of shape ``(p·q, m·n)`` with
    ``vec(df) = J vec(dA)``; e.g. ``f(A) = A @ A`` gives ``I ⊗ A + Aᵀ ⊗ I`` (course notes, ch. 3).
    Built column by column with forward mode (``jax.jacfwd``), so it uses ``f``'s JVP rule.
    Complex ``f`` must be holomorphic (the Jacobian is then complex). Integer/bool ``a`` is
    promoted to a float dtype as ``jnp.linalg`` does.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> J = matcalc.jacobian_matrix(lambda X: X @ X, A)
      >>> J.shape
      (4, 4)
      >>> bool(np.allclose(J, np.kron(np.eye(2), A) + np.kron(A.T, np.eye(2))))  # I ⊗ A + Aᵀ ⊗ I
      True
    """
    a = as_inexact(a)
    if a.ndim != 2:
        raise ValueError(f"jacobian_matrix: a must be a single matrix, got shape {a.shape}")
    shape = a.shape

    def flat(v):
        out = jnp.asarray(f(unvec(v, shape)))
        if out.ndim == 0:
            return out[None]
        if out.ndim == 1:
            return out
        if out.ndim != 2:
            raise ValueError(f"jacobian_matrix: f must return a scalar, vector or matrix, got {out.shape}")
        return vec(out)

    holomorphic = jnp.iscomplexobj(a)
    return jax.jacfwd(flat, holomorphic=holomorphic)(vec(a))
