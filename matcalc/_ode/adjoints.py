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
* interpolated: the forward solution is stored at checkpoints; per segment it is re-solved forward
  with dense output and ``(a, θ̄)`` solved backwards against that interpolant, with ``θ̄`` in the
  error norm (``y`` is not a backward state, so only ``θ̄`` sees fast transients of ``y``).
* quadrature: as interpolated, but the backward ODE is ``a`` alone and ``θ̄`` is a 3-point
  Gauss–Legendre quadrature of ``aᵀ f_θ`` over every accepted backward step, using the dense
  outputs of both solves.
* forward: forward sensitivities ``ẏ' = f_y ẏ + f_θ θ̇``, ``ẏ(t_0) = ẏ0 - f(y_0,t_0) ṫ_0``, output
  tangents ``ẏ_i + f(y_i, t_i) ṫ_i``, integrated with ``y`` (tangents outside the error norm, so
  the tangent map is exactly linear: the derivative of the discrete solution at frozen steps).

Second order goes forward over reverse: JAX's forward mode runs through the backward passes (their
loops are forward-differentiable, the step sequences held fixed by ``stop_gradient`` in the step
control); reverse over reverse would transpose those loops and is stopped by ``_reverse_once``
with a clear error. States and arguments here are real: ``odeint`` carries a complex leaf as the
pair ``(Re, Im)``.
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
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

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


def _solve(vf, opts: Options, y0, ts, args, **kw):
    kw.setdefault("m", opts.m)
    return solve(
        vf, y0, ts, args, solver=opts.solver, rtol=opts.rtol, atol=opts.atol,
        max_steps=opts.max_steps, hmax=opts.hmax, land=opts.land, **kw,
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
# second order: forward over reverse; reverse over reverse raises


def _no_second_reverse(ct, x, *, adjoint):
    raise TypeError(
        f"matcalc.ode.odeint(..., adjoint={adjoint!r}): reverse-over-reverse differentiation "
        "(jax.grad of jax.grad, jax.jacrev of jax.grad) is not supported: the backward pass runs "
        "adaptive loops, which JAX can differentiate in forward mode only. Use forward over "
        "reverse, which this rule supports: jax.hessian(f) (= jax.jacfwd(jax.jacrev(f))), "
        "jax.jacfwd(jax.grad(f)) or jax.jvp(jax.grad(f), ...); or adjoint='forward' with "
        "jax.jacfwd(jax.jacfwd(f))."
    )


_reverse_once_p = Primitive("matcalc_ode_reverse_once")
_reverse_once_p.def_impl(lambda x, *, adjoint: x)
_reverse_once_p.def_abstract_eval(lambda x, *, adjoint: x)
ad.deflinear2(_reverse_once_p, _no_second_reverse)
batching.primitive_batchers[_reverse_once_p] = lambda args, dims, *, adjoint: (
    _reverse_once_p.bind(*args, adjoint=adjoint),
    dims[0],
)
mlir.register_lowering(_reverse_once_p, lambda ctx, x, *, adjoint: [x])


def _reverse_once(adjoint, *xs):
    """Identity on the cotangents of a backward pass. Its derivative is the identity again, so
    forward mode over the backward pass works; transposing it (reverse over reverse) raises a
    ``TypeError`` naming the forward-over-reverse route, before JAX meets the loops."""
    return tuple(_reverse_once_p.bind(x, adjoint=adjoint) for x in xs)


# --------------------------------------------------------------------------------------------
# backsolve


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def backsolve(vf, opts, y0, ts, theta, nd):
    return _primal(vf, opts, y0, ts, theta, nd)


def _backsolve_fwd(vf, opts, y0, ts, theta, nd):
    ys = _primal(vf, opts, y0, ts, theta, nd)
    return ys, (ys, ts, theta, nd)


def _backsolve_bwd(vf, opts, res, g):
    ys, ts, theta, nd = res
    n, p = ys.shape[1], theta.shape[0]

    # d(y, a, θ̄)/ds = (-f, aᵀ f_y, aᵀ f_θ) at t = -s; the seminorm covers (y, a) only
    def aug(z, s, args):
        th, nd_ = args
        y, a = z[:n], z[n : 2 * n]
        fy, vjp = jax.vjp(lambda y_, th_: vf(y_, -s, th_, nd_), y, th)
        ay, ath = vjp(a)
        return jnp.concatenate([-fy, ay, ath])

    def segment(carry, i):
        a, thbar = carry
        z0 = jnp.concatenate([ys[i], a, jnp.zeros((p,), ys.dtype)])
        z1 = _solve(aug, opts, z0, jnp.stack([-ts[i], -ts[i - 1]]), (theta, nd), m=2 * n)[0][-1]
        return (z1[n : 2 * n] + g[i - 1], thbar + z1[2 * n :]), None

    init = (g[-1], jnp.zeros((p,), ys.dtype))
    (y0bar, thbar), _ = lax.scan(segment, init, jnp.arange(ys.shape[0] - 1, 0, -1))
    tbar = _time_cotangents(vf, ys, ts, theta, nd, g, y0bar - g[0])
    return (*_reverse_once("backsolve", y0bar, tbar, thbar), _nd_zeros(nd))


backsolve.defvjp(_backsolve_fwd, _backsolve_bwd)


# --------------------------------------------------------------------------------------------
# interpolated and quadrature: checkpoints, segment re-solves with dense output


def _checkpointed_forward(vf, opts, y0, ts, theta, nd):
    """Solve on ``ts`` merged with ``checkpoints`` evenly spaced interior times."""
    k = opts.checkpoints
    extra = jnp.linspace(ts[0], ts[-1], k + 2)[1:-1] if k > 0 else ts[:0]
    grid = jnp.concatenate([ts, extra])
    perm = jnp.argsort(grid, stable=True)
    tgrid = grid[perm]
    idx = jnp.argsort(perm, stable=True)[: ts.shape[0]]
    f = lambda y, t, a: vf(y, t, *a)
    ygrid = _solve(f, opts, y0, tgrid, (theta, nd))[0]
    return ygrid[idx], (ygrid, tgrid, idx)


def _make_checkpointed(kind: str):
    @functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
    def rule(vf, opts, y0, ts, theta, nd):
        return _checkpointed_forward(vf, opts, y0, ts, theta, nd)[0]

    def fwd(vf, opts, y0, ts, theta, nd):
        ys, (ygrid, tgrid, idx) = _checkpointed_forward(vf, opts, y0, ts, theta, nd)
        return ys, (ys, ts, ygrid, tgrid, idx, theta, nd)

    def bwd(vf, opts, res, g):
        ys, ts, ygrid, tgrid, idx, theta, nd = res
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

        def segment(carry, j):
            a, thbar = carry
            t_lo, t_hi = tgrid[j - 1], tgrid[j]
            # re-solve the forward problem on [t_lo, t_hi], recording its dense output
            yrep, buf, _ = _solve(
                f, opts, ygrid[j - 1], jnp.stack([t_lo, t_hi]), (theta, nd),
                record=opts.segment_steps,
            )
            ok = jnp.all(jnp.isfinite(yrep[-1]))
            span = jnp.stack([-t_hi, -t_lo])
            if kind == "interpolated":
                z0 = jnp.concatenate([a, jnp.zeros((p,), dtype)])
                # full norm: y is not a state here, so a fast transient of y (dissipative
                # problems) is seen by the step control only through θ̄'s integrand aᵀ f_θ
                z1 = _solve(a_rhs, opts, z0, span, (theta, nd, buf), m=None)[0][-1]
                a1, dth = z1[:n], z1[n:]
            else:
                zs, _, dth = _solve(
                    a_rhs, opts, a, span, (theta, nd, buf), m=n,
                    quad=quad, quad_init=jnp.zeros((p,), dtype),
                )
                a1 = zs[-1]
            a1 = jnp.where(ok, a1, jnp.nan)
            return (a1 + gg[j - 1], thbar + dth), None

        init = (gg[-1], jnp.zeros((p,), dtype))
        (y0bar, thbar), _ = lax.scan(segment, init, jnp.arange(tgrid.shape[0] - 1, 0, -1))
        tbar = _time_cotangents(vf, ys, ts, theta, nd, g, y0bar - gg[0])
        return (*_reverse_once(kind, y0bar, tbar, thbar), _nd_zeros(nd))

    rule.defvjp(fwd, bwd)
    return rule


interpolated = _make_checkpointed("interpolated")
quadrature = _make_checkpointed("quadrature")


# --------------------------------------------------------------------------------------------
# forward sensitivities


def _no_reverse(ct, x):
    raise TypeError(
        "matcalc.ode.odeint(..., adjoint='forward') supports forward mode only (jax.jvp, "
        "jax.jacfwd); for reverse mode (jax.grad, jax.vjp) use adjoint='backsolve', "
        "'interpolated' or 'quadrature'."
    )


_forward_only_p = Primitive("matcalc_ode_forward_only")
_forward_only_p.def_impl(lambda x: x)
_forward_only_p.def_abstract_eval(lambda x: x)
ad.deflinear2(_forward_only_p, _no_reverse)
batching.primitive_batchers[_forward_only_p] = lambda args, dims: (
    _forward_only_p.bind(*args),
    dims[0],
)
mlir.register_lowering(_forward_only_p, lambda ctx, x: [x])


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
        (fy, dfy) = jax.jvp(
            lambda y_, th_: vf(y_, t, th_, nd_), (u[:n], th2[:p]), (u[n:], th2[p:])
        )
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
    "forward": forward,
}
