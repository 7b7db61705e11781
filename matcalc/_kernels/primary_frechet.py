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

import functools

import jax
import jax.numpy as jnp
from jax import core as jcore
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._rules import batch_on_leading_axis


def primary_frechet_primitive(name: str, tangent_fn):
    """A primitive ``p`` with ``p.bind(a, e) = tangent_fn(a, e)``, linear in ``e``, whose transpose
    is ``p.bind(aᵀ, ·)`` (see the module docstring)."""
    p = Primitive(name)
    p.def_impl(tangent_fn)
    p.def_abstract_eval(lambda a, e: jcore.ShapedArray(e.shape, e.dtype))
    mlir.register_lowering(p, mlir.lower_fun(tangent_fn, multiple_results=False))

    def jvp(primals, tangents):
        a, e = primals
        da, de = tangents
        y = p.bind(a, e)
        terms = []
        if type(de) is not ad.Zero:
            terms.append(p.bind(a, de))
        if type(da) is not ad.Zero:
            # the second Fréchet derivative D²f(A)(E, dA): forward mode through tangent_fn
            terms.append(jax.jvp(lambda x: tangent_fn(x, e), (a,), (da,))[1])
        if not terms:
            return y, ad.Zero.from_primal_value(y)
        return y, functools.reduce(lambda u, v: u + v, terms)

    def transpose(ct, a, e):
        if ad.is_undefined_primal(a):
            raise NotImplementedError(f"{name} is linear only in E")
        if type(ct) is ad.Zero:
            return None, ad.Zero(e.aval)
        return None, p.bind(jnp.swapaxes(a, -1, -2), ct)

    ad.primitive_jvps[p] = jvp
    ad.primitive_transposes[p] = transpose
    batching.primitive_batchers[p] = functools.partial(batch_on_leading_axis, p)
    return p


__all__ = ["primary_frechet_primitive"]
