"""Solves on a stored factor, in SciPy's conventions: ``cho_factor``/``cho_solve``,
``lu_factor``/``lu_solve`` and ``solve_triangular``, each with a hand-written JVP that is linear in
the tangent (reverse mode by JAX's transposition).

The common derivative: a solve ``op(M) x = b`` on a factor ``M`` gives
``dx = op(M)⁻¹ (db − op(dM) x)``, where ``dM`` is the tangent of the part of the stored factor that
the solve reads (a triangle, with or without its diagonal). Its transpose (reverse mode) is one more
solve on the same factor, ``λ = op(M)⁻ᴴ x̄`` (conjugated as JAX's pairing requires), then
``b̄ = λ`` and ``M̄ = −mask(op⁻¹(λ xᴴ))``: no factorization is repeated and no gradient reaches the
entries the solve does not read. Reference: Giles (2008), §3.1 (the adjoint of a linear solve);
Murray (2016) for the Cholesky factor; de Hoog, Anderssen & Lukas (2011) for the LU factor.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, _T, as_inexact, check_matrix, check_square, mm, promote_inexact
from .cholesky import cholesky
from .lu import _permute_rows_p, _tri_solve_left_unit_lower, _tri_solve_right_upper

# ---------------------------------------------------------------------------------------------
# right-hand sides as in jax.scipy.linalg: (n,), batched vectors (deprecated there), (..., n, k)


def _rhs(op, a, b):
    """Broadcast ``a[..., n, n]`` and ``b`` to one batch; return ``(a, b[..., n, k], vector)``."""
    n = a.shape[-1]
    if b.ndim == 0:
        raise ValueError(f"{op}: b must have at least 1 dimension, got shape {b.shape}")
    vector = b.ndim == 1
    if not vector and a.ndim == b.ndim + 1 and a.shape[-1] == b.shape[-1]:
        warnings.warn(
            f"{op}: batched 1D solves with b.ndim > 1 are deprecated in jax.scipy.linalg and will be "
            f"treated as batched 2D solves; pass b[..., None] and squeeze the result.",
            category=FutureWarning,
            stacklevel=3,
        )
        vector = True
    bm = b[..., None] if vector else b
    if bm.shape[-2] != n:
        raise ValueError(
            f"{op}: the factor has shape {a.shape} but b has shape {b.shape}; b must be (..., {n}) or "
            f"(..., {n}, k)"
        )
    batch = jnp.broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    a = jnp.broadcast_to(a, (*batch, n, n))
    bm = jnp.broadcast_to(bm, (*batch, *bm.shape[-2:]))
    return a, bm, vector


def _promote(x, b, name="a"):
    """One common inexact dtype; integer inputs first become the default float (so that an integer
    right-hand side meets a float factor under strict promotion, as in JAX)."""
    return promote_inexact(as_inexact(x, name), as_inexact(b, "b"))


def _trans_flags(trans, op):
    if isinstance(trans, str):
        table = {"N": 0, "T": 1, "C": 2}
        if trans not in table:
            raise ValueError(f"{op}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
        trans = table[trans]
    if trans not in (0, 1, 2) or isinstance(trans, bool):
        raise ValueError(f"{op}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return int(trans)


def _op(x, trans):
    """``x``, ``xᵀ`` or ``xᴴ`` for ``trans`` 0, 1, 2."""
    return x if trans == 0 else (_T(x) if trans == 1 else _H(x))


def _tsolve(t, b, lower, trans=0, unit_diagonal=False):
    """``op(T)⁻¹ b`` reading only the ``lower``/upper triangle of ``t``."""
    return lax.linalg.triangular_solve(
        t,
        b,
        left_side=True,
        lower=lower,
        transpose_a=trans != 0,
        conjugate_a=trans == 2,
        unit_diagonal=unit_diagonal,
    )


def _triangle(x, lower, unit_diagonal=False):
    """The entries of ``x`` that a triangular solve reads."""
    k = 1 if unit_diagonal else 0
    return jnp.tril(x, -k) if lower else jnp.triu(x, k)


# ---------------------------------------------------------------------------------------------
# solve_triangular


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _solve_triangular(a, b, lower, trans, unit_diagonal):
    return _tsolve(a, b, lower, trans, unit_diagonal)


@_solve_triangular.defjvp
def _solve_triangular_jvp(lower, trans, unit_diagonal, primals, tangents):
    (a, b), (da, db) = primals, tangents
    x = _solve_triangular(a, b, lower, trans, unit_diagonal)
    # op(T) x = b  ⇒  op(T) dx = db − op(dT) x, with dT the read triangle of dA (the diagonal is
    # excluded for a unit diagonal), so no tangent and no gradient touches the unread entries.
    dt = _triangle(da, lower, unit_diagonal)
    return x, _tsolve(a, db - mm(_op(dt, trans), x), lower, trans, unit_diagonal)


def solve_triangular(
    a: ArrayLike,
    b: ArrayLike,
    trans: int | str = 0,
    lower: bool = False,
    unit_diagonal: bool = False,
    overwrite_b: bool = False,
    debug: bool | None = None,
    check_finite: bool = True,
) -> Array:
    """Solve ``op(T) x = b`` for a triangular ``T``; drop-in for
    ``jax.scipy.linalg.solve_triangular``.

    ``T`` is the lower (``lower=True``) or upper triangle of ``a``, with ones on the diagonal if
    ``unit_diagonal``; the other entries of ``a`` are never read. ``op`` is the identity,
    the transpose or the conjugate transpose for ``trans`` = 0/'N', 1/'T', 2/'C'.

    Derivative:
      ``dx = op(T)⁻¹ (db − op(dT) x)`` with ``dT`` the read triangle of ``dA`` (strict for a unit
      diagonal). Reverse mode (its transpose): one more triangular solve on the same ``T``,
      ``λ = op(T)⁻ᴴ x̄``, then ``b̄ = λ`` and ``Ā = −mask(op⁻¹(λ xᴴ))`` (conjugated as JAX's
      pairing requires): the gradient in ``a`` is zero outside the read triangle and on the
      diagonal when ``unit_diagonal``. Domain: nonzero diagonal; a zero pivot gives inf/NaN as in
      JAX. Reference: Giles (2008), §3.1.

    Args:
      a: ``(..., n, n)``.
      b: ``(n,)`` or ``(..., n, k)``; batch axes broadcast against ``a``'s.
      trans: 0, 1, 2 or 'N', 'T', 'C'.
      lower: read the lower triangle (default: upper, as SciPy).
      unit_diagonal: assume ones on the diagonal.
      overwrite_b: accepted for SciPy compatibility; ignored.
      debug: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Returns:
      ``x`` shaped like the broadcast ``b``.

    Examples:
      >>> L = jnp.array([[2., 0.], [1., 1.]])
      >>> print(np.round(matcalc.solve_triangular(L, jnp.array([2., 3.]), lower=True), 6))
      [1. 2.]
    """
    del overwrite_b, debug, check_finite
    trans = _trans_flags(trans, "solve_triangular")
    a, b = _promote(a, b)
    check_square(a, "solve_triangular")
    a, bm, vector = _rhs("solve_triangular", a, b)
    x = _solve_triangular(a, bm, bool(lower), trans, bool(unit_diagonal))
    return x[..., 0] if vector else x


# ---------------------------------------------------------------------------------------------
# cho_factor / cho_solve


def cho_factor(
    a: ArrayLike, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> tuple[Array, bool]:
    """Cholesky factor for ``cho_solve``; drop-in for ``jax.scipy.linalg.cho_factor``.

    Returns ``(c, lower)``: ``c`` is ``L`` with ``A = L Lᴴ`` (``lower=True``) or ``U`` with
    ``A = Uᴴ U`` (default, as SciPy), and its unused triangle holds zeros (as JAX's; SciPy leaves
    whatever ``a`` had there). Only the ``lower``/upper triangle of ``a`` is read (as LAPACK).

    Derivative:
      That of ``matcalc.cholesky`` with ``symmetrize_input=False`` (Murray 2016):
      ``dL = L Φ(L⁻¹ dA_h L⁻ᴴ)``, ``dA_h`` the Hermitian matrix built from the read triangle of
      ``dA``. Gradient convention: the gradient in ``a`` lies on the read triangle (real diagonal
      part) and is zero in the other; along Hermitian tangents — the ones a symmetric
      parametrization ``a = h(θ)`` produces — every directional derivative equals JAX's, whose
      gradient instead spreads over both triangles.

    Args:
      a: ``(..., n, n)`` Hermitian positive definite (the read triangle).
      lower: return the lower factor and read the lower triangle.
      overwrite_a: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Examples:
      >>> A = jnp.array([[4., 2.], [2., 5.]])
      >>> c, lower = matcalc.cho_factor(A, lower=True)
      >>> print(np.round(jnp.tril(c), 6))
      [[2. 0.]
       [1. 2.]]
    """
    del overwrite_a, check_finite
    a = as_inexact(a)
    check_square(a, "cho_factor")
    if lower:
        return cholesky(a, symmetrize_input=False), lower
    return _H(cholesky(_H(a), symmetrize_input=False)), lower


def _cho_apply(f, x, lower):
    """``A x`` with ``A = F Fᴴ`` (``lower``) or ``Fᴴ F`` for the read triangle ``F`` of ``f``."""
    if lower:
        return mm(f, mm(_H(f), x))
    return mm(_H(f), mm(f, x))


def _cho_solve_core(c, b, lower):
    if lower:
        return _tsolve(c, _tsolve(c, b, True), True, trans=2)
    return _tsolve(c, _tsolve(c, b, False, trans=2), False)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _cho_solve(c, b, lower):
    return _cho_solve_core(c, b, lower)


@_cho_solve.defjvp
def _cho_solve_jvp(lower, primals, tangents):
    (c, b), (dc, db) = primals, tangents
    x = _cho_solve(c, b, lower)
    f = _triangle(c, lower)
    df = _triangle(dc, lower)
    # A = F Fᴴ  ⇒  dA x = dF (Fᴴ x) + F (dFᴴ x)  (upper: A = Fᴴ F, dA x = dFᴴ (F x) + Fᴴ (dF x));
    # dx = A⁻¹ (db − dA x) on the same factor.
    if lower:
        dax = mm(df, mm(_H(f), x)) + mm(f, mm(_H(df), x))
    else:
        dax = mm(_H(df), mm(f, x)) + mm(_H(f), mm(df, x))
    return x, _cho_solve_core(c, db - dax, lower)


def cho_solve(
    c_and_lower: tuple[ArrayLike, bool], b: ArrayLike, overwrite_b: bool = False, check_finite: bool = True
) -> Array:
    """Solve ``A x = b`` from ``cho_factor``'s ``(c, lower)``; drop-in for
    ``jax.scipy.linalg.cho_solve``.

    ``A = F Fᴴ`` (``lower``) or ``Fᴴ F`` with ``F`` the read triangle of ``c`` (diagonal included;
    the other triangle is never read).

    Derivative:
      ``dx = A⁻¹ (db − dA x)``, ``dA = dF Fᴴ + F dFᴴ`` (upper: ``dFᴴ F + Fᴴ dF``), ``dF`` the read
      triangle of ``dc``: two triangular solves on the stored factor. Reverse mode: one more
      Cholesky solve on the same factor, ``λ = A⁻¹ x̄`` (``A`` Hermitian), ``b̄ = λ`` and
      ``c̄ = −mask((λ xᴴ + x λᴴ) F)`` (upper: ``−mask(F (x λᴴ + λ xᴴ))``), up to JAX's conjugation
      convention; nothing reaches the unread triangle. Composed with ``cho_factor``, gradients
      flow on to ``a`` through the Cholesky rule. Reference: Giles (2008), §3.1; Murray (2016).

    Args:
      c_and_lower: ``(c, lower)`` as returned by ``cho_factor``.
      b: ``(n,)`` or ``(..., n, k)``; batch axes broadcast against ``c``'s.
      overwrite_b: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Examples:
      >>> A = jnp.array([[4., 2.], [2., 5.]])
      >>> b = jnp.array([2., 1.])
      >>> x = matcalc.cho_solve(matcalc.cho_factor(A), b)
      >>> bool(np.allclose(A @ x, b))
      True
    """
    del overwrite_b, check_finite
    c, lower = c_and_lower
    c, b = _promote(c, b, "c")
    check_square(c, "cho_solve", "c")
    c, bm, vector = _rhs("cho_solve", c, b)
    x = _cho_solve(c, bm, bool(lower))
    return x[..., 0] if vector else x


# ---------------------------------------------------------------------------------------------
# lu_factor / lu_solve


def _unpack_lu(lu):
    """``(L, U)`` of a packed LU: ``L`` ``m×k`` unit lower, ``U`` ``k×n`` upper, ``k = min(m, n)``."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    l = jnp.tril(lu[..., :, :k], -1) + jnp.broadcast_to(jnp.eye(m, k, dtype=lu.dtype), (*lu.shape[:-2], m, k))
    u = jnp.triu(lu[..., :k, :])
    return l, u


def _pack_lu(dl, du):
    """Packed ``m×n`` array holding ``tril(dL, −1)`` and ``triu(dU)``."""
    m, k = dl.shape[-2:]
    n = du.shape[-1]
    pad = [(0, 0)] * (dl.ndim - 2)
    low = jnp.pad(jnp.tril(dl, -1), [*pad, (0, 0), (0, n - k)])
    up = jnp.pad(jnp.triu(du), [*pad, (0, m - k), (0, 0)])
    return low + up


@jax.custom_jvp
def _lu_factor(a):
    lu, piv, perm = lax.linalg.lu(a)
    return lu, piv, perm


@_lu_factor.defjvp
def _lu_factor_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu, piv, perm = _lu_factor(a)
    l, u = _unpack_lu(lu)
    m, n = a.shape[-2:]
    k = min(m, n)
    # matcalc.lu's rule (de Hoog, Anderssen & Lukas 2011) on the packed factor, pivots fixed:
    # F = L1⁻¹ (P dA)₁₁ U1⁻¹, dL1 = L1 tril(F, −1), dU1 = triu(F) U1; tall: dL2 = ((P dA)₂ − L2 dU1)
    # U1⁻¹; wide: dU2 = L1⁻¹((P dA)_{:,2} − dL1 U2).
    pda = _permute_rows_p.bind(lax.stop_gradient(perm), da)
    l1, u1 = l[..., :k, :], u[..., :, :k]
    f = _tri_solve_right_upper(u1, _tri_solve_left_unit_lower(l1, pda[..., :k, :k]))
    dl1 = mm(l1, jnp.tril(f, -1))
    du1 = mm(jnp.triu(f), u1)
    dl, du = dl1, du1
    if m > k:
        dl2 = _tri_solve_right_upper(u1, pda[..., k:, :] - mm(l[..., k:, :], du1))
        dl = jnp.concatenate([dl1, dl2], axis=-2)
    if n > k:
        du2 = _tri_solve_left_unit_lower(l1, pda[..., :, k:] - mm(dl1, u[..., :, k:]))
        du = jnp.concatenate([du1, du2], axis=-1)
    zero = functools.partial(np.zeros, dtype=jax.dtypes.float0)
    return (lu, piv, perm), (_pack_lu(dl, du), zero(piv.shape), zero(perm.shape))


def lu_factor(a: ArrayLike, overwrite_a: bool = False, check_finite: bool = True) -> tuple[Array, Array]:
    """LU factorization with partial pivoting for ``lu_solve``; drop-in for
    ``jax.scipy.linalg.lu_factor``.

    Returns ``(lu, piv)``: ``lu`` ``(..., m, n)`` holds ``U`` in its upper triangle and the strict
    lower triangle of the unit lower ``L``; ``piv`` (int32) are LAPACK's row interchanges
    (row ``i`` was swapped with row ``piv[i]``), so that ``P A = L U``.

    Derivative:
      ``matcalc.lu``'s rule on the packed factor (pivots piecewise constant, not
      differentiated): with ``F = L1⁻¹ (P dA)₁₁ U1⁻¹``, ``dL1 = L1 tril(F, −1)``,
      ``dU1 = triu(F) U1`` (tall and wide blocks as in ``matcalc.lu``), and
      ``d lu = tril(dL, −1) + dU``. Domain: leading pivots nonzero; otherwise inf/NaN.
      Reference: de Hoog, Anderssen & Lukas, Math. Comp. 80 (2011).

    Args:
      a: ``(..., m, n)``.
      overwrite_a: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> lu, piv = matcalc.lu_factor(A)
      >>> print(np.round(lu, 6), piv)
      [[3.       4.      ]
       [0.333333 0.666667]] [1 1]
    """
    del overwrite_a, check_finite
    a = as_inexact(a)
    check_matrix(a, "lu_factor")
    lu, piv, _ = _lu_factor(a)
    return lu, piv


def _lu_solve_core(lu, perm, b, trans):
    """``op(A)⁻¹ b`` for ``P A = L U`` packed in ``lu`` (``perm``: the row order of ``P A``)."""
    if trans == 0:
        y = _tsolve(lu, _permute_rows_p.bind(perm, b), True, 0, True)
        return _tsolve(lu, y, False)
    # op(A) = op(U) op(L) P  ⇒  P x = op(L)⁻¹ op(U)⁻¹ b.
    z = _tsolve(lu, _tsolve(lu, b, False, trans), True, trans, True)
    return _permute_rows_p.bind(jnp.argsort(perm, axis=-1), z)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _lu_solve(lu, perm, b, trans):
    return _lu_solve_core(lu, perm, b, trans)


@_lu_solve.defjvp
def _lu_solve_jvp(trans, primals, tangents):
    (lu, perm, b), (dlu, _, db) = primals, tangents
    x = _lu_solve(lu, perm, b, trans)
    l, u = _unpack_lu(lu)
    dl, du = jnp.tril(dlu, -1), jnp.triu(dlu)
    # A = Pᵀ L U  ⇒  dA = Pᵀ (dL U + L dU) and dx = op(A)⁻¹ (db − op(dA) x) on the same factors;
    # op(dA) x = Pᵀ(dL (U x) + L (dU x)) for trans 0, (op(U) op(dL) + op(dU) op(L)) P x otherwise.
    if trans == 0:
        dax = _permute_rows_p.bind(jnp.argsort(perm, axis=-1), mm(dl, mm(u, x)) + mm(l, mm(du, x)))
    else:
        px = _permute_rows_p.bind(perm, x)
        dax = mm(_op(u, trans), mm(_op(dl, trans), px)) + mm(_op(du, trans), mm(_op(l, trans), px))
    return x, _lu_solve_core(lu, perm, db - dax, trans)


def lu_solve(
    lu_and_piv: tuple[ArrayLike, ArrayLike],
    b: ArrayLike,
    trans: int = 0,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> Array:
    """Solve ``op(A) x = b`` from ``lu_factor``'s ``(lu, piv)``; drop-in for
    ``jax.scipy.linalg.lu_solve``. ``trans`` 0: ``A x = b``, 1: ``Aᵀ x = b``, 2: ``Aᴴ x = b``.

    Derivative:
      With ``A = Pᵀ L U``, ``dA = Pᵀ (dL U + L dU)`` (``dL``, ``dU`` the strict lower and upper
      triangles of ``d lu``): ``dx = op(A)⁻¹ (db − op(dA) x)``, two triangular solves on the
      stored factors. Reverse mode: one more solve on the same factors with the transposed
      ``op`` (``λ = op(A)⁻ᴴ x̄``, conjugated as JAX's pairing requires), ``b̄ = λ``, and for
      ``trans=0`` the packed factor's cotangent ``−tril((P λ)(U x)ᴴ, −1) − triu((Lᴴ P λ) xᴴ)``
      (likewise for ``trans`` 1, 2): nothing reaches the unit diagonal of ``L``.
      Composed with ``lu_factor``, gradients flow on to ``a`` through the LU rule.
      The pivots are not differentiated. Reference: Giles (2008), §3.1.

    Args:
      lu_and_piv: ``(lu, piv)`` from ``lu_factor`` (square ``lu``).
      b: ``(n,)`` or ``(..., n, k)``; batch axes broadcast against ``lu``'s.
      trans: 0, 1 or 2.
      overwrite_b: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> b = jnp.array([5., 6.])
      >>> x = matcalc.lu_solve(matcalc.lu_factor(A), b)
      >>> print(np.round(x, 6))
      [-4.   4.5]
    """
    del overwrite_b, check_finite
    lu, piv = lu_and_piv
    if trans not in (0, 1, 2) or isinstance(trans, bool):
        raise ValueError(f"lu_solve: trans must be 0, 1 or 2, got {trans!r}")
    lu, b = _promote(lu, b, "lu")
    check_square(lu, "lu_solve", "lu")
    piv = jnp.asarray(piv)
    if piv.shape != lu.shape[:-1]:
        raise ValueError(
            f"lu_solve: piv must have shape {lu.shape[:-1]} for lu of shape {lu.shape}, got {piv.shape}"
        )
    if not jnp.issubdtype(piv.dtype, jnp.integer):
        raise TypeError(f"lu_solve: piv must be an integer array, got dtype {piv.dtype}")
    perm = lax.linalg.lu_pivots_to_permutation(piv, lu.shape[-1])
    lu, bm, vector = _rhs("lu_solve", lu, b)
    perm = jnp.broadcast_to(perm, lu.shape[:-1])
    x = _lu_solve(lu, perm, bm, int(trans))
    return x[..., 0] if vector else x


__all__ = ["cho_factor", "cho_solve", "lu_factor", "lu_solve", "solve_triangular"]
