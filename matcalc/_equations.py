"""Sylvester and Lyapunov equations with derivative rules, GPU-capable (no Schur).

Each solve builds a plan from the coefficient matrices once (``_kernels/sylvester.py``: an LU of
the Kronecker form for small sizes, or the Newton iterates of the matrix sign function) and
applies it to the right-hand side and to the tangent's right-hand side; reverse mode is JAX's
transposition of that linear apply, i.e. the adjoint equation solved on the same plan.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from ._core import _H, check_dtype, check_option, check_square, eye_like, is_empty, mm, promote_inexact
from ._kernels.lu import lu_pivoted, lu_pivoted_solve
from ._kernels.sylvester import METHODS, Method, choose_method, sylvester_apply, sylvester_plan

# ---------------------------------------------------------------------------------------------
# Sylvester A X + X B = C


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _sylvester(a, b, c, method, tol):
    m = choose_method(a.shape[-1], b.shape[-1], method)
    return sylvester_apply(sylvester_plan(a, b, m, tol=tol), c)


@_sylvester.defjvp
def _sylvester_jvp(method, tol, primals, tangents):
    (a, b, c), (da, db, dc) = primals, tangents
    m = choose_method(a.shape[-1], b.shape[-1], method)
    plan = sylvester_plan(a, b, m, tol=tol)
    x = sylvester_apply(plan, c)
    # A X + X B = C ⇒ A dX + dX B = dC − dA X − X dB (same plan)
    return x, sylvester_apply(plan, dc - mm(da, x) - mm(x, db))


_sylvester_jit = jax.jit(_sylvester, static_argnums=(3, 4))


def _empty(shape, dtype):
    return jnp.zeros(shape, dtype)


def solve_sylvester(
    A: ArrayLike, B: ArrayLike, C: ArrayLike, *, method: Method = "auto", tol: float = 1e-8
) -> Array:
    """Solve ``A X + X B = C``; drop-in for ``jax.scipy.linalg.solve_sylvester`` and
    ``scipy.linalg.solve_sylvester`` (GPU-capable by default).

    Methods: ``"auto"`` (default): one LU of the Kronecker system when ``n·m ≤ 144``, otherwise
    the matrix sign function of ``[[A, −C], [0, −B]]`` (Roberts 1980), with a fallback for
    matrices whose spectra it cannot separate (A and −B not on opposite sides of the imaginary
    axis): JAX's Schur method on CPU; on other platforms the Kronecker LU when ``n·m ≤ 256``
    (NaN above). ``"kron"``/``"sign"`` force one (``"sign"`` alone gives NaN for unseparated
    spectra); ``"schur"``/``"eigen"`` are JAX's methods (CPU-only Schur, or eigendecomposition;
    NaN where ``|λ_i(A) + λ_j(B)| < tol``, as JAX).

    Derivative:
      ``A dX + dX B = dC − dA X − X dB`` on the same plan; reverse mode solves the adjoint
      equation ``Aᴴ Y + Y Bᴴ = X̄`` (by transposition), then ``Ā = −Y Xᴴ``, ``B̄ = −Xᴴ Y``,
      ``C̄ = Y``. The ``"schur"``/``"eigen"`` methods transpose to the same solver at ``Aᵀ, Bᵀ``
      (first order; JAX's Schur has no derivative, so no second order there).
      Domain: uniquely solvable equations (no eigenvalue of A equal to one of −B).

    Args:
      A: ``(..., n, n)``; B: ``(..., m, m)``; C: ``(..., n, m)`` (batch axes broadcast).
      method: ``"auto"``, ``"kron"``, ``"sign"``, ``"schur"`` or ``"eigen"``.
      tol: JAX's threshold on ``|λ_i(A) + λ_j(B)|`` for ``"schur"``/``"eigen"`` (unused otherwise).

    Returns:
      ``(..., n, m)`` solution X.

    Examples:
      >>> A = jnp.array([[1., 2.], [0., 3.]])
      >>> B = jnp.array([[4., 0.], [1., 5.]])
      >>> C = jnp.array([[1., 0.], [0., 1.]])
      >>> X = matcalc.solve_sylvester(A, B, C)  # A X + X B = C
      >>> bool(np.allclose(A @ X + X @ B, C))
      True
    """
    check_option("solve_sylvester", "method", method, METHODS)
    a, b, c = promote_inexact(A, B, C)
    for name, x in (("A", a), ("B", b), ("C", c)):
        check_dtype("solve_sylvester", name, x)
    check_square(a, "solve_sylvester", "A")
    check_square(b, "solve_sylvester", "B")
    if c.ndim < 2 or c.shape[-2:] != (a.shape[-1], b.shape[-1]):
        raise ValueError(
            f"solve_sylvester: C must have shape (..., {a.shape[-1]}, {b.shape[-1]}) for A of "
            f"shape {a.shape} and B of shape {b.shape}, got {c.shape}"
        )
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2], c.shape[:-2])
    if is_empty(a, b, c):
        return _empty((*batch, *c.shape[-2:]), c.dtype)
    a = jnp.broadcast_to(a, (*batch, *a.shape[-2:]))
    b = jnp.broadcast_to(b, (*batch, *b.shape[-2:]))
    c = jnp.broadcast_to(c, (*batch, *c.shape[-2:]))
    return _sylvester_jit(a, b, c, method, float(tol))


# ---------------------------------------------------------------------------------------------
# continuous Lyapunov A X + X Aᴴ = Q


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _clyap(a, q, method):
    m = choose_method(a.shape[-1], a.shape[-1], method)
    return sylvester_apply(sylvester_plan(a, _H(a), m, "adjoint"), q)


@_clyap.defjvp
def _clyap_jvp(method, primals, tangents):
    (a, q), (da, dq) = primals, tangents
    m = choose_method(a.shape[-1], a.shape[-1], method)
    plan = sylvester_plan(a, _H(a), m, "adjoint")
    x = sylvester_apply(plan, q)
    # A dX + dX Aᴴ = dQ − dA X − X dAᴴ
    return x, sylvester_apply(plan, dq - mm(da, x) - mm(x, _H(da)))


_clyap_jit = jax.jit(_clyap, static_argnums=2)


def solve_continuous_lyapunov(a: ArrayLike, q: ArrayLike, *, method: Method = "auto") -> Array:
    """Solve ``A X + X Aᴴ = Q``; drop-in for ``scipy.linalg.solve_continuous_lyapunov``.

    Derivative:
      ``A dX + dX Aᴴ = dQ − dA X − X dAᴴ`` on the same plan (see ``solve_sylvester``).
      Domain: no eigenvalue pair ``λ_i + conj(λ_j) = 0``.

    Args:
      a: ``(..., n, n)``; q: ``(..., n, n)``.
      method: as ``solve_sylvester``: ``"auto"`` (Kronecker LU for ``n ≤ 12``, else the sign
        function with the fallback of ``solve_sylvester`` where A is neither stable nor
        anti-stable), ``"kron"``, ``"sign"``, ``"schur"`` or ``"eigen"``.

    Examples:
      >>> A = jnp.array([[-1., 1.], [0., -2.]])
      >>> Q = jnp.array([[1., 0.], [0., 1.]])
      >>> X = matcalc.solve_continuous_lyapunov(A, Q)  # A X + X Aᵀ = Q
      >>> bool(np.allclose(A @ X + X @ A.T, Q))
      True
    """
    check_option("solve_continuous_lyapunov", "method", method, METHODS)
    a, q = promote_inexact(a, q)
    check_dtype("solve_continuous_lyapunov", "a", a)
    check_square(a, "solve_continuous_lyapunov", "a")
    check_square(q, "solve_continuous_lyapunov", "q")
    if q.shape[-1] != a.shape[-1]:
        raise ValueError(f"solve_continuous_lyapunov: a has shape {a.shape}, q has shape {q.shape}")
    batch = jnp.broadcast_shapes(a.shape[:-2], q.shape[:-2])
    if is_empty(a, q):
        return _empty((*batch, *q.shape[-2:]), q.dtype)
    a = jnp.broadcast_to(a, (*batch, *a.shape[-2:]))
    q = jnp.broadcast_to(q, (*batch, *q.shape[-2:]))
    return _clyap_jit(a, q, method)


# ---------------------------------------------------------------------------------------------
# discrete Lyapunov A X Aᴴ − X + Q = 0


def _dlyap_plan(a, method):
    # Bilinear (Cayley) map to a continuous equation (as SciPy's method="bilinear"):
    # G = (A + I)⁻¹ (A − I) ⇒ G X + X Gᴴ = −2 (A + I)⁻¹ Q (Aᴴ + I)⁻¹.
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    lu, _, perm = lu_pivoted(a + eye)
    g = lu_pivoted_solve(lu, perm, a - eye)
    m = choose_method(a.shape[-1], a.shape[-1], method)
    return lu, perm, sylvester_plan(g, _H(g), m, "adjoint")


def _dlyap_apply(plan, q):
    lu, perm, splan = plan
    y = lu_pivoted_solve(lu, perm, q)  # (A + I)⁻¹ Q
    c = _H(lu_pivoted_solve(lu, perm, _H(y)))  # (A + I)⁻¹ Q (Aᴴ + I)⁻¹
    return sylvester_apply(splan, -2 * c)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _dlyap(a, q, method):
    return _dlyap_apply(_dlyap_plan(a, method), q)


@_dlyap.defjvp
def _dlyap_jvp(method, primals, tangents):
    (a, q), (da, dq) = primals, tangents
    plan = _dlyap_plan(a, method)
    x = _dlyap_apply(plan, q)
    # A dX Aᴴ − dX + (dQ + dA X Aᴴ + A X dAᴴ) = 0
    ax = mm(a, x)
    return x, _dlyap_apply(plan, dq + mm(mm(da, x), _H(a)) + mm(ax, _H(da)))


_dlyap_jit = jax.jit(_dlyap, static_argnums=2)


def solve_discrete_lyapunov(
    a: ArrayLike,
    q: ArrayLike,
    method: Literal["direct", "bilinear", "auto", "kron", "sign", "schur", "eigen"] | None = None,
) -> Array:
    """Solve ``A X Aᴴ − X + Q = 0``; drop-in for ``scipy.linalg.solve_discrete_lyapunov``.

    The bilinear map ``G = (A + I)⁻¹(A − I)`` turns it into ``G X + X Gᴴ = −2 (A+I)⁻¹ Q (Aᴴ+I)⁻¹``,
    solved as ``solve_continuous_lyapunov`` (SciPy's ``method="bilinear"``).

    Derivative:
      ``A dX Aᴴ − dX + (dQ + dA X Aᴴ + A X dAᴴ) = 0`` on the same plan. Domain: no eigenvalue
      pair with ``λ_i conj(λ_j) = 1`` and A + I nonsingular (for ``n > 12`` the default sign path
      falls back as ``solve_sylvester`` where the mapped spectrum is not separated).

    Args:
      method: ``None``/``"auto"``, ``"kron"``, ``"sign"``, ``"schur"`` or ``"eigen"`` (SciPy's
        ``"direct"``/``"bilinear"`` map to ``"kron"``/``"auto"``).

    Examples:
      >>> A = jnp.array([[0.5, 0.1], [0., 0.2]])
      >>> Q = jnp.array([[1., 0.], [0., 1.]])
      >>> X = matcalc.solve_discrete_lyapunov(A, Q)  # A X Aᵀ − X + Q = 0
      >>> bool(np.allclose(A @ X @ A.T - X + Q, 0))
      True
    """
    check_option("solve_discrete_lyapunov", "method", method, (None, "direct", "bilinear", *METHODS))
    method = {None: "auto", "direct": "kron", "bilinear": "auto"}.get(method, method)
    a, q = promote_inexact(a, q)
    check_dtype("solve_discrete_lyapunov", "a", a)
    check_square(a, "solve_discrete_lyapunov", "a")
    check_square(q, "solve_discrete_lyapunov", "q")
    if q.shape[-1] != a.shape[-1]:
        raise ValueError(f"solve_discrete_lyapunov: a has shape {a.shape}, q has shape {q.shape}")
    batch = jnp.broadcast_shapes(a.shape[:-2], q.shape[:-2])
    if is_empty(a, q):
        return _empty((*batch, *q.shape[-2:]), q.dtype)
    a = jnp.broadcast_to(a, (*batch, *a.shape[-2:]))
    q = jnp.broadcast_to(q, (*batch, *q.shape[-2:]))
    return _dlyap_jit(a, q, method)
