"""A lean adaptive time-stepping loop around a diffrax solver's ``step``.

Every ODE solve in ``matcalc.ode`` (the forward pass, the backward adjoint passes and the segment
re-solves of the checkpointed adjoints) goes through ``solve``. It drives any diffrax solver
(``Tsit5``, ``Dopri5``, ``Kvaerno5``, ...) through ``solver.init`` / ``solver.step`` with a plain
integral step-size controller, and differs from ``diffrax.diffeqsolve`` in three ways that the
adjoints need:

* a **seminorm**: only the first ``m`` components of the (flat) state enter the error norm, so
  quadrature-like components (parameter cotangents, tangents) do not shrink the steps
  (Kidger, Chen & Lyons, ICML 2021);
* optional **recording** of every accepted step's dense output into a fixed-size buffer, which the
  interpolating adjoints use to evaluate the forward solution at any time of a segment;
* an optional per-step **quadrature** callback, for the quadrature adjoint.

States are flat 1-D arrays; times are non-decreasing (``odeint`` maps a decreasing ``t`` to
``s = -t``, and the backward passes integrate in ``s = -t``).
Value-dependent failures (step count over ``max_steps``, step size underflow, recording buffer
overflow) make the affected outputs NaN, never silently wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jax import lax

SAFETY = 0.9
IFACTOR = 10.0
DFACTOR = 0.2


def prepare_solver(solver, rtol, atol):
    """Fill in an implicit solver's root-finder tolerances the way ``diffeqsolve`` does."""
    if isinstance(solver, diffrax.AbstractImplicitSolver):
        rf = solver.root_finder
        sentinel = diffrax._root_finder.use_stepsize_tol  # noqa: SLF001
        repl = {"rtol": rtol, "atol": atol, "norm": optx.rms_norm}
        for attr, val in repl.items():
            if getattr(rf, attr, None) is sentinel:
                rf = eqx.tree_at(lambda r, a=attr: getattr(r, a), rf, val)
        solver = eqx.tree_at(lambda s: s.root_finder, solver, rf)
    return solver


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x))) if x.size else jnp.zeros((), x.dtype)


def _select(pred, a, b):
    return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)


def interpolate(solver, t0, t1, dense, t):
    """Evaluate one step's dense output at ``t`` (guarding a zero-length step)."""
    t1s = jnp.where(t1 == t0, t0 + 1, t1)
    return solver.interpolation_cls(t0=t0, t1=t1s, **dense).evaluate(t)


def lookup(solver, buffer, t):
    """The recorded forward solution at time ``t``: the dense output of the step containing it."""
    t0s, t1s, dense, count = buffer
    k = jnp.clip(jnp.searchsorted(t1s, t, side="left"), 0, jnp.maximum(count - 1, 0))
    d = jax.tree.map(lambda x: x[k], dense)
    return interpolate(solver, t0s[k], t1s[k], d, t)


def _initial_step(vf, t0, y0, args, order, rtol, atol, m):
    """Hairer, Nørsett & Wanner (1993), II.4: a starting step from two vector-field calls."""
    f0 = vf(y0, t0, args)
    scale = atol + rtol * jnp.abs(y0[:m])
    d0 = _rms(y0[:m] / scale)
    d1 = _rms(f0[:m] / scale)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    f1 = vf(y0 + h0 * f0, t0 + h0, args)
    d2 = _rms((f1 - f0)[:m] / scale) / h0
    dmax = jnp.maximum(d1, d2)
    h1 = jnp.where(dmax <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / dmax) ** (1.0 / (order + 1)))
    return jnp.minimum(100 * h0, h1)


class _Stepper:
    """One step ``(t, y) -> (t1, y1)`` with an error estimate and dense output.

    Explicit Runge–Kutta solvers with a Butcher tableau (Tsit5, Dopri5, Dopri8, Bosh3, ...) run
    through a lean unrolled stage loop on flat arrays, using diffrax's tableau and interpolant
    (``diffrax``'s generic ``step`` carries pytree and term machinery that costs time per step in
    small problems); other solvers (implicit ones such as Kvaerno5) use ``solver.step``.
    """

    def __init__(self, solver, vf, args):
        self.solver, self.vf, self.args = solver, vf, args
        tb = getattr(solver, "tableau", None)
        self.lean = (
            isinstance(solver, diffrax.AbstractERK)
            and isinstance(tb, diffrax.ButcherTableau)
            and not tb.implicit
        )
        self.terms = diffrax.ODETerm(lambda t, y, a: vf(y, t, a))
        self.order = solver.order(self.terms)

    def init(self, t0, t1, y0):
        if self.lean:
            return self.vf(y0, t0, self.args)
        return self.solver.init(self.terms, t0, t1, y0, self.args)

    def step(self, t, t1, y, state):
        if not self.lean:
            y1, yerr, dense, state1, res = self.solver.step(self.terms, t, t1, y, self.args, state, False)
            return y1, yerr, dense, state1, res == diffrax.RESULTS.successful
        tb = self.solver.tableau
        h = t1 - t
        ks = [state]
        y1 = None
        for i, (ci, ai) in enumerate(zip(tb.c, tb.a_lower, strict=True)):
            incr = sum(float(a) * k for a, k in zip(ai, ks, strict=False) if a != 0)
            yi = y + h * incr
            if tb.ssal and i == len(tb.c) - 1:
                y1 = yi
            ks.append(self.vf(yi, t + float(ci) * h, self.args))
        if y1 is None:
            y1 = y + h * sum(float(b) * k for b, k in zip(tb.b_sol, ks, strict=True) if b != 0)
        yerr = h * sum(float(b) * k for b, k in zip(tb.b_error, ks, strict=True) if b != 0)
        f1 = ks[-1] if tb.fsal else self.vf(y1, t1, self.args)
        dense = dict(y0=y, y1=y1, k=h * jnp.stack(ks))  # diffrax stores increments h·f
        return y1, yerr, dense, f1, jnp.ones((), bool)


class Attempt(NamedTuple):
    """One step attempt of the controller (``attempt``)."""

    h: Any  # the step size tried, after the underflow floor
    t1: Any  # the attempted step's end
    snap: Any  # the end was clipped to the limit
    y1: Any
    dense: Any
    sstate: Any  # the stepper's state after the step
    accept: Any
    h_new: Any  # the next step size to try
    failed: Any  # rejected at the underflow floor, or a non-finite step size


def _tiny(t):
    """Round-off of a time ``t``: steps below it would not advance ``t``."""
    return 8 * jnp.finfo(t.dtype).eps * jnp.maximum(jnp.abs(t), 1.0)


def attempt(stepper, t, y, h, sstate, lim, *, m, rtol, atol, hmax) -> Attempt:
    """Try the step of size ``h`` from ``(t, y)`` toward the limit ``lim`` and decide on it with
    the integral controller (the one stepping rule of ``solve`` and of the checkpointed adjoint's
    replay, which must take the same steps)."""
    # a step below round-off of t would not advance it: floor at the underflow threshold
    h = jnp.maximum(h, _tiny(t))
    # snap to the limit when the remainder is below round-off, so every accepted step advances
    snap = t + h >= lim - _tiny(lim)
    t1 = jnp.where(snap, lim, t + h)
    hh = t1 - t
    y1, yerr, dense, sstate1, ok = stepper.step(t, t1, y, sstate)
    scale = atol + rtol * jnp.maximum(jnp.abs(y[:m]), jnp.abs(y1[:m]))
    err = _rms(yerr[:m] / scale)
    ok = ok & jnp.isfinite(err) & jnp.all(jnp.isfinite(y1))
    err = jnp.where(ok, err, jnp.inf)
    accept = err <= 1.0
    expo = jnp.asarray(-1.0 / stepper.order, y.dtype)
    factor = jnp.where(err == 0, IFACTOR, jnp.clip(SAFETY * err**expo, DFACTOR, IFACTOR))
    factor = jnp.where(accept, factor, jnp.minimum(factor, SAFETY))
    # the step sequence carries no derivative: differentiating a solve (forward mode over a
    # backward pass) gives the derivative of the discrete solution at frozen steps
    factor = lax.stop_gradient(factor)
    h_new = jnp.minimum(hh * factor, hmax)
    # a rejected step that cannot shrink any further, or a non-finite step: failure
    failed = (~accept & (hh <= _tiny(t))) | ~jnp.isfinite(h_new)
    return Attempt(h, t1, snap, y1, dense, sstate1, accept, h_new, failed)


class _Step(NamedTuple):
    """The carry of the stepping loop within one output interval."""

    t: Any  # current time
    y: Any  # state at t
    h: Any  # next step size
    sstate: Any  # the stepper's own state (e.g. FSAL derivative)
    tprev: Any  # start of the last accepted step (for dense output)
    dense: Any  # dense output of the last accepted step, or None
    k: Any  # steps taken in this interval
    bad: Any  # failure flag (step underflow, non-finite step, record overflow)
    buf: Any  # recorded steps (t0s, t1s, dense, count), or the step trace, or None
    acc: Any  # quadrature accumulator, or None
    target: Any  # the interval's end


class _Interval(NamedTuple):
    """The carry of the scan over output times (``_Step`` without the per-interval fields)."""

    t: Any
    y: Any
    h: Any
    sstate: Any
    tprev: Any
    dense: Any
    bad: Any
    buf: Any
    acc: Any


def solve(  # noqa: C901, PLR0913, PLR0915 (the solver's options, one stepping loop)
    vf: Callable,
    y0,
    ts,
    args: Any,
    *,
    solver,
    rtol: float,
    atol: float,
    m: int | None = None,
    max_steps=jnp.inf,
    hmax=jnp.inf,
    land: bool = False,
    record: int = 0,
    quad: Callable | None = None,
    quad_init: Any = None,
    trace: tuple[int, int] | None = None,
    max_accepted: int = 0,
    h_init=None,
    return_h: bool = False,
    return_attempts: bool = False,
):
    """Integrate ``dy/dt = vf(y, t, args)`` from ``ts[0]`` and return ``y`` at every time in ``ts``.

    Args:
      vf: the vector field on flat states, ``vf(y, t, args) -> dy/dt``.
      y0: flat initial state at ``ts[0]``.
      ts: non-decreasing finite output times, shape ``(N+1,)``; ``ys[0] = y0``.
      m: only ``y[:m]`` enters the error norm (seminorm); ``None`` means all components.
      max_steps: most step attempts per output interval (as in ``jax.experimental.ode.odeint``).
      hmax: largest step.
      land: clip steps so that they end exactly on every output time (exact outputs, for solvers
        whose dense output is of low order); otherwise outputs are interpolated.
      record: if positive, record the accepted steps' dense output into a buffer of this many
        steps (an overflow makes the outputs NaN).
      quad: optional ``quad(acc, t0, t1, y_of_t, args) -> acc`` called on every accepted step with
        the step's interpolant ``y_of_t``; its final value is returned.
      trace: ``(steps, slots)``: record every accepted step's end time and the state at every
        ``stride``-th step (see ``Trace``), for the discrete adjoint; exclusive with
        ``record``. More than ``steps`` accepted steps in all make the outputs NaN.
      max_accepted: if positive (and neither ``record`` nor ``trace``), more accepted steps than
        this in all make the outputs NaN, as the same limit of ``trace`` does (so that a solve
        that is not differentiated gives the same values).
      h_init: the first step to try (a traced scalar; where it is not finite and positive, the
        usual starting-step heuristic, two vector-field calls). Successive solves over adjacent
        intervals pass on the step size this way instead of starting over.
      return_h: also return the step size the solve would have tried next.
      return_attempts: also return the step attempts (accepted or rejected) made in each output
        interval, shape ``(N,)`` int32: an upper bound on the accepted steps a re-solve over the
        same interval needs (last in the returned tuple).

    Returns:
      ``(ys, buffer, acc)``: ``ys`` of shape ``(N+1, n)``; ``buffer = (t0s, t1s, dense, count)``
      when ``record``, the final ``Trace`` when ``trace`` (else ``None``); ``acc`` the final
      quadrature accumulator (or ``None``); with ``return_h``, the next step size as a fourth.
    """
    n = y0.shape[0]
    m = n if m is None else m
    dtype = y0.dtype
    ts = jnp.asarray(ts, dtype)
    stepper = _Stepper(solver, vf, args)
    t0, tN = ts[0], ts[-1]
    order = stepper.order
    state0 = stepper.init(t0, tN, y0)
    # dense output is carried only where outputs are interpolated or steps recorded/quadratured
    need_dense = bool(record) or quad is not None or not (land or ts.shape[0] == 2)
    dense_shape = jax.eval_shape(lambda: stepper.step(t0, tN, y0, state0)[2])
    dense0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), dense_shape) if need_dense else None
    if h_init is None:
        h0 = _initial_step(vf, t0, y0, args, order, rtol, atol, m)
    else:
        h_init = jnp.asarray(h_init, dtype)
        h0 = lax.cond(
            jnp.isfinite(h_init) & (h_init > 0),
            lambda: h_init,
            lambda: _initial_step(vf, t0, y0, args, order, rtol, atol, m),
        )
    h0 = jnp.minimum(jnp.minimum(h0, hmax), tN - t0)
    h0 = jnp.where(jnp.isfinite(h0), h0, tN - t0)  # e.g. a zero-length segment's lookup
    h0 = lax.stop_gradient(h0)
    if record:
        buf0 = (
            jnp.full((record,), jnp.inf, dtype),
            jnp.full((record,), jnp.inf, dtype),
            jax.tree.map(lambda s: jnp.zeros((record, *s.shape), s.dtype), dense_shape),
            jnp.zeros((), jnp.int32),
        )
    elif trace:
        buf0 = Trace.empty(trace[1], y0, t0, None if stepper.lean else state0)
    elif max_accepted:
        buf0 = jnp.zeros((), jnp.int32)
    else:
        buf0 = None

    def step(c):
        t, y, h, sstate, tprev, dense, k, bad, buf, acc, target = c
        a = attempt(stepper, t, y, h, sstate, target if land else tN, m=m, rtol=rtol, atol=atol, hmax=hmax)
        t1, accept, dense1 = a.t1, a.accept, (a.dense if need_dense else None)
        bad = bad | a.failed
        if record:
            # element updates only (a rejected step writes back the old entry): the buffers are
            # never selected whole
            t0s, t1s, dbuf, cnt = buf
            i = jnp.minimum(cnt, record - 1)
            put = lambda b, v: b.at[i].set(jnp.where(accept, v, b[i]))  # noqa: E731
            buf = (put(t0s, t), put(t1s, t1), jax.tree.map(put, dbuf, dense1), cnt + accept.astype(cnt.dtype))
            bad = bad | (accept & (cnt >= record))
        elif trace:
            bad = bad | (accept & (buf.count >= trace[0]))
            # an explicit tableau's state is f(y, t), recomputed on replay: not stored
            kept = None if stepper.lean else sstate
            buf = buf.push(accept, Checkpoint(t, y, a.h, kept, buf.current), a.snap)
        elif max_accepted:
            bad = bad | (accept & (buf >= max_accepted))
            buf = buf + accept.astype(buf.dtype)
        if quad is not None:
            y_of = lambda s: interpolate(solver, t, t1, dense1, s)
            acc = _select(accept, quad(acc, t, t1, y_of, args), acc)
        t, y, sstate, tprev, dense = _select(
            accept, (t1, a.y1, a.sstate, t, dense1), (t, y, sstate, tprev, dense)
        )
        return _Step(t, y, a.h_new, sstate, tprev, dense, k + 1, bad, buf, acc, target)

    def cond(c):
        go = (c.t < c.target) & ~c.bad
        return go if max_steps == jnp.inf else go & (c.k < int(max_steps))

    def interval(carry, xs):
        target, index = xs
        t, y, h, sstate, tprev, dense, bad, buf, acc = carry
        if trace:
            # a step clipped in this interval ends on ts[index] (land) or on ts[N]
            buf = buf._replace(limit=index if land else jnp.asarray(ts.shape[0] - 1, jnp.int32))
        c = _Step(t, y, h, sstate, tprev, dense, jnp.zeros((), jnp.int32), bad, buf, acc, target)
        c = lax.while_loop(cond, step, c)
        t, y, h, sstate, tprev, dense, _, bad, buf, acc, _ = c
        bad = bad | (t < target)
        if need_dense:
            y_out = jnp.where(t == target, y, interpolate(solver, tprev, t, dense, target))
        else:
            y_out = y  # the steps land on the (single, final) target

        y_out = jnp.where(bad, jnp.nan, y_out)
        attempts = c.k if return_attempts else None  # stacked only where asked for
        return _Interval(t, y, h, sstate, tprev, dense, bad, buf, acc), (y_out, attempts)

    carry0 = _Interval(t0, y0, h0, state0, t0, dense0, jnp.zeros((), bool), buf0, quad_init)
    steps = (ts[1:], jnp.arange(1, ts.shape[0], dtype=jnp.int32))
    carry, (ys, attempts) = lax.scan(interval, carry0, steps)
    ys = jnp.concatenate([y0[None], ys], axis=0)
    extra = (attempts,) if return_attempts else ()
    bad, buf, acc = carry.bad, carry.buf, carry.acc
    if trace:
        buf = buf._replace(t_end=carry.t, bad=bad)
    if acc is not None:
        acc = jax.tree.map(lambda a: jnp.where(bad, jnp.nan, a), acc)
    if return_h:
        # a zero-length interval takes no step: pass the given step on unchanged
        h_next = carry.h if h_init is None else jnp.where(tN > t0, carry.h, h_init)
        return ys, buf, acc, lax.stop_gradient(h_next), *extra
    return ys, buf, acc, *extra


class Checkpoint(NamedTuple):
    """Where the step-size controller stood before an accepted step: enough to replay the steps
    from there (``attempt`` with ``h`` is accepted again, and so is every later step)."""

    t: Any  # the step's start
    y: Any  # the state at t
    h: Any  # the step size of the accepted attempt (after the underflow floor)
    sstate: Any  # the stepper's state at t; None where it is f(y, t) (explicit tableaux)
    anchor: Any  # int32: the output time t is tied to (see ``Trace``)


class Trace(NamedTuple):
    """Checkpoints of a solve, for its discrete adjoint (``solve(..., trace=(S, C))``).

    Step ``j`` (``0 ≤ j < count``) runs from ``t_j`` to ``t_{j+1}`` (``t_0 = ts[0]``,
    ``t_count = t_end``). Each step end is tied to an output time: a step clipped to an output time
    (or to ``ts[N]``) is tied to it, any other step end to the same output time as its start (its
    step size is held fixed, ``t_{j+1} = t_j + h``); ``t_0`` is tied to ``ts[0]``.
    ``checkpoints[s]`` is where the controller stood before step ``s·stride``. The stride starts at
    1 and doubles whenever the ``C`` slots are full (keeping every other checkpoint), so at the end
    ``count ≤ C·stride < 2·count`` (for ``count > C``): O(C) states for any number of steps, and
    no per-step record.
    """

    checkpoints: Any  # Checkpoint, each field with a leading axis of C slots
    count: Any  # int32: accepted steps
    stride: Any  # int32
    current: Any  # int32: the anchor of the current time
    limit: Any  # int32: the anchor of a clipped step in the current interval
    t_end: Any  # the time reached
    bad: Any  # the solve failed (outputs NaN), or more than S steps were accepted

    @staticmethod
    def empty(slots, y0, t0, sstate):
        i32 = lambda v: jnp.asarray(v, jnp.int32)
        point = Checkpoint(t0, y0, t0, sstate, i32(0))
        return Trace(
            jax.tree.map(lambda x: jnp.zeros((slots, *jnp.shape(x)), jnp.result_type(x)), point),
            i32(0),
            i32(1),
            i32(0),
            i32(0),
            t0,
            jnp.zeros((), bool),
        )

    def push(self, accept, point: Checkpoint, snapped):
        """Count the step that starts at ``point`` if ``accept``, keeping ``point`` when it falls on
        the stride (element updates only: the slots are never selected whole)."""
        slots = jax.tree.leaves(self.checkpoints)[0].shape[0]
        j = self.count

        def thin(a):
            points, stride = a

            def halve(x):
                kept = x[::2]
                return jnp.concatenate([kept, jnp.zeros((x.shape[0] - kept.shape[0], *x.shape[1:]), x.dtype)])

            return jax.tree.map(halve, points), stride * 2

        full = accept & (j % self.stride == 0) & (j // self.stride >= slots)
        points, stride = lax.cond(full, thin, lambda a: a, (self.checkpoints, self.stride))
        slot = jnp.minimum(j // stride, slots - 1)
        keep = accept & (j % stride == 0)
        points = jax.tree.map(lambda b, v: b.at[slot].set(jnp.where(keep, v, b[slot])), points, point)
        anchor = jnp.where(accept & snapped, self.limit, self.current)
        return self._replace(
            checkpoints=points,
            count=j + accept.astype(j.dtype),
            stride=stride,
            current=anchor,
        )
