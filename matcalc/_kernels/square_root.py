"""Matrix square-root iterations shared by ``sqrtm`` and ``logm`` (whose inverse scaling and
squaring takes repeated square roots): the scaled product-form Denman–Beavers iteration and its
differentiated iterates, one Newton correction, and the complex Schur root with its Sylvester
tangent as the CPU fallback where the iteration fails."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._core import complex_dtype, diag, eye_like, mm, norm1, relative_tol
from .lu import lu_pivoted, lu_pivoted_solve
from .sylvester import KRON_MAX, sylvester_apply, sylvester_plan

DB_MAX_ITERS = 60


def sqrtm_db(a):
    """Product-form Denman–Beavers iteration with determinant scaling (Higham 2008, eq. 6.29):

    ``μ = |det M|^{-1/(2n)}``, ``M ← (I + (μ²M + μ⁻²M⁻¹)/2)/2``, ``Y ← μY(I + μ⁻²M⁻¹)/2``,
    from ``M = Y = A``; ``Y → A^{1/2}``, ``M → I``. Per-matrix stopping; NaN where it does not
    converge (real input with eigenvalues on the closed negative real axis, singular input).
    """
    n = a.shape[-1]
    real = jnp.finfo(a.dtype).dtype
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    tol = relative_tol(real, n, factor=10)
    batch = a.shape[:-2]

    def cond(c):
        k, _, _, active, _, _ = c
        return (k < DB_MAX_ITERS) & jnp.any(active)

    def body(c):
        k, y, m, active, near, prev = c
        lu, _, perm = lu_pivoted(m)
        m_inv = lu_pivoted_solve(lu, perm, jnp.broadcast_to(eye, m.shape))
        logdet = jnp.sum(jnp.log(jnp.abs(diag(lu))), axis=-1)
        mu = jnp.exp(-logdet / (2 * n))
        mu = jnp.where(near | ~jnp.isfinite(mu), 1.0, mu).astype(a.dtype)[..., None, None]
        m_new = (eye + (mu**2 * m + m_inv / mu**2) / 2) / 2
        y_new = mu * mm(y, eye + m_inv / mu**2) / 2
        delta = jnp.max(jnp.sum(jnp.abs(m_new - eye), -2), -1)
        act = active[..., None, None]
        y = jnp.where(act, y_new, y)
        m = jnp.where(act, m_new, m)
        # quadratic convergence: a step taken from ‖M − I‖ ≤ 1e-7 lands at round-off level
        done = (delta <= tol) | (prev <= 1e-7)
        prev = jnp.where(active, delta, prev)
        return k + 1, y, m, active & ~done, near | (delta < 1e-2), prev

    init = (0, a, a, jnp.ones(batch, bool), jnp.zeros(batch, bool), jnp.full(batch, jnp.inf, real))
    _, y, m, active, _, _ = lax.while_loop(cond, body, init)
    ok = ~active & jnp.all(jnp.isfinite(y), axis=(-2, -1))
    return jnp.where(ok[..., None, None], y, jnp.nan)


def newton_refine_root(a, x):
    """One Newton step ``X ← X + L``, ``X L + L X = A − X²`` (Higham 2008, §6.3), with L from a
    Kronecker LU (``n ≤ 12``) or the sign-function Sylvester solver at X (whose spectrum is in
    the right half-plane), taken only if some matrix has ``‖A − X²‖₁ > 4n ε ‖A‖₁`` (a
    ``lax.cond``; one product otherwise). The DB iterates lose about ``κ(A)^{1/2}`` more than a
    Schur method (relative error 7e-13 vs 3e-14 at κ(A) = 1e8, 5e-10 vs 9e-13 at 1e12, with
    residuals of 2e3 ε and 2e6 ε); one step from there lands at Schur accuracy. Kept only where
    the correction is finite."""
    n = x.shape[-1]
    method = "kron" if n * n <= 144 else "sign"
    real = jnp.finfo(a.dtype).dtype
    xs = jnp.where(jnp.isfinite(x), x, 0)
    resid = a - mm(xs, xs)
    big = norm1(resid) > relative_tol(real, n, factor=4) * norm1(a)

    def correct(x):
        corr = sylvester_apply(sylvester_plan(xs, xs, method, "same"), resid)
        ok = (big & jnp.all(jnp.isfinite(corr), axis=(-2, -1)))[..., None, None]
        return jnp.where(ok, x + jnp.where(ok, corr, 0), x)

    return lax.cond(jnp.any(big), correct, lambda x: x, x)


def sqrtm_schur(a):
    import jax.scipy.linalg as jsl

    x = jsl.sqrtm(a) if a.ndim == 2 else jnp.vectorize(jsl.sqrtm, signature="(n,n)->(n,n)")(a)
    return x.astype(a.dtype)


def real_or_nan(x, dtype):
    """``x`` in the real ``dtype`` where its imaginary part is round-off, NaN elsewhere (a real
    matrix whose principal root is not real)."""
    real = jnp.finfo(dtype).dtype
    scale = jnp.max(jnp.abs(x), axis=(-2, -1)) + jnp.finfo(real).tiny
    tol = relative_tol(real, x.shape[-1], factor=100)
    ok = jnp.max(jnp.abs(jnp.imag(x)), axis=(-2, -1)) <= tol * scale
    return jnp.where(ok[..., None, None], jnp.real(x), jnp.nan).astype(dtype)


def complex_schur_root(a):
    """Principal square root by JAX's complex Schur method (CPU only), in ``a``'s dtype: real
    input keeps only a real principal root (NaN otherwise)."""
    cdtype = complex_dtype(a.dtype)
    x = sqrtm_schur(a.astype(cdtype))
    return x if jnp.iscomplexobj(a) else real_or_nan(x, a.dtype)


def on_cpu_else_nan(fn, *args):
    """``fn(*args)`` where the program is lowered for CPU (Schur kernels exist there), otherwise
    ``NaN · args[-1]`` (NaN, and linear in the last argument so that it transposes to NaN)."""
    return lax.platform_dependent(*args, cpu=fn, default=lambda *xs: (xs[-1] * jnp.nan).astype(xs[-1].dtype))


@jax.custom_jvp
def no_derivative(a):
    """Zero (one per matrix) whose derivative in ``a`` is NaN: multiplies the Schur fallbacks,
    which have no derivative in ``a`` (JAX's ``schur`` has none), so that second derivatives
    there are NaN, never silently zero."""
    return jnp.zeros(a.shape[:-2], jnp.finfo(a.dtype).dtype)


@no_derivative.defjvp
def _no_derivative_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    return no_derivative(a), jnp.real(jnp.sum(da, axis=(-2, -1))) * jnp.nan


def guarded(fail, fallback, primary, *args):
    """``primary`` where ``fail`` is False, ``fallback(*args)`` elsewhere; the fallback is traced
    but runs only if some matrix failed."""
    alt = lax.cond(jnp.any(fail), fallback, lambda *xs: jnp.zeros_like(primary), *args)
    return jnp.where(fail[..., None, None], alt, primary)


def fallback_root(a):
    return on_cpu_else_nan(complex_schur_root, a)


def _triangular_root(t):
    """Upper-triangular square root R of an upper-triangular T (``R² = T``), column by column
    (Higham 2008, §6.2): ``r_jj = t_jj^{1/2}``, ``(R_{<j,<j} + r_jj I) r_{<j,j} = t_{<j,j}``,
    one triangular solve per column (fixed ``n × n`` shapes, the trailing rows masked)."""
    n = t.shape[-1]
    d = jnp.sqrt(jnp.diagonal(t))
    idx = jnp.arange(n)

    def column(j, r):
        lead = idx < j
        block = jnp.where(lead[:, None] & lead[None, :], r, 0)
        m = block + jnp.diag(jnp.where(lead, d[j], 1).astype(t.dtype))
        col = jax.scipy.linalg.solve_triangular(m, jnp.where(lead, t[:, j], 0), lower=False)
        return r.at[:, j].set(jnp.where(lead, col, r[:, j]))

    return lax.fori_loop(1, n, column, jnp.diag(d))


def principal_root_of_real(a):
    """The principal square root of a REAL matrix in the complex dtype, by complex Schur (CPU):
    ``A = Z T Zᴴ``, ``X = Z T^{1/2} Zᴴ``. The Schur form of a real matrix carries its real
    eigenvalues with imaginary parts of rounding size and either sign; they are set to +0 (a
    backward error of ``O(ε‖A‖)``), so that a negative eigenvalue ``−r`` gets the principal
    ``+i r^{1/2}`` (``jax.scipy.linalg.sqrtm`` can return ``−i r^{1/2}`` there)."""
    import jax.scipy.linalg as jsl

    def one(a):
        n = a.shape[-1]
        t, z = jsl.schur(a.astype(complex_dtype(a.dtype)), output="complex")
        d = jnp.diagonal(t)
        tol = relative_tol(jnp.finfo(a.dtype).dtype, n, factor=10) * norm1(a)
        d = jnp.where(jnp.abs(d.imag) <= tol, lax.complex(d.real, jnp.zeros_like(d.real)), d)
        r = _triangular_root(t.at[jnp.arange(n), jnp.arange(n)].set(d))
        return mm(mm(z, r), jnp.conj(z.T))

    return one(a) if a.ndim == 2 else jnp.vectorize(one, signature="(n,n)->(n,n)")(a)


def fallback_complex_root(a):
    """The principal root of a real ``a`` in the complex dtype (CPU; NaN elsewhere): a real
    matrix with an eigenvalue on the negative real axis gets its complex principal root."""
    # the complex argument fixes the dtype of the NaN returned off CPU
    return on_cpu_else_nan(lambda ac: principal_root_of_real(ac.real), a.astype(complex_dtype(a.dtype)))


def solve_root_sylvester(x, e):
    """``L`` with ``X L + L X = E`` for a fallback root X (CPU only): a Kronecker LU up to
    ``n² = 144``, else JAX's Schur-based solver."""
    n = x.shape[-1]
    method = "kron" if n * n <= KRON_MAX else "schur"
    return sylvester_apply(sylvester_plan(x, x, method), e.astype(x.dtype))


def fallback_root_tangent(a, e, complex_out=False):
    """``L_sqrt(A, E)`` from the Schur root (CPU): ``X L + L X = E``; real input keeps a real L
    only where X is real, unless ``complex_out`` (real A only: then L is the complex derivative
    at the complex principal root of ``principal_root_of_real``, in the complex dtype).
    Its derivative in ``a`` is NaN (no rule through Schur)."""
    cdtype = complex_dtype(a.dtype)

    def on_cpu(a, e):
        a_s = lax.stop_gradient(a)
        x = principal_root_of_real(a_s) if complex_out else sqrtm_schur(a_s.astype(cdtype))
        lx = solve_root_sylvester(x, e.astype(cdtype))
        if not (jnp.iscomplexobj(a) or complex_out):
            real_x = jnp.isfinite(real_or_nan(x, a.dtype))
            lx = jnp.where(real_x, jnp.real(lx), jnp.nan).astype(a.dtype)
        return lx * (1 + no_derivative(a))[..., None, None].astype(lx.dtype)

    # the last argument fixes the dtype of the NaN returned off CPU
    return on_cpu_else_nan(on_cpu, a, e.astype(cdtype) if complex_out else e)


def db_step(y, m, dy, dm, near, first):
    """One product-form DB step on ``(Y, M)`` and its tangent ``(dY, dM)`` with μ frozen.

    Returns ``(Y', M', dY', dM', ‖M' − I‖₁)``. Primal arithmetic is that of ``sqrtm_db``.

    Derivation (μ a constant, ``d(M⁻¹) = −K``, ``K = M⁻¹ dM M⁻¹``, ``P = I + μ⁻²M⁻¹``):
    ``M' = (I + (μ²M + μ⁻²M⁻¹)/2)/2 ⇒ dM' = (μ² dM − μ⁻² K)/4``;
    ``Y' = μ Y P / 2 ⇒ dY' = μ/2 (dY P − μ⁻² Y K)``.
    On the first step of a root (``first``: ``Y = M``, ``dY = dM``) ``Y K = dM M⁻¹`` cancels the
    ``μ⁻² dY M⁻¹`` term exactly, so ``dY' = μ dY / 2`` is used: evaluated in floating point the
    cancellation would cost ``κ(M)·ε`` (``M = A`` may be ill-conditioned; the later iterates
    are much better conditioned).
    Freezing μ is exact for the limit: for any fixed positive scalings the iteration is Newton's
    scaled iteration ``Y ← (μY + μ⁻¹ A Y⁻¹)/2`` in disguise (``Z = A⁻¹Y``), whose limit is
    ``A^{1/2}`` for every nearby ``A``, so differentiating the frozen-μ iterates converges to the
    Fréchet derivative (and so do their higher derivatives).
    """
    n = m.shape[-1]
    eye = jnp.broadcast_to(eye_like(m), m.shape)
    lu, _, perm = lu_pivoted(m)
    m_inv = lu_pivoted_solve(lu, perm, eye)
    logdet = jnp.sum(jnp.log(jnp.abs(diag(lax.stop_gradient(lu)))), axis=-1)
    mu = jnp.exp(-logdet / (2 * n))
    mu = jnp.where(near | ~jnp.isfinite(mu), 1.0, mu).astype(m.dtype)[..., None, None]
    mu = lax.stop_gradient(mu)
    m_new = (eye + (mu**2 * m + m_inv / mu**2) / 2) / 2
    p = eye + m_inv / mu**2
    y_new = mu * mm(y, p) / 2
    k = mm(mm(m_inv, dm), m_inv)
    dm_new = (mu**2 * dm - k / mu**2) / 4
    dy_new = mu * jnp.where(first[..., None, None], dy, mm(dy, p) - mm(y, k) / mu**2) / 2
    delta = lax.stop_gradient(jnp.max(jnp.sum(jnp.abs(m_new - eye), -2), -1))
    return y_new, m_new, dy_new, dm_new, delta


def db_finish(y, dy, dm):
    """Tangent action of the remaining DB steps once ``M = I`` (then ``μ = 1``): one step gives
    ``dM' = (dM − I dM I)/4 = 0`` and ``dY' = (2 dY − Y dM)/2``, after which nothing changes, so
    ``dY∞ = dY − Y dM / 2``."""
    return dy - mm(y, dm) / 2


def sqrtm_db_jvp(a, da):
    """``(sqrtm(A), L(A, dA))`` by differentiating the DB iterates (fixed-trip scan, each step
    skipped by ``lax.cond`` once every matrix has converged). Same stopping rule and NaN rule as
    ``sqrtm_db``."""
    n = a.shape[-1]
    real = jnp.finfo(a.dtype).dtype
    tol = relative_tol(real, n, factor=10)
    batch = a.shape[:-2]

    def step(c, _):
        def run(c):
            y, m, dy, dm, active, near, prev = c
            y1, m1, dy1, dm1, delta = db_step(y, m, dy, dm, near, jnp.isinf(prev))
            act = active[..., None, None]
            done = (delta <= tol) | (prev <= 1e-7)
            return (
                jnp.where(act, y1, y),
                jnp.where(act, m1, m),
                jnp.where(act, dy1, dy),
                jnp.where(act, dm1, dm),
                active & ~done,
                near | (delta < 1e-2),
                jnp.where(active, delta, prev),
            )

        return lax.cond(jnp.any(c[4]), run, lambda c: c, c), None

    init = (a, a, da, da, jnp.ones(batch, bool), jnp.zeros(batch, bool), jnp.full(batch, jnp.inf, real))
    (y, _, dy, dm, active, _, _), _ = lax.scan(step, init, None, length=DB_MAX_ITERS)
    ok = lax.stop_gradient(~active & jnp.all(jnp.isfinite(y), axis=(-2, -1)))
    okm = ok[..., None, None]
    # where the iteration failed, the Schur root's derivative (CPU; NaN elsewhere): a select,
    # with the failed matrices' DB tangent zeroed, so that the transposed map carries no NaN
    # into the matrices that converged
    dl = jnp.where(okm, db_finish(jnp.where(okm, y, 0), dy, dm), 0)
    dl = guarded(~ok, fallback_root_tangent, dl, a, da)
    return jnp.where(okm, y, jnp.nan), dl


__all__ = [
    "DB_MAX_ITERS",
    "complex_schur_root",
    "db_finish",
    "db_step",
    "fallback_complex_root",
    "fallback_root",
    "fallback_root_tangent",
    "guarded",
    "newton_refine_root",
    "no_derivative",
    "on_cpu_else_nan",
    "principal_root_of_real",
    "real_or_nan",
    "solve_root_sylvester",
    "sqrtm_db",
    "sqrtm_db_jvp",
    "sqrtm_schur",
]
