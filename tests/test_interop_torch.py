"""nn.interop.to_torch / from_torch: every layer family, both dtypes, both modes.

For each case (a family with its options, random parameters and buffers), in float32 and
float64, in train and eval mode:

* the torch module is in the model's mode and gives the model's output (relative to the
  output's largest magnitude: float64 1e-10, float32 1e-5);
* float64: a random upstream gradient gives the same input gradient, initial-state gradient
  and parameter gradients (torch's mapped back to nn's layout), relative 1e-10;
* ``from_torch(to_torch(m))`` has the same ``state_dict`` (exactly), repr and modes; after
  a train-mode forward the running statistics of both sides agree.

Then the errors (unsupported layers, modules and options), and ``import nn`` without torch.
Mapping: docs/interop.md.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn

torch = pytest.importorskip("torch")
from nn.interop import from_torch, to_torch  # noqa: E402  (needs torch to be useful)

F32, F64 = np.float32, np.float64
TOL = {F64: 1e-10, F32: 1e-5}
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- helpers
def randomise(model: nn.Layer, rng: np.random.Generator) -> nn.Layer:
    """Random values in every parameter and running statistic (ones and zeros at creation
    would let a swapped gamma/beta or mean/var pass)."""
    for _, p in model.named_parameters():
        p.data[...] = rng.uniform(-0.8, 0.8, p.shape)
    for layer in model.modules():
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layer.running_mean[...] = rng.uniform(-1, 1, layer.num_features)
            layer.running_var[...] = rng.uniform(0.5, 2, layer.num_features)
    return model


def rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs| (the contract's measure)."""
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    return float(np.max(np.abs(ours - theirs), initial=0.0)) / scale


def to_tensor(a, requires_grad: bool = False):
    """numpy -> torch (recursively through tuples); float arrays get requires_grad."""
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(to_tensor(v, requires_grad) for v in a)
    t = torch.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(requires_grad and t.dtype.is_floating_point)


def grads_in_nn_layout(module) -> dict[str, np.ndarray]:
    """torch's parameter gradients mapped back to nn's names and layouts: a copy of the
    module holding each gradient where its parameter was, brought back by from_torch (the
    mapping is linear). One-bias layers (RNN, LSTM): their bias gradient is b_ih's (nn's
    bias is b_ih + b_hh, and both have the same gradient), so b_hh is zeroed in the copy."""
    grads = {name: p.grad for name, p in module.named_parameters()}
    clone = copy.deepcopy(module)
    with torch.no_grad():
        for name, p in clone.named_parameters():
            p.copy_(grads[name] if grads[name] is not None else torch.zeros_like(p))
        for m in clone.modules():
            if isinstance(m, (torch.nn.RNN, torch.nn.LSTM)):
                m.bias_hh_l0.zero_()
    back = from_torch(clone)
    return {name: p.data for name, p in back.named_parameters()}


# ---------------------------------------------------------------------- cases
# name -> build(dtype, rng) -> (model, args); args[0] is the input, the rest are forward's
# extra arguments (a key-padding mask, an initial state). Dropout is 0 so train mode is
# deterministic (test_dropout_* checks dropout itself).
def seq(N=3, T=4, E=6):
    return lambda rng, dt: rng.standard_normal((N, T, E)).astype(dt)


def recurrent(cls, return_sequences, state, **kw):
    def build(dt, rng):
        m = cls(3, 5, return_sequences=return_sequences, dtype=dt, **kw)
        x = rng.standard_normal((2, 4, 3)).astype(dt)
        if not state:
            return m, (x,)
        h = rng.standard_normal((2, 5)).astype(dt) * 0.5
        s = (h, rng.standard_normal((2, 5)).astype(dt) * 0.5) if cls is nn.LSTM else h
        return m, (x, s)
    return build


def padding_mask(rng, N=3, T=4, whole_sequence=False):
    mask = rng.random((N, T)) < 0.4
    mask[:, 0] = False
    if whole_sequence:
        mask[1] = True                        # every key of one sequence: queries see nothing
    return mask


def attention(causal, masked, whole_sequence=False):
    def build(dt, rng):
        m = nn.MultiHeadAttention(6, 2, causal=causal, dtype=dt)
        x = seq()(rng, dt)
        return m, (x, padding_mask(rng, whole_sequence=whole_sequence)) if masked else (x,)
    return build


def encoder_layer(norm_first, causal=False, masked=False, activation="relu", bias=True):
    def build(dt, rng):
        m = nn.TransformerEncoderLayer(6, 2, 10, 0.0, causal, norm_first, activation=activation,
                                       bias=bias, dtype=dt)
        x = seq()(rng, dt)
        return m, (x, padding_mask(rng)) if masked else (x,)
    return build


def encoder(norm_first, masked):
    def build(dt, rng):
        m = nn.TransformerEncoder(
            lambda: nn.TransformerEncoderLayer(6, 3, 8, 0.0, False, norm_first, dtype=dt), 2,
            nn.LayerNorm(6, dtype=dt) if norm_first else None)
        x = seq()(rng, dt)
        return m, (x, padding_mask(rng)) if masked else (x,)
    return build


def images(shape):
    return lambda rng, dt: rng.standard_normal(shape).astype(dt)


def simple(make: Callable[[type], nn.Layer], shape) -> Callable:
    return lambda dt, rng: (make(dt), (rng.standard_normal(shape).astype(dt),))


CASES: dict[str, Callable] = {
    "Linear": simple(lambda dt: nn.Linear(5, 3, dtype=dt), (4, 5)),
    "Linear-3d-nobias": simple(lambda dt: nn.Linear(5, 3, bias=False, dtype=dt), (2, 4, 5)),
    "ReLU": simple(lambda dt: nn.ReLU(), (4, 5)),
    "LeakyReLU": simple(lambda dt: nn.LeakyReLU(0.2), (4, 5)),
    "Sigmoid": simple(lambda dt: nn.Sigmoid(), (4, 5)),
    "Tanh": simple(lambda dt: nn.Tanh(), (4, 5)),
    "GELU": simple(lambda dt: nn.GELU(), (4, 5)),
    "Softmax": simple(lambda dt: nn.Softmax(axis=1), (3, 4, 5)),
    "LogSoftmax": simple(lambda dt: nn.LogSoftmax(), (3, 4, 5)),
    "Flatten": simple(lambda dt: nn.Flatten(), (2, 3, 4, 5)),
    "Dropout": simple(lambda dt: nn.Dropout(0.0), (4, 5)),
    "Conv2d": simple(lambda dt: nn.Conv2d(3, 4, 3, 2, 1, dtype=dt), (2, 3, 9, 8)),
    "Conv2d-dilated-nobias": simple(
        lambda dt: nn.Conv2d(2, 3, (3, 2), (1, 2), (2, 0), False, dtype=dt, dilation=(2, 1)),
        (2, 2, 7, 8)),
    "MaxPool2d": simple(lambda dt: nn.MaxPool2d(3, 2, 1), (2, 3, 9, 8)),
    "AvgPool2d": simple(lambda dt: nn.AvgPool2d((3, 2), (2, 1), (1, 1)), (2, 3, 9, 8)),
    "Conv1d": simple(lambda dt: nn.Conv1d(3, 4, 3, 2, 1, dtype=dt), (2, 3, 9)),
    "Conv1d-dilated-nobias": simple(
        lambda dt: nn.Conv1d(2, 3, 3, 1, 2, False, dtype=dt, dilation=2), (2, 2, 7)),
    "MaxPool1d": simple(lambda dt: nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    "AvgPool1d": simple(lambda dt: nn.AvgPool1d(3, 1, 1), (2, 3, 9)),
    "BatchNorm1d": simple(lambda dt: nn.BatchNorm1d(4, momentum=0.3, dtype=dt), (6, 4)),
    "BatchNorm1d-NCL-noaffine": simple(
        lambda dt: nn.BatchNorm1d(4, eps=1e-3, affine=False, dtype=dt), (5, 4, 3)),
    "BatchNorm2d": simple(lambda dt: nn.BatchNorm2d(3, dtype=dt), (4, 3, 5, 5)),
    "LayerNorm": simple(lambda dt: nn.LayerNorm((4, 5), dtype=dt), (3, 4, 5)),
    "LayerNorm-nobias": simple(lambda dt: nn.LayerNorm(5, bias=False, dtype=dt), (3, 4, 5)),
    "LayerNorm-noaffine": simple(lambda dt: nn.LayerNorm(5, 1e-3, False, dtype=dt), (3, 5)),
    "Embedding": lambda dt, rng: (nn.Embedding(10, 4, padding_idx=2, dtype=dt),
                                  (rng.integers(0, 10, (3, 5)),)),
    "RNN": recurrent(nn.RNN, True, False),
    "RNN-relu-last-state": recurrent(nn.RNN, False, True, nonlinearity="relu"),
    "LSTM": recurrent(nn.LSTM, True, True),
    "LSTM-last": recurrent(nn.LSTM, False, False),
    "GRU": recurrent(nn.GRU, True, True),
    "GRU-last": recurrent(nn.GRU, False, False),
    "MultiHeadAttention": attention(False, False),
    "MultiHeadAttention-causal": attention(True, False),
    "MultiHeadAttention-padding": attention(False, True),
    "MultiHeadAttention-causal-padding-empty": attention(True, True, whole_sequence=True),
    "PositionalEncoding": lambda dt, rng: (nn.PositionalEncoding(6, 20), (seq(2, 7)(rng, dt),)),
    "EncoderLayer-postnorm": encoder_layer(False),
    "EncoderLayer-prenorm-causal-gelu": encoder_layer(True, True, activation="gelu"),
    "EncoderLayer-postnorm-padding-nobias": encoder_layer(False, masked=True, bias=False),
    "EncoderLayer-tanh": encoder_layer(True, activation=nn.Tanh()),
    "Encoder-postnorm-padding": encoder(False, True),
    "Encoder-prenorm-norm": encoder(True, False),
    "Residual": simple(lambda dt: nn.Residual(nn.Sequential(nn.Linear(4, 4, dtype=dt),
                                                            nn.Tanh())), (3, 4)),
    "Sequential-cnn1d": simple(lambda dt: nn.Sequential(
        nn.Conv1d(1, 3, 5, padding=2, dtype=dt), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(3, 4, 3, stride=2, dtype=dt), nn.AvgPool1d(2), nn.Flatten(),
        nn.Linear(4, 5, dtype=dt)), (3, 1, 12)),
    "Sequential-cnn": simple(lambda dt: nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, dtype=dt), nn.BatchNorm2d(3, dtype=dt), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.0), nn.Linear(3 * 4 * 4, 5, dtype=dt),
        nn.LogSoftmax()), (3, 1, 8, 8)),
    "models.cnn": simple(lambda dt: nn.models.cnn((1, 8, 8), 4, channels=3, hidden=6,
                                                  dtype=dt), (2, 1, 8, 8)),
    "TransformerClassifier-tokens-padding": lambda dt, rng: (
        nn.models.transformer_classifier(3, vocab_size=9, d_model=6, nhead=2, num_layers=2,
                                         dim_feedforward=8, max_len=12, dtype=dt),
        (rng.integers(0, 9, (3, 4)), padding_mask(rng, whole_sequence=True))),
    "TransformerClassifier-features-first-prenorm": lambda dt, rng: (
        nn.models.transformer_classifier(
            2, in_features=5, d_model=4, nhead=2, num_layers=1, dim_feedforward=6,
            max_len=8, pooling="first", norm_first=True, activation="gelu", dtype=dt),
        (rng.standard_normal((3, 4, 5)).astype(dt),)),
    "TransformerLanguageModel": lambda dt, rng: (
        nn.models.transformer_language_model(7, d_model=6, nhead=3, num_layers=2,
                                             dim_feedforward=8, dropout=0.0, max_len=10,
                                             dtype=dt), (rng.integers(0, 7, (2, 5)),)),
    "RecurrentLanguageModel-lstm": lambda dt, rng: (
        nn.models.lstm_language_model(8, 4, 5, dtype=dt), (rng.integers(0, 8, (2, 5)),)),
    "RecurrentLanguageModel-gru": lambda dt, rng: (
        nn.models.lstm_language_model(8, 4, 5, cell="gru", dropout=0.0, dtype=dt),
        (rng.integers(0, 8, (2, 5)),)),
    "TextClassifier": lambda dt, rng: (
        nn.models.text_classifier(9, 4, 5, 3, dropout=0.0, pad_id=0, dtype=dt),
        (np.concatenate([rng.integers(0, 9, (3, 4)), np.zeros((3, 2), np.int64)], 1),)),
    "Sequential-text": lambda dt, rng: (nn.Sequential(
        nn.Embedding(7, 4, dtype=dt), nn.PositionalEncoding(4, 10), nn.LSTM(4, 5, dtype=dt),
        nn.GRU(5, 3, False, dtype=dt), nn.Linear(3, 2, dtype=dt)),
        (rng.integers(0, 7, (2, 6)),)),
}


def build(name: str, dtype, training: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    model, args = CASES[name](dtype, rng)
    randomise(model, rng)
    model.train(training)
    return model, args


# ---------------------------------------------------------------------- same function
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CASES))
def test_to_torch_computes_the_same_function(name, dtype, training):
    model, args = build(name, dtype, training)
    assert_same_function(model, args, dtype, name)


def assert_same_function(model: nn.Layer, args: tuple, dtype, name: str) -> None:
    """to_torch(model) is in the model's modes and gives its output; a train-mode forward
    updates running statistics alike; in float64, every gradient agrees."""
    module = to_torch(model)
    assert [m.training for m in module.modules()] == [model.training] * len(
        list(module.modules())), name
    before = from_torch(module).state_dict()
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), name
    torch_args = [to_tensor(args[0], requires_grad=True)] + [to_tensor(a, True) for a in args[1:]]
    y = model.forward(*args)
    yt = module(*torch_args)
    assert isinstance(yt, torch.Tensor) and yt.dtype == torch.from_numpy(y).dtype
    assert rel_err(yt.detach().numpy(), y) <= TOL[dtype], name
    back = from_torch(module).state_dict()
    for key, value in model.state_dict().items():
        assert rel_err(back[key], value) <= TOL[dtype], (name, key)
    if dtype is F32:
        return
    # float64: every gradient, with a random upstream gradient
    g = np.random.default_rng(1).standard_normal(y.shape)
    model.zero_grad()
    dx = model.backward(g)
    yt.backward(torch.from_numpy(g))
    if dx is not None:
        assert rel_err(torch_args[0].grad.numpy(), dx) <= 1e-10, (name, "dx")
    if len(args) > 1 and isinstance(model, (nn.RNN, nn.LSTM, nn.GRU)):
        state_grad = model.state_grad if isinstance(model.state_grad, tuple) \
            else (model.state_grad,)
        state_t = torch_args[1] if isinstance(torch_args[1], tuple) else (torch_args[1],)
        for ours, theirs in zip(state_grad, state_t):
            assert rel_err(theirs.grad.numpy(), ours) <= 1e-10, (name, "initial state")
    # relative to the largest parameter gradient: some are zero in exact arithmetic (a key
    # bias under softmax, a bias before train-mode BatchNorm) and differ by rounding noise
    theirs = grads_in_nn_layout(module)
    ours = dict(model.named_parameters())
    scale = max((float(np.max(np.abs(p.grad))) for p in ours.values()), default=0.0)
    for key, p in ours.items():
        assert np.max(np.abs(theirs[key] - p.grad)) <= 1e-10 * scale, (name, key)


# ---------------------------------------------------------------------- generated geometry
@settings(max_examples=10)
@given(st.data())
def test_conv_and_pooling_over_generated_geometry(data):
    """Conv2d then a pool, over generated kernel sizes, strides, paddings, dilations and
    image sizes (float64, forward and every gradient, train mode with BatchNorm between).
    Ten examples: torch's first call of each convolution geometry costs about 0.1 s."""
    draw = data.draw
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    conv = nn.Conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 3)), k,
                     (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                     (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                     draw(st.booleans()), dtype=F64, dilation=dil)
    pk = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pool = draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(
        pk, (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        (draw(st.integers(0, pk[0] // 2)), draw(st.integers(0, pk[1] // 2))))
    H = draw(st.integers(dil[0] * (k[0] - 1) + 1 + 2, 9))
    W = draw(st.integers(dil[1] * (k[1] - 1) + 1 + 2, 9))
    _, C, Ho, Wo = conv.output_shape((1, conv.in_channels, H, W))
    if pool.output_shape((1, C, Ho, Wo))[2] <= 0 or pool.output_shape((1, C, Ho, Wo))[3] <= 0:
        pool = nn.AvgPool2d(1)
    model = nn.Sequential(conv, nn.BatchNorm2d(C, dtype=F64), pool)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    randomise(model, rng)
    x = rng.standard_normal((draw(st.integers(2, 3)), conv.in_channels, H, W))
    assert_same_function(model, (x,), F64, repr(model))


@given(st.data())
def test_attention_and_recurrent_over_generated_shapes_and_masks(data):
    """Attention (causal or not, any padding mask, whole sequences masked included) and the
    recurrent layers (either output, with or without an initial state), float64."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    heads, width = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mha = randomise(nn.MultiHeadAttention(heads * width, heads, draw(st.booleans()),
                                          draw(st.booleans()), dtype=F64), rng)
    x = rng.standard_normal((N, T, heads * width))
    mask = rng.random((N, T)) < draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    args = (x, mask) if draw(st.booleans()) else (x,)
    assert_same_function(mha, args, F64, f"{mha!r} mask={args[1:]}")
    cls = draw(st.sampled_from([nn.RNN, nn.LSTM, nn.GRU]))
    I, H = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layer = randomise(cls(I, H, return_sequences=draw(st.booleans()), dtype=F64), rng)
    x = rng.standard_normal((N, T, I))
    args = (x,)
    if draw(st.booleans()):
        h = rng.standard_normal((N, H))
        args = (x, (h, rng.standard_normal((N, H))) if cls is nn.LSTM else h)
    assert_same_function(layer, args, F64, repr(layer))


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CASES))
def test_from_torch_of_to_torch_is_the_same_model(name, dtype, training):
    model, _ = build(name, dtype, training)
    back = from_torch(to_torch(model))
    assert repr(back) == repr(model)
    ours, theirs = model.state_dict(), back.state_dict()
    assert list(theirs) == list(ours)
    for key, value in ours.items():
        assert theirs[key].dtype == value.dtype and np.array_equal(theirs[key], value), key
    assert [m.training for m in back.modules()] == [m.training for m in model.modules()]
    assert [p.requires_grad for p in back.parameters()] == \
        [p.requires_grad for p in model.parameters()]


def test_mixed_modes_and_frozen_parameters_carry_over():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    model.train()
    model[2].eval()
    model[0].bias.requires_grad = False
    module = to_torch(model)
    assert [m.training for m in module.modules()] == [True, True, True, False, False]
    assert not module[0].bias.requires_grad and module[0].weight.requires_grad
    back = from_torch(module)
    assert [m.training for m in back.modules()] == [True, True, True, False, False]
    assert not back[0].bias.requires_grad


def test_the_torch_side_is_plain_torch():
    """What to_torch builds is ordinary torch: subclasses of the torch classes, state_dict
    keys of torch's own modules, trainable by a torch optimizer."""
    model = nn.Sequential(nn.LSTM(3, 4, False, dtype=F64), nn.Linear(4, 2, dtype=F64))
    module = to_torch(model)
    assert isinstance(module[0], torch.nn.LSTM) and module[0].batch_first
    assert set(module.state_dict()) == {
        "0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0", "1.weight",
        "1.bias"}
    assert not module[0].bias_hh_l0.detach().any()
    plain = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    plain.load_state_dict(module[0].state_dict())
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert torch.equal(plain(x)[0][:, -1], module[0](x))
    assert module[0].state[0].shape == (2, 4)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    module(x).square().sum().backward()
    opt.step()
    assert not np.array_equal(from_torch(module)[1].weight.data, model[1].weight.data)


def test_from_torch_of_plain_torch_modules():
    """Modules built in torch (not by to_torch) come over with torch's defaults."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding="same"), torch.nn.ReLU(inplace=True),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 4),
        torch.nn.LogSoftmax(dim=1)).double().eval()
    model = from_torch(module)
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6))
    assert not model.training
    assert rel_err(model.forward(x), module(torch.from_numpy(x)).detach().numpy()) <= 1e-10
    layer = torch.nn.TransformerEncoderLayer(6, 2, 8, 0.0, batch_first=True, norm_first=True,
                                             dtype=torch.float64)
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).train()
    x = np.random.default_rng(1).standard_normal((2, 5, 6))
    ours = from_torch(encoder)
    assert ours.training and not ours.layers[0].causal
    assert rel_err(ours.forward(x), encoder(torch.from_numpy(x)).detach().numpy()) <= 1e-10
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    x = np.random.default_rng(2).standard_normal((2, 5, 3))
    assert rel_err(from_torch(gru).forward(x), gru(torch.from_numpy(x))[0].detach().numpy()) \
        <= 1e-10


def test_from_torch_takes_the_model_out_of_a_data_parallel_wrapper():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    back = from_torch(torch.nn.DataParallel(to_torch(model)))
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in back.state_dict().items())


def test_dropout_options_carry_over():
    """Dropout probabilities of every family that has one (attention weights, positional
    encoding, the encoder layer's four): the same p in torch and back; eval mode equal."""
    model = nn.Sequential(
        nn.PositionalEncoding(6, 10, dropout=0.1),
        nn.MultiHeadAttention(6, 2, dropout=0.3, dtype=F64),
        nn.TransformerEncoderLayer(6, 3, 8, 0.2, dtype=F64), nn.Dropout(0.4)).eval()
    randomise(model, np.random.default_rng(0))
    module = to_torch(model)
    assert [module[0].dropout.p, module[1].dropout, module[2].self_attn.dropout,
            module[2].dropout.p, module[2].dropout1.p, module[2].dropout2.p, module[3].p] == \
        [0.1, 0.3, 0.2, 0.2, 0.2, 0.2, 0.4]
    x = np.random.default_rng(1).standard_normal((2, 5, 6))
    assert rel_err(module(torch.from_numpy(x)).detach().numpy(), model.forward(x)) <= 1e-10
    assert repr(from_torch(module)) == repr(model)
    back = from_torch(module)
    assert [back[0].dropout.p, back[1].dropout, back[2].self_attn.dropout, back[2].dropout.p,
            back[2].dropout1.p, back[2].dropout2.p, back[3].p] == \
        [0.1, 0.3, 0.2, 0.2, 0.2, 0.2, 0.4]
    lm = nn.models.lstm_language_model(8, 4, 5, dropout=0.3, dtype=F64).eval()
    ids = np.random.default_rng(2).integers(0, 8, (2, 5))
    module = to_torch(lm)
    assert module.dropout.p == 0.3 and from_torch(module).dropout.p == 0.3
    assert rel_err(module(torch.from_numpy(ids)).detach().numpy(), lm.forward(ids)) <= 1e-10


def test_dropout_in_train_mode():
    """Masks differ between the two frameworks; what both keep is x / (1 - p) or 0."""
    x = np.random.default_rng(0).uniform(1, 2, (400, 5))
    module = to_torch(nn.Dropout(0.25).train())
    assert isinstance(module, torch.nn.Dropout) and module.p == 0.25 and module.training
    y = module(torch.from_numpy(x)).numpy()
    kept = y != 0
    assert 0.65 < kept.mean() < 0.85
    assert np.allclose(y[kept], x[kept] / 0.75, rtol=1e-15)
    assert np.array_equal(to_torch(nn.Dropout(0.25).eval())(torch.from_numpy(x)).numpy(), x)


# ---------------------------------------------------------------------- errors
class Doubler(nn.Layer):
    def forward(self, x):
        return 2 * x

    def backward(self, grad_y):
        return 2 * grad_y


def test_unsupported_nn_layer_is_named_with_the_supported_list():
    with pytest.raises(TypeError, match=r"Doubler has no PyTorch mapping \(at '1'\); "
                                        r"supported nn layers: .*Conv2d.*LSTM"):
        to_torch(nn.Sequential(nn.Linear(2, 2), Doubler()))
    with pytest.raises(TypeError, match="expected an nn.Layer"):
        to_torch(torch.nn.Linear(2, 2))


def test_unsupported_torch_module_is_named_with_the_supported_list():
    with pytest.raises(TypeError, match=r"torch.nn.Conv3d is not supported \(at '0'\); "
                                        r"supported torch modules: .*torch.nn.LSTM"):
        from_torch(torch.nn.Sequential(torch.nn.Conv3d(1, 1, 1)))
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        from_torch(nn.Linear(2, 2))


REFUSED = {
    "LSTM(bidirectional=True)": lambda: torch.nn.LSTM(2, 3, batch_first=True,
                                                      bidirectional=True),
    "GRU(num_layers=2)": lambda: torch.nn.GRU(2, 3, 2, batch_first=True),
    "RNN(batch_first=False)": lambda: torch.nn.RNN(2, 3),
    "RNN(bias=False)": lambda: torch.nn.RNN(2, 3, bias=False, batch_first=True),
    "LSTM(proj_size=2)": lambda: torch.nn.LSTM(2, 3, batch_first=True, proj_size=2),
    "MultiheadAttention(batch_first=False)": lambda: torch.nn.MultiheadAttention(4, 2),
    "MultiheadAttention(add_bias_kv=True)": lambda: torch.nn.MultiheadAttention(
        4, 2, add_bias_kv=True, batch_first=True),
    "MultiheadAttention(kdim=3)": lambda: torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=3,
                                                                     batch_first=True),
    "Conv2d(groups=2)": lambda: torch.nn.Conv2d(2, 2, 3, groups=2),
    "Conv2d(padding_mode='reflect')": lambda: torch.nn.Conv2d(2, 2, 3, padding_mode="reflect"),
    "Conv2d(padding='same')": lambda: torch.nn.Conv2d(2, 2, 2, padding="same"),
    "MaxPool2d(ceil_mode=True)": lambda: torch.nn.MaxPool2d(2, ceil_mode=True),
    "MaxPool2d(dilation=2)": lambda: torch.nn.MaxPool2d(2, dilation=2),
    "AvgPool2d(count_include_pad=False)": lambda: torch.nn.AvgPool2d(2, 1, 1,
                                                                     count_include_pad=False),
    "Conv1d(groups=2)": lambda: torch.nn.Conv1d(2, 2, 3, groups=2),
    "MaxPool1d(ceil_mode=True)": lambda: torch.nn.MaxPool1d(2, ceil_mode=True),
    "MaxPool1d(dilation=2)": lambda: torch.nn.MaxPool1d(2, dilation=2),
    "AvgPool1d(count_include_pad=False)": lambda: torch.nn.AvgPool1d(2, 1, 1,
                                                                     count_include_pad=False),
    "BatchNorm1d(track_running_stats=False)": lambda: torch.nn.BatchNorm1d(
        3, track_running_stats=False),
    "BatchNorm2d(momentum=None)": lambda: torch.nn.BatchNorm2d(3, momentum=None),
    "Embedding(max_norm=1.0)": lambda: torch.nn.Embedding(5, 2, max_norm=1.0),
    "GELU(approximate='tanh')": lambda: torch.nn.GELU("tanh"),
    "Flatten(start_dim, end_dim=(2, -1))": lambda: torch.nn.Flatten(2),
    "Softmax(dim=None)": lambda: torch.nn.Softmax(),
}


@pytest.mark.parametrize("what", list(REFUSED))
def test_unsupported_option_is_named(what):
    with pytest.raises(ValueError, match=r"from_torch: " + re.escape(what) + " is not supported"):
        from_torch(REFUSED[what]())


def test_unsupported_option_deep_inside_says_where():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(
        torch.nn.LSTM(2, 2, batch_first=True, bidirectional=True)))
    with pytest.raises(ValueError, match=r"LSTM\(bidirectional=True\).*\(at '1.0'\)$"):
        from_torch(module)
    layer = torch.nn.TransformerEncoderLayer(4, 2, 8)                 # batch_first=False
    with pytest.raises(ValueError, match=r"MultiheadAttention\(batch_first=False\).*"
                                         r"\(at 'self_attn'\)"):
        from_torch(layer)


def test_import_nn_and_its_interop_need_no_torch():
    """``import nn`` works without torch; calling to_torch says how to install it."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import nn\n"
            "try:\n"
            "    nn.interop.to_torch(nn.Linear(2, 2))\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "pip install 'readable-nn[interop]'" in out


@pytest.mark.parametrize("index", [0, 1])
def test_docs_interop_examples_run(index, capsys):
    """The two ten-line examples of docs/interop.md run as written."""
    text = (ROOT / "docs" / "interop.md").read_text()
    text = text[:text.index("\n## ONNX")]             # the PyTorch part (ONNX's is tested there)
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    exec(compile(blocks[index], f"docs/interop.md block {index}", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    if index == 0:
        assert lines == ["True"]
    else:
        assert float(lines[0]) <= 1e-5 and lines[1] == "(8, 64)"
