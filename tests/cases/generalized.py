"""Harness cases for the generalized Hermitian-definite eigenproblem ``eigh_generalized`` (types 1,
2, 3), against ``scipy.linalg.eigh(a, b, type=...)``.

The eigenvectors are compared through the gauge of the ``eigh`` cases (each column's
largest-magnitude entry made real positive), which fixes the sign/phase LAPACK leaves free; the
normalization (``Vᴴ B V = I``, or ``Vᴴ B⁻¹ V = I`` for type 3) is SciPy's.

Benchmark families for the generalized Hermitian-definite eigenproblem ``eigh_generalized`` (``A v = λ B
v``) against what a user writes with JAX, which has no ``eigh(a, b)``: the Cholesky reduction ``C = L⁻¹ A
L⁻ᵀ``, ``jnp.linalg.eigh(C)``, ``V = L⁻ᵀ U``, differentiated by autodiff (JAX's eigenvector rule divides by
``λ_i − λ_k``: NaN or wrong at repeated eigenvalues)."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg

import matcalc
from tests.cases import Case, op, rng, spd, symmetrize, well_conditioned
from tests.cases.hermitian import eigh_gauge


def _hermitian(n, seed, complex_=False):
    r = rng(seed)
    x = r.standard_normal((n, n))
    if complex_:
        x = x + 1j * r.standard_normal((n, n))
    return (x + x.conj().T) / 2


A4 = _hermitian(4, 31)
B4 = spd(4, seed=32, hi=4.0)
AC3 = _hermitian(3, 33, complex_=True)
BC3 = spd(3, seed=34, complex_=True, hi=3.0)


def _case(a, b, kind, variant):
    return Case.harness(
        "eigh_generalized",
        lambda a_, b_: tuple(matcalc.eigh_generalized(a_, b_, type=kind)),
        (a, b),
        variant,
        check=dict(
            reference=functools.partial(scipy.linalg.eigh, type=kind),
            output_gauge=eigh_gauge,
            tangent_projection=symmetrize,
        ),
    )


CASES = [
    _case(A4, B4, 1, "type1_real"),
    _case(AC3, BC3, 1, "type1_complex"),
    _case(A4, B4, 2, "type2_real"),
    _case(AC3, BC3, 3, "type3_complex"),
]


# ---------------------------------------------------------------------------------------------
# benchmark families

_CLUSTER = 2.0  # the repeated eigenvalue of _repeated_pencil


def _mp():
    import mpmath

    return mpmath


def _pencil(n, r):
    a = symmetrize(r.standard_normal((n, n)))
    return a, spd(n, r, 1.0, 10.0)


def _repeated_pencil(n, r):
    """``(A, B)`` with ``A V0 = B V0 Λ``, ``V0ᵀ B V0 = I`` and ``λ = 2`` repeated ``max(2, n/4)``
    times (``V0`` with singular values in [0.7, 1.4])."""
    lam = np.linspace(0.5, 3.5, n)
    lam[: max(2, n // 4)] = _CLUSTER
    v0 = well_conditioned(n, r, 0.7, 1.4)
    vi = np.linalg.inv(v0)
    return symmetrize(vi.T @ (lam[:, None] * vi)), symmetrize(vi.T @ vi)


def _reduction_eigh(a, b):
    """The Cholesky reduction with JAX's own derivatives (autodiff through every step)."""
    l = jnp.linalg.cholesky(b)
    x = jsl.solve_triangular(l, a, lower=True)  # L⁻¹ A
    c = jsl.solve_triangular(l, jnp.swapaxes(x, -1, -2), lower=True)  # L⁻¹ A L⁻ᵀ
    w, u = jnp.linalg.eigh(c)
    return w, jsl.solve_triangular(l, u, lower=True, trans="T")


def _ours(a, b):
    w, v = op("eigh_generalized")(a, b)
    return w, v


def _values_and_squares(w, v):
    return w, v * v  # v∘v: invariant to each eigenvector's sign


def _projector(w, v, b):
    """B-orthogonal spectral projector onto the repeated eigenvalue's eigenspace, ``V_c V_cᵀ B``
    (independent of the basis inside the cluster and of how the cluster splits)."""
    inside = (jnp.abs(w - _CLUSTER) < 1e-6).astype(v.dtype)
    return (v * inside[..., None, :]) @ jnp.swapaxes(v, -1, -2) @ b


def _mp_pencil(a, b):
    mp = _mp()
    li = mp.inverse(mp.cholesky(b))
    c = li * a * li.T
    lam, q = mp.eigsy((c + c.T) / 2)
    return lam, li.T * q


def _mp_values_and_squares(a, b):
    lam, v = _mp_pencil(a, b)
    n = a.rows
    sq = _mp().matrix(n, n)
    for i in range(n):
        for j in range(n):
            sq[i, j] = v[i, j] ** 2
    return [lam[i] for i in range(n)], sq


def _mp_projector(a, b):
    lam, v = _mp_pencil(a, b)
    n = a.rows
    keep = _mp().diag([1 if abs(lam[i] - _CLUSTER) < 1e-6 else 0 for i in range(n)])
    return v * keep * v.T * b


_BASELINE = "Cholesky reduction + jnp.linalg.eigh (autodiff)"

CASES += [
    Case.bench(
        "eigh_generalized",
        _pencil,
        lambda a, b: _values_and_squares(*_ours(a, b)),
        lambda a, b: _values_and_squares(*_reduction_eigh(a, b)),
        _BASELINE,
        variant="type 1, (w, v∘v)",
        tangent_projection=symmetrize,
        mp=_mp_values_and_squares,
    ),
    Case.bench(
        "eigh_generalized",
        _repeated_pencil,
        lambda a, b: _projector(*_ours(a, b), b),
        lambda a, b: _projector(*_reduction_eigh(a, b), b),
        _BASELINE,
        variant="repeated λ, cluster projector V_c V_cᵀ B",
        degenerate=True,
        tangent_projection=symmetrize,
        mp=_mp_projector,
        note="split-independent loss: exact for matcalc's rule; JAX divides by the "
        "rounding-level gap inside the cluster",
    ),
]
