"""Array helpers every rule uses: full-precision products, the (conjugate) transpose of the last
two axes, Hermitian projection, traces and diagonals, and JAX's dtype promotion.

Products inside rules use ``Precision.HIGHEST``. ``_H``/``_T`` keep their short names (they read
like the ``ᴴ``/``ᵀ`` of the formulas) and are exported by the core for every layer.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

HIGHEST = lax.Precision.HIGHEST


def mm(a, b):
    """``a @ b`` at full precision (batched over leading axes)."""
    return jnp.matmul(a, b, precision=HIGHEST)


def mv(a, x):
    """``a @ x`` for a batch of vectors ``x[..., n]``."""
    return jnp.einsum("...ij,...j->...i", a, x, precision=HIGHEST)


def _T(x):
    """Transpose of the last two axes."""
    return jnp.swapaxes(x, -1, -2)


def _H(x):
    """Conjugate transpose of the last two axes."""
    return jnp.conj(_T(x))


def symmetrize(x):
    """``(x + xᴴ) / 2``: projection onto Hermitian (real: symmetric) matrices."""
    return (x + _H(x)) / 2


def real_dot(a, b):
    """The real pairing ``Re Σ a·b`` (no conjugate) under which JAX transposes linear maps."""
    return jnp.sum(jnp.real(a * b))


def trace(x):
    """Trace over the last two axes."""
    return jnp.trace(x, axis1=-2, axis2=-1)


def diag(x):
    """Diagonal of the last two axes."""
    return jnp.diagonal(x, axis1=-2, axis2=-1)


def eye_like(a):
    """Identity matrices shaped and typed like the square (batch of) matrices ``a``."""
    return jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), (*a.shape[:-2], a.shape[-1], a.shape[-1]))


def default_float():
    """The default floating dtype (float64 under ``jax_enable_x64``, else float32)."""
    return jnp.result_type(float)


def _inexact_for(dtype):
    """JAX's promotion of an integer/bool dtype to an inexact one (``jnp.linalg``'s rule): up to 32
    bits to float32, 64 bits to the default float."""
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype).itemsize <= 4 else default_float()


def as_inexact(x, name: str = "a"):
    """``jnp.asarray(x)`` with integer/bool input promoted to an inexact dtype, as JAX does."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        if not (jnp.issubdtype(x.dtype, jnp.integer) or jnp.issubdtype(x.dtype, jnp.bool_)):
            raise TypeError(f"{name}: unsupported dtype {x.dtype}")
        x = x.astype(_inexact_for(x.dtype))
    return x


def promote_inexact(*xs):
    """Promote several arrays to one common inexact dtype (like ``jnp.linalg.solve``)."""
    xs = [jnp.asarray(x) for x in xs]
    dtype = jnp.result_type(*[x.dtype for x in xs])
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = _inexact_for(dtype)
    return [x.astype(dtype) for x in xs]


def zeros_like_tangent(x):
    """A zero tangent that is safe for ``custom_jvp`` outputs."""
    return jnp.zeros_like(x)


def norm1(x):
    """Per-matrix 1-norm (maximum absolute column sum)."""
    return jnp.max(jnp.sum(jnp.abs(x), axis=-2), axis=-1, initial=0.0)


def complex_dtype(dtype):
    """The complex dtype of ``dtype``'s precision (complex64 for float32, complex128 for float64)."""
    return jnp.complex64 if jnp.finfo(dtype).bits == 32 else jnp.complex128


def hermitian_from_triangle(a, uplo):
    """The Hermitian matrix that LAPACK sees when only the ``uplo`` (``"U"``, else lower) triangle
    of ``a`` is read."""
    strict = jnp.triu(a, 1) if uplo == "U" else jnp.tril(a, -1)
    d = jnp.real(diag(a)).astype(a.dtype)
    return strict + _H(strict) + d[..., None] * eye_like(a)


__all__ = [
    "hermitian_from_triangle",
    "HIGHEST",
    "_H",
    "_T",
    "as_inexact",
    "complex_dtype",
    "default_float",
    "diag",
    "eye_like",
    "mm",
    "mv",
    "norm1",
    "promote_inexact",
    "real_dot",
    "symmetrize",
    "trace",
    "zeros_like_tangent",
]
