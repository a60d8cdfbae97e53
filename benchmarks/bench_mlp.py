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
import platform
import statistics
import sys
import time

import numpy as np

import nn
import optim

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


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


# ----------------------------------------------------------------------------- checks
def check_same_math(weights, batches, with_torch: bool, steps: int = 3, out=print) -> bool:
    """Fresh instances from identical weights: the first-step losses agree, and the weights
    after ``steps`` steps (momentum included) agree to float32 rounding."""
    cases = [FloorCase(weights), NNCase(weights)]
    if with_torch:
        cases.append(TorchCase(weights))
    losses, finals = {}, {}
    for c in cases:
        data = c.prepare(batches)
        first = None
        for i in range(steps):
            c.step(*data[i % len(data)])
            if i == 0:
                first = c.loss.item() if hasattr(c.loss, "item") else float(c.loss)
        losses[c.name] = first
        finals[c.name] = c.get_weights()
    ok = True
    ref = losses["floor"]
    out(f"first-step loss from identical weights (batch {batches[0][0].shape[0]}):")
    for name, value in losses.items():
        rel = abs(value - ref) / max(abs(ref), 1e-30)
        # float32 forward, different but equally valid summation orders
        good = rel < 1e-5
        ok &= good or name == "torch"
        verdict = "OK" if good else "MISMATCH"
        out(f"  {name:<6} {value:.9f}   rel. diff vs floor {rel:.1e}  {verdict}")
    for name in finals:
        if name == "floor":
            continue
        err = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))
                  for a, b in zip(finals[name], finals["floor"]))
        good = err < 1e-4
        ok &= good or name == "torch"
        out(f"  weights after {steps} steps, {name} vs floor: max rel. diff {err:.1e}  "
            f"{'OK' if good else 'MISMATCH'}")
    return ok


# ----------------------------------------------------------------------------- timing
def _run(step, data, i0: int, min_time: float, min_steps: int, record: list | None) -> int:
    """Run steps until both ``min_time`` seconds and ``min_steps`` steps have passed;
    append each step's duration to ``record`` if given. Returns the next batch index."""
    k = len(data)
    perf = time.perf_counter
    i = i0
    done = 0
    end = perf() + min_time
    while True:
        x, y = data[i % k]
        i += 1
        t0 = perf()
        step(x, y)
        t1 = perf()
        done += 1
        if record is not None:
            record.append(t1 - t0)
        if done >= min_steps and t1 >= end:
            return i


def benchmark(batch_sizes, rounds: int, warmup: float, block: float, min_block_steps: int,
              with_torch: bool, seed: int = 0, out=print) -> dict:
    weights = initial_weights(seed)
    factories = [FloorCase, NNCase] + ([TorchCase] if with_torch else [])
    cases = {f.name: f(weights) for f in factories}
    names = list(cases)
    data = {(name, b): cases[name].prepare(make_batches(b, seed)) for name in names
            for b in batch_sizes}
    times = {(name, b): [] for name in names for b in batch_sizes}
    pos = dict.fromkeys(times, 0)
    t_start = time.perf_counter()
    for r in range(rounds):
        for b in batch_sizes:
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                c, key = cases[name], (name, b)
                c.reset()
                pos[key] = _run(c.step, data[key], pos[key], warmup, 2, None)
                pos[key] = _run(c.step, data[key], pos[key], block, min_block_steps, times[key])
    elapsed = time.perf_counter() - t_start
    results = {}
    for b in batch_sizes:
        row = {}
        for name in names:
            ts = times[(name, b)]
            q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
            row[name] = {"median_ms": 1e3 * statistics.median(ts), "q1_ms": 1e3 * q[0],
                         "q3_ms": 1e3 * q[2], "steps": len(ts)}
        results[b] = row
    return {"results": results, "elapsed_s": elapsed, "cases": names}


def format_table(res: dict) -> str:
    results, names = res["results"], res["cases"]
    has_torch = "torch" in names
    head = f"{'batch':>6} {'floor ms':>10} {'nn ms':>10} {'torch ms':>10} {'nn/floor':>9} " \
           f"{'torch/floor':>12}"
    lines = [head, "-" * len(head)]
    for b, row in results.items():
        f = row["floor"]["median_ms"]
        n = row["nn"]["median_ms"]
        t = row["torch"]["median_ms"] if has_torch else None
        lines.append(f"{b:>6} {f:>10.3f} {n:>10.3f} "
                     f"{(f'{t:.3f}' if t is not None else 'skipped'):>10} {n / f:>9.2f} "
                     f"{(f'{t / f:.2f}' if t is not None else '-'):>12}")
    lines.append("")
    lines.append("spread (interquartile range of per-step times, ms) and timed steps per cell:")
    for b, row in results.items():
        cells = "   ".join(f"{name} {row[name]['q1_ms']:.3f}-{row[name]['q3_ms']:.3f} "
                           f"(n={row[name]['steps']})" for name in names)
        lines.append(f"  batch {b:>5}: {cells}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="32,128,1024",
                   help="comma-separated batch sizes (default: 32,128,1024)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds (default 20; 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 rounds of short blocks (numbers are rough)")
    p.add_argument("--warmup", type=float, default=None,
                   help="untimed seconds of the same case before each timed block "
                        "(default 0.15, also with --quick: shorter falsifies torch's numbers)")
    p.add_argument("--block", type=float, default=None,
                   help="seconds per timed block (default 0.1; 0.02 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--nn-input-grad", action="store_true",
                   help="let the nn model also compute the first Linear's input gradient, "
                        "which nobody uses and which the floor and torch never compute "
                        "(by default the nn model has set_input_grad(False), as nn.fit does)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        args.batch_sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) <= 0:
        p.error("--batch-sizes must be positive integers")
    if args.rounds is None:
        args.rounds = 2 if args.quick else 20
    if args.warmup is None:
        args.warmup = 0.15
    if args.block is None:
        args.block = 0.02 if args.quick else 0.1
    if args.rounds <= 0:
        p.error("--rounds must be positive")
    return args


def main(argv=None, out=print) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math."""
    args = parse_args(argv)
    with_torch = not args.no_torch and torch_available()
    NNCase.input_grad = args.nn_input_grad
    out(f"MLP {'-'.join(map(str, SIZES))} float32, ReLU, softmax CE (mean), "
        f"SGD lr={LR} momentum={MOMENTUM}")
    load = f", load avg {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    out(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}{load}")
    if with_torch:
        import torch
        out(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    else:
        out("torch: not available (or --no-torch): column skipped")
    out("nn: --nn-input-grad: the first layer also computes its unused input gradient"
        if args.nn_input_grad else
        "nn: model.set_input_grad(False), as nn.fit does (no unused input gradient)")
    ok = check_same_math(initial_weights(args.seed), make_batches(args.batch_sizes[0], args.seed),
                         with_torch, out=out)
    out(f"timing: {args.rounds} interleaved rounds, warm-up {args.warmup:.3g} s before each "
        f"block, blocks of {args.block:.3g} s; medians of per-step times")
    res = benchmark(args.batch_sizes, args.rounds, args.warmup, args.block,
                    min_block_steps=3 if args.quick else 5, with_torch=with_torch,
                    seed=args.seed, out=out)
    out("")
    out(format_table(res))
    out(f"\n(total {res['elapsed_s']:.1f} s)")
    if not ok:
        out("ERROR: nn and the floor do not compute the same thing (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
