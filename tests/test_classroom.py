"""Classroom use (issue 16): the grader's output formats, bad submissions, the library refused
as an answer, the notebooks built from one source and executed, the Gradescope bundles.

Notebook execution needs the ``notebooks`` extra (jupytext, nbformat, nbclient, ipykernel,
matplotlib); those tests are skipped without it, and .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from nn.testing import cli, grading

ROOT = Path(__file__).resolve().parents[1]
SKELETONS = ROOT / "docs" / "exercises"
SOURCES = SKELETONS / "notebooks"
EXAMPLES = Path(__file__).parent / "exercises"
WRONG, WRONG_CONV_RNN = EXAMPLES / "wrong_solutions.py", EXAMPLES / "wrong_solutions_conv_rnn.py"
STEMS = sorted(p.stem for p in SOURCES.glob("[0-9][0-9]-*.py"))


def grade(target: str, *extra: str, examples: int = 3) -> tuple[int, str]:
    """Grade in-process; returns (status, what was printed)."""
    lines: list[str] = []
    ns = cli._parser().parse_args([target, "--examples", str(examples), *extra])
    status = cli.run(ns, out=lines.append)
    return status, "\n".join(lines)


def grade_json(target: str, *extra: str, tmp_path: Path, examples: int = 3) -> tuple[int, dict]:
    out = tmp_path / "results.json"
    status, _ = grade(target, "--format", "gradescope", "--output", str(out), *extra,
                      examples=examples)
    return status, json.loads(out.read_text())


def assert_valid_results(doc: dict) -> None:
    """Gradescope's results.json: score = the sum of the tests' scores, each test complete."""
    assert set(doc) >= {"score", "tests"}
    assert doc["tests"], doc
    for t in doc["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(t), t
        assert 0 <= t["score"] <= t["max_score"], t
    assert doc["score"] == sum(t["score"] for t in doc["tests"])


@pytest.fixture(scope="module")
def solutions(tmp_path_factory) -> Path:
    """The solution version of every skeleton, built from the notebook sources."""
    pytest.importorskip("jupytext")
    from nn import classroom

    out = tmp_path_factory.mktemp("solutions")
    classroom.write_skeletons(out, SOURCES, "solution")
    return out


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


LINEAR_HEAD = """import numpy as np
import nn

EXERCISE = "linear"


class Linear(nn.Layer):
    def __init__(self, in_features, out_features, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        self.weight = nn.Parameter(gen.standard_normal((in_features, out_features)))
        self.bias = nn.Parameter(np.zeros(out_features))

    def forward(self, x):
        self._cache = x
        return x @ self.weight.data + self.bias.data
"""


# ----------------------------------------------------------------------------- output formats
def test_gradescope_output_gives_partial_credit_and_names_the_wrong_tensor(tmp_path):
    status, doc = grade_json(f"{WRONG}:LinearBiasMean", "--allow-library", tmp_path=tmp_path)
    assert status == 1
    assert_valid_results(doc)
    by_name = {t["name"]: t for t in doc["tests"]}
    assert by_name["gradient of bias"]["score"] == 0
    assert "bias is wrong at 2 of 2 checked coordinates; worst index (0,)" in \
        by_name["gradient of bias"]["output"]
    for ok in ("gradient of input", "gradient of weight", "dtype: float32 in, float32 out"):
        assert by_name[ok]["score"] == by_name[ok]["max_score"] > 0, ok
    assert 0 < doc["score"] < sum(t["max_score"] for t in doc["tests"])


def test_a_right_answer_gets_full_marks_in_every_format(solutions, tmp_path):
    target = f"{solutions / 'conv2d.py'}:Conv2d"
    status, doc = grade_json(target, tmp_path=tmp_path)
    assert status == 0
    assert_valid_results(doc)
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"])
    names = [t["name"] for t in doc["tests"]]
    for tensor in ("input", "weight", "bias"):  # one test per tensor and configuration
        assert sum(n.startswith(f"gradient of {tensor} (configuration") for n in names) == 3
    status, out = grade(target, "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["result"] == "PASS" and data["score"] == data["max_score"]
    text_file = tmp_path / "report.txt"
    status, out = grade(target, "--output", str(text_file))
    assert status == 0 and text_file.read_text().rstrip().endswith("RESULT: PASS")


# one planted wrong answer per exercise, and the test that must lose its points
PLANTED = [
    (WRONG, "LinearMissingTranspose", ["gradient of input"], ["gradient of weight"]),
    (WRONG, "LinearBiasMean", ["gradient of bias"], ["gradient of weight"]),
    (WRONG, "LinearAssigns", ["accumulation: backward adds into .grad"], ["gradient of bias"]),
    (WRONG, "SigmoidUsesX", ["gradient of input"], ["dtype: float32 in, float32 out"]),
    (WRONG, "TanhMutates", ["no mutation of x and grad_y"], ["gradient of input"]),
    (WRONG, "CrossEntropyNoMean", ["gradient of input"], ["dtype: float32 in, float32 out"]),
    (WRONG, "DropoutNotRescaled",
     ["forward: the exercise's own checks (the output's formula)"], []),
    (WRONG, "AdamNoBiasCorrection", ["update: the fixed case against optim.Adam"], []),
    (WRONG_CONV_RNN, "ConvWeightIgnoresStride", ["gradient of weight (configuration 1"],
     ["gradient of bias (configuration 1", "gradient of input (configuration 1"]),
    (WRONG_CONV_RNN, "MaxPoolOverwrites", ["gradient of input (configuration 1"], []),
    (WRONG_CONV_RNN, "BatchNormGammaGradUsesX", ["gradient of weight"],
     ["gradient of bias", "gradient of input"]),
    (WRONG_CONV_RNN, "LSTMCellNoForgetPath", ["gradient of c_prev"],
     ["gradient of weight_ih", "gradient of h_prev"]),
    (WRONG_CONV_RNN, "LSTMNoInitialStateGrad", ["gradient of h0", "gradient of c0"],
     ["gradient of weight_ih", "gradient of input"]),
]


@pytest.mark.parametrize("file,name,lose,keep", PLANTED, ids=[p[1] for p in PLANTED])
def test_planted_wrong_answers_lose_points_on_the_right_test(file, name, lose, keep, tmp_path):
    status, doc = grade_json(f"{file}:{name}", "--allow-library", tmp_path=tmp_path)
    assert status == 1
    assert_valid_results(doc)

    def score(prefix: str) -> tuple[float, float]:
        found = [t for t in doc["tests"] if t["name"].startswith(prefix)]
        assert found, (prefix, [t["name"] for t in doc["tests"]])
        return found[0]["score"], found[0]["max_score"]

    for prefix in lose:
        assert score(prefix)[0] == 0, (prefix, doc)
    for prefix in keep:
        got, full = score(prefix)
        assert got == full > 0, (prefix, doc)


# ----------------------------------------------------------------------------- bad submissions
def test_a_syntax_error_is_a_fail_with_its_line_and_message_not_a_traceback(tmp_path):
    bad = write(tmp_path, "linear.py", LINEAR_HEAD + "\n    def backward(self, grad_y)\n"
                                                     "        return grad_y\n")
    proc = subprocess.run([sys.executable, "-m", "nn", "check", f"{bad}:Linear"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "[error] linear.py does not compile: SyntaxError at line 18: expected ':'",
        "    def backward(self, grad_y)", "RESULT: FAIL"]
    status, doc = grade_json(f"{bad}:Linear", tmp_path=tmp_path)
    assert status == 1 and doc["score"] == 0
    assert_valid_results(doc)
    assert "SyntaxError at line 18: expected ':'" in doc["tests"][0]["output"]


BAD = {
    "import error": (LINEAR_HEAD + "\nimport numpy_does_not_exist\n", "Linear",
                     "importing bad.py failed: ModuleNotFoundError: No module named "
                     "'numpy_does_not_exist' (at line 18)"),
    "missing class": (LINEAR_HEAD.replace("class Linear", "class Dense"), "Linear",
                      "bad.py defines no 'Linear' (it defines Dense)"),
    "wrong constructor": (LINEAR_HEAD.replace("in_features, out_features, rng=None",
                                              "n_in, n_out"), "Linear",
                          "the grader builds Linear(in_features=3, out_features=2), and that "
                          "failed: TypeError"),
    "backward returns None": (LINEAR_HEAD + "\n    def backward(self, grad_y):\n"
                                            "        self.weight.grad += 0\n", "Linear",
                              "backward returned None: it must return dL/dx"),
    "memory": (LINEAR_HEAD + "\n    def backward(self, grad_y):\n"
                             "        raise MemoryError\n", "Linear",
               "MemoryError: the code ran out of memory"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_submissions_get_a_clear_message_and_valid_results(case, tmp_path):
    text, name, message = BAD[case]
    bad = write(tmp_path, "bad.py", text)
    status, out = grade(f"{bad}:{name}")
    assert status == 1 and out.endswith("RESULT: FAIL") and message in out, out
    assert "Traceback" not in out
    status, doc = grade_json(f"{bad}:{name}", tmp_path=tmp_path)
    assert status == 1
    assert_valid_results(doc)
    assert doc["score"] < sum(t["max_score"] for t in doc["tests"])
    assert any(message in t["output"] for t in doc["tests"]), doc


def test_a_loop_that_never_ends_is_stopped_by_the_time_limit(tmp_path):
    looping = write(tmp_path, "loop.py", LINEAR_HEAD + """
    def backward(self, grad_y):
        while True:
            try:
                pass
            except BaseException:  # swallowing the first interruption does not help
                pass
""")
    start = time.perf_counter()
    status, out = grade(f"{looping}:Linear", "--time-limit", "0.5")
    assert status == 1 and "[timeout] the fixed case did not finish within 0.5 s" in out, out
    status, doc = grade_json(f"{looping}:Linear", "--time-limit", "0.5", tmp_path=tmp_path)
    assert status == 1 and doc["score"] == 0
    assert_valid_results(doc)
    assert any("did not finish within 0.5 s" in t["output"] for t in doc["tests"])
    assert time.perf_counter() - start < 30  # each test after the first time-out is skipped


def test_a_loop_in_a_generated_case_is_stopped_too(tmp_path):
    """The time limit also interrupts hypothesis's generated cases (a BaseException: not
    taken for a failing example to shrink)."""
    late = write(tmp_path, "late.py", LINEAR_HEAD + """
    calls = 0

    def backward(self, grad_y):
        type(self).calls += 1
        while type(self).calls > 12:  # right for the fixed case, then never returns
            pass
        self.weight.grad += self._saved().T @ grad_y
        self.bias.grad += grad_y.sum(axis=0)
        return grad_y @ self.weight.data.T
""")
    status, doc = grade_json(f"{late}:Linear", "--time-limit", "1", tmp_path=tmp_path,
                             examples=20)
    assert status == 1
    assert_valid_results(doc)
    by_name = {t["name"]: t for t in doc["tests"]}
    assert by_name["gradient of weight"]["score"] == 2  # the fixed case earned its points
    timed_out = [t for t in doc["tests"] if "did not finish within 1 s" in t["output"]]
    assert timed_out and all(t["score"] == 0 for t in timed_out)


def test_a_loop_at_import_is_stopped_too(tmp_path, monkeypatch):
    looping = write(tmp_path, "loop_import.py", LINEAR_HEAD + "\nwhile True:\n    pass\n")
    monkeypatch.setattr(cli, "_IMPORT_TIME_LIMIT", 0.5)
    status, out = grade(f"{looping}:Linear")
    assert status == 1 and "importing loop_import.py did not finish within 0.5 s" in out


def test_huge_inputs_are_refused_with_a_message(tmp_path, monkeypatch):
    right = write(tmp_path, "lin.py", LINEAR_HEAD)
    status, out = grade(f"{right}:Linear", "--input-shape", "1000,1000", "--args",
                        '{"in_features": 1000, "out_features": 2}')
    assert status == 1 and "input shape (1000, 1000) has 1000000 entries" in out, out
    monkeypatch.setattr(grading, "MAX_SUBMISSION_BYTES", 1000)
    big = write(tmp_path, "big.py", LINEAR_HEAD + "#" * 2000 + "\n")
    status, doc = grade_json(f"{big}:Linear", tmp_path=tmp_path)
    assert status == 1 and "the grader reads submissions of at most" in doc["tests"][0]["output"]
    assert_valid_results(doc)


def test_a_notebook_is_graded_from_its_code_cells(solutions, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    text = (solutions / "linear.py").read_text()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# my answer"),
                nbformat.v4.new_code_cell("%matplotlib inline\n" + text),
                nbformat.v4.new_code_cell("check_exercise(Linear)",
                                          metadata={"tags": ["check"]})]
    path = tmp_path / "01-linear.ipynb"
    nbformat.write(nb, str(path))
    status, out = grade(f"{path}:Linear")
    assert status == 0, out
    crashing = nb.cells[1].source.replace("return grad_y @ self.weight.data.T",
                                          "raise RuntimeError('oops')")
    line = crashing.splitlines().index(next(ln for ln in crashing.splitlines()
                                            if "oops" in ln)) + 1
    nb.cells[1].source = crashing
    nbformat.write(nb, str(path))
    status, out = grade(f"{path}:Linear")
    assert status == 1
    assert (f"RuntimeError: oops  (at cell 2, line {line} of 01-linear.ipynb, in backward)"
            in out), out
    nb.cells[1].source = nb.cells[1].source.replace("def forward(self, x):",
                                                    "def forward(self, x)")
    nbformat.write(nb, str(path))
    status, out = grade(f"{path}:Linear")
    assert status == 1
    assert "01-linear.ipynb does not compile: SyntaxError at cell 2, line 26: expected ':'" \
        in out, out
    nb.cells[1].source = "x = 1\n"
    nbformat.write(nb, str(path))
    status, doc = grade_json(f"{path}:Linear", tmp_path=tmp_path)
    assert status == 1 and "defines no 'Linear'" in doc["tests"][0]["output"]


# ----------------------------------------------------------------------------- the library
CHEATS = {
    "subclass": ("linear", "Linear", """
import nn
EXERCISE = "linear"
class Linear(nn.Linear):
    pass
""", "Linear inherits from nn.layers.linear.Linear"),
    "holds and calls": ("conv2d", "Conv2d", """
import nn
EXERCISE = "conv2d"
class Conv2d(nn.Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        super().__init__()
        self.inner = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                               rng=rng)
        self.weight, self.bias = self.inner.weight, self.inner.bias
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
    def forward(self, x):
        return self.inner.forward(x)
    def backward(self, grad_y):
        return self.inner.backward(grad_y)
""", "uses the library's implementation of the exercise (nn.Conv2d at line 7)"),
    "aliased helper": ("softmax-cross-entropy", "SoftmaxCrossEntropy", """
import numpy as np
import nn
from nn import functional as F
EXERCISE = "softmax-cross-entropy"
class SoftmaxCrossEntropy(nn.Loss):
    def forward(self, z, y):
        self._cache = (z, y)
        return float(-F.log_softmax(z)[np.arange(len(y)), y].mean())
    def backward(self, grad=1.0):
        z, y = self._cache
        d = F.softmax(z)
        d[np.arange(len(y)), y] -= 1
        return d * grad / len(y)
""", "(nn.functional.log_softmax at line 9; nn.functional.softmax at line 12)"),
    "hidden behind getattr": ("batchnorm", "BatchNorm", """
import importlib
import nn
EXERCISE = "batchnorm"
layers = importlib.import_module("nn.lay" + "ers")
class BatchNorm(nn.Layer):
    def __init__(self, num_features, eps=1e-5, rng=None):
        super().__init__()
        self.inner = getattr(layers, "Batch" + "Norm1d")(num_features, eps=eps)
        self.weight, self.bias, self.eps = self.inner.weight, self.inner.bias, eps
    def forward(self, x):
        return self.inner.train().forward(x)
    def backward(self, grad_y):
        return self.inner.backward(grad_y)
""", "called the library's implementation of the exercise while being graded "
     "(nn.layers.normalization._BatchNorm)"),
    "optimizer subclass": ("adam", "Adam", """
from optim import Adam as Base
EXERCISE = "adam"
class Adam(Base):
    pass
""", "Adam inherits from optim.adam.Adam"),
}


@pytest.mark.parametrize("case", list(CHEATS))
def test_the_library_is_not_the_answer(case, tmp_path):
    exercise, name, text, message = CHEATS[case]
    cheat = write(tmp_path, "cheat.py", text)
    status, out = grade(f"{cheat}:{name}")
    assert status == 1 and "[library]" in out and message in out, out
    assert out.endswith("RESULT: FAIL")
    status, doc = grade_json(f"{cheat}:{name}", tmp_path=tmp_path)
    assert status == 1 and doc["score"] == 0, doc
    assert_valid_results(doc)
    assert any(message in t["output"] for t in doc["tests"])


def test_every_library_implementation_named_for_refusal_exists():
    """The refusal list names real objects: a renamed helper would silently stop being
    refused (and crashes the grader when it is resolved)."""
    from nn.testing.grading import LIBRARY_IMPLEMENTATION, _resolve

    for exercise, names in LIBRARY_IMPLEMENTATION.items():
        for name in names:
            assert callable(_resolve(name)), (exercise, name)


def test_the_library_elsewhere_is_allowed(tmp_path):
    """Only the graded layer's implementation is refused: a Sigmoid answer may use
    nn.Parameter, nn.Layer, and the library's Linear."""
    ok = write(tmp_path, "ok.py", """
import nn
from scipy import special
EXERCISE = "sigmoid"
unrelated = nn.Linear(2, 2)
class Sigmoid(nn.Layer):
    def forward(self, x):
        self._cache = special.expit(x)
        return self._cache
    def backward(self, grad_y):
        y = self._saved()
        return grad_y * y * (1 - y)
""")
    status, out = grade(f"{ok}:Sigmoid")
    assert status == 0, out


def test_check_exercise_grades_a_class_in_memory(solutions, tmp_path):
    import importlib.util

    from nn.testing import ExerciseFailed, check_exercise

    spec = importlib.util.spec_from_file_location("solved_linear", solutions / "linear.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["solved_linear"] = module
    spec.loader.exec_module(module)
    lines: list[str] = []
    check_exercise(module.Linear, examples=2, out=lines.append)
    assert lines[-1] == "RESULT: PASS"

    class Broken(module.Linear):
        def backward(self, grad_y):
            return super().backward(grad_y) * 2

    with pytest.raises(ExerciseFailed, match="gradients"):
        check_exercise(Broken, "linear", examples=2, out=lines.append)

    # in a notebook too, the library is not the answer
    cheat = write(tmp_path, "cheat_in_memory.py", "import nn\n\n\nclass Cheat(nn.Linear):\n"
                                                  "    pass\n")
    spec = importlib.util.spec_from_file_location("cheat_in_memory", cheat)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cheat_in_memory"] = module
    spec.loader.exec_module(module)
    with pytest.raises(ExerciseFailed, match=r"\[library\] Cheat inherits from "
                                             r"nn\.layers\.linear\.Linear"):
        check_exercise(module.Cheat, "linear", examples=2, out=lines.append)


# ----------------------------------------------------------------------------- notebooks
def test_the_skeletons_are_generated_from_the_notebook_sources():
    pytest.importorskip("jupytext")
    from nn import classroom

    assert classroom.write_skeletons(SKELETONS, SOURCES, check=True) == []
    assert len(STEMS) == 10


def test_solution_markers():
    from nn.classroom import strip_solutions

    cell = ("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
            "    ### BEGIN STUDENT\n    # # TODO: double x\n    # raise NotImplementedError\n"
            "    ### END STUDENT\n")
    assert strip_solutions(cell, "solution") == "def f(x):\n    return 2 * x"
    assert strip_solutions(cell, "student") == ("def f(x):\n    # TODO: double x\n"
                                                "    raise NotImplementedError")
    with pytest.raises(ValueError, match="not closed"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n", "student")
    with pytest.raises(ValueError, match="must be a comment"):
        strip_solutions("### BEGIN STUDENT\nx = 1\n### END STUDENT\n", "student")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> Path:
    pytest.importorskip("jupytext")
    from nn import classroom

    out = tmp_path_factory.mktemp("notebooks")
    proc = subprocess.run([sys.executable, "-m", "nn", "exercises", "build", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 20
    del classroom
    return out


def test_the_student_notebooks_hold_no_solution(notebooks):
    import nbformat

    for stem in STEMS:
        student = nbformat.read(str(notebooks / "student" / f"{stem}.ipynb"), as_version=4)
        solution = nbformat.read(str(notebooks / "solution" / f"{stem}.ipynb"), as_version=4)
        nbformat.validate(student)
        text = "\n".join(c.source for c in student.cells)
        assert "NotImplementedError(\"exercise: write" in text, stem
        assert "SOLUTION" not in text and "STUDENT" not in text and "**Solution.**" not in text
        assert len(solution.cells) == len(student.cells) + 1  # the worked derivation
        tags = [t for c in student.cells for t in c.metadata.get("tags", [])]
        assert {"skeleton", "check", "use-it"} <= set(tags), stem


def _execute(path: Path, monkeypatch):
    """Run a notebook in one kernel, from the repository's root (so it imports this nn)."""
    import nbformat
    from nbclient import NotebookClient

    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("NN_EXERCISE_EXAMPLES", "2")  # the kernel inherits it: quick checks
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    return nb, client


@pytest.mark.parametrize("stem", STEMS)
def test_every_solution_notebook_runs_end_to_end(stem, notebooks, monkeypatch):
    nb, client = _execute(notebooks / "solution" / f"{stem}.ipynb", monkeypatch)
    client.execute()
    check = next(c for c in nb.cells if "check" in c.metadata.get("tags", []))
    printed = "".join(o.get("text", "") for o in check.outputs)
    assert "RESULT: PASS" in printed and "RESULT: FAIL" not in printed, printed
    if stem != "05-adam":  # an optimizer has no gradients to check: its update is compared
        assert "PASS" in printed.split("gradcheck of", 1)[1]  # the per-tensor table
    use_it = next(c for c in nb.cells if "use-it" in c.metadata.get("tags", []))
    printed = "".join(o.get("text", "") for o in use_it.outputs)
    first, last = (float(v) for v in
                   printed.split("loss ", 1)[1].split(" at the last")[0]
                   .replace(" at the first step,", "").split())
    assert last < 0.8 * first, printed  # the student's layer trains


@pytest.mark.parametrize("stem", STEMS)
def test_every_student_notebook_fails_at_its_check_cell(stem, notebooks, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    nb, client = _execute(notebooks / "student" / f"{stem}.ipynb", monkeypatch)
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert "ExerciseFailed" in str(info.value)
    assert "NotImplementedError: exercise: write" in str(info.value)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert "check" in ran[-1].metadata.get("tags", []), stem  # it stopped there


# ----------------------------------------------------------------------------- Gradescope
@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> Path:
    pytest.importorskip("jupytext")
    from nn import classroom

    out = tmp_path_factory.mktemp("gradescope")
    paths = classroom.build_gradescope(out, SOURCES)
    assert [p.stem for p in paths] == STEMS
    return out


def test_every_bundle_is_laid_out_as_gradescope_expects(bundles):
    for stem in STEMS:
        with zipfile.ZipFile(bundles / f"{stem}.zip") as z:
            names = z.namelist()
            assert {"setup.sh", "run_autograder"} <= set(names), stem
            assert "readable-nn/pyproject.toml" in names
            assert "readable-nn/nn/testing/cli.py" in names
            for script in ("setup.sh", "run_autograder"):
                assert (z.getinfo(script).external_attr >> 16) & 0o111, script
                assert z.read(script).startswith(b"#!/usr/bin/env bash\n")
            run = z.read("run_autograder").decode()
            assert "/autograder/results" not in run or "RESULTS_DIR" in run
            assert "results.json" in run


def _run_bundle(bundles: Path, stem: str, root: Path, submission: dict[str, str]) -> dict:
    """Unzip a bundle as Gradescope does (source/), put the submission in, run it with the
    folders moved under ``root``; returns results.json."""
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(bundles / f"{stem}.zip") as z:
        z.extractall(root / "source")
    for name, text in submission.items():
        (root / "submission" / name).write_text(text)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}  # stands for setup.sh's install of this project
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert_valid_results(doc)
    return doc


def test_a_bundle_grades_a_right_file_and_a_broken_notebook(bundles, solutions, tmp_path):
    doc = _run_bundle(bundles, "01-linear", tmp_path / "right",
                      {"linear.py": (solutions / "linear.py").read_text()})
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0
    assert any(t["name"].startswith("Linear (linear-square)") for t in doc["tests"])
    broken = json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source":
                                    "def f(:\n    pass\n", "outputs": [],
                                    "execution_count": None}],
                         "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    doc = _run_bundle(bundles, "02-sigmoid-tanh", tmp_path / "broken",
                      {"02-sigmoid-tanh.ipynb": broken})
    assert doc["score"] == 0
    assert "SyntaxError at cell 1, line 1" in doc["tests"][0]["output"]
    doc = _run_bundle(bundles, "05-adam", tmp_path / "empty", {"notes.txt": "no code"})
    assert doc["score"] == 0 and "notes.txt" in doc["output"]
