"""matcalc.ode.odeint: accuracy of every adjoint against exact and discretize-then-optimize
references, transformations (jit, vmap, pytrees), time gradients, matrix-valued states, the
dissipative problem where backsolve fails, and the errors of unsupported modes.

References: the matrix exponential and its Fréchet derivative (scipy.linalg.expm / expm_frechet)
for linear ODEs; diffrax with RecursiveCheckpointAdjoint at rtol = atol = 1e-12 (differentiating
the discrete solver) for nonlinear ones.
"""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from matcalc.ode import odeint

REVERSE = ["backsolve", "interpolated", "quadrature"]
rng = np.random.default_rng


def _rel(a, b):
    a = np.concatenate([np.ravel(x) for x in jax.tree.leaves(a)])
    b = np.concatenate([np.ravel(x) for x in jax.tree.leaves(b)])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ----------------------------------------------------------------------------- linear y' = A y

A = 0.6 * rng(0).standard_normal((3, 3))
Y0 = rng(1).standard_normal(3)
TS = np.array([0.0, 0.4, 1.0, 1.7])
W = rng(2).standard_normal((4, 3))


def _linear(y, t, a):
    return a @ y


def _linear_reference():
    """Gradient of L = Σ_i w_iᵀ exp(t_i A) y0 in A, y0 and t."""
    ga, gy, gt = np.zeros_like(A), np.zeros_like(Y0), np.zeros_like(TS)
    for i, t in enumerate(TS):
        e = scipy.linalg.expm(A * t)
        gy += e.T @ W[i]
        # d/dA wᵀ exp(tA) y0 = t · L_exp(t Aᵀ, w y0ᵀ)  (adjoint of the Fréchet derivative)
        ga += t * scipy.linalg.expm_frechet((A * t).T, np.outer(W[i], Y0), compute_expm=False)
        gt[i] = W[i] @ A @ e @ Y0
    gt[0] = -gt[1:].sum()  # moving t0 shifts the whole (autonomous) solution
    return ga, gy, gt


@pytest.mark.parametrize("adjoint", REVERSE)
def test_linear_gradient_matches_matrix_exponential(adjoint):
    def loss(a, y0, ts):
        return jnp.sum(jnp.asarray(W) * odeint(_linear, y0, ts, a, adjoint=adjoint, rtol=1e-11, atol=1e-11))

    got = jax.jit(jax.grad(loss, (0, 1, 2)))(A, Y0, TS)
    want = _linear_reference()
    for g, w, name in zip(got, want, ("A", "y0", "t"), strict=True):
        assert _rel(g, w) < 1e-8, (adjoint, name, _rel(g, w))


def test_forward_mode_jvp_jacfwd_and_second_order():
    f = lambda a, ts: odeint(_linear, Y0, ts, a, adjoint="forward", rtol=1e-11, atol=1e-11)
    v = rng(3).standard_normal((3, 3))
    dts = np.array([0.3, -0.2, 0.5, 1.0])
    ys, jv = jax.jit(lambda a, ts: jax.jvp(f, (a, ts), (v, dts)))(A, TS)
    want = np.stack(
        [
            scipy.linalg.expm_frechet(A * t, v * t, compute_expm=False) @ Y0
            + (A @ scipy.linalg.expm(A * t) @ Y0) * (dt - dts[0])
            for t, dt in zip(TS, dts, strict=True)
        ]
    )
    want[0] = 0.0
    np.testing.assert_allclose(ys, [scipy.linalg.expm(A * t) @ Y0 for t in TS], rtol=1e-9)
    assert _rel(jv, want) < 1e-8
    # jacfwd in y0 equals exp(t A)
    jac = jax.jacfwd(lambda y0: odeint(_linear, y0, TS, A, adjoint="forward", rtol=1e-11, atol=1e-11))(Y0)
    assert _rel(jac, np.stack([scipy.linalg.expm(A * t) for t in TS])) < 1e-9


@pytest.mark.slow
def test_forward_mode_second_order():
    f = lambda a, ts: odeint(_linear, Y0, ts, a, adjoint="forward", rtol=1e-11, atol=1e-11)
    v = rng(3).standard_normal((3, 3))
    # jvp-of-jvp (the rule calls itself on the sensitivity system) vs a finite difference
    g = lambda a: jax.jvp(lambda b: f(b, TS), (a,), (v,))[1]
    u = rng(4).standard_normal((3, 3))
    second = jax.jvp(g, (A,), (u,))[1]
    h = 1e-4
    fd = (g(A + h * u) - g(A - h * u)) / (2 * h)
    assert _rel(second, fd) < 1e-6


# ------------------------------------------------------------------ nonlinear, vs diffrax reference


def _diffrax_grad(loss_of_ys, vf, y0, ts, args):
    """Discretize-then-optimize reference: diffrax Tsit5, 1e-12, RecursiveCheckpointAdjoint."""

    def loss(y0, args):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, a: vf(y, t, *a)),
            diffrax.Tsit5(),
            ts[0],
            ts[-1],
            None,
            y0,
            args,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
            adjoint=diffrax.RecursiveCheckpointAdjoint(),
            max_steps=20000,
        )
        return loss_of_ys(sol.ys)

    return jax.jit(jax.grad(loss, (0, 1)))(y0, args)


def _lotka_volterra(y, t, alpha, beta, gamma, delta):
    prey, pred = y
    return jnp.stack([alpha * prey - beta * prey * pred, delta * prey * pred - gamma * pred])


LV_ARGS = (1.1, 0.4, 0.4, 0.1)
LV_TS = np.linspace(0.0, 4.0, 5)
LV_Y0 = np.array([10.0, 5.0])


# (each compile costs ~10 s on 2 cores: the other adjoints' Lotka–Volterra runs are marked slow)
@pytest.mark.parametrize(
    "adjoint", ["backsolve", *(pytest.param(a, marks=pytest.mark.slow) for a in REVERSE[1:])]
)
def test_lotka_volterra_against_discretize_then_optimize(adjoint):
    loss_of = lambda ys: jnp.sum(jnp.log(ys))

    def loss(y0, args):
        return loss_of(odeint(_lotka_volterra, y0, LV_TS, *args, adjoint=adjoint, rtol=1e-10, atol=1e-10))

    args = tuple(np.float64(a) for a in LV_ARGS)
    got = jax.jit(jax.grad(loss, (0, 1)))(LV_Y0, args)
    want = _diffrax_grad(loss_of, _lotka_volterra, LV_Y0, LV_TS, args)
    assert _rel(got, want) < 1e-7


def test_lotka_volterra_pytree_state_and_args():
    """Dict state, nested-tuple args: same gradient as the flat problem."""

    def vf(y, t, rates):
        (alpha, beta), (gamma, delta) = rates
        return {
            "prey": alpha * y["prey"] - beta * y["prey"] * y["pred"],
            "pred": delta * y["prey"] * y["pred"] - gamma * y["pred"],
        }

    def loss(y0, rates):
        ys = odeint(vf, y0, LV_TS, rates, rtol=1e-10, atol=1e-10)
        assert ys["prey"].shape == (5,)
        return jnp.sum(jnp.log(ys["prey"])) + jnp.sum(jnp.log(ys["pred"]))

    rates = ((np.float64(1.1), np.float64(0.4)), (np.float64(0.4), np.float64(0.1)))
    g_y0, g_rates = jax.jit(jax.grad(loss, (0, 1)))({"prey": 10.0, "pred": 5.0}, rates)
    want = _diffrax_grad(
        lambda ys: jnp.sum(jnp.log(ys)), _lotka_volterra, LV_Y0, LV_TS, tuple(np.float64(a) for a in LV_ARGS)
    )
    got = ((g_y0["prey"], g_y0["pred"]), (*g_rates[0], *g_rates[1]))
    assert _rel(got, ((want[0][0], want[0][1]), want[1])) < 1e-7


def _mlp_params(n, hidden, seed):
    k = jax.random.split(jax.random.PRNGKey(seed), 2)
    return {
        "w1": jax.random.normal(k[0], (hidden, n)) / np.sqrt(n),
        "b1": jnp.linspace(-0.5, 0.5, hidden),
        "w2": 0.5 * jax.random.normal(k[1], (n, hidden)) / np.sqrt(hidden),
    }


@pytest.mark.slow
def test_neural_ode_closed_over_parameters():
    """Parameters closed over by func (hoisted by closure_convert) get gradients; all adjoints."""
    params = _mlp_params(3, 8, 0)
    y0 = jnp.array([0.5, -0.3, 0.8])
    ts = jnp.array([0.0, 1.0, 2.0])
    loss_of = lambda ys: jnp.sum(ys[1:] ** 2)

    def mlp(p, y):
        return p["w2"] @ jnp.tanh(p["w1"] @ y + p["b1"]) - 0.2 * y

    want = _diffrax_grad(loss_of, lambda y, t, p: mlp(p, y), y0, ts, (params,))

    for adjoint in REVERSE:

        def loss(p, y0):
            return loss_of(odeint(lambda y, t: mlp(p, y), y0, ts, adjoint=adjoint, rtol=1e-10, atol=1e-10))

        g_p, g_y0 = jax.jit(jax.grad(loss, (0, 1)))(params, y0)
        assert _rel((g_y0, g_p), (want[0], want[1][0])) < 1e-7, adjoint


# ------------------------------------------------------------ dissipative: backsolve goes wrong


def test_dissipative_backsolve_wrong_interpolated_right():
    """y' = A y with eigenvalues -1 and -40 on [0, 2]: the fast mode is below tolerance at t = 2,
    and the backward re-solve of y in "backsolve" amplifies its error by e^{80}; the gradient in A
    (which needs y(t) along the way) is wrong. "interpolated" stores the forward solution instead.
    """
    q, _ = np.linalg.qr(rng(5).standard_normal((2, 2)))
    a = q @ np.diag([-1.0, -40.0]) @ q.T
    y0 = np.array([1.0, 2.0])
    t_end = 2.0

    def loss(a, adjoint):
        ys = odeint(
            _linear, jnp.asarray(y0), jnp.array([0.0, t_end]), a, adjoint=adjoint, rtol=1e-8, atol=1e-8
        )
        return jnp.sum(ys[-1])

    w = np.ones(2)
    want = t_end * scipy.linalg.expm_frechet((a * t_end).T, np.outer(w, y0), compute_expm=False)
    errs = {
        adj: _rel(jax.jit(jax.grad(loss), static_argnums=1)(a, adj), want)
        for adj in ("backsolve", "interpolated")
    }
    assert errs["interpolated"] < 1e-6, errs
    assert not errs["backsolve"] < 1e-2, errs  # backsolve is off by O(1) or worse (or NaN)


@pytest.mark.slow
def test_stiff_solver_kvaerno5_interpolated():
    """A stiff linear problem (eigenvalues -1, -1000) with the implicit Kvaerno5 solver."""
    q, _ = np.linalg.qr(rng(6).standard_normal((2, 2)))
    a = q @ np.diag([-1.0, -1000.0]) @ q.T
    y0 = np.array([1.0, 2.0])

    def loss(a):
        ys = odeint(
            _linear,
            jnp.asarray(y0),
            jnp.array([0.0, 0.5, 1.0]),
            a,
            adjoint="interpolated",
            solver=diffrax.Kvaerno5(),
            rtol=1e-9,
            atol=1e-9,
        )
        return jnp.sum(ys[-1])

    want = scipy.linalg.expm_frechet(a.T, np.outer(np.ones(2), y0), compute_expm=False)
    assert _rel(jax.jit(jax.grad(loss))(a), want) < 1e-5


# ------------------------------------------------------------------- matrix ODE, vmap, float32


def test_matrix_lyapunov_differential_equation():
    """P' = A P + P Aᵀ + Q, matrix-valued state; value and gradient in (A, P0) via the Kronecker
    form vec(P)' = (I⊗A + A⊗I) vec P + vec Q and the exponential of the bordered matrix."""
    n = 2
    a = 0.5 * rng(7).standard_normal((n, n)) - np.eye(n)
    qm = np.eye(n)
    p0 = np.array([[1.0, 0.2], [0.2, 0.5]])
    t_end = 1.5
    wm = rng(8).standard_normal((n, n))

    def bordered(a):
        k = np.kron(np.eye(n), a) + np.kron(a, np.eye(n))
        m = np.zeros((n * n + 1, n * n + 1))
        m[:-1, :-1] = k
        m[:-1, -1] = qm.reshape(-1, order="F")
        return m

    z0 = np.append(p0.reshape(-1, order="F"), 1.0)
    p_end = (scipy.linalg.expm(bordered(a) * t_end) @ z0)[:-1].reshape(n, n, order="F")

    def loss(a, p0):
        ps = odeint(
            lambda p, t, a: a @ p + p @ a.T + jnp.asarray(qm),
            p0,
            jnp.array([0.0, t_end]),
            a,
            rtol=1e-11,
            atol=1e-11,
            adjoint="quadrature",
        )
        return jnp.sum(jnp.asarray(wm) * ps[-1]), ps

    (val, ps), (g_a, g_p0) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(a, p0)
    assert ps.shape == (2, n, n)
    np.testing.assert_allclose(ps[-1], p_end, rtol=1e-9)
    np.testing.assert_allclose(ps[-1], ps[-1].T, rtol=1e-12)
    # reference gradient: G = t·L_exp(Mᵀt, w z0ᵀ) is dL/dM; chain through M(A) by basis matrices
    wz = np.append(wm.reshape(-1, order="F"), 0.0)
    gm = t_end * scipy.linalg.expm_frechet(bordered(a).T * t_end, np.outer(wz, z0), compute_expm=False)
    want_a = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e = np.zeros((n, n))
            e[i, j] = 1.0
            want_a[i, j] = np.sum(gm * (bordered(a + e) - bordered(a)))
    want_p0 = (scipy.linalg.expm(bordered(a) * t_end).T @ wz)[:-1].reshape(n, n, order="F")
    assert _rel(g_a, want_a) < 1e-8
    assert _rel(g_p0, want_p0) < 1e-8


def test_vmap_over_initial_conditions_matches_loop():
    y0s = rng(9).standard_normal((3, 3))

    def grad_a(y0):
        return jax.grad(
            lambda a: jnp.sum(odeint(_linear, y0, jnp.asarray(TS), a, rtol=1e-10, atol=1e-10)[-1])
        )(A)

    batched = jax.jit(jax.vmap(grad_a))(y0s)
    single = jax.jit(grad_a)
    for k in range(3):
        np.testing.assert_allclose(batched[k], single(y0s[k]), rtol=1e-10)


def test_float32():
    a32, y32 = A.astype(np.float32), Y0.astype(np.float32)

    def loss(a, y0):
        return jnp.sum(odeint(_linear, y0, jnp.asarray(TS, jnp.float32), a, rtol=1e-6, atol=1e-6)[-1])

    g32 = jax.jit(jax.grad(loss, (0, 1)))(a32, y32)
    assert g32[0].dtype == jnp.float32
    ga, gy, _ = _linear_reference_single(TS[-1])
    assert _rel(g32, (ga, gy)) < 1e-4


def _linear_reference_single(t):
    w = np.ones(3)
    ga = t * scipy.linalg.expm_frechet((A * t).T, np.outer(w, Y0), compute_expm=False)
    return ga, scipy.linalg.expm(A * t).T @ w, None


# --------------------------------------------------------------------------- errors and failures


def test_jvp_through_reverse_mode_adjoint_raises():
    f = lambda a: odeint(_linear, Y0, jnp.asarray(TS), a, adjoint="backsolve")
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        jax.jvp(f, (A,), (A,))


def test_grad_through_forward_adjoint_raises():
    f = lambda a: jnp.sum(odeint(_linear, Y0, jnp.asarray(TS), a, adjoint="forward"))
    with pytest.raises(TypeError, match="forward mode only"):
        jax.grad(f)(A)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown adjoint"):
        odeint(_linear, Y0, TS, A, adjoint="nope")
    with pytest.raises(TypeError, match="complex value .* for a real state leaf"):
        odeint(lambda y, t: y.astype(jnp.complex128), Y0, TS)
    with pytest.raises(ValueError, match="1-D array of times"):
        odeint(_linear, Y0, TS.reshape(2, 2), A)
    with pytest.raises(ValueError, match="returned 2 values for a state of 3"):
        odeint(lambda y, t: y[:2], Y0, TS)
    with pytest.raises(TypeError, match="adaptive diffrax solver"):
        odeint(_linear, Y0, TS, A, solver=diffrax.Euler())


def test_too_few_steps_gives_nan():
    ys = odeint(_linear, Y0, jnp.asarray(TS), A, mxstep=2, rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(ys[0])) and np.all(np.isnan(ys[-1]))


def test_solve_passes_on_its_step_size():
    """``solve(h_init=h)`` starts with step h instead of the starting-step heuristic (two
    vector-field calls) and ``return_h`` gives the step to try next; a non-finite ``h_init``
    falls back to the heuristic. The backward passes chain their interval solves this way."""
    from matcalc._ode.integrate import _initial_step, solve

    calls = []

    def vf(y, t, a):
        jax.debug.callback(lambda: calls.append(1))
        return a @ y

    a = jnp.asarray(np.array([[-1.0, 2.0], [-2.0, -1.0]]))
    y0, ts = jnp.asarray([1.0, 0.5]), jnp.linspace(0.0, 2.0, 5)
    kw = dict(solver=diffrax.Tsit5(), rtol=1e-8, atol=1e-8)
    counted = lambda **k: (calls.clear(), jax.block_until_ready(solve(vf, y0, ts, a, **kw, **k)))[1]  # noqa: E731
    ys, _, _, h_next = counted(return_h=True)
    n_heuristic = len(calls)
    h0 = _initial_step(vf, ts[0], y0, a, 5, 1e-8, 1e-8, 2)
    ys_given = counted(h_init=h0)[0]
    assert len(calls) == n_heuristic - 2
    np.testing.assert_array_equal(ys_given, ys)
    ys_nan = counted(h_init=jnp.nan)[0]
    np.testing.assert_array_equal(ys_nan, ys)
    want = np.stack([scipy.linalg.expm(np.asarray(a) * t) @ np.asarray(y0) for t in np.asarray(ts)])
    assert np.abs(np.asarray(ys) - want).max() < 1e-7
    assert 0 < float(h_next) < 2.0


@pytest.mark.parametrize("rule", ["interpolated", "quadrature"])
def test_segment_record_overflow_falls_back_then_gives_nan(rule):
    """The backward pass re-solves the forward problem once per run of segments, from the last
    stored checkpoint before them; a record too small for that run falls back to re-solving each
    segment alone (same gradient), and one too small for a single segment gives NaN."""
    import matcalc.ode as mo

    a = jnp.asarray(np.array([[-0.1, 2.0], [-2.0, -0.1]]))
    y0, ts = jnp.asarray([1.0, 0.5]), jnp.linspace(0.0, 10.0, 21)
    w = jnp.asarray(np.random.default_rng(3).standard_normal((21, 2)))
    kind = mo.InterpolatedAdjoint if rule == "interpolated" else mo.QuadratureAdjoint

    calls = [0]

    def counted(y, t, m):
        jax.debug.callback(lambda: calls.__setitem__(0, calls[0] + 1))
        return m @ y

    def grad(adjoint, vf=lambda y, t, m: m @ y):
        def loss(a_):
            return jnp.sum(w * odeint(vf, y0, ts, a_, rtol=1e-8, atol=1e-8, adjoint=adjoint))

        g = jax.jit(jax.grad(loss))
        g(a)
        calls[0] = 0
        return np.asarray(jax.block_until_ready(g(a))), calls[0]

    reference = grad("checkpointed")[0]  # the discrete adjoint: exact for the computed solution
    # 155 forward steps in all, at most 10 per output interval
    whole, whole_calls = grad(kind(checkpoints=0, segment_steps=1024), counted)  # one re-solve
    fallback, fallback_calls = grad(kind(checkpoints=0, segment_steps=24), counted)  # per segment
    for g in (whole, fallback):
        assert np.abs(g - reference).max() < 1e-7 * np.abs(reference).max()  # measured 2e-8
    # one failed run of at most 24 steps (7 stages per attempt), then none: besides that, at most
    # two restart steps per segment more than the single re-solve
    assert fallback_calls <= whole_calls + 7 * (24 + 2 * 21)
    assert np.all(np.isnan(grad(kind(checkpoints=0, segment_steps=2))[0]))


@pytest.mark.parametrize("outputs", [5, 41])
def test_extra_checkpoints_snap_to_nearby_output_times(outputs):
    """The interpolated adjoints' extra checkpoints are evenly spaced, except that an output time
    within half a spacing takes the place of one (no extra segment boundary beside it)."""
    from matcalc._ode.adjoints import Options, _checkpointed_forward

    k = 16
    opts = Options(diffrax.Tsit5(), 1e-8, 1e-8, jnp.inf, jnp.inf, False, k, 512)
    ts = jnp.linspace(0.0, 10.0, outputs)
    ys, (ygrid, tgrid, idx, reach) = _checkpointed_forward(
        lambda y, t, theta, nd: -theta * y, opts, jnp.ones(2), ts, jnp.asarray([0.5]), ()
    )
    grid, t = np.asarray(tgrid), np.asarray(ts)
    np.testing.assert_array_equal(grid[np.asarray(idx)], t)
    extra = np.delete(grid, np.asarray(idx))
    targets, half = np.linspace(0.0, 10.0, k + 2)[1:-1], 10.0 / (2 * (k + 1))
    for e, target in zip(extra, targets, strict=True):
        gap = np.abs(t - target).min()
        assert e == (t[np.argmin(np.abs(t - target))] if gap <= half else target)
    if outputs == 41:  # every checkpoint lands on an output time
        assert np.isin(extra, t).all()
    else:  # outputs 2.5 apart: most stay where they were
        assert np.sum(~np.isin(extra, t)) >= 12
    np.testing.assert_allclose(ys[:, 0], np.exp(-0.5 * t), rtol=1e-7, atol=1e-8)  # the solve: 1e-8
    # the step attempts up to each grid time: from 0, non-decreasing, none on a zero-length
    # interval (an interval inside a step already taken needs none either)
    reach, gaps = np.asarray(reach), np.diff(grid)
    assert reach[0] == 0 and np.all(np.diff(reach) >= 0) and np.all(np.diff(reach)[gaps == 0] == 0)
    assert reach[-1] >= 10  # e^{-t/2} over [0, 10] at tolerance 1e-8


@pytest.mark.parametrize(
    ("rule", "outputs", "record"),
    [("interpolated", 5, 512), ("interpolated", 41, 512), ("quadrature", 5, 512), ("interpolated", 5, 64)],
)
def test_one_resolve_and_backward_stops_only_at_outputs(rule, outputs, record, monkeypatch):
    """When the forward pass's steps fit half the record, the backward pass re-solves the forward
    problem once, from t_0, and its backward solves stop only at the output times, not at the 16
    extra checkpoints; with a smaller record, once per run of at most half its steps (a new stop at
    each run's start). The gradient is the discrete adjoint's to the solver tolerance."""
    import matcalc._ode.adjoints as adj
    import matcalc.ode as mo

    counts = {"resolve": 0, "backward": 0}
    inner = adj._solve

    def counting(vf, opts, y0, ts, args, **kw):
        key = "resolve" if kw.get("record") else "backward" if vf.__name__ == "a_rhs" else None
        if key:
            jax.debug.callback(lambda: counts.__setitem__(key, counts[key] + 1))
        return inner(vf, opts, y0, ts, args, **kw)

    monkeypatch.setattr(adj, "_solve", counting)
    a = jnp.asarray(np.array([[-0.1, 2.0], [-2.0, -0.1]]))
    y0, ts = jnp.asarray([1.0, 0.5]), jnp.linspace(0.0, 10.0, outputs)
    w = jnp.asarray(np.random.default_rng(4).standard_normal((outputs, 2)))
    kind = mo.InterpolatedAdjoint if rule == "interpolated" else mo.QuadratureAdjoint

    def grad(adjoint):
        loss = lambda a_: jnp.sum(
            w * odeint(lambda y, t, m: m @ y, y0, ts, a_, rtol=1e-8, atol=1e-8, adjoint=adjoint)
        )
        g = jax.jit(jax.grad(loss))
        g(a)
        counts.update(resolve=0, backward=0)
        return np.asarray(jax.block_until_ready(g(a)))

    reference = grad("checkpointed")
    got = grad(kind(checkpoints=16, segment_steps=record))
    if record == 512:
        assert counts == {"resolve": 1, "backward": outputs - 1}
    else:  # about 155 forward steps: runs of at most 32 attempts between the 21 grid times
        assert 155 // 32 <= counts["resolve"] <= 16, counts
        # a stop at every output, and one more where a later run starts between outputs
        assert outputs - 1 < counts["backward"] <= outputs - 1 + counts["resolve"] - 1, counts
    assert np.abs(got - reference).max() < 1e-7 * np.abs(reference).max()
