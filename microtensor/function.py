"""``Function``: the one way to add an op, used by every built-in op and by users alike.

An op is a small class with two static methods::

    class Swish(mt.Function):
        @staticmethod
        def forward(ctx, x):                 # ndarrays in, ndarray out
            s = 1 / (1 + np.exp(-x))
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, grad):             # one gradient per input (None where there is none)
            x, s = ctx.saved_tensors
            return grad * (s + x * s * (1 - s))

    y = Swish.apply(x)                       # Tensors in, Tensor out, graph recorded

Keyword arguments of ``apply`` are passed to ``forward`` as constants (axis, shape...). Python
numbers and arrays among the positional inputs become constant tensors; a Python number takes the
dtype of the first tensor input, so ``x * 2.0`` stays float32 for a float32 ``x``.
"""
import numpy as np

from . import autograd
from .autograd import _Mode
from .errors import GraphFreedError, MicrotensorError
from .graph import Node, _ScopeState
from .tensor import Tensor, _DEFAULT_FLOAT, make_tensor


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and any attribute you set.

    ``needs_input_grad`` is a tuple of booleans, one per input, so ``backward`` can skip
    gradients nobody asked for.

    Example:
        >>> ctx = Context((True, False))
        >>> ctx.save_for_backward(np.ones(2))
        >>> ctx.saved_tensors[0]
        array([1., 1.])
    """

    # Class-level defaults, so that Function.apply only has to set needs_input_grad.
    _saved = ()
    _released = False

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays):
        """Keep ``arrays`` for ``backward`` (freed after backward unless retain_graph)."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``, in order."""
        if self._released:
            raise GraphFreedError(autograd._FREED_MESSAGE)
        return self._saved

    def release(self):
        """Free the saved arrays (called by the backward pass)."""
        self._saved = ()
        self._released = True


def _constant(value, like):
    """A constant tensor for a non-tensor input, in the dtype a NumPy/PyTorch user expects."""
    if isinstance(value, np.ndarray):
        return make_tensor(value, False)
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        # A scalar is "weak", as in NumPy 2 and PyTorch: it takes the tensor's dtype, so float32
        # stays float32; only a float scalar next to an integer tensor makes a (default) float.
        is_float = isinstance(value, (float, np.floating))
        if like is not None and like.dtype.kind == "f":
            dtype = like.dtype
        elif is_float:
            dtype = _DEFAULT_FLOAT
        elif like is not None and not (like.dtype.kind == "b" and not isinstance(value, bool)):
            dtype = like.dtype
        else:
            dtype = None
        return make_tensor(np.asarray(value, dtype=dtype), False)
    if isinstance(value, (list, tuple)):
        from .tensor import tensor
        # Like a number, a list follows a float tensor's dtype: `x32 + [1, 2]` stays float32.
        return tensor(value, dtype=like.dtype if like is not None and like.dtype.kind == "f" else None)
    raise TypeError(f"op input must be a Tensor, an ndarray or a number, not {type(value).__name__}")


class Function:
    """Base class of every op. Subclass it with static ``forward`` and ``backward``; call ``apply``.

    ``name`` (default: the class name in lower case) is the op's name in graphs and messages.

    Example:
        >>> import microtensor as mt
        >>> class Double(mt.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 2
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad * 2
        >>> x = mt.tensor([1.0, 2.0], requires_grad=True)
        >>> Double.apply(x).sum().backward()
        >>> x.grad
        array([2., 2.], dtype=float32)
    """

    name = None
    # True only for ops whose backward accepts a lazy autograd.OuterGrad (transpose).
    _passes_outer_grad = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") is None:
            cls.name = cls.__name__.lower()

    @staticmethod
    def forward(ctx, *arrays, **attrs):
        raise NotImplementedError("an op must define forward(ctx, *arrays, **attrs)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("an op must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run ``forward`` on the inputs' arrays and record the node if a gradient is needed."""
        # This runs once per op per step of every model: plain loops and list displays, no
        # generator expressions, and the common all-Tensor case takes no conversions at all.
        tensors = inputs
        for x in inputs:
            if not isinstance(x, Tensor):
                like = None
                for y in inputs:
                    if isinstance(y, Tensor):
                        like = y
                        break
                tensors = tuple([y if isinstance(y, Tensor) else _constant(y, like) for y in inputs])
                break
        arrays = [t.data for t in tensors]
        needs = tuple([t.requires_grad for t in tensors])
        record = _Mode.grad_enabled and True in needs
        ctx = Context.__new__(Context)        # (what Context(needs) does, minus a call)
        ctx.needs_input_grad = needs
        try:
            out = cls.forward(ctx, *arrays, **attrs)
        except MicrotensorError:
            raise
        except ValueError as error:
            # Built-in ops raise ShapeError themselves. Any other ValueError (a NumPy error inside
            # a user's op, a bad argument) keeps its type but names the op and every operand.
            shapes = ", ".join(str(a.shape) for a in arrays)
            error.args = (f"{cls.name} (operands of shapes {shapes}): {error}",) + error.args[1:]
            raise
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if _Mode.anomaly:
            autograd.check_forward_anomaly(cls, _ScopeState.path, arrays, out)
        result = make_tensor(out, record)
        if record:
            result._node = Node(cls, ctx, tensors, _ScopeState.path)
        return result
