"""1-D CNN benchmark: a small MNIST-1D-sized training step, and Conv1d forward/backward alone.

Model (float32, batch 128 of 1x40 sequences, 10 classes, MNIST-1D's sizes)::

    Conv1d(1, 16, 5, padding=2) - ReLU - MaxPool1d(2) - Conv1d(16, 32, 3, padding=1) - ReLU
    - MaxPool1d(2) - Flatten - Linear(320, 10);  mean cross-entropy;  SGD lr 0.01 momentum 0.9

Three implementations of the same math are timed side by side, as in bench_cnn.py:

floor  plain NumPy written out by hand in this file, with no framework: buffers allocated
       once, channels-last (N, L, C) activations, conv1's column matrix as X^T (one copy per
       kernel offset), conv2's as one copy of a strided window view, ``np.matmul(...,
       out=)``, the bias added through a wide view, max-pooling by the two offsets of each
       window with the arg-max recorded, conv2's input gradient by one GEMM per kernel
       offset added into a padded buffer, in-place ReLU and momentum update. Layer by layer,
       in nn's order (no fusing): what ``nn`` could at best achieve with NumPy.
nn     this project: ``nn.Sequential`` of ``nn.Conv1d``, ``nn.ReLU``, ``nn.MaxPool1d``,
       ``nn.Flatten``, ``nn.Linear``; ``nn.CrossEntropyLoss``; ``optim.SGD(momentum=0.9)``;
       ``model.set_input_grad(False)`` as ``nn.fit`` does.
torch  PyTorch CPU (only if ``import torch`` works), (N, C, L) tensors.

Besides the training step, the two convolutions are timed alone: forward, and backward
(weight, bias and, for the second one, input gradient) after a forward, each on the input
layout it sees inside its own network.

Methodology (benchmarks/README.md): interleaved cases in one process, order rotated each
round, at least ``--warmup`` (0.15 s) of untimed runs of the same case right before each
timed block, every step timed alone, medians over all rounds; weights reset (untimed)
before each warm-up.

Run::

    python benchmarks/bench_conv1d.py --threads 1      # full run (about 40 seconds)
    python benchmarks/bench_conv1d.py --quick          # smoke test, a few seconds
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
from numpy.lib.stride_tricks import as_strided

import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ is not a package
import _harness as harness  # noqa: E402
import bench_cnn  # noqa: E402  (its command line, thread handling and table)

BATCH = 128
LENGTH = 40
LR = 0.01
MOMENTUM = 0.9
N_BATCHES = 4
DTYPE = np.float32
CLASSES = 10
C1, C2, K1, K2 = 16, 32, 5, 3


# ----------------------------------------------------------------------------- data / weights
def make_batches(batch: int = BATCH, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``N_BATCHES`` pairs (x float32 (batch, 1, 40) of noisy bumps, y int64)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, LENGTH, dtype=DTYPE)
    out = []
    for _ in range(N_BATCHES):
        centre = rng.random((batch, 1, 1), dtype=DTYPE)
        with np.errstate(under="ignore"):                # exp(-large) is 0: benign
            bump = np.exp(-((t - centre) / 0.1) ** 2)
        x = bump + 0.1 * rng.standard_normal((batch, 1, LENGTH), dtype=DTYPE)
        out.append((x.astype(DTYPE), rng.integers(0, CLASSES, size=batch, dtype=np.int64)))
    return out


def build_nn_model(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv1d(1, C1, K1, padding=2, rng=rng, dtype=DTYPE), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(C1, C2, K2, padding=1, rng=rng, dtype=DTYPE), nn.ReLU(), nn.MaxPool1d(2),
        nn.Flatten(), nn.Linear(C2 * LENGTH // 4, CLASSES, init="torch", rng=rng,
                                dtype=DTYPE))


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """[W1 (16,1,5), b1, W2 (32,16,3), b2, W3 (320,10), b3] from a fresh ``nn`` model."""
    return [np.array(p.data, copy=True) for p in build_nn_model(seed).parameters()]


# ----------------------------------------------------------------------------- case: nn
class NNCase(bench_cnn.NNCase):
    """As in bench_cnn.py, on this script's model."""

    build_model = staticmethod(build_nn_model)


# ----------------------------------------------------------------------------- case: floor
def _windows(xp, k, out_len):
    """(N, Lo, k, C) view of the NLC array xp, stride 1: view[n, i, a, c] = xp[n, i + a, c]."""
    sn, sl, sc = xp.strides
    return as_strided(xp, shape=(xp.shape[0], out_len, k, xp.shape[2]),
                      strides=(sn, sl, sl, sc), writeable=False)


def _gemm_layout(w):
    """(O, C, k) -> (k*C, O), the column order of the im2col matrix."""
    O, C, k = w.shape
    return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(k * C, O))


class FloorCase(bench_cnn.FloorCase):
    """Hand-written NumPy. Conv weights are kept in GEMM layout (K, O) between steps; the
    momentum update is bench_cnn.py's (inherited with ``reset``/``get_weights`` helpers)."""

    def __init__(self, weights):
        self.weights = weights
        n, f, L = BATCH, DTYPE, LENGTH
        self.p = [np.empty((K1, C1), f), np.empty(C1, f), np.empty((K2 * C1, C2), f),
                  np.empty(C2, f), np.empty((C2 * L // 4, CLASSES), f), np.empty(CLASSES, f)]
        self.reset()
        self.g = [np.empty_like(p) for p in self.p]
        self.b = [np.zeros_like(p) for p in self.p]
        self.tmp = [np.empty_like(p) for p in self.p]
        self.t = 0
        self.xp1 = np.zeros((n, L + 4), f)               # padded input (border stays 0)
        self.cols1 = np.empty((K1, n, L), f)              # X^T (K, M): one row per offset
        self.h1 = np.empty((n, L, C1), f)
        self.p1, self.i1 = np.empty((n, L // 2, C1), f), np.empty((n, L // 2, C1), bool)
        self.xp2 = np.zeros((n, L // 2 + 2, C1), f)
        self.cols2 = np.empty((n, L // 2, K2, C1), f)
        self.h2 = np.empty((n, L // 2, C2), f)
        self.p2, self.i2 = np.empty((n, L // 4, C2), f), np.empty((n, L // 4, C2), bool)
        self.bias_rows = [np.empty(L * C1, f), np.empty(L // 2 * C2, f)]
        self.flat = np.empty((n, C2 * L // 4), f)
        self.z = np.empty((n, CLASSES), f)
        self.dflat = np.empty((n, C2 * L // 4), f)
        self.dh2 = np.empty((n, L // 2, C2), f)
        self.rm2 = np.empty((n, L // 2, C2), bool)
        self.dxp2 = np.empty((n, L // 2 + 2, C1), f)
        self.part = np.empty((n * L // 2, C1), f)
        self.dh1 = np.empty((n, L, C1), f)
        self.rm1 = np.empty((n, L, C1), bool)
        self.rows = np.arange(n)
        self.ones = np.ones(n * L, f)
        self.ones_c = np.ones(CLASSES, f)
        self.loss = None

    def reset(self) -> None:
        W1, b1, W2, b2, W3, b3 = self.weights
        for p, w in zip(self.p, (_gemm_layout(W1), b1, _gemm_layout(W2), b2, W3, b3)):
            p[...] = w

    @staticmethod
    def _pool(h, out, idx):
        """2/2 max pool of NLC h; idx = [second entry larger] (the first max wins a tie)."""
        np.greater(h[:, 1::2], h[:, 0::2], out=idx)
        np.maximum(h[:, 0::2], h[:, 1::2], out=out)

    @staticmethod
    def _unpool(g, idx, dh):
        """dh[window entry k] = g where k is the arg-max (the windows tile dh exactly)."""
        np.multiply(g, idx, out=dh[:, 1::2])
        np.subtract(g, dh[:, 1::2], out=dh[:, 0::2])

    def step(self, x, y) -> None:
        W1, b1, W2, b2 = self.p[:4]
        gW1, gb1, gW2, gb2 = self.g[:4]
        n, L = x.shape[0], LENGTH
        # ---- conv1 (C=1): X^T (5, M) by one copy per kernel offset; bias through a wide
        # view (one row per sequence, the bias tiled along it); ReLU; pool
        self.xp1[:, 2:L + 2] = x[:, 0]
        for a in range(K1):
            np.copyto(self.cols1[a], self.xp1[:, a:a + L])
        c1 = self.cols1.reshape(K1, -1).T                 # (M, 5), a transposed view
        h1 = self.h1.reshape(-1, C1)
        np.matmul(c1, W1, out=h1)
        self.bias_rows[0].reshape(-1, C1)[...] = b1
        h1w = self.h1.reshape(n, -1)
        h1w += self.bias_rows[0]
        np.maximum(h1, 0, out=h1)
        self._pool(self.h1, self.p1, self.i1)
        # ---- conv2: X (M, 48) as one copy of the NLC window view; ReLU; pool
        self.xp2[:, 1:L // 2 + 1, :] = self.p1
        np.copyto(self.cols2, _windows(self.xp2, K2, L // 2))
        c2 = self.cols2.reshape(-1, K2 * C1)
        h2 = self.h2.reshape(-1, C2)
        np.matmul(c2, W2, out=h2)
        self.bias_rows[1].reshape(-1, C2)[...] = b2
        h2w = self.h2.reshape(n, -1)
        h2w += self.bias_rows[1]
        np.maximum(h2, 0, out=h2)
        self._pool(self.h2, self.p2, self.i2)
        # ---- flatten in NCL order (as Flatten of an (N, C, L) array), linear, loss
        np.copyto(self.flat.reshape(n, C2, L // 4), self.p2.transpose(0, 2, 1))
        self.linear_cross_entropy(y)
        # ---- pool2, ReLU2 backward (dflat is NCL-ordered: read through a transposed view)
        self._unpool(self.dflat.reshape(n, C2, L // 4).transpose(0, 2, 1), self.i2, self.dh2)
        np.greater(self.h2, 0, out=self.rm2)
        np.multiply(self.dh2, self.rm2, out=self.dh2)
        # ---- conv2 backward: dW = X^T G, db = 1^T G, dx by one GEMM per kernel offset
        G2 = self.dh2.reshape(-1, C2)
        np.matmul(c2.T, G2, out=gW2)
        np.matmul(self.ones[:G2.shape[0]], G2, out=gb2)
        dxp = self.dxp2
        dxp.fill(0)
        part, part3 = self.part, self.part.reshape(n, L // 2, C1)
        W2k = W2.reshape(K2, C1, C2)
        for a in range(K2):
            np.matmul(G2, W2k[a].T, out=part)
            dxp[:, a:a + L // 2, :] += part3
        # ---- pool1, ReLU1 backward, conv1 weight gradient (no input gradient)
        self._unpool(dxp[:, 1:L // 2 + 1, :], self.i1, self.dh1)
        np.greater(self.h1, 0, out=self.rm1)
        np.multiply(self.dh1, self.rm1, out=self.dh1)
        G1 = self.dh1.reshape(-1, C1)
        np.matmul(self.cols1.reshape(K1, -1), G1, out=gW1)
        np.matmul(self.ones, G1, out=gb1)
        self.update()

    def get_weights(self):
        W1, b1, W2, b2, W3, b3 = (np.array(p, copy=True) for p in self.p)
        return [W1.reshape(K1, 1, C1).transpose(2, 1, 0), b1,
                W2.reshape(K2, C1, C2).transpose(2, 1, 0), b2, W3, b3]


# ----------------------------------------------------------------------------- case: torch
class TorchCase(bench_cnn.TorchCase):
    def __init__(self, weights):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        tnn = torch.nn
        self.model = tnn.Sequential(
            tnn.Conv1d(1, C1, K1, padding=2), tnn.ReLU(), tnn.MaxPool1d(2),
            tnn.Conv1d(C1, C2, K2, padding=1), tnn.ReLU(), tnn.MaxPool1d(2),
            tnn.Flatten(), tnn.Linear(C2 * LENGTH // 4, CLASSES)).float()
        self.weights = weights
        self.reset()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = None


# ----------------------------------------------------------------------------- conv alone
class ConvTask(bench_cnn.ConvTask):
    """One convolution of the model, forward or backward, in each implementation (the nn
    and torch cases are bench_cnn.py's, with these layers).

    ``which`` 1: Conv1d(1, 16, 5, p2) on (128, 1, 40), backward without input gradient;
    ``which`` 2: Conv1d(16, 32, 3, p1) on (128, 16, 20), backward with input gradient.
    Inputs are in the layout the case sees inside its network (channels-last memory for
    nn and the floor, contiguous (N, C, L) for torch).
    """

    def __init__(self, which: int, seed: int = 0):
        self.which = which
        rng = np.random.default_rng(seed + which)
        self.C, self.O, self.L, self.k = (1, C1, LENGTH, K1) if which == 1 else \
            (C1, C2, LENGTH // 2, K2)
        self.p = self.k // 2
        self.x = rng.random((BATCH, self.L, self.C), dtype=DTYPE).transpose(0, 2, 1)
        self.g = rng.standard_normal((BATCH, self.L, self.O), dtype=DTYPE).transpose(0, 2, 1)
        self.w = rng.uniform(-0.3, 0.3, (self.O, self.C, self.k)).astype(DTYPE)
        self.b = rng.uniform(-0.3, 0.3, self.O).astype(DTYPE)

    def nn_conv(self) -> nn.Layer:
        return nn.Conv1d(self.C, self.O, self.k, padding=self.p, dtype=DTYPE)

    def torch_conv(self, torch):
        return torch.nn.Conv1d(self.C, self.O, self.k, padding=self.p)

    def floor_case(self):
        n, C, O, L, k, p = BATCH, self.C, self.O, self.L, self.k, self.p
        xp = np.zeros((n, L + 2 * p, C), DTYPE)
        cols = np.empty((n, L, k, C), DTYPE)
        planes = np.empty((k, n, L), DTYPE)             # X^T for C = 1
        y = np.empty((n * L, O), DTYPE)
        brow = np.empty(L * O, DTYPE)
        Wm, b = _gemm_layout(self.w), self.b
        gW, gb = np.empty_like(Wm), np.empty_like(b)
        ones = np.ones(n * L, DTYPE)
        dxp = np.empty((n, L + 2 * p, C), DTYPE)
        part = np.empty((n * L, C), DTYPE)
        part3 = part.reshape(n, L, C)
        Wk = Wm.reshape(k, C, O)
        x_nlc = self.x.transpose(0, 2, 1)
        G = self.g.transpose(0, 2, 1).reshape(-1, O)
        with_dx = self.which == 2
        X = planes.reshape(k, -1).T if C == 1 else cols.reshape(-1, k * C)

        def fwd():
            xp[:, p:p + L, :] = x_nlc
            if C == 1:
                for a in range(k):
                    np.copyto(planes[a], xp[:, a:a + L, 0])
            else:
                np.copyto(cols, _windows(xp, k, L))
            np.matmul(X, Wm, out=y)
            brow.reshape(-1, O)[...] = b
            yw = y.reshape(n, -1)
            np.add(yw, brow, out=yw)

        def bwd():
            np.matmul(X.T, G, out=gW)
            np.matmul(ones, G, out=gb)
            if with_dx:
                dxp.fill(0)
                for a in range(k):
                    np.matmul(G, Wk[a].T, out=part)
                    dxp[:, a:a + L, :] += part3

        fwd()
        return fwd, bwd


# ----------------------------------------------------------------------------- checks, timing
def check_same_math(weights, batches, with_torch: bool, steps: int = 3, out=print) -> bool:
    """Fresh instances from identical weights: first-step losses and weights after
    ``steps`` steps agree (float32 rounding). A mismatch of nn vs the floor fails."""
    cases = [FloorCase(weights), NNCase(weights)] + ([TorchCase(weights)] if with_torch else [])
    return harness.check_training_steps(cases, batches, steps, out=out)


def _this_model() -> types.SimpleNamespace:
    """This script's cases and data, for bench_cnn.py's timing loop and report (works
    whether the script runs as __main__ or is loaded by a test)."""
    return types.SimpleNamespace(**globals())


def benchmark(rounds: int, warmup: float, block: float, min_block_steps: int,
              with_torch: bool, seed: int = 0) -> dict:
    """Interleaved timing of every (task, case); returns per-cell medians and quartiles."""
    return bench_cnn.benchmark(rounds, warmup, block, min_block_steps, with_torch, seed,
                               model=_this_model())


def main(argv=None, out=print) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math."""
    title = (f"1-D CNN Conv1d(1,{C1},{K1},p2)-ReLU-MaxPool1d(2)-Conv1d({C1},{C2},{K2},p1)-ReLU-"
             f"MaxPool1d(2)-Flatten-Linear({C2 * LENGTH // 4},{CLASSES}), batch "
             f"{BATCH}x1x{LENGTH} float32, SGD lr={LR} momentum={MOMENTUM}")
    return bench_cnn.main(argv, out, model=_this_model(), title=title,
                          script=os.path.abspath(__file__))


if __name__ == "__main__":
    sys.exit(main())
