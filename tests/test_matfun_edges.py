"""Edge cases of sqrtm, logm, fractional_matrix_power, signm, polar, funm and the Sylvester /
Lyapunov solvers: larger and non-normal input, nearly singular input, complex input, float32,
batches, both Sylvester methods, and out-of-domain input (documented NaN or a clear error)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import matcalc
from tests.cases import rng, well_conditioned


def _rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / max(np.linalg.norm(y), 1e-300)


def _fd(f, a, e, h=1e-6):
    return (f(a + h * e) - f(a - h * e)) / (2 * h)


A12 = well_conditioned(12, 1) + 1.5 * np.eye(12)
A20 = well_conditioned(20, 2) + 1.5 * np.eye(20)


@pytest.mark.parametrize("a", [A12, A20], ids=["n12_kron", "n20_sign"])
def test_sqrtm_accuracy_and_derivative(a):
    x = matcalc.sqrtm(a)
    assert _rel(x, sl.sqrtm(a)) < 1e-13
    e = rng(3).standard_normal(a.shape)
    lx = jax.jvp(matcalc.sqrtm, (a,), (e,))[1]
    # X L + L X = E, checked directly against SciPy's Schur-based Sylvester solver
    assert _rel(lx, sl.solve_sylvester(np.asarray(x), np.asarray(x), e)) < 1e-12


def test_sqrtm_sylvester_methods_agree_and_schur_method():
    a = A12[:6, :6]
    e = rng(4).standard_normal((6, 6))
    lk = jax.jvp(lambda a: matcalc.sqrtm(a, sylvester="kron"), (a,), (e,))[1]
    ls = jax.jvp(lambda a: matcalc.sqrtm(a, sylvester="sign"), (a,), (e,))[1]
    assert _rel(ls, lk) < 1e-12
    xs = matcalc.sqrtm(a, method="schur")
    assert _rel(xs, sl.sqrtm(a)) < 1e-12


def test_sqrtm_non_normal_complex_float32_batch():
    t = np.triu(rng(5).standard_normal((5, 5)), 1) * 10 + np.diag([1.0, 2, 3, 4, 5])
    assert _rel(matcalc.sqrtm(t), sl.sqrtm(t)) < 1e-12
    c = well_conditioned(4, 6, complex_=True) + 2 * np.eye(4)
    assert _rel(matcalc.sqrtm(c), sl.sqrtm(c)) < 1e-13
    x32 = matcalc.sqrtm(A12.astype(np.float32))
    assert x32.dtype == jnp.float32 and _rel(x32, sl.sqrtm(A12)) < 1e-5
    batch = np.stack([A12[:4, :4], 100 * A12[:4, :4], 1e-3 * A12[:4, :4]])
    xb = matcalc.sqrtm(batch)
    for k in range(3):
        assert _rel(xb[k], sl.sqrtm(batch[k])) < 1e-13


def test_sqrtm_out_of_domain_is_nan():
    assert np.all(np.isnan(matcalc.sqrtm(np.diag([-1.0, 2.0]))))  # negative real eigenvalue
    assert np.all(np.isnan(matcalc.sqrtm(np.array([[0.0, 1.0], [0.0, 0.0]]))))  # singular
    with pytest.raises(ValueError, match="method"):
        matcalc.sqrtm(np.eye(2), method="newton")


def test_logm_accuracy_derivative_and_nearly_singular():
    for a in (A12, np.diag([1e-8, 1.0, 3.0]) + np.triu(np.ones((3, 3)), 1)):
        x = matcalc.logm(a)
        assert x.dtype == jnp.float64  # real output for real input
        assert _rel(x, sl.logm(a)) < 1e-12
    a = A12[:5, :5]
    e = rng(7).standard_normal((5, 5))
    lx = jax.jvp(matcalc.logm, (a,), (e,))[1]
    # block-triangular identity: logm([[A, E], [0, A]]) = [[log A, L], [0, log A]]
    big = np.block([[a, e], [np.zeros_like(a), a]])
    assert _rel(lx, sl.logm(big)[:5, 5:]) < 1e-10
    assert _rel(matcalc.expm(matcalc.logm(a)), a) < 1e-13


def test_logm_complex_and_out_of_domain():
    c = well_conditioned(4, 8, complex_=True) + np.eye(4)
    assert _rel(matcalc.logm(c), sl.logm(c)) < 1e-12
    assert np.all(np.isnan(matcalc.logm(np.diag([-1.0, 2.0]))))


def test_fractional_matrix_power():
    a = A12[:5, :5]
    for t in (0.5, -0.3, 2.7):
        want = sl.fractional_matrix_power(a, t).real
        assert _rel(matcalc.fractional_matrix_power(a, t), want) < 1e-12
    assert _rel(matcalc.fractional_matrix_power(a, 3), a @ a @ a) < 1e-14
    assert _rel(matcalc.fractional_matrix_power(a, 0.5), matcalc.sqrtm(a)) < 1e-12


def test_signm_and_its_domain():
    a = rng(9).standard_normal((6, 6))
    assert _rel(matcalc.signm(a), sl.signm(a).real) < 1e-12
    e = rng(10).standard_normal((6, 6))
    big = np.block([[a, e], [np.zeros_like(a), a]])
    lx = jax.jvp(matcalc.signm, (a,), (e,))[1]
    assert _rel(lx, sl.signm(big).real[:6, 6:]) < 1e-10
    rot = np.array([[0.0, 1.0], [-1.0, 0.0]])  # eigenvalues ±i on the imaginary axis
    assert np.all(np.isnan(matcalc.signm(rot)))


def test_polar_rank_deficient_and_shapes():
    a = rng(11).standard_normal((4, 4))
    u, s, vh = np.linalg.svd(a)
    a1 = (u * np.array([3.0, 2.0, 1.0, 0.0])) @ vh  # rank n − 1: U still unique
    g = jax.grad(lambda a: jnp.sum(rng(12).standard_normal((4, 4)) * matcalc.polar(a)[0]))(a1)
    assert np.all(np.isfinite(g))
    up, pp = matcalc.polar(a1)
    assert _rel(up @ pp, a1) < 1e-13
    with pytest.raises(ValueError, match="m >= n"):
        matcalc.polar(np.ones((2, 3)))
    with pytest.raises(ValueError, match="side"):
        matcalc.polar(np.eye(2), side="up")


def test_funm_matches_scipy_and_expm():
    a = rng(13).standard_normal((5, 5))
    assert _rel(matcalc.funm(a, jnp.exp), sl.expm(a)) < 1e-12
    e = rng(14).standard_normal((5, 5))
    lx = jax.jvp(lambda a: matcalc.funm(a, jnp.exp), (a,), (e,))[1]
    assert _rel(lx, sl.expm_frechet(a, e)[1]) < 1e-10


def test_funm_second_derivative_matches_scipy_frechet():
    # d/dt L_exp(A + t E2, E1) by central differences of SciPy's expm_frechet (an independent
    # reference) against funm(exp)'s jvp-of-jvp, which differentiates matcalc.eig's rule.
    a = rng(19).standard_normal((4, 4))
    e1, e2 = rng(20).standard_normal((2, 4, 4))
    # one compiled program (the eager form compiled dozens of small complex kernels one by one)
    second = jax.jit(
        lambda a: jax.jvp(lambda a: jax.jvp(lambda b: matcalc.funm(b, jnp.exp), (a,), (e1,))[1], (a,), (e2,))[
            1
        ]
    )(a)
    want = _fd(lambda t: sl.expm_frechet(a + t * e2, e1)[1], 0.0, 1.0, h=1e-4)
    assert _rel(second, want) < 1e-7


@pytest.mark.parametrize("method", ["kron", "sign"])
def test_sylvester_methods(method):
    a, b = A12[:6, :6], well_conditioned(5, 15) + 2 * np.eye(5)
    c = rng(16).standard_normal((6, 5))
    x = matcalc.solve_sylvester(a, b, c, method=method)
    assert _rel(x, sl.solve_sylvester(a, b, c)) < 1e-13
    da, db, dc = rng(17).standard_normal((6, 6)), rng(18).standard_normal((5, 5)), c
    dx = jax.jvp(lambda a, b, c: matcalc.solve_sylvester(a, b, c, method=method), (a, b, c), (da, db, dc))[1]
    want = _fd(lambda t: sl.solve_sylvester(a + t * da, b + t * db, c + t * dc), 0.0, 1.0)
    assert _rel(dx, want) < 1e-8


def test_sylvester_sign_mixed_spectra_is_nan_and_kron_solves():
    a = np.diag([1.0, -2.0, 3.0])
    b = np.diag([1.5, 2.5, -0.5])
    c = rng(19).standard_normal((3, 3))
    assert np.all(np.isnan(matcalc.solve_sylvester(a, b, c, method="sign")))
    assert _rel(matcalc.solve_sylvester(a, b, c), sl.solve_sylvester(a, b, c)) < 1e-13


def test_lyapunov_large_default_path_and_batch():
    s = -A20
    q = rng(20).standard_normal((20, 20))
    assert _rel(matcalc.solve_continuous_lyapunov(s, q), sl.solve_continuous_lyapunov(s, q)) < 1e-12
    d = 0.05 * A20
    assert _rel(matcalc.solve_discrete_lyapunov(d, q), sl.solve_discrete_lyapunov(d, q)) < 1e-12
    ab = np.stack([-A12[:3, :3], -10 * A12[:3, :3]])
    qb = np.stack([np.eye(3), 2 * np.eye(3)])
    xb = matcalc.solve_continuous_lyapunov(ab, qb)
    for k in range(2):
        assert _rel(xb[k], sl.solve_continuous_lyapunov(ab[k], qb[k])) < 1e-13


def test_equation_bad_input():
    with pytest.raises(ValueError, match="C must have shape"):
        matcalc.solve_sylvester(np.eye(2), np.eye(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="method"):
        matcalc.solve_sylvester(np.eye(2), np.eye(2), np.eye(2), method="bogus")
    with pytest.raises(ValueError, match="square"):
        matcalc.solve_continuous_lyapunov(np.ones((2, 3)), np.eye(2))


def test_funm_of_a_defective_matrix_is_nan_not_a_wrong_number():
    """A Jordan block has no eigenbasis: V f(Λ) V⁻¹ would return diag(e^½, e^½) without the e^½ in
    the corner. funm gives NaN (value, forward and reverse derivatives) there, only for that
    matrix of a batch; expm, which does not go through the eigenbasis, is exact."""
    jordan = jnp.array([[0.5, 1.0], [0.0, 0.5]])
    fine = jnp.array([[1.0, 2.0], [0.0, 3.0]])
    out = matcalc.funm(jnp.stack([jordan, fine]), jnp.exp)
    assert np.all(np.isnan(out[0]))
    np.testing.assert_allclose(out[1], sl.expm(np.asarray(fine)), rtol=1e-13)
    grad = jax.grad(lambda a: jnp.trace(matcalc.funm(a, jnp.exp)).real)(jordan)
    assert np.all(np.isnan(grad))
    tangent = jax.jvp(lambda a: matcalc.funm(a, jnp.exp), (jordan,), (fine,))[1]
    assert np.all(np.isnan(tangent))
    np.testing.assert_allclose(
        matcalc.expm(jordan), [[np.exp(0.5), np.exp(0.5)], [0.0, np.exp(0.5)]], rtol=1e-14
    )
