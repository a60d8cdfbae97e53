"""Conv1d: property-based gradient checks over generated (N, C, L, kernel, stride, padding,
dilation), shapes against the closed form, values by hand and against PyTorch, dtypes,
layouts and errors. The contract tests shared with Conv2d (accumulation, the input_grad
flag, no mutation of arguments, work arrays never aliasing results, float32 against
float64, channels-last output, PyTorch's initialisation) are in test_conv.py,
parametrized over both layers.

Derivations: docs/math/conv.md, "One dimension".
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds
from test_conv import assert_matches_torch, closed_form, random_input, torch_conv

import nn

F64 = np.float64
F32 = np.float32


@st.composite
def conv1d_configs(draw, max_len=9, max_channels=4):
    """(N, C, L, O, kernel, stride, padding, dilation) with an output of length >= 1.

    Strides larger than the kernel, padding, dilation and a batch of one all occur."""
    k = draw(st.integers(1, 4), label="k")
    s = draw(st.integers(1, 3), label="s")
    d = draw(st.integers(1, 3), label="d")
    p = draw(st.integers(0, 2), label="p")
    least = max(1, d * (k - 1) + 1 - 2 * p)               # the dilated kernel must fit
    L = draw(st.integers(least, max(least, max_len)), label="L")
    N = draw(st.integers(1, 3), label="N")
    C = draw(st.integers(1, max_channels), label="C")
    O = draw(st.integers(1, 3), label="O")
    return N, C, L, O, k, s, p, d


# ---------------------------------------------------------------------- gradient checks
@given(cfg=conv1d_configs(), seed=seeds, bias=st.booleans(), channels_last=st.booleans())
def test_conv1d_gradcheck(cfg, seed, bias, channels_last):
    """Central differences against backward (random upstream gradient, float64) for the
    input, the weight and the bias, both memory layouts of the input."""
    N, C, L, O, k, s, p, d = cfg
    layer = nn.Conv1d(C, O, k, s, p, dilation=d, bias=bias, rng=seed, dtype=F64)
    x = random_input((N, C, L), seed, channels_last)
    report = nn.assert_gradcheck(layer, x, seed=seed, max_coords=40)
    assert [r.name for r in report.results] == ["input", "weight"] + (["bias"] if bias else [])


def test_conv1d_network_gradcheck():
    """Two stacked convolutions (the second reads the first's channels-last output) and
    a Linear head, end to end."""
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, rng=0, dtype=F64), nn.Tanh(),
                          nn.Conv1d(3, 4, 2, stride=2, dilation=2, rng=1, dtype=F64),
                          nn.Flatten(), nn.Linear(20, 3, rng=2, dtype=F64))
    nn.assert_gradcheck(model, random_input((2, 2, 11), 3), max_coords=30)


# ---------------------------------------------------------------------- shapes
@given(cfg=conv1d_configs(max_len=20, max_channels=5))
def test_output_shape_matches_the_closed_form(cfg):
    N, C, L, O, k, s, p, d = cfg
    layer = nn.Conv1d(C, O, k, s, p, dilation=d, rng=0)
    y = layer(np.zeros((N, C, L), F32))
    assert y.shape == (N, O, closed_form(L, k, s, p, d)) == layer.output_shape((N, C, L))
    assert layer.backward(np.ones(y.shape, F32)).shape == (N, C, L)


def test_arguments_positional_order_and_one_element_tuples():
    # positional order follows SPEC.md: in, out, kernel_size, stride, padding, bias, rng,
    # dtype (dilation is keyword-only; PyTorch puts it before bias)
    c = nn.Conv1d(2, 3, 4, 3, 1, False, 0, np.float64, dilation=2)
    assert (c.kernel_size, c.stride, c.padding, c.dilation, c.bias, c.weight.dtype) == \
        (4, 3, 1, 2, None, np.float64)
    assert c.weight.shape == (3, 2, 4)
    t = nn.Conv1d(2, 3, (4,), stride=(3,), padding=[1], dilation=(2,))
    assert (t.kernel_size, t.stride, t.padding, t.dilation) == (4, 3, 1, 2)
    assert nn.Conv1d(2, 3, 4).bias.shape == (3,)


# ---------------------------------------------------------------------- values
def test_values_by_hand():
    x = np.arange(6, dtype=F64).reshape(1, 1, 6)          # 0 1 2 3 4 5
    layer = nn.Conv1d(1, 1, 2, bias=False, dtype=F64)
    layer.weight.data[...] = [[[1.0, -1.0]]]
    # cross-correlation, no flip: y[i] = x[i] - x[i+1] = -1 everywhere
    np.testing.assert_array_equal(layer(x), np.full((1, 1, 5), -1.0))
    # stride 2, padding 1, bias 0.5: windows at -1, 1, 3 of the zero-padded x
    layer = nn.Conv1d(1, 1, 3, stride=2, padding=1, dtype=F64)
    layer.weight.data[...] = [[[1.0, 2.0, 3.0]]]
    layer.bias.data[...] = 0.5
    # xp = 0 0 1 2 3 4 5 0 -> windows (0 0 1), (1 2 3), (3 4 5), each . (1 2 3) + 0.5
    np.testing.assert_array_equal(layer(x), [[[3.5, 14.5, 26.5]]])
    # dilation 2, kernel 2: taps i and i+2 -> y[i] = x[i] + x[i+2]
    layer = nn.Conv1d(1, 1, 2, dilation=2, bias=False, dtype=F64)
    layer.weight.data[...] = 1.0
    np.testing.assert_array_equal(layer(x), [[[2.0, 4.0, 6.0, 8.0]]])
    # two input channels, two filters: y[o, i] = sum_c sum_a W[o, c, a] x[c, i + a]
    x2 = np.array([[[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]])
    layer = nn.Conv1d(2, 2, 2, bias=False, dtype=F64)
    layer.weight.data[...] = [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, -1.0]]]
    np.testing.assert_array_equal(layer(x2), [[[1 + 20, 2 + 30], [10 - 20, 20 - 30]]])


def test_backward_by_hand():
    """dW is a sum of input windows, db the sum of g, dx scatters the weight times g."""
    layer = nn.Conv1d(1, 1, 2, dtype=F64)
    layer.weight.data[...] = [[[3.0, 4.0]]]
    x = np.array([[[5.0, 6.0, 7.0]]])
    layer(x)
    dx = layer.backward(np.array([[[2.0, -1.0]]]))
    # dW[a] = sum_i g[i] x[i + a] = (2*5 - 6, 2*6 - 7); db = 2 - 1
    np.testing.assert_array_equal(layer.weight.grad, [[[4.0, 5.0]]])
    np.testing.assert_array_equal(layer.bias.grad, [1.0])
    # dx[j] = sum_{i + a = j} g[i] W[a] = (2*3, 2*4 - 3, -4)
    np.testing.assert_array_equal(dx, [[[6.0, 5.0, -4.0]]])
    # stride 2 and padding 1: the padded ends get no gradient back, only the interior
    layer = nn.Conv1d(1, 1, 2, stride=2, padding=1, bias=False, dtype=F64)
    layer.weight.data[...] = [[[3.0, 4.0]]]
    y = layer(np.array([[[5.0, 6.0, 7.0]]]))         # windows (0 5), (6 7)
    np.testing.assert_array_equal(y, [[[20.0, 46.0]]])
    dx = layer.backward(np.array([[[1.0, 10.0]]]))
    np.testing.assert_array_equal(dx, [[[4.0, 30.0, 40.0]]])
    np.testing.assert_array_equal(layer.weight.grad, [[[60.0, 75.0]]])


@pytest.mark.parametrize("C,O,L,k,s,p,d,channels_last", [
    (1, 4, 40, 5, 1, 2, 1, False),                     # an MNIST-1D first layer
    (3, 5, 17, 3, 2, 1, 2, False),
    (3, 5, 17, 3, 2, 1, 2, True),
    (6, 2, 13, 4, 3, 2, 1, False),
    (8, 16, 12, 3, 1, 1, 1, True),
    (2, 3, 5, 5, 1, 0, 1, False),                      # kernel = input: one output
    (2, 3, 7, 1, 3, 0, 1, False),                      # stride > kernel
])
def test_matches_torch_forward_and_backward(C, O, L, k, s, p, d, channels_last):
    torch = pytest.importorskip("torch")
    layer = nn.Conv1d(C, O, k, s, p, dilation=d, rng=1, dtype=F64)
    assert_matches_torch(torch, layer, torch_conv(torch, layer),
                         random_input((2, C, L), 2, channels_last))


def test_float32_matches_torch():
    torch = pytest.importorskip("torch")
    layer = nn.Conv1d(3, 4, 3, padding=1, rng=0)
    assert_matches_torch(torch, layer, torch_conv(torch, layer).float(),
                         random_input((4, 3, 20), 1).astype(F32), tol=2e-5)


# ---------------------------------------------------------------------- dtypes, layouts
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_in_equals_dtype_out(dtype):
    layer = nn.Conv1d(3, 4, 3, padding=1, rng=0, dtype=dtype)
    x = random_input((2, 3, 7), 0).astype(dtype)
    y = layer(x)
    dx = layer.backward(random_input(y.shape, 1).astype(dtype))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == dtype
    # a float64 upstream gradient into a float32 layer is cast, never promotes the math
    if dtype == F32:
        assert layer.backward(random_input(y.shape, 1)).dtype == F32


# ---------------------------------------------------------------------- contract
def test_kernel_longer_than_padded_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv1d\(2, 3, kernel_size=5.*kernel 5 is longer "
                                         r"than the padded input 4 \(input shape \(1, 2, 2\)"):
        nn.Conv1d(2, 3, 5, padding=1)(np.zeros((1, 2, 2), F32))
    with pytest.raises(ValueError, match=r"kernel 3 \(dilated to 5\) is longer than the "
                                         r"padded input 4"):
        nn.Conv1d(1, 1, 3, dilation=2)(np.zeros((1, 1, 4), F32))


def test_input_errors_name_the_layer_and_shapes():
    layer = nn.Conv1d(3, 2, 3)
    with pytest.raises(ValueError, match=r"Conv1d\(3, 2.*\(N, 3, L\).*\(1, 4, 5\)"):
        layer(np.zeros((1, 4, 5), F32))
    with pytest.raises(ValueError, match=r"\(N, 3, L\).*\(3, 5\)"):
        layer(np.zeros((3, 5), F32))
    with pytest.raises(ValueError, match=r"\(N, 3, L\).*\(1, 3, 5, 5\)"):
        layer(np.zeros((1, 3, 5, 5), F32))
    with pytest.raises(TypeError, match="float64 does not match the parameter dtype float32"):
        layer(np.zeros((1, 3, 5)))
    with pytest.raises(TypeError, match=r"Conv1d\(3, 2.*floating input"):
        layer(np.zeros((1, 3, 5), np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Conv1d(1, 1, 1).backward(np.zeros((1, 1, 1), F32))
    layer(np.zeros((1, 3, 5), F32))
    with pytest.raises(ValueError, match=r"Conv1d\(3, 2.*gradient of shape \(1, 2, 3\).*"
                                         r"\(1, 2, 4\)"):
        layer.backward(np.zeros((1, 2, 4), F32))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 2, 3\).*\(1, 3\)"):
        layer.backward(np.zeros((1, 3), F32))     # no silent broadcast


@pytest.mark.parametrize("kwargs,match", [
    ({"kernel_size": 0}, "kernel_size"), ({"kernel_size": (2, 2)}, "kernel_size"),
    ({"kernel_size": 2.5}, "kernel_size"), ({"kernel_size": True}, "kernel_size"),
    ({"stride": 0}, "stride"), ({"padding": -1}, "padding"), ({"dilation": 0}, "dilation"),
    ({"padding": "1"}, "padding"),
])
def test_bad_arguments(kwargs, match):
    args = {"kernel_size": 3} | kwargs
    with pytest.raises(ValueError, match=rf"Conv1d: {match} must be an int"):
        nn.Conv1d(1, 1, **args)
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv1d(0, 1, 3)
    with pytest.raises(ValueError, match="out_channels"):
        nn.Conv1d(1, 2.0, 3)


def test_state_dict_astype_and_repr():
    layer = nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2, bias=False)
    assert set(layer.state_dict()) == {"weight"}
    assert repr(layer) == "Conv1d(2, 3, kernel_size=3, stride=2, padding=1, dilation=2, " \
        "bias=False)"
    layer.astype(F64)
    assert layer(np.ones((1, 2, 6))).dtype == F64
