"""Functions of Hermitian matrices whose first *and second* derivatives are exact at repeated
eigenvalues (``eigh`` and ``eigvalsh`` themselves are in ``matcalc._factor.eigh``).

Design (why two primitives and a ``custom_jvp``):

* ``f(A) = U f(Λ) Uᴴ`` is evaluated as ``_spectral_apply(spec, A, λ, U)``, a ``custom_jvp``
  whose JVP is the Daleckii–Krein map ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` (``F_ij = f[λi, λj]``)
  computed by the primitive ``frechet_p(A, λ, U, E)``. ``(λ, U)`` come from the *forward*
  eigendecomposition and are reused by every derivative; ``A`` is passed only to carry its tangent.
* ``frechet_p`` is a primitive (not a ``custom_jvp``) because reverse mode transposes it: its
  transpose rule emits ``frechet_p`` again (``L_f`` is self-adjoint), so the gradient program still
  contains our rule, and differentiating the gradient (grad-of-grad, HVPs) uses the JVP rule of
  ``frechet_p``, the second Fréchet derivative with second divided differences
  ``f[λi, λk, λj]`` — never JAX's eigenvector derivative, which is ``0·∞`` at a repeat.
  (A ``custom_jvp`` would be inlined by partial evaluation and its transpose would differentiate
  through ``eigh``.)
* Tangents of ``(λ, U)`` are ignored by these rules (the derivative is taken through ``A``);
  third and higher derivatives differentiate the second-order formula with JAX's ``eigh``
  derivative: correct at distinct eigenvalues, not at repeated ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import _H, HIGHEST, as_inexact, check_square, cluster_tol, mm, symmetrize
from .._core.primitives import linear_primitive
from .._kernels import divided_differences as dd

# ---------------------------------------------------------------------------------------------
# the Daleckii–Krein map and the second Fréchet derivative


def _dd1_matrix(spec, lam):
    """``F_ij = f[λi, λj]`` (``F_ii = f'(λi)``)."""
    return spec.dd1(lam[..., :, None], lam[..., None, :])


def _frechet_impl(a, lam, u, e, *, spec):
    # L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ (Daleckii–Krein; Higham 2008, Thm 3.11). 4 products.
    del a
    uh = _H(u)
    f1 = _dd1_matrix(spec, lam).astype(u.dtype)
    return mm(mm(u, f1 * mm(mm(uh, e), u)), uh)


_FULL_TENSOR_MAX_N = 64


def _second_core(spec, lam, x, y):
    """``Z_ij = Σ_k f[λi, λk, λj] (X_ik Y_kj + Y_ik X_kj)`` (eigenbasis of the second derivative).

    Bilinear in ``(x, y)`` and transposable by JAX. O(n³) work; the tensor ``f[λi, λk, λj]`` is
    formed whole for n ≤ 64 and one slice ``k`` at a time (a ``scan``) above.
    """
    n = lam.shape[-1]
    dtype = x.dtype
    if n <= _FULL_TENSOR_MAX_N:
        t = spec.dd2(lam[..., :, None, None], lam[..., None, :, None], lam[..., None, None, :])
        t = t.astype(dtype)
        return jnp.einsum("...ikj,...ik,...kj->...ij", t, x, y, precision=HIGHEST) + jnp.einsum(
            "...ikj,...ik,...kj->...ij", t, y, x, precision=HIGHEST
        )

    def body(z, k):
        lk = lax.dynamic_index_in_dim(lam, k, axis=-1, keepdims=True)[..., None]  # (..., 1, 1)
        tk = spec.dd2(lam[..., :, None], lk, lam[..., None, :]).astype(dtype)
        xc = lax.dynamic_index_in_dim(x, k, axis=-1, keepdims=True)  # X[:, k]
        yc = lax.dynamic_index_in_dim(y, k, axis=-1, keepdims=True)
        xr = lax.dynamic_index_in_dim(x, k, axis=-2, keepdims=True)  # X[k, :]
        yr = lax.dynamic_index_in_dim(y, k, axis=-2, keepdims=True)
        return z + tk * (xc * yr + yc * xr), None

    z0 = jnp.zeros(jnp.broadcast_shapes(x.shape, y.shape), dtype)
    z, _ = lax.scan(body, z0, jnp.arange(n))
    return z


def _second_frechet(spec, lam, u, e1, e2):
    """``D²f(A)(E₁, E₂) = U Z Uᴴ`` with ``Z`` from ``_second_core`` (Bhatia 1997, Thm V.3.3)."""
    uh = _H(u)
    x = mm(mm(uh, e1), u)
    y = mm(mm(uh, e2), u)
    return mm(mm(u, _second_core(spec, lam, x, y)), uh)


def _frechet_fixed_jvp(fixed, dfixed, e, *, spec):
    # d[L_f(A, E)] in A = D²f(A)(E, dA), D²f with second divided differences; tangents of (λ, U)
    # are implied by dA and ignored.
    a, lam, u = fixed
    da = dfixed[0]
    if da is None:
        return None
    return _second_frechet(spec, lam, u, e, symmetrize(da).astype(e.dtype))


def _frechet_transpose(a, lam, u, ct, *, spec):
    # ⟨W, L(E)⟩ = Re Σ W ∘ L(E) with L(E) = U (F ∘ UᴴEU) Uᴴ and F real symmetric:
    # Lᵀ(W) = Ū (F ∘ Uᵀ W Ū) Uᵀ = conj(L(conj W)).
    return jnp.conj(frechet_p.bind(a, lam, u, jnp.conj(ct), spec=spec))


frechet_p = linear_primitive(
    "matcalc_hermitian_frechet", _frechet_impl, _frechet_transpose, fixed_jvp=_frechet_fixed_jvp
)


def _reconstruct(u, fl):
    """``U diag(fl) Uᴴ`` (one product)."""
    return mm(u * fl[..., None, :].astype(u.dtype), _H(u))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spectral_apply(spec, a, lam, u):
    return _reconstruct(u, spec.f(lam))


@_spectral_apply.defjvp
def _spectral_apply_jvp(spec, primals, tangents):
    a, lam, u = primals
    da = tangents[0]
    # The primal is recomputed through the rule itself so that an outer derivative of it is
    # again Daleckii–Krein (not JAX's eigh derivative).
    y = _spectral_apply(spec, a, lam, u)
    return y, frechet_p.bind(a, lam, u, symmetrize(da), spec=spec)


def _hermitian_input(a, op):
    a = as_inexact(a)
    check_square(a, op)
    return a


def _apply(a, spec, op):
    a = _hermitian_input(a, op)
    lam, u = jnp.linalg.eigh(a)  # reads the Hermitian part (A + Aᴴ)/2
    if isinstance(spec, dd.Power) and spec.p > 0:
        # A zero eigenvalue of a PSD matrix is computed as ±(a few eps·|A|): within the backward
        # error of eigh, clamp it to 0 instead of returning NaN. More negative ones stay NaN.
        tol = cluster_tol(lam, factor=4)
        lam = jnp.where((lam < 0) & (lam >= -tol), 0, lam)
    return _spectral_apply(spec, a, lam, u)


# ---------------------------------------------------------------------------------------------
# named functions of Hermitian matrices


def funm(a: ArrayLike, func: Callable[[Array], Array]) -> Array:
    """``f(A) = U f(Λ) Uᴴ`` for Hermitian ``A`` and a scalar JAX function ``func`` (real → real,
    elementwise, differentiable by JAX at least 6 times for second derivatives).

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed by the guarded quotient of
      ``matcalc._kernels.divided_differences.Generic`` (Taylor series about the midpoint below
      ``|a−b| ≤ eps^{1/7} max(1, |m|)`` where its estimated truncation error is below the
      quotient's rounding error; first divided differences ~1e-14 relative for functions such as
      exp, sin or log, at eigenvalues from 1e-12 to 1e2). No division by ``λi − λj`` occurs, so
      the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: wherever ``func`` is smooth at the eigenvalues (NaN propagates from ``func``).

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])  # eigenvalues 1 and 3
      >>> F = matcalc.hermitian.funm(A, jnp.exp)
      >>> bool(np.allclose(F, matcalc.expm(A)))
      True
      >>> g = jax.grad(lambda X: matcalc.hermitian.funm(X, jnp.sin).sum())(jnp.eye(2))
      >>> print(np.round(g, 6))  # at a repeated eigenvalue: sin'(1) = cos(1) everywhere, finite
      [[0.540302 0.540302]
       [0.540302 0.540302]]
    """
    if not callable(func):
        raise TypeError(f"hermitian.funm: func must be callable, got {type(func).__name__}")
    return _apply(a, dd.Generic(func), "hermitian.funm")


def expm(a: ArrayLike) -> Array:
    """Matrix exponential of a Hermitian matrix, ``U e^Λ Uᴴ``.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed in closed form ``exp[a,b] = e^{(a+b)/2}
      sinh(δ)/δ``, ``δ = (a−b)/2`` (McCurdy, Ng & Parlett 1984). No division by ``λi − λj``
      occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: all Hermitian matrices (overflow where ``e^{λmax}`` does).

    Examples:
      >>> print(np.round(matcalc.hermitian.expm(jnp.zeros((2, 2))), 6))
      [[1. 0.]
       [0. 1.]]
      >>> g = jax.grad(lambda X: jnp.trace(matcalc.hermitian.expm(X)))(jnp.eye(2))  # exp(I) at λ = 1, 1
      >>> print(np.round(g, 6))
      [[2.718282 0.      ]
       [0.       2.718282]]
    """
    return _apply(a, dd.Exp(), "hermitian.expm")


def logm(a: ArrayLike) -> Array:
    """Principal logarithm of a Hermitian positive definite matrix, ``U log(Λ) Uᴴ``.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed in closed form ``log[a,b] = 2 atanh(z)/(a−b)``,
      ``z = (a−b)/(a+b)``. No division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: positive definite. A negative eigenvalue gives NaN, a zero eigenvalue gives −inf/NaN
      in the value and in the derivative (documented, tested).

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])
      >>> L = matcalc.hermitian.logm(A)
      >>> bool(np.allclose(matcalc.hermitian.expm(L), A))
      True
      >>> g = jax.grad(lambda X: jnp.trace(matcalc.hermitian.logm(X)))(2 * jnp.eye(2))  # X⁻¹ at X = 2I
      >>> print(np.round(g, 6))
      [[0.5 0. ]
       [0.  0.5]]
    """
    return _apply(a, dd.Log(), "hermitian.logm")


def sqrtm(a: ArrayLike) -> Array:
    """Principal square root of a Hermitian positive semidefinite matrix, ``U √Λ Uᴴ``.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed in closed form ``sqrt[a,b] = 1/(√a + √b)``. No
      division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: positive semidefinite. The value is finite at a zero eigenvalue but the derivative
      there is infinite (``F_ii = 1/0``): the JVP/gradient is inf/NaN. Eigenvalues in ``[−4 n eps
      max|λ|, 0)`` (a zero eigenvalue after rounding) are read as 0; more negative ones give NaN.

    Examples:
      >>> A = jnp.array([[2., 1.], [1., 2.]])
      >>> X = matcalc.hermitian.sqrtm(A)
      >>> bool(np.allclose(X @ X, A))
      True
      >>> g = jax.grad(lambda X: jnp.trace(matcalc.hermitian.sqrtm(X)))(jnp.eye(2))  # ½ X^{-1/2} at X = I
      >>> print(np.round(g, 6))
      [[0.5 0. ]
       [0.  0.5]]
    """
    return _apply(a, dd.Sqrt(), "hermitian.sqrtm")


def inv_sqrtm(a: ArrayLike) -> Array:
    """Inverse square root ``A^{-1/2} = U Λ^{-1/2} Uᴴ`` of a Hermitian positive definite matrix.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed in closed form ``x^{-1/2}[a,b] = −1/(√a √b (√a +
      √b))``. No division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: positive definite; a zero eigenvalue gives inf/NaN, a negative one NaN.

    Examples:
      >>> A = jnp.array([[4., 0.], [0., 9.]])
      >>> print(np.round(matcalc.hermitian.inv_sqrtm(A), 6))
      [[0.5      0.      ]
       [0.       0.333333]]
    """
    return _apply(a, dd.InvSqrt(), "hermitian.inv_sqrtm")


def powm(a: ArrayLike, p: float) -> Array:
    """Real power ``A^p = U Λ^p Uᴴ`` of a Hermitian positive (semi)definite matrix.

    ``p`` is a static Python number (the derivative with respect to ``p`` is not provided).

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed in closed form ``a^p − b^p = 2 (ab)^{p/2} sinh(p
      atanh z)``, ``z = (a−b)/(a+b)`` (and ``b^p expm1(p log(a/b))`` when ``a/b`` is far from 1).
      No division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: eigenvalues ≥ 0 (> 0 for the derivative when ``p < 1``, and for the value when ``p <
      0``); negative eigenvalues give NaN even for integer ``p`` (use ``matcalc.matrix_power``);
      for ``p > 0`` eigenvalues in ``[−4 n eps max|λ|, 0)`` are read as 0 (rounding of a zero
      eigenvalue).

    Examples:
      >>> A = jnp.array([[4., 0.], [0., 9.]])
      >>> print(np.round(matcalc.hermitian.powm(A, 1.5), 6))
      [[ 8.  0.]
       [ 0. 27.]]
    """
    try:
        p = float(p)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError) as err:
        raise TypeError(f"hermitian.powm: p must be a static real number, got {p!r}") from err
    if p == 0.5:
        spec = dd.Sqrt()
    elif p == -0.5:
        spec = dd.InvSqrt()
    else:
        spec = dd.Power(p)
    return _apply(a, spec, "hermitian.powm")


def absm(a: ArrayLike) -> Array:
    """Matrix absolute value ``|A| = U |Λ| Uᴴ = (A²)^{1/2}`` of a Hermitian matrix.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed exactly (``sign`` on one side of 0,
      ``(|a|−|b|)/(a−b)`` across it). No division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: all Hermitian matrices; at a zero eigenvalue ``|x|`` is not differentiable and the
      rule uses ``f'(0) = 0`` (a subgradient).

    Examples:
      >>> A = jnp.array([[0., 1.], [1., 0.]])  # eigenvalues ±1
      >>> print(np.round(matcalc.hermitian.absm(A), 6))
      [[1. 0.]
       [0. 1.]]
    """
    return _apply(a, dd.Abs(), "hermitian.absm")


def signm(a: ArrayLike) -> Array:
    """Matrix sign ``sign(A) = U sign(Λ) Uᴴ`` of a nonsingular Hermitian matrix.

    Derivative:
      ``L_f(A, E) = U (F ∘ Uᴴ E U) Uᴴ`` with ``F_ij = f[λi, λj]`` (Daleckii–Krein; Higham 2008,
      Thm 3.11), the divided differences computed exactly (``0`` on one side of 0, ``2/(|a|+|b|)``
      across it). No division by ``λi − λj`` occurs, so the
      derivative is exact at repeated eigenvalues (``A = c I`` included). The JVP is itself a rule:
      ``D²f(A)(E₁, E₂) = U [Σ_k f[λi, λk, λj](Ẽ₁_ik Ẽ₂_kj + Ẽ₂_ik Ẽ₁_kj)] Uᴴ`` (Bhatia 1997,
      Thm V.3.3), so jvp-of-jvp, grad-of-grad and Hessian-vector products are exact at repeats too.
      The input is read as ``(A + Aᴴ)/2``, tangents act through their Hermitian part and gradients
      are Hermitian. Reverse mode reuses the forward eigendecomposition: the backward pass is 4 n×n
      products. Third derivatives fall back to JAX's ``eigh`` derivative (distinct
      eigenvalues only).
      Domain: nonsingular Hermitian matrices; a zero eigenvalue gives a NaN derivative (the value
      uses ``sign(0) = 0``).

    Examples:
      >>> A = jnp.array([[0., 2.], [2., 0.]])  # eigenvalues ±2
      >>> print(np.round(matcalc.hermitian.signm(A), 6))
      [[0. 1.]
       [1. 0.]]
    """
    return _apply(a, dd.Sign(), "hermitian.signm")


__all__ = ["absm", "expm", "funm", "inv_sqrtm", "logm", "powm", "signm", "sqrtm"]
