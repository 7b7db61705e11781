"""``matcalc.krylov``: matrix-free rules on dense arrays, ``BCOO`` sparse matrices and lineax operators.

They touch the operator only through products, so they scale to problems where the dense O(n³) rules
do not fit, and their derivatives flow to whatever arrays the operator holds.
"""

from .expm_multiply import expm_multiply as expm_multiply

__all__ = ["expm_multiply"]
