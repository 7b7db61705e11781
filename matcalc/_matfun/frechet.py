"""Public Fréchet-derivative API."""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax import Array
from jax.typing import ArrayLike

from .._core import as_inexact, check_dtype


def frechet(f: Callable[[Array], Array], a: ArrayLike, e: ArrayLike) -> Array:
    """The Fréchet derivative ``L_f(A, E)`` of a matrix function ``f`` at ``A`` in direction ``E``.

    ``f`` is any JAX-differentiable matrix function (``matcalc.expm``, ``matcalc.logm``,
    ``matcalc.sqrtm``, ``functools.partial(matcalc.fractional_matrix_power, t=0.5)``, ...); the
    derivative is computed by the function's own rule (``jax.jvp``), e.g. Al-Mohy & Higham's
    algorithm for ``expm``.

    Derivative:
      ``frechet`` is linear in ``e`` and differentiable in ``a`` and ``e`` (second derivatives of
      ``f``), as far as ``f``'s rule allows.

    Returns:
      ``L_f(A, E)``, shaped like ``f(A)``.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> E = jnp.array([[0., 1.], [0., 0.]])
      >>> L = matcalc.frechet(lambda X: X @ X, A, E)  # L(A, E) = A E + E A
      >>> bool(np.allclose(L, A @ E + E @ A))
      True
    """
    if not callable(f):
        raise TypeError(
            f"frechet: f must be a differentiable matrix function (a callable such as "
            f"matcalc.expm), got {f!r}"
        )
    a = as_inexact(a, "a")
    e = as_inexact(e, "e")
    check_dtype("frechet", "a", a)
    if e.shape != a.shape:
        raise ValueError(f"frechet: e must have a's shape {a.shape}, got {e.shape}")
    if e.dtype != a.dtype:
        raise TypeError(f"frechet: e has dtype {e.dtype} but a has dtype {a.dtype}")
    return jax.jvp(f, (a,), (e,))[1]
