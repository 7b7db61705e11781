"""Harness cases for the matrix-free rules of ``matcalc.krylov``.

``eigsh`` and ``svds`` are ``jax.custom_vjp`` rules (``check_jvp=False``, no second order), checked
through gauge-invariant outputs: the eigenvalues and the projector ``V Vᴴ`` on the computed
eigenvectors; the singular values and ``U Vᴴ``. The stochastic estimators ``logdet``, ``trace`` and
``trace_funm`` run on a diagonal sparse operator (a BCOO matrix storing only its diagonal, so the
tangent space is the diagonal): there, with Rademacher probes (``z_i² = 1``) and at least as many
Lanczos steps as distinct eigenvalues, the estimate is exact, so its derivative, the Hutchinson
gradient and finite differences must all agree; tests/test_krylov.py tests them statistically on
general operators.

``expm_multiply`` is a ``jax.custom_vjp`` rule by default (its step count is data-dependent, so its
tangent could not be transposed), hence ``check_jvp=False`` and ``check_second_order=False`` there
(the transpose identity is checked against finite differences; second order, forward over reverse,
is tested in ``tests/test_expm_multiply.py``); ``derivative="forward"`` is the forward-mode rule,
checked with ``check_vjp=False``. References are SciPy's dense ``expm``.

Benchmark families for the matrix-free rules of ``matcalc.krylov``: top-k ``eigsh`` against dense ``eigh``
and stochastic ``logdet`` against a dense Cholesky log-determinant."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.experimental import sparse as jsparse

from matcalc._core import symmetrize
from matcalc.krylov import eigsh, expm_multiply, logdet, svds, trace, trace_funm
from tests.cases import Case, op, rng, with_eigenvalues

A6 = 0.6 * rng(31).standard_normal((6, 6))
B6 = rng(32).standard_normal((6, 2))
T = np.array(0.7)


def _expm_multiply_ref(a, b, t):
    return scipy.linalg.expm(t * a) @ b


CASES = [
    Case.harness(
        "krylov.expm_multiply",
        expm_multiply,
        (A6, B6, T),
        "reverse_A_B_t",
        check=dict(reference=_expm_multiply_ref, check_jvp=False, check_second_order=False),
        float32_rtol=1e-4,
    ),
    Case.harness(
        "krylov.expm_multiply",
        functools.partial(expm_multiply, derivative="forward"),
        (A6, B6, T),
        "forward_A_B_t",
        check=dict(reference=_expm_multiply_ref, check_vjp=False),
        float32_rtol=1e-4,
    ),
]


# --- eigsh / svds: gauge-invariant outputs

_X = rng(33).standard_normal((10, 10))
SYM10 = _X + _X.T
TALL = rng(34).standard_normal((9, 6))


def _eigsh_top3(a):
    return eigsh(a, 3, which="LA")


def _eig_gauge(out):
    w, v = out
    return w, v @ jnp.swapaxes(v, -1, -2)


def _eigsh_ref(a):
    w, v = np.linalg.eigh(a)
    return w[-3:], v[:, -3:]


def _svds_top2(a):
    return svds(a, 2)


def _svd_gauge(out):
    u, s, vh = out
    return s, u @ vh


def _svds_ref(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)  # descending; svds is ascending like SciPy
    return u[:, 1::-1], s[1::-1], vh[1::-1]


# --- stochastic estimators on a diagonal sparse operator (exact there)

N_DIAG = 5
_DIAG_INDEX = np.stack([np.arange(N_DIAG)] * 2, axis=1)
DIAG = np.linspace(0.5, 2.5, N_DIAG)
_KEY = jax.random.key(7)


def _diagonal_operator(d):
    return jsparse.BCOO((d, jnp.asarray(_DIAG_INDEX)), shape=(N_DIAG, N_DIAG))


def _logdet_diag(d):
    return logdet(_diagonal_operator(d), key=_KEY, num_probes=4, order=N_DIAG)


def _trace_diag(d):
    return trace(_diagonal_operator(d), key=_KEY, num_probes=4)


def _trace_exp_diag(d):
    return trace_funm(_diagonal_operator(d), jnp.exp, key=_KEY, num_probes=4, order=N_DIAG)


_REVERSE = dict(check_jvp=False, check_second_order=False)

CASES += [
    Case.harness(
        "krylov.eigsh",
        _eigsh_top3,
        (SYM10,),
        "LA_values_and_projector",
        check=dict(reference=_eigsh_ref, tangent_projection=symmetrize, output_gauge=_eig_gauge, **_REVERSE),
        float32_rtol=1e-3,
    ),
    Case.harness(
        "krylov.svds",
        _svds_top2,
        (TALL,),
        "values_and_UVh",
        check=dict(reference=_svds_ref, output_gauge=_svd_gauge, **_REVERSE),
        float32_rtol=1e-3,
    ),
    Case.harness(
        "krylov.logdet",
        _logdet_diag,
        (DIAG,),
        "diagonal_bcoo_exact",
        check=dict(reference=lambda d: np.sum(np.log(d)), **_REVERSE),
        float32_rtol=1e-4,
    ),
    Case.harness(
        "krylov.trace",
        _trace_diag,
        (DIAG,),
        "diagonal_bcoo_exact",
        check=dict(reference=np.sum),
        float32_rtol=1e-5,
    ),
    Case.harness(
        "krylov.trace_funm",
        _trace_exp_diag,
        (DIAG,),
        "exp_diagonal_bcoo_exact",
        check=dict(reference=lambda d: np.sum(np.exp(d))),
        float32_rtol=1e-4,
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families

TOP = 10


def _gapped(n, r):
    """Top ten eigenvalues in [1.5, 3] (distinct, separated from the rest), the rest in [0, 1]; and
    a weight block ``B`` for the projector loss."""
    k = min(TOP, n - 1)
    lam = np.concatenate([np.linspace(0.0, 1.0, n - k), np.linspace(1.5, 3.0, k)])
    return with_eigenvalues(lam, r), r.standard_normal((n, 3))


def _top_outputs(w, v, b):
    """Sum of the top eigenvalues and ``‖V Vᵀ B‖_F²``: gauge-invariant outputs."""
    return jnp.sum(w), jnp.sum(jnp.matmul(v, jnp.matmul(v.T, b)) ** 2)


def _ours_eigsh(a, b):
    w, v = op("krylov.eigsh")(a, min(TOP, a.shape[-1] - 1), "LA")
    return _top_outputs(w, v, b)


def _dense_eigsh(a, b):
    w, v = jnp.linalg.eigh(a)
    k = min(TOP, a.shape[-1] - 1)
    return _top_outputs(w[-k:], v[:, -k:], b)


def _eigsh_ref_grad(args, w):
    """Closed-form gradient (float64): ``∂Σλ/∂A = V Vᵀ``; for ``L = ⟨B Bᵀ, V Vᵀ⟩``,
    ``∂L/∂A = sym(2 U (F ∘ Uᵀ C V) Vᵀ)``, ``F_ji = 1/(λ_i − λ_j)`` over the unwanted ``u_j``, and
    ``∂L/∂B = 2 V Vᵀ B``."""
    a, b = (np.asarray(x, np.float64) for x in args)
    w_sum, w_proj = (float(np.asarray(x)) for x in w)
    lam, q = np.linalg.eigh(a)
    k = min(TOP, a.shape[-1] - 1)
    v, u = q[:, -k:], q[:, :-k]
    c = b @ b.T
    f = 1.0 / (lam[-k:][None, :] - lam[:-k][:, None])
    g = 2 * u @ (f * (u.T @ c @ v)) @ v.T
    ga = w_sum * v @ v.T + w_proj * (g + g.T) / 2
    gb = w_proj * 2 * v @ (v.T @ b)
    return ga, gb


def _spd(n, r):
    return (with_eigenvalues(np.linspace(1.0, 3.0, n), r),)


def _ours_logdet(a):
    return op("krylov.logdet")(a, key=jax.random.key(0), num_probes=32, order=30)


def _cholesky_logdet(a):
    return 2 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a))))


CASES += [
    Case.bench(
        "krylov.eigsh",
        _gapped,
        _ours_eigsh,
        _dense_eigsh,
        "jnp.linalg.eigh (all n pairs) and its derivative",
        variant="top 10, Σλ + projector loss",
        batched=False,
        ref_grad=_eigsh_ref_grad,
        ref_name="closed form from numpy.linalg.eigh",
        sizes=(256, 1024),
        quick_sizes=(256,),
        note="block Lanczos with thick restarts; the VJP solves on the complement of the top block",
    ),
    Case.bench(
        "krylov.logdet",
        _spd,
        _ours_logdet,
        _cholesky_logdet,
        "Cholesky log det (dense) and its derivative",
        variant="SPD κ = 3, 32 probes, 30 Lanczos steps",
        batched=False,
        ref_grad=lambda args, w: (float(np.asarray(w)) * np.linalg.inv(np.asarray(args[0], np.float64)),),
        ref_name="w · A⁻¹ (numpy)",
        sizes=(256, 1024),
        quick_sizes=(256,),
        note=(
            "stochastic: the value carries the Hutchinson error; the gradient is a rank-32 estimate of "
            "A⁻¹, its Frobenius error ≈ √(n/32) relative (unbiased, not rounding error)"
        ),
    ),
]
