"""Layer families, one module each."""

from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import Residual, Sequential
from .dropout import Dropout
from .linear import Flatten, Linear

__all__ = ["Linear", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax",
           "LogSoftmax", "Dropout", "Sequential", "Residual"]
