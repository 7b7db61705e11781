"""A mirror of ``jax.numpy.linalg``: every public name, with JAX's signature, return structure
(``EighResult``, ``SVDResult``, ``QRResult``, ``SlogdetResult``, ``EigResult``: JAX's own classes)
and dtype rules, so that ``import matcalc.numpy.linalg as la`` replaces ``jnp.linalg`` whole.

Where matcalc has a rule the name is matcalc's function, or a thin adapter of it where JAX's
signature differs (the adapter's ``_matcalc_adapts`` names the rules it calls); the derivatives are
those rules'. Names without a matrix-calculus rule (``cross``, ``multi_dot``, ``matrix_rank``,
``vector_norm``, ...) are JAX's own functions, re-exported unchanged.

Differences in value that remain, by design: ``eig`` returns eigenvectors normalized to unit norm
with the largest-modulus entry real and positive (JAX leaves LAPACK's phase), so compare them up to
a phase per column; ``eigh(a, "U", symmetrize_input=False)`` runs LAPACK on the lower triangle of
the Hermitian matrix that JAX reads from the upper one, so its eigenvectors may differ from JAX's by
a phase (sign) per column (eigenvalues agree).
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.numpy.linalg as _jla

# JAX's own functions (no matrix-calculus rule needed or available)
from jax.numpy.linalg import cross as cross
from jax.numpy.linalg import diagonal as diagonal
from jax.numpy.linalg import matmul as matmul
from jax.numpy.linalg import matrix_rank as matrix_rank
from jax.numpy.linalg import matrix_transpose as matrix_transpose
from jax.numpy.linalg import multi_dot as multi_dot
from jax.numpy.linalg import outer as outer
from jax.numpy.linalg import tensordot as tensordot
from jax.numpy.linalg import trace as trace
from jax.numpy.linalg import vecdot as vecdot
from jax.numpy.linalg import vector_norm as vector_norm

from .. import _linalg
from .._core import as_inexact
from .._factor import eigh as _eigh_module
from .._factor import qr as _qr_module
from .._factor import svd as _svd_module
from .._factor.cholesky import cholesky as cholesky
from .._factor.eig import eig as eig
from .._factor.eig import eigvals as eigvals
from .._factor.eigh import eigh as eigh
from .._linalg import det as det
from .._linalg import inv as inv
from .._linalg import lstsq as lstsq
from .._linalg import matrix_power as matrix_power
from .._linalg import norm as norm
from .._linalg import pinv as pinv
from .._linalg import slogdet as slogdet
from .._linalg import solve as solve

_mc_qr, _mc_svd, _mc_svdvals = _qr_module.qr, _svd_module.svd, _svd_module.svdvals


def _adapts(*rules):
    """Mark a function as an adapter of matcalc ``rules`` (no ``__wrapped__``: its own signature
    is JAX's)."""

    def mark(fn):
        fn._matcalc_adapts = rules
        return fn

    return mark


@_adapts(_eigh_module.eigvalsh)
def eigvalsh(a, UPLO: str | None = "L", *, symmetrize_input: bool = True):
    """``jnp.linalg.eigvalsh`` through ``matcalc.eigvalsh`` (``dλ_i = v_iᴴ dA v_i``)."""
    return _eigh_module.eigvalsh(a, UPLO, symmetrize_input=symmetrize_input)


@_adapts(_linalg.norm)
def matrix_norm(x, /, *, keepdims: bool = False, ord="fro"):
    """``jnp.linalg.matrix_norm``: ``matcalc.norm`` over the last two axes."""
    return _linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


@_adapts(_mc_svdvals)
def svdvals(x, /):
    """``jnp.linalg.svdvals`` through ``matcalc.svdvals`` (``dσ_i = Re u_iᴴ dA v_i``)."""
    return _mc_svdvals(x)


@_adapts(_mc_svd)
def svd(
    a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False, subset_by_index=None
):
    """``jnp.linalg.svd`` through ``matcalc.svd`` (``SVDResult`` or the singular values).

    ``subset_by_index`` (implemented by JAX on TPU only) is passed to JAX's own ``svd`` and gets
    JAX's derivative."""
    if subset_by_index is not None:
        return _jla.svd(a, full_matrices, compute_uv, hermitian, subset_by_index)
    return _mc_svd(a, full_matrices, compute_uv, hermitian)


@_adapts(_mc_qr)
def qr(a, mode: str = "reduced"):
    """``jnp.linalg.qr`` through ``matcalc.qr`` (``QRResult``, or ``R`` for ``mode="r"``).

    ``mode="raw"`` (Householder reflectors, LAPACK's internal form) has no matcalc rule: it is JAX's
    own ``qr`` with JAX's derivative."""
    if mode == "raw":
        return _jla.qr(a, mode="raw")
    return _mc_qr(a, mode)


@_adapts(_mc_svdvals, _linalg.norm, _linalg.inv)
def cond(x, p=None):
    """``jnp.linalg.cond`` through matcalc's rules: ``σ_max/σ_min`` from ``matcalc.svdvals``
    (``p`` None, 2, −2), else ``‖A‖_p ‖A⁻¹‖_p`` with ``matcalc.norm`` and ``matcalc.inv``.
    As JAX, NaN becomes inf where the input has no NaN (p ≠ None, 2)."""
    arr = as_inexact(x, "x")
    if arr.ndim < 2:
        raise ValueError(f"cond: input array must be at least 2D; got shape {arr.shape}")
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise ValueError(f"cond: input array must not be empty; got shape {arr.shape}")
    if p is None or p == 2:
        s = _mc_svdvals(arr)
        return s[..., 0] / s[..., -1]
    if p == -2:
        s = _mc_svdvals(arr)
        r = s[..., -1] / s[..., 0]
    else:
        if arr.shape[-2] != arr.shape[-1]:
            raise ValueError(f"cond: for p={p!r} the array must be square; got shape {arr.shape}")
        r = _linalg.norm(arr, ord=p, axis=(-2, -1)) * _linalg.norm(_linalg.inv(arr), ord=p, axis=(-2, -1))
    return jnp.where(jnp.isnan(r) & ~jnp.isnan(arr).any(axis=(-2, -1)), jnp.inf, r)


@_adapts(_linalg.inv)
def tensorinv(a, ind: int = 2):
    """``jnp.linalg.tensorinv``: ``matcalc.inv`` of the ``ind``-split reshaped matrix."""
    import math
    import operator

    arr = as_inexact(a)
    ind = operator.index(ind)
    if ind <= 0:
        raise ValueError(f"tensorinv: ind must be a positive integer; got ind={ind}")
    contracting, batch = arr.shape[:ind], arr.shape[ind:]
    flat = (math.prod(contracting), math.prod(batch))
    if flat[0] != flat[1]:
        raise ValueError(
            "tensorinv: the product of the first `ind` dimensions must equal that of the remaining "
            f"ones; got shape {arr.shape} with ind={ind}"
        )
    return _linalg.inv(arr.reshape(flat)).reshape(*batch, *contracting)


@_adapts(_linalg.solve)
def tensorsolve(a, b, axes=None):
    """``jnp.linalg.tensorsolve``: ``matcalc.solve`` on the reshaped system."""
    import math

    a_arr, b_arr = jnp.asarray(a), jnp.asarray(b)
    if axes is not None:
        a_arr = jnp.moveaxis(a_arr, axes, len(axes) * (a_arr.ndim - 1,))
    out_shape = a_arr.shape[b_arr.ndim :]
    if a_arr.shape[: b_arr.ndim] != b_arr.shape:
        raise ValueError(
            "tensorsolve: after moving axes to the end, the leading shape of a must match b's; "
            f"got a.shape={a_arr.shape}, b.shape={b_arr.shape}"
        )
    if b_arr.size != math.prod(out_shape):
        raise ValueError(
            "tensorsolve: prod(a.shape[:b.ndim]) must equal prod(a.shape[b.ndim:]); "
            f"got a.shape={a_arr.shape}, b.ndim={b_arr.ndim}"
        )
    return _linalg.solve(a_arr.reshape(b_arr.size, math.prod(out_shape)), b_arr.ravel()).reshape(out_shape)


__all__ = [
    "cholesky",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "tensordot",
    "tensorinv",
    "tensorsolve",
    "trace",
    "vecdot",
    "vector_norm",
]
