"""ODE solutions with hand-written adjoints: a drop-in for ``jax.experimental.ode.odeint``.

``odeint(func, y0, t, *args)`` solves ``dy/dt = func(y, t, *args)`` with a diffrax solver and
returns ``y`` at every time in ``t``. Its derivative is one of four hand-written rules chosen by
``adjoint=``: three continuous adjoints for reverse mode and forward sensitivities for forward
mode. See :func:`odeint`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._ode.adjoints import ADJOINTS, Options

__all__ = ["odeint"]

_EXACT_OUTPUT_SOLVERS = ("Tsit5", "Dopri5", "Dopri8")


def odeint(
    func,
    y0,
    t,
    *args,
    rtol: float = 1.4e-8,
    atol: float = 1.4e-8,
    mxstep=jnp.inf,
    hmax=jnp.inf,
    adjoint: str = "backsolve",
    solver=None,
    checkpoints: int = 16,
    segment_steps: int = 512,
):
    """Solve ``dy/dt = func(y, t, *args)`` and return ``y`` at each time in ``t``.

    Same calling convention as ``jax.experimental.ode.odeint``: ``y0`` and ``args`` may be pytrees
    (closed-over arrays are hoisted into the arguments with ``jax.closure_convert``), ``t`` is an
    increasing 1-D array of times with ``t[0]`` the initial time, and the result has the structure
    of ``y0`` with a leading axis of length ``len(t)``. Derivatives flow to ``y0``, ``t`` and every
    floating-point leaf of ``args``.

    Args:
      func: the vector field ``func(y, t, *args)``, returning a pytree like ``y``.
      y0: initial state (a pytree of real floating arrays; integers are promoted).
      t: increasing output times, shape ``(N+1,)``.
      *args: extra arguments of ``func``.
      rtol, atol: error tolerances of the adaptive step-size control (RMS norm of
        ``err / (atol + rtol·|y|)``), used by the forward and every backward solve.
      mxstep: most step attempts between two output times (``inf``: no limit).
      hmax: largest step size.
      adjoint: the derivative rule, ``"backsolve"`` (default), ``"interpolated"``,
        ``"quadrature"`` or ``"forward"`` (see Derivative below).
      solver: a diffrax solver (default ``diffrax.Tsit5()``); e.g. ``diffrax.Kvaerno5()`` for
        stiff problems (its root-finder tolerances default to ``rtol``/``atol``). For solvers
        other than Tsit5/Dopri5/Dopri8 the steps land exactly on each output time instead of
        interpolating, since their dense output is only third order.
      checkpoints: ("interpolated", "quadrature") number of extra evenly spaced checkpoints
        stored by the forward pass, besides the output times.
      segment_steps: ("interpolated", "quadrature") size of the buffer that holds one segment's
        re-solved dense output; a segment needing more steps gives NaN gradients (raise
        ``checkpoints`` or this).

    Returns:
      ``y`` at every time of ``t``: the pytree of ``y0`` with a leading axis ``len(t)``.

    Derivative:
      With the adjoint ``a(t) = ∂L/∂y(t)`` of a loss of the outputs (cotangents ``ȳ_i``)::

          a' = -aᵀ ∂f/∂y between output times,  a(t_i⁻) = a(t_i⁺) + ȳ_i,  a(t_N) = ȳ_N,
          ȳ0 = a(t_0⁻),   ā = ∫ aᵀ ∂f/∂args dt,
          t̄_i = ȳ_iᵀ f(y_i, t_i) (i ≥ 1),   t̄_0 = -a(t_0⁺)ᵀ f(y_0, t_0)

      (derivation: ``d/dt (aᵀ δy) = 0`` for the variational equation ``δy' = f_y δy + f_θ δθ``,
      so ``aᵀ δy`` is conserved between outputs and the source ``aᵀ f_θ δθ`` integrates to ``ā``;
      Chen et al. 2018). The four rules:

      * ``"backsolve"``: ``(y, a, ā)`` solved backward as one ODE, ``y`` re-solved from the output
        values, error control on ``(y, a)`` only (the seminorm of Kidger, Chen & Lyons, ICML 2021:
        ``ā`` is a pure quadrature and need not limit the step). O(1) memory in the number of
        steps. Inaccurate when backward integration of ``y`` is unstable (strongly dissipative or
        stiff ``f``: errors grow like ``exp(∫|λ_min|)``) — use ``"interpolated"`` there.
      * ``"interpolated"``: the forward solution is checkpointed at the output times and
        ``checkpoints`` further times; backward, each segment is re-solved forward with dense
        output and ``(a, ā)`` integrated against that interpolant (SciMLSensitivity's
        InterpolatingAdjoint with checkpointing), ``ā`` inside the error norm (``y`` is not a
        backward state, so a fast transient of ``y`` is resolved only through ``ā``'s integrand).
        Stable; memory O(checkpoints + segment_steps).
      * ``"quadrature"``: as ``"interpolated"``, but only ``a`` is an ODE state; ``ā`` is a
        3-point Gauss–Legendre quadrature of ``aᵀ f_θ`` over each accepted backward step, using
        both dense outputs (QuadratureAdjoint). Fewer backward stages touch ``∂f/∂θ``, but the
        backward steps are controlled by ``a`` alone: where ``y`` has a fast transient that ``a``
        does not (strongly dissipative problems), prefer ``"interpolated"``.
      * ``"forward"``: forward sensitivities ``ẏ' = f_y ẏ + f_θ θ̇``,
        ``ẏ(t_0) = ẏ0 - f(y_0, t_0)ṫ_0``, output tangents ``ẏ_i + f(y_i, t_i)ṫ_i``, solved with
        ``y`` (tangents outside the error norm, so the JVP is linear in the tangent). The rule
        calls itself on the augmented system, so higher-order forward mode works too.

      The first three are ``jax.custom_vjp`` rules: ``jax.grad``/``jax.vjp`` work, ``jax.jvp``
      and ``jax.jacfwd`` raise JAX's ``TypeError`` ("can't apply forward-mode autodiff (jvp) to a
      custom_vjp function"), and second-order reverse mode is unsupported (the backward solves
      are ``while_loop`` s). ``"forward"`` is a ``jax.custom_jvp`` rule: ``jax.jvp``,
      ``jax.jacfwd`` and jvp-of-jvp work; reverse mode raises a ``TypeError`` naming the
      reverse-mode adjoints. Every rule works under ``jax.jit`` and ``jax.vmap``.
      A solve that exceeds ``mxstep``, underflows its step size or overflows ``segment_steps``
      returns NaN (values or gradients), never a silently wrong number.

      References: Chen, Rubanova, Bettencourt & Duvenaud, NeurIPS 2018; Kidger, Chen & Lyons,
      ICML 2021; SciMLSensitivity.jl (InterpolatingAdjoint, QuadratureAdjoint); Hairer, Nørsett &
      Wanner, *Solving ODEs I* (1993) §II.4 (step control), §I.14 (sensitivities).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from matcalc.ode import odeint
      >>> jax.config.update("jax_enable_x64", True)
      >>> ys = odeint(lambda y, t, k: -k * y, jnp.array([1.0]), jnp.array([0.0, 1.0]), 2.0)
      >>> bool(jnp.allclose(ys[-1], jnp.exp(-2.0)))
      True
    """
    import diffrax

    if adjoint not in ADJOINTS:
        raise ValueError(
            f"odeint: unknown adjoint {adjoint!r}; choose one of {sorted(ADJOINTS)}"
        )
    if solver is None:
        solver = diffrax.Tsit5()
    if not isinstance(solver, diffrax.AbstractAdaptiveSolver):
        raise TypeError(
            f"odeint: solver must be an adaptive diffrax solver, got {type(solver).__name__}"
        )

    y0_leaves = jax.tree.leaves(y0)
    if not y0_leaves:
        raise ValueError("odeint: y0 has no array leaves")
    for leaf in y0_leaves:
        dt = jnp.result_type(leaf)
        if jnp.issubdtype(dt, jnp.complexfloating):
            raise TypeError(
                f"odeint: complex state (dtype {dt}) is not supported; split it into real and "
                "imaginary parts"
            )
    y0 = jax.tree.map(
        lambda x: jnp.asarray(x) if jnp.issubdtype(jnp.result_type(x), jnp.floating)
        else jnp.asarray(x, jnp.result_type(float)),
        y0,
    )
    y0_flat, unravel = ravel_pytree(y0)
    dtype = y0_flat.dtype
    t = jnp.asarray(t)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError(
            f"odeint: t must be a 1-D array of times with at least one entry, got shape {t.shape}"
        )
    if jnp.issubdtype(t.dtype, jnp.complexfloating):
        raise TypeError(f"odeint: t must be real, got dtype {t.dtype}")
    t = t.astype(dtype)
    if t.shape[0] == 1:
        return jax.tree.map(lambda x: x[None], y0)

    converted, consts = jax.closure_convert(func, y0, t[0], *args)
    all_args = (*args, *consts)
    leaves, treedef = jax.tree.flatten(all_args)
    leaves = [jnp.asarray(x) for x in leaves]
    is_diff = [jnp.issubdtype(x.dtype, jnp.inexact) for x in leaves]
    diff_leaves = [x for x, d in zip(leaves, is_diff, strict=True) if d]
    nd = tuple(x for x, d in zip(leaves, is_diff, strict=True) if not d)
    if diff_leaves:
        theta, unravel_theta = ravel_pytree(diff_leaves)
    else:
        theta, unravel_theta = jnp.zeros((0,), dtype), (lambda _: [])

    def vf(y, s, th, nd_):
        dl = iter(unravel_theta(th))
        nl = iter(nd_)
        rebuilt = [next(dl) if d else next(nl) for d in is_diff]
        out = converted(unravel(y), s, *jax.tree.unflatten(treedef, rebuilt))
        out_flat, _ = ravel_pytree(out)
        if out_flat.shape != y.shape:
            raise ValueError(
                f"odeint: func returned {out_flat.shape[0]} values for a state of {y.shape[0]}"
            )
        return out_flat.astype(y.dtype)

    opts = Options(
        solver=_prepare(solver, rtol, atol),
        rtol=rtol,
        atol=atol,
        max_steps=mxstep,
        hmax=hmax,
        land=type(solver).__name__ not in _EXACT_OUTPUT_SOLVERS,
        checkpoints=int(checkpoints),
        segment_steps=int(segment_steps),
    )
    ys = ADJOINTS[adjoint](vf, opts, y0_flat, t, theta, nd)
    return jax.vmap(unravel)(ys)


def _prepare(solver, rtol, atol):
    from ._ode.integrate import prepare_solver

    return prepare_solver(solver, rtol, atol)
