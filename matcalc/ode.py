"""ODE solutions with hand-written adjoints: a drop-in for ``jax.experimental.ode.odeint``.

``odeint(func, y0, t, *args)`` solves ``dy/dt = func(y, t, *args)`` with a diffrax solver and
returns ``y`` at every time in ``t``. Its derivative is one of five hand-written rules chosen by
``adjoint=``: three continuous adjoints and the solver's checkpointed discrete adjoint for reverse
mode, and forward sensitivities for forward mode. See ``odeint``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from ._ode.adjoints import (
    ADJOINTS,
    Adjoint,
    BacksolveAdjoint,
    CheckpointedAdjoint,
    ForwardSensitivity,
    InterpolatedAdjoint,
    Options,
    QuadratureAdjoint,
    resolve_adjoint,
    trace_sizes,
)

if TYPE_CHECKING:
    import diffrax

__all__ = [
    "BacksolveAdjoint",
    "CheckpointedAdjoint",
    "ForwardSensitivity",
    "InterpolatedAdjoint",
    "QuadratureAdjoint",
    "odeint",
]

_EXACT_OUTPUT_SOLVERS = ("Tsit5", "Dopri5", "Dopri8")


def odeint(  # noqa: C901, PLR0913 (JAX's signature plus the adjoint options)
    func: Callable[..., Any],
    y0: Any,
    t: ArrayLike,
    *args: Any,
    rtol: float = 1.4e-8,
    atol: float = 1.4e-8,
    mxstep: int | float = 100_000,
    hmax: float = jnp.inf,
    adjoint: Literal["backsolve", "interpolated", "quadrature", "checkpointed", "forward"]
    | Adjoint = "backsolve",
    solver: diffrax.AbstractAdaptiveSolver | None = None,
    checkpoints: int = 16,
    segment_steps: int = 512,
) -> Any:
    """Solve ``dy/dt = func(y, t, *args)`` and return ``y`` at each time in ``t``.

    Same calling convention as ``jax.experimental.ode.odeint``: ``y0`` and ``args`` may be pytrees
    (closed-over arrays are hoisted into the arguments with ``jax.closure_convert``), ``t`` is a
    1-D array of times with ``t[0]`` the initial time, and the result has the structure of ``y0``
    with a leading axis of length ``len(t)``. Derivatives flow to ``y0``, ``t`` and every
    floating-point or complex leaf of ``args`` (equinox modules included, see ``*args``).

    Times. ``t`` may be non-decreasing (as in JAX) or non-increasing: a decreasing ``t`` integrates
    backward in time, exactly as the forward problem in ``s = -t`` (``dz/ds = -f(z, -s)``), with
    the same derivatives in every ``adjoint`` mode. Repeated times are zero-length intervals (the
    row repeats). The direction is that of the first nonzero difference ``t[i+1] - t[i]``. An entry
    of ``t`` that is not finite (NaN, ±inf), or that goes against the direction, is *offending*:
    the rows from the first offending entry on are NaN, the earlier rows are the solution (all rows
    are NaN if ``t[0]`` is not finite). This is a value check, so it is the same eagerly and under
    ``jit``/``vmap``/``grad`` (no exception); the solve stops at the last valid time and returns
    promptly. The NaN rows carry no derivative: a loss of the valid rows gets its exact gradient,
    and the offending entries of ``t`` get zero cotangents. (JAX's ``odeint`` does not return
    for ``t = [0, inf]`` and returns NaN rows for decreasing or repeated times.)

    Args:
      func: the vector field ``func(y, t, *args)``, returning a pytree like ``y``.
      y0: initial state, a pytree of float32/float64 or complex64/complex128 arrays (integer
        arrays are promoted to the default float dtype; float16 and bfloat16 raise a
        ``TypeError``: the step-size control needs tolerances below their resolution).
        ``jax.experimental.ode.odeint`` returns NaN for float16, the unchanged ``y0`` for
        bfloat16, fails inside its loop for integers and refuses complex states. A complex leaf
        is integrated as the real pair ``(Re y, Im y)`` (the error norm runs over both), so
        ``func`` may be any, not necessarily holomorphic, function of ``y``; it must return a
        real value for a real leaf.
      t: output times, shape ``(N+1,)``, monotone (see Times above); cast to ``y0``'s real dtype.
      *args: extra arguments of ``func``: any pytrees whose leaves are arrays or Python numbers
        (floating and complex leaves are differentiated, integer and boolean ones are not), and
        equinox modules (e.g. ``eqx.nn.MLP``), whose non-array leaves (activation functions, ...)
        are static, as in ``eqx.partition(module, eqx.is_array)``; differentiate such a module
        with ``eqx.filter_grad``. Any other non-array leaf raises a ``TypeError`` naming its path
        in ``args`` and its type.
      rtol: relative error tolerance of the adaptive step-size control (RMS norm of
        ``err / (atol + rtol·|y|)``), used by the forward and every backward solve.
      atol: absolute error tolerance, likewise.
      mxstep: most step attempts (accepted or rejected) between two output times, in the forward
        solve and in every backward solve; an interval that needs more gives NaN from that row on
        (gradients NaN). Default ``100_000`` (under a second of stepping for a small state on a
        CPU), so that no input runs forever: a huge span such as ``t = [0, 1e300]`` of an
        oscillator returns NaN promptly. ``inf`` lifts the cap (JAX's default), and with it that
        guarantee. With ``adjoint="checkpointed"`` it also sizes the record of accepted steps (in
        all, not per interval; see ``CheckpointedAdjoint``).
      hmax: largest step size (positive).
      adjoint: the derivative rule, ``"backsolve"`` (default), ``"interpolated"``,
        ``"quadrature"``, ``"checkpointed"`` or ``"forward"`` (see Derivative below), or the same
        rule as an object: ``BacksolveAdjoint``, ``InterpolatedAdjoint``,
        ``QuadratureAdjoint``, ``CheckpointedAdjoint``, ``ForwardSensitivity``
        (the interpolated and quadrature ones may carry their own ``checkpoints`` and
        ``segment_steps``; the checkpointed one its ``checkpoints`` and ``max_steps``).
      solver: a diffrax solver (default ``diffrax.Tsit5()``); e.g. ``diffrax.Kvaerno5()`` for
        stiff problems (its root-finder tolerances default to ``rtol``/``atol``). For solvers
        other than Tsit5/Dopri5/Dopri8 the steps land exactly on each output time instead of
        interpolating, since their dense output is only third order.
      checkpoints: ("interpolated", "quadrature") number of extra evenly spaced checkpoints
        stored by the forward pass, besides the output times (an output time within half a
        spacing of one serves in its place). (``"checkpointed"`` takes its
        sizes from ``CheckpointedAdjoint`` instead.)
      segment_steps: ("interpolated", "quadrature") size of the buffer that holds the re-solved
        dense output (of as many segments as the forward pass took at most half this many step
        attempts over, or else of one segment); a segment needing more steps gives NaN
        gradients (raise ``checkpoints`` or this).

    Returns:
      ``y`` at every time of ``t``: the pytree of ``y0`` with a leading axis ``len(t)``.

    Derivative:
      With the adjoint ``a(t) = ∂L/∂y(t)`` of a loss of the outputs (cotangents ``ȳ_i``)::

          a' = -aᵀ ∂f/∂y between output times,  a(t_i⁻) = a(t_i⁺) + ȳ_i,  a(t_N) = ȳ_N,
          ȳ0 = a(t_0⁻),   ā = ∫ aᵀ ∂f/∂args dt,
          t̄_i = ȳ_iᵀ f(y_i, t_i) (i ≥ 1),   t̄_0 = -a(t_0⁺)ᵀ f(y_0, t_0)

      (derivation: ``d/dt (aᵀ δy) = 0`` for the variational equation ``δy' = f_y δy + f_θ δθ``,
      so ``aᵀ δy`` is conserved between outputs and the source ``aᵀ f_θ δθ`` integrates to ``ā``;
      Chen et al. 2018). The five rules:

      * ``"backsolve"``: ``(y, a, ā)`` solved backward as one ODE, ``y`` re-solved from the output
        values, error control on ``(y, a)`` only (the seminorm of Kidger, Chen & Lyons, ICML 2021:
        ``ā`` is a pure quadrature and need not limit the step). O(1) memory in the number of
        steps. The backward solve of each output interval starts with the step size the previous
        one ended with (as do the backward solves of the two rules below). Inaccurate when
        backward integration of ``y`` is unstable (strongly dissipative or stiff ``f``: errors
        grow like ``exp(∫|λ_min|)``) — use ``"interpolated"`` there.
      * ``"interpolated"``: the forward solution is checkpointed at the output times and
        ``checkpoints`` further times; backward, the forward problem is re-solved with dense
        output from a stored time, once for as many segments as fit ``segment_steps`` by the
        forward pass's step count (segment by segment if that overflows anyway: one re-solve in
        all when every step fits), and ``(a, ā)`` integrated against that interpolant, stopping
        only at output times and where a re-solve starts (SciMLSensitivity's
        InterpolatingAdjoint with checkpointing), ``ā`` inside the error norm (``y`` is not a
        backward state, so a fast transient of ``y`` is resolved only through ``ā``'s integrand).
        Stable; memory O(checkpoints + segment_steps).
      * ``"quadrature"``: as ``"interpolated"``, but only ``a`` is an ODE state; ``ā`` is a
        3-point Gauss–Legendre quadrature of ``aᵀ f_θ`` over each accepted backward step, using
        both dense outputs (QuadratureAdjoint). Fewer backward stages touch ``∂f/∂θ``, but the
        backward steps are controlled by ``a`` alone: where ``y`` has a fast transient that ``a``
        does not (strongly dissipative problems), prefer ``"interpolated"``.
      * ``"checkpointed"``: the discrete adjoint of the solver — the exact gradient of the
        computed solution, to round-off, rather than an approximation of the continuous one. The
        forward pass stores where the step-size controller stood (time, state, step size) at every
        ``stride``-th accepted step; backward, each segment's steps are replayed from there by the
        same controller, and ``jax.vjp`` of one Runge–Kutta step ``y_{j+1} = Φ(t_j, t_{j+1}, y_j, θ)``
        (and of the dense output, for interpolated outputs) carries the cotangent back:
        ``λ_j = Φ_yᵀ λ_{j+1}``, ``θ̄ += Φ_θᵀ λ_{j+1}``. The step sizes are held fixed: the step-size
        controller's dependence on ``y`` and ``θ`` is not differentiated, so this is the gradient
        of the map ``(y0, θ, t) ↦ outputs`` at the accepted steps (what autodiff through the
        unrolled fixed-step integration gives; it differs from the exact ODE gradient by the
        discretization error, as ``"backsolve"`` etc. do by their backward solves' error). In
        ``t``: a step clipped to an output time (or ``t_N``) moves with it, every other step
        keeps its size, and an interpolated output is differentiated in its evaluation time (a
        step end tied to a repeated time goes to its first occurrence).
        Memory ``O((C + K)·n)`` for ``C`` stored states and replay segments of ``K`` steps
        (``C·K ≥ S``, ``S`` the most steps allowed), fixed at compile time; ``C ≈ K ≈ √S`` by default
        (two-level "√N" checkpointing). Work: the forward solve, then one replayed step and one
        step VJP per accepted step. ``CheckpointedAdjoint(levels=L)`` reverses each segment by
        recursive checkpointing instead: ``O(n·L·S^{1/L})`` memory (``O(n log S)`` at
        ``L = ⌈log₂ S⌉``), each step replayed at most ``L`` times; nothing is stored per step.
        References: Hairer, Nørsett & Wanner §II.4; Sandu (2006),
        Runge–Kutta discrete adjoints; Griewank & Walther, *Evaluating Derivatives* (2008) ch. 12.
      * ``"forward"``: forward sensitivities ``ẏ' = f_y ẏ + f_θ θ̇``,
        ``ẏ(t_0) = ẏ0 - f(y_0, t_0)ṫ_0``, output tangents ``ẏ_i + f(y_i, t_i)ṫ_i``, solved with
        ``y`` (tangents outside the error norm, so the JVP is linear in the tangent). The rule
        calls itself on the augmented system, so higher-order forward mode works too.

      Complex states and arguments follow JAX's convention for real losses: the cotangent of a
      complex ``z`` is ``∂L/∂Re z - i ∂L/∂Im z`` (what ``jax.grad`` returns), so the formulas
      above hold with ``aᵀ v`` read as ``Re Σ a v`` — exactly what the real pair representation
      computes.

      The first four are ``jax.custom_vjp`` rules: ``jax.grad``/``jax.vjp`` work, ``jax.jvp``
      and ``jax.jacfwd`` raise JAX's ``TypeError`` ("can't apply forward-mode autodiff (jvp) to a
      custom_vjp function"). ``"forward"`` is a ``jax.custom_jvp`` rule: ``jax.jvp``,
      ``jax.jacfwd`` and jvp-of-jvp work; reverse mode raises a ``TypeError`` naming the
      reverse-mode adjoints. Every rule works under ``jax.jit`` and ``jax.vmap``.

      Second order. With the reverse-mode adjoints every composition that ends in reverse mode
      works: ``jax.grad(jax.grad(f))``, ``jax.jacrev(jax.jacrev(f))``, ``jax.hessian(f)``
      (``= jax.jacfwd(jax.jacrev(f))``), ``jax.jvp(jax.grad(f), ...)``, and further reverse
      derivatives on top (``jax.grad`` three times). The forward pass and the backward pass are
      primitives with derivative rules of their own. The backward pass is
      ``B(x, ȳ) = J(x)ᵀ ȳ`` (``x = (y0, t, args)``, ``J`` the Jacobian of the outputs); its
      derivative ``dB = ∂ₓB[dx] + J(x)ᵀ dȳ`` is evaluated in forward mode through the backward
      solves, and its transpose, from ``⟨c, J(x)ᵀ ȳ⟩ = ⟨ȳ, J(x) c⟩``, is ``J(x) c`` (forward
      sensitivities along ``c``) for ``ȳ`` and ``∇ₓ⟨ȳ, J(x) c⟩`` for ``x`` — the same adjoint rule
      applied to the sensitivity system ``(y, ẏ)' = (f, f_y ẏ + f_θ c_θ)`` (with
      ``"checkpointed"``, its discrete adjoint). Step sequences carry
      no derivative (they are held fixed), so each derivative is that of the computed solution or
      gradient at the steps taken, and converges to the exact one with the tolerances (e.g.
      ``d²y(T)/dk² = T² e^{-kT} y0`` for ``y' = -k y`` to about 1e-10 at ``rtol = atol = 1e-10``,
      ``d³y/dk³`` likewise). Forward mode twice over a reverse-mode adjoint
      (``jax.jacfwd(jax.hessian(f))``) raises a ``TypeError`` naming these routes. With
      ``adjoint="forward"``, derivatives of any order are forward mode (``jax.jacfwd`` nested,
      jvp-of-jvp).
      A solve that exceeds ``mxstep``, underflows its step size (a rejected step below
      ``8·eps·max(|t|, 1)``, which is also the smallest step attempted), overflows
      ``segment_steps`` (or, with ``"checkpointed"``, records more than ``max_steps`` accepted
      steps) or meets an offending time returns NaN (values or gradients) from that row
      on, never a silently wrong number.

      References: Chen, Rubanova, Bettencourt & Duvenaud, NeurIPS 2018; Kidger, Chen & Lyons,
      ICML 2021; SciMLSensitivity.jl (InterpolatingAdjoint, QuadratureAdjoint); Hairer, Nørsett &
      Wanner, *Solving ODEs I* (1993) §II.4 (step control), §I.14 (sensitivities).

    Examples:
      >>> def f(y, t, k):
      ...     return -k * y
      >>> t = jnp.array([0., 1.])
      >>> y = matcalc.ode.odeint(f, jnp.array(1.), t, 2.)  # y(t) = exp(−k t)
      >>> print(f"{float(y[1]):.6f} {np.exp(-2):.6f}")
      0.135335 0.135335
      >>> dk = jax.grad(lambda k: matcalc.ode.odeint(f, jnp.array(1.), t, k)[1])(2.)  # ∂y(1)/∂k = −exp(−k)
      >>> print(f"{float(dk):.6f}")
      -0.135335
    """
    import diffrax

    adjoint_arg = adjoint
    adjoint, checkpoints, segment_steps = resolve_adjoint(adjoint, checkpoints, segment_steps)
    if solver is None:
        solver = diffrax.Tsit5()
    if not isinstance(solver, diffrax.AbstractAdaptiveSolver):
        raise TypeError(f"odeint: solver must be an adaptive diffrax solver, got {type(solver).__name__}")

    max_steps = _check_mxstep(mxstep)
    trace = trace_sizes(adjoint_arg, max_steps)
    if not isinstance(hmax, jax.Array) and not hmax > 0:
        raise ValueError(f"odeint: hmax must be positive, got {hmax!r}")

    y_leaves, y_def = jax.tree.flatten(y0)
    if not y_leaves:
        raise ValueError("odeint: y0 has no array leaves")
    for leaf in y_leaves:
        dt = jnp.result_type(leaf)
        if jnp.issubdtype(dt, jnp.floating) and jnp.finfo(dt).bits < 32:
            raise TypeError(
                f"odeint: y0 has dtype {dt} (shape {jnp.shape(leaf)}); the step-size control "
                "needs float32 or float64 (its tolerances are below this dtype's resolution): "
                "cast y0 to float32"
            )
        if not (jnp.issubdtype(dt, jnp.inexact) or jnp.issubdtype(dt, jnp.integer)):
            raise TypeError(
                f"odeint: y0 must be a floating, complex (or integer) array, got dtype {dt} "
                f"(shape {jnp.shape(leaf)})"
            )
    y_leaves = [
        jnp.asarray(x)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
        else jnp.asarray(x, jnp.result_type(float))
        for x in y_leaves
    ]
    y_cplx = [jnp.iscomplexobj(x) for x in y_leaves]
    # a complex leaf travels as the real pair (Re, Im): every rule works on real flat states
    y0_flat, unravel_parts = ravel_pytree(_split_complex(y_leaves, y_cplx))
    dtype = y0_flat.dtype

    def unravel(v):
        return jax.tree.unflatten(y_def, _merge_complex(unravel_parts(v), y_cplx))

    t = jnp.asarray(t)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError(
            f"odeint: t must be a 1-D array of times with at least one entry, got shape {t.shape}"
        )
    if not (jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)):
        raise TypeError(f"odeint: t must be real, got dtype {t.dtype}")
    t = t.astype(dtype)
    sign, st, valid = _orient_times(t)
    if t.shape[0] == 1:
        return jax.tree.map(
            lambda x: jnp.where(valid[0], x, jnp.nan)[None], jax.tree.unflatten(y_def, y_leaves)
        )

    # *args: array leaves are arguments; non-array leaves inside equinox modules are static
    arg_leaves, arg_def = jax.tree.flatten(args)
    is_array = _array_mask(args)
    static = [x for x, a in zip(arg_leaves, is_array, strict=True) if not a]

    def func_of_arrays(y, t_, *arrays):
        arrays, statics = iter(arrays), iter(static)
        full = [next(arrays) if a else next(statics) for a in is_array]
        return func(y, t_, *jax.tree.unflatten(arg_def, full))

    arrays = [jnp.asarray(x) for x, a in zip(arg_leaves, is_array, strict=True) if a]
    converted, consts = jax.closure_convert(
        func_of_arrays, jax.tree.unflatten(y_def, y_leaves), t[0], *arrays
    )
    leaves = [*arrays, *(jnp.asarray(c) for c in consts)]
    is_diff = [jnp.issubdtype(x.dtype, jnp.inexact) for x in leaves]
    diff_leaves = [x for x, d in zip(leaves, is_diff, strict=True) if d]
    th_cplx = [jnp.iscomplexobj(x) for x in diff_leaves]
    nd = tuple(x for x, d in zip(leaves, is_diff, strict=True) if not d)
    if diff_leaves:
        theta, unravel_theta = ravel_pytree(_split_complex(diff_leaves, th_cplx))
    else:
        theta, unravel_theta = jnp.zeros((0,), dtype), (lambda _: [])
    y_sizes = [x.size for x in y_leaves]

    # In s = σ·t (σ = ±1, the direction of t) the problem is dz/ds = σ·f(z, σ·s), with
    # non-decreasing output times; σ travels as the last non-differentiable argument.
    def vf(y, s, th, nd_):
        sigma = nd_[-1].astype(y.dtype)
        dl = iter(_merge_complex(unravel_theta(th), th_cplx))
        nl = iter(nd_[:-1])
        rebuilt = [next(dl) if d else next(nl) for d in is_diff]
        out = converted(unravel(y), sigma * s, *rebuilt)
        return sigma * _flatten_field(out, y_sizes, y_cplx).astype(y.dtype)

    opts = Options(
        solver=_prepare(solver, rtol, atol),
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        hmax=hmax,
        land=type(solver).__name__ not in _EXACT_OUTPUT_SOLVERS,
        checkpoints=int(checkpoints),
        segment_steps=int(segment_steps),
        trace=trace,
    )
    ys = ADJOINTS[adjoint](vf, opts, y0_flat, st, theta, (*nd, sign))
    ys = jnp.where(valid[:, None], ys, jnp.nan)
    return jax.vmap(unravel)(ys)


_SCALAR_TYPES = (bool, int, float, complex)


def _array_mask(args):
    """Which leaves of ``args`` are arrays; a non-array leaf outside an equinox module raises.

    Inside an ``equinox.Module`` the non-array leaves (activation functions, ...) are static
    (``eqx.partition(module, eqx.is_array)``); anywhere else a non-array leaf is an error that
    names its path in ``args`` and its type.
    """
    import equinox as eqx

    is_module = lambda x: isinstance(x, eqx.Module)
    mask = []
    for path, part in jax.tree_util.tree_flatten_with_path(args, is_leaf=is_module)[0]:
        for leaf in jax.tree.leaves(part):
            ok = isinstance(leaf, (jax.Array, *_SCALAR_TYPES)) or (
                isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind in "biufc"
            )
            if not ok and not is_module(part):
                raise TypeError(
                    f"odeint: the argument leaf args{jax.tree_util.keystr(path)} has type "
                    f"{type(leaf).__name__} ({leaf!r:.60}); every leaf of *args must be an array "
                    "or a Python number (non-array leaves are allowed inside equinox modules, "
                    "where they are static; otherwise close over them in func)"
                )
            mask.append(ok)
    return mask


def _split_complex(leaves, cplx):
    """Each complex leaf as the pair ``(Re, Im)``, real leaves as they are."""
    out = []
    for x, c in zip(leaves, cplx, strict=True):
        out += [jnp.real(x), jnp.imag(x)] if c else [x]
    return out


def _merge_complex(parts, cplx):
    """Inverse of ``_split_complex``."""
    parts, out = iter(parts), []
    for c in cplx:
        out.append(jax.lax.complex(next(parts), next(parts)) if c else next(parts))
    return out


def _flatten_field(out, sizes, cplx):
    """The vector field's value as a real flat vector laid out like the state."""
    leaves = [jnp.ravel(jnp.asarray(o)) for o in jax.tree.leaves(out)]
    total = sum(x.size for x in leaves)
    if total != sum(sizes):
        raise ValueError(f"odeint: func returned {total} values for a state of {sum(sizes)}")
    if [x.size for x in leaves] != sizes:
        leaves = jnp.split(jnp.concatenate(leaves), np.cumsum(sizes)[:-1])
    for x, c in zip(leaves, cplx, strict=True):
        if jnp.iscomplexobj(x) and not c:
            raise TypeError(
                f"odeint: func returned a complex value (dtype {x.dtype}) for a real state leaf "
                f"of {x.size} entries; make that leaf of y0 complex"
            )
    parts = _split_complex(leaves, cplx)
    return jnp.concatenate(parts) if len(parts) > 1 else parts[0]


def _check_mxstep(mxstep):
    """A positive integer step cap (``inf`` accepted: no cap)."""
    if isinstance(mxstep, jax.Array):
        raise TypeError("odeint: mxstep must be a Python number (it sizes the step loop), got an array")
    if mxstep == float("inf"):
        return jnp.inf
    if not (float(mxstep) == int(mxstep) and int(mxstep) >= 1):
        raise ValueError(f"odeint: mxstep must be a positive integer or inf, got {mxstep!r}")
    return int(mxstep)


def _orient_times(t):
    """The direction ``σ`` of ``t``, the times ``σ·t`` made safe to integrate, and the valid rows.

    ``σ = -1`` if the first nonzero difference ``t[i+1] - t[i]`` is negative, else ``+1``. An
    entry of ``t`` is offending if it is not finite or ``σ·t`` decreases there; every row from the
    first offending entry on is invalid, and its time is replaced by the last valid one (a
    zero-length interval; ``0`` if ``t[0]`` is offending) so that the solve never meets it.
    """
    ok = jnp.isfinite(t)
    if t.shape[0] == 1:
        return jnp.ones((), jnp.int32), t, ok
    diffs = t[1:] - t[:-1]
    moves = diffs != 0  # NaN differences count as moves
    backward = jnp.any(moves) & (diffs[jnp.argmax(moves)] < 0)
    sign = jnp.where(backward, -1, 1).astype(jnp.int32)
    st = sign.astype(t.dtype) * t
    ok = ok & jnp.concatenate([jnp.ones((1,), bool), st[1:] >= st[:-1]])
    valid = jnp.cumsum(~ok) == 0
    n_valid = jnp.sum(valid)
    last = jax.lax.stop_gradient(jnp.where(n_valid > 0, st[jnp.maximum(n_valid - 1, 0)], 0))
    st = jnp.where(valid, st, last.astype(t.dtype))
    return sign, st, valid


def _prepare(solver, rtol, atol):
    from ._ode.integrate import prepare_solver

    return prepare_solver(solver, rtol, atol)
