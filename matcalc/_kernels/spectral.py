"""Singular-value kernels shared by ``norm``, ``lstsq`` and the SVD rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._rules import _H, mm


def svd_weights_jvp(u, vh, weights, da):
    """``Σ_i w_i Re(u_iᴴ dA v_i)`` for thin SVD factors ``u``, ``vh`` and real weights ``w``."""
    # diag(Uᴴ dA V) without forming the full product's off-diagonal part twice
    uh_da = mm(_H(u), da)
    d = jnp.sum(uh_da * jnp.conj(vh), axis=-1)  # (Uᴴ dA V)_ii = Σ_j (Uᴴ dA)_ij conj(Vᴴ_ij)
    return jnp.sum(weights * jnp.real(d), axis=-1)


@jax.custom_jvp
def singular_values(a):
    """Singular values (descending) of ``a[..., m, n]``.

    Derivative: ``dσ_i = Re(u_iᴴ dA v_i)`` (Townsend 2016, eq. 5): exact wherever ``σ_i`` is simple;
    at a repeated singular value the sum over the cluster, ``Re tr(U_cᴴ dA V_c)``, is exact and
    basis-independent, so any symmetric function of the singular values gets its exact gradient.
    """
    return jnp.linalg.svd(a, compute_uv=False)


@singular_values.defjvp
def _singular_values_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    uh_da = mm(_H(u), da)
    ds = jnp.real(jnp.sum(uh_da * jnp.conj(vh), axis=-1))
    return s, ds
