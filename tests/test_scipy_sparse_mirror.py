"""``matcalc.scipy.sparse.linalg``: SciPy's names, signatures, defaults and orderings."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as ssl

import matcalc.scipy.sparse.linalg as msl

RNG = np.random.default_rng(5)
_X = RNG.standard_normal((24, 24))
SYM = _X + _X.T


@pytest.mark.parametrize("name", ["eigsh", "svds", "expm_multiply"])
def test_signature_is_scipys(name):
    ours = list(inspect.signature(getattr(msl, name)).parameters)
    theirs = list(inspect.signature(getattr(ssl, name)).parameters)
    assert ours == theirs


def test_eigsh_default_is_largest_magnitude_ascending_like_scipy():
    w, v = msl.eigsh(SYM, 3)
    np.testing.assert_allclose(w, ssl.eigsh(SYM, 3)[0], rtol=1e-10)
    np.testing.assert_allclose(SYM @ v, v * w[None, :], atol=1e-9)
    # and its gradient is matcalc's: the sum of the three eigenvalues' Hellmann–Feynman gradients
    grad = jax.grad(lambda a: jnp.sum(msl.eigsh(a, 3, return_eigenvectors=False)))(SYM)
    np.testing.assert_allclose(grad, v @ v.T, atol=1e-9)


def test_svds_values_ascending_like_scipy():
    a = _X[:, :15]
    np.testing.assert_allclose(
        msl.svds(a, 4, return_singular_vectors=False),
        ssl.svds(a, 4, return_singular_vectors=False),
        rtol=1e-10,
    )


def test_options_it_does_not_implement_are_named():
    with pytest.raises(ValueError, match="eigsh: sigma=0.5 is not supported"):
        msl.eigsh(SYM, 2, sigma=0.5)
    with pytest.raises(ValueError, match="eigsh: M="):
        msl.eigsh(SYM, 2, M=np.eye(24))
    with pytest.raises(ValueError, match="mode='buckling' is not supported"):
        msl.eigsh(SYM, 2, mode="buckling")
    with pytest.raises(ValueError, match="svds: options="):
        msl.svds(SYM, 2, options={"maxiter": 3})
