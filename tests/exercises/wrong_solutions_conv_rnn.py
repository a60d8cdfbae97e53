"""Realistic wrong answers to exercises 6-10 (docs/exercises/): each must fail the grader.

Each class fills in the ``backward`` of the exercise's own skeleton (its forward is the
given one), with one mistake a student could make; tests/test_exercises.py checks that
the grader fails each one and names the wrong tensor. Two more (``ConvTrueConvolution``,
``LSTMCellGateOrderIGFO``) change the forward too, consistently with their backward: their
gradients are right, and the grader's forward check against the library catches them.
"""

import importlib.util
from pathlib import Path

import numpy as np
from scipy.special import expit

EXERCISE = {
    "ConvKernelFlipped": "conv2d", "ConvOverwritesDx": "conv2d",
    "ConvWeightIgnoresStride": "conv2d", "ConvBiasMean": "conv2d",
    "ConvTrueConvolution": "conv2d", "ConvCropNegative": "conv2d",
    "ConvBufferOnlyWhereWindowsReach": "conv2d",
    "MaxPoolOverwrites": "maxpool2d", "MaxPoolOffsetTransposed": "maxpool2d",
    "MaxPoolWholeWindow": "maxpool2d", "MaxPoolIgnoresStride": "maxpool2d",
    "MaxPoolNotCropped": "maxpool2d", "MaxPoolCropNegative": "maxpool2d",
    "BatchNormNoVariancePath": "batchnorm", "BatchNormNoMeanPath": "batchnorm",
    "BatchNormStatisticsConstant": "batchnorm", "BatchNormGammaForgotten": "batchnorm",
    "BatchNormGammaGradUsesX": "batchnorm",
    "LSTMCellForgetGateUsesNewC": "lstm-cell", "LSTMCellGAsSigmoid": "lstm-cell",
    "LSTMCellTanhPrimeOfC": "lstm-cell", "LSTMCellNoForgetPath": "lstm-cell",
    "LSTMCellIgnoresDcNext": "lstm-cell", "LSTMCellGateOrderIGFO": "lstm-cell",
    "LSTMNoCellPathAcrossTime": "lstm", "LSTMNoHiddenPathAcrossTime": "lstm",
    "LSTMWeightHHUsesCurrentH": "lstm", "LSTMAssignsWeightGradsPerStep": "lstm",
    "LSTMNoInitialStateGrad": "lstm",
}

_SKELETONS = Path(__file__).resolve().parents[2] / "docs" / "exercises"


def _skeleton(file: str, name: str):
    """The class ``name`` of the skeleton ``docs/exercises/<file>`` (its given forward)."""
    spec = importlib.util.spec_from_file_location(f"_skeleton_{Path(file).stem}",
                                                  _SKELETONS / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# ----------------------------------------------------------------------------- Conv2d
class _Conv2d(_skeleton("conv2d.py", "Conv2d")):
    """A correct backward, with one overridable piece per gradient."""

    def backward(self, grad_y):
        xp, x_shape = self._saved()
        N, C, H, Wd = x_shape
        _, O, Ho, Wo = grad_y.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        self.bias.grad += self.bias_grad(grad_y)
        dxp = self.dx_buffer(xp, grad_y)
        for a in range(k):
            for q in range(k):
                rows, cols = slice(a, a + s * Ho, s), slice(q, q + s * Wo, s)
                ka, kq = self.kernel_index(a, q)
                self.weight.grad[:, :, ka, kq] += self.weight_grad(grad_y, xp, a, q, rows, cols)
                self.add_dx(dxp, rows, cols, np.einsum("nohw,oc->nchw", grad_y,
                                                       self.weight_for_dx(a, q)))
        return self.crop(dxp, p, H, Wd)

    def dx_buffer(self, xp, grad_y):
        """dL/dxp, zeros of the padded input's shape."""
        return np.zeros_like(xp)

    def crop(self, dxp, p, H, Wd):
        """dL/dx from dL/dxp: the padding's rows and columns removed."""
        return dxp[:, :, p:p + H, p:p + Wd]

    def bias_grad(self, grad_y):
        return grad_y.sum(axis=(0, 2, 3))

    def weight_grad(self, grad_y, xp, a, q, rows, cols):
        return np.einsum("nohw,nchw->oc", grad_y, xp[:, :, rows, cols])

    def kernel_index(self, a, q):
        """Which kernel entry multiplies the window entry (a, q)."""
        return a, q

    def weight_for_dx(self, a, q):
        return self.weight.data[:, :, a, q]

    def add_dx(self, dxp, rows, cols, part):
        dxp[:, :, rows, cols] += part


class ConvKernelFlipped(_Conv2d):
    def weight_for_dx(self, a, q):  # "the backward of a convolution flips the kernel"
        k = self.kernel_size
        return self.weight.data[:, :, k - 1 - a, k - 1 - q]


class ConvOverwritesDx(_Conv2d):
    def add_dx(self, dxp, rows, cols, part):
        dxp[:, :, rows, cols] = part  # overlapping windows: the last offset wins


class ConvWeightIgnoresStride(_Conv2d):
    def weight_grad(self, grad_y, xp, a, q, rows, cols):
        Ho, Wo = grad_y.shape[2:]
        patch = xp[:, :, a:a + Ho, q:q + Wo]  # windows taken as if the stride were 1
        return np.einsum("nohw,nchw->oc", grad_y, patch)


class ConvBiasMean(_Conv2d):
    def bias_grad(self, grad_y):
        return grad_y.mean(axis=(0, 2, 3))  # a mean over the N*Ho*Wo outputs: too small


class ConvCropNegative(_Conv2d):
    def crop(self, dxp, p, H, Wd):
        return dxp[:, :, p:-p, p:-p]  # right for p > 0; for p = 0, 0:-0 is empty


class ConvBufferOnlyWhereWindowsReach(_Conv2d):
    def dx_buffer(self, xp, grad_y):
        N, C = xp.shape[:2]
        Ho, Wo = grad_y.shape[2:]
        k, s = self.kernel_size, self.stride
        # the rows and columns some window covers; (H + 2p - k) % s rows at the end are
        # covered by none, and dx must still have a (zero) entry for them
        return np.zeros((N, C, s * (Ho - 1) + k, s * (Wo - 1) + k), dtype=xp.dtype)


class ConvTrueConvolution(_Conv2d):
    """The textbook convolution (kernel flipped) in forward, and a backward to match."""

    def kernel_index(self, a, q):
        return self.kernel_size - 1 - a, self.kernel_size - 1 - q

    def forward(self, x):
        saved = self.weight.data
        self.weight.data = saved[:, :, ::-1, ::-1]  # W[o, c, k-1-a, k-1-q] at offset (a, q)
        try:
            return super().forward(x)
        finally:
            self.weight.data = saved

    def weight_for_dx(self, a, q):
        return self.weight.data[:, :, self.kernel_size - 1 - a, self.kernel_size - 1 - q]


# ----------------------------------------------------------------------------- MaxPool2d
class _MaxPool2d(_skeleton("maxpool2d.py", "MaxPool2d")):
    """A correct backward, with one overridable piece."""

    def backward(self, grad_y):
        arg, x_shape = self._saved()
        N, C, H, W = x_shape
        p = self.padding
        dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=grad_y.dtype)
        self.scatter(dxp, arg, grad_y)
        return self.crop(dxp, p, H, W)

    def crop(self, dxp, p, H, W):
        return dxp[:, :, p:p + H, p:p + W]

    def windows(self, grad_y):
        """(a, q, rows, cols): the entries at offset (a, q) of every window."""
        k, s = self.kernel_size, self.stride
        Ho, Wo = grad_y.shape[2:]
        for a in range(k):
            for q in range(k):
                yield a, q, slice(a, a + s * Ho, s), slice(q, q + s * Wo, s)

    def scatter(self, dxp, arg, grad_y):
        k = self.kernel_size
        for a, q, rows, cols in self.windows(grad_y):
            dxp[:, :, rows, cols] += grad_y * (arg == a * k + q)


class MaxPoolOverwrites(_MaxPool2d):
    def scatter(self, dxp, arg, grad_y):
        k = self.kernel_size
        for a, q, rows, cols in self.windows(grad_y):
            won = arg == a * k + q
            # writes where this offset won: an entry that wins two windows keeps one
            dxp[:, :, rows, cols][won] = grad_y[won]


class MaxPoolOffsetTransposed(_MaxPool2d):
    def scatter(self, dxp, arg, grad_y):
        k = self.kernel_size
        for a, q, rows, cols in self.windows(grad_y):
            dxp[:, :, rows, cols] += grad_y * (arg == q * k + a)  # (a, q) read as (q, a)


class MaxPoolWholeWindow(_MaxPool2d):
    def scatter(self, dxp, arg, grad_y):
        for _, _, rows, cols in self.windows(grad_y):
            dxp[:, :, rows, cols] += grad_y  # every entry of the window, not only the max


class MaxPoolIgnoresStride(_MaxPool2d):
    def scatter(self, dxp, arg, grad_y):
        k = self.kernel_size
        Ho, Wo = grad_y.shape[2:]
        for a in range(k):
            for q in range(k):  # window (i, j) placed at (i + a, j + q): stride 1
                dxp[:, :, a:a + Ho, q:q + Wo] += grad_y * (arg == a * k + q)


class MaxPoolNotCropped(_MaxPool2d):
    def backward(self, grad_y):
        arg, (N, C, H, W) = self._saved()
        p = self.padding
        dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=grad_y.dtype)
        self.scatter(dxp, arg, grad_y)
        return dxp  # the gradient of the padded input: the padding is not cropped


class MaxPoolCropNegative(_MaxPool2d):
    def crop(self, dxp, p, H, W):
        return dxp[:, :, p:-p, p:-p]  # right for p > 0; for p = 0, 0:-0 is empty


# ----------------------------------------------------------------------------- BatchNorm
class _BatchNorm(_skeleton("batchnorm.py", "BatchNorm")):
    def backward(self, grad_y):
        xhat, rstd = self._saved()
        self.weight.grad += self.gamma_grad(grad_y, xhat)
        self.bias.grad += grad_y.sum(axis=0)
        return self.dx(grad_y, xhat, rstd, self.weight.data)

    def gamma_grad(self, grad_y, xhat):
        return (grad_y * xhat).sum(axis=0)

    def dx(self, g, xhat, rstd, gamma):
        return gamma * rstd * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))


class BatchNormNoVariancePath(_BatchNorm):
    def dx(self, g, xhat, rstd, gamma):
        return gamma * rstd * (g - g.mean(axis=0))  # var treated as a constant


class BatchNormNoMeanPath(_BatchNorm):
    def dx(self, g, xhat, rstd, gamma):
        return gamma * rstd * (g - xhat * (g * xhat).mean(axis=0))  # mu treated as a constant


class BatchNormStatisticsConstant(_BatchNorm):
    def dx(self, g, xhat, rstd, gamma):
        return gamma * rstd * g  # eval mode's formula used in train mode


class BatchNormGammaForgotten(_BatchNorm):
    def dx(self, g, xhat, rstd, gamma):
        return rstd * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))


class BatchNormGammaGradUsesX(_BatchNorm):
    def forward(self, x):
        self._x = x
        return super().forward(x)

    def gamma_grad(self, grad_y, xhat):
        return (grad_y * self._x).sum(axis=0)  # x where the formula has xhat


# ----------------------------------------------------------------------------- LSTM cell
class _LSTMCell(_skeleton("lstm_cell.py", "LSTMCell")):
    """A correct backward, with the gate gradients and dc as overridable pieces."""

    def backward(self, grad_y):
        x, h_prev, c_prev, i, f, g, o, tc = self._saved()
        H = self.hidden_size
        dh, dc_next = grad_y[:, :H], grad_y[:, H:]
        dc = self.cell_grad(dh, dc_next, o, tc)
        dz = self.gate_grads(dh, dc, c_prev, i, f, g, o, tc)
        self.weight_ih.grad += x.T @ dz
        self.weight_hh.grad += h_prev.T @ dz
        self.bias.grad += dz.sum(axis=0)
        self.h_prev.grad += dz @ self.weight_hh.data.T
        self.add_c_prev_grad(dc, f)
        return dz @ self.weight_ih.data.T

    def cell_grad(self, dh, dc_next, o, tc):
        return dc_next + dh * o * (1 - tc ** 2)

    def gate_grads(self, dh, dc, c_prev, i, f, g, o, tc):
        return np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                               dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)

    def add_c_prev_grad(self, dc, f):
        self.c_prev.grad += dc * f


class LSTMCellForgetGateUsesNewC(_LSTMCell):
    def gate_grads(self, dh, dc, c_prev, i, f, g, o, tc):
        c = f * c_prev + i * g  # df = dc * c: the new cell state, not c_prev
        return np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f),
                               dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)


class LSTMCellGAsSigmoid(_LSTMCell):
    def gate_grads(self, dh, dc, c_prev, i, f, g, o, tc):
        S = np.concatenate([i, f, g, o], axis=1)
        dS = np.concatenate([dc * g, dc * c_prev, dc * i, dh * tc], axis=1)
        return dS * S * (1 - S)  # s(1 - s) for all four blocks: g is a tanh, not a sigmoid


class LSTMCellTanhPrimeOfC(_LSTMCell):
    def cell_grad(self, dh, dc_next, o, tc):
        c = np.arctanh(tc)
        return dc_next + dh * o * (1 - c ** 2)  # 1 - c^2 where tanh'(c) = 1 - tanh(c)^2


class LSTMCellNoForgetPath(_LSTMCell):
    def add_c_prev_grad(self, dc, f):
        pass  # the f * dc term (dL/dc_prev) left out


class LSTMCellIgnoresDcNext(_LSTMCell):
    def cell_grad(self, dh, dc_next, o, tc):
        return dh * o * (1 - tc ** 2)  # only the path through h: grad_y's c half dropped


class LSTMCellGateOrderIGFO(_LSTMCell):
    """The gate blocks read in another library's order [i | g | f | o], not [i | f | g | o],
    with a backward to match."""

    def forward(self, x):
        H = self.hidden_size
        h_prev, c_prev = self.h_prev.data, self.c_prev.data
        z = x @ self.weight_ih.data + h_prev @ self.weight_hh.data + self.bias.data
        i, g = expit(z[:, :H]), np.tanh(z[:, H:2 * H])
        f, o = expit(z[:, 2 * H:3 * H]), expit(z[:, 3 * H:])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        self._cache = (x, h_prev, c_prev, i, f, g, o, tc)
        return np.concatenate([o * tc, c], axis=1)

    def gate_grads(self, dh, dc, c_prev, i, f, g, o, tc):
        return np.concatenate([dc * g * i * (1 - i), dc * i * (1 - g ** 2),
                               dc * c_prev * f * (1 - f), dh * tc * o * (1 - o)], axis=1)


# ----------------------------------------------------------------------------- LSTM sequence
class _LSTM(_skeleton("lstm.py", "LSTM")):
    """A correct backpropagation through time, with overridable pieces."""

    def backward(self, grad_y):
        x, steps = self._saved()
        N, T, _ = x.shape
        dx = np.zeros_like(x)
        dh_next = np.zeros_like(steps[0][0])
        dc_next = np.zeros_like(steps[0][1])
        for t in range(T - 1, -1, -1):
            h_prev, c_prev, i, f, g, o, tc = steps[t]
            dh = self.hidden_grad(grad_y[:, t], dh_next)
            dc = dc_next + dh * o * (1 - tc ** 2)
            dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
            self.add_weight_grads(x[:, t], self.h_for_weight_hh(h_prev, o, tc), dz)
            dx[:, t] = dz @ self.weight_ih.data.T
            dh_next = dz @ self.weight_hh.data.T
            dc_next = self.cell_carry(dc, f)
        self.add_state_grads(dh_next, dc_next)
        return dx

    def hidden_grad(self, g_t, dh_next):
        return g_t + dh_next

    def cell_carry(self, dc, f):
        return dc * f

    def h_for_weight_hh(self, h_prev, o, tc):
        return h_prev

    def add_weight_grads(self, x_t, h, dz):
        self.weight_ih.grad += x_t.T @ dz
        self.weight_hh.grad += h.T @ dz
        self.bias.grad += dz.sum(axis=0)

    def add_state_grads(self, dh0, dc0):
        self.h0.grad += dh0
        self.c0.grad += dc0


class LSTMNoCellPathAcrossTime(_LSTM):
    def cell_carry(self, dc, f):
        return np.zeros_like(dc)  # dc_{t-1} = dc * f forgotten: c_t seen only through h_t


class LSTMNoHiddenPathAcrossTime(_LSTM):
    def hidden_grad(self, g_t, dh_next):
        return g_t  # only the output's gradient: the path through h_t into step t+1 dropped


class LSTMWeightHHUsesCurrentH(_LSTM):
    def h_for_weight_hh(self, h_prev, o, tc):
        return o * tc  # h_t where z_t was computed from h_{t-1}: off by one step


class LSTMAssignsWeightGradsPerStep(_LSTM):
    def add_weight_grads(self, x_t, h, dz):
        self.weight_ih.grad[...] = x_t.T @ dz  # each step overwrites the previous ones:
        self.weight_hh.grad[...] = h.T @ dz    # only step 0's share survives
        self.bias.grad[...] = dz.sum(axis=0)


class LSTMNoInitialStateGrad(_LSTM):
    def add_state_grads(self, dh0, dc0):
        pass  # what comes out of step 0 is the gradient of h0 and c0: dropped
