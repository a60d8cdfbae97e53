"""Training-step benchmark: MLP 784-256-256-10, float32, ReLU, softmax cross-entropy, SGD momentum.

Three implementations of the *same* training step are timed side by side:

floor  plain NumPy written out by hand in this file: straight-line ``np.matmul(..., out=)``
       into preallocated buffers, in-place ReLU, fused softmax-cross-entropy gradient
       ``(p - onehot) / N``, per-parameter in-place momentum update. It is the cost of the
       arithmetic with (close to) no framework overhead: what ``nn`` could at best achieve
       with NumPy.
nn     this project: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``nn.CrossEntropyLoss``,
       ``optim.SGD(momentum=0.9)``; one step is ``opt.zero_grad(); out = model(x);
       loss_fn(out, y); model.backward(loss_fn.backward()); opt.step()``.
torch  PyTorch CPU (only if ``import torch`` works): the same model with ``torch.nn.Linear``,
       ``F.cross_entropy``, ``torch.optim.SGD(momentum=0.9)``, default thread count.

All three use the same math: weights (in, out) (torch stores the transpose), biases,
mean cross-entropy over the batch with integer labels, PyTorch's momentum rule
(b = mu*b + g, p -= lr*b; b = g at the first step), lr = 0.01, mu = 0.9.

Methodology (see benchmarks/README.md): the cases are timed INTERLEAVED in one process:
for each round, for each batch size, for each case (order rotated each round), the case
first runs untimed for at least ``--warmup`` seconds (default 0.15 s), then a timed block
of steps, each step timed on its own with ``time.perf_counter``. The warm-up right before
each block matters on a small machine: after a multi-threaded BLAS call an idle OpenBLAS
worker busy-waits for ~0.1 s, and whatever runs in that window (another case, torch
especially) can be many times slower. Reported numbers are medians of the per-step times
pooled over all rounds. Before each warm-up the weights are reset to their initial values
(untimed), so that the repeated training on a few random batches never drifts into
saturated softmax / subnormal gradients.

Run::

    python benchmarks/bench_mlp.py                     # full run (about a minute)
    python benchmarks/bench_mlp.py --quick             # smoke test, a few seconds
    python benchmarks/bench_mlp.py --batch-sizes 32,128 --rounds 40 --no-torch
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import nn
import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ is not a package
import _harness as harness  # noqa: E402

SIZES = (784, 256, 256, 10)
LR = 0.01
MOMENTUM = 0.9
N_BATCHES = 8          # distinct random batches per batch size, cycled through
DTYPE = np.float32


# ----------------------------------------------------------------------------- data / weights
def make_batches(batch: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``N_BATCHES`` random (x float32 (batch, 784), y int64 (batch,)) pairs."""
    rng = np.random.default_rng(seed + batch)
    return [(rng.standard_normal((batch, SIZES[0]), dtype=DTYPE),
             rng.integers(0, SIZES[-1], size=batch, dtype=np.int64))
            for _ in range(N_BATCHES)]


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """[W1, b1, W2, b2, W3, b3], W (in, out) float32, taken from a freshly built ``nn`` model
    so that every case starts from exactly these values."""
    model = build_nn_model(seed)
    return [np.array(p.data, copy=True) for p in model.parameters()]


def build_nn_model(seed: int = 0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1], init="torch", rng=rng, dtype=DTYPE), nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2], init="torch", rng=rng, dtype=DTYPE), nn.ReLU(),
        nn.Linear(SIZES[2], SIZES[3], init="torch", rng=rng, dtype=DTYPE),
    )


# ----------------------------------------------------------------------------- case: nn
class NNCase:
    name = "nn"
    input_grad = False  # model.set_input_grad(False), as nn.fit does (no dL/dx for layer 1)

    def __init__(self, weights: list[np.ndarray]):
        self.model = build_nn_model()
        self.model.set_input_grad(self.input_grad)
        self.params = list(self.model.parameters())
        self.weights = weights
        self.reset()
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = None

    def reset(self) -> None:
        # in place: the optimizer may have re-bound p.data to views of a flat buffer
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

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(p.data, copy=True) for p in self.params]


# ----------------------------------------------------------------------------- case: floor
class FloorCase:
    """Hand-written plain NumPy, no framework. Buffers are allocated once per batch size."""

    name = "floor"

    def __init__(self, weights: list[np.ndarray]):
        self.weights = weights
        self.p = [np.array(w, copy=True) for w in weights]        # W1 b1 W2 b2 W3 b3
        self.g = [np.empty_like(w) for w in weights]               # gradients
        self.b = [np.zeros_like(w) for w in weights]               # momentum buffers
        self.tmp = [np.empty_like(w) for w in weights]             # lr * b scratch
        self.t = 0
        self._bufs: dict[int, tuple] = {}
        self.loss = None

    def reset(self) -> None:
        for p, w in zip(self.p, self.weights):
            p[...] = w

    def prepare(self, batches):
        return batches

    def _buffers(self, n: int):
        bufs = self._bufs.get(n)
        if bufs is None:
            d0, d1, d2, d3 = SIZES
            bufs = (np.empty((n, d1), DTYPE), np.empty((n, d2), DTYPE),     # h1, h2
                    np.empty((n, d3), DTYPE),                               # z -> p -> dz
                    np.empty((n, d2), DTYPE), np.empty((n, d1), DTYPE),     # dh2, dh1
                    np.empty((n, d2), np.bool_), np.empty((n, d1), np.bool_),  # relu masks
                    np.arange(n), np.ones(n, DTYPE), np.ones(d3, DTYPE))    # rows, 1_N, 1_C
            self._bufs[n] = bufs
        return bufs

    def step(self, x, y) -> None:
        W1, b1, W2, b2, W3, b3 = self.p
        gW1, gb1, gW2, gb2, gW3, gb3 = self.g
        h1, h2, z, dh2, dh1, m2, m1, rows, ones_n, ones_c = self._buffers(x.shape[0])
        n = x.shape[0]
        # ---- forward
        np.matmul(x, W1, out=h1)
        h1 += b1
        np.maximum(h1, 0, out=h1)
        np.matmul(h1, W2, out=h2)
        h2 += b2
        np.maximum(h2, 0, out=h2)
        np.matmul(h2, W3, out=z)
        z += b3
        # ---- loss: softmax cross-entropy, mean over the batch (log-domain, overflow-free)
        z -= z.max(axis=1, keepdims=True)        # z = logits - row max
        zy = z[rows, y]                          # shifted logit of the true class
        np.exp(z, out=z)
        s = z @ ones_c                           # row sums of exp (a BLAS gemv: cheapest)
        self.loss = float(np.log(s).sum(dtype=np.float64) - zy.sum(dtype=np.float64)) / n
        # ---- fused gradient dz = (softmax - onehot) / N = exp(z) / (N s) - onehot / N
        s *= n
        np.reciprocal(s, out=s)
        z *= s[:, None]
        z[rows, y] -= DTYPE(1.0 / n)
        # ---- backward (bias gradients as 1_N^T G: a gemv, faster than np.sum(axis=0))
        np.matmul(h2.T, z, out=gW3)
        np.matmul(ones_n, z, out=gb3)
        np.matmul(z, W3.T, out=dh2)
        np.greater(h2, 0, out=m2)
        np.multiply(dh2, m2, out=dh2)
        np.matmul(h1.T, dh2, out=gW2)
        np.matmul(ones_n, dh2, out=gb2)
        np.matmul(dh2, W2.T, out=dh1)
        np.greater(h1, 0, out=m1)
        np.multiply(dh1, m1, out=dh1)
        np.matmul(x.T, dh1, out=gW1)
        np.matmul(ones_n, dh1, out=gb1)
        # no gradient w.r.t. x: nothing upstream needs it
        # ---- SGD momentum, PyTorch rule: b = g (first step), b = mu b + g, p -= lr b
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

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(p, copy=True) for p in self.p]


# ----------------------------------------------------------------------------- case: torch
class TorchCase:
    name = "torch"

    def __init__(self, weights: list[np.ndarray]):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        tnn = torch.nn
        self.model = tnn.Sequential(
            tnn.Linear(SIZES[0], SIZES[1]), tnn.ReLU(),
            tnn.Linear(SIZES[1], SIZES[2]), tnn.ReLU(),
            tnn.Linear(SIZES[2], SIZES[3]),
        ).float()
        self.weights = weights
        self.reset()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = None

    def _torch_params(self):
        return list(self.model.parameters())     # weight (out, in), bias, ... in order

    def reset(self) -> None:
        with self.torch.no_grad():
            for p, w in zip(self._torch_params(), self.weights):
                p.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))

    def prepare(self, batches):
        return [(self.torch.from_numpy(x), self.torch.from_numpy(y)) for x, y in batches]

    def step(self, x, y) -> None:
        opt = self.opt
        opt.zero_grad()
        out = self.model(x)
        loss = self.F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        self.loss = loss

    def get_weights(self) -> list[np.ndarray]:
        return [p.detach().numpy().T.copy() if p.ndim == 2 else p.detach().numpy().copy()
                for p in self._torch_params()]


# ----------------------------------------------------------------------------- checks
def check_same_math(weights, batches, with_torch: bool, steps: int = 3, out=print) -> bool:
    """Fresh instances from identical weights: the first-step losses agree, and the weights
    after ``steps`` steps (momentum included) agree to float32 rounding."""
    cases = [FloorCase(weights), NNCase(weights)]
    if with_torch:
        cases.append(TorchCase(weights))
    return harness.check_training_steps(cases, batches, steps, out=out)


# ----------------------------------------------------------------------------- timing
def benchmark(batch_sizes, rounds: int, warmup: float, block: float, min_block_steps: int,
              with_torch: bool, seed: int = 0, out=print) -> dict:
    weights = initial_weights(seed)
    factories = [FloorCase, NNCase] + ([TorchCase] if with_torch else [])
    cases = {f.name: f(weights) for f in factories}
    groups = {b: {name: (c.step, c.prepare(make_batches(b, seed)), c.reset)
                  for name, c in cases.items()} for b in batch_sizes}
    timed = harness.interleave(groups, rounds, warmup, block, min_block_steps)
    medians = timed["block_medians"]
    results = {b: {name: {**harness.summary(timed["times"][(b, name)]),
                          "round_ratios": harness.round_ratios(medians[(b, name)],
                                                               medians[(b, "floor")])}
                   for name in cases}
               for b in batch_sizes}
    return {"results": results, "elapsed_s": timed["elapsed_s"], "cases": list(cases)}


def format_table(res: dict) -> str:
    results, names = res["results"], res["cases"]
    head = f"{'batch':>6} {harness.floor_nn_torch_head(10)}"
    lines = [head, "-" * len(head)]
    for b, row in results.items():
        lines.append(f"{b:>6} {harness.floor_nn_torch_cells(row, 10)}")
    lines.append("")
    lines.append("paired per round (each block's median over the floor's block median of the same "
                 "round,\nseconds apart, so that slow drifts of a shared machine cancel): "
                 "median (min-max) over the rounds")
    for b, row in results.items():
        cells = "   ".join(f"{name}/floor {row[name]['round_ratios'][1]:.2f} "
                           f"({row[name]['round_ratios'][0]:.2f}-{row[name]['round_ratios'][2]:.2f})"
                           for name in names if name != "floor")
        lines.append(f"  batch {b:>5}: {cells}")
    lines.append("")
    lines.append("spread (interquartile range of per-step times, ms) and timed steps per cell:")
    for b, row in results.items():
        lines.append(f"  batch {b:>5}: {harness.spread_cells(row, names)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-sizes", default="32,128,1024",
                   help="comma-separated batch sizes (default: 32,128,1024)")


def _more_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nn-input-grad", action="store_true",
                   help="let the nn model also compute the first Linear's input gradient, "
                        "which nobody uses and which the floor and torch never compute "
                        "(by default the nn model has set_input_grad(False), as nn.fit does)")


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.batch_sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) <= 0:
        p.error("--batch-sizes must be positive integers")


def parse_args(argv=None) -> argparse.Namespace:
    return harness.parse_args(argv, __doc__, rounds=(20, 2), block=(0.1, 0.02),
                              before=_options, after=_more_options, check=_check)


def main(argv=None, out=print) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math."""
    args = parse_args(argv)
    with_torch = not args.no_torch and harness.torch_available()
    NNCase.input_grad = args.nn_input_grad
    out(f"MLP {'-'.join(map(str, SIZES))} float32, ReLU, softmax CE (mean), "
        f"SGD lr={LR} momentum={MOMENTUM}")
    out(harness.platform_line())
    out(harness.torch_line(with_torch))
    out("nn: --nn-input-grad: the first layer also computes its unused input gradient"
        if args.nn_input_grad else
        "nn: model.set_input_grad(False), as nn.fit does (no unused input gradient)")
    ok = check_same_math(initial_weights(args.seed), make_batches(args.batch_sizes[0], args.seed),
                         with_torch, out=out)
    out(harness.timing_line(args))
    res = benchmark(args.batch_sizes, args.rounds, args.warmup, args.block,
                    min_block_steps=3 if args.quick else 5, with_torch=with_torch,
                    seed=args.seed, out=out)
    out("")
    out(format_table(res))
    return harness.finish(ok, res["elapsed_s"], out)


if __name__ == "__main__":
    sys.exit(main())
