"""The benchmark case registry.

Each module in this package defines ``CASES: list[BenchCase]``; they are collected automatically, so
an area adds its benchmark rows by adding a module (``benchmarks/cases/<area>.py``), exactly as
``tests/cases/`` does for the harness.

A case names a public operation (``"inv"``, ``"hermitian.sqrtm"``, ``"ode.odeint"``) and describes:

* ``build(n, rng) -> args``: float64 NumPy inputs (a tuple; pytrees allowed) for one problem of size
  ``n`` (unbatched). The runner casts them to the requested dtype and stacks ``batch`` problems.
* ``ours(*args)`` / ``baseline(*args)``: the matcalc function and JAX's default derivative of the
  same function, both returning a pytree of float/complex arrays (integer outputs must be
  dropped). The runner differentiates ``loss(args) = <w, f(args)>`` with a fixed random
  cotangent ``w``.
* ``alt(*args)`` / ``alt_name``: the best thing a user could write where JAX's own derivative is
  missing, NaN, wrong or CPU-only (named in the table).
* an accuracy reference: ``mp(*mp_args)`` (the same function in mpmath; the reference derivative is
  a 50-digit central difference, used at ``n <= mp_max_n``), or ``ref_grad(args, w)`` (a closed-form
  float64 gradient, e.g. the documented subgradient at a non-smooth point).

Case functions must look the matcalc operation up lazily (inside the function body, or with
:func:`op`), so that a module whose operation has not landed yet still imports: such cases are
skipped with a note instead of crashing the run.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class BenchCase:
    op: str
    build: Callable[[int, np.random.Generator], tuple]
    ours: Callable
    baseline: Callable | None
    baseline_name: str
    variant: str = ""
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

    @property
    def id(self) -> str:
        return f"{self.op}[{self.variant}]" if self.variant else self.op

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.op, *self.requires)


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


def missing(case: BenchCase) -> list[str]:
    """The public names a case needs that ``matcalc`` does not have (yet)."""
    return [name for name in case.needs if resolve(name) is None]


def all_cases() -> list[BenchCase]:
    cases: list[BenchCase] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as e:  # a broken area module must not take the whole run down
            import warnings

            warnings.warn(f"benchmark case module {info.name!r} failed to import: {e!r}", stacklevel=2)
            continue
        cases.extend(getattr(module, "CASES", []))
    return cases


def public_ops() -> list[str]:
    """Every public operation name (see ``matcalc.testing.public_operations``)."""
    from matcalc.testing import public_operations

    return public_operations()


def well_conditioned(
    n: int, rng: np.random.Generator, lo: float = 0.5, hi: float = 2.0, m: int | None = None
) -> np.ndarray:
    """A random m×n matrix (m = n by default) with singular values geometrically in [lo, hi]."""
    m = n if m is None else m
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    s = np.geomspace(lo, hi, k) if k > 1 else np.array([np.sqrt(lo * hi)])
    return (u[:, :k] * s) @ v[:, :k].T


def unit_det(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n×n matrix with singular values in [1/2, 2] placed symmetrically: |det| = 1."""
    return well_conditioned(n, rng, 0.5, 2.0)


def orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def spd(n: int, rng: np.random.Generator, lo: float = 1.0, hi: float = 3.0) -> np.ndarray:
    """A random SPD matrix with eigenvalues spread over [lo, hi]."""
    q = orthogonal(n, rng)
    lam = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
    a = (q * lam) @ q.T
    return (a + a.T) / 2


def with_eigenvalues(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    q = orthogonal(len(lam), rng)
    a = (q * lam) @ q.T
    return (a + a.T) / 2


def with_one_norm(n: int, rng: np.random.Generator, norm1: float) -> np.ndarray:
    a = rng.standard_normal((n, n))
    return a * (norm1 / np.abs(a).sum(axis=0).max())


def symmetrize(x: np.ndarray) -> np.ndarray:
    return (x + np.swapaxes(x, -1, -2)) / 2


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
