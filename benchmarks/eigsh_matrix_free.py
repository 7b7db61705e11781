"""The top-``k`` eigenpairs and their gradients, matrix-free (``matcalc.krylov.eigsh``) against dense
(``matcalc.eigh`` and its rule), on a problem with a closed form, as n grows.

The problem is the anisotropic 3-D Dirichlet grid Laplacian on an ``m₁ × m₂ × m₃`` grid,

    A = w₁ T₁ ⊗ I ⊗ I + w₂ I ⊗ T₂ ⊗ I + w₃ I ⊗ I ⊗ T₃,   T_d = tridiag(−1, 2, −1) of size m_d,

whose eigenpairs are known exactly: eigenvalues ``Σ_d w_d 4 sin²(π p_d / 2(m_d + 1))`` and eigenvectors
the tensor products of the sine vectors ``√(2/(m+1)) sin(π p i/(m+1))``, so that any vector's
coordinates in the eigenbasis are its 3-D type-I discrete sine transform. The weights ``(1, 0.92,
0.5)`` make the top 11 eigenvalues simple; the smallest gap among them (checked from the closed form
for every size) is reported. ``which="LA"`` (the largest eigenvalues): the spectrum is symmetric
about its midpoint, so both ends have the same gaps, but the convergence test is relative to the
wanted eigenvalues' size, which at the bottom end is about ``‖A‖/m²`` and would ask for residuals
below ``eps ‖A‖``. A 3-D grid rather than a 2-D one: at ``n = 10⁶`` the relative gaps at the top are
``1/m²``, about ``2·10⁻⁵`` for a 100³ grid against ``3·10⁻⁷`` for a 1000² one, and the number of
Krylov products grows like the inverse square root of that.

Two losses of the top ``k`` pairs, both gauge invariant, are differentiated with respect to the
operator's arrays (the dense matrix, or the stored entries of the BCOO matrix):

* of the eigenvalues, ``Σ_i (i + 1) λ_i`` (ascending order), gradient ``Σ_i (i + 1) v_i v_iᵀ``;
* of the eigenvectors, ``Σ_i (v_iᵀ d)²`` for a fixed random ``d``, gradient ``sym Σ_i x_i v_iᵀ`` with
  ``x_i = 2 (v_iᵀ d) Σ_j φ_j (φ_jᵀ d) / (λ_i − μ_j)`` over the eigenpairs ``(μ_j, φ_j)`` outside the top
  ``k`` (the terms inside cancel for this loss), computed exactly with the sine transform.

For each n it compiles (AOT) and times one program that returns the eigenvalues and both gradients
(one forward pass, two reverse passes), by ``eigsh`` on the dense matrix, ``eigsh`` on the BCOO matrix
and, while the dense matrix fits in ``--dense-max-gb``, the dense route (``matcalc.eigh`` of the whole
matrix, the top ``k`` pairs, its reverse rule). It records compile time, best time, compiled temporary
memory, the eigenvalue error against the closed form and each gradient's relative error (Frobenius
norm) against the closed form and against the dense route. Usage::

    python -m benchmarks.eigsh_matrix_free [--grids 16x16x16,22x22x22,100x100x100] [--k 10]
        [--dense-max-gb 2] [--out DIR]

Writes ``eigsh_matrix_free.json``, ``eigsh_matrix_free.md`` and ``eigsh_matrix_free.png`` to
``benchmarks/results/<platform>-float64/`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from .matrix_free import _fmt_bytes, float64_results_dir

WEIGHTS = (1.0, 0.92, 0.5)


# ---------------------------------------------------------------------------------------------
# the problem and its closed form


def _sines(m: int) -> np.ndarray:
    return 4 * np.sin(np.pi * np.arange(1, m + 1) / (2 * (m + 1))) ** 2


def grid_laplacian(sides: tuple[int, ...], weights: tuple[float, ...] = WEIGHTS):
    """``Σ_d w_d I ⊗ … ⊗ T_d ⊗ … ⊗ I`` as a SciPy COO matrix (the first axis varies slowest)."""
    import scipy.sparse as sp

    total = None
    for d, (m, w) in enumerate(zip(sides, weights, strict=True)):
        t = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
        term = sp.kron(sp.kron(sp.eye(int(np.prod(sides[:d]))), w * t), sp.eye(int(np.prod(sides[d + 1 :]))))
        total = term if total is None else total + term
    return total.tocoo()


def all_eigenvalues(sides, weights=WEIGHTS) -> np.ndarray:
    """Eigenvalue of the sine mode ``(p_1, …, p_d)`` at index ``[p_1 − 1, …, p_d − 1]``."""
    lam = np.zeros(())
    for m, w in zip(sides, weights, strict=True):
        lam = np.add.outer(lam, w * _sines(m))
    return lam


def to_eigenbasis(x: np.ndarray, sides) -> np.ndarray:
    """Coordinates ``φ_jᵀ x`` of ``x`` (shape ``(n,)`` or ``(n, c)``): the orthonormal DST-I on the grid."""
    from scipy.fft import dstn

    if x.ndim == 1:
        return dstn(x.reshape(sides), type=1, norm="ortho")
    return np.stack([to_eigenbasis(x[:, c], sides) for c in range(x.shape[1])], axis=-1)


def from_eigenbasis(c: np.ndarray, sides) -> np.ndarray:
    """Inverse of ``to_eigenbasis`` (the orthonormal DST-I is its own inverse)."""
    if c.ndim == len(sides):
        return to_eigenbasis(c.reshape(-1), sides).reshape(-1)
    return np.stack([from_eigenbasis(c[..., j], sides) for j in range(c.shape[-1])], axis=1)


class ClosedForm:
    """The top ``k`` eigenpairs and both losses' gradient factors, exactly."""

    def __init__(self, sides, k: int, d: np.ndarray, weights=WEIGHTS):
        lam = all_eigenvalues(sides, weights)
        flat = lam.reshape(-1)
        order = np.argsort(flat)
        top = order[-(k + 1) :]  # ascending: λ_{k+1} (unwanted) first, then the wanted k
        self.sides, self.k = tuple(sides), k
        self.eigenvalues = flat[top[1:]]
        gaps = np.diff(flat[top])
        self.min_gap = float(np.min(gaps))
        self.spread = float(flat[order[-1]] - flat[order[0]])
        unit = np.zeros(lam.shape + (k,))
        wanted = np.unravel_index(top[1:], lam.shape)
        unit[wanted + (np.arange(k),)] = 1
        self.vectors = from_eigenbasis(unit, sides)  # (n, k), columns in ascending order
        # x_i = 2 (v_iᵀd) Σ_{j outside the top k} φ_j (φ_jᵀ d) / (λ_i − μ_j)
        dhat = to_eigenbasis(d, sides)
        outside = np.ones(lam.shape, bool)
        outside[wanted] = False
        coef = self.vectors.T @ d
        xs = []
        for i in range(k):
            ratio = np.where(outside, dhat / np.where(outside, self.eigenvalues[i] - lam, 1), 0)
            xs.append(2 * coef[i] * from_eigenbasis(ratio, sides))
        self.x = np.stack(xs, axis=1)

    def grad_values_at(self, rows, cols, weights) -> np.ndarray:
        """``Σ_i c_i v_i v_iᵀ`` at the entries ``(rows, cols)``."""
        v = self.vectors
        return np.sum(v[rows] * v[cols] * weights[None, :], axis=1)

    def grad_vectors_at(self, rows, cols) -> np.ndarray:
        """``sym Σ_i x_i v_iᵀ`` at the entries ``(rows, cols)``."""
        v, x = self.vectors, self.x
        return 0.5 * np.sum(x[rows] * v[cols] + v[rows] * x[cols], axis=1)

    def grad_values_dense(self, weights) -> np.ndarray:
        """``Σ_i c_i v_i v_iᵀ`` as an ``n × n`` matrix."""
        return (self.vectors * weights[None, :]) @ self.vectors.T

    def grad_vectors_dense(self) -> np.ndarray:
        """``sym Σ_i x_i v_iᵀ`` as an ``n × n`` matrix."""
        product = self.x @ self.vectors.T
        return 0.5 * (product + product.T)


# ---------------------------------------------------------------------------------------------
# timing


def _compile_and_time(fn, *args, repeats: int) -> dict:
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    try:
        temp = int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001 (not every backend reports it)
        temp = None
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - start)
    return {"compile_s": compile_s, "s": best, "temp_bytes": temp, "out": out}


def _rel(a, b) -> float:
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# one size


def measure(sides, k: int, dense_max_gb: float, ncv: int | None = None) -> dict:
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse

    import matcalc
    from matcalc.krylov import eigsh

    sides = tuple(int(m) for m in sides)
    lap = grid_laplacian(sides)
    n = lap.shape[0]
    rng = np.random.default_rng(0)
    d_np = rng.standard_normal(n)
    exact = ClosedForm(sides, k, d_np)
    coef_np = np.arange(1.0, k + 1)
    coef, d = jnp.asarray(coef_np), jnp.asarray(d_np)
    repeats = 3 if n <= 20000 else 1

    def losses_and_grads(eig, a):
        """``(λ, ∂L_λ/∂a, ∂L_v/∂a)`` with one forward pass and two reverse passes."""
        (w, v), pullback = jax.vjp(eig, a)
        (g_values,) = pullback((coef, jnp.zeros_like(v)))
        v_bar = 2 * d[:, None] * (d @ v)[None, :]  # ∂/∂V Σ_i (v_iᵀ d)²
        (g_vectors,) = pullback((jnp.zeros_like(w), v_bar))
        return w, g_values, g_vectors

    def krylov(a):
        return eigsh(a, k, "LA", ncv=ncv)

    row = {
        "n": n,
        "grid": "×".join(map(str, sides)) + ("" if ncv is None else f", ncv {ncv}"),
        "nnz": int(lap.nnz),
        "k": k,
        "min_gap": exact.min_gap,
        "relative_min_gap": exact.min_gap / exact.spread,
        "dense_bytes": 8 * n * n,
    }

    def record(prefix, result, w, g_values, g_vectors, ref_values, ref_vectors):
        row[prefix + "_s"] = result["s"]
        row[prefix + "_compile_s"] = result["compile_s"]
        row[prefix + "_temp_bytes"] = result["temp_bytes"]
        scale = np.max(np.abs(exact.eigenvalues))
        row[prefix + "_eig_err"] = float(np.max(np.abs(np.asarray(w) - exact.eigenvalues)) / scale)
        row[prefix + "_grad_values_err"] = _rel(g_values, ref_values)
        row[prefix + "_grad_vectors_err"] = _rel(g_vectors, ref_vectors)

    # BCOO: derivatives with respect to the stored entries
    indices = jnp.asarray(np.stack([lap.row, lap.col], axis=1))
    data = jnp.asarray(lap.data)

    def sparse_step(data, indices):  # the indices as an argument, not a constant XLA would fold
        return losses_and_grads(lambda x: krylov(sparse.BCOO((x, indices), shape=(n, n))), data)

    result = _compile_and_time(sparse_step, data, indices, repeats=repeats)
    refs = exact.grad_values_at(lap.row, lap.col, coef_np), exact.grad_vectors_at(lap.row, lap.col)
    record("bcoo", result, *result["out"], *refs)
    del result
    if 8 * n * n > dense_max_gb * 2**30:
        return row

    dense_a = jnp.asarray(lap.toarray())
    refs = exact.grad_values_dense(coef_np), exact.grad_vectors_dense()
    result = _compile_and_time(lambda a: losses_and_grads(krylov, a), dense_a, repeats=repeats)
    krylov_out = result["out"]
    record("krylov", result, *krylov_out, *refs)
    del result

    def dense_top(a):
        w, v = matcalc.eigh(a)
        return w[-k:], v[:, -k:]

    result = _compile_and_time(
        lambda a: losses_and_grads(dense_top, a), dense_a, repeats=1 if n > 5000 else repeats
    )
    dense_out = result["out"]
    record("dense", result, *dense_out, *refs)
    row["krylov_vs_dense_grad_values"] = _rel(krylov_out[1], dense_out[1])
    row["krylov_vs_dense_grad_vectors"] = _rel(krylov_out[2], dense_out[2])
    row["speedup"] = row["dense_s"] / row["krylov_s"]
    return row


# ---------------------------------------------------------------------------------------------
# outputs


def table(rows: list[dict]) -> str:
    head = (
        "| n (grid) | relative gap | eigsh dense input | eigsh BCOO | dense eigh | speedup (dense / eigsh) "
        "| eigenvalue error | ∇ L_λ error | ∇ L_v error | eigsh vs dense ∇ L_λ, ∇ L_v "
        "| temp memory: eigsh BCOO, eigsh dense, dense eigh |"
    )
    out = [head, "|" + "---|" * 11]
    for r in rows:
        has_dense = "dense_s" in r

        def t(prefix):
            return f"{r[prefix + '_s']:.3g} s" if prefix + "_s" in r else "—"

        errs = [
            f"{r['bcoo_eig_err']:.1e}",
            f"{r['bcoo_grad_values_err']:.1e}",
            f"{r['bcoo_grad_vectors_err']:.1e}",
        ]
        if has_dense:
            errs = [
                f"{r['krylov_eig_err']:.1e}, {r['bcoo_eig_err']:.1e} ({r['dense_eig_err']:.1e})",
                f"{r['krylov_grad_values_err']:.1e}, {r['bcoo_grad_values_err']:.1e} "
                f"({r['dense_grad_values_err']:.1e})",
                f"{r['krylov_grad_vectors_err']:.1e}, {r['bcoo_grad_vectors_err']:.1e} "
                f"({r['dense_grad_vectors_err']:.1e})",
            ]
        versus = (
            f"{r['krylov_vs_dense_grad_values']:.1e}, {r['krylov_vs_dense_grad_vectors']:.1e}"
            if has_dense
            else "dense does not fit"
        )
        speedup = f"{r['speedup']:.0f}×" if has_dense else "—"
        mem = ", ".join(_fmt_bytes(r.get(p + "_temp_bytes")) for p in ("bcoo", "krylov", "dense"))
        out.append(
            f"| {r['n']:,} ({r['grid']}) | {r['relative_min_gap']:.1e} | {t('krylov')} | {t('bcoo')} | "
            f"{t('dense')} | {speedup} | " + " | ".join(errs) + f" | {versus} | {mem} |"
        )
    return "\n".join(out)


NOTE = (
    "Errors are relative (eigenvalues: max error / max |λ|; gradients: Frobenius norm) against the "
    "closed form; where the dense route ran, they read `eigsh dense input, eigsh BCOO (dense eigh)`. "
    "Gradients are with respect to the operator's arrays: the n × n matrix for dense input, the stored "
    "entries for BCOO. `L_λ = Σ_i (i+1) λ_i`, `L_v = Σ_i (v_iᵀ d)²`. Times: one compiled program giving "
    "the eigenvalues and both gradients, best of repeated calls (one call for the dense route past "
    "n = 5000 and for every route past n = 20000)."
)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for prefix, label, style in (
        ("bcoo", "eigsh, BCOO", "o-"),
        ("krylov", "eigsh, dense input", "^-"),
        ("dense", "dense matcalc.eigh + rule", "s-"),
    ):
        have = [r for r in rows if prefix + "_s" in r]
        if not have:
            continue
        n = [r["n"] for r in have]
        ax_t.loglog(n, [r[prefix + "_s"] for r in have], style, label=label)
        ax_m.loglog(n, [r[prefix + "_temp_bytes"] or np.nan for r in have], style, label=label)
    ax_t.set_xlabel("n (unknowns)")
    ax_t.set_ylabel("eigenvalues + two gradients, seconds")
    ax_t.set_title(f"top {rows[0]['k']} eigenpairs, 3-D anisotropic Laplacian")
    ax_t.legend()
    ax_m.set_xlabel("n (unknowns)")
    ax_m.set_ylabel("compiled temporaries, bytes")
    ax_m.set_title("memory")
    ax_m.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out: str, meta: dict, rows: list[dict]) -> None:
    with open(os.path.join(out, "eigsh_matrix_free.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(out, "eigsh_matrix_free.md"), "w") as f:
        f.write(
            f"# Top-{meta['k']} eigenpairs and gradients: matrix-free eigsh vs dense eigh\n\n"
            f'3-D Dirichlet grid Laplacian with weights {WEIGHTS}, `which="LA"`.\n\n'
            + NOTE
            + "\n\n"
            + table(rows)
            + "\n"
        )
    plot(rows, os.path.join(out, "eigsh_matrix_free.png"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.eigsh_matrix_free", description=__doc__.split("\n")[0]
    )
    p.add_argument("--grids", default="16x16x16,22x22x22,100x100x100", help="grid sides, m1xm2xm3")
    p.add_argument("--k", type=int, default=10, help="number of eigenpairs")
    p.add_argument("--ncv", type=int, default=None, help="eigsh's Krylov basis size (default eigsh's)")
    p.add_argument("--dense-max-gb", type=float, default=2.0, help="largest dense matrix to try")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    out = float64_results_dir(args.out)

    import jax

    rows = []
    meta = {"k": args.k, "which": "LA", "weights": WEIGHTS, "ncv": args.ncv, "backend": jax.default_backend()}
    for grid in args.grids.split(","):
        row = measure(tuple(int(s) for s in grid.split("x")), args.k, args.dense_max_gb, args.ncv)
        rows.append(row)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
        write(out, meta, rows)  # after every size: the largest may run long
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
