"""GPU readiness: the jaxprs of jit(grad(...)) of every default path of the general matrix
functions and matrix equations contain no CPU-only primitive (schur, hessenberg, non-symmetric
eig) outside the CPU branch of a platform-dependent switch (the complex Schur fallbacks of sqrtm,
logm and the Sylvester solvers, which are not lowered for other platforms: checked by exporting
for CUDA). funm is the documented exception (eigendecomposition) and doubles as the detector's
check."""

import re

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
from tests.cases import well_conditioned

CPU_ONLY = {"schur", "hessenberg", "eig"}


def _primitives(jaxpr, acc):
    for eqn in jaxpr.eqns:
        acc.add(eqn.primitive.name)
        platforms = eqn.params.get("branches_platforms")
        if platforms is not None:  # lax.platform_dependent: skip the CPU-only branches
            for br, plat in zip(eqn.params["branches"], platforms, strict=True):
                if plat is None or tuple(plat) != ("cpu",):
                    _primitives(br.jaxpr, acc)
            continue
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                if isinstance(sub, jex.ClosedJaxpr):
                    _primitives(sub.jaxpr, acc)
                elif isinstance(sub, jex.Jaxpr):
                    _primitives(sub, acc)
    return acc


def _grad_prims(f, *args):
    def loss(*xs):
        return jnp.sum(jnp.real(jax.tree.leaves(f(*xs))[0]) ** 2)

    g = jax.jit(jax.grad(loss, argnums=tuple(range(len(args)))))
    return _primitives(jax.make_jaxpr(g)(*args).jaxpr, set())


A = well_conditioned(4, 1) + 3 * np.eye(4)
B = well_conditioned(20, 2) + 3 * np.eye(20)  # large enough for the sign-function paths
Q = np.eye(4)

DEFAULTS = {
    "expm": (matcalc.expm, (A,)),
    "expm_frechet": (lambda a, e: matcalc.expm_frechet(a, e)[1], (A, Q)),
    "logm": (matcalc.logm, (A,)),
    "sqrtm": (matcalc.sqrtm, (A,)),
    "sqrtm_large": (matcalc.sqrtm, (B,)),
    "fractional_matrix_power": (lambda a: matcalc.fractional_matrix_power(a, 0.5), (A,)),
    "signm": (matcalc.signm, (A,)),
    "polar": (matcalc.polar, (A,)),
    "frechet": (lambda a, e: matcalc.frechet(matcalc.logm, a, e), (A, Q)),
    "solve_sylvester": (matcalc.solve_sylvester, (A, A, Q)),
    "solve_sylvester_large": (matcalc.solve_sylvester, (B, B, np.eye(20))),
    "solve_continuous_lyapunov": (matcalc.solve_continuous_lyapunov, (-A, Q)),
    "solve_discrete_lyapunov": (matcalc.solve_discrete_lyapunov, (0.1 * A, Q)),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_path_has_no_cpu_only_primitive(name):
    f, args = DEFAULTS[name]
    prims = _grad_prims(f, *args)
    assert not prims & CPU_ONLY, f"{name}: CPU-only primitives {prims & CPU_ONLY} in jit(grad)"


def test_detector_sees_cpu_only_primitives():
    # funm (eigendecomposition) and sqrtm(method="schur") are the documented CPU-only paths.
    assert "eig" in _primitives(jax.make_jaxpr(lambda a: matcalc.funm(a, jnp.exp))(A).jaxpr, set())
    prims = _primitives(jax.make_jaxpr(lambda a: matcalc.sqrtm(a, method="schur"))(A).jaxpr, set())
    assert "schur" in prims


def _custom_calls(f, args, platform):
    from jax import export

    txt = export.export(jax.jit(f), platforms=[platform])(*args).mlir_module()
    return set(re.findall(r"custom_call @([A-Za-z_0-9]+)", txt))


EXPORTED = {
    "sqrtm": (lambda a: jnp.sum(jnp.real(matcalc.sqrtm(a))), (A,)),
    "logm": (lambda a: jnp.sum(jnp.real(matcalc.logm(a))), (A,)),
    "solve_sylvester_fallback_schur": (
        lambda a: jnp.sum(matcalc.solve_sylvester(a, a, a)),
        (np.eye(33) + 0.01,),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_schur_fallbacks_are_lowered_only_for_cpu(name):
    f, args = EXPORTED[name]
    g = jax.grad(f)
    cpu = _custom_calls(g, args, "cpu")
    cuda = _custom_calls(g, args, "cuda")
    assert any("gees" in c for c in cpu), cpu  # the detector sees the CPU fallback
    assert not any("gees" in c or "geev" in c or "gehrd" in c for c in cuda), cuda
