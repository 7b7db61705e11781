"""The case registry shared by the tests and the benchmarks: one or more cases per public operation.

Each module in this package (one per mathematical family) defines ``CASES: list[Case]``; they are
collected automatically, so a family adds its cases by adding entries to its module. One case names a
public operation (``"inv"``, ``"hermitian.sqrtm"``, ``"ode.odeint"``) and the function under test, and
gives either or both of:

* a **harness instance** (``args``): fixed float64/complex128 NumPy inputs that ``tests/test_rules.py``
  runs through :func:`matcalc.testing.check_rule` with the case's ``check`` options (reference,
  projection, gauge, tolerances), and through :func:`matcalc.testing.check_float32` unless
  ``float32_rtol`` is ``None`` (then ``float32_skip`` says why). ``tests/test_rules.py`` fails when a
  public name has no harness instance.
* a **benchmark family** (``build``): ``build(n, rng) -> args`` makes one problem of size ``n``
  (float64 NumPy inputs, pytrees allowed, unbatched); the runner casts it to the requested dtype and
  stacks ``batch`` problems. ``baseline(*args)`` is JAX's default derivative of the same function,
  ``alt(*args)`` / ``alt_name`` the best thing a user could write where JAX's own derivative is
  missing, NaN, wrong or CPU-only. The runner differentiates ``loss(args) = <w, f(args)>`` with a fixed
  random cotangent ``w``, so ``ours`` and ``baseline`` return pytrees of float/complex arrays (integer
  outputs dropped). Accuracy is measured against ``mp(*mp_args)`` (the same function in mpmath; the
  reference derivative is a 50-digit central difference, used at ``n <= mp_max_n``) or ``ref_grad(args,
  w)`` (a closed-form float64 gradient, e.g. the documented subgradient at a non-smooth point).
  ``python -m benchmarks``, ``benchmarks.gpu_check`` and ``benchmarks.sharding`` run these.

:meth:`Case.harness` and :meth:`Case.bench` are the two short constructors; a case with both parts is
built with keywords. The problem builders below (:func:`well_conditioned`, :func:`spd`, ...) take an
integer seed or a NumPy ``Generator``, so a fixed test input and a benchmark's size family come from
the same function.

Benchmark functions look a matcalc operation up lazily (:func:`op`), so that a module whose operation
has been removed still imports: its benchmark cases are skipped with a note instead of crashing the run.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass(kw_only=True)
class Case:
    """One registry case: a public operation, the function under test, a harness instance and/or a
    benchmark family (see the module docstring for each field's role)."""

    op: str
    ours: Callable
    variant: str = ""
    # harness instance
    args: tuple | None = None
    check: dict[str, Any] = field(default_factory=dict)
    float32_rtol: float | None = 1e-3
    float32_skip: str = ""
    # benchmark family
    build: Callable[[int, np.random.Generator], tuple] | None = None
    baseline: Callable | None = None
    baseline_name: str = ""
    alt: Callable | None = None
    alt_name: str = ""
    mp: Callable | None = None
    mp_max_n: int = 8
    ref_grad: Callable | None = None
    ref_name: str = ""
    batched: bool = True
    batch_build: Callable[[int, int, np.random.Generator], tuple] | None = None
    sizes: tuple[int, ...] | None = None
    quick_sizes: tuple[int, ...] | None = None
    max_n: int | None = None
    fixed_batch: int | None = None
    quick: bool = True
    degenerate: bool = False
    tangent_projection: Callable[[np.ndarray], np.ndarray] | None = None
    requires: tuple[str, ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def harness(cls, op: str, fn: Callable, args: tuple, variant: str = "", **options) -> Case:
        """A harness instance: ``fn(*args)`` checked by ``check_rule(fn, *args, **check)``."""
        return cls(op=op, ours=fn, args=args, variant=variant, **options)

    @classmethod
    def bench(
        cls,
        op: str,
        build: Callable[[int, np.random.Generator], tuple],
        ours: Callable,
        baseline: Callable | None,
        baseline_name: str,
        variant: str = "",
        **options,
    ) -> Case:
        """A benchmark family: ``ours`` against ``baseline`` on ``build(n, rng)``."""
        return cls(
            op=op,
            build=build,
            ours=ours,
            baseline=baseline,
            baseline_name=baseline_name,
            variant=variant,
            **options,
        )

    @property
    def id(self) -> str:
        return f"{self.op}[{self.variant}]" if self.variant else self.op

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.op, *self.requires)


def all_cases() -> list[Case]:
    """Every case of every family module, in module order."""
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cases.extend(getattr(module, "CASES", []))
    return cases


def harness_cases() -> list[Case]:
    """The cases with a harness instance (``tests/test_rules.py``)."""
    return [c for c in all_cases() if c.args is not None]


def benchmark_cases() -> list[Case]:
    """The cases with a benchmark family (``python -m benchmarks``, the GPU and sharding checks)."""
    return [c for c in all_cases() if c.build is not None]


def public_ops() -> list[str]:
    """Every public operation name (see ``matcalc.testing.public_operations``)."""
    from matcalc.testing import public_operations

    return public_operations()


def resolve(name: str):
    """``matcalc.<name>`` for a dotted public name (``"hermitian.sqrtm"``), or ``None``."""
    try:
        obj = importlib.import_module("matcalc")
    except ImportError:
        return None
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = (
                    importlib.import_module(f"{obj.__name__}.{part}")
                    if isinstance(obj, types.ModuleType)
                    else None
                )
            except ImportError:
                return None
            if obj is None:
                return None
    return obj


def op(name: str) -> Callable:
    """A lazy handle on ``matcalc.<name>``: looked up at call time, so importing never fails."""

    def call(*args, **kwargs):
        fn = resolve(name)
        if fn is None:
            raise AttributeError(f"matcalc has no public {name!r}")
        return fn(*args, **kwargs)

    call.__name__ = f"matcalc.{name}"
    return call


def missing(case: Case) -> list[str]:
    """The public names a case needs that ``matcalc`` does not have."""
    return [name for name in case.needs if resolve(name) is None]


# ---------------------------------------------------------------------------------------------
# problem builders: ``seed`` is an integer seed or a NumPy Generator (drawn from in place)


def rng(seed: int | np.random.Generator = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def well_conditioned(
    n: int,
    seed: int | np.random.Generator = 0,
    lo: float = 0.5,
    hi: float = 2.0,
    m: int | None = None,
    complex_: bool = False,
    spacing: Literal["linear", "geometric"] = "linear",
) -> np.ndarray:
    """A random m×n matrix (m = n by default) whose singular values are spaced over [lo, hi]: the
    singular vectors of a Gaussian matrix with prescribed singular values."""
    r = rng(seed)
    m = n if m is None else m
    a = r.standard_normal((m, n))
    if complex_:
        a = a + 1j * r.standard_normal((m, n))
    u, _, vh = np.linalg.svd(a, full_matrices=m == n)
    k = min(m, n)
    s = np.geomspace(lo, hi, k) if spacing == "geometric" else np.linspace(lo, hi, k)
    return (u[:, :k] * s) @ vh[:k]


def unit_det(n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A random n×n matrix with singular values geometrically in [1/2, 2], symmetric about 1: |det| = 1."""
    return well_conditioned(n, seed, 0.5, 2.0, spacing="geometric")


def orthogonal(n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A Haar-random orthogonal n×n matrix."""
    q, r = np.linalg.qr(rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def symmetrize(x: np.ndarray) -> np.ndarray:
    """The Hermitian part ``(X + Xᴴ) / 2`` over the last two axes."""
    return (x + x.swapaxes(-1, -2).conj()) / 2


def spd(
    n: int,
    seed: int | np.random.Generator = 0,
    lo: float = 1.0,
    hi: float = 3.0,
    complex_: bool = False,
) -> np.ndarray:
    """A random symmetric (Hermitian) positive definite matrix with eigenvalues evenly spread over
    [lo, hi], exactly symmetric."""
    q, _ = np.linalg.qr(well_conditioned(n, seed, complex_=complex_))
    lam = np.linspace(lo, hi, n)
    return symmetrize((q * lam) @ q.conj().T)


def with_eigenvalues(lam: np.ndarray, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A random real symmetric matrix with the given eigenvalues."""
    q = orthogonal(len(lam), seed)
    return symmetrize((q * lam) @ q.T)


def with_one_norm(n: int, seed: int | np.random.Generator, norm1: float) -> np.ndarray:
    """A Gaussian n×n matrix scaled to the given 1-norm."""
    a = rng(seed).standard_normal((n, n))
    return a * (norm1 / np.abs(a).sum(axis=0).max())


# ---------------------------------------------------------------------------------------------
# mpmath helpers for the high-precision references


def mp_matrix(a: np.ndarray):
    import mpmath as mp

    a = np.asarray(a)
    if a.ndim == 1:
        return mp.matrix([[mp.mpf(float(x))] for x in a])
    return mp.matrix([[mp.mpf(float(x)) for x in row] for row in a])


def mp_sym_funm(a, f):
    """f(A) for a symmetric mpmath matrix A, through mpmath's symmetric eigensolver."""
    import mpmath as mp

    lam, q = mp.eigsy(a)
    n = a.rows
    return q * mp.diag([f(lam[i]) for i in range(n)]) * q.T
