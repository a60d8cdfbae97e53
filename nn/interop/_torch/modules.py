"""The torch side of the layers torch spells differently from nn: subclasses of the torch
classes (so state dicts, optimizers and DistributedDataParallel see ordinary torch modules)
whose ``forward`` takes and returns what nn's does, and two small modules torch lacks
(``TorchPositionalEncoding``, ``TorchResidual``). Mapping: docs/interop.md."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Module = torch.nn.Module
Tensor = torch.Tensor


class _ReturnsLikeNN:
    """``forward(x, state=None)`` of a batch-first one-layer recurrent module, returning
    ``y (N, T, H)``, or ``y[:, -1]`` with ``return_sequences=False``; ``state`` and
    ``self.state`` (the final state, detached) are ``(N, H)`` (a pair for LSTM), as in nn."""

    return_sequences: bool = True
    state: Any = None

    def forward(self, x: Tensor, state: Any = None) -> Tensor:
        y, final = super().forward(x, self._torch_state(x, state))  # type: ignore[misc]
        self.state = self._nn_state(final)
        return y if self.return_sequences else y[:, -1]

    def _torch_state(self, x: Tensor, state: Any) -> Any:
        return None if state is None else state[None]          # (N, H) -> (1, N, H)

    def _nn_state(self, final: Any) -> Any:
        return final[0].detach()


class TorchRNN(_ReturnsLikeNN, torch.nn.RNN):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.RNN`` (batch first, one layer) returning what :class:`nn.RNN` returns."""


class TorchGRU(_ReturnsLikeNN, torch.nn.GRU):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.GRU`` (batch first, one layer) returning what :class:`nn.GRU` returns."""


class TorchLSTM(_ReturnsLikeNN, torch.nn.LSTM):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.LSTM`` (batch first, one layer) returning what :class:`nn.LSTM` returns;
    the state is the pair ``(h, c)``, either of them None for zeros."""

    def _torch_state(self, x: Tensor, state: Any) -> Any:
        if state is None:
            return None
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        h, c = (zeros if s is None else s for s in state)
        return h[None], c[None]

    def _nn_state(self, final: Any) -> Any:
        return final[0][0].detach(), final[1][0].detach()


class TorchMultiheadAttention(torch.nn.MultiheadAttention):
    """``torch.nn.MultiheadAttention`` used for self-attention as :class:`nn.MultiHeadAttention`:
    ``forward(x, mask=None)`` with x ``(N, T, E)`` and the key-padding mask ``(N, T)``
    (True = ignore), ``causal`` a flag of the module, one tensor returned.

    A query that sees no key at all (every key padded or in its future) gets ``out_proj``'s
    bias as its output, as in nn, where torch alone gives NaN: its row of the mask is
    cleared (so the softmax stays finite) and its output replaced (so no gradient reaches
    its scores)."""

    causal: bool = False

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        T = x.shape[1]
        blocked = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1) if self.causal \
            else None
        if mask is None:
            return super().forward(x, x, x, need_weights=False, attn_mask=blocked)[0]
        if mask.shape != x.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"{type(self).__name__}: expected a boolean key-padding mask of "
                             f"shape {tuple(x.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")
        blocked = mask[:, None, :] if blocked is None else blocked | mask[:, None, :]
        blocked = blocked.expand(x.shape[0], T, T)
        dead = blocked.all(-1, keepdim=True)                    # (N, T, 1): no visible key
        blocked = (blocked & ~dead).repeat_interleave(self.num_heads, 0)
        y = super().forward(x, x, x, need_weights=False, attn_mask=blocked)[0]
        b = self.out_proj.bias
        return torch.where(dead, b if b is not None else torch.zeros_like(y), y)


class TorchTransformerEncoderLayer(torch.nn.TransformerEncoderLayer):
    """``torch.nn.TransformerEncoderLayer`` (batch first) computing what
    :class:`nn.TransformerEncoderLayer` computes: ``forward(x, mask=None)``, self-attention
    a :class:`TorchMultiheadAttention` (so ``causal`` is its flag), the equations of
    ``nn.layers.transformer`` written out (torch's fused fast path is not used)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        def sa(z: Tensor) -> Tensor:
            return self.dropout1(self.self_attn(z, mask))

        def ff(z: Tensor) -> Tensor:
            return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(z)))))

        if self.norm_first:
            h = x + sa(self.norm1(x))                       # h = x + drop1(sa(norm1(x)))
            return h + ff(self.norm2(h))                    # y = h + drop2(ff(norm2(h)))
        h = self.norm1(x + sa(x))                           # h = norm1(x + drop1(sa(x)))
        return self.norm2(h + ff(h))                        # y = norm2(h + drop2(ff(h)))


class TorchTransformerEncoder(torch.nn.TransformerEncoder):
    """``torch.nn.TransformerEncoder``: ``forward(x, mask=None)`` runs the layers, then
    ``norm`` (no nested-tensor fast path, so padded positions are computed as in nn)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        for layer in self.layers:
            x = layer(x, mask) if mask is not None else layer(x)
        return x if self.norm is None else self.norm(x)


class TorchPositionalEncoding(Module):
    """``y = dropout(x + pe[:T])``: nn's sinusoidal table as a (non-persistent) buffer."""

    pe: Tensor

    def __init__(self, table: np.ndarray, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = table.shape[1], table.shape[0]
        self.register_buffer("pe", torch.from_numpy(np.array(table, np.float64)),
                             persistent=False)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[-2]
        if T > self.max_len or x.shape[-1] != self.d_model:
            raise ValueError(f"{type(self).__name__}: expected (..., T <= {self.max_len}, "
                             f"{self.d_model}), got {tuple(x.shape)}")
        return self.dropout(x + self.pe[:T].to(x.dtype))


class TorchResidual(Module):
    """``y = x + layer(x)``."""

    def __init__(self, layer: Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layer(x)
