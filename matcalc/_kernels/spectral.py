"""Singular-value kernels shared by ``norm`` and the SVD rules."""

from __future__ import annotations

import jax.numpy as jnp

from .._core import _H, mm


def svd_weights_jvp(u, vh, weights, da):
    """``Σ_i w_i Re(u_iᴴ dA v_i)`` for thin SVD factors ``u``, ``vh`` and real weights ``w``."""
    uh_da = mm(_H(u), da)
    d = jnp.sum(uh_da * jnp.conj(vh), axis=-1)  # (Uᴴ dA V)_ii = Σ_j (Uᴴ dA)_ij conj(Vᴴ_ij)
    return jnp.sum(weights * jnp.real(d), axis=-1)
