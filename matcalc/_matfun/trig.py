"""Trigonometric and hyperbolic matrix functions (SciPy's ``cosm``, ``sinm``, ``tanm``, ``coshm``,
``sinhm``, ``tanhm``), composed from ``matcalc.expm`` exactly as SciPy composes them from its
``expm``; their derivatives are the composition of ``expm``'s Fréchet rule (Al-Mohy & Higham 2009)
with the linear maps and the solve around it, differentiated by JAX (every piece has a rule).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import as_inexact, check_square
from .._linalg import solve
from .expm import expm


def _prep(A, op):
    a = as_inexact(A, "A")
    check_square(a, op, "A")
    return a


def _complex(dtype):
    return jnp.complex128 if jnp.finfo(dtype).bits == 64 else jnp.complex64


def _eia(a):
    return expm(1j * a.astype(_complex(a.dtype)))


def _exp_pair(x):
    """``(e^{x}, e^{−x})`` from one batched ``expm`` call (each matrix scaled on its own, so each
    equals its unbatched exponential to rounding; one compiled exponential instead of two)."""
    e = expm(jnp.stack([x, -x]))
    return e[0], e[1]


@jax.jit
def _cosm(a):
    if jnp.iscomplexobj(a):
        ep, em = _exp_pair(1j * a)
        return (ep + em) / 2
    return jnp.real(_eia(a))


@jax.jit
def _sinm(a):
    if jnp.iscomplexobj(a):
        ep, em = _exp_pair(1j * a)
        return (ep - em) / 2j
    return jnp.imag(_eia(a))


@jax.jit
def _tanm(a):
    if jnp.iscomplexobj(a):
        ep, em = _exp_pair(1j * a)
        return solve((ep + em) / 2, (ep - em) / 2j)
    e = _eia(a)  # one exponential for both: cos A = Re e^{iA}, sin A = Im e^{iA}
    return solve(jnp.real(e), jnp.imag(e))


@jax.jit
def _coshm(a):
    ep, em = _exp_pair(a)
    return (ep + em) / 2


@jax.jit
def _sinhm(a):
    ep, em = _exp_pair(a)
    return (ep - em) / 2


@jax.jit
def _tanhm(a):
    ep, em = _exp_pair(a)
    return solve(ep + em, ep - em)


def cosm(A: ArrayLike) -> Array:
    """Matrix cosine; drop-in for ``scipy.linalg.cosm``: ``Re e^{iA}`` for real A,
    ``(e^{iA} + e^{−iA})/2`` for complex A, with ``matcalc.expm``.

    Derivative:
      ``d cos(A) = Re L_exp(iA, i dA)`` (real A) or ``(L_exp(iA, i dA) + L_exp(−iA, −i dA))/2``
      (complex A), ``L_exp`` being ``expm``'s Fréchet rule (Al-Mohy & Higham, SIMAX 30(4), 2009);
      the composition is differentiated by JAX, reverse mode by transposition. Domain: all A.

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``cos(A)`` (real for real A).

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.cosm(A)
      >>> print(np.round(F, 6))
      [[ 0.877583 -0.479426]
       [ 0.        0.877583]]
      >>> bool(np.allclose(F, [[np.cos(x), -np.sin(x)], [0., np.cos(x)]]))
      True
    """
    return _cosm(_prep(A, "cosm"))


def sinm(A: ArrayLike) -> Array:
    """Matrix sine; drop-in for ``scipy.linalg.sinm``: ``Im e^{iA}`` for real A,
    ``(e^{iA} − e^{−iA})/(2i)`` for complex A, with ``matcalc.expm``.

    Derivative:
      ``d sin(A) = Im L_exp(iA, i dA)`` (real A) or ``(L_exp(iA, i dA) − L_exp(−iA, −i dA))/(2i)``
      (complex A), ``L_exp`` being ``expm``'s Fréchet rule (Al-Mohy & Higham, SIMAX 30(4), 2009);
      the composition is differentiated by JAX. Domain: all A.

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``sin(A)``.

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.sinm(A)
      >>> print(np.round(F, 6))
      [[0.479426 0.877583]
       [0.       0.479426]]
      >>> bool(np.allclose(F, [[np.sin(x), np.cos(x)], [0., np.sin(x)]]))
      True
    """
    return _sinm(_prep(A, "sinm"))


def tanm(A: ArrayLike) -> Array:
    """Matrix tangent; drop-in for ``scipy.linalg.tanm``: ``cos(A)⁻¹ sin(A)`` (one exponential
    ``e^{iA}`` for real A).

    Derivative:
      ``d tan(A) = C⁻¹(dS − dC T)`` with ``C = cos A``, ``S = sin A``, ``T = tan A`` and ``dC``,
      ``dS`` from ``expm``'s Fréchet rule (see ``cosm``, ``sinm``); the composition is
      differentiated by JAX. Domain: ``cos A`` nonsingular (NaN/inf otherwise).

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``tan(A)``.

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.tanm(A)
      >>> print(np.round(F, 6))
      [[0.546302 1.298446]
       [0.       0.546302]]
      >>> bool(np.allclose(F, [[np.tan(x), 1 / np.cos(x)**2], [0., np.tan(x)]]))
      True
    """
    return _tanm(_prep(A, "tanm"))


def coshm(A: ArrayLike) -> Array:
    """Matrix hyperbolic cosine; drop-in for ``scipy.linalg.coshm``: ``(e^A + e^{−A})/2``.

    Derivative:
      ``(L_exp(A, dA) − L_exp(−A, dA))/2`` with ``expm``'s Fréchet rule (Al-Mohy & Higham, SIMAX
      30(4), 2009); the composition is differentiated by JAX. Domain: all A.

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``cosh(A)``.

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.coshm(A)
      >>> print(np.round(F, 6))
      [[1.127626 0.521095]
       [0.       1.127626]]
      >>> bool(np.allclose(F, [[np.cosh(x), np.sinh(x)], [0., np.cosh(x)]]))
      True
    """
    return _coshm(_prep(A, "coshm"))


def sinhm(A: ArrayLike) -> Array:
    """Matrix hyperbolic sine; drop-in for ``scipy.linalg.sinhm``: ``(e^A − e^{−A})/2`` (as in SciPy,
    the difference loses relative accuracy when ``‖A‖ ≪ 1``: absolute error ~ eps).

    Derivative:
      ``(L_exp(A, dA) + L_exp(−A, dA))/2`` with ``expm``'s Fréchet rule (Al-Mohy & Higham, SIMAX
      30(4), 2009); the composition is differentiated by JAX. Domain: all A.

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``sinh(A)``.

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.sinhm(A)
      >>> print(np.round(F, 6))
      [[0.521095 1.127626]
       [0.       0.521095]]
      >>> bool(np.allclose(F, [[np.sinh(x), np.cosh(x)], [0., np.sinh(x)]]))
      True
    """
    return _sinhm(_prep(A, "sinhm"))


def tanhm(A: ArrayLike) -> Array:
    """Matrix hyperbolic tangent; drop-in for ``scipy.linalg.tanhm``:
    ``cosh(A)⁻¹ sinh(A) = (e^A + e^{−A})⁻¹(e^A − e^{−A})``.

    Derivative:
      ``d tanh(A) = C⁻¹(dS − dC T)`` with ``C = cosh A``, ``S = sinh A``, ``T = tanh A`` and ``dC``,
      ``dS`` from ``expm``'s Fréchet rule; the composition is differentiated by JAX. Domain:
      ``cosh A`` nonsingular (NaN/inf otherwise).

    Args:
      A: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n, n)`` ``tanh(A)``.

    Examples:
      >>> x = 0.5
      >>> A = jnp.array([[x, 1.], [0., x]])  # a Jordan block: f(A) = [[f(x), f'(x)], [0, f(x)]]
      >>> F = matcalc.tanhm(A)
      >>> print(np.round(F, 6))
      [[0.462117 0.786448]
       [0.       0.462117]]
      >>> bool(np.allclose(F, [[np.tanh(x), 1 / np.cosh(x)**2], [0., np.tanh(x)]]))
      True
    """
    return _tanhm(_prep(A, "tanhm"))
