"""Stochastic trace estimators of Hermitian operators: ``log det A`` (``logdet``), ``tr f(A)``
(``trace_funm``) and ``tr A`` (``trace``), matrix-free, with gradients."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._matfun.hermitian import funm as hermitian_funm
from ._operators import Operator, as_operator
from .lanczos import (
    block_cg,
    check_key,
    hermitian_bilinear_cotangent,
    lanczos_tridiagonal,
    per_matrix,
    probes,
    scale_cotangent,
    tridiagonal,
)
from .preconditioner import LowRankShift, pivoted_cholesky


class _Config(NamedTuple):
    order: int
    reorthogonalize: bool
    cg_tol: float
    cg_maxiter: int


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    return int(value)


def _prepare(A: Any, key: Any, num_probes: Any, probe: str) -> tuple[Operator, jax.Array]:
    operator = as_operator(A, name="A", square=True)
    key = check_key(key)
    p = _check_int(num_probes, "num_probes", 1)
    if probe not in ("rademacher", "normal"):
        raise ValueError(f"probe: expected 'rademacher' or 'normal', got {probe!r}")
    return operator, probes(key, operator.shape[0], p, probe, operator.dtype)


def _check_preconditioner(preconditioner: Any, operator: Operator, rank: int) -> LowRankShift:
    if rank:
        raise ValueError(
            f"preconditioner: give a preconditioner or preconditioner_rank, not both (rank {rank} was given)"
        )
    if not isinstance(preconditioner, LowRankShift):
        raise TypeError(
            "preconditioner: expected a matcalc.krylov.LowRankShift (LowRankShift.pivoted_cholesky), got "
            f"{type(preconditioner).__name__}"
        )
    n = operator.shape[0]
    if preconditioner.basis.ndim != 2 or preconditioner.basis.shape[0] != n:
        raise ValueError(
            f"preconditioner: its basis must have shape ({n}, k) for A of shape {operator.shape}, "
            f"got {preconditioner.basis.shape}"
        )
    real = jnp.finfo(operator.dtype).dtype
    return LowRankShift(
        jax.lax.stop_gradient(jnp.asarray(preconditioner.basis).astype(operator.dtype)),
        jax.lax.stop_gradient(jnp.asarray(preconditioner.eigenvalues).astype(real)),
        jax.lax.stop_gradient(jnp.asarray(preconditioner.shift).astype(real)),
    )


def _stats(samples: jax.Array) -> tuple[jax.Array, jax.Array]:
    p = samples.shape[0]
    mean = jnp.mean(samples)
    if p == 1:
        return mean, jnp.asarray(jnp.nan, samples.dtype)
    return mean, jnp.std(samples, ddof=1) / jnp.sqrt(p)


def _quadrature(cfg: _Config, operator: Operator, z: jax.Array):
    """Gauss-quadrature nodes and weights (``θ``, ``τ``, each ``(p, order)``) and ``‖z_j‖²``."""
    alpha, beta, norms = lanczos_tridiagonal(operator, z, cfg.order, cfg.reorthogonalize)
    theta, u = per_matrix(jnp.linalg.eigh, tridiagonal(alpha, beta))
    return theta, jnp.abs(u[:, 0, :]) ** 2, norms**2


# ---------------------------------------------------------------------------------------------
# logdet


class _Preconditioned(NamedTuple):
    """``C = P^{-1/2} A P^{-1/2}`` for a fixed preconditioner ``P`` (Hermitian positive definite)."""

    operator: Operator
    preconditioner: LowRankShift

    def matmat(self, x: jax.Array) -> jax.Array:
        inv_sqrt = self.preconditioner.inv_sqrt
        return inv_sqrt(self.operator.matmat(inv_sqrt(x)))


def _logdet_samples(cfg: _Config, operator: Operator, z: jax.Array) -> jax.Array:
    theta, tau, nz = _quadrature(cfg, operator, z)
    positive = jnp.all(theta > 0)  # a non-positive Ritz value: A is not positive definite
    safe = jnp.where(theta > 0, theta, 1)
    samples = nz * jnp.sum(tau * jnp.log(safe), axis=-1)
    return jnp.where(positive, samples, jnp.nan)


def _estimate(cfg: _Config, operator: Operator, z: jax.Array, preconditioner: LowRankShift | None):
    if preconditioner is None:
        return _stats(_logdet_samples(cfg, operator, z))
    # log det A = log det P + log det C (exact for any P); SLQ on the better-conditioned C
    mean, err = _stats(_logdet_samples(cfg, _Preconditioned(operator, preconditioner), z))
    return mean + preconditioner.logdet(), err


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _logdet_rule(cfg: _Config, operator: Operator, z: jax.Array, preconditioner: LowRankShift | None):
    return _estimate(cfg, operator, z, preconditioner)


def _logdet_fwd(cfg, operator, z, preconditioner):
    mean, err = _estimate(cfg, operator, z, preconditioner)
    return (mean, err), (operator, z, preconditioner, mean)


def _logdet_bwd(cfg, residuals, cotangents):
    operator, z, preconditioner, mean = residuals
    g_mean, _ = cotangents  # the standard error is not differentiated
    # d log det A = tr(A⁻¹ dA) ≈ (1/p) Σ_j z_jᴴ A⁻¹ dA z_j = (1/p) Σ_j Re ⟨A⁻¹ z_j, dA z_j⟩ (Hutchinson),
    # A⁻¹ z_j by conjugate gradients, all probes in one product per iteration. Preconditioned:
    # tr(A⁻¹ dA) = tr(C⁻¹ P^{-1/2} dA P^{-1/2}) ≈ (1/p) Σ_j Re ⟨P^{-1/2} C⁻¹ z_j, dA P^{-1/2} z_j⟩.
    failed = jnp.isnan(mean)  # not positive definite: no solve (CG would run to cg_maxiter), NaN
    rhs = jnp.where(failed, 0, z)
    if preconditioner is None:
        left, right = block_cg(operator.matmat, rhs, tol=cfg.cg_tol, maxiter=cfg.cg_maxiter), z
    else:
        c = _Preconditioned(operator, preconditioner)
        solved = block_cg(c.matmat, rhs, tol=cfg.cg_tol, maxiter=cfg.cg_maxiter)
        left, right = preconditioner.inv_sqrt(solved), preconditioner.inv_sqrt(z)
    ct = hermitian_bilinear_cotangent(operator, left, right)
    factor = jnp.where(failed, jnp.nan, g_mean / z.shape[1])
    zero_preconditioner = jax.tree_util.tree_map(jnp.zeros_like, preconditioner)
    return scale_cotangent(ct, factor), jnp.zeros_like(z), zero_preconditioner


_logdet_rule.defvjp(_logdet_fwd, _logdet_bwd)


def logdet(  # noqa: PLR0913
    A: Any,
    *,
    key: Any,
    num_probes: int = 32,
    order: int = 40,
    probe: str = "rademacher",
    reorthogonalize: bool = False,
    cg_tol: float | None = None,
    cg_maxiter: int | None = None,
    preconditioner_rank: int = 0,
    preconditioner: LowRankShift | None = None,
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, dict[str, jax.Array]]:
    """Stochastic estimate of ``log det A`` for a Hermitian positive definite operator, matrix-free.

    ``A``: 2-D array, ``BCOO`` matrix or lineax operator (trusted to be Hermitian). ``key``: a JAX
    PRNG key (anything else raises TypeError). ``num_probes`` (``p``) random probes ``z_j``
    (``probe="rademacher"``: ±1 entries, or ``"normal"``), ``order`` Lanczos steps per probe (all
    probes in one block product per step). With ``return_info=True`` returns
    ``(value, {"stderr": ...})``, the sample standard error of the probe average (not differentiated).

    Value: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017): ``log det A = tr log A ≈
    (1/p) Σ_j ‖z_j‖² Σ_l τ_jl log θ_jl``, where ``θ_jl`` and ``τ_jl`` are the eigenvalues of the
    Lanczos tridiagonal ``T_j`` of ``z_j`` and the squared first components of its eigenvectors
    (Gauss quadrature of ``z_jᴴ log(A) z_j``; Golub & Meurant 2010). Hutchinson's estimator
    (Hutchinson 1989) is unbiased; the quadrature adds a bias that decays geometrically in
    ``order`` at a rate set by ``√κ(A)`` (the standard error does not include it). The plain
    three-term recurrence is used by default (``reorthogonalize=True`` stores the basis, memory
    ``n·p·order``).

    Not positive definite: when a Lanczos tridiagonal has a non-positive Ritz value (which happens
    as soon as a probe's Krylov space sees a non-positive eigenvalue; it is not guaranteed for an
    eigenvalue the probes barely touch), the value and the gradient are NaN.

    Preconditioning (``preconditioner_rank = k > 0``): ``P = L Lᴴ + s I`` from ``k`` steps of
    pivoted Cholesky on ``A`` (``diag(A)`` and ``k`` columns ``A e_p``; ``s`` the mean of the
    residual diagonal; see ``matcalc.krylov.preconditioner``), and ``log det A = log det P +
    log det C`` with ``C = P^{-1/2} A P^{-1/2}``: ``log det P`` exactly (``O(n k²)``), ``log det C``
    by the quadrature above on ``C``. Still unbiased (``P`` is fixed, not random); where ``L``
    captures the large eigenvalues (kernel matrices ``K + σ² I`` with a decaying spectrum,
    Gardner et al. 2018) ``‖log C‖_F`` and hence the standard error shrink by orders of
    magnitude, and ``C``'s smaller condition number lowers the quadrature bias and the CG count.
    ``preconditioner=P`` takes a ``LowRankShift`` built beforehand
    (``LowRankShift.pivoted_cholesky(A, k)``, or of a nearby matrix), so that one factorization also
    preconditions the user's own CG solves with ``A`` (``P.inverse_operator()``); it is read
    through ``stop_gradient``, and gives no gradient (the identity holds for every fixed ``P``).
    Give ``preconditioner`` or ``preconditioner_rank``, not both.

    Derivative (``custom_vjp``; ``jvp`` is not supported):
      ``d log det A = tr(A⁻¹ dA)``, estimated by Hutchinson with the same probes:
      ``Ā = (ḡ/p) Σ_j sym(A⁻¹ z_j z_jᴴ)`` as bilinear-form cotangents, ``A⁻¹ z_j`` by conjugate
      gradients batched over the probes (``cg_tol`` default ``eps^0.75`` relative residual,
      ``cg_maxiter`` default ``max(n, 50)``). Unbiased for ``A⁻¹`` given exact solves — it is the
      Hutchinson estimate of the exact gradient, not the gradient of the (biased) SLQ value; the
      batched-CG pattern is that of Gardner et al. (2018, BBMM). Gradients are Hermitian.
      Preconditioned: ``tr(A⁻¹ dA) = tr(C⁻¹ P^{-1/2} dA P^{-1/2})``, estimated with the same
      probes as ``(1/p) Σ_j Re ⟨P^{-1/2} C⁻¹ z_j, dA P^{-1/2} z_j⟩`` (CG on ``C``); ``P`` is not
      differentiated (the identity holds for every fixed ``P``).
      Second order: forward over reverse (``jax.jvp`` of ``jax.grad``, ``jax.hessian``) is the
      derivative of this gradient estimate with the probes fixed, ``−(1/p) Σ_j sym(A⁻¹ dA A⁻¹
      z_j z_jᴴ)``: an unbiased estimate of ``−A⁻¹ dA A⁻¹`` given exact solves (tested within
      exact standard deviations). Reverse over reverse is not supported: JAX raises (CG and
      Lanczos are ``while_loop``s).

    Examples:
        >>> from jax.experimental import sparse
        >>> from matcalc.krylov import logdet
        >>> d = sparse.BCOO.fromdense(jnp.diag(jnp.array([1.0, 2.0, 4.0])))
        >>> # exact here: Rademacher probes on a diagonal operator, as many Lanczos steps as eigenvalues
        >>> print(f"{float(logdet(d, key=jax.random.key(0), num_probes=4, order=3)):.6f}")  # log 8
        2.079442
    """
    operator, z = _prepare(A, key, num_probes, probe)
    order = _check_int(order, "order", 1)
    eps = float(jnp.finfo(operator.dtype).eps)
    n = operator.shape[0]
    cfg = _Config(
        min(order, n),
        bool(reorthogonalize),
        eps**0.75 if cg_tol is None else float(cg_tol),
        max(n, 50) if cg_maxiter is None else int(cg_maxiter),
    )
    rank = _check_int(preconditioner_rank, "preconditioner_rank", 0)
    if preconditioner is not None:
        preconditioner = _check_preconditioner(preconditioner, operator, rank)
    elif rank:
        preconditioner = pivoted_cholesky(operator, min(rank, n))
    value, err = _logdet_rule(cfg, operator, z, preconditioner)
    return (value, {"stderr": err}) if return_info else value


# ---------------------------------------------------------------------------------------------
# trace_funm and trace


def trace_funm(
    A: Any,
    f: Callable[[jax.Array], jax.Array],
    *,
    key: Any,
    num_probes: int = 32,
    order: int = 40,
    probe: str = "rademacher",
    reorthogonalize: bool = False,
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, dict[str, jax.Array]]:
    """Stochastic estimate of ``tr f(A)`` for a Hermitian operator and a scalar function ``f``.

    Value: stochastic Lanczos quadrature as in ``logdet``:
    ``tr f(A) ≈ (1/p) Σ_j ‖z_j‖² e₁ᵀ f(T_j) e₁`` (Ubaru, Chen & Saad 2017), ``f(T_j)`` by
    ``matcalc.hermitian.funm``. ``f`` must be defined on the spectrum of ``A`` (the Ritz values
    lie in its convex hull). ``return_info=True`` adds the standard error as in ``logdet``.

    Derivative: ordinary reverse-mode differentiation of the estimator itself (through the Lanczos
    recurrence, a fixed-trip ``scan``, and the degeneracy-safe Daleckii–Krein rule of
    ``hermitian.funm`` on ``T_j``): the exact derivative of the same random estimate, including its
    quadrature bias; memory ``O(n·p·order)``. It is Hutchinson-unbiased for ``tr(f'(A) dA)`` only as
    the quadrature error vanishes. Second order works in both modes (forward over reverse and
    reverse over reverse), again as the derivative of the same estimate.

    Examples:
        >>> from jax.experimental import sparse
        >>> from matcalc.krylov import trace_funm
        >>> d = sparse.BCOO.fromdense(jnp.diag(jnp.array([1.0, 2.0, 4.0])))
        >>> value = trace_funm(d, jnp.exp, key=jax.random.key(0), num_probes=4, order=3)
        >>> print(f"{float(value):.6f}")  # e + e² + e⁴
        64.705488
    """
    if not callable(f):
        raise TypeError(f"f: expected a callable, got {type(f).__name__}")
    operator, z = _prepare(A, key, num_probes, probe)
    order = min(_check_int(order, "order", 1), operator.shape[0])
    alpha, beta, norms = lanczos_tridiagonal(operator, z, order, bool(reorthogonalize))
    t = tridiagonal(alpha, beta)
    samples = norms**2 * jnp.real(per_matrix(lambda ti: hermitian_funm(ti, f), t)[:, 0, 0])
    value, err = _stats(samples)
    return (value, {"stderr": jax.lax.stop_gradient(err)}) if return_info else value


def trace(
    A: Any,
    *,
    key: Any,
    num_probes: int = 32,
    probe: str = "rademacher",
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, dict[str, jax.Array]]:
    """Hutchinson's estimate of ``tr A``: ``(1/p) Σ_j z_jᴴ A z_j`` (Hutchinson 1989), one block product.

    Unbiased; with Rademacher probes and real symmetric ``A`` the variance is
    ``2 (‖A‖_F² − Σ_i A_ii²)/p``, with normal probes ``2 ‖A‖_F²/p``. ``return_info=True`` adds the
    sample standard error. Derivative: by differentiation of the estimate, ``Ā = (ḡ/p) Σ_j z_j z_jᴴ``
    (conjugated per JAX's convention), unbiased for ``ḡ I``.

    Examples:
        >>> from jax.experimental import sparse
        >>> from matcalc.krylov import trace
        >>> d = sparse.BCOO.fromdense(jnp.diag(jnp.array([1.0, 2.0, 4.0])))
        >>> print(f"{float(trace(d, key=jax.random.key(0), num_probes=4)):.6f}")
        7.000000
    """
    operator, z = _prepare(A, key, num_probes, probe)
    samples = jnp.real(jnp.sum(jnp.conj(z) * operator.matmat(z), axis=0))
    value, err = _stats(samples)
    return (value, {"stderr": jax.lax.stop_gradient(err)}) if return_info else value
