"""``matcalc.krylov``: matrix-free rules on dense arrays, ``BCOO`` sparse matrices and lineax operators.

They touch the operator only through products, so they scale to problems where the dense O(n³) rules
do not fit, and their derivatives flow to whatever arrays the operator holds.
"""

from .eigsh import eigsh as eigsh
from .eigsh import svds as svds
from .expm_multiply import expm_multiply as expm_multiply
from .logdet import logdet as logdet
from .logdet import trace as trace
from .logdet import trace_funm as trace_funm
from .preconditioner import LowRankShift as LowRankShift

__all__ = [
    "LowRankShift",
    "eigsh",
    "expm_multiply",
    "logdet",
    "svds",
    "trace",
    "trace_funm",
]
