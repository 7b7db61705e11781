"""SciPy's ``scipy.sparse.linalg`` names for matcalc's matrix-free rules, with SciPy's signatures.

The operand ``A`` may be a dense array, a ``jax.experimental.sparse.BCOO`` matrix or a lineax operator;
derivatives are matcalc's rules (see ``matcalc.krylov``). SciPy's defaults apply
(``which="LM"``); options of SciPy's ARPACK interface that these rules do not implement (a mass
matrix ``M``, shift-invert ``sigma``, ``OPinv``...) raise a ``ValueError`` naming the option.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.typing import ArrayLike

from ...krylov import eigsh as _krylov_eigsh
from ...krylov import svds as _krylov_svds
from ...krylov.expm_multiply import expm_multiply_scipy as expm_multiply

__all__ = ["eigsh", "expm_multiply", "svds"]


def _unsupported(function: str, **options: Any) -> None:
    for name, value in options.items():
        if value is not None:
            raise ValueError(
                f"{function}: {name}={value!r} is not supported by matcalc's matrix-free rule "
                f"(standard Hermitian problems only); leave {name} at None"
            )


def eigsh(  # noqa: PLR0913 (SciPy's signature)
    A: Any,
    k: int = 6,
    M: Any = None,
    sigma: Any = None,
    which: str = "LM",
    v0: ArrayLike | None = None,
    ncv: int | None = None,
    maxiter: int | None = None,
    tol: float = 0,
    return_eigenvectors: bool = True,
    Minv: Any = None,
    OPinv: Any = None,
    mode: str = "normal",
    rng: Any = None,
) -> tuple[jax.Array, jax.Array] | jax.Array:
    """``scipy.sparse.linalg.eigsh`` with matcalc's derivative rule: ``matcalc.krylov.eigsh``.

    ``which`` is ``"LM"`` (SciPy's default), ``"LA"`` or ``"SA"``; eigenvalues ascending, as SciPy
    returns them. ``tol=0`` means machine precision, as in SciPy. ``rng`` may be a JAX PRNG key for
    the starting block (default: a fixed key). ``M``, ``sigma``, ``Minv``, ``OPinv`` and a ``mode``
    other than ``"normal"`` are not supported.
    """
    _unsupported("eigsh", M=M, sigma=sigma, Minv=Minv, OPinv=OPinv)
    if mode != "normal":
        raise ValueError(f"eigsh: mode={mode!r} is not supported (only 'normal')")
    return _krylov_eigsh(
        A,
        k,
        which,
        v0=v0,
        key=rng,
        tol=tol or None,
        maxiter=maxiter,
        ncv=ncv,
        return_eigenvectors=return_eigenvectors,
    )


def svds(  # noqa: PLR0913 (SciPy's signature)
    A: Any,
    k: int = 6,
    ncv: int | None = None,
    tol: float = 0,
    which: str = "LM",
    v0: ArrayLike | None = None,
    maxiter: int | None = None,
    return_singular_vectors: bool = True,
    solver: str = "arpack",
    rng: Any = None,
    options: Any = None,
    *,
    random_state: Any = None,
) -> tuple[jax.Array, jax.Array, jax.Array] | jax.Array:
    """``scipy.sparse.linalg.svds`` with matcalc's derivative rule: ``matcalc.krylov.svds``.

    Singular values ascending, as SciPy returns them; ``which="LM"`` only. ``solver`` is accepted for
    compatibility and ignored (the rule is always matcalc's block Lanczos); ``rng`` may be a JAX PRNG
    key. ``options`` and ``random_state`` are not supported.
    """
    _unsupported("svds", options=options, random_state=random_state)
    return _krylov_svds(
        A,
        k,
        which,
        v0=v0,
        key=rng,
        tol=tol or None,
        maxiter=maxiter,
        ncv=ncv,
        return_singular_vectors=return_singular_vectors,
    )
