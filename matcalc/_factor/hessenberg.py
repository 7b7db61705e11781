"""Hessenberg reduction ``A = Q H Qᴴ`` with a derivative rule (CPU only, as JAX's)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, as_inexact, check_square, mm


def _hess_lower(h, x):
    """Strictly lower ``L`` (zero first column) with ``(L H − H L)_ij = X_ij`` for ``i ≥ j + 2``.

    Entry ``(i, j)`` reads ``Σ_{k≤j} L_ik H_kj + L_{i,j+1} H_{j+1,j} − Σ_k H_ik L_kj = X_ij``, so
    column ``j + 1`` of ``L`` follows explicitly from columns ``≤ j`` by dividing by the
    subdiagonal entry ``H_{j+1,j}`` (no solve). Fixed-trip loop (transposable).
    """
    n = h.shape[-1]
    if n <= 2:  # no entries with i >= j + 2
        return jnp.zeros_like(x)
    idx = jnp.arange(n)
    hp = lax.Precision.HIGHEST

    def body(j, l):
        lh = jnp.einsum("...ik,...k->...i", l, h[..., :, j], precision=hp)
        hl = jnp.einsum("...ik,...k->...i", h, l[..., :, j], precision=hp)
        col = (x[..., :, j] + hl - lh) / h[..., j + 1, j][..., None]
        col = jnp.where(jnp.broadcast_to(idx >= j + 2, col.shape), col, 0)
        return l.at[..., :, j + 1].set(col)

    return lax.fori_loop(0, max(n - 2, 0), body, jnp.zeros_like(x))


@jax.custom_jvp
def _hessenberg(a):
    h, q = jax.scipy.linalg.hessenberg(a, calc_q=True)
    return h, q


@_hessenberg.defjvp
def _hessenberg_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    h, q = _hessenberg(a)
    # A = Q H Qᴴ, Ω = Qᴴ dQ skew-Hermitian: X := Qᴴ dA Q = Ω H − H Ω + dH, dH upper Hessenberg.
    # Householder reduction keeps Q e1 = e1, so Ω's first row and column vanish; the entries of
    # X below the subdiagonal then fix Ω's strictly lower part column by column.
    x = mm(_H(q), mm(da, q))
    l = _hess_lower(h, x)
    om = l - _H(l)
    if jnp.iscomplexobj(h):
        # LAPACK's H has a real subdiagonal; keep it real with the diagonal phases of Ω:
        # Ω_ii = iθ_i, θ_0 = 0, and dH_{j+1,j} gains i H_{j+1,j}(θ_j − θ_{j+1}), so
        # θ_{j+1} = θ_j + Im(R_{j+1,j}) / H_{j+1,j} with R = X − Ω₀H + HΩ₀.
        r = x - mm(om, h) + mm(h, om)
        sub_r = jnp.diagonal(r, offset=-1, axis1=-2, axis2=-1)
        sub_h = jnp.real(jnp.diagonal(h, offset=-1, axis1=-2, axis2=-1))
        theta = jnp.cumsum(jnp.imag(sub_r) / sub_h, axis=-1)
        theta = jnp.concatenate([jnp.zeros_like(theta[..., :1]), theta], axis=-1)
        eye = jnp.broadcast_to(jnp.eye(h.shape[-1], dtype=theta.dtype), h.shape)
        om = om + 1j * (theta[..., None, :] * eye).astype(om.dtype)
    dh = jnp.triu(x - mm(om, h) + mm(h, om), -1)
    dq = mm(q, om)
    return (h, q), (dh, dq)


def hessenberg(
    a: ArrayLike, *, calc_q: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> Array | tuple[Array, Array]:
    """Hessenberg form ``A = Q H Qᴴ``; drop-in for ``jax.scipy.linalg.hessenberg``.

    CPU only: JAX's ``hessenberg`` primitive (LAPACK gehrd) has no GPU/TPU implementation, so
    neither does this function.

    Derivative:
      ``X = Qᴴ dA Q``; ``Ω = Qᴴ dQ`` has zero first row and column (``Q e1 = e1``, as
      Householder reduction gives); its strictly lower part ``L`` follows from the entries of
      ``X`` below the subdiagonal by an explicit forward recursion,
      ``L_{i,j+1} = (X_ij + (H L)_ij − (L H)_ij) / H_{j+1,j}`` for ``i ≥ j + 2``;
      then ``dQ = Q Ω``, ``dH = X − Ω H + H Ω`` (upper Hessenberg).
      Gauge convention: the one LAPACK's output follows (so finite differences of the primal
      agree): ``Q e1 = e1`` and, for complex input, a real subdiagonal of ``H``, which fixes
      ``Im diag(Qᴴ dQ)`` through ``θ_{j+1} = θ_j + Im(R_{j+1,j})/H_{j+1,j}``.
      Domain: unreduced ``H`` (nonzero subdiagonal); a zero subdiagonal entry gives inf/NaN.
      Reference: derived as for the Schur form (Giles 2008; Stewart & Sun 1990, ch. V).

    Args:
      a: ``(..., n, n)`` real or complex.
      calc_q: also return ``Q``.
      overwrite_a: accepted for SciPy compatibility; ignored.
      check_finite: accepted for SciPy compatibility; ignored.

    Returns:
      ``H``, or ``(H, Q)`` with ``calc_q=True``.

    Examples:
      >>> A = jnp.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 10.]])
      >>> H, Q = matcalc.hessenberg(A, calc_q=True)
      >>> float(H[2, 0]) == 0.0  # zero below the first subdiagonal
      True
      >>> bool(np.allclose(Q @ H @ Q.T, A))
      True
    """
    del overwrite_a, check_finite
    a = as_inexact(a)
    check_square(a, "hessenberg")
    h, q = _hessenberg(a)
    return (h, q) if calc_q else h
