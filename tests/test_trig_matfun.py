"""cosm, sinm, tanm, coshm, sinhm, tanhm: values against SciPy (real, complex, batched, norms that
need squarings), derivatives against finite differences of SciPy's functions, identities, float32."""

import jax
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import rng, well_conditioned

NAMES = ["cosm", "sinm", "tanm", "coshm", "sinhm", "tanhm"]


def rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y)


@pytest.mark.parametrize("name", NAMES)
def test_values_and_jvp_vs_scipy(name):
    ours, ref = getattr(matcalc, name), getattr(scipy.linalg, name)
    # a batch: real of norm 0.3 and 4 (squarings), with one complex batch separately
    a = np.stack([0.3 * well_conditioned(4, seed=1), 4.0 * well_conditioned(4, seed=2) / 2])
    ac = 1.5 * well_conditioned(4, seed=3, complex_=True)
    f = jax.jit(lambda x, t: jax.jvp(ours, (x,), (t,)))
    for x in (a, ac[None]):
        t = rng(4).standard_normal(x.shape)
        if np.iscomplexobj(x):
            t = t + 1j * rng(5).standard_normal(x.shape)
        y, dy = f(x, t)
        assert y.dtype == x.dtype
        h = 1e-4
        for i in range(x.shape[0]):
            want = ref(x[i])
            assert rel(y[i], want) < 1e-13
            fd = (
                ref(x[i] - 2 * h * t[i])
                - 8 * ref(x[i] - h * t[i])
                + 8 * ref(x[i] + h * t[i])
                - ref(x[i] + 2 * h * t[i])
            ) / (12 * h)
            assert rel(dy[i], fd) < 1e-8


def test_identities():
    a = well_conditioned(3, seed=6)
    c, s = np.asarray(matcalc.cosm(a)), np.asarray(matcalc.sinm(a))
    np.testing.assert_allclose(c @ c + s @ s, np.eye(3), atol=1e-13)
    ch, sh = np.asarray(matcalc.coshm(a)), np.asarray(matcalc.sinhm(a))
    np.testing.assert_allclose(ch @ ch - sh @ sh, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(matcalc.tanm(a), np.linalg.solve(c, s), rtol=1e-12)


@pytest.mark.parametrize("name", ["cosm", "tanhm"])
def test_float32(name):
    a = well_conditioned(4, seed=7)
    y = getattr(matcalc, name)(a.astype(np.float32))
    assert y.dtype == np.float32
    assert rel(y, getattr(scipy.linalg, name)(a)) < 1e-5


def test_bad_input():
    with pytest.raises(ValueError, match=r"cosm: A must be square.*\(2, 3\)"):
        matcalc.cosm(np.ones((2, 3)))
