"""The public interfaces that replaced cross-module private access (issue 13, Parameter and
housekeeping): ``Layer.named_generators``, which checkpoints, the non-finite guard, gradcheck
and the testing kit use to find the random generators of a model; ``nn.layer.inner_grad``;
and the tensor names ``write_npz`` refuses."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from nn.checkpoint import model_generators
from nn.layer import inner_grad


class Noisy(nn.Layer):
    """A user layer holding a generator of its own and one it shares with a sub-layer."""

    def __init__(self, own: np.random.Generator, shared: np.random.Generator):
        super().__init__()
        self.noise = own
        self.drop = nn.Dropout(0.5, rng=shared)
        self.again = shared  # also the sub-layer's: listed once, under this name (the
        # layer's own attributes come before its sub-layers', as in named_modules)


def test_named_generators_lists_each_generator_once_under_its_first_dotted_name():
    own, shared = np.random.default_rng(1), np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(2, 2, rng=0), Noisy(own, shared), nn.Dropout(0.1))
    named = list(model.named_generators())
    assert [name for name, _ in named] == ["1.noise", "1.again", "2.rng"]
    assert named[0][1] is own and named[1][1] is shared and named[2][1] is nn.get_rng()
    assert [name for name, _ in model.named_generators("net")] == \
        ["net.1.noise", "net.1.again", "net.2.rng"]
    assert list(nn.Linear(2, 2).named_generators()) == []  # no generator held after init


def test_model_generators_are_the_named_ones_but_the_global_generator():
    own, shared = np.random.default_rng(1), np.random.default_rng(2)
    model = nn.Sequential(nn.Dropout(0.1), Noisy(own, shared))
    assert model_generators(model) == {"1.noise": own, "1.again": shared}


def test_transformer_encoder_copies_share_the_generators_of_the_layer_they_copy():
    gen = np.random.default_rng(3)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.1, rng=gen)
    encoder = nn.TransformerEncoder(layer, num_layers=2)
    assert {id(g) for _, g in encoder.named_generators()} == {id(gen)}


def test_inner_grad_passes_an_array_through_and_refuses_none():
    g = np.ones(3)
    assert inner_grad(g) is g
    with pytest.raises(RuntimeError, match="returned no input gradient"):
        inner_grad(None)


@pytest.mark.parametrize("name", ["allow_pickle", "file"])
def test_a_tensor_named_like_an_argument_of_np_savez_is_refused(tmp_path, name):
    """np.savez would take a tensor called ``allow_pickle`` for its flag (and silently leave
    it out of the file), and one called ``file`` for its path."""

    class Odd(nn.Layer):
        def __init__(self):
            super().__init__()
            setattr(self, name, nn.Parameter(np.ones(2)))

    with pytest.raises(ValueError, match=f"the tensor name '{name}' is reserved"):
        nn.save(Odd(), tmp_path / "odd.npz")
    assert not (tmp_path / "odd.npz").exists()
