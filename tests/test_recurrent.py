"""RNN, LSTM, GRU: gradient checks (input, every parameter, initial and final state), the
single-cell equations by hand, equality with PyTorch, determinism, masking, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit
from strategies import seeds

import nn

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make(kind, I, H, return_sequences=True, rng=0, dtype=np.float64):
    if kind.startswith("rnn"):
        return nn.RNN(I, H, nonlinearity=kind[4:], return_sequences=return_sequences, rng=rng,
                      dtype=dtype)
    cls = nn.LSTM if kind == "lstm" else nn.GRU
    return cls(I, H, return_sequences=return_sequences, rng=rng, dtype=dtype)


class WithState(nn.Layer):
    """The recurrent layer with its initial state as Parameters (so gradcheck checks
    state_grad), and its output extended by the final state (so it checks grad_state too):
    out = [y flattened per row | h_T | c_T]."""

    def __init__(self, layer, N, rng):
        super().__init__()
        self.layer = layer
        H = layer.hidden_size
        self.h0 = nn.Parameter(rng.standard_normal((N, H)))
        self.lstm = isinstance(layer, nn.LSTM)
        if self.lstm:
            self.c0 = nn.Parameter(rng.standard_normal((N, H)))

    def forward(self, x):
        state = (self.h0.data, self.c0.data) if self.lstm else self.h0.data
        y = self.layer.forward(x, state=state)
        self._cache = y.shape
        final = list(self.layer.state) if self.lstm else [self.layer.state]
        return np.concatenate([y.reshape(len(y), -1)] + final, axis=1)

    def backward(self, g):
        shape = self._saved()
        H = self.layer.hidden_size
        k = int(np.prod(shape[1:]))
        gy = g[:, :k].reshape(shape)
        if self.lstm:
            dx = self.layer.backward(gy, grad_state=(g[:, k:k + H], g[:, k + H:]))
            dh0, dc0 = self.layer.state_grad
            self.c0.grad += dc0
        else:
            dx = self.layer.backward(gy, grad_state=g[:, k:])
            dh0 = self.layer.state_grad
        self.h0.grad += dh0
        return dx


sizes = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4))


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", KINDS)
@given(shape=sizes, seed=seeds)
def test_gradcheck_input_parameters_and_states(kind, return_sequences, shape, seed):
    N, T, I, H = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, I, H, return_sequences, rng=rng)
    x = rng.standard_normal((N, T, I))
    report = nn.assert_gradcheck(WithState(layer, N, rng), x, seed=seed)
    names = {r.name for r in report.results}
    expected = {"input", "h0", "layer.weight_ih", "layer.weight_hh"}
    expected |= {"layer.bias_ih", "layer.bias_hh"} if kind == "gru" else {"layer.bias"}
    expected |= {"c0"} if kind == "lstm" else set()
    assert names == expected


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_plain_layer_zero_state(kind):
    rng = np.random.default_rng(1)
    nn.assert_gradcheck(make(kind, 3, 5, rng=2), rng.standard_normal((2, 6, 3)), seed=3)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_catches_a_wrong_gradient(kind, monkeypatch):
    layer = make(kind, 2, 3)
    original = type(layer).backward

    def wrong(self, g, grad_state=None):
        dx = original(self, g, grad_state)
        self.weight_hh.grad[0, 0] += 1e-3
        return dx

    monkeypatch.setattr(type(layer), "backward", wrong)
    report = nn.gradcheck(layer, np.random.default_rng(0).standard_normal((2, 3, 2)))
    assert not report.passed and not report["weight_hh"].passed and report["input"].passed


# ---------------------------------------------------------------- one step by hand
def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_single_step_rnn_equals_the_cell_equation():
    rng = np.random.default_rng(0)
    for nl, phi in (("tanh", np.tanh), ("relu", lambda z: np.maximum(z, 0))):
        layer = nn.RNN(3, 4, nonlinearity=nl, rng=1, dtype=np.float64)
        x, h0 = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 4))
        W, U, b = layer.weight_ih.data, layer.weight_hh.data, layer.bias.data
        h1 = phi(x[:, 0] @ W + h0 @ U + b)
        np.testing.assert_allclose(layer(x, state=h0)[:, 0], h1, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(layer.state, h1, rtol=1e-13, atol=1e-14)


def test_single_step_lstm_equals_the_cell_equations():
    rng = np.random.default_rng(0)
    H = 4
    layer = nn.LSTM(3, H, rng=1, dtype=np.float64)
    x, h0, c0 = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, H)), \
        rng.standard_normal((2, H))
    W, U, b = layer.weight_ih.data, layer.weight_hh.data, layer.bias.data
    z = x[:, 0] @ W + h0 @ U + b
    i, f = _sig(z[:, :H]), _sig(z[:, H:2 * H])
    g, o = np.tanh(z[:, 2 * H:3 * H]), _sig(z[:, 3 * H:])
    c1 = f * c0 + i * g
    h1 = o * np.tanh(c1)
    y = layer(x, state=(h0, c0))
    np.testing.assert_allclose(y[:, 0], h1, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.state[0], h1, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.state[1], c1, rtol=1e-13, atol=1e-14)
    # and its backward, by hand: upstream G on h1 only
    G = rng.standard_normal((2, H))
    layer.zero_grad()
    dx = layer.backward(G[:, None])
    k = np.tanh(c1)
    dc = G * o * (1 - k * k)
    dz = np.concatenate([dc * g * i * (1 - i), dc * c0 * f * (1 - f), dc * i * (1 - g * g),
                         G * k * o * (1 - o)], axis=1)
    np.testing.assert_allclose(dx[:, 0], dz @ W.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.weight_hh.grad, h0.T @ dz, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.state_grad[0], dz @ U.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.state_grad[1], dc * f, rtol=1e-12, atol=1e-14)


def test_single_step_gru_equals_the_cell_equations():
    rng = np.random.default_rng(0)
    H = 4
    layer = nn.GRU(3, H, rng=1, dtype=np.float64)
    x, h0 = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, H))
    W, U = layer.weight_ih.data, layer.weight_hh.data
    bi, bh = layer.bias_ih.data, layer.bias_hh.data
    a, e = x[:, 0] @ W + bi, h0 @ U + bh
    r = _sig(a[:, :H] + e[:, :H])
    z = _sig(a[:, H:2 * H] + e[:, H:2 * H])
    n = np.tanh(a[:, 2 * H:] + r * e[:, 2 * H:])
    h1 = (1 - z) * n + z * h0
    np.testing.assert_allclose(layer(x, state=h0)[:, 0], h1, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.state, h1, rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------- PyTorch
def _torch_pair(kind, I, H, return_sequences, rng):
    torch = pytest.importorskip("torch")
    ours = make(kind, I, H, return_sequences, rng=rng)
    if kind == "lstm":
        theirs = torch.nn.LSTM(I, H, batch_first=True)
    elif kind == "gru":
        theirs = torch.nn.GRU(I, H, batch_first=True)
    else:
        theirs = torch.nn.RNN(I, H, nonlinearity=kind[4:], batch_first=True)
    theirs = theirs.double()
    with torch.no_grad():
        theirs.weight_ih_l0.copy_(torch.from_numpy(ours.weight_ih.data.T.copy()))
        theirs.weight_hh_l0.copy_(torch.from_numpy(ours.weight_hh.data.T.copy()))
        if kind == "gru":
            theirs.bias_ih_l0.copy_(torch.from_numpy(ours.bias_ih.data))
            theirs.bias_hh_l0.copy_(torch.from_numpy(ours.bias_hh.data))
        else:  # one bias here = b_ih + b_hh there: split it unevenly on purpose
            theirs.bias_ih_l0.copy_(torch.from_numpy(0.25 * ours.bias.data))
            theirs.bias_hh_l0.copy_(torch.from_numpy(0.75 * ours.bias.data))
    return torch, ours, theirs


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_float64(kind, return_sequences):
    rng = np.random.default_rng(5)
    N, T, I, H = 3, 7, 4, 5
    torch, ours, theirs = _torch_pair(kind, I, H, return_sequences, rng)
    x = rng.standard_normal((N, T, I))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0[None].copy()).requires_grad_()
    c0t = torch.from_numpy(c0[None].copy()).requires_grad_()
    if kind == "lstm":
        yt, (hT, cT) = theirs(xt, (h0t, c0t))
        y = ours(x, state=(h0, c0))
        np.testing.assert_allclose(ours.state[1], cT[0].detach().numpy(), rtol=0, atol=1e-12)
        h_last = ours.state[0]
    else:
        yt, hT = theirs(xt, h0t)
        y = ours(x, state=h0)
        h_last = ours.state
    np.testing.assert_allclose(h_last, hT[0].detach().numpy(), rtol=0, atol=1e-12)
    if not return_sequences:
        yt = yt[:, -1]
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
    G = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(G))
    ours.zero_grad()
    dx = ours.backward(G)
    close = dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(ours.weight_ih.grad, theirs.weight_ih_l0.grad.numpy().T, **close)
    np.testing.assert_allclose(ours.weight_hh.grad, theirs.weight_hh_l0.grad.numpy().T, **close)
    if kind == "gru":
        np.testing.assert_allclose(ours.bias_ih.grad, theirs.bias_ih_l0.grad.numpy(), **close)
        np.testing.assert_allclose(ours.bias_hh.grad, theirs.bias_hh_l0.grad.numpy(), **close)
    else:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias_ih_l0.grad.numpy(), **close)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias_hh_l0.grad.numpy(), **close)
    dh0 = ours.state_grad[0] if kind == "lstm" else ours.state_grad
    np.testing.assert_allclose(dh0, h0t.grad.numpy()[0], **close)
    if kind == "lstm":
        np.testing.assert_allclose(ours.state_grad[1], c0t.grad.numpy()[0], **close)


def test_matches_torch_float32_loosely():
    rng = np.random.default_rng(0)
    torch, ours, theirs = _torch_pair("lstm", 8, 16, True, rng)
    ours.astype(np.float32)
    theirs.float()
    x = rng.standard_normal((4, 20, 8)).astype(np.float32)
    y = ours(x)
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x))[0].detach().numpy(), atol=2e-6)


# ---------------------------------------------------------------- behaviour
@pytest.mark.parametrize("kind", KINDS)
def test_state_carries_over_between_chunks(kind):
    rng = np.random.default_rng(0)
    layer = make(kind, 3, 4)
    x = rng.standard_normal((2, 9, 3))
    whole = layer(x)
    first = layer(x[:, :4])
    second = layer(x[:, 4:], state=layer.state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_return_sequences_false_is_the_last_step(kind):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2))
    seq, last = make(kind, 2, 4), make(kind, 2, 4, return_sequences=False)
    np.testing.assert_array_equal(last(x), seq(x)[:, -1])
    G = rng.standard_normal((3, 4))
    Gseq = np.zeros((3, 5, 4))
    Gseq[:, -1] = G
    seq.zero_grad()
    last.zero_grad()
    np.testing.assert_allclose(last.backward(G), seq.backward(Gseq), atol=1e-15)
    for (name, p), q in zip(last.named_parameters(), seq.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_under_a_seed(kind):
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    a, b = make(kind, 3, 5, rng=11, dtype=None), make(kind, 3, 5, rng=11, dtype=None)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)
    np.testing.assert_array_equal(a(x), b(x))
    G = np.ones((2, 4, 5), np.float32)
    np.testing.assert_array_equal(a.backward(G), b.backward(G))
    nn.manual_seed(3)
    c = make(kind, 3, 5, rng=None)
    nn.manual_seed(3)
    np.testing.assert_array_equal(c.weight_hh.data, make(kind, 3, 5, rng=None).weight_hh.data)


@pytest.mark.parametrize("kind", KINDS)
def test_pytorch_initialisation_bounds(kind):
    layer = make(kind, 7, 16, rng=0)
    for name, p in layer.named_parameters():
        assert np.abs(p.data).max() <= 0.25, name      # 1/sqrt(16)
        assert np.abs(p.data).max() > 0.2, name
    assert layer.weight_ih.shape == (7, {"lstm": 64, "gru": 48}.get(kind, 16))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_in_float32_out_and_gradients(kind):
    layer = make(kind, 3, 4, dtype=None)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert (layer.state[0] if kind == "lstm" else layer.state).dtype == np.float32
    dx = layer.backward(np.ones(y.shape, np.float64))   # a float64 gradient is cast
    assert dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    with pytest.raises(TypeError, match="float64 does not match the parameter dtype float32"):
        layer(x.astype(np.float64))


@pytest.mark.parametrize("kind", KINDS)
def test_backward_accumulates_and_leaves_grad_y_alone(kind):
    rng = np.random.default_rng(0)
    layer = make(kind, 3, 4)
    x = rng.standard_normal((2, 5, 3))
    layer(x)
    G = rng.standard_normal((2, 5, 4))
    G_copy = G.copy()
    layer.zero_grad()
    dx1 = layer.backward(G)
    once = [p.grad.copy() for p in layer.parameters()]
    dx2 = layer.backward(G)
    np.testing.assert_array_equal(G, G_copy)
    np.testing.assert_array_equal(dx1, dx2)
    for p, g in zip(layer.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-14)


def test_outputs_are_not_overwritten_by_the_next_forward():
    rng = np.random.default_rng(0)
    layer = nn.LSTM(3, 4, rng=0, dtype=np.float64)
    y1 = layer(rng.standard_normal((2, 5, 3)))
    s1 = layer.state
    keep, keep_state = y1.copy(), (s1[0].copy(), s1[1].copy())
    layer(rng.standard_normal((2, 5, 3)))
    np.testing.assert_array_equal(y1, keep)
    np.testing.assert_array_equal(s1[0], keep_state[0])
    np.testing.assert_array_equal(s1[1], keep_state[1])


@pytest.mark.parametrize("kind", KINDS)
def test_input_grad_flag_and_frozen_parameters(kind):
    rng = np.random.default_rng(0)
    x, G = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 5))
    ref = make(kind, 3, 5)
    ref(x)
    ref.zero_grad()
    ref.backward(G)
    layer = make(kind, 3, 5)
    layer.set_input_grad(False)
    layer.weight_ih.requires_grad = False
    layer(x)
    layer.zero_grad()
    assert layer.backward(G) is None
    np.testing.assert_array_equal(layer.weight_ih.grad, 0)
    np.testing.assert_allclose(layer.weight_hh.grad, ref.weight_hh.grad, rtol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_errors_name_the_layer_and_shapes(kind):
    layer = make(kind, 3, 4)
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=f"{name}.*before forward"):
        layer.backward(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=rf"{name}\(input_size=3.*\(N, T, 3\).*\(2, 5\)"):
        layer(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(N, T, 3\).*\(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"N >= 1 and T >= 1.*\(2, 0, 3\)"):
        layer(np.zeros((2, 0, 3)))
    with pytest.raises(TypeError, match="floating"):
        layer(np.zeros((2, 5, 3), dtype=np.int64))
    bad = np.zeros((3, 4))
    state = (bad, bad) if kind == "lstm" else bad
    with pytest.raises(ValueError, match=r"h0 must have shape \(N, hidden_size\) = \(2, 4\).*"
                                         r"\(3, 4\)"):
        layer(np.zeros((2, 5, 3)), state=state)
    layer(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 5, 4\).*got \(2, 4\)"):
        layer.backward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        type(layer)(3, 0)


def test_lstm_state_must_be_a_pair():
    layer = nn.LSTM(2, 3)
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        layer(np.zeros((1, 2, 2), np.float32), state=np.zeros((1, 3), np.float32))


def test_extreme_inputs_do_not_overflow():
    # tanh-based sigmoid: no overflow, no nan, gates saturate cleanly (errstate is "raise")
    layer = nn.LSTM(2, 3, rng=0)
    x = np.array([[[1e4, -1e4], [-1e4, 1e4]]], dtype=np.float32)
    y = layer(x)
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1)
    assert np.all(np.isfinite(layer.backward(np.ones_like(y))))
    gru = nn.GRU(2, 3, rng=0)
    assert np.all(np.isfinite(gru(x)))


def test_sigmoid_identity_is_accurate():
    z = np.linspace(-30, 30, 2001)
    np.testing.assert_allclose(0.5 + 0.5 * np.tanh(0.5 * z), expit(z), rtol=0, atol=4.5e-16)


# ---------------------------------------------------------------- padding
@pytest.mark.usefixtures("allow_underflow")
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padded_positions_contribute_nothing(kind):
    """Right-padded next-token batch with ignore_index: the gradients equal those of the
    unpadded sequences processed one by one (reduction="sum")."""
    rng = np.random.default_rng(0)
    V, PAD = 7, 0
    lengths = [6, 3, 4]
    seqs = [rng.integers(1, V, size=L + 1) for L in lengths]
    T = max(lengths)

    def model():
        cell = make(kind, 4, 5, rng=1)
        return nn.Sequential(nn.Embedding(V, 4, rng=2, padding_idx=PAD, dtype=np.float64),
                             cell, nn.Linear(5, V, rng=3, dtype=np.float64))

    padded = model()
    x = np.full((len(seqs), T), PAD)
    y = np.full((len(seqs), T), PAD)
    for n, s in enumerate(seqs):
        x[n, :len(s) - 1], y[n, :len(s) - 1] = s[:-1], s[1:]
    loss_fn = nn.CrossEntropyLoss(reduction="sum", ignore_index=PAD)
    padded.zero_grad()
    total = loss_fn(padded(x), y)
    padded.backward(loss_fn.backward())

    single = model()
    single.zero_grad()
    expected = 0.0
    for s in seqs:
        expected += loss_fn(single(s[None, :-1]), s[None, 1:])
        single.backward(loss_fn.backward())
    assert total == pytest.approx(expected, rel=1e-12)
    for (name, p), q in zip(padded.named_parameters(), single.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12, err_msg=name)


def test_grad_state_errors():
    lstm = nn.LSTM(2, 3, dtype=np.float64)
    y = lstm(np.zeros((2, 4, 2)))
    with pytest.raises(TypeError, match=r"grad_state must be a pair \(dh_T, dc_T\)"):
        lstm.backward(np.zeros_like(y), grad_state=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"grad_state\[1\] of shape \(N, hidden_size\) = "
                                         r"\(2, 3\).*\(2, 4\)"):
        lstm.backward(np.zeros_like(y), grad_state=(np.zeros((2, 3)), np.zeros((2, 4))))
    gru = nn.GRU(2, 3, dtype=np.float64)
    y = gru(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match=r"grad_state of shape"):
        gru.backward(np.zeros_like(y), grad_state=np.zeros((3, 3)))
