"""Benchmark rows for the action of the matrix exponential, ``krylov.expm_multiply``: ``e^{A}B`` for
``B`` with 4 columns, against forming ``jax.scipy.linalg.expm(A)`` and multiplying (JAX's default
derivative through Padé and squaring)."""

from __future__ import annotations

import jax.scipy.linalg as jsl

from tests.cases import Case, op, with_one_norm


def _mp():
    import mpmath

    return mpmath


def _args(n, r):
    return with_one_norm(n, r, 2.0), r.standard_normal((n, 4))


CASES = [
    Case.bench(
        "krylov.expm_multiply",
        _args,
        lambda a, b: op("krylov.expm_multiply")(a, b),
        lambda a, b: jsl.expm(a) @ b,
        "expm(A) @ B",
        variant="‖A‖₁ = 2, B n×4",
        batched=False,
        sizes=(8, 128, 512, 2000),
        quick_sizes=(8, 128),
        mp=lambda a, b: _mp().expm(a) * b,
        note="reverse mode (custom_vjp): no JVP; the next row is the forward-mode rule",
    ),
    Case.bench(
        "krylov.expm_multiply",
        _args,
        lambda a, b: op("krylov.expm_multiply")(a, b, derivative="forward"),
        lambda a, b: jsl.expm(a) @ b,
        "expm(A) @ B",
        variant="‖A‖₁ = 2, B n×4, derivative='forward'",
        batched=False,
        sizes=(8, 128, 512, 2000),
        quick_sizes=(8, 128),
        quick=False,
        mp=lambda a, b: _mp().expm(a) * b,
        note="forward-mode rule (custom_jvp, block operator): JVP only, no VJP",
    ),
]
