"""MaxPool1d and AvgPool1d: property-based gradient checks (max-pool inputs kept away from
ties by construction), ties sending the gradient to exactly one element, overlapping
windows accumulating, shapes against the closed form, values by hand and against PyTorch,
both memory layouts, backward into dirty reused memory; and a 1-D CNN (Conv1d, pooling)
end to end: gradients, summary, save/load and checkpoints.

Derivations: docs/math/conv.md, "One dimension".
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, seeds
from test_pooling import (
    assert_backward_fills_garbage_memory,
    assert_pool_matches_torch,
    assert_reused_equals_fresh,
    channels_last,
    distinct,
    torch_pool,
)

import nn
import optim

F64 = np.float64
F32 = np.float32
POOLS = [nn.MaxPool1d, nn.AvgPool1d]


@st.composite
def pool1d_configs(draw, max_len=9):
    """(N, C, L, kernel, stride, padding): overlapping windows (stride < kernel), gaps
    (stride > kernel), padding up to half the kernel, a batch of one; the padded input
    always holds at least one window."""
    k = draw(st.integers(1, 4), label="k")
    s = draw(st.integers(1, 4), label="s")
    p = draw(st.integers(0, k // 2), label="p")
    least = max(1, k - 2 * p)
    L = draw(st.integers(least, least + max_len - 1), label="L")
    N = draw(st.integers(1, 2), label="N")
    C = draw(st.integers(1, 3), label="C")
    return N, C, L, k, s, p


def pool1d_reference(layer, x: np.ndarray, g: np.ndarray):
    """(y, dx) of ``layer``'s pooling by a loop over windows, PyTorch's semantics."""
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    is_max = isinstance(layer, nn.MaxPool1d)
    N, C, L = x.shape
    xp = np.full((N, C, L + 2 * p), -np.inf if is_max else 0.0)
    xp[:, :, p:p + L] = x
    Lo = (L + 2 * p - k) // s + 1
    y = np.zeros((N, C, Lo))
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(Lo):
                win = xp[n, c, i * s:i * s + k]
                if is_max:
                    a = int(np.argmax(win))                  # the first maximum
                    y[n, c, i] = win[a]
                    dxp[n, c, i * s + a] += g[n, c, i]
                else:
                    y[n, c, i] = win.sum() / k               # padding counts
                    dxp[n, c, i * s:i * s + k] += g[n, c, i] / k
    return y, dxp[:, :, p:p + L]


# ---------------------------------------------------------------------- gradient checks
@given(data=st.data())
def test_maxpool1d_gradcheck_without_ties(data):
    N, C, L, k, s, p = data.draw(pool1d_configs(), label="config")
    x = distinct(data.draw(arrays((N, C, L)), label="values"))
    if data.draw(st.booleans(), label="channels-last"):
        x = channels_last(x)
    report = nn.assert_gradcheck(nn.MaxPool1d(k, s, p), x, seed=data.draw(seeds, label="seed"))
    assert report["input"].kinks == 0


@given(data=st.data())
def test_avgpool1d_gradcheck(data):
    N, C, L, k, s, p = data.draw(pool1d_configs(), label="config")
    x = data.draw(arrays((N, C, L)), label="x")
    if data.draw(st.booleans(), label="channels-last"):
        x = channels_last(x)
    nn.assert_gradcheck(nn.AvgPool1d(k, s, p), x, seed=data.draw(seeds, label="seed"))


@given(data=st.data())
def test_both_against_the_loop_reference(data):
    """Values and input gradients equal a loop over windows, for any configuration."""
    N, C, L, k, s, p = data.draw(pool1d_configs(max_len=12), label="config")
    rng = np.random.default_rng(data.draw(seeds, label="seed"))
    x = rng.standard_normal((N, C, L))
    for cls in POOLS:
        layer = cls(k, s, p)
        g = rng.standard_normal(layer.output_shape(x.shape))
        y_ref, dx_ref = pool1d_reference(layer, x, g)
        np.testing.assert_allclose(layer(x), y_ref, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(layer.backward(g), dx_ref, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------- shapes
@given(cfg=pool1d_configs(max_len=16))
def test_output_shapes_match_the_closed_form(cfg):
    N, C, L, k, s, p = cfg
    for cls in POOLS:
        layer = cls(k, s, p)
        y = layer(np.zeros((N, C, L), F32))
        assert y.shape == (N, C, (L + 2 * p - k) // s + 1) == layer.output_shape((N, C, L))
        assert layer.backward(np.ones(y.shape, F32)).shape == (N, C, L)


@pytest.mark.parametrize("cls", POOLS)
def test_arguments_stride_default_and_one_element_tuples(cls):
    assert cls(3).stride == 3 and cls(3, 1).stride == 1
    layer = cls((3,), (2,), [1])
    assert (layer.kernel_size, layer.stride, layer.padding) == (3, 2, 1)
    assert repr(layer) == f"{cls.__name__}(kernel_size=3, stride=2, padding=1)"
    assert cls(2)(np.zeros((1, 1, 7), F32)).shape == (1, 1, 3)


# ---------------------------------------------------------------------- values by hand
def test_maxpool1d_values_by_hand_with_padding_and_overlap():
    x = np.array([[[1.0, 5.0, 2.0, 2.0, -3.0, 4.0]]])
    # kernel 3, stride 2, padding 1: windows of xp = (-inf 1 5 2 2 -3 4 -inf) at 0, 2, 4
    layer = nn.MaxPool1d(3, 2, 1)
    np.testing.assert_array_equal(layer(x), [[[5.0, 5.0, 4.0]]])
    # x[1] = 5 is the maximum of two overlapping windows: it gets both gradients
    np.testing.assert_array_equal(layer.backward(np.array([[[1.0, 10.0, 100.0]]])),
                                  [[[0.0, 11.0, 0.0, 0.0, 0.0, 100.0]]])
    # ties (2, 2): the first maximum takes the whole gradient, as in PyTorch
    layer = nn.MaxPool1d(2)
    np.testing.assert_array_equal(layer(x), [[[5.0, 2.0, 4.0]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[1.0, 2.0, 3.0]]])),
                                  [[[0.0, 1.0, 2.0, 0.0, 0.0, 3.0]]])


def test_avgpool1d_values_by_hand_count_include_pad():
    x = np.array([[[3.0, 6.0, 9.0, 12.0, 15.0]]])
    # kernel 3, stride 2, padding 1: xp = (0 3 6 9 12 15 0); the zero counts in the mean
    layer = nn.AvgPool1d(3, 2, 1)
    np.testing.assert_array_equal(layer(x), [[[3.0, 9.0, 9.0]]])
    # every entry of window i gets g[i] / 3 = (1, 2, 3)[i]; windows (x0 x1), (x1 x2 x3),
    # (x3 x4) plus padding, so x[1] and x[3] sit in two windows
    np.testing.assert_array_equal(layer.backward(np.array([[[3.0, 6.0, 9.0]]])),
                                  [[[1.0, 1 + 2.0, 2.0, 2 + 3.0, 3.0]]])
    # stride 3 > kernel 2 on length 7: x[2] and x[5] are in no window, x[6] neither
    layer = nn.AvgPool1d(2, 3)
    np.testing.assert_array_equal(layer(np.arange(7.0)[None, None]), [[[0.5, 3.5]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[2.0, 4.0]]])),
                                  [[[1.0, 1.0, 0.0, 2.0, 2.0, 0.0, 0.0]]])


def test_ties_send_each_windows_gradient_to_exactly_one_element():
    """A constant input: every window is a tie; each sends its g to its first entry."""
    x = np.zeros((2, 3, 9))
    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (4, 3, 2)]:
        layer = nn.MaxPool1d(k, s, p)
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
        assert dx.sum() == y.size and set(np.unique(dx)) <= {0.0, 1.0, 2.0, 3.0}
        torch = pytest.importorskip("torch")
        xt = torch.from_numpy(x).requires_grad_(True)
        torch_pool(torch, layer)(xt).sum().backward()
        np.testing.assert_array_equal(dx, xt.grad.numpy())


# ---------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("cls", POOLS)
@pytest.mark.parametrize("k,s,p,layout", [
    (2, None, 0, "ncl"), (2, None, 0, "nlc"), (3, 2, 1, "ncl"), (3, 2, 1, "nlc"),
    (3, 1, 1, "nlc"), (4, 3, 2, "ncl"), (1, 3, 0, "ncl"), (5, 2, 2, "nlc"),
])
def test_matches_torch(cls, k, s, p, layout):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 13))
    assert_pool_matches_torch(torch, cls(k, s, p), x, layout == "nlc")


# ---------------------------------------------------------------------- dtype, layout, contract
@pytest.mark.parametrize("cls", POOLS)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_kept_and_arguments_untouched(cls, dtype):
    layer = cls(2, 1, 1)
    x = np.random.default_rng(0).standard_normal((2, 3, 6)).astype(dtype)
    x0 = x.copy()
    y = layer(x)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    g0 = g.copy()
    dx = layer.backward(g)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)
    if dtype == F32:     # a float64 upstream gradient is cast, never promotes the result
        assert layer.backward(g.astype(F64)).dtype == F32


@pytest.mark.parametrize("cls", POOLS)
def test_layouts_give_identical_results_and_keep_the_input_layout(cls):
    x = np.random.default_rng(0).standard_normal((2, 4, 8))
    g = np.random.default_rng(1).standard_normal((2, 4, 4))
    a, b = cls(2), cls(2)
    ya, yb = a(x), b(channels_last(x))
    np.testing.assert_array_equal(ya, yb)
    assert ya.flags.c_contiguous and yb.transpose(0, 2, 1).flags.c_contiguous
    for grad in (g, channels_last(g)):              # either layout of upstream gradient
        np.testing.assert_array_equal(a.backward(grad), b.backward(grad))


@pytest.mark.parametrize("cls", POOLS)
def test_errors_name_the_layer_and_shapes(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}\(kernel_size=5.*kernel 5 is larger than "
                                         r"the padded input 4 \(input shape \(1, 1, 2\)"):
        cls(5, padding=1)(np.zeros((1, 1, 2), F32))
    with pytest.raises(ValueError, match=rf"{name}.*\(N, C, L\).*\(2, 3\)"):
        cls(2)(np.zeros((2, 3), F32))
    with pytest.raises(ValueError, match=r"\(N, C, L\).*\(1, 2, 3, 4\)"):
        cls(2)(np.zeros((1, 2, 3, 4), F32))
    with pytest.raises(TypeError, match=rf"{name}.*floating"):
        cls(2)(np.zeros((1, 2, 4), np.int32))
    for k, p in ((2, 2), (3, 2), (1, 1)):
        with pytest.raises(ValueError, match=rf"{name}: padding {p} must be at most half"):
            cls(k, padding=p)
    assert cls(3, padding=1).padding == 1 and cls(4, padding=2).padding == 2
    for bad in (0, -1, 2.5, (2, 2), "2", True):
        with pytest.raises(ValueError, match=rf"{name}: kernel_size must be an int"):
            cls(bad)
    with pytest.raises(ValueError, match=rf"{name}: stride must be an int"):
        cls(2, stride=0)
    with pytest.raises(ValueError, match=rf"{name}: padding must be an int"):
        cls(2, padding=-1)
    with pytest.raises(RuntimeError, match=rf"{name}.*before forward"):
        cls(2).backward(np.zeros((1, 1, 1), F32))
    layer = cls(2)
    layer(np.zeros((1, 1, 4), F32))
    with pytest.raises(ValueError, match=rf"{name}.*gradient of shape \(1, 1, 2\).*\(1, 1, 3\)"):
        layer.backward(np.zeros((1, 1, 3), F32))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 1, 2\).*\(1, 2\)"):
        layer.backward(np.zeros((1, 2), F32))      # no silent broadcast


# ---------------------------------------------------------------------- dirty memory
# As in test_pooling.py: fresh memory full of garbage and reused work arrays; entries no
# window reaches (stride > kernel, a tail that fills no window, padding) must get exactly 0.
DIRTY_CASES = [
    ((2, 3, 7), 3, 3, 1),             # stride == kernel, padding: every window complete
    ((2, 3, 7), 3, None, 0),          # x[6] in no window
    ((1, 2, 9), 2, 3, 0),             # stride > kernel: gaps
    ((1, 2, 8), 2, 2, 0),             # exact tiling
    ((2, 3, 8), 3, 1, 1),             # overlapping windows
    ((1, 2, 10), 4, 3, 2),            # padding on the left only reached
]


@pytest.mark.parametrize("cls", POOLS)
@pytest.mark.parametrize("layout", ["ncl", "nlc"])
@pytest.mark.parametrize("shape,k,s,p", DIRTY_CASES)
def test_backward_writes_every_entry_into_garbage_memory(cls, layout, shape, k, s, p):
    assert_backward_fills_garbage_memory(cls(k, s, p), shape, layout == "nlc",
                                         pool1d_reference)


@given(cfg=pool1d_configs(max_len=10), seed=seeds, layout=st.sampled_from(["ncl", "nlc"]),
       tile=st.booleans())
def test_backward_twice_and_after_other_inputs_equals_a_fresh_layer(cfg, seed, layout, tile):
    """Backward into reused, dirty work arrays (after a forward/backward on other values,
    then a second backward with another upstream gradient) equals a fresh layer's, and
    both equal the loop reference, in garbage-filled fresh memory."""
    N, C, L, k, s, p = cfg
    s = k if tile else s                    # stride == kernel: the case that may skip zeroing
    for cls in POOLS:
        make = functools.partial(cls, k, s, p)
        assert_reused_equals_fresh(make, (N, C, L), seed, layout == "nlc", pool1d_reference)


# ---------------------------------------------------------------------- a 1-D CNN
def cnn1d(seed=0, dtype=F64):
    """Conv1d - ReLU - MaxPool1d - Conv1d - ReLU - AvgPool1d - Flatten - Linear, on
    (N, 1, 16) sequences."""
    return nn.Sequential(
        nn.Conv1d(1, 4, 5, padding=2, rng=seed, dtype=dtype), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(4, 6, 3, stride=1, dilation=2, rng=seed + 1, dtype=dtype), nn.ReLU(),
        nn.AvgPool1d(2, padding=1), nn.Flatten(), nn.Linear(6 * 3, 3, rng=seed + 2,
                                                            dtype=dtype))


def test_cnn1d_gradcheck_end_to_end():
    x = distinct(np.random.default_rng(0).standard_normal((2, 1, 16)))
    report = nn.assert_gradcheck(cnn1d(), x, max_coords=30)
    assert {r.name for r in report.results} >= {"input", "0.weight", "3.bias", "7.weight"}


def test_cnn1d_summary_save_load_and_checkpoint(tmp_path):
    model = cnn1d(dtype=F32)
    table = model.summary((1, 16), print_fn=None)
    rows = [line.split() for line in table.splitlines()[2:10]]
    assert [r[1] for r in rows] == ["Conv1d", "ReLU", "MaxPool1d", "Conv1d", "ReLU",
                                    "AvgPool1d", "Flatten", "Linear"]
    assert [" ".join(r[2:-1]) for r in rows] == [
        "(N, 4, 16)", "(N, 4, 16)", "(N, 4, 8)", "(N, 6, 4)", "(N, 6, 4)", "(N, 6, 3)",
        "(N, 18)", "(N, 3)"]
    # parameters: 4*1*5 + 4, 6*4*3 + 6, 18*3 + 3
    assert [int(r[-1]) for r in rows] == [24, 0, 0, 78, 0, 0, 0, 57]
    assert "total parameters: 159" in table
    x = np.random.default_rng(1).standard_normal((5, 1, 16)).astype(F32)
    y = np.array([0, 1, 2, 1, 0])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss = nn.CrossEntropyLoss()
    for _ in range(3):
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    out = model(x).copy()
    nn.save(model, tmp_path / "m.npz")
    restored = nn.load(cnn1d(seed=7, dtype=F32), tmp_path / "m.npz")
    np.testing.assert_array_equal(restored(x), out)
    nn.save_checkpoint(model, tmp_path / "ck.npz", optimizer=opt, epoch=3)
    other = cnn1d(seed=9, dtype=F32)
    other_opt = optim.Adam(other.parameters(), lr=1e-2)
    ck = nn.load_checkpoint(other, tmp_path / "ck.npz", optimizer=other_opt)
    assert ck.epoch == 3
    np.testing.assert_array_equal(other(x), out)
    # the next step after the restore equals the next step of the original
    for m, o in ((model, opt), (other, other_opt)):
        o.zero_grad()
        loss(m(x), y)
        m.backward(loss.backward())
        o.step()
    np.testing.assert_array_equal(other(x), model(x))


def _bench_conv1d():
    """benchmarks/bench_conv1d.py as a module (it puts benchmarks/ on sys.path itself)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_conv1d.py"
    spec = importlib.util.spec_from_file_location("bench_conv1d", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_floor_and_nn_compute_the_same_step():
    """benchmarks/bench_conv1d.py compares nn with a hand-written NumPy floor; both must do
    the same arithmetic (first-step loss, weights after three momentum steps), and a tiny
    timing run fills every cell of the table. (Timings are never asserted.)"""
    bench = _bench_conv1d()
    lines = []
    assert bench.check_same_math(bench.initial_weights(), bench.make_batches(), False,
                                 out=lines.append), "\n".join(lines)
    assert any("weights after 3 steps, nn vs floor" in line for line in lines)
    res = bench.benchmark(rounds=1, warmup=0.0, block=0.0, min_block_steps=1,
                          with_torch=False)
    assert set(res["results"]) == {"train step", "conv1 forward", "conv1 backward (dW, db)",
                                   "conv2 forward", "conv2 backward (dW, db + dx)"}
    assert all(set(row) == {"floor", "nn"} for row in res["results"].values())
    assert "nn/floor" in bench.bench_cnn.format_table(res)
