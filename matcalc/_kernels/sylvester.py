"""Sylvester solvers ``A X + X B = C`` without Schur (GPU-capable), as a plan and a linear apply.

Two methods, both made of LU factorizations and matrix products only:

* ``"kron"``: the ``nm × nm`` system ``(A ⊗ I + I ⊗ Bᵀ) vec_r X = vec_r C`` (row-major vec) solved
  on one LU. Exact for any uniquely solvable equation; ``O((nm)³)``, so for small sizes.
* ``"sign"``: the matrix sign function of ``H = [[A, −C], [0, −B]]``. If ``A = T diag(A, −B) T⁻¹``
  with ``T = [[I, X], [0, I]]`` (which holds exactly when ``AX + XB = C``), then
  ``sign(H)₁₂ = X sign(−B) − sign(A) X``; with ``sign(A) = s_A I`` and ``sign(−B) = s_B I`` this is
  ``(s_B − s_A) X`` (Roberts 1980; Higham 2008, §2.4). Requires the spectra of ``A`` and ``−B`` on
  opposite sides of the imaginary axis (e.g. both ``A`` and ``B`` stable, or both anti-stable);
  otherwise the apply returns NaN. Newton's iteration on the block upper-triangular ``H`` with
  determinant scaling keeps the blocks separate: ``P ← (μP + P⁻¹/μ)/2``, ``R`` likewise, and
  ``Q ← (μQ − P⁻¹ Q R⁻¹/μ)/2``, linear in ``Q``.

The plan (LU factors, or the stacked inverses ``P_k⁻¹, R_k⁻¹`` and scalings) depends only on
``A, B``; ``apply(plan, C)`` is linear in ``C`` and built from fixed-trip loops, so JAX transposes
it (reverse mode through a Sylvester solve reuses the plan) and differentiates the plan (second
order).

The default ``"auto"`` uses ``"kron"`` for ``n·m ≤ 144``; above, the sign method guarded by a
fallback: matrices whose spectra turn out not to be separated (the sign iteration does not reach
``±I``) are solved by JAX's Schur-based Bartels–Stewart solver on CPU and, on other platforms,
by ``"kron"`` when ``n·m ≤ 256`` (NaN above). The fallback runs only when some matrix of the
batch needs it (``lax.cond``), so on CPU any uniquely solvable equation is solved.
``"schur"`` and ``"eigen"`` are JAX's own solvers (``jax.scipy.linalg.solve_sylvester``,
CPU-only Schur or eigendecomposition), wrapped as a linear map whose transpose is the same
solve with ``Aᵀ, Bᵀ``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax

from .._core import _H, _T, check_option, diag, eye_like, mm, relative_tol
from .lu import lu_pivoted, lu_pivoted_solve
from .primary_frechet import primary_frechet_primitive

SIGN_MAX_ITERS = 40
KRON_MAX = 144  # default "auto": kron when n·m ≤ KRON_MAX
FALLBACK_KRON_MAX = 256  # "auto" above KRON_MAX, off CPU: kron fallback for unseparated spectra
METHODS = ("auto", "kron", "sign", "schur", "eigen")
Method = Literal["auto", "kron", "sign", "schur", "eigen"]
# what the sign method may assume about B: "same" (B = A), "adjoint" (B = Aᴴ), "neg" (B = −A,
# the Fréchet derivative of the sign function itself: H = [[A, E], [0, A]]), None (nothing)
Structure = Literal["same", "adjoint", "neg"]
STRUCTURES = (None, "same", "adjoint", "neg")


def _transpose_of(apply, w):
    """The transpose of the linear map ``apply`` (in JAX's pairing ``Re Σ W_ij X_ij``) at ``w``."""
    return jax.linear_transpose(apply, w)(w)[0]


class KronPlan(NamedTuple):
    """One LU of the Kronecker form ``K = A ⊗ I + I ⊗ Bᵀ`` (row-major vec)."""

    lu: Array
    perm: Array

    def apply(self, c):
        """``X`` with ``A X + X B = C``: ``vec_r X = K⁻¹ vec_r C``."""
        shape = c.shape
        batch = self.lu.shape[:-2]
        c = jnp.broadcast_to(c, (*batch, *shape[-2:]))
        x = lu_pivoted_solve(self.lu, self.perm, c.reshape(*batch, -1, 1))
        return x.reshape(*batch, *shape[-2:])

    def transpose(self, w):
        """``Y`` with ``Aᵀ Y + Y Bᵀ = W``: ``vec_r Y = K⁻ᵀ vec_r W`` on the same LU."""
        batch = self.lu.shape[:-2]
        w = jnp.broadcast_to(w, (*batch, *w.shape[-2:]))
        y = lu_pivoted_solve(self.lu, self.perm, w.reshape(*batch, -1, 1), trans=True)
        return y.reshape(w.shape)


class JaxSolverPlan(NamedTuple):
    """JAX's ``solve_sylvester`` (``"schur"``/``"eigen"``) as a primitive on ``(blockdiag(A, B), C)``."""

    solver: Any
    ab: Array

    def apply(self, c):
        batch = self.ab.shape[:-2]
        return self.solver.bind(self.ab, jnp.broadcast_to(c, (*batch, *c.shape[-2:])))

    def transpose(self, w):
        """The same solver at ``blockdiag(Aᵀ, Bᵀ)`` (the pairing is bilinear)."""
        return JaxSolverPlan(self.solver, _T(self.ab)).apply(w)


class SignPlan(NamedTuple):
    """Newton's iteration for ``sign([[A, −C], [0, −B]])``: the inverses ``P_k⁻¹``, ``R_k⁻¹`` of the
    diagonal blocks, the scalings ``μ_k`` and activity masks (stacked over the iteration axis in
    front of the batch axes), the divisor ``s_B − s_A`` (NaN where the spectra are not separated)
    and the final ``(1,1)`` block ``P_∞ = sign(A)``."""

    p_invs: Array
    r_invs: Array
    mus: Array
    actives: Array
    denom: Array
    p_final: Array

    def apply(self, c):
        """``X`` with ``A X + X B = C`` (for ``structure="neg"``: the raw ``sign(H)₁₂`` of
        ``H = [[A, −C], [A, 0]]``), by the recorded iteration on ``Q₀ = −C``; linear in ``C``."""

        def step(q, xs):
            p_inv, r_inv, mu, active = xs

            def do(q):
                muc = mu.astype(q.dtype)[..., None, None]
                q_new = (muc * q - mm(mm(p_inv, q), r_inv) / muc) / 2
                f = active.astype(q.dtype)[..., None, None]
                return q + f * (q_new - q)

            return lax.cond(jnp.any(active), do, lambda q: q, q), None

        q, _ = lax.scan(step, -c, (self.p_invs, self.r_invs, self.mus, self.actives))
        return q / self.denom.astype(q.dtype)[..., None, None]

    def transpose(self, w):
        return _transpose_of(self.apply, w)

    def sign_of_a(self, dtype):
        """``sign(A)`` for ``structure="neg"`` (where ``denom`` is 1, or NaN where the iteration did
        not converge)."""
        return self.p_final * self.denom[..., None, None].astype(dtype)


class GuardedPlan(NamedTuple):
    """The sign plan with its failures made harmless, and the fallback (JAX's Schur solver on
    CPU, else the Kronecker LU or NaN) for the matrices in ``fail``."""

    sign: SignPlan
    ab: Array
    fail: Array

    def apply(self, c):
        x = self.sign.apply(c)
        alt = lax.cond(
            jnp.any(self.fail),
            lambda c: _fallback_apply(self.ab, c, x.shape, x.dtype),
            lambda c: jnp.zeros(x.shape, x.dtype),
            c,
        )
        return jnp.where(self.fail[..., None, None], alt, x)

    def transpose(self, w):
        return _transpose_of(self.apply, w)


SylvesterPlan = KronPlan | JaxSolverPlan | SignPlan | GuardedPlan


def choose_method(n: int, m: int, method: str = "auto") -> str:
    """Resolve ``method`` for an ``n×n``/``m×m`` pair: ``"auto"`` becomes ``"kron"`` or
    ``"guarded"`` (sign with fallback)."""
    if method not in METHODS:
        raise ValueError(
            f"unknown Sylvester method {method!r}; expected one of {', '.join(map(repr, METHODS))}"
        )
    if method == "auto":
        return "kron" if n * m <= KRON_MAX else "guarded"
    return method


def _pack(a, b):
    """``blockdiag(A, B)`` (batch axes broadcast): one array argument for a linear primitive whose
    transpose is the same map at ``blockdiag(Aᵀ, Bᵀ)``."""
    n, m = a.shape[-1], b.shape[-1]
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    dtype = jnp.result_type(a.dtype, b.dtype)
    top = jnp.concatenate([jnp.broadcast_to(a, (*batch, n, n)), jnp.zeros((*batch, n, m), dtype)], -1)
    bot = jnp.concatenate([jnp.zeros((*batch, m, n), dtype), jnp.broadcast_to(b, (*batch, m, m))], -1)
    return jnp.concatenate([top, bot], -2)


@functools.cache
def _kron_solver():
    """``C ↦ X`` by one LU of the Kronecker form, as a primitive on ``(blockdiag(A, B), C)`` that
    transposes to itself at ``blockdiag(Aᵀ, Bᵀ)`` (see ``_jax_solver``)."""

    def solve(ab, c):
        n = c.shape[-2]
        lu, _, perm = lu_pivoted(_kron_matrix(ab[..., :n, :n], ab[..., n:, n:]))
        return KronPlan(lu, perm).apply(c)

    return primary_frechet_primitive("matcalc_sylvester_kron", solve)


@functools.cache
def _jax_solver(method: str, tol: float):
    """``C ↦ X`` with ``A X + X B = C`` by ``jax.scipy.linalg.solve_sylvester`` as a primitive on
    ``(blockdiag(A, B), C)``, linear in C. Its transpose ``W ↦ Y``, ``Aᵀ Y + Y Bᵀ = W``, is the
    same primitive at the transposed block diagonal (the pairing is bilinear), so
    ``primary_frechet_primitive`` provides it."""
    import jax.scipy.linalg as jsl

    def solve(ab, c):
        n = c.shape[-2]
        a, b = ab[..., :n, :n], ab[..., n:, n:]
        c = c.astype(ab.dtype) if jnp.iscomplexobj(ab) else c
        x = jsl.solve_sylvester(a, b, c, method=method, tol=tol)
        return x.astype(c.dtype)

    return primary_frechet_primitive(f"matcalc_sylvester_{method}_{tol!r}", solve)


def _kron_matrix(a, b):
    n, m = a.shape[-1], b.shape[-1]
    eye_n = jnp.eye(n, dtype=a.dtype)
    eye_m = jnp.eye(m, dtype=a.dtype)
    k1 = jnp.einsum("...ij,kl->...ikjl", a, eye_m)
    k2 = jnp.einsum("ij,...lk->...ikjl", eye_n, b)
    return (k1 + k2).reshape(*a.shape[:-2], n * m, n * m)


def _logabsdet(lu):
    return jnp.sum(jnp.log(jnp.abs(diag(lu))), axis=-1)


def _inv_and_logdet(x):
    lu, _, perm = lu_pivoted(x)
    inv = lu_pivoted_solve(lu, perm, jnp.broadcast_to(eye_like(x), x.shape))
    return inv, _logabsdet(lu)


def sylvester_plan(a, b, method: str, structure: Structure | None = None, tol: float = 0.0) -> SylvesterPlan:
    """Precompute everything that depends on ``A, B`` only (``method`` as resolved by
    ``choose_method``; ``tol`` is passed to JAX's ``"schur"``/``"eigen"`` solvers).

    ``structure`` tells the sign method what ``B`` is, so that it inverts one block per step
    instead of two: ``None`` (general), ``"same"`` (``B = A``), ``"adjoint"`` (``B = Aᴴ``) or
    ``"neg"`` (``B = −A``; then ``apply`` returns the raw ``(1,2)`` block of
    ``sign([[A, −C], [0, A]])``, the Fréchet derivative of the sign function at ``A`` in direction
    ``−C``, and only convergence is required, not separated spectra).
    """
    check_option("sylvester_plan", "structure", structure, STRUCTURES)
    if method == "kron":
        lu, _, perm = lu_pivoted(_kron_matrix(a, b))
        return KronPlan(lu, perm)
    if method in ("schur", "eigen"):
        return JaxSolverPlan(_jax_solver(method, float(tol)), _pack(a, b))
    if method == "guarded":
        return _guarded_plan(a, b, structure)
    return SignPlan(*_sign_plan(a, b, structure))


def _guarded_plan(a, b, structure):
    """The sign plan, with its failures (unseparated spectra, no convergence) made harmless (their
    inverses zeroed, scalings and divisor 1) and a fallback plan built only if some matrix failed."""
    p_invs, r_invs, mus, actives, denom, p_fin = _sign_plan(a, b, structure)
    fail = ~jnp.isfinite(denom)
    # the plan's arrays are stacked over the iteration axis in front of the batch axes
    f4 = fail[None, ..., None, None]
    p_invs = jnp.where(f4, 0, p_invs)
    r_invs = jnp.where(f4, 0, r_invs)
    mus = jnp.where(fail[None], 1, mus)
    actives = actives & ~fail[None]
    denom = jnp.where(fail, 1, denom)
    sign = SignPlan(p_invs, r_invs, mus, actives, denom, p_fin)
    # the fallbacks are primitives on blockdiag(A, B) that factor inside, so nothing is stored
    # for reverse mode; XLA still reserves their buffers, hence the Kronecker bound
    return GuardedPlan(sign, _pack(a, b), fail)


def _fallback_apply(ab, c, shape, dtype):
    """Solve by JAX's Schur method where lowered for CPU; elsewhere by the Kronecker LU for
    ``n·m ≤ FALLBACK_KRON_MAX``, else NaN (linear in c, so that its transpose is NaN too)."""
    n, m = c.shape[-2], ab.shape[-1] - c.shape[-2]
    c = jnp.broadcast_to(c, shape).astype(dtype)
    if n * m <= FALLBACK_KRON_MAX:
        default = lambda ab, c: _kron_solver().bind(ab, c)  # noqa: E731
    else:
        default = lambda ab, c: c * jnp.nan  # noqa: E731
    return lax.platform_dependent(
        ab, c, cpu=lambda ab, c: _jax_solver("schur", 0.0).bind(ab, c), default=default
    )


def _sign_plan(a, b, structure):
    n, m = a.shape[-1], b.shape[-1]
    real = jnp.finfo(a.dtype).dtype
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    tol = relative_tol(real, max(n, m), factor=10)

    def r_of(p, p_inv):
        # R_k when B = A: R = −P; when B = Aᴴ: R = −Pᴴ; when B = −A (Fréchet derivative of the
        # sign function itself, H = [[A, E], [0, A]]): R = P
        if structure == "same":
            return -p, (None if p_inv is None else -p_inv)
        if structure == "neg":
            return p, p_inv
        return -_H(p), (None if p_inv is None else -_H(p_inv))

    def step(carry, _):
        p, r, active, near = carry

        def do(args):
            p, r, active, near = args
            p_inv, lp = _inv_and_logdet(p)
            if structure is None:
                r_inv, lr = _inv_and_logdet(r)
            else:
                _, r_inv = r_of(p, p_inv)
                lr = lp
            # determinant scaling of H = [[P, Q], [0, R]], switched off near convergence
            mu = jnp.exp(-(lp + lr) / (n + m))
            mu = jnp.where(near | ~jnp.isfinite(mu), 1.0, mu).astype(real)
            mu = jnp.where(active, mu, 1.0)
            muc = mu.astype(a.dtype)[..., None, None]
            p_new = (muc * p + p_inv / muc) / 2
            r_new = (muc * r + r_inv / muc) / 2 if structure is None else r_of(p_new, None)[0]
            dp = jnp.max(jnp.sum(jnp.abs(p_new - p), -2), -1) / jnp.max(jnp.sum(jnp.abs(p_new), -2), -1)
            dr = jnp.max(jnp.sum(jnp.abs(r_new - r), -2), -1) / jnp.max(jnp.sum(jnp.abs(r_new), -2), -1)
            delta = jnp.maximum(dp, dr)
            act = active[..., None, None]
            p2 = jnp.where(act, p_new, p)
            r2 = jnp.where(act, r_new, r)
            # stop once the update is at round-off level (one quadratic step after "near")
            still = active & ~((near & (delta <= jnp.sqrt(tol))) | (delta <= tol))
            near2 = near | (delta < 1e-2)
            out = (p_inv, r_inv, mu, active)
            return (p2, r2, still, near2), out

        def skip(args):
            p, r, active, near = args
            out = (jnp.zeros_like(p), jnp.zeros_like(r), jnp.ones(active.shape, real), active)
            return args, out

        return lax.cond(jnp.any(active), do, skip, carry)

    p0 = jnp.broadcast_to(a, (*batch, n, n))
    r0 = -jnp.broadcast_to(b, (*batch, m, m))
    active0 = jnp.ones(batch, bool)
    carry, (p_invs, r_invs, mus, actives) = lax.scan(
        step, (p0, r0, active0, jnp.zeros(batch, bool)), None, length=SIGN_MAX_ITERS
    )
    p_fin, r_fin, still, _ = carry
    # sign(A) = s_A I, sign(−B) = s_B I: read them off, and mark failures (not converged, a
    # sign that is not ±I, or s_A = s_B) for NaN.
    s_a = jnp.real(diag(p_fin).mean(-1))
    s_b = jnp.real(diag(r_fin).mean(-1))
    eye_p = jnp.broadcast_to(eye_like(p_fin), p_fin.shape)
    eye_r = jnp.broadcast_to(eye_like(r_fin), r_fin.shape)
    err_a = jnp.max(jnp.abs(p_fin - s_a[..., None, None].astype(a.dtype) * eye_p), axis=(-2, -1))
    err_b = jnp.max(jnp.abs(r_fin - s_b[..., None, None].astype(a.dtype) * eye_r), axis=(-2, -1))
    ok = (~still) & (err_a < 1e-6) & (err_b < 1e-6) & (jnp.abs(s_b - s_a) > 1.5)
    denom = jnp.where(ok, jnp.round(s_b - s_a), jnp.nan)
    if structure == "neg":
        # raw sign(H)₁₂ wanted; only convergence is required
        denom = jnp.where(still, jnp.nan, 1.0)
    return p_invs, r_invs, mus, actives, denom, p_fin


def sylvester_apply(plan: SylvesterPlan, c):
    """``X`` with ``A X + X B = C`` from a plan; linear in ``c`` (``plan.apply(c)``)."""
    return plan.apply(c)


def solve_sylvester_fixed(a, b, c, method: Method = "auto", structure: Structure | None = None):
    """Convenience: plan and apply in one call (no custom rule; differentiable by autodiff)."""
    method = choose_method(a.shape[-1], b.shape[-1], method)
    return sylvester_apply(sylvester_plan(a, b, method, structure), c)


__all__ = [
    "GuardedPlan",
    "JaxSolverPlan",
    "KronPlan",
    "Method",
    "SignPlan",
    "Structure",
    "SylvesterPlan",
    "choose_method",
    "solve_sylvester_fixed",
    "sylvester_apply",
    "sylvester_plan",
]
