"""The fast forms in Conv2d, Conv1d and the max-pooling layers against the plain equations
of docs/math/conv.md (float64, rtol 1e-12, hypothesis cases).

Conv2d keeps three measured speed forms (benchmarks/README.md, "Strategies chosen"): im2col
by one copy per kernel offset for few NCHW channels, the bias added through a wide view of
Y, and the input gradient as one GEMM per kernel offset added into a padded channels-last
buffer (instead of the column gradient G Wm^T followed by col2im). Here the layer is
compared with the page's formulas written out plainly, with no layout tricks (Conv1d, which
keeps the same three forms, through the same formulas on a height-1 image):

    X[(n, i, j), (c, a, q)] = xp[n, c, i sh + a dh, j sw + q dw]
    Y = X Wm + b,   dWm = X^T G,   db = sum_rows(G),   dX = G Wm^T,   dx = col2im(dX)
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds
from test_conv import conv_configs, random_input
from test_pooling import pool_configs

import nn
from nn.layers.pooling import max_pool_backward_plain, max_pool_plain


def im2col_plain(x, kernel, stride, padding, dilation, out_hw):
    """X (N*Ho*Wo, C*kh*kw), columns ordered (c, a, q) like the weight's memory."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = kernel, stride, padding, dilation, out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    X = np.empty((N, Ho, Wo, C, kh, kw))
    for a in range(kh):
        for q in range(kw):
            X[..., a, q] = xp[:, :, a * dh:a * dh + sh * (Ho - 1) + 1:sh,
                              q * dw:q * dw + sw * (Wo - 1) + 1:sw].transpose(0, 2, 3, 1)
    return X.reshape(N * Ho * Wo, C * kh * kw)


def col2im_plain(dX, shape, kernel, stride, padding, dilation, out_hw):
    """dx: every entry of dX (column order (c, a, q)) added back to the input entry it
    was copied from, then the padding cropped."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = kernel, stride, padding, dilation, out_hw
    N, C, H, W = shape
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    dX6 = dX.reshape(N, Ho, Wo, C, kh, kw)
    for i in range(Ho):
        for j in range(Wo):
            for a in range(kh):
                for q in range(kw):
                    dxp[:, :, i * sh + a * dh, j * sw + q * dw] += dX6[:, i, j, :, a, q]
    return dxp[:, :, ph:ph + H, pw:pw + W]


@given(cfg=conv_configs(max_side=6, max_channels=6), seed=seeds, bias=st.booleans(),
       channels_last=st.booleans(), one_d=st.booleans())
def test_conv_equals_the_plain_im2col_equations(cfg, seed, bias, channels_last, one_d):
    """Conv2d, and Conv1d (``one_d``: the configuration's column settings) as the 2-D
    equations on a height-1 image with a (1, k) kernel."""
    N, C, H, W, O, k, s, p, d = cfg
    if one_d:
        layer = nn.Conv1d(C, O, k[1], s[1], p[1], bias, rng=seed, dtype=np.float64,
                          dilation=d[1])
        x = random_input((N, C, W), seed, channels_last)
        x4, geometry = x[:, :, None, :], [(1, v[1]) for v in (k, s)] + [(0, p[1]), (1, d[1])]
    else:
        layer = nn.Conv2d(C, O, k, s, p, bias, rng=seed, dtype=np.float64, dilation=d)
        x = x4 = random_input((N, C, H, W), seed, channels_last)
        geometry = [layer.kernel_size, layer.stride, layer.padding, layer.dilation]
    y = layer(x)
    G = np.random.default_rng(seed + 1).standard_normal(y.shape)
    dx = layer.backward(G)
    y4, G4 = (y[:, :, None, :], G[:, :, None, :]) if one_d else (y, G)
    _, _, Ho, Wo = y4.shape

    Wm = layer.weight.data.reshape(O, -1).T                 # (K, O), rows (c, a, q)
    b = layer.bias.data if bias else np.zeros(O)
    X = im2col_plain(x4, *geometry, (Ho, Wo))
    Gm = G4.transpose(0, 2, 3, 1).reshape(-1, O)            # rows (n, i, j)
    Y = X @ Wm + b
    np.testing.assert_allclose(y4, Y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, (X.T @ Gm).T.reshape(layer.weight.shape),
                               rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, Gm.sum(axis=0), rtol=1e-12, atol=1e-12)
    dx_plain = col2im_plain(Gm @ Wm.T, x4.shape, *geometry, (Ho, Wo))
    np.testing.assert_allclose(dx, dx_plain.reshape(dx.shape), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- max pooling
@given(cfg=pool_configs(max_side=7), seed=seeds, channels_last=st.booleans(),
       blank=st.booleans(), one_d=st.booleans())
def test_maxpool_kernels_equal_their_plain_forms(cfg, seed, channels_last, blank, one_d):
    """max_pool_fast / max_pool_backward_fast (what MaxPool2d and MaxPool1d run) against
    max_pool_plain / max_pool_backward_plain: values, arg-max indices (ties included:
    ``blank`` draws values from {0, 1}) and the input gradient. ``one_d`` keeps one row
    and the column settings of the configuration, for MaxPool1d."""
    N, C, H, W, k, s, p = cfg
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (N, C, H, W)).astype(np.float64) if blank \
        else rng.standard_normal((N, C, H, W))
    if one_d:
        x, layer = x[:, :, 0, :], nn.MaxPool1d(k[1], s[1], p[1])
    else:
        layer = nn.MaxPool2d(k, s, p)
    y = layer(random_input_layout(x, channels_last))
    g = rng.standard_normal(y.shape)
    dx = layer.backward(random_input_layout(g, channels_last))

    pads = layer.geometry()[2]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in pads), constant_values=-np.inf)
    offsets = layer.offsets(y.shape[2:])
    y_plain, idx_plain = max_pool_plain(xp, offsets, y.shape)
    dxp = max_pool_backward_plain(g, idx_plain, offsets, xp.shape)
    interior = (...,) + tuple(slice(q, q + n) for q, n in zip(pads, x.shape[2:]))
    np.testing.assert_array_equal(y, y_plain)
    np.testing.assert_allclose(dx, dxp[interior], rtol=1e-12, atol=0)


def random_input_layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """``a`` (N, C, ...) in channels-last memory, or as it is."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1) \
        if channels_last else a
