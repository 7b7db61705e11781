"""The discrete adjoint of ``matcalc.ode.odeint``'s adaptive solver, with checkpoints.

The forward pass is the ordinary adaptive solve (``integrate.solve``) with a ``Trace``: every
accepted step's end time ``t_{j+1}`` and the state at every ``stride``-th step. The computed
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

Memory. The trace holds ``S`` step times (``S = max_steps``) and ``C`` states (``C =
checkpoints``). The backward pass walks the segments of ``stride`` steps in reverse (at most
``K`` steps each, ``K`` the least power of two with ``C·K ≥ S``) and reverses each with one of
two schedules:

* two-level (the default): the segment is replayed forward from its stored state with the
  recorded steps into a buffer of ``K`` states, then the step adjoints run backward through it.
  Memory ``(C + K)·n`` numbers; with the default ``C ≈ K ≈ √S`` it is ``O(√S·n)`` (the "√N"
  law); work is one forward solve plus one replayed step and one step VJP per accepted step.
* recursive, branching ``b`` (``_reverse_recursive``): the segment is cut into at most ``b``
  sub-segments whose starting states are pushed on a stack, the last one is cut again, and so
  on; a sub-segment is reversed when its turn comes and its state popped. Memory ``(C + D)·n``
  numbers, ``D = 1 + (b − 1)·ℓ`` with ``b**ℓ ≥ K``; each step is replayed at most ``ℓ`` times.
  With ``C = b`` and ``b**L ≥ S`` this is ``≈ L·b`` states and ``≈ L`` replays per step; ``b =
  2`` gives ``O(n log₂ S)`` states and ``O(S log₂ S)`` replayed steps (binary bisection).

Both add ``S`` step records (a time and an int32 each, 12 bytes in float64), fixed at compile
time like every size here: the step record is ``O(S)`` in either schedule. The step sequence is
recorded rather than re-derived by re-running the step-size controller, so that the backward pass
walks exactly the forward pass's steps (a re-run could round differently and accept another step).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from .integrate import _Stepper, interpolate


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


def discrete_adjoint(vf, solver, segment, x, g, nd, trace, branching=0):  # noqa: PLR0913
    """``(ȳ0, t̄, θ̄)``: the discrete adjoint of the traced solve for output cotangents ``g``.

    ``segment`` is ``K``, the largest stride. ``branching`` ``b = 0``: each segment is replayed
    into a buffer of ``K`` states (the two-level schedule); ``b ≥ 2``: each segment is reversed by
    recursive checkpointing with branching ``b`` on a stack of ``1 + (b − 1)·ℓ`` states
    (``b**ℓ ≥ K``, see ``_reverse_recursive``).
    """
    y0, ts, theta = x
    n, dtype = y0.shape[0], y0.dtype
    t1s, anchors, count, states, stride = trace.t1s, trace.anchors, trace.count, trace.states, trace.stride
    phi = _one_step(solver, vf, nd)
    nout = ts.shape[0]
    # the step whose dense output gives output i: the first j with t_{j+1} ≥ t_i (-1: y0 itself)
    owner = jnp.where(ts > ts[0], jnp.searchsorted(t1s, ts, side="left").astype(jnp.int32), -1)

    # a step end tied to a repeated output time (e.g. the copies of the last valid time that
    # replace offending times) is tied to its first occurrence
    first = jnp.searchsorted(ts, ts, side="left").astype(jnp.int32)
    tie = lambda a: first[a]

    def start(j):
        jm = jnp.maximum(j - 1, 0)
        return jnp.where(j == 0, ts[0], t1s[jm]), tie(jnp.where(j == 0, 0, anchors[jm]))

    def outputs_of(j, t, t1, dense, tsbar, p):
        """Cotangents of the outputs owned by step j (p: the last output not yet visited)."""

        def more(c):
            return (c[-1] >= 1) & (owner[jnp.maximum(c[-1], 0)] == j)

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
        return lax.while_loop(more, one, c0)

    def backward_step(j, y, carry):
        lam, thbar, tsbar, p = carry
        t, a0 = start(j)
        t1 = t1s[j]
        (_, dense), pull = jax.vjp(phi, t, t1, y, theta)
        y1bar, dbar, tbar, t1bar, tsbar, p = outputs_of(j, t, t1, dense, tsbar, p)
        ct_t, ct_t1, ct_y, ct_th = pull((lam + y1bar, dbar))
        tsbar = tsbar.at[a0].add(ct_t + tbar).at[tie(anchors[j])].add(ct_t1 + t1bar)
        return ct_y, thbar + ct_th, tsbar, p

    def advance(j, y):
        """The state after step ``j`` from the state ``y`` before it, by the recorded step."""
        t, _ = start(j)
        return phi(t, t1s[j], y, theta)[0]

    def seg_recursive(r, carry):
        s = nseg - 1 - r
        j0 = s * stride
        length = jnp.minimum(stride, count - j0)
        return _reverse_recursive(
            lambda i, y: advance(j0 + i, y),
            lambda i, y, c: backward_step(j0 + i, y, c),
            states[s],
            length,
            segment,
            branching,
            carry,
        )

    def seg(r, carry):
        s = nseg - 1 - r
        j0 = s * stride
        length = jnp.minimum(stride, count - j0)

        def replay(i, buf):
            j = j0 + i - 1
            t, _ = start(j)
            return buf.at[i].set(phi(t, t1s[j], buf[i - 1], theta)[0])

        buf = jnp.zeros((segment, n), dtype).at[0].set(states[s])
        buf = lax.fori_loop(1, length, replay, buf)

        def back(r2, c):
            i = length - 1 - r2
            return backward_step(j0 + i, buf[i], c)

        return lax.fori_loop(0, length, back, carry)

    nseg = (count + stride - 1) // stride
    carry = (
        jnp.zeros((n,), dtype),
        jnp.zeros_like(theta),
        jnp.zeros_like(ts),
        jnp.asarray(nout - 1, jnp.int32),
    )
    lam, thbar, tsbar, p = lax.fori_loop(0, nseg, seg_recursive if branching else seg, carry)
    # outputs at t_0 (i = 0 and any later t_i = t_0) are y0 itself
    idx = jnp.arange(nout, dtype=jnp.int32)
    at_start = (idx == 0) | (idx <= p)
    y0bar = lam + jnp.sum(jnp.where(at_start[:, None], g, 0), axis=0)
    nan = lambda v: jnp.where(trace.bad, jnp.nan, v)
    return nan(y0bar), nan(tsbar), nan(thbar)


def _reverse_recursive(advance, backward, y0, length, span, branching, carry):  # noqa: PLR0913
    """Reverse the steps ``0, ..., length − 1`` (``length ≤ span``) from the state ``y0`` before
    step 0 by recursive checkpointing with branching ``b``: ``backward(i, y_i, carry)`` for ``i``
    from ``length − 1`` down to 0, each ``y_i`` replayed by ``advance(i, y_i) = y_{i+1}``.

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
    ys = jnp.zeros((depth, *y0.shape), y0.dtype).at[0].set(y0)
    idx = jnp.zeros((depth,), jnp.int32)
    top = jnp.zeros((), jnp.int32)

    def reverse_one(r, c):
        ys, idx, top, carry = c
        h = length - 1 - r  # the step to reverse

        def gap(c2):
            _, idx, top = c2
            return h - idx[top] > 0

        def sweep(c2):
            ys, idx, top = c2
            j = idx[top]
            d = h + 1 - j
            sub = powers[jnp.searchsorted(powers, d, side="left") - 1]
            pushes = (d - 1) // sub

            def replay(i, c3):
                y, ys, idx, top = c3
                y = advance(j + i, y)
                push = (i + 1) % sub == 0
                top = top + push.astype(top.dtype)
                ys = ys.at[top].set(jnp.where(push, y, ys[top]))
                idx = idx.at[top].set(jnp.where(push, j + i + 1, idx[top]))
                return y, ys, idx, top

            _, ys, idx, top = lax.fori_loop(0, pushes * sub, replay, (ys[top], ys, idx, top))
            return ys, idx, top

        ys, idx, top = lax.while_loop(gap, sweep, (ys, idx, top))
        carry = backward(h, ys[top], carry)
        return ys, idx, top - 1, carry

    return lax.fori_loop(0, length, reverse_one, (ys, idx, top, carry))[3]
