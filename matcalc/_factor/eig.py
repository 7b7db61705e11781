"""General (non-Hermitian) eigendecomposition with eigenvalue and eigenvector derivatives.

These call JAX's ``eig`` primitive: LAPACK ``geev`` on CPU; since JAX 0.4.36 also lowered on
CUDA GPUs (a hybrid kernel running LAPACK/MAGMA on the host, or cuSOLVER ``geev`` where the
installed cuSOLVER has it), not on TPU. matcalc has not run them on a GPU itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import as_inexact, check_square, cluster_tol, mm
from .._core.results import EigResult


def _gauge_index(v):
    """Row of each column's largest-magnitude entry (piecewise constant; not differentiated)."""
    if v.shape[-2] == 0:  # no rows: no columns either (square), an empty index
        return jnp.zeros(v.shape[:-2] + v.shape[-1:], jnp.int32)
    return lax.stop_gradient(jnp.argmax(jnp.abs(v), axis=-2))


def _fix_phase(v):
    """Unit columns whose largest-magnitude entry is real and positive."""
    k = _gauge_index(v)
    vk = jnp.take_along_axis(v, k[..., None, :], axis=-2)
    return v * (jnp.conj(vk) / jnp.abs(vk).astype(vk.dtype))


def _pair_tol(w):
    return cluster_tol(w)[..., None]


@jax.custom_jvp
def _eig(a):
    w, v = jnp.linalg.eig(a)
    return w, _fix_phase(v)


@_eig.defjvp
def _eig_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eig(a)
    da = da.astype(w.dtype)
    # A V = V Λ  ⇒  dA V + A dV = dV Λ + V dΛ. With dV = V C̃:
    #   C := V⁻¹ dA V = dΛ + C̃ Λ − Λ C̃,
    # so dλ_i = C_ii (= y_iᴴ dA x_i / y_iᴴ x_i with left vectors y_iᴴ the rows of V⁻¹) and
    # C̃_ij = C_ij / (λj − λi) for i ≠ j. The diagonal of C̃ is the gauge (column scaling); it is
    # fixed below.
    c = jnp.linalg.solve(v, mm(da, v))
    dw = jnp.diagonal(c, axis1=-2, axis2=-1)
    diff = w[..., None, :] - w[..., :, None]
    small = jnp.abs(diff) <= _pair_tol(w)
    f = jnp.where(small, 0.0, 1.0 / jnp.where(small, 1.0, diff)).astype(w.dtype)
    y = mm(v, f * c)
    # Gauge: ‖v_i‖ = 1 and v_i's largest entry (row k_i, fixed near the point) real positive.
    # dv_i = y_i + α_i v_i with Re α_i = −Re(v_iᴴ y_i) (unit norm) and
    # Im α_i = −Im(y_i[k_i]) / v_i[k_i] (the entry stays real).
    k = _gauge_index(v)
    vk = jnp.real(jnp.take_along_axis(v, k[..., None, :], axis=-2))[..., 0, :]
    yk = jnp.take_along_axis(y, k[..., None, :], axis=-2)[..., 0, :]
    re_alpha = -jnp.real(jnp.sum(jnp.conj(v) * y, axis=-2))
    im_alpha = -jnp.imag(yk) / vk
    alpha = lax.complex(re_alpha, im_alpha)
    dv = y + v * alpha[..., None, :]
    return (w, v), (dw, dv)


@jax.custom_jvp
def _eigvals(a):
    return jnp.linalg.eigvals(a)


@_eigvals.defjvp
def _eigvals_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eig(a)
    # dλ_i = y_iᴴ dA x_i / (y_iᴴ x_i) with yᴴ = rows of V⁻¹ (so yᴴ x = 1): diag(V⁻¹ dA V),
    # summed from V⁻¹ dA (one LU solve) against Vᵀ; its transpose is one solve with Vᵀ.
    dw = jnp.sum(jnp.linalg.solve(v, da.astype(w.dtype)) * jnp.swapaxes(v, -1, -2), axis=-1)
    return w, dw


def eig(a: ArrayLike) -> EigResult:
    """Eigenvalues and right eigenvectors of a general square matrix; drop-in for
    ``jnp.linalg.eig`` (JAX's ``eig`` primitive: CPU, and CUDA GPUs through a host-hybrid or
    cuSOLVER kernel in JAX ≥ 0.4.36; no TPU).

    Returns ``(w, v)`` complex, ``a @ v = v * w``, eigenvalues in LAPACK's order.

    Gauge convention (stated; it differs from LAPACK's only by a phase per column): each
    eigenvector has unit 2-norm and its largest-magnitude entry real and positive (LAPACK makes
    that entry real, of either sign). The derivative keeps both: ``Re(v_iᴴ dv_i) = 0`` and
    ``Im dv_i[k_i] = 0`` at the row ``k_i`` of that entry.

    Derivative:
      ``C = V⁻¹ dA V``; ``dλ_i = C_ii = y_iᴴ dA x_i / (y_iᴴ x_i)`` (left vectors ``y_iᴴ`` = rows of
      ``V⁻¹``); ``dV = V (F ∘ C) + V diag(α)`` with ``F_ij = 1/(λj − λi)`` (``i ≠ j``) and ``α`` the
      gauge term above. Reverse mode by JAX's transposition; ``jvp``-of-``grad`` works.
      Losses invariant to the gauge, e.g. ``V f(Λ) V⁻¹`` or anything of ``w`` alone, get exact
      gradients independent of the convention.
      Domain: distinct eigenvalues for the vectors (a diagonalizable matrix for the values).
      Exactly repeated eigenvalues (``|λi − λj| ≤ n·eps·max|λ|``) get ``F_ij = 0``: finite, and
      exact for losses invariant to the basis of that eigenspace and to how the eigenvalue splits
      (e.g. a function of ``w`` that is symmetric within the cluster, of a diagonalizable ``A``).
      Defective matrices are not differentiable; results there are not meaningful.
      References: Giles (2008) §3.1; Boeddeker et al., arXiv:1701.00392 (2017).

    Args:
      a: ``(..., n, n)`` real or complex.

    Returns:
      ``(w, v)``: ``(..., n)`` and ``(..., n, n)`` complex.

    Examples:
      >>> A = jnp.array([[0., 1.], [-2., -3.]])
      >>> w, v = matcalc.eig(A)
      >>> print(np.round(np.sort(w.real), 6))
      [-2. -1.]
      >>> bool(np.allclose(A.astype(v.dtype) @ v, v @ jnp.diag(w)))  # A V = V Λ
      True
      >>> E = jnp.array([[0., 0.], [1., 0.]])
      >>> (w, v), (dw, dv) = jax.jvp(matcalc.eig, (A,), (E,))  # eigenvector derivatives too
      >>> lhs = E.astype(v.dtype) @ v + A.astype(v.dtype) @ dv
      >>> bool(np.allclose(lhs, dv @ jnp.diag(w) + v @ jnp.diag(dw)))  # dA V + A dV = dV Λ + V dΛ
      True
    """
    a = as_inexact(a)
    check_square(a, "eig")
    return EigResult(*_eig(a))


def eigvals(a: ArrayLike) -> Array:
    """Eigenvalues of a general square matrix; drop-in for ``jnp.linalg.eigvals`` (platforms as
    ``eig``).

    Derivative:
      ``dλ_i = y_iᴴ dA x_i / (y_iᴴ x_i)``: ``diag(V⁻¹ dA V)`` from the forward pass's right
      eigenvectors ``V`` (Giles 2008 §3.1). Domain: diagonalizable ``A``; a simple eigenvalue is
      differentiable; for a repeated eigenvalue of a diagonalizable ``A`` only symmetric functions
      of its cluster are, and they get their exact gradient (the cluster sum of ``C_ii`` is
      ``tr`` of the spectral projector times ``dA``, basis-independent).

    Args:
      a: ``(..., n, n)`` real or complex.

    Returns:
      ``(..., n)`` complex.

    Examples:
      >>> A = jnp.array([[0., 1.], [-2., -3.]])
      >>> print(np.round(np.sort(matcalc.eigvals(A).real), 6))
      [-2. -1.]
    """
    a = as_inexact(a)
    check_square(a, "eigvals")
    return _eigvals(a)
