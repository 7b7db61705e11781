"""A primitive ``p(a, e) = fn(a, e)`` that is linear in ``e`` and carries a hand-written transpose.

JAX transposes a ``custom_jvp`` rule's tangent map op by op. Where a better reverse algorithm
exists (a different evaluation order, no stored residuals, fewer copies), the tangent map is wrapped
in such a primitive: forward mode evaluates ``fn``, reverse mode evaluates ``transpose_fn``, and the
derivative in ``a`` (second order) is forward mode through ``fn``. ``transpose_fn(a, ct)`` must be
the transpose of ``e ↦ fn(a, e)`` in JAX's pairing ``⟨W, X⟩ = Re Σ W_ij X_ij``; the harness's
transpose-identity check tests it for every op that uses it.
"""

from __future__ import annotations

import functools

import jax
from jax import core as jcore
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._rules import batch_on_leading_axis


def linear_primitive(name: str, fn, transpose_fn):
    """A primitive ``p`` with ``p.bind(a, e) = fn(a, e)``, linear in ``e``, whose transpose maps a
    cotangent ``ct`` to ``transpose_fn(a, ct)``. Both functions accept leading batch axes."""
    p = Primitive(name)
    p.def_impl(fn)
    p.def_abstract_eval(lambda a, e: jcore.ShapedArray(e.shape, e.dtype))
    mlir.register_lowering(p, mlir.lower_fun(fn, multiple_results=False))

    def jvp(primals, tangents):
        a, e = primals
        da, de = tangents
        y = p.bind(a, e)
        terms = []
        if type(de) is not ad.Zero:
            terms.append(p.bind(a, de))
        if type(da) is not ad.Zero:
            # derivative in a (second order): forward mode through fn
            terms.append(jax.jvp(lambda x: fn(x, e), (a,), (da,))[1])
        if not terms:
            return y, ad.Zero.from_primal_value(y)
        return y, functools.reduce(lambda u, v: u + v, terms)

    def transpose(ct, a, e):
        if ad.is_undefined_primal(a):
            raise NotImplementedError(f"{name} is linear only in its last argument")
        if type(ct) is ad.Zero:
            return None, ad.Zero(e.aval)
        return None, transpose_fn(a, ct)

    ad.primitive_jvps[p] = jvp
    ad.primitive_transposes[p] = transpose
    batching.primitive_batchers[p] = functools.partial(batch_on_leading_axis, p)
    return p


__all__ = ["linear_primitive"]
