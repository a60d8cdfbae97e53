"""Harness shared by the benchmark scripts in this folder (bench_mlp, bench_cnn, bench_rnn,
bench_attention): timing, statistics, report lines and the common command-line options.
What is measured (the cases, the floors) stays in each script.

``benchmarks/`` is not a package. A script imports this module after putting its own folder
on ``sys.path``, which works both for ``python benchmarks/bench_x.py`` and for a test that
loads the script with ``importlib.util.spec_from_file_location``::

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _harness as harness

Methodology (benchmarks/README.md): the cases are timed INTERLEAVED in one process; every
round runs each case once per group (batch size, task, ...), the order of the cases rotated
from round to round; each timed block is preceded by at least ``warmup`` seconds of untimed
steps of the same case (an idle OpenBLAS worker busy-waits ~0.1 s after a threaded call and
slows whatever runs next); every step is timed on its own with ``time.perf_counter``; the
figures are medians and quartiles of the per-step times pooled over all rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


# ----------------------------------------------------------------------------- environment
def torch_available() -> bool:
    """Whether ``import torch`` works."""
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def platform_line(extra: str = "") -> str:
    """``python X, numpy Y, cpus N, load avg L`` (the load average where the OS has one),
    followed by ``extra``."""
    load = f", load avg {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    return (f"python {platform.python_version()}, numpy {np.__version__}, "
            f"cpus {os.cpu_count()}{load}{extra}")


def torch_line(with_torch: bool, skipped: str = "column") -> str:
    """torch's version and thread count, or a note that its ``skipped`` (column, row, ...)
    is left out."""
    if with_torch:
        import torch

        return f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    return f"torch: not available (or --no-torch): {skipped} skipped"


def timing_line(args: argparse.Namespace, unit: str = "step") -> str:
    return (f"timing: {args.rounds} interleaved rounds, warm-up {args.warmup:.3g} s before each "
            f"block, blocks of {args.block:.3g} s; medians of per-{unit} times")


def finish(ok: bool, elapsed_s: float, out=print, note: str = "") -> int:
    """The report's last lines; the exit status: 0, or 1 when nn and the floor disagree."""
    out(f"\n(total {elapsed_s:.1f} s{note})")
    if not ok:
        out("ERROR: nn and the floor do not compute the same thing (see above)")
    return 0 if ok else 1


# ----------------------------------------------------------------------------- options
def parse_args(argv, doc: str, *, rounds: tuple[int, int], block: tuple[float, float],
               before: Callable | None = None, after: Callable | None = None,
               check: Callable | None = None) -> argparse.Namespace:
    """The options every script has: ``--rounds --quick --warmup --block --no-torch`` and,
    last, ``--seed``. ``rounds`` and ``block`` are the defaults (full run, ``--quick``).
    ``before(parser)`` and ``after(parser)`` add a script's own options ahead of and after
    the common ones; ``check(parser, args)`` validates them (``parser.error``) before the
    defaults are filled in. The description is the first paragraph of ``doc``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if before is not None:
        before(p)
    p.add_argument("--rounds", type=int, default=None,
                   help=f"interleaved rounds (default {rounds[0]}; {rounds[1]} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: {rounds[1]} rounds of short blocks (numbers are rough)")
    p.add_argument("--warmup", type=float, default=0.15,
                   help="untimed seconds of the same case before each timed block "
                        "(default 0.15, also with --quick: shorter falsifies torch's numbers)")
    p.add_argument("--block", type=float, default=None,
                   help=f"seconds per timed block (default {block[0]:g}; {block[1]:g} "
                        "with --quick)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    if after is not None:
        after(p)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if check is not None:
        check(p, args)
    if args.rounds is None:
        args.rounds = rounds[1] if args.quick else rounds[0]
    if args.block is None:
        args.block = block[1] if args.quick else block[0]
    if args.rounds <= 0:
        p.error("--rounds must be positive")
    return args


# ----------------------------------------------------------------------------- timing
def run_block(step, data, i0: int, min_time: float, min_steps: int, record: list | None) -> int:
    """Run ``step(a, b)`` on ``data[i0], data[i0 + 1], ...`` (cycled) until both ``min_time``
    seconds and ``min_steps`` steps have passed; append each step's duration to ``record``
    if given. Returns the next index into ``data``."""
    k = len(data)
    perf = time.perf_counter
    i, done = i0, 0
    end = perf() + min_time
    while True:
        a, b = data[i % k]
        i += 1
        t0 = perf()
        step(a, b)
        t1 = perf()
        done += 1
        if record is not None:
            record.append(t1 - t0)
        if done >= min_steps and t1 >= end:
            return i


def run_calls(fn, min_time: float, min_steps: int, record: list | None) -> None:
    """As ``run_block`` for a function of no arguments."""
    perf = time.perf_counter
    done = 0
    end = perf() + min_time
    while True:
        t0 = perf()
        fn()
        t1 = perf()
        done += 1
        if record is not None:
            record.append(t1 - t0)
        if done >= min_steps and t1 >= end:
            return


def rotated(names: list, r: int) -> list:
    """``names`` rotated left by ``r``: round r's order of the cases."""
    return names[r % len(names):] + names[:r % len(names)]


def interleave(groups: dict, rounds: int, warmup: float, block: float,
               min_block_steps: int) -> dict:
    """Interleaved timing. ``groups`` maps a group (a batch size, a task) to
    ``{case name: (step, data, reset or None)}``, every group with the same case names.
    For each round, for each group, for each case in the rotated order: ``reset()``
    (untimed), at least ``warmup`` s of untimed steps, then a timed block of at least
    ``block`` s and ``min_block_steps`` steps.

    Returns ``{"times": {(group, name): [s, ...]}, "block_medians": {(group, name): [s per
    round]}, "elapsed_s": s, "names": [...]}``."""
    names = list(next(iter(groups.values())))
    times = {(g, n): [] for g in groups for n in names}
    block_medians = {key: [] for key in times}
    pos = dict.fromkeys(times, 0)
    t_start = time.perf_counter()
    for r in range(rounds):
        for g, cases in groups.items():
            for n in rotated(names, r):
                step, data, reset = cases[n]
                key = (g, n)
                if reset is not None:
                    reset()
                pos[key] = run_block(step, data, pos[key], warmup, 2, None)
                ts: list[float] = []
                pos[key] = run_block(step, data, pos[key], block, min_block_steps, ts)
                times[key] += ts
                block_medians[key].append(statistics.median(ts))
    return {"times": times, "block_medians": block_medians,
            "elapsed_s": time.perf_counter() - t_start, "names": names}


# ----------------------------------------------------------------------------- statistics
def summary(ts: list[float]) -> dict:
    """Median and quartiles of per-step times (s) in ms, and their count."""
    q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
    return {"median_ms": 1e3 * statistics.median(ts), "q1_ms": 1e3 * q[0],
            "q3_ms": 1e3 * q[2], "steps": len(ts)}


def round_ratios(medians: list[float], floor_medians: list[float]) -> tuple[float, float, float]:
    """(min, median, max) over the rounds of a case's block median divided by the floor's
    block median of the same round. Blocks a minute apart see different loads on a shared
    machine; the blocks of one round are seconds apart."""
    ratios = sorted(m / f for m, f in zip(medians, floor_medians))
    return ratios[0], statistics.median(ratios), ratios[-1]


def floor_nn_torch_head(width: int) -> str:
    """Column heads of a floor / nn / torch table row (after the row's label)."""
    return (f"{'floor ms':>{width}} {'nn ms':>{width}} {'torch ms':>{width}} {'nn/floor':>9} "
            f"{'torch/floor':>12}")


def floor_nn_torch_cells(row: dict, width: int) -> str:
    """Medians of floor, nn and torch (``skipped`` without a torch entry) and the ratios."""
    f, n = row["floor"]["median_ms"], row["nn"]["median_ms"]
    t = row["torch"]["median_ms"] if "torch" in row else None
    return (f"{f:>{width}.3f} {n:>{width}.3f} "
            f"{(f'{t:.3f}' if t is not None else 'skipped'):>{width}} {n / f:>9.2f} "
            f"{(f'{t / f:.2f}' if t is not None else '-'):>12}")


def spread_cells(row: dict, names: list) -> str:
    """``name q1-q3 (n=steps)`` for each case of a row (ms)."""
    return "   ".join(f"{name} {row[name]['q1_ms']:.3f}-{row[name]['q3_ms']:.3f} "
                       f"(n={row[name]['steps']})" for name in names)


# ----------------------------------------------------------------------------- same math
def max_rel_diff(a, b) -> float:
    """max |a - b| / max |b| (b the reference)."""
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))


def check_training_steps(cases: list, batches, steps: int = 3, out=print) -> bool:
    """Same-math check of training-step cases (``name``, ``prepare``, ``step``, ``loss``,
    ``get_weights``) built from identical weights, the first being the floor: the first-step
    losses agree (rel. 1e-5), and so do the weights after ``steps`` steps, momentum included
    (rel. 1e-4). False when a case other than torch disagrees with the floor."""
    losses, finals = {}, {}
    for c in cases:
        data = c.prepare(batches)
        for i in range(steps):
            c.step(*data[i % len(data)])
            if i == 0:
                losses[c.name] = c.loss.item() if hasattr(c.loss, "item") else float(c.loss)
        finals[c.name] = c.get_weights()
    ok = True
    ref = losses["floor"]
    out(f"first-step loss from identical weights (batch {batches[0][0].shape[0]}):")
    for name, value in losses.items():
        rel = abs(value - ref) / max(abs(ref), 1e-30)
        # float32 forward, different but equally valid summation orders
        good = rel < 1e-5
        ok &= good or name == "torch"
        out(f"  {name:<6} {value:.9f}   rel. diff vs floor {rel:.1e}  "
            f"{'OK' if good else 'MISMATCH'}")
    for name in finals:
        if name == "floor":
            continue
        err = max(max_rel_diff(a, b) for a, b in zip(finals[name], finals["floor"]))
        good = err < 1e-4
        ok &= good or name == "torch"
        out(f"  weights after {steps} steps, {name} vs floor: max rel. diff {err:.1e}  "
            f"{'OK' if good else 'MISMATCH'}")
    return ok
