"""``python -m nn check FILE:NAME``: grade a layer, loss or optimizer written by a student.

Imports ``NAME`` from ``FILE``, builds it (``--args`` JSON: a list of positional or a dict of
keyword arguments), and checks it: first on one fixed case, printing the gradcheck table
(PASS/FAIL per tensor, worst index, analytic and numeric values there), then on generated
cases (hypothesis, derandomized: the same cases on every run). Exit status 0 when every
check passes, 1 otherwise. A file with ``EXERCISE = "name"`` takes that exercise's input
shape, arguments, input nudge and extra checks (nn/testing/exercises.py), and is graded
in each of the exercise's configurations (e.g. Conv2d with and without padding); options
override the shape and the arguments, and then only that configuration is graded.

``--format gradescope`` (or ``json``) grades one test per gradient tensor and per property
and writes Gradescope's results.json (SPEC "Grader output"); FILE may be a notebook. What
makes any submission end in a verdict (syntax errors, time limits, the library refused as
the answer) is in :mod:`nn.testing.grading`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import exercises, grading


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nn check",
        description="Grade a Layer, Loss or Optimizer class from a Python file: gradients "
                    "against central finite differences for the input and every parameter, "
                    "plus dtype, no-mutation, accumulation and determinism properties "
                    "(optimizers: the update against the library's rule). Exit status 0 if "
                    "every check passes, 1 if not.")
    p.add_argument("target", metavar="FILE:NAME",
                   help="the file and the class (or factory function) in it, e.g. "
                        "docs/exercises/linear.py:Linear")
    p.add_argument("--input-shape", metavar="N,D,...",
                   help="input shape, comma-separated (default: the exercise's)")
    p.add_argument("--args", metavar="JSON", default=None,
                   help='constructor arguments: a JSON list (positional) or object (keywords), '
                        'e.g. \'{"in_features": 3, "out_features": 2}\'')
    p.add_argument("--kind", choices=["layer", "loss", "optimizer"], default=None,
                   help="what NAME is (default: detected from its base class)")
    p.add_argument("--targets", default=None,
                   help="for a loss: classes, probabilities, unit, sign or same (default: "
                        "classes)")
    p.add_argument("--reference", default=None,
                   help="for an optimizer: the reference class, e.g. optim.Adam (default: the "
                        "optim class of the same name)")
    p.add_argument("--exercise", default=None,
                   help="grade as this exercise (default: the file's EXERCISE variable)")
    p.add_argument("--examples", type=int, default=20,
                   help="generated cases after the fixed one (default: 20; a quarter as many "
                        "in each further configuration of the exercise)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed case (default: 0)")
    p.add_argument("--format", choices=["text", "json", "gradescope"], default="text",
                   help="text: the report (default); json: every test with its score; "
                        "gradescope: the results.json Gradescope's autograder reads")
    p.add_argument("--output", metavar="PATH", default=None,
                   help="write the report (text) or the JSON document there instead of "
                        "standard output")
    p.add_argument("--time-limit", type=float, default=30.0, metavar="SECONDS",
                   help="seconds each check may run before it fails as a time-out "
                        "(default: 30; 0: no limit)")
    p.add_argument("--allow-library", action="store_true",
                   help="grade a class that uses the library's own implementation of the "
                        "exercise (refused by default: the library is not the answer)")
    return p


def load_object(target: str):
    """``(module, object)`` for ``"path/to/file.py:Name"`` (or ``notebook.ipynb:Name``).

    Raises ``SubmissionError`` with a message for the student when the file does not
    compile, fails to import or does not define ``Name``.
    """
    if ":" not in target:
        raise grading.SubmissionError(f"expected FILE:NAME, got {target!r}")
    file, name = target.rsplit(":", 1)
    module, source = grading.load_submission(file, _IMPORT_TIME_LIMIT)
    return module, grading.get_class(module, source, name)


#: seconds the submission's module may take to import (its top-level code)
_IMPORT_TIME_LIMIT = 60.0


def _resolve(dotted: str):
    mod, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def _kind_of(obj) -> str:
    import optim
    from nn.losses import Loss

    if isinstance(obj, type):
        if issubclass(obj, Loss):
            return "loss"
        if issubclass(obj, optim.Optimizer) or (hasattr(obj, "step")
                                                and not hasattr(obj, "forward")):
            return "optimizer"
    return "layer"


def _factory(obj, args):
    if isinstance(args, list):
        return lambda: obj(*args)
    return lambda: obj(**args)


def _opt_args(args: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def _fixed_targets(kind: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """The fixed case's target for a loss (see ``check_loss`` for the kinds)."""
    if kind == "classes":
        return rng.integers(0, shape[-1], shape[:-1])
    if kind == "probabilities":
        raw = rng.random(shape) + 0.05
        return raw / raw.sum(axis=-1, keepdims=True)
    if kind == "unit":
        return rng.random(shape)
    if kind == "sign":
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    if kind == "same":
        return rng.standard_normal(shape)
    raise SystemExit(f"python -m nn check: unknown --targets {kind!r}")


@dataclass
class Setup:
    """What ``run`` grades: the object, how it is built and checked."""

    module: Any
    obj: Any
    name: str
    ex_name: str | None
    ex: exercises.Exercise | None
    kind: str
    args: Any
    shape: tuple
    configs: list
    extra: tuple


def _prepare(ns: argparse.Namespace, loaded: tuple | None = None) -> Setup:
    """Load the target (or take ``loaded = (module, object)``) and decide how to grade it;
    ``SubmissionError`` when it cannot be."""
    module, obj = loaded if loaded is not None else load_object(ns.target)
    ex_name = ns.exercise or getattr(module, "EXERCISE", None)
    if isinstance(ex_name, dict):  # one file, several classes: {"Sigmoid": "sigmoid", ...}
        ex_name = ex_name.get(getattr(obj, "__name__", ""))
    if ex_name is not None and ex_name not in exercises.EXERCISES:
        raise grading.SubmissionError(f"unknown exercise {ex_name!r}; known: "
                                      f"{sorted(exercises.EXERCISES)}")
    ex = exercises.EXERCISES.get(ex_name) if ex_name else None
    kind = ns.kind or (ex.kind if ex else _kind_of(obj))
    try:
        args = json.loads(ns.args) if ns.args is not None else (dict(ex.args) if ex else {})
    except ValueError as exc:
        raise grading.SubmissionError(f"--args is not JSON: {exc}") from None
    if ns.input_shape:
        try:
            shape = tuple(int(s) for s in ns.input_shape.split(",") if s.strip())
        except ValueError:
            raise grading.SubmissionError(f"--input-shape takes integers separated by "
                                          f"commas, got {ns.input_shape!r}") from None
    elif ex is not None and ex.input_shape:
        shape = ex.input_shape
    elif kind != "optimizer":
        raise grading.SubmissionError("give --input-shape (e.g. --input-shape 4,3)")
    else:
        shape = ()
    configs = [(shape, args)]
    if kind == "layer" and ex is not None and ns.args is None and not ns.input_shape:
        configs = ex.configurations()  # the main one first, then the variants
    for shape_i, _ in configs:
        entries = int(np.prod(shape_i, dtype=np.int64)) if shape_i else 0
        if entries > grading.MAX_INPUT_ENTRIES or any(n <= 0 for n in shape_i):
            raise grading.SubmissionError(
                f"input shape {shape_i} has {entries} entries: the grader checks every "
                f"one by finite differences, so it takes 1 to {grading.MAX_INPUT_ENTRIES}")
    if ex_name is not None and not ns.allow_library:
        why = grading.library_use(obj, _source_of(module) or _cells_source(obj), ex_name)
        if why is not None:
            raise grading.SubmissionError(why)
    name = getattr(obj, "__name__", str(obj))
    setup = Setup(module, obj, name, ex_name, ex, kind, args, shape, configs,
                  ex.extra_checks if ex else ())
    _try_constructor(setup, ns)
    return setup


def _source_of(module) -> grading.Source | None:
    file = getattr(module, "__file__", None)
    try:
        return grading.read_source(file) if file else None
    except grading.SubmissionError:
        return None


def _cells_source(obj) -> grading.Source | None:
    """In a notebook: the source of the cells run so far (IPython's ``In``), else the
    object's own source."""
    import inspect

    cells = sys.modules["__main__"].__dict__.get("In")
    if isinstance(cells, list) and cells:
        return grading.Source("\n".join(str(c) for c in cells), Path("the notebook"), [])
    try:
        return grading.Source(inspect.getsource(obj), Path("the class's source"), [])
    except (OSError, TypeError):
        return None


def _call(args) -> str:
    if isinstance(args, list):
        return ", ".join(repr(a) for a in args)
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _try_constructor(setup: Setup, ns: argparse.Namespace) -> None:
    """Build the object once as the grader will; a wrong constructor gets a clear message."""
    import nn

    for _, args in setup.configs:
        call = f"{setup.name}({_call(args)})"
        try:
            with grading.time_limit(ns.time_limit, f"{call}"), np.errstate(under="ignore"):
                if setup.kind == "optimizer":
                    setup.obj([nn.Parameter(np.zeros(2))], **_opt_args(args))
                else:
                    _factory(setup.obj, args)()
        except grading.CheckTimeout as exc:
            raise grading.SubmissionError(str(exc)) from None
        except Exception as exc:
            raise grading.SubmissionError(
                f"the grader builds {call}"
                + (" with a list of Parameters first" if setup.kind == "optimizer" else "")
                + f", and that failed: {type(exc).__name__}: {exc}. Keep the exercise's "
                "constructor (its arguments and their names)") from None


def _error_message(exc: BaseException, module) -> str:
    """``[error] Type: message (at file:line in function)`` for a crash in the student's code."""
    if isinstance(exc, grading.CheckTimeout):
        return f"[timeout] {exc}"
    if isinstance(exc, MemoryError):
        return "[error] MemoryError: the code ran out of memory (an array far too large?)"
    tb = traceback.extract_tb(exc.__traceback__)
    file = getattr(module, "__file__", None)
    source = getattr(module, "__nn_source__", None)
    where = next((f"{Path(f.filename).name}:{f.lineno} in {f.name}" if not (
        source and source.cells) else f"{source.where(f.lineno)} of {source.path.name}, in "
                  f"{f.name}" for f in reversed(tb)
                  if file and Path(f.filename).resolve() == Path(file).resolve()), None)
    if where is None:  # a notebook's cell: IPython compiles it under a name of its own
        where = next((f"line {f.lineno} of its cell, in {f.name}" for f in reversed(tb)
                      if "ipykernel_" in f.filename or f.filename.startswith("<ipython")),
                     None)
    text = f"[error] {type(exc).__name__}: {exc}" + (f"  (at {where})" if where else "")
    hints = [n for n in getattr(exc, "__notes__", []) if n.startswith("hint:")]
    return "\n".join([text, *hints])  # e.g. the shape every gradient must have


def run(ns: argparse.Namespace, out=print, loaded: tuple | None = None) -> int:
    """Grade as described by the parsed options; returns the exit status (0: pass).

    ``loaded = (module, object)`` grades an object already in memory (a notebook's class)
    instead of importing ``ns.target``."""
    transcript: list[str] = []

    def say(line: str) -> None:
        transcript.append(line)
        if ns.format == "text":
            out(line)

    tests: list[dict] = []
    calls: list[str] = []
    try:
        setup = _prepare(ns, loaded)
    except grading.SubmissionError as exc:
        say(f"[error] {exc}")
        tests = [_test("the submission loads and can be graded", False, 1, str(exc))]
        status = 1
    else:
        shape = setup.shape
        say(f"checking {setup.name} from {ns.target.rsplit(':', 1)[0]} as a {setup.kind}"
            + (f" (exercise {setup.ex_name})" if setup.ex_name else "")
            + (f", input shape {shape}" if shape else "") + f", arguments {setup.args}")
        with grading.watch_library(None if ns.allow_library else setup.ex_name, setup.obj,
                                   setup.module) as calls:
            if ns.format == "text":
                status = _grade_text(setup, ns, say)
            else:
                tests = _grade_tests(setup, ns, say)
                status = 0 if all(t["score"] == t["max_score"] for t in tests) else 1
        if calls:
            why = grading.refusal_for_calls(calls, setup.name)
            say(why)
            for t in tests:
                t["score"] = 0
            tests.append(_test("the library is not the answer", False, 1, why))
            status = 1
    say("RESULT: FAIL" if status else "RESULT: PASS")
    if ns.format == "text":
        if ns.output:
            Path(ns.output).write_text("\n".join(transcript) + "\n", encoding="utf-8")
        return status
    document = _results(ns, tests, transcript, status)
    text = json.dumps(document, indent=2)
    if ns.output:
        Path(ns.output).parent.mkdir(parents=True, exist_ok=True)
        Path(ns.output).write_text(text + "\n", encoding="utf-8")
        out("RESULT: FAIL" if status else "RESULT: PASS")
        out(f"score {document['score']:g} / {sum(t['max_score'] for t in tests):g}: "
            f"wrote {ns.output}")
    else:
        out(text)
    return status


def _test(name: str, passed: bool, points: float, output: str) -> dict:
    return {"name": name, "score": points if passed else 0, "max_score": points,
            "output": (output if len(output) <= 4000 else output[:4000] + "\n[... cut]"),
            "visibility": "visible", "status": "passed" if passed else "failed"}


def _results(ns: argparse.Namespace, tests: list[dict], transcript: list[str],
             status: int) -> dict:
    """The results.json document: Gradescope's format, or ours with more fields."""
    score = sum(t["score"] for t in tests)
    summary = "\n".join(transcript)
    if ns.format == "gradescope":
        return {"score": score, "output": summary[-8000:], "visibility": "visible",
                "stdout_visibility": "visible", "tests": tests}
    return {"target": ns.target, "result": "FAIL" if status else "PASS", "score": score,
            "max_score": sum(t["max_score"] for t in tests), "tests": tests,
            "output": summary}


def _grade_text(setup: Setup, ns: argparse.Namespace, say) -> int:
    """The text report: the fixed case's gradcheck table, then the generated cases."""
    from hypothesis import settings
    from hypothesis import strategies as st

    from . import properties

    obj, name, args, kind, extra = setup.obj, setup.name, setup.args, setup.kind, setup.extra
    ex, configs, shape = setup.ex, setup.configs, setup.shape
    gen = settings(max_examples=max(ns.examples, 1), derandomize=True, deadline=None,
                   database=None)
    limit = functools.partial(grading.time_limit, ns.time_limit)
    try:
        with np.errstate(all="raise", under="ignore"):
            if kind == "optimizer":
                ref_name = ns.reference or (ex and ex.reference) or f"optim.{name}"
                reference = _resolve(ref_name)
                kw = _opt_args(args)
                factory = functools.partial(obj, **kw)
                ref_factory = functools.partial(reference, **kw)
                with limit("the fixed case"):
                    properties.check_optimizer_case(factory, ref_factory,
                                                    [(3, 2), (3, 2), (4,)], seed=ns.seed)
                say(f"fixed case: 4 steps on 3 parameters match {ref_name}: PASS")
                with limit("the generated cases"):
                    report = properties.check_optimizer(factory, ref_factory, settings=gen)
            elif kind == "loss":
                factory = _factory(obj, args)
                targets = ns.targets or (ex.targets if ex else "classes")
                x = np.random.default_rng(ns.seed).standard_normal(shape)
                t = _fixed_targets(targets, shape, np.random.default_rng(ns.seed + 1))
                with limit("the fixed case"):
                    first = properties.check_loss_case(factory, x, t, ns.seed,
                                                       extra_checks=extra)
                say(str(first))
                with limit("the generated cases"):
                    report = properties.check_loss(factory, st.just(shape), targets=targets,
                                                   extra_checks=extra, settings=gen)
            else:
                bi = ex.batch_independent if ex else False
                nudge = ex.nudge if ex else None  # e.g. distinct values: no ties in a max
                cases = 0
                for i, (shape_i, args_i) in enumerate(configs):
                    if i:
                        say(f"configuration {i + 1} of {len(configs)}: input shape {shape_i}, "
                            f"arguments {args_i}")
                    factory = _factory(obj, args_i)
                    x = np.random.default_rng(ns.seed).standard_normal(shape_i)
                    if nudge is not None:
                        x = nudge(x)
                    with limit("the fixed case"):
                        first = properties.check_layer_case(factory, x, ns.seed,
                                                            batch_independent=bi,
                                                            extra_checks=extra)
                    if not i:
                        say(str(first))
                    few = settings(gen, max_examples=max(ns.examples // 4, 1))
                    with limit("the generated cases"):
                        report = properties.check_layer(factory, st.just(shape_i),
                                                        batch_independent=bi, nudge=nudge,
                                                        extra_checks=extra,
                                                        settings=few if i else gen)
                    cases += report.cases
                report.cases = cases
    except properties.PropertyFailure as exc:
        say(str(exc))
        notes = getattr(exc, "__notes__", [])
        if notes:
            say("\n".join(n for n in notes if "Falsifying" in n or "seed" in n)[:2000])
        return 1
    except (Exception, grading.CheckTimeout) as exc:  # a crash in the student's code
        say(_error_message(exc, setup.module))
        return 1
    over = f" over {len(configs)} configurations" if len(configs) > 1 else ""
    say(f"generated cases: {report.cases}{over}, properties: {', '.join(report.properties)}: "
        "all PASS")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(_parser().parse_args(argv))


class ExerciseFailed(AssertionError):
    """Raised by ``check_exercise`` when the graded object fails; the message is the
    grader's verdict."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in a notebook: the verdict, not the grader's call stack."""
        return [f"ExerciseFailed: {self}"]


def check_exercise(obj, exercise: str | None = None, *, examples: int | None = None,
                   time_limit: float = 30.0, seed: int = 0, out=print) -> None:
    """Grade a class defined in a notebook (or any module) as ``python -m nn check`` does.

    Prints the report (the gradcheck table, per tensor, then the generated cases) and
    raises ``ExerciseFailed`` with the failure's message when a check fails. The exercise
    is ``exercise``, or the ``EXERCISE`` variable of the module defining ``obj``.
    ``examples``: generated cases (default: 20, or the environment variable
    ``NN_EXERCISE_EXAMPLES``, which CI sets low to run every notebook quickly).
    """
    import os

    if examples is None:
        examples = int(os.environ.get("NN_EXERCISE_EXAMPLES", "20"))
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        out(line)

    name = getattr(obj, "__name__", type(obj).__name__)
    argv = [f"{getattr(module, '__file__', None) or '<notebook>'}:{name}",
            "--examples", str(examples), "--time-limit", str(time_limit), "--seed", str(seed)]
    if exercise is not None:
        argv += ["--exercise", exercise]
    status = run(_parser().parse_args(argv), out=show, loaded=(module, obj))
    if status:
        failure = [ln for ln in lines if ln.startswith(("[", "hint:"))]
        raise ExerciseFailed("\n".join(failure[-3:] or lines[-2:]) + "\nRESULT: FAIL")


# ----------------------------------------------------------------------------- per-test grading
def _grade_tests(setup: Setup, ns: argparse.Namespace, say) -> list[dict]:
    """One test per gradient tensor (per configuration, on the fixed case) and per property
    (fixed case and generated cases): partial credit for a layer with one wrong tensor."""
    from hypothesis import settings

    gen = settings(max_examples=max(ns.examples, 1), derandomize=True, deadline=None,
                   database=None)
    tests: list[dict] = []
    timed_out: list[str] = []

    def attempt(name: str, points: float, check: Callable[[], str]) -> bool:
        """Run one test; its output is what ``check`` returns, or the failure."""
        from .properties import PropertyFailure

        if timed_out:
            tests.append(_test(name, False, points, f"not run: {timed_out[0]}"))
            return False
        try:
            with grading.time_limit(ns.time_limit, name), \
                    np.errstate(all="raise", under="ignore"):
                text = check()
            passed = True
        except PropertyFailure as exc:
            text, passed = str(exc), False
        except (Exception, grading.CheckTimeout) as exc:
            text, passed = _error_message(exc, setup.module), False
            if isinstance(exc, grading.CheckTimeout):
                timed_out.append(str(exc))
        tests.append(_test(name, passed, points, text))
        say(f"{'PASS' if passed else 'FAIL'}  {name}" + ("" if passed else "\n" + text))
        return passed

    if setup.kind == "optimizer":
        _optimizer_tests(setup, ns, gen, attempt)
    elif setup.kind == "loss":
        _loss_tests(setup, ns, gen, attempt)
    else:
        _layer_tests(setup, ns, gen, attempt)
    return tests


def _optimizer_tests(setup: Setup, ns, gen, attempt) -> None:
    from . import properties

    ex = setup.ex
    ref_name = ns.reference or (ex and ex.reference) or f"optim.{setup.name}"
    kw = _opt_args(setup.args)
    factory = functools.partial(setup.obj, **kw)
    ref_factory = functools.partial(_resolve(ref_name), **kw)

    def fixed() -> str:
        properties.check_optimizer_case(factory, ref_factory, [(3, 2), (3, 2), (4,)],
                                        seed=ns.seed)
        return f"4 steps on 3 parameters match {ref_name}"

    def generated() -> str:
        report = properties.check_optimizer(factory, ref_factory, settings=gen)
        return f"{report.cases} generated cases match {ref_name}"

    attempt(f"update: the fixed case against {ref_name}", 4, fixed)
    attempt(f"update: generated cases against {ref_name}", 2, generated)


def _gradcheck_tests(report, tag: str, attempt) -> None:
    """One test per tensor of a gradcheck report: its row of the table."""
    lines = str(report).splitlines()
    for k, r in enumerate(report.results):
        row = "\n".join([lines[1], lines[2], lines[3 + k]])

        def verdict(r=r, row=row) -> str:
            if not r.passed:
                from .properties import PropertyFailure

                raise PropertyFailure(f"[gradients] {r.name} is wrong at {r.failures} of "
                                      f"{r.checked} checked coordinates; worst index "
                                      f"{tuple(int(i) for i in r.worst_index or ())}: "
                                      f"analytic {r.analytic:.6g}, numeric {r.numeric:.6g}\n"
                                      + row)
            return row

        attempt(f"gradient of {r.name}{tag}", 2, verdict)


def _loss_tests(setup: Setup, ns, gen, attempt) -> None:
    from hypothesis import strategies as st

    from ..gradcheck import gradcheck
    from . import properties

    ex = setup.ex
    factory = _factory(setup.obj, setup.args)
    targets = ns.targets or (ex.targets if ex else "classes")
    x = np.random.default_rng(ns.seed).standard_normal(setup.shape)
    t = _fixed_targets(targets, setup.shape, np.random.default_rng(ns.seed + 1))
    reports: list = []

    def returns() -> str:
        loss = properties._build(factory, ns.seed)
        properties._check_loss_backward_returns(loss, x, t, setup.name)
        reports.append(gradcheck(properties._build(factory, ns.seed), x, target=t,
                                 seed=ns.seed + 1, max_coords=64))
        return f"backward() returns dL/dx of the input's shape {x.shape}"

    if attempt("backward returns the gradient", 1, returns):
        _gradcheck_tests(reports[0], "", attempt)
    else:
        attempt("gradient of input", 2, lambda: _not_run("backward"))
    for prop in (["forward"] if setup.extra else []) + list(properties.LOSS_PROPERTIES):
        extra = setup.extra if prop == "forward" else ()
        props = ("none",) if prop == "forward" else (prop,)

        def check(props=props, extra=extra, prop=prop) -> str:
            properties.check_loss_case(factory, x, t, ns.seed, properties=props,
                                       extra_checks=extra)
            report = properties.check_loss(factory, st.just(setup.shape), targets=targets,
                                           properties=props, extra_checks=extra,
                                           settings=gen)
            return f"{prop}: the fixed case and {report.cases} generated cases pass"

        attempt(_PROPERTY_NAMES.get(prop, prop), 1 if prop != "gradients" else 2, check)


def _not_run(what: str) -> str:
    from .properties import PropertyFailure

    raise PropertyFailure(f"not checked: {what} failed (see that test)")


_PROPERTY_NAMES = {
    "forward": "forward: the exercise's own checks (the output's formula)",
    "gradients": "gradients over the generated cases",
    "dtype": "dtype: float32 in, float32 out",
    "no_mutation": "no mutation of x and grad_y",
    "accumulation": "accumulation: backward adds into .grad",
    "determinism": "determinism: the same seed, the same result",
    "batch_independence": "batch independence: one row changes no other",
}


def _layer_tests(setup: Setup, ns, gen, attempt) -> None:
    from hypothesis import strategies as st

    from ..gradcheck import gradcheck
    from . import properties

    ex = setup.ex
    bi = ex.batch_independent if ex else False
    nudge = ex.nudge if ex else None
    n = len(setup.configs)
    cases = []
    for i, (shape_i, args_i) in enumerate(setup.configs):
        tag = f" (configuration {i + 1} of {n}: input {shape_i}, {args_i})" if n > 1 else ""
        factory = _factory(setup.obj, args_i)
        x = np.random.default_rng(ns.seed).standard_normal(shape_i)
        if nudge is not None:
            x = nudge(x)
        cases.append((factory, x, shape_i))
        reports: list = []

        def returns(factory=factory, x=x, reports=reports) -> str:
            layer = properties._build(factory, ns.seed)
            properties._check_backward_returns(layer.astype(np.float64), x, ns.seed,
                                               layer.label())
            reports.append(gradcheck(properties._build(factory, ns.seed), x,
                                     seed=ns.seed + 1, max_coords=64))
            return f"backward returns dL/dx of the input's shape {x.shape}"

        if attempt(f"backward returns the input gradient{tag}", 1, returns):
            _gradcheck_tests(reports[0], tag, attempt)
        else:
            names = ["input"] + [name for name, p in _parameters(factory, ns.seed)]
            for name in names:
                attempt(f"gradient of {name}{tag}", 2, lambda: _not_run("backward"))
    props = (["forward"] if setup.extra else []) + [
        p for p in properties.LAYER_PROPERTIES if p != "batch_independence" or bi]
    for prop in props:
        extra = setup.extra if prop == "forward" else ()
        only = ("none",) if prop == "forward" else (prop,)

        def check(only=only, extra=extra, prop=prop) -> str:
            total = 0
            for i, (factory, x, shape_i) in enumerate(cases):
                properties.check_layer_case(factory, x, ns.seed, properties=only,
                                            batch_independent=bi, extra_checks=extra)
                few = settings_for(i)
                total += properties.check_layer(factory, st.just(shape_i), properties=only,
                                                batch_independent=bi, nudge=nudge,
                                                extra_checks=extra, settings=few).cases
            over = f" over {n} configurations" if n > 1 else ""
            return f"{prop}: the fixed case and {total} generated cases{over} pass"

        def settings_for(i: int):
            from hypothesis import settings

            return gen if not i else settings(gen, max_examples=max(ns.examples // 4, 1))

        attempt(_PROPERTY_NAMES.get(prop, prop), 2 if prop == "gradients" else 1, check)


def _parameters(factory, seed: int) -> list:
    from . import properties

    try:
        return list(properties._build(factory, seed).named_parameters())
    except Exception:
        return []
