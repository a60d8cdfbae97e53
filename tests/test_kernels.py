"""The named fast forms of the core, each against its plain reference (float64, 1e-12, over
hypothesis cases), and the input checks' fast path against their full (slow) path.

Kernels of nn/parameter.py and nn/functional.py:

* ``Parameter.add_grad_matmul(a, b)``: ``grad += a @ b``, written straight into the
  gradient array right after ``zero_grad()`` (no temporary, no extra pass);
* ``Parameter.add_grad(v)``: ``grad += v``, a copy right after ``zero_grad()``;
* ``F.ones(n) @ G``: the column sums ``G.sum(axis=0)`` as a BLAS product (Conv2d's bias
  gradient and attention's softmax sums use it);
* ``F.same_layout(a, like)``: ``a`` with ``like``'s memory layout, values unchanged.

``check_input`` / ``check_grad`` (nn/layer.py) return the argument itself when it is a
plain ndarray of the right dtype and shape, and otherwise hand over to their full path,
which raises the error naming the layer or converts; the property below shows the fast path
never changes what the full path decides.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, shapes

import nn
from nn import functional as F
from nn.layer import _checked_grad, _checked_input, check_grad, check_input

F64 = np.float64


@st.composite
def matmul_operands(draw):
    m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
    a = draw(arrays((m, k)))
    b = draw(arrays((k, n)))
    transposed = draw(st.booleans())  # X.T as a layer passes it: a non-contiguous view
    if transposed:
        a = np.ascontiguousarray(a.T).T
    return a, b


@given(ops=matmul_operands(), before=st.sampled_from(["zeroed", "fresh", "accumulated"]))
def test_add_grad_matmul_is_grad_plus_a_at_b(ops, before):
    a, b = ops
    p = nn.Parameter(np.zeros((a.shape[0], b.shape[1])))
    if before == "zeroed":
        p.zero_grad()  # the overwrite path: the product is written into the array
    elif before == "accumulated":
        p.add_grad(np.full(p.shape, 0.25))
    reference = p.grad_view().copy()
    reference += a @ b  # the plain form
    p.add_grad_matmul(a, b)
    np.testing.assert_allclose(p.grad, reference, rtol=1e-12, atol=1e-300)
    p.add_grad_matmul(a, b)  # a second contribution adds
    np.testing.assert_allclose(p.grad, reference + a @ b, rtol=1e-12, atol=1e-300)


@given(v=arrays(shapes(min_dims=1, max_dims=3)), zeroed=st.booleans())
def test_add_grad_is_grad_plus_v(v, zeroed):
    p = nn.Parameter(np.ones(v.shape))
    p.add_grad(np.ones(v.shape))
    if zeroed:
        p.zero_grad()
    reference = p.grad_view().copy()
    reference += v
    p.add_grad(v)
    np.testing.assert_array_equal(p.grad, reference)


@given(G=arrays(shapes(min_dims=2, max_dims=2, max_side=40)))
def test_ones_product_is_the_column_sum(G):
    np.testing.assert_allclose(F.ones(G.shape[0], G.dtype) @ G, G.sum(axis=0),
                               rtol=1e-12, atol=1e-12)


@given(x=arrays(shapes(min_dims=4, max_dims=4)), perm=st.permutations(range(4)))
def test_same_layout_keeps_values_and_takes_the_layout(x, perm):
    like = np.ascontiguousarray(x.transpose(perm)).transpose(np.argsort(perm))
    out = F.same_layout(x, like)
    np.testing.assert_array_equal(out, x)
    assert out.transpose(perm).flags.c_contiguous and out.dtype == like.dtype  # like's layout


# ---------------------------------------------------------------------- input checks
class _Probe(nn.Layer):
    def extra_repr(self) -> str:
        return "probe"


class _Sub(np.ndarray):
    """An ndarray subclass standing for ``np.memmap``."""


def _outcome(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    assert type(out) is np.ndarray
    return "ok", out


_SHAPES = [(), (3,), (2, 3), (2, 3, 4)]
_DTYPES = [np.float32, np.float64, np.float16, np.int64, np.bool_]
_KINDS = ["ndarray", "subclass", "list", "scalar"]
_LAYER_DTYPES = [None, np.dtype(np.float32), np.dtype(np.float64)]


def _make(kind, shape, dtype):
    x = np.zeros(shape, dtype=dtype)
    return {"ndarray": x, "subclass": x.view(_Sub), "list": x.tolist(), "scalar": 1.5}[kind]


def _same_outcome(fast, full):
    assert fast[0] == full[0], (fast, full)
    if fast[0] == "ok":
        np.testing.assert_array_equal(fast[1], full[1])
        assert fast[1].dtype == full[1].dtype and fast[1].shape == full[1].shape
    else:
        assert fast[1] == full[1] and "_Probe(probe)" in fast[1]


def test_check_input_fast_path_decides_as_the_full_path():
    """Every combination of input kind, dtype, shape and constraint (met or missed, 6480
    cases): the fast path returns what the full path returns, or the same error."""
    layer = _Probe()
    for kind, shape, dtype in itertools.product(_KINDS, _SHAPES, _DTYPES):
        x = _make(kind, shape, dtype)
        last = [shape[-1], shape[-1] + 1] if shape else [1, 2]
        for ndim, min_ndim, last_dim, want in itertools.product(
                [None, len(shape), len(shape) + 1], [0, 1, 2], [None, *last], _LAYER_DTYPES):
            fast = _outcome(check_input, layer, x, ndim=ndim, min_ndim=min_ndim,
                            last_dim=last_dim, dtype=want)
            full = _outcome(_checked_input, layer, x, ndim, min_ndim, last_dim, want, "")
            _same_outcome(fast, full)


def test_check_grad_fast_path_decides_as_the_full_path():
    layer = _Probe()
    for kind, shape, dtype in itertools.product(_KINDS, _SHAPES, _DTYPES):
        g = _make(kind, shape, dtype)
        for expected, want in itertools.product([shape, shape + (1,), (5,)], _LAYER_DTYPES[1:]):
            fast = _outcome(check_grad, layer, g, expected, want)
            full = _outcome(_checked_grad, layer, g, expected, want)
            _same_outcome(fast, full)


def test_check_input_and_check_grad_return_a_good_argument_itself():
    layer = _Probe()
    x = np.ones((2, 3), np.float32)
    assert check_input(layer, x, last_dim=3, dtype=np.dtype(np.float32)) is x
    assert check_grad(layer, x, (2, 3), np.dtype(np.float32)) is x
    sub = x.view(_Sub)
    assert type(check_input(layer, sub)) is np.ndarray  # a plain view, no copy
    assert np.shares_memory(check_input(layer, sub), x)
    cast = check_grad(layer, x.astype(F64), (2, 3), np.dtype(np.float32))
    assert cast.dtype == np.float32  # a float64 gradient is cast, not kept


def test_check_input_names_the_layer_and_shapes():
    layer = _Probe()
    with pytest.raises(ValueError, match=r"_Probe\(probe\).*\(\.\.\., 4\).*\(2, 3\)"):
        check_input(layer, np.ones((2, 3)), last_dim=4)
    with pytest.raises(ValueError, match=r"_Probe\(probe\).*\(\.\.\., 4\).*\(\)"):
        check_input(layer, np.array(1.0), min_ndim=0, last_dim=4)  # 0-d: no IndexError
    with pytest.raises(TypeError, match=r"_Probe\(probe\).*float64.*float32"):
        check_input(layer, np.ones(3), dtype=np.dtype(np.float32))
    with pytest.raises(ValueError, match=r"_Probe\(probe\).*\(2, 3\).*\(3, 2\)"):
        check_grad(layer, np.ones((3, 2)), (2, 3), np.dtype(F64))
