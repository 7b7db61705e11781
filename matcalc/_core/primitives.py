"""The primitive toolkit: the only module of matcalc that registers rules with JAX's internals.

A matcalc primitive is declared in one call, section by section in a fixed order:

1. the primitive itself (``name``, single or multiple results);
2. its implementation, its abstract evaluation (by default: shaped like the last operand) and its
   lowering (``mlir.lower_fun`` of the implementation, on every platform);
3. its JVP rule ``jvp(primals, tangents, **params) -> (out, tangent_out)``;
4. its transpose rule ``transpose(ct, *operands, **params)`` (for primitives linear in some
   operands);
5. its batching rule, by default ``batch_on_leading_axis`` (the implementation accepts leading
   batch axes).

Rules see tangents and cotangents through the small vocabulary below (``is_zero``, ``zero_like``,
``zero_cotangent``, ``is_undefined``) instead of JAX's ``ad`` module. ``linear_primitive``
builds the common case, a map linear in its last operand with a hand-written transpose.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import core as _jax_core
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

# ---------------------------------------------------------------------------------------------
# the vocabulary of tangents, cotangents and abstract values


def shaped_array(shape, dtype):
    """The abstract value (shape and dtype, no data) of an array."""
    return _jax_core.ShapedArray(tuple(shape), dtype)


def is_tracer(x) -> bool:
    """True when ``x`` is traced (under ``jit``, ``grad``, ``vmap``...): its value is unknown."""
    return isinstance(x, _jax_core.Tracer)


def is_zero(t) -> bool:
    """True for JAX's symbolic zero tangent or cotangent."""
    return type(t) is ad.Zero


def zero_like(y):
    """The symbolic zero tangent of a primal value ``y``."""
    return ad.Zero.from_primal_value(y)


def zero_cotangent(x):
    """The symbolic zero cotangent of an operand ``x`` of a transpose rule (an undefined primal or
    an array)."""
    return ad.Zero(x.aval) if hasattr(x, "aval") else ad.Zero(jax.typeof(x).to_tangent_aval())


def zero_tangent_of(value):
    """The symbolic zero tangent for an output ``value`` (its tangent abstract value)."""
    return ad.Zero(jax.typeof(value).to_tangent_aval())


def instantiate(t, like):
    """``t`` with a symbolic zero replaced by an array of zeros shaped like ``like``."""
    if not is_zero(t):
        return t
    aval = getattr(t, "aval", None)
    if aval is not None and like is None:
        return jnp.zeros(aval.shape, aval.dtype)
    return jnp.zeros(jnp.shape(like), jnp.result_type(like))


def is_undefined(x) -> bool:
    """True for an operand of a transpose rule that the rule must produce a cotangent for."""
    return ad.is_undefined_primal(x)


def batch_on_leading_axis(primitive, args, dims, **params):
    """Batching rule for primitives that already accept leading batch axes: move every batched
    argument's axis to the front, broadcast the unbatched ones, bind once."""
    size = next(x.shape[d] for x, d in zip(args, dims, strict=True) if d is not None)
    moved = [
        jnp.moveaxis(x, d, 0) if d is not None else jnp.broadcast_to(x, (size, *x.shape))
        for x, d in zip(args, dims, strict=True)
    ]
    return primitive.bind(*moved, **params), 0


# ---------------------------------------------------------------------------------------------
# declaring a primitive


def like_last_operand(*operands, **params):
    """Abstract evaluation of a primitive whose output is shaped like its last operand."""
    del params
    e = operands[-1]
    return shaped_array(e.shape, e.dtype)


def define_primitive(
    name: str,
    *,
    impl: Callable,
    abstract_eval: Callable | None = None,
    jvp: Callable | None = None,
    transpose: Callable | None = None,
    batch: Callable | str | None = "leading",
    multiple_results: bool = False,
    lowering: Callable | None = None,
):
    """Declare a primitive from its implementation and rules (see the module docstring).

    Args:
      name: the primitive's name in jaxprs (``matcalc_<family>_<what>``).
      impl: ``impl(*operands, **params)``, JAX operations only; also the lowering.
      abstract_eval: ``abstract_eval(*avals, **params)``; default ``like_last_operand``.
      jvp: ``jvp(primals, tangents, **params) -> (out, tangent_out)``; tangents may be symbolic
        zeros (``is_zero``). ``None``: no forward mode.
      transpose: ``transpose(ct, *operands, **params)`` returning one cotangent (or ``None``) per
        operand; ``None``: not transposable.
      batch: ``"leading"`` (``batch_on_leading_axis``), a rule
        ``batch(args, dims, **params) -> (out, out_dims)``, or ``None``.
      multiple_results: whether ``impl`` returns a list of arrays.
      lowering: ``lowering(*operands, **params)`` to lower instead of ``impl`` (same values).
    """
    # 1. the primitive
    p = Primitive(name)
    p.multiple_results = multiple_results
    # 2. implementation, abstract evaluation, lowering
    p.def_impl(impl)
    p.def_abstract_eval(abstract_eval or like_last_operand)
    mlir.register_lowering(p, mlir.lower_fun(lowering or impl, multiple_results=multiple_results))
    # 3. forward mode
    if jvp is not None:
        ad.primitive_jvps[p] = jvp
    # 4. transposition
    if transpose is not None:
        ad.primitive_transposes[p] = transpose
    # 5. batching
    if batch == "leading":
        batching.primitive_batchers[p] = functools.partial(batch_on_leading_axis, p)
    elif batch is not None:
        batching.primitive_batchers[p] = batch
    return p


def linear_primitive(
    name: str,
    fn: Callable,
    transpose_fn: Callable,
    fixed_jvp: Callable | None = None,
):
    """A primitive ``p`` with ``p.bind(*fixed, e, **params) = fn(*fixed, e, **params)``, linear in
    its last operand ``e``, whose transpose maps a cotangent ``ct`` to
    ``transpose_fn(*fixed, ct, **params)``.

    ``transpose_fn`` must be the transpose of ``e ↦ fn(*fixed, e)`` in JAX's pairing
    ``⟨W, X⟩ = Re Σ W_ij X_ij`` (the harness's transpose-identity check tests it for every op
    that uses it). The derivative in the fixed operands (second order) is
    ``fixed_jvp(fixed, dfixed, e, **params)``, with ``None`` in ``dfixed`` for a zero tangent; by
    default forward mode through ``fn``. Both functions accept leading batch axes.
    """

    def jvp(primals, tangents, **params):
        *fixed, e = primals
        *dfixed, de = tangents
        y = p.bind(*primals, **params)
        terms = []
        if not is_zero(de):
            terms.append(p.bind(*fixed, de, **params))
        dfixed = [None if is_zero(t) else t for t in dfixed]
        if any(t is not None for t in dfixed):
            if fixed_jvp is not None:
                term = fixed_jvp(tuple(fixed), tuple(dfixed), e, **params)
            else:
                term = _forward_through(fn, fixed, dfixed, e, params)
            if term is not None:
                terms.append(term)
        if not terms:
            return y, zero_like(y)
        return y, functools.reduce(lambda u, v: u + v, terms)

    def transpose(ct, *operands, **params):
        *fixed, e = operands
        if any(is_undefined(x) for x in fixed):
            raise NotImplementedError(f"{name} is linear only in its last argument")
        nones = [None] * len(fixed)
        if is_zero(ct):
            return (*nones, zero_cotangent(e))
        return (*nones, transpose_fn(*fixed, ct, **params))

    p = define_primitive(name, impl=fn, jvp=jvp, transpose=transpose)
    return p


def _forward_through(fn, fixed, dfixed, e, params):
    """Forward mode of ``fn`` in the fixed operands whose tangent is not zero."""
    idx = [i for i, t in enumerate(dfixed) if t is not None]

    def f(*moving):
        args = list(fixed)
        for i, x in zip(idx, moving, strict=True):
            args[i] = x
        return fn(*args, e, **params)

    return jax.jvp(f, tuple(fixed[i] for i in idx), tuple(dfixed[i] for i in idx))[1]


def forward_only(name: str, message: str):
    """The identity, as a primitive whose JVP is itself and whose transpose raises
    ``TypeError(message)``: it wraps a tangent that has no reverse mode."""

    def jvp(primals, tangents):
        (t,) = tangents
        y = p.bind(*primals)
        return y, (zero_like(y) if is_zero(t) else p.bind(t))

    def transpose(ct, x):
        if is_zero(ct):
            return [ad.Zero(x.aval.to_ct_aval()) if is_undefined(x) else None]
        raise TypeError(message)

    p = define_primitive(
        name,
        impl=lambda x: x,
        abstract_eval=lambda x: x,
        jvp=jvp,
        transpose=transpose,
        batch=lambda args, dims: (p.bind(*args), dims[0]),
    )
    return p


__all__: Sequence[str] = [
    "forward_only",
    "batch_on_leading_axis",
    "define_primitive",
    "instantiate",
    "is_tracer",
    "is_undefined",
    "is_zero",
    "like_last_operand",
    "linear_primitive",
    "shaped_array",
    "zero_cotangent",
    "zero_like",
    "zero_tangent_of",
]
