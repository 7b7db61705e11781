"""matcalc.ode.odeint: pytree and equinox-module arguments, complex states, second derivatives.

References: diffrax (RecursiveCheckpointAdjoint, rtol = atol = 1e-12) for the neural ODE; the
matrix exponential and its Fréchet derivative (scipy.linalg.expm / expm_frechet) for the
Schrödinger equation ψ' = -i H ψ and for y' = -k y (d²y(T)/dk² = T² e^{-kT} y0); central finite
differences for the complex-argument convention.
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from matcalc.ode import odeint

REVERSE = ["backsolve", "interpolated", "quadrature"]
rng = np.random.default_rng


def _rel(a, b):
    a = np.concatenate([np.ravel(x) for x in jax.tree.leaves(a)])
    b = np.concatenate([np.ravel(x) for x in jax.tree.leaves(b)])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ------------------------------------------------------------------ pytree and module arguments

Y0 = np.array([0.5, -0.3])
TS = np.array([0.0, 0.5, 1.0])


def _mlp():
    return eqx.nn.MLP(2, 2, 8, 1, activation=jnp.tanh, key=jax.random.PRNGKey(0),
                      dtype=jnp.float64)


def _field(y, t, model):
    return model(y) - 0.1 * y


def test_equinox_mlp_argument_gradient_matches_diffrax():
    """An eqx.nn.MLP (its activation is a non-array leaf) as an argument: the weight gradient
    equals diffrax's discretize-then-optimize gradient."""
    model = _mlp()

    def loss(m):
        return jnp.sum(odeint(_field, jnp.asarray(Y0), jnp.asarray(TS), m, rtol=1e-10,
                              atol=1e-10) ** 2)

    def ref(m):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, m: _field(y, t, m)), diffrax.Tsit5(), TS[0], TS[-1],
            None, jnp.asarray(Y0), m, saveat=diffrax.SaveAt(ts=jnp.asarray(TS)),
            stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
            adjoint=diffrax.RecursiveCheckpointAdjoint(),
        )
        return jnp.sum(sol.ys ** 2)

    got = eqx.filter_jit(eqx.filter_grad(loss))(model)
    want = eqx.filter_jit(eqx.filter_grad(ref))(model)
    assert _rel(eqx.filter(got, eqx.is_array), eqx.filter(want, eqx.is_array)) < 1e-8
    # and against a central finite difference along a random direction of the weights
    params, static = eqx.partition(model, eqx.is_array)
    d = jax.tree.map(lambda x: jnp.asarray(rng(1).standard_normal(x.shape)), params)
    h = 1e-5
    at = jax.jit(jax.vmap(
        lambda s: loss(eqx.combine(jax.tree.map(lambda p, v: p + s * v, params, d), static))))
    lo, hi = at(jnp.array([-h, h]))
    fd = (hi - lo) / (2 * h)
    dot = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(eqx.filter(got, eqx.is_array)),
                                             jax.tree.leaves(d), strict=True))
    assert abs(dot - fd) / abs(fd) < 1e-7


def test_dict_and_tuple_parameter_pytree():
    """y' = -k ⊙ y + c with params ({"k": k}, (c,)): gradient vs the closed form."""
    k, c, t_end = np.array([0.7, 1.3]), np.array([0.2, -0.4]), 1.0

    def loss(params):
        ys = odeint(lambda y, t, p: -p[0]["k"] * y + p[1][0], jnp.asarray(Y0),
                    jnp.array([0.0, t_end]), params, rtol=1e-11, atol=1e-11, adjoint="quadrature")
        return jnp.sum(ys[-1])

    g = jax.jit(jax.grad(loss))(({"k": k}, (c,)))
    e = np.exp(-k * t_end)
    # y(T) = e y0 + c (1 - e)/k
    dk = -t_end * e * Y0 + c * (t_end * e * k - (1 - e)) / k**2
    np.testing.assert_allclose(g[0]["k"], dk, rtol=1e-9)
    np.testing.assert_allclose(g[1][0], (1 - e) / k, rtol=1e-9)


def test_bad_argument_leaf_names_its_path_and_type():
    with pytest.raises(TypeError, match=r"args\[0\]\[1\] has type str"):
        odeint(lambda y, t, p: -p[0] * y, Y0, TS, (1.0, "abc"))
    with pytest.raises(TypeError, match=r"args\[1\]\['f'\] has type function"):
        odeint(lambda y, t, a, p: -a * y, Y0, TS, 1.0, {"f": lambda x: x})
