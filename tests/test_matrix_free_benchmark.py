"""The matrix-free benchmarks (``benchmarks.matrix_free``, ``gp_matrix_free``, ``eigsh_matrix_free``) at toy
sizes: they write their outputs, the routes match their closed forms or dense references, and stochastic
estimates are within a few of their own standard errors."""

import json

import numpy as np
import pytest

from benchmarks import matrix_free


def test_matrix_free_benchmark_runs_and_agrees_with_the_closed_form(tmp_path):
    assert matrix_free.main(["--sides", "6,10", "--dense-max-gb", "0.001", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "matrix_free.json").read_text())["rows"]
    assert [r["n"] for r in rows] == [36, 100]
    for r in rows:
        assert r["dense_rel_err"] < 1e-12 and r["dense_grad_rel_err"] < 1e-12
        assert r["krylov_err_in_stderr"] < 5
    assert (tmp_path / "matrix_free.png").stat().st_size > 0
    assert "| 100 |" in (tmp_path / "matrix_free.md").read_text()


def test_gp_benchmark_runs_and_its_matrix_free_loss_is_within_its_standard_error(tmp_path):
    from benchmarks import gp_matrix_free

    assert gp_matrix_free.main(["--sizes", "64", "--rank", "8", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "gp_matrix_free.json").read_text())
    assert row["n"] == 64 and len(row["grad_dense"]) == len(row["grad_matrix_free"]) == 3
    # the CG solve is exact to 1e-10; what is left is ½ (SLQ estimate − log det K)
    assert abs(row["loss_error"]) <= 5 * row["logdet_stderr_half"]
    assert "| 64 |" in (tmp_path / "gp_matrix_free.md").read_text()
    # past --dense-max-gb only the matrix-free route runs, and the table says the dense one was skipped
    assert (
        gp_matrix_free.main(["--sizes", "64", "--rank", "8", "--dense-max-gb", "0", "--out", str(tmp_path)])
        == 0
    )
    (skipped,) = json.loads((tmp_path / "gp_matrix_free.json").read_text())
    assert "dense_s" not in skipped and "loss_error" not in skipped
    assert skipped["grad_matrix_free"] == row["grad_matrix_free"]
    assert "| 64 | — (needs ~" in (tmp_path / "gp_matrix_free.md").read_text()


def test_gp_preconditioned_solve_has_the_exact_data_fit_gradient():
    # ½ yᵀK⁻¹y through lineax CG with the pivoted-Cholesky preconditioner (not differentiated) against
    # the same term through a dense solve: the implicit derivative must not see the preconditioner.
    import jax
    import jax.numpy as jnp
    import lineax as lx

    from benchmarks import gp_matrix_free
    from matcalc.krylov import LowRankShift

    def inverse_preconditioner(k, rank):
        return LowRankShift.pivoted_cholesky(jax.lax.stop_gradient(k), rank).inverse_operator()

    jax.config.update("jax_enable_x64", True)
    x, y = (jnp.asarray(a) for a in gp_matrix_free._data(96))

    def kernel(theta):
        d = (x[:, None] - x[None, :]) / jnp.exp(theta[0])
        return jnp.exp(2 * theta[1]) * jnp.exp(-(d**2) / 2) + jnp.exp(2 * theta[2]) * jnp.eye(x.shape[0])

    def fit(theta, rank):
        k = kernel(theta)
        options = {"preconditioner": inverse_preconditioner(k, rank)} if rank else {}
        solution = lx.linear_solve(
            lx.MatrixLinearOperator(k, lx.positive_semidefinite_tag),
            y,
            solver=lx.CG(rtol=1e-12, atol=1e-12, max_steps=2000),
            options=options,
        )
        return 0.5 * jnp.dot(y, solution.value), solution.stats["num_steps"]

    theta = jnp.asarray(gp_matrix_free.THETA)
    exact = jax.grad(lambda t: 0.5 * jnp.dot(y, jnp.linalg.solve(kernel(t), y)))(theta)
    (_, steps), grad = jax.jit(jax.value_and_grad(fit, has_aux=True), static_argnums=1)(theta, 12)
    np.testing.assert_allclose(grad, exact, rtol=1e-8)
    # and it is a preconditioner: P⁻¹K is far better conditioned than K
    k = np.asarray(kernel(theta))
    pinv_k = np.asarray(inverse_preconditioner(jnp.asarray(k), 12).as_matrix()) @ k
    eigenvalues = np.linalg.eigvals(pinv_k).real
    assert eigenvalues.max() / eigenvalues.min() < np.linalg.cond(k) / 100


def test_eigsh_closed_form_matches_a_dense_eigendecomposition():
    # eigenvalues, eigenvectors (as projectors) and both loss gradients of the grid Laplacian's closed
    # form against NumPy: eigh, and a central difference of Σ_i (v_iᵀ d)² along a symmetric direction
    from benchmarks.eigsh_matrix_free import ClosedForm, grid_laplacian

    sides, k = (5, 4, 3), 4
    a = grid_laplacian(sides).toarray()
    rng = np.random.default_rng(1)
    d = rng.standard_normal(a.shape[0])
    exact = ClosedForm(sides, k, d)
    lam, vec = np.linalg.eigh(a)
    np.testing.assert_allclose(exact.eigenvalues, lam[-k:], rtol=1e-13)
    assert exact.min_gap == pytest.approx(np.min(np.diff(lam[-k - 1 :])), rel=1e-10)
    np.testing.assert_allclose(exact.vectors @ exact.vectors.T, vec[:, -k:] @ vec[:, -k:].T, atol=1e-12)
    coef = np.arange(1.0, k + 1)
    np.testing.assert_allclose(
        exact.grad_values_dense(coef), (vec[:, -k:] * coef) @ vec[:, -k:].T, atol=1e-12
    )

    def loss(m):
        v = np.linalg.eigh(m)[1][:, -k:]
        return np.sum((v.T @ d) ** 2)

    e = rng.standard_normal(a.shape)
    e = e + e.T
    h = 1e-5
    slope = (loss(a + h * e) - loss(a - h * e)) / (2 * h)
    assert np.sum(exact.grad_vectors_dense() * e) == pytest.approx(slope, rel=1e-7)
    rows, cols = np.nonzero(a)
    np.testing.assert_allclose(exact.grad_vectors_at(rows, cols), exact.grad_vectors_dense()[rows, cols])


def test_eigsh_benchmark_runs_and_agrees_with_the_closed_form(tmp_path):
    from benchmarks import eigsh_matrix_free

    assert eigsh_matrix_free.main(["--grids", "4x4x3", "--k", "3", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "eigsh_matrix_free.json").read_text())["rows"]
    assert row["n"] == 48 and row["relative_min_gap"] > 1e-3
    for route in ("bcoo", "krylov", "dense"):
        assert row[route + "_eig_err"] < 1e-12
        assert row[route + "_grad_values_err"] < 1e-9 and row[route + "_grad_vectors_err"] < 1e-8
    assert row["krylov_vs_dense_grad_vectors"] < 1e-8
    assert (tmp_path / "eigsh_matrix_free.png").stat().st_size > 0
    assert "| 48 (4×4×3) |" in (tmp_path / "eigsh_matrix_free.md").read_text()
