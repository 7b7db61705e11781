"""``python -m benchmarks.matrix_free`` at toy sizes: it writes its outputs, the dense route matches the
closed form, and the stochastic estimate is within a few of its own standard errors of it."""

import json

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
