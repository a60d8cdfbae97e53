"""The distribution: its name, one version, license, typing marker, extras, CI, install
hints, the built wheel, and the BLAS thread limit of the jobs (threadpoolctl).

The distribution is ``readable-nn``: ``nn-from-scratch`` is an unrelated project on PyPI, so
an install hint naming it would install someone else's code. The metadata is read from
pyproject.toml (and from a wheel built offline from a copy of the sources), not from the
installed distribution, which on a development machine may be an older editable install:
``importlib.metadata`` is compared only when the installed ``readable-nn`` is this checkout.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

import nn
import optim

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: tomli, a dependency of pytest there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NAME = "readable-nn"
OLD = re.compile(r"nn[-_.]from[-_.]scratch", re.I)
#: the files that may name the old distribution: the changelog says it was renamed, and this
#: test names what it looks for
MAY_NAME_THE_OLD_NAME = {"CHANGELOG.md", "tests/test_packaging.py"}
SKIP_DIRS = {".git", "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache",
             ".mypy_cache", "build", "dist", ".venv", "runs"}


def _repo_text_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # binary (digits.npz, figures)
            yield path.relative_to(ROOT).as_posix(), text


def test_distribution_name_is_readable_nn_and_import_names_stay():
    assert PROJECT["name"] == NAME
    assert PROJECT["scripts"] == {"nn": "nn.__main__:main"}
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["nn*", "optim*"]
    assert nn.__name__ == "nn" and optim.__name__ == "optim"


def test_no_install_hint_names_the_old_distribution():
    """Every install hint with an extra, in code, docs and data, names ``readable-nn``;
    the old name appears nowhere but in the changelog's note of the rename."""
    hints, old = [], []
    for rel, text in _repo_text_files():
        for lineno, line in enumerate(text.splitlines(), 1):
            if OLD.search(line) and rel not in MAY_NAME_THE_OLD_NAME:
                old.append(f"{rel}:{lineno}: {line.strip()}")
            for hint in re.findall(r"pip install\s+(?:-e\s+)?['\"]?([\w.\-]+)\[", line):
                if hint not in (NAME, "."):
                    hints.append(f"{rel}:{lineno}: {line.strip()}")
    assert not old, "the old distribution name (an unrelated PyPI project):\n" + "\n".join(old)
    assert not hints, f"install hints not naming {NAME}:\n" + "\n".join(hints)


def test_one_version_source():
    from nn import _version

    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "nn._version.__version__"}
    assert nn.__version__ == optim.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", nn.__version__)
    assert (ROOT / "nn" / "_version.py").read_text().count("__version__ =") == 1
    for rel in ("nn/__init__.py", "optim/__init__.py"):
        assert not re.search(r"__version__\s*=\s*['\"]", (ROOT / rel).read_text()), rel


def test_installed_metadata_when_installed_under_the_new_name():
    """The pyproject metadata always; the installed metadata too once this project is
    installed as ``readable-nn`` (a development machine may still have the old editable
    install, which is not compared)."""
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert PROJECT["requires-python"] == ">=3.10"
    try:
        dist = importlib.metadata.distribution(NAME)
    except importlib.metadata.PackageNotFoundError:
        return
    assert dist.metadata["Name"] == NAME and dist.version == nn.__version__
    assert any(r.startswith("threadpoolctl") for r in dist.requires or ())


def test_license_is_mit_for_the_readable_nn_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert re.search(r"Copyright \(c\) \d{4} the readable-nn authors", text)


def test_py_typed_is_shipped_in_both_packages():
    assert (ROOT / "nn" / "py.typed").is_file() and (ROOT / "optim" / "py.typed").is_file()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert data["nn"] == ["py.typed"] and data["optim"] == ["py.typed"]


def test_extras_and_dependencies():
    extras = PROJECT["optional-dependencies"]
    assert extras["torch"] == ["torch==2.13.0"]  # exactly: another version is gigabytes
    assert extras["interop"] == ["torch==2.13.0", "onnx>=1.16", "onnxruntime>=1.18"]
    assert any(r.startswith("mypy") for r in extras["typecheck"])
    assert {r.split(">")[0] for r in extras["test"]} == {"pytest", "hypothesis", "setuptools"}
    assert {r.split(">")[0] for r in extras["onnx"]} == {"onnx", "onnxruntime"}
    assert {re.split(r"[<>=]", r)[0] for r in extras["notebooks"]} == {
        "jupytext", "nbformat", "nbclient", "ipykernel", "matplotlib"}
    deps = {re.split(r"[<>=!~ ]", r)[0] for r in PROJECT["dependencies"]}
    assert deps == {"numpy", "scipy", "tqdm", "threadpoolctl"}


def test_ci_installs_the_extras_runs_mypy_and_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r'pip install -e "\.\[([\w,-]+)\]" && python -m nn', ci)
    assert install, "CI installs the package with its extras, then runs python -m nn"
    # every extra whose tests would otherwise be skipped (notebooks: tests/test_classroom.py
    # runs the notebooks; mnist1d: tests/test_mnist1d.py)
    assert {"test", "interop", "typecheck", "docs", "notebooks", "mnist1d"} <= set(
        install.group(1).split(","))
    assert "import onnx, onnxruntime" in ci  # the to_onnx tests run instead of being skipped
    assert re.search(r"^python -m mypy$", ci, re.M)
    assert re.search(r"^python -m pytest$", ci, re.M)
    assert "import torch" in ci  # the comparison tests run instead of being skipped
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["files"] == ["nn", "optim"] and mypy["check_untyped_defs"] is True
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[test]" && python -m nn' in readme
    assert "python -m pytest" in readme and "docs/api.md" in readme


def test_changelog_has_unreleased_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    assert re.search(r"^## \[Unreleased\]$", text, re.M)
    assert re.search(rf"^## \[{re.escape(nn.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text,
                     re.M)


def test_wheel_built_offline_has_the_metadata_and_the_data(tmp_path):
    """A wheel built by setuptools from a copy of the sources (no network, no build
    isolation): name, version, license, dependencies, extras, entry point, py.typed, the
    bundled data."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("nn", "optim"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    out = tmp_path / "dist"
    code = ("import sys; from setuptools import build_meta; "
            "print(build_meta.build_wheel(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = out / proc.stdout.strip().splitlines()[-1]
    assert wheel.name == f"readable_nn-{nn.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"readable_nn-{nn.__version__}.dist-info"
        meta = zf.read(f"{info}/METADATA").decode()
        entry = zf.read(f"{info}/entry_points.txt").decode()
    assert {"nn/py.typed", "optim/py.typed", "nn/datasets/digits.npz",
            "nn/datasets/docs_corpus.txt", "nn/_version.py", f"{info}/licenses/LICENSE"} <= names
    assert any(n.startswith("nn/testing/") for n in names)
    assert f"Name: {NAME}\n" in meta and f"Version: {nn.__version__}\n" in meta
    assert "License-Expression: MIT\n" in meta
    for req in ("numpy>=1.24", "threadpoolctl>=3.1", 'torch==2.13.0; extra == "torch"'):
        assert f"Requires-Dist: {req}\n" in meta, req
    assert "nn = nn.__main__:main" in entry


# ---------------------------------------------------------------------- BLAS threads
def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_threads_limits_every_blas_pool_in_the_block_and_restores(monkeypatch):
    """nn/jobs/common.py's ``blas_threads`` (the recurrent and transformer jobs) limits
    BLAS through threadpoolctl: inside the block every BLAS library threadpoolctl finds
    (NumPy's OpenBLAS here) runs ``n`` threads; after it, the previous counts are back; with
    ``OPENBLAS_NUM_THREADS`` set (the user chose) nothing changes."""
    from nn.jobs.common import blas_threads

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded
    before = _blas_threads()
    assert before, "threadpoolctl finds NumPy's BLAS"
    with blas_threads(1):
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(before[0]))
    with blas_threads(1):
        assert _blas_threads() == before
    assert "ctypes" not in (ROOT / "nn" / "jobs" / "common.py").read_text()


def test_import_nn_loads_no_progress_bar_module():
    """In a notebook without ipywidgets, importing tqdm.auto shows a warning: ``import nn``
    must not import it (the loaders and the progress callback import it when they run)."""
    code = "import sys, nn; print('tqdm.auto' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out[0] == "False"
