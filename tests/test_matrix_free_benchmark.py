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
