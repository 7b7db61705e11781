"""Harness cases for ``use_rules``: functions written against jax.numpy / jax.scipy only, run
through matcalc's rules; references from NumPy/SciPy."""

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, rng, spd

# exactly repeated eigenvalue 1 (twice) and 3, in a rotated basis
_q, _ = np.linalg.qr(rng(31).standard_normal((3, 3)))
REPEATED = (_q * np.array([1.0, 1.0, 3.0])) @ _q.T
SPLIT = (_q * np.array([1.0, 1.5, 3.0])) @ _q.T
S4 = spd(4, seed=32)
X4 = rng(33).standard_normal(4)


def _sym(t):
    return (t + t.T) / 2


def _projector(a):
    _, v = jnp.linalg.eigh(a)
    return v[:, :2] @ v[:, :2].T


def _projector_ref(a):
    _, v = np.linalg.eigh(a)
    return v[:, :2] @ v[:, :2].T


def _gaussian(s):
    # log N(x; 0, S) + tr expm(S/8), the Cholesky factor used as a library would
    c = jnp.linalg.cholesky(s)
    z = jsl.solve_triangular(c, jnp.asarray(X4, s.dtype), lower=True)
    return -0.5 * z @ z - jnp.sum(jnp.log(jnp.diag(c))) + jnp.trace(jsl.expm(s / 8))


def _gaussian_ref(s):
    c = np.linalg.cholesky(s)
    z = scipy.linalg.solve_triangular(c, X4, lower=True)
    return -0.5 * z @ z - np.sum(np.log(np.diag(c))) + np.trace(scipy.linalg.expm(s / 8))


CASES = [
    Case(
        "use_rules",
        matcalc.use_rules(_projector),
        (REPEATED,),
        variant="eigh_projector_repeated",
        # second order is matcalc.eigh's own, not exact at an exactly repeated eigenvalue (see
        # tests/test_use_rules.py::test_second_order_projector_at_repeated_eigenvalue); checked
        # at the split spectrum below
        check=dict(reference=_projector_ref, tangent_projection=_sym, check_second_order=False),
    ),
    Case(
        "use_rules",
        matcalc.use_rules(_projector),
        (SPLIT,),
        variant="eigh_projector_split",
        check=dict(reference=_projector_ref, tangent_projection=_sym),
    ),
    Case(
        "use_rules",
        matcalc.use_rules(_gaussian),
        (S4,),
        variant="cholesky_triangular_expm",
        check=dict(reference=_gaussian_ref, tangent_projection=_sym),
    ),
]
