"""``python -m nn exercises``: the exercises as notebooks, skeletons and Gradescope bundles.

One source per exercise, docs/exercises/notebooks/NN-name.py, in jupytext's percent format
(a plain Python file whose ``# %%`` lines start cells: diffable, reviewable, runnable as it
is). In it:

- Markdown cells: the derivation, in docs/math's symbols (LaTeX). A cell tagged
  ``solution`` (the result of the derivation) is only in the solution notebook.
- The cell tagged ``skeleton``: the class the student completes. Inside it, the lines
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are the solution; the lines
  between ``### BEGIN STUDENT`` and ``### END STUDENT`` are what the student gets instead,
  written as comments (``# raise NotImplementedError(...)``) so that the source runs as
  the solution. The skeleton file docs/exercises/<name>.py is this cell's student version.
- The cell tagged ``check``: grades the class with ``nn.testing.check_exercise`` (the
  gradcheck table per tensor); in the student notebook it fails until the work is done.
- The cell tagged ``use-it``: trains a small model with the class and plots its loss.

Sub-commands (see docs/teaching.md)::

    python -m nn exercises build --out DIR        DIR/student/*.ipynb, DIR/solution/*.ipynb
    python -m nn exercises skeletons [--check]    write (or compare) docs/exercises/*.py
    python -m nn exercises gradescope --out DIR   DIR/<exercise>.zip, one autograder each

Building notebooks needs the ``notebooks`` extra (jupytext, nbformat); ``import nn`` does not.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_STUDENT, END_STUDENT = "### BEGIN STUDENT", "### END STUDENT"
_INSTALL = "pip install 'readable-nn[notebooks]'"


def repository_root() -> Path:
    """The checkout holding docs/exercises: the current directory's, else the package's."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / "docs" / "exercises" / "notebooks").is_dir():
            return base
    raise SystemExit("python -m nn exercises: no docs/exercises/notebooks here; run it from "
                     "a clone of the repository, or give --source")


def default_source() -> Path:
    return repository_root() / "docs" / "exercises" / "notebooks"


# ----------------------------------------------------------------------------- markers
def strip_solutions(code: str, version: str) -> str:
    """The ``student`` or ``solution`` version of a code cell's text (see the module
    docstring for the markers). Raises ValueError on unbalanced markers."""
    out: list[str] = []
    block: str | None = None
    for number, line in enumerate(code.splitlines(), start=1):
        mark = line.strip()
        if mark in (BEGIN_SOLUTION, BEGIN_STUDENT):
            if block is not None:
                raise ValueError(f"line {number}: {mark} inside another block")
            block = "solution" if mark == BEGIN_SOLUTION else "student"
            continue
        if mark in (END_SOLUTION, END_STUDENT):
            if block != ("solution" if mark == END_SOLUTION else "student"):
                raise ValueError(f"line {number}: {mark} without its BEGIN")
            block = None
            continue
        if block is None:
            out.append(line)
        elif block == "solution" and version == "solution":
            out.append(line)
        elif block == "student" and version == "student":
            out.append(_uncomment(line, number))
    if block is not None:
        raise ValueError(f"a {block} block is not closed")
    return "\n".join(out)


def _uncomment(line: str, number: int) -> str:
    """``    # text`` -> ``    text``: a student line is written as a comment."""
    m = re.match(r"^(\s*)# ?(.*)$", line)
    if m is None:
        raise ValueError(f"line {number}: a line between {BEGIN_STUDENT} and {END_STUDENT} "
                         f"must be a comment, got {line!r}")
    return m.group(1) + m.group(2)


# ----------------------------------------------------------------------------- notebooks
def _jupytext():
    try:
        import jupytext
    except ImportError:
        raise SystemExit(f"python -m nn exercises: building notebooks needs jupytext and "
                         f"nbformat: {_INSTALL}") from None
    return jupytext


@dataclass
class ExerciseSource:
    """One source file: its path, its notebook and the skeleton file it defines."""

    path: Path
    notebook: object  # nbformat.NotebookNode

    @property
    def stem(self) -> str:
        return self.path.stem

    def skeleton_name(self) -> str:
        for cell in self.notebook.cells:  # type: ignore[attr-defined]
            if "skeleton" in cell.metadata.get("tags", []):
                return str(cell.metadata.get("file", f"{self.stem}.py"))
        raise ValueError(f"{self.path.name}: no cell tagged skeleton")


def read_sources(source: Path | None = None) -> list[ExerciseSource]:
    jupytext = _jupytext()
    folder = source or default_source()
    files = sorted(folder.glob("[0-9][0-9]-*.py"))
    if not files:
        raise SystemExit(f"python -m nn exercises: no exercise sources (NN-name.py) in {folder}")
    return [ExerciseSource(f, jupytext.read(f, fmt="py:percent")) for f in files]


def notebook_version(src: ExerciseSource, version: str):
    """A copy of the source's notebook for ``student`` or ``solution``."""
    import copy

    nb = copy.deepcopy(src.notebook)
    cells = []
    for cell in nb.cells:  # type: ignore[attr-defined]
        tags = cell.metadata.get("tags", [])
        if "solution" in tags and version == "student":
            continue
        if cell.cell_type == "code":
            try:
                cell.source = strip_solutions(cell.source, version)
            except ValueError as exc:
                raise SystemExit(f"python -m nn exercises: {src.path.name}: {exc}") from None
        cell.metadata.pop("file", None)
        cells.append(cell)
    nb.cells = cells  # type: ignore[attr-defined]
    nb.metadata.pop("jupytext", None)  # type: ignore[attr-defined]
    nb.metadata.setdefault("kernelspec", {  # type: ignore[attr-defined]
        "display_name": "Python 3", "language": "python", "name": "python3"})
    return nb


def build_notebooks(out: Path, source: Path | None = None) -> list[Path]:
    """Write ``out/student/NN-name.ipynb`` and ``out/solution/NN-name.ipynb``."""
    import nbformat

    written = []
    for src in read_sources(source):
        for version in ("student", "solution"):
            path = out / version / f"{src.stem}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nb = notebook_version(src, version)
            nbformat.validate(nb)
            nbformat.write(nb, str(path))
            written.append(path)
    return written


def skeleton_text(src: ExerciseSource, version: str = "student") -> str:
    """The skeleton file: the ``skeleton`` cell's ``version``, ending with a newline."""
    for cell in src.notebook.cells:  # type: ignore[attr-defined]
        if "skeleton" in cell.metadata.get("tags", []):
            return strip_solutions(cell.source, version).rstrip() + "\n"
    raise ValueError(f"{src.path.name}: no cell tagged skeleton")


def write_skeletons(dest: Path, source: Path | None = None, version: str = "student",
                    check: bool = False) -> list[str]:
    """Write each source's skeleton into ``dest`` (or, with ``check``, list those that
    differ from what is there)."""
    stale = []
    for src in read_sources(source):
        path = dest / src.skeleton_name()
        text = skeleton_text(src, version)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            stale.append(str(path))
    return stale


# ----------------------------------------------------------------------------- Gradescope
SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu, files
# of the zip in /autograder/source). It installs the grader: this project, from the copy
# in the zip (or from {spec} when the zip holds none).
set -euo pipefail
cd /autograder/source
apt-get update -qq && apt-get install -y -qq python3 python3-pip > /dev/null || true
PY=$(command -v python3)
if [ -d readable-nn ]; then
    "$PY" -m pip install --break-system-packages --quiet "./readable-nn[test]" \\
        || "$PY" -m pip install --quiet "./readable-nn[test]"
else
    "$PY" -m pip install --break-system-packages --quiet "{spec}" \\
        || "$PY" -m pip install --quiet "{spec}"
fi
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades the student's file (or notebook)
# in the submission folder and writes the results.json Gradescope reads. The folders
# default to Gradescope's and can be moved for a test run:
#   AUTOGRADER_ROOT=/tmp/ag ./run_autograder
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SUBMISSION="${{SUBMISSION_DIR:-$ROOT/submission}}"
RESULTS="${{RESULTS_DIR:-$ROOT/results}}"
PY="${{PYTHON:-python3}}"
mkdir -p "$RESULTS"
"$PY" -m nn.classroom grade-submission --submission "$SUBMISSION" \\
    --results "$RESULTS/results.json" --exercise {exercise} --class-names {classes} \\
    --files {files} --time-limit {time_limit}
# the grader writes results.json whatever the submission does; the status is its verdict
exit 0
"""


def _skeleton_info(src: ExerciseSource) -> tuple[str, list[str], list[str]]:
    """(skeleton file, class names, exercise names) graded for this source."""
    text = skeleton_text(src, "solution")
    names = re.findall(r"^EXERCISE = (.+)$", text, flags=re.M)
    if not names:
        raise ValueError(f"{src.path.name}: the skeleton cell sets no EXERCISE")
    value = ast.literal_eval(names[0])  # a string, or a {class: exercise} dict
    if isinstance(value, dict):
        return src.skeleton_name(), list(value), list(value.values())
    classes = re.findall(r"^class (\w+)\b", text, flags=re.M)
    # registered variants of the exercise (linear-square: in = out) grade the class again
    from .testing.exercises import EXERCISES

    names = [value] + sorted(n for n in EXERCISES if n.startswith(f"{value}-"))
    return src.skeleton_name(), classes[:1] * len(names), names


def build_gradescope(out: Path, source: Path | None = None, spec: str = "readable-nn",
                     include_project: bool = True, time_limit: float = 30.0) -> list[Path]:
    """Write ``out/NN-name.zip`` per exercise: setup.sh and run_autograder at the root, as
    Gradescope expects, and (``include_project``) a copy of nn/ and optim/ to install."""
    root = repository_root()
    written = []
    for src in read_sources(source):
        file, classes, exercises_ = _skeleton_info(src)
        run = RUN_AUTOGRADER.format(exercise=",".join(exercises_),
                                    classes=",".join(classes),
                                    files=f"{file},{src.stem}.ipynb,{src.stem}.py",
                                    time_limit=f"{time_limit:g}")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{src.stem}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            _add(z, "setup.sh", SETUP_SH.format(spec=spec), executable=True)
            _add(z, "run_autograder", run, executable=True)
            if include_project:
                for package in ("nn", "optim"):
                    for f in sorted((root / package).rglob("*")):
                        if f.is_file() and "__pycache__" not in f.parts:
                            z.write(f, f"readable-nn/{f.relative_to(root)}")
                for top in ("pyproject.toml", "README.md", "LICENSE"):
                    if (root / top).is_file():
                        z.write(root / top, f"readable-nn/{top}")
        written.append(path)
    return written


def _add(z: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, text)


def grade_submission(submission: Path, results: Path, exercises_: list[str],
                     classes: list[str], files: list[str], time_limit: float) -> int:
    """Grade a Gradescope submission folder; always writes ``results`` (a valid
    results.json), one graded class after another, their tests side by side."""
    from .testing import cli

    found = [submission / f for f in files if (submission / f).is_file()]
    if not found:  # any single .py or .ipynb will do
        found = sorted(p for p in submission.glob("*") if p.suffix in (".py", ".ipynb"))
    if not found:
        present = sorted(p.name for p in submission.glob("*")) if submission.is_dir() else []
        doc = {"score": 0, "output": f"no submission found: expected {' or '.join(files)} "
                                     f"(the folder holds: {', '.join(present) or 'nothing'})",
               "tests": [{"name": "the submission is there", "score": 0, "max_score": 1,
                          "output": "no .py or .ipynb file submitted",
                          "visibility": "visible", "status": "failed"}]}
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return 1
    tests, outputs, status = [], [], 0
    for cls, ex in zip(classes, exercises_):
        part = results.with_name(f".{cls}.json")
        ns = cli._parser().parse_args([f"{found[0]}:{cls}", "--exercise", ex, "--format",
                                       "gradescope", "--output", str(part),
                                       "--time-limit", str(time_limit)])
        status |= cli.run(ns, out=lambda line: None)
        doc = json.loads(part.read_text(encoding="utf-8"))
        part.unlink()
        prefix = f"{cls} ({ex}): " if len(classes) > 1 else ""
        for t in doc["tests"]:
            t["name"] = prefix + t["name"]
        tests += doc["tests"]
        outputs.append(doc["output"])
    document = {"score": sum(t["score"] for t in tests), "output": "\n\n".join(outputs),
                "visibility": "visible", "stdout_visibility": "visible", "tests": tests}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return status


# ----------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nn exercises",
                                description="Build the exercises' notebooks, skeleton files "
                                            "and Gradescope autograder bundles from their "
                                            "sources (docs/exercises/notebooks).")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="student and solution notebooks")
    b.add_argument("--out", required=True, type=Path,
                   help="folder: OUT/student/*.ipynb and OUT/solution/*.ipynb")
    s = sub.add_parser("skeletons", help="the skeleton files docs/exercises/*.py")
    s.add_argument("--out", type=Path, default=None,
                   help="folder (default: docs/exercises of the repository)")
    s.add_argument("--solutions", action="store_true",
                   help="write the solution version instead (for teachers)")
    s.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a skeleton differs from its source")
    g = sub.add_parser("gradescope", help="one Gradescope autograder zip per exercise")
    g.add_argument("--out", required=True, type=Path, help="folder for the .zip files")
    g.add_argument("--spec", default="readable-nn",
                   help="what setup.sh installs without the bundled copy (pip spec)")
    g.add_argument("--no-project", action="store_true",
                   help="do not bundle this checkout's nn/ and optim/ (install --spec)")
    g.add_argument("--time-limit", type=float, default=30.0,
                   help="seconds per check (default: 30)")
    for q in (b, s, g):
        q.add_argument("--source", type=Path, default=None,
                       help="the sources' folder (default: docs/exercises/notebooks)")
    r = sub.add_parser("grade-submission", help="(used by run_autograder) grade a folder")
    r.add_argument("--submission", type=Path, required=True)
    r.add_argument("--results", type=Path, required=True)
    r.add_argument("--exercise", required=True, help="exercise names, comma-separated")
    r.add_argument("--class-names", required=True, help="class names, comma-separated")
    r.add_argument("--files", required=True, help="accepted file names, comma-separated")
    r.add_argument("--time-limit", type=float, default=30.0)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    if ns.command == "build":
        for path in build_notebooks(ns.out, ns.source):
            print(path)
        return 0
    if ns.command == "skeletons":
        dest = ns.out or repository_root() / "docs" / "exercises"
        version = "solution" if ns.solutions else "student"
        paths = write_skeletons(dest, ns.source, version, check=ns.check)
        if ns.check:
            for name in paths:
                print(f"out of date: {name} (python -m nn exercises skeletons)")
            return 1 if paths else 0
        for name in paths:
            print(name)
        return 0
    if ns.command == "gradescope":
        for path in build_gradescope(ns.out, ns.source, ns.spec, not ns.no_project,
                                     ns.time_limit):
            print(path)
        return 0
    return grade_submission(ns.submission, ns.results, ns.exercise.split(","),
                            ns.class_names.split(","), ns.files.split(","), ns.time_limit)


if __name__ == "__main__":
    sys.exit(main())
