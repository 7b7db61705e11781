"""Schur decomposition ``A = Z T Zᴴ`` with a derivative rule (CPU only, as JAX's ``schur``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._rules import _H, as_inexact, check_square, mm


def _lower_sylvester(t, x):
    """Strictly lower ``L`` with ``(L T − T L)_ij = X_ij`` for all ``i > j`` (``T`` upper
    triangular).

    Only strictly lower entries of ``L`` enter the strictly lower part of ``L T − T L``, and entry
    ``(i, j)`` reads ``Σ_{k≥i} T_ik L_kj − L_ij T_jj = Σ_{k<j} L_ik T_kj − X_ij``: column ``j`` is
    one upper-triangular solve with ``T[j+1:, j+1:] − T_jj I`` given the columns before it.
    Solved column by column in a fixed-trip loop (transposable), on full-size masked arrays.
    """
    n = t.shape[-1]
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


@_schur.defjvp
def _schur_jvp(output, primals, tangents):
    (a,), (da,) = primals, tangents
    t, z = _schur(a, output)
    da = da.astype(t.dtype)
    # A = Z T Zᴴ, Ω = Zᴴ dZ skew-Hermitian:  X := Zᴴ dA Z = Ω T − T Ω + dT, dT upper triangular.
    # The strictly lower part fixes Ω's strictly lower part L (a triangular Sylvester equation,
    # solvable when the eigenvalues T_ii are distinct); Ω = L − Lᴴ with gauge diag(Ω) = 0;
    # then dT = X − Ω T + T Ω and dZ = Z Ω.
    x = mm(_H(z), mm(da, z))
    l = _lower_sylvester(t, x)
    om = l - _H(l)
    dt = jnp.triu(x - mm(om, t) + mm(t, om))
    dz = mm(z, om)
    if not jnp.iscomplexobj(t):
        # Real Schur form with a complex-conjugate pair has 2×2 blocks: not supported, NaN.
        sub = jnp.diagonal(t, offset=-1, axis1=-2, axis2=-1)
        blocks = jnp.any(sub != 0, axis=-1)[..., None, None]
        dt = jnp.where(blocks, jnp.nan, dt)
        dz = jnp.where(blocks, jnp.nan, dz)
    return (t, z), (dt, dz)


def schur(a, output: str = "real"):
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
      ``output="real"``: the rule covers real input whose eigenvalues are all real (``T``
      triangular). With complex-conjugate pairs the real Schur form's 2×2 blocks are not
      supported: the derivatives are NaN (documented, tested); use ``output="complex"``.
      Reference: the Sylvester form follows Giles (2008) and Kressner's treatment of invariant
      subspaces (Stewart & Sun, *Matrix Perturbation Theory*, 1990, ch. V).

    Args:
      a: ``(..., n, n)`` real or complex.
      output: ``"real"`` (default) or ``"complex"``.

    Returns:
      ``(T, Z)``.
    """
    if output not in ("real", "complex"):
        raise ValueError(f"schur: output must be 'real' or 'complex', got {output!r}")
    a = as_inexact(a)
    check_square(a, "schur")
    return _schur(a, output)
