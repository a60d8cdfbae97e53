"""``optim``: hand-written optimizers that follow PyTorch's documented update rules."""

from .adam import Adam, AdamW
from .clip import clip_grad_norm, clip_grad_value
from .optimizer import Optimizer
from .sgd import SGD, Momentum

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value"]
