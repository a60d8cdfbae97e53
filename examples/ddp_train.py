"""Train an nn model on several processes with PyTorch's DistributedDataParallel.

The path to many machines (docs/scaling.md): build the model in ``nn``, hand it to PyTorch
with ``nn.interop.to_torch``, train it with ``torch.nn.parallel.DistributedDataParallel``
(here: the gloo backend on CPU, ``--world-size`` processes on 127.0.0.1, a free port
chosen at run time), and bring the trained weights home with ``nn.interop.from_torch``.

Each global batch of B examples is split into ``world_size`` equal slices, one per process.
Every process computes the mean loss of its slice; DDP averages the gradients over the
processes (a sum by all-reduce, then a division by world_size), which is the gradient of
the mean loss over the whole global batch. So the replicas stay identical, and equal to one
process training on the global batches (up to the order of the float additions: see
docs/scaling.md). The script checks both and prints the differences.

    python examples/ddp_train.py [--steps 30] [--world-size 2] [--out DIR]

``--out DIR`` keeps each replica's final ``state_dict`` as ``DIR/rank<r>.npz`` and the
single-process run's as ``DIR/single.npz``. Needs ``pip install 'readable-nn[interop]'``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import ProcessRaisedException, spawn
from torch.nn.parallel import DistributedDataParallel

import nn
from nn.interop import from_torch, to_torch

FEATURES, CLASSES, BATCH, LR = 8, 3, 32, 0.2


def make_model() -> nn.Layer:
    """The model, built in nn: the same seed gives every process the same weights."""
    gen = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(FEATURES, 16, rng=gen, dtype=np.float64), nn.Tanh(),
                         nn.LayerNorm(16, dtype=np.float64),
                         nn.Linear(16, CLASSES, init="xavier", rng=gen, dtype=np.float64))


def make_batches(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` global batches: x (steps, BATCH, FEATURES), labels (steps, BATCH) of a
    noisy linear rule (the same in every process: a fixed seed)."""
    gen = np.random.default_rng(1)
    x = gen.standard_normal((steps, BATCH, FEATURES))
    w = gen.standard_normal((FEATURES, CLASSES))
    labels = np.argmax(x @ w + 0.3 * gen.standard_normal((steps, BATCH, CLASSES)), axis=-1)
    return x, labels


def train(module: torch.nn.Module, x: np.ndarray, labels: np.ndarray, rank: int = 0,
          world_size: int = 1) -> None:
    """SGD on each global batch; this process sees its slice ``rank`` of ``world_size``."""
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    per = BATCH // world_size
    mine = slice(rank * per, (rank + 1) * per)
    for xb, yb in zip(x, labels):
        opt.zero_grad()
        logits = module(torch.from_numpy(xb[mine]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yb[mine]))
        loss.backward()            # DDP: all-reduces (averages) the gradients here
        opt.step()


def worker(rank: int, world_size: int, port: int, steps: int, out: str) -> None:
    """One process of the DDP run: join the group, train its slices, save its weights."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        module = to_torch(make_model())
        ddp = DistributedDataParallel(module)          # broadcasts rank 0's weights
        x, labels = make_batches(steps)
        train(ddp, x, labels, rank, world_size)
        nn.save(from_torch(module), Path(out) / f"rank{rank}.npz")   # back in nn
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    """A port that is free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_interface() -> str:
    """The name of the loopback network interface (``lo`` on Linux, ``lo0`` on macOS), so
    that gloo's connections stay on 127.0.0.1."""
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), "lo")


def run_ddp(world_size: int, steps: int, out: Path, attempts: int = 3) -> None:
    """Start ``world_size`` workers. The port is free when chosen but could be taken before
    rank 0 binds it: then the run is retried on another port (any other error is raised)."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback_interface())
    for attempt in range(attempts):
        try:
            spawn(worker, args=(world_size, free_port(), steps, str(out)), nprocs=world_size,
                  join=True)
            return
        except ProcessRaisedException as exc:
            if "address already in use" not in str(exc).lower() or attempt == attempts - 1:
                raise


def run_single(steps: int) -> nn.Layer:
    """The reference: one process, the whole global batches, no DDP."""
    module = to_torch(make_model())
    x, labels = make_batches(steps)
    train(module, x, labels)
    return from_torch(module)


def load(path: Path) -> nn.Layer:
    """A model saved by a worker, read back into the model's architecture."""
    return nn.load(make_model(), path)


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if BATCH % args.world_size:
        parser.error(f"--world-size must divide the global batch size {BATCH}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        run_ddp(args.world_size, args.steps, out)
        seconds = time.perf_counter() - start
        replicas = [load(out / f"rank{r}.npz").state_dict() for r in range(args.world_size)]
        single = run_single(args.steps)
        nn.save(single, out / "single.npz")

    spread = max(max_difference(replicas[0], r) for r in replicas[1:]) \
        if args.world_size > 1 else 0.0
    print(f"DDP: {args.world_size} processes x {args.steps} steps in {seconds:.1f} s")
    print(f"largest difference between replicas:            {spread:.3g}")
    print(f"largest difference to the single-process run:  "
          f"{max_difference(replicas[0], single.state_dict()):.3g}")
    model = make_model()
    model.load_state_dict(replicas[0])                 # the trained weights, back in nn
    x, labels = make_batches(args.steps)
    loss = nn.CrossEntropyLoss().forward(model.forward(x.reshape(-1, FEATURES)),
                                         labels.reshape(-1))
    print(f"trained model back in nn: mean loss over the data {loss:.4f} "
          f"(untrained: {np.log(CLASSES):.4f} for uniform guesses)")


if __name__ == "__main__":
    main()
