"""PyTorch as a second comparator: the same function of the same input in PyTorch's own autograd.

Used only when ``torch`` is importable (an optional benchmark dependency: ``pip install torch``, the
CPU build is enough). For each representative case of an operation PyTorch has
(``linalg.matrix_exp``, ``cholesky``, ``eigh``, ``svd``, ``qr``, ``lu``, ``solve``, ``inv``, ``det``,
``slogdet``, ``pinv``, ``lstsq``) this module gives the PyTorch function computing the same outputs
as the case's matcalc function (the same gauge fixing), and the two calls the benchmark times:
the forward under ``torch.no_grad()`` and forward+backward of ``⟨w, f(x)⟩`` with the row's cotangent
``w``. The runner first checks that PyTorch's forward matches matcalc's on the row's input; a
mismatch is reported instead of timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _torch():
    try:
        import torch
    except Exception:  # noqa: BLE001 (not installed, or a broken install: no PyTorch column)
        return None
    return torch


def available() -> bool:
    return _torch() is not None


def _functions() -> dict[str, Callable]:
    torch = _torch()
    la = torch.linalg

    def qr_gauge(a):
        q, r = la.qr(a)
        d = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
        return q * d[..., None, :], r * d[..., :, None]

    def svd_squares(a):
        u, s, vh = la.svd(a, full_matrices=False)
        return u * u, s, vh * vh

    def eigh_squares(a):
        w, v = la.eigh(a)
        return w, v * v

    def lstsq_vector(a, b):
        return la.lstsq(a, b[:, None]).solution[:, 0]

    return {
        "inv": la.inv,
        "solve[b: n×4]": la.solve,
        "det": la.det,
        "slogdet": lambda a: la.slogdet(a)[1],
        "pinv[tall 1.5n×n]": la.pinv,
        "lstsq[tall 1.5n×n]": lstsq_vector,
        "cholesky": la.cholesky,
        "qr[square, (QD, DR)]": qr_gauge,
        "lu[(L, U)]": lambda a: tuple(la.lu(a)[1:]),
        "svd[(U∘U, s, Vᴴ∘Vᴴ)]": svd_squares,
        "eigh[(w, v∘v)]": eigh_squares,
        "expm[‖A‖₁ = 2]": la.matrix_exp,
    }


def case_ids() -> list[str]:
    """The case ids with a PyTorch counterpart (empty when PyTorch is not installed)."""
    return list(_functions()) if available() else []


def _leaves(out) -> list:
    return list(out) if isinstance(out, tuple | list) else [out]


def calls(case_id: str, args: tuple, w: Any, reference_out: Any, dtype: str):
    """``({"fwd": (fn, inputs), "grad": (fn, inputs)}, None)`` for the row, or ``(None, reason)``.

    ``args`` and ``w`` are NumPy pytrees (the row's input and cotangent, already in ``dtype``);
    ``reference_out`` is matcalc's forward output on ``args``.
    """
    if not available() or case_id not in _functions():
        return None, None
    torch = _torch()
    fn = _functions()[case_id]
    inputs = tuple(torch.from_numpy(np.array(x)) for x in args)
    cotangents = [torch.from_numpy(np.array(x)) for x in _leaves(w)]

    def forward(*xs):
        with torch.no_grad():
            return fn(*xs)

    def forward_backward(*xs):
        leaves = [x.detach().requires_grad_(True) for x in xs]
        outs = _leaves(fn(*leaves))
        loss = sum((c * o).sum() for c, o in zip(cotangents, outs, strict=True))
        return torch.autograd.grad(loss, leaves)

    got = [np.asarray(o) for o in _leaves(forward(*inputs))]
    want = [np.asarray(o) for o in _leaves(reference_out)]
    tol = 1e-6 if dtype == "float64" else 1e-2
    if len(got) != len(want) or any(
        g.shape != r.shape or not np.allclose(g, r, rtol=tol, atol=tol * max(1.0, float(np.abs(r).max())))
        for g, r in zip(got, want, strict=False)
    ):
        return None, "PyTorch's forward differs from matcalc's on this input"
    return {"fwd": (forward, inputs), "grad": (forward_backward, inputs)}, None
