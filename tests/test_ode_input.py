"""matcalc.ode.odeint on unusual and bad input: decreasing times (backward integration, values and
derivatives in every adjoint mode), non-monotone and non-finite times (NaN rows from the first
offending entry, eagerly and under jit/vmap), a single time, repeated times, huge spans and the
step cap, a step size below the round-off of t, and the dtypes of y0.

No test here can hang: every solve runs under odeint's step cap (``mxstep``, finite by default).

References: closed forms. For ``y' = -k y`` the solution is ``y(t) = y0 e^{-k (t - t0)}``; with
``L = Σ_i w_iᵀ y(t_i)`` and ``E_i = e^{-k (t_i - t0)}``:
``∂L/∂k = -Σ_i (t_i - t0) E_i w_iᵀ y0``, ``∂L/∂y0 = Σ_i E_i w_i``,
``∂L/∂t_i = -k E_i w_iᵀ y0`` (i ≥ 1), ``∂L/∂t0 = k Σ_{i≥1} E_i w_iᵀ y0``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from matcalc.ode import odeint

REVERSE = ["backsolve", "interpolated", "quadrature"]
Y0 = np.array([1.0, 2.0])
K = 0.7
W = np.array([[0.3, -0.2], [1.1, 0.4], [0.5, 0.9]])
TOL = dict(rtol=1e-11, atol=1e-11)


def _decay(y, t):
    return -y


def _decay_k(y, t, k):
    return -k * y


def _oscillator(y, t):
    return jnp.stack([y[1], -y[0]])


def _exact(ts, y0=Y0, k=1.0):
    ts = np.asarray(ts, float)
    return np.exp(-k * (ts - ts[0]))[:, None] * y0[None, :]


def _exact_grad(k, y0, ts, w):
    e = np.exp(-k * (ts - ts[0]))
    wy = w @ y0
    gk = -np.sum((ts - ts[0]) * e * wy)
    gy = (e[:, None] * w).sum(0)
    gt = -k * e * wy
    gt[0] = k * np.sum(e[1:] * wy[1:])
    return gk, gy, gt


_solve_jit = jax.jit(lambda t: odeint(_decay, jnp.asarray(Y0), t))


# ------------------------------------------------------------------ decreasing t: backward in time


def test_decreasing_times_values_eager_and_jit():
    t = np.array([1.0, 0.5, 0.0])
    want = _exact(t)  # [y0, e^0.5 y0, e y0]
    np.testing.assert_allclose(odeint(_decay, Y0, t), want, rtol=1e-7)
    np.testing.assert_allclose(_solve_jit(t), want, rtol=1e-7)
    # the checkpointed forward pass (interpolated / quadrature) is a separate solve
    got = jax.jit(lambda t: odeint(_decay, jnp.asarray(Y0), t, adjoint="interpolated"))(t)
    np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize("adjoint", REVERSE)
def test_decreasing_times_gradients(adjoint):
    ts = np.array([1.0, 0.5, -0.3])

    def loss(k, y0, ts):
        return jnp.sum(jnp.asarray(W) * odeint(_decay_k, y0, ts, k, adjoint=adjoint, **TOL))

    got = jax.jit(jax.grad(loss, (0, 1, 2)))(K, Y0, ts)
    want = _exact_grad(K, Y0, ts, W)
    for g, w, name in zip(got, want, ("k", "y0", "t"), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-10, err_msg=f"{adjoint}: d/d{name}")


def test_mixed_directions_under_vmap_gradients():
    """The direction is a value: one batch holds a forward and a backward problem."""
    ts = np.array([[0.0, 0.5, 1.3], [1.0, 0.5, -0.3]])

    def loss(k, y0, ts):
        return jnp.sum(jnp.asarray(W) * odeint(_decay_k, y0, ts, k, **TOL))

    got = jax.jit(jax.vmap(jax.grad(loss, (0, 1, 2)), (None, None, 0)))(K, Y0, ts)
    for b in range(2):
        want = _exact_grad(K, Y0, ts[b], W)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g[b], w, rtol=1e-9, atol=1e-10)


def test_decreasing_times_forward_mode():
    ts = np.array([1.0, 0.5, -0.3])
    dk, dy0, dts = 0.3, np.array([0.1, -0.2]), np.array([0.2, 0.5, -0.4])

    def f(k, y0, ts):
        return odeint(_decay_k, y0, ts, k, adjoint="forward", **TOL)

    _, got = jax.jit(lambda *p: jax.jvp(f, p, (dk, dy0, dts)))(K, Y0, ts)
    # y_i = y0 E_i, E_i = e^{-k(t_i - t0)}: ẏ_i = E_i (ẏ0 - y0 ((t_i - t0) k̇ + k (ṫ_i - ṫ0)))
    e = np.exp(-K * (ts - ts[0]))[:, None]
    want = e * (dy0 - Y0 * ((ts - ts[0]) * dk + K * (dts - dts[0]))[:, None])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_repeated_times_repeat_the_row():
    """Zero-length intervals, in either direction (JAX's odeint gives NaN rows here)."""
    for t in ([0.0, 0.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0]):
        np.testing.assert_allclose(_solve_jit(np.array(t)), _exact(t), rtol=1e-7)


# ------------------------------------------------- offending times: NaN rows from the first one on


def _check_nan_from(ys, t, first_bad):
    ys = np.asarray(ys)
    assert np.all(np.isnan(ys[first_bad:])), (t, ys)
    if first_bad:
        np.testing.assert_allclose(ys[:first_bad], _exact(t[:first_bad]), rtol=1e-7, err_msg=str(t))


@pytest.mark.parametrize(
    ("t", "first_bad"),
    [
        ([0.0, 1.0, 0.5], 2),  # not monotone
        ([2.0, 1.0, 1.5], 2),  # not monotone, decreasing start
        ([1.0, 0.5, np.nan], 2),  # NaN after a backward step
        ([0.0, np.inf, 2.0], 1),
        ([0.0, -np.inf, 2.0], 1),
        ([np.nan, 0.0, 1.0], 0),
    ],
)
def test_offending_times_give_nan_rows_jit(t, first_bad):
    t = np.array(t)
    _check_nan_from(_solve_jit(t), t, first_bad)


def test_offending_times_eager_same_as_jit():
    for t, first_bad in (([0.0, 1.0, 0.5], 2), ([0.0, np.inf], 1), ([0.0, np.nan], 1)):
        t = np.array(t)
        _check_nan_from(odeint(_decay, Y0, t), t, first_bad)


def test_offending_times_under_vmap():
    ts = np.array([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5], [0.0, np.nan, 1.0]])
    ys = jax.jit(jax.vmap(lambda t: odeint(_decay, jnp.asarray(Y0), t)))(ts)
    for t, y, first_bad in zip(ts, ys, (3, 3, 2, 1), strict=True):
        _check_nan_from(y, t, first_bad)


def test_gradient_of_valid_rows_unaffected_by_later_offending_time():
    ts = np.array([0.0, 0.4, 1.0, 0.7])  # offending from index 3

    def loss(k, y0, ts):
        ys = odeint(_decay_k, y0, ts, k, **TOL)
        return jnp.sum(jnp.asarray(W) * ys[:3]), ys

    (_, ys), got = jax.jit(jax.value_and_grad(loss, (0, 1, 2), has_aux=True))(K, Y0, ts)
    assert np.all(np.isnan(ys[3])) and np.all(np.isfinite(ys[:3]))
    gk, gy, gt = _exact_grad(K, Y0, ts[:3], W)
    np.testing.assert_allclose(got[0], gk, rtol=1e-9)
    np.testing.assert_allclose(got[1], gy, rtol=1e-9)
    np.testing.assert_allclose(got[2], [*gt, 0.0], rtol=1e-9, atol=1e-12)  # t[3]: no influence


def test_single_time():
    np.testing.assert_array_equal(odeint(_decay, Y0, np.array([0.5])), Y0[None])
    one = jax.jit(lambda t: odeint(_decay, jnp.asarray(Y0), t))
    np.testing.assert_array_equal(one(np.array([0.5])), Y0[None])
    assert np.all(np.isnan(one(np.array([np.nan]))))
    assert np.all(np.isnan(odeint(_decay, Y0, np.array([np.inf]))))


# ------------------------------------------------------------- huge spans, step cap, step floor


def test_huge_span_hits_the_step_cap_promptly():
    """An oscillator over [0, 1e300] needs ~1e300 steps: NaN at the cap, with the default cap too."""
    y0 = jnp.asarray(Y0)
    start = time.perf_counter()
    ys = odeint(_oscillator, y0, np.array([0.0, 1e300]))
    assert time.perf_counter() - start < 60
    np.testing.assert_array_equal(ys[0], Y0)
    assert np.all(np.isnan(ys[1]))
    # a span that overflows (t_N - t_0 = inf) and a small explicit cap
    assert np.all(np.isnan(odeint(_oscillator, y0, np.array([-1e308, 1e308]), mxstep=1000)[1]))


def test_step_cap_gives_nan_values_and_gradients():
    ts = np.array([0.0, 1.0, 2.0])

    def loss(k):
        return jnp.sum(odeint(_decay_k, jnp.asarray(Y0), ts, k, mxstep=3, **TOL))

    val, g = jax.jit(jax.value_and_grad(loss))(K)
    assert np.isnan(val) and np.isnan(g)


def test_step_below_round_off_of_t_still_advances():
    """y' = 1e-30 at t ≈ 1e12: the starting step (1e-6) is below the spacing of t (1.2e-4); a step
    that does not move t must not be taken (it would repeat until the cap)."""
    ys = jax.jit(lambda t: odeint(lambda y, t: 1e-30 * jnp.ones_like(y), jnp.zeros(1), t, mxstep=1000))(
        np.array([1e12, 1e12 + 1])
    )
    np.testing.assert_allclose(ys[:, 0], [0.0, 1e-30], rtol=1e-12)


def test_bad_step_controls_raise():
    for cap in (0, -1, 2.5):
        with pytest.raises(ValueError, match="mxstep must be a positive integer"):
            odeint(_decay, Y0, np.array([0.0, 1.0]), mxstep=cap)
    with pytest.raises(ValueError, match="hmax must be positive"):
        odeint(_decay, Y0, np.array([0.0, 1.0]), hmax=0.0)


# --------------------------------------------------------------------------------- dtypes of y0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_state_raises(dtype):
    name = jnp.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"y0 has dtype {name} \(shape \(2,\)\)"):
        odeint(_decay, jnp.asarray(Y0, dtype), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=rf"y0 has dtype {name}"):
        odeint(_decay, {"a": Y0, "b": jnp.ones(1, dtype)}, np.array([0.0, 1.0]))


def test_bool_state_raises():
    with pytest.raises(TypeError, match="y0 must be a floating, complex"):
        odeint(_decay, np.array([True, False]), np.array([0.0, 1.0]))


def test_integer_state_is_promoted():
    """JAX's odeint fails inside its loop for an integer y0; here it is promoted to float."""
    t = np.array([0.0, 1.0])
    ys = odeint(_decay, np.array([1, 2], np.int32), t)
    assert ys.dtype == jnp.result_type(float)
    np.testing.assert_allclose(ys, _exact(t), rtol=1e-7)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(adjoint="interpolated", segment_steps=0), "segment_steps must be an int >= 1, got 0"),
        (dict(adjoint="quadrature", checkpoints=-1), "checkpoints must be an int >= 0, got -1"),
        (dict(adjoint="backsolve", checkpoints=2.5), "checkpoints must be an int >= 0, got 2.5"),
    ],
)
def test_checkpoint_sizes_are_validated(kw, message):
    import matcalc.ode as mo

    with pytest.raises(ValueError, match=f"odeint: {message}"):
        mo.odeint(lambda y, t: -y, jnp.ones(2), jnp.linspace(0.0, 1.0, 3), **kw)
    adjoint = mo.InterpolatedAdjoint(**{k: v for k, v in kw.items() if k != "adjoint"})
    with pytest.raises(ValueError, match=f"odeint: {message}"):
        mo.odeint(lambda y, t: -y, jnp.ones(2), jnp.linspace(0.0, 1.0, 3), adjoint=adjoint)
