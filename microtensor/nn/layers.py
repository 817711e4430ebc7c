"""Layers and containers: Linear, Embedding, LayerNorm, Dropout, activations, Sequential,
ModuleList, ModuleDict. Names, shapes, defaults and initialisation are PyTorch's.

Example:
    >>> import microtensor as mt
    >>> from microtensor import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> model(mt.ones(5, 4)).shape, [n for n, _ in model.named_parameters()][:2]
    ((5, 2), ['0.weight', '0.bias'])
"""
import math
from collections import OrderedDict

import numpy as np

from ..core import get_default_dtype
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear", "Embedding", "LayerNorm", "Dropout", "Tanh", "Sigmoid", "ReLU",
           "Sequential", "ModuleList", "ModuleDict", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "BCEWithLogitsLoss"]


def _float_dtype(dtype):
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters must be floating point, got dtype {dtype}")
    return dtype


def _positive_int(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {what} must be a positive int, got {value!r}")
    return int(value)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for an optional projection).

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2)
        >>> Identity()(x) is x
        True
    """

    def forward(self, input):
        return input


class Linear(Module):
    """y = x W^T + b, with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Both are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.

    Args:
        in_features, out_features: sizes of the last axis of input and output.
        bias: learn an additive bias (else ``bias`` is registered as None).
        dtype: parameter dtype (float32 by default).

    Shape: input (*, in_features) -> output (*, out_features).

    Example:
        >>> import microtensor as mt
        >>> layer = mt.nn.Linear(3, 2)
        >>> layer
        Linear(in_features=3, out_features=2, bias=True)
        >>> layer(mt.ones(4, 3)).shape
        (4, 2)
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = _float_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw the parameters (PyTorch's default: kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(fan_in)))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, drawn from N(0, 1).

    Args:
        num_embeddings, embedding_dim: table shape.
        padding_idx: this row starts at zero and never receives a gradient.
        dtype: parameter dtype (float32 by default).

    Shape: integer input (*) -> output (*, embedding_dim).

    Example:
        >>> import microtensor as mt
        >>> emb = mt.nn.Embedding(10, 3, padding_idx=0)
        >>> emb(mt.tensor([[0, 4, 4]])).shape, emb.weight.data[0].tolist()
        ((1, 3, 3), [0.0, 0.0, 0.0])
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None):
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings={self.num_embeddings}")
            padding_idx = padding_idx % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                         dtype=_float_dtype(dtype)))
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw the table from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes, with a learned
    ``weight`` (ones) and ``bias`` (zeros) when ``elementwise_affine``.

    Example:
        >>> import microtensor as mt
        >>> norm = mt.nn.LayerNorm(4)
        >>> y = norm(mt.randn(2, 4))
        >>> y.shape, [n for n, _ in norm.named_parameters()]
        ((2, 4), ['weight', 'bias'])
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive_int(s, "normalized_shape", "LayerNorm") for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = _float_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps:g}, "
                f"elementwise_affine={self.elementwise_affine}")


class Dropout(Module):
    """Zeroes elements with probability ``p`` during training (scaling the rest by 1/(1-p));
    the identity in ``eval()`` mode. Reproducible: the mask comes from ``mt.manual_seed``'s generator.

    Example:
        >>> import microtensor as mt
        >>> drop = mt.nn.Dropout(0.5)
        >>> x = mt.ones(8)
        >>> drop.eval()(x) is x
        True
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Tanh(Module):
    """Elementwise tanh.

    Example:
        >>> import microtensor as mt
        >>> mt.nn.Tanh()(mt.zeros(2)).data
        array([0., 0.], dtype=float32)
    """

    def forward(self, input):
        return input.tanh()


class Sigmoid(Module):
    """Elementwise logistic sigmoid.

    Example:
        >>> import microtensor as mt
        >>> mt.nn.Sigmoid()(mt.zeros(2)).data
        array([0.5, 0.5], dtype=float32)
    """

    def forward(self, input):
        return input.sigmoid()


class ReLU(Module):
    """Elementwise max(x, 0).

    Example:
        >>> import microtensor as mt
        >>> mt.nn.ReLU()(mt.tensor([-1.0, 2.0])).data
        array([0., 2.], dtype=float32)
    """

    def forward(self, input):
        return input.relu()


class Sequential(Module):
    """Applies its modules in order; children are named "0", "1", ... (or by an OrderedDict).

    Example:
        >>> import microtensor as mt
        >>> from microtensor import nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> len(net), type(net[1]).__name__, net(mt.ones(1, 2)).shape
        (2, 'ReLU', (1, 3))
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(str(name), module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return modules[index]

    def append(self, module):
        """Add ``module`` at the end; returns self.

        Example:
            >>> from microtensor import nn
            >>> len(nn.Sequential(nn.Tanh()).append(nn.ReLU()))
            2
        """
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (named "0", "1", ...).

    Example:
        >>> from microtensor import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> len(layers), len(list(layers.parameters()))
        (3, 6)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module):
        """Add one module at the end; returns self.

        Example:
            >>> from microtensor import nn
            >>> len(nn.ModuleList().append(nn.Tanh()))
            1
        """
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        """Add several modules at the end; returns self.

        Example:
            >>> from microtensor import nn
            >>> len(nn.ModuleList([nn.Tanh()]).extend([nn.ReLU(), nn.Sigmoid()]))
            3
        """
        for module in modules:
            self.append(module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return list(self._modules.values())[index]

    def __setitem__(self, index, module):
        keys = list(self._modules)
        self.add_module(keys[index], module)


class ModuleDict(Module):
    """A dict of named modules, registered so their parameters are found (named by key).

    Example:
        >>> from microtensor import nn
        >>> heads = nn.ModuleDict({"tag": nn.Linear(4, 3), "score": nn.Linear(4, 1)})
        >>> sorted(heads.keys()), [n for n, _ in heads.named_parameters()][0]
        (['score', 'tag'], 'tag.weight')
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules):
        """Add (or replace) modules from a dict or an iterable of (name, module) pairs.

        Example:
            >>> from microtensor import nn
            >>> heads = nn.ModuleDict()
            >>> heads.update([("a", nn.Tanh()), ("b", nn.ReLU())])
            >>> list(heads)
            ['a', 'b']
        """
        items = modules.items() if hasattr(modules, "items") else modules
        for name, module in items:
            self[name] = module

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys must be strings, got {type(key).__name__}")
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        """The module names, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """(name, module) pairs, in insertion order."""
        return self._modules.items()


# ----- losses as modules (thin wrappers over nn.functional, for PyTorch-style code) -------------
class CrossEntropyLoss(Module):
    """Module form of :func:`microtensor.nn.functional.cross_entropy` (same arguments).

    Example:
        >>> import microtensor as mt
        >>> criterion = mt.nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> criterion(mt.zeros(2, 3), mt.tensor([0, 2])).item() > 0
        True
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.weight = None if weight is None else np.asarray(getattr(weight, "data", weight))
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class NLLLoss(Module):
    """Module form of :func:`microtensor.nn.functional.nll_loss`.

    Example:
        >>> import microtensor as mt
        >>> logp = mt.zeros(2, 3).log_softmax(axis=1)
        >>> round(mt.nn.NLLLoss()(logp, mt.tensor([0, 1])).item(), 4)
        1.0986
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__()
        self.weight = None if weight is None else np.asarray(getattr(weight, "data", weight))
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Module form of :func:`microtensor.nn.functional.mse_loss`.

    Example:
        >>> import microtensor as mt
        >>> mt.nn.MSELoss(reduction="sum")(mt.tensor([1.0, 2.0]), mt.tensor([0.0, 0.0])).item()
        5.0
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """Module form of :func:`microtensor.nn.functional.binary_cross_entropy_with_logits`.

    Example:
        >>> import microtensor as mt
        >>> round(mt.nn.BCEWithLogitsLoss()(mt.zeros(2), mt.tensor([0.0, 1.0])).item(), 4)
        0.6931
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__()
        self.weight = weight
        self.pos_weight = pos_weight
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"
