"""Algebraic Riccati equations: values against SciPy, derivatives against finite differences of
SciPy's solution in every argument, LQR gains, marginal and ill-conditioned problems, batching,
and the failure policy (ValueError on concrete input, NaN under jit)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
from tests.cases import rng
from tests.cases.riccati import reduced_reference, system

EPS = np.finfo(np.float64).eps
SOLVERS = {
    "care": (matcalc.solve_continuous_are, scipy.linalg.solve_continuous_are, 1.0),
    "dare": (matcalc.solve_discrete_are, scipy.linalg.solve_discrete_are, 0.5),
}


def rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y)


@pytest.mark.parametrize("kind", SOLVERS)
def test_values_batched_vs_scipy(kind):
    ours, ref, scale = SOLVERS[kind]
    systems = [system(4, 2, seed, scale=scale) for seed in (1, 2, 3)]
    stacked = [np.stack(xs) for xs in zip(*systems, strict=True)]
    x = ours(*stacked)
    assert x.shape == (3, 4, 4)
    for i, args in enumerate(systems):
        assert rel(x[i], ref(*args)) < 1e-10
    # n = 6, m = 1 with a cross term s
    a, b, q, r = system(6, 1, seed=4, scale=scale)
    s = 0.1 * rng(5).standard_normal((6, 1))
    assert rel(ours(a, b, q, r, s=s), ref(a, b, q, r, s=s)) < 1e-10


def _fd(f, args, i, t, h=1e-4):
    def at(k):
        xs = list(args)
        xs[i] = xs[i] + k * h * t
        return f(*xs)

    return (at(-2) - 8 * at(-1) + 8 * at(1) - at(2)) / (12 * h)


@pytest.mark.parametrize("kind", SOLVERS)
def test_jvp_in_every_argument_vs_scipy(kind):
    ours, ref, scale = SOLVERS[kind]
    a, b, q, r = system(3, 2, seed=6, scale=scale)
    e = np.eye(3) + 0.2 * rng(7).standard_normal((3, 3))
    s = 0.2 * rng(8).standard_normal((3, 2))
    args = (a, b, q, r, e, s)
    reference = reduced_reference(ref)
    jvp = jax.jit(lambda xs, ts: jax.jvp(ours, xs, ts)[1])
    r_ = rng(9)
    for i, x in enumerate(args):
        t = r_.standard_normal(x.shape)
        if i in (2, 3):
            t = t + t.T  # q and r are Hermitian
        tangents = tuple(t if j == i else np.zeros_like(y) for j, y in enumerate(args))
        got = jvp(args, tangents)
        want = _fd(reference, args, i, t)
        assert rel(got, want) < 1e-7, f"argument {i}"


def _gain(kind, x, a, b, r):
    # LQR gains: continuous K = R⁻¹ Bᵀ X, discrete K = (R + Bᵀ X B)⁻¹ Bᵀ X A
    if kind == "care":
        return jnp.linalg.solve(r, b.T @ x)
    return jnp.linalg.solve(r + b.T @ x @ b, b.T @ x @ a)


@pytest.mark.parametrize("kind", SOLVERS)
def test_lqr_gain_gradient_in_plant(kind):
    ours, ref, scale = SOLVERS[kind]
    a, b, q, r = system(4, 2, seed=10, scale=scale)
    w = rng(11).standard_normal((2, 4))

    def loss(a, b):
        return jnp.sum(w * _gain(kind, ours(a, b, q, r), a, b, r))

    def loss_ref(a, b):
        return np.sum(w * np.asarray(_gain(kind, ref(a, b, q, r), a, b, r)))

    ga, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(a, b)
    for i, (g, x) in enumerate(((ga, a), (gb, b))):
        t = rng(12 + i).standard_normal(x.shape)
        fd = _fd(loss_ref, (a, b), i, t)
        assert abs(np.sum(np.asarray(g) * t) - fd) < 1e-7 * max(1.0, abs(fd))


def test_marginally_stabilizable():
    # a has eigenvalues 1e-8 ± i (continuous) / modulus 1 − 1e-9 (discrete), controllable through b
    q0, _ = np.linalg.qr(rng(13).standard_normal((4, 4)))
    t = np.diag([0.0, 0.0, -0.5, -2.0])
    t[:2, :2] = [[1e-8, 1.0], [-1.0, 1e-8]]
    t[0, 2] = 0.3
    b = rng(14).standard_normal((4, 1))
    q, r = np.eye(4), np.eye(1)
    a = q0 @ t @ q0.T
    x = matcalc.solve_continuous_are(a, b, q, r)
    assert rel(x, scipy.linalg.solve_continuous_are(a, b, q, r)) < 1e-11
    td = np.diag([0.0, 0.0, 0.5, 0.1])
    c, s_ = np.cos(1.0) * (1 - 1e-9), np.sin(1.0) * (1 - 1e-9)
    td[:2, :2] = [[c, s_], [-s_, c]]
    ad = q0 @ td @ q0.T
    x = matcalc.solve_discrete_are(ad, b, q, r)
    assert rel(x, scipy.linalg.solve_discrete_are(ad, b, q, r)) < 1e-11


def test_ill_conditioned_r():
    a, b, q, _ = system(4, 2, seed=15)
    u, _ = np.linalg.qr(rng(16).standard_normal((2, 2)))
    r = u @ np.diag([1.0, 1e-8]) @ u.T
    cond = np.linalg.cond(r)
    # the CARE holds R⁻¹ itself (G = B R⁻¹ Bᵀ): first-order error eps·cond(R); SciPy's extended
    # pencil avoids R⁻¹
    assert (
        rel(matcalc.solve_continuous_are(a, b, q, r), scipy.linalg.solve_continuous_are(a, b, q, r))
        < 10 * EPS * cond
    )
    # the DARE's Newton corrections use R + Bᵀ X B, not R⁻¹: full accuracy
    ad = 0.5 * a
    x = matcalc.solve_discrete_are(ad, b, q, r)
    assert rel(x, scipy.linalg.solve_discrete_are(ad, b, q, r)) < 1e-12


@pytest.mark.parametrize("kind", SOLVERS)
def test_not_stabilizable(kind):
    ours, _, _ = SOLVERS[kind]
    # the eigenvalue 2 of a (unstable for both equations) is not reached by b
    a = np.diag([2.0, -0.5, 0.3])
    b = np.array([[0.0], [1.0], [1.0]])
    q, r = np.eye(3), np.eye(1)
    with pytest.raises(ValueError, match=r"\(a, b\) is not stabilizable: the eigenvalue 2"):
        ours(a, b, q, r)
    assert np.all(np.isnan(jax.jit(ours)(a, b, q, r)))
    g = jax.jit(jax.grad(lambda a: jnp.sum(ours(a, b, q, r))))(a)
    assert np.all(np.isnan(g))


def test_imaginary_axis_mode_unobservable():
    # (a, b) controllable, but q = 0 leaves the modes ±i of a unobservable: the Hamiltonian has
    # the eigenvalues ±i and no stabilizing solution exists
    a = np.array([[0.0, 1.0], [-1.0, 0.0]])
    b = np.array([[0.0], [1.0]])
    q = np.zeros((2, 2))
    with pytest.raises(ValueError, match="Hamiltonian matrix has eigenvalues .* imaginary axis"):
        matcalc.solve_continuous_are(a, b, q, np.eye(1))
    assert np.all(np.isnan(jax.jit(matcalc.solve_continuous_are)(a, b, q, np.eye(1))))


def test_bad_shapes():
    a, b, q, r = system(3, 2, seed=17)
    with pytest.raises(ValueError, match=r"b must have shape \(\.\.\., 3, m\)"):
        matcalc.solve_continuous_are(a, b[:2], q, r)
    with pytest.raises(ValueError, match=r"r must have shape \(\.\.\., 2, 2\)"):
        matcalc.solve_discrete_are(a, b, q, np.eye(3))
    with pytest.raises(ValueError, match="s must have shape"):
        matcalc.solve_continuous_are(a, b, q, r, s=np.ones((3, 1)))
    with pytest.raises(ValueError, match="e must be square"):
        matcalc.solve_discrete_are(a, b, q, r, e=np.ones((3, 2)))


def test_float32_batched_smoke():
    systems = [system(3, 1, seed) for seed in (18, 19)]
    a, b, q, r = (np.stack(xs) for xs in zip(*systems, strict=True))
    x = matcalc.solve_continuous_are(*(v.astype(np.float32) for v in (a, b, q, r)))
    assert x.dtype == jnp.float32
    for i, args in enumerate(systems):
        assert rel(x[i], scipy.linalg.solve_continuous_are(*args)) < 1e-4
    ad = 0.5 * a
    x = matcalc.solve_discrete_are(*(v.astype(np.float32) for v in (ad, b, q, r)))
    for i, args in enumerate(systems):
        assert rel(x[i], scipy.linalg.solve_discrete_are(0.5 * args[0], *args[1:])) < 1e-4


def _primitives(jaxpr, acc):
    import jax.extend.core as jex

    for eqn in jaxpr.eqns:
        acc.add(eqn.primitive.name)
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                if isinstance(sub, jex.ClosedJaxpr):
                    _primitives(sub.jaxpr, acc)
                elif isinstance(sub, jex.Jaxpr):
                    _primitives(sub, acc)
    return acc


@pytest.mark.parametrize("kind", SOLVERS)
def test_gradient_path_has_no_cpu_only_primitive(kind):
    # n = 14 puts the Lyapunov solves on their sign-function path (n² > 144)
    ours, ref, scale = SOLVERS[kind]
    args = system(14, 2, seed=20, scale=scale / 4)
    assert rel(ours(*args), ref(*args)) < 1e-10
    g = jax.grad(lambda *xs: jnp.sum(ours(*xs) ** 2), argnums=(0, 1, 2, 3))
    prims = _primitives(jax.make_jaxpr(g)(*args).jaxpr, set())
    assert not prims & {"schur", "hessenberg", "eig"}, prims
    assert "lu" in prims  # the detector sees inside the nested solves
