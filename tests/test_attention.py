"""MultiHeadAttention and PositionalEncoding: property-based gradient checks over generated
(N, T, E, heads) with and without masks, causal or not, dropout fixed; the properties of
attention (causality, permutation equivariance, masked keys get zero weight and zero
gradient, all-masked queries stay finite); equality with torch.nn.MultiheadAttention; dtypes
and errors.

Derivations: docs/math/attention.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays, seeds

import nn
from nn.testing import batch_shapes, check_layer

F64 = np.float64
F32 = np.float32


# ---------------------------------------------------------------------- helpers
def randomise_biases(layer: nn.Layer, seed: int) -> nn.Layer:
    """Give every bias (zero at initialisation) random values, so no check passes by b = 0."""
    rng = np.random.default_rng(seed)
    for name, p in layer.named_parameters():
        if name.endswith("bias"):
            p.data[...] = rng.uniform(-0.5, 0.5, p.shape)
    return layer


def mha(E, H, causal=False, seed=0, dtype=F64, **kwargs):
    return randomise_biases(nn.MultiHeadAttention(E, H, causal=causal, rng=seed, dtype=dtype,
                                                  **kwargs), seed)


@st.composite
def attention_cases(draw, max_n=3, max_t=5, max_heads=3, max_d=3, masks=True,
                    lo=-2.0, hi=2.0):
    """(x (N, T, H*d), H, mask or None, causal, seed); masks are random, so some sequences
    may be entirely masked (their queries attend to nothing)."""
    N = draw(st.integers(1, max_n), label="N")
    T = draw(st.integers(1, max_t), label="T")
    H = draw(st.integers(1, max_heads), label="heads")
    d = draw(st.integers(1, max_d), label="head width")
    x = draw(arrays((N, T, H * d), lo, hi), label="x")
    mask = None
    if masks and draw(st.booleans(), label="masked"):
        mask = draw(hnp.arrays(np.bool_, (N, T)), label="mask")
    causal = draw(st.booleans(), label="causal")
    seed = draw(seeds, label="seed")
    return x, H, mask, causal, seed


# ---------------------------------------------------------------------- gradient checks
@given(case=attention_cases())
def test_mha_gradcheck_with_and_without_masks(case):
    x, H, mask, causal, seed = case
    layer = mha(x.shape[-1], H, causal, seed)
    report = nn.assert_gradcheck(layer, x, seed=seed, max_coords=48,
                                 forward_kwargs={"mask": mask})
    assert [r.name for r in report.results] == [
        "input", "q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias",
        "v_proj.weight", "v_proj.bias", "out_proj.weight", "out_proj.bias"]


@given(case=attention_cases(max_t=4), p=st.sampled_from([0.2, 0.5]))
def test_mha_gradcheck_with_attention_dropout_fixed(case, p):
    x, H, mask, causal, seed = case
    layer = mha(x.shape[-1], H, causal, seed, dropout=p)
    nn.assert_gradcheck(layer, x, seed=seed, max_coords=32, forward_kwargs={"mask": mask})


@given(case=attention_cases(max_t=4, masks=False))
def test_mha_without_bias_gradcheck(case):
    x, H, _, causal, seed = case
    layer = nn.MultiHeadAttention(x.shape[-1], H, bias=False, causal=causal, rng=seed,
                                  dtype=F64)
    report = nn.assert_gradcheck(layer, x, seed=seed, max_coords=32)
    assert all("bias" not in r.name for r in report.results)


def test_mha_layer_properties_with_the_testing_kit():
    """No mutation of x or grad_y, accumulation into .grad, float32 kept, determinism."""
    check_layer(lambda: nn.MultiHeadAttention(6, 2, rng=0), batch_shapes(last=6, min_lead=2,
                                                                          max_lead=2),
                properties=("gradients", "no_mutation", "accumulation", "dtype",
                            "determinism"))
    check_layer(lambda: nn.MultiHeadAttention(4, 4, causal=True, rng=0),
                batch_shapes(last=4, min_lead=2, max_lead=2), batch_independent=True)


# ---------------------------------------------------------------------- properties
@given(case=attention_cases(masks=False), data=st.data())
def test_causal_output_at_t_ignores_inputs_after_t(case, data):
    x, H, _, _, seed = case
    N, T, E = x.shape
    t = data.draw(st.integers(0, T - 1), label="t")
    layer = mha(E, H, causal=True, seed=seed)
    y = layer(x)
    x2 = x.copy()
    x2[:, t + 1:] = data.draw(arrays((N, T - t - 1, E)), label="new future")
    y2 = layer(x2)
    np.testing.assert_array_equal(y2[:, :t + 1], y[:, :t + 1])
    # and the gradient of anything at <= t never reaches the inputs after t
    g = np.zeros_like(y)
    g[:, :t + 1] = np.random.default_rng(seed).standard_normal((N, t + 1, E))
    layer.forward(x)
    dx = layer.backward(g)
    assert np.all(dx[:, t + 1:] == 0)


def test_non_causal_output_does_depend_on_later_inputs():
    layer = mha(4, 2, seed=1)
    x = np.random.default_rng(0).standard_normal((1, 3, 4))
    x2 = x.copy()
    x2[0, 2] += 1.0
    assert not np.allclose(layer(x)[0, 0], layer(x2)[0, 0])


@given(case=attention_cases(), data=st.data())
def test_self_attention_is_permutation_equivariant(case, data):
    """Without positional encoding, permuting the positions permutes the outputs (and a
    key-padding mask permuted alike keeps it so); gradients permute the same way."""
    x, H, mask, _, seed = case
    N, T, E = x.shape
    perm = np.array(data.draw(st.permutations(range(T)), label="perm"))
    layer = mha(E, H, seed=seed)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    layer.zero_grad()
    y = layer(x, mask)
    dx = layer.backward(g)
    grads = {n: p.grad.copy() for n, p in layer.named_parameters()}
    layer.zero_grad()
    y_p = layer(x[:, perm], None if mask is None else mask[:, perm])
    dx_p = layer.backward(g[:, perm])
    np.testing.assert_allclose(y_p, y[:, perm], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx_p, dx[:, perm], rtol=1e-12, atol=1e-12)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, grads[n], rtol=1e-10, atol=1e-12)


@given(case=attention_cases(masks=False), data=st.data())
def test_masked_keys_get_zero_attention_and_zero_gradient(case, data):
    x, H, _, causal, seed = case
    N, T, E = x.shape
    mask = data.draw(hnp.arrays(np.bool_, (N, T)), label="mask")
    mask[:, 0] = False  # at least one visible key per sequence (all-masked: next test)
    layer = mha(E, H, causal, seed)
    y = layer(x, mask)
    P = layer.attention_weights                    # (N, H, T_query, T_key)
    assert P.shape == (N, H, T, T)
    assert np.all(P.transpose(0, 3, 1, 2)[mask] == 0)  # masked keys j: weight exactly 0
    np.testing.assert_allclose(P.sum(-1), 1.0, rtol=1e-12)
    # changing masked positions changes no output at unmasked positions
    x2 = x.copy()
    x2[mask] += data.draw(arrays((int(mask.sum()), E)), label="new values")
    y2 = layer(x2, mask)
    np.testing.assert_allclose(y2[~mask], y[~mask], rtol=0, atol=1e-13)
    # zero gradient: a loss on the unmasked queries sends exactly nothing to masked inputs
    g = np.random.default_rng(seed).standard_normal(y.shape)
    g[mask] = 0
    layer.forward(x, mask)
    dx = layer.backward(g)
    assert np.all(dx[mask] == 0)


@given(case=attention_cases(masks=False))
def test_fully_masked_sequence_attends_to_nothing_without_nan(case):
    """Defined behaviour: every weight 0, context 0, output = out_proj.bias, finite
    gradients (only out_proj.bias receives any from that sequence)."""
    x, H, _, causal, seed = case
    N, T, E = x.shape
    mask = np.zeros((N, T), dtype=bool)
    mask[0] = True
    layer = mha(E, H, causal, seed)
    y = layer(x, mask)
    assert np.all(np.isfinite(y))
    assert np.all(layer.attention_weights[0] == 0)
    np.testing.assert_array_equal(y[0], np.broadcast_to(layer.out_proj.bias.data, (T, E)))
    g = np.zeros_like(y)
    g[0] = np.random.default_rng(seed).standard_normal((T, E))
    layer.zero_grad()
    layer.forward(x, mask)
    dx = layer.backward(g)
    assert np.all(dx == 0)
    for name, p in layer.named_parameters():
        if name == "out_proj.bias":
            np.testing.assert_allclose(p.grad, g[0].sum(0), rtol=1e-12)
        else:
            assert np.all(p.grad == 0), name


def test_large_scores_are_stable():
    """Scores of order 1e4 (huge inputs): the shifted softmax neither overflows nor NaNs."""
    layer = mha(4, 2, causal=True, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)) * 1e3
    y = layer(x, np.array([[False] * 5, [False, False, True, True, True]]))
    assert np.all(np.isfinite(y))
    dx = layer.backward(np.ones_like(y))
    assert np.all(np.isfinite(dx))


def test_attention_weights_match_the_formula():
    """P = softmax(Q K^T / sqrt(d)) per head, computed here head by head with a loop."""
    N, T, E, H = 2, 4, 6, 3
    d = E // H
    layer = mha(E, H, seed=5)
    x = np.random.default_rng(1).standard_normal((N, T, E))
    layer(x)
    Q = x @ layer.q_proj.weight.data + layer.q_proj.bias.data
    K = x @ layer.k_proj.weight.data + layer.k_proj.bias.data
    for n in range(N):
        for h in range(H):
            s = Q[n, :, h * d:(h + 1) * d] @ K[n, :, h * d:(h + 1) * d].T / math.sqrt(d)
            p = np.exp(s - s.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            np.testing.assert_allclose(layer.attention_weights[n, h], p, rtol=1e-12)


# ---------------------------------------------------------------------- PyTorch
def torch_mha_from(layer: nn.MultiHeadAttention, torch):
    """A torch.nn.MultiheadAttention (batch_first) holding ``layer``'s weights.

    torch packs q, k, v into in_proj_weight (3E, E), rows [q; k; v], and stores every Linear
    weight as (out, in): the transpose of our (in, out).
    """
    E, H = layer.embed_dim, layer.num_heads
    bias = layer.q_proj.bias is not None
    ref = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
            [p.weight.data.T for p in (layer.q_proj, layer.k_proj, layer.v_proj)])))
        ref.out_proj.weight.copy_(torch.from_numpy(layer.out_proj.weight.data.T.copy()))
        if bias:
            ref.in_proj_bias.copy_(torch.from_numpy(np.concatenate(
                [p.bias.data for p in (layer.q_proj, layer.k_proj, layer.v_proj)])))
            ref.out_proj.bias.copy_(torch.from_numpy(layer.out_proj.bias.data))
    return ref


def torch_grads_of_mha(ref, E):
    """Our parameter names -> torch's gradients, in our (in, out) layout."""
    w = ref.in_proj_weight.grad.numpy()
    out = {"q_proj.weight": w[:E].T, "k_proj.weight": w[E:2 * E].T,
           "v_proj.weight": w[2 * E:].T, "out_proj.weight": ref.out_proj.weight.grad.numpy().T}
    if ref.in_proj_bias is not None:
        b = ref.in_proj_bias.grad.numpy()
        out.update({"q_proj.bias": b[:E], "k_proj.bias": b[E:2 * E], "v_proj.bias": b[2 * E:],
                    "out_proj.bias": ref.out_proj.bias.grad.numpy()})
    return out


@given(case=attention_cases(max_n=3, max_t=6, max_heads=4, max_d=4),
       bias=st.booleans())
def test_mha_matches_torch_multihead_attention(case, bias):
    torch = pytest.importorskip("torch")
    x, H, mask, causal, seed = case
    N, T, E = x.shape
    if mask is not None:
        mask[:, 0] = False  # torch gives NaN for a query with no visible key
    layer = nn.MultiHeadAttention(E, H, bias=bias, causal=causal, rng=seed, dtype=F64)
    randomise_biases(layer, seed)
    ref = torch_mha_from(layer, torch)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    layer.zero_grad()
    y = layer(x, mask)
    dx = layer.backward(g)
    xt = torch.from_numpy(x).requires_grad_(True)
    attn_mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
    yt, wt = ref(xt, xt, xt, key_padding_mask=None if mask is None else torch.from_numpy(mask),
                 attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.attention_weights, wt.detach().numpy(), rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    for name, tg in torch_grads_of_mha(ref, E).items():
        np.testing.assert_allclose(dict(layer.named_parameters())[name].grad, tg,
                                   rtol=1e-10, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------------- dtypes, modes
@pytest.mark.parametrize("causal", [False, True])
def test_float32_in_float32_out_and_close_to_float64(causal):
    x = np.random.default_rng(0).standard_normal((3, 7, 8))
    mask = np.zeros((3, 7), bool)
    mask[1, 5:] = True
    l64 = mha(8, 2, causal, seed=2)
    l32 = mha(8, 2, causal, seed=2, dtype=F32)
    l32.load_state_dict(l64.state_dict())
    y32 = l32(x.astype(F32), mask)
    assert y32.dtype == F32
    g = np.random.default_rng(1).standard_normal(y32.shape)
    dx32 = l32.backward(g.astype(F32))
    assert dx32.dtype == F32
    assert all(p.grad.dtype == F32 for p in l32.parameters())
    y64 = l64(x, mask)
    dx64 = l64.backward(g)
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    # a float64 upstream gradient into the float32 layer is cast, not promoted
    l32.forward(x.astype(F32), mask)
    assert l32.backward(g).dtype == F32


def test_dropout_only_in_train_mode_and_reproducible():
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    layer = nn.MultiHeadAttention(4, 2, dropout=0.5, rng=7, dtype=F64)
    y_train = layer(x)
    layer.eval()
    y_eval = layer(x)
    assert np.allclose(layer.attention_weights.sum(-1), 1)
    assert not np.allclose(y_train, y_eval)
    assert np.array_equal(layer(x), y_eval)  # eval: deterministic
    a = nn.MultiHeadAttention(4, 2, dropout=0.5, rng=7, dtype=F64)
    assert np.array_equal(a(x), y_train)     # same seed, same masks


def test_set_input_grad_false_returns_none_and_keeps_parameter_gradients():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    g = np.random.default_rng(1).standard_normal((2, 3, 4))
    a, b = mha(4, 2, seed=1), mha(4, 2, seed=1)
    b.set_input_grad(False)
    a(x)
    a.backward(g)
    b(x)
    assert b.backward(g) is None
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.grad, pb.grad, err_msg=n)


def test_state_dict_names_and_repr():
    layer = nn.MultiHeadAttention(8, 2, causal=True, rng=0)
    assert list(layer.state_dict()) == [f"{p}_proj.{w}" for p in ("q", "k", "v", "out")
                                        for w in ("weight", "bias")]
    assert all(p.dtype == F32 for p in layer.parameters())
    assert layer.extra_repr() == "embed_dim=8, num_heads=2, causal=True"
    assert "(q_proj): Linear(in_features=8, out_features=8, bias=True)" in repr(layer)


# ---------------------------------------------------------------------- errors
def test_heads_must_divide_embed_dim():
    with pytest.raises(ValueError, match="num_heads=3 does not divide embed_dim=8"):
        nn.MultiHeadAttention(8, 3)
    with pytest.raises(ValueError, match="positive"):
        nn.MultiHeadAttention(8, 0)


def test_input_and_mask_errors_name_the_layer_and_shapes():
    layer = nn.MultiHeadAttention(4, 2, dtype=F64)
    with pytest.raises(ValueError, match=r"MultiHeadAttention.*\(N, T, 4\).*\(2, 3\)"):
        layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"MultiHeadAttention.*\(N, T, 4\).*\(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match="float32"):
        layer(np.zeros((2, 3, 4), dtype=F32))
    with pytest.raises(ValueError, match=r"key-padding mask of shape \(2, 3\).*\(3, 2\)"):
        layer(np.zeros((2, 3, 4)), np.zeros((3, 2), bool))
    with pytest.raises(TypeError, match="boolean.*True = ignore"):
        layer(np.zeros((2, 3, 4)), np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.MultiHeadAttention(4, 2).backward(np.zeros((2, 3, 4), F32))
    layer(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 3, 4\)"):
        layer.backward(np.zeros((2, 3, 3)))


# ---------------------------------------------------------------------- positional encoding
def test_positional_encoding_values_follow_the_formula():
    d = 7  # odd: the last column is a sine
    pe = nn.PositionalEncoding(d, max_len=50)
    table = pe.table()
    for t in (0, 1, 13, 49):
        for i in range(d):
            w = 10000.0 ** (-(i - i % 2) / d)
            want = math.sin(t * w) if i % 2 == 0 else math.cos(t * w)
            assert table[t, i] == pytest.approx(want, abs=1e-12)
    x = np.random.default_rng(0).standard_normal((2, 10, d)).astype(F32)
    y = pe(x)
    assert y.dtype == F32
    np.testing.assert_allclose(y, x + table[:10].astype(F32), rtol=1e-6)
    assert len(set(map(tuple, np.round(table, 6)))) == 50  # every position distinct


@given(x=arrays(st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5))),
       p=st.sampled_from([0.0, 0.3]), seed=seeds)
def test_positional_encoding_gradcheck(x, p, seed):
    layer = nn.PositionalEncoding(x.shape[-1], max_len=8, dropout=p, rng=seed)
    report = nn.assert_gradcheck(layer, x, seed=seed)
    assert [r.name for r in report.results] == ["input"]


def test_positional_encoding_breaks_permutation_equivariance():
    layer = mha(4, 2, seed=0)
    model = nn.Sequential(nn.PositionalEncoding(4), layer)
    x = np.random.default_rng(0).standard_normal((1, 5, 4))
    perm = np.array([4, 3, 2, 1, 0])
    assert not np.allclose(model(x[:, perm]), model(x)[:, perm])


def test_positional_encoding_errors_and_state():
    pe = nn.PositionalEncoding(4, max_len=6)
    with pytest.raises(ValueError, match="sequence length 7 exceeds max_len 6"):
        pe(np.zeros((1, 7, 4)))
    with pytest.raises(ValueError, match=r"PositionalEncoding.*\(1, 3, 5\)"):
        pe(np.zeros((1, 3, 5)))
    assert pe.state_dict() == {} and list(pe.parameters()) == []
    g = np.ones((1, 3, 4))
    pe(np.zeros((1, 3, 4)))
    dx = pe.backward(g)
    assert np.array_equal(dx, g) and np.array_equal(g, np.ones((1, 3, 4)))


# ----------------------------------------------------------------------------- fast kernels
# The layer calls three in-place / layout kernels; each equals its plain form (float64).
from nn.layers.attention import (  # noqa: E402
    MultiHeadAttention,
    masked_softmax,
    masked_softmax_fast,
    softmax_grad,
    softmax_grad_fast,
)


@st.composite
def scores(draw):
    """S (N, H, T, T) float64, stored key-major like the layer's, with some -inf (masked
    keys) and possibly whole masked rows."""
    N, H, T = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 6))
    S = draw(arrays((N, H, T, T), -30.0, 30.0, np.float64))
    hide = draw(hnp.arrays(np.bool_, (N, H, T, T)))
    S = np.where(hide, -np.inf, S)
    return np.ascontiguousarray(S.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)


@given(S=scores())
def test_masked_softmax_fast_equals_plain(S):
    P = masked_softmax(S)
    np.testing.assert_allclose(masked_softmax_fast(S.copy()), P, rtol=1e-12, atol=0)
    assert np.all(np.isfinite(P))


@given(S=scores(), data=st.data())
def test_softmax_grad_fast_equals_plain(S, data):
    P = masked_softmax(S)
    dP = data.draw(arrays(P.shape, -5.0, 5.0, np.float64))
    D = np.sum(P * dP, axis=-1, keepdims=True)
    np.testing.assert_allclose(softmax_grad_fast(P, dP.copy(), D), softmax_grad(P, dP, D),
                               rtol=1e-12, atol=1e-300)


@given(data=st.data())
def test_merged_equals_product_then_merge(data):
    N, T = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 4))     # empty too
    H, k, d = (data.draw(st.integers(1, 4)) for _ in range(3))
    A = data.draw(arrays((N, H, T, k), -3.0, 3.0, np.float64))
    B = data.draw(arrays((N, H, k, d), -3.0, 3.0, np.float64))
    plain = (A @ B).transpose(0, 2, 1, 3).reshape(N * T, H * d)
    np.testing.assert_allclose(MultiHeadAttention._merged(A, B), plain, rtol=1e-12, atol=1e-300)
