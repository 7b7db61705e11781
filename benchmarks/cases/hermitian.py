"""Benchmark rows for eigh/eigvalsh and the Hermitian matrix functions (``matcalc.hermitian``):
against JAX's default derivative of the same function through ``jnp.linalg.eigh``, which is NaN at
repeated eigenvalues and wrong at nearly repeated ones. Rows light up once the operations land."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import BenchCase, mp_sym_funm, op, spd, symmetrize, with_eigenvalues
from ._alts import eigh_funm, newton_schulz_sqrtm


def _mp():
    import mpmath

    return mpmath


def _identity(n, r):
    return (np.eye(n),)


def _near_repeated(n, r, gap=1e-10):
    lam = np.linspace(1.0, 3.0, n)
    lam[1] = lam[0] + gap
    return (with_eigenvalues(lam, r),)


def _repeated_block(n, r):
    lam = np.linspace(1.0, 3.0, n)
    lam[: max(2, n // 4)] = 2.0
    return (with_eigenvalues(lam, r),)


_FUNCS = {
    # name: (scalar f in jnp, scalar f in mpmath, call on matcalc.hermitian)
    "sqrtm": (jnp.sqrt, lambda x: _mp().sqrt(x), lambda a: op("hermitian.sqrtm")(a)),
    "expm": (jnp.exp, lambda x: _mp().exp(x), lambda a: op("hermitian.expm")(a)),
    "logm": (jnp.log, lambda x: _mp().log(x), lambda a: op("hermitian.logm")(a)),
    "inv_sqrtm": (
        lambda w: 1 / jnp.sqrt(w),
        lambda x: 1 / _mp().sqrt(x),
        lambda a: op("hermitian.inv_sqrtm")(a),
    ),
    "powm": (lambda w: w**0.3, lambda x: x ** _mp().mpf("0.3"), lambda a: op("hermitian.powm")(a, 0.3)),
    "funm": (jnp.sin, lambda x: _mp().sin(x), lambda a: op("hermitian.funm")(a, jnp.sin)),
}

_DEGENERATE = [
    ("A = I", _identity, "JAX: 0·∞ in the eigenvector rule → NaN"),
    ("λ₁ = λ₂ (block of n/4)", _repeated_block, "exactly repeated eigenvalues"),
    ("λ₂ − λ₁ = 1e-10", _near_repeated, "JAX divides by a gap eigh resolves to ~1e-16 relative"),
]


def _hermitian_cases():
    cases = []
    for name, (f, fmp, ours) in _FUNCS.items():
        public = f"hermitian.{name}"
        label = "p = 0.3" if name == "powm" else ("f = sin" if name == "funm" else "")
        base = lambda a, f=f: eigh_funm(a, f)
        common = dict(tangent_projection=symmetrize, mp=lambda a, fmp=fmp: mp_sym_funm(a, fmp))
        cases.append(
            BenchCase(
                public,
                lambda n, r: (spd(n, r),),
                ours,
                base,
                "eigh-based U f(Λ) Uᵀ (jnp.linalg.eigh autodiff)",
                variant=label,
                **common,
            )
        )
        for dvar, build, note in _DEGENERATE:
            if name not in ("sqrtm", "expm") and dvar != "A = I":
                continue
            alt = {}
            if name == "sqrtm":
                alt = dict(alt=newton_schulz_sqrtm, alt_name="Newton–Schulz, 30 steps unrolled")
            cases.append(
                BenchCase(
                    public,
                    build,
                    ours,
                    base,
                    "eigh-based U f(Λ) Uᵀ (jnp.linalg.eigh autodiff)",
                    variant=(label + ", " if label else "") + dvar,
                    degenerate=True,
                    note=note,
                    quick=(name == "sqrtm" and dvar == "A = I"),
                    **alt,
                    **common,
                )
            )
    return cases


def _eigh_out(w, v):
    return w, v * v  # v∘v: invariant to each eigenvector's sign


def _eigh_expm_out(w, v):
    return (v * jnp.exp(w)[..., None, :]) @ jnp.swapaxes(v, -1, -2)


_CLUSTER = 2.0  # the repeated eigenvalue of _repeated_block


def _cluster_projector(w, v):
    """Spectral projector onto the repeated eigenvalue's eigenspace (basis-independent, and
    independent of how the eigenvalue splits)."""
    inside = (jnp.abs(w - _CLUSTER) < 1e-6).astype(v.dtype)
    return (v * inside[..., None, :]) @ jnp.swapaxes(v, -1, -2)


def _mp_cluster_projector(a):
    mp = _mp()
    lam, q = mp.eigsy(a)
    n = a.rows
    keep = mp.diag([1 if abs(lam[i] - _CLUSTER) < 1e-6 else 0 for i in range(n)])
    return q * keep * q.T


def _mp_eigh_out(a):
    mp = _mp()
    lam, q = mp.eigsy(a)
    n = a.rows
    sq = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            sq[i, j] = q[i, j] ** 2
    return [lam[i] for i in range(n)], sq


CASES = [
    BenchCase(
        "eigh",
        lambda n, r: (spd(n, r),),
        lambda a: _eigh_out(*op("eigh")(a)),
        lambda a: _eigh_out(*jnp.linalg.eigh(a)),
        "jnp.linalg.eigh",
        variant="(w, v∘v)",
        tangent_projection=symmetrize,
        mp=_mp_eigh_out,
    ),
    BenchCase(
        "eigh",
        _repeated_block,
        lambda a: _eigh_expm_out(*op("eigh")(a)),
        lambda a: _eigh_expm_out(*jnp.linalg.eigh(a)),
        "jnp.linalg.eigh",
        variant="repeated λ, loss V e^Λ Vᵀ",
        degenerate=True,
        tangent_projection=symmetrize,
        mp=lambda a: mp_sym_funm(a, lambda x: _mp().exp(x)),
        note="no eigh rule can be exact here: the in-cluster term f′(λ)·C_ij is not in "
        "the cotangents of (w, V); use hermitian.expm (exact)",
    ),
    BenchCase(
        "eigh",
        _repeated_block,
        lambda a: _cluster_projector(*op("eigh")(a)),
        lambda a: _cluster_projector(*jnp.linalg.eigh(a)),
        "jnp.linalg.eigh",
        variant="repeated λ, cluster projector",
        degenerate=True,
        tangent_projection=symmetrize,
        mp=_mp_cluster_projector,
        note="basis-independent and split-independent: exact for matcalc's rule",
    ),
    BenchCase(
        "eigvalsh",
        lambda n, r: (spd(n, r),),
        lambda a: op("eigvalsh")(a),
        jnp.linalg.eigvalsh,
        "jnp.linalg.eigvalsh",
        tangent_projection=symmetrize,
        mp=lambda a: [_mp().eigsy(a, eigvals_only=True)[i] for i in range(a.rows)],
    ),
    *_hermitian_cases(),
]
