"""microtensor: a small, exact autograd engine on NumPy that records every op as a graph node.

The modules import each other in one order, bottom to top (see docs/architecture.md): ``core``
(tensor data, node, grad and scope state) -> ``gradients`` -> ``function`` / ``extend`` ->
``graph`` -> ``autograd`` -> ``ops`` -> ``tensor`` (Tensor's operators) -> ``creation``, ``nn``,
``optim``, ``gradcheck``, ``serialize``.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([[1.0, 2.0]], requires_grad=True)
    >>> W = mt.tensor([[0.5], [0.25]], requires_grad=True)
    >>> with mt.scope("layer"):
    ...     y = (x @ W).tanh().sum()
    >>> y.backward()
    >>> W.grad.shape
    (2, 1)
"""
import numpy as np

from .errors import (AnomalyError, GradcheckError, GraphFreedError, MicrotensorError,
                     ShapeError)
from .core import current_scope, gc_paused, get_default_dtype, keep_values, scope
from .function import Context, Function
from .gradients import IndexedGrad
from . import extend, graph, ops
from .autograd import (detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
# Each ops module exports exactly the op functions it defines (its computed __all__).
from .ops.elementwise import *  # noqa: F403
from .ops.linalg import *  # noqa: F403
from .ops.reduce import *  # noqa: F403
from .ops.shape import *  # noqa: F403
from .tensor import Tensor, tensor
from .creation import (arange, eye, full, get_rng, manual_seed, ones, ones_like, rand, randn,
                       zeros, zeros_like)
from .gradcheck import gradcheck
from . import nn, optim
from .serialize import CheckpointError, load, save
from .atomic import atomic_write

float32 = np.float32
float64 = np.float64
clamp = ops.elementwise.clip

__version__ = "0.1.0"
