"""matcalc: hand-derived derivative rules for matrix calculus on JAX.

Every operation is a drop-in replacement for its ``jax.numpy.linalg`` / ``jax.scipy.linalg`` /
``jax.experimental.ode`` counterpart whose JVP is a hand-derived rule (reverse mode by transposition).
"""

# --- elementary (issue: Foundation)
from ._linalg import det as det
from ._linalg import inv as inv
from ._linalg import logdet as logdet
from ._linalg import lstsq as lstsq
from ._linalg import matrix_power as matrix_power
from ._linalg import norm as norm
from ._linalg import pinv as pinv
from ._linalg import slogdet as slogdet
from ._linalg import solve as solve
from ._kron import jacobian_matrix as jacobian_matrix
from ._kron import unvec as unvec
from ._kron import vec as vec

# --- general matrix functions and matrix equations (issue 4)
from ._equations import solve_continuous_lyapunov as solve_continuous_lyapunov
from ._equations import solve_discrete_lyapunov as solve_discrete_lyapunov
from ._equations import solve_sylvester as solve_sylvester
from ._matfun.expm import expm as expm
from ._matfun.expm import expm_frechet as expm_frechet
from ._matfun.frechet import frechet as frechet
from ._matfun.funm import funm as funm
from ._matfun.logm import fractional_matrix_power as fractional_matrix_power
from ._matfun.logm import logm as logm
from ._matfun.polar import polar as polar
from ._matfun.signm import signm as signm
from ._matfun.sqrtm import sqrtm as sqrtm

# --- subpackages
from . import testing as testing

__version__ = "0.1.0"

__all__ = [
    # general matrix functions and matrix equations (issue 4)
    "expm",
    "expm_frechet",
    "fractional_matrix_power",
    "frechet",
    "funm",
    "logm",
    "polar",
    "signm",
    "solve_continuous_lyapunov",
    "solve_discrete_lyapunov",
    "solve_sylvester",
    "sqrtm",
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
