"""Loss functions: ``loss = loss_fn(input, target)`` (a Python float), then
``grad = loss_fn.backward()`` (dL/dinput, the input's shape and dtype).

``reduction="mean"`` divides by the number of elements that count (rows for
classification, non-ignored positions with ``ignore_index``, every element for MSE/BCE);
``"sum"`` does not divide. The batch mean divides by N exactly once, here in the loss:
layers never divide by the batch size. Derivations: docs/math/losses.md.
"""

from __future__ import annotations

import numpy as np

from . import functional as F

_REDUCTIONS = ("mean", "sum")


def _is_real(value) -> bool:
    """A real number (not a bool, not a string)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                                np.floating))


class Loss:
    """Base class. Subclasses implement ``_forward(input, target) -> (total, count, cache)``
    and ``_grad(cache) -> d(total)/d(input)``; this class applies the reduction."""

    def __init__(self, reduction: str = "mean"):
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction
        self._cache = None

    def __call__(self, input: np.ndarray, target) -> float:
        return self.forward(input, target)

    def forward(self, input: np.ndarray, target) -> float:
        """The reduced loss as a Python float; caches what ``backward`` needs."""
        self._check_input(input)
        total, count, cache = self._forward(input, target)
        self.last_count = count  # elements that counted (the divisor of "mean")
        scale = 1.0 / count if (self.reduction == "mean" and count > 0) else 1.0
        if self.reduction == "mean" and count == 0:
            scale = 0.0
        self._cache = (cache, scale, input.shape, input.dtype)
        return float(total) * scale

    def backward(self, grad: float = 1.0) -> np.ndarray:
        """dL/dinput (times ``grad``), with the input's shape and dtype."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        cache, scale, shape, dtype = self._cache
        factor = dtype.type(scale * float(grad))
        # tiny probabilities times 1/N may underflow to subnormals or 0: benign, so silenced
        with np.errstate(under="ignore"):
            g = self._scaled_grad(cache, factor)
        return g.reshape(shape)

    def _scaled_grad(self, cache, factor):
        """``factor * d(total)/d(input)``; a loss may override it to fold the factor in."""
        g = self._grad(cache)
        if factor != 1:
            g *= factor
        return g

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
        diff = x - self._float_target(x, target)
        return np.dot(diff.ravel(), diff.ravel()), x.size, diff

    def _grad(self, diff):
        # d/dx sum (x - t)^2 = 2 (x - t)
        return diff * 2


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, class dimension last.

    Shapes: logits (N, C) or (N, T, C) (any leading dims); target either class indices
    of shape (N,) / (N, T) (integers in [0, C)) or probabilities of the logits' shape.

    With log-probabilities  l = x - logsumexp(x)  and target distribution t
    (one-hot for indices; with label smoothing e: t = (1 - e) t + e / C)::

        L_i = - sum_c t_ic l_ic                 (note: t, never log t, and l of the model)
        dL_i/dx_i = softmax(x_i) * sum_c t_ic - t_i      (= p_i - t_i when t sums to 1)

    ``ignore_index``: positions whose index target equals it contribute nothing to the
    loss or the gradient, and "mean" divides by the number of the other positions (0.0
    when every position is ignored; PyTorch gives NaN there). As in PyTorch, it applies
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
        name = "CrossEntropyLoss"
        if x.ndim < 2:
            raise ValueError(f"{name}: expected logits of shape (N, C) or (N, T, C), got {x.shape}")
        C = x.shape[-1]
        t = np.asarray(target)
        x2 = x.reshape(-1, C)
        # z = x - max(x);  e = exp(z);  s = sum(e);  log p = z - log s  (never log 0)
        z = x2 - x2.max(axis=-1, keepdims=True)
        with np.errstate(under="ignore"):
            e = np.exp(z)
        s = F.sum_last(e)
        log_s = np.log(s)
        eps = self.label_smoothing
        if t.dtype.kind in "iu":
            if t.shape != x.shape[:-1]:
                raise ValueError(
                    f"{name}: class-index target shape {t.shape} must equal the logits shape "
                    f"{x.shape} without its last (class) dim, i.e. {x.shape[:-1]}"
                )
            idx = t.reshape(-1).astype(np.intp, copy=False)
            valid = None if self.ignore_index is None else idx != self.ignore_index
            if valid is not None:
                idx = np.where(valid, idx, 0)
            rows = np.arange(idx.size)
            # an index >= C makes the fancy indexing raise; a negative one must be caught here
            try:
                z_y = z[rows, idx] if idx.min() >= 0 else None
            except IndexError:
                z_y = None
            if z_y is None:
                bad = idx[(idx < 0) | (idx >= C)][0]
                raise ValueError(
                    f"{name}: target class index {bad} is out of range for {C} classes "
                    f"(logits shape {x.shape}, target shape {t.shape})"
                )
            per_row = log_s - z_y  # -log p_y
            if eps:
                # -sum_c t_c log p_c with t = (1 - eps) onehot + eps / C
                per_row *= 1.0 - eps
                per_row += (eps / C) * (C * log_s - z.sum(axis=-1))
            if valid is not None:
                per_row *= valid
                count = int(valid.sum())
            else:
                count = idx.size
            return per_row.sum(dtype=np.float64), count, (e, s, rows, idx, valid, None)
        if t.dtype.kind == "f":
            if t.shape != x.shape:
                raise ValueError(
                    f"{name}: probability target shape {t.shape} must equal the logits shape "
                    f"{x.shape}; class indices must be an integer array of shape {x.shape[:-1]}"
                )
            probs = self._float_target(x, t, "probability target").reshape(-1, C)
            if eps:
                probs = probs * (1.0 - eps) + eps / C
            z -= log_s[:, None]  # log p
            total = -np.sum(probs * z, dtype=np.float64)
            return total, probs.shape[0], (e, s, None, None, None, probs)
        raise TypeError(f"{name}: target must be integer class indices or float probabilities, "
                        f"got dtype {t.dtype}")

    def _scaled_grad(self, cache, factor):
        e, s, rows, idx, valid, probs = cache
        # p = softmax(x) * factor, one pass (a new array: backward may be called again)
        s = factor / s
        p = e * s[:, None]
        if probs is not None:
            # dL/dx = p * sum(t) - t
            p *= probs.sum(axis=-1, keepdims=True)
            p -= factor * probs
            return p
        eps = self.label_smoothing
        # dL/dx = p - t, with t = (1 - eps) onehot + eps / C
        p[rows, idx] -= factor * (1.0 - eps)
        if eps:
            p -= factor * eps / p.shape[-1]
        if valid is not None:
            p *= valid[:, None]
        return p

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
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        total = -np.sum(t * log_x + (1 - t) * log_1mx, dtype=np.float64)
        return total, x.size, (x, t)

    def _grad(self, cache):
        x, t = cache
        # dL/dx = (x - t) / (x (1 - x)), denominator clamped at 1e-12
        return (x - t) / np.maximum(x * (1 - x), 1e-12)


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy fused on logits x, overflow-free for any x.

    With w = 1 + (pos_weight - 1) t (w = 1 without pos_weight) and
    softplus(z) = log(1 + e^z) computed stably::

        L = sum((1 - t) x + w softplus(-x)) / n
        dL/dx = ((1 - t) - w sigmoid(-x)) / n       (= sigmoid(x) - t when w = 1)
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
        w = None
        if self.pos_weight is not None:
            w = 1 + (self.pos_weight.astype(x.dtype) - 1) * t
        sp = F.softplus(-x)
        per = (1 - t) * x + (sp if w is None else w * sp)
        return np.sum(per, dtype=np.float64), x.size, (x, t, w)

    def _grad(self, cache):
        x, t, w = cache
        s = F.sigmoid(-x)
        # dL/dx = (1 - t) - w sigmoid(-x)
        return (1 - t) - (s if w is None else w * s)


class HingeLoss(Loss):
    """Hinge loss, multi-class (Weston-Watkins / CS231n) or binary.

    Multi-class: scores s (N, C), integer targets y (N,)::

        L_i = sum_{j != y_i} max(0, s_ij - s_iy + margin)          (mean over the N rows)
        dL_i/ds_ij = [s_ij - s_iy + margin > 0] for j != y_i,   dL_i/ds_iy = -sum of those

    Binary: scores and targets of the same shape, targets in {-1, +1}::

        L = max(0, margin - t s)        dL/ds = -t [margin - t s > 0]   (mean over elements)
    """

    def __init__(self, reduction: str = "mean", margin: float = 1.0):
        super().__init__(reduction)
        if not _is_real(margin) or not np.isfinite(margin) or margin < 0:
            raise ValueError(f"HingeLoss: margin must be finite and >= 0, got {margin!r}")
        self.margin = float(margin)

    def _forward(self, x, target):
        t = np.asarray(target)
        if t.shape == x.shape:  # binary
            t = self._float_target(x, t)
            if not np.all((t == 1) | (t == -1)):
                raise ValueError("HingeLoss: binary targets must be -1 or +1")
            slack = self.margin - t * x
            active = slack > 0
            return np.sum(slack * active, dtype=np.float64), x.size, ("binary", t, active, x.dtype)
        if x.ndim != 2 or t.shape != x.shape[:1]:
            raise ValueError(
                f"HingeLoss: expected scores (N, C) with integer targets (N,), or scores and "
                f"+/-1 targets of the same shape; got scores {x.shape} and targets {t.shape}"
            )
        if t.dtype.kind not in "iu":
            raise TypeError(f"HingeLoss: multi-class targets must be integers, got dtype {t.dtype}")
        N, C = x.shape
        if N and (t.min() < 0 or t.max() >= C):
            hint = (f"; for binary hinge with +/-1 targets, give scores and targets the same "
                    f"shape (scores {x.shape}, targets {t.shape}: pass t[:, None] or "
                    f"scores[:, 0])" if C == 1 else "")
            raise ValueError(f"HingeLoss: target class index out of range for {C} classes "
                             f"(scores shape {x.shape}){hint}")
        rows = np.arange(N)
        margins = x - x[rows, t][:, None] + x.dtype.type(self.margin)
        margins[rows, t] = 0
        active = margins > 0
        total = np.sum(margins * active, dtype=np.float64)
        return total, N, ("multi", t, active, x.dtype)

    def _grad(self, cache):
        kind, t, active, dtype = cache
        if kind == "binary":
            # dL/ds = -t [margin - t s > 0]
            return -t * active
        # dL/ds_j = [margin_j > 0] (j != y);  dL/ds_y = -(number of active margins)
        g = active.astype(dtype)
        g[np.arange(t.size), t] = -active.sum(axis=1)
        return g

    def __repr__(self) -> str:
        return f"HingeLoss(reduction={self.reduction!r}, margin={self.margin})"
