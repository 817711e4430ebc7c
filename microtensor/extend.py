"""The public extension surface: everything an op needs, and all the built-in ops use.

Every op in ``microtensor/ops`` imports only from this module (a test checks it), so each
built-in op is an example of an op a user could have written:

- :class:`Function` and :class:`Context`: one small class per op (``forward`` on ndarrays,
  ``backward`` returns one gradient per input; a tuple from ``forward`` makes a multi-output op;
  in ``backward``, ``ctx.input_shapes`` are the inputs' shapes);
- :func:`unbroadcast`: sum a gradient back to an input's shape after broadcasting;
- :class:`IndexedGrad`: a gradient that is zero except at an index, accumulated into one buffer;
- :class:`OuterGrad` and ``Function.accepts_outer_grad``: the lazy weight gradient behind
  matmul's one-GEMM weight gradient over an unrolled sequence (see :mod:`microtensor.gradients`);
- :class:`ShapeError`, :class:`MicrotensorError`: the errors an op raises on bad operands;
- :func:`axis_or_dim`: NumPy's ``axis=`` or its PyTorch alias ``dim=``, for an op's function;
- :func:`promote`: two operands in PyTorch's result dtype (float32 op int64 stays float32).

Example:
    >>> import numpy as np, microtensor as mt
    >>> from microtensor.extend import Function, unbroadcast
    >>> class ScaledAdd(Function):                     # a + 2 b, with broadcasting
    ...     @staticmethod
    ...     def forward(ctx, a, b):
    ...         return a + 2 * b
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         sa, sb = ctx.input_shapes                # the inputs' shapes, from the graph
    ...         return unbroadcast(grad, sa), unbroadcast(2 * grad, sb)
    >>> a = mt.zeros(2, 3, requires_grad=True)
    >>> b = mt.zeros(3, requires_grad=True)
    >>> ScaledAdd.apply(a, b).sum().backward()
    >>> b.grad
    array([4., 4., 4.], dtype=float32)
"""
from .core import axis_or_dim, promote
from .errors import MicrotensorError, ShapeError
from .function import Context, Function
from .gradients import IndexedGrad, OuterGrad, unbroadcast

__all__ = ["Context", "Function", "IndexedGrad", "MicrotensorError", "OuterGrad", "ShapeError",
           "axis_or_dim", "promote", "unbroadcast"]
