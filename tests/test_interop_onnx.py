"""nn.interop.to_onnx: every layer family exported, checked by onnx.checker and run by
onnxruntime with the model's eval-mode output (float32: 1e-5 of the output's largest
magnitude) at batch sizes 1, 3 and 8 from one file (the batch axis is dynamic); the
training-mode warning; failures that leave nothing at ``path``; the opset argument.

Needs the ``onnx`` extra (``pip install 'readable-nn[onnx]'``: onnx and onnxruntime).
"""

from __future__ import annotations

import copy
import os
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn.interop import _onnx, to_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


F32, F64 = np.float32, np.float64
BATCHES = (1, 3, 8)
T = 5   # sequence length of the sequence families


def randomise(model: nn.Layer, seed: int = 0) -> nn.Layer:
    """Every parameter and BatchNorm statistic random (so that ones and zeros, the
    initial gammas, betas and running statistics, cannot hide a mapping error)."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.uniform(-1, 1, p.data.shape)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean[...] = rng.normal(0, 1, m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, m.num_features)
    return model.eval()


def floats(*shape: int):
    return lambda N, rng: rng.standard_normal((N, *shape)).astype(F32)


def tokens(vocab: int, dtype=np.int64):
    return lambda N, rng: rng.integers(0, vocab, (N, T)).astype(dtype)


def padded(vocab: int, dtype=np.int64, pad: int = 0):
    """Token ids with padding: row 0 right-padded, row 1 all padding, the rest random."""
    def make(N, rng):
        ids = rng.integers(0, vocab, (N, T)).astype(dtype)
        ids[0, 3:] = pad
        ids[1 % N] = pad if N > 1 else ids[1 % N]
        return ids
    return make


def encoder_layer(norm_first: bool, **kw) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, norm_first=norm_first, **kw)


# family: (model factory, input(N, rng) factory)
FAMILIES = {
    "Linear": (lambda: nn.Linear(5, 4), floats(5)),
    "Linear-3d-no-bias": (lambda: nn.Linear(5, 4, bias=False), floats(3, 5)),
    "ReLU": (nn.ReLU, floats(3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), floats(3, 4)),
    "Sigmoid": (nn.Sigmoid, floats(3, 4)),
    "Tanh": (nn.Tanh, floats(3, 4)),
    "GELU": (nn.GELU, floats(3, 4)),
    "Softmax-axis1": (lambda: nn.Softmax(axis=1), floats(3, 4)),
    "LogSoftmax": (nn.LogSoftmax, floats(6)),
    "Flatten": (nn.Flatten, floats(2, 3, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), floats(6)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
               floats(3, 7, 6)),
    "Conv2d-no-bias": (lambda: nn.Conv2d(2, 3, 1, bias=False), floats(2, 4, 4)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), floats(2, 7, 6)),
    "AvgPool2d-count-pad": (lambda: nn.AvgPool2d((3, 2), stride=(1, 2), padding=(1, 1)),
                            floats(2, 5, 6)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), floats(4)),
    "BatchNorm1d-NCL": (lambda: nn.BatchNorm1d(4, affine=False), floats(4, 6)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3, eps=1e-3), floats(3, 4, 5)),
    "LayerNorm": (lambda: nn.LayerNorm((3, 4)), floats(2, 3, 4)),
    "LayerNorm-no-bias": (lambda: nn.LayerNorm(4, bias=False), floats(3, 4)),
    "Embedding": (lambda: nn.Embedding(11, 6), tokens(11)),
    "Embedding-int32": (lambda: nn.Embedding(11, 6), tokens(11, np.int32)),
    "Embedding-uint8": (lambda: nn.Embedding(11, 6), tokens(11, np.uint8)),
    "RNN-tanh": (lambda: nn.RNN(4, 6), floats(T, 4)),
    "RNN-relu-last": (lambda: nn.RNN(4, 6, "relu", return_sequences=False), floats(T, 4)),
    "LSTM": (lambda: nn.LSTM(4, 6), floats(T, 4)),
    "LSTM-last": (lambda: nn.LSTM(4, 6, return_sequences=False), floats(T, 4)),
    "GRU": (lambda: nn.GRU(4, 6), floats(T, 4)),
    "GRU-last": (lambda: nn.GRU(4, 6, return_sequences=False), floats(T, 4)),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(8, 2), floats(T, 8)),
    "MultiHeadAttention-causal": (lambda: nn.MultiHeadAttention(8, 4, bias=False, causal=True),
                                  floats(T, 8)),
    "PositionalEncoding": (lambda: nn.PositionalEncoding(7, max_len=20), floats(T, 7)),
    "TransformerEncoderLayer-post-norm": (lambda: encoder_layer(False), floats(T, 8)),
    "TransformerEncoderLayer-pre-norm-gelu-causal": (
        lambda: encoder_layer(True, activation="gelu", causal=True), floats(T, 8)),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(lambda: encoder_layer(True), 2,
                                                         norm=nn.LayerNorm(8)), floats(T, 8)),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.Tanh())), floats(6)),
    "Sequential-CNN": (lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(36, 10), nn.LogSoftmax()), floats(1, 6, 6)),
    "Sequential-language-model": (lambda: nn.Sequential(
        nn.Embedding(12, 8), nn.LSTM(8, 6), nn.Linear(6, 12)), tokens(12)),
    "Sequential-transformer": (lambda: nn.Sequential(
        nn.Linear(3, 8), nn.PositionalEncoding(8), encoder_layer(False),
        nn.Linear(8, 2)), floats(T, 3)),
    # the ready-made models (nn.models): the example systems of the source documents
    "models.mlp-dropout": (lambda: nn.models.mlp(6, (8, 5), 3, activation="tanh", dropout=0.2),
                           floats(6)),
    "models.cnn": (lambda: nn.models.cnn((1, 8, 8), 4, channels=3, hidden=5), floats(1, 8, 8)),
    "models.lenet": (lambda: nn.models.lenet((2, 12, 12), 3), floats(2, 12, 12)),
    "models.lstm_language_model": (lambda: nn.models.lstm_language_model(12, 8, 6), tokens(12)),
    "models.gru_language_model-dropout": (
        lambda: nn.models.lstm_language_model(12, 8, 6, cell="gru", dropout=0.3), tokens(12)),
    "models.text_classifier": (lambda: nn.models.text_classifier(12, 8, 6), padded(12)),
    "models.text_classifier-int32-pad3": (
        lambda: nn.models.text_classifier(12, 8, 6, pad_id=3), padded(12, np.int32, pad=3)),
    "models.transformer_classifier-tokens": (
        lambda: nn.models.transformer_classifier(3, vocab_size=12, d_model=8, nhead=2,
                                                 dim_feedforward=16), tokens(12)),
    "models.transformer_classifier-features-first-pre-norm": (
        lambda: nn.models.transformer_classifier(3, in_features=4, d_model=8, nhead=2,
                                                 dim_feedforward=16, pooling="first",
                                                 norm_first=True, dropout=0.1), floats(T, 4)),
    "models.transformer_language_model": (
        lambda: nn.models.transformer_language_model(12, d_model=8, nhead=2,
                                                     dim_feedforward=16), tokens(12)),
}

# the one-dimensional families, converted by the same converters as their 2-D ones
FAMILIES["Conv1d"] = (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2), floats(3, 9))
FAMILIES["MaxPool1d"] = (lambda: nn.MaxPool1d(3, stride=2, padding=1), floats(2, 9))
FAMILIES["AvgPool1d-count-pad"] = (lambda: nn.AvgPool1d(3, stride=1, padding=1), floats(2, 9))


def run(path: str, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {"input": x.astype(F32) if x.dtype.kind == "f" else x}
    if mask is not None:
        feeds["key_padding_mask"] = mask
    return session.run(["output"], feeds)[0]


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5) -> float:
    """max |got - want| <= rtol * max |want|; returns the relative difference."""
    assert got.shape == want.shape and got.dtype == F32
    diff = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
    assert diff <= rtol, f"max difference {diff:.2e} of the largest magnitude"
    return diff


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{family: (model, make_input, path)}: each family exported once, from a batch of 2."""
    folder = tmp_path_factory.mktemp("onnx")
    cache: dict[str, tuple] = {}

    def get(family: str):
        if family not in cache:
            make_model, make_input = FAMILIES[family]
            model = randomise(make_model())
            x = make_input(2, np.random.default_rng(1))
            path = to_onnx(model, x, folder / f"{family}.onnx")
            cache[family] = (model, make_input, path)
        return cache[family]
    return get


# ---------------------------------------------------------------------- every family
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("family", FAMILIES)
def test_family_runs_in_onnxruntime_with_the_models_output(exported, family, batch):
    model, make_input, path = exported(family)
    x = make_input(batch, np.random.default_rng(batch))
    assert_close(run(path, x), model.forward(x))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_passes_the_checker_with_a_dynamic_batch_axis(exported, family):
    path = exported(family)[2]
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    for value in (*proto.graph.input, *proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N" and all(d.dim_value > 0 for d in dims[1:])
    assert proto.opset_import[0].version == _onnx.DEFAULT_OPSET == 17


def test_every_layer_class_of_nn_has_a_converter_and_every_converter_a_test():
    """A family added to nn without an ONNX converter fails here (its name in the
    message), and so does a converter that no FAMILIES entry exercises."""
    from nn.interop import _onnx_layers, _onnx_models, _onnx_sequence  # noqa: F401 (register)
    from nn.interop._onnx_graph import CONVERTERS

    public = {getattr(nn, name) for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Layer) and getattr(nn, name) is not nn.Layer}
    assert not {c.__name__ for c in public - set(CONVERTERS)}, "no ONNX converter"
    tested = {type(m) for make_model, _ in FAMILIES.values() for m in make_model().modules()}
    assert not {c.__name__ for c in set(CONVERTERS) - tested}, "converters without a test"


@settings(max_examples=12, deadline=None)
@given(k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       s=st.tuples(st.integers(1, 2), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       side=st.tuples(st.integers(0, 3), st.integers(0, 3)), seed=st.integers(0, 2**16))
def test_conv_and_pooling_options_match(tmp_path_factory, k, s, d, side, seed):
    """Conv2d, MaxPool2d, AvgPool2d over kernels, strides, padding (up to half the kernel,
    counted in the average) and dilations."""
    p = (k[0] // 2, k[1] // 2)
    H, W = (d[0] * (k[0] - 1) + 1 + side[0], d[1] * (k[1] - 1) + 1 + side[1])
    model = randomise(nn.Sequential(nn.Conv2d(2, 3, k, s, p, dilation=d),
                                    nn.MaxPool2d(k, 1, p), nn.AvgPool2d(k, 1, p)), seed)
    x = np.random.default_rng(seed).standard_normal((3, 2, H, W)).astype(F32)
    path = to_onnx(model, x[:1], tmp_path_factory.mktemp("conv") / "m.onnx")
    assert_close(run(path, x), model.forward(x))


def test_recurrent_gate_orders_by_hand():
    """nn's column blocks (LSTM i, f, g, o; GRU r, z, n) become ONNX's row blocks (LSTM
    i, o, f, c; GRU z, r, h): docs/interop.md's table."""
    from nn.interop._onnx_sequence import GRU_ORDER, LSTM_ORDER, onnx_gates

    lstm = np.array([[1, 1, 2, 2, 3, 3, 4, 4]])        # K = 1 row, H = 2: i=1 f=2 g=3 o=4
    assert onnx_gates(lstm, LSTM_ORDER).ravel().tolist() == [1, 1, 4, 4, 2, 2, 3, 3]
    assert onnx_gates(lstm, LSTM_ORDER).shape == (8, 1)             # (G*H, K)
    gru_bias = np.array([1, 2, 3])                      # H = 1: r=1 z=2 n=3
    assert onnx_gates(gru_bias, GRU_ORDER).tolist() == [2, 1, 3]


def test_constants_are_named_after_the_state_dict(exported):
    model, _, path = exported("Sequential-language-model")
    names = {t.name for t in onnx.load(path).graph.initializer}
    assert {"0.weight", "2.weight", "2.bias", "1.W", "1.R", "1.B"} <= names
    assert all(name.split(".")[0] in {"0", "1", "2"} for name in names)


@settings(max_examples=12, deadline=None)
@given(cell=st.sampled_from(["RNN-tanh", "RNN-relu", "LSTM", "GRU"]),
       sizes=st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 7)),
       last=st.booleans(), seed=st.integers(0, 2**16))
def test_recurrent_sizes_match(tmp_path_factory, cell, sizes, last, seed):
    """RNN/LSTM/GRU over input and hidden sizes (1 included: a one-column gate block) and
    sequence lengths (1 included), both return_sequences."""
    I, H, steps = sizes
    make = {"RNN-tanh": lambda: nn.RNN(I, H, return_sequences=not last),
            "RNN-relu": lambda: nn.RNN(I, H, "relu", return_sequences=not last),
            "LSTM": lambda: nn.LSTM(I, H, return_sequences=not last),
            "GRU": lambda: nn.GRU(I, H, return_sequences=not last)}[cell]
    model = randomise(make(), seed)
    x = np.random.default_rng(seed).standard_normal((3, steps, I)).astype(F32)
    path = to_onnx(model, x[:1], tmp_path_factory.mktemp("rnn") / "m.onnx")
    assert_close(run(path, x), model.forward(x))


@settings(max_examples=12, deadline=None)
@given(heads=st.sampled_from([(1, 1), (2, 1), (4, 2), (6, 3), (8, 4)]),
       steps=st.integers(1, 6), causal=st.booleans(), masked=st.booleans(),
       seed=st.integers(0, 2**16))
def test_attention_options_match(tmp_path_factory, heads, steps, causal, masked, seed):
    """MultiHeadAttention over widths, head counts, lengths (1 included), causal or not,
    with or without a random key-padding mask (whole rows hidden included)."""
    E, H = heads
    model = randomise(nn.MultiHeadAttention(E, H, causal=causal), seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, steps, E)).astype(F32)
    mask = rng.random((4, steps)) < 0.4 if masked else None
    example = (x[:2], mask[:2]) if mask is not None else x[:2]
    path = to_onnx(model, example, tmp_path_factory.mktemp("mha") / "m.onnx")
    want = model.forward(x, mask) if mask is not None else model.forward(x)
    assert_close(run(path, x, mask), want)


# ---------------------------------------------------------------------- masks, dtypes
@pytest.mark.parametrize("make", [
    lambda: nn.MultiHeadAttention(8, 2, causal=True),
    lambda: encoder_layer(False),
    lambda: nn.TransformerEncoder(encoder_layer(True), 2, norm=nn.LayerNorm(8)),
    lambda: nn.models.transformer_classifier(3, in_features=8, d_model=8, nhead=2,
                                             dim_feedforward=16),     # masked mean pooling
], ids=["MultiHeadAttention", "TransformerEncoderLayer", "TransformerEncoder",
        "models.transformer_classifier"])
def test_key_padding_mask_is_a_second_input(tmp_path, make):
    model = randomise(make())
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, T, 8)).astype(F32)
    mask = np.zeros((4, T), bool)
    mask[0, 3:] = True        # padding at the end
    mask[1, :2] = True        # at the start
    mask[2, :] = True         # every key hidden: nn gives finite outputs, so must ONNX
    path = to_onnx(model, (x[:2], mask[:2]), tmp_path / "m.onnx")
    inputs = [i.name for i in onnx.load(path).graph.input]
    assert inputs == ["input", "key_padding_mask"]
    got = run(path, x, mask)
    assert np.all(np.isfinite(got))
    assert_close(got, model.forward(x, mask))


def test_float64_model_is_exported_in_float32(tmp_path):
    model = randomise(nn.Sequential(nn.Conv2d(2, 3, 3, dtype=F64), nn.Flatten(),
                                    nn.Linear(24, 3, dtype=F64), nn.GELU()))
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 6))
    path = to_onnx(model, x, tmp_path / "m.onnx")
    proto = onnx.load(path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in proto.graph.initializer
               if t.name.endswith(("weight", "bias")))
    assert_close(run(path, x), model.forward(x).astype(F32))


# ---------------------------------------------------------------------- training mode
def test_training_mode_warns_and_exports_eval_semantics(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(6, 3))
    rng = np.random.default_rng(0)
    for _ in range(5):                          # batch statistics into the running ones
        model.forward(rng.standard_normal((16, 4)).astype(F32) * 3 + 1)
    assert model.training
    x = rng.standard_normal((8, 4)).astype(F32)
    with pytest.warns(UserWarning, match=r"training mode.*eval-mode.*Dropout is the identity"
                                         r".*running statistics"):
        path = to_onnx(model, x, tmp_path / "m.onnx")
    assert all(m.training for m in model.modules()), "the model keeps its mode"
    got = run(path, x)
    assert_close(got, copy.deepcopy(model).eval().forward(x))
    assert not np.allclose(got, model.forward(x), atol=1e-3)     # a train-mode output differs


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.2)).eval(),
    nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.0), nn.ReLU()),   # training mode changes nothing
], ids=["eval-mode", "training-mode-without-dropout-or-batchnorm"])
def test_no_warning_when_the_mode_changes_nothing(tmp_path, model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_onnx(model, np.ones((2, 4), F32), tmp_path / "m.onnx")


def test_the_warning_names_the_layers_concerned(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.Residual(encoder_layer(False)))
    x = np.ones((2, 3, 4), F32)
    with pytest.warns(UserWarning) as record:
        to_onnx(model, x, tmp_path / "m.onnx")
    message = str(record[0].message)
    assert "1.layer.self_attn.attn_dropout (Dropout)" in message
    assert "1.layer.dropout2 (Dropout)" in message and "0 (Linear)" not in message


# ---------------------------------------------------------------------- failures
class Doubler(nn.Layer):
    def forward(self, x):
        return 2 * x


def test_unsupported_layer_is_named_with_the_supported_list_and_nothing_is_written(tmp_path):
    path = tmp_path / "m.onnx"
    model = nn.Sequential(nn.Linear(4, 4), nn.Residual(Doubler()))
    with pytest.raises(TypeError, match=r"Doubler.*at '1\.layer'.*supported layers: .*"
                                        r"Conv2d.*LSTM.*Sequential"):
        to_onnx(model, np.ones((2, 4), F32), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_an_existing_file_untouched(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous export")
    with pytest.raises(TypeError, match="Doubler"):
        to_onnx(Doubler(), np.ones((2, 4), F32), path)
    with pytest.raises(ValueError, match="expected input of shape"):
        to_onnx(nn.Linear(3, 2), np.ones((2, 4), F32), path)      # the model refuses it
    assert path.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(_onnx.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        to_onnx(nn.Linear(4, 2), np.ones((2, 4), F32), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("example, match", [
    ([np.ones((2, 4), F32)], "pair"),
    ((np.ones((2, 4), F32), np.zeros((2, 4), bool)), "pair"),        # Linear takes no mask
    (np.float32(1.0), "numeric ndarray"),
    (np.array(["a", "b"]), "numeric ndarray"),
])
def test_bad_example_input(tmp_path, example, match):
    with pytest.raises(TypeError, match=match):
        to_onnx(nn.Linear(4, 2), example, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="boolean"):
        to_onnx(nn.MultiHeadAttention(4, 2), (np.ones((2, 3, 4), F32), np.zeros((2, 3))),
                tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- opset, path
def test_opset_is_honoured(tmp_path):
    """17 (the default: ReduceMax takes its axes as an attribute) and a newer opset that
    onnxruntime runs (axes as an input), on the masked softmax that uses ReduceMax."""
    model = randomise(nn.MultiHeadAttention(8, 2, causal=True))
    x = np.random.default_rng(0).standard_normal((3, T, 8)).astype(F32)
    newest = min(onnx.defs.onnx_opset_version(), 21)
    for opset in (None, 17, 18, newest):
        path = to_onnx(model, x, tmp_path / f"m{opset}.onnx", opset=opset)
        assert onnx.load(path).opset_import[0].version == (opset or 17)
        assert_close(run(path, x), model.forward(x))


@pytest.mark.parametrize("opset", [16, 10_000, True, 17.0, "17"])
def test_opset_out_of_range(tmp_path, opset):
    with pytest.raises(ValueError, match="opset must be an int from 17"):
        to_onnx(nn.Linear(4, 2), np.ones((2, 4), F32), tmp_path / "m.onnx", opset=opset)
    assert list(tmp_path.iterdir()) == []


def test_path_str_pathlike_and_home(tmp_path, monkeypatch):
    model, x = nn.Linear(4, 2), np.ones((2, 4), F32)
    assert to_onnx(model, x, str(tmp_path / "a.onnx")) == str(tmp_path / "a.onnx")
    assert to_onnx(model, x, tmp_path / "b.onnx") == str(tmp_path / "b.onnx")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert to_onnx(model, x, pathlib.PurePath("~/c.onnx")) == str(tmp_path / "c.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx", "c.onnx"]


def test_without_onnx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)             # import onnx fails
    with pytest.raises(ImportError, match=r"pip install 'readable-nn\[onnx\]'"):
        to_onnx(nn.Linear(4, 2), np.ones((2, 4), F32), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_the_file_names_its_producer(exported):
    proto = onnx.load(exported("Linear")[2])
    assert (proto.producer_name, proto.producer_version) == ("readable-nn", nn.__version__)


def test_import_nn_does_not_import_onnx():
    code = "import sys, nn; nn.interop.to_onnx; assert 'onnx' not in sys.modules"
    root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(root)})


def test_the_example_of_docs_interop_runs(tmp_path, monkeypatch):
    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "interop.md").read_text()
    section = text[text.index("## ONNX"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/interop.md ONNX example", "exec"), {})
    assert (tmp_path / "cnn.onnx").is_file()
