"""Checks at the public boundary, at trace time: shapes, dtypes, string options (one error
naming the allowed values) and empty input (which returns an empty result, as JAX does)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def check_square(a, op: str, name: str = "a"):
    """Raise ``ValueError`` unless ``a`` is a (batch of) square matrices."""
    if a.ndim < 2:
        raise ValueError(f"{op}: {name} must have at least 2 dimensions, got shape {a.shape}")
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{op}: {name} must be square in its last two axes, got shape {a.shape}")


def check_matrix(a, op: str, name: str = "a"):
    """Raise ``ValueError`` unless ``a`` has at least two dimensions."""
    if a.ndim < 2:
        raise ValueError(f"{op}: {name} must have at least 2 dimensions, got shape {a.shape}")


def check_option(op: str, name: str, value, allowed) -> None:
    """Raise ``ValueError`` naming ``op``'s argument ``name`` unless ``value`` is in ``allowed``."""
    allowed = tuple(allowed)
    ok = isinstance(value, (str, type(None))) and value in allowed
    if not ok:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_disp(op: str, disp) -> bool:
    """``disp`` must be a bool (SciPy's and JAX's flag: ``False`` also returns an error estimate)."""
    if not isinstance(disp, (bool, np.bool_)):
        raise TypeError(f"{op}: disp must be True or False, got {disp!r}")
    return bool(disp)


def check_dtype(op: str, name: str, x) -> None:
    """Half-precision floats (float16, bfloat16) have no LU/eig kernels in JAX: a clear
    ``TypeError`` instead of a lookup failure deep inside the lowering."""
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32:
        raise TypeError(
            f"{op}: {name}.dtype={x.dtype} is not supported (shape {x.shape}); "
            "use float32, float64, complex64 or complex128"
        )


def is_empty(*xs) -> bool:
    """True if any array has a zero-size axis (the result is then empty or zero, no kernel runs)."""
    return any(x.size == 0 for x in xs)


__all__ = ["check_disp", "check_dtype", "check_matrix", "check_option", "check_square", "is_empty"]
