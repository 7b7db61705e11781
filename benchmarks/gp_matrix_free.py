"""A Gaussian-process marginal likelihood and its hyperparameter gradient: matrix-free (CG and
stochastic Lanczos quadrature, the pattern of GPyTorch's BBMM) against dense Cholesky, as n grows.

The model: inputs ``x`` uniform on ``[0, n/50]`` (about 50 points per length scale), a squared-exponential
kernel ``K = s² exp(−(x_i − x_j)²/2ℓ²) + σ² I`` and observations ``y``; the loss is

    ½ yᵀ K⁻¹ y + ½ log det K,

differentiated in ``(log ℓ, log s, log σ)``. Both routes form the dense ``K`` (``O(n²)`` memory, as
GPyTorch does with a dense kernel); they differ in how they use it:

* dense: ``L = cholesky(K)``, ``½ ‖L⁻¹y‖² + Σ log L_ii``, reverse mode through matcalc's Cholesky rule
  (``O(n³)``);
* matrix-free: ``K⁻¹y`` by lineax's preconditioned conjugate gradients (its implicit derivative:
  the backward pass is a second preconditioned solve with ``K``), ``log det K`` by
  :func:`matcalc.krylov.logdet` (16 probes, 30 Lanczos steps), ``O(n²)`` per product.

One preconditioner serves both: ``P = L Lᵀ + s I`` from ``c`` steps of pivoted Cholesky
(`matcalc.krylov.LowRankShift.pivoted_cholesky`; ``c = n/32`` by default: the inputs fill an interval that
grows with ``n``, so the number of kernel eigenvalues above ``σ²`` grows like ``n``). CG applies
``P⁻¹`` exactly in ``O(n c)`` (``P.inverse_operator()``); ``logdet(K, preconditioner=P)`` adds
``log det P`` exactly and estimates ``log det`` of ``P^{-1/2} K P^{-1/2}``. ``P`` is built from
``stop_gradient(K)`` and carries no gradient: neither ``K⁻¹y`` (up to the CG tolerance) nor the
log-determinant estimate's expectation depends on it.

It records the time of ``value_and_grad`` (best of 3 after a first compiled call; of 1 from
``n = 8192``), the compiled temporary memory of each route, the CG iteration count, the loss and
gradient error of the matrix-free route against the dense one, and the standard error that
``logdet`` reports. Usage::

    python -m benchmarks.gp_matrix_free [--sizes 2048,4096,8192] [--rank N] [--dense-max-gb 16] [--out DIR]

Memory: the compiled temporaries of ``value_and_grad`` grow like ``n²`` in both routes (both form
``K`` and differentiate through its entries): measured at ``n = 4096``, about 19 ``n²`` doubles for the
dense route and 7 ``n²`` for the matrix-free one, i.e. about 37 GiB and 14 GiB at ``n = 16384``. The
dense route is skipped where its estimate exceeds ``--dense-max-gb`` (default 16); the matrix-free
route's errors are then not reported (the dense route is the reference).

Writes ``gp_matrix_free.json`` and ``gp_matrix_free.md`` to ``benchmarks/results/<platform>-float64/``
(or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from .matrix_free import _fmt_bytes, _temp_bytes, float64_results_dir
from .matrix_free import _time as best_time

PROBES, ORDER = 16, 30
THETA = (0.0, 0.0, np.log(0.1))  # log ℓ, log s, log σ


def _data(n: int):
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, n / 50, n))
    y = np.sin(2 * x) + 0.1 * rng.standard_normal(n)
    return x, y


def _losses(rank: int):
    import jax
    import jax.numpy as jnp
    import lineax as lx

    import matcalc
    from matcalc.krylov import LowRankShift, logdet

    def kernel(theta, x):
        ell, s, sigma = jnp.exp(theta[0]), jnp.exp(theta[1]), jnp.exp(theta[2])
        d = (x[:, None] - x[None, :]) / ell
        return s**2 * jnp.exp(-(d**2) / 2) + sigma**2 * jnp.eye(x.shape[0])

    def dense(theta, x, y):
        chol = matcalc.cholesky(kernel(theta, x))
        alpha = jax.scipy.linalg.solve_triangular(chol, y, lower=True)
        return 0.5 * jnp.sum(alpha**2) + jnp.sum(jnp.log(jnp.diagonal(chol)))

    def matrix_free(theta, x, y, key):
        k = kernel(theta, x)
        operator = lx.MatrixLinearOperator(k, lx.positive_semidefinite_tag)
        solver = lx.CG(rtol=1e-10, atol=1e-10, max_steps=10 * x.shape[0])
        preconditioner = LowRankShift.pivoted_cholesky(
            jax.lax.stop_gradient(k), rank
        )  # one factorization for both
        options = {"preconditioner": preconditioner.inverse_operator()}
        solution = lx.linear_solve(operator, y, solver=solver, options=options)
        value, info = logdet(
            k, key=key, num_probes=PROBES, order=ORDER, preconditioner=preconditioner, return_info=True
        )
        loss = 0.5 * jnp.dot(y, solution.value) + 0.5 * value
        return loss, (info["stderr"], solution.stats["num_steps"])

    return jax.value_and_grad(dense), jax.value_and_grad(matrix_free, has_aux=True)


DENSE_DOUBLES_PER_N2 = 19  # the dense route's compiled temporaries, measured at n = 4096


def measure(n: int, rank: int | None = None, dense_max_gb: float = 16.0) -> dict:
    import jax
    import jax.numpy as jnp

    rank = max(n // 32, 1) if rank is None else rank
    x, y = (jnp.asarray(a) for a in _data(n))
    theta = jnp.asarray(THETA)
    dense_fn, matrix_free_fn = _losses(rank)
    dense, matrix_free = jax.jit(dense_fn), jax.jit(matrix_free_fn)
    key = jax.random.key(0)
    repeats = 3 if n < 8192 else 1
    row = {"n": n, "rank": rank}
    run_dense = DENSE_DOUBLES_PER_N2 * 8 * n * n <= dense_max_gb * 1e9
    # one route at a time: from n = 16384 the dense K alone is 2 GiB
    if run_dense:
        row["dense_first_s"], row["dense_s"] = best_time(dense, theta, x, y, repeats=repeats)
        value_d, grad_d = dense(theta, x, y)
        row["dense_temp_bytes"] = _temp_bytes(dense_fn, theta, x, y)
    del dense
    row["matrix_free_first_s"], row["matrix_free_s"] = best_time(
        matrix_free, theta, x, y, key, repeats=repeats
    )
    (value_m, (stderr, steps)), grad_m = matrix_free(theta, x, y, key)
    row["matrix_free_temp_bytes"] = _temp_bytes(matrix_free_fn, theta, x, y, key)
    grad_m = np.asarray(grad_m)
    row.update(
        cg_steps=int(steps),
        loss_matrix_free=float(value_m),
        logdet_stderr_half=0.5 * float(stderr),
        grad_matrix_free=grad_m.tolist(),
    )
    if not run_dense:
        return row
    grad_d = np.asarray(grad_d)
    row.update(
        loss_dense=float(value_d),
        loss_error=float(value_m - value_d),
        grad_dense=grad_d.tolist(),
        grad_rel_err=float(np.linalg.norm(grad_m - grad_d) / np.linalg.norm(grad_d)),
    )
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| n | dense Cholesky (s) | matrix-free (s) | ratio | CG steps (preconditioner rank) "
        "| temp memory: dense, matrix-free | loss error (½ stderr of log det) "
        "| gradient (log ℓ, log s, log σ): dense / matrix-free "
        "| gradient rel. error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mf_grad = "(" + ", ".join(f"{g:.4g}" for g in r["grad_matrix_free"]) + ")"
        steps = f"{r['cg_steps']} ({r['rank']})"
        if "dense_s" not in r:  # the dense route was skipped: no reference for the errors
            lines.append(
                f"| {r['n']} | — (needs ~{_fmt_bytes(DENSE_DOUBLES_PER_N2 * 8 * r['n'] ** 2)}) | "
                f"{r['matrix_free_s']:.3g} | — | {steps} | —, {_fmt_bytes(r['matrix_free_temp_bytes'])} | "
                f"— ({r['logdet_stderr_half']:.2g}) | — / {mf_grad} | — |"
            )
            continue
        dense_grad = "(" + ", ".join(f"{g:.4g}" for g in r["grad_dense"]) + ")"
        lines.append(
            f"| {r['n']} | {r['dense_s']:.3g} | {r['matrix_free_s']:.3g} | "
            f"{r['matrix_free_s'] / r['dense_s']:.2f}× | {steps} | "
            f"{_fmt_bytes(r['dense_temp_bytes'])}, {_fmt_bytes(r['matrix_free_temp_bytes'])} | "
            f"{r['loss_error']:.3g} ({r['logdet_stderr_half']:.2g}) | "
            f"{dense_grad} / {mf_grad} | {r['grad_rel_err']:.2g} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gp_matrix_free", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="2048,4096,8192", help="numbers of data points")
    p.add_argument(
        "--rank",
        type=int,
        default=None,
        help="pivoted-Cholesky rank, CG and logdet (default n/32)",
    )
    p.add_argument(
        "--dense-max-gb",
        type=float,
        default=16.0,
        help="skip the dense route past this memory",
    )
    p.add_argument("--out", default=None)
    out = float64_results_dir(p.parse_args(argv).out)
    rows = []
    args = p.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(n, args.rank, args.dense_max_gb))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
        # after every size: the largest may run long
        with open(os.path.join(out, "gp_matrix_free.json"), "w") as f:
            json.dump(rows, f, indent=1)
        with open(os.path.join(out, "gp_matrix_free.md"), "w") as f:
            f.write(table(rows) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
