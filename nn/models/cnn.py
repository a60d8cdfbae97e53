"""Convolutional networks: the source documents' CNN and a LeNet-style variant with pooling."""

from __future__ import annotations

from collections.abc import Sequence

from .._config import get_rng
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from ..layers._windows import out_size


def _image_shape(in_shape, name: str) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in in_shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(f"{name}: in_shape must be (channels, height, width) with positive "
                         f"sizes, got {in_shape!r}")
    return shape


def cnn(in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, channels: int = 32,
        kernel_size: int = 3, hidden: int = 64, *, rng=None, dtype=None) -> Sequential:
    """The source documents' CNN for handwritten digits, for any image size and class count.

    ``Conv2d(C, channels, kernel_size) -> ReLU -> Flatten -> Linear(hidden) -> ReLU ->
    Linear(num_classes)`` (logits; train with ``CrossEntropyLoss`` and ``optim.Adam``).
    The defaults are the documents' Conv2D(32, 3x3, ReLU) -> Dense(64, ReLU) -> output on
    1x28x28 images. The convolution has no padding (Keras' default "valid"), so the
    flattened size is ``channels * (H - k + 1) * (W - k + 1)``. Convolution and hidden
    layer use He initialisation (ReLU follows them), the output layer Xavier.

    For the bundled 8x8 digits, ``cnn((1, 8, 8), 10)`` flattens 32*6*6 = 1152 features.
    """
    C, H, W = _image_shape(in_shape, "cnn")
    Ho, Wo = out_size(H, kernel_size, 1, 0), out_size(W, kernel_size, 1, 0)
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"cnn: kernel_size {kernel_size} is larger than the image "
                         f"{H}x{W} of in_shape {tuple(in_shape)}")
    gen = get_rng(rng)
    return Sequential(
        Conv2d(C, channels, kernel_size, init="he", rng=gen, dtype=dtype), ReLU(),
        Flatten(),
        Linear(channels * Ho * Wo, hidden, init="he", rng=gen, dtype=dtype), ReLU(),
        Linear(hidden, num_classes, init="xavier", rng=gen, dtype=dtype),
    )


def lenet(in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, *, rng=None,
          dtype=None) -> Sequential:
    """A LeNet-5-style network with ReLU and max-pooling (for 1x28x28 MNIST by default).

    ``Conv2d(C, 6, 5, padding=2) -> ReLU -> MaxPool2d(2) -> Conv2d(6, 16, 5) -> ReLU ->
    MaxPool2d(2) -> Flatten -> Linear(120) -> ReLU -> Linear(84) -> ReLU ->
    Linear(num_classes)``. On 28x28 input the feature maps are 6x28x28, 6x14x14, 16x10x10,
    16x5x5 (400 features). Other image sizes work if they are at least 12x12. Weights use
    PyTorch's default initialisation (``init="torch"``) for every layer.

    On MNIST (downloaded once into the cache folder by ``load_mnist``)::

        x, y = nn.datasets.load_mnist(split="train")          # (60000, 28, 28) uint8
        x = x[:, None] / np.float32(255)                      # (60000, 1, 28, 28) in [0, 1]
        model = nn.models.lenet()
        nn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
               x, y, epochs=3, batch_size=64)
    """
    C, H, W = _image_shape(in_shape, "lenet")
    sizes = []
    for size in (H, W):
        s = out_size(size, 5, 1, 2) // 2       # conv 5x5 pad 2, pool 2
        s = out_size(s, 5, 1, 0) // 2          # conv 5x5, pool 2
        sizes.append(s)
    if min(sizes) <= 0:
        raise ValueError(f"lenet: images of {H}x{W} are too small (need at least 12x12)")
    gen = get_rng(rng)
    return Sequential(
        Conv2d(C, 6, 5, padding=2, rng=gen, dtype=dtype), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5, rng=gen, dtype=dtype), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(16 * sizes[0] * sizes[1], 120, init="torch", rng=gen, dtype=dtype), ReLU(),
        Linear(120, 84, init="torch", rng=gen, dtype=dtype), ReLU(),
        Linear(84, num_classes, init="torch", rng=gen, dtype=dtype),
    )
