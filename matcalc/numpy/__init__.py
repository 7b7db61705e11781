"""``matcalc.numpy.linalg``: a mirror of ``jax.numpy.linalg`` (replace the module, not a name)."""

from . import linalg as linalg

__all__ = ["linalg"]
