"""The package's layers, checked on the source text (``ast``; no module is imported).

core (``matcalc/_core/``) → kernels (``matcalc/_kernels/``) → families (elementary linalg,
factorizations, matrix functions, matrix equations, ODEs, and any new top-level package such as
``matcalc/krylov/``) → public namespaces. Three rules:

(a) only ``matcalc/_core/`` touches JAX internals (``jax._src``, ``jax.interpreters``,
    ``jax.extend``, ``jax.core``), by import or by attribute;
(b) a family imports no private name (leading underscore, or a name inside a private module)
    from another family or from the kernels;
(c) no upward import: core imports no kernel, family or public module; kernels import no family
    or public module; families import no public module.

``MATCALC_LAYERS_ROOT=/path/to/matcalc`` checks another tree; ``python tests/test_layers.py PATH``
prints the violations found in ``PATH``.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("MATCALC_LAYERS_ROOT", Path(__file__).resolve().parents[1] / "matcalc"))

CORE, KERNELS, FAMILY, PUBLIC = 0, 1, 2, 3
LAYER_NAMES = {CORE: "core", KERNELS: "kernels", FAMILY: "family", PUBLIC: "public"}

# first path component (file or package) -> (layer, family name)
KNOWN = {
    "_core": (CORE, "core"),
    "_rules": (CORE, "core"),  # the former import path of the core helpers
    "_kernels": (KERNELS, "kernels"),
    "_linalg": (FAMILY, "elementary"),
    "_kron": (FAMILY, "elementary"),
    "_factor": (FAMILY, "factorizations"),
    "_hermitian": (FAMILY, "matrix functions"),
    "_matfun": (FAMILY, "matrix functions"),
    "_equations": (FAMILY, "equations"),
    "_riccati": (FAMILY, "equations"),
    "_ode": (FAMILY, "ode"),
    "__init__": (PUBLIC, "public"),
    "hermitian": (PUBLIC, "public"),
    "spd": (PUBLIC, "public"),
    "ode": (PUBLIC, "public"),
    "testing": (PUBLIC, "public"),
    "numpy": (PUBLIC, "public"),
    "scipy": (PUBLIC, "public"),
    "_use_rules": (PUBLIC, "public"),
}
JAX_INTERNALS = ("jax._src", "jax.interpreters", "jax.extend", "jax.core")


def classify(parts: tuple[str, ...]) -> tuple[int, str]:
    """Layer and family of the module ``matcalc.<parts>``; an unknown top-level package or module
    (``krylov``) is a family of its own."""
    if not parts:
        return KNOWN["__init__"]
    head = parts[0]
    if head in KNOWN:
        return KNOWN[head]
    return FAMILY, head.lstrip("_")


@dataclass(frozen=True)
class Module:
    path: Path
    parts: tuple[str, ...]  # dotted name below matcalc, without "__init__"
    is_package: bool

    @property
    def name(self) -> str:
        return ".".join(("matcalc", *self.parts))


def modules(root: Path) -> list[Module]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("").parts
        is_package = rel[-1] == "__init__"
        parts = rel[:-1] if is_package else rel
        out.append(Module(path, tuple(parts), is_package))
    return out


def _module_exists(root: Path, parts: tuple[str, ...]) -> bool:
    base = root.joinpath(*parts) if parts else root
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@dataclass(frozen=True)
class Imported:
    target: tuple[str, ...]  # module imported from, below matcalc
    name: str  # the name bound (or the module's last component for a module import)
    line: int


def matcalc_imports(mod: Module, tree: ast.AST, root: Path) -> list[Imported]:
    """Every import of a matcalc module or name in ``tree`` (function-level imports included),
    resolved to the module that defines it."""
    out = []
    package = mod.parts if mod.is_package else mod.parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up > len(package):
                    continue
                base = package[: len(package) - up] if up else package
                base = base + tuple(node.module.split(".")) if node.module else base
            elif node.module and (node.module == "matcalc" or node.module.startswith("matcalc.")):
                base = tuple(node.module.split(".")[1:])
            else:
                continue
            for alias in node.names:
                sub = (*base, alias.name)
                if _module_exists(root, sub):
                    out.append(Imported(sub, alias.name, node.lineno))
                else:
                    out.append(Imported(base, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("matcalc."):
                    parts = tuple(alias.name.split(".")[1:])
                    out.append(Imported(parts, parts[-1], node.lineno))
    return out


def _dotted(node: ast.AST) -> str | None:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
        return ".".join(reversed(names))
    return None


def _is_internal(dotted: str) -> bool:
    return any(dotted == p or dotted.startswith(p + ".") for p in JAX_INTERNALS)


def jax_internal_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, what)`` for every import or attribute access of a JAX internal module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if _is_internal(a.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if _is_internal(node.module):
                out.append((node.lineno, node.module))
            elif node.module == "jax":
                out += [(node.lineno, f"jax.{a.name}") for a in node.names if _is_internal(f"jax.{a.name}")]
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted and _is_internal(dotted) and not _is_internal(dotted.rsplit(".", 1)[0]):
                out.append((node.lineno, dotted))
    return out


def _private_inside(target: tuple[str, ...]) -> str | None:
    """The first private component of ``target`` below its top-level package, if any."""
    return next((p for p in target[1:] if p.startswith("_") and p != "__init__"), None)


def violations(root: Path = ROOT) -> dict[str, list[str]]:
    """The violations of rules (a), (b), (c) in the tree at ``root``, by rule."""
    found: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    for mod in modules(root):
        tree = ast.parse(mod.path.read_text(encoding="utf-8"), filename=str(mod.path))
        layer, family = classify(mod.parts)
        if layer != CORE or mod.parts[:1] != ("_core",):
            for line, what in jax_internal_uses(tree):
                found["a"].append(f"{mod.name}:{line} uses the JAX internal {what} (only matcalc._core may)")
        for imp in matcalc_imports(mod, tree, root):
            t_layer, t_family = classify(imp.target)
            target = ".".join(("matcalc", *imp.target))
            if t_layer > layer:
                found["c"].append(
                    f"{mod.name}:{imp.line} ({LAYER_NAMES[layer]}) imports {imp.name} from "
                    f"{target} ({LAYER_NAMES[t_layer]}): an upward import"
                )
            if layer == FAMILY and t_layer in (KERNELS, FAMILY) and t_family != family:
                private = imp.name if imp.name.startswith("_") else _private_inside(imp.target)
                if private:
                    found["b"].append(
                        f"{mod.name}:{imp.line} (family {family}) imports the private name {private} "
                        f"({imp.name} from {target}, {t_family})"
                    )
    return found


def _message(items: list[str]) -> str:
    return "\n".join(items)


def test_tree_is_found():
    mods = modules(ROOT)
    assert any(m.parts == ("_core",) for m in mods), f"no matcalc/_core package under {ROOT}"
    assert len(mods) > 20


def test_only_core_touches_jax_internals():
    bad = violations()["a"]
    assert not bad, _message(bad)


def test_no_private_names_across_families():
    bad = violations()["b"]
    assert not bad, _message(bad)


def test_no_upward_imports():
    bad = violations()["c"]
    assert not bad, _message(bad)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("_core", "primitives"), (CORE, "core")),
        (("_kernels", "lu"), (KERNELS, "kernels")),
        (("_factor", "eigh"), (FAMILY, "factorizations")),
        (("_matfun", "hermitian"), (FAMILY, "matrix functions")),
        (("krylov", "lanczos"), (FAMILY, "krylov")),
        (("scipy", "sparse", "linalg"), (PUBLIC, "public")),
        ((), (PUBLIC, "public")),
    ],
)
def test_classify(parts, expected):
    assert classify(parts) == expected


def test_rules_catch_violations(tmp_path):
    """The checks fail on a tree that breaks each rule (a new family included)."""
    pkg = tmp_path / "matcalc"
    for sub in ("_core", "_kernels", "_factor", "krylov"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "_core" / "arrays.py").write_text("from .._kernels.lu import lu_pivoted\n")
    (pkg / "_kernels" / "lu.py").write_text("import jax\nx = jax.core.Tracer\ndef lu_pivoted(a): ...\n")
    (pkg / "_factor" / "eig.py").write_text("def _eig(a): ...\n")
    (pkg / "krylov" / "lanczos.py").write_text(
        "from jax.interpreters import ad\nfrom .._factor.eig import _eig\nfrom .. import testing\n"
    )
    (pkg / "testing.py").write_text("")
    found = violations(pkg)
    assert any("matcalc._kernels.lu:2" in v and "jax.core" in v for v in found["a"]), found["a"]
    assert any("matcalc.krylov.lanczos:1" in v and "jax.interpreters" in v for v in found["a"]), found["a"]
    assert any("matcalc.krylov.lanczos:2" in v and "_eig" in v for v in found["b"]), found["b"]
    assert any("matcalc._core.arrays:1" in v and "lu_pivoted" in v for v in found["c"]), found["c"]
    assert any("matcalc.krylov.lanczos:3" in v and "testing" in v for v in found["c"]), found["c"]


if __name__ == "__main__":
    tree = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    result = violations(tree)
    for rule, items in result.items():
        print(f"rule ({rule}): {len(items)} violation(s)")
        for item in items:
            print("  " + item)
    sys.exit(1 if any(result.values()) else 0)
