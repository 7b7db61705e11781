"""``python -m benchmarks``: every matcalc rule against JAX's default derivative.

Usage::

    python -m benchmarks [--quick | --full] [--ops inv,det,...] [--sizes 32,256]
                         [--dtype float64] [--batch N] [--devices N] [--out DIR] [--list]

Three profiles: the default (every operation's representative cases at n = 8 for accuracy and
n = 256 for time, forward, JVP and forward+VJP; about 9 minutes on 2 CPU cores), ``--quick``
(CI-size: n = 128, forward and forward+VJP, short timing loops) and ``--full`` (every case and
variant at n = 8, 32, 128, 256, 512 with long timing loops; about an hour).

Runs on CPU unless ``JAX_PLATFORMS`` is set (``JAX_PLATFORMS=cuda python -m benchmarks`` on a GPU).
Writes ``results.json``, ``results.md`` and PNG plots to
``benchmarks/results/<platform>-<dtype>/`` (or ``--out``) and prints a summary table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time

QUICK_SIZES = (8, 128)
DEFAULT_SIZES = (8, 256)
FULL_SIZES = (8, 32, 128, 256, 512)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile = p.add_mutually_exclusive_group()
    profile.add_argument(
        "--quick",
        action="store_true",
        help=f"representative cases, sizes {','.join(map(str, QUICK_SIZES))}, "
        "short timing, no JVP timing (a few minutes on 2 CPU cores)",
    )
    profile.add_argument(
        "--full",
        action="store_true",
        help=f"every case and variant, sizes {','.join(map(str, FULL_SIZES))}, "
        "long timing (about an hour on 2 CPU cores)",
    )
    p.add_argument(
        "--ops",
        default=None,
        help="comma-separated public names (inv,det,hermitian.sqrtm) or areas "
        "(hermitian matches hermitian.*); default: all",
    )
    p.add_argument(
        "--sizes",
        default=None,
        help=f"comma-separated n (default {','.join(map(str, DEFAULT_SIZES))}; "
        f"--quick: {','.join(map(str, QUICK_SIZES))}; "
        f"--full: {','.join(map(str, FULL_SIZES))})",
    )
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument(
        "--batch", type=int, default=None, help="stack N independent problems (leading batch axis)"
    )
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="shard the batch over N devices (NamedSharding under jit); on CPU this simulates N host devices",
    )
    p.add_argument("--out", default=None, help="output directory")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "--no-timing",
        action="store_true",
        help="accuracy, status, compile time and memory only (no timing loops)",
    )
    p.add_argument(
        "--all-variants",
        action="store_true",
        help="without --full, also run the variants marked as not representative",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p.parse_args(argv)


def setup_env(args) -> None:
    """Environment before JAX is imported: CPU by default, simulated devices for --devices."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if args.devices > 1 and os.environ["JAX_PLATFORMS"] == "cpu":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_force_host_platform_device_count={args.devices}"
            ).strip()


def select_cases(cases, ops: str | None, representative: bool, all_variants: bool):
    """``--ops`` picks by name or area; otherwise the default and ``--quick`` profiles take the
    representative cases (``Case.quick``) and ``--full`` (or ``--all-variants``) all."""
    if ops:
        wanted = [o.strip() for o in ops.split(",") if o.strip()]
        cases = [c for c in cases if any(c.op == w or c.op.startswith(w + ".") for w in wanted)]
    elif representative and not all_variants:
        cases = [c for c in cases if c.quick]
    return cases


def profile_settings(args, core):
    """Sizes and timing settings of the chosen profile."""
    if args.quick:
        return QUICK_SIZES, core.Settings.quick_settings()
    if args.full:
        return FULL_SIZES, core.Settings()
    return DEFAULT_SIZES, core.Settings.default_settings()


def main(argv=None) -> int:  # noqa: C901, PLR0912, PLR0915 (one linear CLI flow)
    args = parse_args(argv)
    setup_env(args)

    import jax

    jax.config.update("jax_enable_x64", True)

    from tests.cases import benchmark_cases, missing, public_ops

    from . import core, report

    cases = benchmark_cases()
    if args.list:
        for c in cases:
            miss = missing(c)
            print(
                f"{c.id:40s} quick={c.quick!s:5s} "
                + (f"(skipped: matcalc lacks {', '.join(miss)})" if miss else "")
            )
        return 0

    sizes, settings = profile_settings(args, core)
    if args.sizes:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    settings.dtype = args.dtype
    if args.sizes:  # explicit sizes: time every row (quick mode otherwise times only n >= 16)
        settings.time_min_n = 0
    if args.no_timing:
        settings.time_min_n = 1 << 30
    settings.devices = args.devices
    batch = args.batch
    if args.devices > 1 and batch is None:
        batch = args.devices
    if batch is not None and args.devices > 1 and batch % args.devices:
        print(f"--batch {batch} is not divisible by --devices {args.devices}", file=sys.stderr)
        return 2
    settings.batch = batch
    sharding = core.batch_sharding(args.devices)

    platform = jax.default_backend()
    suffix = (f"-batch{batch}" if batch else "") + (f"-dev{args.devices}" if args.devices > 1 else "")
    outdir = args.out or os.path.join(
        os.path.dirname(__file__), "results", f"{platform}-{args.dtype}{suffix}"
    )
    os.makedirs(outdir, exist_ok=True)

    selected = select_cases(cases, args.ops, not args.full, args.all_variants)
    if args.ops and not selected:
        print(f"no benchmark case matches --ops {args.ops}", file=sys.stderr)
        return 2
    skipped, tasks = [], []
    for c in selected:
        miss = missing(c)
        if miss:
            skipped.append(dict(case=c.id, reason=f"matcalc has no {', '.join(miss)} yet"))
            continue
        for n in core.applicable_sizes(c, sizes, not args.full, settings.time_min_n):
            tasks.append((c, n))
    covered = {c.op for c in cases if not missing(c)}
    uncovered = [o for o in public_ops() if o not in covered]

    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the dev extra; degrade to plain lines
        tqdm = None

    t_start = time.perf_counter()
    rows = []
    bar = tqdm(tasks, desc="benchmarks", unit="row", file=sys.stderr, dynamic_ncols=True) if tqdm else tasks
    for c, n in bar:
        label = f"{c.id} n={n}"
        if tqdm:
            bar.set_postfix_str(label)
        else:
            print(f"[{len(rows) + 1}/{len(tasks)}] {label}", file=sys.stderr, flush=True)
        shard = sharding
        fb = c.fixed_batch if c.fixed_batch is not None else batch
        if shard is not None and (fb is None or fb % args.devices):
            shard = None
        t_row = time.perf_counter()
        try:
            row = core.run_row(c, n, settings, shard)
        except Exception as e:  # noqa: BLE001  (a broken case must not stop the run)
            row = core.Row(
                c.op,
                c.variant,
                n,
                fb,
                args.dtype,
                c.degenerate,
                error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}",
            )
        rows.append(dict(row.to_json(), row_s=round(time.perf_counter() - t_row, 2)))
    duration = time.perf_counter() - t_start

    dev = jax.devices()[0]
    meta = dict(
        platform=platform,
        dtype=args.dtype,
        device=getattr(dev, "device_kind", str(dev)),
        n_devices=args.devices,
        jax_version=jax.__version__,
        matcalc_version=getattr(__import__("matcalc"), "__version__", "?"),
        cpu_count=os.cpu_count(),
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        command="python -m benchmarks "
        + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        quick=args.quick,
        profile="quick" if args.quick else "full" if args.full else "default",
        sizes=list(sizes),
        batch=batch,
        duration_s=duration,
        settings=dict(
            min_sample_s=settings.min_sample_s,
            min_rounds=settings.min_rounds,
            max_rounds=settings.max_rounds,
            budget_s=settings.budget_s,
        ),
    )
    plots = [] if args.no_plots else report.write_plots(outdir, rows, meta)
    meta["plots"] = plots
    cases_info = []
    seen = set()
    for c in selected:
        if c.id in seen:
            continue
        seen.add(c.id)
        ref = (c.ref_name or "closed form") if c.ref_grad else (f"mpmath (n ≤ {c.mp_max_n})" if c.mp else "—")
        cases_info.append(
            [c.op, c.variant or "random", c.baseline_name or "none", c.alt_name or "—", ref, c.note]
        )
    report.write_json(os.path.join(outdir, "results.json"), meta, rows, skipped, uncovered)
    report.write_markdown(os.path.join(outdir, "results.md"), meta, rows, skipped, uncovered, cases_info)

    head, body = report.table_rows(rows)
    print()
    print(report.text_table(head, body))
    print()
    print("Headline (ratios matcalc / comparator at the largest n):")
    for h in report.headline(rows):
        print("  " + h)
    if skipped:
        print(
            f"\nSkipped {len(skipped)} case(s) whose operation is not in matcalc yet: "
            + ", ".join(sorted({s["case"].split("[")[0] for s in skipped}))
        )
    if uncovered:
        print("Public operations without a benchmark case: " + ", ".join(uncovered))
    print(f"\n{len(rows)} rows in {duration:.0f} s → {outdir}/results.md, results.json, {len(plots)} plots")
    return 0
