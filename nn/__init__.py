"""``nn``: a from-scratch neural-network framework in NumPy.

Layers with explicit ``forward``/``backward``, losses, ``Sequential``, gradient checking,
a training loop, data helpers and bundled datasets. Optimizers live in ``optim``.
"""

from . import callbacks, data, datasets, functional, init, metrics, models, text
from . import interop
from ._config import get_default_dtype, get_rng, manual_seed, set_default_dtype
from ._version import __version__ as __version__  # the one source: nn/_version.py
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .gradcheck import GradcheckReport, assert_gradcheck, gradcheck, numerical_gradient
from .layer import Layer
from .layers import (
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    MultiHeadAttention,
    PositionalEncoding,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, Loss, MSELoss
from .parameter import Parameter
from .serialization import CheckpointError, load, save
from .summary import summary
from .training import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    NonFiniteError,
    evaluate,
    fit,
    predict,
)

__all__ = [
    "Parameter", "Layer", "Sequential", "Residual", "Linear", "Flatten", "ReLU", "LeakyReLU",
    "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Dropout", "Loss", "MSELoss",
    "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "HingeLoss", "gradcheck",
    "assert_gradcheck", "numerical_gradient", "GradcheckReport", "set_default_dtype",
    "get_default_dtype", "manual_seed", "get_rng", "summary", "init", "functional",
    "fit", "evaluate", "predict", "History", "Callback", "EarlyStopping",
    "LearningRateScheduler", "save", "load", "data", "datasets", "metrics", "models",
]
__all__ += ["Embedding"]
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]
__all__ += ["MultiHeadAttention", "PositionalEncoding"]
__all__ += ["TransformerEncoderLayer", "TransformerEncoder"]
__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d"]
__all__ += ["RNN", "LSTM", "GRU", "text"]
__all__ += ["save_checkpoint", "load_checkpoint", "Checkpoint", "CheckpointError"]
__all__ += ["NonFiniteError", "callbacks"]
__all__ += ["interop"]


def __getattr__(name: str):
    """``nn.testing`` on first use, so that ``import nn`` works without hypothesis (a test
    dependency) while ``import nn; nn.testing.check_layer(...)`` works with it."""
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module 'nn' has no attribute {name!r}")
