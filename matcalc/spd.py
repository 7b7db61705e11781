"""Distances and divergences between symmetric/Hermitian positive definite matrices.

Built from ``matcalc.hermitian`` (whose first and second derivatives are exact at repeated
eigenvalues, including ``A = B``) and the elementary Cholesky ``logdet``/``solve`` rules, so every
function here is differentiable to second order and finite where the math allows.

Inputs are read as their Hermitian parts; tangents act through their Hermitian parts; batched over
leading axes. Where a distance is 0 (``A = B``) its square root is not differentiable: the
distances return the subgradient 0 there (the ``squared=True`` forms are smooth). Where ``A`` and
``B`` are equal entry by entry (after symmetrization), the unsquared distances return exactly 0
with gradient exactly 0, rather than the square root of a rounding error (``~1e-14`` for the
affine-invariant distance, ``~1e-7`` for Bures–Wasserstein) and its gradient, a unit vector in a
rounding direction. For ``B`` a few ulps from ``A`` that rounding floor remains.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from . import hermitian
from ._core import as_inexact, check_dtype, check_square, mm, symmetrize, trace
from ._linalg import logdet, solve

__all__ = [
    "affine_invariant_distance",
    "bures_wasserstein_distance",
    "frechet_distance",
    "log_euclidean_distance",
    "logdet_divergence",
    "stein_divergence",
]


def _pair(a, b, op):
    a, b = as_inexact(a, "a"), as_inexact(b, "b")
    check_square(a, op, "a")
    check_square(b, op, "b")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{op}: a and b must have the same size, got shapes {a.shape} and {b.shape}")
    try:
        jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError as err:
        raise ValueError(
            f"{op}: the batch dimensions of a and b do not broadcast, got shapes {a.shape} and {b.shape}"
        ) from err
    dtype = jnp.result_type(a.dtype, b.dtype)
    check_dtype(op, "a", a.astype(dtype))
    return symmetrize(a.astype(dtype)), symmetrize(b.astype(dtype))


def _safe_sqrt(x):
    """``√max(x, 0)`` with derivative 0 (a subgradient) at ``x ≤ 0`` instead of ``inf``; NaN stays
    NaN (out-of-domain input)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), jnp.where(x <= 0, 0, x))


def _distance(a, b, d2, squared):
    """``d2`` (squared) or ``√d2`` with value and gradient exactly 0 where ``A == B``."""
    if squared:
        return d2
    equal = jnp.all(a == b, axis=(-2, -1))
    return _safe_sqrt(jnp.where(equal, jnp.zeros_like(d2), d2))


def _fro2(x):
    return jnp.sum(jnp.real(x * jnp.conj(x)), axis=(-2, -1))


def affine_invariant_distance(a: ArrayLike, b: ArrayLike, squared: bool = False) -> Array:
    """Affine-invariant (Fisher–Rao) Riemannian distance ``‖log(A^{-1/2} B A^{-1/2})‖_F``.

    Derivative: through ``hermitian.inv_sqrtm`` and ``hermitian.logm`` (Daleckii–Krein, exact at
    repeated eigenvalues, in particular at ``A = B`` where ``A^{-1/2} B A^{-1/2} = I``).
    Reference: Pennec, Fillard & Ayache, IJCV 66 (2006); Bhatia, *Positive Definite Matrices* ch. 6.
    Domain: positive definite ``A``, ``B`` (NaN otherwise).

    Examples:
      >>> A = jnp.eye(2)
      >>> B = jnp.diag(jnp.exp(jnp.array([1., 2.])))
      >>> print(f"{float(matcalc.spd.affine_invariant_distance(A, B)):.6f}")  # ‖log B‖_F = √5
      2.236068
    """
    a, b = _pair(a, b, "affine_invariant_distance")
    s = hermitian.inv_sqrtm(a)
    d2 = _fro2(hermitian.logm(mm(mm(s, b), s)))
    return _distance(a, b, d2, squared)


def log_euclidean_distance(a: ArrayLike, b: ArrayLike, squared: bool = False) -> Array:
    """Log-Euclidean distance ``‖log A − log B‖_F`` (Arsigny et al., SIAM J. Matrix Anal. Appl.
    29 (2007)). Derivative: through ``hermitian.logm``. Domain: positive definite (NaN otherwise).

    Examples:
      >>> A = jnp.eye(2)
      >>> B = jnp.diag(jnp.exp(jnp.array([1., 2.])))
      >>> print(f"{float(matcalc.spd.log_euclidean_distance(A, B)):.6f}")  # ‖log A − log B‖_F = √5
      2.236068
    """
    a, b = _pair(a, b, "log_euclidean_distance")
    d2 = _fro2(hermitian.logm(a) - hermitian.logm(b))
    return _distance(a, b, d2, squared)


def _bures2(a, b):
    s = hermitian.sqrtm(a)
    cross = jnp.real(trace(hermitian.sqrtm(mm(mm(s, b), s))))
    # Not clamped at 0: a clamp would halve (max) or zero (where) the derivatives at A = B. The
    # value may be ~−eps·tr A from rounding; the non-squared distance reads it as 0.
    return jnp.real(trace(a)) + jnp.real(trace(b)) - 2 * cross


def bures_wasserstein_distance(a: ArrayLike, b: ArrayLike, squared: bool = False) -> Array:
    """Bures–Wasserstein distance ``(tr A + tr B − 2 tr (A^{1/2} B A^{1/2})^{1/2})^{1/2}``: the
    2-Wasserstein distance between centred Gaussians with covariances ``A`` and ``B``.

    Derivative: through ``hermitian.sqrtm`` (Daleckii–Krein with ``1/(√a+√b)``); exact at ``A = B``
    and at repeated eigenvalues. ``squared=True`` returns the smooth unclamped expression (it can
    be ~−eps·tr A at ``A = B`` from rounding); the distance itself reads negative values as 0.
    Reference: Bhatia, Jain & Lim, Expo. Math. 37 (2019).
    Domain: positive definite for a finite derivative (a zero eigenvalue makes the square root's
    derivative infinite); positive semidefinite for the value.

    Examples:
      >>> A = jnp.eye(2)
      >>> B = jnp.diag(jnp.array([4., 9.]))
      >>> d2 = matcalc.spd.bures_wasserstein_distance(A, B, squared=True)
      >>> print(f"{float(d2):.6f}")  # tr A + tr B − 2 tr (A^{1/2} B A^{1/2})^{1/2} = 2 + 13 − 10
      5.000000
      >>> g = jax.grad(matcalc.spd.bures_wasserstein_distance, argnums=1)(A, A, True)  # zero at B = A
      >>> print(np.round(g, 6))
      [[0. 0.]
       [0. 0.]]
    """
    a, b = _pair(a, b, "bures_wasserstein_distance")
    return _distance(a, b, _bures2(a, b), squared)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> Array:
    """Fréchet distance between Gaussians ``N(μ₁, Σ₁)``, ``N(μ₂, Σ₂)`` as in FID:
    ``‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`` (the *squared* 2-Wasserstein
    distance; ``tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2} = tr (Σ₁Σ₂)^{1/2}``).

    Derivative: exact, through ``hermitian.sqrtm``; no non-symmetric ``sqrtm(Σ₁Σ₂)`` is formed.
    Reference: Heusel et al., NeurIPS 2017; Dowson & Landau, J. Multivariate Anal. 12 (1982).

    Examples:
      >>> mu1, mu2 = jnp.zeros(2), jnp.array([3., 4.])
      >>> S1, S2 = jnp.eye(2), jnp.diag(jnp.array([4., 9.]))
      >>> print(f"{float(matcalc.spd.frechet_distance(mu1, S1, mu2, S2)):.6f}")  # ‖μ₁ − μ₂‖² + 5
      30.000000
    """
    sigma1, sigma2 = _pair(sigma1, sigma2, "frechet_distance")
    mu1, mu2 = as_inexact(mu1, "mu1"), as_inexact(mu2, "mu2")
    if mu1.shape[-1:] != sigma1.shape[-1:] or mu2.shape[-1:] != sigma1.shape[-1:]:
        raise ValueError(
            f"frechet_distance: mean shapes {mu1.shape}, {mu2.shape} do not match covariance "
            f"shape {sigma1.shape}"
        )
    diff = mu1 - mu2
    return jnp.sum(jnp.real(diff * jnp.conj(diff)), axis=-1) + _bures2(sigma1, sigma2)


def stein_divergence(a: ArrayLike, b: ArrayLike) -> Array:
    """Jensen–Bregman LogDet (Stein, S-) divergence ``log det((A+B)/2) − ½ log det(AB)``.

    Derivative: ``½ ((A+B)/2)⁻¹ − ½ A⁻¹`` in ``A`` (Cholesky ``logdet`` rule).
    Reference: Sra, NeurIPS 2012; Cherian et al., IEEE TPAMI 35 (2013).
    Domain: positive definite (NaN otherwise).

    Examples:
      >>> A = jnp.diag(jnp.array([1., 4.]))
      >>> B = jnp.eye(2)
      >>> print(f"{float(matcalc.spd.stein_divergence(A, B)):.6f}")
      0.223144
      >>> print(f"{np.log(2.5) - 0.5 * np.log(4):.6f}")  # log det((A+B)/2) − ½ log det(AB)
      0.223144
    """
    a, b = _pair(a, b, "stein_divergence")
    mean = logdet((a + b) / 2, assume_a="pos")
    return mean - (logdet(a, assume_a="pos") + logdet(b, assume_a="pos")) / 2


def logdet_divergence(a: ArrayLike, b: ArrayLike) -> Array:
    """LogDet (Burg, Bregman) divergence ``D(A‖B) = tr(B⁻¹A) − log det(B⁻¹A) − n``
    (twice the KL divergence between ``N(0, A)`` and ``N(0, B)``).

    Derivative: ``B⁻¹ − A⁻¹`` in ``A`` and ``B⁻¹ − B⁻¹AB⁻¹`` in ``B`` (``solve`` and Cholesky
    ``logdet`` rules). Reference: Kulis, Sustik & Dhillon, JMLR 10 (2009).
    Domain: positive definite (NaN otherwise).

    Examples:
      >>> A = jnp.diag(jnp.array([2., 3.]))
      >>> B = jnp.eye(2)
      >>> print(f"{float(matcalc.spd.logdet_divergence(A, B)):.6f}")
      1.208241
      >>> print(f"{2 + 3 - np.log(6) - 2:.6f}")  # tr(B⁻¹A) − log det(B⁻¹A) − n
      1.208241
    """
    a, b = _pair(a, b, "logdet_divergence")
    n = a.shape[-1]
    return jnp.real(trace(solve(b, a))) - logdet(a, assume_a="pos") + logdet(b, assume_a="pos") - n
