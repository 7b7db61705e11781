"""``matcalc.use_rules``: matcalc's rules inside code written against jax.numpy / jax.scipy only.

References are independent of the code under test: SciPy/NumPy values, cofactors from NumPy
determinants of minors, the Sylvester equation ``X L + L X = E`` for the derivative of the square
root, and central finite differences of the plain-JAX function (whose values are smooth where
its derivative rule is not).
"""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import matcalc
from matcalc import rules_report, use_rules

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(0)
_A = RNG.standard_normal((4, 4))
SPD = _A @ _A.T + 4 * np.eye(4)
TRI = np.tril(_A) + 4 * np.eye(4)
_E = RNG.standard_normal((3, 3))
SYM_DIR = _E + _E.T  # a symmetric direction
_W = RNG.standard_normal((3, 3))
WEIGHT = _W + _W.T

# A with an exactly repeated eigenvalue (1, 1, 3): exact in floating point, so JAX's eigh rule
# divides by an exact zero.
A_REPEATED = np.diag([1.0, 1.0, 3.0])
# The same spectrum in a rotated basis (LAPACK returns 1 and 1 + O(eps)).
_Q, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
A_REPEATED_ROT = (_Q * np.array([1.0, 1.0, 3.0])) @ _Q.T


def projector_loss(a):
    """⟨W, P⟩ with P the spectral projector on the two smallest eigenvalues, through plain jnp."""
    _, v = jnp.linalg.eigh(a)
    return jnp.sum(WEIGHT * (v[:, :2] @ v[:, :2].T))


def central_fd(f, x, direction, h=1e-4):
    """Five-point central difference of f at x along direction."""
    fx = lambda t: float(f(x + t * direction))  # noqa: E731
    return (8 * (fx(h) - fx(-h)) - (fx(2 * h) - fx(-2 * h))) / (12 * h)


# ---------------------------------------------------------------------------------------------
# values: the same as without use_rules, and the report names what was substituted

VALUE_CASES = {
    "eigh": (lambda a: jnp.linalg.eigh(a), SPD, ["eigh"]),
    "eigvalsh": (jnp.linalg.eigvalsh, SPD, ["eigh"]),
    "cholesky": (jnp.linalg.cholesky, SPD, ["cholesky"]),
    "lax_cholesky": (jax.lax.linalg.cholesky, SPD, ["cholesky"]),
    "det": (jnp.linalg.det, SPD, ["det"]),
    "slogdet": (jnp.linalg.slogdet, SPD, ["slogdet"]),
    "inv": (jnp.linalg.inv, SPD, ["inv"]),
    "solve": (lambda a: jnp.linalg.solve(a, a[:, :2]), SPD, ["solve"]),
    "expm": (lambda a: jsl.expm(a / 4), SPD, ["expm"]),
    "sqrtm": (jsl.sqrtm, SPD, ["sqrtm"]),
    "solve_triangular": (lambda a: jsl.solve_triangular(a, a[:, 1], lower=True), TRI, ["solve_triangular"]),
    "triangular_right_conj": (
        lambda a: jax.lax.linalg.triangular_solve(
            jnp.triu(a).astype(jnp.complex128) + 0.5j,
            a.astype(jnp.complex128) + 1j,
            left_side=False,
            lower=False,
            transpose_a=True,
            conjugate_a=True,
        ),
        TRI.T,
        ["solve_triangular"],
    ),
    "cho_solve": (
        lambda a: jsl.cho_solve((jnp.linalg.cholesky(a), True), a[:, 0]),
        SPD,
        ["cholesky", "solve_triangular", "solve_triangular"],
    ),
    "svd": (jnp.linalg.svd, SPD + _A, ["svd"]),
    "norm2": (lambda a: jnp.linalg.norm(a, 2), SPD + _A, ["svd"]),
    "qr": (jnp.linalg.qr, SPD + _A, ["qr"]),
    "eigvals": (jnp.linalg.eigvals, _A, ["eigvals"]),
    "schur": (jsl.schur, _A, ["schur"]),
    "hessenberg": (lambda a: jsl.hessenberg(a, calc_q=True), _A, ["hessenberg"]),
    "lu": (jsl.lu, _A, ["lu"]),
    "lu_factor": (jsl.lu_factor, _A, ["lu_factor"]),
}


def _scipy_value(name, a):
    return {
        "eigvalsh": lambda: scipy.linalg.eigvalsh(a),
        "det": lambda: np.linalg.det(a),
        "inv": lambda: np.linalg.inv(a),
        "expm": lambda: scipy.linalg.expm(a / 4),
        "sqrtm": lambda: scipy.linalg.sqrtm(a),
        "solve_triangular": lambda: scipy.linalg.solve_triangular(a, a[:, 1], lower=True),
        "lu": lambda: scipy.linalg.lu(a)[0],
    }.get(name)


@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_same_values_and_report(name):
    f, a, ops = VALUE_CASES[name]
    want, got = f(a), use_rules(f)(a)
    for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13 * float(jnp.max(jnp.abs(w))))
    ref = _scipy_value(name, a)
    if ref is not None:
        np.testing.assert_allclose(jax.tree.leaves(got)[0], ref(), rtol=1e-11)
    report = rules_report(f, a)
    assert report.operations == ops
    assert not report.left_alone


GRADIENT_CASES = [
    "det",
    "inv",
    "solve",
    "cholesky",
    "expm",
    "solve_triangular",
    "svd",
    "qr",
    "cho_solve",
    "lu",
]


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_gradients_equal_jax_where_jax_is_right(name):
    """Away from degeneracy the derivatives are JAX's within rounding (a random linear loss;
    squared moduli for the factorizations with a sign gauge)."""
    f, a, _ = VALUE_CASES[name]
    gauge_free = name in ("svd", "qr")
    w = jax.tree.map(lambda o: RNG.standard_normal(o.shape), f(a))

    def loss(g):
        def scalar(x):
            outs = jax.tree.leaves(g(x))
            return sum(
                jnp.sum(wi * (o * o if gauge_free else o))
                for o, wi in zip(outs, jax.tree.leaves(w), strict=True)
            )

        return scalar

    want, got = jax.grad(loss(f))(a), jax.grad(loss(use_rules(f)))(a)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * float(jnp.max(jnp.abs(want))))


@pytest.mark.parametrize("name", ["schur", "hessenberg"])
def test_schur_and_hessenberg_get_a_derivative(name):
    """JAX has no rule for these; the reconstruction Z T Zᵀ = A differentiates to the tangent."""
    f = VALUE_CASES[name][0]
    with pytest.raises(NotImplementedError):
        jax.jvp(f, (_A,), (_A,))
    direction = RNG.standard_normal((4, 4))

    def rebuild(a):
        t, z = use_rules(f)(a)
        return z @ t @ z.T

    a, da = jax.jvp(rebuild, (_A,), (direction,))
    np.testing.assert_allclose(a, _A, atol=1e-13)
    np.testing.assert_allclose(da, direction, atol=1e-12)


def test_eig_with_eigenvectors_is_left_alone():
    (entry,) = rules_report(jnp.linalg.eig, _A).left_alone
    assert "normalizes them differently" in entry.reason


def test_one_triangle_cholesky_differentiates_what_jax_computes():
    """jax.scipy.linalg.cholesky reads the upper triangle only (no symmetrization): the gradient
    is zero below the diagonal; along symmetric directions it agrees with JAX's."""
    loss = lambda a: jnp.sum(jsl.cholesky(a) ** 3)  # noqa: E731
    g = jax.grad(use_rules(loss))(SPD)
    assert np.all(np.tril(g, -1) == 0)
    e = RNG.standard_normal((4, 4))
    e = e + e.T
    np.testing.assert_allclose(np.sum(g * e), central_fd(loss, SPD, e), rtol=1e-8)
    np.testing.assert_allclose(np.sum(g * e), np.sum(jax.grad(loss)(SPD) * e), rtol=1e-12)


def test_complex_hermitian_eigh_and_cholesky():
    b = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    h = b @ b.conj().T + 3 * np.eye(3)
    weights = np.arange(9.0).reshape(3, 3)

    def loss(a):
        v = jnp.linalg.eigh(a)[1]
        return jnp.sum(jnp.abs(v) ** 2 * weights) + jnp.sum(jnp.abs(jnp.linalg.cholesky(a)) ** 2 * weights)

    np.testing.assert_allclose(use_rules(loss)(h), loss(h), rtol=1e-13)
    np.testing.assert_allclose(jax.grad(use_rules(loss))(h), jax.grad(loss)(h), rtol=1e-10, atol=1e-12)
    assert rules_report(loss, h).operations == ["eigh", "cholesky"]


# ---------------------------------------------------------------------------------------------
# the degenerate cases, through plain jnp calls only


def test_projector_at_repeated_eigenvalue():
    g_jax = jax.grad(projector_loss)(A_REPEATED)
    assert not np.all(np.isfinite(g_jax)), "JAX's eigh gradient was expected to be NaN here"
    g = jax.grad(use_rules(projector_loss))(A_REPEATED)
    fd = central_fd(projector_loss, A_REPEATED, SYM_DIR)
    np.testing.assert_allclose(np.sum(g * SYM_DIR), fd, rtol=1e-8, atol=1e-9)
    # rotated basis: JAX's gradient is finite there, but wrong; matcalc's matches the difference
    g_rot = jax.grad(use_rules(projector_loss))(A_REPEATED_ROT)
    fd_rot = central_fd(projector_loss, A_REPEATED_ROT, SYM_DIR)
    np.testing.assert_allclose(np.sum(g_rot * SYM_DIR), fd_rot, rtol=1e-8)
    assert abs(np.sum(jax.grad(projector_loss)(A_REPEATED_ROT) * SYM_DIR) - fd_rot) > 1e-4


SINGULAR = np.array([[1.0, 2, 3, 4], [2, 1, 0, 1], [3, 3, 3, 5], [0, 1, 2, 2]])  # row 3 = row 1 + row 2


def _cofactors(a):
    n = a.shape[0]
    minor = lambda i, j: np.delete(np.delete(a, i, 0), j, 1)  # noqa: E731
    return np.array([[(-1) ** (i + j) * np.linalg.det(minor(i, j)) for j in range(n)] for i in range(n)])


def test_det_gradient_at_singular_matrix_is_the_adjugate():
    cof = _cofactors(SINGULAR)  # ∂det/∂A = adj(A)ᵀ, the cofactor matrix
    assert np.abs(cof).max() > 0.5
    assert not np.allclose(jax.grad(jnp.linalg.det)(SINGULAR), cof, atol=1e-3)
    np.testing.assert_allclose(jax.grad(use_rules(jnp.linalg.det))(SINGULAR), cof, atol=1e-12)


SQRT_IN = 2 * np.eye(3) + 0.3 * RNG.standard_normal((3, 3))


def test_sqrtm_derivative_solves_the_sylvester_equation():
    with pytest.raises(NotImplementedError):
        jax.jvp(jsl.sqrtm, (SQRT_IN,), (SYM_DIR,))
    x, dx = jax.jvp(use_rules(jsl.sqrtm), (SQRT_IN,), (SYM_DIR,))
    np.testing.assert_allclose(x, scipy.linalg.sqrtm(SQRT_IN), rtol=1e-12)
    # d(X²) = X L + L X = E
    np.testing.assert_allclose(x @ dx + dx @ x, SYM_DIR, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# recursion: scan, cond, nested jit, checkpoint, while


def test_inside_scan_cond_jit_and_checkpoint():
    def in_scan(a):  # P(sA) = P(A): the loss is 2 ⟨W, P(A)⟩
        body = lambda c, s: (c + projector_loss(a * s), None)  # noqa: E731
        return jax.lax.scan(body, 0.0, jnp.array([1.0, 2.0]))[0]

    def in_cond(a):
        return jax.lax.cond(a[0, 0] > -10, projector_loss, lambda a: 0.0 * a[0, 0], a)

    fd = central_fd(projector_loss, A_REPEATED, SYM_DIR)
    for f, scale in (
        (in_scan, 2.0),
        (in_cond, 1.0),
        (lambda a: jax.jit(projector_loss)(a), 1.0),
        (lambda a: jax.checkpoint(projector_loss)(a), 1.0),
    ):
        g = jax.grad(use_rules(f))(A_REPEATED)
        np.testing.assert_allclose(np.sum(g * SYM_DIR), scale * fd, rtol=1e-8, atol=1e-9)
    assert [e.where for e in rules_report(in_scan, A_REPEATED).substituted] == ["scan > jit[eigh]"]
    assert [e.where for e in rules_report(in_cond, A_REPEATED).substituted] == ["cond > jit[eigh]"]


def test_det_and_sqrtm_inside_control_flow():
    det_scan = lambda a: jax.lax.scan(lambda c, _: (c + jnp.linalg.det(a), None), 0.0, None, length=2)[0]  # noqa: E731
    np.testing.assert_allclose(jax.grad(use_rules(det_scan))(SINGULAR), 2 * _cofactors(SINGULAR), atol=1e-12)
    sq_cond = lambda a: jax.lax.cond(True, lambda a: jnp.real(jsl.sqrtm(a)), lambda a: a, a)  # noqa: E731
    x, dx = jax.jvp(use_rules(sq_cond), (SQRT_IN,), (SYM_DIR,))
    np.testing.assert_allclose(x @ dx + dx @ x, SYM_DIR, atol=1e-12)


def test_while_loop_value_and_report():
    def f(a):
        return jax.lax.while_loop(
            lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] + jnp.linalg.det(a)), (0, 0.0)
        )[1]

    np.testing.assert_allclose(use_rules(f)(SPD), 2 * np.linalg.det(SPD), rtol=1e-12)
    assert [e.where for e in rules_report(f, SPD).substituted] == ["while"]


# ---------------------------------------------------------------------------------------------
# signature and composition


def test_pytrees_keywords_and_static_arguments():
    def f(params, x, *, power=2, tag="m"):
        chol = jnp.linalg.cholesky(params["cov"])
        return {
            "y": jsl.solve_triangular(chol, x, lower=True) ** power,
            "logdet": params["scale"] * jnp.sum(jnp.log(jnp.diag(chol))),
            "tag": tag == "m",
        }

    params = {"cov": SPD, "scale": jnp.float64(2.0)}
    x = jnp.arange(4.0)
    want, got = f(params, x, power=3), use_rules(f)(params, x, power=3)
    assert jax.tree.structure(want) == jax.tree.structure(got)
    for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert rules_report(f, params, x, power=3).operations == ["cholesky", "solve_triangular"]
    # gradients in a pytree
    loss = lambda p: f(p, x)["logdet"] + jnp.sum(f(p, x)["y"])  # noqa: E731
    gw, gg = jax.grad(loss)(params), jax.grad(use_rules(loss))(params)
    for w, g in zip(jax.tree.leaves(gw), jax.tree.leaves(gg), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10)


def test_vmap_outside_and_inside_and_jit_outside():
    batch = np.stack([A_REPEATED, A_REPEATED_ROT])
    g_in = jax.grad(use_rules(lambda b: jnp.sum(jax.vmap(projector_loss)(b))))(batch)
    g_out = jax.vmap(jax.grad(use_rules(projector_loss)))(batch)
    g_jit = jax.jit(jax.vmap(jax.grad(use_rules(projector_loss))))(batch)
    for k in range(2):
        fd = central_fd(projector_loss, batch[k], SYM_DIR)
        for g in (g_in, g_out, g_jit):
            np.testing.assert_allclose(np.sum(g[k] * SYM_DIR), fd, rtol=1e-8, atol=1e-9)
    assert (
        str(rules_report(lambda b: jax.vmap(projector_loss)(b), batch).substituted[0].shapes)
        == "('float64[2,3,3]',)"
    )


def test_second_order_slogdet_and_cholesky():
    f1 = lambda a: jnp.linalg.slogdet(a)[1]  # noqa: E731
    f2 = lambda a: jnp.sum(jnp.linalg.cholesky(a) ** 3)  # noqa: E731
    for f in (f1, f2):
        want = jax.hessian(f)(SPD)
        got = jax.jit(jax.hessian(use_rules(f)))(SPD)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * float(np.abs(want).max()))


EIGH_SECOND_ORDER = (
    "matcalc.eigh's second derivative at a repeated eigenvalue is not exact (also without use_rules)"
)


@pytest.mark.xfail(strict=True, reason=EIGH_SECOND_ORDER)
def test_second_order_projector_at_repeated_eigenvalue():
    def d1(a):
        return jax.jvp(use_rules(projector_loss), (a,), (SYM_DIR,))[1]

    second = jax.jvp(d1, (A_REPEATED_ROT,), (SYM_DIR,))[1]
    np.testing.assert_allclose(second, central_fd(d1, A_REPEATED_ROT, SYM_DIR), rtol=1e-6)


def test_composes_with_itself():
    g = jax.grad(use_rules(use_rules(projector_loss)))(A_REPEATED)
    np.testing.assert_allclose(
        np.sum(g * SYM_DIR), central_fd(projector_loss, A_REPEATED, SYM_DIR), rtol=1e-8, atol=1e-9
    )


# ---------------------------------------------------------------------------------------------
# only= / exclude=, the report, custom rules, errors


def test_only_and_exclude():
    g = jax.grad(use_rules(projector_loss, exclude=["eigh"]))(A_REPEATED)
    assert not np.all(np.isfinite(g))  # JAX's rule again
    report = rules_report(use_rules(projector_loss, exclude="eigh"), A_REPEATED)
    assert not report.substituted and [e.operation for e in report.left_alone] == ["eigh"]
    assert "not enabled" in report.left_alone[0].reason
    f = lambda a: jnp.linalg.det(a) + jnp.sum(jnp.linalg.cholesky(a))  # noqa: E731
    assert rules_report(use_rules(f, only=["det"]), SPD).operations == ["det"]
    assert rules_report(use_rules(f, only=["det", "cholesky"], exclude=["det"]), SPD).operations == [
        "cholesky"
    ]
    with pytest.raises(ValueError, match="known: cholesky, det, eigh"):
        use_rules(f, only=["determinant"])
    with pytest.raises(ValueError, match="exclude"):
        use_rules(f, exclude=["eig_h"])


def test_report_lists_left_alone_with_reason():
    f = lambda a: jnp.linalg.pinv(a) + jnp.real(jnp.linalg.eig(a)[0])[0]  # noqa: E731
    report = rules_report(f, SPD)
    reasons = {e.operation: e.reason for e in report.left_alone}
    assert "custom rule" in reasons["svd"] and "_pinv" in reasons["svd"]
    assert "normalizes them differently" in reasons["eig"]
    text = str(report)
    assert "left to JAX" in text and "eig" in text and "float64[4,4]" in text


def test_custom_rule_of_the_caller_wins():
    @jax.custom_jvp
    def my_logdet(a):
        return 2 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(a))))

    @my_logdet.defjvp
    def _(primals, tangents):
        (a,), (da,) = primals, tangents
        return my_logdet(a), 7.0 * jnp.trace(da)  # deliberately not the derivative

    assert float(jax.grad(use_rules(my_logdet))(SPD)[0, 0]) == 7.0
    (entry,) = rules_report(my_logdet, SPD).left_alone
    assert entry.operation == "cholesky" and "custom rule" in entry.reason


def test_custom_rule_that_only_wraps_an_operation_is_substituted():
    @jax.custom_jvp
    def values(a):
        return jax.lax.linalg.eigh(a, symmetrize_input=False)[1]

    @values.defjvp
    def _(primals, tangents):
        (a,), _ = primals, tangents
        return values(a), jnp.zeros(3)  # deliberately not the derivative

    # dλ = diag(Vᵀ dA V); at diag(1, 1, 3) (eigenvectors e₁, e₂, e₃ up to the basis of the
    # cluster) the sum of the two smallest eigenvalues has the derivative dA₁₁ + dA₂₂
    loss = lambda a: jnp.sum(values(a)[:2])  # noqa: E731
    np.testing.assert_allclose(jax.grad(use_rules(loss))(A_REPEATED), np.diag([1.0, 1.0, 0.0]), atol=1e-14)
    (entry,) = rules_report(loss, A_REPEATED).substituted
    assert entry.operation == "eigh" and entry.where.startswith("custom_jvp_call")


def test_a_function_of_the_callers_with_a_wrapper_name_is_entered_not_replaced():
    @jax.jit
    def inv(a):  # not an inverse; its name is JAX's wrapper's
        return jnp.linalg.det(a) * a

    np.testing.assert_allclose(use_rules(inv)(SPD), np.linalg.det(SPD) * SPD, rtol=1e-13)
    report = rules_report(inv, SPD)
    assert report.operations == ["det"] and not report.left_alone


def test_expm_upper_triangular_variant_is_not_replaced():
    f = lambda a: jsl.expm(a, upper_triangular=True)  # noqa: E731
    np.testing.assert_allclose(use_rules(f)(TRI.T / 4), f(TRI.T / 4), rtol=1e-14)
    entries = [e for e in rules_report(f, TRI.T).left_alone if e.operation == "expm"]
    assert entries and "unrecognized variant" in entries[0].reason


def test_tracing_errors_are_jax_own():
    def bad(a):
        return jnp.linalg.inv(a) @ jnp.ones(5)

    with pytest.raises(TypeError) as plain:
        jax.make_jaxpr(bad)(SPD)
    with pytest.raises(TypeError) as ours:
        use_rules(bad)(SPD)
    assert str(ours.value) == str(plain.value)


def test_public_names():
    assert matcalc.use_rules is use_rules and matcalc.rules_report is rules_report


# ---------------------------------------------------------------------------------------------
# a library that never imports matcalc


def test_numpyro_multivariate_normal():
    dist = pytest.importorskip("numpyro.distributions", reason="a client library from the dev extra")
    x, loc = jnp.arange(4.0) / 4, jnp.zeros(4)
    logp = lambda s: dist.MultivariateNormal(loc, covariance_matrix=s).log_prob(x)  # noqa: E731
    np.testing.assert_allclose(use_rules(logp)(SPD), logp(SPD), rtol=1e-14)
    np.testing.assert_allclose(
        use_rules(logp)(SPD),
        scipy.stats.multivariate_normal(np.zeros(4), SPD).logpdf(np.asarray(x)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(jax.grad(use_rules(logp))(SPD), jax.grad(logp)(SPD), rtol=1e-10, atol=1e-14)
    report = rules_report(logp, SPD)
    assert "cholesky" in report.operations
    assert all(e.substituted for e in report.substituted)


def test_tinygp_log_probability():
    tinygp = pytest.importorskip("tinygp", reason="a client library from the dev extra")
    t, y = jnp.linspace(0.0, 3.0, 6), jnp.sin(jnp.linspace(0.0, 3.0, 6))

    def log_probability(theta):
        kernel = tinygp.kernels.ExpSquared(jnp.exp(theta[0])) * jnp.exp(theta[1])
        return tinygp.GaussianProcess(kernel, t, diag=0.1).log_probability(y)

    theta = jnp.array([0.1, 0.2])
    k = np.exp(0.2) * np.exp(-0.5 * (np.subtract.outer(t, t) / np.exp(0.1)) ** 2) + 0.1 * np.eye(6)
    want = scipy.stats.multivariate_normal(np.zeros(6), k).logpdf(np.asarray(y))
    np.testing.assert_allclose(use_rules(log_probability)(theta), want, rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(use_rules(log_probability))(theta), jax.grad(log_probability)(theta), rtol=1e-10
    )
    assert rules_report(log_probability, theta).operations == ["cholesky", "solve_triangular"]
