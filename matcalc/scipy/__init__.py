"""``matcalc.scipy.linalg``: a mirror of ``jax.scipy.linalg`` (replace the module, not a name)."""

from . import linalg as linalg

__all__ = ["linalg"]
