"""Benchmark rows for ``matcalc.ode.odeint`` (a drop-in for ``jax.experimental.ode.odeint``):
gradient of a small neural ODE (state 8, hidden 64, t ∈ [0, 10], rtol = atol = 1e-8) against
``jax.experimental.ode.odeint`` and diffrax's ``BacksolveAdjoint``; reference gradient from diffrax
``RecursiveCheckpointAdjoint`` at rtol = atol = 1e-12. ``n`` is the state dimension."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import BenchCase, op

HIDDEN = 64
TOL = 1e-8


def _vf(y, t, params):
    w1, b1, w2, b2 = params
    return jnp.tanh(y @ w1 + b1) @ w2 + b2 - 0.1 * y


def _build(horizon):
    def build(n, r):
        y0 = r.standard_normal(n)
        w1 = r.standard_normal((n, HIDDEN)) / np.sqrt(n)
        w2 = r.standard_normal((HIDDEN, n)) / np.sqrt(HIDDEN)
        return (
            y0,
            (w1, 0.1 * r.standard_normal(HIDDEN), w2, 0.1 * r.standard_normal(n)),
            np.linspace(0.0, horizon, 5),
        )

    return build


def _ours(y0, params, t, **kw):
    return op("ode.odeint")(_vf, y0, t, params, rtol=TOL, atol=TOL, **kw)


def _jax(y0, params, t):
    from jax.experimental.ode import odeint

    return odeint(_vf, y0, t, params, rtol=TOL, atol=TOL)


def _diffrax(adjoint, tol=TOL):
    def solve(y0, params, t):
        import diffrax

        term = diffrax.ODETerm(lambda t_, y, p: _vf(y, t_, p))
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t[0],
            t[-1],
            None,
            y0,
            params,
            saveat=diffrax.SaveAt(ts=t),
            stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
            adjoint=adjoint(),
            max_steps=100_000,
        )
        return sol.ys

    return solve


def _ref_grad(args, w):
    import diffrax

    f = _diffrax(diffrax.RecursiveCheckpointAdjoint, tol=1e-12)
    a = jax.tree.map(jnp.asarray, args)
    return jax.jit(jax.grad(lambda a: jnp.sum(w * f(*a))))(a)


def _backsolve():
    import diffrax

    return _diffrax(diffrax.BacksolveAdjoint)


def _alt(y0, params, t):
    return _backsolve()(y0, params, t)


def _case(horizon, quick):
    return BenchCase(
        "ode.odeint",
        _build(horizon),
        _ours,
        _jax,
        "jax.experimental.ode.odeint",
        variant=f"neural ODE, t ∈ [0, {horizon:g}]",
        alt=_alt,
        alt_name="diffrax Tsit5 + BacksolveAdjoint",
        sizes=(8,),
        batched=False,
        ref_grad=_ref_grad,
        ref_name="diffrax RecursiveCheckpointAdjoint, tol 1e-12",
        quick=quick,
        extra=dict(prefer_alt=False, no_jvp_ok=True),
        note="adjoint='backsolve' (default); times t are differentiated too",
    )


CASES = [_case(10.0, True), _case(100.0, False)]
