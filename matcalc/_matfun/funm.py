"""General analytic matrix function f(A) by eigendecomposition, with a divided-difference rule."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import as_inexact, check_disp, check_dtype, check_square, complex_dtype, is_empty, mm, norm1
from .._factor.eig import eig as _eig_rule


def _eig(a):
    # matcalc's eig (its own derivative rule), so that the rule below can be differentiated
    # again: second derivatives of f(A) through the eigenvectors, which jnp.linalg.eig lacks.
    lam, v = _eig_rule(a)
    return lam, v, jnp.linalg.inv(v)


def _fdiff(func, lam):
    """``F_ij = f[λ_i, λ_j]``: the quotient for distinct eigenvalues, the mean of ``f'`` at the
    two (a first-order guard) when they are within ``cbrt(eps)·scale``."""
    f = func(lam)
    df = jax.jvp(func, (lam,), (jnp.ones_like(lam),))[1]
    li, lj = lam[..., :, None], lam[..., None, :]
    dl = li - lj
    scale = jnp.maximum(jnp.abs(li), jnp.abs(lj)) + 1
    close = jnp.abs(dl) <= jnp.cbrt(jnp.finfo(dl.real.dtype).eps) * scale
    quot = (f[..., :, None] - f[..., None, :]) / jnp.where(close, 1, dl)
    return f, jnp.where(close, (df[..., :, None] + df[..., None, :]) / 2, quot)


def _unreliable_basis(v, vi):
    """True (per matrix) where the eigenbasis is too ill-conditioned for ``V f(Λ) V⁻¹`` to keep four
    correct digits: ``ε κ₁(V) > ε^{1/4}`` (κ₁ above about 5e11 in float64, 1.5e5 in float32), as for
    a defective or nearly defective ``A``."""
    eps = jnp.finfo(v.real.dtype).eps
    return (eps * norm1(v) * norm1(vi) > eps**0.25)[..., None, None]


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _funm(a, func):
    lam, v, vi = _eig(a)
    return jnp.where(_unreliable_basis(v, vi), jnp.nan, mm(v * func(lam)[..., None, :], vi))


@_funm.defjvp
def _funm_jvp(func, primals, tangents):
    (a,), (da,) = primals, tangents
    lam, v, vi = _eig(a)
    f, fd = _fdiff(func, lam)
    out = mm(v * f[..., None, :], vi)
    # Daleckii–Krein for diagonalizable A = V Λ V⁻¹: L = V (F ∘ (V⁻¹ E V)) V⁻¹, F_ij = f[λi, λj]
    # (the (1,2) block of f([[A, E], [0, A]]); Higham 2008, Thm 3.11 / Mathias 1996).
    dl = mm(v, mm(fd * mm(mm(vi, da.astype(v.dtype)), v), vi))
    # a NaN factor (not a select) so that the transposed rule, reverse mode, is NaN there too
    nan_where_unreliable = jnp.where(_unreliable_basis(v, vi), jnp.nan, 1.0).astype(out.dtype)
    return out * nan_where_unreliable, dl * nan_where_unreliable


def funm(A: ArrayLike, func: Callable[[Array], Array], disp: bool = True) -> Array | tuple[Array, Array]:
    """``f(A)`` for an analytic scalar JAX function ``func``; drop-in for
    ``jax.scipy.linalg.funm`` / ``scipy.linalg.funm`` (``func`` is applied to complex eigenvalues).

    Computed from the eigendecomposition ``A = V Λ V⁻¹`` (``matcalc.eig``; JAX lowers the
    non-symmetric ``eig`` primitive on CPU, and on CUDA through cuSOLVER ``geev`` or a hybrid
    host kernel, so this path is not GPU-native). The result is complex for real input too, as
    JAX's ``funm`` (``funm(diag(−1, 2), jnp.log)`` has ``iπ`` on its diagonal); take ``.real``
    where ``f`` is known to be real on the spectrum.

    ``disp=False`` returns ``(f(A), err)`` as JAX does, with the estimate
    ``err = min(1, max(ε, ε κ₁(V)))`` of the eigenbasis (JAX's is Schur-based).

    A defective or nearly defective ``A`` (eigenbasis condition ``κ₁(V) > ε^{-3/4}``, about 5e11 in
    float64 and 1.5e5 in float32, where ``V f(Λ) V⁻¹`` would not keep four correct digits) gives NaN,
    value and derivative, instead of a wrong number; for such matrices use ``matcalc.expm``,
    ``matcalc.cosm`` and the other Padé/Schur-based functions, or ``hermitian.funm`` for
    Hermitian input.

    Derivative:
      ``L = V (F ∘ (V⁻¹ E V)) V⁻¹`` with divided differences ``F_ij = f[λi, λj]``, the mean of
      ``f'`` for eigenvalues closer than ``cbrt(eps)`` (Daleckii–Krein; Higham 2008, Thm 3.11).
      Domain: diagonalizable A with a well-conditioned eigenbasis. Second derivatives
      differentiate this rule through ``matcalc.eig``'s own rule (the expression is
      invariant to the eigenvector gauge), exact for distinct eigenvalues.

    Examples:
      >>> A = jnp.array([[1., 2.], [0., 3.]])  # triangular: f₁₂ = 2 (f(1) − f(3)) / (1 − 3)
      >>> F = matcalc.funm(A, jnp.exp)  # complex, as JAX's funm
      >>> print(np.round(F.real, 6))
      [[ 2.718282 17.367255]
       [ 0.       20.085537]]
      >>> bool(np.allclose(F, [[np.e, np.e**3 - np.e], [0., np.e**3]]))
      True
      >>> g = jax.grad(lambda A: jnp.trace(matcalc.funm(A, jnp.exp)).real)(A)  # ∇ tr exp(A) = exp(A)ᵀ
      >>> bool(np.allclose(g, matcalc.expm(A).T))
      True
    """
    disp = check_disp("funm", disp)
    a = as_inexact(A, "A")
    check_dtype("funm", "A", a)
    check_square(a, "funm", "A")
    if not callable(func):
        raise TypeError(f"funm: func must be a callable scalar function, got {func!r}")
    if is_empty(a):
        f = jnp.zeros(a.shape, complex_dtype(a.dtype))
        return f if disp else (f, jnp.zeros(a.shape[:-2], f.real.dtype))
    f = _funm(a, func)
    if disp:
        return f
    # error estimate: eps·κ₁(V) of the eigenbasis, clipped to [eps, 1]; inf where f(A) is not finite
    _, v, vi = _eig(jax.lax.stop_gradient(a))
    eps = jnp.finfo(f.real.dtype).eps
    err = jnp.clip(eps * norm1(v) * norm1(vi), eps, 1.0)
    return f, jnp.where(jnp.all(jnp.isfinite(f), axis=(-2, -1)), err, jnp.inf)
