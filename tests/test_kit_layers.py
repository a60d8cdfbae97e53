"""Every layer of the project through the testing kit: one line per layer.

A new layer gets property-based tests (gradients for the input and every parameter, dtype,
no mutation, accumulation, determinism, batch independence where declared) by adding one
``case(...)`` line below.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

import nn
from nn.testing import (
    away_from,
    batch_shapes,
    check_layer,
    distinct,
    image_shapes,
    sequence_shapes,
    shapes,
)


def case(name, factory, input_shapes, **options):
    return pytest.param(factory, input_shapes, options, id=name)


CASES = [
    case("Linear", lambda: nn.Linear(3, 4), batch_shapes(last=3), batch_independent=True),
    case("Linear-nobias", lambda: nn.Linear(2, 3, bias=False), batch_shapes(last=2),
         batch_independent=True),
    case("Linear-xavier", lambda: nn.Linear(4, 2, init="xavier"), batch_shapes(last=4)),
    case("ReLU", nn.ReLU, shapes(), nudge=away_from(0.0), batch_independent=True),
    case("LeakyReLU", lambda: nn.LeakyReLU(0.1), shapes(), nudge=away_from(0.0),
         batch_independent=True),
    case("Sigmoid", nn.Sigmoid, shapes(), batch_independent=True),
    case("Tanh", nn.Tanh, shapes(), batch_independent=True),
    case("GELU", nn.GELU, shapes(), batch_independent=True),
    case("Softmax", nn.Softmax, batch_shapes(), batch_independent=True),
    case("Softmax-axis0", lambda: nn.Softmax(axis=0), shapes(min_dims=2)),
    case("LogSoftmax", nn.LogSoftmax, batch_shapes(), batch_independent=True),
    case("Dropout", lambda: nn.Dropout(0.3), shapes(), batch_independent=True),
    case("Dropout-eval", lambda: nn.Dropout(0.3), shapes(), train=False),
    case("Flatten", nn.Flatten, shapes(min_dims=2), batch_independent=True),
    case("Sequential", lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
         batch_shapes(last=3), batch_independent=True),
    case("Residual", lambda: nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.Tanh())),
         batch_shapes(last=3), batch_independent=True),
    case("mlp", lambda: nn.models.mlp(5, (4, 3), 2, activation="gelu", dropout=0.2),
         batch_shapes(last=5, max_lead=1), batch_independent=True),
    # convolutional
    case("Conv2d", lambda: nn.Conv2d(2, 3, 3, padding=1), image_shapes(2, kernel_size=3,
         padding=1), batch_independent=True),
    case("Conv2d-stride-dilation", lambda: nn.Conv2d(1, 2, (2, 3), stride=(2, 1), dilation=2),
         image_shapes(1, kernel_size=(2, 3), dilation=2), batch_independent=True),
    case("MaxPool2d", lambda: nn.MaxPool2d(2), image_shapes(kernel_size=2), nudge=distinct(),
         batch_independent=True),
    case("MaxPool2d-overlap", lambda: nn.MaxPool2d(3, stride=2, padding=1),
         image_shapes(kernel_size=3, padding=1), nudge=distinct(), batch_independent=True),
    case("AvgPool2d", lambda: nn.AvgPool2d(2, stride=1, padding=1),
         image_shapes(kernel_size=2, padding=1), batch_independent=True),
    case("Conv1d", lambda: nn.Conv1d(2, 3, 3, padding=1), sequence_shapes(2, kernel_size=3,
         padding=1), batch_independent=True),
    case("Conv1d-stride-dilation", lambda: nn.Conv1d(1, 2, 3, stride=2, dilation=2),
         sequence_shapes(1, kernel_size=3, dilation=2), batch_independent=True),
    case("MaxPool1d", lambda: nn.MaxPool1d(2), sequence_shapes(kernel_size=2), nudge=distinct(),
         batch_independent=True),
    case("MaxPool1d-overlap", lambda: nn.MaxPool1d(3, stride=2, padding=1),
         sequence_shapes(kernel_size=3, padding=1), nudge=distinct(), batch_independent=True),
    case("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2, padding=1),
         sequence_shapes(kernel_size=3, padding=1), batch_independent=True),
    # normalisation: distinct values keep the variance away from 0, where the function is so
    # curved that central differences themselves are off by 1e-3 (the layer is not wrong);
    # training batch statistics need at least two values per channel
    case("BatchNorm1d", lambda: nn.BatchNorm1d(3),
         st.tuples(st.integers(2, 5), st.just(3)), nudge=distinct()),
    case("BatchNorm1d-eval", lambda: nn.BatchNorm1d(3), batch_shapes(last=3, max_lead=1),
         train=False, batch_independent=True),
    case("BatchNorm2d", lambda: nn.BatchNorm2d(2), image_shapes(2, min_batch=2, max_extra=2),
         nudge=distinct()),
    case("LayerNorm", lambda: nn.LayerNorm(4), batch_shapes(last=4), nudge=distinct(),
         batch_independent=True),
    # a whole CNN: distinct pixels keep every ReLU input off exactly 0 (an all-zero image
    # with zero biases puts all of them on the kink at once)
    case("cnn", lambda: nn.models.cnn((1, 6, 6), 3, channels=2, hidden=4),
         st.tuples(st.integers(1, 3), st.just(1), st.just(6), st.just(6)), nudge=distinct(),
         batch_independent=True),
    # recurrent (Embedding takes integer input: tests/test_embedding.py checks it)
    case("RNN", lambda: nn.RNN(3, 4), batch_shapes(last=3, min_lead=2, max_lead=2),
         batch_independent=True),
    case("RNN-relu-last", lambda: nn.RNN(2, 3, nonlinearity="relu", return_sequences=False),
         batch_shapes(last=2, min_lead=2, max_lead=2), batch_independent=True),
    case("LSTM", lambda: nn.LSTM(3, 4), batch_shapes(last=3, min_lead=2, max_lead=2),
         batch_independent=True),
    case("GRU", lambda: nn.GRU(3, 2, return_sequences=False),
         batch_shapes(last=3, min_lead=2, max_lead=2), batch_independent=True),
    # attention
    case("MultiHeadAttention", lambda: nn.MultiHeadAttention(4, 2),
         batch_shapes(last=4, min_lead=2, max_lead=2), batch_independent=True),
    case("MultiHeadAttention-causal", lambda: nn.MultiHeadAttention(6, 3, causal=True),
         batch_shapes(last=6, min_lead=2, max_lead=2), batch_independent=True),
    case("PositionalEncoding", lambda: nn.PositionalEncoding(4, max_len=8),
         batch_shapes(last=4, min_lead=2, max_lead=2), batch_independent=True),
    case("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(4, 2, 8, dropout=0.1),
         batch_shapes(last=4, min_lead=2, max_lead=2), nudge=distinct(), batch_independent=True),
    case("TransformerEncoderLayer-prenorm-gelu", lambda: nn.TransformerEncoderLayer(
         4, 2, 8, dropout=0.0, norm_first=True, activation="gelu", causal=True),
         batch_shapes(last=4, min_lead=2, max_lead=2), nudge=distinct(), batch_independent=True),
]


@pytest.mark.parametrize("factory,input_shapes,options", CASES)
def test_layer_properties(factory, input_shapes, options):
    check_layer(factory, input_shapes, **options)
