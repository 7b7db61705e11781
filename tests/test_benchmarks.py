"""Regression guard for ``python -m benchmarks``: one tiny case end to end (no timing assertions),
and the case registry's robustness to operation names that matcalc does not have."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_tiny_run_writes_all_outputs(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--ops",
            "inv",
            "--sizes",
            "4,8",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Headline" in proc.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    assert {"meta", "rows", "skipped", "uncovered_ops"} <= set(data)
    assert data["meta"]["platform"] == "cpu" and data["meta"]["dtype"] == "float64"
    assert [r["n"] for r in data["rows"]] == [4, 8]
    row = data["rows"][1]
    assert row["op"] == "inv" and row["n"] == 8 and not row["error"]
    assert {"ours", "baseline"} <= set(row["impls"])
    for impl in ("ours", "baseline"):
        info = row["impls"][impl]
        for key in ("fwd_s", "grad_s", "compile_grad_s", "status", "err"):
            assert key in info, (impl, key, info)
        assert "jvp_s" not in info  # --quick times the forward and forward+VJP only
        assert info["status"] == "ok"
        assert info["err"] < 1e-12  # against the 50-digit mpmath reference
    assert set(row["ratios"]) >= {"fwd", "jvp", "grad", "compile", "temp"}
    assert row["ratios"]["grad"] > 0
    assert row["reference"].startswith("mpmath")
    md = (tmp_path / "results.md").read_text()
    assert "| inv |" in md
    pngs = list(tmp_path.glob("*.png"))
    assert {"times.png", "ratios.png", "accuracy.png"} <= {p.name for p in pngs}, pngs
    assert any(p.name.startswith("time_inv") for p in pngs), pngs  # timed at two sizes
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_registry_skips_missing_ops_and_covers_elementary():
    from tests.cases import Case, benchmark_cases, missing, op, public_ops, resolve

    assert resolve("inv") is not None
    assert resolve("no_such_op") is None
    assert resolve("no_such_module.sqrtm") is None
    ghost = Case.bench("no_such_op", lambda n, r: (), op("no_such_op"), None, "none")
    assert missing(ghost) == ["no_such_op"]
    covered = {c.op for c in benchmark_cases() if not missing(c)}
    for name in public_ops():
        if name in (
            "inv",
            "solve",
            "det",
            "slogdet",
            "logdet",
            "pinv",
            "lstsq",
            "matrix_power",
            "norm",
            "vec",
            "unvec",
            "jacobian_matrix",
        ):
            assert name in covered, name


def test_quick_accuracy_rows_check_the_vjp_only():
    """--quick's rows below the timing size compile only the VJP (cheap LLVM passes, no compile
    time recorded) and measure it against mpmath through the transpose identity; their size is
    moved down to where the mpmath reference reaches."""
    from benchmarks import core
    from tests.cases import benchmark_cases

    case = next(c for c in benchmark_cases() if c.op == "inv")
    settings = core.Settings.quick_settings()
    row = core.run_row(case, 4, settings)
    for impl in ("ours", "baseline"):
        info = row.impls[impl]
        assert info["grad_status"] == "ok" and "jvp_status" not in info
        assert "compile_grad_s" not in info and "grad_s" not in info
        assert info["err_vjp"] < 1e-12 and info["err"] == info["err_vjp"]
    assert row.reference.startswith("mpmath")
    small_ref = next(c for c in benchmark_cases() if c.op == "expm_frechet")
    assert small_ref.mp_max_n < 8
    assert core.applicable_sizes(small_ref, (8, 128), quick=True) == (small_ref.mp_max_n, 128)
    assert core.applicable_sizes(small_ref, (8, 128), quick=False) == (8, 128)


def test_full_settings_time_forward_jvp_and_vjp():
    from benchmarks import core
    from tests.cases import benchmark_cases

    case = next(c for c in benchmark_cases() if c.op == "inv")
    row = core.run_row(case, 4, core.Settings(min_sample_s=0.0, min_rounds=1, max_rounds=1, budget_s=0.0))
    for impl in ("ours", "baseline"):
        info = row.impls[impl]
        assert {"fwd_s", "jvp_s", "grad_s", "compile_jvp_s"} <= set(info), info
        assert info["err_jvp"] < 1e-12  # the JVP itself against mpmath
    assert row.ratios["jvp"] > 0


def test_profiles_and_their_sizes():
    from benchmarks import cli, core

    quick = cli.parse_args(["--quick"])
    full = cli.parse_args(["--full"])
    default = cli.parse_args([])
    assert cli.profile_settings(quick, core)[0] == cli.QUICK_SIZES
    assert cli.profile_settings(full, core)[0] == cli.FULL_SIZES
    sizes, settings = cli.profile_settings(default, core)
    assert sizes == cli.DEFAULT_SIZES
    assert settings.timed_kinds == core.KINDS and settings.vjp_only_below_timing
    assert not core.Settings().vjp_only_below_timing  # --full compiles every kind at every n
    try:
        cli.parse_args(["--quick", "--full"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--quick and --full together must be refused")


def test_ratio_spread_remeasures_then_flags_noisy(monkeypatch):
    """A paired ratio whose rounds disagree beyond the threshold is measured again with twice the
    rounds (at most twice); one still that spread is reported with its spread and flagged."""
    import itertools

    from benchmarks import core, report

    # ours alternates 1 ms / 3 ms per round while the baseline holds 2 ms: ratios 0.5, 1.5, ...
    ticks = itertools.cycle([1e-3, 2e-3, 2e-3, 3e-3])  # round-robin order flips every round
    monkeypatch.setattr(core, "_run", lambda c, inp, k: next(ticks) * k)
    calls = {"ours": (None, ()), "baseline": (None, ())}
    s = core.Settings(min_sample_s=0.0, min_rounds=4, max_rounds=4, budget_s=0.0)
    med, mins, paired, spread, remeasured = core.time_until_steady(calls, s, pair_with="ours")
    assert remeasured == 2 and spread["baseline"] > s.noisy_spread
    steady = {"ours": (None, ()), "baseline": (None, ())}
    monkeypatch.setattr(core, "_run", lambda c, inp, k: 1e-3 * k)
    *_, spread, remeasured = core.time_until_steady(steady, s, pair_with="ours")
    assert remeasured == 0 and spread["baseline"] == 0
    assert report.fmt_ratio_spread(0.5, 0.08) == "0.50× ±4%"
    assert report.fmt_ratio_spread(0.5, 0.9, noisy=True).endswith("noisy")


def test_time_vs_n_figure_has_only_lines_and_panels_with_data():
    """A case timed at one size (each ODE model has its own n) draws no line; a timing that no
    case has (the JVP of a reverse-only rule) draws no panel."""
    from benchmarks.report import time_vs_n_series

    def row(variant, n, **impls):
        return {"variant": variant, "batch": None, "n": n, "impls": impls}

    timed = {"fwd_s": 1e-3, "grad_s": 2e-3}
    rows = [
        row("one size", 2, ours=timed, baseline=timed),
        row("two sizes", 4, ours=timed, baseline=timed),
        row("two sizes", 8, ours=timed, baseline={"fwd_s": 1e-3}),
    ]
    series = time_vs_n_series(rows)
    assert list(series) == ["forward", "forward + VJP"]
    assert list(series["forward"]) == [("two sizes", None)]
    assert set(series["forward"][("two sizes", None)]) == {"ours", "baseline"}
    assert series["forward + VJP"] == {("two sizes", None): {"ours": [(4, 2e-3), (8, 2e-3)]}}
    assert time_vs_n_series(rows[:1]) == {}
