"""Edge cases of matcalc.eigh_generalized (and scipy.linalg.eigh(a, b)): values and normalization
against SciPy for types 1, 2, 3, exactly repeated generalized eigenvalues (cluster projectors get
the exact derivative), ill-conditioned ``b`` against an mpmath reference, batching, float32, the
mirror, the triangle-reading mode and bad input."""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg

import matcalc
import matcalc.scipy.linalg as msla
from tests.cases import spd

EPS = np.finfo(np.float64).eps


def _herm(r, n, complex_=False):
    x = r.standard_normal((n, n))
    if complex_:
        x = x + 1j * r.standard_normal((n, n))
    return (x + x.conj().T) / 2


def _norm_matrix(b, kind):
    """The matrix of the normalization: ``Vᴴ B V = I`` (types 1, 2), ``Vᴴ B⁻¹ V = I`` (type 3)."""
    return b if kind < 3 else np.linalg.inv(b)


def _align(v, vref, m):
    """``v`` with each column's phase set to match ``vref`` in the ``m`` inner product."""
    ph = np.sum(v.conj() * (m @ vref), axis=0)
    return v * (ph / np.abs(ph))


def _residual(a, b, w, v, kind):
    """Backward error of the eigen-equation of ``kind``: ``‖lhs − rhs‖ / ((‖·‖ + ‖·‖ max|λ|) ‖V‖)``
    with ``A V = B V Λ``, ``A B V = V Λ``, ``B A V = V Λ``."""
    if kind == 1:
        lhs, rhs, scale = a @ v, b @ v * w, np.linalg.norm(a, 2) + np.linalg.norm(b, 2) * np.max(np.abs(w))
    elif kind == 2:
        lhs, rhs, scale = a @ b @ v, v * w, np.linalg.norm(a @ b, 2) + np.max(np.abs(w))
    else:
        lhs, rhs, scale = b @ a @ v, v * w, np.linalg.norm(b @ a, 2) + np.max(np.abs(w))
    return np.linalg.norm(lhs - rhs, 2) / (scale * np.linalg.norm(v, 2))


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("kind", [1, 2, 3])
def test_values_and_normalization_match_scipy(kind, complex_):
    r = np.random.default_rng(10 * kind + complex_)
    n = 5
    a, b = _herm(r, n, complex_), spd(n, seed=kind, complex_=complex_, hi=10.0)
    w, v = matcalc.eigh_generalized(a, b, type=kind)
    w, v = np.asarray(w), np.asarray(v)
    assert w.dtype == np.float64 and v.dtype == a.dtype
    w_ref, v_ref = scipy.linalg.eigh(a, b, type=kind)
    m = _norm_matrix(b, kind)
    scale = np.max(np.abs(w_ref))
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=50 * EPS * scale)
    assert np.all(np.diff(w) > 0)
    np.testing.assert_allclose(v.conj().T @ m @ v, np.eye(n), rtol=0, atol=50 * EPS)
    np.testing.assert_allclose(_align(v, v_ref, m), v_ref, rtol=0, atol=1e-13)
    assert _residual(a, b, w, v, kind) < 20 * EPS


def test_identity_b_is_the_standard_problem_with_its_derivative():
    r = np.random.default_rng(3)
    a, e = _herm(r, 4), _herm(r, 4)
    z = np.zeros_like(a)
    (w, v), (dw, dv) = jax.jvp(lambda x, y: tuple(matcalc.eigh_generalized(x, y)), (a, np.eye(4)), (e, z))
    (w0, v0), (dw0, dv0) = jax.jvp(lambda x: tuple(matcalc.eigh(x)), (a,), (e,))
    np.testing.assert_allclose(w, w0, atol=1e-14)
    np.testing.assert_allclose(dw, dw0, atol=1e-13)
    # the same gauge (zero rotation, real X_ii), up to each column's sign
    s = np.sign(np.sum(np.asarray(v) * np.asarray(v0), axis=0))
    np.testing.assert_allclose(np.asarray(v) * s, v0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(dv) * s, dv0, atol=1e-12)


def test_tangents_act_through_hermitian_parts_and_gradients_are_hermitian():
    r = np.random.default_rng(4)
    a, b = _herm(r, 3, True), spd(3, seed=5, complex_=True)
    da = r.standard_normal((3, 3)) + 1j * r.standard_normal((3, 3))  # not Hermitian
    db = r.standard_normal((3, 3)) + 1j * r.standard_normal((3, 3))
    f = lambda x, y: tuple(matcalc.eigh_generalized(x, y, type=2))
    _, t = jax.jvp(f, (a, b), (da, db))
    _, t_h = jax.jvp(f, (a, b), ((da + da.conj().T) / 2, (db + db.conj().T) / 2))
    for x, y in zip(t, t_h, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-13)
    ga, gb = jax.grad(
        lambda x, y: jnp.sum(f(x, y)[0] * jnp.arange(3.0)) + jnp.real(f(x, y)[1][0, 0]), argnums=(0, 1)
    )(a, b)
    np.testing.assert_allclose(ga, np.conj(ga).T, atol=1e-13)
    np.testing.assert_allclose(gb, np.conj(gb).T, atol=1e-13)


# --- exactly repeated generalized eigenvalues

N_REP = 4
LAM_REP = np.array([0.5, 2.0, 2.0, 3.5])  # λ = 2 twice: the cluster is columns 1, 2


def _repeated_problem(kind, complex_, gap=0.0):
    """``(A, B)`` whose pencil of ``kind`` has eigenvalues ``LAM_REP`` exactly (up to rounding of
    the data; the second 2 moved up by ``gap``), built from eigenvectors ``V0`` with singular values
    in [0.7, 1.4]."""
    r = np.random.default_rng(40 + kind)
    x = r.standard_normal((N_REP, N_REP)) + (1j * r.standard_normal((N_REP, N_REP)) if complex_ else 0)
    u, _, vh = np.linalg.svd(x)
    v0 = (u * np.linspace(0.7, 1.4, N_REP)) @ vh
    vi = np.linalg.inv(v0)
    lam = np.diag(LAM_REP + np.array([0, 0, gap, 0]))
    if kind == 1:  # A V0 = B V0 Λ, V0ᴴ B V0 = I
        a, b = vi.conj().T @ lam @ vi, vi.conj().T @ vi
    elif kind == 2:  # A B V0 = V0 Λ, V0ᴴ B V0 = I
        a, b = v0 @ lam @ v0.conj().T, vi.conj().T @ vi
    else:  # B A V0 = V0 Λ, V0ᴴ B⁻¹ V0 = I
        a, b = vi.conj().T @ lam @ vi, v0 @ v0.conj().T
    return (a + a.conj().T) / 2, (b + b.conj().T) / 2, r


@functools.partial(jax.jit, static_argnums=(0,))
def _cluster_loss(kind, a, b, m):
    """A loss that is invariant to how the cluster splits: the B-orthogonal cluster projector
    ``P = V_c V_cᴴ B`` (``V_c V_cᴴ B⁻¹`` for type 3, the spectral projector of the pencil onto the
    cluster's eigenspace), a symmetric function of the cluster's eigenvalues and functions of the
    simple ones."""
    w, v = matcalc.eigh_generalized(a, b, type=kind)
    vc = v[:, 1:3]
    p = vc @ jnp.conj(vc.T) @ (b if kind < 3 else jnp.linalg.inv(b))
    return jnp.real(jnp.sum(m * p)) + jnp.sum(w[1:3] ** 2) + jnp.sin(w[0]) + jnp.cos(w[3])


@functools.partial(jax.jit, static_argnums=(0,))
def _cluster_loss_grad(kind, a, b, m):
    return jax.grad(_cluster_loss, argnums=(1, 2))(kind, a, b, m)


NEAR_GAP = np.cbrt(EPS) / 100  # nearly repeated: distinct to the rule, 6e-8 apart


@pytest.mark.parametrize(
    ("kind", "complex_", "gap"),
    [(1, False, 0.0), (2, False, 0.0), (3, False, 0.0), (1, True, 0.0), (1, False, NEAR_GAP)],
    ids=["type1", "type2", "type3", "type1_complex", "type1_nearly_repeated"],
)
def test_cluster_projector_loss_gets_exact_derivative_at_repeated_eigenvalue(kind, complex_, gap):
    a, b, r = _repeated_problem(kind, complex_, gap)
    w = np.asarray(matcalc.eigh_generalized(a, b, type=kind)[0])
    tol = 4 * N_REP * EPS * np.max(np.abs(w))
    if gap == 0:
        # the computed cluster is within the rule's tolerance (4 n eps max|λ|): one cluster
        assert abs(w[2] - w[1]) <= tol
    else:
        assert abs(w[2] - w[1]) > tol
    np.testing.assert_allclose(w, np.sort(LAM_REP + np.array([0, 0, gap, 0])), atol=1e-13)
    # at a near repeat the rule divides by the gap: rounding of about eps max|λ| / gap
    rtol = 1e-9 + 10 * EPS * np.max(np.abs(w)) / gap if gap else 1e-9
    m = r.standard_normal((N_REP, N_REP)) + (1j * r.standard_normal((N_REP, N_REP)) if complex_ else 0)
    ga, gb = _cluster_loss_grad(kind, a, b, m)
    assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gb))
    h = 3e-4  # 5-point differences converge like h⁴ here: about 1e-11 at this step
    for _ in range(2):
        da, db = _herm(r, N_REP, complex_), _herm(r, N_REP, complex_)

        def f(t, da=da, db=db):
            return float(_cluster_loss(kind, a + t * da, b + t * db, m))

        fd = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
        _, jv = jax.jvp(lambda x, y: _cluster_loss(kind, x, y, m), (a, b), (da, db))
        # JAX's gradient pairs with a tangent in the real pairing Re Σ g·t
        grad_dir = np.sum(np.real(np.asarray(ga) * da)) + np.sum(np.real(np.asarray(gb) * db))
        assert abs(float(jv) - fd) <= rtol * max(1.0, abs(fd))
        assert abs(grad_dir - fd) <= rtol * max(1.0, abs(fd))


def test_repeated_eigenvalue_jvp_keeps_normalization_and_has_no_rotation_in_the_cluster():
    a, b, r = _repeated_problem(1, False)
    da, db = _herm(r, N_REP), _herm(r, N_REP)
    (w, v), (dw, dv) = jax.jvp(lambda x, y: tuple(matcalc.eigh_generalized(x, y)), (a, b), (da, db))
    v, dv = np.asarray(v), np.asarray(dv)
    assert np.all(np.isfinite(dv)) and np.all(np.isfinite(dw))
    # d(Vᴴ B V) = dVᴴ B V + Vᴴ dB V + Vᴴ B dV = 0
    dnorm = dv.T @ b @ v + v.T @ db @ v + v.T @ b @ dv
    np.testing.assert_allclose(dnorm, 0, atol=1e-13)
    # the documented gauge inside the cluster: X_cc = −½ (Vᴴ dB V)_cc (symmetric, no rotation)
    x = v.T @ b @ dv  # X, since Vᴴ B V = I
    np.testing.assert_allclose(x[1:3, 1:3], -0.5 * (v.T @ db @ v)[1:3, 1:3], atol=1e-12)
    # dλ_i = v_iᴴ (dA − λ_i dB) v_i, and the cluster's sum is basis-independent
    dw_ref = np.einsum("ki,kl,li->i", v, da, v) - np.asarray(w) * np.einsum("ki,kl,li->i", v, db, v)
    np.testing.assert_allclose(dw, dw_ref, atol=1e-12)


# --- ill-conditioned b


def _mp_pencil_eigenvalues(a, b, da=None, db=None, step=None, dps=60):
    """Type-1 eigenvalues of ``(a + s da, b + s db)`` in mpmath at ``dps`` digits, for s = 0 or,
    with ``step``, the central difference ``(λ(s) − λ(−s)) / 2s`` (independent of the rule)."""

    def at(s):
        am, bm = mp.matrix(a.tolist()), mp.matrix(b.tolist())
        if s != 0:
            am, bm = am + s * mp.matrix(da.tolist()), bm + s * mp.matrix(db.tolist())
        li = mp.inverse(mp.cholesky(bm))
        c = li * am * li.T
        return sorted(mp.eigsy((c + c.T) / 2)[0])

    with mp.workdps(dps):
        if step is None:
            return np.array([float(x) for x in at(0)])
        h = mp.mpf(step)
        return np.array([float((p - q) / (2 * h)) for p, q in zip(at(h), at(-h), strict=True)])


def test_ill_conditioned_b_is_as_accurate_as_lapack_and_jax():
    r = np.random.default_rng(5)
    n = 5
    q, _ = np.linalg.qr(r.standard_normal((n, n)))
    b = (q * np.logspace(0, -8, n)) @ q.T  # cond(b) = 1e8
    b = (b + b.T) / 2
    a = _herm(r, n)
    w_true = _mp_pencil_eigenvalues(a, b)
    w, v = matcalc.eigh_generalized(a, b)
    w, v = np.asarray(w), np.asarray(v)
    scale = np.max(np.abs(w_true))
    err = np.max(np.abs(w - w_true)) / scale
    err_lapack = np.max(np.abs(scipy.linalg.eigh(a, b, eigvals_only=True) - w_true)) / scale
    assert err <= 4 * err_lapack + 10 * EPS
    assert err <= EPS * 1e8  # the eps·cond(B) bound of the Cholesky reduction
    v_lapack = scipy.linalg.eigh(a, b)[1]
    assert _residual(a, b, w, v, 1) <= 4 * _residual(a, b, w_true, v_lapack, 1) + 10 * EPS
    lapack_orth = np.max(np.abs(v_lapack.T @ b @ v_lapack - np.eye(n)))
    assert np.max(np.abs(v.T @ b @ v - np.eye(n))) <= 4 * lapack_orth + 10 * EPS
    # derivative of the eigenvalues: against mpmath, no worse than autodiff through JAX's reduction
    da, db = _herm(r, n), 1e-9 * _herm(r, n)
    dw_true = _mp_pencil_eigenvalues(a, b, da, db, step="1e-25")
    _, dw = jax.jvp(lambda x, y: matcalc.eigh_generalized(x, y)[0], (a, b), (da, db))

    def reduced(x, y):
        l = jnp.linalg.cholesky(y)
        c = jax.scipy.linalg.solve_triangular(
            l, jax.scipy.linalg.solve_triangular(l, x, lower=True).T, lower=True
        )
        return jnp.linalg.eigvalsh((c + c.T) / 2)

    _, dw_jax = jax.jvp(reduced, (a, b), (da, db))
    dscale = np.max(np.abs(dw_true))
    derr = np.max(np.abs(np.asarray(dw) - dw_true)) / dscale
    derr_jax = np.max(np.abs(np.asarray(dw_jax) - dw_true)) / dscale
    assert derr <= 4 * derr_jax + 10 * EPS


# --- batching, float32, the mirror, triangles


def test_batched_and_broadcast_leading_axes():
    r = np.random.default_rng(6)
    n = 3
    a = np.stack([[_herm(r, n, True) for _ in range(3)] for _ in range(2)])  # (2, 3, n, n)
    b = np.stack([spd(n, seed=s, complex_=True) for s in range(3)])  # (3, n, n), broadcast
    w, v = matcalc.eigh_generalized(a, b, type=2)
    assert w.shape == (2, 3, n) and v.shape == (2, 3, n, n)
    for i in range(2):
        for j in range(3):
            w_ref, v_ref = scipy.linalg.eigh(a[i, j], b[j], type=2)
            np.testing.assert_allclose(w[i, j], w_ref, atol=1e-13)
            np.testing.assert_allclose(_align(np.asarray(v[i, j]), v_ref, b[j]), v_ref, atol=1e-13)
    # vmap agrees with the batched call
    wv, _ = jax.vmap(lambda x: matcalc.eigh_generalized(x, b, type=2))(a)
    np.testing.assert_allclose(wv, w, atol=1e-14)


def test_float32_smoke():
    r = np.random.default_rng(8)
    a, b = _herm(r, 4), spd(4, seed=9, hi=4.0)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)

    def loss(x, y):
        w, v = matcalc.eigh_generalized(x, y)
        return jnp.sum(w * jnp.arange(4.0, dtype=w.dtype)) + jnp.sum(v[:, 0] ** 2)

    w, v = jax.jit(matcalc.eigh_generalized)(a32, b32)
    assert w.dtype == jnp.float32 and v.dtype == jnp.float32
    w_ref = scipy.linalg.eigh(a, b, eigvals_only=True)
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-5 * np.max(np.abs(w_ref)))
    g32 = jax.jit(jax.grad(loss, argnums=(0, 1)))(a32, b32)
    g64 = jax.grad(loss, argnums=(0, 1))(a, b)
    for x, y in zip(g32, g64, strict=True):
        assert x.dtype == jnp.float32
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-4 * np.max(np.abs(y)))


@pytest.mark.parametrize("kind", [1, 3])
def test_scipy_mirror_generalized_matches_scipy(kind):
    r = np.random.default_rng(11)
    a, b = _herm(r, 4, True), spd(4, seed=12, complex_=True)
    w, v = msla.eigh(a, b, type=kind)
    w_ref, v_ref = scipy.linalg.eigh(a, b, type=kind)
    np.testing.assert_allclose(w, w_ref, atol=1e-13)
    np.testing.assert_allclose(_align(np.asarray(v), v_ref, _norm_matrix(b, kind)), v_ref, atol=1e-13)
    np.testing.assert_allclose(msla.eigh(a, b, eigvals_only=True, type=kind), w_ref, atol=1e-13)
    # without b, type does not matter (as SciPy)
    np.testing.assert_allclose(msla.eigh(a, type=kind)[0], scipy.linalg.eigh(a)[0], atol=1e-13)


def test_triangle_reading_matches_scipy_lower_and_upper():
    r = np.random.default_rng(13)
    a, b = _herm(r, 4), spd(4, seed=14)
    junk = r.standard_normal((2, 4, 4))
    for lower in (True, False):
        # the triangle that is not read holds unrelated numbers (b is not even definite with them)
        keep, drop = (
            (np.tril, functools.partial(np.triu, k=1))
            if lower
            else (np.triu, functools.partial(np.tril, k=-1))
        )
        a_in, b_in = keep(a) + drop(junk[0]), keep(b) + 10 * drop(junk[1])
        w, _ = matcalc.eigh_generalized(a_in, b_in, lower=lower, symmetrize_input=False)
        w_ref = scipy.linalg.eigh(a_in, b_in, lower=lower, eigvals_only=True)
        np.testing.assert_allclose(w, w_ref, atol=1e-13)
        np.testing.assert_allclose(w, scipy.linalg.eigh(a, b, eigvals_only=True), atol=1e-13)


# --- bad input


def test_bad_input_is_a_clear_error():
    s = spd(3)
    with pytest.raises(ValueError, match=r"eigh_generalized: a must be square.*\(3, 4\)"):
        matcalc.eigh_generalized(np.ones((3, 4)), s)
    with pytest.raises(ValueError, match=r"eigh_generalized: b must be square.*\(3, 2\)"):
        matcalc.eigh_generalized(s, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"eigh_generalized: b must have at least 2 dimensions"):
        matcalc.eigh_generalized(s, np.ones(3))
    with pytest.raises(ValueError, match=r"same matrix size.*\(3, 3\) and \(4, 4\)"):
        matcalc.eigh_generalized(s, np.eye(4))
    with pytest.raises(ValueError, match=r"batch.*\(2, 3, 3\) and \(4, 3, 3\)"):
        matcalc.eigh_generalized(np.stack([s] * 2), np.stack([s] * 4))
    for bad in (0, 4, True, "1"):
        with pytest.raises(ValueError, match="type must be 1, 2 or 3"):
            matcalc.eigh_generalized(s, s, type=bad)
    with pytest.raises(ValueError, match="eigvals"):
        msla.eigh(s, s, eigvals=(0, 1))


def test_b_not_positive_definite_gives_nan_under_jit():
    r = np.random.default_rng(15)
    a = _herm(r, 3)
    b = np.diag([1.0, -1.0, 2.0])  # Hermitian, indefinite
    f = jax.jit(lambda x, y: tuple(matcalc.eigh_generalized(x, y)))
    w, v = f(a, b)
    assert np.all(np.isnan(w)) and np.all(np.isnan(v))
    g = jax.jit(jax.grad(lambda x, y: jnp.sum(matcalc.eigh_generalized(x, y)[0]), argnums=(0, 1)))(a, b)
    assert np.all(np.isnan(g[0])) and np.all(np.isnan(g[1]))
