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

__all__ = ["check_rule", "check_float32", "public_operations", "RuleCheckError"]


def public_operations() -> list[str]:
    """Every public operation name: ``matcalc.__all__`` (less ``testing``) with each public
    submodule expanded to ``"<module>.<name>"`` (``"hermitian.expm"``, ``"ode.odeint"``), and the
    names of the mirrors ``matcalc.numpy.linalg`` / ``matcalc.scipy.linalg`` that carry a rule of
    their own (see ``_mirror_operations``; JAX re-exports and adapters of public operations do
    not)."""
    import types

    import matcalc

    names = []
    for name in matcalc.__all__:
        obj = getattr(matcalc, name)
        if name == "testing":
            continue
        if isinstance(obj, types.ModuleType):
            names.extend(f"{name}.{sub}" for sub in obj.__all__)
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
            sum(
                float(np.sum(np.abs(np.asarray(x) - np.asarray(y)) ** 2))
                for x, y in zip(a, b, strict=True)
            )
        )
    )


def _pair(a, b) -> float:
    """``Re Σ a·b`` over matching lists of leaves."""
    return float(
        sum(np.sum(np.real(np.asarray(x) * np.asarray(y))) for x, y in zip(a, b, strict=True))
    )


def _abs_pair(a, b) -> float:
    return float(
        sum(np.sum(np.abs(np.asarray(x) * np.asarray(y))) for x, y in zip(a, b, strict=True))
    )


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


def check_rule(
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
    """
    if not jax.config.jax_enable_x64:
        raise RuntimeError("check_rule needs float64: set jax.config.update('jax_enable_x64', True)")
    args = list(args)
    if argnums is None:
        argnums = [
            i
            for i, a in enumerate(args)
            if hasattr(a, "dtype") and jnp.issubdtype(jnp.asarray(a).dtype, jnp.inexact)
        ]
    argnums = list(argnums)
    if not argnums:
        raise ValueError("check_rule: no differentiable (inexact array) argument")
    primals = [jnp.asarray(args[i]) for i in argnums]
    for p in primals:
        if p.dtype not in (jnp.float64, jnp.complex128):
            raise ValueError(f"check_rule: differentiated inputs must be float64/complex128, got {p.dtype}")

    if tangent_projection is None or callable(tangent_projection):
        projections = [tangent_projection] * len(argnums)
    else:
        projections = list(tangent_projection)
        if len(projections) != len(argnums):
            raise ValueError("check_rule: one tangent_projection per differentiated argument")
    projections = [p if p is not None else (lambda t: t) for p in projections]
    gauge = output_gauge if output_gauge is not None else (lambda y: y)

    def f(*xs):
        full = list(args)
        for i, x in zip(argnums, xs, strict=True):
            full[i] = x
        return tuple(_inexact_leaves(gauge(fn(*full))))

    key = jax.random.PRNGKey(seed)
    keys = iter(jax.random.split(key, 16))

    def tangent():
        k = next(keys)
        ks = jax.random.split(k, len(primals))
        return tuple(
            proj(_random_like(kk, p)) for kk, p, proj in zip(ks, primals, projections, strict=True)
        )

    report: dict = {}
    f_jit = jax.jit(f)

    # --- primal, reference and finiteness
    out = f(*primals)
    if not out:
        raise ValueError("check_rule: fn has no inexact output to differentiate")
    if not _all_finite(out):
        _fail("finite", "primal output is not finite")
    if reference is not None:
        ref_args = [np.asarray(a) if hasattr(a, "dtype") else a for a in args]
        ref = tuple(_inexact_leaves(gauge(jax.tree.map(jnp.asarray, reference(*ref_args)))))
        if len(ref) != len(out):
            _fail("primal", f"reference has {len(ref)} inexact outputs, fn has {len(out)}")
        for o, r in zip(out, ref, strict=True):
            if o.shape != r.shape:
                _fail("primal", f"output shape {o.shape} differs from reference {r.shape}")
        _check_close("primal", "fn(*args) vs reference", out, ref, primal_rtol)
        report["primal"] = _diff_norm(out, ref) / max(_norm(ref), 1e-300)

    # --- jit
    _check_close("jit", "jit(fn) vs fn", f_jit(*primals), out, jit_rtol)

    v = tangent()
    w = tuple(_random_like(k, o) for k, o in zip(jax.random.split(next(keys), len(out)), out, strict=True))
    x_scale = max(float(np.max(np.abs(np.asarray(p)))) if p.size else 0.0 for p in primals)
    h = fd_step if fd_step is not None else 1e-3 * max(1.0, x_scale)
    v_scale = max(float(np.max(np.abs(np.asarray(t)))) if t.size else 0.0 for t in v)
    if v_scale == 0:
        raise ValueError("check_rule: the projected tangent is zero")
    v = tuple(t / v_scale for t in v)
    eps = float(jnp.finfo(jnp.float64).eps)

    def fd(g, xs, direction):
        def at(s):
            return g(*[x + s * t for x, t in zip(xs, direction, strict=True)])

        fp2, fp1, fm1, fm2 = at(2 * h), at(h), at(-h), at(-2 * h)
        d = tuple((-a + 8 * b - 8 * c + e) / (12 * h) for a, b, c, e in zip(fp2, fp1, fm1, fm2, strict=True))
        floor = 30 * eps * _norm(fp1) / h
        return d, floor

    # --- jvp against finite differences
    if not (check_jvp or check_vjp):
        raise ValueError("check_rule: at least one of check_jvp and check_vjp must be True")
    if check_vjp:
        ct = jax.vjp(f, *primals)[1](w)
        if not _all_finite(ct):
            _fail("finite", "VJP (cotangent) is not finite")
    fd_jv, floor = fd(f_jit, primals, v)
    # one compiled JVP and one compiled VJP serve the jit, vmap and finite-difference checks
    jvp_jit = jax.jit(lambda *xs: jax.jvp(f, xs, v)[1])
    vjp_jit = jax.jit(lambda *xs: jax.vjp(f, *xs)[1](w))
    if check_jvp:
        _, jv = jax.jvp(f, tuple(primals), v)
        if not _all_finite(jv):
            _fail("finite", "JVP is not finite")
        _check_close("jvp", "jvp vs 5-point finite difference", jv, fd_jv, fd_rtol, floor)
        report["jvp"] = _diff_norm(jv, fd_jv) / max(_norm(fd_jv), 1e-300)
        _check_close("jit", "jit(jvp) vs jvp", jvp_jit(*primals), jv, jit_rtol)
    else:
        jv = fd_jv

    # --- transpose identity <w, J v> = <Jᵀ w, v>
    if check_vjp:
        lhs = _pair(w, jv)
        rhs = _pair(ct, v)
        scale = _abs_pair(w, jv) + _abs_pair(ct, v)
        tol = transpose_rtol if check_jvp else fd_rtol
        atol = 0.0 if check_jvp else 30 * eps * _norm(w) * _norm(out) / h
        if not abs(lhs - rhs) <= tol * scale + atol:
            _fail(
                "transpose",
                f"<w, J v> = {lhs:.16e} but <Jᵀ w, v> = {rhs:.16e} (difference {abs(lhs - rhs):.3e}, "
                f"scale {scale:.3e})",
            )
        report["transpose"] = abs(lhs - rhs) / max(scale, 1e-300)
        _check_close("jit", "jit(vjp) vs vjp", vjp_jit(*primals), ct, jit_rtol)

    # --- vmap against a loop (the loop uses the jitted maps, already checked against eager)
    if check_vmap:
        if vmap_args is None:
            batch = []
            for step in (0.0, 1e-2, -1e-2):
                t = tangent()
                t_scale = max(float(np.max(np.abs(np.asarray(a)))) for a in t)
                batch.append(
                    tuple(p + step * max(1.0, x_scale) * a / t_scale for p, a in zip(primals, t, strict=True))
                )
        else:
            batch = [tuple(jnp.asarray(b[i]) for i in argnums) for b in vmap_args]
        stacked = tuple(jnp.stack(col) for col in zip(*batch, strict=True))
        maps = [("fn", f, f_jit)]
        if check_vjp:
            maps.append(("vjp", lambda *xs: jax.vjp(f, *xs)[1](w), vjp_jit))
        if check_jvp:
            maps.append(("jvp", lambda *xs: jax.jvp(f, xs, v)[1], jvp_jit))
        for label, g, g_jit in maps:
            vm = jax.jit(jax.vmap(g))(*stacked)
            for k, b in enumerate(batch):
                _check_close("vmap", f"vmap({label})[{k}] vs {label}", tuple(y[k] for y in vm), g_jit(*b),
                             jit_rtol)

    # --- second order
    if check_second_order:
        u = tangent()
        u_scale = max(float(np.max(np.abs(np.asarray(t)))) for t in u)
        u = tuple(t / u_scale for t in u)
        if check_jvp:
            gu = jax.jit(lambda *xs: jax.jvp(lambda *ys: jax.jvp(f, ys, v)[1], xs, u)[1])(*primals)
            fd_gu, floor2 = fd(jvp_jit, primals, u)
            if not _all_finite(gu):
                _fail("finite", "jvp-of-jvp is not finite")
            _check_close("second_order", "jvp-of-jvp vs finite difference of the JVP", gu, fd_gu,
                         second_order_rtol, floor2)
            report["jvp_of_jvp"] = _diff_norm(gu, fd_gu) / max(_norm(fd_gu), 1e-300)

        if check_vjp:
            def s(*xs):
                return sum(jnp.sum(jnp.real(a * b)) for a, b in zip(w, f(*xs), strict=True))

            def q(*xs):
                gs = jax.grad(s, argnums=tuple(range(len(xs))))(*xs)
                return sum(jnp.sum(jnp.real(a * b)) for a, b in zip(gs, u, strict=True))

            u2 = tangent()
            u2_scale = max(float(np.max(np.abs(np.asarray(t)))) for t in u2)
            u2 = tuple(t / u2_scale for t in u2)
            hq = jax.jit(jax.grad(q, argnums=tuple(range(len(primals)))))(*primals)
            if not _all_finite(hq):
                _fail("finite", "grad-of-grad is not finite")
            got = _pair(hq, u2)
            q_jit = jax.jit(lambda *xs: (q(*xs),))
            fd_q, floor3 = fd(q_jit, primals, u2)
            want = float(fd_q[0])
            scale = max(abs(got), abs(want), _abs_pair(hq, u2) * 1e-3)
            if not abs(got - want) <= second_order_rtol * scale + floor3:
                _fail(
                    "second_order",
                    f"grad-of-grad: <∇<∇s, u>, u2> = {got:.12e} but finite difference gives {want:.12e}",
                )
            report["grad_of_grad"] = abs(got - want) / max(abs(want), 1e-300)
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
    compiled program (``check_rule`` covers eager against ``jit``)."""
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
