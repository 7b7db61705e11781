"""Elementary matrix calculus: inverse, solve, determinants, pseudo-inverse, least squares,
matrix powers and norms, each with a hand-derived JVP (reverse mode by JAX's transposition).

Course notes (Bright, Edelman & Johnson, arXiv:2501.14787), chapters 2–7; Giles (2008), "An extended
collection of matrix derivative results for forward and reverse mode AD".
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from ._core import (
    _H,
    _T,
    as_inexact,
    check_matrix,
    check_square,
    cluster_tol,
    diag,
    eye_like,
    mm,
    promote_inexact,
    trace,
)
from ._core.results import SlogdetResult
from ._factor.svd import svd, svdvals
from ._kernels.lu import lu_pivoted, lu_pivoted_solve, lu_sign_logabs
from ._kernels.spectral import svd_weights_jvp

# ---------------------------------------------------------------------------------------------
# inv


@jax.custom_jvp
def _inv(a):
    return jnp.linalg.inv(a)


@_inv.defjvp
def _inv_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    x = _inv(a)
    # d(A⁻¹) = −A⁻¹ dA A⁻¹
    return x, -mm(mm(x, da), x)


def inv(a: ArrayLike) -> Array:
    """Inverse of a (batch of) square matrices; drop-in for ``jnp.linalg.inv``.

    Derivative:
      ``d(A⁻¹) = −A⁻¹ dA A⁻¹``; reverse mode ``Ā = −A⁻ᴴ X̄ A⁻ᴴ`` (by transposition).
      Domain: nonsingular A. For singular A the value is ``inf``/``nan`` exactly as
      ``jnp.linalg.inv`` returns, and so are the derivatives.
      Reference: course notes ch. 2; Giles (2008) §3.1.

    Args:
      a: array ``(..., n, n)``; integer input is promoted to the default float.

    Returns:
      ``(..., n, n)`` inverse.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> X = matcalc.inv(A)
      >>> print(np.round(X, 6))
      [[ 0.3 -0.1]
       [-0.2  0.4]]
      >>> E = jnp.array([[0., 1.], [0., 0.]])
      >>> _, dX = jax.jvp(matcalc.inv, (A,), (E,))  # d(A⁻¹) = −A⁻¹ dA A⁻¹
      >>> bool(np.allclose(dX, -X @ E @ X))
      True
    """
    a = as_inexact(a)
    check_square(a, "inv")
    return _inv(a)


# ---------------------------------------------------------------------------------------------
# solve


@jax.custom_jvp
def _solve(a, b):
    lu, _, perm = lu_pivoted(a)
    return lu_pivoted_solve(lu, perm, b)


@_solve.defjvp
def _solve_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    lu, _, perm = lu_pivoted(a)
    x = lu_pivoted_solve(lu, perm, b)
    # A x = b  ⇒  A dx = db − dA x  ⇒  dx = A⁻¹ (db − dA x), solved on the forward LU.
    # Transposed (reverse mode, the adjoint method): λ = A⁻ᵀ x̄ (one adjoint solve on the same
    # factors), b̄ = λ, Ā = −λ xᵀ.
    return x, lu_pivoted_solve(lu, perm, db - mm(da, x))


def solve(a: ArrayLike, b: ArrayLike) -> Array:
    """Solve ``a @ x = b``; drop-in for ``jnp.linalg.solve`` (same broadcasting rules).

    Derivative:
      ``dx = A⁻¹ (db − dA x)``. Reverse mode is the adjoint method: one solve ``Aᵀ λ = x̄`` on the
      forward pass's LU factors, then ``b̄ = λ`` and ``Ā = −λ xᵀ``.
      Domain: nonsingular A; singular A gives ``inf``/``nan`` as in ``jnp.linalg.solve``.
      Reference: course notes ch. 6 (adjoint method); Giles (2008) §3.1.

    Args:
      a: ``(..., n, n)``.
      b: ``(n,)`` or ``(..., n, k)`` (batch axes broadcast against ``a``'s).

    Returns:
      ``(..., n)`` if ``b`` is 1-D, else ``(..., n, k)``.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> b = jnp.array([6., 8.])
      >>> print(np.round(matcalc.solve(A, b), 6))
      [1. 2.]
      >>> g = jax.grad(lambda b: matcalc.solve(A, b).sum())(b)  # the adjoint solve: A⁻ᵀ 1
      >>> bool(np.allclose(g, np.linalg.solve(np.asarray(A).T, np.ones(2))))
      True
    """
    a, b = promote_inexact(a, b)
    check_square(a, "solve")
    n = a.shape[-1]
    if b.ndim == 0:
        raise ValueError(f"solve: b must have at least 1 dimension, got shape {b.shape}")
    if b.ndim == 1:
        if b.shape[0] != n:
            raise ValueError(f"solve: a has shape {a.shape} but b has shape {b.shape}")
        bm = jnp.broadcast_to(b[:, None], (*a.shape[:-2], n, 1))
        return _solve(a, bm)[..., 0]
    if b.shape[-2] != n:
        raise ValueError(
            f"solve: a has shape {a.shape} but b has shape {b.shape}; b must be (n,) or (..., n, k)"
        )
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = jnp.broadcast_to(a, (*batch, n, n))
    b = jnp.broadcast_to(b, (*batch, *b.shape[-2:]))
    return _solve(a, b)


# ---------------------------------------------------------------------------------------------
# half precision


def _single_if_half(a):
    """``(a in float32, a's dtype)`` for float16/bfloat16 input (JAX has no half-precision LU or
    Cholesky kernel), else ``(a, None)``. The caller casts its results back to the half dtype, as
    ``jnp.linalg.det`` returns them; the casts are differentiable, so derivatives come back in the
    half dtype too."""
    if jnp.issubdtype(a.dtype, jnp.floating) and jnp.finfo(a.dtype).bits < 32:
        return a.astype(jnp.float32), a.dtype
    return a, None


def _as_half(x, half):
    return x if half is None else x.astype(half)


# ---------------------------------------------------------------------------------------------
# adjugate and det


def _leave_one_out_products(s):
    """``P1_i = ∏_{k≠i} s_k`` and ``P2_ij = ∏_{k≠i,j} s_k`` (``P2_ii = 0``) for ``s ≥ 0``.

    Computed in logs over the nonzero entries, with exact zeros wherever an excluded ``s_k`` is
    zero (no ``0/0``, no ``log 0``).
    """
    is_zero = s <= 0
    ls = jnp.log(jnp.where(is_zero, 1, s))
    total = jnp.sum(ls, axis=-1, keepdims=True)
    zeros = jnp.sum(is_zero, axis=-1, keepdims=True)
    z = is_zero.astype(zeros.dtype)
    p1 = jnp.where(zeros - z > 0, 0, jnp.exp(total - ls))
    zeros2 = zeros[..., None] - z[..., :, None] - z[..., None, :]
    p2 = jnp.where(zeros2 > 0, 0, jnp.exp(total[..., None] - ls[..., :, None] - ls[..., None, :]))
    n = s.shape[-1]
    p2 = jnp.where(jnp.broadcast_to(jnp.eye(n, dtype=bool), p2.shape), 0.0, p2)
    return p1, p2


def _adjugate_svd_parts(a):
    u, s, vh = jnp.linalg.svd(a)
    # adj(A) = adj(Vᴴ) adj(S) adj(U) = det(V)ᴴ... : for unitary Q, adj(Q) = det(Q) Qᴴ.
    c = jnp.linalg.det(u) * jnp.linalg.det(vh)
    return u, s, vh, c


def _adjugate_svd(a):
    u, s, vh, c = _adjugate_svd_parts(a)
    p1, _ = _leave_one_out_products(s)
    v = _H(vh)
    return c[..., None, None] * mm(v * p1[..., None, :].astype(a.dtype), _H(u))


def _adjugate_svd_jvp(a, da):
    u, s, vh, c = _adjugate_svd_parts(a)
    p1, p2 = _leave_one_out_products(s)
    v = _H(vh)
    adj = c[..., None, None] * mm(v * p1[..., None, :].astype(a.dtype), _H(u))
    # adj(U S Vᴴ + E) = c V adj(S + F) Uᴴ with F = Uᴴ E V, and for diagonal S
    # d adj(S)[F] = diag(Σ_k P2_ik F_kk) − P2 ∘ F   (P2_ij = ∏_{k≠i,j} s_k, P2_ii = 0).
    f = mm(mm(_H(u), da), v)
    p2c = p2.astype(a.dtype)
    inner = -p2c * f
    inner = inner + jnp.einsum("...ik,...k->...i", p2c, diag(f))[..., :, None] * eye_like(a)
    dadj = c[..., None, None] * mm(mm(v, inner), _H(u))
    return adj, dadj


def _near_singular(lu):
    d = jnp.abs(diag(lu))
    return jnp.min(d, axis=-1, initial=jnp.inf) <= cluster_tol(d)[..., 0]


@jax.custom_jvp
def _adjugate(a):
    return _adjugate_jvp((a,), (jnp.zeros_like(a),))[0]


@_adjugate.defjvp
def _adjugate_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu, piv, perm = lu_pivoted(a)
    near = _near_singular(lu)

    def regular(a, da):
        # adj = det(A) A⁻¹ ⇒ d adj = tr(adj dA) A⁻¹ − A⁻¹ dA adj, on the forward LU. Numerically
        # singular members of a batch get identity factors here (the SVD branch serves them), so
        # this branch stays finite when vmap turns the cond into a select.
        eye = eye_like(a)
        identity_order = jnp.broadcast_to(jnp.arange(a.shape[-1], dtype=perm.dtype), perm.shape)
        lu_s = jnp.where(near[..., None, None], eye, lu)
        piv_s = jnp.where(near[..., None], identity_order.astype(piv.dtype), piv)
        perm_s = jnp.where(near[..., None], identity_order, perm)
        x = lu_pivoted_solve(lu_s, perm_s, eye)
        sign, logabs = lu_sign_logabs(lu_s, piv_s)
        det = sign * jnp.exp(logabs).astype(a.dtype)
        adj = det[..., None, None] * x
        dadj = trace(mm(adj, da))[..., None, None] * x - mm(mm(x, da), adj)
        return adj, dadj

    # Near-singular batches switch to the SVD form, exact at rank n−1 and zero at rank ≤ n−2.
    return lax.cond(jnp.any(near), _adjugate_svd_jvp, regular, a, da)


@jax.custom_jvp
def _det(a):
    lu, piv, _ = lu_pivoted(a)
    sign, logabs = lu_sign_logabs(lu, piv)
    return sign * jnp.exp(logabs).astype(a.dtype)


@_det.defjvp
def _det_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    # d det A = tr(adj(A) dA): finite at singular A (adj from the SVD there).
    return _det(a), jnp.sum(_T(_adjugate(a)) * da, axis=(-2, -1))


def det(a: ArrayLike) -> Array:
    """Determinant; drop-in for ``jnp.linalg.det``.

    float16/bfloat16 input is computed in float32 and the result (and the derivatives) returned in
    the input dtype, as ``jnp.linalg.det`` returns them (JAX itself computes half precision only for
    ``n ≤ 3``, by a closed form).

    Derivative:
      ``d det A = tr(adj(A) dA)``, so ``∇ det = adj(A)ᵀ``. For nonsingular A, ``adj(A) =
      det(A) A⁻¹``; when any matrix of the batch is numerically singular (an LU pivot below
      ``n·eps·max pivot``) the adjugate comes from the SVD, ``adj(UΣVᴴ) = det(U)det(Vᴴ) V adj(Σ) Uᴴ``
      with ``adj(Σ)_ii = ∏_{k≠i} σ_k``: exact at rank n−1 and zero at rank ≤ n−2, where
      ``jnp.linalg.det``'s gradient is also right but its second derivative is not defined by a
      rule. Second order uses the adjugate's own rule,
      ``d adj(S)[F] = diag(Σ_k P_ik F_kk) − P∘F`` with ``P_ij = ∏_{k≠i,j} σ_k``.
      Reference: course notes ch. 7 (Jacobi's formula); Giles (2008) §3.1.

    Examples:
      >>> A = jnp.array([[4., 1.], [2., 3.]])
      >>> print(f"{float(matcalc.det(A)):.6f}")
      10.000000
      >>> g = jax.grad(matcalc.det)(A)  # det(A) A⁻ᵀ
      >>> bool(np.allclose(g, 10.0 * np.linalg.inv(np.asarray(A)).T))
      True
      >>> S = jnp.array([[1., 2.], [2., 4.]])  # singular: the gradient is the adjugate, finite
      >>> print(np.round(jax.grad(matcalc.det)(S), 6))
      [[ 4. -2.]
       [-2.  1.]]
    """
    a = as_inexact(a)
    check_square(a, "det")
    a, half = _single_if_half(a)
    return _as_half(_det(a), half)


# ---------------------------------------------------------------------------------------------
# slogdet / logdet


@jax.custom_jvp
def _slogdet(a):
    lu, piv, _ = lu_pivoted(a)
    return lu_sign_logabs(lu, piv)


@_slogdet.defjvp
def _slogdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu, piv, perm = lu_pivoted(a)
    sign, logabs = lu_sign_logabs(lu, piv)
    # d log det A = tr(A⁻¹ dA), solved on the forward LU; log|det| takes the real part and
    # the sign (complex: a phase) turns by i·Im tr(A⁻¹ dA).
    t = trace(lu_pivoted_solve(lu, perm, da))
    dlogabs = jnp.real(t)
    if jnp.iscomplexobj(a):
        dsign = sign * (1j * jnp.imag(t).astype(sign.dtype))
    else:
        dsign = jnp.zeros_like(sign)
    return (sign, logabs), (dsign, dlogabs)


def slogdet(a: ArrayLike, *, method: str | None = None) -> SlogdetResult:
    """Sign and log-absolute-determinant; drop-in for ``jnp.linalg.slogdet``.

    float16/bfloat16 input is computed in float32 and the result (and the derivatives) returned in
    the input dtype, as ``jnp.linalg.slogdet`` returns them (JAX itself computes half precision only for
    ``n ≤ 3``, by a closed form).

    Derivative:
      ``d log|det A| = Re tr(A⁻¹ dA)``; for complex A the sign (a unit phase ``s``) has
      ``ds = i s Im tr(A⁻¹ dA)``; for real A the sign is locally constant. Reverse mode reuses the
      forward LU. Singular A: ``(0, -inf)`` and non-finite derivatives, as in JAX.
      Reference: course notes ch. 7; Giles (2008) §3.1.

    Args:
      a: ``(..., n, n)``.
      method: ``None``, ``"lu"`` or ``"qr"`` (JAX's options); the value is the same within
        rounding, so LU is used for all three.

    Examples:
      >>> A = jnp.array([[1., 2.], [3., 4.]])
      >>> sign, logabsdet = matcalc.slogdet(A)
      >>> print(f"{float(sign):.1f} {float(logabsdet):.6f}")
      -1.0 0.693147
      >>> g = jax.grad(lambda A: matcalc.slogdet(A)[1])(A)  # A⁻ᵀ
      >>> bool(np.allclose(g, np.linalg.inv(np.asarray(A)).T))
      True
    """
    if method not in (None, "lu", "qr"):
        raise ValueError(f"slogdet: unknown method {method!r}; supported are 'lu' (None) and 'qr'")
    a = as_inexact(a)
    check_square(a, "slogdet")
    a, half = _single_if_half(a)
    sign, logabs = _slogdet(a)
    return SlogdetResult(_as_half(sign, half), _as_half(logabs, half))


@jax.custom_jvp
def _logdet_pos(a):
    chol = jnp.linalg.cholesky(a)
    return 2 * jnp.sum(jnp.log(jnp.real(diag(chol))), axis=-1)


@_logdet_pos.defjvp
def _logdet_pos_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    chol = jnp.linalg.cholesky(a)
    y = 2 * jnp.sum(jnp.log(jnp.real(diag(chol))), axis=-1)
    # d log det A = tr(A⁻¹ dA) = Re Σ (A⁻¹)ᵀ ∘ dA for Hermitian A, A⁻¹ = L⁻ᴴ (L⁻¹) from the forward
    # Cholesky by two triangular solves. (The product Zᴴ Z of Z = L⁻¹ with itself, the same cost,
    # loses 2–3× more to rounding on ill-conditioned A, up to 20× on single matrices.)
    eye = eye_like(a)
    g = lax.linalg.triangular_solve(chol, eye, left_side=True, lower=True, transpose_a=True, conjugate_a=True)
    a_inv = lax.linalg.triangular_solve(chol, g, left_side=False, lower=True)
    return y, jnp.real(jnp.sum(_T(a_inv) * da, axis=(-2, -1)))


def logdet(a: ArrayLike, assume_a: str = "gen") -> Array:
    """``log|det a|``.

    ``assume_a="gen"`` uses LU (any nonsingular matrix); ``assume_a="pos"`` takes a Cholesky path
    for symmetric/Hermitian positive definite input (cheaper, and exact to the last bit for SPD);
    it reads the Hermitian part ``(A + Aᴴ)/2`` as ``jnp.linalg.cholesky`` does, and returns
    ``nan`` for input that is not positive definite. float16/bfloat16 input is computed in float32
    and the result (and the derivatives) returned in the input dtype, as ``jnp.linalg.slogdet`` does.

    Derivative:
      ``d log|det A| = Re tr(A⁻¹ dA)``; with ``"pos"``, ``A⁻¹ = L⁻ᴴ L⁻¹`` from the forward Cholesky
      factor by two triangular solves (as accurate as JAX's Cholesky rule on ill-conditioned A;
      tangents act through their Hermitian part, consistent with the primal).
      Reference: course notes ch. 7; Murray (2016) for the Cholesky form.

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])
      >>> print(f"{float(matcalc.logdet(A)):.6f}")
      1.098612
      >>> g = jax.grad(matcalc.logdet)(A)  # A⁻ᵀ
      >>> bool(np.allclose(g, np.linalg.inv(np.asarray(A)).T))
      True
    """
    a = as_inexact(a)
    check_square(a, "logdet")
    a, half = _single_if_half(a)
    if assume_a == "gen":
        return _as_half(_slogdet(a)[1], half)
    if assume_a == "pos":
        return _as_half(_logdet_pos(a), half)
    raise ValueError(f"logdet: assume_a must be 'gen' or 'pos', got {assume_a!r}")


# ---------------------------------------------------------------------------------------------
# pinv


def _pinv_primal(a, rtol, hermitian):
    return jnp.linalg.pinv(a, rtol=rtol, hermitian=hermitian)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _pinv(a, rtol, hermitian):
    return _pinv_primal(a, rtol, hermitian)


@_pinv.defjvp
def _pinv_jvp(rtol, hermitian, primals, tangents):
    (a,), (da,) = primals, tangents
    p = _pinv(a, rtol, hermitian)
    if hermitian:
        a = (a + _H(a)) / 2
        da = (da + _H(da)) / 2
    # Golub & Pereyra (1973), eq. 4.12, for constant rank:
    # dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᴴ dAᴴ (I − A A⁺) + (I − A⁺A) dAᴴ A⁺ᴴ A⁺
    # Every triple product is (n×m)(m×n)(n×m); _mm3 associates it through the min(m, n)-sized
    # middle, so a wide or tall A never forms an n×n or m×m matrix (A⁺A for A of shape 2×400000).
    dah = _H(da)
    s = _mm3(p, _H(p), dah)
    t = _mm3(dah, _H(p), p)
    dp = -_mm3(p, da, p) + s - _mm3(s, a, p) + t - _mm3(p, a, t)
    return p, dp


def _mm3(x, y, z):
    """``x @ y @ z`` in the cheaper association (by the multiply count of the trailing matrix shapes)."""
    (i, j), k, l_ = x.shape[-2:], y.shape[-1], z.shape[-1]
    left_first = i * j * k + i * k * l_ <= j * k * l_ + i * j * l_
    return mm(mm(x, y), z) if left_first else mm(x, mm(y, z))


def pinv(
    a: ArrayLike, rtol: ArrayLike | None = None, hermitian: bool = False, *, rcond: ArrayLike | None = None
) -> Array:
    """Moore–Penrose pseudo-inverse; drop-in for ``jnp.linalg.pinv`` (same ``rtol`` default).

    Derivative:
      ``dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᴴ dAᴴ (I − AA⁺) + (I − A⁺A) dAᴴ A⁺ᴴ A⁺`` (Golub & Pereyra 1973,
      eq. 4.12). It is the derivative along perturbations that keep the rank; singular values below
      ``rtol·σ_max`` are treated as exact zeros (so the derivative of a rank-deficient input is
      that of its truncated, constant-rank version). With ``hermitian=True`` tangents act through
      their Hermitian part.

    Examples:
      >>> A = jnp.array([[1., 0.], [0., 2.], [0., 0.]])
      >>> print(np.round(matcalc.pinv(A), 6))
      [[1.  0.  0. ]
       [0.  0.5 0. ]]
    """
    if rcond is not None:
        if rtol is not None:
            raise ValueError("pinv: only one of rtol and rcond may be specified.")
        rtol = rcond
    a = as_inexact(a)
    check_matrix(a, "pinv")
    if hermitian:
        check_square(a, "pinv(hermitian=True)")
    if rtol is not None and not isinstance(rtol, (int, float)):
        raise TypeError("pinv: rtol must be a Python float (it selects the rank, a static choice)")
    return _pinv(a, rtol, hermitian)


# ---------------------------------------------------------------------------------------------
# lstsq


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _lstsq_x(a, b, rcond):
    u, s_inv, v = _lstsq_factors(a, rcond)
    return _pinv_apply(u, s_inv, v, b)


def _lstsq_factors(a, rcond):
    """Thin SVD ``A = U Σ Vᴴ`` as ``(U, Σ⁺, V)`` with ``Σ⁺`` 0 below the cut and the singular
    vectors of the cut values zeroed: ``A⁺ = V Σ⁺ Uᴴ`` of the truncated problem, ``U Uᴴ`` and
    ``V Vᴴ`` the projectors onto ``range(A)`` and ``range(Aᴴ)``."""
    m, n = a.shape[-2:]
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    cut = (jnp.finfo(s.dtype).eps * max(m, n)) if rcond is None else rcond
    mask = (s > 0) & (s >= cut * s[..., :1])
    s_inv = jnp.where(mask, 1 / jnp.where(mask, s, 1), 0).astype(a.dtype)
    keep = mask.astype(a.dtype)[..., None, :]
    return u * keep, s_inv, _H(vh) * keep


def _pinv_apply(u, s_inv, v, y):
    """``A⁺ y = V (Σ⁺ (Uᴴ y))`` without forming ``A⁺``."""
    return mm(v, s_inv[..., :, None] * mm(_H(u), y))


@_lstsq_x.defjvp
def _lstsq_x_jvp(rcond, primals, tangents):
    (a, b), (da, db) = primals, tangents
    u, s_inv, v = _lstsq_factors(a, rcond)
    x = _pinv_apply(u, s_inv, v, b)
    # x = A⁺ b, with the Golub–Pereyra dA⁺ applied to b (never forming dA⁺):
    # dx = −A⁺ dA x + A⁺A⁺ᴴ dAᴴ r + (I − A⁺A) dAᴴ A⁺ᴴ x + A⁺ db,   r = b − A x.
    # Every factor goes through the SVD: r = (I − U Uᴴ) b, A⁺A⁺ᴴ = V Σ⁺² Vᴴ, I − A⁺A = I − V Vᴴ,
    # A⁺ᴴ x = U Σ⁺ Vᴴ x. Forming A⁺ and the products A x, A⁺ A instead leaves rounding of size
    # eps·cond(A) in r and in I − A⁺A, which the other factors multiply by ‖A⁺‖ (cond² · eps).
    sig = s_inv[..., :, None]
    r = b - mm(u, mm(_H(u), b))
    dah = _H(da)
    t = mm(dah, mm(u, sig * mm(_H(v), x)))
    inner = mm(_H(u), db - mm(da, x)) + sig * mm(_H(v), mm(dah, r))
    dx = mm(v, sig * inner) + t - mm(v, mm(_H(v), t))
    return x, dx


def lstsq(
    a: ArrayLike, b: ArrayLike, rcond: ArrayLike | None = None, *, numpy_resid: bool = False
) -> tuple[Array, Array, Array, Array]:
    """Least-squares solution of ``a @ x ≈ b``; drop-in for ``jnp.linalg.lstsq``.

    Returns ``(x, resid, rank, s)`` exactly as ``jnp.linalg.lstsq``: ``resid`` is the squared
    residual norm per column (empty with ``numpy_resid=True`` when NumPy would return it empty),
    ``rank`` the numerical rank (an integer, not differentiated) and ``s`` the singular values.

    Derivative:
      ``x = A⁺ b`` with ``dx = −A⁺ dA x + A⁺A⁺ᴴ dAᴴ r + (I − A⁺A) dAᴴ A⁺ᴴ x + A⁺ db``,
      ``r = b − A x`` (Golub & Pereyra 1973), evaluated on the thin SVD without forming ``A⁺``
      (``r = (I − UUᴴ) b``, ``I − A⁺A = I − VVᴴ``, ``A⁺A⁺ᴴ = VΣ⁺²Vᴴ``), which keeps JAX's accuracy on
      ill-conditioned ``a``; no division by differences of singular values, so
      the gradient is finite and right at ``a = I`` (where ``jnp.linalg.lstsq``'s is NaN) and at
      any repeated singular value. ``s`` has ``dσ_i = Re(u_iᴴ dA v_i)`` (see ``svdvals``).
      Rank-deficient ``a``: the derivative of the truncated, constant-rank problem.

    Examples:
      >>> A = jnp.array([[1., 0.], [0., 1.], [1., 1.]])
      >>> b = jnp.array([1., 2., 4.])
      >>> x, resid, rank, s = matcalc.lstsq(A, b)
      >>> print(np.round(x, 6), int(rank))
      [1.333333 2.333333] 2
      >>> bool(np.allclose(x, np.linalg.lstsq(np.asarray(A), np.asarray(b), rcond=None)[0]))
      True
    """
    a, b = promote_inexact(a, b)
    if a.ndim != 2:
        raise TypeError(f"lstsq: a must be two-dimensional, got shape {a.shape}")
    if b.ndim not in (1, 2):
        raise TypeError(f"lstsq: b must be one- or two-dimensional, got shape {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"lstsq: leading dimensions differ: a {a.shape}, b {b.shape}")
    if rcond is not None and not isinstance(rcond, (int, float)):
        raise TypeError("lstsq: rcond must be a Python float")
    if rcond is not None and rcond < 0:
        rcond = float(jnp.finfo(a.dtype).eps)
    m, n = a.shape
    b2 = b[:, None] if b.ndim == 1 else b
    x = _lstsq_x(a, b2, rcond)
    s = svdvals(a)
    cut = (jnp.finfo(s.dtype).eps * max(m, n)) if rcond is None else rcond
    mask = (s > 0) & (s >= cut * lax.stop_gradient(s[..., :1]))
    rank = jnp.sum(mask)
    if numpy_resid:
        # NumPy's shape rule needs a concrete rank; under jit the full residuals are returned.
        try:
            concrete_rank = int(rank)
        except (jax.errors.ConcretizationTypeError, TypeError):
            concrete_rank = n
        if concrete_rank < n or m <= n:
            resid = jnp.asarray([], dtype=s.dtype)
        else:
            resid = jnp.sum(jnp.abs(b2 - mm(a, x)) ** 2, axis=0)
    else:
        resid = jnp.sum(jnp.abs(b2 - mm(a, x)) ** 2, axis=0)
    if b.ndim == 1:
        x = x[:, 0]
    return x, resid, rank, s


# ---------------------------------------------------------------------------------------------
# matrix_power


def _power_with_tangent(a, da, n: int):
    """``(Aⁿ, d(Aⁿ)[dA])`` by binary powering; product rule ``d(XY) = dX Y + X dY`` per step."""
    result = None
    base, dbase = a, da
    while n > 0:
        if n & 1:
            if result is None:
                result = (base, dbase)
            else:
                r, dr = result
                result = (mm(r, base), mm(dr, base) + mm(r, dbase))
        n >>= 1
        if n:
            base, dbase = mm(base, base), mm(dbase, base) + mm(base, dbase)
    return result


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _matrix_power(a, n):
    return _power_with_tangent(a, jnp.zeros_like(a), n)[0]


@_matrix_power.defjvp
def _matrix_power_jvp(n, primals, tangents):
    (a,), (da,) = primals, tangents
    # d(Aⁿ) = Σ_{k<n} Aᵏ dA Aⁿ⁻¹⁻ᵏ, accumulated along the square-and-multiply chain.
    return _power_with_tangent(a, da, n)


def matrix_power(a: ArrayLike, n: int) -> Array:
    """``aⁿ`` for any Python integer ``n``; drop-in for ``jnp.linalg.matrix_power``.

    Derivative:
      ``d(Aⁿ) = Σ_{k=0}^{n−1} Aᵏ dA Aⁿ⁻¹⁻ᵏ`` for ``n > 0``, evaluated with the product rule along
      the square-and-multiply chain (about 3 products per forward product); ``n = 0`` gives ``I``
      and zero derivative; ``n < 0`` is ``(A⁻¹)^|n|`` with ``d(A⁻¹) = −A⁻¹ dA A⁻¹`` (see ``inv``).
      Reference: course notes ch. 2 (product rule).

    Examples:
      >>> A = jnp.array([[1., 1.], [0., 1.]])
      >>> print(np.round(matcalc.matrix_power(A, 3), 6))
      [[1. 3.]
       [0. 1.]]
    """
    a = jnp.asarray(a)
    check_square(a, "matrix_power")
    try:
        n = operator.index(n)
    except TypeError as e:
        raise TypeError(f"matrix_power: n must be an integer, got {n!r}") from e
    if n >= 0 and not jnp.issubdtype(a.dtype, jnp.inexact):
        return jnp.linalg.matrix_power(a, n)  # integer/bool powers keep their dtype, as in JAX
    a = as_inexact(a)
    if n == 0:
        return eye_like(a)
    if n < 0:
        return _matrix_power(_inv(a), -n) if n != -1 else _inv(a)
    if n == 1:
        return a
    return _matrix_power(a, n)


# ---------------------------------------------------------------------------------------------
# norm


def _abs_jvp(x, dx):
    """``d|x| = Re(conj(x) dx)/|x|``, subgradient 0 at x = 0."""
    ax = jnp.abs(x)
    unit = jnp.where(ax == 0, 0, x / jnp.where(ax == 0, 1, ax).astype(x.dtype))
    return jnp.real(jnp.conj(unit) * dx)


def _tied_weights(values, pick_max: bool):
    """Weights averaging over entries tied (within ``n·eps·max|v|``) with the max (or min)."""
    n = values.shape[-1]
    if n == 0:  # no entries: no weights
        return values
    target = jnp.max(values, axis=-1, keepdims=True) if pick_max else jnp.min(values, axis=-1, keepdims=True)
    tol = cluster_tol(values)
    hit = (jnp.abs(values - target) <= tol).astype(values.dtype)
    return hit / jnp.sum(hit, axis=-1, keepdims=True)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _matrix_norm(a, ord):
    if ord in ("nuc", 2, -2):  # the value needs singular values only, not U and V
        s = jnp.linalg.svd(a, compute_uv=False)
        if ord == "nuc":
            return jnp.sum(s, axis=-1)
        # JAX's values on 0×0: max over no singular values is 0, min is an error
        return jnp.max(s, axis=-1, initial=0) if ord == 2 else jnp.min(s, axis=-1)
    return _matrix_norm_jvp(ord, (a,), (jnp.zeros_like(a),))[0]


@_matrix_norm.defjvp
def _matrix_norm_jvp(ord, primals, tangents):
    (a,), (da,) = primals, tangents
    if ord == "fro":
        y = jnp.sqrt(jnp.sum(jnp.abs(a) ** 2, axis=(-2, -1)))
        # d‖A‖_F = Re<A, dA>/‖A‖_F (subgradient 0 at A = 0)
        safe = jnp.where(y == 0, 1, y)
        dy = jnp.where(y == 0, 0, jnp.real(jnp.sum(jnp.conj(a) * da, axis=(-2, -1))) / safe)
        return y, dy
    if ord in (1, -1, jnp.inf, -jnp.inf):
        axis = -2 if ord in (1, -1) else -1  # column sums for ±1, row sums for ±inf
        sums = jnp.sum(jnp.abs(a), axis=axis)
        weights = _tied_weights(sums, pick_max=ord > 0)
        # JAX's values on empty input: the max over no sums is 0 (sums are ≥ 0), the min is an error
        y = jnp.max(sums, axis=-1, initial=0) if ord > 0 else jnp.min(sums, axis=-1)
        # d max_j c_j = Σ_j w_j dc_j with w the average over tied maximizers (a subgradient).
        dsums = jnp.sum(_abs_jvp(a, da), axis=axis)
        return y, jnp.sum(weights * dsums, axis=-1)
    # singular-value norms (U, V from the SVD rule, so second derivatives use its JVP)
    u, s, vh = svd(a, full_matrices=False)
    if s.shape[-1] == 0:  # an empty matrix: the value of _matrix_norm, a zero tangent
        return _matrix_norm(a, ord), jnp.zeros(s.shape[:-1], s.dtype)
    if ord == "nuc":
        n = s.shape[-1]
        tol = n * jnp.finfo(s.dtype).eps * s[..., :1]
        weights = (s > tol).astype(s.dtype)  # subgradient U_r V_rᴴ at rank deficiency
        y = jnp.sum(s, axis=-1)
    elif ord == 2:
        weights = _tied_weights(s, pick_max=True)
        y = s[..., 0]
    elif ord == -2:
        weights = _tied_weights(s, pick_max=False)
        y = s[..., -1]
    else:
        raise ValueError(f"norm: invalid matrix norm order {ord!r}")
    weights = weights * (s[..., :1] > 0).astype(s.dtype)  # subgradient 0 at A = 0
    # dσ_i = Re(u_iᴴ dA v_i); tied σ's get averaged weights, so Σ w_i u_i v_iᴴ does not depend on
    # the basis inside a repeated singular value.
    return y, svd_weights_jvp(u, vh, weights, da)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _vector_norm(x, ord):
    return _vector_norm_jvp(ord, (x,), (jnp.zeros_like(x),))[0]


@_vector_norm.defjvp
def _vector_norm_jvp(ord, primals, tangents):
    (x,), (dx,) = primals, tangents
    ax = jnp.abs(x)
    dax = _abs_jvp(x, dx)
    if ord in (jnp.inf, -jnp.inf):
        w = _tied_weights(ax, pick_max=ord > 0)
        y = jnp.max(ax, axis=-1) if ord > 0 else jnp.min(ax, axis=-1)
        return y, jnp.sum(w * dax, axis=-1)
    if ord == 0:
        return jnp.sum(ax != 0, axis=-1).astype(ax.dtype), jnp.zeros(ax.shape[:-1], ax.dtype)
    if ord == 1:
        return jnp.sum(ax, axis=-1), jnp.sum(dax, axis=-1)
    if ord == 2:
        y = jnp.sqrt(jnp.sum(ax**2, axis=-1))
        safe = jnp.where(y == 0, 1, y)
        dy = jnp.where(y == 0, 0, jnp.sum(ax * dax, axis=-1) / safe)
        return y, dy
    p = float(ord)
    if p < 0:
        return _negative_order_norm(ax, dax, p)
    # ‖x‖_p = (Σ|x_i|^p)^{1/p};  d‖x‖_p = Σ (|x_i|/‖x‖_p)^{p−1} d|x_i|
    scale = jnp.max(ax, axis=-1, keepdims=True)
    safe_scale = jnp.where(scale == 0, 1, scale)
    r = ax / safe_scale
    y = safe_scale[..., 0] * jnp.sum(r**p, axis=-1) ** (1 / p)
    y = jnp.where(scale[..., 0] == 0, 0, y)
    ratio = ax / jnp.where(y == 0, 1, y)[..., None]
    return y, jnp.sum(ratio ** (p - 1) * dax, axis=-1)


def _negative_order_norm(ax, dax, p):
    """NumPy's ``(Σ|x_i|^p)^{1/p}`` for ``p < 0`` (not a norm): 0 if an entry is 0, ``inf`` for no
    entries. Scaled by the smallest ``|x_i|`` (``r_i = |x_i|/min ≥ 1``, so ``r_i^p ≤ 1`` cannot
    overflow); the derivative ``Σ (|x_i|/y)^{p−1} d|x_i|`` as for ``p > 0``, and 0 where ``y = 0``
    (there ``y`` follows the zero entry, whose subgradient is 0)."""
    if ax.shape[-1] == 0:
        y = jnp.sum(ax, axis=-1) ** (1 / p)  # 0^(1/p) = inf
        return y, jnp.zeros_like(y)
    scale = jnp.min(ax, axis=-1, keepdims=True)
    zero = scale[..., 0] == 0
    safe_scale = jnp.where(scale == 0, 1, scale)
    y = safe_scale[..., 0] * jnp.sum((ax / safe_scale) ** p, axis=-1) ** (1 / p)
    y = jnp.where(zero, 0, y)
    ratio = jnp.where(zero[..., None], 1, ax / jnp.where(zero, 1, y)[..., None])  # ≥ 1 elsewhere
    weight = jnp.where(zero[..., None], 0, ratio ** (p - 1))
    return y, jnp.sum(weight * dax, axis=-1)


_MATRIX_ORDS = (None, "fro", "nuc", 1, -1, 2, -2, float("inf"), -float("inf"))


def _check_norm_args(x, ord, axis):
    """JAX's errors for out-of-range axes (not a silent wrap) and orders invalid for the norm kind."""
    for ax_ in axis if isinstance(axis, tuple) else () if axis is None else (axis,):
        if not -x.ndim <= operator.index(ax_) < x.ndim:
            raise ValueError(
                f"norm: axis {ax_} is out of bounds for x of shape {x.shape} (dimension {x.ndim})"
            )
    vector = (
        (axis is None and x.ndim == 1)
        or isinstance(axis, int)
        or (isinstance(axis, tuple) and len(axis) == 1)
    )
    # JAX's wording first ("Invalid order ..."), then the argument's shape
    if vector and isinstance(ord, str):
        hint = " Use jnp.inf instead." if ord in ("inf", "-inf") else ""
        raise ValueError(f"Invalid order {ord!r} for vector norm (norm: x of shape {x.shape}).{hint}")
    if not vector and (axis is not None or x.ndim == 2) and ord not in _MATRIX_ORDS:
        raise ValueError(f"Invalid order {ord!r} for matrix norm (norm: x of shape {x.shape}).")


def norm(
    x: ArrayLike,
    ord: int | float | str | None = None,
    axis: int | tuple[int, int] | None = None,
    keepdims: bool = False,
) -> Array:
    """Matrix or vector norm; drop-in for ``jnp.linalg.norm``.

    Matrix norms (2-D input, or ``axis`` a pair): ``"fro"`` (default), ``"nuc"``, ``±1``, ``±2``,
    ``±inf``. Vector norms (1-D input or an integer ``axis``): ``2`` (default), ``1``, ``±inf``,
    ``0``, any ``p > 0``, and NumPy's ``(Σ|x_i|^p)^{1/p}`` for ``p < 0`` (0 if an entry is 0).
    With ``ord=None`` and ``axis=None`` an N-D input gives the 2-norm of all entries, as in NumPy.

    Derivative (subgradients at the non-smooth points are stated, all basis-independent):
      ``"fro"``: ``Re<A, dA>/‖A‖``, 0 at ``A = 0``. ``"nuc"``: ``Re tr(U_rᴴ dA V_r)`` over the
      singular values above ``n·eps·σ_max`` (the minimal-norm subgradient ``U_r V_rᴴ`` at rank
      deficiency). ``2`` / ``-2``: ``Re tr(U_cᴴ dA V_c)/k`` over the ``k`` singular values tied with
      the largest / smallest (a basis-independent subgradient at a repeated extreme σ; the exact
      derivative ``Re(u₁ᴴ dA v₁)`` when it is simple). ``±1`` / ``±inf``: the derivative of the
      extreme column / row absolute sum, averaged over ties; ``d|a| = Re(conj(a/|a|) da)`` with
      subgradient 0 at ``a = 0``. Vector norms: the same conventions (0 at ``x = 0``).
      Reference: course notes ch. 4; Watson (1992) for norm subdifferentials.

    Examples:
      >>> A = jnp.array([[3., 0.], [4., 0.]])
      >>> print(f"{float(matcalc.norm(A)):.6f}")
      5.000000
      >>> print(np.round(jax.grad(matcalc.norm)(A), 6))  # A / ‖A‖_F
      [[0.6 0. ]
       [0.8 0. ]]
    """
    x = as_inexact(x, "x")
    _check_norm_args(x, ord, axis)
    if axis is None:
        if x.ndim == 1:
            out = _vector_norm(x, 2 if ord is None else ord)
            axes = (0,)
        elif x.ndim == 2:
            out = _matrix_norm(x, "fro" if ord is None else ord)
            axes = (0, 1)
        elif ord is None:
            out = _vector_norm(x.reshape(-1), 2)
            axes = tuple(range(x.ndim))
        else:
            raise ValueError(
                f"norm: ord={ord!r} needs 1-D or 2-D input or an explicit axis, got shape {x.shape}"
            )
    elif isinstance(axis, int) or (isinstance(axis, tuple) and len(axis) == 1):
        ax = axis if isinstance(axis, int) else axis[0]
        ax = ax % x.ndim
        out = _vector_norm(jnp.moveaxis(x, ax, -1), 2 if ord is None else ord)
        axes = (ax,)
    elif isinstance(axis, tuple) and len(axis) == 2:
        a0, a1 = (axis[0] % x.ndim, axis[1] % x.ndim)
        if a0 == a1:
            raise ValueError(f"norm: duplicate axes {axis}")
        moved = jnp.moveaxis(x, (a0, a1), (-2, -1))
        out = _matrix_norm(moved, "fro" if ord is None else ord)
        axes = (a0, a1)
    else:
        raise ValueError(f"norm: axis must be None, an int or a pair, got {axis!r}")
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(f"norm: invalid norm order {ord!r}")
    if keepdims:
        for a_ in sorted(axes):
            out = jnp.expand_dims(out, a_)
    return out
