"""Benchmark rows for the remaining Hermitian functions (absm, signm on indefinite input) and the
SPD distances/divergences of ``matcalc.spd``, against the same formulas written with
``jnp.linalg.eigh``/``slogdet`` and differentiated by JAX."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import BenchCase, mp_sym_funm, op, spd, symmetrize, with_eigenvalues
from ._alts import eigh_funm


def _mp():
    import mpmath

    return mpmath


def _sym_leaves(x):
    """Tangent projection: symmetric matrices, vectors unchanged."""
    return symmetrize(x) if np.ndim(x) >= 2 else x


def _indefinite(n, r):
    half = n // 2
    lam = np.concatenate([-np.linspace(1.0, 3.0, half), np.linspace(1.0, 3.0, n - half)])
    return (with_eigenvalues(lam, r),)


def _two_spd(n, r):
    return spd(n, r), spd(n, r, 0.5, 2.0)


def _fid_args(n, r):
    return r.standard_normal(n), spd(n, r), r.standard_normal(n), spd(n, r, 0.5, 2.0)


# --- the same formulas in plain JAX (eigh / slogdet autodiff) --------------------------------


def _log(a):
    return eigh_funm(a, jnp.log)


def _sqrt(a):
    return eigh_funm(a, jnp.sqrt)


def _affine(a, b):
    ai = eigh_funm(a, lambda w: 1 / jnp.sqrt(w))
    w = jnp.linalg.eigvalsh(ai @ b @ ai)
    return jnp.sqrt(jnp.sum(jnp.log(w) ** 2, axis=-1))


def _log_euclidean(a, b):
    return jnp.sqrt(jnp.sum((_log(a) - _log(b)) ** 2, axis=(-2, -1)))


def _bures2(a, b):
    ra = _sqrt(a)
    cross = jnp.sum(jnp.sqrt(jnp.linalg.eigvalsh(ra @ b @ ra)), axis=-1)
    return jnp.trace(a, axis1=-2, axis2=-1) + jnp.trace(b, axis1=-2, axis2=-1) - 2 * cross


def _fid(mu1, s1, mu2, s2):
    return jnp.sum((mu1 - mu2) ** 2, axis=-1) + _bures2(s1, s2)


def _stein(a, b):
    ld = lambda x: jnp.linalg.slogdet(x)[1]  # noqa: E731
    return ld((a + b) / 2) - (ld(a) + ld(b)) / 2


def _logdet_div(a, b):
    x = jnp.linalg.solve(b, a)
    return jnp.trace(x, axis1=-2, axis2=-1) - jnp.linalg.slogdet(x)[1] - a.shape[-1]


# --- 50-digit references ----------------------------------------------------------------------


def _mp_eigs(a):
    lam = _mp().eigsy(a, eigvals_only=True)
    return [lam[i] for i in range(a.rows)]


def _mp_tr(a):
    return sum(a[i, i] for i in range(a.rows))


def _mp_affine(a, b):
    ai = mp_sym_funm(a, lambda x: 1 / _mp().sqrt(x))
    c = ai * b * ai
    return _mp().sqrt(sum(_mp().log(x) ** 2 for x in _mp_eigs((c + c.T) / 2)))


def _mp_log_euclidean(a, b):
    d = mp_sym_funm(a, _mp().log) - mp_sym_funm(b, _mp().log)
    return _mp().sqrt(sum(d[i, j] ** 2 for i in range(d.rows) for j in range(d.cols)))


def _mp_bures2(a, b):
    ra = mp_sym_funm(a, _mp().sqrt)
    c = ra * b * ra
    return _mp_tr(a) + _mp_tr(b) - 2 * sum(_mp().sqrt(x) for x in _mp_eigs((c + c.T) / 2))


def _mp_fid(mu1, s1, mu2, s2):
    return sum((mu1[i] - mu2[i]) ** 2 for i in range(mu1.rows)) + _mp_bures2(s1, s2)


def _mp_stein(a, b):
    ld = lambda x: _mp().log(_mp().det(x))  # noqa: E731
    return ld((a + b) / 2) - (ld(a) + ld(b)) / 2


def _mp_logdet_div(a, b):
    x = _mp().inverse(b) * a
    return _mp_tr(x) - _mp().log(_mp().det(x)) - a.rows


_SPD = [
    ("spd.affine_invariant_distance", _two_spd, _affine, _mp_affine),
    ("spd.log_euclidean_distance", _two_spd, _log_euclidean, _mp_log_euclidean),
    (
        "spd.bures_wasserstein_distance",
        _two_spd,
        lambda a, b: jnp.sqrt(_bures2(a, b)),
        lambda a, b: _mp().sqrt(_mp_bures2(a, b)),
    ),
    ("spd.frechet_distance", _fid_args, _fid, _mp_fid),
    ("spd.stein_divergence", _two_spd, _stein, _mp_stein),
    ("spd.logdet_divergence", _two_spd, _logdet_div, _mp_logdet_div),
]

CASES = [
    BenchCase(
        "hermitian.absm",
        _indefinite,
        lambda a: op("hermitian.absm")(a),
        lambda a: eigh_funm(a, jnp.abs),
        "eigh-based U |Λ| Uᵀ (jnp.linalg.eigh autodiff)",
        variant="indefinite",
        tangent_projection=symmetrize,
        mp=lambda a: mp_sym_funm(a, abs),
    ),
    BenchCase(
        "hermitian.signm",
        _indefinite,
        lambda a: op("hermitian.signm")(a),
        lambda a: eigh_funm(a, jnp.sign),
        "eigh-based U sign(Λ) Uᵀ (jnp.linalg.eigh autodiff)",
        variant="indefinite",
        tangent_projection=symmetrize,
        mp=lambda a: mp_sym_funm(a, _mp().sign),
    ),
    *[
        BenchCase(
            name,
            build,
            (lambda *xs, name=name: op(name)(*xs)),
            base,
            "the same formula through eigh/slogdet (JAX autodiff)",
            tangent_projection=_sym_leaves,
            mp=ref,
        )
        for name, build, base, ref in _SPD
    ],
]
