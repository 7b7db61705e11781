"""matcalc: hand-derived derivative rules for matrix calculus on JAX.

Every operation is a drop-in replacement for its ``jax.numpy.linalg`` / ``jax.scipy.linalg`` /
``jax.experimental.ode`` counterpart whose JVP is a hand-derived rule (reverse mode by transposition).
"""

# --- elementary (issue: Foundation)
# --- subpackages
from . import testing as testing

# --- factorizations (issue 5)
from ._factor.cholesky import cholesky as cholesky
from ._factor.eig import eig as eig
from ._factor.eig import eigvals as eigvals
from ._factor.hessenberg import hessenberg as hessenberg
from ._factor.lu import lu as lu
from ._factor.qr import qr as qr
from ._factor.schur import schur as schur
from ._factor.svd import svd as svd
from ._factor.svd import svdvals as svdvals
from ._kron import jacobian_matrix as jacobian_matrix
from ._kron import unvec as unvec
from ._kron import vec as vec
from ._linalg import det as det
from ._linalg import inv as inv
from ._linalg import logdet as logdet
from ._linalg import lstsq as lstsq
from ._linalg import matrix_power as matrix_power
from ._linalg import norm as norm
from ._linalg import pinv as pinv
from ._linalg import slogdet as slogdet
from ._linalg import solve as solve

__version__ = "0.1.0"

__all__ = [
    # factorizations (issue 5)
    "cholesky",
    "eig",
    "eigvals",
    "hessenberg",
    "lu",
    "qr",
    "schur",
    "svd",
    "svdvals",
    # elementary
    "det",
    "inv",
    "jacobian_matrix",
    "logdet",
    "lstsq",
    "matrix_power",
    "norm",
    "pinv",
    "slogdet",
    "solve",
    "testing",
    "unvec",
    "vec",
]
