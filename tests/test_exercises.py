"""The exercise grader works both ways: right answers pass, realistic wrong ones fail
with a message that points at the wrong tensor (docs/exercises/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn.testing import cli, exercises

ROOT = Path(__file__).resolve().parents[1]
SKELETONS = ROOT / "docs" / "exercises"
WRONG = Path(__file__).parent / "exercises" / "wrong_solutions.py"
LIBRARY = Path(__file__).parent / "exercises" / "library_solutions.py"


def grade(target: str, *extra: str, examples: int = 5) -> tuple[int, str]:
    lines: list[str] = []
    ns = cli._parser().parse_args([target, "--examples", str(examples), *extra])
    status = cli.run(ns, out=lines.append)
    return status, "\n".join(lines)


def failing_rows(output: str) -> list[str]:
    """Names of the tensors whose gradcheck row says FAIL."""
    return [line.split()[0] for line in output.splitlines() if "FAIL (" in line]


@pytest.mark.parametrize("name", ["Linear", "Sigmoid", "Tanh", "CrossEntropyLoss", "Dropout",
                                  "Adam"])
def test_the_library_passes_every_exercise(name):
    status, out = grade(f"{LIBRARY}:{name}")
    assert status == 0, out
    assert "RESULT: PASS" in out


WRONG_ANSWERS = [
    # (class, what the message must contain, tensors whose gradcheck row must FAIL)
    ("LinearMissingTranspose", "[gradients]", ["input"]),
    ("LinearWeightNotTransposed", "[gradients]", ["weight"]),
    ("LinearBiasMean", "[gradients]", ["bias"]),
    ("LinearAssigns", "[accumulation]", []),
    ("SigmoidNoUpstream", "[gradients]", ["input"]),
    ("SigmoidUsesX", "[gradients]", ["input"]),
    ("TanhNoSquare", "[gradients]", ["input"]),
    ("TanhMutates", "[no_mutation]", []),
    ("CrossEntropyNoMean", "[gradients]", ["input"]),
    ("CrossEntropyWrongSign", "[gradients]", ["input"]),
    ("CrossEntropyNoOneHot", "[gradients]", ["input"]),
    ("CrossEntropyOverflows", "overflow", []),
    ("DropoutNotRescaled", "kept entries must be x / (1 - p)", []),
    ("DropoutKeepsWithP", "[forward]", []),
    ("DropoutNewMaskInBackward", "[gradients]", ["input"]),
    ("DropoutBackwardUnmasked", "[gradients]", ["input"]),
    ("AdamEpsInsideSqrt", "step 1", []),
    ("AdamNoBiasCorrection", "step 1", []),
    ("AdamSharedState", "parameter 1", []),
    ("AdamSourceFormula", "step 1", []),
]


@pytest.mark.parametrize("name,message,rows", WRONG_ANSWERS, ids=[w[0] for w in WRONG_ANSWERS])
def test_wrong_answers_fail_naming_the_wrong_tensor(name, message, rows):
    status, out = grade(f"{WRONG}:{name}")
    assert status == 1, out
    assert "RESULT: FAIL" in out
    assert message in out, out
    assert failing_rows(out) == rows, out


def test_every_exercise_has_at_least_three_wrong_answers():
    import importlib.util
    from collections import Counter

    spec = importlib.util.spec_from_file_location("wrong", WRONG)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    per_exercise = Counter(mod.EXERCISE[name].split("-square")[0] for name, _, _ in WRONG_ANSWERS)
    for ex in ("linear", "sigmoid", "tanh", "softmax-cross-entropy", "dropout", "adam"):
        need = 2 if ex in ("sigmoid", "tanh") else 3  # sigmoid and tanh: one page, 4 in all
        assert per_exercise[ex] >= need, (ex, per_exercise)


SKELETON_CLASSES = [("linear.py", "Linear", "Linear.backward"),
                    ("sigmoid_tanh.py", "Sigmoid", "Sigmoid.backward"),
                    ("sigmoid_tanh.py", "Tanh", "Tanh.backward"),
                    ("softmax_cross_entropy.py", "SoftmaxCrossEntropy",
                     "SoftmaxCrossEntropy.backward"),
                    ("dropout.py", "Dropout", "Dropout.forward"),
                    ("adam.py", "Adam", "Adam.step")]


@pytest.mark.parametrize("file,name,todo", SKELETON_CLASSES)
def test_unfilled_skeletons_fail_with_what_to_write(file, name, todo):
    status, out = grade(f"{SKELETONS / file}:{name}")
    assert status == 1
    assert f"NotImplementedError: exercise: write {todo}" in out


# ----------------------------------------------------------------------------- filled skeletons
def _solved(file: str, name: str):
    """The skeleton's class with the missing method filled in correctly."""
    _, cls = cli.load_object(f"{SKELETONS / file}:{name}")

    def linear_backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.sum(axis=0)
        return grad_y @ self.weight.data.T

    def sigmoid_backward(self, grad_y):
        y = self._saved()
        return grad_y * y * (1 - y)

    def tanh_backward(self, grad_y):
        return grad_y * (1 - self._saved() ** 2)

    def ce_backward(self, grad=1.0):
        p, y = self._cache
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        return d * (grad / len(y))

    def dropout_forward(self, x):
        if not self.training:
            self._cache = ("eval", None)
            return x.copy()
        scale = ((self.rng.random(x.shape) >= self.p) / (1 - self.p)).astype(x.dtype)
        self._cache = ("train", scale)
        return x * scale

    def dropout_backward(self, grad_y):
        mode, scale = self._saved()
        return grad_y.copy() if mode == "eval" else grad_y * scale

    def adam_step(self):
        self.t += 1
        for p in self.params:
            st = self.state.setdefault(p, {"m": np.zeros_like(p.data),
                                           "v": np.zeros_like(p.data)})
            g = p.grad
            st["m"] *= self.beta1
            st["m"] += (1 - self.beta1) * g
            st["v"] *= self.beta2
            st["v"] += (1 - self.beta2) * g * g
            m_hat = st["m"] / (1 - self.beta1 ** self.t)
            v_hat = st["v"] / (1 - self.beta2 ** self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    methods = {"Linear": {"backward": linear_backward},
               "Sigmoid": {"backward": sigmoid_backward},
               "Tanh": {"backward": tanh_backward},
               "SoftmaxCrossEntropy": {"backward": ce_backward},
               "Dropout": {"forward": dropout_forward, "backward": dropout_backward},
               "Adam": {"step": adam_step}}[name]
    return type(name, (cls,), methods)


@pytest.mark.parametrize("file,name,todo", SKELETON_CLASSES)
def test_filled_skeletons_pass(file, name, todo, tmp_path, monkeypatch):
    solved = _solved(file, name)
    module, _ = cli.load_object(f"{SKELETONS / file}:{name}")
    monkeypatch.setattr(module, name, solved)
    monkeypatch.setattr(cli, "load_object", lambda target: (module, solved))
    status, out = grade(f"{SKELETONS / file}:{name}")
    assert status == 0, out


def test_every_registered_exercise_has_a_page_and_a_skeleton():
    pages = {p.name for p in SKELETONS.glob("*.md")}
    for page in ("01-linear.md", "02-sigmoid-tanh.md", "03-softmax-cross-entropy.md",
                 "04-dropout.md", "05-adam.md", "README.md"):
        assert page in pages
    assert {"linear", "sigmoid", "tanh", "softmax-cross-entropy", "dropout",
            "adam"} <= set(exercises.EXERCISES)


def test_the_command_line_grades_a_file():
    proc = subprocess.run([sys.executable, "-m", "nn", "check", f"{WRONG}:LinearBiasMean",
                           "--examples", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "bias" in proc.stdout and "FAIL" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nn", "check", f"{LIBRARY}:Linear",
                           "--input-shape", "2,3", "--args", '{"in_features": 3, '
                           '"out_features": 4}', "--examples", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: PASS" in proc.stdout
