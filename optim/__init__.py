"""``optim``: hand-written optimizers that follow PyTorch's documented update rules."""

from nn import __version__ as __version__  # one version for the distribution

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .clip import clip_grad_norm, clip_grad_value
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD, Momentum

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad",
           "lr_scheduler", "clip_grad_norm", "clip_grad_value"]
