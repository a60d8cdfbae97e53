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
WRONG_CONV_RNN = Path(__file__).parent / "exercises" / "wrong_solutions_conv_rnn.py"
LIBRARY = Path(__file__).parent / "exercises" / "library_solutions.py"


def grade(target: str, *extra: str, examples: int = 5) -> tuple[int, str]:
    lines: list[str] = []
    # the library's own classes, and the wrong answers built on them, are graded with the
    # library allowed (a student's answer may not use it: tests/test_classroom.py)
    if target.split(":")[0] in (str(LIBRARY), str(WRONG)):
        extra = ("--allow-library", *extra)
    ns = cli._parser().parse_args([target, "--examples", str(examples), *extra])
    status = cli.run(ns, out=lines.append)
    return status, "\n".join(lines)


def failing_rows(output: str) -> list[str]:
    """Names of the tensors whose gradcheck row says FAIL."""
    return [line.split()[0] for line in output.splitlines() if "FAIL (" in line]


@pytest.mark.parametrize("name", ["Linear", "Sigmoid", "Tanh", "CrossEntropyLoss", "Dropout",
                                  "Adam", "Conv2d", "MaxPool2d", "BatchNorm1d", "LSTMCell",
                                  "LSTM"])
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
    # shape mistakes: the message says what backward returned, or adds the expected shapes
    ("LinearMissingTransposeNotSquare", "hint: grad_y has the output's shape (4, 2)", []),
    ("LinearBiasSumsFeatures", "self.bias.grad (2,)", []),
    ("LinearForgetsReturn", "backward returned None: it must return dL/dx, an ndarray of the "
                            "input's shape (4, 3)", []),
    ("LinearReturnsList", "backward returned a list, not a NumPy array", []),
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

_GATES = ["input", "weight_ih", "weight_hh", "bias"]  # every tensor the gate gradients reach
WRONG_ANSWERS_CONV_RNN = [
    # exercises 6-10: the skeleton's backward filled in with one mistake
    ("ConvKernelFlipped", "[gradients]", ["input"]),
    ("ConvOverwritesDx", "[gradients]", ["input"]),
    ("ConvWeightIgnoresStride", "[gradients]", ["weight"]),
    ("ConvBiasMean", "[gradients]", ["bias"]),
    ("ConvTrueConvolution", "is not nn.Conv2d's output", []),
    # right only with the main configuration's padding 1: the message follows the line
    # naming the configuration that breaks it
    ("ConvCropNegative", "configuration 2 of 3: input shape (2, 2, 6, 9), arguments "
                         "{'in_channels': 2, 'out_channels': 3, 'kernel_size': 3, 'stride': 2, "
                         "'padding': 0}\n[gradients] ConvCropNegative(): backward returned a "
                         "gradient of shape (2, 2, 0, 0) for an input of shape (2, 2, 6, 9)",
     []),
    ("ConvBufferOnlyWhereWindowsReach", "backward returned a gradient of shape (2, 2, 5, 9) "
                                        "for an input of shape (2, 2, 6, 9)", []),
    ("MaxPoolOverwrites", "[gradients]", ["input"]),
    ("MaxPoolOffsetTransposed", "[gradients]", ["input"]),
    ("MaxPoolWholeWindow", "[gradients]", ["input"]),
    ("MaxPoolIgnoresStride", "[gradients]", ["input"]),
    ("MaxPoolNotCropped", "returned a gradient of shape (2, 2, 8, 9) for an input of shape "
                          "(2, 2, 6, 7)", []),
    ("MaxPoolCropNegative", "'padding': 0}\n[gradients] MaxPoolCropNegative(): backward "
                            "returned a gradient of shape (2, 2, 0, 0) for an input of shape "
                            "(2, 2, 4, 7)", []),
    ("BatchNormNoVariancePath", "[gradients]", ["input"]),
    ("BatchNormNoMeanPath", "[gradients]", ["input"]),
    ("BatchNormStatisticsConstant", "[gradients]", ["input"]),
    ("BatchNormGammaForgotten", "[gradients]", ["input"]),
    ("BatchNormGammaGradUsesX", "[gradients]", ["weight"]),
    ("LSTMCellForgetGateUsesNewC", "[gradients]", [*_GATES, "h_prev"]),
    ("LSTMCellGAsSigmoid", "[gradients]", [*_GATES, "h_prev"]),
    ("LSTMCellTanhPrimeOfC", "[gradients]", [*_GATES, "h_prev", "c_prev"]),
    ("LSTMCellNoForgetPath", "[gradients]", ["c_prev"]),
    ("LSTMCellIgnoresDcNext", "[gradients]", [*_GATES, "h_prev", "c_prev"]),
    ("LSTMCellGateOrderIGFO", "is not [h | c] of nn.LSTM's step", []),
    ("LSTMNoCellPathAcrossTime", "[gradients]", [*_GATES, "h0", "c0"]),
    ("LSTMNoHiddenPathAcrossTime", "[gradients]", [*_GATES, "h0", "c0"]),
    ("LSTMWeightHHUsesCurrentH", "[gradients]", ["weight_hh"]),
    ("LSTMAssignsWeightGradsPerStep", "[gradients]", ["weight_ih", "weight_hh", "bias"]),
    ("LSTMNoInitialStateGrad", "[gradients]", ["h0", "c0"]),
]
ALL_WRONG = [(WRONG, *w) for w in WRONG_ANSWERS] + [(WRONG_CONV_RNN, *w)
                                                     for w in WRONG_ANSWERS_CONV_RNN]


@pytest.mark.parametrize("file,name,message,rows", ALL_WRONG, ids=[w[1] for w in ALL_WRONG])
def test_wrong_answers_fail_naming_the_wrong_tensor(file, name, message, rows):
    status, out = grade(f"{file}:{name}")
    assert status == 1, out
    assert "RESULT: FAIL" in out
    assert message in out, out
    assert failing_rows(out) == rows, out


def test_a_shape_error_in_backward_lists_every_gradient_shape():
    status, out = grade(f"{WRONG}:LinearBiasSumsFeatures")
    assert status == 1
    error, hint = out.splitlines()[1:3]
    assert error.startswith("[error] ValueError: operands could not be broadcast"), out
    assert error.endswith("in backward)"), out
    assert hint == ("hint: grad_y has the output's shape (4, 2); backward returns dx of the "
                    "input's shape and adds into each parameter's .grad an array of that "
                    "parameter's shape: dx (4, 3), self.weight.grad (3, 2), "
                    "self.bias.grad (2,)"), out


@pytest.mark.parametrize("name", ["conv2d", "maxpool2d"])
def test_strided_exercises_are_graded_with_and_without_padding(name):
    """Code right for one (stride, padding) only must meet another: padding 0, stride 2
    with an input row or column no window reaches, stride 1; outputs never square."""
    configs = exercises.EXERCISES[name].configurations()
    strides_paddings = {(a.get("stride"), a["padding"]) for _, a in configs}
    assert {(2, 1), (2, 0), (1, 0)} <= strides_paddings
    unreached = False
    for shape, a in configs:
        k, s, p = a["kernel_size"], a["stride"], a["padding"]
        sides = [n + 2 * p - k for n in shape[2:]]
        Ho, Wo = (side // s + 1 for side in sides)
        assert Ho != Wo, (shape, a)
        unreached |= p == 0 and any(side % s for side in sides)
    assert unreached


def test_options_replace_the_exercise_configurations():
    status, out = grade(f"{LIBRARY}:Conv2d")
    assert status == 0, out
    assert "configuration 3 of 3" in out and "over 3 configurations" in out
    status, out = grade(f"{LIBRARY}:Conv2d", "--args", '{"in_channels": 2, "out_channels": 1, '
                        '"kernel_size": 3, "padding": 1}')
    assert status == 0, out
    assert "configuration" not in out


def _exercise_of(file: Path) -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"wrong_{file.stem}", file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EXERCISE


def test_every_exercise_has_at_least_three_wrong_answers():
    from collections import Counter

    names = {WRONG: _exercise_of(WRONG), WRONG_CONV_RNN: _exercise_of(WRONG_CONV_RNN)}
    per_exercise = Counter(names[file][name].split("-square")[0] for file, name, _, _ in ALL_WRONG)
    for ex in ("linear", "sigmoid", "tanh", "softmax-cross-entropy", "dropout", "adam",
               "conv2d", "maxpool2d", "batchnorm", "lstm-cell", "lstm"):
        need = 2 if ex in ("sigmoid", "tanh") else 3  # sigmoid and tanh: one page, 4 in all
        assert per_exercise[ex] >= need, (ex, per_exercise)
    for file, exercise_of in names.items():  # every wrong answer in the files is tested
        assert set(exercise_of) == {w[1] for w in ALL_WRONG if w[0] == file}


SKELETON_CLASSES = [("linear.py", "Linear", "Linear.backward"),
                    ("sigmoid_tanh.py", "Sigmoid", "Sigmoid.backward"),
                    ("sigmoid_tanh.py", "Tanh", "Tanh.backward"),
                    ("softmax_cross_entropy.py", "SoftmaxCrossEntropy",
                     "SoftmaxCrossEntropy.backward"),
                    ("dropout.py", "Dropout", "Dropout.forward"),
                    ("adam.py", "Adam", "Adam.step"),
                    ("conv2d.py", "Conv2d", "Conv2d.backward"),
                    ("maxpool2d.py", "MaxPool2d", "MaxPool2d.backward"),
                    ("batchnorm.py", "BatchNorm", "BatchNorm.backward"),
                    ("lstm_cell.py", "LSTMCell", "LSTMCell.backward"),
                    ("lstm.py", "LSTM", "LSTM.backward")]


@pytest.mark.parametrize("file,name,todo", SKELETON_CLASSES)
def test_unfilled_skeletons_fail_with_what_to_write(file, name, todo):
    status, out = grade(f"{SKELETONS / file}:{name}")
    assert status == 1
    assert f"NotImplementedError: exercise: write {todo}" in out


# ----------------------------------------------------------------------------- filled skeletons
def _conv2d_backward(self, grad_y):
    xp, x_shape = self._saved()
    N, C, H, Wd = x_shape
    _, O, Ho, Wo = grad_y.shape
    k, s, p = self.kernel_size, self.stride, self.padding
    self.bias.grad += grad_y.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    for a in range(k):
        for q in range(k):
            rows, cols = slice(a, a + s * Ho, s), slice(q, q + s * Wo, s)
            self.weight.grad[:, :, a, q] += np.einsum("nohw,nchw->oc", grad_y,
                                                      xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_y,
                                               self.weight.data[:, :, a, q])
    return dxp[:, :, p:p + H, p:p + Wd]


def _maxpool2d_backward(self, grad_y):
    arg, (N, C, H, W) = self._saved()
    _, _, Ho, Wo = grad_y.shape
    k, s, p = self.kernel_size, self.stride, self.padding
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=grad_y.dtype)
    for a in range(k):
        for q in range(k):
            dxp[:, :, a:a + s * Ho:s, q:q + s * Wo:s] += grad_y * (arg == a * k + q)
    return dxp[:, :, p:p + H, p:p + W]


def _batchnorm_backward(self, grad_y):
    xhat, rstd = self._saved()
    self.weight.grad += (grad_y * xhat).sum(axis=0)
    self.bias.grad += grad_y.sum(axis=0)
    return self.weight.data * rstd * (grad_y - grad_y.mean(axis=0)
                                      - xhat * (grad_y * xhat).mean(axis=0))


def _lstm_gates(dh, dc, c_prev, i, f, g, o, tc):
    """dz = [di, df, dg, do] times each gate's derivative."""
    return np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                           dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)


def _lstm_cell_backward(self, grad_y):
    x, h_prev, c_prev, i, f, g, o, tc = self._saved()
    H = self.hidden_size
    dh, dc_next = grad_y[:, :H], grad_y[:, H:]
    dc = dc_next + dh * o * (1 - tc ** 2)
    dz = _lstm_gates(dh, dc, c_prev, i, f, g, o, tc)
    self.weight_ih.grad += x.T @ dz
    self.weight_hh.grad += h_prev.T @ dz
    self.bias.grad += dz.sum(axis=0)
    self.h_prev.grad += dz @ self.weight_hh.data.T
    self.c_prev.grad += dc * f
    return dz @ self.weight_ih.data.T


def _lstm_backward(self, grad_y):
    x, steps = self._saved()
    dx = np.zeros_like(x)
    dh_next, dc_next = np.zeros_like(steps[0][0]), np.zeros_like(steps[0][1])
    for t in range(x.shape[1] - 1, -1, -1):
        h_prev, c_prev, i, f, g, o, tc = steps[t]
        dh = grad_y[:, t] + dh_next
        dc = dc_next + dh * o * (1 - tc ** 2)
        dz = _lstm_gates(dh, dc, c_prev, i, f, g, o, tc)
        self.weight_ih.grad += x[:, t].T @ dz
        self.weight_hh.grad += h_prev.T @ dz
        self.bias.grad += dz.sum(axis=0)
        dx[:, t] = dz @ self.weight_ih.data.T
        dh_next, dc_next = dz @ self.weight_hh.data.T, dc * f
    self.h0.grad += dh_next
    self.c0.grad += dc_next
    return dx


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
               "Adam": {"step": adam_step},
               "Conv2d": {"backward": _conv2d_backward},
               "MaxPool2d": {"backward": _maxpool2d_backward},
               "BatchNorm": {"backward": _batchnorm_backward},
               "LSTMCell": {"backward": _lstm_cell_backward},
               "LSTM": {"backward": _lstm_backward}}[name]
    return type(name, (cls,), methods)


@pytest.mark.parametrize("file,name,todo", SKELETON_CLASSES)
def test_filled_skeletons_pass(file, name, todo, tmp_path, monkeypatch):
    solved = _solved(file, name)
    module, _ = cli.load_object(f"{SKELETONS / file}:{name}")
    monkeypatch.setattr(module, name, solved)
    monkeypatch.setattr(cli, "load_object", lambda target: (module, solved))
    status, out = grade(f"{SKELETONS / file}:{name}")
    assert status == 0, out


PAGES = {"01-linear.md": ["linear.py:Linear"],
         "02-sigmoid-tanh.md": ["sigmoid_tanh.py:Sigmoid"],
         "03-softmax-cross-entropy.md": ["softmax_cross_entropy.py:SoftmaxCrossEntropy"],
         "04-dropout.md": ["dropout.py:Dropout"], "05-adam.md": ["adam.py:Adam"],
         "06-conv2d.md": ["conv2d.py:Conv2d"], "07-maxpool2d.md": ["maxpool2d.py:MaxPool2d"],
         "08-batchnorm.md": ["batchnorm.py:BatchNorm"],
         "09-lstm-cell.md": ["lstm_cell.py:LSTMCell"], "10-lstm-sequence.md": ["lstm.py:LSTM"]}


def test_every_registered_exercise_has_a_page_and_a_skeleton():
    pages = {p.name for p in SKELETONS.glob("*.md")}
    assert set(PAGES) | {"README.md"} == pages
    assert {"linear", "sigmoid", "tanh", "softmax-cross-entropy", "dropout", "adam", "conv2d",
            "maxpool2d", "batchnorm", "lstm-cell", "lstm"} <= set(exercises.EXERCISES)
    readme = (SKELETONS / "README.md").read_text()
    for page, targets in PAGES.items():
        assert f"]({page})" in readme, page  # listed in the table
        text = (SKELETONS / page).read_text()
        for target in targets:  # the page gives the command that grades its skeleton
            assert f"python -m nn check docs/exercises/{target}" in text, (page, target)
            assert (SKELETONS / target.split(":")[0]).is_file()


def test_exercises_without_a_page_are_documented_in_the_readme():
    """A registered exercise no skeleton names (linear-square) is reachable only through
    --exercise: the README and the page it belongs to say so."""
    named = set()
    for file in SKELETONS.glob("*.py"):
        ex = _exercise_of(file)
        named |= set(ex.values()) if isinstance(ex, dict) else {ex}
    readme = (SKELETONS / "README.md").read_text()
    for name in set(exercises.EXERCISES) - named:
        assert f"--exercise {name}" in readme, name
    assert ("python -m nn check docs/exercises/linear.py:Linear --exercise linear-square"
            in (SKELETONS / "01-linear.md").read_text())


@pytest.mark.parametrize("name,page", [("conv2d", "06-conv2d.md"),
                                       ("maxpool2d", "07-maxpool2d.md")])
def test_the_pages_list_the_graded_configurations(name, page):
    text = " ".join((SKELETONS / page).read_text().split())
    for shape, a in exercises.EXERCISES[name].configurations():
        k, s, p = a["kernel_size"], a["stride"], a["padding"]
        Ho, Wo = ((n + 2 * p - k) // s + 1 for n in shape[2:])
        channels = (f" {a['in_channels']} → {a['out_channels']} |" if "in_channels" in a
                    else "")
        assert (f"| {shape} | {k} | {s} | {p} |{channels} "
                f"({shape[0]}, {a.get('out_channels', shape[1])}, {Ho}, {Wo}) |") in text, shape


def test_the_conv2d_page_keeps_w_for_the_weight():
    for file in ("06-conv2d.md", "conv2d.py"):
        text = (SKELETONS / file).read_text()
        assert "H, W)" not in text and "p + W]" not in text, file
        assert "(N, C, H, Wd)" in text, file


def test_the_command_line_grades_a_file():
    proc = subprocess.run([sys.executable, "-m", "nn", "check", f"{WRONG}:LinearBiasMean",
                           "--examples", "2", "--allow-library"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "bias" in proc.stdout and "FAIL" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nn", "check", f"{LIBRARY}:Linear",
                           "--input-shape", "2,3", "--args", '{"in_features": 3, '
                           '"out_features": 4}', "--examples", "2", "--allow-library"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: PASS" in proc.stdout
