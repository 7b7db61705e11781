"""What a user could write where JAX has no (working) derivative: plain-JAX iterations with a
fixed number of steps, differentiated by JAX's autodiff. Used as named comparators."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def _eye(a):
    return jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)


def _fro(a):
    return jnp.sqrt(jnp.sum(jnp.abs(a) ** 2, axis=(-2, -1), keepdims=True))


def newton_schulz_sqrtm(a, iters: int = 30):
    """Coupled Newton–Schulz ``Y → A^{1/2}``, ``Z → A^{-1/2}`` after scaling by ``‖A‖_F`` (matrix
    products only); converges for spectra in the open right half-plane close enough to normal."""
    c = _fro(a)
    y, z = a / c, _eye(a)
    for _ in range(iters):
        t = 0.5 * (3 * _eye(a) - z @ y)
        y, z = y @ t, t @ z
    return y * jnp.sqrt(c)


def denman_beavers_sqrtm(a, iters: int = 12):
    """Unscaled Denman–Beavers, a fixed number of steps in a ``lax.scan`` (same autodiff cost
    as unrolled, far less to compile)."""

    def step(c, _):
        y, z = c
        return (0.5 * (y + jnp.linalg.inv(z)), 0.5 * (z + jnp.linalg.inv(y))), None

    return lax.scan(step, (a, _eye(a)), None, length=iters)[0][0]


def iss_logm(a, squarings: int = 6, terms: int = 8):
    """Inverse scaling and squaring: ``2^s · 2 atanh(Z)``, ``Z = (X − I)(X + I)⁻¹``,
    ``X = A^{1/2^s}`` by Denman–Beavers (fixed steps); the atanh series truncated at ``2·terms − 1``."""
    x = lax.scan(lambda x, _: (denman_beavers_sqrtm(x), None), a, None, length=squarings)[0]
    eye = _eye(a)
    z = jnp.linalg.solve(x + eye, x - eye)
    z2 = z @ z
    acc, p = z, z
    for k in range(1, terms):
        p = p @ z2
        acc = acc + p / (2 * k + 1)
    return (2.0**squarings) * 2 * acc


def newton_signm(a, iters: int = 25):
    return lax.scan(lambda x, _: (0.5 * (x + jnp.linalg.inv(x)), None), a, None, length=iters)[0]


def kron_sylvester(a, b, c, max_n: int = 48):
    """``A X + X B = C`` by the dense Kronecker system ``(I ⊗ A + Bᵀ ⊗ I) vec X = vec C``."""
    n, m = a.shape[-1], b.shape[-1]
    if n * m > max_n * max_n:
        raise ValueError(f"dense Kronecker solve skipped at n={n} (n² × n² system)")
    k = jnp.kron(jnp.eye(m, dtype=a.dtype), a) + jnp.kron(b.T, jnp.eye(n, dtype=a.dtype))
    x = jnp.linalg.solve(k, c.T.reshape(-1))
    return x.reshape(m, n).T


def kron_discrete_lyapunov(a, q, max_n: int = 48):
    """``A X Aᴴ − X + Q = 0`` by the dense system ``(I − A ⊗ A) vec X = vec Q`` (real A)."""
    n = a.shape[-1]
    if n > max_n:
        raise ValueError(f"dense Kronecker solve skipped at n={n} (n² × n² system)")
    k = jnp.eye(n * n, dtype=a.dtype) - jnp.kron(a, a)
    x = jnp.linalg.solve(k, q.T.reshape(-1))
    return x.reshape(n, n).T


def eigh_funm(a, f):
    """``U f(Λ) Uᴴ`` through ``jnp.linalg.eigh``: JAX's default derivative of a Hermitian
    matrix function (NaN at repeated eigenvalues)."""
    w, v = jnp.linalg.eigh(a)
    return (v * f(w)[..., None, :]) @ jnp.swapaxes(v.conj(), -1, -2)
