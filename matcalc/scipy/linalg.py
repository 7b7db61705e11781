"""A mirror of ``jax.scipy.linalg``: every public name, with JAX's signature, return structure
and dtype rules, so that ``import matcalc.scipy.linalg as sla`` replaces ``jax.scipy.linalg``
whole.

Where matcalc has a rule the name is matcalc's function, or a thin adapter of it where JAX's
signature or conventions differ (the adapter's ``_matcalc_adapts`` names the rules it calls): e.g.
``cholesky`` returns the *upper* factor by default and reads one triangle only, as SciPy; ``eigh``
returns a plain ``(w, v)`` tuple; ``sqrtm`` and ``funm`` return complex arrays, as JAX's do. The
derivatives are matcalc's rules. The factor-reuse solvers ``cho_factor``/``cho_solve``,
``lu_factor``/``lu_solve`` and ``solve_triangular`` are matcalc rules of their own. Names without a
matrix-calculus rule (``block_diag``, ``toeplitz``, ``eigh_tridiagonal``, ``qr_multiply``,
``rsf2csf``, ...) are JAX's own functions, re-exported unchanged.

Differences that remain, by design: ``schur`` returns a tuple where JAX returns a list; ``funm``
with ``disp=False`` returns matcalc's own error estimate (below); ``eigh(a, lower=False)`` may
return eigenvectors that differ from JAX's by a phase (sign) per column (matcalc runs LAPACK on the
lower triangle of ``(A + Aᴴ)/2``); ``sqrtm`` of a real matrix with an eigenvalue ``−r`` on the
negative real axis gives the principal ``+i r^{1/2}`` there, as SciPy, where JAX's can give ``−i
r^{1/2}``; ``polar(method="qdwh", max_iterations=k)`` passes ``k`` to the iteration (JAX's accepts
and ignores it); ``solve_sylvester`` ignores ``method`` (matcalc's own solver); ``solve(...,
assume_a="pos")`` and ``cho_factor`` put the gradient in ``a`` on the triangle they read (JAX's
spreads it over both; the two agree along Hermitian tangents).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# JAX's own functions (no matrix-calculus rule needed or available)
from jax.scipy.linalg import block_diag as block_diag
from jax.scipy.linalg import circulant as circulant
from jax.scipy.linalg import companion as companion
from jax.scipy.linalg import convolution_matrix as convolution_matrix
from jax.scipy.linalg import dft as dft
from jax.scipy.linalg import eigh_tridiagonal as eigh_tridiagonal
from jax.scipy.linalg import fiedler as fiedler
from jax.scipy.linalg import fiedler_companion as fiedler_companion
from jax.scipy.linalg import hadamard as hadamard
from jax.scipy.linalg import hankel as hankel
from jax.scipy.linalg import helmert as helmert
from jax.scipy.linalg import hilbert as hilbert
from jax.scipy.linalg import invhilbert as invhilbert
from jax.scipy.linalg import invpascal as invpascal
from jax.scipy.linalg import leslie as leslie
from jax.scipy.linalg import pascal as pascal
from jax.scipy.linalg import qr_multiply as qr_multiply
from jax.scipy.linalg import rsf2csf as rsf2csf
from jax.scipy.linalg import toeplitz as toeplitz

from .. import _equations, _linalg
from .._core import as_inexact, mm, promote_inexact
from .._factor import cholesky as _cholesky_module
from .._factor import eigh as _eigh_module
from .._factor import generalized as _generalized
from .._factor import polar as _polar_module
from .._factor import qr as _qr_module
from .._factor import svd as _svd_module
from .._factor.hessenberg import hessenberg as hessenberg
from .._factor.lu import lu as lu
from .._factor.schur import schur as schur
from .._factor.solves import cho_factor as cho_factor
from .._factor.solves import cho_solve as cho_solve
from .._factor.solves import lu_factor as lu_factor
from .._factor.solves import lu_solve as lu_solve
from .._factor.solves import solve_triangular as solve_triangular
from .._matfun import expm as _expm_module
from .._matfun import funm as _funm_module
from .._matfun import sqrtm as _sqrtm_module
from ..numpy.linalg import _adapts


def _complex_dtype(dtype):
    return jnp.complex64 if dtype in (jnp.float32, jnp.complex64) else jnp.complex128


@_adapts(_cholesky_module.cholesky)
def cholesky(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """``jax.scipy.linalg.cholesky``: the upper factor ``U`` (``A = Uᴴ U``) by default, the lower
    with ``lower=True``; only that triangle of ``a`` is read. Derivative: ``matcalc.cholesky``'s
    rule with ``symmetrize_input=False`` (gradient on the read triangle)."""
    return cho_factor(a, lower)[0]


@_adapts(_linalg.det)
def det(a, overwrite_a: bool = False, check_finite: bool = True):
    """``jax.scipy.linalg.det`` through ``matcalc.det`` (``∇ det = adj(A)ᵀ``)."""
    return _linalg.det(a)


@_adapts(_linalg.inv)
def inv(a, overwrite_a: bool = False, check_finite: bool = True):
    """``jax.scipy.linalg.inv`` through ``matcalc.inv`` (``d(A⁻¹) = −A⁻¹ dA A⁻¹``)."""
    return _linalg.inv(a)


@_adapts(_eigh_module.eigh, _eigh_module.eigvalsh, _generalized.eigh_generalized)
def eigh(
    a,
    b=None,
    lower: bool = True,
    eigvals_only: bool = False,
    overwrite_a: bool = False,
    overwrite_b: bool = False,
    turbo: bool = True,
    eigvals=None,
    type: int = 1,
    check_finite: bool = True,
):
    """``jax.scipy.linalg.eigh`` through ``matcalc.eigh`` (plain ``(w, v)`` tuple) or
    ``matcalc.eigvalsh`` (``eigvals_only``); with ``b``, the generalized problem of ``type``
    1, 2 or 3 (``a v = λ b v``, ``a b v = λ v``, ``b a v = λ v``) through
    ``matcalc.eigh_generalized``, eigenvectors normalized as SciPy's. As JAX, the inputs are
    read as ``(A + Aᴴ)/2`` (and ``(B + Bᴴ)/2``), so ``lower`` does not change the value.
    ``eigvals`` subsets are not available: a ``ValueError`` says so."""
    if eigvals is not None:
        raise ValueError(f"eigh: eigvals (a subset of eigenvalues) is not available; got {eigvals!r}")
    if type not in (1, 2, 3) or isinstance(type, bool):
        raise ValueError(f"eigh: type must be 1, 2 or 3; got type={type!r}")
    if b is not None:
        w, v = _generalized.eigh_generalized(a, b, type=type)
        return w if eigvals_only else (w, v)
    if eigvals_only:
        return _eigh_module.eigvalsh(a)
    w, v = _eigh_module.eigh(a)
    return w, v


@_adapts(_expm_module.expm)
def expm(A, *, upper_triangular: bool = False, max_squarings: int = 16):
    """``jax.scipy.linalg.expm`` through ``matcalc.expm`` (its Fréchet-derivative rule), with
    JAX's default bound of 16 squarings (beyond it the result is not finite, as JAX's)."""
    return _expm_module.expm(A, upper_triangular=upper_triangular, max_squarings=max_squarings)


@_adapts(_expm_module.expm_frechet)
def expm_frechet(A, E, *, method=None, compute_expm: bool = True):
    """``jax.scipy.linalg.expm_frechet`` through ``matcalc.expm_frechet``."""
    return _expm_module.expm_frechet(A, E, method=method, compute_expm=compute_expm)


@_adapts(_funm_module.funm)
def funm(A, func, disp: bool = True):
    """``jax.scipy.linalg.funm`` through ``matcalc.funm``; the result is complex, as JAX's.

    With ``disp=False`` it returns ``(F, errest)`` where ``errest`` is matcalc's own estimate, the
    relative commutator residual ``min(1, max(eps, ‖A F − F A‖₁ / (‖A‖₁ ‖F‖₁)))`` (``f(A)`` commutes
    with ``A``), not SciPy's Parlett-recurrence estimate; it carries no gradient."""
    f = _funm_module.funm(A, func)
    f = f.astype(_complex_dtype(f.dtype))
    if disp:
        return f
    a = jax.lax.stop_gradient(as_inexact(A).astype(f.dtype))
    fs = jax.lax.stop_gradient(f)
    eps = jnp.finfo(f.dtype).eps

    def one(x):
        return jnp.max(jnp.sum(jnp.abs(x), axis=-2), axis=-1)

    denom = one(a) * one(fs)
    res = one(mm(a, fs) - mm(fs, a)) / jnp.where(denom == 0, 1, denom)
    err = jnp.where(jnp.any(jnp.isinf(fs)), jnp.inf, jnp.minimum(1, jnp.maximum(eps, res)))
    return f, err


@_adapts(_polar_module.polar)
def polar(a, side: str = "right", *, method: str = "qdwh", eps=None, max_iterations=None):
    """``jax.scipy.linalg.polar`` through ``matcalc.polar``, with JAX's default
    ``method="qdwh"`` (QDWH iteration, stopped by ``eps`` or after ``max_iterations`` steps) or
    ``method="svd"``; the derivative is matcalc's rule for both (forward and reverse mode; JAX's QDWH
    has forward mode only). Unlike JAX's, ``method="qdwh"`` also takes square input with
    ``side="left"``."""
    return _polar_module.polar(a, side, method=method, eps=eps, max_iterations=max_iterations)


@_adapts(_qr_module.qr)
def qr(
    a,
    overwrite_a: bool = False,
    lwork=None,
    mode: str = "full",
    pivoting: bool = False,
    check_finite: bool = True,
):
    """``jax.scipy.linalg.qr`` through ``matcalc.qr``: ``(q, r)``, ``(r,)`` for ``mode="r"``,
    with ``p`` appended when ``pivoting``. Modes: 'full' (complete), 'economic' (reduced), 'r'.

    Pivoting: the column order ``p`` comes from JAX's pivoted QR (locally constant, not
    differentiated) and the factors are matcalc's QR of ``a[..., :, p]``, so their derivative is
    matcalc's QR rule."""
    if mode not in ("full", "r", "economic"):
        raise ValueError(f"qr: unsupported mode {mode!r}; use 'full', 'economic' or 'r'")
    a = as_inexact(a)
    p = None
    if pivoting:
        import jax.scipy.linalg as jsl

        p = jsl.qr(jax.lax.stop_gradient(a), mode="r", pivoting=True)[1]
        a = jnp.take_along_axis(a, jnp.broadcast_to(p[..., None, :], a.shape), axis=-1)
    q, r = _qr_module.qr(a, "reduced" if mode == "economic" else "complete")
    out = (r,) if mode == "r" else (q, r)
    return (*out, p) if pivoting else out


@_adapts(_linalg.solve, cho_factor, cho_solve)
def solve(
    a,
    b,
    lower: bool = False,
    overwrite_a: bool = False,
    overwrite_b: bool = False,
    debug: bool = False,
    check_finite: bool = True,
    assume_a: str = "gen",
):
    """``jax.scipy.linalg.solve``: ``matcalc.solve`` (LU) for ``assume_a`` 'gen', 'sym',
    'her'; for 'pos', ``cho_solve`` on ``cho_factor`` of the ``lower``/upper triangle of
    ``a`` (the gradient in ``a`` lies on that triangle; JAX's spreads it over both, and the two
    agree along Hermitian tangents)."""
    valid = ("gen", "sym", "her", "pos")
    if assume_a not in valid:
        raise ValueError(f"solve: assume_a must be one of {valid}, got {assume_a!r}")
    if assume_a != "pos":
        return _linalg.solve(a, b)
    a, b = promote_inexact(as_inexact(a, "a"), as_inexact(b, "b"))
    factor = cho_factor(a, lower)
    if a.ndim == b.ndim + 1:
        return cho_solve(factor, b[..., None])[..., 0]
    return cho_solve(factor, b)


@_adapts(_equations.solve_sylvester)
def solve_sylvester(A, B, C, *, method: str = "schur", tol: float = 1e-8):
    """``jax.scipy.linalg.solve_sylvester`` (``A X + X B = C``) through
    ``matcalc.solve_sylvester`` (derivative: one more Sylvester solve). ``method`` ('schur' or
    'eigen') is accepted for compatibility (matcalc picks its own algorithm). ``tol`` is JAX's
    check: where some ``|λ_i(A) + μ_j(B)| < tol`` (the equation is singular or nearly so) the
    result is NaN, as JAX's; the eigenvalues come from ``jnp.linalg.eigvals`` (not
    differentiated), and ``tol <= 0`` skips the check."""
    if method not in ("schur", "eigen"):
        raise ValueError(f"solve_sylvester: method must be 'schur' or 'eigen', got {method!r}")
    x = _equations.solve_sylvester(A, B, C)
    if not tol > 0:
        return x
    lam = jnp.linalg.eigvals(jax.lax.stop_gradient(jnp.asarray(A)))
    mu = jnp.linalg.eigvals(jax.lax.stop_gradient(jnp.asarray(B)))
    near_singular = jnp.any(jnp.abs(lam[..., :, None] + mu[..., None, :]) < tol, axis=(-2, -1))
    return jnp.where(near_singular[..., None, None], jnp.nan, x)


@_adapts(_sqrtm_module.sqrtm)
def sqrtm(A, blocksize: int = 1):
    """``jax.scipy.linalg.sqrtm`` through ``matcalc.sqrtm``; the result is complex, as JAX's,
    and so is the principal root of a real matrix with an eigenvalue on the negative real axis
    (``[[-1, 0], [0, 4]] → diag(i, 2)``; by complex Schur on CPU, NaN on other platforms, taken
    only for such matrices). There it is the principal root ``+i r^{1/2}`` at every eigenvalue
    ``−r``, as SciPy's; JAX's can return ``−i r^{1/2}`` for some (the rounding-size imaginary
    parts of its Schur form decide), so the two may differ there. Derivative:
    ``X L + L X = E``, in complex arithmetic at a non-real root (whose second derivatives are
    NaN); for real A reverse mode gives ``Re L(Aᵀ, W)``."""
    return _sqrtm_module.sqrtm_complex(A, blocksize)


@_adapts(_svd_module.svd)
def svd(
    a,
    full_matrices: bool = True,
    compute_uv: bool = True,
    overwrite_a: bool = False,
    check_finite: bool = True,
    lapack_driver: str = "gesdd",
):
    """``jax.scipy.linalg.svd`` through ``matcalc.svd``: a plain ``(u, s, vh)`` tuple, or the
    singular values. ``lapack_driver`` ('gesdd' or 'gesvd') is accepted for compatibility."""
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f"svd: lapack_driver must be 'gesdd' or 'gesvd', got {lapack_driver!r}")
    out = _svd_module.svd(a, full_matrices, compute_uv)
    return tuple(out) if compute_uv else out


__all__ = [
    "block_diag",
    "cho_factor",
    "cho_solve",
    "cholesky",
    "circulant",
    "companion",
    "convolution_matrix",
    "det",
    "dft",
    "eigh",
    "eigh_tridiagonal",
    "expm",
    "expm_frechet",
    "fiedler",
    "fiedler_companion",
    "funm",
    "hadamard",
    "hankel",
    "helmert",
    "hessenberg",
    "hilbert",
    "inv",
    "invhilbert",
    "invpascal",
    "leslie",
    "lu",
    "lu_factor",
    "lu_solve",
    "pascal",
    "polar",
    "qr",
    "qr_multiply",
    "rsf2csf",
    "schur",
    "solve",
    "solve_sylvester",
    "solve_triangular",
    "sqrtm",
    "svd",
    "toeplitz",
]
