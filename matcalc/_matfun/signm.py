"""Matrix sign function by scaled Newton iteration, with its Fréchet derivative."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._core import as_inexact, check_disp, check_dtype, check_square, is_empty, mm, norm1
from .._kernels.sylvester import sylvester_plan


def _plan(a):
    # Newton on H = [[A, E], [0, A]] (the kernel's H = [[A, −C], [0, −B]] with B = −A, C = −E):
    # the diagonal blocks iterate sign(A), the (1,2) block is linear in E.
    return sylvester_plan(a, -a, "sign", "neg")


@jax.custom_jvp
def _signm(a):
    return _plan(a).sign_of_a(a.dtype)


@_signm.defjvp
def _signm_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    plan = _plan(a)
    s = plan.sign_of_a(a.dtype)
    # sign([[A, E], [0, A]]) = [[sign A, L], [0, sign A]] (Mathias 1996; Higham 2008, §5.1);
    # Newton's (1,2) block Q ← (μQ − P⁻¹ Q P⁻¹/μ)/2 from Q₀ = E converges to L.
    return s, plan.apply(-da)


_signm_jit = jax.jit(_signm)


def signm(A: ArrayLike, disp: bool = True) -> Array | tuple[Array, Array]:
    """Matrix sign function; drop-in for ``scipy.linalg.signm`` (GPU-capable, no Schur).

    Newton's iteration ``S ← (μS + S⁻¹/μ)/2`` with determinant scaling (Higham 2008, §5.5).
    ``disp=False`` also returns SciPy's error estimate ``‖P² − P‖₁``, ``P = (S² + S)/2``.

    Derivative:
      ``L(A, E)`` = the (1,2) block of ``sign([[A, E], [0, A]])``, computed by the same Newton
      iteration on the block triangular matrix, reusing the forward inverses (linear in E, fixed
      trips: transposable). Domain: no eigenvalue on the imaginary axis; there (and when the
      iteration does not converge in 40 steps) the result is NaN.
      Reference: Higham, *Functions of Matrices* (2008), ch. 5; Mathias (1996).

    Examples:
      >>> A = jnp.array([[1., 2.], [0., -1.]])  # A² = I, so sign(A) = A
      >>> print(np.round(matcalc.signm(A), 6))
      [[ 1.  2.]
       [ 0. -1.]]
    """
    disp = check_disp("signm", disp)
    a = as_inexact(A, "A")
    check_dtype("signm", "A", a)
    check_square(a, "signm", "A")
    if is_empty(a):
        s = jnp.zeros(a.shape, a.dtype)
        return s if disp else (s, jnp.zeros(a.shape[:-2], s.real.dtype))
    s = _signm_jit(a)
    if disp:
        return s
    # SciPy's estimate ‖P² − P‖₁ of the spectral projector P = (S² + S)/2
    ss = jax.lax.stop_gradient(s)
    p = (mm(ss, ss) + ss) / 2
    return s, norm1(mm(p, p) - p)
