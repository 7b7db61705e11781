"""polar's two methods: the SVD and QDWH (``method="qdwh"``, JAX's iteration, no SVD), with the same
derivative rule. Values against SciPy and ``jax.scipy.linalg.polar``; JVPs against central
differences of SciPy's polar and against the SVD path; reverse mode by the transpose identity; jit,
vmap, the options and their errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import matcalc
import matcalc.scipy.linalg as msla
from tests.cases import rng

# (shape, complex, side): square and tall (wide for side="left"), real and complex
CASES = [
    ((4, 4), False, "right"),
    ((5, 3), True, "right"),
    ((3, 5), False, "left"),
    ((4, 4), True, "left"),
]


def _matrix(shape, complex_, seed):
    r = rng(seed)
    a = r.standard_normal(shape)
    return a + 1j * r.standard_normal(shape) if complex_ else a


def _jax_polar(a, side, method):
    """JAX's own polar; its QDWH takes square input on the right side only, so a square left
    decomposition is JAX's right one of ``aᴴ``, conjugate-transposed."""
    if method == "qdwh" and side == "left" and a.shape[0] == a.shape[1]:
        u, p = jax.scipy.linalg.polar(a.conj().T, "right", method="qdwh")
        return u.conj().T, p
    return jax.scipy.linalg.polar(a, side, method=method)


@pytest.mark.parametrize("method", ["svd", "qdwh"])
@pytest.mark.parametrize("shape,complex_,side", CASES)
def test_values_match_scipy_and_jax(shape, complex_, side, method):
    a = _matrix(shape, complex_, 0)
    u, p = matcalc.polar(a, side, method=method)
    u0, p0 = scipy.linalg.polar(a, side)
    np.testing.assert_allclose(np.asarray(u), u0, rtol=0, atol=5e-15)
    np.testing.assert_allclose(np.asarray(p), p0, rtol=0, atol=5e-15 * np.linalg.norm(a, 2))
    uj, pj = _jax_polar(jnp.asarray(a), side, method)
    np.testing.assert_allclose(np.asarray(u), np.asarray(uj), rtol=0, atol=5e-15)
    np.testing.assert_allclose(np.asarray(p), np.asarray(pj), rtol=0, atol=5e-15 * np.linalg.norm(a, 2))


def _polar_fd(a, da, side, h=1e-6):
    """Central difference of SciPy's polar along ``da``."""
    plus, minus = scipy.linalg.polar(a + h * da, side), scipy.linalg.polar(a - h * da, side)
    return [(x - y) / (2 * h) for x, y in zip(plus, minus, strict=True)]


def _real_inner(x, y):
    """JAX's pairing of a cotangent with a tangent: ``Re Σ x ∘ y`` (bilinear, no conjugate)."""
    return float(np.real(np.sum(np.asarray(x) * np.asarray(y))))


@pytest.mark.parametrize("shape,complex_,side", CASES)
def test_qdwh_derivatives(shape, complex_, side):
    """JVP vs central differences and vs the SVD path; VJP by ``<w, J v> = <Jᵀ w, v>``."""
    a, da = _matrix(shape, complex_, 1), _matrix(shape, complex_, 2)

    def f(method):
        return lambda x: matcalc.polar(x, side, method=method)

    out, tan = jax.jvp(f("qdwh"), (a,), (da,))
    tan_svd = jax.jvp(f("svd"), (a,), (da,))[1]
    for t, t_svd, fd in zip(tan, tan_svd, _polar_fd(a, da, side), strict=True):
        scale = np.max(np.abs(fd))
        np.testing.assert_allclose(np.asarray(t), fd, rtol=0, atol=1e-7 * scale)
        np.testing.assert_allclose(np.asarray(t), np.asarray(t_svd), rtol=0, atol=1e-13 * scale)
    w = [_matrix(o.shape, complex_, 3 + k) for k, o in enumerate(out)]
    (ct,) = jax.vjp(f("qdwh"), a)[1](tuple(jnp.asarray(x) for x in w))
    lhs = sum(_real_inner(x, t) for x, t in zip(w, tan, strict=True))
    np.testing.assert_allclose(_real_inner(ct, da), lhs, rtol=1e-12)


def test_qdwh_gradient_at_repeated_singular_values():
    """A = 2Q (all singular values equal, P = 2I): eigh(P) has an arbitrary basis, the rule does not
    depend on it; d tr(Wᵀ U) has the closed form of the SVD path."""
    q = np.linalg.qr(_matrix((3, 3), False, 4))[0]
    a, w = 2 * q, _matrix((3, 3), False, 5)

    def loss(method):
        return lambda x: (
            jnp.sum(w * matcalc.polar(x, method=method)[0]) + jnp.trace(matcalc.polar(x, method=method)[1])
        )

    g = jax.grad(loss("qdwh"))(a)
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(loss("svd"))(a)), rtol=0, atol=1e-13)


def test_qdwh_jit_vmap_and_no_svd():
    a = np.stack([_matrix((4, 3), False, s) for s in range(3)])
    f = jax.jit(lambda x: matcalc.polar(x, method="qdwh"))
    batched = f(a)
    for k in range(3):
        for got, want in zip(batched, scipy.linalg.polar(a[k]), strict=True):
            np.testing.assert_allclose(np.asarray(got[k]), want, rtol=0, atol=1e-14)
    mapped = jax.vmap(lambda x: matcalc.polar(x, method="qdwh"))(a)
    for x, y in zip(mapped, batched, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=1e-15)
    # the value and the derivative: QR/Cholesky (QDWH) and eigh of the n×n factor P, never an SVD
    jaxpr = str(
        jax.make_jaxpr(lambda x, t: jax.jvp(lambda y: matcalc.polar(y, method="qdwh"), (x,), (t,)))(a, a)
    )
    assert "svd" not in jaxpr and "eigh" in jaxpr


def test_qdwh_options_are_passed_on():
    """``max_iterations`` and ``eps`` reach the iteration: one step is JAX's one-step iterate."""
    a = _matrix((4, 4), False, 6) + 0 * np.eye(4)
    a[0] *= 1e3  # ill-conditioned enough that one QDWH step is far from converged
    u1 = matcalc.polar(a, method="qdwh", max_iterations=1)[0]
    np.testing.assert_allclose(
        np.asarray(u1),
        np.asarray(jax.lax.linalg.qdwh(jnp.asarray(a), max_iterations=1)[0]),
        rtol=0,
        atol=1e-15,
    )
    u_loose = matcalc.polar(a, method="qdwh", eps=1e-3)[0]
    u_ref = scipy.linalg.polar(a)[0]
    err = [np.max(np.abs(np.asarray(u) - u_ref)) for u in (u1, u_loose, matcalc.polar(a, method="qdwh")[0])]
    assert err[0] > 1e-3 and err[2] < 1e-14 and err[1] >= err[2], err


def test_scipy_mirror_default_is_qdwh():
    """The mirror runs JAX's default method, QDWH (no SVD in the program), and gets JAX's factors."""
    a = jnp.asarray(_matrix((4, 4), False, 7))
    assert "svd" not in str(jax.make_jaxpr(msla.polar)(a))
    for got, want in zip(msla.polar(a), jax.scipy.linalg.polar(a), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-14)
    np.testing.assert_allclose(
        np.asarray(msla.polar(a, method="qdwh", max_iterations=1)[0]),
        np.asarray(jax.lax.linalg.qdwh(a, max_iterations=1)[0]),
        rtol=0,
        atol=1e-14,
    )


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"method": "newton"}, "method"),
        ({"method": None}, "method"),
        ({"method": "qdwh", "eps": -1.0}, "eps"),
        ({"method": "qdwh", "eps": "small"}, "eps"),
        ({"method": "qdwh", "max_iterations": 0}, "max_iterations"),
        ({"method": "qdwh", "max_iterations": 2.5}, "max_iterations"),
        ({"method": "qdwh", "max_iterations": True}, "max_iterations"),
    ],
)
def test_bad_options(kwargs, pattern):
    for f in (matcalc.polar, msla.polar):
        with pytest.raises(ValueError, match=pattern):
            f(np.eye(2), **kwargs)
