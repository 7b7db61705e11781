"""The matrix-free section: ``log det`` and its gradient, matrix-free against dense, as n grows.

The problem is the 2-D Dirichlet grid Laplacian plus ``τI`` on an ``m × m`` grid (``n = m²``), whose
eigenvalues ``4 sin²(πi/2(m+1)) + 4 sin²(πj/2(m+1)) + τ`` give ``log det`` and ``d/dτ log det =
tr(A⁻¹)`` in closed form. For each n it times ``value_and_grad`` in ``τ`` of

* ``matcalc.krylov.logdet`` on the BCOO matrix (stochastic Lanczos quadrature, Hutchinson/CG
  gradient; memory O(nnz + n·probes)), and
* the dense route a user would write, ``2 Σ log diag(cholesky(A))`` (memory O(n²)), up to the
  largest n whose matrix fits in ``--dense-max-gb``,

and records the compiled temporary memory, the error against the closed form and, for the
stochastic estimate, that error in units of its own reported standard error. Usage::

    python -m benchmarks.matrix_free [--sides 32,64,100,316,1000] [--dense-max-gb 2] [--out DIR]

Writes ``matrix_free.json``, ``matrix_free.md`` and ``matrix_free.png`` to
``benchmarks/results/<platform>-float64/`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

PROBES, ORDER, TAU = 16, 30, 0.5


def _grid_laplacian(m: int):
    import scipy.sparse as sp

    t = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return (sp.kron(t, sp.eye(m)) + sp.kron(sp.eye(m), t)).tocoo()


def _closed_form(m: int, tau: float) -> tuple[float, float]:
    s = 4 * np.sin(np.pi * np.arange(1, m + 1) / (2 * (m + 1))) ** 2
    lam = s[:, None] + s[None, :] + tau
    return float(np.sum(np.log(lam))), float(np.sum(1 / lam))


def _time(fn, *args, repeats: int = 3) -> tuple[float, float]:
    import jax

    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return first, best


def _temp_bytes(fn, *args) -> int | None:
    import jax

    try:
        return int(jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001 (not every backend reports it)
        return None


def measure(m: int, dense_max_gb: float) -> dict:
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse

    import matcalc

    lap = _grid_laplacian(m)
    n = m * m
    exact, exact_grad = _closed_form(m, TAU)
    indices = jnp.asarray(np.stack([lap.row, lap.col], axis=1))
    data = jnp.asarray(lap.data)
    diagonal = jnp.asarray((lap.row == lap.col).astype(np.float64))
    key = jax.random.key(0)

    def krylov(tau):
        a = sparse.BCOO((data + tau * diagonal, indices), shape=(n, n))
        value, info = matcalc.krylov.logdet(a, key=key, num_probes=PROBES, order=ORDER, return_info=True)
        return value, info["stderr"]

    step = jax.jit(jax.value_and_grad(krylov, has_aux=True))
    tau = jnp.asarray(TAU)
    first, best = _time(step, tau)
    (value, stderr), grad = step(tau)
    row = {
        "n": n,
        "m": m,
        "nnz": int(lap.nnz),
        "krylov_first_s": first,
        "krylov_s": best,
        "krylov_temp_bytes": _temp_bytes(jax.value_and_grad(krylov, has_aux=True), tau),
        "krylov_rel_err": abs(float(value) - exact) / abs(exact),
        "krylov_err_in_stderr": abs(float(value) - exact) / float(stderr),
        "krylov_grad_rel_err": abs(float(grad) - exact_grad) / abs(exact_grad),
        "dense_bytes": 8 * n * n,
    }
    if 8 * n * n <= dense_max_gb * 2**30:
        dense_lap = jnp.asarray(lap.toarray())

        def dense(tau):
            factor = jnp.linalg.cholesky(dense_lap + tau * jnp.eye(n))
            return 2 * jnp.sum(jnp.log(jnp.diagonal(factor)))

        dense_step = jax.jit(jax.value_and_grad(dense))
        first_d, best_d = _time(dense_step, tau, repeats=1 if n > 5000 else 3)
        value_d, grad_d = dense_step(tau)
        row.update(
            dense_first_s=first_d,
            dense_s=best_d,
            dense_temp_bytes=_temp_bytes(jax.value_and_grad(dense), tau),
            dense_rel_err=abs(float(value_d) - exact) / abs(exact),
            dense_grad_rel_err=abs(float(grad_d) - exact_grad) / abs(exact_grad),
        )
    return row


def _fmt_bytes(b) -> str:
    if b is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1024:
            return f"{b:.0f} {unit}"
        b /= 1024
    return f"{b:.0f} PB"


def table(rows: list[dict]) -> str:
    head = (
        "| n | nnz | krylov time | krylov temp | log det error (in std. errors) | d/dτ error "
        "| dense time | dense matrix | dense error |"
    )
    out = [head, "|" + "---|" * 9]
    for r in rows:
        dense_time = f"{r['dense_s']:.3g} s" if "dense_s" in r else "does not fit"
        dense_err = f"{r['dense_rel_err']:.1e}" if "dense_s" in r else "—"
        out.append(
            f"| {r['n']:,} | {r['nnz']:,} | {r['krylov_s']:.3g} s | {_fmt_bytes(r['krylov_temp_bytes'])} | "
            f"{r['krylov_rel_err']:.1e} ({r['krylov_err_in_stderr']:.1f}) | {r['krylov_grad_rel_err']:.1e} | "
            f"{dense_time} | {_fmt_bytes(r['dense_bytes'])} | {dense_err} |"
        )
    return "\n".join(out)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    n = [r["n"] for r in rows]
    dense = [r for r in rows if "dense_s" in r]
    ax_t.loglog(n, [r["krylov_s"] for r in rows], "o-", label="matcalc.krylov.logdet (BCOO)")
    ax_t.loglog([r["n"] for r in dense], [r["dense_s"] for r in dense], "s-", label="dense Cholesky")
    ax_t.set_xlabel("n (unknowns)")
    ax_t.set_ylabel("value + gradient, seconds")
    ax_t.set_title("log det(L + τI) and d/dτ, 2-D grid Laplacian")
    ax_t.legend()
    ax_m.loglog(
        n, [r["krylov_temp_bytes"] for r in rows], "o-", label="krylov: compiled temporaries (measured)"
    )
    ax_m.loglog(
        [r["n"] for r in dense],
        [r["dense_temp_bytes"] for r in dense],
        "s-",
        label="dense: compiled temporaries",
    )
    ax_m.loglog(
        n, [r["dense_bytes"] for r in rows], "s--", color="C1", alpha=0.5, label="dense matrix alone (8 n²)"
    )
    ax_m.axhline(24 * 2**30, color="gray", lw=0.8, ls=":")
    ax_m.text(n[0], 24 * 2**30 * 1.3, "24 GiB (this machine)", fontsize=8, color="gray")
    ax_m.set_xlabel("n (unknowns)")
    ax_m.set_ylabel("bytes")
    ax_m.set_title("memory")
    ax_m.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def float64_results_dir(out: str | None) -> str:
    """Turn on float64 and make the output folder: ``out``, or ``results/<platform>-float64/``."""
    import jax

    jax.config.update("jax_enable_x64", True)
    out = out or os.path.join(os.path.dirname(__file__), "results", f"{jax.default_backend()}-float64")
    os.makedirs(out, exist_ok=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.matrix_free", description=__doc__.split("\n")[0])
    p.add_argument("--sides", default="32,64,100,316,1000", help="grid sides m (n = m²)")
    p.add_argument("--dense-max-gb", type=float, default=2.0, help="largest dense matrix to try")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    out = float64_results_dir(args.out)

    import jax

    rows = []
    for m in (int(s) for s in args.sides.split(",")):
        row = measure(m, args.dense_max_gb)
        rows.append(row)
        print(
            f"n = {row['n']:>9,}: krylov {row['krylov_s']:.3g} s"
            + (f", dense {row['dense_s']:.3g} s" if "dense_s" in row else ""),
            flush=True,
        )
    text = table(rows)
    print(text)
    meta = {"probes": PROBES, "lanczos_steps": ORDER, "tau": TAU, "backend": jax.default_backend()}
    with open(os.path.join(out, "matrix_free.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(out, "matrix_free.md"), "w") as f:
        f.write(
            "# Matrix-free log det and gradient vs dense Cholesky\n\n"
            f"2-D grid Laplacian + {TAU}·I as BCOO; {PROBES} Rademacher probes, {ORDER} Lanczos steps; "
            "times are the best of repeated compiled calls (value and gradient in τ).\n\n" + text + "\n"
        )
    plot(rows, os.path.join(out, "matrix_free.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
