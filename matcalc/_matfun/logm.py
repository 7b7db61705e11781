"""Principal matrix logarithm by inverse scaling and squaring, and fractional matrix powers."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.typing import ArrayLike

from .._core import (
    as_inexact,
    check_disp,
    check_dtype,
    check_option,
    check_square,
    complex_dtype,
    eye_like,
    is_empty,
    norm1,
    relative_tol,
)
from .._kernels.lu import lu_pivoted, lu_pivoted_solve
from .._kernels.primary_frechet import primary_frechet_primitive
from .._kernels.square_root import (
    DB_MAX_ITERS,
    db_finish,
    db_step,
    fallback_root,
    no_derivative,
    real_or_nan,
    solve_root_sylvester,
    sqrtm_db,
    sqrtm_schur,
)
from .._kernels.sylvester import METHODS, Method
from .._linalg import matrix_power
from .expm import expm
from .sqrtm import _sqrtm

# Padé degree m of log(1+x) as the Gauss–Legendre partial fraction
# r_m(Y) = Σ_j w_j Y (I + x_j Y)⁻¹ (x_j, w_j nodes and weights on [0, 1]); with ‖Y‖₁ ≤ θ the
# backward error is below double-precision round-off (Higham 2008, Table 11.1: θ_8 ≈ 0.34).
_M = 8
_THETA = 0.25
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(_M)
_NODES, _WEIGHTS = [float(x) for x in (_NODES + 1) / 2], [float(w) for w in _WEIGHTS / 2]
MAX_ROOTS = 40
# Total DB steps (over all square roots) of the derivative's fixed-trip scan; see _logm_iter_tangent.
DIFF_MAX_STEPS = 96


def _norm1(x):
    return jnp.max(jnp.sum(jnp.abs(x), axis=-2), axis=-1)


def _pade_sum(y, term):
    """``Σ_j w_j term(I + x_j Y)`` over the Gauss–Legendre nodes, accumulated in node order by a
    ``lax.fori_loop`` (one traced term instead of ``_M``; the same arithmetic as the unrolled sum)."""
    nodes = jnp.asarray(_NODES).astype(y.dtype)
    weights = jnp.asarray(_WEIGHTS).astype(y.dtype)
    eye = jnp.broadcast_to(eye_like(y), y.shape)

    def body(j, out):
        return out + weights[j] * term(eye + nodes[j] * y)

    return lax.fori_loop(0, _M, body, jnp.zeros_like(y))


def _pade_log(y):
    def term(b):
        lu, _, perm = lu_pivoted(b)
        # Y (I + x Y)⁻¹ = (I + x Y)⁻¹ Y (they commute)
        return lu_pivoted_solve(lu, perm, y)

    return _pade_sum(y, term)


def _logm_fwd(a):
    """Inverse scaling and squaring: square roots until ‖X − I‖₁ ≤ θ, then
    ``log A = 2^s r_m(X − I)`` (Al-Mohy & Higham 2012, simplified to a fixed degree)."""
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    batch = a.shape[:-2]
    real = jnp.finfo(a.dtype).dtype

    def need(x):
        return _norm1(x - eye) > _THETA

    def cond(c):
        k, x, s = c
        return (k < MAX_ROOTS) & jnp.any(need(x))

    def body(c):
        k, x, s = c
        nd = need(x)
        x = jnp.where(nd[..., None, None], sqrtm_db(x), x)
        return k + 1, x, s + nd.astype(jnp.int32)

    _, x, s = lax.while_loop(cond, body, (0, a, jnp.zeros(batch, jnp.int32)))
    scale = jnp.exp2(s.astype(real)).astype(a.dtype)[..., None, None]
    return scale * _pade_log(x - eye)


def _logm_diff(a, sylvester):
    """The same algorithm in fixed-trip loops built from differentiable pieces (``_sqrtm``'s
    Sylvester rule, LU solves): JAX's JVP of this is the chain rule
    ``E₀ = E, X_{k+1} L_{k+1} + L_{k+1} X_{k+1} = L_k``, ``L = 2^s Σ_j w_j (I+x_jY)⁻¹ L_s
    (I+x_jY)⁻¹``."""
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    real = jnp.finfo(a.dtype).dtype

    def step(c, _):
        x, s = c
        nd = lax.stop_gradient(_norm1(x - eye) > _THETA)

        def root(x):
            y = _sqrtm(x, "db", sylvester)
            return jnp.where(nd[..., None, None], y, x)

        x = lax.cond(jnp.any(nd), root, lambda x: x, x)
        return (x, s + nd.astype(jnp.int32)), None

    (x, s), _ = lax.scan(step, (a, jnp.zeros(a.shape[:-2], jnp.int32)), None, length=MAX_ROOTS)
    scale = jnp.exp2(s.astype(real)).astype(a.dtype)[..., None, None]
    eye_b = jnp.broadcast_to(eye, x.shape)
    y = x - eye_b
    return scale * _pade_sum(y, lambda b: jnp.linalg.solve(b, y))


class _RootState(NamedTuple):
    """Per-matrix state of the differentiated inverse scaling and squaring (batched arrays)."""

    y: Array  # DB iterate Y (→ X^{1/2}); X itself between roots
    m: Array  # DB iterate M (→ I)
    dy: Array  # tangents of Y and M
    dm: Array
    s: Array  # square roots taken
    k: Array  # DB steps taken in the current root
    active: Array  # still iterating
    near: Array  # ‖M − I‖₁ < 1e-2: scaling switched off
    prev: Array  # the previous step's ‖M' − I‖₁ (inf at the start of a root)
    bad: Array  # a root failed to converge


def _logm_iter_tangent(a, da):
    """``(L, ok)``: ``L = L_log(A, dA)`` by the algorithm of ``_logm_fwd`` with every DB iterate
    differentiated (``matcalc._kernels.square_root.db_step``, μ frozen), in ONE fixed-trip
    scan of ``DIFF_MAX_STEPS`` DB steps shared by all square roots (a skipped ``lax.cond`` once every
    matrix is finished), so reverse mode stores ``O(steps · n²)`` residuals and no Sylvester plans.

    Per matrix, a state machine: while ``‖X − I‖₁ > θ`` (and fewer than ``MAX_ROOTS`` roots)
    run DB on ``(Y, M, dY, dM)`` from ``Y = M = X``, ``dY = dM = dX``; when the root converges
    (the stopping rule of ``matcalc._kernels.square_root.sqrtm_db``), ``X ← Y``,
    ``dX ← dY − Y dM/2`` (the tangent action of the remaining steps at ``M = I``), ``s ← s + 1``.
    Then the tangent of the Padé part ``log A = 2^s Σ_j w_j (I + x_j Y)⁻¹ Y`` (``Y = X − I``):
    ``2^s Σ_j w_j (I + x_j Y)⁻¹ dX (I + x_j Y)⁻¹``.
    ``ok`` is False where a root does not converge within ``DB_MAX_ITERS`` steps (as the
    forward) or where the total ``DIFF_MAX_STEPS`` is exhausted before the matrix is finished.
    """
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    n = a.shape[-1]
    batch = a.shape[:-2]
    real = jnp.finfo(a.dtype).dtype
    tol = relative_tol(real, n, factor=10)

    def need(x):
        return lax.stop_gradient(_norm1(x - eye) > _THETA)

    def step(c, _):
        def run(c):
            y, m, dy, dm, s, kr, active, near, prev, bad = c
            y1, m1, dy1, dm1, delta = db_step(y, m, dy, dm, near, jnp.isinf(prev))
            done = (delta <= tol) | (prev <= 1e-7)
            fin = active & done
            fail = active & ~done & (kr + 1 >= DB_MAX_ITERS)
            fail = fail | (fin & ~jnp.all(jnp.isfinite(y1), axis=(-2, -1)))
            s1 = s + fin.astype(jnp.int32)
            more = fin & need(y1) & (s1 < MAX_ROOTS)
            dx = db_finish(y1, dy1, dm1)
            go = (active & ~done)[..., None, None]
            fn = fin[..., None, None]
            mo = more[..., None, None]
            y2 = jnp.where(go | fn, y1, y)
            dy2 = jnp.where(go, dy1, jnp.where(fn, dx, dy))
            m2 = jnp.where(go, m1, jnp.where(mo, y1, m))
            dm2 = jnp.where(go, dm1, jnp.where(mo, dx, dm))
            return _RootState(
                y2,
                m2,
                dy2,
                dm2,
                s1,
                jnp.where(more, 0, jnp.where(active, kr + 1, kr)),
                (active & ~done & ~fail) | more,
                jnp.where(more, False, near | (delta < 1e-2)),
                jnp.where(more, jnp.inf, jnp.where(active, delta, prev)),
                bad | fail,
            )

        return lax.cond(jnp.any(c.active), run, lambda c: c, c), None

    zb = jnp.zeros(batch, bool)
    init = _RootState(
        a,
        a,
        da,
        da,
        jnp.zeros(batch, jnp.int32),
        jnp.zeros(batch, jnp.int32),
        jnp.broadcast_to(need(a), batch),
        zb,
        jnp.full(batch, jnp.inf, real),
        zb,
    )
    (x, _, dx, _, s, _, active, _, _, bad), _ = lax.scan(step, init, None, length=DIFF_MAX_STEPS)
    scale = jnp.exp2(s.astype(real)).astype(a.dtype)[..., None, None]

    def term(b):
        # d[(I + xY)⁻¹ Y] = (I + xY)⁻¹ dY (I + xY)⁻¹ (the factors commute with Y)
        lu, _, perm = lu_pivoted(b)
        left = lu_pivoted_solve(lu, perm, dx)
        return jnp.swapaxes(lu_pivoted_solve(lu, perm, jnp.swapaxes(left, -1, -2), True), -1, -2)

    dout = _pade_sum(x - eye, term)
    return scale * dout, lax.stop_gradient(~(active | bad))


_FIRST_THEN_FALLBACK = np.array([True, False])


def _logm_frechet(a, da):
    """``L_log(A, dA)`` (``_logm_iter_tangent``); NaN (value and tangent) where the roots fail, unless
    the root of the complex Schur fallback (CPU) serves: ``L_log(A, E) = 2 L_log(X, L_sqrt(A, E))``
    (chain rule of ``log A = 2 log X``, ``X = A^{1/2}`` by Schur, ``X L_sqrt + L_sqrt X = E``; its
    derivative in ``a`` is NaN, no rule through Schur).

    One traced body serves both trips (``lax.scan`` over ``first = [True, False]``, the second trip
    a skipped ``lax.cond`` unless some matrix failed): its input is ``(A, dA)`` on the first trip
    and the fallback's ``(X, L_sqrt)`` on the second."""
    batch = a.shape[:-2]

    def fallback_inputs(a, e):
        def on_cpu(a, e):
            a_s = lax.stop_gradient(a)
            cdtype = complex_dtype(a.dtype)
            x = sqrtm_schur(a_s.astype(cdtype))
            l1 = solve_root_sylvester(x, e.astype(cdtype))
            if not jnp.iscomplexobj(a):
                real_x = jnp.isfinite(real_or_nan(x, a.dtype))
                x = jnp.where(real_x, jnp.real(x), jnp.nan).astype(a.dtype)
                l1 = jnp.real(l1).astype(a.dtype)
            return x, l1

        def elsewhere(a, e):
            return jnp.full_like(a, jnp.nan), (e * jnp.nan).astype(e.dtype)

        return lax.platform_dependent(a, e, cpu=on_cpu, default=elsewhere)

    def trip(c, first):
        dl, fail = c

        def run(dl, fail):
            x, e = lax.cond(first, lambda a, e: (a, e), fallback_inputs, a, da)
            dout, ok = _logm_iter_tangent(x, e)
            okm = ok[..., None, None]

            def first_result(dl, fail):
                return jnp.where(okm, dout, 0), ~ok

            def fallback_result(dl, fail):
                # NaN as a factor, so that the linearized (and transposed) tangent map is NaN there too
                nan_mask = jnp.where(okm, 1.0, jnp.nan).astype(a.dtype)
                d2 = 2 * (nan_mask * dout)
                d2 = d2 * (1 + no_derivative(a))[..., None, None].astype(d2.dtype)
                return jnp.where(fail[..., None, None], d2, dl), jnp.zeros_like(fail)

            return lax.cond(first, first_result, fallback_result, dl, fail)

        return lax.cond(first | jnp.any(fail), run, lambda dl, fail: (dl, fail), dl, fail), None

    init = (jnp.zeros_like(da), jnp.zeros(batch, bool))
    (dl, _), _ = lax.scan(trip, init, _FIRST_THEN_FALLBACK)
    return dl


def _logm_value(a):
    """``_logm_fwd(a)``; where it is not finite (complex input with eigenvalues on the closed negative
    real axis, where the DB roots do not converge), ``log A = 2 log A^{1/2}`` with the principal root
    by complex Schur (CPU; NaN elsewhere), whose eigenvalues have argument in (−π/2, π/2], where the
    DB roots converge. One traced ``_logm_fwd`` serves both (``lax.scan`` over ``first = [True,
    False]``, the second trip a skipped ``lax.cond`` unless some matrix failed)."""

    def trip(c, first):
        y, fail = c

        def run(y, fail):
            x = lax.cond(first, lambda a: a, fallback_root, a)
            y1 = _logm_fwd(x)
            y_new = jnp.where(first, y1, 2 * y1)
            y = jnp.where(first | fail[..., None, None], y_new, y)
            return y, first & ~jnp.all(jnp.isfinite(y1), axis=(-2, -1))

        return lax.cond(first | jnp.any(fail), run, lambda y, fail: (y, fail), y, fail), None

    (y, _), _ = lax.scan(trip, (jnp.zeros_like(a), jnp.zeros(a.shape[:-2], bool)), _FIRST_THEN_FALLBACK)
    return y


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _logm(a, sylvester):
    return _logm_value(a)


# L_log(A, ·) as a primitive whose transpose is L_log(Aᵀ, ·): reverse mode reruns the
# forward-mode derivative at Aᵀ instead of storing residuals of every DB step.
_logm_frechet_p = primary_frechet_primitive("matcalc_logm_frechet", _logm_frechet)


@_logm.defjvp
def _logm_jvp(sylvester, primals, tangents):
    (a,), (da,) = primals, tangents
    if sylvester == "auto":
        return _logm(a, sylvester), _logm_frechet_p.bind(a, da)
    return jax.jvp(lambda a: _logm_diff(a, sylvester), (a,), (da,))


_logm_jit = jax.jit(_logm, static_argnums=1)


def logm(A: ArrayLike, disp: bool = True, *, sylvester: Method = "auto") -> Array | tuple[Array, Array]:
    """Principal matrix logarithm; drop-in for ``scipy.linalg.logm`` (JAX has none). GPU-capable.

    Inverse scaling and squaring: Denman–Beavers square roots until ``‖A^{1/2^s} − I‖₁ ≤ 0.25``,
    then the degree-8 Padé approximant of ``log(1+x)`` in partial fractions, ``log A =
    2^s r_8(A^{1/2^s} − I)`` (Al-Mohy & Higham, SISC 34, 2012; Higham 2008, §11.5).

    Derivative:
      The algorithm differentiated (Al-Mohy, Higham & Relton 2013 do likewise; Higham 2008
      §11.5, §6.3): every Denman–Beavers iterate of every square root with its scaling μ frozen
      (``K = M⁻¹ dM M⁻¹``, ``dM' = (μ² dM − μ⁻² K)/4``, ``dY' = μ/2 (dY (I + μ⁻²M⁻¹) −
      μ⁻² Y K)``; at a root's convergence ``dX = dY − Y dM/2``), then
      ``L = 2^s Σ_j w_j (I + x_j Y)⁻¹ dX (I + x_j Y)⁻¹`` for the Padé part (its LU factors
      reused). One fixed-trip scan of ``DIFF_MAX_STEPS = 96`` DB steps in total serves all roots
      (ordinary input needs 10–25, eigenvalues spread over 1e-8..1e8 about 40–50, a unipotent
      matrix with ‖log A‖ ≈ 1e10 about 85). Reverse mode stores nothing of it: since
      ``⟨W, L(A, E)⟩ = ⟨L(Aᵀ, W), E⟩`` for primary matrix functions, the VJP is this
      forward-mode derivative at ``Aᵀ`` (``_kernels/primary_frechet.py``). Where the roots need
      more steps (in practice only where the forward also stops at its 40-root cap), the
      derivative is NaN; the value is the forward's. ``sylvester="kron"|"sign"`` instead chain the
      Sylvester rule of ``sqrtm`` (``X L' + L' X = L``) through the roots (slower).
      Domain: nonsingular A. Complex input with eigenvalues on the negative real axis (where
      the DB roots do not converge) gets SciPy's principal value from ``log A = 2 log A^{1/2}``
      with the root by JAX's complex Schur method (CPU; NaN on other platforms), and the
      derivative ``L_log(A, E) = 2 L_log(X, L_sqrt(A, E))`` (its own derivative in A, i.e.
      second order there, is NaN). Real input keeps its real dtype: where the principal
      logarithm is not real (an eigenvalue on the negative real axis) the result is NaN (SciPy
      returns complex; pass complex input). Singular input: NaN where the square roots meet the
      singularity exactly (e.g. ``diag(0, 4)``, ``u vᵀ``); where rounding leaves an eigenvalue
      of order ``ε‖A‖`` instead (e.g. a rank-2 product ``U Wᵀ`` of 3×3), the principal
      logarithm of that nearby nonsingular matrix, with an eigenvalue near ``log(ε‖A‖)``
      (about −36). SciPy returns ``−inf`` entries with a warning.

    Args:
      A: ``(..., n, n)`` real or complex.
      disp: ``False`` also returns SciPy's error estimate ``‖exp(F) − A‖₁ / ‖A‖₁``; nothing
        is ever printed (NaN marks failure).
      sylvester: ``"auto"`` (the iterate derivative), or ``"kron"``/``"sign"``: chain the
        Sylvester rule of ``sqrtm`` through the roots instead.

    Returns:
      ``(..., n, n)`` principal logarithm, same dtype as ``A``.

    Examples:
      >>> A = jnp.array([[1., 1.], [0., 1.]])
      >>> print(np.round(matcalc.logm(A), 6))
      [[0. 1.]
       [0. 0.]]
      >>> bool(np.allclose(matcalc.expm(matcalc.logm(A)), A))
      True
      >>> g = jax.grad(lambda A: jnp.trace(matcalc.logm(A)))(A)  # d tr log A = tr(A⁻¹ dA): ∇ = A⁻ᵀ
      >>> print(np.round(g, 6))
      [[ 1.  0.]
       [-1.  1.]]
    """
    disp = check_disp("logm", disp)
    check_option("logm", "sylvester", sylvester, METHODS)
    a = as_inexact(A, "A")
    check_dtype("logm", "A", a)
    check_square(a, "logm", "A")
    if is_empty(a):
        f = jnp.zeros(a.shape, a.dtype)
        return f if disp else (f, jnp.zeros(a.shape[:-2], f.real.dtype))
    f = _logm_jit(a, sylvester)
    if disp:
        return f
    # SciPy's estimate ‖exp(F) − A‖₁ / ‖A‖₁
    fs = lax.stop_gradient(f)
    return f, norm1(expm(fs) - a) / norm1(a)


def fractional_matrix_power(A: ArrayLike, t: float) -> Array:
    """``A^t`` for real ``t``; drop-in for ``scipy.linalg.fractional_matrix_power``.

    Integer ``t`` uses repeated squaring (``matcalc.matrix_power``); otherwise
    ``A^t = exp(t log A)`` with ``logm`` and ``expm``.

    Singular A (non-integer ``t > 0``): where A's LU has a pivot ``≤ 10 n ε ‖A‖₁`` and the SVD
    (computed only then) has singular values ``≤ n ε σ₁`` (numerically
    singular, the rank convention of ``numpy.linalg.matrix_rank``; so also any A with
    ``κ₂(A) ≥ 1/(nε)``), ``A^t`` by deflation: ``A^t = B^t − σ₁^t P₀`` with
    ``B = A + σ₁ P₀``, ``P₀ = N (Mᴴ N)⁻¹ Mᴴ`` the spectral projector onto the null space (N, M
    orthonormal bases of the right and left null spaces from the SVD), valid when the zero
    eigenvalue is semisimple (``A P₀ = P₀ A = 0``, ``0^t = 0``); e.g. ``diag(0, 4) →
    diag(0, 4^t)``, ``(u vᵀ)^t = (vᵀu)^{t−1} u vᵀ``. NaN where the zero eigenvalue is defective
    (or nearly so: ``σ_min(Mᴴ N) < ε^{1/2}``, i.e. ``‖P₀‖₂ > ε^{−1/2}``), e.g. ``[[0, 1],
    [0, 0]]``, and for ``t < 0`` (no power exists; SciPy gives NaN too). One ``logm`` and one
    ``expm`` serve every matrix of a batch (``B = A`` where nothing is deflated). Runs on GPU
    (SVD, LU, logm, expm); on nonsingular input the extra cost is one LU.

    Derivative:
      The chain rule of the rules used: ``L = L_exp(t log A, t L_log(A, E))`` (Higham & Lin,
      SIMAX 34, 2013, derive the same Fréchet derivative). ``t`` is a static Python number.
      Domain: as ``logm`` for non-integer t: complex input with eigenvalues on the negative
      real axis gets the principal value (CPU); real input whose principal power is not real
      gives NaN (SciPy returns complex). At the singular (deflated) matrices above the
      derivative (``jvp`` and ``grad``) is NaN: for ``0 < t < 1`` it does not exist (the
      divided difference ``x^t[0, 0] = t·0^{t−1}`` is infinite); for ``t > 1`` it exists but is
      not provided. Other matrices in the same batch keep their derivatives.

    Examples:
      >>> A = jnp.array([[4., 1.], [0., 9.]])
      >>> X = matcalc.fractional_matrix_power(A, 0.5)
      >>> print(np.round(X, 6))
      [[2.  0.2]
       [0.  3. ]]
      >>> bool(np.allclose(X @ X, A))
      True
    """
    a = as_inexact(A, "A")
    check_dtype("fractional_matrix_power", "A", a)
    check_square(a, "fractional_matrix_power", "A")
    if isinstance(t, bool) or np.iscomplexobj(t):
        raise TypeError(f"fractional_matrix_power: t must be a real number, got {t!r}")
    try:
        t = float(t)
    except (TypeError, ValueError) as err:
        raise TypeError(f"fractional_matrix_power: t must be a static real number, got {t!r}") from err
    if not np.isfinite(t):
        raise ValueError(f"fractional_matrix_power: t must be finite, got {t}")
    if is_empty(a):
        return jnp.zeros(a.shape, a.dtype)
    if t.is_integer():
        return matrix_power(a, int(t))
    return _fractional_power_jit(a, t)


def _null_tol(a):
    """Singular values ``≤ n ε σ₁`` count as zero (rounding level of an exactly singular A; the
    rank convention of ``numpy.linalg.matrix_rank``)."""
    return relative_tol(jnp.finfo(a.dtype).dtype, a.shape[-1])


def _null_projector(a):
    """For numerically singular A (singular values ``≤ n ε σ₁``) the
    spectral projector ``P₀ = N (Mᴴ N)⁻¹ Mᴴ`` onto the null space along the range, from orthonormal
    bases N, M of the right and left null spaces (the SVD's singular vectors of those singular
    values), and ``c = σ₁``; ``P₀ = 0`` for the other matrices. ``Mᴴ N`` is nonsingular exactly when
    the zero eigenvalue is semisimple (a Jordan block of size ≥ 2 puts a null vector in the range,
    orthogonal to M); ``ok`` is False where ``σ_min(Mᴴ N) < ε^{1/2}`` (defective, or nearly so).
    Returns ``(p0, c, deflated, ok)``."""
    real = jnp.finfo(a.dtype).dtype
    u, s, vh = jnp.linalg.svd(a)
    smax = s[..., :1]
    null_b = s <= _null_tol(a) * smax
    null = null_b.astype(a.dtype)
    v = jnp.conj(jnp.swapaxes(vh, -1, -2))
    uh = jnp.conj(jnp.swapaxes(u, -1, -2))
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    # Mᴴ N on the null block, the identity elsewhere: P₀ = V D G⁻¹ D Uᴴ, D the null mask
    g = null[..., :, None] * (uh @ v) * null[..., None, :] + eye * (1 - null)[..., None, :]
    cos_min = jnp.linalg.svd(g, compute_uv=False)[..., -1]
    p0 = v @ (null[..., :, None] * jnp.linalg.solve(g, null[..., :, None] * uh))
    c = jnp.where(smax > 0, smax, 1)[..., 0].astype(real)
    return p0, c, jnp.any(null_b, axis=-1), cos_min >= jnp.sqrt(jnp.finfo(real).eps)


@jax.custom_jvp
def _nan_derivative_where(a, mask):
    """Zero (one per matrix) whose derivative in ``a`` is NaN where ``mask`` and zero elsewhere
    (a zero coefficient, not a NaN one masked afterwards, so that the transposed map carries
    no NaN into the other matrices)."""
    return jnp.zeros(a.shape[:-2], jnp.finfo(a.dtype).dtype)


@_nan_derivative_where.defjvp
def _nan_derivative_where_jvp(primals, tangents):
    (a, mask), (da, _) = primals, tangents
    coef = jnp.where(mask, jnp.nan, 0.0).astype(jnp.finfo(a.dtype).dtype)
    return _nan_derivative_where(a, mask), jnp.real(jnp.sum(da, axis=(-2, -1))) * coef


def _fractional_power(a, t):
    if t < 0:
        return expm(t * logm(a))
    # Singular A (t > 0), by deflation: with P₀ the spectral projector onto the null space along the
    # range and c > 0, B = A + c P₀ is nonsingular and B^t = A^t + c^t P₀ (A P₀ = P₀ A = 0, 0^t = 0).
    # One LU flags the candidates (a pivot ≤ 10 n ε ‖A‖₁), the SVD decides (only if some matrix is
    # flagged); P₀ = 0 elsewhere, so one inverse scaling and squaring serves every matrix.
    a0 = lax.stop_gradient(a)
    lu, _, _ = lu_pivoted(a0)
    pivot = jnp.min(jnp.abs(jnp.diagonal(lu, axis1=-2, axis2=-1)), axis=-1)
    suspect = pivot <= 10 * _null_tol(a) * norm1(a0)
    real = jnp.finfo(a.dtype).dtype

    def regular(a0):
        none = jnp.zeros(suspect.shape, bool)
        return jnp.zeros_like(a0), jnp.ones(suspect.shape, real), none, ~none

    p0, c, deflated, ok = lax.cond(jnp.any(suspect), _null_projector, regular, a0)
    deflated = deflated & suspect
    p0 = jnp.where(deflated[..., None, None], p0, 0)
    c = c.astype(a.dtype)[..., None, None]
    x = expm(t * logm(a + c * p0)) - c**t * p0
    x = jnp.where((ok | ~deflated)[..., None, None], x, jnp.nan)
    # the deflated value has no derivative (NaN; undefined for t < 1)
    nan_where = (1 + _nan_derivative_where(a, deflated))[..., None, None].astype(x.dtype)
    return jnp.where(deflated[..., None, None], x * nan_where, x)


_fractional_power_jit = jax.jit(_fractional_power, static_argnums=1)
