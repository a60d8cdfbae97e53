"""MNIST-1D: ``nn.datasets.load_mnist1d`` (the mnist1d package's generator, an optional
extra) and the jobs ``python -m nn --model mnist1d-*`` in tiny configurations.

The loader: the recipe's shapes and dtypes, the same data for the same seed, the caller's
random streams untouched, the cache folder (written atomically, read back, ``~`` expanded,
a corrupt file named), bad arguments, and the install hint when the package is missing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np
import pytest

import nn
from nn.__main__ import train
from nn.datasets import mnist1d as m1d

pytest.importorskip("mnist1d")
pytestmark = pytest.mark.usefixtures("allow_underflow")


def test_default_recipe_shapes_dtypes_and_labels():
    x, y = nn.datasets.load_mnist1d()
    xt, yt = nn.datasets.load_mnist1d(split="test")
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(yt))
    assert 300 < np.bincount(y).min() and np.bincount(y).max() < 500
    # the package centres the whole set and scales it to unit deviation
    both = np.concatenate([x, xt])
    assert abs(both.mean()) < 1e-5 and abs(both.std() - 1) < 1e-4
    # train and test are different sequences
    assert not (x[:, None, :5] == xt[None, :, :5]).all(axis=2).any()


def test_same_seed_same_data_and_fresh_arrays():
    x1, y1 = nn.datasets.load_mnist1d()
    x1[:] = 0                                   # a copy: the next call is unaffected
    x2, y2 = nn.datasets.load_mnist1d()
    assert np.array_equal(y1, y2) and np.abs(x2).sum() > 0


def test_another_seed_is_the_packages_recipe_and_leaves_the_callers_streams_alone():
    """Two generations (slow: one test): ours for seed 7, then the package's own."""
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(5)                           # noqa: NPY002 - the streams the package seeds
    random.seed(5)
    x, y = nn.datasets.load_mnist1d(seed=7, split="test")
    got = (np.random.rand(), random.random())   # noqa: NPY002
    np.random.seed(5)                           # noqa: NPY002
    random.seed(5)
    assert got == (np.random.rand(), random.random())  # noqa: NPY002
    args = get_dataset_args()
    args.seed = 7
    ref = make_dataset(args)
    np.testing.assert_allclose(x, ref["x_test"], rtol=1e-6, atol=1e-6)
    assert np.array_equal(y, ref["y_test"])
    assert not np.allclose(x, nn.datasets.load_mnist1d(split="test")[0])   # seed 42's


def test_cache_is_written_atomically_and_read_back(tmp_path, monkeypatch):
    x, y = nn.datasets.load_mnist1d(tmp_path, "test")
    folder = tmp_path / "mnist1d"
    assert sorted(os.listdir(folder)) == ["mnist1d_seed42.npz"]    # no temporary left
    monkeypatch.setattr(m1d, "_generated", _no_generation)
    x2, y2 = nn.datasets.load_mnist1d(tmp_path, "test")            # read from the file
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    xtr, _ = nn.datasets.load_mnist1d(os.fspath(tmp_path), "train")
    assert xtr.shape == (4000, 40)


def _no_generation(seed):
    raise AssertionError("generated although the cache holds the file")


def test_root_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    nn.datasets.load_mnist1d("~/data", seed=42)
    assert (tmp_path / "data" / "mnist1d" / "mnist1d_seed42.npz").exists()


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(m1d.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        nn.datasets.load_mnist1d(tmp_path)
    assert os.listdir(tmp_path / "mnist1d") == []


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_a_corrupt_cache_file_is_named(tmp_path, content):
    (tmp_path / "mnist1d").mkdir()
    bad = tmp_path / "mnist1d" / "mnist1d_seed42.npz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"load_mnist1d: the cached file .*mnist1d_seed42"
                                         r"\.npz is unreadable"):
        nn.datasets.load_mnist1d(tmp_path)


def test_a_cache_file_of_the_wrong_shape_is_named(tmp_path):
    (tmp_path / "mnist1d").mkdir()
    bad = tmp_path / "mnist1d" / "mnist1d_seed42.npz"
    np.savez(bad, x_train=np.zeros((10, 40)), y_train=np.zeros(10), x_test=np.zeros((5, 40)),
             y_test=np.zeros(5))
    with pytest.raises(ValueError, match=r"the cached file .*seed42\.npz holds train arrays "
                                         r"of shapes \(10, 40\)"):
        nn.datasets.load_mnist1d(tmp_path)


@pytest.mark.parametrize("kw, match", [
    (dict(split="validation"), "split must be 'train' or 'test', got 'validation'"),
    (dict(seed=-1), "seed must be an integer"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(seed=True), "seed must be an integer"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        nn.datasets.load_mnist1d(**kw)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)      # import fails
    with pytest.raises(ImportError, match=r"pip install 'readable-nn\[mnist1d\]'"):
        m1d._generate(11)                                       # what load_mnist1d runs


# ---------------------------------------------------------------------- the jobs
def _args(model, **kw):
    from nn.jobs import load_job

    args = argparse.Namespace(model=model, seed=0, save=None, plot=None, verbose=0,
                              optimizer=None, lr=None, epochs=None, batch_size=None,
                              hidden=None, augment=False, subset=400)
    for k, v in {**load_job(model).DEFAULTS, "epochs": 3, **kw}.items():
        setattr(args, k, v)
    return args


@pytest.mark.parametrize("model, chance_beaten", [("mnist1d-linear", 0.15),
                                                  ("mnist1d-mlp", 0.15),
                                                  ("mnist1d-cnn", 0.15),
                                                  ("mnist1d-gru", 0.15)])
def test_each_job_trains_in_a_tiny_configuration(model, chance_beaten, capsys):
    metrics = train(_args(model))
    assert set(metrics) >= {"loss", "accuracy"}
    assert metrics["accuracy"] > chance_beaten and np.isfinite(metrics["loss"])
    assert "test accuracy" in capsys.readouterr().out


def test_augment_changes_the_training_and_is_reproducible():
    plain = train(_args("mnist1d-mlp", epochs=2))
    aug = train(_args("mnist1d-mlp", epochs=2, augment=True))
    again = train(_args("mnist1d-mlp", epochs=2, augment=True))
    assert aug == again and aug != plain


def test_bidirectional_gru_matches_torch():
    torch = pytest.importorskip("torch")
    from nn.jobs.mnist1d import Bidirectional

    g = np.random.default_rng(0)
    layer = Bidirectional(nn.GRU(1, 3, rng=1, dtype=np.float64),
                          nn.GRU(1, 3, rng=2, dtype=np.float64))
    ref = torch.nn.GRU(1, 3, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for sfx, gru in (("", layer.forward_layer), ("_reverse", layer.backward_layer)):
            getattr(ref, f"weight_ih_l0{sfx}").copy_(torch.tensor(gru.weight_ih.data.T))
            getattr(ref, f"weight_hh_l0{sfx}").copy_(torch.tensor(gru.weight_hh.data.T))
            getattr(ref, f"bias_ih_l0{sfx}").copy_(torch.tensor(gru.bias_ih.data))
            getattr(ref, f"bias_hh_l0{sfx}").copy_(torch.tensor(gru.bias_hh.data))
    x = g.standard_normal((4, 7, 1))
    grad = g.standard_normal((4, 7, 6))
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = ref(xt)
    yt.backward(torch.tensor(grad))
    y = layer.forward(x)
    dx = layer.backward(grad)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward_layer.weight_hh.grad,
                               ref.weight_hh_l0_reverse.grad.numpy().T, rtol=0, atol=1e-12)


def test_bidirectional_gradients_against_central_differences():
    from nn.jobs.mnist1d import Bidirectional

    layer = Bidirectional(nn.GRU(2, 3, rng=1, dtype=np.float64),
                          nn.GRU(2, 3, rng=2, dtype=np.float64))
    x = np.random.default_rng(3).standard_normal((3, 5, 2))
    nn.assert_gradcheck(layer, x)      # input and all eight parameters, random upstream


def test_augment_is_refused_for_a_job_without_it():
    with pytest.raises(SystemExit, match="--augment is not available for --model mlp"):
        train(_args("mlp", augment=True))


def test_jobs_without_the_package_exit_with_the_install_hint(monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("load_mnist1d generates MNIST-1D with the mnist1d package, which "
                          "is not installed: pip install 'readable-nn[mnist1d]'")

    monkeypatch.setattr(nn.datasets, "load_mnist1d", missing)
    with pytest.raises(SystemExit, match=r"--model mnist1d-gru: .*pip install "
                                         r"'readable-nn\[mnist1d\]'"):
        train(_args("mnist1d-gru"))


def test_an_unwritable_cache_folder_is_named(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=r"load_mnist1d: cannot write the cache folder "
                                      r".*a_file.*mnist1d"):
        nn.datasets.load_mnist1d(blocker)


def test_bidirectional_needs_whole_sequences():
    from nn.jobs.mnist1d import Bidirectional

    with pytest.raises(ValueError, match="Bidirectional: .*return_sequences=True"):
        Bidirectional(nn.GRU(1, 3), nn.GRU(1, 3, return_sequences=False))
