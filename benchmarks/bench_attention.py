"""Attention benchmark: MultiHeadAttention forward + backward, float32 (E 128, 4 heads, T 64,
batch 32 by default).

Three implementations of the same step (forward, then backward with every parameter
gradient and the input gradient) are timed side by side:

floor  plain NumPy written out in this file: the projections as 2-D GEMMs into preallocated
       buffers (``np.matmul(..., out=)``), all heads of all examples in batched matmuls on
       (N, H, T, d) views, the scores stored key-major so that the softmax reduces across
       rows, the softmax VJP with D = rowsum(dC * C), weight gradients written in place,
       biases as ``ones @ G`` (gemv). It is the cost of the arithmetic with (close to) no
       framework overhead: what ``nn`` could at best reach with NumPy.
nn     this project: ``layer.zero_grad(); y = layer(x); layer.backward(g)`` with
       ``nn.MultiHeadAttention(E, H)``.
torch  PyTorch CPU (only if ``import torch`` works): ``torch.nn.MultiheadAttention(E, H,
       batch_first=True)``, ``y = mha(x, x, x, need_weights=False)[0]; y.backward(g)`` with
       ``x.requires_grad``, gradients reset to None before each step; default thread count.

All three start from the same weights (torch stores each Linear weight as (out, in) and
packs q, k, v into ``in_proj_weight`` (3E, E)), and a same-math check compares outputs and
gradients before timing.

Methodology (as benchmarks/bench_mlp.py, see benchmarks/README.md): the cases are timed
interleaved in one process, the order rotated every round; each timed block is preceded by
at least ``--warmup`` seconds (default 0.15 s) of untimed steps of the same case (an idle
OpenBLAS worker busy-waits ~0.1 s after a threaded call and would slow whatever runs next);
every step is timed on its own and the figures are medians over all rounds. The ratio
nn/floor is also computed per round, and its range over the rounds is reported.

Run::

    python benchmarks/bench_attention.py                 # full run (about a minute)
    python benchmarks/bench_attention.py --quick         # smoke test, a few seconds
    python benchmarks/bench_attention.py --causal --rounds 30 --no-torch
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_attention.py   # one thread everywhere

With ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) set, torch gets the same thread count.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ is not a package
import _harness as harness  # noqa: E402

DTYPE = np.float32
N_BATCHES = 4


# ----------------------------------------------------------------------------- data / weights
def make_batches(N: int, T: int, E: int, seed: int = 0):
    """``N_BATCHES`` random (x (N, T, E), g (N, T, E)) float32 pairs (g: upstream gradient)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((N, T, E), dtype=DTYPE),
             rng.standard_normal((N, T, E), dtype=DTYPE)) for _ in range(N_BATCHES)]


def build_nn_layer(E: int, H: int, causal: bool, seed: int = 0) -> nn.MultiHeadAttention:
    layer = nn.MultiHeadAttention(E, H, causal=causal, rng=seed, dtype=DTYPE)
    rng = np.random.default_rng(seed + 1)
    for p in (layer.q_proj.bias, layer.k_proj.bias, layer.v_proj.bias, layer.out_proj.bias):
        p.data[...] = rng.uniform(-0.1, 0.1, p.shape)
    return layer


def weights_of(layer: nn.MultiHeadAttention) -> list[np.ndarray]:
    """[Wq, bq, Wk, bk, Wv, bv, Wo, bo], W (in, out)."""
    return [np.array(p.data, copy=True) for p in layer.parameters()]


# ----------------------------------------------------------------------------- case: nn
class NNCase:
    name = "nn"

    def __init__(self, E, H, causal, weights):
        self.layer = build_nn_layer(E, H, causal)
        for p, w in zip(self.layer.parameters(), weights):
            p.data[...] = w

    def prepare(self, batches):
        return batches

    def step(self, x, g):
        layer = self.layer
        layer.zero_grad()
        layer.forward(x)
        self.dx = layer.backward(g)

    def results(self):
        grads = [p.grad.copy() for p in self.layer.parameters()]
        return self.layer.forward(self.x0), self.dx, grads


# ----------------------------------------------------------------------------- case: floor
class FloorCase:
    """Hand-written plain NumPy; buffers allocated once per shape."""

    name = "floor"

    def __init__(self, E, H, causal, weights):
        self.E, self.H, self.d = E, H, E // H
        self.causal = causal
        self.p = [np.array(w, copy=True) for w in weights]   # Wq bq Wk bk Wv bv Wo bo
        self.g = [np.empty_like(w) for w in weights]         # their gradients
        self.scale = DTYPE(1.0 / math.sqrt(self.d))
        self._bufs = {}

    def prepare(self, batches):
        return batches

    def _buffers(self, N, T):
        key = (N, T)
        if key not in self._bufs:
            E, H, d, M = self.E, self.H, self.d, N * T
            mk = lambda *s: np.empty(s, DTYPE)  # noqa: E731
            bias = np.where(np.arange(T)[:, None] > np.arange(T)[None, :], -np.inf, 0)
            self._bufs[key] = dict(
                q=mk(M, E), k=mk(M, E), v=mk(M, E), ctx=mk(N, T, H, d), y=mk(M, E),
                st=mk(N, H, T, T), dpt=mk(N, H, T, T), dctx=mk(M, E), D=mk(M * H),
                prod=mk(M, E), dq=mk(N, T, H, d), dk=mk(N, T, H, d), dv=mk(N, T, H, d),
                dx=mk(M, E), tmp=mk(M, E), ones_m=np.ones(M, DTYPE), ones_t=np.ones(T, DTYPE),
                ones_d=np.ones(d, DTYPE), causal=bias.astype(DTYPE))
        return self._bufs[key]

    def step(self, x, G):
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = self.p
        gWq, gbq, gWk, gbk, gWv, gbv, gWo, gbo = self.g
        N, T, E = x.shape
        H, d, M = self.H, self.d, N * T
        b = self._buffers(N, T)
        x2, G2 = x.reshape(M, E), G.reshape(M, E)
        heads = lambda a: a.reshape(N, T, H, d).transpose(0, 2, 1, 3)  # noqa: E731
        # ---- forward: projections (Q pre-scaled by 1/sqrt(d))
        q, k, v = b["q"], b["k"], b["v"]
        np.matmul(x2, Wq, out=q)
        q += bq
        q *= self.scale
        np.matmul(x2, Wk, out=k)
        k += bk
        np.matmul(x2, Wv, out=v)
        v += bv
        qh, kh, vh = heads(q), heads(k), heads(v)
        # scores, key-major: st[n, h, j, i] = k_j . q_i
        st = b["st"]
        np.matmul(kh, qh.transpose(0, 1, 3, 2), out=st)
        if self.causal:
            st += b["causal"]
        st -= st.max(axis=2, keepdims=True)
        with np.errstate(under="ignore"):
            np.exp(st, out=st)
        s = np.matmul(b["ones_t"], st)
        np.reciprocal(s, out=s)
        st *= s[:, :, None, :]
        ctx = b["ctx"]
        np.matmul(st.transpose(0, 1, 3, 2), vh, out=ctx.transpose(0, 2, 1, 3))
        ctx2 = ctx.reshape(M, E)
        y = b["y"]
        np.matmul(ctx2, Wo, out=y)
        y += bo
        # ---- backward
        np.matmul(ctx2.T, G2, out=gWo)
        np.matmul(b["ones_m"], G2, out=gbo)
        dctx = b["dctx"]
        np.matmul(G2, Wo.T, out=dctx)
        dch = heads(dctx)
        np.multiply(dctx, ctx2, out=b["prod"])
        D = np.matmul(b["prod"].reshape(M * H, d), b["ones_d"], out=b["D"])
        D = D.reshape(N, T, H).transpose(0, 2, 1)[:, :, None, :]
        dq, dk, dv = b["dq"], b["dk"], b["dv"]
        np.matmul(st, dch, out=dv.transpose(0, 2, 1, 3))
        dpt = b["dpt"]
        np.matmul(vh, dch.transpose(0, 1, 3, 2), out=dpt)
        dpt -= D
        dpt *= st
        np.matmul(dpt.transpose(0, 1, 3, 2), kh, out=dq.transpose(0, 2, 1, 3))
        dq *= self.scale
        np.matmul(dpt, qh, out=dk.transpose(0, 2, 1, 3))
        dx, tmp = b["dx"], b["tmp"]
        for W, gW, gb, dz, first in ((Wq, gWq, gbq, dq, True), (Wk, gWk, gbk, dk, False),
                                     (Wv, gWv, gbv, dv, False)):
            dz2 = dz.reshape(M, E)
            np.matmul(x2.T, dz2, out=gW)
            np.matmul(b["ones_m"], dz2, out=gb)
            if first:
                np.matmul(dz2, W.T, out=dx)
            else:
                np.matmul(dz2, W.T, out=tmp)
                dx += tmp
        self.y, self.dx = y, dx

    def results(self):
        return self.y.reshape(self.x0.shape).copy(), self.dx.reshape(self.x0.shape).copy(), \
            [g.copy() for g in self.g]


# ----------------------------------------------------------------------------- case: torch
class TorchCase:
    name = "torch"

    def __init__(self, E, H, causal, weights):
        import torch

        self.torch = torch
        self.causal = causal
        self.mha = torch.nn.MultiheadAttention(E, H, batch_first=True)
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = weights
        with torch.no_grad():
            self.mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([Wq.T, Wk.T, Wv.T])))
            self.mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([bq, bk, bv])))
            self.mha.out_proj.weight.copy_(torch.from_numpy(np.ascontiguousarray(Wo.T)))
            self.mha.out_proj.bias.copy_(torch.from_numpy(bo))
        self.mask = None

    def prepare(self, batches):
        T = batches[0][0].shape[1]
        if self.causal:
            self.mask = self.torch.triu(self.torch.ones(T, T, dtype=self.torch.bool), 1)
        return [(self.torch.from_numpy(x).requires_grad_(True), self.torch.from_numpy(g))
                for x, g in batches]

    def step(self, x, g):
        for p in self.mha.parameters():
            p.grad = None
        x.grad = None
        y = self.mha(x, x, x, need_weights=False, attn_mask=self.mask,
                     is_causal=self.causal)[0]
        y.backward(g)
        self.y, self.dx = y, x.grad

    def results(self):
        E = self.mha.embed_dim
        w, b = self.mha.in_proj_weight.grad.numpy(), self.mha.in_proj_bias.grad.numpy()
        grads = [w[:E].T, b[:E], w[E:2 * E].T, b[E:2 * E], w[2 * E:].T, b[2 * E:],
                 self.mha.out_proj.weight.grad.numpy().T, self.mha.out_proj.bias.grad.numpy()]
        return self.y.detach().numpy().copy(), self.dx.numpy().copy(), grads


# ----------------------------------------------------------------------------- same math
def check_same_math(cases: dict, batch, out=print) -> bool:
    """Run one step of each case on the same batch; compare with the float64 ``nn`` layer."""
    x, g = batch
    layer64 = cases["nn"].layer
    l64 = build_nn_layer(layer64.embed_dim, layer64.num_heads, layer64.causal).astype(np.float64)
    l64.load_state_dict(layer64.state_dict())
    l64.zero_grad()
    y_ref = l64(x.astype(np.float64))
    dx_ref = l64.backward(g.astype(np.float64))
    g_ref = [p.grad for p in l64.parameters()]
    ok = True
    for name, c in cases.items():
        data = c.prepare([batch])
        c.x0 = x
        c.step(*data[0])
        y, dx, grads = c.results()
        scale = max(float(np.max(np.abs(r))) for r in g_ref)
        errs = [_rel(y, y_ref), _rel(dx, dx_ref)] + [_rel(a, b, 1e-3 * scale)
                                                     for a, b in zip(grads, g_ref)]
        worst = max(errs)
        good = worst < 1e-4
        ok &= good or name == "torch"
        out(f"  same math: {name:<5} max relative error vs float64 nn (y, dx, 8 grads) "
            f"{worst:.1e} {'ok' if good else 'MISMATCH'}")
    return ok


def _rel(a, b, floor: float = 1e-30) -> float:
    """max |a - b| / max |b|. The k_proj bias gradient is exactly 0 in exact arithmetic (the
    softmax ignores a constant added to every score of a query), so gradients are compared
    with a floor of 1e-3 times the largest gradient: its float32 rounding noise is no error."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), floor))


# ----------------------------------------------------------------------------- timing
def benchmark(cases: dict, batches, rounds: int, warmup: float, block: float,
              min_block_steps: int) -> dict:
    names = list(cases)
    group = {n: (cases[n].step, cases[n].prepare(batches), None) for n in names}
    timed = harness.interleave({"mha": group}, rounds, warmup, block, min_block_steps)
    medians = timed["block_medians"]
    res = {"elapsed_s": timed["elapsed_s"], "cases": names, "rows": {}}
    for n in names:
        res["rows"][n] = harness.summary(timed["times"][("mha", n)])
        if n != "floor":
            res["rows"][n]["round_ratios"] = harness.round_ratios(medians[("mha", n)],
                                                                  medians[("mha", "floor")])
    return res


def format_table(res: dict) -> str:
    rows = res["rows"]
    f = rows["floor"]["median_ms"]
    head = f"{'case':<6} {'median ms':>10} {'IQR ms':>16} {'steps':>6} {'/floor':>7} " \
           f"{'per-round /floor (min, median, max)':>38}"
    lines = [head, "-" * len(head)]
    for n in res["cases"]:
        r = rows[n]
        rr = r.get("round_ratios")
        rr_text = "-" if rr is None else f"{rr[0]:.2f}, {rr[1]:.2f}, {rr[2]:.2f}"
        lines.append(f"{n:<6} {r['median_ms']:>10.3f} {r['q1_ms']:>7.3f}-{r['q3_ms']:<8.3f} "
                     f"{r['steps']:>6} {r['median_ms'] / f:>7.2f} {rr_text:>38}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=32, help="batch size N (default 32)")
    p.add_argument("--seq", type=int, default=64, help="sequence length T (default 64)")
    p.add_argument("--embed", type=int, default=128, help="embed_dim E (default 128)")
    p.add_argument("--heads", type=int, default=4, help="num_heads H (default 4)")
    p.add_argument("--causal", action="store_true", help="causal attention in every case")


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if min(args.batch, args.seq, args.embed, args.heads) <= 0:
        p.error("--batch, --seq, --embed and --heads must be positive")
    if args.embed % args.heads:
        p.error("--heads must divide --embed")


def parse_args(argv=None) -> argparse.Namespace:
    return harness.parse_args(argv, __doc__, rounds=(20, 2), block=(0.25, 0.03),
                              before=_options, check=_check)


def main(argv=None, out=print) -> int:
    """Run the benchmark; returns 0, or 1 when nn and the floor disagree on the math."""
    args = parse_args(argv)
    with_torch = not args.no_torch and harness.torch_available()
    N, T, E, H = args.batch, args.seq, args.embed, args.heads
    out(f"MultiHeadAttention forward+backward (all parameter gradients and dx), float32: "
        f"batch {N}, T {T}, E {E}, {H} heads{', causal' if args.causal else ''}")
    out(harness.platform_line())
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    out(f"BLAS threads: {blas_threads or 'default (all cores)'}")
    if with_torch:
        import torch
        if blas_threads:  # the same thread budget for torch as for NumPy's BLAS
            torch.set_num_threads(int(blas_threads))
    out(harness.torch_line(with_torch, "row"))
    weights = weights_of(build_nn_layer(E, H, args.causal, args.seed))
    factories = [FloorCase, NNCase] + ([TorchCase] if with_torch else [])
    cases = {f.name: f(E, H, args.causal, weights) for f in factories}
    batches = make_batches(N, T, E, args.seed)
    ok = check_same_math(cases, batches[0], out=out)
    out(harness.timing_line(args))
    res = benchmark(cases, batches, args.rounds, args.warmup, args.block,
                    min_block_steps=3 if args.quick else 5)
    out("")
    out(format_table(res))
    return harness.finish(ok, res["elapsed_s"], out)


if __name__ == "__main__":
    sys.exit(main())
