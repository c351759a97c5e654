"""tinykd: knowledge distillation from scratch on NumPy (CPU) and CuPy (GPU), every gradient written by hand."""
from . import backend, functional, layers, optim
from .layers import MLP
from .optim import SGD, Adam

__version__ = "0.1.0"
__all__ = ["backend", "functional", "layers", "optim", "MLP", "Adam", "SGD", "__version__"]
