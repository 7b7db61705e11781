"""Accuracy of the derivative rules on ill-conditioned input (condition 1e8–1e12), above every
size threshold of the rules, against exact identities or high-precision references and against
JAX's own rules: a rule is never less accurate than JAX's."""

import jax
import jax.numpy as jnp
import numpy as np

import matcalc


def _gp_kernel(x, jitter):
    """Squared-exponential kernel on the points ``x`` plus jitter: condition ~ n/jitter."""
    return np.exp(-((x[:, None] - x[None, :]) ** 2) / 2) + jitter * np.eye(x.size)


def _geometric_mean(values):
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-17)))))


def _chol_logdet(a):
    return 2 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(a))))


def test_logdet_pos_along_its_own_direction_as_accurate_as_jax():
    """d/dt logdet(K + tK) = n exactly; ⟨∇ logdet, K⟩ = n. On GP kernels of condition ~1e11 the
    Cholesky path's JVP and gradient are as accurate as JAX's Cholesky rule (geometric mean over
    kernels: single matrices scatter by 10× either way). Forming A⁻¹ as Zᴴ Z, Z = L⁻¹, was 2.5×
    less accurate in this mean (up to 20× on single kernels)."""
    n, jitter = 80, 1e-9
    ours = lambda a: matcalc.logdet(a, assume_a="pos")
    errs = {}
    for name, f in (("ours", ours), ("jax", _chol_logdet)):
        fwd = jax.jit(lambda a, f=f: jax.jvp(f, (a,), (a,))[1])
        rev = jax.jit(jax.grad(f))
        e = []
        for seed in range(8):
            k = _gp_kernel(np.sort(np.random.default_rng(seed).uniform(0, 8, n)), jitter)
            e += [abs(float(fwd(k)) - n) / n, abs(float(np.sum(rev(k) * k)) - n) / n]
        errs[name] = _geometric_mean(e)
    assert errs["ours"] <= 1.6 * errs["jax"], errs
    assert errs["ours"] <= 1e-16 * (n / jitter) * n, errs


# ------------------------------------------------------------------ divided differences


def _mp_divided_differences(f, a, b, c):
    """``(f[a, b], f[a, b, c])`` at 60 digits for distinct ``a, b, c``."""
    import mpmath as mp

    with mp.workdps(60):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        d1 = lambda x, y: (f(x) - f(y)) / (x - y)
        return float(d1(a, b)), float((d1(a, b) - d1(b, c)) / (a - c))


def test_divided_differences_at_large_and_tiny_eigenvalues_against_mpmath():
    """Gaps of 0.05–0.6 about ±50 (a Taylor series cut at a spread proportional to |m| truncated
    exp's f[a, b, c] to 1e-7 and a generic f's f[a, b] to 2e-9 relative) and eigenvalues from
    1e-12 to 1 for a generic log (its series about the midpoint was wrong by 80%)."""
    import mpmath as mp

    from matcalc._kernels import divided_differences as dd

    large = [
        (50.0, 50.2, 50.5),
        (50.0, 50.3, 50.55),
        (-50.0, -50.2, -50.5),
        (20.0, 20.05, 20.1),
        (100.0, 100.3, 100.6),
        (5.0, 5.02, 5.05),
    ]
    tiny = [(1e-12, 2e-12, 3e-12), (1e-12, 1.5e-12, 1.0), (3e-7, 3.1e-7, 0.5), (1e-3, 1.01e-3, 1.1e-3)]
    cases = [
        (dd.Exp(), mp.exp, large, False),
        (dd.Generic(jnp.exp), mp.exp, large, True),
        (dd.Generic(jnp.sin), mp.sin, large, True),
        (dd.Generic(jnp.log), mp.log, tiny, True),
    ]
    for spec, f, triples, check_dd1 in cases:
        x = np.array(triples)
        got1 = np.asarray(spec.dd1(x[:, 0], x[:, 1]))
        got2 = np.asarray(spec.dd2(x[:, 0], x[:, 1], x[:, 2]))
        ref = np.array([_mp_divided_differences(f, *t) for t in triples])
        if check_dd1:
            assert np.max(np.abs(got1 - ref[:, 0]) / np.abs(ref[:, 0])) <= 1e-13, (spec, got1, ref)
        assert np.max(np.abs(got2 - ref[:, 1]) / np.abs(ref[:, 1])) <= 1e-12, (spec, got2, ref)


def test_hermitian_exp_derivatives_above_the_full_tensor_size_match_jax_expm():
    """At n > ``_FULL_TENSOR_MAX_N`` (the second derivative's scan over k) and eigenvalues
    40–60 about 0.3 apart, ``hermitian.expm`` and ``hermitian.funm(·, exp)`` agree with
    ``jax.scipy.linalg.expm``'s derivatives (Padé, scaling and squaring: an independent
    algorithm) to 1e-12 in first and second order (they differed by 1e-9 and 2e-7)."""
    from matcalc._matfun import hermitian as _hermitian

    n = _hermitian._FULL_TENSOR_MAX_N + 2
    r = np.random.default_rng(0)
    q, _ = np.linalg.qr(r.standard_normal((n, n)))
    lam = 40 + 0.3 * np.arange(n) + 0.05 * r.random(n)
    a = (q * lam) @ q.T
    a = (a + a.T) / 2
    e1, e2 = (x + x.T for x in r.standard_normal((2, n, n)))

    def derivatives(f):
        first = lambda b: jax.jvp(f, (b,), (e1,))[1]
        return jax.jit(lambda b: (first(b), jax.jvp(first, (b,), (e2,))[1]))(a)

    rel = lambda x, y: float(jnp.max(jnp.abs(x - y)) / jnp.max(jnp.abs(y)))
    ref1, ref2 = derivatives(jax.scipy.linalg.expm)
    for f in (matcalc.hermitian.expm, lambda b: matcalc.hermitian.funm(b, jnp.exp)):
        d1, d2 = derivatives(f)
        assert rel(d1, ref1) <= 1e-12 and rel(d2, ref2) <= 1e-12, (rel(d1, ref1), rel(d2, ref2))


# ------------------------------------------------------------------ least squares


def _mp_lstsq_tangent(a, b, e, db, dps=60):
    """``dx`` of ``x = (AᵀA)⁻¹ Aᵀ b`` (full column rank) by a central difference of step 1e-28
    at ``dps`` digits."""
    import mpmath as mp

    with mp.workdps(dps):
        h = mp.mpf("1e-28")
        am, em, bm, dbm = (mp.matrix(x.tolist()) for x in (a, e, b, db))
        x = lambda s: mp.inverse((am + s * em).T * (am + s * em)) * (am + s * em).T * (bm + s * dbm)
        d = (x(h) - x(-h)) / (2 * h)
        return np.array([[float(d[i, j]) for j in range(d.cols)] for i in range(d.rows)])


def test_lstsq_on_graded_columns_as_accurate_as_jax_against_mpmath():
    """Tall A with columns graded over 1e-10 (condition ~1e10): the JVP and the VJP (through
    ⟨W, J E⟩) of x = A⁺ b as accurate as JAX's SVD autodiff. Forming A⁺ and the residual
    b − A x explicitly lost cond²·eps (4e-7 relative where JAX gives 7e-15)."""
    r = np.random.default_rng(11)
    m, n = 14, 10
    a = r.standard_normal((m, n)) * np.logspace(0, -10, n)
    e, b, db = r.standard_normal((m, n)), r.standard_normal((m, 2)), r.standard_normal((m, 2))
    w = r.standard_normal((n, 2))
    ref = _mp_lstsq_tangent(a, b, e, db)
    pair_ref = np.sum(w * ref)
    errs = {}
    for name, lstsq in (("ours", matcalc.lstsq), ("jax", jnp.linalg.lstsq)):
        f = lambda a, b, lstsq=lstsq: lstsq(a, b)[0]
        dx = jax.jvp(f, (a, b), (e, db))[1]
        ga, gb = jax.vjp(f, a, b)[1](w)
        errs[name] = (
            float(np.max(np.abs(dx - ref)) / np.max(np.abs(ref))),
            abs(float(np.sum(ga * e) + np.sum(gb * db)) - pair_ref) / np.sum(np.abs(w * ref)),
        )
    assert errs["ours"][0] <= 4 * errs["jax"][0] + 1e-14, errs
    assert errs["ours"][1] <= 4 * errs["jax"][1] + 1e-14, errs


# ------------------------------------------------------------------ factorizations


def test_qr_wide_graded_rows_more_accurate_than_jax_against_mpmath():
    """Wide A = Q [R1 R2] with rows graded over 1e-9: dR2 = Qᴴ dY − Ω R2 keeps 1e-14 where JAX's
    rule gives 1e-7 (measured at 40×48: 3e-14 against 7e-7)."""
    import mpmath as mp

    r = np.random.default_rng(3)
    m, n = 12, 16
    a = r.standard_normal((m, n)) * np.logspace(0, -9, m)[:, None]
    e = r.standard_normal((m, n))
    r_sign = np.sign(np.diag(np.linalg.qr(a)[1]))
    with mp.workdps(45):
        h = mp.mpf("1e-25")

        def mp_r(s):
            x = mp.matrix(a.tolist()) + s * mp.matrix(e.tolist())
            q, r1 = mp.qr(x[:, :m])
            signs = mp.diag([1 if (r1[i, i] > 0) == (r_sign[i] > 0) else -1 for i in range(m)])
            return (q * signs).T * x

        d = (mp_r(h) - mp_r(-h)) / (2 * h)
        ref = np.array([[float(d[i, j]) for j in range(n)] for i in range(m)])
    err = {
        name: float(np.max(np.abs(jax.jvp(qr, (a,), (e,))[1][1] - ref)) / np.max(np.abs(ref)))
        for name, qr in (("ours", matcalc.qr), ("jax", jnp.linalg.qr))
    }
    assert err["ours"] <= 1e-12 and err["ours"] <= err["jax"], err


def test_hessenberg_graded_against_a_householder_reference_in_mpmath():
    """No JAX rule: against LAPACK's Householder reduction (gehrd) run in mpmath, on a graded
    matrix (condition ~1e10, subdiagonal entries down to 1e-10). Measured 3e-13 at n = 30."""
    import mpmath as mp

    n = 12
    r = np.random.default_rng(5)
    d = np.logspace(0, -5, n)
    a = d[:, None] * (r.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)) * d[None, :]
    e = r.standard_normal((n, n))

    def gehrd(x):
        x, q = x.copy(), mp.eye(n)
        for j in range(n - 2):
            alpha, rest = x[j + 1, j], [x[i, j] for i in range(j + 2, n)]
            beta = -mp.sign(alpha) * mp.sqrt(alpha**2 + mp.fsum(t**2 for t in rest))
            tau, v = (beta - alpha) / beta, mp.matrix([1] + [t / (alpha - beta) for t in rest])
            h = mp.eye(n)
            h[j + 1 :, j + 1 :] = mp.eye(n - j - 1) - tau * v * v.T
            x, q = h * x * h, q * h
        return x, q

    with mp.workdps(45):
        step = mp.mpf("1e-25")
        (hp, qp), (hm, qm) = (gehrd(mp.matrix(a.tolist()) + s * mp.matrix(e.tolist())) for s in (step, -step))
        to_np = lambda m_: np.array([[float(m_[i, j]) for j in range(n)] for i in range(n)])
        ref_h, ref_q = to_np((hp - hm) / (2 * step)), to_np((qp - qm) / (2 * step))
    dh, dq = jax.jvp(lambda x: matcalc.hessenberg(x, calc_q=True), (a,), (e,))[1]
    ref_h = np.triu(ref_h, -1)
    assert np.max(np.abs(dh - ref_h)) <= 1e-11 * np.max(np.abs(ref_h))
    assert np.max(np.abs(dq - ref_q)) <= 1e-11 * np.max(np.abs(ref_q))


# ------------------------------------------------------------------ Hermitian functions


def test_hermitian_second_order_above_the_full_tensor_size_on_an_ill_conditioned_kernel():
    """GP kernel of condition ~2e10 at n > ``_FULL_TENSOR_MAX_N``: log((1+t)K) = log K + log(1+t) I
    gives D log(K)[K] = I and D² log(K)(K, K) = −I exactly, and sqrt gives ½√K and −¼√K. The
    attainable error is eps·cond (eigenvectors' rounding times the divided differences ~1/λmin);
    JAX's derivative through eigh is O(1) wrong here (clusters of eigenvalues at the jitter)."""
    from matcalc._matfun import hermitian as _hermitian

    n, jitter = _hermitian._FULL_TENSOR_MAX_N + 2, 1e-9
    k = _gp_kernel(np.linspace(0, 8, n), jitter)
    floor = np.finfo(float).eps * np.linalg.cond(k)

    def through_eigh(f):
        def g(a):
            w, v = jnp.linalg.eigh(a)
            return (v * f(w)[None, :]) @ v.T

        return g

    def derivatives(f):
        first = lambda b: jax.jvp(f, (b,), (k,))[1]
        return jax.jit(lambda b: (first(b), jax.jvp(first, (b,), (k,))[1]))(k)

    sqrt_k = np.asarray(matcalc.hermitian.sqrtm(k))
    rel = lambda x, y: float(np.max(np.abs(x - y)) / np.max(np.abs(y)))
    for ours, scalar, d1, d2 in (
        (matcalc.hermitian.logm, jnp.log, np.eye(n), -np.eye(n)),
        (matcalc.hermitian.sqrtm, jnp.sqrt, sqrt_k / 2, -sqrt_k / 4),
    ):
        o1, o2 = derivatives(ours)
        j1, j2 = derivatives(through_eigh(scalar))
        assert rel(o1, d1) <= 2 * floor and rel(o2, d2) <= 2 * floor, (rel(o1, d1), rel(o2, d2))
        assert rel(o1, d1) <= rel(j1, d1) and rel(o2, d2) <= rel(j2, d2)
