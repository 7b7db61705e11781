"""Benchmark rows for the matrix-free rules of ``matcalc.krylov``: top-k ``eigsh`` against dense
``eigh`` and stochastic ``logdet`` against a dense Cholesky log-determinant."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import BenchCase, op, with_eigenvalues

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


CASES = [
    BenchCase(
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
    BenchCase(
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
