"""Measurement core: inputs, timing (interleaved medians), compile time, compiled memory, accuracy.

Everything here is platform-neutral: the same code runs on CPU and GPU, sharded or not.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tests.cases import Case, missing

IMPLS = ("ours", "baseline", "alt")
# A paired ratio whose rounds spread wider (interquartile range / median) is re-measured, then
# flagged as noisy in the tables.
NOISY_SPREAD = 0.25
KINDS = ("fwd", "jvp", "grad")


@dataclass
class Settings:
    dtype: str = "float64"
    batch: int | None = None
    devices: int = 1
    quick: bool = False
    min_sample_s: float = 0.02  # each timing sample repeats the call until it lasts this long
    min_rounds: int = 7
    max_rounds: int = 31
    budget_s: float = 3.0  # per (row, kind): stop adding rounds after this
    mp_dps: int = 50
    accuracy: bool = True
    time_min_n: int = 0  # rows with n below this are accuracy-only (no timing, no fwd compile)
    timed_kinds: tuple[str, ...] = KINDS  # what the timed rows compile and time
    noisy_spread: float = NOISY_SPREAD
    vjp_only_below_timing: bool = False  # rows below time_min_n compile the VJP alone

    @classmethod
    def default_settings(cls, **kw) -> Settings:
        """The default profile: accuracy-only small rows, every kind timed at the large size."""
        kw.setdefault("time_min_n", 16)
        kw.setdefault("vjp_only_below_timing", True)
        return cls(min_sample_s=0.01, min_rounds=5, max_rounds=15, budget_s=0.6, **kw)

    @classmethod
    def quick_settings(cls, **kw) -> Settings:
        kw.setdefault("time_min_n", 16)
        kw.setdefault("timed_kinds", ("fwd", "grad"))  # the JVP is timed by the other profiles
        kw.setdefault("vjp_only_below_timing", True)
        return cls(quick=True, min_sample_s=0.004, min_rounds=4, max_rounds=9, budget_s=0.25, **kw)


# ---------------------------------------------------------------------------------------------
# inputs


def _seed(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _real_dtype(dtype: str):
    return jnp.dtype(dtype)


def cast(tree, dtype: str):
    """Cast float leaves to ``dtype`` and complex leaves to the matching complex dtype."""
    real = np.dtype(dtype)
    cplx = np.result_type(real, np.complex64)

    def one(x):
        x = np.asarray(x)
        if np.iscomplexobj(x):
            return x.astype(cplx)
        if np.issubdtype(x.dtype, np.floating):
            return x.astype(real)
        return x

    return jax.tree.map(one, tree)


def build_args(case: Case, n: int, batch: int | None, rng: np.random.Generator):
    """float64 NumPy arguments for one row (stacked over ``batch`` when given)."""
    if batch is None:
        return tuple(case.build(n, rng))
    if case.batch_build is not None:
        return tuple(case.batch_build(n, batch, rng))
    probs = [tuple(case.build(n, rng)) for _ in range(batch)]
    return jax.tree.map(lambda *xs: np.stack(xs), *probs)


def random_like(tree, rng: np.random.Generator):
    def one(x):
        shape, dtype = x.shape, np.dtype(x.dtype)
        if np.issubdtype(dtype, np.complexfloating):
            return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    return jax.tree.map(one, tree)


def inner(w, out):
    """Real inner product ``<w, out>`` summed over pytree leaves (the benchmark's scalar loss)."""
    total = 0.0
    for a, b in zip(jax.tree.leaves(w), jax.tree.leaves(out), strict=True):
        if jnp.iscomplexobj(b) or jnp.iscomplexobj(a):
            total = total + jnp.sum(jnp.real(jnp.conj(a) * b))
        else:
            total = total + jnp.sum(a * b)
    return total


def impl_fns(case: Case) -> dict[str, tuple[str, Callable]]:
    """``{impl: (display name, fn)}`` for the implementations this case has."""
    out = {"ours": (f"matcalc.{case.op}", case.ours)}
    if case.baseline is not None:
        out["baseline"] = (case.baseline_name, case.baseline)
    if case.alt is not None:
        out["alt"] = (case.alt_name, case.alt)
    return out


def make_kind_fns(f: Callable, kind: str):
    if kind == "fwd":
        return lambda args: f(*args)
    if kind == "jvp":
        return lambda args, v: jax.jvp(lambda *a: f(*a), args, v)
    if kind == "grad":
        return lambda args, w: jax.grad(lambda a: inner(w, f(*a)))(args)
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# classification of failures


def classify_error(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}"
    low = msg.lower()
    if (
        "differentiation rule for" in low
        or "derivatives of non-symmetric eigenvectors" in low
        or "reverse-mode differentiation does not work" in low
        or "can't apply forward-mode autodiff" in low
        or "custom_vjp" in low
    ):
        return "no rule"
    if isinstance(e, NotImplementedError) and ("cpu" in low or "platform" in low):
        return "CPU-only"
    if (
        "only implemented on" in low
        or "not supported on" in low
        or "cpu only" in low
        or "unsupported platform" in low
        or "platform" in low
        and "lowering" in low
    ):
        return "CPU-only"
    if isinstance(e, NotImplementedError):
        return "no rule"
    return "error"


def _short(e: BaseException) -> str:
    s = f"{type(e).__name__}: {e}".splitlines()[0]
    return s[:160]


# ---------------------------------------------------------------------------------------------
# timing


def _run(c, inputs, k: int) -> float:
    t0 = time.perf_counter()
    out = None
    for _ in range(k):
        out = c(*inputs)
    jax.block_until_ready(out)
    return time.perf_counter() - t0


def time_interleaved(calls: dict[str, tuple[Callable, tuple]], s: Settings, pair_with: str | None = None):
    """Time compiled callables round-robin (ours, baseline, alt, then reversed) so that machine
    drift hits all of them alike.

    Returns ``(median, minimum, paired, spread)``: the median and minimum seconds per call of
    each; for each other callable the median over rounds of ``t[pair_with] / t[other]`` measured
    in the same round (the drift-cancelling ratio the tables report), and that ratio's spread
    across rounds, the interquartile range over the median.
    """
    number = {}
    for name, (c, inp) in calls.items():
        _run(c, inp, 1)  # warm-up (the first call after compile can be slower)
        t = _run(c, inp, 1)
        number[name] = max(1, min(10_000, int(math.ceil(s.min_sample_s / max(t, 1e-7)))))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    start = time.perf_counter()
    names = list(calls)
    for r in range(s.max_rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            c, inp = calls[name]
            samples[name].append(_run(c, inp, number[name]) / number[name])
        if r + 1 >= s.min_rounds and time.perf_counter() - start > s.budget_s:
            break
    med = {name: float(np.median(v)) for name, v in samples.items()}
    mins = {name: float(np.min(v)) for name, v in samples.items()}
    paired, spread = {}, {}
    if pair_with in samples:
        base = np.asarray(samples[pair_with])
        for name, v in samples.items():
            if name != pair_with:
                ratios = base / np.asarray(v)
                paired[name] = float(np.median(ratios))
                q25, q75 = np.percentile(ratios, [25, 75])
                spread[name] = float((q75 - q25) / paired[name]) if paired[name] else None
    return med, mins, paired, spread


def time_until_steady(calls, s: Settings, pair_with: str | None = None):
    """``time_interleaved``, measured again with twice the rounds and budget (at most twice) while
    some paired ratio's spread exceeds ``s.noisy_spread``; the last measurement is kept, and
    ``remeasured`` counts the repeats. A ratio still spread that wide is flagged as noisy."""
    result = time_interleaved(calls, s, pair_with)
    remeasured = 0
    while remeasured < 2 and any(v is not None and v > s.noisy_spread for v in result[3].values()):
        remeasured += 1
        longer = dataclasses.replace(
            s, min_rounds=2 * s.min_rounds, max_rounds=2 * s.max_rounds, budget_s=2 * s.budget_s
        )
        result = time_interleaved(calls, longer, pair_with)
    return (*result, remeasured)


def _temp_bytes(compiled) -> int | None:
    try:
        m = compiled.memory_analysis()
    except Exception:
        return None
    if m is None:
        return None
    t = getattr(m, "temp_size_in_bytes", None)
    return int(t) if t is not None else None


def _all_finite(tree) -> bool:
    for x in jax.tree.leaves(tree):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x)):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# accuracy references


def _mp_flat(x) -> list:
    import mpmath as mp

    if isinstance(x, (list, tuple)):
        return [y for item in x for y in _mp_flat(item)]
    if isinstance(x, mp.matrix):
        return [x[i, j] for i in range(x.rows) for j in range(x.cols)]
    return [x]


def mp_directional(fn: Callable, args, v, dps: int = 50) -> np.ndarray:
    """Directional derivative of the mpmath function ``fn`` at ``args`` along ``v``: a central
    difference at ``dps`` digits with step ``10^(-dps/2.5)`` (error far below float64's)."""
    import mpmath as mp

    from tests.cases import mp_matrix

    with mp.workdps(dps):
        h = mp.mpf(10) ** (-int(dps / 2.5))

        def at(sign):
            xs = []
            for a, t in zip(args, v, strict=True):
                a, t = np.asarray(a), np.asarray(t)
                if a.ndim == 0:
                    xs.append(mp.mpf(float(a)) + sign * h * mp.mpf(float(t)))
                else:
                    xs.append(mp_matrix(a) + (sign * h) * mp_matrix(t))
            return _mp_flat(fn(*xs))

        plus, minus = at(1), at(-1)
        d = [(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)]
        if any(isinstance(x, mp.mpc) for x in d):
            return np.array([complex(x) for x in d])
        return np.array([float(x) for x in d])


def _flat(tree) -> np.ndarray:
    leaves = [np.asarray(x).reshape(-1) for x in jax.tree.leaves(tree)]
    if not leaves:
        return np.zeros(0)
    cplx = any(np.iscomplexobj(x) for x in leaves)
    return np.concatenate([x.astype(np.complex128 if cplx else np.float64) for x in leaves])


def _rel(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> float:
    if not (np.all(np.isfinite(a))):
        return float("nan")
    denom = max(float(np.linalg.norm(b)), floor, np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - b) / denom)


def _real_dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.real(np.vdot(a, b)))


# ---------------------------------------------------------------------------------------------
# one row


@dataclass
class Row:
    op: str
    variant: str
    n: int
    batch: int | None
    dtype: str
    degenerate: bool
    impls: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparator: str | None = None
    comparators: dict[str, str | None] = field(default_factory=dict)
    ratios: dict[str, float | None] = field(default_factory=dict)
    spreads: dict[str, float | None] = field(default_factory=dict)  # of each paired time ratio
    noisy: list[str] = field(default_factory=list)  # time ratios still spread past NOISY_SPREAD
    reference: str = ""
    note: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(
            op=self.op,
            variant=self.variant,
            n=self.n,
            batch=self.batch,
            dtype=self.dtype,
            degenerate=self.degenerate,
            impls=self.impls,
            comparator=self.comparator,
            comparators=self.comparators,
            ratios=self.ratios,
            spreads=self.spreads,
            noisy=self.noisy,
            reference=self.reference,
            note=self.note,
            error=self.error,
        )


def _shard(tree, sharding, batch):
    if sharding is None:
        return tree

    def one(x):
        if x.ndim >= 1 and x.shape[0] == batch:
            return jax.device_put(x, sharding)
        return jax.device_put(x, jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec()))

    return jax.tree.map(one, tree)


def batch_sharding(devices: int):
    """A ``NamedSharding`` splitting the leading (batch) axis over ``devices`` devices."""
    if devices <= 1:
        return None
    devs = jax.devices()
    if len(devs) < devices:
        raise RuntimeError(
            f"--devices {devices}: only {len(devs)} {devs[0].platform} devices "
            "visible (on CPU set XLA_FLAGS=--xla_force_host_platform_device_count)"
        )
    mesh = jax.sharding.Mesh(np.array(devs[:devices]), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def run_row(case: Case, n: int, s: Settings, sharding=None) -> Row:  # noqa: C901, PLR0912, PLR0915
    batch = case.fixed_batch if case.fixed_batch is not None else s.batch
    row = Row(case.op, case.variant, n, batch, s.dtype, case.degenerate, note=case.note)
    nonsmooth = bool(case.extra.get("nonsmooth"))
    # rows that compare variants of one problem (an ODE's adjoints) name a shared input
    rng = np.random.default_rng(_seed(case.extra.get("input_id", case.id), n, batch))
    args64 = build_args(case, n, batch, rng)
    args = cast(args64, s.dtype)
    fns = impl_fns(case)
    wrap = (lambda f: f) if (batch is None or case.batched) else jax.vmap

    # tangent and cotangent (shapes from ours, else the baseline)
    out_shape = None
    for name in ("ours", "baseline", "alt"):
        if name in fns:
            try:
                out_shape = jax.eval_shape(wrap(fns[name][1]), *args)
                break
            except Exception as e:  # noqa: BLE001
                row.impls.setdefault(name, {})["trace_error"] = _short(e)
    if out_shape is None:
        row.error = "no implementation could be traced"
        return row
    v64 = random_like(args64, rng)
    if case.tangent_projection is not None:
        v64 = jax.tree.map(case.tangent_projection, v64)
    w64 = random_like(
        jax.tree.map(lambda x: np.zeros(x.shape, np.result_type(x.dtype, np.float64)), out_shape), rng
    )
    v, w = cast(v64, s.dtype), cast(w64, s.dtype)
    args_d, v_d, w_d = (_shard(jax.tree.map(jnp.asarray, t), sharding, batch) for t in (args, v, w))
    inputs = {"fwd": (args_d,), "jvp": (args_d, v_d), "grad": (args_d, w_d)}

    compiled: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    outs: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    # ``n`` of a case with ``extra["timed_at_any_n"]`` is not a matrix size (an ODE's state dimension):
    # its rows are timed in every profile that times anything.
    timed = n >= s.time_min_n or (bool(case.extra.get("timed_at_any_n")) and s.time_min_n <= 16)
    kinds = s.timed_kinds if timed else ("jvp", "grad")
    compile_options = None
    if not timed and s.vjp_only_below_timing:
        # accuracy-only rows (default and --quick): the VJP alone (checked against the reference
        # through the transpose identity), compiled with LLVM's cheaper passes; no compile times.
        kinds = ("grad",)
        compile_options = {"xla_llvm_disable_expensive_passes": True}
    for name, (disp, f) in fns.items():
        info = row.impls.setdefault(name, {})
        info.update(name=disp, status="ok")
        fb = wrap(f)
        for kind in kinds:
            try:
                t0 = time.perf_counter()
                lowered = jax.jit(make_kind_fns(fb, kind)).lower(*inputs[kind])
                c = lowered.compile(compiler_options=compile_options)
                if compile_options is None:
                    info[f"compile_{kind}_s"] = time.perf_counter() - t0
                info[f"temp_{kind}_bytes"] = _temp_bytes(c)
                out = c(*inputs[kind])
                jax.block_until_ready(out)
                info[f"{kind}_status"] = "ok"
                if kind != "fwd" and not _all_finite(out):
                    info[f"{kind}_status"] = "NaN"
                compiled[kind][name] = c
                if kind != "fwd":
                    outs[kind][name] = out[1] if kind == "jvp" else out
            except Exception as e:  # noqa: BLE001
                info[f"{kind}_error"] = _short(e)
                info[f"{kind}_status"] = classify_error(e)
                if kind == "fwd" or (kind == "jvp" and "grad" not in kinds):
                    break

    # accuracy on an unbatched problem (first of the batch)
    if s.accuracy:
        try:
            _accuracy(case, n, s, row, fns, args64, v64, w64, batch, outs)
        except Exception as e:  # noqa: BLE001
            row.reference = f"accuracy failed: {_short(e)}"

    # statuses: the forward's failure, else the gradient's, else the accuracy verdict, else the
    # JVP's (reverse-only rules such as ODE adjoints may legitimately lack a JVP)
    tol = 1e-6 if s.dtype == "float64" else 1e-2
    for info in row.impls.values():
        err = info.get("err")
        quality = "ok"
        if info.get("acc_nan") or info.get("grad_status") == "NaN" or info.get("jvp_status") == "NaN":
            quality = "NaN"
        elif err is not None and not (err <= tol):
            quality = "another subgradient" if nonsmooth else "wrong"
        info["quality"] = quality
        status = "ok"
        for key in ("fwd_status", "grad_status", "quality", "jvp_status"):
            st = info.get(key, "ok")
            if st in ("ok", "NaN") and key.endswith("_status"):
                continue
            if st != "ok":
                if key == "jvp_status":
                    if case.extra.get("no_jvp_ok") and st == "no rule":
                        continue
                    st = f"{st} (JVP)"
                status = st
                break
        if status == "ok" and quality == "NaN":
            status = "NaN"
        info["status"] = status

    torch_calls = _torch_calls(case, args, w, compiled, inputs, s, row) if timed and batch is None else {}

    # timing, interleaved across implementations
    for kind in kinds if timed else ():
        calls = {name: (c, inputs[kind]) for name, c in compiled[kind].items()}
        if kind in torch_calls and "ours" in calls:
            calls["torch"] = torch_calls[kind]
        if not calls:
            continue
        try:
            med, mins, paired, spread, remeasured = time_until_steady(calls, s, pair_with="ours")
        except Exception as e:  # noqa: BLE001
            for name in calls:
                row.impls[name][f"{kind}_error"] = _short(e)
            continue
        for name in med:
            row.impls[name][f"{kind}_s"] = med[name]
            row.impls[name][f"{kind}_min_s"] = mins[name]
            if name in paired:
                row.impls[name][f"{kind}_paired_ratio"] = paired[name]
                row.impls[name][f"{kind}_ratio_spread"] = spread[name]
                row.impls[name][f"{kind}_remeasured"] = remeasured

    _choose_comparator(case, row)
    return row


def _torch_calls(case, args, w, compiled, inputs, s: Settings, row: Row) -> dict:
    """PyTorch's forward and forward+backward of the same function, when PyTorch is installed and
    has the operation (see ``benchmarks.torch_compare``); its status goes into ``row.impls``."""
    from . import torch_compare

    if case.id not in torch_compare.case_ids() or "ours" not in compiled["fwd"]:
        return {}
    try:
        reference = compiled["fwd"]["ours"](*inputs["fwd"])
        calls, reason = torch_compare.calls(case.id, args, w, reference, s.dtype)
    except Exception as e:  # noqa: BLE001
        calls, reason = None, _short(e)
    row.impls["torch"] = {"name": "PyTorch", "status": "ok" if calls else reason}
    return calls or {}


def _choose_comparator(case: Case, row: Row) -> None:
    """Pick, per measurement, what matcalc is compared with: JAX's default when it works for that
    measurement (forward: it runs; derivatives: they run and are finite and accurate), else the
    named alternative. Time ratios are the paired (same-round) medians."""
    impls = row.impls
    order = ["alt", "baseline"] if case.extra.get("prefer_alt") else ["baseline", "alt"]

    def healthy(nm, kind):
        info = impls.get(nm)
        if not info or info.get(f"{kind}_status") != "ok":
            return False
        return kind == "fwd" or info.get("quality", "ok") in ("ok", "another subgradient")

    ours = impls.get("ours", {})
    row.comparators = {}
    for kind in KINDS:
        comp = next((nm for nm in order if healthy(nm, kind)), None)
        if comp is None:  # nothing healthy: compare with whatever ran; the table flags it
            comp = next(
                (
                    nm
                    for nm in order
                    if f"{kind}_status" in impls.get(nm, {}) and impls[nm][f"{kind}_status"] == "ok"
                ),
                None,
            )
        row.comparators[kind] = comp
        row.ratios[kind] = impls[comp].get(f"{kind}_paired_ratio") if comp else None
        spread = impls[comp].get(f"{kind}_ratio_spread") if comp else None
        row.spreads[kind] = spread
        if spread is not None and spread > NOISY_SPREAD:
            row.noisy.append(kind)
    comp = row.comparators.get("grad") or row.comparators.get("fwd")
    row.comparator = comp
    for label, key in dict(compile="compile_grad_s", temp="temp_grad_bytes").items():
        a = ours.get(key)
        b = impls[comp].get(key) if comp else None
        if a is None or b is None:
            row.ratios[label] = None
        elif b == 0:
            row.ratios[label] = None if a != 0 else 1.0
        else:
            row.ratios[label] = a / b


def _first(tree, batch):
    if batch is None:
        return tree
    return jax.tree.map(lambda x: np.asarray(x)[0], tree)


def _accuracy(case, n, s: Settings, row: Row, fns, args64, v64, w64, batch, outs):
    args1, v1, w1 = (_first(t, batch) for t in (args64, v64, w64))
    floor = float(case.extra.get("err_floor", 0.0))
    g_ref = d_ref = None
    if case.ref_grad is not None:
        g_ref = _flat(case.ref_grad(args1, w1))
        row.reference = case.ref_name or "closed form (float64)"
    elif case.mp is not None and n <= case.mp_max_n:
        d_ref = mp_directional(case.mp, args1, v1, s.mp_dps)
        row.reference = f"mpmath {s.mp_dps}-digit central difference"
    elif s.dtype != "float64":
        row.reference = "matcalc in float64"
    else:
        row.reference = f"none at n > {case.mp_max_n}" if case.mp is not None else "none"
        return

    def evaluate(f, dtype):
        a, v, w = cast(args1, dtype), cast(v1, dtype), cast(w1, dtype)
        out_t = None
        try:
            out_t = jax.jit(make_kind_fns(f, "jvp"))(tuple(a), tuple(v))[1]
        except Exception:  # noqa: BLE001 (reverse-only rules)
            pass
        g = jax.jit(make_kind_fns(f, "grad"))(tuple(a), w)
        return (None if out_t is None else _flat(out_t)), _flat(g)

    if row.reference == "matcalc in float64":
        d_ref, g_ref = evaluate(case.ours, "float64")
    vflat, wflat = _flat(v1), _flat(w1)
    for name in fns:
        info = row.impls[name]
        if name not in outs["grad"] and name not in outs["jvp"]:
            continue
        # the derivatives computed at the timing inputs (first problem of a batch)
        d = _flat(_first(outs["jvp"][name], batch)) if name in outs["jvp"] else None
        g = _flat(_first(outs["grad"][name], batch)) if name in outs["grad"] else None
        if g is None:
            g_nan = False
        else:
            g_nan = not np.all(np.isfinite(g))
        nan = g_nan or (d is not None and not np.all(np.isfinite(d)))
        info["acc_nan"] = bool(nan)
        errs = []
        if g_ref is not None and g is not None:
            info["err_grad"] = _rel(g, g_ref, floor)
            errs.append(info["err_grad"])
        if d_ref is not None and d is not None:
            info["err_jvp"] = _rel(d, d_ref, floor)
            errs.append(info["err_jvp"])
        if d_ref is not None and g_ref is None and g is not None:
            # VJP through the transpose identity <Jᵀw, v> = <w, J v>
            scale = max(float(np.linalg.norm(wflat) * np.linalg.norm(d_ref)), floor, 1e-300)
            info["err_vjp"] = abs(_real_dot(g, vflat) - _real_dot(wflat, d_ref)) / scale
            errs.append(info["err_vjp"])
        if errs:
            info["err"] = float("nan") if nan else float(max(errs))


def applicable_sizes(
    case: Case, sizes: tuple[int, ...], quick: bool, accuracy_only_below: int = 16
) -> tuple[int, ...]:
    """The sizes of ``case``'s rows. ``quick`` (the default and ``--quick`` profiles): a case's own
    ``quick_sizes``, and the small rows moved to where the mpmath reference reaches."""
    if case.sizes is not None:
        out = case.quick_sizes if (quick and case.quick_sizes) else case.sizes
    else:
        out = sizes
    if quick and case.mp is not None and case.ref_grad is None:
        # the small rows exist for accuracy: take them where the mpmath reference reaches
        out = tuple(dict.fromkeys(min(n, case.mp_max_n) if n < accuracy_only_below else n for n in out))
    if case.max_n is not None:
        out = tuple(n for n in out if n <= case.max_n)
    return tuple(out)


def traceback_str() -> str:
    return traceback.format_exc(limit=3)


__all__ = ["Settings", "Row", "run_row", "applicable_sizes", "missing", "batch_sharding"]
