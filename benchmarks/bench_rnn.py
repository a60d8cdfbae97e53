"""LSTM benchmark: forward + backward through time, float32, input 32, hidden 128, T 50, batch 32.

Implementations of the *same* computation (given x (N, T, 32), the weights and an upstream
gradient G (N, T, 128): the output sequence y, then dx, dW_ih, dW_hh, db) are timed side by
side:

floor       plain NumPy written out by hand in this file, with every buffer preallocated:
            the input projection of all T steps in one GEMM, one GEMM per step for the four
            gates, one ``np.tanh`` over all gates of a step (sigmoid(z) = tanh(z/2)/2 + 1/2,
            with the sigmoid columns of the weights scaled by 1/2), backward with only the
            recursion in the loop and the weight gradients as one GEMM each over all steps.
            What ``nn`` could at best achieve with NumPy.
nn          this project: ``layer = nn.LSTM(32, 128)``; one step is
            ``layer.zero_grad(); y = layer(x); layer.backward(G)``.
torch       PyTorch CPU (only if ``import torch`` works): ``torch.nn.LSTM(batch_first=True)``
            (its fused kernel), ``y = lstm(x)[0]; y.backward(G)``, default thread count.
torch-cell  PyTorch CPU with the LSTM written cell by cell: a Python loop over
            ``torch.nn.LSTMCell`` (``--no-torch-cell`` leaves it out).

All start from the same weights (``nn``'s layout (in, 4*hidden), gate order i, f, g, o;
torch stores the transpose and has two biases: b_ih = our bias, b_hh = 0).

Methodology (see benchmarks/README.md, as in bench_mlp.py): cases timed INTERLEAVED in one
process; each round runs every case (order rotated each round), each preceded by at least
``--warmup`` seconds (default 0.15 s) of untimed steps of the same case; every step timed
on its own; medians of the per-step times pooled over all rounds. The weights never change
(no optimizer step), so no reset is needed.

Run::

    python benchmarks/bench_rnn.py                 # full run (about a minute)
    python benchmarks/bench_rnn.py --quick         # smoke test, a few seconds
    python benchmarks/bench_rnn.py --rounds 30 --no-torch
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ is not a package
import _harness as harness  # noqa: E402

INPUT, HIDDEN, STEPS, BATCH = 32, 128, 50, 32
N_BATCHES = 4          # distinct random (x, G) pairs, cycled through
DTYPE = np.float32


# ----------------------------------------------------------------------------- data / weights
def make_batches(seed: int = 0, batch: int = BATCH, steps: int = STEPS):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, steps, INPUT), dtype=DTYPE),
             rng.standard_normal((batch, steps, HIDDEN), dtype=DTYPE))
            for _ in range(N_BATCHES)]


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """[W_ih (I, 4H), W_hh (H, 4H), b (4H,)] from a fresh ``nn.LSTM`` (PyTorch's init)."""
    layer = nn.LSTM(INPUT, HIDDEN, rng=seed, dtype=DTYPE)
    return [layer.weight_ih.data.copy(), layer.weight_hh.data.copy(), layer.bias.data.copy()]


# ----------------------------------------------------------------------------- case: nn
class NNCase:
    name = "nn"

    def __init__(self, weights):
        self.layer = nn.LSTM(INPUT, HIDDEN, dtype=DTYPE)
        for p, w in zip(self.layer.parameters(), weights):
            p.data[...] = w
        self.out = None

    def prepare(self, batches):
        return batches

    def step(self, x, G) -> None:
        layer = self.layer
        layer.zero_grad()
        y = layer(x)
        dx = layer.backward(G)
        self.out = (y, dx)

    def results(self):
        y, dx = self.out
        return [y, dx] + [p.grad.copy() for p in self.layer.parameters()]


# ----------------------------------------------------------------------------- case: floor
class FloorCase:
    """Hand-written plain NumPy; all buffers allocated once per shape."""

    name = "floor"

    def __init__(self, weights):
        self.W_ih, self.W_hh, self.b = (np.array(w, copy=True) for w in weights)
        H = HIDDEN
        sig = np.ones(4 * H, dtype=bool)
        sig[2 * H:3 * H] = False
        self.a = np.where(sig, 0.5, 1.0).astype(DTYPE)     # S = a tanh(a z) + c
        self.c = np.where(sig, 0.5, 0.0).astype(DTYPE)
        self.c1 = np.where(sig, 1.0, 0.0).astype(DTYPE)    # dS/dz = S (c1 - S) + c0
        self.c0 = np.where(sig, 0.0, 1.0).astype(DTYPE)
        self.Wa_ih = np.empty_like(self.W_ih)
        self.Wa_hh = np.empty_like(self.W_hh)
        self.ba = np.empty_like(self.b)
        self.gW_ih = np.empty_like(self.W_ih)
        self.gW_hh = np.empty_like(self.W_hh)
        self.gb = np.empty_like(self.b)
        self._bufs: dict[tuple, tuple] = {}
        self.out = None

    def prepare(self, batches):
        return batches

    def _buffers(self, N: int, T: int):
        key = (N, T)
        if key not in self._bufs:
            H, I = HIDDEN, INPUT
            e = np.empty
            self._bufs[key] = (
                e((T, N, I), DTYPE), e((T, N, 4 * H), DTYPE), e((T + 1, N, H), DTYPE),
                e((T + 1, N, H), DTYPE), e((T, N, H), DTYPE), e((N, 4 * H), DTYPE),
                e((N, H), DTYPE), e((T, N, 4 * H), DTYPE), e((N, H), DTYPE), e((N, H), DTYPE),
                e((N, H), DTYPE), e((N, 4 * H), DTYPE), np.ones(T * N, DTYPE))
        return self._bufs[key]

    def step(self, x, G) -> None:
        N, T = x.shape[0], x.shape[1]
        H, I = HIDDEN, INPUT
        xs, S, Hs, Cs, K, tmp4, ig, dZ, dh, dc, dcell, D, ones = self._buffers(N, T)
        a, c, c1, c0 = self.a, self.c, self.c1, self.c0
        # ---- forward
        np.copyto(xs, x.transpose(1, 0, 2))
        np.multiply(self.W_ih, a, out=self.Wa_ih)
        np.multiply(self.W_hh, a, out=self.Wa_hh)
        np.multiply(self.b, a, out=self.ba)
        np.matmul(xs.reshape(T * N, I), self.Wa_ih, out=S.reshape(T * N, 4 * H))
        S += self.ba
        Hs[0] = 0
        Cs[0] = 0
        Wa = self.Wa_hh
        with np.errstate(under="ignore"):
            for t in range(T):
                s = S[t]
                np.matmul(Hs[t], Wa, out=tmp4)
                s += tmp4
                np.tanh(s, out=s)
                s *= a
                s += c
                np.multiply(s[:, H:2 * H], Cs[t], out=Cs[t + 1])
                np.multiply(s[:, :H], s[:, 2 * H:3 * H], out=ig)
                Cs[t + 1] += ig
                np.tanh(Cs[t + 1], out=K[t])
                np.multiply(s[:, 3 * H:], K[t], out=Hs[t + 1])
            y = Hs[1:].transpose(1, 0, 2).copy()
            # ---- backward
            W_hhT = np.ascontiguousarray(self.W_hh.T)   # faster GEMM than the .T view
            dh.fill(0)
            dc.fill(0)
            for t in range(T - 1, -1, -1):
                dh += G[:, t]
                s, k, dz = S[t], K[t], dZ[t]
                np.multiply(dh, k, out=dz[:, 3 * H:])
                np.multiply(k, k, out=ig)
                np.subtract(1, ig, out=ig)
                np.multiply(dh, s[:, 3 * H:], out=dcell)
                dcell *= ig
                dcell += dc
                np.multiply(dcell, s[:, 2 * H:3 * H], out=dz[:, :H])
                np.multiply(dcell, Cs[t], out=dz[:, H:2 * H])
                np.multiply(dcell, s[:, :H], out=dz[:, 2 * H:3 * H])
                np.multiply(dcell, s[:, H:2 * H], out=dc)
                np.subtract(c1, s, out=D)
                D *= s
                D += c0
                dz *= D
                np.matmul(dz, W_hhT, out=dh)
            dZ2 = dZ.reshape(T * N, 4 * H)
            np.matmul(xs.reshape(T * N, I).T, dZ2, out=self.gW_ih)
            np.matmul(Hs[:-1].reshape(T * N, H).T, dZ2, out=self.gW_hh)
            np.matmul(ones, dZ2, out=self.gb)
            dxs = dZ2 @ np.ascontiguousarray(self.W_ih.T)
            dx = dxs.reshape(T, N, I).transpose(1, 0, 2).copy()
        self.out = (y, dx)

    def results(self):
        y, dx = self.out
        return [y, dx, self.gW_ih.copy(), self.gW_hh.copy(), self.gb.copy()]


# ----------------------------------------------------------------------------- cases: torch
class TorchCase:
    name = "torch"

    def __init__(self, weights):
        import torch

        self.torch = torch
        self.lstm = torch.nn.LSTM(INPUT, HIDDEN, batch_first=True).float()
        with torch.no_grad():
            W_ih, W_hh, b = weights
            self.lstm.weight_ih_l0.copy_(torch.from_numpy(W_ih.T.copy()))
            self.lstm.weight_hh_l0.copy_(torch.from_numpy(W_hh.T.copy()))
            self.lstm.bias_ih_l0.copy_(torch.from_numpy(b))
            self.lstm.bias_hh_l0.zero_()
        self.out = None

    def prepare(self, batches):
        return [(self.torch.from_numpy(x), self.torch.from_numpy(G)) for x, G in batches]

    def _params(self):
        m = self.lstm
        return m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0

    def step(self, x, G) -> None:
        for p in self.lstm.parameters():
            p.grad = None
        x = x.detach().requires_grad_()
        y = self.lstm(x)[0]
        y.backward(G)
        self.out = (y, x.grad)

    def results(self):
        y, dx = self.out
        W_ih, W_hh, b = self._params()
        return [y.detach().numpy(), dx.numpy(), W_ih.grad.numpy().T.copy(),
                W_hh.grad.numpy().T.copy(), b.grad.numpy().copy()]


class TorchCellCase(TorchCase):
    """The same LSTM written cell by cell: a Python loop over torch.nn.LSTMCell."""

    name = "torch-cell"

    def __init__(self, weights):
        import torch

        self.torch = torch
        self.cell = torch.nn.LSTMCell(INPUT, HIDDEN).float()
        with torch.no_grad():
            W_ih, W_hh, b = weights
            self.cell.weight_ih.copy_(torch.from_numpy(W_ih.T.copy()))
            self.cell.weight_hh.copy_(torch.from_numpy(W_hh.T.copy()))
            self.cell.bias_ih.copy_(torch.from_numpy(b))
            self.cell.bias_hh.zero_()
        self.lstm = self.cell
        self.out = None

    def _params(self):
        return self.cell.weight_ih, self.cell.weight_hh, self.cell.bias_ih

    def step(self, x, G) -> None:
        torch = self.torch
        for p in self.cell.parameters():
            p.grad = None
        x = x.detach().requires_grad_()
        N = x.shape[0]
        h = torch.zeros(N, HIDDEN)
        c = torch.zeros(N, HIDDEN)
        outs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outs.append(h)
        y = torch.stack(outs, dim=1)
        y.backward(G)
        self.out = (y, x.grad)


# ----------------------------------------------------------------------------- checks
NAMES = ("y", "dx", "dW_ih", "dW_hh", "db")


def check_same_math(weights, batches, torch_cases, out=print) -> bool:
    """One step of each case from identical weights and data: every result agrees with the
    floor to float32 rounding (largest difference relative to the largest magnitude)."""
    cases = [FloorCase(weights), NNCase(weights)] + [f(weights) for f in torch_cases]
    results = {}
    for case in cases:
        x, G = case.prepare(batches[:1])[0]
        case.step(x, G)
        results[case.name] = case.results()
    ok = True
    out("same math, one step from identical weights (max |diff| / max |floor| per result):")
    for name, res in results.items():
        if name == "floor":
            continue
        errs = [harness.max_rel_diff(a, b) for a, b in zip(res, results["floor"])]
        good = max(errs) < 1e-4
        ok &= good or name != "nn"
        shown = "  ".join(f"{n} {e:.1e}" for n, e in zip(NAMES, errs))
        out(f"  {name:<10} {shown}  {'OK' if good else 'MISMATCH'}")
    return ok


# ----------------------------------------------------------------------------- timing
def benchmark(factories, rounds: int, warmup: float, block_s: float, min_block_steps: int,
              seed: int = 0) -> dict:
    weights = initial_weights(seed)
    cases = {f.name: f(weights) for f in factories}
    names = list(cases)
    group = {name: (cases[name].step, cases[name].prepare(make_batches(seed)), None)
             for name in names}
    timed = harness.interleave({"lstm": group}, rounds, warmup, block_s, min_block_steps)
    medians = timed["block_medians"]
    stats = {}
    for name in names:
        lo, mid, hi = harness.round_ratios(medians[("lstm", name)], medians[("lstm", "floor")])
        stats[name] = {**harness.summary(timed["times"][("lstm", name)]),
                       "round_ratio_median": mid, "round_ratio_min": lo, "round_ratio_max": hi}
    return {"stats": stats, "elapsed_s": timed["elapsed_s"], "cases": names}


def format_table(res: dict) -> str:
    stats, names = res["stats"], res["cases"]
    floor = stats["floor"]["median_ms"]
    head = (f"{'case':<11} {'median ms':>10} {'IQR ms':>17} {'steps':>6} {'/floor':>7}   "
            f"{'/floor per round: median (min-max)':<34}")
    lines = [head, "-" * len(head)]
    for name in names:
        s = stats[name]
        lines.append(f"{name:<11} {s['median_ms']:>10.3f} "
                     f"{s['q1_ms']:>8.3f}-{s['q3_ms']:<8.3f} {s['steps']:>6} "
                     f"{s['median_ms'] / floor:>7.2f}   {s['round_ratio_median']:.2f} "
                     f"({s['round_ratio_min']:.2f}-{s['round_ratio_max']:.2f})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def _more_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-torch-cell", action="store_true",
                   help="skip the cell-by-cell PyTorch LSTM")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for NumPy and torch (default: each library's own "
                        "default, 2 on this machine); 1 is steadier on a busy machine")


def parse_args(argv=None) -> argparse.Namespace:
    return harness.parse_args(argv, __doc__, rounds=(12, 2), block=(0.4, 0.05), after=_more_options)


def main(argv=None, out=print) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math."""
    args = parse_args(argv)
    with_torch = not args.no_torch and harness.torch_available()
    if args.threads is not None:
        from threadpoolctl import threadpool_info, threadpool_limits

        if not any(lib["user_api"] == "blas" for lib in threadpool_info()):
            out("--threads: threadpoolctl finds no BLAS library; its thread count is unchanged")
        else:
            threadpool_limits(limits=args.threads, user_api="blas")  # for the rest of the run
        if with_torch:
            import torch

            torch.set_num_threads(args.threads)
    out(f"LSTM input {INPUT}, hidden {HIDDEN}, T {STEPS}, batch {BATCH}, float32: "
        "forward + backward (y, dx, dW_ih, dW_hh, db)")
    out(harness.platform_line())
    out(harness.torch_line(with_torch, "columns"))
    torch_cases = []
    if with_torch:
        torch_cases = [TorchCase] + ([] if args.no_torch_cell else [TorchCellCase])
    if args.threads is not None:
        out(f"--threads {args.threads}: NumPy's BLAS and torch limited to {args.threads}")
    ok = check_same_math(initial_weights(args.seed), make_batches(args.seed), torch_cases,
                         out=out)
    out(harness.timing_line(args))
    res = benchmark([FloorCase, NNCase] + torch_cases, args.rounds, args.warmup, args.block,
                    min_block_steps=2 if args.quick else 5, seed=args.seed)
    out("")
    out(format_table(res))
    return harness.finish(ok, res["elapsed_s"], out)


if __name__ == "__main__":
    sys.exit(main())
