"""Half-precision (float16, bfloat16) determinants and square roots: computed in float32, returned in
the input dtype as JAX returns them, derivatives included, at every size (JAX's own det/slogdet
compute half precision only for n ≤ 3, by a closed form, and raise for larger n). References: NumPy
in float64 on the half-precision input.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
import matcalc.numpy.linalg as mla
import matcalc.scipy.linalg as msla
from tests.cases import rng

HALF = [jnp.float16, jnp.bfloat16]


def _spd_half(n, dtype, seed, batch=()):
    r = rng(seed)
    x = r.standard_normal((*batch, n, n))
    a = x @ np.swapaxes(x, -1, -2) / n + np.eye(n)
    return jnp.asarray(a, dtype=dtype)


def _eps(dtype):
    return float(jnp.finfo(dtype).eps)


def _f64(x):
    return np.asarray(x.astype(jnp.float32), dtype=np.float64)


OPS = {
    "det": (matcalc.det, lambda a: np.linalg.det(a)),
    "logabsdet": (lambda a: matcalc.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1]),
    "logdet": (matcalc.logdet, lambda a: np.linalg.slogdet(a)[1]),
    "logdet_pos": (lambda a: matcalc.logdet(a, "pos"), lambda a: np.linalg.slogdet(a)[1]),
}
# the gradient of each: ∇ det = det(A) A⁻ᵀ, ∇ log|det A| = A⁻ᵀ
GRADS = {
    "det": lambda a: np.linalg.det(a) * np.linalg.inv(a).T,
    "logabsdet": lambda a: np.linalg.inv(a).T,
    "logdet": lambda a: np.linalg.inv(a).T,
    "logdet_pos": lambda a: np.linalg.inv(a).T,
}


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(OPS))
def test_value_and_gradient_in_half_precision(name, dtype):
    """n = 4 (beyond JAX's closed form), batched: the dtype is kept, the value and gradient are those
    of the half-precision input to within the rounding of the result to half precision."""
    f, ref = OPS[name]
    a = _spd_half(4, dtype, 0, batch=(2,))
    a64 = _f64(a)
    y = f(a)
    assert y.dtype == dtype and y.shape == (2,)
    np.testing.assert_allclose(_f64(y), ref(a64), rtol=_eps(dtype), atol=0)
    g = jax.grad(lambda x: jnp.sum(f(x).astype(jnp.float32)))(a)
    assert g.dtype == dtype and g.shape == a.shape
    want = np.stack([GRADS[name](m) for m in a64])
    np.testing.assert_allclose(_f64(g), want, rtol=0, atol=_eps(dtype) * np.max(np.abs(want)))
    # jit gives the same numbers
    np.testing.assert_array_equal(_f64(jax.jit(f)(a)), _f64(y))


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
def test_matches_jax_where_jax_computes(dtype):
    """2×2: JAX's closed form in half arithmetic; the same dtypes and, within a few half-precision
    roundings, the same values and gradients (matcalc's are rounded once, from float32)."""
    a = _spd_half(2, dtype, 1)
    ours = [mla.det(a), *mla.slogdet(a), msla.det(a)]
    theirs = [jnp.linalg.det(a), *jnp.linalg.slogdet(a), jax.scipy.linalg.det(a)]
    for x, y in zip(ours, theirs, strict=True):
        assert x.dtype == y.dtype == dtype
        np.testing.assert_allclose(_f64(x), _f64(y), rtol=4 * _eps(dtype), atol=0)
    g, gj = jax.grad(matcalc.det)(a), jax.grad(jnp.linalg.det)(a)
    assert g.dtype == gj.dtype == dtype
    np.testing.assert_allclose(_f64(g), _f64(gj), rtol=0, atol=4 * _eps(dtype) * float(jnp.max(jnp.abs(gj))))


def test_half_jvp_and_sign():
    """Forward mode keeps the dtype; the sign of a negative determinant is exact."""
    a = jnp.asarray([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], dtype=jnp.float16)
    t = jnp.asarray(np.eye(3), dtype=jnp.float16)
    y, dy = jax.jvp(matcalc.det, (a,), (t,))
    assert y.dtype == dy.dtype == jnp.float16
    a64 = _f64(a)
    np.testing.assert_allclose(float(y), np.linalg.det(a64), rtol=_eps(jnp.float16))
    # d det[I] = tr(adj A) = det(A) tr(A⁻¹)
    want = np.linalg.det(a64) * np.trace(np.linalg.inv(a64))
    np.testing.assert_allclose(float(dy), want, rtol=_eps(jnp.float16))
    sign, logabs = matcalc.slogdet(a)
    assert sign.dtype == logabs.dtype == jnp.float16 and float(sign) == -1.0


@pytest.mark.parametrize("dtype", HALF)
def test_sqrtm_in_half_precision(dtype):
    a = _spd_half(5, dtype, 7)
    want = np.real(scipy.linalg.sqrtm(_f64(a)))
    x = matcalc.sqrtm(a)  # real in, real out: the input's dtype
    assert x.dtype == dtype
    np.testing.assert_allclose(_f64(x), want, rtol=0, atol=8 * _eps(dtype) * np.abs(want).max())
    g = jax.grad(lambda m: jnp.sum(matcalc.sqrtm(m).astype(jnp.float32)))(a)
    assert g.dtype == dtype and np.all(np.isfinite(_f64(g)))
    # the mirror: complex64, as jax.scipy.linalg.sqrtm returns for half precision
    xc = msla.sqrtm(a)
    assert xc.dtype == jax.scipy.linalg.sqrtm(a).dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(xc), want, atol=1e-5 * np.abs(want).max())
