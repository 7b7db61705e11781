"""SciPy's ``scipy.sparse.linalg`` names for matcalc's matrix-free rules, with SciPy's signatures.

The operand ``A`` may be a dense array, a ``jax.experimental.sparse.BCOO`` matrix or a lineax operator;
derivatives are matcalc's rules (see :mod:`matcalc.krylov`).
"""

from ...krylov.expm_multiply import expm_multiply_scipy as expm_multiply

__all__ = ["expm_multiply"]
