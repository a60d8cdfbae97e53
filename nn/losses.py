"""Loss functions: ``loss = loss_fn(input, target)`` (a Python float), then
``grad = loss_fn.backward()`` (dL/dinput, the input's shape and dtype).

``reduction="mean"`` divides by the number of elements that count (rows for
classification, non-ignored positions with ``ignore_index``, every element for MSE/BCE);
``"sum"`` does not divide. The batch mean divides by N exactly once, here in the loss:
layers never divide by the batch size. Derivations: docs/math/losses.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F

_REDUCTIONS = ("mean", "sum")


def _is_real(value) -> bool:
    """A real number (not a bool, not a string)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                                np.floating))


class Loss:
    """Base class. A subclass writes only the math:

    * ``_forward(x, target) -> (total, count, cache)``: the summed loss, the number of
      elements that count (the divisor of ``"mean"``) and what ``_grad`` needs;
    * ``_grad(cache) -> d total / dx``, of ``x``'s dtype.

    This class checks the input, applies the reduction and the upstream factor::

        L = total / count  ("mean")  or  total  ("sum")
        dL/dx = factor * d total/dx,   factor = grad / count  or  grad
    """

    def __init__(self, reduction: str = "mean"):
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction
        self._cache: tuple[Any, float, tuple[int, ...], np.dtype] | None = None

    def __call__(self, input: np.ndarray, target) -> float:
        return self.forward(input, target)

    def forward(self, input: np.ndarray, target) -> float:
        """The reduced loss as a Python float; caches what ``backward`` needs."""
        self._check_input(input)
        total, count, cache = self._forward(input, target)
        self.last_count = count  # elements that counted (the divisor of "mean")
        scale = self._scale(count)
        self._cache = (cache, scale, input.shape, input.dtype)
        return float(total) * scale

    def backward(self, grad: float = 1.0) -> np.ndarray:
        """dL/dinput times the upstream scalar ``grad``, with the input's shape and dtype."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        cache, scale, shape, dtype = self._cache
        factor = dtype.type(scale * float(grad))
        # tiny probabilities times 1/N may underflow to subnormals or 0: benign, so silenced
        with np.errstate(under="ignore"):
            dx = factor * self._grad(cache)       # dL/dx = factor * d total/dx
        return dx.reshape(shape)

    def _forward(self, x: np.ndarray, target) -> tuple[Any, int, Any]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward")

    def _grad(self, cache) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement _grad")

    def _scale(self, count: int) -> float:
        """dL/d total: 1 for "sum", 1/count for "mean" (0 when nothing counted)."""
        if self.reduction == "sum":
            return 1.0
        return 1.0 / count if count > 0 else 0.0

    # ------------------------------------------------------------------ checks
    def _check_input(self, x) -> None:
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray input, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating input, got dtype {x.dtype}")
        if x.size == 0:
            raise ValueError(f"{name}: got an empty input of shape {x.shape}")

    def _float_target(self, x: np.ndarray, target, what: str = "target") -> np.ndarray:
        """A floating target of exactly the input's shape, finite, cast to its dtype."""
        name = type(self).__name__
        t = np.asarray(target)
        if t.dtype.kind not in "fiub":
            raise TypeError(f"{name}: {what} must be numeric, got dtype {t.dtype}")
        if t.shape != x.shape:
            raise ValueError(
                f"{name}: {what} shape {t.shape} must equal the input shape {x.shape} "
                "(no broadcasting)"
            )
        t = t.astype(x.dtype, copy=False)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"{name}: {what} contains NaN or infinite values")
        return t

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(Loss):
    """L = sum_i (x_i - t_i)^2 / n  (n = number of elements for "mean").

    dL/dx = 2 (x - t) / n.  Input and target must have the same shape.
    """

    def _forward(self, x, target):
        d = x - self._float_target(x, target)               # d = x - t
        total = np.dot(d.ravel(), d.ravel())                 # sum d^2
        return total, x.size, d

    def _grad(self, d):
        return 2 * d                                         # d/dx sum (x - t)^2 = 2 (x - t)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, class dimension last.

    Shapes: logits (N, C) or (N, T, C) (any leading dims); target either class indices
    of shape (N,) / (N, T) (integers in [0, C)) or probabilities of the logits' shape.

    Each row n of the logits (every leading position) against its target distribution
    t_n (one-hot for an index; with label smoothing e: t = (1 - e) t + e / C), with the
    log-probabilities l = x - logsumexp(x) and p = softmax(x) = exp(l)::

        L_n = - sum_c t_nc l_nc                 (note: t, never log t, and l of the model)
        dL_n/dx_n = p_n * sum_c t_nc - t_n      (= p_n - t_n when t_n sums to 1)

    ``ignore_index``: positions whose index target equals it contribute nothing to the
    loss or the gradient (t_n = 0), and "mean" divides by the number of the other positions
    (0.0 when every position is ignored; PyTorch gives NaN there). As in PyTorch, it applies
    to class-index targets only; with probability targets every position counts.
    """

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int | None = None, *,
                 reduction: str = "mean"):
        super().__init__(reduction)
        if not _is_real(label_smoothing) or not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}"
            )
        if ignore_index is not None and (isinstance(ignore_index, bool) or
                                         not isinstance(ignore_index, (int, np.integer))):
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int or None, got "
                            f"{ignore_index!r}")
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def _forward(self, x, target):
        if x.ndim < 2:
            raise ValueError(f"CrossEntropyLoss: expected logits of shape (N, C) or (N, T, C), "
                             f"got {x.shape}")
        t, count = self._target_distribution(x, target)     # (rows, C)
        l = F.log_softmax(x.reshape(t.shape))               # l = x - logsumexp(x)
        total = -np.sum(t * l, dtype=np.float64)            # L = -sum t l
        return total, count, (l, t)

    def _grad(self, cache):
        l, t = cache
        p = np.exp(l)                                       # p = softmax(x)
        return p * t.sum(axis=-1, keepdims=True) - t        # dL/dx = p sum_c t - t

    def _target_distribution(self, x, target) -> tuple[np.ndarray, int]:
        """``(t, count)``: the target as one distribution per row, shape (rows, C) in x's
        dtype (one-hot for class indices, smoothed; ignored rows all zero), and the number
        of rows that count."""
        name = "CrossEntropyLoss"
        C = x.shape[-1]
        target = np.asarray(target)
        eps = self.label_smoothing
        if target.dtype.kind in "iu":
            y, counts = self._class_indices(x, target)
            t = np.zeros((y.size, C), dtype=x.dtype)
            t[np.arange(y.size), y] = 1                     # one-hot(y)
            if eps:
                t = (1 - eps) * t + eps / C                 # t = (1 - e) one-hot(y) + e / C
            if counts is None:
                return t, y.size
            t *= counts[:, None]                            # ignored rows: t = 0
            return t, int(counts.sum())
        if target.dtype.kind == "f":
            if target.shape != x.shape:
                raise ValueError(
                    f"{name}: probability target shape {target.shape} must equal the logits "
                    f"shape {x.shape}; class indices must be an integer array of shape "
                    f"{x.shape[:-1]}"
                )
            t = self._float_target(x, target, "probability target").reshape(-1, C)
            if eps:
                t = (1 - eps) * t + eps / C                 # t = (1 - e) t + e / C
            return t, t.shape[0]
        raise TypeError(f"{name}: target must be integer class indices or float probabilities, "
                        f"got dtype {target.dtype}")

    def _class_indices(self, x, target) -> tuple[np.ndarray, np.ndarray | None]:
        """``(y, counts)``: the flat class indices (ignored positions set to 0) and the
        boolean mask of positions that count (``None`` without ``ignore_index``)."""
        name = "CrossEntropyLoss"
        C = x.shape[-1]
        if target.shape != x.shape[:-1]:
            raise ValueError(
                f"{name}: class-index target shape {target.shape} must equal the logits shape "
                f"{x.shape} without its last (class) dim, i.e. {x.shape[:-1]}"
            )
        y = target.reshape(-1).astype(np.intp, copy=False)
        counts = None
        if self.ignore_index is not None:
            counts = y != self.ignore_index
            y = np.where(counts, y, 0)
        if y.size and (y.min() < 0 or y.max() >= C):
            bad = y[(y < 0) | (y >= C)][0]
            raise ValueError(
                f"{name}: target class index {bad} is out of range for {C} classes "
                f"(logits shape {x.shape}, target shape {target.shape})"
            )
        return y, counts

    def __repr__(self) -> str:
        return (f"CrossEntropyLoss(reduction={self.reduction!r}, label_smoothing="
                f"{self.label_smoothing}, ignore_index={self.ignore_index})")


class BCELoss(Loss):
    """Binary cross-entropy on probabilities x in [0, 1], targets t in [0, 1], same shape.

    L = -sum(t log x + (1 - t) log(1 - x)) / n, each log clamped at -100 (as PyTorch).
    dL/dx = (x - t) / max(x (1 - x), 1e-12) / n.  Prefer BCEWithLogitsLoss on logits.
    """

    def _forward(self, x, target):
        t = self._float_target(x, target)
        if np.any((x < 0) | (x > 1)) or not np.all(np.isfinite(x)):
            raise ValueError("BCELoss: input must be probabilities in [0, 1] "
                             "(apply Sigmoid first, or use BCEWithLogitsLoss on logits)")
        if np.any((t < 0) | (t > 1)):
            raise ValueError("BCELoss: target values must lie in [0, 1]")
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)              # log x, clamped at -100
            log_1mx = np.maximum(np.log1p(-x), -100)         # log(1 - x), clamped at -100
        total = -np.sum(t * log_x + (1 - t) * log_1mx, dtype=np.float64)
        return total, x.size, (x, t)

    def _grad(self, cache):
        x, t = cache
        return (x - t) / np.maximum(x * (1 - x), 1e-12)     # dL/dx = (x - t) / (x (1 - x))


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy fused on logits x, overflow-free for any x.

    With W = 1 + (pos_weight - 1) t (W = 1 without pos_weight) and
    softplus(z) = log(1 + e^z) computed stably::

        L = sum((1 - t) x + W softplus(-x)) / n
        dL/dx = ((1 - t) - W sigmoid(-x)) / n       (= sigmoid(x) - t when W = 1)
    """

    def __init__(self, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        if pos_weight is not None:
            w = np.asarray(pos_weight)
            if w.dtype.kind not in "iuf" or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"BCEWithLogitsLoss: pos_weight must be finite non-negative "
                                 f"numbers, got {pos_weight!r}")
            pos_weight = w.astype(float)
        self.pos_weight = pos_weight

    def _forward(self, x, target):
        t = self._float_target(x, target)
        W = 1
        if self.pos_weight is not None:
            w = self.pos_weight.astype(x.dtype)
            W = 1 + (w - 1) * t                              # W = 1 + (w - 1) t
        total = np.sum((1 - t) * x + W * F.softplus(-x), dtype=np.float64)
        return total, x.size, (x, t, W)

    def _grad(self, cache):
        x, t, W = cache
        return (1 - t) - W * F.sigmoid(-x)                   # dL/dx = (1 - t) - W sigmoid(-x)


class HingeLoss(Loss):
    """Hinge loss, multi-class (Weston-Watkins / CS231n) or binary, margin Δ.

    Multi-class: scores s (N, C), integer targets y (N,)::

        m_nj = s_nj - s_ny + Δ,   a_nj = [m_nj > 0]   (j != y_n)
        L = sum_n sum_{j != y_n} max(0, m_nj)                  (mean over the N rows)
        dL/ds_nj = a_nj  (j != y_n),    dL/ds_ny = -sum_j a_nj

    Binary: scores and targets of the same shape, targets in {-1, +1}::

        L = sum max(0, Δ - t s)        dL/ds = -t [Δ - t s > 0]   (mean over elements)
    """

    def __init__(self, reduction: str = "mean", margin: float = 1.0):
        super().__init__(reduction)
        if not _is_real(margin) or not np.isfinite(margin) or margin < 0:
            raise ValueError(f"HingeLoss: margin must be finite and >= 0, got {margin!r}")
        self.margin = float(margin)

    def _forward(self, x, target):
        target = np.asarray(target)
        if target.shape == x.shape:
            return self._binary_forward(x, self._float_target(x, target))
        y = self._class_indices(x, target)
        rows = np.arange(x.shape[0])
        m = x - x[rows, y][:, None] + self.margin            # m_nj = s_nj - s_ny + Δ
        m[rows, y] = 0                                       # (only j != y_n count)
        a = m > 0                                            # a_nj = [m_nj > 0]
        total = np.sum(m * a, dtype=np.float64)              # L = sum max(0, m)
        return total, x.shape[0], ("multi", y, a, x.dtype)

    def _binary_forward(self, s, t):
        if not np.all((t == 1) | (t == -1)):
            raise ValueError("HingeLoss: binary targets must be -1 or +1")
        slack = self.margin - t * s                          # Δ - t s
        a = slack > 0
        total = np.sum(slack * a, dtype=np.float64)          # L = sum max(0, Δ - t s)
        return total, s.size, ("binary", t, a, s.dtype)

    def _grad(self, cache):
        kind, t, a, dtype = cache
        if kind == "binary":
            return -t * a                                    # dL/ds = -t [Δ - t s > 0]
        y = t
        ds = a.astype(dtype)                                 # dL/ds_nj = a_nj  (j != y_n)
        ds[np.arange(y.size), y] = -a.sum(axis=1)            # dL/ds_ny = -sum_j a_nj
        return ds

    def _class_indices(self, x, target) -> np.ndarray:
        """Validated multi-class targets: integers in [0, C), one per row of (N, C) scores."""
        if x.ndim != 2 or target.shape != x.shape[:1]:
            raise ValueError(
                f"HingeLoss: expected scores (N, C) with integer targets (N,), or scores and "
                f"+/-1 targets of the same shape; got scores {x.shape} and targets "
                f"{target.shape}"
            )
        if target.dtype.kind not in "iu":
            raise TypeError(f"HingeLoss: multi-class targets must be integers, got dtype "
                            f"{target.dtype}")
        N, C = x.shape
        if N and (target.min() < 0 or target.max() >= C):
            hint = (f"; for binary hinge with +/-1 targets, give scores and targets the same "
                    f"shape (scores {x.shape}, targets {target.shape}: pass t[:, None] or "
                    f"scores[:, 0])" if C == 1 else "")
            raise ValueError(f"HingeLoss: target class index out of range for {C} classes "
                             f"(scores shape {x.shape}){hint}")
        return target

    def __repr__(self) -> str:
        return f"HingeLoss(reduction={self.reduction!r}, margin={self.margin})"
