"""The generalized Hermitian-definite eigenproblem with a direct derivative rule in ``A`` and ``B``.

Three problems, as LAPACK's ``sygvd``/``hegvd`` and ``scipy.linalg.eigh(a, b, type=...)``, for
Hermitian ``A`` and Hermitian positive definite ``B = L Lᴴ``:

* type 1: ``A v = λ B v``,  reduced to ``C = L⁻¹ A L⁻ᴴ``, ``V = L⁻ᴴ U``, ``Vᴴ B V = I``;
* type 2: ``A B v = λ v``,  reduced to ``C = Lᴴ A L``,   ``V = L⁻ᴴ U``, ``Vᴴ B V = I``;
* type 3: ``B A v = λ v``,  reduced to ``C = Lᴴ A L``,   ``V = L U``,   ``Vᴴ B⁻¹ V = I``;

with ``C = U Λ Uᴴ`` (LAPACK's ``sygst`` reductions). The derivative is one rule on the pencil, not
autodiff through the Cholesky factor and the reduction, so that repeated generalized eigenvalues are
handled as ``matcalc.eigh`` handles repeated eigenvalues.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from .._core import (
    _H,
    as_inexact,
    check_dtype,
    check_square,
    cluster_tol,
    diag,
    mm,
    promote_inexact,
    symmetrize,
)
from .._core.arrays import hermitian_from_triangle
from .._core.results import EighResult

_TYPES = (1, 2, 3)


def _lower_solve(l, x, conjugate_transpose=False):
    """``L⁻¹ X`` (or ``L⁻ᴴ X``) for lower triangular ``L``."""
    return lax.linalg.triangular_solve(
        l, x, left_side=True, lower=True, transpose_a=conjugate_transpose, conjugate_a=conjugate_transpose
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _eigh_pencil(a, b, kind):
    """``(λ, V)`` (type 1) or ``(λ, V, Y)`` (types 2, 3) for Hermitian ``a`` and HPD ``b``, with
    ``Y = B V`` (type 2) or ``B⁻¹ V`` (type 3), the vectors the derivative pairs with
    (``Y Yᴴ = B`` resp. ``B⁻¹``)."""
    l = lax.linalg.cholesky(b, symmetrize_input=False)  # NaN where b is not positive definite
    if kind == 1:
        x = _lower_solve(l, a)  # L⁻¹ A
        c = _lower_solve(l, _H(x))  # L⁻¹ (L⁻¹ A)ᴴ = L⁻¹ A L⁻ᴴ
    else:
        c = mm(_H(l), mm(a, l))  # Lᴴ A L
    w, u = jnp.linalg.eigh(symmetrize(c), symmetrize_input=False)
    lhu = _lower_solve(l, u, conjugate_transpose=True)  # L⁻ᴴ U
    if kind == 1:
        return w, lhu  # V = L⁻ᴴ U
    if kind == 2:
        return w, lhu, mm(l, u)  # V = L⁻ᴴ U, Y = B V = L U
    return w, mm(l, u), lhu  # V = L U, Y = B⁻¹ V = L⁻ᴴ U


@_eigh_pencil.defjvp
def _eigh_pencil_jvp(kind, primals, tangents):
    a, b = primals
    da, db = tangents
    # The primal goes through the rule itself, so that an outer derivative uses it again.
    out = _eigh_pencil(a, b, kind)
    w, v = out[0], out[1]
    y = out[2] if kind != 1 else None
    da, db = symmetrize(da), symmetrize(db)
    vh = _H(v)
    yh = _H(y) if kind != 1 else None
    # Differentiate the pencil equation with dV = V X and project with the dual vectors:
    #   type 1: A V = B V Λ, Vᴴ B V = I:  Ã − B̃ Λ = X Λ − Λ X + dΛ,  Ã = Vᴴ dA V, B̃ = Vᴴ dB V,
    #           and d(Vᴴ B V) = 0 gives X + Xᴴ = −B̃;
    #   type 2: A B V = V Λ, Vᴴ B V = I:  Ã + Λ B̃ = X Λ − Λ X + dΛ,  Ã = Yᴴ dA Y (Y = B V),
    #           B̃ = Vᴴ dB V, X + Xᴴ = −B̃;
    #   type 3: B A V = V Λ, Vᴴ B⁻¹ V = I: Ã + B̃ Λ = X Λ − Λ X + dΛ,  Ã = Vᴴ dA V,
    #           B̃ = Yᴴ dB Y (Y = B⁻¹ V), X + Xᴴ = +B̃.
    # Entry (k, i), λ_i or λ_k written as (λ_i + λ_k)/2 ± (λ_i − λ_k)/2: with the Hermitian
    #   G_ki = Ã_ki + s (λ_i + λ_k)/2 B̃_ki,  s = −1 (type 1), +1 (types 2, 3),
    # dλ_i = G_ii and X = K ∘ G + H/2, H = ∓B̃ the Hermitian part fixed by the normalization
    # (K_ki = 1/(λ_i − λ_k) across clusters, 0 inside one, where the rotation is free: the gauge
    # X_cc = H_cc/2 has zero skew-Hermitian part). K ∘ G is exactly skew-Hermitian, so
    # X + Xᴴ = H holds to rounding.
    if kind == 1:
        at, bt = mm(mm(vh, da), v), mm(mm(vh, db), v)
    elif kind == 2:
        at, bt = mm(mm(yh, da), y), mm(mm(vh, db), v)
    else:
        at, bt = mm(mm(vh, da), v), mm(mm(yh, db), y)
    at, bt = symmetrize(at), symmetrize(bt)
    mean = ((w[..., None, :] + w[..., :, None]) / 2).astype(v.dtype)  # (λ_i + λ_k)/2
    g = at - mean * bt if kind == 1 else at + mean * bt
    h = bt if kind == 3 else -bt
    dw = jnp.real(diag(g))
    gap = w[..., None, :] - w[..., :, None]  # gap[k, i] = λ_i − λ_k
    same = jnp.abs(gap) <= cluster_tol(w, factor=4)[..., None]
    k = jnp.where(same, 0, 1 / jnp.where(same, 1, gap)).astype(v.dtype)
    x = k * g + h / 2
    dv = mm(v, x)
    if kind == 1:
        return (w, v), (dw, dv)
    if kind == 2:
        dy = mm(db, v) + mm(y, x)  # d(B V) = dB V + B V X
    else:
        dy = mm(y, x - bt)  # d(B⁻¹ V) = −B⁻¹ dB B⁻¹ V + B⁻¹ V X and B⁻¹ = Y Yᴴ
    return out, (dw, dv, dy)


def eigh_generalized(
    a: ArrayLike, b: ArrayLike, *, type: int = 1, lower: bool = True, symmetrize_input: bool = True
) -> EighResult:
    """Generalized Hermitian-definite eigenproblem; the ``b`` case of ``scipy.linalg.eigh``.

    Solves, for Hermitian ``A`` and Hermitian positive definite ``B``,
    ``A v = λ B v`` (``type=1``), ``A B v = λ v`` (``type=2``) or ``B A v = λ v`` (``type=3``).
    Returns ``EighResult(eigenvalues, eigenvectors)`` with real eigenvalues ascending and the
    eigenvectors normalized as LAPACK's: ``Vᴴ B V = I`` for types 1 and 2, ``Vᴴ B⁻¹ V = I`` for
    type 3. Forward: the reduction of LAPACK's ``sygst`` with ``B = L Lᴴ`` (``C = L⁻¹ A L⁻ᴴ``,
    ``V = L⁻ᴴ U`` for type 1; ``C = Lᴴ A L`` and ``V = L⁻ᴴ U`` resp. ``L U`` for types 2, 3) and
    ``C = U Λ Uᴴ``. Batched over leading axes (those of ``a`` and ``b`` broadcast). With
    ``symmetrize_input=True`` (default) the inputs are read as ``(A + Aᴴ)/2`` and ``(B + Bᴴ)/2``;
    otherwise only the ``lower`` (or upper) triangle of each is read, as SciPy does.

    Derivative:
      With ``dV = V X`` and ``Ã``, ``B̃`` the tangents of ``A`` and ``B`` seen by the eigenvectors,
      ``dλ_i = N_ii`` and ``X_ki = N_ki / (λ_i − λ_k)`` for ``λ_k`` outside the cluster of ``λ_i``:

      * type 1: ``Ã = Vᴴ dA V``, ``B̃ = Vᴴ dB V``, ``N_ki = Ã_ki − λ_i B̃_ki``, so
        ``dλ_i = v_iᴴ (dA − λ_i dB) v_i`` and, across clusters,
        ``dV = V (K ∘ (Ã − B̃ Λ)) − ½ V diag(B̃)``;
      * type 2: ``Ã = Vᴴ B dA B V``, ``B̃ = Vᴴ dB V``, ``N_ki = Ã_ki + λ_k B̃_ki``;
      * type 3: ``Ã = Vᴴ dA V``, ``B̃ = Vᴴ B⁻¹ dB B⁻¹ V``, ``N_ki = Ã_ki + λ_i B̃_ki``;

      ``K_ki = 1/(λ_i − λ_k)`` across clusters and 0 inside one. Computed in the symmetric form
      ``X = K ∘ G + H/2`` with the Hermitian ``G_ki = Ã_ki ∓ ½(λ_i + λ_k) B̃_ki`` (− for type 1)
      and ``H = −B̃`` (types 1, 2), ``+B̃`` (type 3), so that ``X + Xᴴ = H`` (the linearized
      normalization) holds to rounding. A cluster is a set of eigenvalues within
      ``4 n eps max|λ|`` of each other (as ``matcalc.eigh``, applied to the reduced ``C``).

      Gauge: the normalization (``Vᴴ B V = I``, resp. ``Vᴴ B⁻¹ V = I``) fixes only the Hermitian
      part of ``X`` inside a cluster, ``X_cc + X_ccᴴ = ∓B̃_cc``; the rule takes the symmetric split
      ``X_cc = ∓½ B̃_cc`` (zero skew-Hermitian part: no rotation inside a cluster, real ``X_ii``),
      which keeps the normalization to first order. At distinct eigenvalues this is the derivative
      of LAPACK's eigenvectors up to each column's sign/phase; for ``B = I`` it is
      ``matcalc.eigh``'s rule.

      At repeated generalized eigenvalues (no NaN): losses that depend on the eigenvectors only
      through the cluster projectors ``P_c = V_c V_cᴴ B`` (type 1 and 2; ``V_c V_cᴴ B⁻¹`` for type 3)
      and on the eigenvalues through symmetric functions of each cluster get their exact gradient
      (``X_cc`` enters ``dP_c`` only through ``X_cc + X_ccᴴ``); a basis-dependent loss gets the
      gradient of the basis transported without rotation, as for ``matcalc.eigh``. Eigenvalues
      nearly repeated but outside the tolerance (gap ``δ``) are distinct to the rule: such losses
      lose about ``eps max|λ| / δ`` relative accuracy, as with ``matcalc.eigh``.
      Tangents of ``a`` and ``b`` act through their Hermitian parts; gradients are Hermitian.
      Second derivatives differentiate this rule again (exact at distinct eigenvalues).
      Domain: ``b`` positive definite. A ``b`` that is not gives NaN in every output and derivative
      (its Cholesky factor is NaN), also under ``jit``. The reduction is accurate while ``b`` is well
      conditioned: as LAPACK's, eigenvalue errors grow like ``eps cond(B)`` relative to ``‖C‖``, and
      a cluster whose computed spread exceeds the tolerance is treated as distinct eigenvalues.
      Reference: Fox & Kapoor (1968), AIAA J. 6(12) (derivatives of the mass-normalized modes of
      ``K φ = λ M φ``); Giles (2008), §3.1 (standard problem); Golub & Van Loan (2013), §8.7
      (the reduction).

    Args:
      a: Hermitian matrix (or batch), shape ``(..., n, n)``.
      b: Hermitian positive definite matrix (or batch), shape ``(..., n, n)``.
      type: 1, 2 or 3, the problem solved (as SciPy's ``type``).
      lower: with ``symmetrize_input=False``, read the lower (``True``) or upper triangle.
      symmetrize_input: read the Hermitian parts of ``a`` and ``b`` (default) instead of a triangle.

    Returns:
      ``EighResult(eigenvalues, eigenvectors)``: real ``(..., n)`` ascending, and ``(..., n, n)``
      with the eigenvectors as columns.

    Examples:
      >>> A = jnp.array([[2., 0.], [0., 3.]])
      >>> B = jnp.array([[1., 0.], [0., 3.]])
      >>> w, v = matcalc.eigh_generalized(A, B)  # A v = λ B v
      >>> print(np.round(w, 6))
      [1. 2.]
      >>> bool(np.allclose(v.T @ B @ v, np.eye(2)))
      True
    """
    op = "eigh_generalized"
    if type not in _TYPES or isinstance(type, bool):
        raise ValueError(f"{op}: type must be 1, 2 or 3, got {type!r}")
    a, b = as_inexact(a, "a"), as_inexact(b, "b")
    check_square(a, op, "a")
    check_square(b, op, "b")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{op}: a and b must have the same matrix size, got shapes {a.shape} and {b.shape}")
    try:
        batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{op}: the leading (batch) axes of a and b must broadcast, got shapes {a.shape} and {b.shape}"
        ) from None
    a, b = promote_inexact(a, b)
    check_dtype(op, "a", a)
    n = a.shape[-1]
    a, b = jnp.broadcast_to(a, (*batch, n, n)), jnp.broadcast_to(b, (*batch, n, n))
    if symmetrize_input:
        a, b = symmetrize(a), symmetrize(b)
    else:
        uplo = "L" if lower else "U"
        a, b = hermitian_from_triangle(a, uplo), hermitian_from_triangle(b, uplo)
    out = _eigh_pencil(a, b, int(type))
    return EighResult(out[0], out[1])
