"""The mirrors ``matcalc.numpy.linalg`` and ``matcalc.scipy.linalg`` against the installed JAX:
every public name is there, with JAX's parameter names, kinds, order and defaults (extra
keyword-only parameters allowed); every name matcalc implements returns JAX's value, dtype and
return structure on a small input (JAX's named result classes included); gradients through the
adapters agree with JAX's where JAX has a derivative; and the registry rule for mirrored names."""

import importlib
import inspect
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
import matcalc.numpy.linalg as mla
import matcalc.scipy.linalg as msla
from matcalc.testing import public_operations
from tests.cases import rng, spd, well_conditioned
from tests.cases.factor import svd_gauge

MIRRORS = [("numpy.linalg", "jax.numpy.linalg"), ("scipy.linalg", "jax.scipy.linalg")]


def _jax_names(module):
    return sorted(
        n
        for n in dir(module)
        if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)
    )


def _pairs():
    for mirror, ref in MIRRORS:
        ours, theirs = importlib.import_module(f"matcalc.{mirror}"), importlib.import_module(ref)
        for name in _jax_names(theirs):
            yield mirror, name, ours, theirs


PAIRS = list(_pairs())


@pytest.mark.parametrize("mirror,ref", MIRRORS)
def test_every_public_name_is_mirrored(mirror, ref):
    ours, theirs = importlib.import_module(f"matcalc.{mirror}"), importlib.import_module(ref)
    names = _jax_names(theirs)
    assert sorted(ours.__all__) == names, (
        f"missing: {sorted(set(names) - set(ours.__all__))}, extra: {sorted(set(ours.__all__) - set(names))}"
    )
    for name in names:
        assert callable(getattr(ours, name)), name


def test_signatures_match_jax():
    bad = []
    for mirror, name, ours, theirs in PAIRS:
        so = inspect.signature(getattr(ours, name)).parameters
        sj = inspect.signature(getattr(theirs, name)).parameters
        mine = [(p.name, p.kind, p.default) for p in so.values() if p.name in sj]
        want = [(p.name, p.kind, p.default) for p in sj.values()]
        extra = [p for p in so.values() if p.name not in sj]
        if mine != want or any(p.kind is not inspect.Parameter.KEYWORD_ONLY for p in extra):
            bad.append(
                f"{mirror}.{name}: ours {inspect.signature(getattr(ours, name))}, "
                f"JAX {inspect.signature(getattr(theirs, name))}"
            )
    assert not bad, "\n".join(bad)


def test_names_without_a_rule_are_jax_functions():
    for mirror, name, ours, theirs in PAIRS:
        obj = getattr(ours, name)
        if obj is getattr(theirs, name):
            continue
        assert obj.__module__.startswith("matcalc."), f"{mirror}.{name} comes from {obj.__module__}"


# --- values on small inputs -----------------------------------------------------------------

A = well_conditioned(4, seed=61)
AC = well_conditioned(3, seed=62, complex_=True)
S = spd(4, seed=63)
HC = spd(3, seed=64, complex_=True)
B = rng(65).standard_normal((4, 2))
E = rng(66).standard_normal((4, 4))
T = rng(67).standard_normal((5, 3))


def _phase_normalized(out):
    w, v = out
    k = jnp.argmax(jnp.abs(v), axis=-2)
    vk = jnp.take_along_axis(v, k[..., None, :], axis=-2)
    return w, v * (jnp.conj(vk) / jnp.abs(vk).astype(v.dtype))


NUMPY_CASES = {
    "cholesky": [lambda m: m.cholesky(S), lambda m: m.cholesky(HC, upper=True)],
    "cond": [lambda m: m.cond(A), lambda m: m.cond(A, p="fro"), lambda m: m.cond(AC, p=-2)],
    "det": [lambda m: m.det(A)],
    "eig": [lambda m: m.eig(A)],
    "eigh": [lambda m: m.eigh(S), lambda m: m.eigh(HC, UPLO="U", symmetrize_input=False)],
    "eigvals": [lambda m: m.eigvals(A)],
    "eigvalsh": [lambda m: m.eigvalsh(S), lambda m: m.eigvalsh(HC, "U", symmetrize_input=False)],
    "inv": [lambda m: m.inv(AC)],
    "lstsq": [lambda m: m.lstsq(T, T[:, 0] + B[0, 0])],
    "matrix_norm": [
        lambda m: m.matrix_norm(A),
        lambda m: m.matrix_norm(AC, ord=2),
        lambda m: m.matrix_norm(A, ord="nuc", keepdims=True),
    ],
    "matrix_power": [lambda m: m.matrix_power(A, 3), lambda m: m.matrix_power(A, -2)],
    "norm": [lambda m: m.norm(A), lambda m: m.norm(A, 2)],
    "pinv": [lambda m: m.pinv(T)],
    "qr": [
        lambda m: m.qr(T),
        lambda m: m.qr(T, "complete"),
        lambda m: m.qr(AC, "r"),
        lambda m: m.qr(T, "raw"),
    ],
    "slogdet": [lambda m: m.slogdet(A), lambda m: m.slogdet(AC)],
    "solve": [lambda m: m.solve(A, B), lambda m: m.solve(AC, AC[:, 0])],
    "svd": [
        lambda m: m.svd(A),
        lambda m: m.svd(T, full_matrices=False),
        lambda m: m.svd(AC, compute_uv=False),
    ],
    "svdvals": [lambda m: m.svdvals(T)],
    "tensorinv": [lambda m: m.tensorinv(A.reshape(4, 2, 2), ind=1)],
    "tensorsolve": [lambda m: m.tensorsolve(A.reshape(2, 2, 4), B[:, 0].reshape(2, 2))],
}

SCIPY_CASES = {
    "cho_factor": [lambda m: m.cho_factor(S), lambda m: m.cho_factor(HC, lower=True)],
    "cho_solve": [
        lambda m: m.cho_solve(m.cho_factor(S), B),
        lambda m: m.cho_solve(m.cho_factor(HC, True), HC[0]),
    ],
    "cholesky": [lambda m: m.cholesky(S), lambda m: m.cholesky(HC, lower=True)],
    "det": [lambda m: m.det(A)],
    "eigh": [lambda m: m.eigh(S), lambda m: m.eigh(HC, lower=False), lambda m: m.eigh(S, eigvals_only=True)],
    "expm": [lambda m: m.expm(A), lambda m: m.expm(jnp.triu(AC), upper_triangular=True)],
    "expm_frechet": [lambda m: m.expm_frechet(A, E), lambda m: m.expm_frechet(A, E, compute_expm=False)],
    "funm": [lambda m: m.funm(S, jnp.exp)],
    "hessenberg": [lambda m: m.hessenberg(A), lambda m: m.hessenberg(AC, calc_q=True)],
    "inv": [lambda m: m.inv(A)],
    "lu": [lambda m: m.lu(A), lambda m: m.lu(T, permute_l=True)],
    "lu_factor": [lambda m: m.lu_factor(A), lambda m: m.lu_factor(T)],
    "lu_solve": [
        lambda m: m.lu_solve(m.lu_factor(A), B, trans=1),
        lambda m: m.lu_solve(m.lu_factor(AC), AC[0], 2),
    ],
    "polar": [lambda m: m.polar(A), lambda m: m.polar(T.T, side="left")],
    "qr": [
        lambda m: m.qr(A),
        lambda m: m.qr(T, mode="economic"),
        lambda m: m.qr(T, mode="r"),
        lambda m: m.qr(A, pivoting=True),
        lambda m: m.qr(T, mode="economic", pivoting=True),
    ],
    "schur": [lambda m: m.schur(A), lambda m: m.schur(AC, output="complex")],
    "solve": [
        lambda m: m.solve(A, B),
        lambda m: m.solve(S, B, assume_a="pos"),
        lambda m: m.solve(HC, HC[0], assume_a="pos", lower=True),
        lambda m: m.solve(S, B, assume_a="sym"),
    ],
    "solve_sylvester": [lambda m: m.solve_sylvester(A, S, E)],
    "solve_triangular": [
        lambda m: m.solve_triangular(A, B, lower=True),
        lambda m: m.solve_triangular(AC, AC[0], trans="C", unit_diagonal=True),
    ],
    "sqrtm": [lambda m: m.sqrtm(S)],
    "svd": [
        lambda m: m.svd(A),
        lambda m: m.svd(T, full_matrices=False),
        lambda m: m.svd(A, compute_uv=False),
    ],
}

# Eigenvectors and singular vectors are compared up to a phase (sign) per column: matcalc's eig
# normalizes it; for Hermitian input named by its upper triangle, matcalc's eigh runs LAPACK on
# the lower triangle of the same Hermitian matrix (another phase).
GAUGES = {
    ("numpy.linalg", "eig"): _phase_normalized,
    ("numpy.linalg", "eigh"): _phase_normalized,
    ("scipy.linalg", "eigh"): _phase_normalized,
    ("numpy.linalg", "svd"): svd_gauge,
    ("scipy.linalg", "svd"): svd_gauge,
}
# JAX's scipy schur returns a list; matcalc's returns a tuple.
SEQUENCE_TYPE_EXEMPT = {("scipy.linalg", "schur")}


def _implemented():
    out = []
    for mirror, name, ours, theirs in PAIRS:
        if getattr(ours, name) is not getattr(theirs, name):
            out.append((mirror, name))
    return out


def test_value_cases_cover_every_implemented_name():
    cases = {("numpy.linalg", n) for n in NUMPY_CASES} | {("scipy.linalg", n) for n in SCIPY_CASES}
    assert sorted(set(_implemented()) - cases) == []


def _compare(ours, theirs, label, exempt_sequence_type):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)), f"{label}: {type(ours)} instead of {type(theirs)}"
        if not exempt_sequence_type:
            assert type(ours) is type(theirs), f"{label}: {type(ours)} instead of {type(theirs)}"
        if hasattr(theirs, "_fields"):
            assert ours._fields == theirs._fields
        assert len(ours) == len(theirs), label
        for k, (x, y) in enumerate(zip(ours, theirs, strict=True)):
            _compare(x, y, f"{label}[{k}]", exempt_sequence_type)
        return
    if isinstance(theirs, bool):
        assert ours is theirs, label
        return
    x, y = jnp.asarray(ours), jnp.asarray(theirs)
    assert x.shape == y.shape and x.dtype == y.dtype, (
        f"{label}: {x.shape} {x.dtype} vs JAX {y.shape} {y.dtype}"
    )
    x, y = np.asarray(x), np.asarray(y)
    if not np.issubdtype(y.dtype, np.inexact):
        np.testing.assert_array_equal(x, y, err_msg=label)
        return
    err = np.linalg.norm(x - y)
    assert err <= 1e-10 * max(np.linalg.norm(y), 1.0), f"{label}: |ours − JAX| = {err:.3e}"


VALUE_CASES = [("numpy.linalg", n, k, f) for n, fs in NUMPY_CASES.items() for k, f in enumerate(fs)] + [
    ("scipy.linalg", n, k, f) for n, fs in SCIPY_CASES.items() for k, f in enumerate(fs)
]


@pytest.mark.parametrize(
    "mirror,name,k,call", VALUE_CASES, ids=[f"{m}.{n}[{k}]" for m, n, k, _ in VALUE_CASES]
)
def test_value_equals_jax(mirror, name, k, call):
    ours = importlib.import_module(f"matcalc.{mirror}")
    theirs = importlib.import_module(f"jax.{mirror}")
    got, want = call(ours), call(theirs)
    gauge = GAUGES.get((mirror, name))
    if gauge is not None and isinstance(want, tuple):
        assert type(got) is type(want)
        got, want = gauge(got), gauge(want)
    _compare(got, want, f"{mirror}.{name}[{k}]", (mirror, name) in SEQUENCE_TYPE_EXEMPT)


# --- gradients through the adapters ----------------------------------------------------------

X = rng(70).standard_normal((4, 4))
W = rng(71).standard_normal((4, 4))


def _spd_of(x):
    return x @ x.T + 4 * jnp.eye(4)


GRAD_CASES = {
    "numpy.linalg.eigvalsh": lambda m, x: jnp.sum(m.eigvalsh(_spd_of(x)) ** 3),
    "numpy.linalg.matrix_norm": lambda m, x: m.matrix_norm(x, ord="nuc") + m.matrix_norm(x),
    "numpy.linalg.svdvals": lambda m, x: jnp.sum(m.svdvals(x) ** 3),
    "numpy.linalg.cond": lambda m, x: m.cond(x) + m.cond(x, p=1),
    "numpy.linalg.tensorinv": lambda m, x: jnp.sum(W.reshape(2, 2, 4) * m.tensorinv(x.reshape(4, 2, 2), 1)),
    "numpy.linalg.tensorsolve": lambda m, x: jnp.sum(
        jnp.sin(m.tensorsolve(x.reshape(2, 2, 4), W[0].reshape(2, 2)))
    ),
    "numpy.linalg.qr": lambda m, x: jnp.sum(W * m.qr(x).R),
    "numpy.linalg.svd": lambda m, x: jnp.sum(W * jnp.abs(m.svd(x).U) ** 2) + jnp.sum(m.svd(x).S ** 2),
    "scipy.linalg.cholesky": lambda m, x: jnp.sum(W * m.cholesky(_spd_of(x))),
    "scipy.linalg.det": lambda m, x: m.det(x),
    "scipy.linalg.inv": lambda m, x: jnp.sum(W * m.inv(x)),
    "scipy.linalg.eigh": lambda m, x: (
        jnp.sum(m.eigh(_spd_of(x))[0] ** 2) + jnp.sum(W * m.eigh(_spd_of(x))[1] ** 2)
    ),
    "scipy.linalg.expm": lambda m, x: jnp.sum(W * m.expm(x / 4)),
    "scipy.linalg.expm_frechet": lambda m, x: jnp.sum(W * m.expm_frechet(x / 4, W, compute_expm=False)),
    "scipy.linalg.qr": lambda m, x: jnp.sum(W * m.qr(x)[1]) + jnp.sum(W * m.qr(x, pivoting=True)[1]),
    "scipy.linalg.solve": lambda m, x: jnp.sum(jnp.sin(m.solve(_spd_of(x), W, assume_a="pos"))),
    "scipy.linalg.svd": lambda m, x: jnp.sum(m.svd(x, compute_uv=False) ** 3),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradient_equals_jax(name):
    mirror, op = name.rsplit(".", 1)
    loss = GRAD_CASES[name]
    ours = jax.grad(lambda x: loss(importlib.import_module(f"matcalc.{mirror}"), x))(X)
    theirs = jax.grad(lambda x: loss(importlib.import_module(f"jax.{mirror}"), x))(X)
    err = np.linalg.norm(np.asarray(ours) - np.asarray(theirs))
    assert err <= 1e-8 * np.linalg.norm(np.asarray(theirs)), f"{name}: |ours − JAX| = {err:.3e}"


def test_polar_forward_derivative_equals_jax():
    # JAX's polar has no reverse mode (a while_loop); its forward mode is the reference
    t = W / np.linalg.norm(W)
    ours = jax.jvp(lambda x: msla.polar(x), (X,), (t,))[1]
    theirs = jax.jvp(lambda x: jax.scipy.linalg.polar(x), (X,), (t,))[1]
    for o, j in zip(ours, theirs, strict=True):
        err = np.linalg.norm(np.asarray(o) - np.asarray(j))
        assert err <= 1e-8 * np.linalg.norm(np.asarray(j)), err


# --- conventions and errors --------------------------------------------------------------------


def test_named_results_are_jax_classes():
    assert type(mla.eigh(S)) is type(jnp.linalg.eigh(S))
    assert type(mla.svd(A)) is type(jnp.linalg.svd(A))
    assert type(mla.qr(A)) is type(jnp.linalg.qr(A))
    assert type(mla.slogdet(A)) is type(jnp.linalg.slogdet(A))
    assert type(mla.eig(A)) is type(jnp.linalg.eig(A))
    assert mla.eigh(S).eigenvectors.shape == (4, 4) and mla.svd(A).Vh.shape == (4, 4)


def test_scipy_cholesky_default_is_upper():
    u = msla.cholesky(S)
    np.testing.assert_allclose(np.asarray(u), np.linalg.cholesky(S).T, rtol=1e-13, atol=0)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="assume_a"):
        msla.solve(A, B, assume_a="banded")
    with pytest.raises(ValueError, match="mode"):
        msla.qr(A, mode="raw")
    with pytest.raises(ValueError, match="method"):
        msla.polar(A, method="newton")
    with pytest.raises(ValueError, match="lapack_driver"):
        msla.svd(A, lapack_driver="gesvj")


def test_registry_rule_for_mirrored_names(monkeypatch):
    # every mirrored name is a JAX function, a public matcalc operation, or an adapter of those
    assert not any(n.startswith(("numpy.", "scipy.")) for n in public_operations())

    # a mirrored function with a rule of its own (not adapting public operations) needs a case
    def own_rule(a, b):
        return a

    monkeypatch.setattr(msla, "toeplitz", own_rule)
    assert "scipy.linalg.toeplitz" in public_operations()
    own_rule._matcalc_adapts = (matcalc.solve,)
    assert "scipy.linalg.toeplitz" not in public_operations()


def test_scipy_funm_disp_false_returns_an_error_estimate():
    f = msla.funm(S, jnp.exp)
    f2, err = msla.funm(S, jnp.exp, disp=False)
    assert f.dtype == jnp.complex128 and f2.dtype == jnp.complex128
    np.testing.assert_array_equal(np.asarray(f), np.asarray(f2))
    assert err.shape == () and np.finfo(np.float64).eps <= float(err) <= 1e-12


_AI = np.array([[4, 1, 0], [1, 3, 1], [0, 1, 2]])
_BI = np.array([[1], [2], [3]])
DTYPE_CALLS = {
    "numpy.linalg": [
        lambda m, a, b: m.det(a),
        lambda m, a, b: m.solve(a, b),
        lambda m, a, b: m.cholesky(a),
        lambda m, a, b: m.eigh(a),
        lambda m, a, b: m.svd(a),
        lambda m, a, b: m.slogdet(a),
        lambda m, a, b: m.qr(a),
        lambda m, a, b: m.eig(a),
        lambda m, a, b: m.cond(a),
        lambda m, a, b: m.matrix_norm(a),
        lambda m, a, b: m.tensorinv(a, 1),
    ],
    "scipy.linalg": [
        lambda m, a, b: m.solve(a, b, assume_a="pos"),
        lambda m, a, b: m.cho_factor(a),
        lambda m, a, b: m.cho_solve(m.cho_factor(a), b),
        lambda m, a, b: m.lu_factor(a),
        lambda m, a, b: m.lu_solve(m.lu_factor(a), b),
        lambda m, a, b: m.solve_triangular(a, b),
        lambda m, a, b: m.expm(a),
        lambda m, a, b: m.sqrtm(a),
        lambda m, a, b: m.funm(a, jnp.exp),
        lambda m, a, b: m.svd(a),
        lambda m, a, b: m.eigh(a),
        lambda m, a, b: m.qr(a),
    ],
}


@pytest.mark.parametrize("mirror", sorted(DTYPE_CALLS))
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.complex64])
def test_dtype_rules_match_jax(mirror, dtype):
    ours = importlib.import_module(f"matcalc.{mirror}")
    theirs = importlib.import_module(f"jax.{mirror}")
    a, b = _AI.astype(dtype), _BI.astype(dtype)
    for k, call in enumerate(DTYPE_CALLS[mirror]):
        try:
            want = [x.dtype for x in jax.tree.leaves(call(theirs, a, b)) if hasattr(x, "dtype")]
        except (TypeError, ValueError):
            continue  # JAX rejects this dtype (e.g. integer input to schur-based funm); matcalc promotes
        got = [x.dtype for x in jax.tree.leaves(call(ours, a, b)) if hasattr(x, "dtype")]
        assert got == want, f"{mirror} call {k} on {np.dtype(dtype)}: {got} vs JAX {want}"


def test_scipy_solve_sylvester_tol_gives_nan_where_the_equation_is_near_singular():
    p = rng(20).standard_normal((3, 3))
    a = p @ np.diag([1.0, 2.0, 3.0]) @ np.linalg.inv(p)
    c = np.ones((3, 3))
    # λ(A) + μ(−A) contains 0: JAX's check returns NaN, and so does the mirror (batched: per matrix)
    b = np.stack([-a, np.diag([1.0, 2.0, 3.0])])
    x = msla.solve_sylvester(np.stack([a, a]), b, np.stack([c, c]), tol=1e-5)
    assert np.all(np.isnan(x[0]))
    np.testing.assert_allclose(a @ x[1] + x[1] @ b[1], c, atol=1e-12)
    np.testing.assert_array_equal(
        np.isnan(x[0]), np.isnan(jax.scipy.linalg.solve_sylvester(a, -a, c, tol=1e-5))
    )
    # tol <= 0 skips the check: matcalc's own solver's answer comes back unchanged
    np.testing.assert_array_equal(msla.solve_sylvester(a, -a, c, tol=0.0), matcalc.solve_sylvester(a, -a, c))
