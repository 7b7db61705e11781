"""The Fréchet derivative of a primary matrix function as a primitive that is linear in ``E``
and transposes to itself at ``Aᵀ``.

For a primary matrix function ``f`` (a power series, or any function defined through the
Jordan form), ``f(Aᵀ) = f(A)ᵀ`` and, in the eigenbasis, ``L_f(A, E) = V (F ∘ V⁻¹EV) V⁻¹`` with
``F_ij = f[λi, λj]`` symmetric. Hence, in the bilinear pairing ``⟨W, X⟩ = Σ W_ij X_ij`` in which
JAX transposes linear maps (real and holomorphic complex alike),

    ⟨W, L_f(A, E)⟩ = ⟨L_f(Aᵀ, W), E⟩

(from the Daleckii–Krein form, Higham, *Functions of Matrices* 2008, Thm 3.11, for
diagonalizable A, and by continuity for all A in f's domain; the harness's transpose-identity
check tests it for every op that uses this primitive),

so reverse mode needs no residuals of the forward algorithm: the VJP is one more forward-mode
Fréchet derivative, at ``Aᵀ``. ``tangent_fn(a, e)`` computes ``L_f(a, e)`` from JAX-
differentiable operations with fixed trip counts; second derivatives differentiate it
(forward mode for ``jvp``-of-``jvp``, JAX's transposition of that for ``grad``-of-``grad``).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._core.primitives import linear_primitive


def primary_frechet_primitive(name: str, tangent_fn):
    """A primitive ``p`` with ``p.bind(a, e) = tangent_fn(a, e)``, linear in ``e``, whose transpose
    is ``p.bind(aᵀ, ·)`` (see the module docstring)."""
    p = linear_primitive(name, tangent_fn, lambda a, ct: p.bind(jnp.swapaxes(a, -1, -2), ct))
    return p


__all__ = ["primary_frechet_primitive"]
