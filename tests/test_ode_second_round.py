"""matcalc.ode.odeint: pytree and equinox-module arguments, complex states, second derivatives.

References: diffrax (RecursiveCheckpointAdjoint, rtol = atol = 1e-12) for the neural ODE; the
matrix exponential and its Fréchet derivative (scipy.linalg.expm / expm_frechet) for the
Schrödinger equation ψ' = -i H ψ and for the gradient of y' = A y; the closed-form Hessian of
y(T) = e^{-kT} y0 for y' = -k y in (k, y0, T) (d²y(T)/dk² = T² e^{-kT} y0); central finite
differences for the complex-argument convention and for Hessian-vector products.
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
    return eqx.nn.MLP(2, 2, 8, 1, activation=jnp.tanh, key=jax.random.PRNGKey(0), dtype=jnp.float64)


def _field(y, t, model):
    return model(y) - 0.1 * y


def _mlp_loss(m):
    return jnp.sum(odeint(_field, jnp.asarray(Y0), jnp.asarray(TS), m, rtol=1e-10, atol=1e-10) ** 2)


_mlp_grad = eqx.filter_jit(eqx.filter_grad(_mlp_loss))


def test_equinox_mlp_argument_gradient_matches_finite_differences():
    """An eqx.nn.MLP (2→8→2; its activation is a non-array leaf) as an argument: the weight
    gradient along a random direction vs a central difference."""
    model = _mlp()
    got = eqx.filter(_mlp_grad(model), eqx.is_array)
    params, static = eqx.partition(model, eqx.is_array)
    d = jax.tree.map(lambda x: jnp.asarray(rng(1).standard_normal(x.shape)), params)
    h = 1e-5
    at = jax.jit(
        jax.vmap(lambda s: _mlp_loss(eqx.combine(jax.tree.map(lambda p, v: p + s * v, params, d), static)))
    )
    lo, hi = at(jnp.array([-h, h]))
    fd = (hi - lo) / (2 * h)
    dot = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(d), strict=True))
    assert abs(dot - fd) / abs(fd) < 1e-7


@pytest.mark.slow
def test_equinox_mlp_argument_gradient_matches_diffrax():
    """The same gradient against diffrax's discretize-then-optimize gradient
    (RecursiveCheckpointAdjoint) of the same problem."""
    model = _mlp()

    def ref(m):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, m: _field(y, t, m)),
            diffrax.Tsit5(),
            TS[0],
            TS[-1],
            None,
            jnp.asarray(Y0),
            m,
            saveat=diffrax.SaveAt(ts=jnp.asarray(TS)),
            stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
            adjoint=diffrax.RecursiveCheckpointAdjoint(),
        )
        return jnp.sum(sol.ys**2)

    got = _mlp_grad(model)
    want = eqx.filter_jit(eqx.filter_grad(ref))(model)
    assert _rel(eqx.filter(got, eqx.is_array), eqx.filter(want, eqx.is_array)) < 1e-8


def test_dict_and_tuple_parameter_pytree():
    """y' = -k ⊙ y + c with params ({"k": k}, (c,)): gradient vs the closed form."""
    k, c, t_end = np.array([0.7, 1.3]), np.array([0.2, -0.4]), 1.0

    def loss(params):
        ys = odeint(
            lambda y, t, p: -p[0]["k"] * y + p[1][0],
            jnp.asarray(Y0),
            jnp.array([0.0, t_end]),
            params,
            rtol=1e-11,
            atol=1e-11,
            adjoint="quadrature",
        )
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
    with pytest.raises(TypeError, match=r"args\[0\] has type str_"):
        odeint(lambda y, t, p: -y, Y0, TS, np.str_("abc"))


# --------------------------------------------------------------- complex states: ψ' = -i H ψ

N = 3
_M = rng(10)
HX = _M.standard_normal((N, N))  # H = (M + Mᴴ)/2 with M = X + iY: Hermitian, real-parametrized
HY = _M.standard_normal((N, N))
PSI0 = _M.standard_normal(N) + 1j * _M.standard_normal(N)
WP = _M.random(N)
CP = _M.standard_normal(N) + 1j * _M.standard_normal(N)
T_END = 0.8


def _hermitian(x, y):
    m = jax.lax.complex(jnp.asarray(x), jnp.asarray(y))
    return (m + m.conj().T) / 2


def _schrodinger(psi, t, x, y):
    return -1j * (_hermitian(x, y) @ psi)


def _loss_of_psi(psi):
    """A real loss, not holomorphic: Σ w|ψ|² + Re(cᵀψ)."""
    return jnp.sum(WP * jnp.abs(psi) ** 2) + jnp.real(jnp.sum(CP * psi))


def _schrodinger_reference():
    """Value ψ(T) = expm(-iHT) ψ0, the gradient in (X, Y) through the Fréchet derivative of expm,
    and the gradient in ψ0 in JAX's convention (∂L/∂Re ψ0 - i ∂L/∂Im ψ0) = Uᵀ ψ̄_T."""
    h = _hermitian(HX, HY)
    u = scipy.linalg.expm(-1j * h * T_END)
    psi = u @ PSI0
    ct = 2 * WP * psi.conj() + CP  # dL = Re(ctᵀ dψ)
    gx, gy = np.zeros((N, N)), np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            e = np.zeros((N, N))
            e[i, j] = 1.0
            for g, dh in ((gx, (e + e.T) / 2), (gy, 1j * (e - e.T) / 2)):
                dpsi = scipy.linalg.expm_frechet(-1j * h * T_END, -1j * T_END * dh, compute_expm=False) @ PSI0
                g[i, j] = np.real(ct @ dpsi)
    return psi, gx, gy, u.T @ ct


@pytest.mark.parametrize("adjoint", REVERSE)
def test_schrodinger_value_and_gradients_every_reverse_adjoint(adjoint):
    def loss(x, y, psi0):
        ys = odeint(
            _schrodinger, psi0, jnp.array([0.0, T_END]), x, y, adjoint=adjoint, rtol=1e-11, atol=1e-11
        )
        return _loss_of_psi(ys[-1]), ys

    (_, ys), g = jax.jit(jax.value_and_grad(loss, (0, 1, 2), has_aux=True))(HX, HY, PSI0)
    psi, gx, gy, gpsi = _schrodinger_reference()
    assert ys.dtype == jnp.complex128
    assert _rel(ys[-1], psi) < 1e-10
    assert g[2].dtype == jnp.complex128
    for got, want, name in zip(g, (gx, gy, gpsi), ("X", "Y", "psi0"), strict=True):
        assert _rel(got, want) < 1e-10, (adjoint, name, _rel(got, want))


def test_schrodinger_forward_mode_jvp():
    """adjoint="forward": the tangent of ψ(T) along (dX, dY, dψ0) vs the Fréchet derivative."""
    f = lambda x, y, psi0: odeint(
        _schrodinger, psi0, jnp.array([0.0, T_END]), x, y, adjoint="forward", rtol=1e-11, atol=1e-11
    )[-1]
    r = rng(11)
    dx, dy = r.standard_normal((N, N)), r.standard_normal((N, N))
    dpsi0 = r.standard_normal(N) + 1j * r.standard_normal(N)
    _, tan = jax.jit(lambda *p: jax.jvp(f, p, (dx, dy, dpsi0)))(HX, HY, PSI0)
    h = _hermitian(HX, HY)
    want = (
        scipy.linalg.expm_frechet(-1j * h * T_END, -1j * T_END * _hermitian(dx, dy), compute_expm=False)
        @ PSI0
        + scipy.linalg.expm(-1j * h * T_END) @ dpsi0
    )
    assert _rel(tan, want) < 1e-9


def test_complex_matrix_argument_matches_finite_differences():
    """A complex (non-Hermitian) generator as the argument: the gradient follows JAX's convention
    ∂L/∂Re A - i ∂L/∂Im A, checked by central differences in the real and imaginary directions."""
    a0 = -1j * np.asarray(_hermitian(HX, HY)) - 0.2 * np.eye(N)

    @jax.jit
    def loss(a):
        ys = odeint(
            lambda p, t, a: a @ p, jnp.asarray(PSI0), jnp.array([0.0, T_END]), a, rtol=1e-11, atol=1e-11
        )
        return _loss_of_psi(ys[-1])

    g = jax.jit(jax.grad(loss))(a0)
    h = 1e-6
    dirs = np.zeros((4, N, N), complex)
    dirs[0, 0, 1], dirs[1, 0, 1], dirs[2, 2, 0], dirs[3, 2, 0] = 1, 1j, 1, 1j
    vals = jax.vmap(loss)(jnp.concatenate([a0 + h * dirs, a0 - h * dirs]))
    fd = (vals[:4] - vals[4:]) / (2 * h)
    got = np.array([g[0, 1].real, -g[0, 1].imag, g[2, 0].real, -g[2, 0].imag])
    np.testing.assert_allclose(got, fd, rtol=1e-7)


def test_mixed_real_and_complex_state_leaves():
    """State {"psi": complex, "n": real} with n' = |ψ|² (conserved norm, so n(T) = T|ψ0|²):
    values vs expm, the gradient in ψ0 vs its closed form 2T conj(ψ0) + (e^{-iHT})_{0,:}."""
    h_mat = np.asarray(_hermitian(HX, HY))

    def field(y, t, h):
        return {"psi": -1j * (h @ y["psi"]), "n": jnp.sum(jnp.abs(y["psi"]) ** 2)}

    @jax.jit
    def loss(psi0):
        ys = odeint(
            field, {"psi": psi0, "n": jnp.zeros(())}, jnp.array([0.0, T_END]), h_mat, rtol=1e-11, atol=1e-11
        )
        return ys["n"][-1] + jnp.real(ys["psi"][-1, 0]), ys

    (val, ys), g = jax.value_and_grad(loss, has_aux=True)(PSI0)
    u = scipy.linalg.expm(-1j * h_mat * T_END)
    assert ys["n"].dtype == jnp.float64 and ys["psi"].dtype == jnp.complex128
    np.testing.assert_allclose(ys["psi"][-1], u @ PSI0, rtol=1e-10)
    np.testing.assert_allclose(ys["n"][-1], T_END * np.sum(np.abs(PSI0) ** 2), rtol=1e-10)
    want = 2 * T_END * PSI0.conj() + u[0]  # ∂L/∂Re ψ0 - i ∂L/∂Im ψ0
    assert _rel(g, want) < 1e-10


# ------------------------------------------------------------------ second order: y' = -k y, y' = A y

K, T2, YK = 0.7, 1.5, 2.0


def _decay_hessian_reference():
    """y(T) = e^{-kT} y0 in p = (k, y0, T): the Hessian by hand."""
    e = np.exp(-K * T2)
    return np.array(
        [
            [T2**2 * e * YK, -T2 * e, (K * T2 - 1) * e * YK],
            [-T2 * e, 0.0, -K * e],
            [(K * T2 - 1) * e * YK, -K * e, K**2 * e * YK],
        ]
    )


# (a Hessian through the checkpointed adjoints compiles for ~8 s on 2 cores: marked slow)
@pytest.mark.parametrize(
    "adjoint", ["backsolve", *(pytest.param(a, marks=pytest.mark.slow) for a in REVERSE[1:])]
)
def test_hessian_forward_over_reverse_matches_closed_form(adjoint):
    def f(p):
        ys = odeint(
            lambda y, t, k: -k * y,
            p[1:2],
            jnp.stack([jnp.zeros(()), p[2]]),
            p[0],
            adjoint=adjoint,
            rtol=1e-10,
            atol=1e-10,
        )
        return ys[-1, 0]

    hess = jax.jit(jax.hessian(f))(jnp.array([K, YK, T2]))
    want = _decay_hessian_reference()
    assert np.max(np.abs(hess - want)) < 1e-8 * np.max(np.abs(want)), (adjoint, hess, want)


def test_jvp_of_grad_matrix_ode_matches_finite_differences_of_exact_gradient():
    """L(A) = wᵀ exp(TA) y0: ∇L = T·L_exp(TAᵀ, w y0ᵀ) (scipy expm_frechet); its derivative along V
    by a central difference of that exact gradient."""
    r = rng(12)
    a, v = 0.5 * r.standard_normal((2, 2)), r.standard_normal((2, 2))
    y0, w, t_end = r.standard_normal(2), r.standard_normal(2), 1.2

    def exact_grad(a):
        return t_end * scipy.linalg.expm_frechet((a * t_end).T, np.outer(w, y0), compute_expm=False)

    def loss(a):
        ys = odeint(
            lambda y, t, a: a @ y, jnp.asarray(y0), jnp.array([0.0, t_end]), a, rtol=1e-11, atol=1e-11
        )
        return jnp.dot(jnp.asarray(w), ys[-1])

    g, hv = jax.jit(lambda a: jax.jvp(jax.grad(loss), (a,), (v,)))(a)
    h = 1e-5
    fd = (exact_grad(a + h * v) - exact_grad(a - h * v)) / (2 * h)
    assert _rel(g, exact_grad(a)) < 1e-10
    assert _rel(hv, fd) < 1e-9


def _decay(adjoint, rtol=1e-10):
    """y(T) for y' = -k y as a function of p = (k, y0, T)."""

    def f(p):
        ys = odeint(
            lambda y, t, k: -k * y,
            p[1:2],
            jnp.stack([jnp.zeros(()), p[2]]),
            p[0],
            adjoint=adjoint,
            rtol=rtol,
            atol=rtol,
        )
        return ys[-1, 0]

    return f


# (reverse over reverse through the checkpointed adjoints compiles for ~15 s on 2 cores)
@pytest.mark.parametrize(
    "adjoint", ["backsolve", *(pytest.param(a, marks=pytest.mark.slow) for a in REVERSE[1:])]
)
def test_hessian_reverse_over_reverse_matches_closed_form(adjoint):
    """jax.jacrev(jax.jacrev(f)): the backward pass is a primitive whose own transpose is the
    reverse mode of the sensitivity system."""
    hess = jax.jit(jax.jacrev(jax.jacrev(_decay(adjoint))))(jnp.array([K, YK, T2]))
    want = _decay_hessian_reference()
    assert np.max(np.abs(hess - want)) < 1e-8 * np.max(np.abs(want)), (adjoint, hess, want)


def test_grad_of_grad_of_a_nonlinear_loss():
    """jax.grad(jax.grad(L)) with L = y(T)² (the cotangent depends on the solution):
    d²/dk² y0² e^{-2kT} = 4 T² y0² e^{-2kT}."""
    f = _decay("backsolve")
    loss = lambda k: f(jnp.stack([k, jnp.asarray(YK), jnp.asarray(T2)])) ** 2
    got = jax.jit(jax.grad(jax.grad(loss)))(K)
    want = 4 * T2**2 * YK**2 * np.exp(-2 * K * T2)
    assert abs(got - want) < 1e-8 * want


def test_schrodinger_second_derivative_grad_of_grad():
    """ψ' = -i (H0 + s H1) ψ: d²L/ds² by jax.grad twice vs the 5-point second difference of the
    expm(-i(H0 + s H1)T) ψ0 loss."""
    h0 = np.asarray(_hermitian(HX, HY))
    h1 = np.asarray(_hermitian(HY, HX))

    def exact(s):
        psi = scipy.linalg.expm(-1j * (h0 + s * h1) * T_END) @ PSI0
        return np.sum(WP * np.abs(psi) ** 2) + np.real(np.sum(CP * psi))

    def loss(s):
        ys = odeint(
            lambda p, t, s: -1j * ((h0 + s * h1) @ p),
            jnp.asarray(PSI0),
            jnp.array([0.0, T_END]),
            s,
            rtol=1e-11,
            atol=1e-11,
        )
        return _loss_of_psi(ys[-1])

    s0, h = 0.3, 1e-3
    want = (
        -exact(s0 + 2 * h) + 16 * exact(s0 + h) - 30 * exact(s0) + 16 * exact(s0 - h) - exact(s0 - 2 * h)
    ) / (12 * h * h)
    got = jax.jit(jax.grad(jax.grad(loss)))(s0)
    assert abs(got - want) < 1e-8 * abs(want)


@pytest.mark.slow
def test_third_derivative_reverse_over_reverse_over_reverse():
    """d³y(T)/dk³ = -T³ e^{-kT} y0 by jax.grad three times."""
    f = _decay("backsolve")
    y_of_k = lambda k: f(jnp.stack([k, jnp.asarray(YK), jnp.asarray(T2)]))
    got = jax.jit(jax.grad(jax.grad(jax.grad(y_of_k))))(K)
    want = -(T2**3) * np.exp(-K * T2) * YK
    assert abs(got - want) < 1e-8 * abs(want)


def test_forward_over_forward_over_reverse_raises():
    f = _decay("backsolve", rtol=1e-6)
    with pytest.raises(TypeError, match=r"forward mode over forward mode .* adjoint='forward'"):
        jax.eval_shape(jax.jacfwd(jax.hessian(f)), jnp.array([K, YK, T2]))


@pytest.mark.slow
def test_neural_ode_hessian_vector_product_matches_finite_differences_of_gradient():
    """Forward over reverse in the weights of an equinox MLP: jvp of filter_grad along a random
    direction vs a central difference of the gradient."""
    params, static = eqx.partition(_mlp(), eqx.is_array)

    def grad(p):
        def loss(q):
            return jnp.sum(
                odeint(
                    _field, jnp.asarray(Y0), jnp.asarray(TS), eqx.combine(q, static), rtol=1e-10, atol=1e-10
                )
                ** 2
            )

        return jax.grad(loss)(p)

    d = jax.tree.map(lambda x: jnp.asarray(rng(13).standard_normal(x.shape)), params)
    hvp = jax.jit(lambda p: jax.jvp(grad, (p,), (d,))[1])(params)
    h = 1e-5
    at = jax.jit(jax.vmap(lambda s: grad(jax.tree.map(lambda p, v: p + s * v, params, d))))
    both = at(jnp.array([h, -h]))
    fd = jax.tree.map(lambda g: (g[0] - g[1]) / (2 * h), both)
    assert _rel(hvp, fd) < 1e-7
