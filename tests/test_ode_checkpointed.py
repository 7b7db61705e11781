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

from matcalc._ode.checkpointed import _reverse_recursive, recursive_sizes, sizes
from matcalc._ode.integrate import prepare_solver, solve
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


def _accepted_steps(solver, a, y0, ts, tol, land, vf=_linear):
    """The accepted step ends of the forward solve, from its dense-output record, and the number
    of step attempts."""
    _, (_, t1s, _, count), _, attempts = solve(
        vf, jnp.asarray(y0), jnp.asarray(ts), jnp.asarray(a), solver=prepare_solver(solver, tol, tol),
        rtol=tol, atol=tol,
        land=land, record=500, return_attempts=True,
    )  # fmt: skip
    return int(count), np.asarray(t1s[: int(count)]), int(np.sum(attempts))


def _unrolled_reference(solver, a, y0, ts, tol, land):
    """``jax.grad`` of the same loss through diffrax's ``step`` at the accepted steps, each step end
    tied to the output time it was clipped to (or shifted with ``t_0``), as documented."""
    m, tau, _ = _accepted_steps(solver, a, y0, ts, tol, land)
    # the documented ties: a step end on an output time it was clipped to (every output time when
    # steps land on them, else only the last) moves with that time; any other with its start
    anchor, current = [], 0
    for t1 in tau:
        clipped = t1 == ts[-1] or (land and t1 in ts)
        current = int(np.searchsorted(ts, t1, side="left")) if clipped else current
        anchor.append(current)
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


def _van_der_pol(y, t, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


VDP = (_van_der_pol, np.array([2.0, 0.0]), np.linspace(0.0, 6.0, 7), np.float64(5.0))


@pytest.mark.parametrize(
    ("problem", "solver", "adjoint", "tol"),
    [
        ("linear", diffrax.Tsit5(), CheckpointedAdjoint(checkpoints=3, max_steps=40), 1e-8),
        ("linear", diffrax.Tsit5(), CheckpointedAdjoint(max_steps=50, levels=3), 1e-11),
        ("linear", diffrax.Bosh3(), CheckpointedAdjoint(checkpoints=2, max_steps=64), 1e-5),
        # rejected steps, replayed too; an implicit solver, whose own state is checkpointed
        ("van der pol", diffrax.Tsit5(), CheckpointedAdjoint(checkpoints=4, max_steps=512), 1e-5),
        ("van der pol", diffrax.Kvaerno5(), CheckpointedAdjoint(checkpoints=4, max_steps=512), 1e-6),
    ],
    ids=["two-level", "recursive", "landing", "rejections", "implicit"],
)
def test_backward_pass_replays_the_forward_steps(monkeypatch, problem, solver, adjoint, tol):
    """The backward pass keeps no per-step record: it replays the step-size controller from each
    checkpoint. It must differentiate the forward pass's steps, each once. The two programs run the
    same arithmetic but XLA may compile it differently; the error estimate (a small difference of
    stages) turns that round-off into step sizes that differ by about eps/tol relative, far below a
    changed accept/reject decision (a rejected step shrinks by at least 10 %)."""
    import matcalc._ode.checkpointed as ckpt

    seen = []
    one_step = ckpt._one_step

    def watched(solver_, vf, nd):
        phi = one_step(solver_, vf, nd)

        def step(t, t1, y, theta):
            jax.debug.callback(lambda a, b: seen.append((float(a), float(b))), t, t1)
            return phi(t, t1, y, theta)

        return step

    monkeypatch.setattr(ckpt, "_one_step", watched)
    vf, y0, ts, arg = (_linear, Y0, TS, A) if problem == "linear" else VDP
    solve_ = lambda a: odeint(vf, y0, ts, a, adjoint=adjoint, solver=solver, rtol=tol, atol=tol)
    loss = lambda a: jnp.sum(jnp.sin(solve_(a)))
    jax.block_until_ready(jax.jit(jax.grad(loss))(arg))
    jax.effects_barrier()
    land = not isinstance(solver, diffrax.Tsit5)
    m, tau, attempts = _accepted_steps(solver, arg, y0, ts, tol, land, vf)
    assert m > 2 * adjoint.sizes(None)[1]  # several segments
    if problem != "linear":
        assert attempts > m  # some steps were rejected
    want = np.stack([np.concatenate([ts[:1], tau[:-1]]), tau], axis=1)
    got = np.array(sorted(seen))
    assert got.shape == want.shape
    steps = want[:, 1] - want[:, 0]
    assert np.max(np.abs(got - want) / steps[:, None]) < 1e-3
    assert got[0, 0] == ts[0] and got[-1, 1] == ts[-1]
    if land:  # steps clipped to the output times end on them exactly
        assert set(ts[1:]) <= set(got[:, 1])


def test_checkpoint_law():
    """``(S, C, K)``: C·K ≥ S with K the least power of two; C ≈ √S by default."""
    assert sizes(100_000, None) == (100_000, 512, 256)
    assert sizes(40, 3) == (40, 3, 16)
    for s in (1, 7, 1000, 4096):
        _, c, k = sizes(s, None)
        assert c * k >= s and (k == 1 or c * k // 2 < s)


# ------------------------------------------------------------------------- the recursive schedule


def test_recursive_sizes_law():
    """``(S, C, K, b, D)``: ``b`` the least ``≥ 2`` with ``b**L ≥ S``, ``C = b`` by default,
    ``C·K ≥ S`` with ``K`` the least power of two, ``D = 1 + (b − 1)·ℓ`` with ``b**ℓ ≥ K``."""
    assert recursive_sizes(2**14, 14, None) == (2**14, 2, 2**13, 2, 14)
    assert recursive_sizes(50, 3, None) == (50, 4, 16, 4, 7)
    assert recursive_sizes(100, 3, 1) == (100, 1, 128, 5, 17)
    assert CheckpointedAdjoint(max_steps=1000, levels=2).sizes(None) == (1000, 32, 32, 32, 32)
    assert CheckpointedAdjoint(max_steps=1000).sizes(None) == (1000, 32, 32, 0, 32)
    for steps in (1, 7, 1000, 4097):
        for levels in (1, 2, 3, 30):
            s, c, k, b, d = recursive_sizes(steps, levels, None)
            assert b >= 2 and b**levels >= steps and (b == 2 or (b - 1) ** levels < steps)
            assert c == b and c * k >= s and (k == 1 or c * k // 2 < s)
            ell = next(e for e in range(64) if b**e >= k)
            assert d == 1 + (b - 1) * ell


@pytest.mark.parametrize(("length", "span", "branching"), [(1, 1, 2), (13, 16, 2), (16, 16, 2), (37, 64, 3)])
def test_recursive_reversal_visits_every_step_once_in_reverse(length, span, branching):
    """The state before step ``i`` is ``i``, and every other attempt is rejected (it changes
    nothing but its flag): the reversal must see ``(i, i)`` for ``i = length − 1, ..., 0``, and
    replay at most ``ℓ·length`` steps in all."""
    replays = []

    def try_step(y):
        i, ready = y
        jax.debug.callback(lambda i, ready: replays.append(int(i)) if ready else None, i, ready)
        return (i + ready.astype(i.dtype), ~ready), ready, jnp.array(False)

    def backward(i, y, c):
        seen, k = c
        return seen.at[k].set(jnp.stack([i, y[0]])), k + 1

    seen0 = jnp.full((length, 2), -1, jnp.int32)
    y0 = (jnp.int32(0), jnp.array(False))
    (seen, k), failed = _reverse_recursive(try_step, backward, y0, length, span, branching, (seen0, 0))
    jax.effects_barrier()
    assert not failed
    want = np.arange(length - 1, -1, -1)
    np.testing.assert_array_equal(np.asarray(seen), np.stack([want, want], axis=1))
    ell = next(e for e in range(64) if branching**e >= span)
    assert len(replays) <= ell * length
    assert set(replays) == set(range(length - 1))  # every step but the last is replayed


def test_recursive_reversal_stops_when_a_replay_fails():
    failing = lambda y: (y, jnp.array(False), jnp.array(True))
    backward = lambda i, y, c: c + 1
    carry, failed = _reverse_recursive(failing, backward, jnp.int32(0), 13, 16, 2, jnp.int32(0))
    assert failed and carry == 13  # every step was visited once, without replays


@pytest.mark.parametrize(
    "problem",
    [
        # linear, Tsit5 at 1e-11: 38 steps (not a power of b = 4), outputs inside steps; segments of
        # 16 steps reversed on two levels
        "linear, b = 4",
        # Lotka–Volterra at 1e-8: 33 steps, b = 2 (binary bisection), a 32-step segment on 5 levels
        "lotka-volterra, b = 2",
    ],
)
def test_recursive_schedule_equals_two_level(problem):
    """The recursive schedule replays the same recorded steps: the same gradient to round-off."""
    if problem.startswith("linear"):
        adj = CheckpointedAdjoint(max_steps=50, levels=3)
        loss = lambda a, y0, ts: jnp.sum(
            W * odeint(_linear, y0, ts, a, adjoint=adj, rtol=1e-11, atol=1e-11)
        )  # fmt: skip
        got = jax.jit(jax.grad(loss, (0, 1, 2)))(A, Y0, TS)
        want = _linear_grad(A, Y0, TS)
        _, tr, _ = solve(
            _linear, jnp.asarray(Y0), jnp.asarray(TS), jnp.asarray(A), solver=diffrax.Tsit5(), rtol=1e-11,
            atol=1e-11, land=False, trace=adj.sizes(None)[:2],
        )  # fmt: skip
        m, b = int(tr.count), adj.sizes(None)[3]
        assert m > 2 * b**2 and b ** round(np.log(m) / np.log(b)) != m, m  # several multi-level segments
    else:
        adj = CheckpointedAdjoint(max_steps=64, levels=6)

        def lv_loss(y0, args):
            ys = odeint(_lotka_volterra, y0, LV_TS, *args, adjoint=adj, rtol=1e-8, atol=1e-8)
            return jnp.sum(jnp.log(ys))

        got = jax.jit(jax.grad(lv_loss, (0, 1)))(LV_Y0, LV_ARGS)
        want = _lv_grad(LV_Y0, LV_ARGS)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert _rel(g, w) < 1e-13, (problem, _rel(g, w))


@pytest.mark.slow
def test_recursive_schedule_memory_is_logarithmic():
    """Compiled temporary memory of ``jax.grad`` for ``y' = −k ∘ y`` (``n = 512``, Tsit5). The
    backward pass holds ``C`` states and, in the recursive schedule (``b = 2``), a stack of ``D``
    checkpoints (a state and its stage derivative, ``2n`` numbers each); nothing per step. So each
    sixteenfold ``S`` adds the same four stack entries, and at ``S = 2¹⁴`` the recursive schedule
    holds less than the two-level one (``C + K`` states)."""
    n = 512
    ts = jnp.linspace(0.0, 1.0, 2)

    def temp_bytes(adj):
        loss = lambda k: jnp.sum(odeint(lambda y, t, k: -k * y, jnp.ones(n), ts, k, adjoint=adj))
        compiled = jax.jit(jax.grad(loss)).lower(jnp.ones(n)).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    steps = (2**14, 2**18, 2**22)
    recursive = [CheckpointedAdjoint(max_steps=s, levels=64) for s in steps]
    assert [adj.sizes(None)[4] for adj in recursive] == [14, 18, 22]  # the stacks' depths D
    m14, m18, m22 = (temp_bytes(adj) for adj in recursive)
    four_entries = 4 * 2 * n * 8
    assert four_entries <= m18 - m14 <= 1.05 * four_entries, (m14, m18)
    assert four_entries <= m22 - m18 <= 1.05 * four_entries, (m18, m22)

    two_level = CheckpointedAdjoint(max_steps=2**14)
    (_, c2, k2, _, _), (_, c, _, _, d) = two_level.sizes(None), recursive[0].sizes(None)
    saved = 8 * n * ((c2 + k2) - (c + 2 * d))
    assert saved == 8 * n * (256 - 30)
    assert m14 + 0.9 * saved < temp_bytes(two_level), m14


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


# the recursive schedule where batching (different step counts per batch row) and second order
# run through its loops
RECURSIVE = pytest.param(CheckpointedAdjoint(max_steps=64, levels=6), marks=pytest.mark.slow, id="recursive")


@pytest.mark.parametrize("adjoint", ["checkpointed", RECURSIVE])
def test_vmap_matches_loop_and_pytree_args(adjoint):
    """vmap over y0 equals a loop; a dict state and nested-tuple args (one integer leaf) give the
    flat problem's gradient."""

    def vf(y, t, rates, power):
        (alpha, beta), (gamma, delta) = rates
        prey, pred = y["prey"], y["pred"] ** power
        return {"prey": alpha * prey - beta * prey * pred, "pred": delta * prey * pred - gamma * pred}

    def loss(y0, rates):
        ys = odeint(vf, y0, LV_TS, rates, 1, adjoint=adjoint, rtol=1e-8, atol=1e-8)
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


@pytest.mark.parametrize("adjoint", ["checkpointed", RECURSIVE])
def test_second_order_grad_of_grad_and_hessian(adjoint):
    """y' = -k y: d²y(T)/dk² = T² e^{-kT} y0 by grad of grad; the Hessian in (k, y0) likewise."""
    t_end, k, y0 = 1.5, 0.7, 1.3
    ts = jnp.array([0.0, t_end])

    def y_end(k, y0):
        return odeint(lambda y, t, k: -k * y, y0, ts, k, adjoint=adjoint, rtol=1e-10, atol=1e-10)[-1]

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
    for bad in (0, -3, 2.0, True, "log"):
        with pytest.raises(ValueError, match=f"levels must be a positive integer, got {bad!r}"):
            CheckpointedAdjoint(levels=bad)
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
