"""Outputs: the console summary, results.json, results.md and PNG plots."""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from typing import Any

IMPL_LABEL = {"ours": "matcalc", "baseline": "JAX default", "alt": "alternative"}


def fmt_ratio(r) -> str:
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "—"
    return f"{r:.2f}×" if r < 100 else f"{r:.0f}×"


def fmt_ratio_spread(r, spread, noisy=False) -> str:
    """``0.52× ±4%``; a ratio whose rounds still disagree after re-measuring is marked ``noisy``."""
    text = fmt_ratio(r)
    if text == "—" or spread is None:
        return text
    text += f" ±{100 * spread / 2:.0f}%"
    return text + " noisy" if noisy else text


def fmt_err(info: dict[str, Any] | None) -> str:
    if not info:
        return "—"
    if info.get("acc_nan"):
        return "NaN"
    e = info.get("err")
    if e is None:
        return "—"
    if isinstance(e, float) and math.isnan(e):
        return "NaN"
    return f"{e:.0e}" if e > 0 else "0"


def fmt_time(t) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def fmt_bytes(b) -> str:
    if b is None:
        return "—"
    if b < 1024:
        return f"{b} B"
    if b < 1024**2:
        return f"{b / 1024:.0f} KiB"
    return f"{b / 1024**2:.1f} MiB"


def status_text(info: dict[str, Any] | None) -> str:
    if not info:
        return "—"
    st = info.get("status", "—")
    if st == "wrong" and info.get("err") is not None:
        return f"wrong (err {info['err']:.0e})"
    return st


def _impl_name(row, comp) -> str:
    if comp is None:
        return "—"
    name = row["impls"][comp].get("name", comp)
    return name if comp == "baseline" else f"alt: {name}"


def _comparator_name(row: dict[str, Any]) -> str:
    comps = row.get("comparators") or {}
    fwd, grad = comps.get("fwd"), comps.get("grad") or row.get("comparator")
    if fwd is None and grad is None:
        return "— (nothing to compare)"
    if fwd is None or fwd == grad or "fwd" not in comps:
        return _impl_name(row, grad)
    if grad is None:
        return f"fwd: {_impl_name(row, fwd)}; derivatives: none"
    return f"fwd: {_impl_name(row, fwd)}; derivatives: {_impl_name(row, grad)}"


def _label(row) -> str:
    return row["op"] + (f" [{row['variant']}]" if row["variant"] else "")


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = [
        "op",
        "input",
        "n",
        "batch",
        "fwd",
        "JVP",
        "fwd+VJP",
        "compile",
        "temp mem",
        "err ours",
        "err JAX",
        "JAX's derivative",
        "ratio vs",
    ]
    with_torch = any("torch" in r.get("impls", {}) for r in rows)
    if with_torch:
        head.append("vs PyTorch fwd / fwd+VJP")
    body = []
    for r in rows:
        if r.get("error"):
            body.append(
                [
                    r["op"],
                    r["variant"],
                    str(r["n"]),
                    str(r["batch"] or "—"),
                    *["—"] * 7,
                    "—",
                    f"error: {r['error']}",
                    *(["—"] if with_torch else []),
                ]
            )
            continue
        im = r["impls"]
        rt = r.get("ratios", {})
        ours = im.get("ours", {})
        ours_ok = ours.get("status", "ok")
        sp, noisy = r.get("spreads", {}), r.get("noisy", [])
        cells = [fmt_ratio_spread(rt.get(k), sp.get(k), k in noisy) for k in ("fwd", "jvp", "grad")]
        cells += [fmt_ratio(rt.get(k)) for k in ("compile", "temp")]
        if ours_ok not in ("ok", "another subgradient"):
            cells[0] = f"ours: {ours_ok}" + (f" ({fmt_err(ours)})" if ours_ok == "wrong" else "")
        body.append(
            [
                r["op"],
                r["variant"] or "random",
                str(r["n"]),
                str(r["batch"] or "—"),
                *cells,
                fmt_err(ours),
                fmt_err(im.get("baseline")),
                status_text(im.get("baseline")) if "baseline" in im else "none in JAX",
                _comparator_name(r),
                *([torch_cell(im.get("torch"))] if with_torch else []),
            ]
        )
    return head, body


def torch_cell(info: dict[str, Any] | None) -> str:
    """matcalc's time over PyTorch's, forward and forward+VJP, measured in the same rounds."""
    if not info:
        return "—"
    if info.get("status") != "ok":
        return str(info.get("status"))
    return f"{fmt_ratio(info.get('fwd_paired_ratio'))} / {fmt_ratio(info.get('grad_paired_ratio'))}"


def markdown_table(head, body) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def text_table(head, body, max_col: int = 34) -> str:
    clip = lambda c: c if len(c) <= max_col else c[: max_col - 1] + "…"
    body = [[clip(c) for c in row] for row in body]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *map(fmt, body)])


def headline(rows: list[dict[str, Any]]) -> list[str]:
    """One line per case: ratios at its largest n, accuracy at the smallest n that has one."""
    by_case: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if not r.get("error"):
            by_case[(r["op"], r["variant"], r["batch"])].append(r)
    out = []
    for (op, variant, batch), rs in by_case.items():
        big = max(rs, key=lambda r: r["n"])
        acc = next(
            (
                r
                for r in sorted(rs, key=lambda r: r["n"])
                if r["impls"].get("ours", {}).get("err") is not None
            ),
            None,
        )
        rt = big.get("ratios", {})
        b = f", batch {batch}" if batch else ""
        line = (
            f"{op}{f' [{variant}]' if variant else ''} (n={big['n']}{b}): "
            f"fwd {fmt_ratio(rt.get('fwd'))}, fwd+VJP {fmt_ratio(rt.get('grad'))}"
            + (" (noisy)" if big.get("noisy") else "")
            + " "
            f"vs {_comparator_name(big)}"
        )
        if big["impls"].get("torch", {}).get("status") == "ok":
            line += f"; vs PyTorch {torch_cell(big['impls']['torch'])}"
        if acc is not None:
            line += (
                f"; derivative error ours {fmt_err(acc['impls'].get('ours'))}, "
                f"JAX {fmt_err(acc['impls'].get('baseline'))} (n={acc['n']})"
            )
        base = big["impls"].get("baseline")
        if acc is not None and acc["impls"].get("baseline", {}).get("status") not in ("ok", None):
            base = acc["impls"]["baseline"]
        if base and base.get("status") not in ("ok", None):
            line += f"; JAX's derivative: {status_text(base)}"
        out.append(line)
    return out


def write_json(path, meta, rows, skipped, uncovered):
    with open(path, "w") as f:
        json.dump(
            dict(meta=meta, rows=rows, skipped=skipped, uncovered_ops=uncovered),
            f,
            indent=1,
            default=_json_default,
        )


def _json_default(x):
    try:
        return float(x)
    except Exception:  # noqa: BLE001
        return str(x)


def write_markdown(path, meta, rows, skipped, uncovered, cases_info):
    head, body = table_rows(rows)
    L = [f"# matcalc benchmarks — {meta['platform']} {meta['dtype']}", ""]
    profile = meta.get("profile", "quick" if meta["quick"] else "full")
    L.append(
        f"`{meta['command']}` · JAX {meta['jax_version']} · {meta['device']} · "
        f"{meta['cpu_count']} CPU cores · {meta['date']} · run took "
        f"{meta['duration_s']:.0f} s · {profile} profile"
    )
    L.append("")
    L.append(
        "Ratios are **matcalc / comparator**, measured in the same run with the calls "
        "interleaved (below 1 means matcalc is faster or smaller). The comparator is JAX's "
        "default derivative of the same function; where that is missing, NaN, wrong or "
        "CPU-only, it is the named alternative a user could write. `fwd+VJP` is "
        "`jit(grad(<w, f(x)>))`, `compile` its compile time, `temp mem` its compiled "
        "temporary memory (`memory_analysis().temp_size_in_bytes`). `err` is the relative "
        "error of the derivative (JVP along a random direction and the VJP through "
        "`<Jᵀw, v> = <w, Jv>`, the larger of the two) against the reference listed below "
        "(50-digit mpmath at small n). A time ratio reads `0.52× ±4%`: the median of the "
        "per-round ratios and half their interquartile range; where the rounds disagree by "
        "more than 25 % the row is measured again with twice the rounds (at most twice), and "
        "a ratio still that spread is marked `noisy`: read it as unmeasured."
    )
    L += ["", "## Headline", ""]
    L += [f"- {h}" for h in headline(rows)]
    L += ["", "## Table", "", markdown_table(head, body), ""]
    L += ["## Absolute times (median per call)", ""]
    th = [
        "op",
        "input",
        "n",
        "impl",
        "fwd",
        "JVP",
        "fwd+VJP",
        "compile fwd+VJP",
        "temp fwd",
        "temp fwd+VJP",
        "status",
    ]
    tb = []
    for r in rows:
        for impl in ("ours", "baseline", "alt"):
            info = r["impls"].get(impl)
            if not info:
                continue
            tb.append(
                [
                    r["op"],
                    r["variant"] or "random",
                    str(r["n"]),
                    f"{IMPL_LABEL[impl]}: {info.get('name', '')}",
                    fmt_time(info.get("fwd_s")),
                    fmt_time(info.get("jvp_s")),
                    fmt_time(info.get("grad_s")),
                    fmt_time(info.get("compile_grad_s")),
                    fmt_bytes(info.get("temp_fwd_bytes")),
                    fmt_bytes(info.get("temp_grad_bytes")),
                    status_text(info),
                ]
            )
    L += [markdown_table(th, tb), ""]
    L += ["## Cases", ""]
    ch = ["op", "input", "JAX default", "alternative", "accuracy reference", "note"]
    L += [markdown_table(ch, cases_info), ""]
    errs = [
        (r, impl, k, v)
        for r in rows
        for impl, info in r["impls"].items()
        for k, v in info.items()
        if k.endswith("_error")
    ]
    if errs:
        L += ["## Failures (first line of each error)", ""]
        seen = set()
        for r, impl, k, v in errs:
            key = (r["op"], r["variant"], impl, k)
            if key in seen:
                continue
            seen.add(key)
            L.append(f"- {_label(r)} · {IMPL_LABEL[impl]} · {k[:-6]}: `{v}`")
        L.append("")
    if skipped:
        L += ["## Skipped", ""] + [f"- {s['case']}: {s['reason']}" for s in skipped] + [""]
    if uncovered:
        L += ["## Public operations without a benchmark case", "", ", ".join(f"`{u}`" for u in uncovered), ""]
    L += ["## Plots", ""]
    for name in meta.get("plots", []):
        L.append(f"![{name}]({name})")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


TIME_KINDS = (("fwd_s", "forward"), ("jvp_s", "JVP"), ("grad_s", "forward + VJP"))


def time_vs_n_series(rows) -> dict[str, dict[tuple, dict[str, list]]]:
    """The lines of one op's time-vs-n figure: ``{panel title: {(variant, batch): {impl: [(n,
    seconds), ...]}}}``, only for cases timed at two or more sizes, and only panels with a line
    (an op whose cases each have one size, or that times no JVP, gets no empty panel)."""
    series: dict[str, dict[tuple, dict[str, list]]] = {}
    for key, title in TIME_KINDS:
        lines: dict[tuple, dict[str, list]] = {}
        for case in sorted({(r["variant"], r["batch"]) for r in rows}, key=str):
            sel = sorted((r for r in rows if (r["variant"], r["batch"]) == case), key=lambda r: r["n"])
            for impl in ("ours", "baseline", "alt"):
                timed = [r for r in sel if r["impls"].get(impl, {}).get(key) is not None]
                pts = [(r["n"], r["impls"][impl][key]) for r in timed]
                if len({n for n, _ in pts}) >= 2:
                    lines.setdefault(case, {})[impl] = pts
        if lines:
            series[title] = lines
    return series


def write_plots(outdir, rows, meta) -> list[str]:  # noqa: C901, PLR0912, PLR0915
    """PNG plots (matplotlib, Agg): time vs n per op (cases timed at two or more sizes); fwd+VJP
    times and ratios at the largest n (every case, one figure each); accuracy."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except Exception:  # noqa: BLE001
        return []
    written = []
    by_op: dict[str, list] = defaultdict(list)
    for r in rows:
        if not r.get("error"):
            by_op[r["op"]].append(r)
    styles = {"ours": "-", "baseline": "--", "alt": ":"}
    for op, rs in by_op.items():
        series = time_vs_n_series(rs)
        if not series:  # no case timed at two sizes (e.g. --quick): times.png shows them
            continue
        fig, axes = plt.subplots(1, len(series), figsize=(4.4 * len(series), 3.8), squeeze=False)
        variants = sorted({key for lines in series.values() for key in lines}, key=str)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, (title, lines) in zip(axes[0], series.items(), strict=True):
            for (variant, batch), by_impl in lines.items():
                vi = variants.index((variant, batch))
                for impl, pts in by_impl.items():
                    xs, ys = zip(*pts, strict=True)
                    lab = f"{IMPL_LABEL[impl]}{f' [{variant}]' if variant else ''}"
                    if batch:
                        lab += f" ×{batch}"
                    ax.plot(xs, ys, styles[impl], marker="o", color=colors[vi % len(colors)], label=lab)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("n")
            ax.set_ylabel("seconds (median)")
            ax.set_title(f"{op}: {title}")
            ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes[0][-1].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.suptitle(f"{meta['platform']} {meta['dtype']}", fontsize=9)
        fig.tight_layout()
        name = f"time_{_safe(op)}.png"
        fig.savefig(os.path.join(outdir, name), dpi=90, bbox_inches="tight")
        plt.close(fig)
        written.append(name)

    # accuracy: smallest n with an error per case
    acc = []
    seen = set()
    for r in sorted(rows, key=lambda r: r["n"]):
        key = (r["op"], r["variant"], r["batch"])
        if key in seen or r.get("error"):
            continue
        if any(i.get("err") is not None or i.get("acc_nan") for i in r["impls"].values()):
            seen.add(key)
            acc.append(r)
    if acc:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(acc) + 1.5))
        labels = [f"{_label(r)} n={r['n']}" for r in acc]
        top = 1.0
        for k, impl in enumerate(("ours", "baseline", "alt")):
            vals, nan_idx = [], []
            for i, r in enumerate(acc):
                info = r["impls"].get(impl, {})
                e = info.get("err")
                if info.get("acc_nan") or (isinstance(e, float) and math.isnan(e)):
                    vals.append(top)
                    nan_idx.append(i)
                else:
                    vals.append(max(e, 1e-17) if e is not None else 0)
            ys = [i + (k - 1) * 0.27 for i in range(len(acc))]
            bars = ax.barh(ys, vals, height=0.25, label=IMPL_LABEL[impl])
            for i in nan_idx:
                bars[i].set_hatch("//")
                ax.text(top, ys[i], " NaN", va="center", fontsize=7)
        ax.set_yticks(range(len(acc)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlim(1e-17, 10)
        ax.invert_yaxis()
        ax.set_xlabel("relative error of the derivative (log)")
        ax.set_title(f"Derivative accuracy — {meta['platform']} {meta['dtype']}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
        ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "accuracy.png"), dpi=90, bbox_inches="tight")
        plt.close(fig)
        written.append("accuracy.png")

    # fwd+VJP ratio at the largest n per case
    big: dict[tuple, dict] = {}
    for r in rows:
        key = (r["op"], r["variant"], r["batch"])
        if r.get("ratios", {}).get("grad") is not None and (key not in big or r["n"] > big[key]["n"]):
            big[key] = r
    if big:
        rs = list(big.values())
        labels = [f"{_label(r)} n={r['n']}" + (f" ×{r['batch']}" if r["batch"] else "") for r in rs]

        def save_barh(fig, ax, xlabel, title, name):
            ax.set_yticks(range(len(rs)))
            ax.set_yticklabels(labels, fontsize=7)
            ax.set_xscale("log")
            # labels at each decade (1, 2, 5 within one when the axis spans little more), none at
            # the other minor ticks: they run into each other
            lo, hi = ax.get_xlim()
            subs = (1.0,) if hi / lo > 30 else (1.0, 2.0, 5.0)
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=subs))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.invert_yaxis()
            ax.set_xlabel(xlabel)
            ax.set_title(f"{title} — {meta['platform']} {meta['dtype']}")
            ax.grid(True, axis="x", alpha=0.3)
            fig.tight_layout()
            fig.savefig(os.path.join(outdir, name), dpi=90, bbox_inches="tight")
            plt.close(fig)
            written.append(name)

        # absolute fwd+VJP times at that n, every implementation
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(rs) + 1.5))
        for k, impl in enumerate(("ours", "baseline", "alt")):
            vals = [r["impls"].get(impl, {}).get("grad_s") or 0 for r in rs]
            ax.barh([i + (k - 1) * 0.27 for i in range(len(rs))], vals, height=0.25, label=IMPL_LABEL[impl])
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
        save_barh(
            fig, ax, "fwd+VJP time, seconds (median, log)", "fwd+VJP time at the largest n", "times.png"
        )
        # the ratio matcalc / comparator
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(rs) + 1.5))
        vals = [r["ratios"]["grad"] for r in rs]
        ax.barh(range(len(rs)), vals, color=["tab:green" if v <= 1 else "tab:red" for v in vals])
        ax.axvline(1.0, color="k", lw=1)
        save_barh(
            fig,
            ax,
            "fwd+VJP time, matcalc / comparator (log; < 1 is faster)",
            "fwd+VJP ratio at the largest n",
            "ratios.png",
        )
    return written
