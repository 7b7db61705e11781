"""The discrete adjoint of ``matcalc.ode.odeint``'s adaptive solver, with checkpoints.

The forward pass is the ordinary adaptive solve (``integrate.solve``) with a ``Trace``: the number
of accepted steps and, at every ``stride``-th step, where the step-size controller stood (time,
state, step size, tied output time). The computed
solution is then a composition of explicit maps

    y_{j+1} = Φ(t_j, t_{j+1}, y_j, θ)          (one Runge–Kutta step, j = 0, ..., M-1),
    y(t_i)  = y_{j+1}                          if t_i = t_{j+1},
            = p_j(t_i; t_j, t_{j+1}, y_j, K_j)  otherwise (the step's dense output, K_j its stages),

with the step sequence held fixed. Its exact reverse-mode derivative is the discrete adjoint,
from ``λ_M = 0`` down to ``j = 0``::

    μ_{j+1} = λ_{j+1} + Σ_{i: t_i = t_{j+1}} ȳ_i                     (cotangent of y_{j+1}),
    K̄_j     = Σ_{i interpolated in step j} (∂p_j/∂K_j)ᵀ ȳ_i          (likewise for y_j, t_j, t_i),
    (λ_j, θ̄_j, t̄_j, t̄_{j+1}) = (∂(y_{j+1}, K_j)/∂(y_j, θ, t_j, t_{j+1}))ᵀ (μ_{j+1}, K̄_j),
    θ̄ = Σ_j θ̄_j,    ȳ0 = λ_0 + Σ_{i: t_i = t_0} ȳ_i,

evaluated step by step with ``jax.vjp`` of one step (and of the interpolant). The step-size
controller's dependence on the state is not differentiated: the result is the gradient of the
computed solution as a function of ``(y0, θ, t)`` at the accepted steps, equal to reverse-mode
autodiff through the unrolled fixed-step integration to round-off (Hairer, Nørsett & Wanner,
*Solving ODEs I* §II.4; Sandu 2006, "On the properties of Runge–Kutta discrete adjoints";
Griewank & Walther, *Evaluating Derivatives* 2008, ch. 12 for checkpointing).

Times. A step end clipped to an output time (``land``) or to ``t_N`` moves with it; any other step
keeps its size, so its end moves with its start; the first step starts at ``t_0``. So
``∂/∂t_0`` shifts every step that is not clipped, and an interpolated output ``y(t_i)`` is
differentiated in its evaluation time ``t_i``. A step end tied to a repeated output time is tied
to its first occurrence (so a time that ``odeint`` repeats in place of offending ones carries no
cotangent, and a loss of the valid rows gets its exact gradient).

Steps. No step is recorded: each segment's steps are replayed from its checkpoint by the same
step-size controller (``integrate.attempt``, rejected attempts included) on the same stored numbers,
so the backward pass takes the forward pass's steps again. XLA may compile the same arithmetic
differently in the two programs; the error estimate (a small difference of stages) then turns
round-off into step sizes that differ by about ``eps/tol`` relative, which changes the gradient
far below the solver's tolerance (the gradient agrees with autodiff through the unrolled steps
to about 1e-13). Only an error estimate within that round-off of the acceptance threshold could
flip a decision; the segment's last step still ends at the next checkpoint, so the gradient would
then be that of a neighbouring step sequence, accurate to the tolerance.

Memory. The trace holds ``C`` checkpoints (``C = checkpoints``, the states plus four scalars each;
an implicit solver's own state too) and a step count bounded by ``S = max_steps``. The backward
pass walks the segments of ``stride`` steps in reverse (at most ``K`` steps each, ``K`` the least
power of two with ``C·K ≥ S``) and reverses each with one of two schedules:

* two-level (the default): one loop runs over the steps in reverse; entering a segment at its
  last step, it replays the segment from its checkpoint into a buffer of ``K`` states (and
  times). Memory ``(C + K)·n`` numbers; with the default ``C ≈ K ≈ √S`` it is ``O(√S·n)`` (the
  "√N" law); work is one forward solve plus at most one replayed step and one step VJP per
  accepted step (no replay when every step has its checkpoint).
* recursive, branching ``b`` (``_reverse_recursive``): the segment is cut into at most ``b``
  sub-segments whose starting checkpoints are pushed on a stack, the last one is cut again, and so
  on; a sub-segment is reversed when its turn comes and its checkpoint popped. Memory
  ``C·n + 2D·n`` numbers (a stacked checkpoint keeps the stepper's derivative too), ``D = 1 +
  (b − 1)·ℓ`` with ``b**ℓ ≥ K``; each step is replayed at most ``ℓ`` times. With ``C = b`` and
  ``b**L ≥ S`` this is ``O(L·b·n)`` and ``≈ L`` replays per step; ``b = 2`` gives
  ``O(n log₂ S)`` memory and ``O(S log₂ S)`` replayed steps (binary bisection).

Nothing grows with the number of steps but the schedule's sizes, fixed at compile time.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from .integrate import Checkpoint, _Stepper, attempt, interpolate


def sizes(max_steps: int, checkpoints: int | None) -> tuple[int, int, int]:
    """``(S, C, K)``: step buffer, stored states, segment buffer (least power of two, C·K ≥ S)."""
    if checkpoints is None:
        checkpoints = 1 << max(1, math.ceil(math.log2(math.sqrt(max_steps))))
    k = 1
    while checkpoints * k < max_steps:
        k *= 2
    return max_steps, checkpoints, k


def _levels_of(span: int, branching: int) -> int:
    """The least ``ℓ ≥ 0`` with ``branching**ℓ ≥ span``."""
    levels, reach = 0, 1
    while reach < span:
        reach *= branching
        levels += 1
    return levels


def recursive_sizes(max_steps: int, levels: int, checkpoints: int | None) -> tuple[int, int, int, int, int]:
    """``(S, C, K, b, D)`` of the recursive schedule with ``levels`` levels: the branching ``b``
    is the least integer ``≥ 2`` with ``b**levels ≥ S``; ``C`` stored states (default ``b``),
    segments of at most ``K`` steps (least power of two, ``C·K ≥ S``), a stack of
    ``D = 1 + (b − 1)·ℓ`` states, ``ℓ`` the least with ``b**ℓ ≥ K``."""
    b = 2
    while b**levels < max_steps:
        b += 1
    s, c, k = sizes(max_steps, b if checkpoints is None else checkpoints)
    return s, c, k, b, 1 + (b - 1) * _levels_of(k, b)


def _one_step(solver, vf, nd):
    """``Φ(t, t1, y, θ) -> (y1, dense)``: one step of ``solver`` at a fixed step, from ``y``."""

    def step(t, t1, y, theta):
        stepper = _Stepper(solver, lambda y_, t_, a: vf(y_, t_, *a), (theta, nd))
        state = stepper.init(t, t1, y)
        y1, _, dense, _, _ = stepper.step(t, t1, y, state)
        return y1, dense

    return step


def discrete_adjoint(vf, opts, segment, x, g, nd, trace, branching=0):  # noqa: C901, PLR0913, PLR0915
    """``(ȳ0, t̄, θ̄)``: the discrete adjoint of the traced solve for output cotangents ``g``.

    ``opts`` carries the forward solve's ``solver``, ``rtol``, ``atol``, ``m``, ``hmax`` and
    ``land``: the steps of each segment are replayed from its checkpoint with the same controller.
    ``segment`` is ``K``, the largest stride. ``branching`` ``b = 0``: each segment is replayed
    into a buffer of ``K`` states (the two-level schedule); ``b ≥ 2``: each segment is reversed by
    recursive checkpointing with branching ``b`` on a stack of ``1 + (b − 1)·ℓ`` states
    (``b**ℓ ≥ K``, see ``_reverse_recursive``).
    """
    y0, ts, theta = x
    n, dtype = y0.shape[0], y0.dtype
    count, stride, points = trace.count, trace.stride, trace.checkpoints
    solver = opts.solver
    phi = _one_step(solver, vf, nd)
    stepper = _Stepper(solver, lambda y_, t_, a: vf(y_, t_, *a), (theta, nd))
    nout = ts.shape[0]
    last = jnp.asarray(nout - 1, jnp.int32)
    m = n if opts.m is None else opts.m

    # a step end tied to a repeated output time (e.g. the copies of the last valid time that
    # replace offending times) is tied to its first occurrence
    first = jnp.searchsorted(ts, ts, side="left").astype(jnp.int32)
    tie = lambda a: first[a]

    def tied(t, anchor):
        """``t`` moving with its output time: ``t_a + (t − t_a)`` with the offset held fixed."""
        ta = ts[tie(anchor)]
        return ta + lax.stop_gradient(t - ta)

    def try_step(p):
        """One attempt of the controller from ``p`` as ``solve`` made it (the same ``attempt`` on
        the same numbers): ``(p after it, accepted, failed)``."""
        if opts.land:
            index = jnp.minimum(jnp.searchsorted(ts, p.t, side="right").astype(jnp.int32), last)
            lim, limit = ts[index], index
        else:
            lim, limit = ts[-1], last
        h = lax.stop_gradient(p.h)
        a = attempt(stepper, p.t, p.y, h, p.sstate, lim, m=m, rtol=opts.rtol, atol=opts.atol, hmax=opts.hmax)
        moved = Checkpoint(a.t1, a.y1, a.h_new, a.sstate, jnp.where(a.snap, limit, p.anchor))
        p = jax.tree.map(lambda u, v: jnp.where(a.accept, u, v), moved, p._replace(h=a.h_new))
        return p, a.accept, a.failed

    def in_step(q, t):
        """Output ``q`` lies after ``t`` (so in the step from ``t``, when no later step took it),
        and is not an output at ``t_0``."""
        qq = jnp.maximum(q, 0)
        return (q >= 1) & (ts[qq] > t) & (ts[qq] > ts[0])

    def outputs_of(t, t1, dense, tsbar, p):
        """Cotangents of the outputs in the step ``(t, t1]`` (``p``: the last output not yet
        visited; the later steps have taken every output after ``t1``)."""

        def one(c):
            y1bar, dbar, tbar, t1bar, tsbar_, q = c
            gq, tq = g[q], ts[q]
            exact = tq == t1
            _, pull = jax.vjp(lambda a, b, d, s: interpolate(solver, a, b, d, s), t, t1, dense, tq)
            ct_t, ct_t1, ct_d, ct_s = pull(jnp.where(exact, 0, gq))
            dbar = jax.tree.map(jnp.add, dbar, ct_d)
            return (
                y1bar + jnp.where(exact, gq, 0),
                dbar,
                tbar + ct_t,
                t1bar + ct_t1,
                tsbar_.at[q].add(ct_s),
                q - 1,
            )

        zero = jnp.zeros((), dtype)
        c0 = (jnp.zeros((n,), dtype), jax.tree.map(jnp.zeros_like, dense), zero, zero, tsbar, p)
        return lax.while_loop(lambda c: in_step(c[-1], t), one, c0)

    def backward_step(p, carry):
        """Reverse the step from ``p`` to the step end ``carry``'s ``(t1, a1)`` holds; that end
        becomes ``p``'s."""
        lam, thbar, tsbar, q, (t1, a1) = carry
        t = tied(p.t, p.anchor)

        def interpolated(tsbar, q):
            (_, dense), pull = jax.vjp(phi, t, t1, p.y, theta)
            y1bar, dbar, tbar, t1bar, tsbar, q = outputs_of(t, t1, dense, tsbar, q)
            return *pull((lam + y1bar, dbar)), tbar, t1bar, tsbar, q

        def at_end(tsbar, q):
            # no output inside the step: its dense output (the stage at y1 with it) is not needed
            _, pull = jax.vjp(lambda *a: phi(*a)[0], t, t1, p.y, theta)

            def one(c):
                y1bar, q = c
                return y1bar + g[q], q - 1

            y1bar, q = lax.while_loop(lambda c: in_step(c[1], t), one, (jnp.zeros((n,), dtype), q))
            zero = jnp.zeros((), dtype)
            return *pull(lam + y1bar), zero, zero, tsbar, q

        # an output inside the step (t, t1)? The outputs left are q, q - 1, ...; those at t1 come
        # first. Two at t1 (a repeated time) take the general path too.
        inside = in_step(q, t) & ((ts[q] < t1) | in_step(q - 1, t))
        ct_t, ct_t1, ct_y, ct_th, tbar, t1bar, tsbar, q = lax.cond(inside, interpolated, at_end, tsbar, q)
        tsbar = tsbar.at[tie(p.anchor)].add(ct_t + tbar).at[tie(a1)].add(ct_t1 + t1bar)
        return ct_y, thbar + ct_th, tsbar, q, (t, p.anchor)

    def checkpoint(s, wake=True):
        """The ``s``-th checkpoint, with the stepper's state (``wake``; recomputed where it is not
        stored)."""
        p = jax.tree.map(lambda b: b[s], points)
        if wake and p.sstate is None:
            p = p._replace(sstate=stepper.init(p.t, ts[-1], p.y))
        return p

    def seg_recursive(r, c):
        carry, failed = c
        s = nseg - 1 - r
        length = jnp.minimum(stride, count - s * stride)
        carry, failed_here = _reverse_recursive(
            try_step, lambda i, p, c: backward_step(p, c), checkpoint(s), length, segment, branching, carry
        )
        return carry, failed | failed_here

    # the two-level buffer keeps what a step's reversal reads: its start, state and anchor
    kept = lambda p: p._replace(h=None, sstate=None)

    def step_back(r, c):
        """Reverse step ``j = count − 1 − r``; on entering a segment (from its end), first replay
        its steps into the buffer. One loop over all steps: with every step checkpointed
        (``stride = 1``) there is nothing to replay and no per-segment loop to enter."""
        carry, buf, failed = c
        j = count - 1 - r
        s, i = j // stride, j % stride
        length = jnp.minimum(stride, count - s * stride)

        # replay steps 1, ..., length - 1 of segment s: one loop over attempts
        def replay(c2):
            p, k, buf, _ = c2
            p, accepted, failed = try_step(p)
            k = k + accepted.astype(k.dtype)
            buf = jax.tree.map(lambda b, v: b.at[k].set(jnp.where(accepted, v, b[k])), buf, kept(p))
            return p, k, buf, failed

        def replay_segment(buf):
            c2 = (checkpoint(s), jnp.zeros((), jnp.int32), buf, failed)
            return lax.while_loop(lambda c2: (c2[1] < length - 1) & ~c2[3], replay, c2)[2:]

        entering = (i == length - 1) & (length > 1)
        buf, failed = lax.cond(entering, replay_segment, lambda buf: (buf, failed), buf)
        start = kept(checkpoint(s, wake=False))
        p = jax.tree.map(lambda b, v: jnp.where(i == 0, v, b[i]), buf, start)
        return backward_step(p, carry), buf, failed

    # nothing to reverse after a failed solve (its outputs are NaN)
    nseg = jnp.where(trace.bad, 0, (count + stride - 1) // stride)
    nsteps = jnp.where(trace.bad, 0, count)
    carry = (
        jnp.zeros((n,), dtype),
        jnp.zeros_like(theta),
        jnp.zeros_like(ts),
        last,
        (tied(trace.t_end, trace.current), trace.current),
    )
    # a replay that cannot retake a step of the forward pass (not seen: it reruns the same
    # arithmetic) fails loudly, like the forward pass
    failed = jnp.zeros((), bool)
    if branching:
        (lam, thbar, tsbar, p, _), failed = lax.fori_loop(0, nseg, seg_recursive, (carry, failed))
    else:
        p0 = kept(checkpoint(0, wake=False))
        buf = jax.tree.map(lambda v: jnp.zeros((segment, *v.shape), v.dtype), p0)
        (lam, thbar, tsbar, p, _), _, failed = lax.fori_loop(0, nsteps, step_back, (carry, buf, failed))
    # outputs at t_0 (i = 0 and any later t_i = t_0) are y0 itself
    idx = jnp.arange(nout, dtype=jnp.int32)
    at_start = (idx == 0) | (idx <= p)
    y0bar = lam + jnp.sum(jnp.where(at_start[:, None], g, 0), axis=0)
    nan = lambda v: jnp.where(trace.bad | failed, jnp.nan, v)
    return nan(y0bar), nan(tsbar), nan(thbar)


def _reverse_recursive(try_step, backward, y0, length, span, branching, carry):  # noqa: PLR0913
    """Reverse the steps ``0, ..., length − 1`` (``length ≤ span``) from the state ``y0`` before
    step 0 by recursive checkpointing with branching ``b``: ``backward(i, y_i, carry)`` for ``i``
    from ``length − 1`` down to 0, each ``y_i`` replayed from an earlier one by attempts
    ``try_step(y) -> (y', accepted, failed)`` (``y' = y_{i+1}`` when ``y = y_i`` and the attempt
    is accepted). Returns the final carry and whether an attempt failed (the reversal then stops
    replaying and its result is meaningless).

    A stack holds states ``y_j`` with increasing ``j``. To reverse step ``h``, the top ``y_j``
    with gap ``d = h + 1 − j > 1`` is swept forward over ``⌊(d − 1)/σ⌋·σ`` steps, pushing the
    state at every multiple ``j + σ, j + 2σ, ...`` of ``σ``, the largest power of ``b`` below
    ``d``; this repeats until the top is ``y_h`` (then step ``h`` is reversed and popped). The
    sub-segment size ``σ`` strictly decreases along nested sweeps, so each step is replayed at
    most ``ℓ`` times (``b**ℓ ≥ span``) and the stack holds at most ``1 + (b − 1)·ℓ`` states (a
    sweep pushes at most ``b − 1``); for ``b = 2`` this is binary bisection, ``log₂`` in the
    segment length (Griewank & Walther 2008, ch. 12).
    """
    levels = _levels_of(span, branching)
    depth = 1 + (branching - 1) * levels
    powers = jnp.asarray([branching**i for i in range(levels + 1)], jnp.int32)
    ys = jax.tree.map(lambda v: jnp.zeros((depth, *jnp.shape(v)), jnp.result_type(v)).at[0].set(v), y0)
    idx = jnp.zeros((depth,), jnp.int32)
    top = jnp.zeros((), jnp.int32)
    failed = jnp.zeros((), bool)

    def reverse_one(r, c):
        ys, idx, top, failed, carry = c
        h = length - 1 - r  # the step to reverse

        def gap(c2):
            _, idx, top, failed = c2
            return (h - idx[top] > 0) & ~failed

        def sweep(c2):
            ys, idx, top, failed = c2
            j = idx[top]
            d = h + 1 - j
            sub = powers[jnp.searchsorted(powers, d, side="left") - 1]
            steps = (d - 1) // sub * sub

            # one loop over attempts (not one per step): a step is an attempt that is accepted
            def one_attempt(c3):
                y, i, ys, idx, top, _ = c3
                y, accepted, failed = try_step(y)
                i = i + accepted.astype(i.dtype)
                push = accepted & (i % sub == 0)
                top = top + push.astype(top.dtype)
                ys = jax.tree.map(lambda b, v: b.at[top].set(jnp.where(push, v, b[top])), ys, y)
                idx = idx.at[top].set(jnp.where(push, j + i, idx[top]))
                return y, i, ys, idx, top, failed

            y = jax.tree.map(lambda b: b[top], ys)
            c3 = (y, jnp.zeros((), jnp.int32), ys, idx, top, failed)
            _, _, ys, idx, top, failed = lax.while_loop(lambda c: (c[1] < steps) & ~c[5], one_attempt, c3)
            return ys, idx, top, failed

        ys, idx, top, failed = lax.while_loop(gap, sweep, (ys, idx, top, failed))
        carry = backward(h, jax.tree.map(lambda b: b[top], ys), carry)
        return ys, idx, top - 1, failed, carry

    out = lax.fori_loop(0, length, reverse_one, (ys, idx, top, failed, carry))
    return out[4], out[3]
