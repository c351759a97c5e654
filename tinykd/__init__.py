"""tinykd: knowledge distillation from scratch on NumPy (CPU) and CuPy (GPU), every gradient written by hand."""
# binary registers BinaryMLP among the network kinds a checkpoint can rebuild (layers.Network.kinds)
from . import backend, binary, functional, layers, optim
from .layers import MLP
from .optim import SGD, Adam

__version__ = "0.1.0"
__all__ = ["backend", "binary", "functional", "layers", "optim", "MLP", "Adam", "SGD", "__version__"]
