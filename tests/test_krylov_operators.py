"""The operand layer of the matrix-free rules: products and derivative cotangents for every kind."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from matcalc.krylov._operators import as_operator, bilinear_cotangent


def _problem(complex_):
    rng = np.random.default_rng(0)

    def draw(*shape):
        x = rng.standard_normal(shape)
        return jnp.asarray(x + 1j * rng.standard_normal(shape) if complex_ else x)

    return draw(5, 4), draw(5, 2), draw(4, 2)


def _dense_cotangent(kind, cotangent, like):
    if kind == "bcoo":
        return cotangent.matrix.data, like.data
    if kind == "lineax":
        return cotangent.matrix.matrix, like
    return cotangent.matrix, like


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("kind", ["dense", "bcoo", "lineax"])
def test_products_and_bilinear_cotangent_match_the_dense_matrix(kind, complex_):
    a, left, right = _problem(complex_)
    obj = {"dense": a, "bcoo": jsparse.BCOO.fromdense(a), "lineax": lx.MatrixLinearOperator(a)}[kind]
    op = as_operator(obj)
    assert op.shape == (5, 4) and op.kind == kind
    np.testing.assert_allclose(op.matmat(right), a @ right, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(op.matmat(right[:, 0]), a @ right[:, 0], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(op.rmatmat(left), jnp.conj(a).T @ left, rtol=1e-13, atol=1e-14)
    for j in (0, 3):  # a column, as the pivoted Cholesky preconditioner reads it (traced index)
        column = jax.jit(lambda o, i: o.column(i))(op, jnp.int32(j))
        np.testing.assert_array_equal(column, a[:, j])
    np.testing.assert_allclose(op.to_dense(), a)

    # The cotangent of Re <L, A R> agrees with JAX's gradient of the same scalar of the dense matrix.
    expected = jax.grad(lambda m: jnp.real(jnp.vdot(left, m @ right)))(a)
    got = bilinear_cotangent(op, left, right)
    if kind == "bcoo":
        rows, cols = np.asarray(obj.indices).T
        expected = expected[rows, cols]
    np.testing.assert_allclose(_dense_cotangent(kind, got, obj)[0], expected, rtol=1e-13, atol=1e-14)


def test_bad_operands_are_named():
    with pytest.raises(ValueError, match=r"K: expected a 2-D matrix, got an array of shape \(3,\)"):
        as_operator(jnp.ones(3), name="K")
    with pytest.raises(ValueError, match=r"A: expected a square operator, got shape \(2, 3\)"):
        as_operator(jnp.ones((2, 3)), square=True)
    with pytest.raises(TypeError, match="A: expected a 2-D array, a jax.experimental.sparse.BCOO"):
        as_operator(object())
    batched = jsparse.BCOO.fromdense(jnp.ones((2, 3, 3)), n_batch=1)
    with pytest.raises(ValueError, match="plain 2-D sparse matrix"):
        as_operator(batched)


def test_integer_dense_input_is_promoted_like_jax():
    op = as_operator(jnp.eye(3, dtype=jnp.int32))
    assert jnp.issubdtype(op.dtype, jnp.floating)
