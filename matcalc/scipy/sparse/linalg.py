"""SciPy's ``scipy.sparse.linalg`` names for matcalc's matrix-free rules, with SciPy's signatures.

The operand ``A`` may be a dense array, a ``jax.experimental.sparse.BCOO`` matrix or a lineax operator;
derivatives are matcalc's rules (see :mod:`matcalc.krylov`).
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ...krylov import _operators
from ...krylov import expm_multiply as _expm_multiply

__all__ = ["expm_multiply"]


def expm_multiply(
    A: Any,
    B: ArrayLike,
    start: ArrayLike | None = None,
    stop: ArrayLike | None = None,
    num: int | None = None,
    endpoint: bool | None = None,
    traceA: ArrayLike | None = None,
) -> jax.Array:
    """``e^{A}B``, or ``e^{t_k A}B`` on the grid ``t_k = linspace(start, stop, num, endpoint)``, as SciPy.

    With none of ``start, stop, num, endpoint`` given this is :func:`matcalc.krylov.expm_multiply` at
    ``t = 1``. With a grid, ``start``, ``stop`` and ``num`` (a positive Python int, static) are required,
    ``endpoint`` defaults to ``True``, and the result has shape ``(num, n)`` or ``(num, n, k)``: the first
    point is ``e^{t₀A}B`` and each next one is one action of ``e^{ΔA}`` on the previous (``Δ`` the grid
    spacing), in a ``lax.scan``. ``traceA`` is a hint for the shift ``μ = tr(A)/n``: an approximate value
    is fine, a poor one costs steps and accuracy. Non-uniform grids are SciPy's business too: not supported.

    Derivative: those of :func:`matcalc.krylov.expm_multiply` (reverse mode; ``jax.jvp`` raises), with
    respect to ``A``, ``B``, ``start`` and ``stop``, chained through the grid steps. References: Al-Mohy &
    Higham 2011 (algorithm and its time-grid variant); Al-Mohy & Higham 2009 (Fréchet derivative).
    """
    if start is None and stop is None and num is None and endpoint is None:
        return _expm_multiply(A, B, 1.0, trace=traceA)
    if start is None or stop is None or num is None:
        raise ValueError(
            "start, stop, num: a time grid needs all three (or none of start, stop, num, endpoint); "
            f"got start={start!r}, stop={stop!r}, num={num!r}"
        )
    try:
        count = operator.index(num)
    except TypeError as err:
        raise TypeError(f"num: expected a Python integer, got {num!r}") from err
    if count < 1:
        raise ValueError(f"num: expected a positive number of time points, got {count}")
    endpoint = True if endpoint is None else bool(endpoint)
    op = _operators.as_operator(A, name="A", square=True)
    for name, value in (("start", start), ("stop", stop)):
        if jnp.ndim(value) != 0 or jnp.issubdtype(jnp.result_type(value), jnp.complexfloating):
            raise ValueError(f"{name}: expected a real scalar, got {value!r}")
    start_ = jnp.asarray(start)
    stop_ = jnp.asarray(stop)
    intervals = (count - 1 if endpoint else count) or 1
    delta = (stop_ - start_) / intervals
    first = _expm_multiply(op, B, start_, trace=traceA)
    if count == 1:
        return first[None]

    def advance(y, _):
        y = _expm_multiply(op, y, delta, trace=traceA)
        return y, y

    _, rest = lax.scan(advance, first, None, length=count - 1)
    return jnp.concatenate([first[None], rest])
