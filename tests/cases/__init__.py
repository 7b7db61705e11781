"""The registry of harness cases: one or more per public operation.

Each module in this package defines ``CASES: list[Case]``; they are collected automatically, so an
area adds its cases by adding a module. ``tests/test_rules.py`` runs every case through
``matcalc.testing.check_rule`` and fails when a public name has no case.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    """One harness case.

    op: the public name (``"inv"``, ``"hermitian.expm"``).
    fn: the function under test (static arguments already bound).
    args: float64/complex128 NumPy inputs.
    variant: a short label for the test id.
    check: extra keyword arguments for ``check_rule`` (reference, projection, gauge, tolerances).
    float32: also run ``check_float32`` with ``float32_rtol`` (None to skip, with a reason in
      ``float32_skip``).
    """

    op: str
    fn: Callable
    args: tuple
    variant: str = ""
    check: dict[str, Any] = field(default_factory=dict)
    float32_rtol: float | None = 1e-3
    float32_skip: str = ""

    @property
    def id(self) -> str:
        return f"{self.op}[{self.variant}]" if self.variant else self.op


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def well_conditioned(n: int, seed: int = 0, complex_: bool = False) -> np.ndarray:
    """A random n×n matrix with singular values in about [0.5, 2]."""
    r = rng(seed)
    a = r.standard_normal((n, n))
    if complex_:
        a = a + 1j * r.standard_normal((n, n))
    u, _, vh = np.linalg.svd(a)
    s = np.linspace(0.5, 2.0, n)
    return (u * s) @ vh


def spd(n: int, seed: int = 0, complex_: bool = False, spread: float = 3.0) -> np.ndarray:
    """A random SPD/HPD matrix with eigenvalues spread over [1, spread]."""
    q, _ = np.linalg.qr(well_conditioned(n, seed, complex_))
    lam = np.linspace(1.0, spread, n)
    return (q * lam) @ q.conj().T


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        cases.extend(getattr(module, "CASES", []))
    return cases


def public_ops() -> list[str]:
    """Every public operation name (see ``matcalc.testing.public_operations``)."""
    from matcalc.testing import public_operations

    return public_operations()
