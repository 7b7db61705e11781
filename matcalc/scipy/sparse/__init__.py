"""``matcalc.scipy.sparse``: SciPy's sparse names for matcalc's matrix-free rules."""

from . import linalg as linalg

__all__ = ["linalg"]
