"""The fast kernels of nn/layers/recurrent.py equal their plain references (float64).

docs/math/recurrent.md shows the plain forms; the layers call the fast ones. Tolerance: rtol
1e-12, plus, for the sigmoid only, atol 4.5e-16: ``1/2 + tanh(z/2)/2`` is exact to a few ulp
of 1/2, so for very negative z (sigma(z) < 1e-4) it keeps the absolute, not the relative,
precision of ``scipy.special.expit``.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays

from nn.layers.recurrent import (
    lstm_gates,
    lstm_gates_grad,
    lstm_gates_grad_reference,
    lstm_gates_reference,
    sigmoid,
    sigmoid_reference,
)

RTOL = 1e-12


@st.composite
def gate_blocks(draw, lo=-40.0, hi=40.0):
    """z (N, 4H) float64: the pre-activations of the four LSTM gates of one step."""
    N, H = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    return draw(arrays((N, 4 * H), lo, hi, np.float64))


@given(z=gate_blocks())
def test_sigmoid_equals_reference(z):
    z0 = z.copy()
    np.testing.assert_allclose(sigmoid(z), sigmoid_reference(z), rtol=RTOL, atol=4.5e-16)
    np.testing.assert_array_equal(z, z0)            # the argument is not written into


def test_sigmoid_writes_into_out_and_keeps_dtype():
    z = np.linspace(-20, 20, 41, dtype=np.float32)
    out = np.empty_like(z)
    s = sigmoid(z, out=out)
    assert s is out and s.dtype == np.float32
    np.testing.assert_allclose(s, sigmoid_reference(z), rtol=1e-6, atol=1e-7)


@given(z=gate_blocks())
def test_lstm_gates_equals_reference(z):
    z0 = z.copy()
    out = np.empty_like(z)
    fast = lstm_gates(z, out=out)
    plain = lstm_gates_reference(z)
    for name, a, b in zip("ifgo", fast, plain):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=4.5e-16, err_msg=name)
        assert np.shares_memory(a, out)             # the gates live in the caller's buffer
    np.testing.assert_array_equal(z, z0)


@given(z=gate_blocks(lo=-6.0, hi=6.0), data=st.data())
def test_lstm_gates_grad_equals_reference(z, data):
    S = np.empty_like(z)
    lstm_gates(z, out=S)                            # S = [i | f | g | o], as in forward
    N, H = z.shape[0], z.shape[1] // 4
    di, df, dg, do = (data.draw(arrays((N, H), -3.0, 3.0, np.float64)) for _ in range(4))
    S0 = S.copy()
    out = np.empty_like(z)
    fast = lstm_gates_grad(di, df, dg, do, S, out=out)
    assert fast is out
    np.testing.assert_allclose(fast, lstm_gates_grad_reference(di, df, dg, do, S), rtol=RTOL)
    np.testing.assert_array_equal(S, S0)


def test_lstm_gates_grad_keeps_float32():
    rng = np.random.default_rng(0)
    S = rng.uniform(0, 1, (2, 8)).astype(np.float32)
    d = [rng.standard_normal((2, 2), dtype=np.float32) for _ in range(4)]
    out = np.empty((2, 8), np.float32)
    assert lstm_gates_grad(*d, S, out=out).dtype == np.float32
