"""The source documents' CNN (``nn.models.cnn``), the LeNet-style ``nn.models.lenet`` and
the ``python -m nn --model cnn`` job: shapes, parameter counts, gradients, training."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn
import optim
from nn.jobs.common import digits_split

pytestmark = pytest.mark.usefixtures("allow_underflow")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("in_shape,classes,k", [((1, 28, 28), 10, 3), ((1, 8, 8), 10, 3),
                                                ((3, 32, 20), 5, 5), ((2, 3, 3), 2, 3)])
def test_cnn_builds_for_any_image_size_and_class_count(in_shape, classes, k):
    C, H, W = in_shape
    model = nn.models.cnn(in_shape, classes, kernel_size=k, rng=0)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Conv2d", "ReLU", "Flatten", "Linear", "ReLU", "Linear"]
    flat = 32 * (H - k + 1) * (W - k + 1)
    assert model.num_parameters() == (32 * C * k * k + 32) + (flat * 64 + 64) + (64 * classes
                                                                                 + classes)
    x = np.random.default_rng(0).standard_normal((3,) + in_shape).astype(np.float32)
    y = model(x)
    assert y.shape == (3, classes) and y.dtype == np.float32
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape


def test_cnn_rejects_images_smaller_than_the_kernel():
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the image 2x8"):
        nn.models.cnn((1, 2, 8))
    with pytest.raises(ValueError, match="in_shape"):
        nn.models.cnn((8, 8))


def test_cnn_gradcheck():
    model = nn.models.cnn((2, 5, 4), 3, channels=4, hidden=6, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 4))
    nn.assert_gradcheck(model, x, max_coords=20)


def test_lenet_on_28x28():
    model = nn.models.lenet(rng=0)
    assert model.num_parameters() == 156 + 2416 + 48120 + 10164 + 850     # LeNet-5's 61,706
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert model(x).shape == (2, 10)
    text = model.summary((1, 28, 28), print_fn=None)
    for shape in ("(N, 6, 28, 28)", "(N, 6, 14, 14)", "(N, 16, 10, 10)", "(N, 16, 5, 5)",
                  "(N, 400)"):
        assert shape in text
    assert nn.models.lenet((3, 32, 32), 7, rng=0)(np.zeros((1, 3, 32, 32), np.float32)).shape \
        == (1, 7)
    with pytest.raises(ValueError, match="too small"):
        nn.models.lenet((1, 8, 8))


def test_lenet_gradcheck():
    model = nn.models.lenet((1, 12, 12), 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((2, 1, 12, 12))
    nn.assert_gradcheck(model, x, max_coords=8)


def test_lenet_learns_28x28_images():
    """The digits upscaled 3x and padded to 28x28 stand in for MNIST (no download)."""
    (x_tr, y_tr), _, (x_te, y_te) = digits_split(0, images=True)

    def up(x):
        return np.pad(np.kron(x, np.ones((1, 1, 3, 3), np.float32)),
                      ((0, 0), (0, 0), (2, 2), (2, 2)))

    model = nn.models.lenet(rng=0)
    history = nn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=2e-3),
                     up(x_tr), y_tr, epochs=3, batch_size=64, rng=0, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert nn.evaluate(model, nn.CrossEntropyLoss(), up(x_te), y_te)["accuracy"] >= 0.85


def test_cnn_trains_on_the_digits_in_a_small_budget():
    """5 epochs at batch 128 (the job runs 12 at batch 64 and reaches >= 0.97)."""
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = digits_split(0, images=True)
    model = nn.models.cnn((1, 8, 8), 10, rng=0)
    nn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=4e-3), x_tr, y_tr,
           epochs=5, batch_size=128, rng=0, verbose=0)
    assert nn.evaluate(model, nn.CrossEntropyLoss(), x_te, y_te)["accuracy"] >= 0.95


def test_cli_model_cnn_reaches_097_in_under_a_minute():
    """One run of ``python -m nn --model cnn``. BLAS runs single-threaded here: on a shared
    machine a 2-thread BLAS call can wait a whole scheduler slice for its second thread
    (benchmarks/README.md), which says nothing about this code."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "nn", "--model", "cnn", "--verbose", "0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"test accuracy ([0-9.]+)\s+\(trained in ([0-9.]+) s\)", proc.stdout)
    assert match, proc.stdout
    accuracy, seconds = float(match.group(1)), float(match.group(2))
    assert accuracy >= 0.97
    assert seconds < 60


def test_cli_lists_the_cnn_job():
    from nn.jobs import JOBS, load_job

    assert JOBS["cnn"] == "nn.jobs.cnn"
    job = load_job("cnn")
    assert job.DEFAULTS["optimizer"] == "adam" and "CNN" in job.DESCRIPTION


def test_benchmark_floor_and_nn_compute_the_same_step():
    """benchmarks/bench_cnn.py compares nn with a hand-written NumPy floor; both must do the
    same arithmetic (first-step loss, weights after three momentum steps)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_cnn", ROOT / "benchmarks/bench_cnn.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    lines = []
    assert bench.check_same_math(bench.initial_weights(), bench.make_batches(), False,
                                 out=lines.append), "\n".join(lines)
