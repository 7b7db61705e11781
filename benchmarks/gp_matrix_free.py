"""A Gaussian-process marginal likelihood and its hyperparameter gradient: matrix-free (CG and
stochastic Lanczos quadrature, the pattern of GPyTorch's BBMM) against dense Cholesky, as n grows.

The model: inputs ``x`` uniform on ``[0, n/50]`` (about 50 points per length scale), a squared-exponential
kernel ``K = s² exp(−(x_i − x_j)²/2ℓ²) + σ² I`` and observations ``y``; the loss is

    ½ yᵀ K⁻¹ y + ½ log det K,

differentiated in ``(log ℓ, log s, log σ)``. Both routes form the dense ``K`` (``O(n²)`` memory, as
GPyTorch does with a dense kernel); they differ in how they use it:

* dense: ``L = cholesky(K)``, ``½ ‖L⁻¹y‖² + Σ log L_ii``, reverse mode through matcalc's Cholesky rule
  (``O(n³)``);
* matrix-free: ``K⁻¹y`` by lineax's conjugate gradients (its implicit derivative), ``log det K`` by
  :func:`matcalc.krylov.logdet` (16 probes, 30 Lanczos steps, a rank-``r`` pivoted-Cholesky
  preconditioner), ``O(n²)`` per product.

It records the time of ``value_and_grad`` (best of 3 after a first compiled call), the loss and
gradient error of the matrix-free route against the dense one, and the standard error that
``logdet`` reports. Usage::

    python -m benchmarks.gp_matrix_free [--sizes 2048,4096,8192,16384] [--rank 64] [--out DIR]

Writes ``gp_matrix_free.json`` and ``gp_matrix_free.md`` to ``benchmarks/results/<platform>-float64/``
(or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from .matrix_free import _time as best_time
from .matrix_free import float64_results_dir

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
    from matcalc.krylov import logdet

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
        alpha = lx.linear_solve(operator, y, solver=solver).value
        value, info = logdet(
            k, key=key, num_probes=PROBES, order=ORDER, preconditioner_rank=rank, return_info=True
        )
        return 0.5 * jnp.dot(y, alpha) + 0.5 * value, info["stderr"]

    return (
        jax.jit(jax.value_and_grad(dense)),
        jax.jit(jax.value_and_grad(matrix_free, has_aux=True)),
    )


def measure(n: int, rank: int) -> dict:
    import jax
    import jax.numpy as jnp

    x, y = (jnp.asarray(a) for a in _data(n))
    theta = jnp.asarray(THETA)
    dense, matrix_free = _losses(rank)
    key = jax.random.key(0)
    value_d, grad_d = dense(theta, x, y)
    (value_m, stderr), grad_m = matrix_free(theta, x, y, key)
    return {
        "n": n,
        "rank": rank,
        "dense_s": best_time(dense, theta, x, y)[1],
        "matrix_free_s": best_time(matrix_free, theta, x, y, key)[1],
        "loss_dense": float(value_d),
        "loss_error": float(value_m - value_d),
        "logdet_stderr_half": 0.5 * float(stderr),
        "grad_dense": np.asarray(grad_d).tolist(),
        "grad_matrix_free": np.asarray(grad_m).tolist(),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| n | dense Cholesky (s) | matrix-free (s) | ratio | loss error (½ stderr of log det) | "
        "gradient (log ℓ, log s, log σ): dense / matrix-free |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        grads = " / ".join(
            "(" + ", ".join(f"{g:.4g}" for g in r[key]) + ")" for key in ("grad_dense", "grad_matrix_free")
        )
        lines.append(
            f"| {r['n']} | {r['dense_s']:.3g} | {r['matrix_free_s']:.3g} | "
            f"{r['matrix_free_s'] / r['dense_s']:.2f}× | "
            f"{r['loss_error']:.3g} ({r['logdet_stderr_half']:.2g}) | "
            f"{grads} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gp_matrix_free", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="2048,4096,8192,16384", help="numbers of data points")
    p.add_argument("--rank", type=int, default=64, help="pivoted-Cholesky preconditioner rank")
    p.add_argument("--out", default=None)
    out = float64_results_dir(p.parse_args(argv).out)
    rows = []
    args = p.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(n, args.rank))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    with open(os.path.join(out, "gp_matrix_free.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(out, "gp_matrix_free.md"), "w") as f:
        f.write(table(rows) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
