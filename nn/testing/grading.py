"""Grading a submission robustly: loading it, refusing the library as the answer, time limits.

``python -m nn check`` (nn/testing/cli.py) grades a student's file or notebook. Whatever the
submission does, the grader must end with a verdict and, for Gradescope, a valid
results.json. This module holds what makes that so:

``load_submission(path)``
    imports a ``.py`` file or the code cells of a ``.ipynb`` notebook as a module; a syntax
    error, an exception while importing, a cell that loops forever or a file too large
    becomes a ``SubmissionError`` whose message names the line (and the notebook cell).
``time_limit(seconds, what)``
    interrupts a check that runs longer (a SIGALRM timer: Linux and macOS, main thread).
``library_use(obj, module, exercise)`` and ``watch_library(exercise, obj, module)``
    the library must not be the answer: a class that inherits from the library's
    implementation of the graded layer, refers to it (or to its helpers in
    ``nn.functional`` / ``nn.layers.*``) in its source, or calls it while being graded is
    refused, with a message saying so. Three checks: the class's MRO, a static scan of the
    submission's source (imports and attribute chains, aliases resolved), and a runtime
    check that records calls to the library's implementation made from the student's code.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import json
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: a submission larger than this is refused before it is read (a .py of 1 MB is not an
#: answer; a notebook's images are stripped first, see ``notebook_source``)
MAX_SUBMISSION_BYTES = 5_000_000
#: the grader refuses an input shape with more entries (each is checked by finite differences)
MAX_INPUT_ENTRIES = 100_000


class SubmissionError(Exception):
    """The submission cannot be graded; the message says why, for the student."""


class CheckTimeout(BaseException):
    """A check ran past its time limit (a BaseException: ``except Exception`` in the
    student's code or in hypothesis does not swallow it)."""


# ----------------------------------------------------------------------------- time limit
@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise ``CheckTimeout`` in the block after ``seconds`` (re-raised every 0.5 s if the
    code swallows it). Without SIGALRM, or off the main thread, the block runs unlimited."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def fire(signum, frame):
        raise CheckTimeout(f"{what} did not finish within {seconds:g} s (an infinite loop? "
                           "a loop over a huge range?)")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds), 0.5)  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ----------------------------------------------------------------------------- loading
@dataclass
class Source:
    """The Python source graded and how to name its lines for the student."""

    text: str
    path: Path                       # the submitted file
    cells: list[tuple[int, int]]     # notebook: (first line, cell number) per code cell

    def where(self, lineno: int | None) -> str:
        """``"line 12"``, or ``"cell 3, line 4"`` in a notebook."""
        if lineno is None:
            return "an unknown line"
        if not self.cells:
            return f"line {lineno}"
        first, cell = max(((f, c) for f, c in self.cells if f <= lineno), default=(1, 1))
        return f"cell {cell}, line {lineno - first + 1}"


def notebook_source(path: Path) -> Source:
    """The code cells of a notebook as one module: cells tagged ``check`` or ``use-it`` (the
    exercise notebook's own check and demo cells) and cells calling ``check_exercise`` are
    left out, IPython magics and shell lines (``%``, ``!``) commented out. Cells are
    numbered from 1 counting every cell."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"{path.name} is not a readable notebook (.ipynb JSON): "
                              f"{exc}") from None
    lines: list[str] = []
    starts: list[tuple[int, int]] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        if tags & {"check", "use-it"} or "check_exercise(" in text:  # tags lost in a copy
            continue
        starts.append((len(lines) + 1, number))
        for line in text.splitlines():
            stripped = line.lstrip()
            lines.append("# " + line if stripped.startswith(("%", "!")) else line)
        lines.append("")
    return Source("\n".join(lines) + "\n", path, starts)


def read_source(file: str | Path) -> Source:
    path = Path(file)
    if not path.is_file():
        raise SubmissionError(f"no such file: {file}")
    size = path.stat().st_size
    if size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{path.name} is {size / 1e6:.1f} MB: the grader reads "
                              f"submissions of at most {MAX_SUBMISSION_BYTES / 1e6:g} MB")
    if path.suffix == ".ipynb":
        return notebook_source(path)
    try:
        return Source(path.read_text(encoding="utf-8"), path, [])
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path.name} is not a UTF-8 text file: {exc}") from None


def load_submission(file: str | Path, time_limit_s: float | None = None
                    ) -> tuple[types.ModuleType, Source]:
    """Import a ``.py`` file or a notebook's code cells; ``SubmissionError`` if it fails."""
    source = read_source(file)
    path = source.path.resolve()
    try:
        code = compile(source.text, str(path), "exec")
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        raise SubmissionError(f"{path.name} does not compile: {type(exc).__name__} at "
                              f"{source.where(exc.lineno)}: {exc.msg}"
                              + (f"\n    {text}" if text else "")) from None
    name = f"_nn_check_{path.stem.replace('-', '_')}_{abs(hash(str(path)))}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__dict__["__nn_source__"] = source  # names lines as the student sees them
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        with time_limit(time_limit_s, f"importing {path.name}"):
            exec(code, module.__dict__)
    except CheckTimeout as exc:
        raise SubmissionError(str(exc)) from None
    except BaseException as exc:  # SystemExit, KeyboardInterrupt in the student's code too
        line = _student_line(exc, str(path))
        raise SubmissionError(f"importing {path.name} failed: {type(exc).__name__}: {exc}"
                              + (f" (at {source.where(line)})" if line else "")) from None
    return module, source


def _student_line(exc: BaseException, filename: str) -> int | None:
    """The last line of ``filename`` in the exception's traceback."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def get_class(module: types.ModuleType, source: Source, name: str):
    if not hasattr(module, name):
        defined = sorted(k for k, v in vars(module).items()
                         if isinstance(v, type) and v.__module__ == module.__name__)
        raise SubmissionError(f"{source.path.name} defines no {name!r}"
                              + (f" (it defines {', '.join(defined)})" if defined else "")
                              + f": the grader looks for a class named {name}")
    return getattr(module, name)


# ----------------------------------------------------------------------------- the library
#: per exercise, the library's implementation of the graded object and its helpers
#: (dotted names; a subclass of a listed class counts as the class)
LIBRARY_IMPLEMENTATION: dict[str, tuple[str, ...]] = {
    "linear": ("nn.layers.linear.Linear",),
    "sigmoid": ("nn.layers.activation.Sigmoid", "nn.functional.sigmoid",
                "nn.layers.recurrent.sigmoid", "nn.layers.recurrent.sigmoid_reference"),
    "tanh": ("nn.layers.activation.Tanh",),
    "softmax-cross-entropy": ("nn.losses.CrossEntropyLoss", "nn.functional.softmax",
                              "nn.functional.log_softmax", "nn.functional.logsumexp",
                              "nn.layers.activation.Softmax", "nn.layers.activation.LogSoftmax"),
    "dropout": ("nn.layers.dropout.Dropout",),
    "adam": ("optim.adam.Adam",),
    "conv2d": ("nn.layers.conv.Conv2d", "nn.layers.conv._im2col_planes",
               "nn.layers._windows.windows_nhwc", "nn.layers._windows.offset_slices"),
    "maxpool2d": ("nn.layers.pooling._Pool", "nn.layers.pooling.max_pool_plain",
                  "nn.layers.pooling.max_pool_fast", "nn.layers.pooling.max_pool_backward_plain",
                  "nn.layers.pooling.max_pool_backward_fast", "nn.layers._windows.windows_nhwc",
                  "nn.layers._windows.offset_slices"),
    "batchnorm": ("nn.layers.normalization._BatchNorm",),
    "lstm-cell": ("nn.layers.recurrent._Recurrent", "nn.layers.recurrent.lstm_gates",
                  "nn.layers.recurrent.lstm_gates_reference", "nn.layers.recurrent.lstm_gates_grad",
                  "nn.layers.recurrent.lstm_gates_grad_reference"),
}
LIBRARY_IMPLEMENTATION["linear-square"] = LIBRARY_IMPLEMENTATION["linear"]
LIBRARY_IMPLEMENTATION["lstm"] = LIBRARY_IMPLEMENTATION["lstm-cell"]


def _resolve(dotted: str):
    mod, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def library_objects(exercise: str) -> list[tuple[str, object]]:
    """``(public name, object)`` of the library's implementation for ``exercise``."""
    return [(dotted, _resolve(dotted)) for dotted in LIBRARY_IMPLEMENTATION.get(exercise, ())]


def _is_library(value, forbidden: list[tuple[str, object]]) -> str | None:
    for name, obj in forbidden:
        if value is obj or (isinstance(value, type) and isinstance(obj, type)
                            and issubclass(value, obj)):
            return name
    return None


class _Aliases(ast.NodeVisitor):
    """Names bound by the module's imports: ``{"F": "nn.functional", "L": "nn.Linear"}``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.names[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.names[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                self.names[a.asname or a.name] = f"{node.module}.{a.name}"


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _lookup(dotted: str):
    """The object ``dotted`` names, importing modules as needed; None if it names nothing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # not a module (or a module failing to import): try shorter
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def static_library_use(source: str, exercise: str) -> list[str]:
    """References in ``source`` to the library's implementation of ``exercise``, as
    ``"line 12: nn.Linear"`` (imports and attribute chains, aliases resolved)."""
    forbidden = library_objects(exercise)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = _Aliases()
    aliases.visit(tree)
    roots = {"nn", "optim"}
    found: list[str] = []
    for node in ast.walk(tree):
        candidates: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            candidates = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, (ast.Attribute, ast.Name)):
            dotted = _dotted(node)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            full = aliases.names.get(head)
            if full is None:
                continue
            candidates = [full + ("." + rest if rest else "")]
        for dotted in candidates:
            if dotted.split(".")[0] not in roots:
                continue
            name = _is_library(_lookup(dotted), forbidden)
            if name is not None:
                entry = f"line {getattr(node, 'lineno', 0)}: {dotted}"
                if entry not in found:
                    found.append(entry)
    return sorted(found, key=lambda e: int(e.split(":")[0].split()[1]))


def library_use(obj, source: Source | None, exercise: str) -> str | None:
    """Why ``obj`` is refused as an answer to ``exercise`` (MRO, then its source), or None."""
    forbidden = library_objects(exercise)
    if not forbidden:
        return None
    label = getattr(obj, "__name__", type(obj).__name__)
    for base in getattr(obj, "__mro__", ())[1:]:
        name = _is_library(base, forbidden)
        if name is not None:
            full = (f"{base.__module__}.{base.__qualname__}"
                    if base.__module__.startswith(("nn.", "optim.")) else base.__qualname__)
            return (f"[library] {label} inherits from {full}"
                    + (f" (a subclass of {name})" if name != full else "")
                    + ": the library's own implementation of the exercise is not an "
                    "answer; write the class yourself (subclass nn.Layer)")
    if source is not None:
        uses = static_library_use(source.text, exercise)
        if uses:
            where = "; ".join(_where(u, source) for u in uses[:5])
            return (f"[library] {source.path.name} uses the library's implementation of the "
                    f"exercise ({where}): it is not an answer; write the computation yourself")
    return None


def _where(entry: str, source: Source) -> str:
    line, _, what = entry.partition(": ")
    return f"{what} at {source.where(int(line.split()[1]))}"


class LibraryCalled(Exception):
    """Raised by ``watch_library`` after grading when the student's code called the
    library's implementation of the exercise."""


@contextlib.contextmanager
def watch_library(exercise: str | None, obj, module: Any) -> Iterator[list[str]]:
    """Record calls to the library's implementation of ``exercise`` made from the student's
    code (a frame of the submission's file, or of one of ``obj``'s methods, on the stack),
    while the block runs; yields the list of what was called."""
    calls: list[str] = []
    if exercise is None or not library_objects(exercise):
        yield calls
        return
    file = getattr(module, "__file__", None)
    files = {str(Path(file).resolve())} if file else set()
    codes = set()
    for cls in getattr(obj, "__mro__", (obj,)):
        for value in vars(cls).values() if hasattr(cls, "__dict__") else ():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None and not code.co_filename.startswith(_library_dirs()):
                codes.add(code)

    def from_student() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code in codes or frame.f_code.co_filename in files:
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def wrap(fn: Callable, name: str) -> Callable:
        def recorded(*args, **kwargs):
            if from_student() and name not in calls:
                calls.append(name)
            return fn(*args, **kwargs)
        recorded.__wrapped__ = fn  # type: ignore[attr-defined]
        return recorded

    restore: list[tuple[object, str, object]] = []
    target: Any
    for name, target in library_objects(exercise):
        if isinstance(target, type):
            for attr in ("forward", "backward", "update", "update_fast", "__call__"):
                if attr in vars(target):
                    restore.append((target, attr, vars(target)[attr]))
                    setattr(target, attr, wrap(vars(target)[attr], name))
        else:
            for mod in list(sys.modules.values()):
                mod_name = getattr(mod, "__name__", "") or ""
                if not mod_name.startswith(("nn", "optim")):
                    continue
                for attr, value in list(vars(mod).items()):
                    if value is target:
                        restore.append((mod, attr, value))
                        setattr(mod, attr, wrap(target, name))
    try:
        yield calls
    finally:
        for owner, attr, value in reversed(restore):
            setattr(owner, attr, value)


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    import nn
    import optim

    return tuple(str(Path(str(m.__file__)).resolve().parent) for m in (nn, optim))



def refusal_for_calls(calls: list[str], label: str) -> str:
    return (f"[library] {label} called the library's implementation of the exercise while "
            f"being graded ({', '.join(calls)}): it is not an answer; write the computation "
            "yourself")
