"""Principal matrix square root without Schur (GPU-capable), with a derivative from its iterates."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._kernels.primary_frechet import primary_frechet_primitive
from .._kernels.sylvester import KRON_MAX, METHODS, choose_method, sylvester_apply, sylvester_plan
from .._linalg import _lu, _lu_solve
from .._rules import as_inexact, check_square, diag, eye_like, mm
from ._checks import check_dtype, check_option, complex_dtype, is_empty, norm1

DB_MAX_ITERS = 60


def _sqrtm_db(a):
    """Product-form Denman–Beavers iteration with determinant scaling (Higham 2008, eq. 6.29):

    ``μ = |det M|^{-1/(2n)}``, ``M ← (I + (μ²M + μ⁻²M⁻¹)/2)/2``, ``Y ← μY(I + μ⁻²M⁻¹)/2``,
    from ``M = Y = A``; ``Y → A^{1/2}``, ``M → I``. Per-matrix stopping; NaN where it does not
    converge (real input with eigenvalues on the closed negative real axis, singular input).
    """
    n = a.shape[-1]
    real = jnp.finfo(a.dtype).dtype
    eye = jnp.broadcast_to(eye_like(a), a.shape)
    tol = 10 * n * jnp.finfo(real).eps
    batch = a.shape[:-2]

    def cond(c):
        k, _, _, active, _, _ = c
        return (k < DB_MAX_ITERS) & jnp.any(active)

    def body(c):
        k, y, m, active, near, prev = c
        lu, _, perm = _lu(m)
        m_inv = _lu_solve(lu, perm, jnp.broadcast_to(eye, m.shape))
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


def _refine(a, x):
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
    big = norm1(resid) > 4 * n * jnp.finfo(real).eps * norm1(a)

    def correct(x):
        corr = sylvester_apply(sylvester_plan(xs, xs, method, "same"), resid)
        ok = (big & jnp.all(jnp.isfinite(corr), axis=(-2, -1)))[..., None, None]
        return jnp.where(ok, x + jnp.where(ok, corr, 0), x)

    return lax.cond(jnp.any(big), correct, lambda x: x, x)


def _sqrtm_schur(a):
    import jax.scipy.linalg as jsl

    x = jsl.sqrtm(a) if a.ndim == 2 else jnp.vectorize(jsl.sqrtm, signature="(n,n)->(n,n)")(a)
    return x.astype(a.dtype)


def _real_or_nan(x, dtype):
    """``x`` in the real ``dtype`` where its imaginary part is round-off, NaN elsewhere (a real
    matrix whose principal root is not real)."""
    real = jnp.finfo(dtype).dtype
    scale = jnp.max(jnp.abs(x), axis=(-2, -1)) + jnp.finfo(real).tiny
    tol = 100 * x.shape[-1] * jnp.finfo(real).eps
    ok = jnp.max(jnp.abs(jnp.imag(x)), axis=(-2, -1)) <= tol * scale
    return jnp.where(ok[..., None, None], jnp.real(x), jnp.nan).astype(dtype)


def _complex_schur_root(a):
    """Principal square root by JAX's complex Schur method (CPU only), in ``a``'s dtype: real
    input keeps only a real principal root (NaN otherwise)."""
    cdtype = complex_dtype(a.dtype)
    x = _sqrtm_schur(a.astype(cdtype))
    return x if jnp.iscomplexobj(a) else _real_or_nan(x, a.dtype)


def on_cpu_else_nan(fn, *args):
    """``fn(*args)`` where the program is lowered for CPU (Schur kernels exist there), otherwise
    ``NaN · args[-1]`` (NaN, and linear in the last argument so that it transposes to NaN)."""
    return lax.platform_dependent(*args, cpu=fn, default=lambda *xs: (xs[-1] * jnp.nan).astype(xs[-1].dtype))


@jax.custom_jvp
def _no_derivative(a):
    """Zero (one per matrix) whose derivative in ``a`` is NaN: multiplies the Schur fallbacks,
    which have no derivative in ``a`` (JAX's ``schur`` has none), so that second derivatives
    there are NaN, never silently zero."""
    return jnp.zeros(a.shape[:-2], jnp.finfo(a.dtype).dtype)


@_no_derivative.defjvp
def _no_derivative_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    return _no_derivative(a), jnp.real(jnp.sum(da, axis=(-2, -1))) * jnp.nan


def guarded(fail, fallback, primary, *args):
    """``primary`` where ``fail`` is False, ``fallback(*args)`` elsewhere; the fallback is traced
    but runs only if some matrix failed."""
    alt = lax.cond(jnp.any(fail), fallback, lambda *xs: jnp.zeros_like(primary), *args)
    return jnp.where(fail[..., None, None], alt, primary)


def _fallback_root(a):
    return on_cpu_else_nan(_complex_schur_root, a)


def solve_root_sylvester(x, e):
    """``L`` with ``X L + L X = E`` for a fallback root X (CPU only): a Kronecker LU up to
    ``n² = 144``, else JAX's Schur-based solver."""
    n = x.shape[-1]
    method = "kron" if n * n <= KRON_MAX else "schur"
    return sylvester_apply(sylvester_plan(x, x, method), e.astype(x.dtype))


def _fallback_root_tangent(a, e):
    """``L_sqrt(A, E)`` from the Schur root (CPU): ``X L + L X = E``; real input keeps a real L
    only where X is real. Its derivative in ``a`` is NaN (no rule through Schur)."""

    def on_cpu(a, e):
        a_s = lax.stop_gradient(a)
        cdtype = complex_dtype(a.dtype)
        x = _sqrtm_schur(a_s.astype(cdtype))
        lx = solve_root_sylvester(x, e.astype(cdtype))
        if not jnp.iscomplexobj(a):
            real_x = jnp.isfinite(_real_or_nan(x, a.dtype))
            lx = jnp.where(real_x, jnp.real(lx), jnp.nan).astype(a.dtype)
        return lx * (1 + _no_derivative(a))[..., None, None].astype(lx.dtype)

    return on_cpu_else_nan(on_cpu, a, e)


def _db_step(y, m, dy, dm, near, first):
    """One product-form DB step on ``(Y, M)`` and its tangent ``(dY, dM)`` with μ frozen.

    Returns ``(Y', M', dY', dM', ‖M' − I‖₁)``. Primal arithmetic is that of :func:`_sqrtm_db`.

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
    lu, _, perm = _lu(m)
    m_inv = _lu_solve(lu, perm, eye)
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


def _db_finish(y, dy, dm):
    """Tangent action of the remaining DB steps once ``M = I`` (then ``μ = 1``): one step gives
    ``dM' = (dM − I dM I)/4 = 0`` and ``dY' = (2 dY − Y dM)/2``, after which nothing changes, so
    ``dY∞ = dY − Y dM / 2``."""
    return dy - mm(y, dm) / 2


def _sqrtm_db_jvp(a, da):
    """``(sqrtm(A), L(A, dA))`` by differentiating the DB iterates (fixed-trip scan, each step
    skipped by ``lax.cond`` once every matrix has converged). Same stopping rule and NaN rule as
    :func:`_sqrtm_db`."""
    n = a.shape[-1]
    real = jnp.finfo(a.dtype).dtype
    tol = 10 * n * jnp.finfo(real).eps
    batch = a.shape[:-2]

    def step(c, _):
        def run(c):
            y, m, dy, dm, active, near, prev = c
            y1, m1, dy1, dm1, delta = _db_step(y, m, dy, dm, near, jnp.isinf(prev))
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
    dl = jnp.where(okm, _db_finish(jnp.where(okm, y, 0), dy, dm), 0)
    dl = guarded(~ok, _fallback_root_tangent, dl, a, da)
    return jnp.where(okm, y, jnp.nan), dl


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _sqrtm(a, method, sylvester):
    if method == "schur":
        return _sqrtm_schur(a)
    y = _refine(a, _sqrtm_db(a))
    # eigenvalues on the closed negative real axis (complex input), or singular input: the
    # principal root by the complex Schur method where it exists (CPU)
    return guarded(~jnp.all(jnp.isfinite(y), axis=(-2, -1)), _fallback_root, y, a)


# L_sqrt(A, ·) from the DB iterates, as a primitive transposing to L_sqrt(Aᵀ, ·): reverse mode
# reruns the forward-mode derivative at Aᵀ and stores no per-step residuals.
_sqrtm_frechet_p = primary_frechet_primitive("matcalc_sqrtm_frechet", lambda a, e: _sqrtm_db_jvp(a, e)[1])


@_sqrtm.defjvp
def _sqrtm_jvp(method, sylvester, primals, tangents):
    (a,), (da,) = primals, tangents
    if method == "db" and sylvester in ("auto", "iterate"):
        return _sqrtm(a, method, sylvester), _sqrtm_frechet_p.bind(a, da)
    x = _sqrtm(a, method, sylvester)
    # X² = A ⇒ X dX + dX X = dA: a Sylvester equation in dX whose coefficients have their
    # spectrum in the open right half-plane (principal root), solved without Schur.
    if jnp.iscomplexobj(x) and not jnp.iscomplexobj(da):
        da = da.astype(x.dtype)
    plan = sylvester_plan(x, x, choose_method(x.shape[-1], x.shape[-1], sylvester), "same")
    return x, sylvester_apply(plan, da)


_sqrtm_jit = jax.jit(_sqrtm, static_argnums=(1, 2))


def sqrtm(A, blocksize: int = 1, *, method: str = "db", sylvester: str = "auto"):
    """Principal matrix square root; drop-in for ``jax.scipy.linalg.sqrtm`` (GPU-capable).

    Default ``method="db"``: product-form Denman–Beavers iteration with determinant scaling
    (Higham 2008, §6.3), then one Newton correction ``X + L``, ``X L + L X = A − X²`` (a
    Kronecker LU for ``n ≤ 12``, else the sign-function Sylvester solver), which brings the
    iteration's ``κ(A)^{1/2}``-amplified error to the Schur method's accuracy; LU and products
    only, so it runs on GPU. Where the iteration fails (complex input with eigenvalues on the
    closed negative real axis, e.g. ``[[-4+0j]] → [[2j]]``, or singular input, e.g.
    ``diag(0, 4, 0) → diag(0, 2, 0)``), the principal root is computed by JAX's complex Schur
    method on CPU (NaN on other platforms). Real input keeps its real dtype (JAX returns
    complex): where its principal root is not real (an eigenvalue on the negative real axis)
    the result is NaN; pass complex input to get the complex principal root. ``method="schur"`` uses JAX's
    CPU-only Schur algorithm for the value (complex output, as JAX).

    Derivative:
      ``L(A, E)`` solves ``X L + L X = E`` (Higham 2008, §6.1). Default (``method="db"``):
      the DB iterates are differentiated with the scalings μ frozen (the limit does not depend
      on μ): with ``K = M⁻¹ dM M⁻¹``, ``dM' = (μ² dM − μ⁻² K)/4``, ``dY' = μ/2 (dY (I + μ⁻²M⁻¹)
      − μ⁻² Y K)`` from ``dY = dM = E``, and at convergence (``M = I``) the remaining steps give
      ``L = dY − Y dM/2`` (Al-Mohy, Higham & Relton 2013 differentiate the algorithm
      likewise). Reverse mode uses ``⟨W, L(A, E)⟩ = ⟨L(Aᵀ, W), E⟩`` (primary functions): the
      VJP is the same forward-mode derivative at ``Aᵀ``, no residuals stored. Accuracy ~1e-15
      relative on well-conditioned A; on ill-conditioned A below the Sylvester solve (measured
      2e-9 vs 8e-11 at κ(A) = 1e8, 2e-5 vs 5e-6 at κ(A) = 1e12).
      ``sylvester="kron"|"sign"`` (and ``method="schur"``, with ``"auto"``) solve the Sylvester
      equation instead, without Schur: by the matrix sign function of ``[[X, −E], [0, −X]]``
      or one ``n²×n²`` LU; the plan depends on X only, so reverse mode reuses it.
      Where the DB iteration fails (see above) the derivative solves ``X L + L X = E`` at the
      Schur root (Kronecker LU for ``n ≤ 12``, else JAX's Schur solver; CPU, NaN elsewhere);
      second derivatives there are NaN (JAX's Schur has no derivative). Domain: the principal
      root exists; the derivative needs ``λ_i^{1/2} + λ_j^{1/2} ≠ 0``, so it is undefined (inf/NaN)
      at singular A. Real input whose principal root is not real gives NaN values and
      derivatives. Reference: Higham, *Functions of Matrices* (2008), ch. 6.

    Args:
      A: ``(..., n, n)``.
      blocksize: accepted for SciPy compatibility (ignored).
      method: ``"db"`` (default) or ``"schur"``.
      sylvester: the derivative's solver: ``"auto"`` (the differentiated DB iterates for
        ``method="db"``; for ``"schur"`` a Kronecker LU for ``n ≤ 12``, else the sign
        function), ``"iterate"`` (the former, ``method="db"`` only), ``"kron"`` or ``"sign"``.

    Returns:
      ``(..., n, n)`` principal square root.
    """
    del blocksize
    check_option("sqrtm", "method", method, ("db", "schur"))
    check_option("sqrtm", "sylvester", sylvester, ("iterate", *METHODS))
    if sylvester == "iterate" and method != "db":
        raise ValueError('sqrtm: sylvester="iterate" differentiates the DB iterates; it needs method="db"')
    a = as_inexact(A, "A")
    check_dtype("sqrtm", "A", a)
    check_square(a, "sqrtm", "A")
    if method == "schur":
        if not jnp.iscomplexobj(a):
            a = a.astype(jnp.complex64 if a.dtype == jnp.float32 else jnp.complex128)
    if is_empty(a):
        return jnp.zeros(a.shape, a.dtype)
    return _sqrtm_jit(a, method, sylvester)
