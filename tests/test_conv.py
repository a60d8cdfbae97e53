"""Conv2d: property-based gradient checks over generated (N, C, H, W, kernel, stride,
padding, dilation), shapes against the closed form, values by hand and against PyTorch,
dtypes, layouts, accumulation and errors.

Derivations: docs/math/conv.md.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds

import nn

F64 = np.float64
F32 = np.float32


def closed_form(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def conv_configs(draw, max_side=7, max_channels=3):
    """(N, C, H, W, O, kernel, stride, padding, dilation) with an output of at least 1x1.

    Non-square kernels, strides larger than the kernel, padding, dilation and a batch of
    one all occur."""
    kernel = (draw(st.integers(1, 3), label="kh"), draw(st.integers(1, 3), label="kw"))
    stride = (draw(st.integers(1, 3), label="sh"), draw(st.integers(1, 3), label="sw"))
    dilation = (draw(st.integers(1, 2), label="dh"), draw(st.integers(1, 2), label="dw"))
    padding = (draw(st.integers(0, 2), label="ph"), draw(st.integers(0, 2), label="pw"))
    sides = []
    for k, p, d in zip(kernel, padding, dilation):
        least = max(1, d * (k - 1) + 1 - 2 * p)          # the dilated kernel must fit
        sides.append(draw(st.integers(least, max(least, max_side)), label="side"))
    N = draw(st.integers(1, 2), label="N")
    C = draw(st.integers(1, max_channels), label="C")
    O = draw(st.integers(1, 3), label="O")
    return N, C, sides[0], sides[1], O, kernel, stride, padding, dilation


def random_input(shape, seed, channels_last=False):
    rng = np.random.default_rng(seed)
    if channels_last:
        N, C, H, W = shape
        return rng.standard_normal((N, H, W, C)).transpose(0, 3, 1, 2)
    return rng.standard_normal(shape)


def torch_conv(torch, layer):
    ref = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                          layer.stride, layer.padding, layer.dilation,
                          bias=layer.bias is not None).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight.data))
        if layer.bias is not None:
            ref.bias.copy_(torch.from_numpy(layer.bias.data))
    return ref


# ---------------------------------------------------------------------- gradient checks
@given(cfg=conv_configs(), seed=seeds, bias=st.booleans())
def test_conv2d_gradcheck(cfg, seed, bias):
    N, C, H, W, O, k, s, p, d = cfg
    layer = nn.Conv2d(C, O, k, s, p, dilation=d, bias=bias, rng=seed, dtype=F64)
    x = random_input((N, C, H, W), seed)
    report = nn.assert_gradcheck(layer, x, seed=seed, max_coords=40)
    assert [r.name for r in report.results] == ["input", "weight"] + (["bias"] if bias else [])


@given(cfg=conv_configs(max_side=6, max_channels=6), seed=seeds)
def test_both_im2col_routes_and_both_layouts_agree(cfg, seed):
    """C order and channels-last memory of the same input (the plane route and the window
    route for few channels) give the same output and gradients."""
    N, C, H, W, O, k, s, p, d = cfg
    a = nn.Conv2d(C, O, k, s, p, dilation=d, rng=seed, dtype=F64)
    b = copy.deepcopy(a)
    x = random_input((N, C, H, W), seed)
    x_cl = random_input((N, C, H, W), seed, channels_last=True)
    x_cl[...] = x
    ya, yb = a(x), b(x_cl)
    np.testing.assert_allclose(ya, yb, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed).standard_normal(ya.shape)
    np.testing.assert_allclose(a.backward(g), b.backward(g), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.weight.grad, b.weight.grad, rtol=1e-12, atol=1e-12)


@given(cfg=conv_configs(max_side=5), seed=seeds)
def test_conv2d_gradcheck_many_channels(cfg, seed):
    """Six input channels: the channels-last window route of im2col (few channels use the
    plane-by-plane route); both must give the same gradients."""
    N, _, H, W, O, k, s, p, d = cfg
    layer = nn.Conv2d(6, O, k, s, p, dilation=d, rng=seed, dtype=F64)
    nn.assert_gradcheck(layer, random_input((N, 6, H, W), seed), seed=seed, max_coords=30)


def test_conv_relu_pool_network_gradcheck():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=F64), nn.Tanh(),
                          nn.AvgPool2d(2), nn.Conv2d(3, 4, (2, 1), stride=(1, 2), rng=1,
                                                     dtype=F64),
                          nn.Flatten(), nn.Linear(4, 3, rng=2, dtype=F64))
    nn.assert_gradcheck(model, random_input((2, 2, 4, 4), 3), max_coords=25)


class _FlippedKernel(nn.Conv2d):
    """A classic mistake: the input gradient of a true convolution (kernel flipped)."""

    def backward(self, grad_y):
        saved = self.weight.data.copy()
        self.weight.data[...] = saved[:, :, ::-1, ::-1]
        try:
            return super().backward(grad_y)
        finally:
            self.weight.data[...] = saved


def test_gradcheck_catches_a_flipped_kernel_in_backward():
    layer = _FlippedKernel(2, 2, 3, padding=1, rng=0, dtype=F64)
    report = nn.gradcheck(layer, random_input((1, 2, 4, 4), 0))
    assert not report["input"].passed


# ---------------------------------------------------------------------- shapes
@given(cfg=conv_configs(max_side=12, max_channels=5))
def test_output_shape_matches_the_closed_form(cfg):
    N, C, H, W, O, k, s, p, d = cfg
    layer = nn.Conv2d(C, O, k, s, p, dilation=d, rng=0)
    y = layer(np.zeros((N, C, H, W), F32))
    expected = (N, O, closed_form(H, k[0], s[0], p[0], d[0]),
                closed_form(W, k[1], s[1], p[1], d[1]))
    assert y.shape == expected == layer.output_shape((N, C, H, W))
    assert layer.backward(np.ones(y.shape, F32)).shape == (N, C, H, W)


def test_int_and_pair_arguments():
    a = nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=2)
    b = nn.Conv2d(2, 3, (3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2))
    for attr in ("kernel_size", "stride", "padding", "dilation"):
        assert getattr(a, attr) == getattr(b, attr)
    assert a.weight.shape == (3, 2, 3, 3) and a.bias.shape == (3,)
    # positional order follows docs/api.md's Conv2d row: in, out, kernel_size, stride,
    # padding, bias, rng, dtype
    # (dilation is keyword-only; PyTorch puts it before bias)
    c = nn.Conv2d(2, 3, (1, 2), (3, 4), (0, 1), False, 0, np.float64, dilation=(2, 1))
    assert (c.kernel_size, c.stride, c.padding, c.dilation, c.bias, c.weight.dtype) == \
        ((1, 2), (3, 4), (0, 1), (2, 1), None, np.float64)


# ---------------------------------------------------------------------- values
def test_values_by_hand():
    x = np.arange(16, dtype=F64).reshape(1, 1, 4, 4)
    layer = nn.Conv2d(1, 1, 2, bias=False, dtype=F64)
    layer.weight.data[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]
    # cross-correlation, no flip: y[i, j] = x[i, j] - x[i+1, j+1] = -5 everywhere
    np.testing.assert_array_equal(layer(x), np.full((1, 1, 3, 3), -5.0))
    # stride 2, padding 1, bias 0.5: windows at rows/cols -1, 1, 3 of the zero-padded x
    layer = nn.Conv2d(1, 1, 2, stride=2, padding=1, dtype=F64)
    layer.weight.data[...] = [[[[1.0, 2.0], [3.0, 4.0]]]]
    layer.bias.data[...] = 0.5
    xp = np.pad(x[0, 0], 1)
    expected = np.array([[sum(xp[i + a, j + b] * (1 + 2 * a + b) for a in (0, 1) for b in (0, 1))
                          for j in (0, 2, 4)] for i in (0, 2, 4)]) + 0.5
    np.testing.assert_array_equal(layer(x)[0, 0], expected)
    assert layer(x)[0, 0, 0, 0] == 4 * 0 + 0.5      # only x[0, 0] under weight 4
    # dilation 2 on a 5x5 input: taps at (0, 0), (0, 2), (2, 0), (2, 2)
    x = np.arange(25, dtype=F64).reshape(1, 1, 5, 5)
    layer = nn.Conv2d(1, 1, 2, dilation=2, bias=False, dtype=F64)
    layer.weight.data[...] = 1.0
    y = layer(x)
    assert y.shape == (1, 1, 3, 3)
    assert y[0, 0, 0, 0] == 0 + 2 + 10 + 12 and y[0, 0, 2, 1] == 11 + 13 + 21 + 23


def test_backward_by_hand():
    """One output pixel: dW is the input window, dx scatters the weight, db is g."""
    layer = nn.Conv2d(1, 1, 2, dtype=F64)
    layer.weight.data[...] = [[[[1.0, 2.0], [3.0, 4.0]]]]
    x = np.array([[[[5.0, 6.0], [7.0, 8.0]]]])
    layer(x)
    dx = layer.backward(np.array([[[[2.0]]]]))
    np.testing.assert_array_equal(layer.weight.grad, 2 * x)
    np.testing.assert_array_equal(layer.bias.grad, [2.0])
    np.testing.assert_array_equal(dx, 2 * layer.weight.data)


@pytest.mark.parametrize("C,O,H,W,k,s,p,d,channels_last", [
    (1, 4, 7, 6, 3, 1, 1, 1, False),
    (3, 5, 9, 8, (3, 2), (2, 1), (1, 0), (1, 2), False),
    (3, 5, 9, 8, (3, 2), (2, 1), (1, 0), (1, 2), True),
    (6, 2, 8, 11, (2, 3), (3, 4), (2, 1), (2, 1), False),
    (8, 16, 6, 6, 3, 1, 1, 1, True),
    (2, 3, 5, 5, 5, 1, 0, 1, False),                 # kernel = input: a 1x1 output
    (2, 3, 3, 3, 1, 3, 0, 1, False),                 # stride > kernel
])
def test_matches_torch_forward_and_backward(C, O, H, W, k, s, p, d, channels_last):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(C, O, k, s, p, dilation=d, rng=1, dtype=F64)
    ref = torch_conv(torch, layer)
    x = random_input((2, C, H, W), 2, channels_last)
    y = layer(x)
    g = np.random.default_rng(3).standard_normal(y.shape)
    dx = layer.backward(g)
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_default_init_is_pytorchs():
    layer = nn.Conv2d(3, 8, (3, 2), rng=0)
    bound = 1 / math.sqrt(3 * 3 * 2)
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == F32 and np.all(np.abs(p) <= bound) and np.unique(p).size == p.size
    assert np.abs(layer.weight.data).max() > 0.8 * bound          # uniform over the range
    he = nn.Conv2d(3, 8, 3, init="he", rng=0)
    assert np.all(he.bias.data == 0)
    assert abs(he.weight.data.std() - math.sqrt(2 / 27)) < 0.3 * math.sqrt(2 / 27)
    np.testing.assert_array_equal(nn.Conv2d(3, 8, 3, rng=5).weight.data,
                                  nn.Conv2d(3, 8, 3, rng=5).weight.data)


# ---------------------------------------------------------------------- dtypes, layouts
@pytest.mark.parametrize("C", [1, 3, 6])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_in_equals_dtype_out(C, dtype):
    layer = nn.Conv2d(C, 4, 3, padding=1, rng=0, dtype=dtype)
    x = random_input((2, C, 5, 5), 0).astype(dtype)
    y = layer(x)
    dx = layer.backward(np.ones(y.shape, dtype))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == dtype


def test_float32_agrees_with_float64():
    x = random_input((4, 3, 9, 9), 1)
    g = random_input((4, 5, 5, 5), 2)
    outs = []
    for dt in (F32, F64):
        layer = nn.Conv2d(3, 5, 3, stride=2, padding=1, rng=0, dtype=dt)
        outs.append((layer(x.astype(dt)), layer.backward(g.astype(dt)), layer.weight.grad))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_output_is_nchw_shaped_with_channels_last_memory():
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=0)
    y = layer(random_input((2, 3, 5, 5), 0).astype(F32))
    assert y.shape == (2, 4, 5, 5)
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(np.ascontiguousarray(y), y)


def test_work_arrays_never_alias_returned_arrays():
    """Layers reuse their im2col matrix between calls; outputs and gradients stay intact."""
    layer = nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=F64)
    x1, x2 = random_input((2, 2, 5, 5), 1), random_input((2, 2, 5, 5), 2)
    y1 = layer(x1)
    y1_copy = y1.copy()
    dx1 = layer.backward(np.ones_like(y1))
    dx1_copy = dx1.copy()
    layer(x2)
    layer.backward(np.full(y1.shape, 2.0))
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)
    # and a fresh layer on x1 agrees with the first call (no stale state)
    np.testing.assert_array_equal(copy.deepcopy(layer)(x1), y1_copy)


def test_arguments_are_not_mutated():
    layer = nn.Conv2d(3, 2, 3, padding=1, rng=0, dtype=F64)
    x = random_input((2, 3, 4, 4), 0)
    g = random_input((2, 2, 4, 4), 1)
    x0, g0 = x.copy(), g.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


# ---------------------------------------------------------------------- contract
def test_backward_accumulates_and_input_grad_flag():
    layer = nn.Conv2d(2, 3, 2, rng=0, dtype=F64)
    x = random_input((2, 2, 4, 4), 0)
    g = random_input((2, 3, 3, 3), 1)
    layer(x)
    layer.backward(g)
    once = (layer.weight.grad.copy(), layer.bias.grad.copy())
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, 2 * once[1], rtol=1e-14)
    layer.zero_grad()
    layer.set_input_grad(False)
    assert layer.backward(g) is None
    np.testing.assert_allclose(layer.weight.grad, once[0], rtol=1e-14)
    layer.weight.requires_grad = False
    layer.zero_grad()
    layer.backward(g)
    assert np.all(layer.weight.grad == 0) and np.any(layer.bias.grad != 0)


def test_kernel_larger_than_padded_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv2d\(2, 3, kernel_size=\(5, 5\).*kernel 5x5 is "
                                         r"larger than the padded input 4x6.*\(1, 2, 2, 4\)"):
        nn.Conv2d(2, 3, 5, padding=1)(np.zeros((1, 2, 2, 4), F32))
    with pytest.raises(ValueError, match=r"kernel 3x3 \(dilated to 5x5\) is larger than the "
                                         r"padded input 4x4"):
        nn.Conv2d(1, 1, 3, dilation=2)(np.zeros((1, 1, 4, 4), F32))


def test_input_errors_name_the_layer_and_shapes():
    layer = nn.Conv2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 2.*\(N, 3, H, W\).*\(1, 4, 5, 5\)"):
        layer(np.zeros((1, 4, 5, 5), F32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(3, 5, 5\)"):
        layer(np.zeros((3, 5, 5), F32))
    with pytest.raises(TypeError, match="float64 does not match the parameter dtype float32"):
        layer(np.zeros((1, 3, 5, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1), F32))
    layer(np.zeros((1, 3, 5, 5), F32))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 2, 3, 3\).*\(1, 2, 3, 4\)"):
        layer.backward(np.zeros((1, 2, 3, 4), F32))


@pytest.mark.parametrize("kwargs,match", [
    ({"kernel_size": 0}, "kernel_size"), ({"kernel_size": (2, 2, 2)}, "kernel_size"),
    ({"stride": 0}, "stride"), ({"padding": -1}, "padding"), ({"dilation": 0}, "dilation"),
    ({"kernel_size": 2.5}, "kernel_size"),
])
def test_bad_arguments(kwargs, match):
    args = {"kernel_size": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(1, 1, **args)
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv2d(0, 1, 3)


def test_state_dict_astype_and_repr():
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=2, bias=False)
    assert set(layer.state_dict()) == {"weight"}
    assert "dilation=(2, 2)" in repr(layer) and "bias=False" in repr(layer)
    layer.astype(F64)
    y = layer(np.ones((1, 2, 6, 6)))
    assert y.dtype == F64
