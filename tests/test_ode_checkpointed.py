"""matcalc.ode.odeint(..., adjoint="checkpointed"): the discrete adjoint of the adaptive solver.

References: reverse-mode autodiff through an unrolled fixed-step integration (diffrax's own Tsit5 /
Bosh3 ``step`` and dense output, a separate implementation) at the step sequence the forward pass
accepted — the gradient of the computed solution, to round-off; the matrix exponential and its
Fréchet derivative for a linear ODE; diffrax ``RecursiveCheckpointAdjoint`` on Lotka–Volterra.
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from matcalc._ode.checkpointed import sizes
from matcalc._ode.integrate import solve
from matcalc.ode import CheckpointedAdjoint, odeint
from tests.test_ode import TS, Y0, A, W, _linear_reference  # the linear problem and its closed form

rng = np.random.default_rng


def _rel(a, b):
    a = np.concatenate([np.ravel(x) for x in jax.tree.leaves(a)])
    b = np.concatenate([np.ravel(x) for x in jax.tree.leaves(b)])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _linear(y, t, a):
    return a @ y


@jax.jit
def _linear_grad(a, y0, ts):
    loss = lambda a, y0, ts: jnp.sum(
        W * odeint(_linear, y0, ts, a, adjoint="checkpointed", rtol=1e-11, atol=1e-11)
    )
    return jax.grad(loss, (0, 1, 2))(a, y0, ts)


def test_linear_gradient_matches_matrix_exponential():
    """L = Σ_i w_iᵀ exp(t_i A) y0: gradients in A (adjoint Fréchet derivative), y0 and t."""
    ga, gy, gt = _linear_reference()
    got = _linear_grad(A, Y0, TS)
    for g, w, name in zip(got, (ga, gy, gt), ("A", "y0", "t"), strict=True):
        assert _rel(g, w) < 1e-8, (name, _rel(g, w))


# ---------------------------------------------- equal to autodiff through the unrolled integration


def _unrolled_reference(solver, a, y0, ts, tol, land):
    """``jax.grad`` of the same loss through diffrax's ``step`` at the accepted steps, each step end
    tied to the output time it was clipped to (or shifted with ``t_0``), as documented."""
    _, tr, _ = solve(
        _linear, jnp.asarray(y0), jnp.asarray(ts), jnp.asarray(a), solver=solver, rtol=tol, atol=tol,
        land=land, trace=(200, 8),
    )  # fmt: skip
    m = int(tr.count)
    tau, anchor = np.asarray(tr.t1s[:m]), np.asarray(tr.anchors[:m])
    term = diffrax.ODETerm(lambda t, y, a: a @ y)

    def loss(a, y0, ts):
        grid = [ts[0]] + [ts[k] + (tau[j] - TS[k]) for j, k in enumerate(anchor)]
        y, steps, outs = y0, [], [y0]
        for j in range(m):
            st = solver.init(term, grid[j], grid[j + 1], y, a)
            y1, _, dense, _, _ = solver.step(term, grid[j], grid[j + 1], y, a, st, False)
            steps.append((grid[j], grid[j + 1], dense, y1))
            y = y1
        for i in range(1, len(TS)):
            j = int(np.searchsorted(tau, TS[i], side="left"))
            t0, t1, dense, y1 = steps[j]
            exact = TS[i] == tau[j]
            outs.append(y1 if exact else solver.interpolation_cls(t0=t0, t1=t1, **dense).evaluate(ts[i]))
        return jnp.sum(W * jnp.stack(outs))

    return m, jax.jit(jax.grad(loss, (0, 1, 2)))(jnp.asarray(a), jnp.asarray(y0), jnp.asarray(ts))


@pytest.mark.parametrize(
    ("solver", "adjoint", "tol"),
    [
        (diffrax.Tsit5(), "checkpointed", 1e-7),
        # 3 stored states: the stride doubles at steps 3 and 6, segments of 4 steps are replayed
        (diffrax.Tsit5(), CheckpointedAdjoint(checkpoints=3, max_steps=40), 1e-8),
        # Bosh3: steps clipped to every output time (no interpolation)
        (diffrax.Bosh3(), CheckpointedAdjoint(checkpoints=2, max_steps=64), 1e-5),
    ],
)
def test_equals_autodiff_through_unrolled_steps(solver, adjoint, tol):
    loss = lambda a, y0, ts: jnp.sum(
        W * odeint(_linear, y0, ts, a, adjoint=adjoint, solver=solver, rtol=tol, atol=tol)
    )
    got = jax.jit(jax.grad(loss, (0, 1, 2)))(A, Y0, TS)
    land = not isinstance(solver, diffrax.Tsit5)
    m, want = _unrolled_reference(solver, A, Y0, TS, tol, land)
    if not isinstance(adjoint, str):
        assert m > 2 * adjoint.checkpoints  # the stored states were thinned: several segments
    for g, w, name in zip(got, want, ("A", "y0", "t"), strict=True):
        assert _rel(g, w) < 1e-13, (name, _rel(g, w))


def test_checkpoint_law():
    """``(S, C, K)``: C·K ≥ S with K the least power of two; C ≈ √S by default."""
    assert sizes(100_000, None) == (100_000, 512, 256)
    assert sizes(40, 3) == (40, 3, 16)
    for s in (1, 7, 1000, 4096):
        _, c, k = sizes(s, None)
        assert c * k >= s and (k == 1 or c * k // 2 < s)


# --------------------------------------------------------------------------- nonlinear problems


def _lotka_volterra(y, t, alpha, beta, gamma, delta):
    prey, pred = y
    return jnp.stack([alpha * prey - beta * prey * pred, delta * prey * pred - gamma * pred])


LV_ARGS = tuple(np.float64(a) for a in (1.1, 0.4, 0.4, 0.1))
LV_TS = np.linspace(0.0, 4.0, 5)
LV_Y0 = np.array([10.0, 5.0])


def _diffrax_rca_grad(tol):
    def loss(y0, args):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, a: _lotka_volterra(y, t, *a)),
            diffrax.Tsit5(),
            LV_TS[0],
            LV_TS[-1],
            None,
            y0,
            args,
            saveat=diffrax.SaveAt(ts=LV_TS),
            stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
            adjoint=diffrax.RecursiveCheckpointAdjoint(),
            max_steps=20000,
        )
        return jnp.sum(jnp.log(sol.ys))

    return jax.jit(jax.grad(loss, (0, 1)))(LV_Y0, LV_ARGS)


@jax.jit
def _lv_grad(y0, args):
    def loss(y0, args):
        ys = odeint(_lotka_volterra, y0, LV_TS, *args, adjoint="checkpointed", rtol=1e-8, atol=1e-8)
        return jnp.sum(jnp.log(ys))

    return jax.grad(loss, (0, 1))(y0, args)


def test_lotka_volterra_against_recursive_checkpoint_adjoint():
    """Both are discrete adjoints: at the same tolerance each differs from the 1e-12 reference by
    its forward error; ours is as close as diffrax's."""

    got = _lv_grad(LV_Y0, LV_ARGS)
    ref = _diffrax_rca_grad(1e-12)
    rca = _diffrax_rca_grad(1e-8)
    err, err_rca = _rel(got, ref), _rel(rca, ref)
    assert err < 1e-6
    assert err < 10 * err_rca, (err, err_rca)


def test_vmap_matches_loop_and_pytree_args():
    """vmap over y0 equals a loop; a dict state and nested-tuple args (one integer leaf) give the
    flat problem's gradient."""

    def vf(y, t, rates, power):
        (alpha, beta), (gamma, delta) = rates
        prey, pred = y["prey"], y["pred"] ** power
        return {"prey": alpha * prey - beta * prey * pred, "pred": delta * prey * pred - gamma * pred}

    def loss(y0, rates):
        ys = odeint(vf, y0, LV_TS, rates, 1, adjoint="checkpointed", rtol=1e-8, atol=1e-8)
        return jnp.sum(jnp.log(ys["prey"])) + jnp.sum(jnp.log(ys["pred"]))

    rates = ((LV_ARGS[0], LV_ARGS[1]), (LV_ARGS[2], LV_ARGS[3]))
    grad = jax.jit(jax.grad(loss, (0, 1)))
    y0s = {"prey": jnp.array([10.0, 9.0]), "pred": jnp.array([5.0, 6.0])}
    batched = jax.jit(jax.vmap(jax.grad(loss, (0, 1)), (0, None)))(y0s, rates)
    for k in range(2):
        single = grad(jax.tree.map(lambda x, k=k: x[k], y0s), rates)
        assert _rel(jax.tree.map(lambda x, k=k: x[k], batched), single) < 1e-12

    gy, ga = _lv_grad(LV_Y0, LV_ARGS)
    g_y0, g_rates = grad({"prey": 10.0, "pred": 5.0}, rates)
    assert _rel(((g_y0["prey"], g_y0["pred"]), jax.tree.leaves(g_rates)), ((gy[0], gy[1]), ga)) < 1e-12


def test_equinox_module_argument():
    """An ``eqx.nn.MLP`` argument differentiated with ``eqx.filter_grad``: same gradient as the
    backsolve adjoint to its (continuous-adjoint) accuracy."""
    mlp = eqx.nn.MLP(2, 2, 8, 1, activation=jnp.tanh, key=jax.random.key(0))
    ts = jnp.linspace(0.0, 2.0, 4)

    def loss(model, adjoint):
        ys = odeint(
            lambda y, t, m: m(y) - 0.2 * y,
            jnp.array([0.5, -0.3]),
            ts,
            model,
            adjoint=adjoint,
            rtol=1e-10,
            atol=1e-10,
        )
        return jnp.sum(ys**2)

    got = eqx.filter_jit(eqx.filter_grad(lambda m: loss(m, "checkpointed")))(mlp)
    want = eqx.filter_jit(eqx.filter_grad(lambda m: loss(m, "backsolve")))(mlp)
    assert _rel(eqx.filter(got, eqx.is_array), eqx.filter(want, eqx.is_array)) < 1e-7


# ------------------------------------------------------------------------------ second order


def test_second_order_grad_of_grad_and_hessian():
    """y' = -k y: d²y(T)/dk² = T² e^{-kT} y0 by grad of grad; the Hessian in (k, y0) likewise."""
    t_end, k, y0 = 1.5, 0.7, 1.3
    ts = jnp.array([0.0, t_end])

    def y_end(k, y0):
        return odeint(lambda y, t, k: -k * y, y0, ts, k, adjoint="checkpointed", rtol=1e-10, atol=1e-10)[-1]

    d2 = jax.jit(jax.grad(jax.grad(y_end)))(k, y0)
    assert abs(d2 - t_end**2 * np.exp(-k * t_end) * y0) < 1e-8
    hess = jax.jit(jax.hessian(y_end, (0, 1)))(k, y0)
    e = np.exp(-k * t_end)
    want = [[t_end**2 * e * y0, -t_end * e], [-t_end * e, 0.0]]
    assert np.allclose(np.array(hess, dtype=float), want, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------------- errors and failures


def test_jvp_raises():
    f = lambda a: odeint(_linear, Y0, jnp.asarray(TS), a, adjoint="checkpointed")
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        jax.jvp(f, (A,), (A,))


def test_bad_options():
    with pytest.raises(ValueError, match="checkpoints must be a positive integer"):
        CheckpointedAdjoint(checkpoints=0)
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        CheckpointedAdjoint(max_steps=2.5)
    with pytest.raises(ValueError, match="mxstep, which is inf"):
        odeint(_linear, Y0, TS, A, adjoint="checkpointed", mxstep=np.inf)


def test_step_buffer_overflow_gives_nan():
    """More accepted steps than the trace holds: NaN from the failing row on, NaN gradients."""
    adj = CheckpointedAdjoint(max_steps=4)

    def loss(a):
        return jnp.sum(odeint(_linear, Y0, jnp.asarray(TS), a, adjoint=adj, rtol=1e-10, atol=1e-10)[-1])

    ys = odeint(_linear, Y0, jnp.asarray(TS), A, adjoint=adj, rtol=1e-10, atol=1e-10)
    assert np.all(np.isfinite(ys[0])) and np.all(np.isnan(ys[-1]))
    assert np.all(np.isnan(jax.grad(loss)(A)))


def test_harness_transpose_jit_vmap():
    """``matcalc.testing.check_rule`` as for the other reverse-mode adjoints (tests/cases/ode.py):
    primal vs expm, jit, vmap, and the transpose identity against finite differences."""
    from matcalc.testing import check_rule

    t3 = np.array([0.0, 0.5, 1.2])
    a3 = 0.5 * rng(11).standard_normal((3, 3))
    y3 = rng(12).standard_normal(3)

    def fn(y0, t, a):
        return odeint(_linear, y0, t, a, adjoint="checkpointed", rtol=1e-12, atol=1e-12)

    def ref(y0, t, a):
        return np.stack([scipy.linalg.expm(a * s) @ y0 for s in t])

    check_rule(fn, y3, t3, a3, reference=ref, check_jvp=False, check_second_order=False, fd_rtol=1e-7)


def test_complex_state_decreasing_times():
    """y' = (iω - k) y, complex y, t decreasing: the gradient of a real loss in (k, ω, y0, t)
    equals jax.grad of the closed form ``y0 exp((iω - k)(t - t_0))``."""
    ts = jnp.array([1.0, 0.6, -0.3, -0.8])
    c = jnp.asarray(rng(5).standard_normal(4) + 1j * rng(6).standard_normal(4))

    def loss_of(ys):
        return jnp.sum(jnp.real(jnp.conj(c) * ys) + jnp.abs(ys) ** 2)

    def solved(k, om, y0, ts):
        vf = lambda y, t, k, om: jax.lax.complex(-k, om) * y
        return loss_of(odeint(vf, y0, ts, k, om, adjoint="checkpointed", rtol=1e-11, atol=1e-11))

    def closed(k, om, y0, ts):
        dt = ts - ts[0]
        return loss_of(y0 * jnp.exp(jax.lax.complex(-k * dt, om * dt)))

    args = (jnp.asarray(0.3), jnp.asarray(2.0), jnp.asarray(0.8 - 0.5j), ts)
    got = jax.jit(jax.grad(solved, (0, 1, 2, 3)))(*args)
    want = jax.grad(closed, (0, 1, 2, 3))(*args)
    for g, w, name in zip(got, want, ("k", "omega", "y0", "t"), strict=True):
        assert _rel(g, w) < 1e-8, (name, _rel(g, w))


def test_offending_time_valid_rows_get_the_exact_gradient():
    """t = [0, 0.5, NaN, 2]: rows 2, 3 are NaN; a loss of rows 0, 1 has the gradient (A and t) of
    the same loss with t = [0, 0.5]."""

    def grad(ts):
        def loss(a, ts):
            ys = odeint(_linear, Y0, ts, a, adjoint="checkpointed", rtol=1e-10, atol=1e-10)
            return jnp.sum(ys[:2])

        return jax.jit(jax.grad(loss, (0, 1)))(A, ts)

    ga, gt = grad(jnp.array([0.0, 0.5, jnp.nan, 2.0]))
    want_a, want_t = grad(jnp.array([0.0, 0.5]))
    assert _rel(ga, want_a) < 1e-14
    assert _rel(gt[:2], want_t) < 1e-14 and np.all(gt[2:] == 0)
