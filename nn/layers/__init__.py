"""Layer families, one module each."""

from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiHeadAttention, PositionalEncoding
from .container import Residual, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .linear import Flatten, Linear
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .recurrent import GRU, LSTM, RNN
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["Linear", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax",
           "LogSoftmax", "Dropout", "Sequential", "Residual"]
__all__ += ["Embedding"]
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]
__all__ += ["MultiHeadAttention", "PositionalEncoding"]
__all__ += ["TransformerEncoderLayer", "TransformerEncoder"]
__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d"]
__all__ += ["Conv1d", "MaxPool1d", "AvgPool1d"]
__all__ += ["RNN", "LSTM", "GRU"]
