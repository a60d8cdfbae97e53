"""examples/ddp_train.py: an nn model trained by PyTorch's DistributedDataParallel in two
processes (gloo, CPU, 127.0.0.1, a free port) ends as two identical replicas equal to one
process training on the same global batches.

Tolerance against the single-process run: 1e-12 absolute on weights of size about 1, in
float64. The two runs compute the same gradient in a different order of additions: DDP
sums the two half-batch means and halves the sum, one process takes the mean over the
whole batch at once. Each step differs by a few units in the last place (about 1e-16);
30 steps of SGD on this small network measured 2.2e-16. The replicas themselves are
compared exactly: they start from rank 0's weights (DDP broadcasts them) and apply the
same all-reduced gradient, bit for bit.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "ddp_train.py"
STEPS = 12


def load_example():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (torch.distributed.is_available()
                         and torch.distributed.is_gloo_available()),
                    reason="this torch build has no gloo backend")
def test_two_ddp_replicas_equal_a_single_process_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", str(STEPS), "--world-size", "2", "--out",
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "largest difference between replicas:" in done.stdout

    example = load_example()
    rank0, rank1 = (example.load(tmp_path / f"rank{r}.npz").state_dict() for r in (0, 1))
    single = example.run_single(STEPS).state_dict()     # computed here, not by the script
    initial = example.make_model().state_dict()
    assert list(rank0) == list(rank1) == list(single) == list(initial)
    for key, value in single.items():
        assert np.array_equal(rank0[key], rank1[key]), key
        assert rank0[key].dtype == np.float64
        assert np.max(np.abs(rank0[key] - value)) <= 1e-12, key
        assert not np.array_equal(value, initial[key]), f"{key} did not train"
