"""Bad input across the public surface: a clear error, JAX's own value, or a documented behaviour.

Every public operation (``ode.*`` and the algebraic Riccati solvers and trigonometric matrix functions,
tested in their own files, aside) is probed with: a vector where a matrix is expected, a non-square
matrix, mismatched shapes, 0x0 and an empty batch ``(0, n, n)``, 1x1, integer and bool input, float16
and bfloat16, complex input, NaN/Inf entries and invalid options. The expected outcome of each probe is
built in the test from JAX's counterpart on the same input (``jnp.linalg.X``, ``jax.scipy.linalg.X``,
or a composition of JAX functions where JAX has none): where JAX raises, matcalc raises ValueError or
TypeError naming the offending shape or dtype; where JAX computes, matcalc returns the same structure,
shapes and dtypes, values equal within rounding, NaN where JAX gives NaN. For float inputs of
differentiable operations the gradient of a real scalar loss is compared with JAX's too, eagerly and
under ``jit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest

import matcalc
import matcalc.numpy.linalg as mla
import matcalc.scipy.linalg as msla
from matcalc import hermitian as mh
from matcalc import spd as mspd

# ---------------------------------------------------------------------------------------------------------
# inputs (n <= 3)

_A = np.array([[2.0, 0.5], [0.5, 1.0]])  # SPD, so every operation's domain holds it


def _nan(x, v):
    x = np.array(x, dtype=np.float64)
    x[..., 0, 0] = v
    return x


INPUTS: dict[str, Callable[[], Any]] = {
    "vector": lambda: jnp.asarray(np.array([2.0, 1.0])),
    "nonsquare": lambda: jnp.asarray(np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2]])),
    "empty": lambda: jnp.zeros((0, 0)),
    "empty_batch": lambda: jnp.zeros((0, 2, 2)),
    "1x1": lambda: jnp.asarray(np.array([[2.0]])),
    "int32": lambda: jnp.asarray(np.array([[2, 1], [1, 3]], dtype=np.int32)),
    "bool": lambda: jnp.asarray(np.array([[True, False], [False, True]])),
    "float16": lambda: jnp.asarray(_A, dtype=jnp.float16),
    "bfloat16": lambda: jnp.asarray(_A, dtype=jnp.bfloat16),
    "complex": lambda: jnp.asarray(_A + 0.25j * np.array([[0.0, 1.0], [-1.0, 0.0]])),
    "nan": lambda: jnp.asarray(_nan(_A, np.nan)),
    "inf": lambda: jnp.asarray(_nan(_A, np.inf)),
}
# probes whose input is float64 and differentiable: the gradient is compared too
GRAD_INPUTS = ("empty", "1x1")
JIT_GRAD_INPUTS = ("1x1",)


# ---------------------------------------------------------------------------------------------------------
# the table


@dataclass
class Op:
    """``mc(x)`` and ``ref(x)``: matcalc and JAX on the probe input ``x`` (other arguments built from
    ``x``). ``values``: compare values (False where the output is fixed only up to a gauge, then the
    shapes and dtypes and the gauge-invariant loss are compared). ``grad``: differentiable."""

    mc: Callable
    ref: Callable | None
    values: bool = True
    grad: bool = True
    skip: tuple = ()
    xfail: dict = field(default_factory=dict)


def _rhs(x):
    return x  # a matrix right-hand side of the same shape


def _herm_ref(f):
    def ref(a):
        w, v = jnp.linalg.eigh(a)
        return (v * f(w).astype(v.dtype)[..., None, :]) @ jnp.swapaxes(v, -1, -2).conj()
    return ref


def _mean(x):
    return jnp.zeros(x.shape[-1:], x.dtype)


def _real_as(y, x):
    x = jnp.asarray(x)
    return y if jnp.iscomplexobj(x) else y.real.astype(jnp.result_type(x.dtype, 1.0))


def _logdet_ref(a):
    s, l = jnp.linalg.slogdet(a)
    return jnp.where(s.real > 0, l, jnp.nan)


_HALF_DET = dict.fromkeys(("float16", "bfloat16"), (
    "JAX computes det/slogdet of a 2x2 half-precision matrix by a closed form (n <= 3); matcalc uses "
    "LU, which has no half-precision kernel, and raises JAX's LAPACK error"))

OPS: dict[str, Op] = {
    "inv": Op(matcalc.inv, jnp.linalg.inv),
    "det": Op(matcalc.det, jnp.linalg.det, xfail=_HALF_DET),
    "slogdet": Op(matcalc.slogdet, jnp.linalg.slogdet, xfail=_HALF_DET),
    "logdet": Op(matcalc.logdet, _logdet_ref, xfail=_HALF_DET),
    "solve": Op(lambda x: matcalc.solve(x, _rhs(x)), lambda x: jnp.linalg.solve(x, _rhs(x))),
    "pinv": Op(matcalc.pinv, jnp.linalg.pinv),
    "lstsq": Op(lambda x: matcalc.lstsq(x, _rhs(x))[0], lambda x: jnp.linalg.lstsq(x, _rhs(x))[0]),
    "matrix_power": Op(lambda x: matcalc.matrix_power(x, 3), lambda x: jnp.linalg.matrix_power(x, 3)),
    "matrix_power_neg": Op(lambda x: matcalc.matrix_power(x, -2),
                           lambda x: jnp.linalg.matrix_power(x, -2)),
    "norm": Op(matcalc.norm, jnp.linalg.norm),
    "norm_2": Op(lambda x: matcalc.norm(x, 2), lambda x: jnp.linalg.norm(x, 2)),
    "norm_nuc": Op(lambda x: matcalc.norm(x, "nuc"), lambda x: jnp.linalg.norm(x, "nuc")),
    "expm": Op(matcalc.expm, jsl.expm),
    "expm_frechet": Op(lambda x: matcalc.expm_frechet(x, x), lambda x: jsl.expm_frechet(x, x)),
    "logm": Op(matcalc.logm, _herm_ref(jnp.log)),
    # SciPy's convention, documented: real input with a real square root gives a real result (JAX's
    # sqrtm is always complex)
    "sqrtm": Op(matcalc.sqrtm, lambda x: _real_as(jsl.sqrtm(x), x), xfail=dict.fromkeys(
        ("float16", "bfloat16"), "JAX's sqrtm computes half precision in complex64; matcalc raises a "
        "TypeError naming the dtype (its LU-based iteration has no half-precision kernel)")),
    "fractional_matrix_power": Op(lambda x: matcalc.fractional_matrix_power(x, 0.5),
                                  _herm_ref(jnp.sqrt)),
    "funm": Op(lambda x: matcalc.funm(x, jnp.exp), lambda x: jsl.funm(x, jnp.exp)),
    "signm": Op(matcalc.signm, _herm_ref(jnp.sign)),
    "polar": Op(matcalc.polar, jsl.polar),
    "frechet": Op(lambda x: matcalc.frechet(matcalc.expm, x, x), lambda x: jsl.expm_frechet(x, x)[1]),
    "cholesky": Op(matcalc.cholesky, jnp.linalg.cholesky),
    "qr": Op(matcalc.qr, jnp.linalg.qr, values=False),
    "lu": Op(matcalc.lu, jsl.lu),
    "eigh": Op(matcalc.eigh, jnp.linalg.eigh, values=False),
    "eigvalsh": Op(matcalc.eigvalsh, jnp.linalg.eigvalsh),
    "eig": Op(matcalc.eig, jnp.linalg.eig, values=False),
    "eigvals": Op(matcalc.eigvals, jnp.linalg.eigvals, values=False),
    "svd": Op(matcalc.svd, jnp.linalg.svd, values=False),
    "svdvals": Op(matcalc.svdvals, jnp.linalg.svdvals),
    "schur": Op(matcalc.schur, jsl.schur, values=False),
    "hessenberg": Op(lambda x: matcalc.hessenberg(x, calc_q=True),
                     lambda x: jsl.hessenberg(x, calc_q=True), values=False),
    "cho_factor": Op(lambda x: matcalc.cho_factor(x)[0], lambda x: jsl.cho_factor(x)[0], values=False),
    "cho_solve": Op(lambda x: matcalc.cho_solve(matcalc.cho_factor(x), _rhs(x)),
                    lambda x: jsl.cho_solve(jsl.cho_factor(x), _rhs(x))),
    "lu_factor": Op(lambda x: matcalc.lu_factor(x), lambda x: jsl.lu_factor(x)),
    "lu_solve": Op(lambda x: matcalc.lu_solve(matcalc.lu_factor(x), _rhs(x)),
                   lambda x: jsl.lu_solve(jsl.lu_factor(x), _rhs(x))),
    "solve_triangular": Op(lambda x: matcalc.solve_triangular(x, _rhs(x), lower=True),
                           lambda x: jsl.solve_triangular(x, _rhs(x), lower=True)),
    "solve_sylvester": Op(lambda x: matcalc.solve_sylvester(x, x, x), lambda x: jsl.solve_sylvester(x, x, x)),
    "solve_continuous_lyapunov": Op(
        lambda x: matcalc.solve_continuous_lyapunov(x, x),
        lambda x: jsl.solve_sylvester(x, jnp.swapaxes(x, -1, -2).conj(), x)),
    "solve_discrete_lyapunov": Op(lambda x: matcalc.solve_discrete_lyapunov(x, x), None),
    "eigh_generalized": Op(lambda x: matcalc.eigh_generalized(x, x).eigenvalues, None),
    "vec": Op(matcalc.vec, lambda x: jnp.swapaxes(x, -1, -2).reshape(*x.shape[:-2], -1)),
    "jacobian_matrix": Op(lambda x: matcalc.jacobian_matrix(jnp.sin, x), None),
    "hermitian.absm": Op(mh.absm, _herm_ref(jnp.abs)),
    "hermitian.expm": Op(mh.expm, _herm_ref(jnp.exp)),
    "hermitian.funm": Op(lambda x: mh.funm(x, jnp.exp), _herm_ref(jnp.exp)),
    "hermitian.inv_sqrtm": Op(mh.inv_sqrtm, _herm_ref(lambda w: 1 / jnp.sqrt(w))),
    "hermitian.logm": Op(mh.logm, _herm_ref(jnp.log)),
    "hermitian.powm": Op(lambda x: mh.powm(x, 1.5), _herm_ref(lambda w: w ** 1.5)),
    "hermitian.signm": Op(mh.signm, _herm_ref(jnp.sign)),
    "hermitian.sqrtm": Op(mh.sqrtm, _herm_ref(jnp.sqrt)),
    "spd.affine_invariant_distance": Op(lambda x: mspd.affine_invariant_distance(x, x), None),
    "spd.bures_wasserstein_distance": Op(lambda x: mspd.bures_wasserstein_distance(x, x), None),
    "spd.frechet_distance": Op(lambda x: mspd.frechet_distance(_mean(x), x, _mean(x), x), None),
    "spd.log_euclidean_distance": Op(lambda x: mspd.log_euclidean_distance(x, x), None),
    "spd.logdet_divergence": Op(lambda x: mspd.logdet_divergence(x, x), None),
    "spd.stein_divergence": Op(lambda x: mspd.stein_divergence(x, x), None),
}


# ---------------------------------------------------------------------------------------------------------
# comparison


def _outcome(fn, x):
    try:
        return jax.tree.map(np.asarray, fn(x)), None
    except Exception as e:  # noqa: BLE001 (the outcome is compared, not handled)
        return None, e


def _desc(x):
    """What a clear error names: the dtype for a dtype probe, the shape otherwise."""
    return x.dtype.name, str(tuple(x.shape))


def _leaves(tree):
    return [np.asarray(t) for t in jax.tree.leaves(tree)]


def _loss(tree):
    return sum(jnp.sum(jnp.abs(t) ** 2).real for t in jax.tree.leaves(tree)
               if jnp.issubdtype(jnp.asarray(t).dtype, jnp.inexact))


def _compare(got, want, values: bool, what: str, invalid: bool = False):
    gl, wl = _leaves(got), _leaves(want)
    assert len(gl) == len(wl), f"{what}: {len(gl)} outputs, JAX {len(wl)}"
    for i, (g, w) in enumerate(zip(gl, wl)):
        assert g.shape == w.shape, f"{what}[{i}]: shape {g.shape}, JAX {w.shape}"
        assert g.dtype == w.dtype, f"{what}[{i}]: dtype {g.dtype}, JAX {w.dtype}"
        if values and g.size:
            tol = {2: 1e-2, 4: 1e-4}.get(np.finfo(g.dtype).dtype.itemsize, 1e-8) if g.dtype.kind in "fc" else 0
            if invalid:
                # NaN/Inf input: NaN wherever JAX gives NaN; elsewhere NaN (the invalid input
                # propagated) or JAX's value
                assert np.isnan(g)[np.isnan(w)].all(), f"{what}[{i}]: finite where JAX gives NaN"
                keep = ~np.isnan(g) & ~np.isnan(w)
                g, w = g[keep], w[keep]
            if g.dtype.kind in "fc":
                np.testing.assert_allclose(g.astype(complex), w.astype(complex), rtol=tol, atol=tol,
                                           equal_nan=True, err_msg=f"{what}[{i}]")
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{what}[{i}]")
    if not values and not invalid:
        # gauge-free: the loss (sum of |entries|^2) agrees, NaN where JAX gives NaN
        ln, lw = (float(sum(np.sum(np.abs(t.astype(complex)) ** 2) for t in ls if t.dtype.kind in "fc"))
                  for ls in (gl, wl))
        np.testing.assert_allclose(ln, lw, rtol=1e-4, equal_nan=True, err_msg=what)


_JIT_GRAD: dict[str, Callable] = {}


def _grad(fn):
    return jax.grad(lambda x: _loss(fn(x)))


def check_probe(name: str, op: Op, kind: str):
    x = INPUTS[kind]()
    got, err = _outcome(op.mc, x)
    if op.ref is None:
        want, ref_err = None, None
    else:
        want, ref_err = _outcome(op.ref, x)
    if ref_err is not None and err is None and kind in ("int32", "bool"):
        # JAX's function rejects integer input (or fails on it): matcalc promotes it as jnp.linalg
        # does (documented), so its value is JAX's on the promoted input
        want, ref_err = _outcome(op.ref, x.astype(jnp.float32))
        assert ref_err is None, f"{name}({kind}): {ref_err!r}"
    if ref_err is not None and err is None and kind in ("empty", "empty_batch"):
        # JAX's function crashes on empty input (an IndexError) or does not take batches: matcalc
        # returns empty results
        assert all(t.size == 0 for t in _leaves(got)), f"{name}({kind}): {got}"
        return
    if isinstance(ref_err, NotImplementedError) and type(err) is type(ref_err):
        # half precision on CPU: LAPACK has none; matcalc raises JAX's own error, naming the dtype
        assert x.dtype.name in str(err), f"{name}({kind}): {err!r}"
        return
    if ref_err is not None or (op.ref is None and err is not None):
        # JAX refuses (or there is no JAX counterpart and matcalc refuses): a clear error
        assert err is not None, f"{name}({kind}): JAX raises {ref_err!r}, matcalc returns"
        assert isinstance(err, (ValueError, TypeError)), f"{name}({kind}): {err!r}"
        dtype, shape = _desc(x)
        msg = str(err)
        assert dtype in msg or shape in msg or shape.replace(" ", "") in msg, (
            f"{name}({kind}): the error names neither {dtype} nor {shape}: {msg}")
        return
    assert err is None, f"{name}({kind}): JAX computes, matcalc raises {err!r}"
    if want is None:
        return
    _compare(got, want, op.values, f"{name}({kind})", invalid=kind in ("nan", "inf"))
    if op.grad and kind in GRAD_INPUTS and op.ref is not None:
        gg = np.asarray(_grad(op.mc)(x))
        try:
            gw = np.asarray(_grad(op.ref)(x))
        except (NotImplementedError, ValueError, IndexError):  # JAX has no derivative here
            return
        _compare(gg, gw, True, f"grad {name}({kind})")
        if kind in JIT_GRAD_INPUTS:
            jg = _JIT_GRAD.setdefault(name, jax.jit(_grad(op.mc)))
            _compare(np.asarray(jg(x)), gw, True, f"jit grad {name}({kind})")


PROBES = [pytest.param(name, kind, marks=[pytest.mark.xfail(strict=True, reason=op.xfail[kind])]
                       if kind in op.xfail else [], id=f"{name}-{kind}")
          for name, op in OPS.items() for kind in INPUTS if kind not in op.skip]


@pytest.mark.parametrize("name,kind", PROBES)
def test_probe(name, kind):
    check_probe(name, OPS[name], kind)
