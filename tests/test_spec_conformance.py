"""Conformance with the public API contract (docs/api.md): constructor signatures
(names, positional order, defaults), parameter names and shapes, dtype preservation,
``astype``, containers, buffers, losses, clipping, training helpers, persistence, the
command line and seeded initialisation. One test per table row of docs/api.md where it
has one; and docs/api.md itself: every name it lists exists, every exported name is on it.

Also the regression tests of the deviations fixed in the conformance review: Conv2d,
SGD/Momentum, RMSprop, Adagrad and CrossEntropyLoss took their contract's arguments in another
positional order; Residual.backward promoted a float64 gradient on a float32 layer; and
``nn.load`` could not read back ``nn.save``'s file when the path lacked ``.npz``.
"""

from __future__ import annotations

import inspect
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import nn
import optim

F32, F64 = np.float32, np.float64
EMPTY = inspect.Parameter.empty

# ---------------------------------------------------------------------- signatures
# (callable, [(name, default)] in docs/api.md's positional order; EMPTY = required)
SIGNATURES = {
    "Linear": (nn.Linear, [("in_features", EMPTY), ("out_features", EMPTY), ("bias", True)]),
    "LeakyReLU": (nn.LeakyReLU, [("negative_slope", 0.01)]),
    "Softmax": (nn.Softmax, [("axis", -1)]),
    "LogSoftmax": (nn.LogSoftmax, [("axis", -1)]),
    "Flatten": (nn.Flatten, []),
    "Dropout": (nn.Dropout, [("p", 0.5), ("rng", None)]),
    "Conv2d": (nn.Conv2d, [("in_channels", EMPTY), ("out_channels", EMPTY),
                           ("kernel_size", EMPTY), ("stride", 1), ("padding", 0),
                           ("bias", True), ("rng", None), ("dtype", None)]),
    "MaxPool2d": (nn.MaxPool2d, [("kernel_size", EMPTY), ("stride", None), ("padding", 0)]),
    "AvgPool2d": (nn.AvgPool2d, [("kernel_size", EMPTY), ("stride", None), ("padding", 0)]),
    "Conv1d": (nn.Conv1d, [("in_channels", EMPTY), ("out_channels", EMPTY),
                           ("kernel_size", EMPTY), ("stride", 1), ("padding", 0),
                           ("bias", True), ("rng", None), ("dtype", None)]),
    "MaxPool1d": (nn.MaxPool1d, [("kernel_size", EMPTY), ("stride", None), ("padding", 0)]),
    "AvgPool1d": (nn.AvgPool1d, [("kernel_size", EMPTY), ("stride", None), ("padding", 0)]),
    "BatchNorm1d": (nn.BatchNorm1d, [("num_features", EMPTY), ("eps", 1e-5),
                                     ("momentum", 0.1)]),
    "BatchNorm2d": (nn.BatchNorm2d, [("num_features", EMPTY), ("eps", 1e-5),
                                     ("momentum", 0.1)]),
    "LayerNorm": (nn.LayerNorm, [("normalized_shape", EMPTY), ("eps", 1e-5)]),
    "Embedding": (nn.Embedding, [("num_embeddings", EMPTY), ("embedding_dim", EMPTY),
                                 ("rng", None)]),
    "RNN": (nn.RNN, [("input_size", EMPTY), ("hidden_size", EMPTY),
                     ("nonlinearity", "tanh"), ("return_sequences", True)]),
    "LSTM": (nn.LSTM, [("input_size", EMPTY), ("hidden_size", EMPTY),
                       ("return_sequences", True)]),
    "GRU": (nn.GRU, [("input_size", EMPTY), ("hidden_size", EMPTY),
                     ("return_sequences", True)]),
    "MultiHeadAttention": (nn.MultiHeadAttention, [("embed_dim", EMPTY), ("num_heads", EMPTY),
                                                   ("bias", True), ("causal", False)]),
    "TransformerEncoderLayer": (nn.TransformerEncoderLayer, [
        ("d_model", EMPTY), ("nhead", EMPTY), ("dim_feedforward", 2048), ("dropout", 0.1),
        ("causal", False), ("norm_first", False)]),
    "PositionalEncoding": (nn.PositionalEncoding, [("d_model", EMPTY), ("max_len", 5000)]),
    "Residual": (nn.Residual, [("layer", EMPTY)]),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, [("label_smoothing", 0.0),
                                               ("ignore_index", None)]),
    "SGD": (optim.SGD, [("params", EMPTY), ("lr", 0.01), ("momentum", 0.0),
                        ("nesterov", False), ("weight_decay", 0.0)]),
    "Momentum": (optim.Momentum, [("params", EMPTY), ("lr", 0.01), ("momentum", 0.9)]),
    "Adam": (optim.Adam, [("params", EMPTY), ("lr", 1e-3), ("betas", (0.9, 0.999)),
                          ("eps", 1e-8), ("weight_decay", 0.0), ("amsgrad", False)]),
    "AdamW": (optim.AdamW, [("params", EMPTY), ("lr", 1e-3), ("betas", (0.9, 0.999)),
                            ("eps", 1e-8), ("weight_decay", 1e-2)]),
    "RMSprop": (optim.RMSprop, [("params", EMPTY), ("lr", 1e-2), ("alpha", 0.99),
                                ("eps", 1e-8), ("momentum", 0.0)]),
    "Adagrad": (optim.Adagrad, [("params", EMPTY), ("lr", 1e-2), ("eps", 1e-10)]),
    "StepLR": (optim.lr_scheduler.StepLR, [("optimizer", EMPTY), ("step_size", EMPTY),
                                           ("gamma", 0.1)]),
    "clip_grad_norm": (optim.clip_grad_norm, [("params", EMPTY), ("max_norm", EMPTY)]),
    "fit": (nn.fit, [("model", EMPTY), ("loss_fn", EMPTY), ("optimizer", EMPTY),
                     ("x_train", EMPTY), ("y_train", EMPTY), ("epochs", 10),
                     ("batch_size", 32), ("validation_data", None),
                     ("metrics", ("accuracy",)), ("shuffle", True), ("rng", None),
                     ("callbacks", ()), ("verbose", 1)]),
    "evaluate": (nn.evaluate, [("model", EMPTY), ("loss_fn", EMPTY), ("x", EMPTY),
                               ("y", EMPTY), ("batch_size", 256), ("metrics", ("accuracy",))]),
    "predict": (nn.predict, [("model", EMPTY), ("x", EMPTY), ("batch_size", 256)]),
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_matches_spec(name):
    fn, want = SIGNATURES[name]
    sig = inspect.signature(fn)
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    got = [(p.name, p.default) for p in positional[:len(want)]]
    assert got == want, f"{name}{sig}: docs/api.md wants positional {want}"
    # anything beyond the contract's arguments is optional (a default or keyword-only with default)
    for p in list(sig.parameters.values())[len(want):]:
        assert p.default is not EMPTY or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD), p


@pytest.mark.parametrize("loss", [nn.MSELoss, nn.CrossEntropyLoss, nn.BCELoss,
                                  nn.BCEWithLogitsLoss, nn.HingeLoss])
def test_every_loss_takes_reduction(loss):
    assert inspect.signature(loss).parameters["reduction"].default == "mean"
    assert loss(reduction="sum").reduction == "sum"


@pytest.mark.parametrize("sched, args, lr1", [
    ("ExponentialLR", (0.5,), 0.5),                                   # lr * gamma
    ("CosineAnnealingLR", (4,), 0.5 * (1 + np.cos(np.pi / 4))),       # eta_max (1 + cos(pi/T))/2
])
def test_other_schedulers_exist(sched, args, lr1):
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    scheduler = getattr(optim.lr_scheduler, sched)(opt, *args)
    scheduler.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(lr1, rel=1e-12)
    assert scheduler.get_last_lr() == [opt.param_groups[0]["lr"]]


# ---------------------------------------------------------------------- positional calls
def _p():
    return [nn.Parameter(np.ones(2))]


def test_conv2d_positional_bias_rng_dtype():
    layer = nn.Conv2d(2, 3, 3, 1, 1, False, 7, F64)
    assert layer.bias is None and layer.dilation == (1, 1) and layer.weight.dtype == F64
    np.testing.assert_array_equal(layer.weight.data,
                                  nn.Conv2d(2, 3, 3, bias=False, rng=7, dtype=F64).weight.data)


def test_sgd_positional_nesterov_weight_decay():
    group = optim.SGD(_p(), 0.1, 0.9, True, 0.01).param_groups[0]
    assert (group["nesterov"], group["weight_decay"], group["dampening"]) == (True, 0.01, 0.0)
    group = optim.Momentum(_p(), 0.1, 0.5, True).param_groups[0]
    assert (group["momentum"], group["nesterov"]) == (0.5, True)


def test_rmsprop_positional_momentum():
    group = optim.RMSprop(_p(), 0.01, 0.9, 1e-6, 0.5).param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.5, 0.0)


def test_adagrad_positional_eps():
    group = optim.Adagrad(_p(), 0.1, 1e-3).param_groups[0]
    assert (group["eps"], group["lr_decay"]) == (1e-3, 0.0)


def test_cross_entropy_positional_label_smoothing_ignore_index():
    loss = nn.CrossEntropyLoss(0.1, 2)
    assert (loss.label_smoothing, loss.ignore_index, loss.reduction) == (0.1, 2, "mean")


# ---------------------------------------------------------------------- parameters
def _shapes(layer):
    return {name: p.shape for name, p in layer.named_parameters()}


@pytest.mark.parametrize("make, want", [
    (lambda: nn.Linear(5, 4), {"weight": (5, 4), "bias": (4,)}),
    (lambda: nn.Conv2d(3, 4, (3, 2)), {"weight": (4, 3, 3, 2), "bias": (4,)}),
    (lambda: nn.Conv1d(3, 4, 5), {"weight": (4, 3, 5), "bias": (4,)}),
    (lambda: nn.BatchNorm1d(5), {"weight": (5,), "bias": (5,)}),
    (lambda: nn.BatchNorm2d(3), {"weight": (3,), "bias": (3,)}),
    (lambda: nn.LayerNorm(5), {"weight": (5,), "bias": (5,)}),
    (lambda: nn.Embedding(10, 3), {"weight": (10, 3)}),
    (lambda: nn.RNN(8, 6), {"weight_ih": (8, 6), "weight_hh": (6, 6), "bias": (6,)}),
    (lambda: nn.LSTM(8, 6), {"weight_ih": (8, 24), "weight_hh": (6, 24), "bias": (24,)}),
    (lambda: nn.GRU(8, 6), {"weight_ih": (8, 18), "weight_hh": (6, 18), "bias_ih": (18,),
                            "bias_hh": (18,)}),
    (lambda: nn.MultiHeadAttention(8, 2),
     {f"{s}_proj.{w}": (8, 8) if w == "weight" else (8,)
      for s in ("q", "k", "v", "out") for w in ("weight", "bias")}),
    (lambda: nn.PositionalEncoding(8), {}),
])
def test_parameter_names_and_shapes(make, want):
    assert _shapes(make()) == want


def test_attention_sub_layers_are_linear():
    mha = nn.MultiHeadAttention(8, 2)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        sub = getattr(mha, name)
        assert isinstance(sub, nn.Linear) and (sub.in_features, sub.out_features) == (8, 8)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_lstm_gate_order_and_state():
    H, rng = 3, np.random.default_rng(0)
    lstm = nn.LSTM(2, H, rng=0, dtype=F64)
    x, h0, c0 = rng.standard_normal((4, 1, 2)), rng.standard_normal((4, H)), \
        rng.standard_normal((4, H))
    y = lstm(x, state=(h0, c0))
    z = x[:, 0] @ lstm.weight_ih.data + h0 @ lstm.weight_hh.data + lstm.bias.data
    i, f, g, o = (_sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]),
                  _sigmoid(z[:, 3 * H:]))
    c = f * c0 + i * g
    h = o * np.tanh(c)
    np.testing.assert_allclose(y[:, 0], h, rtol=1e-12)
    np.testing.assert_allclose(lstm.state[0], h, rtol=1e-12)
    np.testing.assert_allclose(lstm.state[1], c, rtol=1e-12)
    last = nn.LSTM(2, H, return_sequences=False, rng=0)
    assert last(np.zeros((4, 5, 2), F32)).shape == (4, H)


def test_gru_equations_and_state():
    H, rng = 3, np.random.default_rng(1)
    gru = nn.GRU(2, H, rng=0, dtype=F64)
    x, h0 = rng.standard_normal((4, 1, 2)), rng.standard_normal((4, H))
    y = gru(x, state=h0)
    gi = x[:, 0] @ gru.weight_ih.data + gru.bias_ih.data
    gh = h0 @ gru.weight_hh.data + gru.bias_hh.data
    r, z = _sigmoid(gi[:, :H] + gh[:, :H]), _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    h = (1 - z) * n + z * h0
    np.testing.assert_allclose(y[:, 0], h, rtol=1e-12)
    np.testing.assert_allclose(gru.state, h, rtol=1e-12)
    assert nn.GRU(2, H, return_sequences=False)(np.zeros((4, 5, 2), F32)).shape == (4, H)


def test_embedding_backward_returns_none():
    emb = nn.Embedding(5, 3, rng=0)
    y = emb(np.array([[1, 2], [1, 4]]))
    assert emb.backward(np.ones_like(y)) is None
    np.testing.assert_array_equal(emb.weight.grad[1], [2, 2, 2])


# ---------------------------------------------------------------------- every layer
def _vec(dt, rng):
    return rng.standard_normal((3, 5)).astype(dt)


def _seq(dt, rng):
    return rng.standard_normal((2, 4, 8)).astype(dt)


def _img(dt, rng):
    return rng.standard_normal((2, 3, 6, 6)).astype(dt)


LAYERS = {
    "Linear": (lambda: nn.Linear(5, 4, rng=0), _vec),
    "Linear-3d": (lambda: nn.Linear(8, 4, rng=0), _seq),
    "ReLU": (nn.ReLU, _vec),
    "LeakyReLU": (nn.LeakyReLU, _vec),
    "Sigmoid": (nn.Sigmoid, _vec),
    "Tanh": (nn.Tanh, _vec),
    "GELU": (nn.GELU, _vec),
    "Softmax": (nn.Softmax, _vec),
    "LogSoftmax": (nn.LogSoftmax, _vec),
    "Flatten": (nn.Flatten, _img),
    "Dropout": (lambda: nn.Dropout(0.5, rng=0), _vec),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1, rng=0), _img),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), _img),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), _img),
    "Conv1d": (lambda: nn.Conv1d(4, 3, 3, padding=1, rng=0), _seq),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, 2, 1), _seq),
    "AvgPool1d": (lambda: nn.AvgPool1d(2), _seq),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(5), _vec),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), _img),
    "LayerNorm": (lambda: nn.LayerNorm(5), _vec),
    "RNN": (lambda: nn.RNN(8, 6, rng=0), _seq),
    "LSTM": (lambda: nn.LSTM(8, 6, rng=0), _seq),
    "LSTM-last": (lambda: nn.LSTM(8, 6, return_sequences=False, rng=0), _seq),
    "GRU": (lambda: nn.GRU(8, 6, rng=0), _seq),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(8, 2, causal=True, rng=0), _seq),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, rng=0), _seq),
    "TransformerEncoderLayer-pre": (
        lambda: nn.TransformerEncoderLayer(8, 2, 16, norm_first=True, rng=0), _seq),
    "PositionalEncoding": (lambda: nn.PositionalEncoding(8, 50), _seq),
    "Residual": (lambda: nn.Residual(nn.Linear(5, 5, rng=0)), _vec),
    "Sequential": (lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.ReLU(),
                                         nn.Linear(4, 2, rng=1)), _vec),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_layer_keeps_dtype_and_never_mutates_grad_y(name, dtype):
    make, inp = LAYERS[name]
    rng = np.random.default_rng(0)
    layer = make()
    if dtype == F64:
        assert layer.astype(F64) is layer
    for pname, p in layer.named_parameters():
        assert p.dtype == dtype and p.grad.dtype == dtype, pname
    for bname, b in layer.named_buffers():
        assert b.dtype.kind != "f" or b.dtype == dtype, bname
    x = inp(dtype, rng)
    y = layer(x)
    assert y.dtype == dtype
    g = rng.standard_normal(y.shape).astype(dtype)
    g0 = g.copy()
    gx = layer.backward(g)
    np.testing.assert_array_equal(g, g0)
    assert gx.shape == x.shape and gx.dtype == dtype
    for pname, p in layer.named_parameters():
        assert p.grad.shape == p.shape and p.grad.dtype == dtype, pname
        assert np.all(np.isfinite(p.grad)), pname
    if dtype == F32:
        # a float64 upstream gradient is cast, never silently promoted
        layer(x)
        assert layer.backward(g.astype(F64)).dtype == F32
        assert all(p.grad.dtype == F32 for p in layer.parameters())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_before_forward_names_the_layer(name):
    layer = LAYERS[name][0]()
    with pytest.raises(RuntimeError, match="before forward") as info:
        layer.backward(np.ones((3, 5), F32))
    inner = layer[-1] if isinstance(layer, nn.Sequential) else layer
    assert type(inner).__name__ in str(info.value)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_same_seed_gives_identical_weights(name):
    make = LAYERS[name][0]
    a, b = make().state_dict(), make().state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_rng_accepts_none_int_and_generator():
    gen = nn.Linear(4, 3, rng=np.random.default_rng(5)).weight.data
    np.testing.assert_array_equal(gen, nn.Linear(4, 3, rng=np.random.default_rng(5)).weight.data)
    nn.manual_seed(3)
    first = nn.Conv2d(1, 2, 3).weight.data
    nn.manual_seed(3)
    np.testing.assert_array_equal(first, nn.Conv2d(1, 2, 3).weight.data)
    x = np.ones((4, 5), F32)
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=1)(x), nn.Dropout(0.5, rng=1)(x))


def test_residual_casts_a_float64_gradient():
    layer = nn.Residual(nn.ReLU())
    layer(np.ones((2, 3), F32))
    assert layer.backward(np.ones((2, 3), F64)).dtype == F32
    with pytest.raises(ValueError, match="Residual"):
        layer.backward(np.ones((3, 2), F32))


# ---------------------------------------------------------------------- containers, state
def test_sequential_protocol_and_names():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert [type(layer).__name__ for layer in seq] == ["Linear", "ReLU", "Linear"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_buffers_in_state_dict_not_in_parameters():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert {"1.running_mean", "1.running_var"} <= set(model.state_dict())
    names = [name for name, _ in model.named_parameters()]
    assert "1.running_mean" not in names and len(list(model.parameters())) == 4
    model.astype(F64)
    assert model[1].running_mean.dtype == F64 and model[1].running_var.dtype == F64


# ---------------------------------------------------------------------- losses
def _big_logits(shape):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1e4, 1e4, shape)
    x[..., 0], x[..., 1] = 1e4, -1e4
    return x


LOSS_CASES = {
    "CE-NC": (nn.CrossEntropyLoss, (4, 5), np.array([1, 0, 2, 3])),
    "CE-NTC": (nn.CrossEntropyLoss, (4, 2, 5), np.array([[1, 0], [2, 3], [4, 1], [0, 0]])),
    "CE-smooth": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=0), (4, 5),
                  np.array([1, 0, 2, 3])),
    "CE-prob": (nn.CrossEntropyLoss, (4, 5), np.full((4, 5), 0.2)),
    "BCEWithLogits": (nn.BCEWithLogitsLoss, (4, 5),
                      (np.arange(20).reshape(4, 5) % 2).astype(float)),
    "Hinge": (nn.HingeLoss, (4, 5), np.array([1, 0, 2, 3])),
    "MSE": (nn.MSELoss, (4, 5), np.zeros((4, 5))),
}


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_loss_float_and_gradient_at_1e4(name, dtype):
    make, shape, target = LOSS_CASES[name]
    x = _big_logits(shape).astype(dtype)
    loss_fn = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss_fn(x, target)
        grad = loss_fn.backward()
    assert type(value) is float and np.isfinite(value)
    assert grad.shape == x.shape and grad.dtype == dtype and np.all(np.isfinite(grad))


def test_clip_grad_norm_returns_norm_before_clipping():
    a, b = nn.Parameter(np.zeros(3, F32)), nn.Parameter(np.zeros(2, F32))
    a.grad[...] = [3, 4, 0]
    b.grad[...] = [0, 12]
    assert optim.clip_grad_norm([a, b], 1.0) == pytest.approx(13.0)
    assert np.linalg.norm(np.r_[a.grad, b.grad]) == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------------- training, persistence
@pytest.mark.usefixtures("allow_underflow")
def test_fit_evaluate_predict(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((48, 4)).astype(F32), rng.integers(0, 3, 48)
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    history = nn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), x, y,
                     epochs=2, batch_size=16, validation_data=(x[:16], y[:16]),
                     metrics=("accuracy",), rng=0, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in history.history.values())
    result = nn.evaluate(model, nn.CrossEntropyLoss(), x, y)
    assert isinstance(result, dict) and {"loss", "accuracy"} <= set(result)
    assert nn.predict(model, x).shape == (48, 3)


@pytest.mark.parametrize("filename", ["model.npz", "model"])
def test_save_load_round_trip(tmp_path, filename):
    path = tmp_path / filename
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.BatchNorm1d(3))
    model(np.random.default_rng(0).standard_normal((5, 4)).astype(F32))
    nn.save(model, path)
    other = nn.Sequential(nn.Linear(4, 3, rng=1), nn.BatchNorm1d(3))
    assert nn.load(other, path) is other
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)


def test_cli_help_lists_sub_commands():
    out = subprocess.run([sys.executable, "-m", "nn", "--help"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for command in ("train", "check", "generate"):
        assert command in out


# ---------------------------------------------------------------------- docs/api.md itself
API = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.md"
CONTRACT, _, PLANNED = API.read_text().partition("\n## Planned")
DOTTED = re.compile(r"(?<![\w./-])((?:nn|optim)(?:\.[A-Za-z_]\w*)+)")


def _resolves(dotted: str) -> bool:
    top, *rest = dotted.split(".")
    obj = {"nn": nn, "optim": optim}[top]
    for part in rest:
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def test_every_name_docs_api_lists_exists():
    names = sorted(set(DOTTED.findall(CONTRACT)))
    assert len(names) > 100 and PLANNED, "docs/api.md lists the API and a Planned section"
    missing = [n for n in names if not _resolves(n)]
    assert not missing, f"docs/api.md names what the code does not have: {missing}"


def test_every_exported_name_is_in_docs_api():
    """Every name in ``__all__`` of nn, optim and their public sub-modules is on the page:
    a top-level name as a word (the layer table), a sub-module's name with its prefix."""
    import nn.testing

    absent = [name for mod in (nn, optim) for name in mod.__all__
              if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", CONTRACT)]
    for mod in (optim.lr_scheduler, nn.testing, nn.data, nn.metrics, nn.datasets, nn.text,
                nn.models):
        absent += [f"{mod.__name__}.{name}" for name in mod.__all__
                   if f"{mod.__name__}.{name}" not in CONTRACT]
    assert not absent, f"exported but not in docs/api.md: {absent}"


def test_planned_names_are_not_implemented_yet():
    """A planned second-wave name that lands in the code moves into the contract (out of
    the Planned section) together with its tests."""
    planned = sorted(set(DOTTED.findall(PLANNED)))
    landed = [n for n in planned if _resolves(n)]
    assert not landed, f"implemented now: move {landed} from Planned into docs/api.md's contract"


@pytest.mark.parametrize("name", ["save", "load", "save_checkpoint", "load_checkpoint"])
def test_persistence_signatures_are_written_as_the_code_takes_them(name):
    """docs/api.md's Persistence block names the parameters in the code's order."""
    line = re.search(rf"^(?:\w+ = )?nn\.{name}\(([^)]*)\)", CONTRACT, re.M)
    assert line, f"docs/api.md has no nn.{name}(...) line"
    documented = [re.match(r"\*?(\w+)", a.strip()).group(1)
                  for a in line.group(1).split(",") if a.strip() not in ("*", "")]
    params = list(inspect.signature(getattr(nn, name)).parameters)
    assert documented == params, f"nn.{name}{inspect.signature(getattr(nn, name))}"
