"""``eigh`` and ``eigvalsh``: eigendecompositions of Hermitian matrices whose derivatives stay
finite, and exact for basis-independent losses, at repeated eigenvalues (clusters within
``4 n eps max|λ|``, see ``matcalc._core.tolerance``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_square, cluster_tol, diag, mm, symmetrize
from .._core.arrays import hermitian_from_triangle
from .._core.results import EighResult


@jax.custom_jvp
def _eigh(a):
    w, v = jnp.linalg.eigh(a, symmetrize_input=False)
    return w, v


@_eigh.defjvp
def _eigh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eigh(a)  # through the rule, so that second derivatives use it again
    vh = _H(v)
    e = mm(mm(vh, symmetrize(da)), v)  # Ẽ = Vᴴ dA V
    dw = jnp.real(diag(e))  # dλ_i = v_iᴴ dA v_i
    # dv_i = −(A − λ_i)⁺ dA v_i = Σ_{k ∉ cluster(i)} v_k Ẽ_ki / (λ_i − λ_k): K_ki = 1/(λ_i − λ_k),
    # and 0 (not ∞) for λ_k in the cluster of λ_i (the zero within-cluster rotation).
    gap = w[..., None, :] - w[..., :, None]  # gap[k, i] = λ_i − λ_k
    same = jnp.abs(gap) <= cluster_tol(w, factor=4)[..., None]
    k = jnp.where(same, 0, 1 / jnp.where(same, 1, gap))
    dv = mm(v, k.astype(v.dtype) * e)
    return (w, v), (dw, dv)


def _check_uplo(uplo, op):
    """``UPLO`` is validated whether or not it is read, so ``eigh(a, b)`` (a generalized problem,
    which ``jnp.linalg.eigh`` does not take) fails instead of silently ignoring ``b``."""
    if isinstance(uplo, str) and uplo in ("L", "U") or uplo is None:
        return
    if hasattr(uplo, "shape"):
        raise TypeError(
            f"{op}: UPLO must be None, 'L' or 'U', got an array of shape {uplo.shape}; "
            f"jnp.linalg.{op} solves the standard problem only (no second matrix)"
        )
    raise ValueError(f"{op}: UPLO must be None, 'L' or 'U', got {uplo!r}")


def eigh(a: ArrayLike, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:
    """Eigendecomposition of a Hermitian (real symmetric) matrix; drop-in for ``jnp.linalg.eigh``.

    Returns ``EighResult(eigenvalues, eigenvectors)``, eigenvalues ascending, batched over leading
    axes. With ``symmetrize_input=True`` (default) the input is read as ``(A + Aᴴ)/2``; otherwise
    only its ``UPLO`` triangle is read (``"L"`` by default), as in JAX.

    Derivative:
      ``dλ_i = v_iᴴ dA v_i`` and ``dv_i = −(A − λ_i I)⁺ dA v_i``, where the pseudo-inverse treats
      the whole *cluster* of ``λ_i`` (eigenvalues within ``4 n eps max|λ|``, LAPACK's backward
      error) as its null space. In the eigenbasis: ``dV = V (K ∘ Vᴴ dA V)`` with
      ``K_ki = 1/(λ_i − λ_k)`` across clusters and ``K_ki = 0`` inside a cluster (no ``0·∞``);
      ``v_iᴴ dv_i = 0``.
      Tangents act through their Hermitian part; gradients are returned Hermitian.
      Reference: Giles (2008), §3.1; Kasim, arXiv:2011.04366 (degenerate case).

      What this means at repeated eigenvalues: the basis inside a cluster is arbitrary and not
      differentiable; the rule returns the derivative with *zero rotation inside the cluster*
      (parallel transport). Therefore (exactly, with no NaN):

      * losses that depend on eigenvectors only through the cluster projectors ``V_c V_cᴴ``, and on
        eigenvalues only through symmetric functions of each cluster (``Σ_{i∈c} g(λ_i)``) get the
        exact gradient (the within-cluster terms are exactly zero, not ``0·∞``);
      * a basis-dependent loss (one eigenvector inside a cluster, an individual eigenvalue of a
        cluster) gets the gradient of the transported basis above, i.e. the transpose of
        ``dv_i = −(A − λ_i)⁺ dA v_i``, ``dλ_i = v_iᴴ dA v_i``;
      * a matrix function assembled by hand, ``V f(Λ) Vᴴ``, has the limit
        ``(f(λj) − f(λi))/(λj − λi) → f'(λ)`` inside a cluster, which no eigenvector rule can see:
        its off-diagonal within-cluster part is missed. Use ``matcalc.hermitian`` (``funm``),
        which is exact (first and second order).

      Second derivatives differentiate this rule again (exact at distinct eigenvalues).

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])
      >>> w, v = matcalc.eigh(A)
      >>> print(np.round(w, 6))
      [1. 3.]
      >>> g = jax.grad(lambda A: matcalc.eigh(A)[0][1])(A)  # dλ = vᵀ dA v, so ∇λ = v vᵀ
      >>> bool(np.allclose(g, np.outer(v[:, 1], v[:, 1])))
      True
      >>> def projector(A):  # onto the eigenspace of the two smallest eigenvalues
      ...     w, v = matcalc.eigh(A)
      ...     return v[:, :2] @ v[:, :2].T
      >>> B = jnp.diag(jnp.array([1., 1., 3.]))  # eigenvalue 1 repeated: finite, exact gradient
      >>> print(np.round(jax.grad(lambda B: projector(B)[0, 2])(B), 6))  # dP = −(P dB Q + Q dB P)/(3 − 1)
      [[ 0.    0.   -0.25]
       [ 0.    0.    0.  ]
       [-0.25  0.    0.  ]]
    """
    _check_uplo(UPLO, "eigh")
    a = as_inexact(a)
    check_square(a, "eigh")
    if symmetrize_input:
        a = symmetrize(a)
    else:
        a = hermitian_from_triangle(a, UPLO)
    w, v = _eigh(a)
    return EighResult(w, v)


@jax.custom_jvp
def _eigvalsh(a):
    return jnp.linalg.eigvalsh(a, symmetrize_input=False)


@_eigvalsh.defjvp
def _eigvalsh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eigh(a)
    # dλ_i = v_iᴴ dA v_i = Σ_k conj(V_ki) (dA V)_ki (one product)
    dw = jnp.real(jnp.sum(jnp.conj(v) * mm(symmetrize(da), v), axis=-2))
    return w, dw


def eigvalsh(a: ArrayLike, UPLO: str | None = None, *, symmetrize_input: bool = True) -> Array:
    """Eigenvalues (ascending) of a Hermitian matrix; drop-in for ``jnp.linalg.eigvalsh``.

    Derivative:
      ``dλ_i = v_iᴴ dA v_i`` (Hermitian part of ``dA``). At a repeated eigenvalue the individual
      eigenvalues are not differentiable, but every symmetric function of a cluster is, and gets its
      exact gradient (``d Σ_{i∈c} λ_i = tr(V_cᴴ dA V_c)``, basis-independent). Second derivatives go
      through ``eigh``'s rule (``d²λ_i = 2 Σ_{k∉c} |Ẽ_ik|²/(λ_i − λ_k)``): exact at distinct
      eigenvalues and finite at repeats, where they miss the within-cluster term
      ``g''(λ) Σ_{i≠j∈c} |Ẽ_ij|²`` of ``Σ g(λ_i)`` (the cluster splits nonlinearly). For spectral
      functions ``tr g(A)`` use ``trace(hermitian.funm(a, g))``, exact to second order.
      Reference: Giles (2008), §3.1.

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])
      >>> print(np.round(matcalc.eigvalsh(A), 6))
      [1. 3.]
      >>> print(np.round(jax.grad(lambda A: matcalc.eigvalsh(A).sum())(A), 6))  # ∇ tr A = I
      [[1. 0.]
       [0. 1.]]
    """
    _check_uplo(UPLO, "eigvalsh")
    a = as_inexact(a)
    check_square(a, "eigvalsh")
    a = symmetrize(a) if symmetrize_input else hermitian_from_triangle(a, UPLO)
    return _eigvalsh(a)


__all__ = ["eigh", "eigvalsh"]
