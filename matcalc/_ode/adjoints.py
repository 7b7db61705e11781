"""The derivative rules of ``matcalc.ode.odeint`` on flat states.

Notation. ``y' = f(y, t, θ)`` on ``[t_0, t_N]``, ``y(t_0) = y0``, outputs ``y_i = y(t_i)``, a loss
``L(y_0, ..., y_N)`` with cotangents ``ȳ_i = ∂L/∂y_i``. ``f`` is the flat vector field
``vf(y, t, θ, nd)`` (``θ`` the flat differentiable arguments, ``nd`` the integer ones).

Continuous adjoint (Pontryagin; Chen et al. 2018). The adjoint ``a(t) = ∂L/∂y(t)`` solves

    a' = -aᵀ ∂f/∂y   between output times,    a(t_i⁻) = a(t_i⁺) + ȳ_i   at each output time,

from ``a(t_N) = ȳ_N`` backwards. Then

    ȳ0 = a(t_0⁻) = a(t_0⁺) + ȳ_0,        θ̄ = ∫_{t_0}^{t_N} aᵀ ∂f/∂θ dt,
    t̄_i = ȳ_iᵀ f(y_i, t_i)   (i ≥ 1: moving an output time moves along the solution),
    t̄_0 = -a(t_0⁺)ᵀ f(y_0, t_0)   (moving the start shifts the whole solution:
                                   ∂y(t)/∂t_0 = -Φ(t, t_0) f(y_0, t_0)).

(``d/dt (aᵀf) = aᵀ ∂f/∂t``, so the last formula equals JAX's accumulated ``-Σ t̄_i - ∫ aᵀ∂f/∂t``.)
Backward passes integrate in ``s = -t``: ``da/ds = aᵀ ∂f/∂y`` (one VJP of ``f`` per stage).

The adjoints differ in where ``y(t)`` comes from and how ``θ̄`` is integrated:

* backsolve: ``y`` is re-solved backwards with ``a`` and ``θ̄`` as one augmented ODE
  ``d(y, a, θ̄)/ds = (-f, aᵀ f_y, aᵀ f_θ)``; only ``(y, a)`` enter the error norm (seminorm). O(1)
  memory; wrong when the backward ``y``-equation is unstable (dissipative/stiff problems).
* interpolated: the forward solution is stored at checkpoints; it is re-solved forward with dense
  output from a stored state over as many segments as the record holds, and ``(a, θ̄)`` solved
  backwards against that interpolant, with ``θ̄`` in the error norm (``y`` is not a backward
  state, so only ``θ̄`` sees fast transients of ``y``).
* quadrature: as interpolated, but the backward ODE is ``a`` alone and ``θ̄`` is a 3-point
  Gauss–Legendre quadrature of ``aᵀ f_θ`` over every accepted backward step, using the dense
  outputs of both solves.
* checkpointed: not a continuous adjoint but the discrete adjoint of the solver's accepted steps
  (``checkpointed.py``): the forward pass stores the step-size controller's state at some steps,
  the backward pass replays the segments between them and applies ``jax.vjp`` of one step; exact
  for the computed solution.
* forward: forward sensitivities ``ẏ' = f_y ẏ + f_θ θ̇``, ``ẏ(t_0) = ẏ0 - f(y_0,t_0) ṫ_0``, output
  tangents ``ẏ_i + f(y_i, t_i) ṫ_i``, integrated with ``y`` (tangents outside the error norm, so
  the tangent map is exactly linear: the derivative of the discrete solution at frozen steps).

Second order. In a reverse-mode rule the forward solve (``_solution``) and the backward pass
(``_backward_pass``) are primitives: forward mode through them runs JAX's forward mode through the
solves (step sequences held fixed by ``stop_gradient`` in the step control); their tangent maps
are linear primitives whose transposes are, respectively, the backward pass and the same rule's
reverse mode on the sensitivity system, so reverse over reverse never transposes a loop.
States and arguments here are real: ``odeint`` carries a complex leaf as the pair ``(Re, Im)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.primitives import (
    define_primitive,
    forward_only,
    instantiate,
    is_zero,
    shaped_array,
    zero_tangent_of,
)
from .checkpointed import discrete_adjoint, recursive_sizes
from .checkpointed import sizes as checkpointed_sizes
from .integrate import lookup, solve

# 3-point Gauss–Legendre on [0, 1] (exact for degree 5)
_GL_X = np.array([0.5 - np.sqrt(15) / 10, 0.5, 0.5 + np.sqrt(15) / 10])
_GL_W = np.array([5 / 18, 8 / 18, 5 / 18])


@dataclasses.dataclass(frozen=True)
class Options:
    solver: Any
    rtol: float
    atol: float
    max_steps: Any
    hmax: Any
    land: bool
    checkpoints: int
    segment_steps: int
    m: int | None = None  # error-norm prefix of the state (forward mode's nested systems)
    # ("checkpointed") steps S, stored states C, segment K, branching b (0: the two-level schedule)
    trace: tuple[int, int, int, int] = (0, 0, 0, 0)


def _solve(vf, opts: Options, y0, ts, args, **kw):
    kw.setdefault("m", opts.m)
    return solve(
        vf,
        y0,
        ts,
        args,
        solver=opts.solver,
        rtol=opts.rtol,
        atol=opts.atol,
        max_steps=opts.max_steps,
        hmax=opts.hmax,
        land=opts.land,
        **kw,
    )


def _primal(vf, opts, y0, ts, theta, nd):
    f = lambda y, t, a: vf(y, t, *a)
    return _solve(vf=f, opts=opts, y0=y0, ts=ts, args=(theta, nd))[0]


def _nd_zeros(nd):
    return tuple(np.zeros(np.shape(x), jax.dtypes.float0) for x in nd)


def _time_cotangents(vf, ys, ts, theta, nd, g, a0_plus):
    """``t̄_i = ȳ_iᵀ f(y_i, t_i)`` for ``i ≥ 1`` and ``t̄_0 = -a(t_0⁺)ᵀ f(y_0, t_0)``."""
    fs = jax.vmap(lambda y, t: vf(y, t, theta, nd))(ys, ts)
    tbar = jnp.sum(g * fs, axis=-1)
    return tbar.at[0].set(-jnp.dot(a0_plus, fs[0]))


# --------------------------------------------------------------------------------------------
# second order: the backward pass as a primitive with its own derivative rules
#
# A backward pass maps (x, ȳ) ↦ B(x, ȳ) = J(x)ᵀ ȳ, x = (y0, ts, θ), J the Jacobian of the outputs.
# Its derivative is  dB = ∂ₓB[dx] + J(x)ᵀ dȳ;  forward mode evaluates it by JAX's forward mode
# through the backward solves (step sequences held fixed). Its transpose, for reverse over reverse,
# follows from ⟨c, J(x)ᵀ ȳ⟩ = ⟨ȳ, J(x) c⟩:
#     dȳ-part:  J(x) c                    (forward sensitivities along c),
#     dx-part:  ∇ₓ ⟨ȳ, J(x) c⟩            (the same rule's reverse mode on the sensitivity system
#                                          u = (y, ẏ), u' = (f, f_y ẏ + f_θ c_θ)).


class _Spec:
    """Static parameters of a backward pass: its functions on the flat operand list
    ``[y0, ts, θ, ȳ, *nd, *residuals]`` (compared by identity)."""

    def __init__(self, bwd, lin, lin_t, avals=None):
        self.bwd, self.lin, self.lin_t, self.avals = bwd, lin, lin_t, avals

    def batched(self, size):
        v = lambda f: jax.vmap(f)
        avals = None if self.avals is None else [shaped_array((size, *a.shape), a.dtype) for a in self.avals]
        return _Spec(v(self.bwd), v(self.lin), v(self.lin_t), avals)


def _out_avals(*ops, **_):
    return [shaped_array(x.shape, x.dtype) for x in ops[:3]]


def _instantiate(t, x):
    return jnp.zeros(jnp.shape(x), jnp.result_type(x)) if is_zero(t) else t


def _third_order(*_, **__):
    raise TypeError(
        "matcalc.ode.odeint: forward mode over forward mode over a reverse-mode adjoint (e.g. "
        "jax.jacfwd(jax.hessian(f)), jvp of jvp of grad) is not supported. Take the outer "
        "derivatives in reverse mode (e.g. jax.grad(jax.grad(jax.grad(f))) or "
        "jax.jacrev(jax.hessian(f))), or use adjoint='forward' (forward mode to any order)."
    )


def _batch_rule(get_prim):
    def rule(args, dims, *, spec):
        size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
        args = [
            jnp.broadcast_to(a, (size, *jnp.shape(a))) if d is None else jnp.moveaxis(a, d, 0)
            for a, d in zip(args, dims, strict=True)
        ]
        out = get_prim().bind(*args, spec=spec.batched(size))
        return out, [0] * len(out)

    return rule


def _bwd_jvp(primals, tangents, *, spec):
    out = _bwd_p.bind(*primals, spec=spec)
    tans = [_instantiate(t, x) for t, x in zip(tangents[:4], primals[:4], strict=True)]
    return out, _bwd_lin_p.bind(*primals, *tans, spec=spec)


def _bwd_lin_transpose(cts, *ops, spec):
    n_lin = 4
    prim = ops[: len(ops) - n_lin]
    cts = [_instantiate(c, x) for c, x in zip(cts, prim[:3], strict=True)]
    return [None] * len(prim) + list(spec.lin_t(*prim, *cts))


# B(x, ȳ) = J(x)ᵀ ȳ: forward mode through its derivative primitive
_bwd_p = define_primitive(
    "matcalc_ode_backward_pass",
    impl=lambda *ops, spec: spec.bwd(*ops),
    abstract_eval=_out_avals,
    jvp=_bwd_jvp,
    batch=_batch_rule(lambda: _bwd_p),
    multiple_results=True,
)
# dB = ∂ₓB[dx] + J(x)ᵀ dȳ: linear in the tangents, transposed by the sensitivity system
_bwd_lin_p = define_primitive(
    "matcalc_ode_backward_pass_derivative",
    impl=lambda *ops, spec: spec.lin(*ops),
    abstract_eval=_out_avals,
    jvp=_third_order,
    transpose=_bwd_lin_transpose,
    batch=_batch_rule(lambda: _bwd_lin_p),
    multiple_results=True,
)


def _sol_jvp(primals, tangents, *, spec):
    out = _sol_p.bind(*primals, spec=spec)
    tans = [_instantiate(t, x) for t, x in zip(tangents[:3], primals[:3], strict=True)]
    (dys,) = _sol_lin_p.bind(*primals, *tans, spec=spec)
    # the residual outputs carry no derivative: the backward pass rebuilds their dependence on x
    return out, [dys, *(zero_tangent_of(o) for o in out[1:])]


def _sol_lin_transpose(cts, *ops, spec):
    prim = ops[: len(ops) - 3]
    (ct,) = cts
    ct = instantiate(ct, None)
    return [None] * len(prim) + list(spec.lin_t(*prim, ct))


# the solution and its residuals, (ys, res) = forward(x)
_sol_p = define_primitive(
    "matcalc_ode_solution",
    impl=lambda *ops, spec: spec.bwd(*ops),
    abstract_eval=lambda *ops, spec: spec.avals,
    jvp=_sol_jvp,
    batch=_batch_rule(lambda: _sol_p),
    multiple_results=True,
)
# its tangent map dx ↦ J(x) dx, transposed by the backward pass
_sol_lin_p = define_primitive(
    "matcalc_ode_solution_derivative",
    impl=lambda *ops, spec: spec.lin(*ops),
    abstract_eval=lambda *ops, spec: spec.avals[:1],
    jvp=_third_order,
    transpose=_sol_lin_transpose,
    batch=_batch_rule(lambda: _sol_lin_p),
    multiple_results=True,
)


def _solution(rule, vf, opts, forward_fn, math, y0, ts, theta, nd):
    """``(ys, res) = forward_fn(x, nd)`` as a primitive for the forward pass of a ``custom_vjp``
    rule, so that a derivative of the backward pass can differentiate it in either mode: its
    tangent map ``dx ↦ J(x) dx`` (forward mode at fixed steps) is a linear primitive whose
    transpose is the backward pass ``math`` (itself a primitive, see ``_backward_pass``). The
    residuals ``res`` carry no derivative."""
    nn = len(nd)
    shapes = jax.eval_shape(lambda: forward_fn((y0, ts, theta), nd))
    res_def = jax.tree.structure(shapes[1])
    avals = [shaped_array(a.shape, a.dtype) for a in jax.tree.leaves(shapes)]

    def split(ops):
        return tuple(ops[:3]), tuple(ops[3 : 3 + nn])

    def sol(*ops):
        x, nd_ = split(ops)
        ys, res = forward_fn(x, nd_)
        return [ys, *jax.tree.leaves(res)]

    def lin(*ops):
        ops, tans = ops[:-3], ops[-3:]
        x, nd_ = split(ops)
        return [jax.jvp(lambda *x_: forward_fn(x_, nd_)[0], x, tuple(tans))[1]]

    def lin_t(*ops):
        ops, ct = ops[:-1], ops[-1]
        x, nd_ = split(ops)
        recompute = lambda x_, n_: forward_fn(x_, n_)[1]
        return _backward_pass(rule, vf, opts, math, recompute, *x, ct, nd_, recompute(x, nd_))

    out = _sol_p.bind(y0, ts, theta, *nd, spec=_Spec(sol, lin, lin_t, avals))
    return out[0], jax.tree.unflatten(res_def, out[1:])


def _tangent_solution(rule, vf, opts, x, nd, c):
    """``J(x) c``: output tangents of the solution along ``c = (ẏ0, ṫ, θ̇)`` (forward
    sensitivities, as in ``_forward_jvp``), solved by ``rule`` so that it has a reverse mode."""
    y0, ts, theta = x
    dy0, dts, dth = c
    n, p = y0.shape[0], theta.shape[0]

    def aug(u, t, th2, nd_):
        fy, dfy = jax.jvp(lambda y_, th_: vf(y_, t, th_, nd_), (u[:n], th2[:p]), (u[n:], th2[p:]))
        return jnp.concatenate([fy, dfy])

    f0 = vf(y0, ts[0], theta, nd)
    u0 = jnp.concatenate([y0, dy0 - f0 * dts[0]])
    aug_opts = dataclasses.replace(opts, m=n if opts.m is None else opts.m)
    us = rule(aug, aug_opts, u0, ts, jnp.concatenate([theta, dth]), nd)
    fs = jax.vmap(lambda y, t: vf(y, t, theta, nd))(us[:, :n], ts)
    return us[:, n:] + fs * dts[:, None]


def _backward_pass(rule, vf, opts, math, recompute, y0, ts, theta, g, nd, res):  # noqa: PLR0913
    """``(ȳ0, t̄, θ̄) = math(x, ȳ, nd, res)`` as a primitive: differentiable in forward mode
    (forward over reverse) and in reverse mode (reverse over reverse), see above.

    ``recompute(x, nd)`` rebuilds the residuals ``res`` from ``x = (y0, ts, θ)``.
    """
    nn = len(nd)
    leaves, res_def = jax.tree.flatten(res)

    def split(ops):
        x, g_ = tuple(ops[:3]), ops[3]
        nd_ = tuple(ops[4 : 4 + nn])
        return x, g_, nd_, ops[4 + nn :]

    def cast(outs, x):
        return [o.astype(xi.dtype) for o, xi in zip(outs, x, strict=True)]

    def bwd(*ops):
        x, g_, nd_, rl = split(ops)
        return cast(math(x, g_, nd_, jax.tree.unflatten(res_def, rl)), x)

    def lin(*ops):
        ops, tans = ops[:-4], ops[-4:]
        x, g_, nd_, _ = split(ops)

        def full(y0_, ts_, th_, g2):
            x_ = (y0_, ts_, th_)
            return cast(math(x_, g2, nd_, recompute(x_, nd_)), x_)

        return jax.jvp(full, (*x, g_), tuple(tans))[1]

    def lin_t(*ops):
        ops, c = ops[:-3], tuple(ops[-3:])
        x, g_, nd_, _ = split(ops)
        jc, pull = jax.vjp(lambda *x_: _tangent_solution(rule, vf, opts, x_, nd_, c), *x)
        return (*pull(g_.astype(jc.dtype)), jc.astype(g_.dtype))

    return _bwd_p.bind(y0, ts, theta, g, *nd, *leaves, spec=_Spec(bwd, lin, lin_t))


# --------------------------------------------------------------------------------------------
# backsolve


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def backsolve(vf, opts, y0, ts, theta, nd):
    return _primal(vf, opts, y0, ts, theta, nd)


def _backsolve_fwd(vf, opts, y0, ts, theta, nd):
    forward_fn = lambda x, nd_: (lambda ys: (ys, ys))(_primal(vf, opts, *x, nd_))
    math = functools.partial(_backsolve_math, vf, opts)
    ys, res = _solution(backsolve, vf, opts, forward_fn, math, y0, ts, theta, nd)
    return ys, (y0, res, ts, theta, nd)


def _backsolve_bwd(vf, opts, res, g):
    y0, ys, ts, theta, nd = res
    math = functools.partial(_backsolve_math, vf, opts)
    recompute = lambda x, nd_: _primal(vf, opts, *x, nd_)
    out = _backward_pass(backsolve, vf, opts, math, recompute, y0, ts, theta, g, nd, ys)
    return (*out, _nd_zeros(nd))


def _backsolve_math(vf, opts, x, g, nd, ys):
    _, ts, theta = x
    n, p = ys.shape[1], theta.shape[0]

    # d(y, a, θ̄)/ds = (-f, aᵀ f_y, aᵀ f_θ) at t = -s; the seminorm covers (y, a) only
    def aug(z, s, args):
        th, nd_ = args
        y, a = z[:n], z[n : 2 * n]
        fy, vjp = jax.vjp(lambda y_, th_: vf(y_, -s, th_, nd_), y, th)
        ay, ath = vjp(a)
        return jnp.concatenate([-fy, ay, ath])

    def segment(carry, i):
        # the step size passes from one output interval to the next (no fresh start)
        a, thbar, h = carry
        z0 = jnp.concatenate([ys[i], a, jnp.zeros((p,), ys.dtype)])
        span = jnp.stack([-ts[i], -ts[i - 1]])
        zs, _, _, h = _solve(aug, opts, z0, span, (theta, nd), m=2 * n, h_init=h, return_h=True)
        z1 = zs[-1]
        return (z1[n : 2 * n] + g[i - 1], thbar + z1[2 * n :], h), None

    init = (g[-1], jnp.zeros((p,), ys.dtype), jnp.asarray(jnp.nan, ys.dtype))
    (y0bar, thbar, _), _ = lax.scan(segment, init, jnp.arange(ys.shape[0] - 1, 0, -1))
    tbar = _time_cotangents(vf, ys, ts, theta, nd, g, y0bar - g[0])
    return y0bar, tbar, thbar


backsolve.defvjp(_backsolve_fwd, _backsolve_bwd)


# --------------------------------------------------------------------------------------------
# interpolated and quadrature: checkpoints, segment re-solves with dense output


def _define_replay_vjp(rule, forward_fn, bwd_math):
    """The reverse-mode rule of an adjoint whose forward pass keeps what
    ``forward_fn(vf, opts, (y0, ts, θ), nd) -> (ys, rest)`` returns and whose backward pass runs
    ``bwd_math(vf, opts, x, g, nd, rest)`` through ``_backward_pass`` (which replays ``forward_fn``
    where it needs ``rest`` again)."""

    def fwd(vf, opts, y0, ts, theta, nd):
        math = functools.partial(bwd_math, vf, opts)
        ys, rest = _solution(rule, vf, opts, functools.partial(forward_fn, vf, opts), math, y0, ts, theta, nd)
        return ys, (y0, ts, theta, nd, rest)

    def bwd(vf, opts, res, g):
        y0, ts, theta, nd, rest = res
        recompute = lambda x, nd_: forward_fn(vf, opts, x, nd_)[1]
        math = functools.partial(bwd_math, vf, opts)
        out = _backward_pass(rule, vf, opts, math, recompute, y0, ts, theta, g, nd, rest)
        return (*out, _nd_zeros(nd))

    rule.defvjp(fwd, bwd)


def _checkpointed_forward(vf, opts, y0, ts, theta, nd):
    """Solve on ``ts`` merged with ``checkpoints`` evenly spaced interior times; also the step
    attempts the solve made up to each time of the merged grid."""
    k = opts.checkpoints
    extra = jnp.linspace(ts[0], ts[-1], k + 2)[1:-1] if k > 0 else ts[:0]
    if k > 0:
        # an output time within half a spacing serves as the checkpoint (a zero-length segment
        # beside it): no extra segment boundary where the outputs are dense already
        nearest = ts[jnp.argmin(jnp.abs(ts[None, :] - extra[:, None]), axis=1)]
        extra = jnp.where(jnp.abs(nearest - extra) <= (ts[-1] - ts[0]) / (2 * (k + 1)), nearest, extra)
    grid = jnp.concatenate([ts, extra])
    perm = jnp.argsort(grid, stable=True)
    tgrid = grid[perm]
    idx = jnp.argsort(perm, stable=True)[: ts.shape[0]]
    f = lambda y, t, a: vf(y, t, *a)
    ygrid, _, _, attempts = _solve(f, opts, y0, tgrid, (theta, nd), return_attempts=True)
    # step attempts from t_0 to each grid time: the backward pass plans its re-solves with them
    reach = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(attempts, dtype=jnp.int32)])
    return ygrid[idx], (ygrid, tgrid, idx, reach)


def _segment_records(f, opts, theta, nd, ygrid, tgrid, reach):
    """``cover(j, h, failed) -> (start, ok, record, h, failed)``: a dense-output record of the
    forward solution over ``[t_start, t_j]`` of the checkpoint grid, ``start < j``.

    One forward re-solve serves as many segments as its record is expected to hold: it starts
    from the earliest stored grid state from which the forward pass reached ``t_j`` in at most
    half the record's steps (``reach``: the forward pass's step attempts up to each grid time, an
    upper bound of its accepted steps; the half leaves room for a re-solve that starts with
    another step size), or from ``t_{j-1}`` if even that segment took more. If its steps overflow
    the record anyway, the segment alone is re-solved from its own start, and so are the other
    segments of that run (``failed`` remembers its start); ``ok`` false: that failed too.
    """
    budget = opts.segment_steps // 2

    def run_start(j):
        # the earliest grid index a <= j - 1 with reach[j] - reach[a] <= budget
        a = jnp.searchsorted(reach, reach[j] - budget, side="left").astype(jnp.int32)
        return jnp.minimum(a, j - 1)

    def resolve(start, t_hi, h):
        yrep, buf, _, h = _solve(
            f,
            opts,
            ygrid[start],
            jnp.stack([tgrid[start], t_hi]),
            (theta, nd),
            record=opts.segment_steps,
            h_init=h,
            return_h=True,
        )
        return jnp.all(jnp.isfinite(yrep[-1])), buf, h

    buf0 = jax.eval_shape(lambda: resolve(0, tgrid[-1], jnp.nan)[1])
    buf0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), buf0)

    def cover(j, h, failed):
        # ``failed``: a run start whose run overflowed once; its other segments go one by one
        def attempt(c):
            start, _, _, h, _, failed = c
            ok, buf, h = resolve(start, tgrid[j], h)
            retry = ~ok & (start < j - 1)
            failed = jnp.where(retry, start, failed)
            return jnp.where(retry, j - 1, start), ok, buf, h, ~retry, failed

        start = run_start(j)
        start = jnp.where(start == failed, j - 1, start)
        c = (start, jnp.zeros((), bool), buf0, h, jnp.zeros((), bool), failed)
        start, ok, buf, h, _, failed = lax.while_loop(lambda c: ~c[4], attempt, c)
        return start, ok, buf, h, failed

    return cover


def _make_checkpointed(kind: str):
    @functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
    def rule(vf, opts, y0, ts, theta, nd):
        return _checkpointed_forward(vf, opts, y0, ts, theta, nd)[0]

    def forward_fn(vf, opts, x, nd):
        ys, (ygrid, tgrid, idx, reach) = _checkpointed_forward(vf, opts, *x, nd)
        return ys, (ys, ygrid, tgrid, idx, reach)

    def bwd_math(vf, opts, x, g, nd, rest):
        _, ts, theta = x
        ys, ygrid, tgrid, idx, reach = rest
        n, p = ys.shape[1], theta.shape[0]
        dtype = ys.dtype
        solver = opts.solver
        gg = jnp.zeros_like(ygrid).at[idx].add(g)
        f = lambda y, t, a: vf(y, t, *a)

        def a_rhs(z, s, args):
            # da/ds = aᵀ f_y(y(t), t) (and dθ̄/ds = aᵀ f_θ for "interpolated"), y from the replay
            th, nd_, buf = args
            t = -s
            y = lookup(solver, buf, t)
            if kind == "interpolated":
                _, vjp = jax.vjp(lambda y_, th_: vf(y_, t, th_, nd_), y, th)
                ay, ath = vjp(z[:n])
                return jnp.concatenate([ay, ath])
            _, vjp = jax.vjp(lambda y_: vf(y_, t, th, nd_), y)
            return vjp(z)[0]

        def quad(acc, s0, s1, z_of, args):
            # θ̄ += ∫_{s0}^{s1} a(s)ᵀ f_θ(y(t), t) ds by 3-point Gauss–Legendre
            th, nd_, buf = args

            def at(x):
                s = s0 + (s1 - s0) * x
                t = -s
                y = lookup(solver, buf, t)
                _, vjp = jax.vjp(lambda th_: vf(y, t, th_, nd_), th)
                return vjp(z_of(s))[0]

            vals = jax.vmap(at)(jnp.asarray(_GL_X, dtype))
            return acc + (s1 - s0) * (jnp.asarray(_GL_W, dtype) @ vals)

        cover = _segment_records(f, opts, theta, nd, ygrid, tgrid, reach)

        def segment(j, lo, a, thbar, h_bwd, ok, buf):
            # (a, θ̄) from t_j back to t_lo against the record ``buf`` of the forward solution
            span = jnp.stack([-tgrid[j], -tgrid[lo]])
            if kind == "interpolated":
                z0 = jnp.concatenate([a, jnp.zeros((p,), dtype)])
                # full norm: y is not a state here, so a fast transient of y (dissipative
                # problems) is seen by the step control only through θ̄'s integrand aᵀ f_θ
                zs, _, _, h_bwd = _solve(
                    a_rhs, opts, z0, span, (theta, nd, buf), m=None, h_init=h_bwd, return_h=True
                )
                a1, dth = zs[-1][:n], zs[-1][n:]
            else:
                zs, _, dth, h_bwd = _solve(
                    a_rhs,
                    opts,
                    a,
                    span,
                    (theta, nd, buf),
                    m=n,
                    quad=quad,
                    quad_init=jnp.zeros((p,), dtype),
                    h_init=h_bwd,
                    return_h=True,
                )
                a1 = zs[-1]
            a1 = jnp.where(ok, a1, jnp.nan)
            return a1 + gg[lo], thbar + dth, h_bwd

        # the backward solves stop only at output times (where a jumps) and at the record's start
        grid_ix = jnp.arange(tgrid.shape[0], dtype=jnp.int32)
        is_output = jnp.zeros(tgrid.shape[0], bool).at[idx].set(True)
        last_output = lax.cummax(jnp.where(is_output, grid_ix, 0))

        def run(c):
            # one re-solve, then the segments it covers, last first; the record lives in this
            # iteration only (a loop carry holding it would be copied on every segment).
            # Step sizes pass from one solve to the next, forward and backward (no fresh starts).
            j, a, thbar, h_fwd, h_bwd, failed = c
            start, ok, buf, h_fwd, failed = cover(j, h_fwd, failed)

            def one(ci):
                jj, a, thbar, h_bwd = ci
                lo = jnp.maximum(last_output[jj - 1], start)
                return (lo, *segment(jj, lo, a, thbar, h_bwd, ok, buf))

            j, a, thbar, h_bwd = lax.while_loop(lambda ci: ci[0] > start, one, (j, a, thbar, h_bwd))
            return j, a, thbar, h_fwd, h_bwd, failed

        nan = jnp.asarray(jnp.nan, dtype)
        size = tgrid.shape[0]
        last = jnp.asarray(size - 1, jnp.int32)
        none = jnp.asarray(size, jnp.int32)  # no grid index: no run failed
        init = (last, gg[-1], jnp.zeros((p,), dtype), nan, nan, none)
        out = lax.while_loop(lambda c: c[0] > 0, run, init)
        y0bar, thbar = out[1:3]
        tbar = _time_cotangents(vf, ys, ts, theta, nd, g, y0bar - gg[0])
        return y0bar, tbar, thbar

    _define_replay_vjp(rule, forward_fn, bwd_math)
    return rule


interpolated = _make_checkpointed("interpolated")
quadrature = _make_checkpointed("quadrature")


# --------------------------------------------------------------------------------------------
# checkpointed: the discrete adjoint of the solver (see checkpointed.py)


def _traced_forward(vf, opts, x, nd):
    y0, ts, theta = x
    f = lambda y, t, a: vf(y, t, *a)
    ys, trace, _ = _solve(f, opts, y0, ts, (theta, nd), trace=opts.trace[:2])
    # the interval's limit anchor is loop bookkeeping, not a residual
    return ys, trace._replace(limit=None)


def _checkpointed_math(vf, opts, x, g, nd, trace):
    return discrete_adjoint(vf, opts, opts.trace[2], x, g, nd, trace, branching=opts.trace[3])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def checkpointed(vf, opts, y0, ts, theta, nd):
    # not differentiated: no trace to store, the same step limit
    f = lambda y, t, a: vf(y, t, *a)
    return _solve(f, opts, y0, ts, (theta, nd), max_accepted=opts.trace[0])[0]


_define_replay_vjp(checkpointed, _traced_forward, _checkpointed_math)


# --------------------------------------------------------------------------------------------
# forward sensitivities


_forward_only_p = forward_only(
    "matcalc_ode_forward_only",
    "matcalc.ode.odeint(..., adjoint='forward') supports forward mode only (jax.jvp, "
    "jax.jacfwd); for reverse mode (jax.grad, jax.vjp) use adjoint='backsolve', "
    "'interpolated', 'quadrature' or 'checkpointed'.",
)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def forward(vf, opts, y0, ts, theta, nd):
    return _primal(vf, opts, y0, ts, theta, nd)


@forward.defjvp
def _forward_jvp(vf, opts, primals, tangents):
    y0, ts, theta, nd = primals
    dy0, dts, dth, _ = tangents
    n, p = y0.shape[0], theta.shape[0]

    # u = (y, ẏ): u' = (f, f_y ẏ + f_θ θ̇); the parameters of the augmented system are (θ, θ̇)
    def aug(u, t, th2, nd_):
        (fy, dfy) = jax.jvp(lambda y_, th_: vf(y_, t, th_, nd_), (u[:n], th2[:p]), (u[n:], th2[p:]))
        return jnp.concatenate([fy, dfy])

    f0 = vf(y0, ts[0], theta, nd)
    u0 = jnp.concatenate([y0, dy0 - f0 * dts[0]])
    aug_opts = dataclasses.replace(opts, m=n if opts.m is None else opts.m)
    # the augmented solve is itself a `forward` call, so jvp-of-jvp uses this rule again
    us = forward(aug, aug_opts, u0, ts, jnp.concatenate([theta, dth]), nd)
    dys = us[:, n:]
    # The primal again by this rule (not the y-part of `us`, which depends on the tangents): so
    # that reverse mode gets known primal outputs and reaches the clear error of `_no_reverse`.
    # Under jax.jacfwd the unused primal solve is dead code.
    ys = forward(vf, opts, y0, ts, theta, nd)
    fs = jax.vmap(lambda y, t: vf(y, t, theta, nd))(ys, ts)
    dys = dys + fs * dts[:, None]
    return ys, _forward_only_p.bind(dys)


ADJOINTS: dict[str, Callable] = {
    "backsolve": backsolve,
    "interpolated": interpolated,
    "quadrature": quadrature,
    "checkpointed": checkpointed,
    "forward": forward,
}


# --------------------------------------------------------------------------------------------
# the rules as objects (``odeint(..., adjoint=InterpolatedAdjoint(checkpoints=32))``)


@dataclasses.dataclass(frozen=True)
class BacksolveAdjoint:
    """Reverse mode by solving ``(y, a, ā)`` backward as one ODE (``adjoint="backsolve"``): O(1)
    memory in the number of steps; inaccurate where backward integration of ``y`` is unstable."""

    name = "backsolve"

    def options(self, checkpoints: int, segment_steps: int) -> tuple[int, int]:
        return checkpoints, segment_steps


@dataclasses.dataclass(frozen=True)
class InterpolatedAdjoint:
    """Reverse mode with the forward solution checkpointed and re-solved with dense output, once
    per run of segments that fits half of ``segment_steps`` by the forward pass's step count,
    ``(a, ā)`` integrated against it (``adjoint="interpolated"``). ``checkpoints`` and
    ``segment_steps``, where given, replace ``odeint``'s arguments of those names."""

    checkpoints: int | None = None
    segment_steps: int | None = None
    name = "interpolated"

    def options(self, checkpoints: int, segment_steps: int) -> tuple[int, int]:
        return (
            checkpoints if self.checkpoints is None else self.checkpoints,
            segment_steps if self.segment_steps is None else self.segment_steps,
        )


@dataclasses.dataclass(frozen=True)
class QuadratureAdjoint(InterpolatedAdjoint):
    """As ``InterpolatedAdjoint``, with ``ā`` a Gauss–Legendre quadrature over each backward
    step instead of an ODE state (``adjoint="quadrature"``)."""

    name = "quadrature"


@dataclasses.dataclass(frozen=True)
class CheckpointedAdjoint:
    """Reverse mode by the discrete adjoint of the solver (``adjoint="checkpointed"``): the exact
    gradient of the computed solution at the accepted steps (step sizes held fixed), to round-off.

    Args:
      checkpoints: states stored by the forward pass, ``C`` (default: the power of two nearest
        above ``√S`` for the two-level schedule, ``b`` for the recursive one).
      max_steps: accepted steps in all, ``S`` (default: ``odeint``'s ``mxstep``; more make the
        outputs NaN). It sizes the checkpoint schedule; nothing is stored per step.
      levels: ``None`` (default): the two-level ("√S") schedule. An integer ``L ≥ 1``: recursive
        checkpointing with branching ``b``, the least integer ``≥ 2`` with ``b**L ≥ S``
        (``L ≥ log₂ S`` gives ``b = 2``, binary bisection).

    Memory and work. The forward pass stores, at every ``stride``-th accepted step, where the
    step-size controller stood: ``C`` checkpoints (state, time, step size; the stride doubles as
    the slots fill, so the backward pass meets segments of at most ``K`` steps, ``K`` the least
    power of two with ``C·K ≥ S``). The backward pass walks the segments in reverse, replays each
    segment's steps from its checkpoint with the same controller (the same steps, rejected
    attempts included), reverses them with one step VJP per step, and holds, besides the ``C``
    stored states:

    * two-level schedule (``levels=None``): the segment replayed into a buffer of ``K`` states.
      ``C + K`` states, ``O(√S·n)`` by default; every step replayed once (work: one forward
      solve, one more forward pass and one step VJP per accepted step).
    * recursive schedule (``levels=L``): each segment reversed by recursive checkpointing on a
      stack of ``D = 1 + (b − 1)·ℓ`` checkpoints (``2n`` numbers each: the state and the
      stepper's derivative), ``ℓ`` the least with ``b**ℓ ≥ K`` (at most ``L`` with the default
      ``C``); every step replayed at most ``ℓ`` times. ``O(L·b·n)`` numbers: ``O(n log₂ S)`` for
      ``b = 2`` (``L = ⌈log₂ S⌉``), with ``O(S log₂ S)`` replayed steps.

    All sizes are fixed at compile time, and none grows with the steps actually taken. The
    replayed steps equal the forward pass's up to round-off in the error estimate (step sizes
    within about ``eps/tol`` relative), which moves the gradient far below the tolerance.
    Reference: Griewank & Walther, *Evaluating Derivatives* (2nd ed., 2008), ch. 12
    (two-level and recursive checkpointing; the binomial "revolve" schedule there needs fewer
    replays for the same memory, this one is the simpler recursive subdivision)."""

    checkpoints: int | None = None
    max_steps: int | None = None
    levels: int | None = None
    name = "checkpointed"

    def __post_init__(self):
        for field in ("checkpoints", "max_steps", "levels"):
            v = getattr(self, field)
            if v is not None and not (
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
            ):
                raise ValueError(f"CheckpointedAdjoint: {field} must be a positive integer, got {v!r}")

    def options(self, checkpoints: int, segment_steps: int) -> tuple[int, int]:
        return checkpoints, segment_steps

    def sizes(self, mxstep) -> tuple[int, int, int, int, int]:
        """``(S, C, K, b, D)``: the step limit, stored states, replay segment length, branching
        (``0``: the two-level schedule) and the states the backward pass holds besides the ``C``
        (``K``, or the recursive schedule's stack ``D``)."""
        steps = self.max_steps
        if steps is None:
            if mxstep == jnp.inf:
                raise ValueError(
                    "odeint: adjoint='checkpointed' sizes its checkpoint schedule by "
                    "mxstep, which is inf; pass a finite mxstep or "
                    "adjoint=matcalc.ode.CheckpointedAdjoint(max_steps=...)"
                )
            steps = int(mxstep)
        c = None if self.checkpoints is None else int(self.checkpoints)
        if self.levels is None:
            s, c, k = checkpointed_sizes(int(steps), c)
            return s, c, k, 0, k
        return recursive_sizes(int(steps), int(self.levels), c)


@dataclasses.dataclass(frozen=True)
class ForwardSensitivity:
    """Forward mode only, by forward sensitivities solved with ``y`` (``adjoint="forward"``);
    derivatives of any order in forward mode."""

    name = "forward"

    def options(self, checkpoints: int, segment_steps: int) -> tuple[int, int]:
        return checkpoints, segment_steps


Adjoint = (
    BacksolveAdjoint | InterpolatedAdjoint | QuadratureAdjoint | CheckpointedAdjoint | ForwardSensitivity
)
ADJOINT_TYPES = (
    BacksolveAdjoint,
    InterpolatedAdjoint,
    QuadratureAdjoint,
    CheckpointedAdjoint,
    ForwardSensitivity,
)


def trace_sizes(adjoint, mxstep) -> tuple[int, int, int, int]:
    """The checkpointed adjoint's ``(S, C, K, b)`` for ``odeint``'s ``adjoint`` argument, else zeros."""
    if isinstance(adjoint, CheckpointedAdjoint):
        return adjoint.sizes(mxstep)[:4]
    if isinstance(adjoint, str) and adjoint == "checkpointed":
        return CheckpointedAdjoint().sizes(mxstep)[:4]
    return (0, 0, 0, 0)


def resolve_adjoint(adjoint, checkpoints: int, segment_steps: int) -> tuple[str, int, int]:
    """``(rule name, checkpoints, segment_steps)`` from ``odeint``'s ``adjoint`` argument, a name
    or one of the objects above; ``ValueError`` naming the allowed values otherwise."""
    if isinstance(adjoint, ADJOINT_TYPES):
        name, checkpoints, segment_steps = adjoint.name, *adjoint.options(checkpoints, segment_steps)
    elif isinstance(adjoint, str) and adjoint in ADJOINTS:
        name = adjoint
    else:
        name = None
    if name is not None:
        for arg, value, low in (("checkpoints", checkpoints, 0), ("segment_steps", segment_steps, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"odeint: {arg} must be an int >= {low}, got {value!r}")
        return name, int(checkpoints), int(segment_steps)
    raise ValueError(
        f"odeint: unknown adjoint {adjoint!r}; choose one of {sorted(ADJOINTS)} or "
        "matcalc.ode.BacksolveAdjoint(), InterpolatedAdjoint(), QuadratureAdjoint(), CheckpointedAdjoint(), "
        "ForwardSensitivity()"
    )
