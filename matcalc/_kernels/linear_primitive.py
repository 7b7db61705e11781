"""``linear_primitive`` lives in the core layer's primitive toolkit; this name is kept for code
that imports it from the kernels."""

from __future__ import annotations

from .._core.primitives import linear_primitive

__all__ = ["linear_primitive"]
