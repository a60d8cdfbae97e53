"""Every optimizer rule reproduces its recorded trajectory bit for bit.

The fixture ``tests/data/optim_trajectories.npz`` was written by
``tests/data/make_optim_trajectories.py`` (which also defines the cases: every rule and
option, float32 and float64, a parameter larger than one chunk, a frozen parameter, groups,
an lr change, an unfreeze, a state-dict round trip half-way) from the optimizers as they
were before their rules were rewritten as plain expressions; the plain rules and the
fast forms kept beside two of them must both reproduce it. Any change of evaluation
order or rounding in a rule, in the chunking or in the state dict shows up here as a
changed bit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_optim_trajectories",
                                                  DATA / "make_optim_trajectories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()
CASES = [(name, dtype) for name in MAKER.cases() for dtype in ("float32", "float64")]


@pytest.fixture(scope="module")
def recorded():
    with np.load(MAKER.FIXTURE) as f:
        return {k: f[k] for k in f.files}


def test_fixture_covers_every_case(recorded):
    expected = {f"{name}/{dtype}" for name, dtype in CASES}
    assert {k.rsplit("/", 1)[0] for k in recorded} == expected


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
@pytest.mark.parametrize("name,dtype", CASES)
def test_trajectory_is_bit_identical_to_the_recorded_one(name, dtype, fast, recorded):
    """``fast=False`` runs each rule's plain ``update`` (the math as written in
    docs/math/optimizers.md), ``fast=True`` its ``update_fast`` where it has one (SGD's
    heavy-ball momentum, Adam, AdamW): both give the recorded bits."""
    got = MAKER.run_case(name, dtype, fast)
    assert got.keys() == {k for k in recorded if k.startswith(f"{name}/{dtype}/")}
    for key, value in got.items():
        want = recorded[key]
        assert value.dtype == want.dtype, f"{key}: dtype {value.dtype}, recorded {want.dtype}"
        assert value.shape == want.shape, f"{key}: shape {value.shape}, recorded {want.shape}"
        if not np.array_equal(value, want):
            where = np.argwhere(value != want)[0]
            pytest.fail(f"{key} differs from the recording first at {tuple(where)}: "
                        f"{value[tuple(where)]!r} != {want[tuple(where)]!r}")


def test_digest_of_a_large_array_sees_one_ulp_and_the_dtype():
    """The large parameter is compared through its SHA-256 (plus samples): one ulp on one
    coordinate, or the same values in another dtype, is a different digest."""
    a = np.random.default_rng(0).standard_normal(66_000).astype(np.float32)
    b = a.copy()
    b[40_000] = np.nextafter(b[40_000], np.float32(np.inf))
    assert MAKER.digest(a) == MAKER.digest(a.copy())
    assert MAKER.digest(a) != MAKER.digest(b)
    assert MAKER.digest(a) != MAKER.digest(a.astype(np.float64))
