"""Neural-network building blocks with PyTorch's names and behaviour.

Example:
    >>> import microtensor as mt
    >>> layer = mt.nn.Linear(3, 2)
    >>> layer(mt.ones(4, 3)).shape
    (4, 2)
"""
from .module import Module, StateDictError
from .parameter import Parameter
from . import functional, init, utils
from .layers import (BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, Identity, LayerNorm,
                     Linear, ModuleDict, ModuleList, MSELoss, NLLLoss, ReLU, Sequential, Sigmoid,
                     Tanh)
