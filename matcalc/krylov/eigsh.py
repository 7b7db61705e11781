"""Top-``k`` eigenpairs of Hermitian operators (``eigsh``) and singular triplets (``svds``),
matrix-free, with reverse-mode derivatives by the adjoint of the projected eigenproblem."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import sparse as jsparse
from jax.typing import ArrayLike

from .._core.primitives import is_tracer
from ._operators import Operator, as_operator
from .lanczos import (
    Deflation,
    block_cg,
    check_key,
    hdot,
    hermitian_bilinear_cotangent,
    mm,
    orthonormalize_against,
    random_vector,
)

_WHICH = ("LA", "SA", "LM")


class _Config(NamedTuple):
    k: int
    which: str
    block: int
    keep: int
    ncv: int
    tol: float
    maxiter: int
    dense: bool
    solve_tol: float
    solve_maxiter: int


# ---------------------------------------------------------------------------------------------
# input checks


def _is_concrete(x: Any) -> bool:
    return not any(is_tracer(leaf) for leaf in jax.tree_util.tree_leaves(x))


def _check_hermitian(a: Any, operator: Operator, name: str) -> None:
    """Eager check that a dense or BCOO input is Hermitian (``max|A − Aᴴ| ≤ √eps max|A|``).

    Skipped under tracing (``jit``/``vmap``) and for lineax operators, which are trusted.
    """
    if operator.kind == "lineax" or not _is_concrete(operator):
        return
    if operator.kind == "dense":
        m = np.asarray(operator.matrix)
        gap = np.max(np.abs(m - np.conj(m).T), initial=0.0)
        scale = np.max(np.abs(m), initial=0.0)
    else:
        sp = operator.matrix
        conj_t = jsparse.BCOO((jnp.conj(sp.data), sp.indices[:, ::-1]), shape=sp.shape)
        diff = (sp - conj_t).sum_duplicates()
        gap = float(np.max(np.abs(np.asarray(diff.data)), initial=0.0))
        scale = float(np.max(np.abs(np.asarray(sp.data)), initial=0.0))
    eps = float(jnp.finfo(operator.dtype).eps)
    if not gap <= math.sqrt(eps) * scale:
        raise ValueError(
            f"{name}: eigsh needs a Hermitian (real symmetric) operator; max|{name} − {name}ᴴ| = {gap:.3g} "
            f"for max|{name}| = {scale:.3g} (shape {operator.shape}, dtype {operator.dtype})"
        )


def _check_k(k: Any, n: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name}: expected a Python int, got {type(k).__name__} {k!r}")
    if not 1 <= int(k) < n:
        raise ValueError(f"{name}: expected 1 <= {name} < n = {n}, got {name} = {k}")
    return int(k)


def _config(
    operator: Operator,
    k: int,
    which: str,
    tol: float | None,
    maxiter: int | None,
    ncv: int | None,
    block_size: int | None,
) -> _Config:
    n = operator.shape[0]
    k = _check_k(k, n)
    if which not in _WHICH:
        raise ValueError(f"which: expected one of {_WHICH}, got {which!r}")
    b = min(k, 4) if block_size is None else int(block_size)
    if b < 1:
        raise ValueError(f"block_size: expected a positive int, got {block_size!r}")
    wanted = b * (-(-k // b)) + b  # the k wanted Ritz vectors rounded up to whole blocks, plus one block
    m = max(2 * wanted, wanted + 4 * b, 20, min(64, n // 2)) if ncv is None else int(ncv)
    if m <= k:
        raise ValueError(f"ncv: expected ncv > k = {k}, got {ncv}")
    m = max(b * (-(-m // b)), wanted + b)
    # Thick restarts keep half the basis (at least the wanted block): the kept unwanted Ritz vectors
    # hold the Krylov information about the next eigenvalues, which a restart to the wanted ones
    # alone throws away (on grid Laplacians with relative gaps 8e-4 / 1.5e-4 and k = 10, keeping
    # 32 of 64 columns needs 640 / 2,080 products, keeping 16 of 64 needs 880 / 3,230).
    keep = min(max(wanted, b * (m // (2 * b))), m - b)
    eps = float(jnp.finfo(operator.dtype).eps)
    tol = eps**0.8 if tol is None or tol == 0 else float(tol)
    maxiter = 300 if maxiter is None else int(maxiter)
    dense = m + b > n  # the Krylov space would be the whole space: form A by n products
    return _Config(k, which, b, keep, m, tol, maxiter, dense, eps**0.75, max(n, 50))


# ---------------------------------------------------------------------------------------------
# forward: block Krylov with thick restarts and full reorthogonalization


def _wanted_order(theta: jax.Array, which: str) -> jax.Array:
    if which == "LA":
        return jnp.argsort(-theta)
    if which == "SA":
        return jnp.argsort(theta)
    return jnp.argsort(-jnp.abs(theta))


def _rayleigh_ritz(cfg: _Config, basis: jax.Array, products: jax.Array):
    """Ritz pairs of ``span(basis)`` (wanted first) and whether the ``k`` wanted ones have converged."""
    h = hdot(basis, products)
    h = (h + jnp.conj(h).T) / 2
    theta, s = jnp.linalg.eigh(h)
    order = _wanted_order(theta, cfg.which)
    theta, s = theta[order], s[:, order]
    sk = s[:, : cfg.k]
    resid = jnp.linalg.norm(
        mm(products, sk) - mm(basis, sk) * theta[None, : cfg.k].astype(basis.dtype), axis=0
    )
    scale = jnp.max(jnp.abs(theta))
    return theta, s, jnp.all(resid <= cfg.tol * scale)


def _fill(cfg: _Config, operator: Operator, basis, products, start: int, spare):
    """Extend the block Krylov basis from column ``start`` (whose block is set) to ``ncv`` columns.

    ``basis`` has ``ncv + block`` columns (the last block is the next, residual, block), zero beyond
    the filled ones; ``products`` holds ``A @ basis`` for the first ``ncv`` columns.
    """
    b = cfg.block

    def body(t, carry):
        basis, products = carry
        c = start + t * b
        blk = lax.dynamic_slice_in_dim(basis, c, b, axis=1)
        a_blk = operator.matmat(blk)
        products = lax.dynamic_update_slice_in_dim(products, a_blk, c, axis=1)

        def column(s, basis):  # a loop, not unrolled: the compiled body stays one column long
            x = lax.dynamic_index_in_dim(a_blk, s, axis=1, keepdims=False)
            r = lax.dynamic_index_in_dim(spare, (c + b + s) % spare.shape[1], axis=1, keepdims=False)
            q = orthonormalize_against(basis, x, r)
            return lax.dynamic_update_slice_in_dim(basis, q[:, None], c + b + s, axis=1)

        return lax.fori_loop(0, b, column, basis), products

    return lax.fori_loop(0, (cfg.ncv - start) // b, body, (basis, products))


def _random_block(key, n: int, cols: int, dtype) -> jax.Array:
    key = jax.random.fold_in(key, 2)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        real = jnp.finfo(dtype).dtype
        kr, ki = jax.random.split(key)
        parts = jax.random.normal(kr, (n, cols), real), jax.random.normal(ki, (n, cols), real)
        return lax.complex(*parts).astype(dtype)
    return jax.random.normal(key, (n, cols), dtype)


class _Extra(NamedTuple):
    """The Ritz pairs next to the wanted ones, kept for the backward pass's deflation: values
    ``theta`` (``d``), vectors ``y`` (``n × d``, orthonormal, orthogonal to the wanted ones) and
    ``A y`` (from the stored products, no new product)."""

    theta: jax.Array
    y: jax.Array
    ay: jax.Array


_MAX_EXTRA = 32  # the most extra Ritz pairs kept (memory 2·n·d numbers until the backward pass)


def _krylov_eigsh(
    cfg: _Config, operator: Operator, start: jax.Array, key
) -> tuple[jax.Array, jax.Array, _Extra]:
    n = operator.shape[0]
    b, m, p = cfg.block, cfg.ncv, cfg.keep
    dtype = start.dtype
    basis = jnp.zeros((n, m + b), dtype)
    q = start / jnp.linalg.norm(start).astype(dtype)
    basis = basis.at[:, 0].set(q)
    # Random vectors: the other starting vectors, and replacements at a breakdown.
    spare = _random_block(key, n, m + b, dtype)
    for s in range(1, b):
        basis = basis.at[:, s].set(orthonormalize_against(basis, spare[:, s], spare[:, 0]))
    products = jnp.zeros((n, m), dtype)
    basis, products = _fill(cfg, operator, basis, products, 0, spare)
    theta, s, done = _rayleigh_ritz(cfg, basis[:, :m], products)

    def cond(state):
        it, _, _, _, _, done = state
        return (it < cfg.maxiter) & ~done

    def body(state):
        it, basis, products, theta, s, _ = state
        # Thick restart: keep the p best Ritz vectors and the residual block, which is orthogonal to
        # them; A Y = (A V) S needs no product.
        y = mm(basis[:, :m], s[:, :p])
        ay = mm(products, s[:, :p])
        residual = basis[:, m:]
        basis = jnp.zeros_like(basis).at[:, :p].set(y).at[:, p : p + b].set(residual)
        products = jnp.zeros_like(products).at[:, :p].set(ay)
        basis, products = _fill(cfg, operator, basis, products, p, spare)
        theta, s, done = _rayleigh_ritz(cfg, basis[:, :m], products)
        return it + 1, basis, products, theta, s, done

    state = (jnp.asarray(0), basis, products, theta, s, done)
    _, basis, products, theta, s, done = lax.while_loop(cond, body, state)
    w = theta[: cfg.k]
    v = mm(basis[:, :m], s[:, : cfg.k])
    # Not converged within maxiter restarts: NaN, never a silently inaccurate pair.
    w = jnp.where(done, w, jnp.nan)
    extra = slice(cfg.k, cfg.k + min(cfg.keep - cfg.k, _MAX_EXTRA))
    return w, v, _Extra(theta[extra], mm(basis[:, :m], s[:, extra]), mm(products, s[:, extra]))


def _dense_eigsh(cfg: _Config, operator: Operator) -> tuple[jax.Array, jax.Array, _Extra]:
    n = operator.shape[0]
    a = operator.matmat(jnp.eye(n, dtype=operator.dtype))
    theta, s = jnp.linalg.eigh((a + jnp.conj(a).T) / 2)
    order = _wanted_order(theta, cfg.which)[: cfg.k]
    none = jnp.zeros((n, 0), operator.dtype)
    return theta[order], s[:, order], _Extra(theta[:0], none, none)


def _forward(cfg: _Config, operator: Operator, start: jax.Array, key) -> tuple[jax.Array, jax.Array, _Extra]:
    if cfg.dense:
        w, v, extra = _dense_eigsh(cfg, operator)
    else:
        w, v, extra = _krylov_eigsh(cfg, operator, start, key)
    order = jnp.argsort(w)  # ascending, like SciPy (NaN last)
    return w[order], v[:, order], extra


# ---------------------------------------------------------------------------------------------
# derivative: adjoint of the projected eigenproblem


def _cluster_tol(w: jax.Array, n: int) -> jax.Array:
    """Computed eigenvalues closer than ``4 n eps max|λ|`` form a cluster (matcalc's policy)."""
    return 4 * n * jnp.finfo(w.dtype).eps * jnp.max(jnp.abs(w))


def _deflation(w, v, sign, extra: _Extra, cluster_tol) -> Deflation:
    """Deflated CG's coarse space for the eigenvector solves: the extra Ritz vectors ``W``.

    Column ``i`` solves ``M_i x = r`` with ``M_i = σ_i (λ_i I − A)`` on the complement of ``V``.
    ``W`` is orthogonal to ``V``, so ``(M_i W)ᴴ r = σ_i (λ_i Wᴴ r − (A W)ᴴ r)`` for ``r ⊥ V`` and
    ``E_i = Wᴴ M_i W = σ_i (λ_i I − G)``, ``G = Wᴴ A W``; in the eigenbasis of ``G`` (``W`` rotated)
    ``E_i`` is diagonal. A Ritz value within the cluster tolerance of ``λ_i`` (no gap) is left out
    of column ``i``'s space (its coefficient is zero), so ``E_i`` stays invertible.
    """
    g = hdot(extra.y, extra.ay)
    g_values, g_vectors = jnp.linalg.eigh((g + jnp.conj(g).T) / 2)
    basis, a_basis = mm(extra.y, g_vectors), mm(extra.ay, g_vectors)
    e = sign[None, :] * (w[None, :] - g_values[:, None])  # (d, k): E_i's diagonal, column by column
    usable = e > cluster_tol
    inv_e = jnp.where(usable, 1 / jnp.where(usable, e, 1), 0).astype(basis.dtype)
    lam, sgn = w[None, :].astype(basis.dtype), sign[None, :].astype(basis.dtype)

    def coarse(r):
        return sgn * (lam * hdot(basis, r) - hdot(a_basis, r))

    def expand(c):  # M_i W c_i = σ_i (I − V Vᴴ)(λ_i W c_i − A W c_i)
        x = sgn * (lam * mm(basis, c) - mm(a_basis, c))
        return x - mm(v, hdot(v, x))

    return Deflation(basis, coarse, expand, lambda y: inv_e * y)


def _eigsh_cotangent(cfg: _Config, operator: Operator, w, v, gw, gv, extra: _Extra) -> Operator:
    n = operator.shape[0]
    real = jnp.finfo(w.dtype).dtype
    gw = jnp.real(gw).astype(real)
    # JAX's cotangent pairs without conjugation (dL = Re Σ v̄ ∘ dv): as a vector in ⟨·,·⟩ it is conj(v̄).
    gv = jnp.conj(gv)
    # In-subspace part: the eigh formula on the k computed pairs, K_ji = 1/(λ_i − λ_j) across
    # clusters and 0 inside a cluster (guarded quotient); dL = Re ⟨V (K ∘ Vᴴ Ḡ), dA V⟩.
    g = hdot(v, gv)
    gap = w[None, :] - w[:, None]  # gap[j, i] = λ_i − λ_j
    same = jnp.abs(gap) <= _cluster_tol(w, n)
    kmat = jnp.where(same, 0, 1 / jnp.where(same, 1, gap))
    left = v * gw.astype(v.dtype)[None, :] + mm(v, kmat.astype(v.dtype) * g)

    # Out-of-subspace part: x_i = (λ_i I − A)⁻¹ (I − V Vᴴ) ḡ_i on the complement of span(V), where
    # σ_i (λ_i I − A) is positive definite if λ_k is separated from the rest of the spectrum.
    def project(x):
        return x - mm(v, hdot(v, x))

    if cfg.which == "LA":
        sign = jnp.ones_like(w)
    elif cfg.which == "SA":
        sign = -jnp.ones_like(w)
    else:
        sign = jnp.where(w >= 0, 1.0, -1.0).astype(real)

    def apply(x):
        x = project(x)
        return project(sign[None, :].astype(x.dtype) * (w[None, :].astype(x.dtype) * x - operator.matmat(x)))

    rhs = project(gv)
    deflation = _deflation(w, v, sign, extra, _cluster_tol(w, n)) if extra.y.shape[1] else None
    y = block_cg(apply, rhs, tol=cfg.solve_tol, maxiter=cfg.solve_maxiter, deflation=deflation)
    x = project(sign[None, :].astype(y.dtype) * y)
    left = left + x
    return hermitian_bilinear_cotangent(operator, left, v)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _eigsh_rule(cfg: _Config, operator: Operator, start: jax.Array, key_data: jax.Array):
    w, v, _ = _forward(cfg, operator, start, jax.random.wrap_key_data(key_data))
    return w, v


def _eigsh_fwd(cfg, operator, start, key_data):
    w, v, extra = _forward(cfg, operator, start, jax.random.wrap_key_data(key_data))
    return (w, v), (operator, w, v, extra, start, key_data)


def _eigsh_bwd(cfg, residuals, cotangents):
    operator, w, v, extra, start, key_data = residuals
    gw, gv = cotangents
    ct = _eigsh_cotangent(cfg, operator, w, v, gw, gv, extra)
    zero_key = np.zeros(key_data.shape, dtype=jax.dtypes.float0)
    return ct, jnp.zeros_like(start), zero_key


_eigsh_rule.defvjp(_eigsh_fwd, _eigsh_bwd)


def _start_and_key(operator: Operator, v0: ArrayLike | None, key: Any) -> tuple[jax.Array, jax.Array]:
    n = operator.shape[0]
    key = jax.random.key(0) if key is None else check_key(key)
    if v0 is None:
        start = random_vector(jax.random.fold_in(key, 1), n, operator.dtype)
    else:
        start = jnp.asarray(v0)
        if start.shape != (n,):
            raise ValueError(f"v0: expected a vector of shape ({n},), got shape {start.shape}")
        start = start.astype(jnp.result_type(operator.dtype, start.dtype))
    return start.astype(operator.dtype), jax.random.key_data(key)


def eigsh(
    A: Any,
    k: int = 6,
    which: str = "LA",
    *,
    v0: ArrayLike | None = None,
    key: Any = None,
    tol: float | None = None,
    maxiter: int | None = None,
    ncv: int | None = None,
    block_size: int | None = None,
    return_eigenvectors: bool = True,
) -> tuple[jax.Array, jax.Array] | jax.Array:
    """``k`` eigenpairs of a Hermitian operator, matrix-free; like ``scipy.sparse.linalg.eigsh``.

    ``A`` is a 2-D array, a ``jax.experimental.sparse.BCOO`` matrix or a lineax operator, touched only
    through products ``A @ X``. ``which``: ``"LA"`` (largest algebraic, default), ``"SA"`` (smallest
    algebraic) or ``"LM"`` (largest magnitude). Returns ``(w, v)``: eigenvalues ascending (as SciPy)
    and orthonormal eigenvectors as columns; only ``w`` with ``return_eigenvectors=False``.

    Algorithm: block Krylov (block Lanczos) with thick restarts (Wu & Simon 2000; Golub & Van Loan
    §10.3) and full reorthogonalization (classical Gram–Schmidt twice). The basis has ``ncv``
    columns (default ``max(2p, p + 4b, 20, min(64, n/2))``, ``p`` the ``k`` wanted vectors rounded
    up to blocks of ``block_size`` plus one block, ``b = block_size = min(k, 4)``; a given
    ``ncv > k`` is rounded up to whole blocks and to at least ``p + b``); each restart keeps the
    best half of the basis (at least ``p`` Ritz vectors) and the residual block (``maxiter`` counts
    restarts after the first pass; ``0`` allows the first pass only). A
    block of ``b`` vectors finds eigenvalues of multiplicity up to ``b`` (a single-vector Krylov
    space sees one vector of each eigenspace). Converged when every
    wanted Ritz pair has ``‖A y − θ y‖ ≤ tol · max|θ|`` (``tol`` default ``eps^0.8``); after
    ``maxiter`` restarts (default 300) without convergence the eigenvalues are NaN (under ``jit`` no
    exception can be raised). The products needed grow as the relative gap between the wanted
    eigenvalues and the rest shrinks (for ``k = 10`` on 3-D grid Laplacians: 640 products at
    relative gap 8.5e-4, 2,080 at 1.5e-4), and a larger ``ncv`` is the remedy when the restarts
    run out. ``v0`` is the first starting vector; the others (and the
    default ``v0``) are drawn from ``key`` (default ``jax.random.key(0)``). When ``ncv + b > n`` the rule
    forms ``A`` with ``n`` products and uses a dense eigensolver. Runs under ``jit`` and ``vmap``
    (a batch runs until its slowest member has converged). ``A`` must be Hermitian; dense and BCOO
    inputs are checked eagerly (outside ``jit``), lineax operators are trusted.

    Derivative (reverse mode, ``custom_vjp``; forward-mode ``jvp`` is not supported and raises):
      ``dλ_i = v_iᴴ dA v_i`` (Hellmann–Feynman) and ``dv_i = −(A − λ_i I)⁺ dA v_i``, split by the
      projector ``V Vᴴ`` on the computed pairs. For cotangents ``λ̄``, ``V̄`` the operator's
      cotangent is the bilinear form ``Re ⟨L, dA V⟩`` with
      ``L = V diag(λ̄) + V (K ∘ Vᴴ V̄) + X``,
      ``K_ji = 1/(λ_i − λ_j)`` between computed eigenvalues of different clusters and ``0`` inside a
      cluster (``|λ_i − λ_j| ≤ 4 n eps max|λ|``, the guarded quotient of ``matcalc.eigh``), and
      ``x_i = (λ_i I − A)⁻¹ (I − V Vᴴ) v̄_i`` solved matrix-free on the complement of ``span V`` by
      projected conjugate gradients on ``±(λ_i I − A)`` (tolerance ``eps^0.75``), never with the
      full spectrum (the adjoint of the projected eigenproblem; Golub & Van Loan §7.2.4, §8.1;
      Giles 2008). The CG is deflated (Saad et al. 2000) by the up to 32 Ritz vectors next to the
      wanted ones, which the forward pass's last basis holds with their products: CG then runs at
      the rate of ``(λ_i − λ_min)/(λ_i − λ_{p+1})`` instead of ``(λ_i − λ_min)/(λ_i − λ_{k+1})``
      (on the 16³ grid Laplacian, 79 iterations instead of 192); the solution is exact for any
      deflation space. The cotangent is symmetrized: ``A`` is read as Hermitian and dense gradients are
      Hermitian.
      Assumption: a gap between the wanted eigenvalues and the rest of the spectrum (``λ_k`` and
      ``λ_{k+1}`` distinct; for ``"LM"`` no unwanted eigenvalue ``−λ_i``). Then ``±(λ_i I − A)``
      is positive definite on the complement and CG converges at a rate set by
      ``(λ_i − λ_min)/(λ_i − λ_{k+1})``. Without a gap the eigenvectors are not differentiable; the
      solve is then slow and inaccurate (no error is raised), though eigenvalue-only losses are
      unaffected (they need no solve).
      Gauge: each eigenvector's phase (sign) is arbitrary, and inside a cluster of repeated
      computed eigenvalues the basis is arbitrary. Losses must be gauge invariant (``|v_iᴴ M v_j|²``,
      ``V Vᴴ``, cluster projectors, symmetric functions of a cluster's eigenvalues): those get
      exact gradients, as for ``matcalc.eigh``.
      Second order: forward over reverse (``jax.jvp`` of ``jax.grad``, ``jax.hessian``)
      differentiates this rule and the Lanczos iteration in forward mode; with distinct computed
      eigenvalues it matches the dense ``eigh`` rule's Hessian-vector products (tested to 1e-8
      relative). At exactly repeated eigenvalues among the k it is finite but not the second
      derivative (measured wrong by O(1) relative on a gauge-invariant loss). Reverse over
      reverse is not supported: JAX raises (the iteration is a ``while_loop``).

    Examples:
        >>> from matcalc.krylov import eigsh
        >>> a = jnp.diag(jnp.array([1.0, 2.0, 3.0, 4.0]))
        >>> print(np.round(eigsh(a, 2, return_eigenvectors=False), 6))  # the two largest, ascending
        [3. 4.]
        >>> # d(λ₃ + λ₄)/dA = v₃v₃ᵀ + v₄v₄ᵀ (Hellmann–Feynman), without the rest of the spectrum
        >>> grad = jax.grad(lambda m: jnp.sum(eigsh(m, 2, return_eigenvectors=False)))(a)
        >>> print(np.round(np.diag(grad), 6))
        [0. 0. 1. 1.]
    """
    operator = as_operator(A, name="A", square=True)
    cfg = _config(operator, k, which, tol, maxiter, ncv, block_size)
    _check_hermitian(A, operator, "A")
    start, key_data = _start_and_key(operator, v0, key)
    w, v = _eigsh_rule(cfg, operator, start, key_data)
    return (w, v) if return_eigenvectors else w


# ---------------------------------------------------------------------------------------------
# svds through the Gram operator


class _Gram:
    """``AᴴA`` (``side="right"``) or ``AAᴴ`` (``side="left"``) seen through ``mv``; a pytree."""

    def __init__(self, operator: Operator, side: str):
        self.operator, self.side = operator, side

    def mv(self, x):
        if self.side == "right":
            return self.operator.rmatmat(self.operator.matmat(x))
        return self.operator.matmat(self.operator.rmatmat(x))

    def as_matrix(self):
        a = self.operator.to_dense()
        return mm(jnp.conj(a).T, a) if self.side == "right" else mm(a, jnp.conj(a).T)


jax.tree_util.register_pytree_node(
    _Gram, lambda g: ((g.operator,), g.side), lambda side, children: _Gram(children[0], side)
)


def svds(
    A: Any,
    k: int = 6,
    which: str = "LM",
    *,
    v0: ArrayLike | None = None,
    key: Any = None,
    tol: float | None = None,
    maxiter: int | None = None,
    ncv: int | None = None,
    block_size: int | None = None,
    return_singular_vectors: bool = True,
) -> tuple[jax.Array, jax.Array, jax.Array] | jax.Array:
    """The ``k`` largest singular triplets, matrix-free; like ``scipy.sparse.linalg.svds``.

    Returns ``(u, s, vh)`` with ``s`` ascending (as SciPy), ``u`` ``(m, k)``, ``vh`` ``(k, n)``; only
    ``s`` with ``return_singular_vectors=False``. Only ``which="LM"``.

    Algorithm: ``eigsh`` (``"LA"``) of the Gram operator ``AᴴA`` (if ``m ≥ n``, else ``AAᴴ``),
    applied as ``Aᴴ (A x)``; ``s = √λ``, ``u = A v / s`` (``v = Aᴴ u / s``). Accuracy trade-off:
    an eigenvalue error of order ``eps σ₁²`` in ``λ_i = σ_i²`` is an error of order ``eps σ₁²/σ_i`` in
    ``σ_i``, so the top singular values are as accurate as ``eigsh``'s and smaller ones lose digits in
    proportion to ``σ₁/σ_i``; the singular vectors likewise (their error scales with ``eps σ₁²`` over
    the gap ``σ_i² − σ_j²``). The augmented operator ``[[0, A], [Aᴴ, 0]]`` avoids the squaring, but its
    spectrum ``±σ`` spans ``2σ₁``: near the top its relative gaps ``(σ_i − σ_j)/2σ₁`` are about four
    times smaller than those of ``AᴴA``, ``(σ_i² − σ_j²)/σ₁²``, and Krylov methods converge more
    slowly. A zero singular value among the top ``k`` gives non-finite singular vectors.

    Derivative: through ``eigsh``'s rule on the Gram operator (its cotangent flows to ``A``'s
    arrays) and ordinary differentiation of ``√λ`` and ``A v / s``: ``dσ_i = Re u_iᴴ dA v_i``; the
    singular vectors follow the eigenvector adjoint with the same gap assumption (between ``σ_k`` and
    ``σ_{k+1}``). Gauge: the pair ``(u_i, v_i)`` shares one arbitrary phase, so ``U Vᴴ`` of the block
    and the projectors ``U Uᴴ``, ``V Vᴴ`` are gauge invariant; losses must be. ``jvp`` is not
    supported (``custom_vjp``). Second order: forward over reverse as for ``eigsh`` (tested
    against JAX's dense ``svd`` rule for distinct singular values); reverse over reverse raises.

    Examples:
        >>> from matcalc.krylov import svds
        >>> a = jnp.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> print(np.round(svds(a, 1, return_singular_vectors=False), 6))
        [3.]
    """
    operator = as_operator(A, name="A")
    m, n = operator.shape
    if which != "LM":
        raise ValueError(f"which: svds supports only 'LM' (largest singular values), got {which!r}")
    _check_k(k, min(m, n))
    side = "right" if m >= n else "left"
    gram = Operator(_Gram(operator, side), "lineax", (min(m, n),) * 2, operator.dtype)
    w, vecs = eigsh(gram, k, "LA", v0=v0, key=key, tol=tol, maxiter=maxiter, ncv=ncv, block_size=block_size)
    s = jnp.sqrt(jnp.maximum(w, 0))
    if not return_singular_vectors:
        return s
    if side == "right":
        v = vecs
        u = operator.matmat(v) / s[None, :].astype(v.dtype)
    else:
        u = vecs
        v = operator.rmatmat(u) / s[None, :].astype(u.dtype)
    return u, s, jnp.conj(v).T
