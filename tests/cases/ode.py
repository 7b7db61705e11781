"""Harness cases for ``matcalc.ode.odeint``: one per reverse-mode adjoint.

The three adjoints are ``jax.custom_vjp`` rules (reverse mode only), so the cases run with
``check_jvp=False`` (the transpose identity is checked against finite differences) and
``check_second_order=False``. ``adjoint="forward"`` (a ``custom_jvp`` with no reverse mode) runs
with ``check_vjp=False``: finite differences, jit, vmap and jvp-of-jvp.

Problems are small linear ODEs ``y' = A y`` with the matrix exponential as reference, integrated at
rtol = atol = 1e-12 so that finite differences of the adaptive solution are accurate to about
solver tolerance / step = 1e-9 (hence ``fd_rtol=1e-7``).

Benchmark families for ``matcalc.ode.odeint`` (a drop-in for ``jax.experimental.ode.odeint``).

Two models: a small neural ODE (state 8, hidden 64, rtol = atol = 1e-8, t ∈ [0, T] for T = 10, 100,
1000) and an equinox MLP neural ODE (2 → 32 → 32 → 2, 40 output times on [0, 10], tolerance 1e-6),
each with the default continuous adjoint (``adjoint="backsolve"``) and the discrete one
(``adjoint="checkpointed"``, its default two-level "√S" schedule, and the neural ODE also with the
recursive binary schedule ``CheckpointedAdjoint(levels=LOG_LEVELS)``, logarithmic state memory),
and ``adjoint="interpolated"`` on the MLP and at T = 10, 100. The rows of one model and horizon
share their input, so their times compare across adjoints.
Each is timed (forward and gradient, compiled temporary memory) against
``jax.experimental.ode.odeint``, with diffrax's default ``RecursiveCheckpointAdjoint`` (the
discretize-then-optimize gradient most users run) as the alternative. The accuracy reference is
diffrax ``RecursiveCheckpointAdjoint`` at rtol = atol = 1e-12. ``n`` is the state dimension, so these
rows are timed in every profile that times anything.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from matcalc.ode import odeint
from tests.cases import Case, op, rng

A3 = 0.5 * rng(11).standard_normal((3, 3))
Y3 = rng(12).standard_normal(3)
T3 = np.array([0.0, 0.5, 1.2])
LINEAR_TOL = dict(rtol=1e-12, atol=1e-12)
_F32 = "tolerances of 1e-12 are unattainable in float32; tests/test_ode.py has a float32 test"


def _linear(y, t, a):
    return a @ y


def _solve_all(adjoint, y0, t, a):
    return odeint(_linear, y0, t, a, adjoint=adjoint, **LINEAR_TOL)


def _solve_at(adjoint, y0, a):
    return odeint(_linear, y0, jnp.asarray(T3), a, adjoint=adjoint, **LINEAR_TOL)


def _ref_all(y0, t, a):
    return np.stack([scipy.linalg.expm(a * s) @ y0 for s in t])


def _ref_at(y0, a):
    return _ref_all(y0, T3, a)


_CHECK = dict(check_jvp=False, check_second_order=False, fd_rtol=1e-7)

CASES = [
    Case.harness(
        "ode.odeint",
        functools.partial(_solve_all, "backsolve"),
        (Y3, T3, A3),
        "backsolve_y0_t_A",
        check=dict(reference=_ref_all, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case.harness(
        "ode.odeint",
        functools.partial(_solve_at, "interpolated"),
        (Y3, A3),
        "interpolated_y0_A",
        check=dict(reference=_ref_at, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case.harness(
        "ode.odeint",
        functools.partial(_solve_at, "quadrature"),
        (Y3, A3),
        "quadrature_y0_A",
        check=dict(reference=_ref_at, **_CHECK),
        float32_rtol=None,
        float32_skip=_F32,
    ),
    Case.harness(
        "ode.odeint",
        functools.partial(_solve_at, "forward"),
        (Y3, A3),
        "forward_y0_A",
        check=dict(reference=_ref_at, check_vjp=False, fd_rtol=1e-7, second_order_rtol=1e-5),
        float32_rtol=None,
        float32_skip=_F32,
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families

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


def _diffrax(adjoint, tol=TOL, vf=_vf):
    """diffrax's Tsit5 with a PID controller at ``tol`` and ``adjoint``, on ``vf(y, t, params)``."""

    def solve(y0, params, t):
        import diffrax

        term = diffrax.ODETerm(lambda t_, y, p: vf(y, t_, p))
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


def _alt(y0, params, t):
    import diffrax

    return _diffrax(diffrax.RecursiveCheckpointAdjoint)(y0, params, t)


# levels of the recursive schedule: b = 2 (binary bisection) for any S ≤ 2**LOG_LEVELS
LOG_LEVELS = 32


def _adjoint_arg(adjoint):
    """The ``adjoint=`` argument for a row's adjoint label ("checkpointed-log": the recursive
    binary schedule)."""
    if adjoint == "checkpointed-log":
        from matcalc.ode import CheckpointedAdjoint

        return CheckpointedAdjoint(levels=LOG_LEVELS)
    return adjoint


def _label(adjoint):
    if adjoint == "checkpointed-log":
        return f"adjoint=CheckpointedAdjoint(levels={LOG_LEVELS})"
    return f"adjoint='{adjoint}'"


def _note(adjoint):
    default = " (default)" if adjoint == "backsolve" else ""
    return f"{_label(adjoint)}{default}; times t are differentiated too"


def _case(horizon, quick, adjoint="backsolve"):
    if adjoint == "backsolve":
        ours = _ours
    else:
        ours = functools.partial(_ours, adjoint=_adjoint_arg(adjoint))
    suffix = "" if adjoint == "backsolve" else f", {_label(adjoint)}"
    return Case.bench(
        "ode.odeint",
        _build(horizon),
        ours,
        _jax,
        "jax.experimental.ode.odeint",
        variant=f"neural ODE, t ∈ [0, {horizon:g}]{suffix}",
        alt=_alt,
        alt_name="diffrax Tsit5 + RecursiveCheckpointAdjoint",
        sizes=(8,),
        batched=False,
        ref_grad=_ref_grad,
        ref_name="diffrax RecursiveCheckpointAdjoint, tol 1e-12",
        quick=quick,
        # every adjoint's row at this horizon gets the same network, start and cotangent
        extra=dict(
            prefer_alt=False,
            no_jvp_ok=True,
            timed_at_any_n=True,
            input_id=f"ode.odeint[neural ODE, t ∈ [0, {horizon:g}]]",
        ),
        note=_note(adjoint),
    )


# --- an equinox MLP neural ODE, 2 -> 32 -> 32 -> 2, 40 output times, tolerance 1e-6

MLP_TOL = 1e-6


def _mlp_build(n, r):
    sizes = [n, 32, 32, n]
    layers = tuple(
        (r.standard_normal((a, b)) / np.sqrt(a), 0.1 * r.standard_normal(b))
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )
    return (r.standard_normal(n), layers, np.linspace(0.0, 10.0, 40))


def _mlp_vf(y, t, layers):
    """The vector field of ``equinox.nn.MLP(n, n, 32, depth=2, activation=tanh)``, damped."""
    import equinox as eqx

    mlp = eqx.nn.MLP(y.shape[0], y.shape[0], 32, 2, activation=jnp.tanh, key=jax.random.key(0))
    for i, (w, b) in enumerate(layers):
        mlp = eqx.tree_at(lambda m, i=i: (m.layers[i].weight, m.layers[i].bias), mlp, (w.T, b))
    return mlp(y) - 0.1 * y


def _mlp_ours(y0, layers, t, **kw):
    return op("ode.odeint")(_mlp_vf, y0, t, layers, rtol=MLP_TOL, atol=MLP_TOL, **kw)


def _mlp_jax(y0, layers, t):
    from jax.experimental.ode import odeint

    return odeint(_mlp_vf, y0, t, layers, rtol=MLP_TOL, atol=MLP_TOL)


def _mlp_diffrax(adjoint, tol=MLP_TOL):
    return _diffrax(adjoint, tol, vf=_mlp_vf)


def _mlp_alt(y0, layers, t):
    import diffrax

    return _mlp_diffrax(diffrax.RecursiveCheckpointAdjoint)(y0, layers, t)


def _mlp_ref_grad(args, w):
    import diffrax

    f = _mlp_diffrax(diffrax.RecursiveCheckpointAdjoint, tol=1e-12)
    a = jax.tree.map(jnp.asarray, args)
    return jax.jit(jax.grad(lambda a: jnp.sum(w * f(*a))))(a)


def _mlp_case(adjoint="backsolve"):
    ours = _mlp_ours if adjoint == "backsolve" else functools.partial(_mlp_ours, adjoint=adjoint)
    suffix = "" if adjoint == "backsolve" else f", adjoint='{adjoint}'"
    return Case.bench(
        "ode.odeint",
        _mlp_build,
        ours,
        _mlp_jax,
        "jax.experimental.ode.odeint",
        variant=f"equinox MLP neural ODE, 40 output times, tol 1e-6{suffix}",
        alt=_mlp_alt,
        alt_name="diffrax Tsit5 + RecursiveCheckpointAdjoint",
        sizes=(2,),
        batched=False,
        ref_grad=_mlp_ref_grad,
        ref_name="diffrax RecursiveCheckpointAdjoint, tol 1e-12",
        quick=adjoint == "backsolve",
        extra=dict(
            prefer_alt=False,
            no_jvp_ok=True,
            timed_at_any_n=True,
            input_id="ode.odeint[equinox MLP neural ODE, 40 output times, tol 1e-6]",
        ),
        note=_note(adjoint),
    )


# the discrete adjoint ("checkpointed") beside the default continuous one ("backsolve")
CASES += [
    _case(10.0, True),
    _case(100.0, False),
    _case(1000.0, False),
    _mlp_case(),
    _case(10.0, True, "checkpointed"),
    _case(100.0, False, "checkpointed"),
    _case(1000.0, False, "checkpointed"),
    _mlp_case("checkpointed"),
    _mlp_case("interpolated"),
    _case(10.0, False, "interpolated"),
    _case(100.0, False, "interpolated"),
    _case(10.0, False, "checkpointed-log"),
    _case(100.0, False, "checkpointed-log"),
    _case(1000.0, False, "checkpointed-log"),
]
