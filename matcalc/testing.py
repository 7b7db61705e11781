"""The rule-checking harness: one strict battery every derivative rule must pass.

``check_rule(fn, *args)`` checks, in float64:

1. ``primal``: ``fn(*args)`` against an optional reference (SciPy/NumPy/mpmath);
2. ``finite``: every primal, tangent and cotangent is finite;
3. ``jvp``: ``jax.jvp`` against a 5-point central finite difference
   ``(-f(x+2hv) + 8f(x+hv) - 8f(x-hv) + f(x-2hv)) / 12h``;
4. ``transpose``: ``<w, J v> = <Jᵀ w, v>`` with ``Jᵀ w`` from ``jax.vjp``, in the real pairing
   ``<a, b> = Re Σ a·b`` under which JAX transposes (complex inputs included);
5. ``jit``: eager against ``jax.jit`` for the primal, the JVP and the VJP;
6. ``vmap``: ``jax.vmap`` against a Python loop over a small batch, for the primal and the JVP;
7. ``second_order``: jvp-of-jvp against a finite difference of the JVP, and grad-of-grad (the
   gradient of ``x ↦ <∇s(x), u>`` with ``s = <w, f>``) against a finite difference of ``<∇s, u>``.

Each failure raises ``AssertionError`` whose message starts with ``check_rule[<check>]``.

The checks are also public, one function each over a ``Problem`` (the function, its point,
the random directions and the compiled maps they share): ``check_primal``, ``check_jvp``,
``check_transpose``, ``check_jit``, ``check_vmap``, ``check_second_order``. ``check_rule`` runs them
in that order; a custom test can run any subset::

    p = Problem(my_rule, (a,))
    jv, err = check_jvp(p)
    check_transpose(p, jax.vjp(p.f, *p.primals)[1](p.w), jv)

Hooks: ``tangent_projection`` maps a random tangent onto the input's tangent space (e.g.
``symmetrize`` for Hermitian input); ``output_gauge`` maps outputs to a gauge-fixed form (e.g.
eigenvector signs) before any comparison, so gauge-dependent outputs can be checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Problem",
    "RuleCheckError",
    "check_float32",
    "check_jit",
    "check_jvp",
    "check_primal",
    "check_rule",
    "check_second_order",
    "check_transpose",
    "check_vmap",
    "public_operations",
]


def public_operations() -> list[str]:
    """Every public operation name: ``matcalc.__all__`` (less ``testing``) with each public
    submodule expanded to ``"<module>.<name>"`` (``"hermitian.expm"``, ``"ode.odeint"``; classes,
    such as the adjoint objects of ``matcalc.ode``, are options, not operations), and the
    names of the mirrors ``matcalc.numpy.linalg`` / ``matcalc.scipy.linalg`` that carry a rule of
    their own (see ``_mirror_operations``; JAX re-exports and adapters of public operations do
    not).

    Examples:
      >>> ops = matcalc.testing.public_operations()
      >>> "inv" in ops, "hermitian.sqrtm" in ops, "ode.odeint" in ops
      (True, True, True)
    """
    import types

    import matcalc

    names = []
    for name in matcalc.__all__:
        obj = getattr(matcalc, name)
        if name == "testing":
            continue
        if isinstance(obj, types.ModuleType):
            # option objects (``ode.BacksolveAdjoint``) are not operations
            names.extend(f"{name}.{sub}" for sub in obj.__all__ if not isinstance(getattr(obj, sub), type))
        else:
            names.append(name)
    names.extend(_mirror_operations(names))
    return names


def _mirror_operations(public: list[str]) -> list[str]:
    """Names of the mirrors ``matcalc.numpy.linalg`` / ``matcalc.scipy.linalg`` that carry a rule of
    their own. A mirrored name needs no case of its own when it is JAX's function re-exported, a
    public matcalc operation itself, or an adapter (``_matcalc_adapts``) that only calls public
    matcalc operations, which have their cases; anything else is listed as
    ``"numpy.linalg.<name>"`` / ``"scipy.linalg.<name>"``."""
    import importlib

    import matcalc

    rules = set()
    for name in public:
        head, _, tail = name.partition(".")
        obj = getattr(matcalc, head)
        rules.add(id(getattr(obj, tail) if tail else obj))
    out = []
    for mirror, jax_name in (("numpy.linalg", "jax.numpy.linalg"), ("scipy.linalg", "jax.scipy.linalg")):
        module = importlib.import_module(f"matcalc.{mirror}")
        reference = importlib.import_module(jax_name)
        for sub in module.__all__:
            obj = getattr(module, sub)
            if obj is getattr(reference, sub, None) or id(obj) in rules:
                continue
            adapts = getattr(obj, "_matcalc_adapts", None)
            if adapts and all(id(rule) in rules for rule in adapts):
                continue
            out.append(f"{mirror}.{sub}")
    return out


class RuleCheckError(AssertionError):
    """A failed harness check; the message names the check."""


def _fail(check: str, msg: str):
    raise RuleCheckError(f"check_rule[{check}]: {msg}")


def _inexact_leaves(tree) -> list:
    return [
        x
        for x in jax.tree.leaves(tree)
        if hasattr(x, "dtype") and jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    ]


def _norm(leaves) -> float:
    return float(np.sqrt(sum(float(np.sum(np.abs(np.asarray(x)) ** 2)) for x in leaves)))


def _diff_norm(a, b) -> float:
    return float(
        np.sqrt(
            sum(float(np.sum(np.abs(np.asarray(x) - np.asarray(y)) ** 2)) for x, y in zip(a, b, strict=True))
        )
    )


def _pair(a, b) -> float:
    """``Re Σ a·b`` over matching lists of leaves."""
    return float(sum(np.sum(np.real(np.asarray(x) * np.asarray(y))) for x, y in zip(a, b, strict=True)))


def _abs_pair(a, b) -> float:
    return float(sum(np.sum(np.abs(np.asarray(x) * np.asarray(y))) for x, y in zip(a, b, strict=True)))


def _all_finite(leaves) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in leaves)


def _random_like(key, x):
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        k1, k2 = jax.random.split(key)
        real_dtype = jnp.finfo(x.dtype).dtype
        return jax.lax.complex(
            jax.random.normal(k1, x.shape, real_dtype), jax.random.normal(k2, x.shape, real_dtype)
        ).astype(x.dtype)
    return jax.random.normal(key, x.shape, x.dtype)


def _check_close(check: str, what: str, got, want, rtol: float, atol: float = 0.0):
    err = _diff_norm(got, want)
    scale = max(_norm(got), _norm(want))
    if not err <= rtol * scale + atol:
        _fail(
            check,
            f"{what}: |difference| = {err:.3e} exceeds rtol*|value| + atol = "
            f"{rtol:.1e}*{scale:.3e} + {atol:.1e}",
        )


class Problem:
    """One function at one point, as every check sees it: the differentiated inputs, a random
    tangent ``v`` and cotangent ``w`` (drawn once), the eager primal output and the compiled maps
    shared by the checks (``f_jit``, ``jvp_jit``, ``vjp_jit``).

    ``f`` returns the tuple of ``fn``'s inexact output leaves (after ``output_gauge``) as a function
    of the differentiated arguments alone. Further random directions come from ``tangent()``.
    """

    def __init__(
        self,
        fn: Callable,
        args: Sequence[Any],
        argnums: Sequence[int] | None = None,
        tangent_projection: Callable | Sequence[Callable | None] | None = None,
        output_gauge: Callable | None = None,
        fd_step: float | None = None,
        seed: int = 0,
    ):
        if not jax.config.jax_enable_x64:
            raise RuntimeError("check_rule needs float64: set jax.config.update('jax_enable_x64', True)")
        self.args = list(args)
        if argnums is None:
            argnums = [
                i
                for i, a in enumerate(self.args)
                if hasattr(a, "dtype") and jnp.issubdtype(jnp.asarray(a).dtype, jnp.inexact)
            ]
        self.argnums = list(argnums)
        if not self.argnums:
            raise ValueError("check_rule: no differentiable (inexact array) argument")
        self.primals = tuple(jnp.asarray(self.args[i]) for i in self.argnums)
        for x in self.primals:
            if x.dtype not in (jnp.float64, jnp.complex128):
                raise ValueError(
                    f"check_rule: differentiated inputs must be float64/complex128, got {x.dtype}"
                )
        if tangent_projection is None or callable(tangent_projection):
            projections = [tangent_projection] * len(self.argnums)
        else:
            projections = list(tangent_projection)
            if len(projections) != len(self.argnums):
                raise ValueError("check_rule: one tangent_projection per differentiated argument")
        self._projections = [q if q is not None else (lambda t: t) for q in projections]
        self._gauge = output_gauge if output_gauge is not None else (lambda y: y)
        self._fn = fn
        self._keys = iter(jax.random.split(jax.random.PRNGKey(seed), 16))

        self.out = self.f(*self.primals)
        if not self.out:
            raise ValueError("check_rule: fn has no inexact output to differentiate")
        self.v = self.tangent()
        self.w = tuple(
            _random_like(k, o)
            for k, o in zip(jax.random.split(next(self._keys), len(self.out)), self.out, strict=True)
        )
        self.x_scale = max(float(np.max(np.abs(np.asarray(x)))) if x.size else 0.0 for x in self.primals)
        self.h = fd_step if fd_step is not None else 1e-3 * max(1.0, self.x_scale)
        self.f_jit = jax.jit(self.f)
        self.jvp_jit = jax.jit(lambda *xs: jax.jvp(self.f, xs, self.v)[1])
        self.vjp_jit = jax.jit(lambda *xs: jax.vjp(self.f, *xs)[1](self.w))

    def f(self, *xs):
        full = list(self.args)
        for i, x in zip(self.argnums, xs, strict=True):
            full[i] = x
        return tuple(_inexact_leaves(self._gauge(self._fn(*full))))

    def tangent(self, normalize: bool = True) -> tuple:
        """A random tangent projected onto the inputs' tangent space (max-abs 1 if ``normalize``)."""
        ks = jax.random.split(next(self._keys), len(self.primals))
        t = tuple(q(_random_like(k, x)) for k, x, q in zip(ks, self.primals, self._projections, strict=True))
        scale = max(float(np.max(np.abs(np.asarray(a)))) if a.size else 0.0 for a in t)
        if scale == 0:
            raise ValueError("check_rule: the projected tangent is zero")
        return tuple(a / scale for a in t) if normalize else t

    def finite_difference(self, g: Callable, direction: tuple):
        """5-point central difference of ``g`` at the primals along ``direction``, and its
        round-off floor ``30 eps |g| / h``."""
        h = self.h

        def at(s):
            return g(*[x + s * t for x, t in zip(self.primals, direction, strict=True)])

        fp2, fp1, fm1, fm2 = at(2 * h), at(h), at(-h), at(-2 * h)
        d = tuple((-a + 8 * b - 8 * c + e) / (12 * h) for a, b, c, e in zip(fp2, fp1, fm1, fm2, strict=True))
        return d, 30 * _EPS * _norm(fp1) / h


_EPS = float(np.finfo(np.float64).eps)


def check_primal(p: Problem, reference: Callable | None, rtol: float = 1e-10) -> float | None:
    """``finite``: the eager primal is finite; ``primal``: it matches ``reference(*numpy_args)``.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> p = matcalc.testing.Problem(matcalc.inv, (A,))
      >>> bool(matcalc.testing.check_primal(p, np.linalg.inv) < 1e-10)
      True
    """
    if not _all_finite(p.out):
        _fail("finite", "primal output is not finite")
    if reference is None:
        return None
    ref_args = [np.asarray(a) if hasattr(a, "dtype") else a for a in p.args]
    ref = tuple(_inexact_leaves(p._gauge(jax.tree.map(jnp.asarray, reference(*ref_args)))))
    if len(ref) != len(p.out):
        _fail("primal", f"reference has {len(ref)} inexact outputs, fn has {len(p.out)}")
    for o, r in zip(p.out, ref, strict=True):
        if o.shape != r.shape:
            _fail("primal", f"output shape {o.shape} differs from reference {r.shape}")
    _check_close("primal", "fn(*args) vs reference", p.out, ref, rtol)
    return _diff_norm(p.out, ref) / max(_norm(ref), 1e-300)


def check_jvp(p: Problem, rtol: float = 1e-8) -> tuple[tuple, float]:
    """``jvp``: the eager JVP along ``p.v`` against a 5-point finite difference (within ``rtol``
    plus the difference's round-off floor). Returns the JVP and its relative error.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> p = matcalc.testing.Problem(matcalc.inv, (A,))
      >>> jv, err = matcalc.testing.check_jvp(p)
      >>> bool(err < 1e-8)
      True
    """
    fd_jv, floor = p.finite_difference(p.f_jit, p.v)
    _, jv = jax.jvp(p.f, p.primals, p.v)
    if not _all_finite(jv):
        _fail("finite", "JVP is not finite")
    _check_close("jvp", "jvp vs 5-point finite difference", jv, fd_jv, rtol, floor)
    return jv, _diff_norm(jv, fd_jv) / max(_norm(fd_jv), 1e-300)


def check_transpose(
    p: Problem, ct: tuple, jv: tuple, rtol: float = 1e-12, jv_is_finite_difference: bool = False
) -> float:
    """``transpose``: ``<w, J v> = <Jᵀ w, v>`` with ``Jᵀ w = ct`` from the VJP, in the real pairing
    JAX transposes in. Against a finite-difference ``J v`` the tolerance is ``rtol`` plus its
    round-off floor.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> p = matcalc.testing.Problem(matcalc.inv, (A,))
      >>> jv, _ = matcalc.testing.check_jvp(p)
      >>> ct = jax.vjp(p.f, *p.primals)[1](p.w)
      >>> bool(matcalc.testing.check_transpose(p, ct, jv) < 1e-12)
      True
    """
    lhs, rhs = _pair(p.w, jv), _pair(ct, p.v)
    scale = _abs_pair(p.w, jv) + _abs_pair(ct, p.v)
    atol = 30 * _EPS * _norm(p.w) * _norm(p.out) / p.h if jv_is_finite_difference else 0.0
    if not abs(lhs - rhs) <= rtol * scale + atol:
        _fail(
            "transpose",
            f"<w, J v> = {lhs:.16e} but <Jᵀ w, v> = {rhs:.16e} (difference "
            f"{abs(lhs - rhs):.3e}, scale {scale:.3e})",
        )
    return abs(lhs - rhs) / max(scale, 1e-300)


def check_jit(p: Problem, rtol: float = 1e-10, jv: tuple | None = None, ct: tuple | None = None) -> None:
    """``jit``: ``jax.jit`` against eager evaluation, for the primal and for the JVP and the VJP
    where given (their eager values).

    Examples:
      >>> p = matcalc.testing.Problem(matcalc.inv, (jnp.array([[4., 1.], [2., 3.]]),))
      >>> matcalc.testing.check_jit(p)  # raises on a mismatch, returns None
    """
    _check_close("jit", "jit(fn) vs fn", p.f_jit(*p.primals), p.out, rtol)
    if jv is not None:
        _check_close("jit", "jit(jvp) vs jvp", p.jvp_jit(*p.primals), jv, rtol)
    if ct is not None:
        _check_close("jit", "jit(vjp) vs vjp", p.vjp_jit(*p.primals), ct, rtol)


def check_vmap(
    p: Problem,
    rtol: float = 1e-10,
    jvp: bool = True,
    vjp: bool = True,
    vmap_args: Sequence[Any] | None = None,
) -> None:
    """``vmap``: ``jit(vmap(g))`` over a small batch against ``jit(g)`` per point, for the primal,
    the VJP and the JVP (the per-point maps are the ones ``check_jit`` compared with eager).

    Examples:
      >>> p = matcalc.testing.Problem(matcalc.inv, (jnp.array([[4., 1.], [2., 3.]]),))
      >>> matcalc.testing.check_vmap(p)  # raises on a mismatch, returns None
    """
    if vmap_args is None:
        batch = [
            tuple(x + step * max(1.0, p.x_scale) * a for x, a in zip(p.primals, p.tangent(), strict=True))
            for step in (0.0, 1e-2, -1e-2)
        ]
    else:
        batch = [tuple(jnp.asarray(b[i]) for i in p.argnums) for b in vmap_args]
    stacked = tuple(jnp.stack(col) for col in zip(*batch, strict=True))
    maps = [("fn", p.f, p.f_jit)]
    if vjp:
        maps.append(("vjp", lambda *xs: jax.vjp(p.f, *xs)[1](p.w), p.vjp_jit))
    if jvp:
        maps.append(("jvp", lambda *xs: jax.jvp(p.f, xs, p.v)[1], p.jvp_jit))
    # the batched maps in one compiled program
    batched = jax.jit(jax.vmap(lambda *xs: tuple(g(*xs) for _, g, _ in maps)))(*stacked)
    for (label, _, g_jit), vm in zip(maps, batched, strict=True):
        for k, b in enumerate(batch):
            _check_close("vmap", f"vmap({label})[{k}] vs {label}", tuple(y[k] for y in vm), g_jit(*b), rtol)


def check_second_order(p: Problem, rtol: float = 1e-6, jvp: bool = True, vjp: bool = True) -> dict:
    """``second_order``: jvp-of-jvp against a finite difference of the JVP, and grad-of-grad (the
    gradient of ``x ↦ <∇s(x), u>``, ``s = <w, f>``) paired with ``u₂`` against a finite
    difference of ``<∇s, u>``.

    Examples:
      >>> p = matcalc.testing.Problem(matcalc.inv, (jnp.array([[4., 1.], [2., 3.]]),))
      >>> errors = matcalc.testing.check_second_order(p)
      >>> sorted(errors)
      ['grad_of_grad', 'jvp_of_jvp']
    """
    report = {}
    u = p.tangent()
    if jvp:
        gu = jax.jit(lambda *xs: jax.jvp(lambda *ys: jax.jvp(p.f, ys, p.v)[1], xs, u)[1])(*p.primals)
        fd_gu, floor = p.finite_difference(p.jvp_jit, u)
        if not _all_finite(gu):
            _fail("finite", "jvp-of-jvp is not finite")
        _check_close("second_order", "jvp-of-jvp vs finite difference of the JVP", gu, fd_gu, rtol, floor)
        report["jvp_of_jvp"] = _diff_norm(gu, fd_gu) / max(_norm(fd_gu), 1e-300)
    if vjp:

        def s(*xs):
            return sum(jnp.sum(jnp.real(a * b)) for a, b in zip(p.w, p.f(*xs), strict=True))

        def q(*xs):
            gs = jax.grad(s, argnums=tuple(range(len(xs))))(*xs)
            return sum(jnp.sum(jnp.real(a * b)) for a, b in zip(gs, u, strict=True))

        u2 = p.tangent()
        # one compiled program gives <∇s, u> (for its finite difference) and its gradient
        q_and_grad = jax.jit(jax.value_and_grad(q, argnums=tuple(range(len(p.primals)))))
        _, hq = q_and_grad(*p.primals)
        if not _all_finite(hq):
            _fail("finite", "grad-of-grad is not finite")
        got = _pair(hq, u2)
        fd_q, floor = p.finite_difference(lambda *xs: (q_and_grad(*xs)[0],), u2)
        want = float(fd_q[0])
        scale = max(abs(got), abs(want), _abs_pair(hq, u2) * 1e-3)
        if not abs(got - want) <= rtol * scale + floor:
            _fail(
                "second_order",
                f"grad-of-grad: <∇<∇s, u>, u2> = {got:.12e} but finite difference gives {want:.12e}",
            )
        report["grad_of_grad"] = abs(got - want) / max(abs(want), 1e-300)
    return report


# check_rule's flags share these checks' names (its public signature); it calls them through these.
_jvp_check, _vmap_check, _second_order_check = check_jvp, check_vmap, check_second_order


def check_rule(  # noqa: PLR0913 (public keyword options)
    fn: Callable,
    *args: Any,
    reference: Callable | None = None,
    argnums: Sequence[int] | None = None,
    tangent_projection: Callable | Sequence[Callable | None] | None = None,
    output_gauge: Callable | None = None,
    primal_rtol: float = 1e-10,
    fd_rtol: float = 1e-8,
    fd_step: float | None = None,
    transpose_rtol: float = 1e-12,
    jit_rtol: float = 1e-10,
    second_order_rtol: float = 1e-6,
    check_jvp: bool = True,
    check_vjp: bool = True,
    check_vmap: bool = True,
    check_second_order: bool = True,
    vmap_args: Sequence[Any] | None = None,
    seed: int = 0,
) -> dict:
    """Run the full derivative battery on ``fn`` at ``args``; raise on the first failed check.

    Args:
      fn: the function under test, called as ``fn(*args)``; it may return a pytree.
      *args: float64 (or complex128) inputs. Non-array arguments are passed through unchanged.
      reference: optional ``reference(*numpy_args)`` giving the expected primal output (same
        pytree structure; integer leaves are ignored).
      argnums: positions of the differentiated arguments (default: every inexact array).
      tangent_projection: a map applied to random tangents (one for all differentiated arguments,
        or a sequence with one entry per differentiated argument; ``None`` means identity).
      output_gauge: a differentiable map applied to ``fn``'s output before every comparison.
      primal_rtol: relative tolerance of the primal against ``reference`` (normwise).
      fd_rtol: relative tolerance of the JVP against finite differences (plus their round-off
        floor).
      transpose_rtol: relative tolerance of the transpose identity.
      jit_rtol: relative tolerance of ``jit`` and ``vmap`` against eager evaluation.
      second_order_rtol: relative tolerance of the second-order checks (plus the round-off floor).
      fd_step: finite-difference step (default ``1e-3 * max(1, |x|_max)``).
      check_jvp: set ``False`` for reverse-mode-only rules (``custom_vjp``): the ``jvp`` and
        ``second_order`` checks are replaced by finite differences of the VJP's transpose.
      check_vjp: set ``False`` for forward-mode-only rules: the VJP, the ``transpose`` check and
        grad-of-grad are skipped (a separate test should assert that reverse mode raises).
      check_vmap: run the ``vmap`` check.
      check_second_order: run the ``second_order`` check.
      vmap_args: optional list of argument tuples to batch over (default: ``args`` perturbed
        along projected tangents).
      seed: PRNG seed of the random tangents and cotangents.

    Returns:
      A dict of measured errors per check (for reports).

    Raises:
      RuleCheckError: an ``AssertionError`` naming the failed check.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> report = matcalc.testing.check_rule(matcalc.inv, A, reference=np.linalg.inv)
      >>> sorted(report)
      ['grad_of_grad', 'jvp', 'jvp_of_jvp', 'primal', 'transpose']
    """
    if not (check_jvp or check_vjp):
        raise ValueError("check_rule: at least one of check_jvp and check_vjp must be True")
    p = Problem(fn, args, argnums, tangent_projection, output_gauge, fd_step, seed)
    report = {}
    primal_err = check_primal(p, reference, primal_rtol)
    if primal_err is not None:
        report["primal"] = primal_err
    _check_close("jit", "jit(fn) vs fn", p.f_jit(*p.primals), p.out, jit_rtol)
    ct = None
    if check_vjp:
        ct = jax.vjp(p.f, *p.primals)[1](p.w)
        if not _all_finite(ct):
            _fail("finite", "VJP (cotangent) is not finite")
    if check_jvp:
        jv, report["jvp"] = _jvp_check(p, fd_rtol)
    else:
        jv = p.finite_difference(p.f_jit, p.v)[0]  # reverse-only: J v by finite differences
    check_jit(p, jit_rtol, jv if check_jvp else None, ct)
    if check_vjp:
        report["transpose"] = check_transpose(
            p, ct, jv, transpose_rtol if check_jvp else fd_rtol, jv_is_finite_difference=not check_jvp
        )
    if check_vmap:
        _vmap_check(p, jit_rtol, jvp=check_jvp, vjp=check_vjp, vmap_args=vmap_args)
    if check_second_order:
        report.update(_second_order_check(p, second_order_rtol, jvp=check_jvp, vjp=check_vjp))
    return report


def check_float32(
    fn: Callable,
    *args: Any,
    argnums: Sequence[int] | None = None,
    tangent_projection: Callable | None = None,
    output_gauge: Callable | None = None,
    rtol: float = 1e-3,
    check_jvp: bool = True,
    check_vjp: bool = True,
    seed: int = 0,
) -> None:
    """Smoke test in single precision: float32 (complex64) primal, JVP and VJP are finite and
    agree with the float64 computation to ``rtol`` (normwise). Each precision is evaluated by one
    compiled program (``check_rule`` covers eager against ``jit``).

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> matcalc.testing.check_float32(matcalc.inv, A)  # raises on a mismatch, returns None
    """
    args = list(args)
    if argnums is None:
        argnums = [
            i
            for i, a in enumerate(args)
            if hasattr(a, "dtype") and jnp.issubdtype(jnp.asarray(a).dtype, jnp.inexact)
        ]
    proj = tangent_projection or (lambda t: t)
    gauge = output_gauge or (lambda y: y)

    def lower(x):
        x = jnp.asarray(x)
        return x.astype(jnp.complex64 if jnp.iscomplexobj(x) else jnp.float32)

    def make_f(full_args):
        def f(*xs):
            full = list(full_args)
            for i, x in zip(argnums, xs, strict=True):
                full[i] = x
            return tuple(_inexact_leaves(gauge(fn(*full))))

        return f

    args32 = [lower(a) if i in argnums else a for i, a in enumerate(args)]
    p64 = [jnp.asarray(args[i]) for i in argnums]
    p32 = [args32[i] for i in argnums]
    keys = jax.random.split(jax.random.PRNGKey(seed), len(p64) + 1)
    v64 = tuple(proj(_random_like(k, p)) for k, p in zip(keys[:-1], p64, strict=True))
    o64 = jax.eval_shape(make_f(args), *p64)
    w_keys = jax.random.split(keys[-1], len(o64))
    w64 = tuple(_random_like(k, jnp.zeros(o.shape, o.dtype)) for k, o in zip(w_keys, o64, strict=True))

    def evaluate(full_args, primals, v, w):
        # primal, VJP and JVP in one compiled program per precision
        f = make_f(full_args)
        out = f(*primals)
        ct = jax.vjp(f, *primals)[1](w) if check_vjp else ()
        jv = jax.jvp(f, tuple(primals), v)[1] if check_jvp else ()
        return out, ct, jv

    for o in jax.eval_shape(make_f(args32), *p32):
        if o.dtype not in (jnp.float32, jnp.complex64):
            _fail("float32", f"float32 input gave a {o.dtype} output")
    v32, w32 = tuple(lower(t) for t in v64), tuple(lower(t) for t in w64)
    r64 = jax.jit(lambda *ps: evaluate(args, ps, v64, w64))(*p64)
    r32 = jax.jit(lambda *ps: evaluate(args32, ps, v32, w32))(*p32)
    as_c128 = lambda xs: [np.asarray(x, np.complex128) for x in xs]
    _check_close("float32", "primal float32 vs float64", as_c128(r32[0]), as_c128(r64[0]), rtol)
    for label, k, wanted in (("VJP", 1, check_vjp), ("JVP", 2, check_jvp)):
        if not wanted:
            continue
        if not _all_finite(r32[k]):
            _fail("float32", f"float32 {label} is not finite")
        _check_close("float32", f"{label} float32 vs float64", as_c128(r32[k]), as_c128(r64[k]), rtol)
