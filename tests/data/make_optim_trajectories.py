"""Reference trajectories of every optimizer rule, for the bit-for-bit regression test.

Run from the repository root to (re)write the fixture beside this file::

    python tests/data/make_optim_trajectories.py

``tests/test_optim_trajectories.py`` imports :func:`run_all` from here, runs it against the
code in the working tree and compares with ``optim_trajectories.npz`` with
``np.array_equal`` and equal dtypes. The fixture was recorded from the optimizers as they
were before the rules were rewritten as plain expressions (issue 13), so a rewrite that
changes a single bit of a single step fails. Rewrite the fixture only for an intended
change of arithmetic, and say so in the commit.

What one case is
----------------
A rule with one option combination, in float32 or float64, over a handful of parameters:
shapes (3, 4), (5,), (1,) and a large (264, 250) one (66 000 elements, more than one
``CHUNK_BYTES`` = 256 KiB chunk in either dtype, so the chunked update is exercised and a
chunk boundary falls inside a parameter), plus a frozen parameter that must never move.
``STEPS`` steps with pseudo-random gradients (a numpy Generator seeded per case; scales from
1e-3 to 10, some exact zeros), and half-way a state-dict round trip: the state dict is
deep-copied and loaded into a fresh optimizer built on fresh parameters holding the same
values, which continues the run. A few cases also change ``lr`` mid-run, unfreeze a
parameter mid-run (two partitions with different step counts) or use parameter groups.

What is stored
--------------
For every step, every parameter's values; at the end, every array of the state dict and its
``step`` counts. Arrays of at most ``EXACT_MAX`` elements are stored exactly; the large
parameter (and its state) is stored as 46 fixed sample coordinates (both sides of every
chunk boundary included) plus the SHA-256 of its bytes, which is bit identity too and keeps
the file small (about 370 kB instead of tens of MB).
"""

from __future__ import annotations

import copy
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("optim_trajectories.npz")
STEPS = 8
ROUND_TRIP_AT = 4       # the state dict is saved after this many steps and loaded into a twin
SHAPES = [(3, 4), (5,), (1,), (264, 250)]
FROZEN_SHAPE = (2, 3)
EXACT_MAX = 1000
SAMPLE = np.unique(np.concatenate([
    np.linspace(0, 66_000 - 1, 40).astype(np.int64),
    # both sides of the chunk boundaries inside the large parameter: the flat buffer holds
    # 12 + 5 + 1 = 18 elements before it; chunks are 65 536 float32 or 32 768 float64 long
    [65_536 - 18 - 1, 65_536 - 18, 32_768 - 18 - 1, 32_768 - 18, 2 * 32_768 - 18 - 1,
     2 * 32_768 - 18],
]))


def cases():
    """``{name: (factory(params_or_groups) -> optimizer, options)}``; options: ``groups``
    (split the parameters in two groups, the second with the given hyper-parameters),
    ``lr_change`` (halve every group's lr after this step), ``unfreeze`` (parameter 1 starts
    frozen and is unfrozen after this step)."""
    import optim

    c = {
        "sgd": (lambda ps: optim.SGD(ps, lr=0.05), {}),
        "sgd_wd": (lambda ps: optim.SGD(ps, lr=0.05, weight_decay=0.01), {}),
        "sgd_momentum": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), {}),
        "sgd_momentum_wd": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9,
                                                 weight_decay=0.01), {}),
        "sgd_dampening": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3), {}),
        "sgd_nesterov": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), {}),
        "sgd_nesterov_wd": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                 weight_decay=0.02), {}),
        "sgd_groups": (lambda gs: optim.SGD(gs, lr=0.05, momentum=0.9),
                       {"groups": {"lr": 0.2, "momentum": 0.5, "weight_decay": 0.1}}),
        "sgd_momentum_lr_change": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                   {"lr_change": 3}),
        "sgd_momentum_unfreeze": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                  {"unfreeze": 2}),
        "momentum": (lambda ps: optim.Momentum(ps, lr=0.03), {}),
        "adam": (lambda ps: optim.Adam(ps, lr=0.01), {}),
        "adam_wd": (lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1), {}),
        "adam_amsgrad": (lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True), {}),
        "adam_amsgrad_wd": (lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1,
                                                  amsgrad=True), {}),
        "adam_lerp_branch2": (lambda ps: optim.Adam(ps, lr=0.01, betas=(0.3, 0.99),
                                                    eps=1e-3), {}),
        "adam_groups": (lambda gs: optim.Adam(gs, lr=0.01),
                        {"groups": {"lr": 0.003, "betas": (0.5, 0.9), "amsgrad": True}}),
        "adam_lr_change": (lambda ps: optim.Adam(ps, lr=0.01), {"lr_change": 5}),
        "adam_unfreeze": (lambda ps: optim.Adam(ps, lr=0.01), {"unfreeze": 3}),
        "adamw": (lambda ps: optim.AdamW(ps, lr=0.01), {}),
        "adamw_wd_amsgrad": (lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.3,
                                                    amsgrad=True), {}),
        "adamw_groups": (lambda gs: optim.AdamW(gs, lr=0.01),
                         {"groups": {"weight_decay": 0.0, "betas": (0.2, 0.5)}}),
        "rmsprop": (lambda ps: optim.RMSprop(ps, lr=0.01), {}),
        "rmsprop_momentum": (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9), {}),
        "rmsprop_centered": (lambda ps: optim.RMSprop(ps, lr=0.01, centered=True), {}),
        "rmsprop_centered_momentum_wd": (lambda ps: optim.RMSprop(
            ps, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.05), {}),
        "rmsprop_centered_lerp_branch2": (lambda ps: optim.RMSprop(
            ps, lr=0.01, alpha=0.3, eps=1e-4, centered=True), {}),
        "rmsprop_wd": (lambda ps: optim.RMSprop(ps, lr=0.01, weight_decay=0.1), {}),
        "rmsprop_unfreeze": (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9),
                             {"unfreeze": 2}),
        "adagrad": (lambda ps: optim.Adagrad(ps, lr=0.1), {}),
        "adagrad_lr_decay": (lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.05), {}),
        "adagrad_wd_init": (lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.1,
                                                     initial_accumulator_value=0.3,
                                                     eps=1e-6), {}),
        "adagrad_groups": (lambda gs: optim.Adagrad(gs, lr=0.1),
                           {"groups": {"lr_decay": 0.1, "lr": 0.5}}),
    }
    return c


def _gradients(rng: np.random.Generator, dtype) -> list[list[np.ndarray]]:
    grads = []
    for _ in range(STEPS):
        step = []
        for shape in SHAPES:
            scale = 10.0 ** rng.uniform(-3, 1, size=shape)
            g = rng.standard_normal(shape) * scale
            g[rng.random(shape) < 0.05] = 0.0
            step.append(g.astype(dtype))
        grads.append(step)
    return grads


def _make_params(values, frozen_value, unfreeze):
    import nn

    params = [nn.Parameter(v) for v in values]
    frozen = nn.Parameter(frozen_value, requires_grad=False)
    if unfreeze is not None:
        params[1].requires_grad = False
    return params, frozen


def _build(factory, params, frozen, options, fast):
    if "groups" in options:
        first = [params[0], params[3], frozen]
        second = {"params": [params[1], params[2]], **options["groups"]}
        opt = factory([{"params": first}, second])
    else:
        opt = factory(params + [frozen])
    if fast is not None:
        opt.fast = fast
    return opt


def _pack(arrays: list[np.ndarray], dtype) -> tuple[np.ndarray, list[str]]:
    """The arrays side by side in one vector: small ones whole, large ones by their sample
    coordinates (and their digests, returned beside)."""
    parts, digests = [], []
    for arr in arrays:
        flat = np.asarray(arr).reshape(-1)
        if flat.size <= EXACT_MAX:
            parts.append(flat)
        else:
            parts.append(flat[SAMPLE])
            digests.append(digest(arr))
    return np.concatenate([np.zeros(0, dtype)] + parts), digests


def digest(arr: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order)."""
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_case(name: str, dtype, fast: bool | None = None) -> dict[str, np.ndarray]:
    """One case's recorded arrays, keyed ``"<name>/<dtype>/..."``; ``fast`` sets the
    optimizer's ``fast`` flag (None: leave the default)."""
    factory, options = cases()[name]
    dtype = np.dtype(dtype)
    seed = int.from_bytes(hashlib.sha256(f"{name}/{dtype}".encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    frozen_value = rng.standard_normal(FROZEN_SHAPE).astype(dtype)
    grads = _gradients(rng, dtype)
    unfreeze = options.get("unfreeze")
    params, frozen = _make_params(values, frozen_value, unfreeze)
    opt = _build(factory, params, frozen, options, fast)
    rows, sha = [], []
    for t in range(1, STEPS + 1):
        opt.zero_grad()
        for i, (p, g) in enumerate(zip(params, grads[t - 1])):
            if not p.requires_grad:
                continue
            if i % 2:
                p.add_grad(g)          # the layers' path (overwrite after zero_grad)
            else:
                p.grad[...] = g        # a user's path (the array handed out)
        frozen.grad[...] = 1.0         # a frozen parameter ignores whatever is in its grad
        opt.step()
        row, digests = _pack([p.data for p in params], dtype)
        rows.append(row)
        sha.extend(digests)
        if t == options.get("lr_change"):
            for group in opt.param_groups:
                group["lr"] = group["lr"] * 0.5
        if t == unfreeze:
            params[1].requires_grad = True
        if t == ROUND_TRIP_AT:
            saved = copy.deepcopy(opt.state_dict())
            twins, frozen = _make_params([p.data for p in params], frozen.data, None)
            for p, twin in zip(params, twins):
                twin.requires_grad = p.requires_grad
            params = twins
            opt = _build(factory, params, frozen, options, fast)
            opt.load_state_dict(saved)
    assert np.array_equal(frozen.data, frozen_value), f"{name}: the frozen parameter moved"
    keys, arrays, steps = [], [], []
    for index, entry in sorted(opt.state_dict()["state"].items()):
        for k, v in sorted(entry.items()):
            if isinstance(v, np.ndarray):
                keys.append(f"{index}/{k}{v.shape}")
                arrays.append(v)
            else:
                keys.append(f"{index}/{k}")
                steps.append(v)
    state, state_sha = _pack(arrays, dtype)
    prefix = f"{name}/{dtype}"
    return {f"{prefix}/trajectory": np.stack(rows),
            f"{prefix}/trajectory_sha256": np.array(sha, dtype="U64"),
            f"{prefix}/state": state,
            f"{prefix}/state_sha256": np.array(state_sha, dtype="U64"),
            f"{prefix}/state_keys": np.array(keys), f"{prefix}/state_steps": np.array(steps)}


def run_all() -> dict[str, np.ndarray]:
    """Every case in float32 and float64."""
    out: dict[str, np.ndarray] = {}
    for name in cases():
        for dtype in (np.float32, np.float64):
            out.update(run_case(name, dtype))
    return out


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with np.errstate(all="raise", under="ignore"):
        arrays = run_all()
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(arrays)} arrays, "
          f"{FIXTURE.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
