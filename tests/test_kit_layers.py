"""Every layer of the project through the testing kit: one line per layer.

A new layer gets property-based tests (gradients for the input and every parameter, dtype,
no mutation, accumulation, determinism, batch independence where declared) by adding one
``case(...)`` line below.
"""

from __future__ import annotations

import pytest

import nn
from nn.testing import away_from, batch_shapes, check_layer, shapes


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
]


@pytest.mark.parametrize("factory,input_shapes,options", CASES)
def test_layer_properties(factory, input_shapes, options):
    check_layer(factory, input_shapes, **options)
