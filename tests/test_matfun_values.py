"""Forward values where JAX/SciPy have one, option validation at the public boundary, empty and
half-precision input, and accuracy on ill-conditioned input, for the general matrix functions and
the Sylvester/Lyapunov solvers. References: SciPy, closed forms, exact squares, and JAX itself on
the same input."""

import functools

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg as sl

import matcalc
from tests.cases import rng


def _rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / max(np.linalg.norm(y), 1e-300)


def _similar(eigs, seed, complex_=False):
    """``V diag(eigs) V⁻¹`` with a well-conditioned V."""
    n = len(eigs)
    v = rng(seed).standard_normal((n, n))
    v = np.eye(n) + 0.5 * v / np.linalg.norm(v, 2)
    a = v @ np.diag(eigs) @ np.linalg.inv(v)
    return a.astype(complex) if complex_ else a


# ------------------------------------------------------------------------------------------
# options: validated eagerly, a ValueError naming the argument and the allowed values

A2 = np.array([[2.0, 1.0], [0.5, 3.0]])

BAD_OPTIONS = {
    "logm_sylvester": (lambda: matcalc.logm(A2, sylvester="bogus"), "sylvester"),
    "sqrtm_method": (lambda: matcalc.sqrtm(A2, method="bogus"), "method"),
    "sqrtm_sylvester": (lambda: matcalc.sqrtm(A2, sylvester="bogus"), "sylvester"),
    "sqrtm_iterate_schur": (lambda: matcalc.sqrtm(A2, method="schur", sylvester="iterate"), "iterate"),
    "solve_sylvester_method": (lambda: matcalc.solve_sylvester(A2, A2, A2, method="bogus"), "method"),
    "clyap_method": (lambda: matcalc.solve_continuous_lyapunov(-A2, A2, method="bogus"), "method"),
    "dlyap_method": (lambda: matcalc.solve_discrete_lyapunov(A2 / 9, A2, method="bogus"), "method"),
    "expm_frechet_method": (lambda: matcalc.expm_frechet(A2, A2, method="bogus"), "method"),
    "polar_side": (lambda: matcalc.polar(A2, side="bogus"), "side"),
    "expm_max_squarings": (lambda: matcalc.expm(A2, max_squarings=-1), "max_squarings"),
}


@pytest.mark.parametrize("name", sorted(BAD_OPTIONS))
def test_bad_option_raises_value_error_naming_it(name):
    fn, arg = BAD_OPTIONS[name]
    with pytest.raises(ValueError, match=arg) as err:
        fn()
    assert "bogus" in str(err.value) or "-1" in str(err.value) or "iterate" in str(err.value)


def test_bad_callables_and_exponent_raise_type_error():
    with pytest.raises(TypeError, match="frechet: f must be"):
        matcalc.frechet("bogus", A2, A2)
    with pytest.raises(TypeError, match="funm: func must be"):
        matcalc.funm(A2, "log")
    with pytest.raises(TypeError, match="fractional_matrix_power: t"):
        matcalc.fractional_matrix_power(A2, "half")
    with pytest.raises(TypeError, match="fractional_matrix_power: t"):
        matcalc.fractional_matrix_power(A2, 0.5j)


# ------------------------------------------------------------------------------------------
# empty input and half precision


EMPTY = {
    "expm": matcalc.expm,
    "expm_frechet": lambda a: matcalc.expm_frechet(a, a)[1],
    "frechet": lambda a: matcalc.frechet(matcalc.expm, a, a),
    "logm": matcalc.logm,
    "sqrtm": matcalc.sqrtm,
    "signm": matcalc.signm,
    "fractional_matrix_power": lambda a: matcalc.fractional_matrix_power(a, 0.5),
    "funm": lambda a: matcalc.funm(a, jnp.exp),
    "solve_sylvester": lambda a: matcalc.solve_sylvester(a, a, a),
    "solve_continuous_lyapunov": lambda a: matcalc.solve_continuous_lyapunov(a, a),
    "solve_discrete_lyapunov": lambda a: matcalc.solve_discrete_lyapunov(a, a),
}


@pytest.mark.parametrize("shape", [(0, 0), (3, 0, 0), (0, 2, 2)], ids=["0x0", "batch_of_0x0", "empty_batch"])
@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_input_returns_empty_result(name, shape):
    out = EMPTY[name](np.zeros(shape))
    assert out.shape == shape


def test_expm_empty_matches_jax():
    for shape in [(0, 0), (3, 0, 0)]:
        assert matcalc.expm(np.zeros(shape)).shape == jsl.expm(jnp.zeros(shape)).shape


# (sqrtm computes half precision in float32: tests/test_half_precision.py)
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", ["expm", "logm", "signm", "funm"])
def test_half_precision_is_a_clear_type_error(name, dtype):
    fn = {"funm": lambda a: matcalc.funm(a, jnp.exp)}.get(name, getattr(matcalc, name))
    with pytest.raises(TypeError, match=rf"{name}: A\.dtype={jnp.dtype(dtype).name} is not "):
        fn(jnp.eye(2, dtype=dtype))


# ------------------------------------------------------------------------------------------
# funm: complex result for real input, as JAX


def test_funm_real_input_keeps_the_imaginary_part():
    a = np.diag([-1.0, 2.0])
    out = matcalc.funm(a, jnp.log)
    assert out.dtype == jsl.funm(jnp.asarray(a), jnp.log).dtype
    np.testing.assert_allclose(out, np.diag(np.log(np.array([-1.0, 2.0], complex))), atol=1e-15)


def test_funm_float32_power_matches_principal_value():
    a = jnp.array([[-1.5]], jnp.float32)
    out = matcalc.funm(a, lambda x: x**-2.718)
    want = np.complex128(-1.5) ** -2.718  # principal branch, ≈ −0.2101 − 0.2573i
    assert out.dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(out)[0, 0], want, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# sqrtm / logm / fractional_matrix_power: principal values where the DB iteration fails


def test_sqrtm_principal_value_where_db_fails():
    np.testing.assert_allclose(matcalc.sqrtm(np.array([[-4.0 + 0j]])), [[2j]], atol=1e-15)
    np.testing.assert_allclose(matcalc.sqrtm(np.diag([0.0, 4.0, 0.0])), np.diag([0.0, 2.0, 0.0]), atol=1e-15)
    # real input keeps its dtype; its principal root is complex here, so NaN (documented)
    assert np.all(np.isnan(matcalc.sqrtm(np.array([[-4.0]]))))


A_NEG = _similar([-1.0, -2.0, 3.0, 4.0, 5.0], 1, complex_=True)  # eigenvalues on the cut
E5 = rng(2).standard_normal((5, 5)).astype(complex)
W5 = rng(3).standard_normal((5, 5)).astype(complex)


def test_sqrtm_complex_negative_eigenvalues_value_and_derivative():
    x, lx = jax.jvp(matcalc.sqrtm, (A_NEG,), (E5,))
    xs = sl.sqrtm(A_NEG)
    assert _rel(x, xs) < 1e-13
    assert _rel(lx, sl.solve_sylvester(xs, xs, E5)) < 1e-12  # X L + L X = E
    # reverse mode: ⟨W, L(E)⟩ = ⟨L*(W), E⟩ in JAX's bilinear pairing
    (g,) = jax.vjp(matcalc.sqrtm, A_NEG)[1](W5)
    assert abs(np.sum(W5 * lx) - np.sum(np.asarray(g) * E5)) < 1e-12 * np.abs(W5 * lx).sum()


def test_sqrtm_fallback_in_a_batch_leaves_the_others_exact():
    batch = np.stack([4.0 * np.eye(5, dtype=complex), A_NEG])
    x = matcalc.sqrtm(batch)
    assert _rel(x[0], 2 * np.eye(5)) < 1e-15 and _rel(x[1], sl.sqrtm(A_NEG)) < 1e-13
    # real batch: the second matrix's principal root is not real (NaN, documented); the first
    # one's gradient stays exact: d Σ_ij sqrt(A)_ij at A = 4I is L(I, 1) = 1/4 everywhere
    g = jax.grad(lambda a: jnp.nansum(matcalc.sqrtm(a)[:1]))(batch.real)
    np.testing.assert_allclose(g[0], np.full((5, 5), 0.25), atol=1e-14)


def _block_log_frechet(a, e):
    n = a.shape[0]
    big = sl.logm(np.block([[a, e], [np.zeros_like(a), a]]))
    return big[:n, n:]  # (1,2) block of log([[A, E], [0, A]]) = L_log(A, E)


def test_logm_and_power_complex_negative_eigenvalues():
    x, lx = jax.jvp(matcalc.logm, (A_NEG,), (E5,))
    assert _rel(x, sl.logm(A_NEG)) < 1e-13
    assert _rel(lx, _block_log_frechet(A_NEG, E5)) < 1e-10
    (g,) = jax.vjp(matcalc.logm, A_NEG)[1](W5)
    assert abs(np.sum(W5 * lx) - np.sum(np.asarray(g) * E5)) < 1e-10 * np.abs(W5 * lx).sum()
    p = matcalc.fractional_matrix_power(A_NEG, 0.3)
    assert _rel(p, sl.fractional_matrix_power(A_NEG, 0.3)) < 1e-12
    lg = matcalc.logm(np.array([[-1.0 + 0j]]))
    np.testing.assert_allclose(lg, [[1j * np.pi]], atol=1e-14)


# ------------------------------------------------------------------------------------------
# sqrtm accuracy: float32 against JAX's own test tolerance, ill-conditioned float64 vs JAX


def test_sqrtm_float32_psd_n15_within_jax_tolerance():
    # JAX's testSqrtmPSDMatrix: mat = arg argᵀ, float32, rtol = atol = 1e-4 against SciPy
    arg = (3 * rng(1).standard_normal((15, 15))).astype(np.float32)
    mat = arg @ arg.T  # κ ≈ 2e5
    ref = sl.sqrtm(mat.astype(np.float64)).real
    np.testing.assert_allclose(matcalc.sqrtm(mat), ref, rtol=1e-4, atol=1e-4)


def _ill_conditioned(n, cond, seed=1):
    """``V diag(1 … 1/cond) V⁻¹`` with ``κ(V) ≈ 3``, and ``(V Λ^{1/2} V⁻¹, V log Λ V⁻¹)`` of the
    float64 matrix itself by its eigendecomposition in mpmath (30 digits)."""
    import mpmath as mp

    r = rng(seed)
    v = r.standard_normal((n, n))
    v = np.eye(n) + 0.5 * v / np.linalg.norm(v, 2)
    a = v @ np.diag(np.geomspace(1, 1 / cond, n)) @ np.linalg.inv(v)
    with mp.workdps(30):
        lam, vv = mp.eig(mp.matrix(a.tolist()))
        vi = mp.inverse(vv)
        refs = [
            np.array((vv * mp.diag([f(x) for x in lam]) * vi).tolist(), dtype=complex).real
            for f in (mp.sqrt, mp.log)
        ]
    return a, *refs


# n = 13: above every size threshold (the Kronecker solves stop at n = 12)
@pytest.mark.parametrize("cond", [1e8, 1e12], ids=["cond1e8", "cond1e12"])
def test_sqrtm_logm_ill_conditioned_at_least_as_accurate_as_jax_and_scipy(cond):
    a, x_ref, log_ref = _ill_conditioned(13, cond)
    err = _rel(matcalc.sqrtm(a), x_ref)
    err_jax = _rel(np.asarray(jsl.sqrtm(a)).real, x_ref)
    assert err <= 2 * err_jax, (err, err_jax)  # measured 7e-15 vs 3e-14 (1e8), 9e-13 vs 9e-13
    err_log = _rel(matcalc.logm(a), log_ref)
    err_scipy = _rel(sl.logm(a).real, log_ref)
    assert err_log <= 3 * err_scipy, (err_log, err_scipy)  # measured 1e-11 vs 3e-11, 3e-8 vs 1e-8


# ------------------------------------------------------------------------------------------
# Sylvester / Lyapunov: any uniquely solvable equation, JAX's names and methods

N13 = 13  # n·m = 169 > 144: the sign-function path with its fallback
AS = rng(7).standard_normal((N13, N13))
BS = rng(8).standard_normal((N13, N13))
CS = rng(9).standard_normal((N13, N13))


def test_sylvester_unseparated_spectra_value_and_derivatives():
    f = functools.partial(matcalc.solve_sylvester, method="auto")
    e = rng(10).standard_normal((N13, N13))
    x, lx = jax.jvp(lambda a: f(a, BS, CS), (AS,), (e,))
    x_ref = sl.solve_sylvester(AS, BS, CS)
    assert _rel(x, x_ref) < 1e-12
    assert _rel(lx, sl.solve_sylvester(AS, BS, -e @ x_ref)) < 1e-12
    ga = jax.grad(lambda a: jnp.sum(f(a, BS, CS) * e))(AS)
    y = sl.solve_sylvester(AS.T, BS.T, e)  # adjoint equation; Ā = −Y Xᵀ
    assert _rel(ga, -y @ x_ref.T) < 1e-12


@pytest.mark.parametrize("method", ["schur", "eigen"])
def test_sylvester_jax_methods_and_names(method):
    x = matcalc.solve_sylvester(A=AS[:4, :4], B=BS[:3, :3], C=CS[:4, :3], method=method, tol=1e-10)
    want = jsl.solve_sylvester(AS[:4, :4], BS[:3, :3], CS[:4, :3], method=method, tol=1e-10)
    assert _rel(x, want) < 1e-13
    lx = jax.jvp(
        lambda c: matcalc.solve_sylvester(AS[:4, :4], BS[:3, :3], c, method=method),
        (CS[:4, :3],),
        (CS[:4, :3],),
    )[1]
    assert _rel(lx, want) < 1e-13


def test_sylvester_tol_gives_nan_as_jax():
    a = np.diag([1.0, 2.0])
    x = matcalc.solve_sylvester(a, -a, np.eye(2), method="schur")
    assert np.all(np.isnan(x)) and np.all(np.isnan(jsl.solve_sylvester(a, -a, np.eye(2))))


def _backward_error(residual, *scales):
    return np.linalg.norm(residual) / np.prod([np.linalg.norm(x) for x in scales])


def test_lyapunov_unstable_large_as_accurate_as_scipy():
    # The equations are ill-conditioned (‖X‖ ≈ 1e3 ‖Q‖), so compare backward errors (SciPy's
    # Bartels–Stewart is backward stable; JAX's Schur method gives the same X here).
    a = AS  # eigenvalues on both sides of the imaginary axis
    for x in (matcalc.solve_continuous_lyapunov(a, CS), sl.solve_continuous_lyapunov(a, CS)):
        x = np.asarray(x)
        assert _backward_error(a @ x + x @ a.T - CS, a, x) < 1e-15
    d = 0.8 * a / np.max(np.abs(np.linalg.eigvals(a))) + 0.5 * np.eye(N13)  # |λ| on both sides of 1
    errs = []
    for x in (matcalc.solve_discrete_lyapunov(d, CS), sl.solve_discrete_lyapunov(d, CS)):
        x = np.asarray(x)
        errs.append(_backward_error(d @ x @ d.T - x + CS, x))
    assert errs[0] <= 2 * errs[1] + 1e-15, errs


def test_sylvester_batch_mixing_separated_and_not():
    sep_a = np.abs(AS) + 3 * N13 * np.eye(N13)
    sep_b = np.abs(BS) + 3 * N13 * np.eye(N13)
    x = matcalc.solve_sylvester(np.stack([AS, sep_a]), np.stack([BS, sep_b]), CS)
    assert _rel(x[0], sl.solve_sylvester(AS, BS, CS)) < 1e-12
    assert _rel(x[1], sl.solve_sylvester(sep_a, sep_b, CS)) < 1e-13


# ------------------------------------------------------------------------------------------
# disp=False: (value, error estimate), as SciPy (logm, signm) and JAX (funm)


def test_disp_false_returns_value_and_error_estimate():
    f, err = matcalc.logm(A2, disp=False)
    assert _rel(f, sl.logm(A2)) < 1e-14 and 0 <= float(err) < 1e-14
    s, err = matcalc.signm(A2 - 2.2 * np.eye(2), disp=False)
    assert _rel(s, sl.signm(A2 - 2.2 * np.eye(2)).real) < 1e-14 and 0 <= float(err) < 1e-14
    f, err = matcalc.funm(A2, jnp.exp, disp=False)
    _, err_jax = jsl.funm(jnp.asarray(A2), jnp.exp, disp=False)
    import mpmath as mp

    with mp.workdps(30):
        want = np.array(mp.expm(mp.matrix(A2.tolist())).tolist(), dtype=float)
    # the estimate bounds the actual error, and is of JAX's order
    assert _rel(f, want) <= 10 * float(err) < 1000 * max(float(err_jax), 1e-16)
    with pytest.raises(TypeError, match="logm: disp must be True or False"):
        matcalc.logm(A2, disp="no")


# ------------------------------------------------------------------------------------------
# expm on ill-conditioned input, every Padé regime: value and Fréchet derivative against
# Daleckii–Krein in mpmath, at least as accurate as JAX's expm and its autodiff derivative


def _mp_exp_and_frechet(a, e):
    import mpmath as mp

    n = a.shape[0]
    with mp.workdps(30):
        lam, v = mp.eig(mp.matrix(a.tolist()))
        vi = mp.inverse(v)
        fl = [mp.exp(x) for x in lam]
        g = vi * mp.matrix(e.tolist()) * v
        for i in range(n):
            for j in range(n):
                g[i, j] *= (fl[i] - fl[j]) / (lam[i] - lam[j]) if i != j else fl[i]
        val = np.array((v * mp.diag(fl) * vi).tolist(), dtype=complex).real
        der = np.array((v * g * vi).tolist(), dtype=complex).real
    return val, der


@pytest.mark.parametrize("norm1", [1e-2, 3.0, 50.0], ids=["pade3_5", "pade9_13", "squarings"])
def test_expm_ill_conditioned_at_least_as_accurate_as_jax(norm1):
    a, _, _ = _ill_conditioned(13, 1e8)
    a = a * (norm1 / np.linalg.norm(a, 1))
    e = rng(9).standard_normal((13, 13))
    want, dwant = _mp_exp_and_frechet(a, e)
    x, lx = jax.jvp(matcalc.expm, (a,), (e,))
    xj, lj = jax.jvp(jsl.expm, (a,), (e,))
    assert _rel(x, want) <= max(2 * _rel(xj, want), 1e-15)
    assert _rel(lx, dwant) <= max(2 * _rel(lj, dwant), 1e-15)
