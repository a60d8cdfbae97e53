"""Ready-made models: the example systems of the source documents, one module per family.

Each builder returns an ordinary ``nn.Layer`` (mostly a ``Sequential``) to train with
``nn.fit`` or a hand-written loop.
"""

from .cnn import cnn, lenet
from .mlp import mlp
from .recurrent import (
    generate,
    generate_text,
    lstm_language_model,
    stream_perplexity,
    text_classifier,
)
from .transformer import transformer, transformer_classifier, transformer_language_model

__all__ = ["mlp"]
__all__ += ["transformer", "transformer_classifier", "transformer_language_model"]
__all__ += ["lstm_language_model", "text_classifier", "generate", "generate_text"]
__all__ += ["stream_perplexity"]
__all__ += ["cnn", "lenet"]
