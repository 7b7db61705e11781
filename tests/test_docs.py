"""The documentation builds without a warning, and the package imports with docstrings stripped."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_with_docstrings_stripped():
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [
            sys.executable,
            "-OO",
            "-c",
            "import matcalc, matcalc.scipy.linalg, matcalc.numpy.linalg; print(matcalc.inv.__doc__)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"


def test_docs_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs build needs the docs extra")
    pytest.importorskip("mkdocstrings", reason="the docs build needs the docs extra")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    for page in (
        "index.html",
        "architecture/index.html",
        "api/factorizations/index.html",
        "notebooks/10_eigenproblems/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "api" / "factorizations" / "index.html").read_text()
    assert "Murray" in api  # the cholesky rule's docstring, rendered
