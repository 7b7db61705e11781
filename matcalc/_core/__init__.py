"""The core layer: the helpers every rule uses and the one place that touches JAX internals.

``arrays`` (conjugate transpose, full-precision products, dtype promotion), ``validation`` (checks
at the public boundary), ``tolerance`` (when eigenvalues count as repeated, when a pivot counts as
singular), ``results`` (JAX's named result types), ``primitives`` (declaring a primitive from its
implementation, JVP, transpose and batching rule) and ``jaxpr`` (what the jaxpr interpreter of
``use_rules`` reads). Nothing here imports the kernels or a family.
"""

from .arrays import (
    _H,
    _T,
    HIGHEST,
    as_inexact,
    complex_dtype,
    default_float,
    diag,
    eye_like,
    mm,
    mv,
    norm1,
    promote_inexact,
    real_dot,
    symmetrize,
    trace,
    zeros_like_tangent,
)
from .tolerance import cluster_tol, relative_tol
from .validation import check_disp, check_dtype, check_matrix, check_option, check_square, is_empty

__all__ = [
    "HIGHEST",
    "_H",
    "_T",
    "as_inexact",
    "check_disp",
    "check_dtype",
    "check_matrix",
    "check_option",
    "check_square",
    "cluster_tol",
    "complex_dtype",
    "default_float",
    "diag",
    "eye_like",
    "is_empty",
    "mm",
    "mv",
    "norm1",
    "promote_inexact",
    "real_dot",
    "relative_tol",
    "symmetrize",
    "trace",
    "zeros_like_tangent",
]
