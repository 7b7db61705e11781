"""matcalc: hand-derived derivative rules for matrix calculus on JAX.

Every operation is a drop-in replacement for its ``jax.numpy.linalg`` / ``jax.scipy.linalg`` /
``jax.experimental.ode`` counterpart whose JVP is a hand-derived rule (reverse mode by
transposition).
"""

# isort: skip_file
# --- elementary (Foundation)
from ._linalg import det as det
from ._linalg import inv as inv
from ._linalg import logdet as logdet
from ._linalg import lstsq as lstsq
from ._linalg import matrix_power as matrix_power
from ._linalg import norm as norm
from ._linalg import pinv as pinv
from ._linalg import slogdet as slogdet
from ._linalg import solve as solve

# --- the course's Kronecker view
from ._kron import jacobian_matrix as jacobian_matrix
from ._kron import unvec as unvec
from ._kron import vec as vec

# --- factorizations
from ._factor.cholesky import cholesky as cholesky
from ._factor.eig import eig as eig
from ._factor.eig import eigvals as eigvals
from ._factor.generalized import eigh_generalized as eigh_generalized
from ._factor.hessenberg import hessenberg as hessenberg
from ._factor.lu import lu as lu
from ._factor.qr import qr as qr
from ._factor.schur import schur as schur
from ._factor.solves import cho_factor as cho_factor
from ._factor.solves import cho_solve as cho_solve
from ._factor.solves import lu_factor as lu_factor
from ._factor.solves import lu_solve as lu_solve
from ._factor.solves import solve_triangular as solve_triangular
from ._factor.svd import svd as svd
from ._factor.svd import svdvals as svdvals

# --- general matrix functions and matrix equations
from ._matfun.expm import expm as expm
from ._matfun.expm import expm_frechet as expm_frechet
from ._matfun.frechet import frechet as frechet
from ._matfun.funm import funm as funm
from ._matfun.logm import fractional_matrix_power as fractional_matrix_power
from ._matfun.logm import logm as logm
from ._factor.polar import polar as polar
from ._matfun.signm import signm as signm
from ._matfun.sqrtm import sqrtm as sqrtm
from ._equations import solve_continuous_lyapunov as solve_continuous_lyapunov
from ._equations import solve_discrete_lyapunov as solve_discrete_lyapunov
from ._equations import solve_sylvester as solve_sylvester
from ._matfun.trig import cosm as cosm
from ._matfun.trig import coshm as coshm
from ._matfun.trig import sinhm as sinhm
from ._matfun.trig import sinm as sinm
from ._matfun.trig import tanhm as tanhm
from ._matfun.trig import tanm as tanm
from ._riccati import solve_continuous_are as solve_continuous_are
from ._riccati import solve_discrete_are as solve_discrete_are

# --- Hermitian spectral calculus
from ._factor.eigh import eigh as eigh
from ._factor.eigh import eigvalsh as eigvalsh

# --- matcalc's rules inside code that never imports matcalc
from ._use_rules import rules_report as rules_report
from ._use_rules import use_rules as use_rules

# --- subpackages
from . import hermitian as hermitian
from . import krylov as krylov
from . import ode as ode
from . import spd as spd
from . import testing as testing

# --- mirrors of jax.numpy.linalg and jax.scipy.linalg (matcalc.numpy.linalg, matcalc.scipy.linalg);
# not in __all__, so that ``from matcalc import *`` cannot shadow the numpy and scipy packages
from . import numpy as numpy
from . import scipy as scipy

__version__ = "0.1.0"

__all__ = [
    "cho_factor",
    "cho_solve",
    "cholesky",
    "coshm",
    "cosm",
    "det",
    "eig",
    "eigh",
    "eigh_generalized",
    "eigvals",
    "eigvalsh",
    "expm",
    "expm_frechet",
    "fractional_matrix_power",
    "frechet",
    "funm",
    "hermitian",
    "krylov",
    "hessenberg",
    "inv",
    "jacobian_matrix",
    "logdet",
    "logm",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_solve",
    "matrix_power",
    "norm",
    "ode",
    "pinv",
    "polar",
    "qr",
    "schur",
    "signm",
    "sinhm",
    "sinm",
    "slogdet",
    "solve",
    "solve_continuous_are",
    "solve_continuous_lyapunov",
    "solve_discrete_are",
    "solve_discrete_lyapunov",
    "solve_sylvester",
    "solve_triangular",
    "spd",
    "sqrtm",
    "svd",
    "svdvals",
    "tanhm",
    "tanm",
    "testing",
    "unvec",
    "use_rules",
    "vec",
]
