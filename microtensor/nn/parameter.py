"""``Parameter``: a tensor that a ``Module`` registers as learnable."""
from ..core import to_array
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor with ``requires_grad=True`` that modules collect in ``parameters()``.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> p = mt.nn.Parameter(np.zeros((2, 3)))
        >>> p.requires_grad, p.shape
        (True, (2, 3))
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, name=None):
        if isinstance(data, Tensor):
            data = data.data
        array = to_array(data)
        if array.dtype.kind != "f":
            raise TypeError(f"a Parameter must be floating point, not {array.dtype}")
        super().__init__(array, requires_grad=requires_grad, name=name)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"
