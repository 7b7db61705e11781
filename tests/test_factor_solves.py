"""Edge tests for the solves on a stored factor (solve_triangular, cho_factor/cho_solve,
lu_factor/lu_solve): every lower/upper, trans and unit-diagonal combination, complex, batched and
broadcast right-hand sides, against JAX's values and gradients and SciPy's values; no gradient in
the entries a solve does not read; the reverse pass reuses the forward factor; bad input."""

import itertools
import warnings

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import spd

R = np.random.default_rng(7)
N = 4


def _rand(*shape, complex_=True):
    x = R.standard_normal(shape)
    return x + 1j * R.standard_normal(shape) if complex_ else x


A_C = _rand(2, N, N) + 3 * np.eye(N)  # batched, complex, diagonally dominant enough
B_C = _rand(2, N, 3)


def _close(x, y, rtol=1e-12):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, (x.shape, y.shape)
    assert np.linalg.norm(x - y) <= rtol * max(np.linalg.norm(y), 1e-300), np.linalg.norm(x - y)


def _loss(solve):
    return lambda a, b: jnp.sum(jnp.abs(jnp.sin(solve(a, b))) ** 2)


@pytest.mark.parametrize(
    "lower,trans,unit", list(itertools.product([True, False], [0, 1, 2, "C"], [False, True]))
)
def test_solve_triangular_vs_jax_and_scipy(lower, trans, unit):
    kw = dict(trans=trans, lower=lower, unit_diagonal=unit)

    def ours(a, b):
        return matcalc.solve_triangular(a, b, **kw)

    def theirs(a, b):
        return jsl.solve_triangular(a, b, **kw)

    x = ours(A_C, B_C)
    _close(x, theirs(A_C, B_C))
    for i in range(2):
        _close(x[i], scipy.linalg.solve_triangular(A_C[i], B_C[i], **kw), 1e-13)
    ga, gb = jax.grad(_loss(ours), (0, 1))(A_C, B_C)
    ja, jb = jax.grad(_loss(theirs), (0, 1))(A_C, B_C)
    _close(ga, ja)
    _close(gb, jb)
    # no gradient leaks into the unread triangle, nor onto a unit diagonal
    read = np.tril(np.ones((N, N)), -int(unit)) if lower else np.triu(np.ones((N, N)), int(unit))
    assert np.all(np.asarray(ga)[:, read == 0] == 0)
    assert np.any(np.asarray(ga)[:, read == 1] != 0)


def test_solve_triangular_broadcast_and_vector():
    a = np.real(A_C)
    b = np.real(B_C[0])  # (n, k) against a batch of matrices
    _close(matcalc.solve_triangular(a, b, lower=True), jsl.solve_triangular(a, b[None], lower=True))
    v = b[:, 0]
    _close(matcalc.solve_triangular(a[0], v), scipy.linalg.solve_triangular(a[0], v), 1e-13)
    # batched 1-D right-hand sides: JAX's deprecated reading, with its FutureWarning
    bv = np.real(B_C[..., 0])
    with pytest.warns(FutureWarning):
        x = matcalc.solve_triangular(a, bv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        _close(x, jsl.solve_triangular(a, bv))


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("complex_", [False, True])
def test_cho_factor_value_and_gradient_convention(lower, complex_):
    a = np.stack([spd(N, seed=s, complex_=complex_) for s in (1, 2)])
    c, low = matcalc.cho_factor(a, lower=lower)
    jc, jlow = jsl.cho_factor(a, lower=lower)
    assert low is lower and jlow is lower
    _close(c, jc)  # including the zeros in the unused triangle
    unused = np.triu(np.ones((N, N)), 1) if lower else np.tril(np.ones((N, N)), -1)
    assert np.all(np.asarray(c)[:, unused == 1] == 0)
    # the gradient lies on the read triangle ...
    w = _rand(2, N, N, complex_=complex_)

    def pair(f):
        return lambda x: jnp.sum(jnp.real(w * f(x)))

    g = jax.grad(pair(lambda x: matcalc.cho_factor(x, lower=lower)[0]))(a)
    assert np.all(np.asarray(g)[:, unused == 1] == 0)
    # ... and along Hermitian tangents the derivative is JAX's
    t = _rand(2, N, N, complex_=complex_)
    t = t + np.conj(np.swapaxes(t, -1, -2))
    _, d = jax.jvp(lambda x: matcalc.cho_factor(x, lower=lower)[0], (a,), (t,))
    _, jd = jax.jvp(lambda x: jsl.cho_factor(x, lower=lower)[0], (a,), (t,))
    _close(d, jd, 1e-11)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("complex_", [False, True])
def test_grad_through_cho_solve_of_cho_factor(lower, complex_):
    x = _rand(2, N, N, complex_=complex_)
    b = _rand(2, N, 2, complex_=complex_)

    def make(mod):
        def loss(x, b):
            a = x @ jnp.conj(jnp.swapaxes(x, -1, -2)) + N * jnp.eye(N, dtype=x.dtype)[None]
            return jnp.sum(jnp.abs(jnp.sin(mod.cho_solve(mod.cho_factor(a, lower), b))) ** 2)

        return loss

    v, (gx, gb) = jax.value_and_grad(make(matcalc), (0, 1))(x, b)
    jv, (jx, jb) = jax.value_and_grad(make(jsl), (0, 1))(x, b)
    _close(v, jv)
    _close(gx, jx, 1e-11)
    _close(gb, jb, 1e-11)


@pytest.mark.parametrize("lower", [True, False])
def test_cho_solve_factor_gradient_matches_jax_and_stays_in_triangle(lower):
    a = spd(N, seed=3, complex_=True)
    c = np.asarray(jsl.cho_factor(a, lower=lower)[0])
    junk = _rand(N, N)
    c = c + (np.triu(junk, 1) if lower else np.tril(junk, -1))  # never read
    b = _rand(N, 2)
    ours = _loss(lambda c, b: matcalc.cho_solve((c, lower), b))
    theirs = _loss(lambda c, b: jsl.cho_solve((c, lower), b))
    _close(ours(c, b), theirs(c, b))
    gc, gb = jax.grad(ours, (0, 1))(c, b)
    jc, jb = jax.grad(theirs, (0, 1))(c, b)
    _close(gc, jc)
    _close(gb, jb)
    unused = np.triu(np.ones((N, N)), 1) if lower else np.tril(np.ones((N, N)), -1)
    assert np.all(np.asarray(gc)[unused == 1] == 0)


@pytest.mark.parametrize("trans", [0, 1, 2])
def test_lu_solve_vs_jax(trans):
    a, b = A_C - 3 * np.eye(N), B_C  # pivoting happens
    ours = _loss(lambda a, b: matcalc.lu_solve(matcalc.lu_factor(a), b, trans))
    theirs = _loss(lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans))
    _close(ours(a, b), theirs(a, b))
    ga, gb = jax.grad(ours, (0, 1))(a, b)
    ja, jb = jax.grad(theirs, (0, 1))(a, b)
    _close(ga, ja, 1e-11)
    _close(gb, jb, 1e-11)
    # in the packed factor: the same masked gradient as JAX's
    lu, piv = jsl.lu_factor(a)
    assert np.any(np.asarray(piv) != np.arange(N))
    gl = jax.grad(lambda lu: _loss(lambda lu, b: matcalc.lu_solve((lu, piv), b, trans))(lu, b))(lu)
    jl = jax.grad(lambda lu: _loss(lambda lu, b: jsl.lu_solve((lu, piv), b, trans))(lu, b))(lu)
    _close(gl, jl, 1e-11)
    # against SciPy, matrix by matrix
    x = matcalc.lu_solve(matcalc.lu_factor(a), b, trans)
    for i in range(2):
        _close(x[i], scipy.linalg.lu_solve(scipy.linalg.lu_factor(a[i]), b[i], trans), 1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_lu_factor_rectangular_vs_jax(shape):
    a = _rand(*shape)
    lu, piv = matcalc.lu_factor(a)
    jlu, jpiv = jsl.lu_factor(a)
    _close(lu, jlu)
    np.testing.assert_array_equal(piv, jpiv)
    assert piv.dtype == jpiv.dtype
    w = _rand(*shape)

    def pair(f):
        return lambda x: jnp.sum(jnp.real(w * f(x)[0]))

    _close(jax.grad(pair(matcalc.lu_factor))(a), jax.grad(pair(jsl.lu_factor))(a), 1e-11)


def _count(jaxpr, name):
    n = 0
    for eqn in jaxpr.eqns:
        n += eqn.primitive.name == name
        for v in eqn.params.values():
            inner = getattr(v, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                n += _count(inner, name)
            elif hasattr(v, "eqns"):
                n += _count(v, name)
    return n


def test_reverse_pass_reuses_the_factor():
    a = np.real(A_C[0])
    b = np.real(B_C[0])
    s = spd(N, seed=4)
    lu_loss = jax.grad(lambda a, b: jnp.sum(matcalc.lu_solve(matcalc.lu_factor(a), b) ** 2), (0, 1))
    cho_loss = jax.grad(lambda a, b: jnp.sum(matcalc.cho_solve(matcalc.cho_factor(a), b) ** 2), (0, 1))
    assert _count(jax.make_jaxpr(lu_loss)(a, b).jaxpr, "lu") == 1
    assert _count(jax.make_jaxpr(cho_loss)(s, b).jaxpr, "cholesky") == 1
    # gradient in b only: forward two triangular solves, reverse two more on the same factor
    gb = jax.grad(lambda b: jnp.sum(matcalc.cho_solve((s, True), b) ** 2))
    assert _count(jax.make_jaxpr(gb)(b).jaxpr, "triangular_solve") == 4


def test_not_positive_definite_gives_nan_under_jit():
    a = -np.eye(3)
    c = jax.jit(lambda a: matcalc.cho_factor(a)[0])(a)
    assert np.all(np.isnan(np.asarray(c)[np.triu_indices(3)]))


def test_bad_input():
    a, b = np.eye(3), np.ones((3, 2))
    with pytest.raises(ValueError, match="trans"):
        matcalc.solve_triangular(a, b, trans=3)
    with pytest.raises(ValueError, match="trans"):
        matcalc.lu_solve(matcalc.lu_factor(a), b, trans=3)
    with pytest.raises(ValueError, match=r"b has shape \(4, 2\)"):
        matcalc.solve_triangular(a, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"square.*\(3, 4\)"):
        matcalc.cho_factor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"lu_solve: lu must be square"):
        matcalc.lu_solve(matcalc.lu_factor(np.ones((3, 4))), b)
    with pytest.raises(ValueError, match="piv must have shape"):
        matcalc.lu_solve((a, np.zeros(2, np.int32)), b)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        matcalc.cho_solve((a, True), np.float64(1.0))
