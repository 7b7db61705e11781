"""Harness cases for eigh, eigvalsh, matcalc.hermitian and matcalc.spd.

Benchmark families for eigh/eigvalsh and the Hermitian matrix functions (``matcalc.hermitian``): against
JAX's default derivative of the same function through ``jnp.linalg.eigh``, which is NaN at repeated
eigenvalues and wrong at nearly repeated ones.

Benchmark families for the remaining Hermitian functions (absm, signm on indefinite input) and the
SPD distances/divergences of ``matcalc.spd``, against the same formulas written with
``jnp.linalg.eigh``/``slogdet`` and differentiated by JAX.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, mp_sym_funm, op, rng, spd, symmetrize, with_eigenvalues
from tests.cases._alts import eigh_funm, newton_schulz_sqrtm

S4 = spd(4, seed=11)  # eigenvalues 1 .. 3
S4B = spd(4, seed=12, hi=5.0)
HC = spd(3, seed=13, complex_=True)
HCB = spd(3, seed=14, complex_=True, hi=4.0)
_q, _ = np.linalg.qr(rng(15).standard_normal((4, 4)))
INDEF = (_q * np.array([-2.0, -0.5, 0.7, 1.5])) @ _q.T  # indefinite, no zero eigenvalue
EYE3 = np.eye(3)
MU1 = rng(16).standard_normal(4)
MU2 = rng(17).standard_normal(4)


def _phase_gauge(v):
    """Fix each eigenvector's sign/phase: its largest-magnitude entry becomes real positive."""
    v = jnp.asarray(v)
    idx = jnp.argmax(jnp.abs(v), axis=-2)
    pivot = jnp.take_along_axis(v, idx[..., None, :], axis=-2)
    return v * (jnp.conj(pivot) / jnp.abs(pivot).astype(v.dtype))


def eigh_gauge(out):
    w, v = out
    return w, _phase_gauge(v)


def _np_funm(a, f):
    w, v = np.linalg.eigh(a)
    return (v * f(w)) @ v.conj().T


def _eigh_ref(a):
    w, v = np.linalg.eigh(a)
    return w, v


SYM = dict(tangent_projection=symmetrize)


def _bures_ref(a, b):
    ra = scipy.linalg.sqrtm(a)
    cross = np.trace(scipy.linalg.sqrtm(ra @ b @ ra)).real
    return np.sqrt(np.trace(a).real + np.trace(b).real - 2 * cross)


def _sym_matrices(t):
    """Symmetrize matrix tangents, leave vector tangents (the means) alone."""
    return symmetrize(t) if t.ndim >= 2 else t


CASES = [
    # --- eigh / eigvalsh
    Case.harness(
        "eigh",
        lambda a: tuple(matcalc.eigh(a)),
        (S4,),
        "real",
        check=dict(reference=_eigh_ref, output_gauge=eigh_gauge, **SYM),
    ),
    Case.harness(
        "eigh",
        lambda a: tuple(matcalc.eigh(a)),
        (HC,),
        "complex",
        check=dict(reference=_eigh_ref, output_gauge=eigh_gauge, **SYM),
    ),
    Case.harness(
        "eigvalsh", matcalc.eigvalsh, (S4,), "real", check=dict(reference=np.linalg.eigvalsh, **SYM)
    ),
    Case.harness(
        "eigvalsh", matcalc.eigvalsh, (HC,), "complex", check=dict(reference=np.linalg.eigvalsh, **SYM)
    ),
    # --- hermitian matrix functions
    Case.harness(
        "hermitian.expm",
        matcalc.hermitian.expm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.expm, **SYM),
    ),
    Case.harness(
        "hermitian.expm",
        matcalc.hermitian.expm,
        (HC,),
        "complex",
        check=dict(reference=scipy.linalg.expm, **SYM),
    ),
    Case.harness(
        "hermitian.logm",
        matcalc.hermitian.logm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.logm, **SYM),
    ),
    Case.harness(
        "hermitian.sqrtm",
        matcalc.hermitian.sqrtm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.sqrtm, **SYM),
    ),
    Case.harness(
        "hermitian.sqrtm",
        matcalc.hermitian.sqrtm,
        (EYE3,),
        "identity",
        check=dict(reference=scipy.linalg.sqrtm, **SYM),
    ),
    Case.harness(
        "hermitian.inv_sqrtm",
        matcalc.hermitian.inv_sqrtm,
        (S4,),
        "real",
        check=dict(reference=lambda a: np.linalg.inv(scipy.linalg.sqrtm(a)), **SYM),
    ),
    Case.harness(
        "hermitian.powm",
        lambda a: matcalc.hermitian.powm(a, 1.5),
        (S4,),
        "1.5",
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, 1.5), **SYM),
    ),
    Case.harness(
        "hermitian.powm",
        lambda a: matcalc.hermitian.powm(a, -0.7),
        (HC,),
        "-0.7_complex",
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, -0.7), **SYM),
    ),
    Case.harness(
        "hermitian.absm",
        matcalc.hermitian.absm,
        (INDEF,),
        "indefinite",
        check=dict(reference=lambda a: scipy.linalg.sqrtm(a @ a).real, **SYM),
    ),
    Case.harness(
        "hermitian.signm",
        matcalc.hermitian.signm,
        (INDEF,),
        "indefinite",
        check=dict(reference=lambda a: scipy.linalg.signm(a).real, **SYM),
    ),
    Case.harness(
        "hermitian.funm",
        lambda a: matcalc.hermitian.funm(a, jnp.tanh),
        (INDEF,),
        "tanh",
        check=dict(reference=lambda a: _np_funm(a, np.tanh), **SYM),
    ),
    Case.harness(
        "hermitian.funm",
        lambda a: matcalc.hermitian.funm(a, jnp.sin),
        (HC,),
        "sin_complex",
        check=dict(reference=lambda a: _np_funm(a, np.sin), **SYM),
    ),
    # --- spd distances and divergences
    Case.harness(
        "spd.affine_invariant_distance",
        matcalc.spd.affine_invariant_distance,
        (S4, S4B),
        "real",
        check=dict(reference=lambda a, b: np.linalg.norm(np.log(scipy.linalg.eigvalsh(b, a))), **SYM),
    ),
    Case.harness(
        "spd.log_euclidean_distance",
        matcalc.spd.log_euclidean_distance,
        (S4, S4B),
        "real",
        check=dict(reference=lambda a, b: np.linalg.norm(scipy.linalg.logm(a) - scipy.linalg.logm(b)), **SYM),
    ),
    Case.harness(
        "spd.bures_wasserstein_distance",
        matcalc.spd.bures_wasserstein_distance,
        (S4, S4B),
        "real",
        check=dict(reference=_bures_ref, **SYM),
    ),
    Case.harness(
        "spd.bures_wasserstein_distance",
        matcalc.spd.bures_wasserstein_distance,
        (HC, HCB),
        "complex",
        check=dict(reference=_bures_ref, **SYM),
    ),
    Case.harness(
        "spd.frechet_distance",
        matcalc.spd.frechet_distance,
        (MU1, S4, MU2, S4B),
        "real",
        check=dict(
            reference=lambda m1, s1, m2, s2: (
                np.sum((m1 - m2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
            ),
            tangent_projection=_sym_matrices,
        ),
    ),
    Case.harness(
        "spd.stein_divergence",
        matcalc.spd.stein_divergence,
        (S4, S4B),
        "real",
        check=dict(
            reference=lambda a, b: (
                np.linalg.slogdet((a + b) / 2)[1] - (np.linalg.slogdet(a)[1] + np.linalg.slogdet(b)[1]) / 2
            ),
            **SYM,
        ),
    ),
    Case.harness(
        "spd.logdet_divergence",
        matcalc.spd.logdet_divergence,
        (S4, S4B),
        "real",
        check=dict(
            reference=lambda a, b: (
                np.trace(np.linalg.solve(b, a)) - np.linalg.slogdet(a)[1] + np.linalg.slogdet(b)[1] - 4
            ),
            **SYM,
        ),
    ),
]


# ---------------------------------------------------------------------------------------------
# benchmark families


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
            Case.bench(
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
                Case.bench(
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


CASES += [
    Case.bench(
        "eigh",
        lambda n, r: (spd(n, r),),
        lambda a: _eigh_out(*op("eigh")(a)),
        lambda a: _eigh_out(*jnp.linalg.eigh(a)),
        "jnp.linalg.eigh",
        variant="(w, v∘v)",
        tangent_projection=symmetrize,
        mp=_mp_eigh_out,
    ),
    Case.bench(
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
    Case.bench(
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
    Case.bench(
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


# ---------------------------------------------------------------------------------------------
# benchmark families: matcalc.spd


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

CASES += [
    Case.bench(
        "hermitian.absm",
        _indefinite,
        lambda a: op("hermitian.absm")(a),
        lambda a: eigh_funm(a, jnp.abs),
        "eigh-based U |Λ| Uᵀ (jnp.linalg.eigh autodiff)",
        variant="indefinite",
        tangent_projection=symmetrize,
        mp=lambda a: mp_sym_funm(a, abs),
    ),
    Case.bench(
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
        Case.bench(
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
