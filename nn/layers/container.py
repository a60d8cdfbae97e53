"""Containers: ``Sequential`` (a chain) and ``Residual`` (y = x + f(x))."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..layer import Layer, check_grad, plain


class Sequential(Layer):
    """Apply layers in order; backward runs them in reverse.

    forward:  a_0 = x, a_k = layer_k(a_{k-1}), y = a_L
    backward: g_L = grad_y, g_{k-1} = layer_k.backward(g_k), returns g_0

    Sub-layers are named "0", "1", ... (so ``state_dict`` keys look like "0.weight").
    Supports indexing (an int gives the layer, a slice a new Sequential sharing the
    layers), ``len``, iteration and ``append``.
    """

    def __init__(self, *layers: Layer):
        super().__init__()
        self._layers: list[Layer] = []
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for layer in layers:
            self.append(layer)

    def append(self, layer: Layer) -> Sequential:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential: expected a Layer, got {type(layer).__name__}")
        used = {id(m) for _, m in self.named_modules()}
        again = [m for _, m in layer.named_modules() if id(m) in used]
        if again:
            # one object keeps one forward cache: its first use would back-propagate
            # through the second use's input
            raise ValueError(
                f"Sequential: {again[0].label()} is already in this Sequential (the same "
                f"object at position {len(self._layers)}); a layer keeps the cache of its "
                f"last forward, so using one object twice gives wrong gradients. Use two "
                f"layers; to tie their weights, share the Parameter (second.weight = "
                f"first.weight), and the gradients of both uses add up in it")
        setattr(self, str(len(self._layers)), layer)
        self._layers.append(layer)
        return self

    def forward(self, x):
        for layer in self._layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_y):
        if grad_y is None:
            raise TypeError("Sequential: backward expected a gradient array, got None")
        g = grad_y
        for i in range(len(self._layers) - 1, -1, -1):
            if g is None:
                raise RuntimeError(
                    f"Sequential: layer {i + 1} ({self._layers[i + 1].label()}) returned no "
                    "input gradient, so the layers before it cannot be trained"
                )
            g = self._layers[i].backward(g)
        return g

    def set_input_grad(self, flag: bool) -> bool:
        """Forwarded to the first layer, which receives this container's input."""
        old = super().set_input_grad(flag)
        if self._layers:
            self._layers[0].set_input_grad(flag)
        return old

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)


class Residual(Layer):
    """y = x + f(x);  dx = g + f.backward(g).  ``f`` must keep the input's shape."""

    def __init__(self, layer: Layer):
        super().__init__()
        if not isinstance(layer, Layer):
            raise TypeError(f"Residual: expected a Layer, got {type(layer).__name__}")
        self.layer = layer

    def forward(self, x):
        if isinstance(x, np.ndarray):
            x = plain(x)
        fx = self.layer.forward(x)
        if not isinstance(fx, np.ndarray) or fx.shape != np.shape(x):
            raise ValueError(
                f"Residual: the wrapped layer {self.layer.label()} must keep the input shape "
                f"{np.shape(x)}, but returned {np.shape(fx)}"
            )
        y = x + fx
        self._cache = (y.shape, y.dtype)
        return y

    def backward(self, grad_y):
        shape, dtype = self._saved()
        grad_y = check_grad(self, grad_y, shape, dtype)  # a float64 gradient is cast, not kept
        return grad_y + self.layer.backward(grad_y)
