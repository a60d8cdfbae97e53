"""MaxPool2d and AvgPool2d: property-based gradient checks (max-pool inputs kept away from
ties by construction), ties sending the gradient to exactly one element, overlapping
windows accumulating, shapes against the closed form, values by hand and against PyTorch.

Derivations: docs/math/conv.md.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, seeds

import nn

F64 = np.float64
F32 = np.float32


@st.composite
def pool_configs(draw, max_side=7):
    """(N, C, H, W, kernel, stride, padding): overlapping windows (stride < kernel), gaps
    (stride > kernel), padding up to half the kernel, non-square everything, a batch of
    one; the padded input always holds at least one window."""
    kernel = (draw(st.integers(1, 3), label="kh"), draw(st.integers(1, 3), label="kw"))
    stride = (draw(st.integers(1, 3), label="sh"), draw(st.integers(1, 3), label="sw"))
    padding = tuple(draw(st.integers(0, k // 2), label="p") for k in kernel)
    sides = [draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + max_side - 1),
                  label="side") for k, p in zip(kernel, padding)]
    N = draw(st.integers(1, 2), label="N")
    C = draw(st.integers(1, 3), label="C")
    return N, C, sides[0], sides[1], kernel, stride, padding


def distinct(values: np.ndarray, spacing: float = 0.05) -> np.ndarray:
    """Same order as ``values`` (ties broken by position), but every entry distinct and at
    least ``spacing`` from every other: no window can hold a tie, and a finite-difference
    step of 1e-6 never changes which entry is the maximum."""
    ranks = np.argsort(np.argsort(values.ravel(), kind="stable"), kind="stable")
    return ((ranks - ranks.size / 2) * spacing).reshape(values.shape)


def torch_pool(torch, layer):
    """The torch pooling module (1-D or 2-D, max or average) with ``layer``'s arguments."""
    cls = {nn.MaxPool2d: torch.nn.MaxPool2d, nn.AvgPool2d: torch.nn.AvgPool2d,
           nn.MaxPool1d: torch.nn.MaxPool1d, nn.AvgPool1d: torch.nn.AvgPool1d}[type(layer)]
    return cls(layer.kernel_size, layer.stride, layer.padding)


def channels_last(x):
    """``x`` (N, C, ...) with the same values in channels-last memory."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)


# ---------------------------------------------------------------------- gradient checks
@given(data=st.data())
def test_maxpool_gradcheck_without_ties(data):
    N, C, H, W, k, s, p = data.draw(pool_configs(), label="config")
    x = distinct(data.draw(arrays((N, C, H, W)), label="values"))
    report = nn.assert_gradcheck(nn.MaxPool2d(k, s, p), x, seed=data.draw(seeds, label="seed"))
    assert report["input"].kinks == 0


@given(data=st.data())
def test_avgpool_gradcheck(data):
    N, C, H, W, k, s, p = data.draw(pool_configs(), label="config")
    x = data.draw(arrays((N, C, H, W)), label="x")
    nn.assert_gradcheck(nn.AvgPool2d(k, s, p), x, seed=data.draw(seeds, label="seed"))


# ---------------------------------------------------------------------- shapes
@given(cfg=pool_configs(max_side=12))
def test_output_shapes_match_the_closed_form(cfg):
    N, C, H, W, k, s, p = cfg
    expected = (N, C, (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)
    for layer in (nn.MaxPool2d(k, s, p), nn.AvgPool2d(k, s, p)):
        y = layer(np.zeros((N, C, H, W), F32))
        assert y.shape == expected == layer.output_shape((N, C, H, W))
        assert layer.backward(np.ones(expected, F32)).shape == (N, C, H, W)


def test_stride_defaults_to_kernel_size():
    assert nn.MaxPool2d(3).stride == (3, 3)
    assert nn.AvgPool2d((2, 3)).stride == (2, 3)
    assert nn.MaxPool2d(3, 1).stride == (1, 1)


# ---------------------------------------------------------------------- ties
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (2, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))])
def test_ties_send_each_windows_gradient_to_exactly_one_element(k, s, p):
    """A blank image: every window is a tie. An equality mask would give every element of
    the window the gradient; the recorded arg-max gives it to the first one, as PyTorch."""
    layer = nn.MaxPool2d(k, s, p)
    x = np.zeros((1, 1, 6, 7), F64)
    y = layer(x)
    g = np.random.default_rng(0).uniform(1.0, 2.0, y.shape)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx.sum(), g.sum(), rtol=1e-14)   # nothing lost or duplicated
    if (k, s) == (2, 2):
        expected = np.zeros((6, 7))
        expected[0:6:2, 0:6:2] = g[0, 0]                  # the top-left of each window
        np.testing.assert_array_equal(dx[0, 0], expected)
    torch = pytest.importorskip("torch")
    xt = torch.zeros((1, 1, 6, 7), dtype=torch.float64, requires_grad=True)
    torch_pool(torch, layer)(xt).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(dx, xt.grad.numpy())


def test_ties_at_equal_nonzero_values_in_the_middle_of_a_window():
    layer = nn.MaxPool2d(2)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    layer(x)
    dx = layer.backward(np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


# ---------------------------------------------------------------------- values by hand
def test_maxpool_overlapping_windows_accumulate():
    """The centre of a 3x3 input is the maximum of all four 2x2 windows (stride 1): its
    gradient is the sum of the four upstream values; writing instead of adding would keep
    only one of them."""
    x = np.array([[[[1.0, 2.0, 1.0], [2.0, 9.0, 2.0], [1.0, 2.0, 1.0]]]])
    layer = nn.MaxPool2d(2, stride=1)
    np.testing.assert_array_equal(layer(x), np.full((1, 1, 2, 2), 9.0))
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = layer.backward(g)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


def test_maxpool_values_by_hand_with_padding():
    x = np.arange(16, dtype=F64).reshape(1, 1, 4, 4) - 20      # all negative
    layer = nn.MaxPool2d(3, stride=2, padding=1)
    y = layer(x)
    # padding is -inf, never zero: the corner window's maximum is x[1, 1] = 5 - 20
    np.testing.assert_array_equal(y[0, 0], [[5 - 20, 7 - 20], [13 - 20, 15 - 20]])


def test_avgpool_values_by_hand_count_include_pad():
    x = np.arange(16, dtype=F64).reshape(1, 1, 4, 4)
    y = nn.AvgPool2d(2)(x)
    np.testing.assert_array_equal(y[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    layer = nn.AvgPool2d(3, stride=2, padding=1)
    y = layer(x)
    # the corner window holds x[0:2, 0:2] = 0, 1, 4, 5 and five zeros of padding: / 9
    assert y[0, 0, 0, 0] == pytest.approx(10 / 9, rel=1e-15)
    dx = layer.backward(np.ones_like(y))
    # x[1, 1] lies in all four windows; x[0, 0] only in the first
    assert dx[0, 0, 1, 1] == pytest.approx(4 / 9) and dx[0, 0, 0, 0] == pytest.approx(1 / 9)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
@pytest.mark.parametrize("k,s,p,layout", [
    (2, None, 0, "nchw"), (3, 2, 1, "nchw"), (3, 1, 1, "nhwc"), ((2, 3), (3, 1), (1, 1), "nchw"),
    ((3, 2), (1, 4), (0, 1), "nhwc"), (1, 2, 0, "nchw"),
])
def test_matches_torch(cls, k, s, p, layout):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    assert_pool_matches_torch(torch, cls(k, s, p), x, layout == "nhwc")


def assert_pool_matches_torch(torch, layer, x, in_channels_last: bool):
    """Output and input gradient (random upstream gradient) equal torch's, float64."""
    y = layer(channels_last(x) if in_channels_last else x)
    g = np.random.default_rng(2).standard_normal(y.shape)
    dx = layer.backward(g)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch_pool(torch, layer)(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_large_kernels_use_a_wider_argmax_index():
    """More than 256 offsets per window: the arg-max no longer fits in uint8."""
    x = np.random.default_rng(0).standard_normal((1, 2, 17, 18))
    layer = nn.MaxPool2d(17)
    y = layer(x)
    np.testing.assert_array_equal(y[:, :, 0, 0], x[:, :, :, :17].max(axis=(2, 3)))
    dx = layer.backward(np.ones_like(y))
    for c in range(2):
        i, j = np.unravel_index(np.argmax(x[0, c, :, :17]), (17, 17))
        assert dx[0, c, i, j] == 1.0 and dx[0, c].sum() == 1.0


# ---------------------------------------------------------------------- dtype, layout, contract
@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_kept_and_arguments_untouched(cls, dtype):
    layer = cls(2, 1, 1)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(dtype)
    x0 = x.copy()
    y = layer(x)
    g = np.ones(y.shape, dtype)
    dx = layer.backward(g)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, np.ones(y.shape, dtype))


@given(cfg=pool_configs(max_side=6), seed=seeds)
def test_layouts_agree_for_any_configuration(cfg, seed):
    """(The gradient checks run on C-order copies; this covers channels-last memory.)"""
    N, C, H, W, k, s, p = cfg
    x = np.random.default_rng(seed).standard_normal((N, C, H, W))
    for cls in (nn.MaxPool2d, nn.AvgPool2d):
        a, b = cls(k, s, p), cls(k, s, p)
        ya, yb = a(x), b(channels_last(x))
        np.testing.assert_allclose(ya, yb, rtol=1e-15, atol=1e-15)
        g = np.random.default_rng(seed + 1).standard_normal(ya.shape)
        np.testing.assert_allclose(a.backward(g), b.backward(channels_last(g)), rtol=1e-14,
                                   atol=1e-15)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_layouts_give_identical_results_and_keep_the_input_layout(cls):
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6))
    g = np.random.default_rng(1).standard_normal((2, 4, 3, 3))
    a, b = cls(2), cls(2)
    ya, yb = a(x), b(channels_last(x))
    np.testing.assert_array_equal(ya, yb)
    assert ya.flags.c_contiguous and yb.transpose(0, 2, 3, 1).flags.c_contiguous
    for grad in (g, channels_last(g)):              # either layout of upstream gradient
        np.testing.assert_array_equal(a.backward(grad), b.backward(grad))


def test_outputs_survive_later_calls():
    layer = nn.MaxPool2d(2, 1)
    x1 = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    y1 = layer(x1)
    dx1 = layer.backward(np.ones_like(y1))
    y1c, dx1c = y1.copy(), dx1.copy()
    layer(-x1)
    layer.backward(np.full_like(y1, 3.0))
    np.testing.assert_array_equal(y1, y1c)
    np.testing.assert_array_equal(dx1, dx1c)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_errors_name_the_layer_and_shapes(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}\(kernel_size=\(5, 5\).*kernel 5x5 is larger "
                                         r"than the padded input 4x6.*\(1, 1, 2, 4\)"):
        cls(5, padding=1)(np.zeros((1, 1, 2, 4), F32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(2, 3\)"):
        cls(2)(np.zeros((2, 3), F32))
    with pytest.raises(ValueError, match="at most half"):
        cls(2, padding=2)
    with pytest.raises(ValueError, match="stride"):
        cls(2, stride=0)
    with pytest.raises(RuntimeError, match="before forward"):
        cls(2).backward(np.zeros((1, 1, 1, 1), F32))
    layer = cls(2)
    layer(np.zeros((1, 1, 4, 4), F32))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 3, 3), F32))


# ---------------------------------------------------------------------- dirty memory
# Found by a mutation run: a backward that leaves part of dx unwritten passes every test
# above when fresh memory happens to be zero. Here every np.empty / np.empty_like returns
# garbage (NaN for floats), work arrays are reused dirty, and dx is compared with a plain
# reference: entries no window reaches (stride > kernel, or a last row/column that does
# not fill a window, or padding on one side only) must be exactly 0.

def pool_reference(layer, x: np.ndarray, g: np.ndarray):
    """(y, dx) of ``layer``'s pooling by a loop over windows, PyTorch's semantics."""
    kind = "max" if isinstance(layer, nn.MaxPool2d) else "avg"
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), -np.inf if kind == "max" else 0.0)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, Ho, Wo))
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    dwin = dxp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    if kind == "max":
                        a, q = np.unravel_index(np.argmax(win), win.shape)  # first maximum
                        y[n, c, i, j] = win[a, q]
                        dwin[a, q] += g[n, c, i, j]
                    else:
                        y[n, c, i, j] = win.mean()
                        dwin += g[n, c, i, j] / (kh * kw)
    return y, dxp[:, :, ph:ph + H, pw:pw + W]


class garbage_memory:
    """Within the block, ``np.empty`` and ``np.empty_like`` return arrays full of garbage
    (NaN for floating dtypes), as reused memory may be."""

    def __enter__(self):
        self.empty, self.empty_like = np.empty, np.empty_like

        def dirty(a):
            a.fill(np.nan if a.dtype.kind in "fc" else 1 if a.dtype.kind == "b" else 77)
            return a

        np.empty = lambda *args, **kw: dirty(self.empty(*args, **kw))
        np.empty_like = lambda *args, **kw: dirty(self.empty_like(*args, **kw))
        return self

    def __exit__(self, *exc):
        np.empty, np.empty_like = self.empty, self.empty_like


# (shape, kernel, stride, padding): stride == kernel with padding on one side or of
# unequal sizes, input rows/columns that no window reaches, gaps, non-square everything
DIRTY_CASES = [
    ((2, 3, 6, 6), 3, 3, (1, 0)),         # stride == kernel: input row 5 in no window
    ((1, 2, 4, 6), (2, 3), (2, 3), (1, 1)),   # input column 5 in no window
    ((1, 2, 3, 6), 3, None, (1, 0)),      # input row 2 in no window, columns tiled
    ((2, 3, 5, 7), 2, 2, 0),              # no padding, odd sizes: last row and column
    ((2, 3, 5, 6), 2, None, (1, 0)),      # padding that completes every window
    ((1, 2, 7, 7), 3, 3, 1),
    ((1, 2, 8, 6), 2, 2, 0),              # exact tiling: every entry in one window
    ((1, 2, 9, 8), 2, 3, 1),              # stride > kernel: gaps
    ((1, 2, 6, 7), 3, 1, 1),              # overlapping windows
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("shape,k,s,p", DIRTY_CASES)
def test_backward_writes_every_entry_into_garbage_memory(kind, layout, shape, k, s, p):
    cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    assert_backward_fills_garbage_memory(cls(k, s, p), shape, layout == "nhwc", pool_reference)


def assert_backward_fills_garbage_memory(layer, shape, in_channels_last: bool, reference):
    """Forward and backward twice in garbage-filled fresh memory (the second time into
    the reused work arrays) give the ``reference(layer, x, g)`` values and gradients."""
    rng = np.random.default_rng(3)
    x = distinct(rng.standard_normal(shape))
    g = rng.standard_normal(layer.output_shape(shape))
    y_ref, dx_ref = reference(layer, x, g)
    x_in, g_in = (channels_last(x), channels_last(g)) if in_channels_last else (x, g)
    with garbage_memory():
        for _ in range(2):                  # the second time, the work arrays are reused
            y = layer(x_in)
            dx = layer.backward(g_in)
    np.testing.assert_allclose(y, y_ref, rtol=1e-14, atol=0)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape,k,s,p", DIRTY_CASES)
def test_dirty_memory_matches_torch(kind, shape, k, s, p):
    torch = pytest.importorskip("torch")
    cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    rng = np.random.default_rng(4)
    x = distinct(rng.standard_normal(shape)) if kind == "max" else rng.standard_normal(shape)
    layer = cls(k, s, p)
    g = rng.standard_normal(layer.output_shape(shape))
    with garbage_memory():
        y, dx = layer(x), layer.backward(g)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch_pool(torch, layer)(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@st.composite
def tiling_configs(draw):
    """pool_configs, half of them with stride == kernel (the case that may skip zeroing)."""
    N, C, H, W, k, s, p = draw(pool_configs(max_side=8))
    if draw(st.booleans(), label="stride == kernel"):
        s = k
    return N, C, H, W, k, s, p


@given(cfg=tiling_configs(), seed=seeds, layout=st.sampled_from(["nchw", "nhwc"]))
def test_backward_twice_and_after_other_inputs_equals_a_fresh_layer(cfg, seed, layout):
    """Backward into reused, dirty work arrays (after a forward/backward on other values,
    then a second backward with another upstream gradient) equals a fresh layer's, and
    both equal the plain reference, in garbage-filled fresh memory."""
    N, C, H, W, k, s, p = cfg
    for cls in (nn.MaxPool2d, nn.AvgPool2d):
        make = functools.partial(cls, k, s, p)
        assert_reused_equals_fresh(make, (N, C, H, W), seed, layout == "nhwc", pool_reference)


def assert_reused_equals_fresh(make, shape, seed, in_channels_last: bool, reference):
    """A layer from ``make()`` used before, then backward twice, equals a fresh layer and
    ``reference(layer, x, g)``, all in garbage-filled fresh memory."""
    rng = np.random.default_rng(seed)
    fix = channels_last if in_channels_last else (lambda a: a)
    x = distinct(rng.standard_normal(shape))
    used, fresh = make(), make()
    out_shape = used.output_shape(x.shape)
    g1, g2 = rng.standard_normal(out_shape), rng.standard_normal(out_shape)
    with garbage_memory():
        used(fix(-x + 1e3))
        used.backward(fix(rng.standard_normal(out_shape) * 1e3))
        used(fix(x))
        used.backward(fix(g1))
        dx_used = used.backward(fix(g2))
        fresh(fix(x))
        dx_fresh = fresh.backward(fix(g2))
    _, dx_ref = reference(fresh, x, g2)
    np.testing.assert_array_equal(dx_used, dx_fresh)
    np.testing.assert_allclose(dx_fresh, dx_ref, rtol=1e-13, atol=1e-14)
