"""Harness cases for eigh, eigvalsh, matcalc.hermitian and matcalc.spd."""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.linalg

import matcalc
from matcalc._core import symmetrize
from tests.cases import Case, rng, spd

S4 = spd(4, seed=11)  # eigenvalues 1 .. 3
S4B = spd(4, seed=12, spread=5.0)
HC = spd(3, seed=13, complex_=True)
HCB = spd(3, seed=14, complex_=True, spread=4.0)
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
    Case(
        "eigh",
        lambda a: tuple(matcalc.eigh(a)),
        (S4,),
        "real",
        check=dict(reference=_eigh_ref, output_gauge=eigh_gauge, **SYM),
    ),
    Case(
        "eigh",
        lambda a: tuple(matcalc.eigh(a)),
        (HC,),
        "complex",
        check=dict(reference=_eigh_ref, output_gauge=eigh_gauge, **SYM),
    ),
    Case("eigvalsh", matcalc.eigvalsh, (S4,), "real", check=dict(reference=np.linalg.eigvalsh, **SYM)),
    Case("eigvalsh", matcalc.eigvalsh, (HC,), "complex", check=dict(reference=np.linalg.eigvalsh, **SYM)),
    # --- hermitian matrix functions
    Case(
        "hermitian.expm",
        matcalc.hermitian.expm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.expm, **SYM),
    ),
    Case(
        "hermitian.expm",
        matcalc.hermitian.expm,
        (HC,),
        "complex",
        check=dict(reference=scipy.linalg.expm, **SYM),
    ),
    Case(
        "hermitian.logm",
        matcalc.hermitian.logm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.logm, **SYM),
    ),
    Case(
        "hermitian.sqrtm",
        matcalc.hermitian.sqrtm,
        (S4,),
        "real",
        check=dict(reference=scipy.linalg.sqrtm, **SYM),
    ),
    Case(
        "hermitian.sqrtm",
        matcalc.hermitian.sqrtm,
        (EYE3,),
        "identity",
        check=dict(reference=scipy.linalg.sqrtm, **SYM),
    ),
    Case(
        "hermitian.inv_sqrtm",
        matcalc.hermitian.inv_sqrtm,
        (S4,),
        "real",
        check=dict(reference=lambda a: np.linalg.inv(scipy.linalg.sqrtm(a)), **SYM),
    ),
    Case(
        "hermitian.powm",
        lambda a: matcalc.hermitian.powm(a, 1.5),
        (S4,),
        "1.5",
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, 1.5), **SYM),
    ),
    Case(
        "hermitian.powm",
        lambda a: matcalc.hermitian.powm(a, -0.7),
        (HC,),
        "-0.7_complex",
        check=dict(reference=lambda a: scipy.linalg.fractional_matrix_power(a, -0.7), **SYM),
    ),
    Case(
        "hermitian.absm",
        matcalc.hermitian.absm,
        (INDEF,),
        "indefinite",
        check=dict(reference=lambda a: scipy.linalg.sqrtm(a @ a).real, **SYM),
    ),
    Case(
        "hermitian.signm",
        matcalc.hermitian.signm,
        (INDEF,),
        "indefinite",
        check=dict(reference=lambda a: scipy.linalg.signm(a).real, **SYM),
    ),
    Case(
        "hermitian.funm",
        lambda a: matcalc.hermitian.funm(a, jnp.tanh),
        (INDEF,),
        "tanh",
        check=dict(reference=lambda a: _np_funm(a, np.tanh), **SYM),
    ),
    Case(
        "hermitian.funm",
        lambda a: matcalc.hermitian.funm(a, jnp.sin),
        (HC,),
        "sin_complex",
        check=dict(reference=lambda a: _np_funm(a, np.sin), **SYM),
    ),
    # --- spd distances and divergences
    Case(
        "spd.affine_invariant_distance",
        matcalc.spd.affine_invariant_distance,
        (S4, S4B),
        "real",
        check=dict(reference=lambda a, b: np.linalg.norm(np.log(scipy.linalg.eigvalsh(b, a))), **SYM),
    ),
    Case(
        "spd.log_euclidean_distance",
        matcalc.spd.log_euclidean_distance,
        (S4, S4B),
        "real",
        check=dict(reference=lambda a, b: np.linalg.norm(scipy.linalg.logm(a) - scipy.linalg.logm(b)), **SYM),
    ),
    Case(
        "spd.bures_wasserstein_distance",
        matcalc.spd.bures_wasserstein_distance,
        (S4, S4B),
        "real",
        check=dict(reference=_bures_ref, **SYM),
    ),
    Case(
        "spd.bures_wasserstein_distance",
        matcalc.spd.bures_wasserstein_distance,
        (HC, HCB),
        "complex",
        check=dict(reference=_bures_ref, **SYM),
    ),
    Case(
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
    Case(
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
    Case(
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

del functools
