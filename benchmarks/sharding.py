"""Sharded-batch check: every available public op, sharded over the batch axis with a
``NamedSharding`` under ``jit``, gives the same forward value and gradient as unsharded.

Run with several devices, e.g. on CPU::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        JAX_PLATFORMS=cpu python -m benchmarks.sharding

Exit status 1 if any op differs or fails. ``tests/test_sharding.py`` runs this in a subprocess.
The inputs come from the case registry, ``tests/cases`` (the first benchmark family of each op),
batch = number of devices, n = 4.
"""

from __future__ import annotations

import argparse
import os
import sys


def _first_case_per_op(cases, missing, wanted) -> dict:
    """``{op: its first case}`` in registry order, for the operations matcalc has."""
    first = {}
    for c in cases:
        if c.op not in first and not missing(c) and (wanted is None or c.op in wanted):
            first[c.op] = c
    return first


def _part(cases: dict, part: str | None) -> dict:
    """Every M-th entry of ``cases`` from the K-th on, for ``part = "K/M"`` (all for ``None``)."""
    if not part:
        return cases
    k, m = (int(x) for x in part.split("/"))
    return {name: c for i, (name, c) in enumerate(cases.items()) if i % m == k}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sharding")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--per-device", type=int, default=1, help="batch entries per device")
    p.add_argument("--ops", default=None)
    p.add_argument("--rtol", type=float, default=1e-10)
    p.add_argument(
        "--part",
        default=None,
        help="K/M: check only every M-th operation starting at the K-th (0-based), so "
        "that M processes share the work",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from tests.cases import benchmark_cases, missing, public_ops

    from . import core

    ndev = len(jax.devices())
    if ndev < 2:
        print(f"only {ndev} device: set XLA_FLAGS=--xla_force_host_platform_device_count=8")
        return 2
    batch = ndev * args.per_device
    sharding = core.batch_sharding(ndev)
    wanted = args.ops.split(",") if args.ops else None

    first = _part(_first_case_per_op(benchmark_cases(), missing, wanted), args.part)
    failures = []
    print(f"{ndev} devices, batch {batch}, n {args.n}")
    for opname, case in first.items():
        try:
            n = case.sizes[0] if case.sizes is not None else args.n
            rng = np.random.default_rng(core._seed("sharding", case.id))
            args64 = core.build_args(case, n, batch, rng)
            f = case.ours if case.batched else jax.vmap(case.ours)
            x = jax.tree.map(jnp.asarray, args64)
            out_shape = jax.eval_shape(f, *x)
            w = jax.tree.map(
                jnp.asarray,
                core.random_like(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), out_shape), rng),
            )

            def value_and_grad(a, w, f=f):  # the forward value and the gradient, one executable
                def loss(a):
                    y = f(*a)
                    return core.inner(w, y), y

                (_, y), g = jax.value_and_grad(loss, has_aux=True)(a)
                return y, g

            value_and_grad = jax.jit(value_and_grad)
            ref_y, ref_g = value_and_grad(x, w)
            xs = core._shard(x, sharding, batch)
            ws = core._shard(w, sharding, batch)
            y, g = value_and_grad(xs, ws)
            spread = {
                len(leaf.sharding.device_set) for leaf in jax.tree.leaves(g) if hasattr(leaf, "sharding")
            }
            errs = []
            for a, b in zip(jax.tree.leaves((y, g)), jax.tree.leaves((ref_y, ref_g)), strict=True):
                a, b = np.asarray(a), np.asarray(b)
                scale = max(float(np.max(np.abs(b))), 1e-300) if b.size else 1.0
                errs.append(float(np.max(np.abs(a - b))) / scale if b.size else 0.0)
            err = max(errs)
            ok = err <= args.rtol and all(np.all(np.isfinite(np.asarray(t))) for t in jax.tree.leaves((y, g)))
            where = "sharded" if max(spread, default=1) > 1 else "replicated (gathered by XLA)"
            print(f"{'ok  ' if ok else 'FAIL'} {opname:28s} max rel diff {err:.1e}  gradient {where}")
            if not ok:
                failures.append(opname)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {opname:28s} {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            failures.append(opname)
    uncovered = [o for o in public_ops() if o not in first and (wanted is None or o in wanted)]
    if uncovered and not args.part:
        print("no benchmark case (not checked): " + ", ".join(uncovered))
    print(
        f"checked {len(first)} ops, {len(failures)} failed" + (f": {', '.join(failures)}" if failures else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
