"""Every public docstring carries an ``Examples`` section, and every example runs as written.

The examples are read by newcomers and rendered by mkdocstrings, so they are part of the contract:
each one is run here with :mod:`doctest` (``ELLIPSIS | NORMALIZE_WHITESPACE``). They may assume
``import jax``, ``import jax.numpy as jnp``, ``import numpy as np`` and ``import matcalc``, the
names every example starts from; float64 is on (``tests/conftest.py``).
"""

from __future__ import annotations

import doctest
import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import matcalc
import matcalc.testing

PUBLIC_MODULES = ("hermitian", "krylov", "spd", "ode", "testing")


def _public_names() -> list[str]:
    """The operations of ``public_operations()`` on ``matcalc`` itself and on its public submodules
    (not the mirrors), plus every function in the ``__all__`` of those submodules."""
    ops = matcalc.testing.public_operations()
    names = [n for n in ops if n in matcalc.__all__ or n.split(".")[0] in PUBLIC_MODULES]
    for mod in PUBLIC_MODULES:
        names.extend(f"{mod}.{sub}" for sub in getattr(matcalc, mod).__all__)
    names = list(dict.fromkeys(names))
    # functions only: classes (``testing.Problem``, the adjoint objects of ``ode``) are options
    return sorted(n for n in names if inspect.isfunction(inspect.unwrap(_resolve(n))))


def _resolve(name: str):
    obj = matcalc
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


NAMES = _public_names()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_EXAMPLES = re.compile(r"^\s*Examples:\s*$", re.MULTILINE)
_NEGATIVE_ZERO = re.compile(r"(?<![\d.])-(0\.0*)(?![0-9])")


class _Checker(doctest.OutputChecker):
    """The stock checker, except that a printed ``-0.`` equals ``0.``: the sign of a rounded
    zero depends on the last bit of a floating-point result, which varies across platforms."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(
            _NEGATIVE_ZERO.sub(r" \1", want), _NEGATIVE_ZERO.sub(r" \1", got), optionflags
        )


def _docstring(name: str) -> str:
    return inspect.getdoc(_resolve(name)) or ""


def test_negative_zero_is_zero():
    checker = _Checker()
    assert checker.check_output("[[ 0.  1.]]\n", "[[-0.  1.]]\n", _FLAGS)
    assert checker.check_output("0.000000\n", "-0.000000\n", _FLAGS)
    assert not checker.check_output("[0.5]\n", "[-0.5]\n", _FLAGS)
    assert not checker.check_output("0.05\n", "-0.05\n", _FLAGS)
    assert not checker.check_output("10.\n", "-10.\n", _FLAGS)


def test_the_list_of_public_names_is_complete():
    assert len(NAMES) > 60
    for name in ("inv", "hermitian.funm", "spd.frechet_distance", "ode.odeint", "testing.check_rule"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_has_examples(name):
    doc = _docstring(name)
    match = _EXAMPLES.search(doc)
    assert match, f"{name}: the docstring has no 'Examples:' section"
    assert ">>> " in doc[match.end() :], f"{name}: the 'Examples:' section has no '>>>' line"


@pytest.mark.parametrize("name", NAMES)
def test_examples_run(name):
    obj = _resolve(name)
    globs = {"jax": jax, "jnp": jnp, "np": np, "matcalc": matcalc}
    tests = doctest.DocTestFinder(recurse=False).find(obj, name=f"matcalc.{name}", globs=globs)
    tests = [t for t in tests if t.examples]
    assert tests, f"{name}: no doctest examples found"
    out: list[str] = []
    runner = doctest.DocTestRunner(checker=_Checker(), optionflags=_FLAGS)
    for test in tests:
        runner.run(test, out=out.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(out)
