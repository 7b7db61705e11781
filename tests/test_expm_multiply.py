"""``krylov.expm_multiply`` and ``scipy.sparse.linalg.expm_multiply``: e^{tA}B and its derivatives.

References: SciPy's ``expm_multiply`` and ``expm``, JAX's ``expm`` and its derivative, the closed form
of the discrete heat equation in its sine eigenbasis, and central finite differences.
"""

from functools import partial

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.linalg as sl
import scipy.sparse.linalg as ssl
from jax.experimental import sparse as jsparse

import matcalc.scipy.sparse.linalg as msl
from matcalc.krylov import expm_multiply

N = 12


def _draw(rng, shape, complex_=False):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if complex_ else x


def _with_norm(rng, n, norm, complex_=False):
    a = _draw(rng, (n, n), complex_)
    return a * (norm / np.abs(a).sum(axis=0).max())


def _wrap(kind, a):
    a = jnp.asarray(a)
    return {"dense": a, "bcoo": jsparse.BCOO.fromdense(a), "lineax": lx.MatrixLinearOperator(a)}[kind]


# Jitted once per shape and operand kind: eager calls would compile every loop afresh.
_action = jax.jit(expm_multiply, static_argnames=("max_steps", "derivative"))
_grid = jax.jit(msl.expm_multiply, static_argnames=("num", "endpoint"))


def _rel(x, ref):
    x, ref = np.asarray(x), np.asarray(ref)
    return np.abs(x - ref).max() / np.abs(ref).max()


# ---------------------------------------------------------------------------------------------
# values


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("kind", ["dense", "bcoo", "lineax"])
def test_values_match_scipy(kind, complex_):
    rng = np.random.default_rng(1)
    a = _with_norm(rng, N, 6.0, complex_)
    a[rng.random((N, N)) < 0.4] = 0  # sparse pattern for BCOO
    b = _draw(rng, (N, 3), complex_)
    got = _action(_wrap(kind, a), b, 0.8)
    assert got.shape == (N, 3)
    assert _rel(got, ssl.expm_multiply(0.8 * a, b)) < 1e-13
    assert _rel(got, sl.expm(0.8 * a) @ b) < 1e-13
    vector = _action(_wrap(kind, a), b[:, 0], 0.8)
    assert vector.shape == (N,)
    assert _rel(vector, sl.expm(0.8 * a) @ b[:, 0]) < 1e-13


@pytest.mark.parametrize("norm", [1e-10, 1e-3, 1.0, 50.0, 200.0])
def test_tiny_and_many_step_norms(norm):
    rng = np.random.default_rng(2)
    a = _with_norm(rng, N, norm)
    b = rng.standard_normal((N, 2))
    assert _rel(expm_multiply(a, b), sl.expm(a) @ b) < 1e-13 * max(1.0, norm / 10)


def test_time_grid_matches_scipy():
    rng = np.random.default_rng(3)
    a = _with_norm(rng, N, 4.0)
    b = rng.standard_normal((N, 2))
    for endpoint in (True, False):
        got = _grid(a, b, start=0.5, stop=2.0, num=5, endpoint=endpoint)
        ref = ssl.expm_multiply(a, b, start=0.5, stop=2.0, num=5, endpoint=endpoint)
        assert got.shape == ref.shape == (5, N, 2)
        assert _rel(got, ref) < 1e-13
    got = _grid(a, b[:, 0], start=0.0, stop=1.0, num=3)
    assert got.shape == (3, N)
    assert _rel(got, ssl.expm_multiply(a, b[:, 0], start=0.0, stop=1.0, num=3)) < 1e-13
    assert _rel(_grid(a, b), sl.expm(a) @ b) < 1e-13
    # traceA is a hint for the shift: an approximate value gives the same result
    assert _rel(_grid(a, b, traceA=np.trace(a) + 0.5), sl.expm(a) @ b) < 1e-13


@pytest.mark.parametrize("complex_", [False, True], ids=["float32", "complex64"])
def test_float32_accuracy(complex_):
    # Documented: relative errors about 1e-7 at ‖tA‖₁ ≤ 10 (single-precision θ_m table, u = 2⁻²⁴).
    rng = np.random.default_rng(4)
    a = _with_norm(rng, N, 8.0, complex_)
    b = _draw(rng, (N, 2), complex_)
    dtype = np.complex64 if complex_ else np.float32
    got = expm_multiply(a.astype(dtype), b.astype(dtype))
    assert got.dtype == dtype
    ref = sl.expm(a.astype(dtype).astype(np.complex128)) @ b.astype(dtype).astype(np.complex128)
    assert _rel(got, ref) < 1e-6
    if not complex_:  # the reverse pass in single precision (8 Gauss–Legendre nodes per step)
        w = rng.standard_normal((N, 2))
        got = _grad(a.astype(dtype), b.astype(dtype), np.float32(1.0), w.astype(dtype))
        for g, expected in zip(got, _reference_grad(a, b, 1.0, w), strict=True):
            assert g.dtype == dtype
            assert _rel(g, expected) < 1e-6


def test_heat_equation_closed_form():
    # u' = A u, A = tridiag(1, −2, 1)/h² with Dirichlet ends: A sin(kπx) = −(4/h²) sin²(kπh/2) sin(kπx).
    n = 100_000
    h = 1.0 / (n + 1)
    i = np.arange(n)
    rows = np.concatenate([i, i[1:], i[:-1]])
    cols = np.concatenate([i, i[:-1], i[1:]])
    data = np.concatenate([np.full(n, -2.0), np.ones(n - 1), np.ones(n - 1)]) / h**2
    a = jsparse.BCOO((jnp.asarray(data), jnp.asarray(np.stack([rows, cols], 1))), shape=(n, n))
    modes = np.array([1, 3, 1000, 30_000])
    amplitude = np.array([1.0, -0.5, 0.25, 2.0])
    lam = 4 / h**2 * np.sin(modes * np.pi * h / 2) ** 2
    t = 20 * h**2  # ‖tA₀‖₁ = 40: several steps
    # sin(kπ x_j) = sin(π (k j mod 2(n+1)) / (n+1)): exact integer reduction, no phase error at k = 3·10⁴
    sines = np.sin(np.pi * (np.outer(i + 1, modes) % (2 * (n + 1))) / (n + 1))
    u0 = sines @ amplitude
    exact = sines @ (amplitude * np.exp(-lam * t))
    got = expm_multiply(a, u0, t)
    assert _rel(got, exact) < 1e-12


def test_schroedinger_propagator():
    rng = np.random.default_rng(5)
    g = _draw(rng, (30, 30), True)
    hamiltonian = (g + g.conj().T) / 2
    psi = _draw(rng, 30, True)
    psi /= np.linalg.norm(psi)
    t = 2.5
    got = expm_multiply(-1j * hamiltonian, psi, t)
    assert _rel(got, sl.expm(-1j * t * hamiltonian) @ psi) < 1e-13
    np.testing.assert_allclose(np.linalg.norm(got), 1.0, rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# derivatives


def _reference(a, b, t):
    return jax.scipy.linalg.expm(t * a) @ b


# One compilation each, shared by the derivative tests (real and complex, B of shape (N, 2)).
@partial(jax.jit, static_argnames="max_steps")
def _grad(a, b, t, w, max_steps=1000):
    def loss(a, b, t):
        return jnp.real(jnp.sum(w * expm_multiply(a, b, t, max_steps=max_steps)))

    return jax.grad(loss, (0, 1, 2))(a, b, t)


@jax.jit
def _reference_grad(a, b, t, w):
    return jax.grad(lambda a, b, t: jnp.real(jnp.sum(w * _reference(a, b, t))), (0, 1, 2))(a, b, t)


@pytest.mark.parametrize(
    "complex_, norm, max_steps",
    [(False, 5.0, 1000), (True, 5.0, 1000), (False, 65.0, 10)],
    ids=["real", "complex", "norm65-two-level-checkpoints"],
)
def test_gradient_matches_jax_expm(complex_, norm, max_steps):
    # max_steps = 10, s = 7: the reverse pass checkpoints the starts of 4 segments of 2, 2, 2 and 1 steps
    # and recomputes the others per segment.
    rng = np.random.default_rng(6)
    a = _with_norm(rng, N, norm, complex_)
    b = _draw(rng, (N, 2), complex_)
    w = _draw(rng, (N, 2), complex_)
    ours = _grad(a, b, 0.9, w, max_steps=max_steps)
    for got, expected in zip(ours, _reference_grad(a, b, 0.9, w), strict=True):
        assert _rel(got, expected) < 1e-13


@pytest.mark.parametrize("kind", ["bcoo", "lineax", "lineax-function"])
def test_gradient_reaches_operator_arrays(kind):
    rng = np.random.default_rng(7)
    a = _with_norm(rng, N, 5.0)
    a[rng.random((N, N)) < 0.5] = 0
    b, w = rng.standard_normal(N), rng.standard_normal(N)
    reference = np.asarray(jax.grad(lambda m: jnp.vdot(w, _reference(m, b, 1.0)))(a))
    if kind == "bcoo":
        sparse = jsparse.BCOO.fromdense(jnp.asarray(a))
        value = jax.jit(
            lambda d: jnp.vdot(w, expm_multiply(jsparse.BCOO((d, sparse.indices), shape=(N, N)), b))
        )
        got = jax.jit(jax.grad(value))(sparse.data)
        rows, cols = np.asarray(sparse.indices).T
        assert _rel(got, reference[rows, cols]) < 1e-13
        # and a 5-point central difference in the data
        direction = rng.standard_normal(sparse.data.shape)

        def f(eps):
            return float(value(sparse.data + eps * direction))

        e = 1e-3
        fd = (-f(2 * e) + 8 * f(e) - 8 * f(-e) + f(-2 * e)) / (12 * e)
        np.testing.assert_allclose(np.vdot(got, direction), fd, rtol=1e-9)
    elif kind == "lineax":
        got = jax.jit(jax.grad(lambda m: jnp.vdot(w, expm_multiply(lx.MatrixLinearOperator(m), b))))(a)
        assert _rel(got, reference) < 1e-13
    else:  # a matrix-free operator (a function closing over m): no trace (μ = 0), an estimated norm

        def value(m):
            operator = lx.FunctionLinearOperator(lambda x: m @ x, jax.ShapeDtypeStruct((N,), jnp.float64))
            return jnp.vdot(w, expm_multiply(operator, b))

        np.testing.assert_allclose(jax.jit(value)(a), w @ sl.expm(a) @ b, rtol=1e-13)
        assert _rel(jax.jit(jax.grad(value))(a), reference) < 1e-13


def test_forward_mode_and_transpose_identity():
    # The forward rule (block operator) and the reverse rule (quadrature) are independent:
    # <w, J v> = <Jᵀw, v> checks one against the other.
    rng = np.random.default_rng(8)
    a, da = _with_norm(rng, N, 8.0), rng.standard_normal((N, N))
    b, db, w = (rng.standard_normal((N, 2)) for _ in range(3))
    t, dt = 0.7, 0.3
    y, dy = jax.jit(lambda p, v: jax.jvp(lambda *p: expm_multiply(*p, derivative="forward"), p, v))(
        (a, b, t), (da, db, dt)
    )
    _, dy_ref = jax.jvp(_reference, (a, b, t), (da, db, dt))
    assert _rel(y, sl.expm(t * a) @ b) < 1e-13
    assert _rel(dy, dy_ref) < 1e-13
    ga, gb, gt = _grad(a, b, t, w)
    lhs = np.sum(w * np.asarray(dy))
    rhs = np.sum(ga * da) + np.sum(gb * db) + gt * dt
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)

    def f(eps):
        return _action(a + eps * da, b + eps * db, t + eps * dt)

    e = 1e-3
    fd = (-f(2 * e) + 8 * f(e) - 8 * f(-e) + f(-2 * e)) / (12 * e)
    assert _rel(dy, fd) < 1e-8


def test_second_order_and_unsupported_modes():
    # jvp of grad (forward over the hand-written reverse pass) against central differences of the gradient
    rng = np.random.default_rng(9)
    a, da = _with_norm(rng, N, 4.0), rng.standard_normal((N, N))
    b, w = rng.standard_normal((N, 2)), rng.standard_normal((N, 2))
    hvp = jax.jvp(lambda m: _grad(m, b, 1.0, w)[0], (a,), (da,))[1]
    e = 1e-3
    fd = [_grad(a + c * e * da, b, 1.0, w)[0] for c in (2, 1, -1, -2)]
    fd = (-fd[0] + 8 * fd[1] - 8 * fd[2] + fd[3]) / (12 * e)
    assert _rel(hvp, fd) < 1e-8
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda m: expm_multiply(m, b), (a,), (da,))
    with pytest.raises(ValueError, match="Reverse-mode"):
        jax.grad(lambda m: expm_multiply(m, b, derivative="forward")[0, 0])(a)


# ---------------------------------------------------------------------------------------------
# transformations, the step cap, bad input


def test_jit_does_not_recompile_and_vmap():
    rng = np.random.default_rng(10)
    traces = []

    @jax.jit
    def f(a, b, t):
        traces.append(None)
        return expm_multiply(a, b, t)

    b = rng.standard_normal((N, 3))
    for norm in (0.01, 3.0, 60.0):  # different degrees and step counts, one compilation
        a = _with_norm(rng, N, norm)
        assert _rel(f(a, b, 1.0), sl.expm(a) @ b) < 1e-13
    assert len(traces) == 1
    # vmap over columns of B and over a batch of A
    a = _with_norm(rng, N, 3.0)
    over_b = jax.jit(jax.vmap(expm_multiply, in_axes=(None, 1), out_axes=1))(a, b)
    assert _rel(over_b, sl.expm(a) @ b) < 1e-13
    batch = np.stack([_with_norm(rng, N, s) for s in (0.1, 2.0, 30.0)])
    over_a = jax.jit(jax.vmap(expm_multiply, in_axes=(0, None)))(batch, b)
    for i in range(3):
        assert _rel(over_a[i], sl.expm(batch[i]) @ b) < 1e-13
    # and the reverse pass batched over A (members with different step counts)
    w = rng.standard_normal((N, 3))
    grads = jax.jit(jax.vmap(lambda m: _grad(m, b, 1.0, w)[0]))(batch)
    for i in range(3):
        assert _rel(grads[i], _reference_grad(batch[i], b, 1.0, w)[0]) < 1e-13


def test_past_max_steps_gives_nan():
    # ‖A₀‖ ≈ 200 needs about 21 steps; 5 are allowed: NaN eagerly, under jit, and in the gradient.
    rng = np.random.default_rng(11)
    a = _with_norm(rng, N, 200.0)
    b = rng.standard_normal(N)
    assert np.all(np.isnan(expm_multiply(a, b, max_steps=5)))
    assert np.all(np.isnan(jax.jit(lambda a: expm_multiply(a, b, max_steps=5))(a)))
    assert np.all(np.isnan(jax.grad(lambda a: jnp.sum(expm_multiply(a, b, max_steps=5)))(a)))
    assert np.all(np.isfinite(expm_multiply(a, b, max_steps=100)))
    assert np.all(np.isnan(expm_multiply(np.full((N, N), np.nan), b)))


def test_bad_input_is_named():
    a, b = np.eye(4), np.ones(4)
    with pytest.raises(ValueError, match=r"A: expected a square operator, got shape \(4, 3\)"):
        expm_multiply(np.ones((4, 3)), b)
    with pytest.raises(ValueError, match=r"B: expected shape \(4,\) or \(4, k\).*got \(5, 2\)"):
        expm_multiply(a, np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"B: expected shape .*got \(4, 2, 2\)"):
        expm_multiply(a, np.ones((4, 2, 2)))
    with pytest.raises(ValueError, match=r"t: expected a scalar, got shape \(2,\)"):
        expm_multiply(a, b, np.ones(2))
    with pytest.raises(TypeError, match="t: expected a real scalar, got dtype complex128"):
        expm_multiply(a, b, 1j)
    with pytest.raises(ValueError, match="max_steps: expected a positive integer, got 0"):
        expm_multiply(a, b, max_steps=0)
    with pytest.raises(ValueError, match="derivative: expected 'reverse' or 'forward'"):
        expm_multiply(a, b, derivative="both")
    with pytest.raises(
        TypeError, match="A: a lineax operator of dtype float32 cannot act on B of dtype float64"
    ):
        expm_multiply(lx.MatrixLinearOperator(jnp.eye(4, dtype=jnp.float32)), b)
    with pytest.raises(TypeError, match=r"num: expected a Python integer, got 2.5"):
        msl.expm_multiply(a, b, start=0.0, stop=1.0, num=2.5)
    with pytest.raises(ValueError, match="num: expected a positive number of time points, got 0"):
        msl.expm_multiply(a, b, start=0.0, stop=1.0, num=0)
    with pytest.raises(ValueError, match="start, stop, num: a time grid needs all three"):
        msl.expm_multiply(a, b, stop=1.0, num=3)
    with pytest.raises(ValueError, match="start: expected a real scalar"):
        msl.expm_multiply(a, b, start=np.zeros(2), stop=1.0, num=3)


def test_theta_tables_match_their_definition():
    # θ_m = max{θ : Σ_{k>m} |c_k| θ^{k−1} ≤ u}, c_k the Taylor coefficients of log(e^{−x} T_m(x))
    # (Al-Mohy & Higham 2011, eq. (3.9)-(3.11)), recomputed in 40-digit arithmetic, 2 significant digits.
    import mpmath as mp

    from matcalc.krylov.expm_multiply import _theta_table

    def theta(m, u, terms=260):
        with mp.workdps(40):
            a = [mp.mpf(1) / mp.factorial(j) if j <= m else mp.mpf(0) for j in range(terms + 1)]
            log_t = [mp.mpf(0)] * (terms + 1)
            for k in range(1, terms + 1):  # k ℓ_k = k a_k − Σ_{j<k} j ℓ_j a_{k−j}  (ℓ = log T_m)
                log_t[k] = (k * a[k] - mp.fsum(j * log_t[j] * a[k - j] for j in range(1, k))) / k
            c = [abs(x) for x in log_t[m + 1 :]]
            lo, hi = mp.mpf(0), mp.mpf(m)
            for _ in range(40):
                mid = (lo + hi) / 2
                if mp.fsum(ck * mid ** (m + i) for i, ck in enumerate(c)) <= u:
                    lo = mid
                else:
                    hi = mid
            return float(lo)

    for dtype, u in ((np.float64, 2.0**-53), (np.float32, 2.0**-24)):
        ms, thetas = _theta_table(dtype)
        for m in (10, 55):
            assert f"{theta(m, u):.2g}" == f"{thetas[list(ms).index(m)]:.2g}", (dtype, m)
