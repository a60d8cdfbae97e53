"""benchmarks/bench_mlp.py stays runnable and fair: nn and the plain-NumPy floor do the same
arithmetic, and a tiny timing run produces every column and the paired per-round ratios.
(Timings themselves are never asserted: speed belongs in the benchmark, not in tests.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports _harness beside it
    try:
        spec = importlib.util.spec_from_file_location("bench_mlp", ROOT / "benchmarks/bench_mlp.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench


def test_floor_and_nn_compute_the_same_step():
    bench = _load()
    lines = []
    ok = bench.check_same_math(bench.initial_weights(), bench.make_batches(32), False,
                               out=lines.append)
    assert ok, "\n".join(lines)
    assert any("weights after 3 steps, nn vs floor" in line for line in lines)


def test_nn_case_packs_its_parameters_into_more_than_one_chunk():
    """The benchmarked model (269k float32 parameters) is large enough that the optimizer
    runs its update chunk by chunk, which is what the README's figures measure. Seen
    through the optimizer's public contract: the parameters become views of one buffer,
    and the rule is called on consecutive slices of it (optim/optimizer.py's docstring)."""
    bench = _load()
    case = bench.NNCase(bench.initial_weights())
    x, y = bench.make_batches(32)[0]
    sizes = []
    rule = case.opt.update_fast

    def counting_rule(p, g, state, t, **hyper):
        sizes.append(p.size)
        rule(p, g, state, t, **hyper)

    case.opt.update_fast = counting_rule
    case.step(x, y)
    total = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    buffers = {id(p.data.base) for p in case.model.parameters()}
    assert len(buffers) == 1 and all(p.data.base is not None for p in case.model.parameters())
    assert sum(sizes) == total and len(sizes) > 1


def test_tiny_timing_run_reports_medians_and_paired_ratios():
    bench = _load()
    res = bench.benchmark([4], rounds=2, warmup=0.0, block=0.0, min_block_steps=2,
                          with_torch=False)
    row = res["results"][4]
    assert set(row) == {"floor", "nn"}
    lo, mid, hi = row["nn"]["round_ratios"]
    assert 0 < lo <= mid <= hi and np.isfinite(hi)
    assert row["floor"]["round_ratios"] == (1.0, 1.0, 1.0)
    table = bench.format_table(res)
    assert "nn/floor" in table and "paired per round" in table
