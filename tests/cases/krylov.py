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
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.experimental import sparse as jsparse

from matcalc._core import symmetrize
from matcalc.krylov import eigsh, expm_multiply, logdet, svds, trace, trace_funm
from tests.cases import Case, rng

A6 = 0.6 * rng(31).standard_normal((6, 6))
B6 = rng(32).standard_normal((6, 2))
T = np.array(0.7)


def _expm_multiply_ref(a, b, t):
    return scipy.linalg.expm(t * a) @ b


CASES = [
    Case(
        "krylov.expm_multiply",
        expm_multiply,
        (A6, B6, T),
        "reverse_A_B_t",
        check=dict(reference=_expm_multiply_ref, check_jvp=False, check_second_order=False),
        float32_rtol=1e-4,
    ),
    Case(
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
    Case(
        "krylov.eigsh",
        _eigsh_top3,
        (SYM10,),
        "LA_values_and_projector",
        check=dict(reference=_eigsh_ref, tangent_projection=symmetrize, output_gauge=_eig_gauge, **_REVERSE),
        float32_rtol=1e-3,
    ),
    Case(
        "krylov.svds",
        _svds_top2,
        (TALL,),
        "values_and_UVh",
        check=dict(reference=_svds_ref, output_gauge=_svd_gauge, **_REVERSE),
        float32_rtol=1e-3,
    ),
    Case(
        "krylov.logdet",
        _logdet_diag,
        (DIAG,),
        "diagonal_bcoo_exact",
        check=dict(reference=lambda d: np.sum(np.log(d)), **_REVERSE),
        float32_rtol=1e-4,
    ),
    Case(
        "krylov.trace",
        _trace_diag,
        (DIAG,),
        "diagonal_bcoo_exact",
        check=dict(reference=np.sum),
        float32_rtol=1e-5,
    ),
    Case(
        "krylov.trace_funm",
        _trace_exp_diag,
        (DIAG,),
        "exp_diagonal_bcoo_exact",
        check=dict(reference=lambda d: np.sum(np.exp(d))),
        float32_rtol=1e-4,
    ),
]
