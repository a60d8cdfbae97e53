"""The five corrections to the source formulas (docs/errata.md), one test each.

Every test compares against central finite differences or a hand-computed update, in
float64, and also shows that the source's wrong form gives a different answer.
"""

import numpy as np
import pytest

import nn
import optim

N, IN, HID, OUT = 6, 4, 5, 3


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------- 1. dW = X^T G
def test_erratum1_weight_gradient_is_xT_G_with_shape_in_out():
    rng = _rng(1)
    layer = nn.Linear(IN, OUT, dtype=np.float64, rng=0)
    X = rng.standard_normal((N, IN))
    G = rng.standard_normal((N, OUT))  # upstream gradient (the source's delta)
    layer.forward(X)
    layer.backward(G)

    W0 = layer.weight.data.copy()

    def f(W):  # scalar sum(y * G) as a function of the weight alone
        return np.sum((X @ W + layer.bias.data) * G)

    numeric = nn.numerical_gradient(f, W0)
    assert layer.weight.grad.shape == (IN, OUT)
    np.testing.assert_allclose(layer.weight.grad, numeric, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(layer.weight.grad, X.T @ G, rtol=1e-12, atol=1e-12)
    # the source's X·δ is not even defined for row-major batches (N, in) and (N, out)
    with pytest.raises(ValueError):
        np.matmul(X, G)


# ---------------------------------------------------------------------- 2. hidden delta
def test_erratum2_hidden_delta_is_G_WT_times_sigma_prime():
    rng = _rng(2)
    fc1 = nn.Linear(IN, HID, dtype=np.float64, rng=1)
    fc2 = nn.Linear(HID, OUT, dtype=np.float64, rng=2)
    model = nn.Sequential(fc1, nn.Sigmoid(), fc2)
    X = rng.standard_normal((N, IN))
    G = rng.standard_normal((N, OUT))  # delta of the output layer
    model.forward(X)
    model.backward(G)

    z = X @ fc1.weight.data + fc1.bias.data  # pre-activation of the hidden layer
    W2 = fc2.weight.data  # shape (HID, OUT)

    # delta of the hidden layer = dL/dz, by finite differences through the real layers
    def f(z_):
        return np.sum(fc2.forward(_sigmoid(z_)) * G)

    numeric = nn.numerical_gradient(f, z)
    sig = _sigmoid(z)
    correct = (G @ W2.T) * sig * (1 - sig)  # δ Wᵀ ⊙ σ'(z)
    np.testing.assert_allclose(correct, numeric, rtol=1e-7, atol=1e-9)
    # the library's backward agrees: dW1 = Xᵀ δ_hidden
    np.testing.assert_allclose(fc1.weight.grad, X.T @ correct, rtol=1e-10, atol=1e-12)
    # the source's W·δ: (HID, OUT) @ (N, OUT) does not conform
    with pytest.raises(ValueError):
        np.matmul(W2, G)


# ---------------------------------------------------------------------- 3. Adam
def test_erratum3_adam_uses_bias_corrected_moments_and_sqrt():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p0 = np.array([1.0, -2.0, 0.5])
    grads = [np.array([0.3, -1.0, 2.0]), np.array([0.1, 0.5, -1.0]), np.array([-0.2, 0.4, 0.0])]

    p = nn.Parameter(p0)
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    got = []
    for g in grads:
        opt.zero_grad()
        p.grad[...] = g
        opt.step()
        got.append(p.data.copy())

    # by hand: m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ), θ ← θ - α m̂/(√v̂ + ε)
    theta, wrong = p0.copy(), p0.copy()
    m, v = np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        wrong = wrong - lr * m / ((1 - b1**t) * (1 - b2**t))  # the source's form
        np.testing.assert_allclose(got[t - 1], theta, rtol=1e-12, atol=1e-14)
    # the source's form is far off (at t = 1 it divides by 1 - β₂ = 0.001)
    assert np.max(np.abs(wrong - theta)) > 1.0
    # first step of the correct rule moves each coordinate by about lr, against the gradient
    np.testing.assert_allclose(got[0], p0 - lr * np.sign(grads[0]), atol=1e-6)


# ---------------------------------------------------------------------- 4. cross-entropy
def test_erratum4_cross_entropy_is_minus_sum_target_log_prediction():
    rng = _rng(4)
    C = 5
    logits = rng.standard_normal((N, C)) * 2
    y = rng.integers(0, C, size=N)
    onehot = np.eye(C)[y]
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(logits, y)

    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    # L = -(1/N) Σ_n Σ_c y*_nc log ŷ_nc
    assert loss == pytest.approx(-np.sum(onehot * logp) / N, rel=1e-12)
    # the source's -Σ y log y is the target's entropy: 0 for one-hot y, whatever the logits
    with np.errstate(divide="ignore", invalid="ignore"):
        source = -np.nansum(onehot * np.log(onehot)) / N
    assert source == 0.0 and loss > 0.1

    grad = loss_fn.backward()
    numeric = nn.numerical_gradient(lambda z: nn.CrossEntropyLoss()(z, y), logits)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad, (p - onehot) / N, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- 5. output delta
def test_erratum5_output_delta_depends_on_the_loss():
    rng = _rng(5)
    C = 4
    z = rng.standard_normal((N, C))
    y = rng.integers(0, C, size=N)
    onehot = np.eye(C)[y]

    # softmax + cross-entropy: δ = dL/dz = (p - y)/N
    ce = nn.CrossEntropyLoss()
    ce(z, y)
    delta_ce = ce.backward()
    numeric_ce = nn.numerical_gradient(lambda z_: nn.CrossEntropyLoss()(z_, y), z)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(delta_ce, numeric_ce, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(delta_ce, (p - onehot) / N, rtol=1e-10, atol=1e-12)
    # the source's (a - y) σ'(z), with a = softmax(z) and σ' its diagonal p(1 - p), is wrong
    # even after the same 1/N: the factor p(1 - p) does not belong there
    source = (p - onehot) * p * (1 - p) / N
    assert np.max(np.abs(source - numeric_ce)) > 1e-2

    # sigmoid + MSE is the case the source's formula describes:
    # L = (1/n) Σ (a - y)², a = σ(z)  ->  δ = (2/n) (a - y) σ'(z), n = N·C
    targets = rng.random((N, C))
    out = nn.Sigmoid()
    mse = nn.MSELoss()
    a = out.forward(z)
    mse(a, targets)
    delta_mse = out.backward(mse.backward())
    numeric_mse = nn.numerical_gradient(lambda z_: nn.MSELoss()(_sigmoid(z_), targets), z)
    np.testing.assert_allclose(delta_mse, numeric_mse, rtol=1e-6, atol=1e-9)
    expected = (2 / z.size) * (a - targets) * a * (1 - a)
    np.testing.assert_allclose(delta_mse, expected, rtol=1e-10, atol=1e-12)
