"""Schur decomposition ``A = Z T Zᴴ`` with a derivative rule (CPU only, as JAX's ``schur``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, _T, as_inexact, check_square, cluster_tol, mm


def _lower_sylvester(t, x):
    """Strictly lower ``L`` with ``(L T − T L)_ij = X_ij`` for all ``i > j`` (``T`` upper
    triangular).

    Only strictly lower entries of ``L`` enter the strictly lower part of ``L T − T L``, and entry
    ``(i, j)`` reads ``Σ_{k≥i} T_ik L_kj − L_ij T_jj = Σ_{k<j} L_ik T_kj − X_ij``: column ``j`` is
    one upper-triangular solve with ``T[j+1:, j+1:] − T_jj I`` given the columns before it.
    Solved column by column in a fixed-trip loop (transposable), on full-size masked arrays.
    """
    n = t.shape[-1]
    if n <= 1:  # no strictly lower entries
        return jnp.zeros_like(x)
    idx = jnp.arange(n)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=t.dtype), t.shape)

    def body(j, l):
        active = idx > j
        mask2 = jnp.broadcast_to(active[:, None] & active[None, :], t.shape)
        tjj = t[..., j, j][..., None, None]
        m = jnp.where(mask2, t - tjj * eye, eye)
        rhs = jnp.einsum("...ik,...k->...i", l, t[..., :, j], precision=lax.Precision.HIGHEST)
        rhs = jnp.where(jnp.broadcast_to(active, rhs.shape), rhs - x[..., :, j], 0)
        col = lax.linalg.triangular_solve(m, rhs[..., :, None], left_side=True, lower=False)
        return l.at[..., :, j].set(col[..., :, 0])

    return lax.fori_loop(0, n - 1, body, jnp.zeros_like(x))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _schur(a, output):
    if output == "complex" and not jnp.iscomplexobj(a):
        a = a.astype(jnp.complex128 if a.dtype == jnp.float64 else jnp.complex64)
    t, z = lax.linalg.schur(a)
    return t, z


def _real_schur_blocks(t):
    """``start[..., i]``: rows ``i, i+1`` of the real Schur form ``T`` hold a 2×2 block (LAPACK
    writes exact zeros on the subdiagonal outside the blocks); and the mask of the strictly
    block-lower part (below the diagonal, less the lower entry of each 2×2 block)."""
    n = t.shape[-1]
    sub = jnp.diagonal(t, offset=-1, axis1=-2, axis2=-1) != 0
    start = jnp.concatenate([sub, jnp.zeros(sub.shape[:-1] + (1,), bool)], axis=-1)
    idx = jnp.arange(n)
    below = jnp.broadcast_to(idx[:, None] > idx[None, :], t.shape)
    in_block = jnp.broadcast_to(idx[:, None] == idx[None, :] + 1, t.shape) & start[..., None, :]
    return start, below & ~in_block


def _real_schur_unitary(t, start):
    """Block-diagonal unitary ``U`` with ``Uᴴ T U`` upper triangular (``T`` real Schur form).

    A block ``[[p, b], [c, q]]`` with complex eigenvalues has ``λ = (p + q)/2 + iω``,
    ``ω = √(−bc − h²)``, ``h = (q − p)/2``, and eigenvector ``(b, h + iω)`` of norm² ``b(b − c)``;
    completed to a unitary, ``U_bb = [[b, −h + iω], [h + iω, b]] / √(b(b − c))`` and
    ``U_bbᴴ T_bb U_bb = [[λ, ·], [0, λ̄]]``. LAPACK's blocks are standardized (``h = 0``), but the
    general form keeps the rule's own derivative (second order) right along curves that leave
    the standard form (normal blocks, where the rule takes ``θ = 0``). ``U`` is 1 on 1×1 blocks.
    """
    n = t.shape[-1]
    cdt = jnp.complex128 if t.dtype == jnp.float64 else jnp.complex64
    zero = jnp.zeros(t.shape[:-2] + (1,), t.dtype)
    b = jnp.concatenate([jnp.diagonal(t, offset=1, axis1=-2, axis2=-1), zero], axis=-1)
    c = jnp.concatenate([jnp.diagonal(t, offset=-1, axis1=-2, axis2=-1), zero], axis=-1)
    d = jnp.diagonal(t, axis1=-2, axis2=-1)
    h = (jnp.concatenate([d[..., 1:], zero], axis=-1) - d) / 2
    # safe values off the blocks (no NaN in the derivative of the unused branch)
    b = jnp.where(start, b, 1)
    c = jnp.where(start, c, -1)
    h = jnp.where(start, h, 0)
    om = jnp.sqrt(-b * c - h * h)
    nrm = jnp.sqrt(b * (b - c))  # b(b − c) > 0 since bc < 0
    alpha = jnp.where(start, b / nrm, 1).astype(cdt)
    up_v = jnp.where(start, -h / nrm, 0).astype(cdt) + 1j * jnp.where(start, om / nrm, 0).astype(cdt)
    lo_v = jnp.where(start, h / nrm, 0).astype(cdt) + 1j * jnp.where(start, om / nrm, 0).astype(cdt)
    # α on the diagonal at both rows of a block, (−h + iω)/‖·‖ at (i, i+1), (h + iω)/‖·‖ at (i+1, i)
    second = jnp.concatenate([jnp.zeros_like(start[..., :1]), start[..., :-1]], axis=-1)
    alpha_prev = jnp.concatenate([jnp.ones_like(alpha[..., :1]), alpha[..., :-1]], axis=-1)
    diag = jnp.where(second, alpha_prev, alpha)
    shape = t.shape
    sup = jnp.broadcast_to(jnp.eye(n, k=1, dtype=cdt), shape)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=cdt), shape)
    return (
        diag[..., :, None] * eye + up_v[..., :, None] * sup + jnp.swapaxes(lo_v[..., :, None] * sup, -1, -2)
    )


def _real_schur_jvp(t, z, da):
    """JVP of the real Schur form (quasi-triangular ``T``, standardized 2×2 blocks)."""
    # A = Z T Zᵀ, K = Zᵀ dZ skew, C = Zᵀ dA Z:  dT = C + T K − K T, with dT block upper triangular.
    # K = L − Lᵀ + D: L strictly block-lower, D block-diagonal skew. T is block upper triangular,
    # so the strictly block-lower part of T K − K T is that of T L − L T:
    #   (L T − T L)_ij = C_ij on the strictly block-lower part    (block Sylvester system).
    # Solved by conjugating with the block-diagonal unitary U (U_bbᴴ T_bb U_bb triangular): the
    # block pattern is kept, T_c = Uᴴ T U is upper triangular, and L_c = Uᴴ L U solves the same
    # system for T_c, C_c = Uᴴ C U. The triangular solver covers every strictly lower entry;
    # the lower entry (i+1, i) of a 2×2 block occurs only in its own equation, so dropping it
    # leaves the block-lower solution. Unique iff the diagonal blocks have disjoint spectra.
    start, blower = _real_schur_blocks(t)
    u = _real_schur_unitary(t, start)
    uh = _H(u)
    c = mm(_T(z), mm(da, z))
    tc = jnp.triu(mm(uh, mm(t.astype(u.dtype), u)))
    lc = _lower_sylvester(tc, mm(uh, mm(c.astype(u.dtype), u)))
    lc = jnp.where(blower, lc, 0)
    l = jnp.real(mm(u, mm(lc, uh)))
    k = l - _T(l)
    dt = c + mm(t, k) - mm(k, t)
    # Gauge. 1×1 blocks: diag(K) = 0 (sign gauge only). A 2×2 block has one rotation angle θ,
    # D_bb = θ J, J = [[0, −1], [1, 0]]; it adds θ (T_bb J − J T_bb) = θ diag(b + c, −(b + c)) to
    # dT_bb (nothing off its diagonal). LAPACK's standardization (dlanv2: T_ii = T_{i+1,i+1}) must
    # persist, d(T_ii) = d(T_{i+1,i+1}), so with δ = dT⁰_ii − dT⁰_{i+1,i+1} (dT⁰ from K = L − Lᵀ):
    #   θ = −δ / (2 (b + c)),   and dT_bb's diagonal becomes the mean of dT⁰_bb's (set directly:
    #   no θ b + θ c cancellation); elsewhere dT = dT⁰ + T D − D T, and dZ = Z (L − Lᵀ + D).
    # At b + c = 0 (a normal block a I + b J, e.g. from a rotation matrix) every rotation keeps the
    # block standard: θ is free and LAPACK's Z is not differentiable there (its choice of rotation
    # jumps); θ = 0 is taken, the derivative of a valid unstandardized Schur curve, exact for
    # gauge-invariant functions. "b + c = 0" means within LAPACK's backward error,
    # |b + c| ≤ 4 n eps max|T| (as eigh's eigenvalue clusters): else a rounded normal block would
    # get θ ~ 1/eps and gauge-invariant losses would lose all accuracy to cancellation.
    n = t.shape[-1]
    if n <= 1:  # no 2×2 blocks, no rotation gauge
        return dt, mm(z, k)
    d0 = jnp.diagonal(dt, axis1=-2, axis2=-1)
    d1 = jnp.concatenate([d0[..., 1:], jnp.zeros_like(d0[..., :1])], axis=-1)  # d0[i+1]
    tb = jnp.diagonal(t, offset=1, axis1=-2, axis2=-1)
    tc_ = jnp.diagonal(t, offset=-1, axis1=-2, axis2=-1)
    s = jnp.concatenate([tb + tc_, jnp.zeros_like(tb[..., :1])], axis=-1)
    tol = cluster_tol(t, factor=4, size=n, axis=(-2, -1))[..., 0]
    ok = start & (jnp.abs(s) > tol)
    theta = jnp.where(ok, -(d0 - d1) / (2 * jnp.where(ok, s, 1)), 0)
    dd = theta[..., :, None] * jnp.broadcast_to(jnp.eye(n, k=1, dtype=t.dtype), t.shape)
    dmat = _T(dd) - dd  # D[i+1, i] = θ, D[i, i+1] = −θ
    idx = jnp.arange(n)
    sup1 = jnp.broadcast_to(idx[None, :] == idx[:, None] + 1, t.shape)
    block_diag = (
        jnp.broadcast_to(idx[:, None] == idx[None, :], t.shape)
        | (sup1 & start[..., :, None])
        | (_T(sup1) & start[..., None, :])
    )
    corr = jnp.where(block_diag | blower, 0, mm(t, dmat) - mm(dmat, t))
    ok_prev = jnp.concatenate([jnp.zeros_like(ok[..., :1]), ok[..., :-1]], axis=-1)
    mean = (d0 + d1) / 2
    mean_prev = jnp.concatenate([jnp.zeros_like(mean[..., :1]), mean[..., :-1]], axis=-1)
    new_d = jnp.where(ok, mean, jnp.where(ok_prev, mean_prev, d0))
    eye = jnp.broadcast_to(jnp.eye(n, dtype=t.dtype), t.shape)
    dt = jnp.where(blower, 0, dt) + corr + (new_d - d0)[..., :, None] * eye
    return dt, mm(z, k + dmat)


@_schur.defjvp
def _schur_jvp(output, primals, tangents):
    (a,), (da,) = primals, tangents
    t, z = _schur(a, output)
    da = da.astype(t.dtype)
    if not jnp.iscomplexobj(t):
        dt, dz = _real_schur_jvp(t, z, da)
        return (t, z), (dt, dz)
    # A = Z T Zᴴ, Ω = Zᴴ dZ skew-Hermitian:  X := Zᴴ dA Z = Ω T − T Ω + dT, dT upper triangular.
    # The strictly lower part fixes Ω's strictly lower part L (a triangular Sylvester equation,
    # solvable when the eigenvalues T_ii are distinct); Ω = L − Lᴴ with gauge diag(Ω) = 0;
    # then dT = X − Ω T + T Ω and dZ = Z Ω.
    x = mm(_H(z), mm(da, z))
    l = _lower_sylvester(t, x)
    om = l - _H(l)
    dt = jnp.triu(x - mm(om, t) + mm(t, om))
    dz = mm(z, om)
    return (t, z), (dt, dz)


def schur(a: ArrayLike, output: str = "real") -> tuple[Array, Array]:
    """Schur decomposition ``A = Z T Zᴴ``; drop-in for ``jax.scipy.linalg.schur``.

    CPU only: JAX's ``schur`` primitive (LAPACK gees) has no GPU/TPU implementation, so neither
    does this function.

    Returns ``(T, Z)``: ``Z`` unitary, ``T`` upper triangular (``output="complex"``) or
    quasi-upper-triangular (``output="real"``, real input: 2×2 blocks for complex pairs).

    Derivative:
      ``X = Zᴴ dA Z``; the strictly lower part ``L`` of ``Ω = Zᴴ dZ`` solves the triangular
      Sylvester equation ``tril(L T − T L, −1) = tril(X, −1)`` (column by column, one triangular
      solve each); ``Ω = L − Lᴴ``, ``dZ = Z Ω``, ``dT = X − Ω T + T Ω`` (upper triangular).
      Gauge convention: the Schur vectors are unique up to ``Z ↦ Z D`` (``D`` diagonal unitary,
      ``T ↦ Dᴴ T D``); the rule uses ``diag(Zᴴ dZ) = 0``. ``diag(T)`` and gauge-invariant
      functions (``Z f(T) Zᴴ``, ``|T_ij|``) do not depend on it.
      Domain: distinct eigenvalues (``T_ii ≠ T_jj``); repeated ones give inf/NaN.

      ``output="real"`` with real input, ``T`` quasi-upper-triangular: the same equations in
      block form. ``K = Zᵀ dZ = L − Lᵀ + D`` with ``L`` strictly block-lower and ``D``
      block-diagonal skew; the strictly block-lower part of ``dT = C + T K − K T``
      (``C = Zᵀ dA Z``) vanishes, which is the block Sylvester system
      ``T_ii L_ij − L_ij T_jj = −C_ij − Σ_{k>i} T_ik L_kj + Σ_{k<j} L_ik T_kj`` (blocks
      ``i > j``). It is solved in O(n³) by conjugating with the block-diagonal unitary that
      triangularizes each 2×2 block (the triangular solver above, complex arithmetic).
      Gauge: ``D = 0`` on 1×1 blocks (``diag K = 0``); on a 2×2 block ``D_bb = θ [[0, −1], [1, 0]]``
      with θ fixed by LAPACK's standardization (dlanv2: blocks ``[[a, b], [c, a]]``, ``bc < 0``)
      persisting, ``d T_ii = d T_{i+1,i+1}``: ``θ = −(dT⁰_ii − dT⁰_{i+1,i+1}) / (2 (b + c))``
      (``dT⁰`` computed with ``D = 0``), so ``dT`` is the derivative of SciPy's/JAX's ``T``.
      Normal blocks (``b + c = 0``, e.g. from rotation matrices; read as ``|b + c| ≤ 4 n eps
      max|T|``, LAPACK's backward error) keep their form under every rotation: LAPACK's ``Z``
      is not differentiable there, and the rule takes ``θ = 0`` (the derivative of an
      unstandardized Schur curve; gauge-invariant functions are exact). Near-normal blocks make
      ``dZ`` large (``θ ∝ 1/(b + c)``): invariant functions of ``Z`` then lose about
      ``eps |b − c| / |b + c|`` relative accuracy.
      Piecewise smoothness: among the four rotations that standardize a block (multiples of 90°,
      ``b, c ↦ −c, −b``) LAPACK takes the one nearest the block its QR iteration delivers, and
      that choice, like the order of the eigenvalues on the diagonal, jumps with ``A`` (often:
      several times per 0.1 along a random line for 5×5 matrices). The derivative is that of the
      smooth piece; to compare with finite differences, canonicalize first (e.g. rotate blocks
      so that ``|b| ≥ |c|``, as ``tests/cases/factor.py:real_schur_gauge`` does).
      Domain: the diagonal blocks have disjoint spectra (a conjugate pair equal to another
      pair, or any repeated eigenvalue, gives inf/NaN).
      Reference: the Sylvester form follows Giles (2008) and the perturbation theory of invariant
      subspaces (Stewart & Sun, *Matrix Perturbation Theory*, 1990, ch. V); the 2×2
      standardization is LAPACK's dlanv2 (Bai & Demmel 1993).

    Args:
      a: ``(..., n, n)`` real or complex.
      output: ``"real"`` (default) or ``"complex"``.

    Returns:
      ``(T, Z)``.

    Examples:
      >>> A = jnp.array([[1., 4.], [1., 1.]])  # eigenvalues 1 ± 2
      >>> T, Z = matcalc.schur(A)
      >>> print(np.round(np.sort(np.diag(T)), 6))
      [-1.  3.]
      >>> bool(np.allclose(Z @ T @ Z.T, A))
      True
      >>> print(np.round(jax.grad(lambda A: jnp.trace(matcalc.schur(A)[0]))(A), 6))  # tr T = tr A
      [[1. 0.]
       [0. 1.]]
    """
    if output not in ("real", "complex"):
        raise ValueError(f"schur: output must be 'real' or 'complex', got {output!r}")
    a = as_inexact(a)
    check_square(a, "schur")
    return _schur(a, output)
