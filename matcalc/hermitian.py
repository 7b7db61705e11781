"""Functions of Hermitian (real symmetric) matrices, exact at repeated eigenvalues to second order.

``funm(a, f)`` for any scalar JAX function, and the named functions ``expm``, ``logm``, ``sqrtm``,
``inv_sqrtm``, ``powm(a, p)``, ``absm``, ``signm``. Each is ``U f(Λ) Uᴴ`` from one ``eigh``; the
derivative is the Daleckii–Krein map with accurate divided differences, and its own derivative
uses second divided differences, so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact
at ``A = c I`` and at (nearly) repeated eigenvalues, where eigh-based autodiff gives NaN or
inaccurate values. Inputs are read as ``(A + Aᴴ)/2``; batched over leading axes; float32/float64,
real and complex.
"""

from ._matfun.hermitian import absm as absm
from ._matfun.hermitian import expm as expm
from ._matfun.hermitian import funm as funm
from ._matfun.hermitian import inv_sqrtm as inv_sqrtm
from ._matfun.hermitian import logm as logm
from ._matfun.hermitian import powm as powm
from ._matfun.hermitian import signm as signm
from ._matfun.hermitian import sqrtm as sqrtm

__all__ = ["absm", "expm", "funm", "inv_sqrtm", "logm", "powm", "signm", "sqrtm"]
