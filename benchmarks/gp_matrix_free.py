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
  :func:`matcalc.krylov.logdet` (16 probes, 30 Lanczos steps, a rank-``r`` pivoted-Cholesky
  preconditioner), ``O(n²)`` per product.

The CG preconditioner is ``P⁻¹`` for ``P = L Lᵀ + s I``, the rank-``c`` pivoted-Cholesky factor that
``matcalc.krylov.preconditioner.pivoted_cholesky`` computes (``c = n/32`` by default: the inputs fill
an interval that grows with ``n``, so the number of kernel eigenvalues above ``σ²`` grows like ``n``),
applied exactly in ``O(n c)`` from its eigendecomposition. It is built from ``stop_gradient(K)``: the
solution ``K⁻¹y`` does not depend on ``P`` (up to the CG tolerance), so neither does its derivative,
and lineax does not differentiate a solver's options.

It records the time of ``value_and_grad`` (best of 3 after a first compiled call; of 1 from
``n = 8192``), the compiled temporary memory of each route, the CG iteration count, the loss and
gradient error of the matrix-free route against the dense one, and the standard error that
``logdet`` reports. Usage::

    python -m benchmarks.gp_matrix_free [--sizes 2048,4096,8192] [--rank 64] [--cg-rank N] [--out DIR]

Memory: the compiled temporaries of ``value_and_grad`` grow like ``n²`` in both routes (both form
``K`` and differentiate through its entries): measured at ``n = 4096``, about 19 ``n²`` doubles for the
dense route and 7 ``n²`` for the matrix-free one, i.e. about 37 GiB and 14 GiB at ``n = 16384``, beyond a
24 GiB machine for the dense route; ``--sizes 16384`` needs a larger one.

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


def cg_preconditioner(k, rank: int):
    """``P⁻¹`` as a lineax operator, ``P = L Lᵀ + s I`` the rank-``rank`` pivoted-Cholesky
    approximation of ``k`` (not differentiated); ``None`` for ``rank = 0``.

    With ``P = W (Λ + s) Wᵀ + s (I − W Wᵀ)`` (``W`` orthonormal columns),
    ``P⁻¹ v = v / s + W ((Λ + s)⁻¹ − 1/s) Wᵀ v``.
    """
    import jax
    import lineax as lx

    from matcalc.krylov._operators import as_operator
    from matcalc.krylov.preconditioner import pivoted_cholesky

    if rank == 0:
        return None
    p = pivoted_cholesky(as_operator(jax.lax.stop_gradient(k)), rank)
    basis, scale, shift = p.basis, 1 / (p.eigenvalues + p.shift) - 1 / p.shift, p.shift

    def apply(v):
        return v / shift + basis @ (scale * (basis.T @ v))

    structure = jax.ShapeDtypeStruct((k.shape[0],), k.dtype)
    return lx.FunctionLinearOperator(apply, structure, lx.positive_semidefinite_tag)


def _losses(rank: int, cg_rank: int):
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
        preconditioner = cg_preconditioner(k, cg_rank)
        options = {} if preconditioner is None else {"preconditioner": preconditioner}
        solution = lx.linear_solve(operator, y, solver=solver, options=options)
        value, info = logdet(
            k, key=key, num_probes=PROBES, order=ORDER, preconditioner_rank=rank, return_info=True
        )
        loss = 0.5 * jnp.dot(y, solution.value) + 0.5 * value
        return loss, (info["stderr"], solution.stats["num_steps"])

    return jax.value_and_grad(dense), jax.value_and_grad(matrix_free, has_aux=True)


def measure(n: int, rank: int, cg_rank: int | None = None) -> dict:
    import jax
    import jax.numpy as jnp

    cg_rank = max(n // 32, 1) if cg_rank is None else cg_rank
    x, y = (jnp.asarray(a) for a in _data(n))
    theta = jnp.asarray(THETA)
    dense_fn, matrix_free_fn = _losses(rank, cg_rank)
    dense, matrix_free = jax.jit(dense_fn), jax.jit(matrix_free_fn)
    key = jax.random.key(0)
    repeats = 3 if n < 8192 else 1
    row = {"n": n, "rank": rank, "cg_rank": cg_rank}
    # one route at a time: from n = 16384 the dense K alone is 2 GiB
    row["dense_first_s"], row["dense_s"] = best_time(dense, theta, x, y, repeats=repeats)
    value_d, grad_d = dense(theta, x, y)
    row["dense_temp_bytes"] = _temp_bytes(dense_fn, theta, x, y)
    del dense
    row["matrix_free_first_s"], row["matrix_free_s"] = best_time(
        matrix_free, theta, x, y, key, repeats=repeats
    )
    (value_m, (stderr, steps)), grad_m = matrix_free(theta, x, y, key)
    row["matrix_free_temp_bytes"] = _temp_bytes(matrix_free_fn, theta, x, y, key)
    grad_d, grad_m = np.asarray(grad_d), np.asarray(grad_m)
    row.update(
        cg_steps=int(steps),
        loss_dense=float(value_d),
        loss_error=float(value_m - value_d),
        logdet_stderr_half=0.5 * float(stderr),
        grad_dense=grad_d.tolist(),
        grad_matrix_free=grad_m.tolist(),
        grad_rel_err=float(np.linalg.norm(grad_m - grad_d) / np.linalg.norm(grad_d)),
    )
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| n | dense Cholesky (s) | matrix-free (s) | ratio | CG steps (rank) "
        "| temp memory: dense, matrix-free | loss error (½ stderr of log det) "
        "| gradient (log ℓ, log s, log σ): dense / matrix-free "
        "| gradient rel. error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        grads = " / ".join(
            "(" + ", ".join(f"{g:.4g}" for g in r[key]) + ")" for key in ("grad_dense", "grad_matrix_free")
        )
        lines.append(
            f"| {r['n']} | {r['dense_s']:.3g} | {r['matrix_free_s']:.3g} | "
            f"{r['matrix_free_s'] / r['dense_s']:.2f}× | {r['cg_steps']} ({r['cg_rank']}) | "
            f"{_fmt_bytes(r['dense_temp_bytes'])}, {_fmt_bytes(r['matrix_free_temp_bytes'])} | "
            f"{r['loss_error']:.3g} ({r['logdet_stderr_half']:.2g}) | "
            f"{grads} | {r['grad_rel_err']:.2g} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gp_matrix_free", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="2048,4096,8192", help="numbers of data points")
    p.add_argument("--rank", type=int, default=64, help="logdet's pivoted-Cholesky preconditioner rank")
    p.add_argument("--cg-rank", type=int, default=None, help="CG preconditioner rank (default n/32; 0: none)")
    p.add_argument("--out", default=None)
    out = float64_results_dir(p.parse_args(argv).out)
    rows = []
    args = p.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(n, args.rank, args.cg_rank))
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
