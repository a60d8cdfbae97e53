"""nn.Embedding: lookup, scatter-add gradient with repeated indices, errors, dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds

import nn
from nn.layers import embedding as emb_mod


def _reference_grad(idx, G, num, padding_idx=None):
    ref = np.zeros((num, G.shape[-1]))
    np.add.at(ref, idx.reshape(-1), G.reshape(-1, G.shape[-1]))
    if padding_idx is not None:
        ref[padding_idx] = 0
    return ref


@given(num=st.integers(1, 12), dim=st.integers(1, 5),
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), seed=seeds)
def test_forward_is_row_lookup_and_backward_accumulates(num, dim, shape, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Embedding(num, dim, rng=rng, dtype=np.float64)
    idx = rng.integers(0, num, size=shape)
    y = layer(idx)
    assert y.shape == shape + (dim,)
    np.testing.assert_array_equal(y, layer.weight.data[idx])
    G = rng.standard_normal(y.shape)
    layer.zero_grad()
    assert layer.backward(G) is None
    np.testing.assert_allclose(layer.weight.grad, _reference_grad(idx, G, num), rtol=1e-12,
                               atol=1e-12)


@given(num=st.integers(1, 8), dim=st.integers(1, 4), n=st.integers(1, 4), t=st.integers(1, 5),
       seed=seeds)
def test_gradcheck_with_repeated_indices(num, dim, n, t, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num, size=(n, t))
    idx.flat[0] = idx.flat[-1] = 0  # at least one repeated index whenever n * t > 1
    nn.assert_gradcheck(nn.Embedding(num, dim, rng=seed), idx, seed=seed)


def test_sparse_path_matches_dense_path_and_add_at(monkeypatch):
    rng = np.random.default_rng(3)
    num, dim = 3000, 6
    idx = rng.integers(0, 40, size=(8, 30))          # many repeats, num * M > the dense limit
    assert idx.size * num > emb_mod.DENSE_SCATTER_MAX
    G = rng.standard_normal(idx.shape + (dim,))
    grads = []
    for limit in (emb_mod.DENSE_SCATTER_MAX, 10**9):  # CSR, then forced dense
        monkeypatch.setattr(emb_mod, "DENSE_SCATTER_MAX", limit)
        layer = nn.Embedding(num, dim, rng=0, dtype=np.float64)
        layer(idx)
        layer.zero_grad()
        layer.backward(G)
        grads.append(layer.weight.grad.copy())
    ref = _reference_grad(idx, G, num)
    np.testing.assert_allclose(grads[0], ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], ref, rtol=1e-12, atol=1e-12)


def test_gradcheck_sparse_path():
    idx = np.random.default_rng(1).integers(0, 25, size=(6, 20))
    layer = nn.Embedding(1000, 3, rng=0)
    assert idx.size * 1000 > emb_mod.DENSE_SCATTER_MAX
    nn.assert_gradcheck(layer, idx, seed=1, max_coords=60)


@pytest.mark.parametrize("num", [7, 5000])  # dense and sparse scatter
def test_backward_adds_to_existing_gradient(num):
    rng = np.random.default_rng(0)
    layer = nn.Embedding(num, 3, rng=0, dtype=np.float64)
    idx = rng.integers(0, 7, size=(4, 5))
    G = rng.standard_normal((4, 5, 3))
    layer(idx)
    layer.zero_grad()
    layer.backward(G)
    layer.backward(G)
    np.testing.assert_allclose(layer.weight.grad, 2 * _reference_grad(idx, G, num), atol=1e-12)


@pytest.mark.parametrize("num", [7, 5000])
def test_padding_idx_row_starts_at_zero_and_gets_no_gradient(num):
    rng = np.random.default_rng(0)
    layer = nn.Embedding(num, 3, rng=0, padding_idx=0, dtype=np.float64)
    np.testing.assert_array_equal(layer.weight.data[0], 0)
    idx = rng.integers(0, 7, size=(5, 6))
    idx[:, -2:] = 0
    G = rng.standard_normal((5, 6, 3))
    layer(idx)
    layer.zero_grad()
    layer.weight.grad[0] = 1.5  # a previous contribution is kept, nothing is added to it
    layer.backward(G)
    expected = _reference_grad(idx, G, num, padding_idx=0)
    expected[0] = 1.5
    np.testing.assert_allclose(layer.weight.grad, expected, atol=1e-12)


def test_out_of_range_and_bad_inputs_are_clear():
    layer = nn.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"Embedding\(num_embeddings=5.*index 5 is out of range"
                                         r".*0\.\.4.*\(2, 2\)"):
        layer(np.array([[0, 5], [1, 2]]))
    with pytest.raises(ValueError, match="index -1 is out of range"):
        layer(np.array([-1, 2]))
    with pytest.raises(TypeError, match="integer token ids.*float"):
        layer(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer numpy.ndarray"):
        layer("abc")
    with pytest.raises(ValueError, match="positive integer"):
        nn.Embedding(0, 3)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 3, padding_idx=3)


def test_backward_before_forward_and_bad_gradient_shape():
    layer = nn.Embedding(5, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2), np.float32))
    layer(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*got \(3, 3\)"):
        layer.backward(np.zeros((3, 3), np.float32))


def test_dtypes_kept():
    layer = nn.Embedding(6, 4, rng=0)
    assert layer.weight.dtype == np.float32
    y = layer(np.array([[1, 2]], dtype=np.int32))
    assert y.dtype == np.float32
    layer.backward(np.ones((1, 2, 4), np.float64))  # cast, not promoted
    assert layer.weight.grad.dtype == np.float32
    assert nn.Embedding(6, 4, dtype=np.float64)(np.array([0, 1, 2], np.uint8)).dtype == np.float64
    assert layer.astype(np.float64)(np.array([1])).dtype == np.float64


def test_deterministic_under_a_seed_and_global_seed():
    a = nn.Embedding(10, 3, rng=42).weight.data
    b = nn.Embedding(10, 3, rng=42).weight.data
    np.testing.assert_array_equal(a, b)
    nn.manual_seed(7)
    c = nn.Embedding(10, 3).weight.data
    nn.manual_seed(7)
    np.testing.assert_array_equal(c, nn.Embedding(10, 3).weight.data)
    # PyTorch's initialisation: N(0, 1)
    w = nn.Embedding(400, 50, rng=0, dtype=np.float64).weight.data
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


def test_from_pretrained_frozen_by_default():
    w = np.arange(12, dtype=np.float64).reshape(4, 3)
    layer = nn.Embedding.from_pretrained(w)
    np.testing.assert_array_equal(layer(np.array([3, 0])), w[[3, 0]])
    assert not layer.weight.requires_grad and layer.weight.dtype == np.float64
    layer.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(layer.weight.grad, 0)
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_first_layer_of_a_sequential_with_a_model_gradcheck():
    model = nn.Sequential(nn.Embedding(9, 4, rng=0), nn.Linear(4, 3, rng=1), nn.Tanh())
    idx = np.random.default_rng(0).integers(0, 9, size=(3, 5))
    report = nn.assert_gradcheck(model, idx, seed=3)
    assert {r.name for r in report.results} == {"0.weight", "1.weight", "1.bias"}


def test_matches_torch_embedding():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    layer = nn.Embedding(11, 5, rng=0, dtype=np.float64)
    idx = rng.integers(0, 11, size=(4, 7))
    G = rng.standard_normal((4, 7, 5))
    t = torch.nn.Embedding(11, 5).double()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.weight.data))
    yt = t(torch.from_numpy(idx))
    yt.backward(torch.from_numpy(G))
    layer.zero_grad()
    y = layer(idx)
    layer.backward(G)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_allclose(layer.weight.grad, t.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_changing_the_index_array_after_forward_does_not_change_the_gradient():
    emb = nn.Embedding(5, 2, rng=0, dtype=np.float64)
    idx = np.array([[1, 2], [3, 1]])
    emb(idx)
    idx[...] = 0  # the caller reuses its buffer for the next batch
    emb.backward(np.ones((2, 2, 2)))
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [0, 2, 1, 1, 0])
