"""The helpers every rule uses now live in the core layer (:mod:`matcalc._core`); this module keeps
their former import path. New code imports ``matcalc._core``."""

from __future__ import annotations

from ._core import (  # noqa: F401
    _H,
    _T,
    HIGHEST,
    as_inexact,
    check_matrix,
    check_square,
    default_float,
    diag,
    eye_like,
    mm,
    mv,
    promote_inexact,
    real_dot,
    symmetrize,
    trace,
    zeros_like_tangent,
)
from ._core.arrays import _inexact_for  # noqa: F401
from ._core.primitives import batch_on_leading_axis  # noqa: F401
