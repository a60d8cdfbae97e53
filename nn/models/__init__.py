"""Ready-made models: the example systems of the source documents, one module per family.

Each builder returns an ordinary ``nn.Layer`` (mostly a ``Sequential``) to train with
``nn.fit`` or a hand-written loop.
"""

from .cnn import cnn, lenet
from .mlp import mlp

__all__ = ["mlp"]
__all__ += ["cnn", "lenet"]
