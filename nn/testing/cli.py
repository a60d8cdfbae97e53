"""``python -m nn check FILE:NAME``: grade a layer, loss or optimizer written by a student.

Imports ``NAME`` from ``FILE``, builds it (``--args`` JSON: a list of positional or a dict of
keyword arguments), and checks it: first on one fixed case, printing the gradcheck table
(PASS/FAIL per tensor, worst index, analytic and numeric values there), then on generated
cases (hypothesis, derandomized: the same cases on every run). Exit status 0 when every
check passes, 1 otherwise. A file with ``EXERCISE = "name"`` takes that exercise's input
shape, arguments, input nudge and extra checks (nn/testing/exercises.py), and is graded
in each of the exercise's configurations (e.g. Conv2d with and without padding); options
override the shape and the arguments, and then only that configuration is graded.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path

import numpy as np


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
    return p


def load_object(target: str):
    """``(module, object)`` for ``"path/to/file.py:Name"``."""
    if ":" not in target:
        raise SystemExit(f"python -m nn check: expected FILE:NAME, got {target!r}")
    file, name = target.rsplit(":", 1)
    path = Path(file).resolve()
    if not path.is_file():
        raise SystemExit(f"python -m nn check: no such file: {file}")
    sys.path.insert(0, str(path.parent))
    mod_name = f"_nn_check_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"python -m nn check: cannot import {file} (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise SystemExit(f"python -m nn check: {file} defines no {name!r}")
    return module, getattr(module, name)


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


def run(ns: argparse.Namespace, out=print) -> int:
    """Grade as described by the parsed options; returns the exit status."""
    from hypothesis import settings
    from hypothesis import strategies as st

    from . import exercises, properties

    module, obj = load_object(ns.target)
    ex_name = ns.exercise or getattr(module, "EXERCISE", None)
    if isinstance(ex_name, dict):  # one file, several classes: {"Sigmoid": "sigmoid", ...}
        ex_name = ex_name.get(getattr(obj, "__name__", ""))
    if ex_name is not None and ex_name not in exercises.EXERCISES:
        raise SystemExit(f"python -m nn check: unknown exercise {ex_name!r}; known: "
                         f"{sorted(exercises.EXERCISES)}")
    ex = exercises.EXERCISES.get(ex_name) if ex_name else None
    kind = ns.kind or (ex.kind if ex else _kind_of(obj))
    args = json.loads(ns.args) if ns.args is not None else (dict(ex.args) if ex else {})
    if ns.input_shape:
        shape = tuple(int(s) for s in ns.input_shape.split(",") if s.strip())
    elif ex is not None and ex.input_shape:
        shape = ex.input_shape
    elif kind != "optimizer":
        raise SystemExit("python -m nn check: give --input-shape (e.g. --input-shape 4,3)")
    else:
        shape = ()
    extra = ex.extra_checks if ex else ()
    name = getattr(obj, "__name__", str(obj))
    out(f"checking {name} from {ns.target.rsplit(':', 1)[0]} as a {kind}"
        + (f" (exercise {ex_name})" if ex_name else "")
        + (f", input shape {shape}" if shape else "") + f", arguments {args}")
    gen = settings(max_examples=max(ns.examples, 1), derandomize=True, deadline=None,
                   database=None)
    configs = [(shape, args)]
    try:
        with np.errstate(all="raise", under="ignore"):
            if kind == "optimizer":
                ref_name = ns.reference or (ex and ex.reference) or f"optim.{name}"
                reference = _resolve(ref_name)
                kw = _opt_args(args)
                factory = functools.partial(obj, **kw)
                ref_factory = functools.partial(reference, **kw)
                properties.check_optimizer_case(factory, ref_factory, [(3, 2), (3, 2), (4,)],
                                                seed=ns.seed)
                out(f"fixed case: 4 steps on 3 parameters match {ref_name}: PASS")
                report = properties.check_optimizer(factory, ref_factory, settings=gen)
            elif kind == "loss":
                factory = _factory(obj, args)
                targets = ns.targets or (ex.targets if ex else "classes")
                x = np.random.default_rng(ns.seed).standard_normal(shape)
                t = _fixed_targets(targets, shape, np.random.default_rng(ns.seed + 1))
                first = properties.check_loss_case(factory, x, t, ns.seed, extra_checks=extra)
                out(str(first))
                report = properties.check_loss(factory, st.just(shape), targets=targets,
                                               extra_checks=extra, settings=gen)
            else:
                bi = ex.batch_independent if ex else False
                nudge = ex.nudge if ex else None  # e.g. distinct values: no ties in a max
                if ex is not None and ns.args is None and not ns.input_shape:
                    configs = ex.configurations()  # the main one first, then the variants
                cases = 0
                for i, (shape_i, args_i) in enumerate(configs):
                    if i:
                        out(f"configuration {i + 1} of {len(configs)}: input shape {shape_i}, "
                            f"arguments {args_i}")
                    factory = _factory(obj, args_i)
                    x = np.random.default_rng(ns.seed).standard_normal(shape_i)
                    if nudge is not None:
                        x = nudge(x)
                    first = properties.check_layer_case(factory, x, ns.seed,
                                                        batch_independent=bi,
                                                        extra_checks=extra)
                    if not i:
                        out(str(first))
                    few = settings(gen, max_examples=max(ns.examples // 4, 1))
                    report = properties.check_layer(factory, st.just(shape_i),
                                                    batch_independent=bi, nudge=nudge,
                                                    extra_checks=extra,
                                                    settings=few if i else gen)
                    cases += report.cases
                report.cases = cases
    except properties.PropertyFailure as exc:
        out(str(exc))
        notes = getattr(exc, "__notes__", [])
        if notes:
            out("\n".join(n for n in notes if "Falsifying" in n or "seed" in n)[:2000])
        out("RESULT: FAIL")
        return 1
    except Exception as exc:  # a crash in the student's code: show where
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(tb)
                      if Path(f.filename).resolve() == Path(module.__file__).resolve()), None)
        out(f"[error] {type(exc).__name__}: {exc}" + (f"  (at {where})" if where else ""))
        for note in getattr(exc, "__notes__", []):  # e.g. the shape every gradient must have
            if note.startswith("hint:"):
                out(note)
        out("RESULT: FAIL")
        return 1
    over = f" over {len(configs)} configurations" if len(configs) > 1 else ""
    out(f"generated cases: {report.cases}{over}, properties: {', '.join(report.properties)}: "
        "all PASS")
    out("RESULT: PASS")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(_parser().parse_args(argv))
