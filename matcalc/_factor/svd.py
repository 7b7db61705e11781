"""Singular value decomposition with a degeneracy-safe rule (real and complex; tall, square,
wide)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_matrix, check_square, cluster_tol, mm, symmetrize
from .._core.results import SVDResult


def _cluster_tol(s, m, n):
    """Singular values closer than this are treated as one (exactly repeated) cluster."""
    return cluster_tol(s, size=max(m, n))[..., None]


def _safe_recip(x, small):
    """``1/x`` where ``small`` is False, else 0, with a safe denominator (so that derivatives of
    this expression stay finite too)."""
    return jnp.where(small, 0.0, 1.0 / jnp.where(small, 1.0, x))


def _svd_coefficients(s, m, n):
    """``E_ij = 1/(σj − σi)`` (0 on the diagonal and inside clusters), ``G_ij = 1/(σj + σi)``
    (0 where both vanish) and ``1/σ`` (0 at σ = 0): no ``σ²`` anywhere, so nothing overflows in
    float32 where σ itself does not."""
    tol = _cluster_tol(s, m, n)
    si, sj = s[..., :, None], s[..., None, :]
    diff = sj - si
    e = _safe_recip(diff, jnp.abs(diff) <= tol)
    total = sj + si
    g = _safe_recip(total, total <= tol)
    sinv = _safe_recip(s, s <= tol[..., 0, :])
    return e, g, sinv


def _svd_tangent(u, s, vh, da, full: bool):
    m, n = da.shape[-2:]
    k = min(m, n)
    u1, vh1 = u[..., :, :k], vh[..., :k, :]
    v1 = _H(vh1)
    cdt = da.dtype
    e, g, sinv = _svd_coefficients(s, m, n)
    e, g, sinvc = e.astype(cdt), g.astype(cdt), sinv.astype(cdt)
    # P = Uᴴ dA V. Differentiating A = U Σ Vᴴ with Ω_U = Uᴴ dU, Ω_V = Vᴴ dV skew-Hermitian:
    #   P = Ω_U Σ + dΣ − Σ Ω_V.
    # Off the diagonal, with S = (P + Pᴴ)/2 and K = (P − Pᴴ)/2 (symmetric/antisymmetric split):
    #   2 S_ij = (σj − σi)(Ω_U + Ω_V)_ij,   2 K_ij = (σj + σi)(Ω_U − Ω_V)_ij,
    # so Ω_U = E∘S + G∘K, Ω_V = E∘S − G∘K (Townsend 2016; Wan & Zhang 2019 for the complex case).
    # On the diagonal dσ = Re P_ii and the phase gauge is balanced: Ω_U,ii = −Ω_V,ii
    # = i Im P_ii / (2σi), which is what G∘K gives on the diagonal.
    da_v = mm(da, v1)
    p = mm(_H(u1), da_v)
    ds = jnp.real(jnp.diagonal(p, axis1=-2, axis2=-1))
    sym, skew = (p + _H(p)) / 2, (p - _H(p)) / 2
    om_u = e * sym + g * skew
    om_v = e * sym - g * skew
    du = mm(u1, om_u)
    dv = mm(v1, om_v)
    if m > k:
        # Tall: the part of dU outside range(U) is (I − UUᴴ) dA V Σ⁻¹.
        du_perp = (da_v - mm(u1, p)) * sinvc[..., None, :]
        du = du + du_perp
        if full:
            # Gauge of the extra columns U2 (a basis of range(A)^⊥): U2ᴴ dU2 = 0 (parallel
            # transport); U1ᴴ U2 = 0 then gives dU2 = −U1 dU1ᴴ U2 = −U1 Σ⁻¹ Vᴴ dAᴴ U2.
            u2 = u[..., :, k:]
            du2 = -mm(u1, mm(_H(du_perp), u2))
            du = jnp.concatenate([du, du2], axis=-1)
    if n > k:
        # Wide: the part of dV outside range(V) is (I − VVᴴ) dAᴴ U Σ⁻¹.
        dah_u = mm(_H(da), u1)
        dv_perp = (dah_u - mm(v1, _H(p))) * sinvc[..., None, :]
        dv = dv + dv_perp
        if full:
            v2 = _H(vh[..., k:, :])
            dv2 = -mm(v1, mm(_H(dv_perp), v2))
            dv = jnp.concatenate([dv, dv2], axis=-1)
    return du, ds, _H(dv)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _svd(a, full, hermitian):
    u, s, vh = jnp.linalg.svd(a, full_matrices=full, compute_uv=True, hermitian=hermitian)
    return u, s, vh


@_svd.defjvp
def _svd_jvp(full, hermitian, primals, tangents):
    (a,), (da,) = primals, tangents
    u, s, vh = _svd(a, full, hermitian)
    if hermitian:
        da = symmetrize(da)
    return (u, s, vh), _svd_tangent(u, s, vh, da, full)


@jax.custom_jvp
def _svdvals(a):
    return jnp.linalg.svd(a, compute_uv=False)


@_svdvals.defjvp
def _svdvals_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    m, n = a.shape[-2:]
    u, s, vh = _svd(a, False, False)
    # dσ_i = Re u_iᴴ dA v_i; the diagonal of Uᴴ dA V without the off-diagonal products.
    if m <= n:
        d = jnp.sum(mm(_H(u), da) * jnp.conj(vh), axis=-1)
    else:
        d = jnp.sum(jnp.conj(u) * mm(da, _H(vh)), axis=-2)
    return s, jnp.real(d)


def svdvals(a: ArrayLike) -> Array:
    """Singular values, descending; drop-in for ``jnp.linalg.svdvals``.

    Derivative:
      ``dσ_i = Re(u_iᴴ dA v_i)`` (Townsend 2016, eq. 5). Exact wherever ``σ_i`` is simple and
      positive. At a repeated singular value the individual ``σ_i`` are not differentiable but
      their cluster sum is, and ``Σ_{i∈c} Re u_iᴴ dA v_i = Re tr(U_cᴴ dA V_c)`` is
      basis-independent:
      every symmetric function of the singular values (norms, ``Σ log σ``) gets its exact,
      finite gradient, including at ``A = I``. At ``σ_i = 0`` this is the one-sided derivative
      along the forward pass's singular vectors. The JVP is built from ``svd``'s own rule,
      so second derivatives use it too: exact at distinct singular values; at a repeated one the
      Hessian lacks the in-cluster rotation term (e.g. the Hessian of ``Σ σ_i² = ‖A‖_F²`` at a
      matrix with a repeated singular value is not exactly ``2·I``), a stated limitation.

    Args:
      a: ``(..., m, n)`` real or complex.

    Returns:
      ``(..., min(m, n))`` real.

    Examples:
      >>> A = jnp.array([[3., 0.], [0., -4.]])
      >>> print(np.round(matcalc.svdvals(A), 6))
      [4. 3.]
      >>> print(np.round(jax.grad(lambda A: matcalc.svdvals(A).sum())(A), 6))  # ∇‖A‖_* = U Vᵀ
      [[ 1.  0.]
       [ 0. -1.]]
    """
    a = as_inexact(a)
    check_matrix(a, "svdvals")
    return _svdvals(a)


def svd(
    a: ArrayLike, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Array | SVDResult:
    """Singular value decomposition ``A = U diag(s) Vᴴ``; drop-in for ``jnp.linalg.svd``.

    Returns ``(u, s, vh)`` (``s`` descending), or ``s`` with ``compute_uv=False``. For ``a`` of
    shape ``(..., m, n)``, ``k = min(m, n)``: ``u`` is ``m×m`` (``m×k`` when
    ``full_matrices=False``), ``vh`` is ``n×n`` (``k×n``).

    Derivative:
      With ``P = Uᴴ dA V``, ``S = (P + Pᴴ)/2``, ``K = (P − Pᴴ)/2``:
      ``dσ = Re diag P``, ``Uᴴ dU = E∘S + G∘K``, ``Vᴴ dV = E∘S − G∘K`` with
      ``E_ij = 1/(σj − σi)``, ``G_ij = 1/(σj + σi)``; tall input adds
      ``(I − UUᴴ) dA V Σ⁻¹`` to ``dU``, wide input adds ``(I − VVᴴ) dAᴴ U Σ⁻¹`` to ``dV``
      (Townsend 2016; Wan & Zhang, arXiv:1909.02659, for complex input). The split into ``S`` and
      ``K`` replaces the usual ``1/(σj² − σi²)``: no squared singular values, so float32 does not
      overflow where ``σ`` itself does not.
      Gauge conventions (stated, since the vectors are not unique):
        * complex phases: ``u_i ↦ u_i e^{iθ}``, ``v_i ↦ v_i e^{iθ}`` leaves ``A`` unchanged; the
          rule
          uses the balanced gauge ``Im(u_iᴴ du_i) = −Im(v_iᴴ dv_i) = Im(P_ii) / (2σ_i)``;
        * repeated singular values (``|σi − σj| ≤ max(m,n)·eps·σ_1``): rotations inside the
          cluster are a gauge; the rule sets the in-cluster part of ``E`` to 0 (no rotation);
        * zero singular values: ``G`` and ``Σ⁻¹`` are set to 0 where ``σ`` vanishes;
        * ``full_matrices=True`` extra columns ``U2`` (or ``V2``): ``U2ᴴ dU2 = 0`` (parallel
          transport), ``dU2 = −U1 Σ⁻¹ Vᴴ dAᴴ U2``.
      Exactness at degenerate points: a loss that is invariant to these gauges and does not
      depend on how a repeated (or zero) singular value splits under perturbation gets its exact,
      finite gradient: any function of ``s`` alone (cluster sums, see ``svdvals``); ``U Vᴴ``
      at full rank (polar factor, also at ``A = I``); projectors onto whole clusters;
      ``U g(Σ) Vᴴ`` with ``g`` constant on each cluster. ``jnp.linalg.svd``'s rule gives NaN for
      all of these at repeated singular values. Not covered (no SVD-level rule can be, since the
      cotangents of ``U``, ``s``, ``V`` do not carry the information): ``U g(Σ) Vᴴ`` with
      ``g′ ≠ 0`` at a repeated ``σ`` misses the in-cluster off-diagonal term ``g′·Sym(Uᴴ Ḡ V)``,
      and at a zero singular value of multiplicity ≥ 2 (or on the ``range(A)^⊥`` side of a zero
      singular value) ``A`` is not a differentiable function of the factors' branch; there the
      result is finite and one-sided.
      ``hermitian=True``: the factorization of ``(a + aᴴ)/2`` via ``eigh`` (as JAX); the tangent is
      replaced by its Hermitian part.

    Args:
      a: ``(..., m, n)`` real or complex.
      full_matrices: return square ``u`` and ``vh`` (default, as NumPy/JAX).
      compute_uv: return the vectors; ``False`` returns ``svdvals``.
      hermitian: ``a`` is Hermitian (square).

    Returns:
      ``(u, s, vh)`` or ``s``.

    Examples:
      >>> A = jnp.array([[3., 0.], [0., -4.]])
      >>> u, s, vh = matcalc.svd(A)
      >>> print(np.round(s, 6))
      [4. 3.]
      >>> bool(np.allclose(u @ jnp.diag(s) @ vh, A))
      True
    """
    a = as_inexact(a)
    check_matrix(a, "svd")
    if hermitian:
        check_square(a, "svd")
    if not compute_uv:
        return _svdvals(symmetrize(a)) if hermitian else _svdvals(a)
    m, n = a.shape[-2:]
    full = bool(full_matrices) and m != n
    return SVDResult(*_svd(a, full, bool(hermitian)))
