"""GPU readiness check: every available matcalc op and its derivatives on the GPU, compared with
the CPU, with a verdict per op.

    python -m benchmarks.gpu_check [--ops ...] [--n 16] [--batch 2] [--out DIR]

For each op (the first benchmark case of each public name) it runs, on the accelerator and on the
CPU: the forward pass, a JVP along a random direction and the gradient of ``<w, f(x)>``, all under
``jit`` on a batch of ``--batch`` problems, in float64 (``--dtype float32`` too). Verdicts:
``ok`` (relative difference within tolerance), ``MISMATCH``, ``FAILS on <platform>`` (e.g. a
CPU-only primitive), and it lists CPU-only primitives (``schur``, ``hessenberg``, non-symmetric
``eig``) found in the jaxpr of ``jit(grad(...))``. JAX's default derivative is checked alongside,
for the table's "CPU-only" claims. With no GPU present it compares CPU against CPU (a dry run
that still exercises every path) and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

CPU_ONLY_PRIMITIVES = ("schur", "hessenberg", "eig")


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in eqn.params.values():
            subs = sub if isinstance(sub, (list, tuple)) else [sub]
            for s in subs:
                inner = getattr(s, "jaxpr", None)
                if inner is not None:
                    names |= _primitives(getattr(inner, "jaxpr", inner))
                elif hasattr(s, "eqns"):
                    names |= _primitives(s)
    return names


def main(argv=None) -> int:  # noqa: C901, PLR0912, PLR0915 (one linear report)
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check")
    p.add_argument("--ops", default=None)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--out", default=None)
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args(argv)
    if os.environ.get("JAX_PLATFORMS") not in (None, ""):
        plats = os.environ["JAX_PLATFORMS"].split(",")
        if "cpu" not in plats:  # the CPU is the reference
            os.environ["JAX_PLATFORMS"] = ",".join([*plats, "cpu"])
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from tests.cases import benchmark_cases, missing, public_ops

    from . import core

    cpu = jax.devices("cpu")[0]
    accel = None
    for plat in ("cuda", "gpu", "rocm", "tpu"):
        try:
            accel = jax.devices(plat)[0]
            break
        except RuntimeError:
            continue
    dry = accel is None
    if dry:
        accel = cpu
    label = f"{accel.platform} ({getattr(accel, 'device_kind', '')})"
    print(f"accelerator: {label}" + ("  — no GPU found: CPU vs CPU dry run" if dry else ""))
    tol = 1e-8 if args.dtype == "float64" else 1e-3

    wanted = args.ops.split(",") if args.ops else None
    first = {}
    for c in benchmark_cases():
        if c.op not in first and not missing(c) and (wanted is None or c.op in wanted):
            first[c.op] = c

    results = []
    for opname, case in first.items():
        n = case.sizes[0] if case.sizes is not None else args.n
        rng = np.random.default_rng(core._seed("gpu", case.id))
        batch = args.batch if case.fixed_batch is None else min(case.fixed_batch, 8)
        args64 = core.build_args(case, n, batch, rng)
        x = core.cast(args64, args.dtype)
        v = core.random_like(x, rng)
        if case.tangent_projection is not None:
            v = jax.tree.map(case.tangent_projection, v)
        res = dict(op=opname, case=case.id, n=n)
        for impl, (disp, f) in core.impl_fns(case).items():
            if impl == "alt" or (impl == "baseline" and args.no_baseline):
                continue
            fb = f if case.batched else jax.vmap(f)
            try:
                out_shape = jax.eval_shape(fb, *x)
            except Exception as e:  # noqa: BLE001
                res[impl] = dict(name=disp, verdict=f"FAILS to trace: {core._short(e)}")
                continue
            w = core.random_like(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), out_shape), rng)
            per_dev = {}
            verdict = "ok"
            for dev in (accel, cpu):
                put = lambda t, dev=dev: jax.device_put(jax.tree.map(jnp.asarray, t), dev)
                vals = {}
                for kind in core.KINDS:
                    fn = jax.jit(core.make_kind_fns(fb, kind))
                    inp = {"fwd": (put(x),), "jvp": (put(x), put(v)), "grad": (put(x), put(w))}[kind]
                    try:
                        out = fn(*inp)
                        vals[kind] = jax.tree.map(np.asarray, out)
                    except Exception as e:  # noqa: BLE001
                        vals[kind] = f"{core.classify_error(e)}: {core._short(e)}"
                per_dev[dev.platform] = vals
            diffs = {}
            a_vals, c_vals = per_dev[accel.platform], per_dev["cpu"]
            for kind in core.KINDS:
                a, c = a_vals.get(kind), c_vals.get(kind)
                if isinstance(a, str) or isinstance(c, str):
                    diffs[kind] = a if isinstance(a, str) else f"CPU: {c}"
                    continue
                la, lc = jax.tree.leaves(a), jax.tree.leaves(c)
                rel = 0.0
                for p_, q_ in zip(la, lc, strict=True):
                    scale = max(float(np.max(np.abs(q_))), 1e-300) if q_.size else 1.0
                    d = float(np.max(np.abs(p_ - q_))) / scale if q_.size else 0.0
                    rel = max(rel, d if np.isfinite(d) else float("inf"))
                diffs[kind] = rel
            for kind, d in diffs.items():
                if isinstance(d, str):
                    verdict = (
                        f"FAILS on {accel.platform} ({kind}): {d}"
                        if not d.startswith("CPU:")
                        else f"fails on CPU too ({kind})"
                    )
                    break
                if not d <= tol:
                    verdict = f"MISMATCH ({kind}: rel diff {d:.1e})"
                    break
            try:
                jaxpr = jax.make_jaxpr(core.make_kind_fns(fb, "grad"))(
                    jax.tree.map(jnp.asarray, x), jax.tree.map(jnp.asarray, w)
                )
                cpu_only = sorted(set(CPU_ONLY_PRIMITIVES) & _primitives(jaxpr.jaxpr))
            except Exception:  # noqa: BLE001
                cpu_only = ["(jaxpr of grad unavailable)"]
            res[impl] = dict(
                name=disp,
                verdict=verdict,
                cpu_only_primitives=cpu_only,
                rel_diff={k: (d if not isinstance(d, str) else None) for k, d in diffs.items()},
            )
        results.append(res)
        o = res.get("ours", {})
        b = res.get("baseline", {})
        rd = o.get("rel_diff") or {}
        worst = max((d for d in rd.values() if d is not None), default=float("nan"))
        line = f"{opname:28s} matcalc: {o.get('verdict', '—')}"
        if o.get("verdict") == "ok":
            line += f" (max rel diff {worst:.0e})"
        if o.get("cpu_only_primitives"):
            line += f"; CPU-only primitives in grad: {', '.join(o['cpu_only_primitives'])}"
        if b:
            line += f" | JAX default ({b['name']}): {b.get('verdict')}"
        print(line)

    uncovered = [o for o in public_ops() if o not in first and (wanted is None or o in wanted)]
    if uncovered:
        print("no benchmark case (not checked): " + ", ".join(uncovered))
    bad = [r["op"] for r in results if r.get("ours", {}).get("verdict") != "ok"]
    print(
        f"{len(results)} ops checked on {label}; {len(bad)} not ok" + (f": {', '.join(bad)}" if bad else "")
    )
    out = args.out or os.path.join(
        os.path.dirname(__file__), "results", f"gpu_check-{accel.platform}-{args.dtype}"
    )
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpu_check.json"), "w") as fh:
        json.dump(
            dict(
                accelerator=label,
                dry_run=dry,
                dtype=args.dtype,
                n=args.n,
                jax_version=jax.__version__,
                results=results,
            ),
            fh,
            indent=1,
            default=str,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
