"""The operand of the matrix-free rules: a dense array, a BCOO sparse matrix or a lineax operator.

Every matrix-free rule touches its operator only through products ``A @ X`` and ``Aᴴ @ Y``, and
differentiates with respect to whatever arrays the operator holds (the dense entries, the BCOO
``data``, the leaves of a lineax operator). One pattern gives those derivatives for all three kinds:
a derivative of a Krylov quantity with respect to ``A`` is a sum of bilinear forms ``Re ⟨U, dA V⟩``, and
the cotangent of the operator's arrays is the VJP of ``params ↦ Re ⟨U, A(params) V⟩``
(``bilinear_cotangent``), which never forms ``A``.

The ``Operator`` is a pytree, so it passes through ``jit``, ``vmap`` and ``custom_jvp`` /
``custom_vjp`` rules as an ordinary argument; integer leaves (BCOO indices) get no derivative.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jax import lax
from jax.experimental import sparse as jsparse


class Operator(eqx.Module):
    """A square or rectangular linear operator seen only through its products.

    ``matrix`` is the user's object (a 2-D array, a ``BCOO`` matrix or a lineax operator); ``kind`` is
    ``"dense"``, ``"bcoo"`` or ``"lineax"``; ``shape`` is ``(m, n)``.
    """

    matrix: Any
    kind: str = eqx.field(static=True)
    shape: tuple[int, int] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    def matmat(self, x: jax.Array) -> jax.Array:
        """``A @ x`` for ``x`` of shape ``(n,)`` or ``(n, k)``."""
        if self.kind == "lineax":
            if x.ndim == 1:
                return self.matrix.mv(x)
            return jax.vmap(self.matrix.mv, in_axes=1, out_axes=1)(x)
        return self.matrix @ x

    def column(self, j: jax.Array) -> jax.Array:
        """``A e_j``, column ``j`` (a traced index): a slice of a dense matrix, a product otherwise."""
        if self.kind == "dense":
            return lax.dynamic_index_in_dim(self.matrix, j, axis=1, keepdims=False)
        return self.matmat(jnp.zeros(self.shape[1], self.dtype).at[j].set(1))

    def rmatmat(self, y: jax.Array) -> jax.Array:
        """``Aᴴ @ y`` for ``y`` of shape ``(m,)`` or ``(m, k)``, by transposing ``matmat``."""
        if self.kind == "dense":
            return jnp.conj(self.matrix).T @ y
        x_like = jax.ShapeDtypeStruct((self.shape[1],) + y.shape[1:], jnp.result_type(self.dtype, y.dtype))
        (x,) = jax.linear_transpose(self.matmat, x_like)(jnp.conj(y).astype(x_like.dtype))
        return jnp.conj(x)

    def to_dense(self) -> jax.Array:
        """The matrix itself (for tests and small problems only)."""
        if self.kind == "dense":
            return self.matrix
        if self.kind == "bcoo":
            return self.matrix.todense()
        return self.matrix.as_matrix()


def as_operator(a: Any, *, name: str = "A", square: bool = False) -> Operator:
    """Wrap ``a`` (2-D array, ``BCOO`` or lineax operator) as an ``Operator``; errors name ``name``."""
    if isinstance(a, Operator):
        operator = a
    elif isinstance(a, lx.AbstractLinearOperator):
        shape = (a.out_size(), a.in_size())
        dtype = jax.tree_util.tree_leaves(a.out_structure())[0].dtype
        operator = Operator(a, "lineax", shape, jnp.dtype(dtype))
    elif isinstance(a, jsparse.BCOO):
        if a.ndim != 2 or a.n_batch != 0 or a.n_dense != 0:
            raise ValueError(
                f"{name}: a BCOO operator must be a plain 2-D sparse matrix (n_batch=0, n_dense=0); "
                f"got shape {a.shape}, n_batch={a.n_batch}, n_dense={a.n_dense}"
            )
        operator = Operator(a, "bcoo", tuple(a.shape), jnp.dtype(a.dtype))
    else:
        try:
            dense = jnp.asarray(a)
        except TypeError as err:
            raise TypeError(
                f"{name}: expected a 2-D array, a jax.experimental.sparse.BCOO matrix or a lineax linear "
                f"operator; got {type(a).__name__}"
            ) from err
        if dense.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D matrix, got an array of shape {dense.shape}")
        if not jnp.issubdtype(dense.dtype, jnp.inexact):
            dense = dense.astype(jnp.result_type(float))
        operator = Operator(dense, "dense", tuple(dense.shape), dense.dtype)
    if square and operator.shape[0] != operator.shape[1]:
        raise ValueError(f"{name}: expected a square operator, got shape {operator.shape}")
    return operator


def bilinear_cotangent(operator: Operator, left: jax.Array, right: jax.Array) -> Operator:
    """Cotangent of the operator's arrays for the scalar ``Re ⟨left, A right⟩ = Re tr(leftᴴ A right)``.

    ``left`` is ``(m,)`` or ``(m, k)``, ``right`` is ``(n,)`` or ``(n, k)``. The result is a pytree shaped
    like ``operator`` (what a ``custom_vjp`` backward pass returns for it): for a dense operator it is
    ``conj(left) rightᵀ`` (JAX's cotangent convention for complex inputs), for BCOO the same restricted to
    the stored entries, for a lineax operator the cotangents of its leaves.
    """
    # Re ⟨L, A R⟩ = Re Σ conj(L) ∘ (A R): JAX's cotangent of A R for this real scalar is conj(L).
    _, pullback = jax.vjp(lambda op: op.matmat(right), operator)
    (cotangent,) = pullback(jnp.conj(left).astype(jnp.result_type(operator.dtype, left.dtype)))
    return cotangent
