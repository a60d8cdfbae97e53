"""CNN benchmark: a small LeNet-like training step, and Conv2d forward/backward on their own.

Model (float32, batch 64 of 1x28x28 images, 10 classes)::

    Conv2d(1, 8, 3, padding=1) - ReLU - MaxPool2d(2) - Conv2d(8, 16, 3, padding=1) - ReLU
    - MaxPool2d(2) - Flatten - Linear(784, 10);  mean cross-entropy;  SGD lr 0.01 momentum 0.9

Three implementations of the same math are timed side by side, as in bench_mlp.py:

floor  plain NumPy written out by hand in this file, with no framework: buffers allocated
       once, channels-last (NHWC) activations, im2col as one copy of a strided window view
       into a preallocated column matrix, ``np.matmul(..., out=)``, max-pooling by the four
       offsets of each 2x2 window with the arg-max recorded, input gradient of the second
       convolution as one GEMM per kernel offset added into a padded buffer, in-place ReLU
       and momentum update. It keeps the layer-by-layer order of operations (no fusing of
       ReLU and pooling, which a layer-by-layer framework cannot do): the cost of the
       arithmetic for what ``nn`` could at best achieve with NumPy.
nn     this project: ``nn.Sequential`` of ``nn.Conv2d``, ``nn.ReLU``, ``nn.MaxPool2d``,
       ``nn.Flatten``, ``nn.Linear``; ``nn.CrossEntropyLoss``; ``optim.SGD(momentum=0.9)``;
       ``model.set_input_grad(False)`` as ``nn.fit`` does (nothing needs dL/dx of the images).
torch  PyTorch CPU (only if ``import torch`` works), NCHW tensors, default thread count.

Besides the full training step, the two convolutions are timed alone: forward, and
backward (weight, bias and, for the second one, input gradient) after a forward, each
case on the input layout it sees inside its own network.

Methodology (benchmarks/README.md): interleaved cases in one process, order rotated each
round, at least ``--warmup`` (0.15 s) of untimed runs of the same case right before each
timed block, every step timed alone, medians over all rounds; weights reset (untimed)
before each warm-up.

Run::

    python benchmarks/bench_cnn.py                  # full run (about 1.5 minutes)
    python benchmarks/bench_cnn.py --quick          # smoke test, a few seconds
    python benchmarks/bench_cnn.py --alternatives   # also time the strategies not chosen
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

import nn
import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ is not a package
import _harness as harness  # noqa: E402

BATCH = 64
LR = 0.01
MOMENTUM = 0.9
N_BATCHES = 4
DTYPE = np.float32
CLASSES = 10


# ----------------------------------------------------------------------------- data / weights
def make_batches(batch: int = BATCH, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``N_BATCHES`` pairs (x float32 (batch, 1, 28, 28) in [0, 1) with blank borders, y)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_BATCHES):
        x = np.zeros((batch, 1, 28, 28), DTYPE)
        x[:, :, 4:24, 4:24] = rng.random((batch, 1, 20, 20), dtype=DTYPE)  # blank regions tie
        out.append((x, rng.integers(0, CLASSES, size=batch, dtype=np.int64)))
    return out


def build_nn_model(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=rng, dtype=DTYPE), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, rng=rng, dtype=DTYPE), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, CLASSES, init="torch", rng=rng, dtype=DTYPE))


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """[W1 (8,1,3,3), b1, W2 (16,8,3,3), b2, W3 (784,10), b3] from a fresh ``nn`` model."""
    return [np.array(p.data, copy=True) for p in build_nn_model(seed).parameters()]


# ----------------------------------------------------------------------------- case: nn
class NNCase:
    name = "nn"
    build_model = staticmethod(build_nn_model)

    def __init__(self, weights):
        self.model = self.build_model()
        self.model.set_input_grad(False)
        self.params = list(self.model.parameters())
        self.weights = weights
        self.reset()
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = None

    def reset(self) -> None:
        for p, w in zip(self.params, self.weights):
            p.data[...] = w

    def prepare(self, batches):
        return batches

    def step(self, x, y) -> None:
        opt, model, loss_fn = self.opt, self.model, self.loss_fn
        opt.zero_grad()
        out = model(x)
        self.loss = loss_fn(out, y)
        model.backward(loss_fn.backward())
        opt.step()

    def get_weights(self):
        return [np.array(p.data, copy=True) for p in self.params]


# ----------------------------------------------------------------------------- case: floor
def _windows(xp, k, out_hw):
    """(N, Ho, Wo, k, k, C) view of the NHWC array xp, stride 1."""
    sn, sh, sw, sc = xp.strides
    return as_strided(xp, shape=(xp.shape[0], out_hw[0], out_hw[1], k, k, xp.shape[3]),
                      strides=(sn, sh, sw, sh, sw, sc), writeable=False)


def _gemm_layout(w):
    """(O, C, kh, kw) -> (kh*kw*C, O), the column order of the im2col matrix."""
    O, C, kh, kw = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * C, O))


class FloorCase:
    """Hand-written NumPy. Conv weights are kept in GEMM layout (K, O) between steps."""

    name = "floor"

    def __init__(self, weights):
        self.weights = weights
        n = BATCH
        f = DTYPE
        self.p = [np.empty((9, 8), f), np.empty(8, f), np.empty((72, 16), f), np.empty(16, f),
                  np.empty((784, 10), f), np.empty(10, f)]
        self.reset()
        self.g = [np.empty_like(p) for p in self.p]
        self.b = [np.zeros_like(p) for p in self.p]
        self.tmp = [np.empty_like(p) for p in self.p]
        self.t = 0
        self.xp1 = np.zeros((n, 30, 30), f)           # padded input (border stays 0)
        self.cols1 = np.empty((9, n, 28, 28), f)       # X^T (K, M): one plane per offset
        self.h1 = np.empty((n, 28, 28, 8), f)
        self.p1 = np.empty((n, 14, 14, 8), f)
        self.i1 = np.empty((n, 14, 14, 8), np.uint8)
        self.m1 = np.empty((n, 14, 14, 8), bool)
        self.v1 = np.empty((n, 14, 14, 8), f)
        self.t1 = np.empty((n, 14, 14, 8), np.uint8)
        self.xp2 = np.zeros((n, 16, 16, 8), f)
        self.cols2 = np.empty((n, 14, 14, 3, 3, 8), f)
        self.h2 = np.empty((n, 14, 14, 16), f)
        self.p2 = np.empty((n, 7, 7, 16), f)
        self.i2 = np.empty((n, 7, 7, 16), np.uint8)
        self.m2 = np.empty((n, 7, 7, 16), bool)
        self.v2 = np.empty((n, 7, 7, 16), f)
        self.t2 = np.empty((n, 7, 7, 16), np.uint8)
        self.bias_rows = [np.empty(28 * 28 * 8, f), np.empty(14 * 14 * 16, f)]
        self.flat = np.empty((n, 784), f)
        self.z = np.empty((n, CLASSES), f)
        self.dflat = np.empty((n, 784), f)
        self.dh2 = np.empty((n, 14, 14, 16), f)
        self.rm2 = np.empty((n, 14, 14, 16), bool)
        self.dxp2 = np.empty((n, 16, 16, 8), f)
        self.part = np.empty((n * 14 * 14, 8), f)
        self.dh1 = np.empty((n, 28, 28, 8), f)
        self.rm1 = np.empty((n, 28, 28, 8), bool)
        self.rows = np.arange(n)
        self.ones = np.ones(n * 28 * 28, f)
        self.ones_c = np.ones(CLASSES, f)
        self.loss = None

    def reset(self) -> None:
        W1, b1, W2, b2, W3, b3 = self.weights
        for p, w in zip(self.p, (_gemm_layout(W1), b1, _gemm_layout(W2), b2, W3, b3)):
            p[...] = w

    def prepare(self, batches):
        return batches

    @staticmethod
    def _pool(h, out, idx, mask, v, tmp):
        """2x2/2 max pool of NHWC h with the first arg-max recorded in idx: each offset's
        strided slice is copied once into v, then contiguous passes; idx = max(idx, k*mask)
        (np.copyto(..., where=) was 3-10x slower than this arithmetic)."""
        np.copyto(out, h[:, 0::2, 0::2])
        idx.fill(0)
        for k, (a, q) in ((1, (0, 1)), (2, (1, 0)), (3, (1, 1))):
            np.copyto(v, h[:, a::2, q::2])
            np.greater(v, out, out=mask)
            np.maximum(out, v, out=out)
            np.multiply(mask.view(np.uint8), np.uint8(k), out=tmp)
            np.maximum(idx, tmp, out=idx)

    @staticmethod
    def _unpool(g, idx, mask, dh):
        """dh[window entry k] = g where k is the arg-max (2x2/2 windows tile dh exactly)."""
        for k, (a, q) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            np.equal(idx, k, out=mask)
            np.multiply(g, mask, out=dh[:, a::2, q::2])

    def step(self, x, y) -> None:
        W1, b1, W2, b2 = self.p[:4]
        gW1, gb1, gW2, gb2 = self.g[:4]
        n = x.shape[0]
        # ---- conv1 (C=1): X^T (9, M) by one copy per kernel offset; bias through a
        # wide view (one row per image, the bias tiled along it); ReLU; pool
        self.xp1[:, 1:29, 1:29] = x[:, 0]
        for a in range(3):
            for q in range(3):
                np.copyto(self.cols1[3 * a + q], self.xp1[:, a:a + 28, q:q + 28])
        c1 = self.cols1.reshape(9, -1).T                 # (M, 9), a transposed view
        h1 = self.h1.reshape(-1, 8)
        np.matmul(c1, W1, out=h1)
        rows = self.bias_rows[0].reshape(-1, 8)
        rows[...] = b1
        h1w = self.h1.reshape(n, -1)
        h1w += self.bias_rows[0]
        np.maximum(h1, 0, out=h1)
        self._pool(self.h1, self.p1, self.i1, self.m1, self.v1, self.t1)
        # ---- conv2: X (M, 72) as one copy of the NHWC window view; ReLU; pool
        self.xp2[:, 1:15, 1:15, :] = self.p1
        np.copyto(self.cols2, _windows(self.xp2, 3, (14, 14)))
        c2 = self.cols2.reshape(-1, 72)
        h2 = self.h2.reshape(-1, 16)
        np.matmul(c2, W2, out=h2)
        rows = self.bias_rows[1].reshape(-1, 16)
        rows[...] = b2
        h2w = self.h2.reshape(n, -1)
        h2w += self.bias_rows[1]
        np.maximum(h2, 0, out=h2)
        self._pool(self.h2, self.p2, self.i2, self.m2, self.v2, self.t2)
        # ---- flatten in NCHW order (as Flatten of an (N, C, H, W) array), linear, loss
        np.copyto(self.flat.reshape(n, 16, 7, 7), self.p2.transpose(0, 3, 1, 2))
        self.linear_cross_entropy(y)
        # ---- pool2, ReLU2 backward (dflat is NCHW-ordered: read through a transposed view)
        self._unpool(self.dflat.reshape(n, 16, 7, 7).transpose(0, 2, 3, 1), self.i2, self.m2,
                     self.dh2)
        np.greater(self.h2, 0, out=self.rm2)
        np.multiply(self.dh2, self.rm2, out=self.dh2)
        # ---- conv2 backward: dW = X^T G, db = 1^T G, dx by one GEMM per kernel offset
        G2 = self.dh2.reshape(-1, 16)
        np.matmul(c2.T, G2, out=gW2)
        np.matmul(self.ones[:G2.shape[0]], G2, out=gb2)
        dxp = self.dxp2
        dxp.fill(0)
        part, part4 = self.part, self.part.reshape(n, 14, 14, 8)
        W2k = W2.reshape(3, 3, 8, 16)
        for a in range(3):
            for q in range(3):
                np.matmul(G2, W2k[a, q].T, out=part)
                dxp[:, a:a + 14, q:q + 14, :] += part4
        # ---- pool1, ReLU1 backward, conv1 weight gradient (no input gradient)
        self._unpool(dxp[:, 1:15, 1:15, :], self.i1, self.m1, self.dh1)
        np.greater(self.h1, 0, out=self.rm1)
        np.multiply(self.dh1, self.rm1, out=self.dh1)
        G1 = self.dh1.reshape(-1, 8)
        np.matmul(self.cols1.reshape(9, -1), G1, out=gW1)
        np.matmul(self.ones, G1, out=gb1)
        self.update()

    def linear_cross_entropy(self, y) -> None:
        """Linear(flat) + mean cross-entropy, then back: gW3, gb3 and dflat (z is reused
        for the logits, then for dL/dz)."""
        W3, b3, gW3, gb3 = self.p[4], self.p[5], self.g[4], self.g[5]
        n = y.shape[0]
        z = self.z
        np.matmul(self.flat, W3, out=z)
        z += b3
        z -= z.max(axis=1, keepdims=True)
        zy = z[self.rows, y]
        np.exp(z, out=z)
        s = z @ self.ones_c
        self.loss = float(np.log(s).sum(dtype=np.float64) - zy.sum(dtype=np.float64)) / n
        s *= n
        np.reciprocal(s, out=s)
        z *= s[:, None]
        z[self.rows, y] -= DTYPE(1.0 / n)
        # ---- backward: linear
        np.matmul(self.flat.T, z, out=gW3)
        np.matmul(self.ones[:n], z, out=gb3)
        np.matmul(z, W3.T, out=self.dflat)

    def update(self) -> None:
        """SGD with momentum, PyTorch's rule, in place on the flat lists p, g, b."""
        self.t += 1
        if self.t == 1:
            for b, g in zip(self.b, self.g):
                np.copyto(b, g)
        else:
            for b, g in zip(self.b, self.g):
                b *= DTYPE(MOMENTUM)
                b += g
        for p, b, tmp in zip(self.p, self.b, self.tmp):
            np.multiply(b, DTYPE(LR), out=tmp)
            p -= tmp

    def get_weights(self):
        W1, b1, W2, b2, W3, b3 = (np.array(p, copy=True) for p in self.p)
        return [W1.reshape(3, 3, 1, 8).transpose(3, 2, 0, 1), b1,
                W2.reshape(3, 3, 8, 16).transpose(3, 2, 0, 1), b2, W3, b3]


# ----------------------------------------------------------------------------- case: torch
class TorchCase:
    name = "torch"

    def __init__(self, weights):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        tnn = torch.nn
        self.model = tnn.Sequential(
            tnn.Conv2d(1, 8, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(8, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Flatten(), tnn.Linear(784, CLASSES)).float()
        self.weights = weights
        self.reset()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = None

    def reset(self) -> None:
        with self.torch.no_grad():
            for p, w in zip(self.model.parameters(), self.weights):
                p.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))

    def prepare(self, batches):
        return [(self.torch.from_numpy(x), self.torch.from_numpy(y)) for x, y in batches]

    def step(self, x, y) -> None:
        self.opt.zero_grad()
        loss = self.F.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.loss = loss

    def get_weights(self):
        return [p.detach().numpy().T.copy() if p.ndim == 2 else p.detach().numpy().copy()
                for p in self.model.parameters()]


# ----------------------------------------------------------------------------- conv alone
class ConvTask:
    """One convolution of the model, forward or backward, in each implementation.

    ``which`` 1: Conv2d(1, 8, 3, p1) on (64, 1, 28, 28), backward without input gradient;
    ``which`` 2: Conv2d(8, 16, 3, p1) on (64, 8, 14, 14), backward with input gradient.
    Inputs are in the layout the case sees inside its network (channels-last memory for
    nn and the floor, contiguous NCHW for torch).
    """

    def __init__(self, which: int, seed: int = 0):
        self.which = which
        rng = np.random.default_rng(seed + which)
        self.C, self.O, self.H = (1, 8, 28) if which == 1 else (8, 16, 14)
        self.x = rng.random((BATCH, self.H, self.H, self.C), dtype=DTYPE).transpose(0, 3, 1, 2)
        self.g = rng.standard_normal((BATCH, self.H, self.H, self.O),
                                     dtype=DTYPE).transpose(0, 3, 1, 2)
        self.w = rng.uniform(-0.3, 0.3, (self.O, self.C, 3, 3)).astype(DTYPE)
        self.b = rng.uniform(-0.3, 0.3, self.O).astype(DTYPE)

    def nn_conv(self) -> nn.Layer:
        return nn.Conv2d(self.C, self.O, 3, padding=1, dtype=DTYPE)

    def torch_conv(self, torch):
        return torch.nn.Conv2d(self.C, self.O, 3, padding=1)

    # nn
    def nn_case(self):
        conv = self.nn_conv()
        conv.weight.data[...] = self.w
        conv.bias.data[...] = self.b
        conv.set_input_grad(self.which == 2)
        x, g = self.x, self.g

        def fwd():
            conv.forward(x)

        def bwd():
            conv.zero_grad()
            conv.backward(g)

        conv.forward(x)
        return fwd, bwd

    # floor
    def floor_case(self):
        n, C, O, H = BATCH, self.C, self.O, self.H
        xp = np.zeros((n, H + 2, H + 2, C), DTYPE)
        cols = np.empty((n, H, H, 3, 3, C), DTYPE)
        planes = np.empty((9, n, H, H), DTYPE)         # X^T for C = 1
        y = np.empty((n * H * H, O), DTYPE)
        brow = np.empty(H * H * O, DTYPE)
        Wm, b = _gemm_layout(self.w), self.b
        gW, gb = np.empty_like(Wm), np.empty_like(b)
        ones = np.ones(n * H * H, DTYPE)
        dxp = np.empty((n, H + 2, H + 2, C), DTYPE)
        part = np.empty((n * H * H, C), DTYPE)
        part4 = part.reshape(n, H, H, C)
        Wk = Wm.reshape(3, 3, C, O)
        x_nhwc = self.x.transpose(0, 2, 3, 1)
        G = self.g.transpose(0, 2, 3, 1).reshape(-1, O)
        with_dx = self.which == 2

        X = planes.reshape(9, -1).T if C == 1 else cols.reshape(-1, 9 * C)

        def fwd():
            xp[:, 1:H + 1, 1:H + 1, :] = x_nhwc
            if C == 1:
                for a in range(3):
                    for q in range(3):
                        np.copyto(planes[3 * a + q], xp[:, a:a + H, q:q + H, 0])
            else:
                np.copyto(cols, _windows(xp, 3, (H, H)))
            np.matmul(X, Wm, out=y)
            brow.reshape(-1, O)[...] = b
            yw = y.reshape(n, -1)
            np.add(yw, brow, out=yw)

        def bwd():
            np.matmul(X.T, G, out=gW)
            np.matmul(ones, G, out=gb)
            if with_dx:
                dxp.fill(0)
                for a in range(3):
                    for q in range(3):
                        np.matmul(G, Wk[a, q].T, out=part)
                        dxp[:, a:a + H, q:q + H, :] += part4

        fwd()
        return fwd, bwd

    # torch
    def torch_case(self):
        import torch

        conv = self.torch_conv(torch)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(self.w))
            conv.bias.copy_(torch.from_numpy(self.b))
        x = torch.from_numpy(np.ascontiguousarray(self.x)).requires_grad_(self.which == 2)
        g = torch.from_numpy(np.ascontiguousarray(self.g))
        state = {"y": conv(x)}

        def fwd():
            with torch.no_grad():
                conv(x)

        def bwd():
            conv.zero_grad(set_to_none=False)
            if x.grad is not None:
                x.grad = None
            state["y"].backward(g, retain_graph=True)

        return fwd, bwd


# ----------------------------------------------------------------------------- alternatives
def alternatives(rounds: int, warmup: float, block: float, out=print) -> None:
    """Time the strategies *not* chosen against the chosen ones, on the benchmark's shapes
    (batch 64; conv1: 1 -> 8 channels on 28x28, conv2: 8 -> 16 on 14x14, pool on 28x28x8).

    The first entry of each group is what ``nn`` does (through the ``nn`` layers where a
    group times a whole layer call); the ratios are to it.
    """
    rng = np.random.default_rng(0)
    n, C, O, H = BATCH, 8, 16, 14
    x_nchw = rng.random((n, C, H, H), dtype=DTYPE)
    x_nhwc = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
    w = rng.uniform(-0.3, 0.3, (O, C, 3, 3)).astype(DTYPE)
    Wm = _gemm_layout(w)
    G = rng.standard_normal((n * H * H, O), dtype=DTYPE)
    K = 9 * C
    cols = np.empty((n, H, H, 3, 3, C), DTYPE)
    xp = np.zeros((n, H + 2, H + 2, C), DTYPE)
    xp_nchw = np.zeros((n, C, H + 2, H + 2), DTYPE)

    def im2col_nhwc():
        xp[:, 1:H + 1, 1:H + 1, :] = x_nhwc
        np.copyto(cols, _windows(xp, 3, (H, H)))

    def im2col_nchw():
        xp_nchw[:, :, 1:H + 1, 1:H + 1] = x_nchw
        v = sliding_window_view(xp_nchw, (3, 3), axis=(2, 3))      # (n, C, H, H, 3, 3)
        np.ascontiguousarray(v.transpose(0, 2, 3, 1, 4, 5)).reshape(-1, K)

    # conv1's input: one channel, 28x28
    x1 = rng.random((n, 1, 28, 28), dtype=DTYPE)
    xp1 = np.zeros((n, 30, 30, 1), DTYPE)
    cols1 = np.empty((n, 28, 28, 3, 3, 1), DTYPE)
    planes1 = np.empty((9, n, 28, 28), DTYPE)

    def im2col1_planes():
        xp1[:, 1:29, 1:29, :] = x1.transpose(0, 2, 3, 1)
        for a in range(3):
            for q in range(3):
                np.copyto(planes1[3 * a + q], xp1[:, a:a + 28, q:q + 28, 0])

    def im2col1_windows():
        xp1[:, 1:29, 1:29, :] = x1.transpose(0, 2, 3, 1)
        np.copyto(cols1, _windows(xp1, 3, (28, 28)))

    Wk = Wm.reshape(3, 3, C, O)
    part = np.empty((n * H * H, C), DTYPE)
    part4 = part.reshape(n, H, H, C)

    def dx_per_offset():
        dxp = np.zeros((n, H + 2, H + 2, C), DTYPE)
        for a in range(3):
            for q in range(3):
                np.matmul(G, Wk[a, q].T, out=part)
                dxp[:, a:a + H, q:q + H, :] += part4

    def dx_col2im():
        dcols = (G @ Wm.T).reshape(n, H, H, 3, 3, C)
        dxp = np.zeros((n, H + 2, H + 2, C), DTYPE)
        for a in range(3):
            for q in range(3):
                dxp[:, a:a + H, q:q + H, :] += dcols[:, :, :, a, q, :]

    def dx_cnhw():
        dcols_t = (Wm @ G.T).reshape(3, 3, C, n, H, H)         # (K, M): one GEMM
        dxp = np.zeros((C, n, H + 2, H + 2), DTYPE)
        for a in range(3):
            for q in range(3):
                dxp[:, :, a:a + H, q:q + H] += dcols_t[a, q]

    ii = (np.arange(H)[:, None] + np.arange(3)[None, :])            # (H, 3) rows hit
    idx_n = np.arange(n)[:, None, None, None, None, None]
    idx_h = ii[None, :, None, :, None, None]
    idx_w = ii[None, None, :, None, :, None]
    idx_c = np.arange(C)[None, None, None, None, None, :]

    def dx_add_at():
        dcols = (G @ Wm.T).reshape(n, H, H, 3, 3, C)
        dxp = np.zeros((n, H + 2, H + 2, C), DTYPE)
        np.add.at(dxp, (idx_n, idx_h, idx_w, idx_c), dcols)

    # bias on conv1's output (M, 8): 8 values per (M, O) row
    y1 = np.zeros((n * 28 * 28, 8), DTYPE)
    b1 = rng.uniform(-0.3, 0.3, 8).astype(DTYPE)
    y1_nchw = y1.reshape(n, 28, 28, 8).transpose(0, 3, 1, 2)

    def bias_wide():
        yw = y1.reshape(n, -1)
        np.add(yw, np.tile(b1, 28 * 28), out=yw)

    def bias_rows():
        np.add(y1, b1, out=y1)

    def bias_broadcast_nchw():
        np.add(y1_nchw, b1[None, :, None, None], out=y1_nchw)

    # max-pool 2x2 on conv1's activations (NHWC memory), ties at 0 from the ReLU
    h = np.maximum(rng.standard_normal((n, 28, 28, 8), dtype=DTYPE), 0)
    h_t = h.transpose(0, 3, 1, 2)
    pool = nn.MaxPool2d(2)
    g_pool = rng.standard_normal((n, 14, 14, 8), dtype=DTYPE).transpose(0, 3, 1, 2)
    pool.forward(h_t)
    pm = np.empty((n, 14, 14, 8), DTYPE)
    pidx = np.empty((n, 14, 14, 8), np.uint8)
    pmask = np.empty((n, 14, 14, 8), bool)

    def pool_nn_fwd():
        pool.forward(h_t)

    def pool_nn_bwd():
        pool.backward(g_pool)

    def pool_where_fwd():
        np.copyto(pm, h[:, 0::2, 0::2])
        pidx.fill(0)
        for k, (a, q) in ((1, (0, 1)), (2, (1, 0)), (3, (1, 1))):
            v = h[:, a::2, q::2]
            np.greater(v, pm, out=pmask)
            np.copyto(pidx, k, where=pmask)
            np.maximum(pm, v, out=pm)

    def pool_eqmask_fwd():                     # wrong at ties, timed for reference
        np.maximum(h[:, 0::2, 0::2], h[:, 0::2, 1::2], out=pm)
        np.maximum(pm, h[:, 1::2, 0::2], out=pm)
        np.maximum(pm, h[:, 1::2, 1::2], out=pm)

    def pool_window_fwd():
        v = h.reshape(n, 14, 2, 14, 2, 8).transpose(0, 1, 3, 5, 2, 4).reshape(n, 14, 14, 8, 4)
        arg = v.argmax(axis=-1)
        np.take_along_axis(v, arg[..., None], axis=-1)
        return arg

    arg = pool_window_fwd()

    def pool_window_bwd():
        d = np.zeros((n, 14, 14, 8, 4), DTYPE)
        np.put_along_axis(d, arg[..., None], g_pool.transpose(0, 2, 3, 1)[..., None], axis=-1)
        d.reshape(n, 14, 14, 8, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 28, 28, 8)

    # work arrays: the layer's own (reused) vs allocated on every call
    conv = nn.Conv2d(C, O, 3, padding=1, dtype=DTYPE)
    x_cl = x_nhwc.transpose(0, 3, 1, 2)

    def conv_reused():
        conv.forward(x_cl)

    def conv_fresh():
        conv.__dict__.pop("_scratch", None)
        conv.forward(x_cl)

    groups = {
        "im2col, conv2 (C=8)": {"NHWC window view, one copy": im2col_nhwc,
                                "NCHW sliding_window_view + transpose": im2col_nchw},
        "im2col, conv1 (C=1)": {"one copy per offset into X^T (K, M)": im2col1_planes,
                                "NHWC window view, one copy": im2col1_windows},
        "input gradient, conv2": {"GEMM per offset -> padded NHWC": dx_per_offset,
                                  "one GEMM (K, M) + adds into CNHW": dx_cnhw,
                                  "one GEMM (M, K) + col2im adds": dx_col2im,
                                  "one GEMM + np.add.at": dx_add_at},
        "bias add, conv1 output (O=8)": {"wide view, one row per image": bias_wide,
                                         "(M, O) rows": bias_rows,
                                         "NCHW broadcast": bias_broadcast_nchw},
        "max-pool 2x2 forward (28x28x8)": {"nn.MaxPool2d (copy + arithmetic arg-max)":
                                           pool_nn_fwd,
                                           "strided offsets + np.copyto(where=)": pool_where_fwd,
                                           "window copy + argmax": pool_window_fwd,
                                           "max only, no arg-max (reference)": pool_eqmask_fwd},
        "max-pool 2x2 backward": {"nn.MaxPool2d": pool_nn_bwd,
                                  "put_along_axis + transpose": pool_window_bwd},
        "Conv2d(8, 16, 3, p1) forward": {"layer-owned work arrays": conv_reused,
                                         "fresh arrays every call": conv_fresh},
    }
    out("\nalternatives (median ms, interquartile range; ratio to the first = chosen):")
    for title, cases in groups.items():
        names = list(cases)
        times = {k: [] for k in names}
        for r in range(rounds):
            for k in harness.rotated(names, r):
                harness.run_calls(cases[k], warmup, 2, None)
                harness.run_calls(cases[k], block, 5, times[k])
        base = statistics.median(times[names[0]])
        out(f"  {title}:")
        for k in names:
            ts = times[k]
            q = statistics.quantiles(ts, n=4)
            out(f"    {k:<42} {1e3 * statistics.median(ts):8.3f}  "
                f"({1e3 * q[0]:.3f}-{1e3 * q[2]:.3f})  x{statistics.median(ts) / base:.2f}")


# ----------------------------------------------------------------------------- checks
def check_same_math(weights, batches, with_torch: bool, steps: int = 3, out=print) -> bool:
    """Fresh instances from identical weights: first-step losses and weights after
    ``steps`` steps agree (float32 rounding). A mismatch of nn vs the floor fails."""
    cases = [FloorCase(weights), NNCase(weights)] + ([TorchCase(weights)] if with_torch else [])
    return harness.check_training_steps(cases, batches, steps, out=out)


# ----------------------------------------------------------------------------- timing
def benchmark(rounds: int, warmup: float, block: float, min_block_steps: int,
              with_torch: bool, seed: int = 0, model=None) -> dict:
    """Interleaved timing of every (task, case); returns per-cell medians and quartiles.

    ``model`` is the module holding the cases (``initial_weights``, ``make_batches``,
    ``FloorCase``, ``NNCase``, ``TorchCase``, ``ConvTask``): this one by default,
    bench_conv1d.py for the 1-D network."""
    m = model if model is not None else sys.modules[__name__]
    weights = m.initial_weights(seed)
    factories = [m.FloorCase, m.NNCase] + ([m.TorchCase] if with_torch else [])
    names = [f.name for f in factories]
    tasks: dict[str, dict[str, tuple]] = {"train step": {}}
    batches = m.make_batches(m.BATCH, seed)
    for f in factories:
        c = f(weights)
        tasks["train step"][c.name] = (c.step, c.prepare(batches), c.reset)
    for which in (1, 2):
        conv = m.ConvTask(which, seed)
        makers = {"floor": conv.floor_case, "nn": conv.nn_case, "torch": conv.torch_case}
        fwd_task, bwd_task = {}, {}
        for name in names:
            fwd, bwd = makers[name]()
            fwd_task[name] = (lambda x, y, f=fwd: f(), [(None, None)], None)
            bwd_task[name] = (lambda x, y, f=bwd: f(), [(None, None)], None)
        dx = "" if which == 1 else " + dx"
        tasks[f"conv{which} forward"] = fwd_task
        tasks[f"conv{which} backward (dW, db{dx})"] = bwd_task
    timed = harness.interleave(tasks, rounds, warmup, block, min_block_steps)
    results = {task: {name: harness.summary(timed["times"][(task, name)]) for name in names}
               for task in tasks}
    return {"results": results, "elapsed_s": timed["elapsed_s"], "cases": names}


def format_table(res: dict) -> str:
    results, names = res["results"], res["cases"]
    has_torch = "torch" in names
    w = max(len(t) for t in results)
    head = f"{'task':<{w}} {harness.floor_nn_torch_head(9)}"
    lines = [head, "-" * len(head)]
    for task, row in results.items():
        lines.append(f"{task:<{w}} {harness.floor_nn_torch_cells(row, 9)}")
    lines.append("")
    lines.append("ratios of the lower quartiles (the undisturbed runs; steadier when other "
                 "processes compete for the cores):")
    for task, row in results.items():
        f = row["floor"]["q1_ms"]
        cells = f"nn/floor {row['nn']['q1_ms'] / f:.2f}"
        if has_torch:
            cells += f"   torch/floor {row['torch']['q1_ms'] / f:.2f}"
        lines.append(f"  {task:<{w}}: {cells}")
    lines.append("")
    lines.append("spread (interquartile range of per-run times, ms) and timed runs per cell:")
    for task, row in results.items():
        lines.append(f"  {task:<{w}}: {harness.spread_cells(row, names)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def _more_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alternatives", action="store_true",
                   help="also time the implementation strategies that were not chosen")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS and torch threads (default: the libraries' own choice); set "
                        "through OPENBLAS_NUM_THREADS/OMP_NUM_THREADS, so the script "
                        "re-executes itself once when run from the command line")


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.threads is not None and args.threads <= 0:
        p.error("--threads must be positive")


def parse_args(argv=None) -> argparse.Namespace:
    return harness.parse_args(argv, __doc__, rounds=(12, 2), block=(0.15, 0.02),
                              after=_more_options, check=_check)


_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _thread_env_ok(threads: int | None) -> bool:
    return threads is None or all(os.environ.get(v) == str(threads) for v in _THREAD_VARS)


def main(argv=None, out=print, model=None, title: str | None = None,
         script: str | None = None) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math.

    ``model``, ``title`` and ``script`` (the file to re-execute for ``--threads``) let
    bench_conv1d.py run its own network through the same command line and report."""
    m = model if model is not None else sys.modules[__name__]
    args = parse_args(argv)
    if not _thread_env_ok(args.threads):
        if argv is None and (script is not None or __name__ == "__main__"):
            # BLAS reads its thread count when NumPy is imported: start again with it set
            os.environ.update(dict.fromkeys(_THREAD_VARS, str(args.threads)))
            os.execv(sys.executable, [sys.executable, script or os.path.abspath(__file__)]
                     + sys.argv[1:])
        out(f"warning: --threads {args.threads} needs OPENBLAS_NUM_THREADS={args.threads} "
            "set before NumPy is imported; BLAS keeps its thread count")
    with_torch = not args.no_torch and harness.torch_available()
    if with_torch and args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    out(title or f"CNN Conv(1,8,3,p1)-ReLU-MaxPool2-Conv(8,16,3,p1)-ReLU-MaxPool2-Flatten-"
        f"Linear(784,10), batch {BATCH}x1x28x28 float32, SGD lr={LR} momentum={MOMENTUM}")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    out(harness.platform_line(f", BLAS threads {blas}"))
    out(harness.torch_line(with_torch))
    ok = m.check_same_math(m.initial_weights(args.seed), m.make_batches(m.BATCH, args.seed),
                           with_torch, out=out)
    out(harness.timing_line(args, unit="run"))
    res = benchmark(args.rounds, args.warmup, args.block, 3 if args.quick else 5, with_torch,
                    args.seed, model=m)
    out("")
    out(format_table(res))
    if args.alternatives and model is None:
        alternatives(args.rounds, args.warmup, args.block, out=out)
    return harness.finish(ok, res["elapsed_s"], out, note=" of timing")


if __name__ == "__main__":
    sys.exit(main())
