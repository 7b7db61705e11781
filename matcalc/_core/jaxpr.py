"""What the jaxpr interpreter of ``use_rules`` reads from JAX: the jaxpr classes, the structural
primitives it descends into, and where JAX's own linear-algebra functions live.

Kept here so that only the core layer touches JAX internals.
"""

from __future__ import annotations

from jax.extend import core as _jex_core
from jax.extend.core import primitives as _prims

ClosedJaxpr = _jex_core.ClosedJaxpr
Jaxpr = _jex_core.Jaxpr
Literal = _jex_core.Literal
DropVar = _jex_core.DropVar

jit_p = _prims.jit_p
scan_p = _prims.scan_p
while_p = _prims.while_p
cond_p = _prims.cond_p
remat_p = _prims.remat_p
custom_jvp_call_p = _prims.custom_jvp_call_p
custom_vjp_call_p = _prims.custom_vjp_call_p

# The source files of jnp.linalg and jax.scipy.linalg inside the JAX package.
JAX_INTERNAL_DIR = "jax/" + "_src/"
JAX_LINALG_FILES = (JAX_INTERNAL_DIR + "numpy/linalg.py", JAX_INTERNAL_DIR + "scipy/linalg.py")


def jax_origin(eqn, jname: str) -> str:
    """'' when the named jit ``eqn`` is JAX's own function of that name (its source is in JAX's
    ``numpy/linalg.py`` or ``scipy/linalg.py``), 'user' when it is a function of the caller's that
    happens to have the name, else the reason it is not recognized (a JAX that moved or renamed
    it)."""
    body = eqn.params.get("jaxpr")
    info = getattr(getattr(body, "jaxpr", None), "debug_info", None)
    src = getattr(info, "func_src_info", None)
    if not src:
        return f"jit[{jname}] carries no source information: cannot tell it is JAX's"
    func, _, where = src.partition(" at ")
    path = where.rsplit(":", 1)[0].replace("\\", "/")
    if JAX_INTERNAL_DIR not in path:
        return "user"
    if func != jname or not path.endswith(JAX_LINALG_FILES):
        return f"unrecognized variant of jit[{jname}] ({src})"
    return ""


__all__ = [
    "ClosedJaxpr",
    "DropVar",
    "JAX_LINALG_FILES",
    "Jaxpr",
    "Literal",
    "cond_p",
    "custom_jvp_call_p",
    "custom_vjp_call_p",
    "jax_origin",
    "jit_p",
    "remat_p",
    "scan_p",
    "while_p",
]
