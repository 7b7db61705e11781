"""``use_rules``: matcalc's derivative rules inside code that never imports matcalc.

The function is traced to a jaxpr and evaluated by an interpreter that substitutes matcalc's
operations for the linear-algebra operations JAX emits; see ``use_rules`` for exactly what is
recognized.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._core import jaxpr as jaxpr_
from ._core.arrays import hermitian_from_triangle

__all__ = ["RulesReport", "rules_report", "use_rules"]

# ---------------------------------------------------------------------------------------------
# What is recognized

# The operations one can name in ``only=``/``exclude=``: matcalc's function of the same name is the
# substitute.
OPERATIONS = (
    "cholesky",
    "det",
    "eigh",
    "eigvals",
    "expm",
    "hessenberg",
    "inv",
    "lu",
    "lu_factor",
    "qr",
    "schur",
    "slogdet",
    "solve",
    "solve_triangular",
    "sqrtm",
    "svd",
)

# Primitive names that are linear algebra (reported when left alone).
_LINALG_PRIMITIVES = frozenset(
    {
        "cholesky",
        "cholesky_update",
        "custom_linear_solve",
        "eig",
        "eigh",
        "geqp3",
        "geqrf",
        "hessenberg",
        "householder_product",
        "lu",
        "qr",
        "schur",
        "svd",
        "triangular_solve",
        "tridiagonal",
        "tridiagonal_solve",
    }
)

_NO_SUBSTITUTE = {
    "lu": "packed LU with pivots (lax.linalg.lu) keeps JAX's rule; jax.scipy.linalg.lu/lu_factor, det, "
    "slogdet, solve and inv are recognized at their wrappers",
    "custom_linear_solve": "an implicit-function rule of its own (JAX's), kept",
    "hessenberg": "packed Householder output; jax.scipy.linalg.hessenberg is recognized at its wrapper",
    "householder_product": "packed Householder input; no matcalc substitute",
}

# Named ``jit`` wrappers of jax.numpy.linalg / jax.scipy.linalg recognized as a whole (their body
# is JAX's algorithm, replaced by matcalc's). name -> operation.
_NAMED_WRAPPERS = {
    "det": "det",
    "slogdet": "slogdet",
    "inv": "inv",
    "solve": "solve",
    "expm": "expm",
    "_sqrtm": "sqrtm",
    "hessenberg": "hessenberg",
    "lu": "lu",
    "lu_factor": "lu_factor",
}


@dataclass(frozen=True)
class RuleEntry:
    """One linear-algebra operation met while evaluating the function."""

    operation: str  # the operation's name (matcalc's, or JAX's primitive name when left alone)
    source: str  # what JAX emitted: "jit[det]", "primitive eigh", "custom_jvp_call[_pinv]"
    shapes: tuple[str, ...]  # input avals
    substituted: bool
    reason: str = ""  # why it was left alone
    where: str = ""  # the enclosing constructs: "scan > cond"

    def __str__(self) -> str:
        loc = f" (in {self.where})" if self.where else ""
        shapes = ", ".join(self.shapes)
        if self.substituted:
            return f"  {self.operation:<17} {self.source:<26} {shapes}{loc}"
        return f"  {self.operation:<17} {self.source:<26} {shapes}{loc}: {self.reason}"


@dataclass
class RulesReport:
    """What ``use_rules`` substituted and what it left to JAX, with the reason."""

    substituted: list[RuleEntry] = field(default_factory=list)
    left_alone: list[RuleEntry] = field(default_factory=list)

    def __str__(self) -> str:
        lines = ["matcalc.use_rules: substituted (matcalc's rule)"]
        lines += [str(e) for e in self.substituted] or ["  (none)"]
        lines.append("left to JAX")
        lines += [str(e) for e in self.left_alone] or ["  (none)"]
        return "\n".join(lines)

    @property
    def operations(self) -> list[str]:
        """Names of the substituted operations, in order of appearance."""
        return [e.operation for e in self.substituted]


class _Context:
    def __init__(self, enabled: frozenset[str], report: RulesReport | None):
        self.enabled = enabled
        self.report = report
        self.where: list[str] = []
        self._seen: set = set()

    def record(self, eqn, operation, source, substituted, reason=""):
        if self.report is None:
            return
        key = (id(eqn), tuple(self.where), substituted)
        if key in self._seen:  # a control-flow body traced more than once
            return
        self._seen.add(key)
        entry = RuleEntry(
            operation,
            source,
            tuple(str(v.aval) for v in eqn.invars),
            substituted,
            reason,
            " > ".join(self.where),
        )
        (self.report.substituted if substituted else self.report.left_alone).append(entry)


# ---------------------------------------------------------------------------------------------
# Helpers on jaxprs


def _sub_jaxprs(eqn) -> list:
    """The jaxprs (open) inside an equation's parameters (cond's branches and
    custom_linear_solve's named tuple included)."""
    out = []
    for p in eqn.params.values():
        for q in p if isinstance(p, (tuple, list)) else (p,):
            if isinstance(q, jaxpr_.ClosedJaxpr):
                out.append(q.jaxpr)
            elif isinstance(q, jaxpr_.Jaxpr):
                out.append(q)
    return out


def _has_linalg(jaxpr) -> bool:
    return any(
        e.primitive.name in _LINALG_PRIMITIVES or any(_has_linalg(j) for j in _sub_jaxprs(e))
        for e in jaxpr.eqns
    )


def _linalg_eqns(jaxpr) -> Iterable:
    for e in jaxpr.eqns:
        if e.primitive.name in _LINALG_PRIMITIVES:
            yield e
        for j in _sub_jaxprs(e):
            yield from _linalg_eqns(j)


def _bind(eqn, invals):
    got = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(got, tuple):  # older JAX: (subfuns, params)
        subfuns, params = got
    else:
        subfuns, params = (), got
    out = eqn.primitive.bind(*subfuns, *invals, **params)
    return out if eqn.primitive.multiple_results else [out]


def _custom_name(eqn) -> str:
    for key in ("call_jaxpr", "fun_jaxpr"):
        j = eqn.params.get(key)
        info = getattr(getattr(j, "jaxpr", j), "debug_info", None)
        src = getattr(info, "func_src_info", None) or ""
        if src:
            return src.split(" ")[0]
    return str(eqn.params.get("name", "?"))


def _is_square_inexact(aval) -> bool:
    shape = getattr(aval, "shape", ())
    return len(shape) >= 2 and shape[-1] == shape[-2] and jnp.issubdtype(aval.dtype, jnp.inexact)


# ---------------------------------------------------------------------------------------------
# Substitutes. Each returns the list of outputs, or a string (the reason to leave it alone).


def _hermitian_from_triangle(x, lower: bool):
    # The matrix LAPACK reads: the stored triangle, mirrored (real diagonal for complex input).
    # Its derivative, tri(dx) + tri(dx, ∓1)ᴴ, is the derivative of what JAX computes; for the
    # symmetrized input jnp.linalg emits it equals dx.
    return hermitian_from_triangle(x, "L" if lower else "U")


def _sub_cholesky(eqn, invals):
    from ._factor.cholesky import cholesky

    (x,) = invals
    if eqn.params.get("symmetrize_input", False):
        return "unknown parameter symmetrize_input"
    # cholesky_p reads the lower triangle and lax.linalg.cholesky masks its output with tril:
    # matcalc's factor without symmetrization is that function of the lower triangle, with a
    # tangent read from the lower triangle too.
    return [cholesky(x, symmetrize_input=False)]


def _sub_eigh(eqn, invals):
    from ._factor.eigh import eigh

    (x,) = invals
    p = eqn.params
    if not p.get("sort_eigenvalues", True):
        return "sort_eigenvalues=False (matcalc sorts: the order would differ)"
    if p.get("subset_by_index") is not None:
        return "subset_by_index (a partial spectrum) is not supported by matcalc.eigh"
    w, v = eigh(_hermitian_from_triangle(x, bool(p.get("lower", True))))
    return [v, w]  # eigh_p's outputs are (vectors, values)


def _sub_triangular_solve(eqn, invals):
    from ._factor.solves import solve_triangular

    a, b = invals
    p = eqn.params
    left, lower = p["left_side"], p["lower"]
    tr, cj, unit = p["transpose_a"], p["conjugate_a"], p["unit_diagonal"]
    mT = functools.partial(jnp.swapaxes, axis1=-1, axis2=-2)
    if not left:
        # X op(A) = B  ⇔  op(A)ᵀ Xᵀ = Bᵀ; op(A)ᵀ is A for op = ᵀ, conj(A) for op = ᴴ, Aᴴ for
        # op = conj, Aᵀ for op = id.
        b = mT(b)
        tr = not tr
    if cj and not tr:  # conj(A) X = B  ⇔  A conj(X) = conj(B)
        x = jnp.conj(solve_triangular(a, jnp.conj(b), trans=0, lower=lower, unit_diagonal=unit))
    else:
        x = solve_triangular(a, b, trans=(2 if cj else 1) if tr else 0, lower=lower, unit_diagonal=unit)
    return [x if left else mT(x)]


def _sub_svd(eqn, invals):
    from ._factor.svd import svd, svdvals

    (x,) = invals
    p = eqn.params
    if p.get("subset_by_index") is not None:
        return "subset_by_index (a partial SVD) is not supported by matcalc.svd"
    if not p.get("compute_uv", True):
        return [svdvals(x)]
    u, s, vh = svd(x, full_matrices=bool(p.get("full_matrices", True)))
    return [s, u, vh]


def _sub_qr(eqn, invals):
    from ._factor.qr import qr

    (x,) = invals
    p = eqn.params
    if p.get("pivoting", False):
        return "pivoting=True (column-pivoted QR) is not supported by matcalc.qr"
    q, r = qr(x, mode="complete" if p.get("full_matrices", False) else "reduced")
    return [q, r]


def _sub_eig(eqn, invals):
    from ._factor.eig import eigvals

    p = eqn.params
    if p.get("compute_left_eigenvectors", False) or p.get("compute_right_eigenvectors", True):
        return ("eig", "eigenvectors: matcalc.eig normalizes them differently (the value would differ)")
    return [eigvals(invals[0])]


def _sub_schur(eqn, invals):
    from ._factor.schur import schur

    (x,) = invals
    p = eqn.params
    if p.get("sort_eig_vals", False) or p.get("select_callable") is not None:
        return "sorted Schur form (sort_eig_vals/select_callable) is not supported by matcalc.schur"
    t, z = schur(x, output="complex" if jnp.iscomplexobj(x) else "real")
    return [t, z] if p.get("compute_schur_vectors", True) else [t]


_PRIMITIVE_SUBS = {
    "cholesky": ("cholesky", _sub_cholesky),
    "eigh": ("eigh", _sub_eigh),
    "triangular_solve": ("solve_triangular", _sub_triangular_solve),
    "svd": ("svd", _sub_svd),
    "qr": ("qr", _sub_qr),
    "eig": ("eigvals", _sub_eig),
    "schur": ("schur", _sub_schur),
}


def _sub_named(op, eqn, invals):
    """A named jit wrapper of jnp.linalg / jax.scipy.linalg; checks the signature it needs."""
    from ._factor.hessenberg import hessenberg
    from ._factor.lu import lu
    from ._factor.solves import lu_factor
    from ._linalg import det, inv, slogdet, solve
    from ._matfun.expm import expm
    from ._matfun.sqrtm import sqrtm

    ins = [v.aval for v in eqn.invars]
    outs = [v.aval for v in eqn.outvars]
    body = {e.primitive.name for e in _linalg_eqns(eqn.params["jaxpr"].jaxpr)}
    if not ins or not _is_square_inexact(ins[0]):
        return "unrecognized signature (not a square floating-point matrix)"
    batch = ins[0].shape[:-2]
    if op == "det" and len(ins) == 1 and len(outs) == 1 and outs[0].shape == batch:
        return [det(invals[0])]
    if op == "slogdet" and len(ins) == 1 and len(outs) == 2 and body & {"lu", "qr", "geqrf"}:
        sign, logabsdet = slogdet(invals[0])
        return [sign, logabsdet]
    if op == "inv" and len(ins) == 1 and len(outs) == 1 and "lu" in body:
        return [inv(invals[0])]
    if op == "solve" and len(ins) == 2 and len(outs) == 1 and "lu" in body:
        return [solve(*invals)]
    if op == "expm" and len(ins) == 1 and len(outs) == 1 and "lu" in body:
        # (upper_triangular=True reads one triangle: a triangular solve instead of LU; not matched)
        return [expm(invals[0])]
    if op == "sqrtm" and len(ins) == 1 and len(outs) == 1 and "schur" in body:
        # JAX's value comes from the complex Schur form; method="schur" is the same algorithm
        # (identical value, complex output), with matcalc's derivative (Sylvester equation).
        return [sqrtm(invals[0], method="schur").astype(outs[0].dtype)]
    if op == "hessenberg" and len(ins) == 1 and len(outs) in (1, 2) and "hessenberg" in body:
        out = hessenberg(invals[0], calc_q=len(outs) == 2)
        return list(out) if len(outs) == 2 else [out]
    if op == "lu" and len(ins) == 1 and len(outs) in (2, 3) and "lu" in body:
        return list(lu(invals[0], permute_l=len(outs) == 2))  # (p, l, u) or (p l, u)
    if op == "lu_factor" and len(ins) == 1 and len(outs) == 2 and "lu" in body:
        return list(lu_factor(invals[0]))
    return f"unrecognized variant of jit[{eqn.params['name']}] (signature or body changed)"


def _check_outputs(eqn, outs):
    if len(outs) != len(eqn.outvars):
        return "the substitute's outputs do not match (count)"
    for o, v in zip(outs, eqn.outvars, strict=True):
        if tuple(jnp.shape(o)) != tuple(v.aval.shape) or jnp.result_type(o) != v.aval.dtype:
            return (
                f"the substitute's output {jnp.result_type(o)}{list(jnp.shape(o))} does not match "
                f"JAX's {v.aval}"
            )
    return None


# ---------------------------------------------------------------------------------------------
# The interpreter


def _eval_jaxpr(jaxpr, consts, args, ctx: _Context) -> list:
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, jaxpr_.Literal) else env[v]

    def write(v, val):
        if not isinstance(v, jaxpr_.DropVar):
            env[v] = val

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        write(v, c)
    for v, a in zip(jaxpr.invars, args, strict=True):
        write(v, a)
    for eqn in jaxpr.eqns:
        outs = _eval_eqn(eqn, [read(v) for v in eqn.invars], ctx)
        for v, o in zip(eqn.outvars, outs, strict=True):
            write(v, o)
    return [read(v) for v in jaxpr.outvars]


def _try_substitute(eqn, invals, ctx, op, source, fn) -> list | None:
    if op not in ctx.enabled:
        ctx.record(eqn, op, source, False, "not enabled (only=/exclude=)")
        return None
    outs = fn(eqn, invals)
    if isinstance(outs, tuple) and isinstance(outs[1], str):  # (the operation's own name, reason)
        ctx.record(eqn, outs[0], source, False, outs[1])
        return None
    if isinstance(outs, str):
        ctx.record(eqn, op, source, False, outs)
        return None
    bad = _check_outputs(eqn, outs)
    if bad:
        ctx.record(eqn, op, source, False, bad)
        return None
    ctx.record(eqn, op, source, True)
    return list(outs)


def _in(ctx, label, thunk):
    ctx.where.append(label)
    try:
        return thunk()
    finally:
        ctx.where.pop()


def _eval_eqn(eqn, invals, ctx: _Context) -> list:
    prim = eqn.primitive
    name = prim.name

    # (b) the lax.linalg primitives
    if name in _PRIMITIVE_SUBS:
        op, fn = _PRIMITIVE_SUBS[name]
        outs = _try_substitute(eqn, invals, ctx, op, f"primitive {name}", fn)
        return outs if outs is not None else _bind(eqn, invals)
    if name in _LINALG_PRIMITIVES:
        ctx.record(eqn, name, f"primitive {name}", False, _NO_SUBSTITUTE.get(name, "no matcalc substitute"))
        return _bind(eqn, invals)

    subs = _sub_jaxprs(eqn)
    if not subs or not any(_has_linalg(j) for j in subs):
        return _bind(eqn, invals)

    # (a) named jit wrappers, then any other jit: evaluated inline through the interpreter
    if prim is jaxpr_.jit_p or name in ("pjit", "jit", "closed_call", "core_call"):
        jname = str(eqn.params.get("name", ""))
        origin = jaxpr_.jax_origin(eqn, jname) if jname in _NAMED_WRAPPERS else None
        if origin == "":
            op = _NAMED_WRAPPERS[jname]
            outs = _try_substitute(eqn, invals, ctx, op, f"jit[{jname}]", functools.partial(_sub_named, op))
            if outs is not None:
                return outs
        elif origin and origin != "user":
            ctx.record(eqn, _NAMED_WRAPPERS[jname], f"jit[{jname}]", False, origin)
        body = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr")
        closed = body if isinstance(body, jaxpr_.ClosedJaxpr) else None
        jaxpr = closed.jaxpr if closed is not None else body
        consts = closed.consts if closed is not None else []
        return _in(ctx, f"jit[{jname}]" if jname else name, lambda: _eval_jaxpr(jaxpr, consts, invals, ctx))

    if prim is jaxpr_.scan_p:
        return _in(ctx, "scan", lambda: _eval_scan(eqn, invals, ctx))
    if prim is jaxpr_.while_p:
        return _in(ctx, "while", lambda: _eval_while(eqn, invals, ctx))
    if prim is jaxpr_.cond_p and eqn.params.get("branches_platforms") is None:
        return _in(ctx, "cond", lambda: _eval_cond(eqn, invals, ctx))
    if prim is jaxpr_.remat_p:
        return _in(ctx, "checkpoint", lambda: _eval_remat(eqn, invals, ctx))
    if prim in (jaxpr_.custom_jvp_call_p, jaxpr_.custom_vjp_call_p):
        return _eval_custom(eqn, invals, ctx)

    for j in subs:
        for e in _linalg_eqns(j):
            ctx.record(
                e,
                e.primitive.name,
                f"primitive {e.primitive.name}",
                False,
                f"inside {name}, which use_rules does not enter",
            )
    return _bind(eqn, invals)


def _closed_fn(closed, ctx):
    return lambda *a: _eval_jaxpr(closed.jaxpr, closed.consts, a, ctx)


def _eval_scan(eqn, invals, ctx):
    p = eqn.params
    nc, nk = p["num_consts"], p["num_carry"]
    consts, carry, xs = invals[:nc], list(invals[nc : nc + nk]), list(invals[nc + nk :])
    body = _closed_fn(p["jaxpr"], ctx)

    def step(c, x):
        out = body(*consts, *c, *x)
        return list(out[:nk]), list(out[nk:])

    carry, ys = lax.scan(step, carry, xs, length=p["length"], reverse=p["reverse"], unroll=p["unroll"])
    return [*carry, *ys]


def _eval_while(eqn, invals, ctx):
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = invals[:cn], invals[cn : cn + bn], list(invals[cn + bn :])
    cond, body = _closed_fn(p["cond_jaxpr"], ctx), _closed_fn(p["body_jaxpr"], ctx)
    return lax.while_loop(lambda c: cond(*cconsts, *c)[0], lambda c: list(body(*bconsts, *c)), init)


def _eval_cond(eqn, invals, ctx):
    index, ops = invals[0], invals[1:]
    branches = [_closed_fn(b, ctx) for b in eqn.params["branches"]]
    return list(lax.switch(index, [lambda *a, b=b: list(b(*a)) for b in branches], *ops))


def _eval_remat(eqn, invals, ctx):
    p = eqn.params
    jaxpr = p["jaxpr"]
    fn = jax.checkpoint(
        lambda *a: _eval_jaxpr(jaxpr, [], a, ctx), prevent_cse=p["prevent_cse"], policy=p["policy"]
    )
    return list(fn(*invals))


def _eval_custom(eqn, invals, ctx):
    """Custom rules: the caller's rule wins unless it only wraps one recognized operation."""
    cname = _custom_name(eqn)
    body = eqn.params.get("call_jaxpr") or eqn.params.get("fun_jaxpr")
    closed = body if isinstance(body, jaxpr_.ClosedJaxpr) else None
    inner = closed.jaxpr if closed is not None else body
    core = inner
    # strip jit wrappers around a single equation
    while core is not None and len(core.eqns) == 1 and core.eqns[0].primitive is jaxpr_.jit_p:
        core = core.eqns[0].params["jaxpr"].jaxpr
    only_wraps = (
        core is not None
        and len(core.eqns) == 1
        and core.eqns[0].primitive.name in _PRIMITIVE_SUBS
        and eqn.params.get("num_consts", 0) == 0
        and not (closed and closed.consts)
    )
    kind = eqn.primitive.name
    if only_wraps:
        return _in(
            ctx, f"{kind}[{cname}]", lambda: _eval_jaxpr(inner, closed.consts if closed else [], invals, ctx)
        )
    for e in _linalg_eqns(inner):
        ctx.record(
            e,
            e.primitive.name,
            f"primitive {e.primitive.name}",
            False,
            f"inside the custom rule {kind}[{cname}], which wins",
        )
    return _bind(eqn, invals)


# ---------------------------------------------------------------------------------------------
# Public entry points


def _enabled(only, exclude) -> frozenset[str]:
    def names(arg, label):
        if arg is None:
            return None
        got = {arg} if isinstance(arg, str) else set(arg)
        unknown = sorted(n for n in got if n not in OPERATIONS)
        if unknown:
            raise ValueError(
                f"use_rules: unknown operation(s) {unknown} in {label}=; known: {', '.join(OPERATIONS)}"
            )
        return got

    on = names(only, "only")
    off = names(exclude, "exclude") or set()
    return frozenset((set(OPERATIONS) if on is None else on) - off)


def _is_dynamic(leaf) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def _run(f, enabled, report, args, kwargs):
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    dyn = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf)]
    out_tree = []

    def flat(*dyn_vals):
        ls = list(leaves)
        for i, v in zip(dyn, dyn_vals, strict=True):
            ls[i] = v
        a, k = jax.tree_util.tree_unflatten(treedef, ls)
        out_leaves, tree = jax.tree_util.tree_flatten(f(*a, **k))
        out_tree.append(tree)
        return out_leaves

    dyn_vals = [leaves[i] for i in dyn]
    # Tracing errors are JAX's own: make_jaxpr runs outside the interpreter.
    closed = jax.make_jaxpr(flat)(*dyn_vals)
    ctx = _Context(enabled, report)
    outs = _eval_jaxpr(closed.jaxpr, closed.consts, dyn_vals, ctx)
    return jax.tree_util.tree_unflatten(out_tree[-1], outs)


def use_rules(
    f: Callable, *, only: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None
) -> Callable:
    """Run ``f`` with matcalc's derivative rules in place of JAX's linear algebra.

    Returns a function with ``f``'s signature (pytrees in and out, keyword arguments) computing
    what ``f`` computes, except that the linear-algebra operations JAX emits inside it are
    evaluated by matcalc's functions, so their derivatives are matcalc's hand-derived rules. ``f``
    need not import matcalc: a library written against ``jax.numpy.linalg`` /
    ``jax.scipy.linalg`` / ``jax.lax.linalg`` gets, e.g., exact gradients of eigenspace projectors
    at repeated eigenvalues, the adjugate gradient of ``det`` at a singular matrix, and a
    derivative for ``jax.scipy.linalg.sqrtm``.

    How: at each call ``f`` is traced with ``jax.make_jaxpr`` on its array arguments (JAX arrays,
    NumPy arrays and scalars; every other leaf, Python numbers included, is static and closed
    over), and the jaxpr is evaluated by an interpreter that substitutes, equation by equation:

    - named ``jit`` wrappers of ``jax.numpy.linalg`` / ``jax.scipy.linalg`` (recognized by name,
      then by signature: square floating-point matrix input, output count and shapes, and the
      primitive inside): ``det`` → ``matcalc.det``, ``slogdet`` → ``matcalc.slogdet``, ``inv``
      → ``matcalc.inv``, ``solve`` → ``matcalc.solve`` (also reached by ``jax.scipy.linalg.solve``
      and ``inv``), ``expm`` → ``matcalc.expm``, ``_sqrtm`` → ``matcalc.sqrtm(method="schur")``
      (JAX's own Schur algorithm for the value, complex output as JAX), ``hessenberg`` →
      ``matcalc.hessenberg``, ``lu`` (``jax.scipy.linalg.lu``) → ``matcalc.lu``, ``lu_factor``
      → ``matcalc.lu_factor``;
    - the ``lax.linalg`` primitives, wherever they occur (so ``jnp.linalg.cholesky``, ``eigh``,
      ``eigvalsh``, ``eigvals``, ``svd``, ``norm(·, 2)``, ``matrix_rank``, ``qr``,
      ``jax.scipy.linalg.cholesky``, ``eigh``, ``schur``, ``solve_triangular``, ``cho_solve``
      and direct ``jax.lax.linalg`` calls): ``cholesky_p`` → ``matcalc.cholesky`` and ``eigh_p``
      → ``matcalc.eigh`` (on the Hermitian matrix LAPACK reads: the stored triangle mirrored),
      ``triangular_solve_p`` → ``matcalc.solve_triangular`` (all ``left_side`` /
      ``transpose_a`` / ``conjugate_a`` variants), ``svd_p`` → ``matcalc.svd`` / ``svdvals``,
      ``qr_p`` → ``matcalc.qr``, ``eig_p`` without eigenvectors → ``matcalc.eigvals``,
      ``schur_p`` → ``matcalc.schur``.

    Left to JAX silently: constructs with no linear-algebra primitive inside, among them
    ``jnp.linalg.det`` of a 2×2 or 3×3 matrix (a closed-form polynomial, whose derivative is exact).
    Left to JAX, and listed by ``rules_report`` with the reason: ``eigh`` with
    ``sort_eigenvalues=False`` or ``subset_by_index``, ``svd`` with ``subset_by_index``,
    pivoted ``qr``, ``eig`` with eigenvectors (``matcalc.eig`` normalizes them differently),
    sorted ``schur``, the packed ``lu_p`` (``jax.lax.linalg.lu``; its wrappers are recognized),
    ``custom_linear_solve`` (an implicit-function rule already), ``householder_product``,
    ``tridiagonal`` and the other ``lax.linalg`` primitives with no matcalc substitute; a
    wrapper whose signature or body does not match what is expected (a later JAX's variant) is
    not substituted but entered, and reported; a substitute whose output shape or dtype differs
    from JAX's is discarded (and reported).

    Recursion: the interpreter enters ``jit`` bodies (inlined), ``scan``, ``while_loop``,
    ``cond``/``switch`` (rebuilt with ``lax.scan``/``lax.while_loop``/``lax.switch`` on the
    interpreted bodies) and ``checkpoint``/``remat``; constructs with no linear algebra inside
    are left as they are. Custom rules: a ``custom_jvp``/``custom_vjp`` function written by the
    caller's code wins (it is kept, with its own derivative, and the linear algebra inside it is
    reported as left alone), except when its body is exactly one recognized ``lax.linalg``
    primitive (a rule that only wraps the operation), which is substituted. JAX's own custom
    rules (``det``, ``slogdet``, ``solve``) sit inside the named wrappers, replaced as a whole;
    ``jnp.linalg.pinv``'s custom rule is kept (its ``rtol`` is not readable from the program).

    Derivative:
      The derivatives are those of the substituted matcalc functions (see each one's
      ``Derivative:`` section); everything else is differentiated by JAX as usual. The values
      are JAX's up to rounding: the factorizations call the same LAPACK routines (same
      eigenvector and singular-vector gauge), ``sqrtm`` uses the same Schur algorithm. Two
      differences: where JAX's ``expm`` returns NaN because it would need more than
      ``max_squarings`` squarings, ``matcalc.expm`` returns the exponential; and where the
      matrix reaches ``cholesky_p``/``eigh_p`` without symmetrization
      (``jax.scipy.linalg.cholesky``, ``lax.linalg.cholesky``/``eigh`` with
      ``symmetrize_input=False``), the derivative is that of the function JAX computes, which
      reads one triangle (the gradient is zero outside it), where JAX's rule assumes a Hermitian
      tangent: directional derivatives along Hermitian directions agree, gradients differ.
      Reference: the rules' own references.

    Limits: the interpreted program is compiled with ``jax.jit``, cached per argument structure
    and static values (as ``jax.jit`` would, so ``f``'s Python side effects happen at tracing
    only; with unhashable static leaves it is traced and interpreted at every call); tracing
    errors are JAX's own; outputs must be arrays; ``vmap``, ``grad``, ``jvp``, ``jit`` compose
    from outside and inside, and ``use_rules`` composes with itself. ``pmap``/``shard_map``
    bodies and callbacks are not entered.

    Args:
      f: the function; any pytrees of arrays in and out, keyword arguments allowed.
      only: the operations to substitute (default: all of ``OPERATIONS``: cholesky, det, eigh,
        eigvals, expm, hessenberg, inv, lu, lu_factor, qr, schur, slogdet, solve,
        solve_triangular, sqrtm, svd).
      exclude: operations not to substitute.

    Returns:
      The transformed function, with ``f``'s signature.

    Raises:
      ValueError: an unknown operation name in ``only``/``exclude`` (the message lists the known
        ones).

    Examples:
      >>> def f(A):  # tr exp(A) through an eigendecomposition, written against jax.numpy only
      ...     w, v = jnp.linalg.eigh(A)
      ...     return jnp.trace(v @ jnp.diag(jnp.exp(w)) @ v.T)
      >>> A = jnp.eye(2)  # a repeated eigenvalue
      >>> bool(np.isnan(jax.grad(f)(A)).any())
      True
      >>> print(np.round(jax.grad(matcalc.use_rules(f))(A), 6))  # ∇ tr exp(A) = exp(A)ᵀ = e I
      [[2.718282 0.      ]
       [0.       2.718282]]
    """
    enabled = _enabled(only, exclude)
    compiled: dict = {}  # (argument structure, static leaves) -> (jitted flat function, output tree)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        dyn = tuple(i for i, leaf in enumerate(leaves) if _is_dynamic(leaf))
        static = tuple((i, type(leaves[i]), leaves[i]) for i in range(len(leaves)) if i not in dyn)
        key = (treedef, dyn, static)
        try:
            hash(key)
        except TypeError:  # unhashable static leaves: trace and interpret at every call
            return _run(f, enabled, None, args, kwargs)
        if key not in compiled:
            out_tree: list = []

            def flat(*dyn_vals):
                ls = list(leaves)
                for i, v in zip(dyn, dyn_vals, strict=True):
                    ls[i] = v
                a, k = jax.tree_util.tree_unflatten(treedef, ls)
                out_leaves, tree = jax.tree_util.tree_flatten(_run(f, enabled, None, a, k))
                out_tree[:] = [tree]
                return out_leaves

            if len(compiled) >= 64:
                compiled.pop(next(iter(compiled)))
            compiled[key] = (jax.jit(flat), out_tree)
        fn, out_tree = compiled[key]
        outs = fn(*[leaves[i] for i in dyn])
        return jax.tree_util.tree_unflatten(out_tree[0], outs)

    wrapped._matcalc_use_rules = (f, enabled)  # read by rules_report
    return wrapped


def rules_report(f: Callable, *args: Any, **kwargs: Any) -> RulesReport:
    """The linear-algebra operations ``use_rules`` substitutes in ``f(*args, **kwargs)``,
    with input shapes, and those it leaves to JAX, with the reason.

    ``f`` is a plain function (all operations enabled) or one returned by ``use_rules`` (its
    ``only``/``exclude`` apply). Nothing is computed: the interpreter runs under
    ``jax.make_jaxpr``. ``str(report)`` pretty-prints it.

    Derivative:
      None: a diagnostic, not differentiable.

    Args:
      f: the function.
      *args: its positional arguments (arrays or ``jax.ShapeDtypeStruct``).
      **kwargs: its keyword arguments.

    Returns:
      A ``RulesReport`` (``.substituted``, ``.left_alone``, ``.operations``).
    """
    base, enabled = getattr(f, "_matcalc_use_rules", (f, frozenset(OPERATIONS)))
    report = RulesReport()
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    dyn = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf) or isinstance(leaf, jax.ShapeDtypeStruct)]

    def run(*vals):
        ls = list(leaves)
        for i, v in zip(dyn, vals, strict=True):
            ls[i] = v
        a, k = jax.tree_util.tree_unflatten(treedef, ls)
        return _run(base, enabled, report, a, k)

    jax.make_jaxpr(run)(*[leaves[i] for i in dyn])
    return report
