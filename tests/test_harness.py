"""The harness must catch each kind of planted bug, and pass a correct rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.custom_batching import custom_vmap

from matcalc.testing import RuleCheckError, check_float32, check_rule

A = np.array([[1.0, 0.3, -0.2], [0.1, 0.9, 0.4], [-0.5, 0.2, 1.2]])


@jax.custom_jvp
def square_ok(a):
    return a @ a


@square_ok.defjvp
def _square_ok_jvp(p, t):
    (a,), (da,) = p, t
    return square_ok(a), a @ da + da @ a


@jax.custom_jvp
def square_wrong_jvp(a):
    return a @ a


@square_wrong_jvp.defjvp
def _square_wrong_jvp(p, t):
    (a,), (da,) = p, t
    return square_wrong_jvp(a), 2 * a @ da  # the classic commutative-calculus mistake


@jax.custom_jvp
def square_frozen_coeffs(a):
    return a @ a


@square_frozen_coeffs.defjvp
def _square_frozen_jvp(p, t):
    (a,), (da,) = p, t
    c = jax.lax.stop_gradient(a)  # right at first order, wrong at second
    return square_frozen_coeffs(a), c @ da + da @ c


@jax.custom_vjp
def square_wrong_vjp(a):
    return a @ a


def _sq_fwd(a):
    return a @ a, a


def _sq_bwd(a, g):
    return (a.T @ g,)  # misses the g @ a.T term


square_wrong_vjp.defvjp(_sq_fwd, _sq_bwd)


@custom_vmap
def _square_bad_batching(a):
    return a @ a


@_square_bad_batching.def_vmap
def _sq_vmap(axis_size, in_batched, a):
    return jnp.matmul(a, a) + 1e-3, in_batched[0]


@jax.custom_jvp
def square_wrong_vmap(a):
    return _square_bad_batching(a)


@square_wrong_vmap.defjvp
def _sq_wrong_vmap_jvp(p, t):
    (a,), (da,) = p, t
    return square_wrong_vmap(a), a @ da + da @ a


@jax.custom_jvp
def square_nan_tangent(a):
    return a @ a


@square_nan_tangent.defjvp
def _sq_nan_jvp(p, t):
    (a,), (da,) = p, t
    return square_nan_tangent(a), (a @ da + da @ a) * jnp.nan


def square_jit_dependent(a):
    # a (deliberately) trace-dependent function: different under jit
    if isinstance(a, jax.core.Tracer):
        return a @ a + 1e-6
    return a @ a


def test_correct_rule_passes_every_check():
    report = check_rule(square_ok, A, reference=lambda a: a @ a)
    assert report["jvp"] < 1e-9
    assert report["transpose"] < 1e-13
    assert report["grad_of_grad"] < 1e-6


@pytest.mark.parametrize(
    "fn, check",
    [
        (square_wrong_jvp, "jvp"),
        (square_frozen_coeffs, "second_order"),
        (square_wrong_vmap, "vmap"),
        (square_nan_tangent, "finite"),
        (square_jit_dependent, "jit"),
    ],
    ids=["wrong_jvp", "frozen_coefficients", "wrong_vmap", "nan_tangent", "jit_dependent"],
)
def test_planted_bug_is_caught(fn, check):
    with pytest.raises(RuleCheckError, match=rf"check_rule\[{check}\]"):
        check_rule(fn, A)


def test_wrong_vjp_caught_by_transpose_identity():
    with pytest.raises(RuleCheckError, match=r"check_rule\[transpose\]"):
        check_rule(square_wrong_vjp, A, check_jvp=False, check_second_order=False)


def test_wrong_reference_caught():
    with pytest.raises(RuleCheckError, match=r"check_rule\[primal\]"):
        check_rule(square_ok, A, reference=lambda a: a @ a.T)


@jax.custom_jvp
def square_symmetric_tangents_only(a):
    return a @ a


@square_symmetric_tangents_only.defjvp
def _sq_sym_jvp(p, t):
    (a,), (da,) = p, t
    return square_symmetric_tangents_only(a), a @ da + da.T @ a  # right only if da = daᵀ


@jax.custom_jvp
def square_with_trace_error(a):
    return a @ a


@square_with_trace_error.defjvp
def _sq_trace_jvp(p, t):
    (a,), (da,) = p, t
    wrong = jnp.trace(da) * jnp.eye(a.shape[-1], dtype=a.dtype)
    return square_with_trace_error(a), a @ da + da @ a + wrong


def remove_trace(y):
    return y - jnp.trace(y, axis1=-2, axis2=-1)[..., None, None] * jnp.eye(y.shape[-1]) / y.shape[-1]


def test_tangent_projection_hook_is_applied():
    check_rule(square_symmetric_tangents_only, A, tangent_projection=lambda t: (t + t.T) / 2)
    with pytest.raises(RuleCheckError, match=r"check_rule\[jvp\]"):
        check_rule(square_symmetric_tangents_only, A)


def test_output_gauge_hook_is_applied():
    check_rule(square_with_trace_error, A, output_gauge=remove_trace)
    with pytest.raises(RuleCheckError, match=r"check_rule\[jvp\]"):
        check_rule(square_with_trace_error, A)


def test_needs_float64_inputs():
    with pytest.raises(ValueError, match="float64"):
        check_rule(square_ok, A.astype(np.float32))


def test_float32_smoke_catches_wrong_dtype_and_passes_correct():
    check_float32(square_ok, A)
    with pytest.raises(RuleCheckError, match=r"float32"):
        check_float32(lambda a: (a @ a).astype(jnp.float64), A)


def test_checks_compose_over_one_problem():
    """The individual checks run on their own over a shared Problem, and each catches its bug."""
    from matcalc.testing import (
        Problem,
        check_jit,
        check_jvp,
        check_primal,
        check_second_order,
        check_transpose,
        check_vmap,
    )

    p = Problem(square_ok, (A,))
    assert check_primal(p, lambda a: a @ a) < 1e-14
    jv, err = check_jvp(p)
    assert err < 1e-9
    ct = jax.vjp(p.f, *p.primals)[1](p.w)
    check_jit(p, jv=jv, ct=ct)
    assert check_transpose(p, ct, jv) < 1e-13
    check_vmap(p)
    assert check_second_order(p)["grad_of_grad"] < 1e-6
    with pytest.raises(RuleCheckError, match=r"check_rule\[jvp\]"):
        check_jvp(Problem(square_wrong_jvp, (A,)))
    q = Problem(square_wrong_vjp, (A,))
    with pytest.raises(RuleCheckError, match=r"check_rule\[transpose\]"):
        check_transpose(
            q,
            jax.vjp(q.f, *q.primals)[1](q.w),
            q.finite_difference(q.f_jit, q.v)[0],
            rtol=1e-8,
            jv_is_finite_difference=True,
        )
    with pytest.raises(RuleCheckError, match=r"check_rule\[second_order\]"):
        check_second_order(Problem(square_frozen_coeffs, (A,)), jvp=False)
    with pytest.raises(RuleCheckError, match=r"check_rule\[vmap\]"):
        check_vmap(Problem(square_wrong_vmap, (A,)))
