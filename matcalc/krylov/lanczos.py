"""Krylov building blocks shared by the matrix-free rules: random probes and keys, Gram–Schmidt with
breakdown replacement, the Lanczos tridiagonalization of a batch of starting vectors, and batched
(shifted, projected) conjugate gradients.

Nothing here is a public rule; ``matcalc.krylov.eigsh`` and ``matcalc.krylov.logdet`` build
their forward passes and their backward solves from these pieces. References: Golub & Van Loan,
*Matrix Computations* (4th ed., 2013), §10.1 (Lanczos), §10.2 (conjugate gradients), §10.3
(block Lanczos); Hestenes & Stiefel (1952).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._operators import Operator

HIGHEST = lax.Precision.HIGHEST


def mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` at full precision."""
    return jnp.matmul(a, b, precision=HIGHEST)


def hdot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``aᴴ b`` at full precision."""
    return jnp.matmul(jnp.conj(a).T, b, precision=HIGHEST)


def check_key(key: Any, name: str = "key") -> jax.Array:
    """``key`` as a JAX PRNG key (typed ``jax.random.key`` or raw ``uint32[2]``), else a TypeError."""
    if key is None:
        raise TypeError(f"{name}: a PRNG key is required (jax.random.key(seed)), got None")
    if isinstance(key, jax.Array) or hasattr(key, "dtype"):
        dtype = getattr(key, "dtype", None)
        shape = getattr(key, "shape", None)
        if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
            return key
        if dtype == jnp.uint32 and shape == (2,):
            return jax.random.wrap_key_data(key)
        raise TypeError(
            f"{name}: expected a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
            f"got an array of shape {shape} and dtype {dtype}"
        )
    raise TypeError(
        f"{name}: expected a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
        f"got {type(key).__name__} {key!r}"
    )


def probes(key: jax.Array, n: int, p: int, kind: str, dtype: Any) -> jax.Array:
    """``p`` random probe vectors of length ``n`` (columns): Rademacher (±1) or standard normal."""
    if kind == "rademacher":
        z = jax.random.rademacher(key, (n, p), dtype=jnp.int8)
    elif kind == "normal":
        z = jax.random.normal(key, (n, p), dtype=jnp.finfo(dtype).dtype)
    else:
        raise ValueError(f"probe: expected 'rademacher' or 'normal', got {kind!r}")
    return z.astype(dtype)


def random_vector(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    """A standard normal vector (complex normal for complex ``dtype``)."""
    if jnp.issubdtype(dtype, jnp.complexfloating):
        kr, ki = jax.random.split(key)
        real = jnp.finfo(dtype).dtype
        return lax.complex(jax.random.normal(kr, (n,), real), jax.random.normal(ki, (n,), real)).astype(dtype)
    return jax.random.normal(key, (n,), dtype)


def orthonormalize_against(basis: jax.Array, x: jax.Array, spare: jax.Array) -> jax.Array:
    """``x`` orthogonalized against the columns of ``basis`` (orthonormal or zero) and normalized.

    Classical Gram–Schmidt applied twice ("twice is enough", Giraud et al. 2005). If ``x`` lies
    numerically in the span (an invariant subspace was found), the vector ``spare`` (random, drawn by
    the caller) orthogonalized the same way replaces it, so the basis keeps growing; a Rayleigh–Ritz
    step on it stays valid.
    """
    eps = jnp.finfo(basis.dtype).eps

    def cgs2(y):
        for _ in range(2):
            y = y - mm(basis, hdot(basis, y))
        return y

    def replacement(_):
        r = cgs2(spare)
        return r / jnp.linalg.norm(r).astype(r.dtype)

    norm0 = jnp.linalg.norm(x)
    y = cgs2(x)
    norm = jnp.linalg.norm(y)
    broken = norm <= 1e3 * eps * norm0
    # the replacement only at a breakdown (a cond: under vmap both branches run, as a select)
    return lax.cond(broken, replacement, lambda y: y / jnp.where(broken, 1, norm).astype(y.dtype), y)


def lanczos_tridiagonal(
    operator: Operator, z: jax.Array, order: int, reorthogonalize: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``order`` Lanczos steps from each column of ``z`` (shape ``(n, p)``), all columns at once.

    Returns ``(alpha, beta, norms)``: the diagonals ``alpha`` ``(p, order)`` and off-diagonals
    ``beta`` ``(p, order − 1)`` of the tridiagonal ``T_j = Q_jᴴ A Q_j`` for probe ``j``, and
    ``‖z_j‖``. The three-term recurrence (Golub & Van Loan §10.1.2) with, optionally, full
    reorthogonalization against the stored basis (memory ``n·p·order``). Without it, Ritz values
    may appear as near copies ("ghosts"); the Gauss quadrature ``e₁ᵀ f(T) e₁`` stays accurate
    (Knizhnerman 1996; Ubaru, Chen & Saad 2017, §4). At a breakdown (``β = 0``: the Krylov space
    is invariant) the remaining diagonal is filled with ``α₀`` and a zero coupling, which adds Ritz
    values of zero weight and leaves the quadrature exact.

    The loop has a static trip count, so reverse-mode autodiff can run through it.
    """
    n, p = z.shape
    real = jnp.finfo(z.dtype).dtype
    tiny = jnp.finfo(real).tiny ** 0.5
    norms = jnp.linalg.norm(z, axis=0)
    q0 = z / jnp.where(norms > 0, norms, 1)[None, :].astype(z.dtype)
    basis0 = jnp.zeros((order, n, p), z.dtype) if reorthogonalize else jnp.zeros((0,), z.dtype)

    def step(carry, j):
        q, q_prev, beta_prev, broken, basis = carry
        w = operator.matmat(q) - beta_prev[None, :].astype(q.dtype) * q_prev
        alpha = jnp.real(jnp.sum(jnp.conj(q) * w, axis=0))
        w = w - alpha[None, :].astype(q.dtype) * q
        if reorthogonalize:
            basis = basis.at[j].set(q)
            for _ in range(2):
                coef = jnp.einsum("jnp,np->jp", jnp.conj(basis), w, precision=HIGHEST)
                w = w - jnp.einsum("jnp,jp->np", basis, coef, precision=HIGHEST)
        # ‖w‖ with a derivative at w = 0 (after a breakdown the recurrence runs on zero vectors)
        sumsq = jnp.sum(jnp.abs(w) ** 2, axis=0)
        nonzero = sumsq > 0
        beta = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sumsq, 1)), 0)
        newly = broken | (beta <= tiny + 10 * jnp.finfo(real).eps * (jnp.abs(alpha) + beta_prev))
        beta = jnp.where(newly, 0, beta)
        q_next = jnp.where(newly[None, :], 0, w / jnp.where(newly, 1, beta)[None, :].astype(w.dtype))
        return (q_next, q, beta, newly, basis), (alpha, beta, broken)

    init = (q0, jnp.zeros_like(q0), jnp.zeros((p,), real), jnp.zeros((p,), bool), basis0)
    _, (alpha, beta, was_broken) = lax.scan(step, init, jnp.arange(order))
    # After a breakdown the recurrence runs on zero vectors: fill with α₀ and zero coupling.
    alpha = jnp.where(was_broken, alpha[0][None, :], alpha)
    return alpha.T, beta[:-1].T, norms


def per_matrix(fn: Callable[[jax.Array], Any], stack: jax.Array) -> Any:
    """``fn`` applied to each matrix of ``stack`` (``(p, m, m)``): one call per matrix on CPU, one
    batched call elsewhere.

    On CPU, jaxlib's batched LAPACK kernels (``eigh`` of a stack) split the batch over XLA's
    intra-op thread pool and block until the pieces are done. When several devices of one process
    run such a kernel at once (a program sharded over CPU devices), every pool thread can be one of
    the blocked callers, and the pieces they wait for never run: the program deadlocks
    (reproduced with 2 and with 8 CPU devices on 2 busy cores). A single matrix per call runs on
    the calling thread. The matrices here are small (Lanczos tridiagonals), so the loop costs
    little.
    """
    return lax.platform_dependent(stack, cpu=lambda x: lax.map(fn, x), default=fn)


def tridiagonal(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """The symmetric tridiagonal matrices with diagonals ``alpha[..., m]`` and ``beta[..., m−1]``."""
    m = alpha.shape[-1]
    idx = jnp.arange(m)
    t = jnp.zeros(alpha.shape + (m,), alpha.dtype).at[..., idx, idx].set(alpha)
    off = jnp.zeros_like(t).at[..., idx[:-1], idx[1:]].set(beta)
    return t + off + jnp.swapaxes(off, -1, -2)


class Deflation(NamedTuple):
    """A deflation space for ``block_cg``: ``basis`` ``W`` (``n × d``), and per column ``i`` of the
    system ``M_i x = b_i`` the coarse products ``coarse(R)`` = ``(M_i W)ᴴ r_i`` (``d × k``),
    ``expand(C)`` = ``M_i W c_i`` (``n × k``) and the inverse ``E_i⁻¹`` of ``E_i = Wᴴ M_i W``
    applied by ``solve(Y)`` (``d × k``)."""

    basis: jax.Array
    coarse: Callable[[jax.Array], jax.Array]
    expand: Callable[[jax.Array], jax.Array]
    solve: Callable[[jax.Array], jax.Array]


def block_cg(
    apply: Callable[[jax.Array], jax.Array],
    b: jax.Array,
    *,
    tol: float,
    maxiter: int,
    deflation: Deflation | None = None,
) -> jax.Array:
    """Conjugate gradients for ``apply(X) = B`` column by column (each column its own Hermitian
    positive definite operator, e.g. its own shift), all columns in one product per iteration.

    Stops when every column has ``‖r‖ ≤ tol ‖b‖`` or after ``maxiter`` iterations (a
    ``while_loop``: used in backward passes only, which are not differentiated again).

    With a ``deflation`` space ``W``: deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000). The start
    ``x₀ = W E⁻¹ Wᴴ b`` makes ``r₀ ⊥ W``, and each search direction is made ``M``-orthogonal to
    ``W`` (``p ← r + β p − W E⁻¹ (M W)ᴴ r``), so CG runs on the complement of ``W`` and converges at
    the rate of the spectrum left there. Exact for any ``W`` with ``E`` nonsingular; the better ``W``
    approximates the eigenvectors of ``M``'s smallest eigenvalues, the fewer iterations. Rounding
    puts components along ``W`` back into ``r``, which the plain recurrence would amplify once the
    residual stagnates; each step therefore ends with the coarse correction ``x ← x + W c``,
    ``r ← r − M W c``, ``c = E⁻¹ Wᴴ r`` (``O(n d)``, no product), which keeps ``r ⊥ W``.
    """
    real = jnp.finfo(b.dtype).dtype
    bnorm = jnp.linalg.norm(b, axis=0)
    target = (tol * bnorm) ** 2

    def deflate(r):
        if deflation is None:
            return 0
        return mm(deflation.basis, deflation.solve(deflation.coarse(r)))

    def cond(state):
        it, _, _, _, rs = state
        return (it < maxiter) & jnp.any(rs > target)

    def body(state):
        it, x, r, p, rs = state
        ap = apply(p)
        curv = jnp.real(jnp.sum(jnp.conj(p) * ap, axis=0))
        active = rs > target
        alpha = jnp.where(active, rs / jnp.where(active, curv, 1), 0)
        x = x + alpha[None, :].astype(p.dtype) * p
        r = r - alpha[None, :].astype(p.dtype) * ap
        if deflation is not None:
            c = deflation.solve(hdot(deflation.basis, r))
            x, r = x + mm(deflation.basis, c), r - deflation.expand(c)
        rs_new = jnp.real(jnp.sum(jnp.conj(r) * r, axis=0))
        beta = jnp.where(active, rs_new / jnp.where(active, rs, 1), 0)
        p = jnp.where(active[None, :], r + beta[None, :].astype(p.dtype) * p - deflate(r), p)
        return it + 1, x, r, p, rs_new.astype(real)

    if deflation is None:
        x0, r0, p0 = jnp.zeros_like(b), b, b
    else:
        x0 = mm(deflation.basis, deflation.solve(hdot(deflation.basis, b)))
        r0 = b - apply(x0)
        p0 = r0 - deflate(r0)
    rs0 = jnp.real(jnp.sum(jnp.conj(r0) * r0, axis=0)).astype(real)
    state = (jnp.asarray(0), x0, r0, p0, rs0)
    _, x, _, _, _ = lax.while_loop(cond, body, state)
    return x


def hermitian_bilinear_cotangent(operator: Operator, left: jax.Array, right: jax.Array) -> Operator:
    """Cotangent of ``Re ⟨left, H right⟩`` for the Hermitian part ``H = (A + Aᴴ)/2`` of the operator.

    ``Re ⟨L, Aᴴ R⟩ = Re ⟨R, A L⟩``, so the cotangent is the mean of the two bilinear cotangents:
    gradients of the rules that read ``A`` as Hermitian are Hermitian (dense) and symmetric in the
    stored pattern (sparse), like those of ``matcalc.eigh``.
    """
    from ._operators import bilinear_cotangent

    one = bilinear_cotangent(operator, left, right)
    two = bilinear_cotangent(operator, right, left)
    return jax.tree_util.tree_map(_mean_leaf, one, two)


def _mean_leaf(a, b):
    if a.dtype == jax.dtypes.float0:
        return a
    return (a + b) / 2


def scale_cotangent(cotangent: Any, factor: jax.Array) -> Any:
    """Multiply every inexact leaf of a cotangent pytree by ``factor`` (NaN propagates)."""

    def leaf(c):
        if c.dtype == jax.dtypes.float0:
            return c
        return c * jnp.asarray(factor).astype(c.dtype)

    return jax.tree_util.tree_map(leaf, cotangent)
