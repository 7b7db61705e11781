"""Derivatives of logm, sqrtm and fractional_matrix_power (the differentiated Denman–Beavers
iterates and the fixed-trip root scan) against high-precision references.

Reference: ``f(A) = V f(Λ) V⁻¹`` from mpmath's eigendecomposition at 60–90 digits, and the
Fréchet derivative ``L_f(A, E)`` from it by a central difference with step 1e-25 (second
derivative: a second central difference), independent of the algorithm under test.
"""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import matcalc
from tests.cases import rng, well_conditioned


def _rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / max(np.linalg.norm(y), 1e-300)


def _to_mp(x):
    return mp.matrix([[mp.mpc(complex(v)) for v in row] for row in np.asarray(x)])


def _mp_funm(a, f):
    """``f(A) = V f(Λ) V⁻¹`` from mpmath's eigendecomposition (the test inputs are
    diagonalizable with distinct eigenvalues off the closed negative real axis; ``f`` is the
    principal branch). mpmath's own ``logm``/``sqrtm`` iterations fail on the wide-spectrum
    inputs, so they are not used."""
    w, v = mp.eig(a)
    return v * mp.diag([f(x) for x in w]) * mp.inverse(v)


def _mp_frechet(f, a, e, dps=60):
    """``L_f(A, E)`` by a central difference with step 1e-25 at 60 digits (truncation and
    round-off far below double precision)."""
    n = a.shape[-1]
    with mp.workdps(dps):
        h = mp.mpf("1e-25")
        am, em = _to_mp(a), _to_mp(e)
        d = (_mp_funm(am + h * em, f) - _mp_funm(am - h * em, f)) / (2 * h)
        out = np.array([[complex(d[i, j]) for j in range(n)] for i in range(n)])
    return out if np.iscomplexobj(a) or np.iscomplexobj(e) else out.real


MP = {
    "logm": mp.log,
    "sqrtm": mp.sqrt,
    "sqrtm_iterate": mp.sqrt,
    "fmp0.37": lambda x: mp.exp(mp.mpf("0.37") * mp.log(x)),
    "fmp-0.6": lambda x: mp.exp(mp.mpf("-0.6") * mp.log(x)),
}
OURS = {
    "logm": matcalc.logm,
    "sqrtm": matcalc.sqrtm,
    "sqrtm_iterate": functools.partial(matcalc.sqrtm, sylvester="iterate"),
    "fmp0.37": lambda a: matcalc.fractional_matrix_power(a, 0.37),
    "fmp-0.6": lambda a: matcalc.fractional_matrix_power(a, -0.6),
}


def _q(n, seed):
    return np.linalg.qr(rng(seed).standard_normal((n, n)))[0]


def _nonnormal_spread(n, seed, lo, hi):
    v = np.eye(n) + 0.5 * rng(seed).standard_normal((n, n))
    return v @ np.diag(np.logspace(lo, hi, n)) @ np.linalg.inv(v)


# (input, tolerance). Tolerances: ~1e3·eps times the condition of the derivative problem.
INPUTS = {
    "ordinary": (well_conditioned(4, 31) + 2 * np.eye(4), 1e-12),
    "non_normal": (np.triu(rng(32).standard_normal((4, 4)), 1) * 10 + np.diag([1.0, 2, 3, 4]), 1e-11),
    "complex": (well_conditioned(3, 33, complex_=True) + 1.5 * np.eye(3), 1e-12),
    "near_singular": (np.diag([1e-6, 1.0, 3.0]) + np.triu(np.ones((3, 3)), 1), 1e-8),
    # ‖log A‖ ≈ 18 (7 square roots), well conditioned
    "scaled_1e8": (1e8 * (well_conditioned(4, 37) + 2 * np.eye(4)), 1e-12),
    # κ(A) = 1e8: the derivative itself is ill-conditioned (measured errors ~1e-9; the Sylvester
    # alternative gets ~1e-10)
    "spd_1e-4_1e4": (_q(4, 34) @ np.diag(np.logspace(-4, 4, 4)) @ _q(4, 34).T, 3e-8),
    "non_normal_1e-4_1e4": (_nonnormal_spread(4, 35, -4, 4), 3e-8),
}


@pytest.mark.parametrize("op", sorted(OURS))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_frechet_derivative_vs_mpmath(op, name):
    a, tol = INPUTS[name]
    r = rng(40)
    e = r.standard_normal(a.shape)
    if np.iscomplexobj(a):
        e = e + 1j * r.standard_normal(a.shape)
    want = _mp_frechet(MP[op], a, e)
    got = jax.jvp(OURS[op], (a,), (e,))[1]
    assert np.all(np.isfinite(got))
    assert _rel(got, want) < tol, (op, name, _rel(got, want))
    # reverse mode is the transposed JVP (JAX's convention: bilinear, Σ g∘E = Σ W∘L(E))
    w = rng(41).standard_normal(a.shape).astype(np.asarray(got).dtype)
    _, vjp = jax.vjp(OURS[op], a)
    (g,) = vjp(w)
    lhs = np.sum(np.asarray(g) * e)
    rhs = np.sum(w * np.asarray(got))
    assert abs(lhs - rhs) <= tol * np.linalg.norm(g) * np.linalg.norm(e)


def test_batch_with_different_numbers_of_roots():
    # 0 roots (already close to I), a few roots, and many roots in one batched call
    a0 = np.eye(3) + 0.05 * well_conditioned(3, 50)
    a1 = well_conditioned(3, 51) + 2 * np.eye(3)
    a2 = 1e6 * (well_conditioned(3, 52) + 2 * np.eye(3))  # ‖log A‖ ≈ 14: 6 roots
    batch = np.stack([a0, a1, a2])
    e = rng(53).standard_normal(batch.shape)
    for op in ("logm", "sqrtm", "sqrtm_iterate", "fmp0.37"):
        got = jax.jvp(OURS[op], (batch,), (e,))[1]
        for k in range(3):
            want = _mp_frechet(MP[op], batch[k], e[k])
            assert _rel(got[k], want) < 1e-9, (op, k, _rel(got[k], want))
        # the derivative path returns the forward's values
        val = jax.jvp(OURS[op], (batch,), (e,))[0]
        assert _rel(val, OURS[op](batch)) < 1e-14
    # vmap of the rule agrees with the natively batched rule
    g1 = jax.jvp(jax.vmap(matcalc.logm), (batch,), (e,))[1]
    g2 = jax.jvp(matcalc.logm, (batch,), (e,))[1]
    assert _rel(g1, g2) < 1e-13


def test_value_under_differentiation_matches_forward():
    a = INPUTS["non_normal"][0]
    for op in ("logm", "sqrtm"):
        val, _ = jax.value_and_grad(lambda x: jnp.sum(OURS[op](x) ** 2))(a)
        assert abs(val - np.sum(np.asarray(OURS[op](a)) ** 2)) <= 1e-13 * abs(val)


def test_sylvester_alternatives_agree_with_iterate_derivative():
    a, _ = INPUTS["ordinary"]
    e = rng(60).standard_normal(a.shape)
    base = jax.jvp(matcalc.logm, (a,), (e,))[1]
    for syl in ("kron", "sign"):
        alt = jax.jvp(functools.partial(matcalc.logm, sylvester=syl), (a,), (e,))[1]
        assert _rel(alt, base) < 1e-12
        alt = jax.jvp(functools.partial(matcalc.sqrtm, sylvester=syl), (a,), (e,))[1]
        it = jax.jvp(functools.partial(matcalc.sqrtm, sylvester="iterate"), (a,), (e,))[1]
        assert _rel(alt, it) < 1e-12


def test_second_order_logm_vs_mpmath():
    # D²log(A)(E, E) by a second central difference (step 1e-25) at 90 digits
    a, _ = INPUTS["ordinary"]
    a = a[:3, :3]
    e = rng(70).standard_normal((3, 3))
    with mp.workdps(90):
        h = mp.mpf("1e-25")
        am, em = _to_mp(a), _to_mp(e)
        d = (_mp_funm(am + h * em, mp.log) - 2 * _mp_funm(am, mp.log) + _mp_funm(am - h * em, mp.log)) / h**2
        want = np.array([[complex(d[i, j]).real for j in range(3)] for i in range(3)])

    def lin(x):
        return jax.jvp(matcalc.logm, (x,), (e,))[1]

    got = jax.jvp(lin, (a,), (e,))[1]
    assert _rel(got, want) < 1e-10


def test_cap_exceeded_gives_nan_derivative():
    # A unipotent matrix with a large off-diagonal part has a huge ‖log A‖ (~1e13): the forward
    # takes MAX_ROOTS = 40 square roots, which need 104 DB steps in total, more than the
    # derivative's DIFF_MAX_STEPS = 96: the derivative is NaN, the value returned with it is the
    # forward's.
    # In a batch with a well-conditioned matrix, only that matrix's derivative is NaN (one batched
    # program per mode instead of one per shape).
    a = np.eye(5) + 1e4 * np.triu(np.ones((5, 5)), 1)
    b = np.stack([a, well_conditioned(5, 36) + 2 * np.eye(5)])
    value = matcalc.logm(b)
    assert np.all(np.isfinite(value))
    val, tan = jax.jvp(matcalc.logm, (b,), (np.ones((2, 5, 5)),))
    assert np.all(np.isnan(tan[0])) and np.all(np.isfinite(tan[1]))
    np.testing.assert_array_equal(val[0], value[0])
    assert _rel(val[1], value[1]) < 1e-14  # two compiled programs: equal to rounding
    g = jax.grad(lambda x: jnp.sum(matcalc.logm(x)))(b)
    assert np.all(np.isnan(g[0])) and np.all(np.isfinite(g[1]))


def test_out_of_domain_derivative_is_nan():
    a = np.diag([-1.0, 2.0])  # real input with a negative eigenvalue: no real root
    for op in ("logm", "sqrtm", "sqrtm_iterate"):
        val, tan = jax.jvp(OURS[op], (a,), (np.ones((2, 2)),))
        assert np.all(np.isnan(val)) and np.all(np.isnan(tan))


def test_iterate_option_needs_db():
    with pytest.raises(ValueError, match="iterate"):
        matcalc.sqrtm(np.eye(2), method="schur", sylvester="iterate")
