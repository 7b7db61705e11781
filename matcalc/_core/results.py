"""JAX's named result types, so that ``isinstance`` and field names match ``jnp.linalg``'s.

``EigResult(eigenvalues, eigenvectors)``, ``EighResult(eigenvalues, eigenvectors)``,
``QRResult(Q, R)``, ``SVDResult(U, S, Vh)`` and ``SlogdetResult(sign, logabsdet)`` are JAX's own
classes where importable; otherwise named tuples with the same names and fields.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

try:
    from jax._src.numpy.linalg import EighResult, EigResult, QRResult, SlogdetResult, SVDResult
except ImportError:  # pragma: no cover - only on a JAX without these classes

    class EigResult(NamedTuple):
        eigenvalues: jax.Array
        eigenvectors: jax.Array

    class EighResult(NamedTuple):
        eigenvalues: jax.Array
        eigenvectors: jax.Array

    class QRResult(NamedTuple):
        Q: jax.Array
        R: jax.Array

    class SVDResult(NamedTuple):
        U: jax.Array
        S: jax.Array
        Vh: jax.Array

    class SlogdetResult(NamedTuple):
        sign: jax.Array
        logabsdet: jax.Array


__all__ = ["EigResult", "EighResult", "QRResult", "SVDResult", "SlogdetResult"]
