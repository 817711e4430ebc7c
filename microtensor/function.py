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

An op with several outputs returns a tuple of arrays from ``forward``; ``apply`` then returns a
tuple of Tensors (all recorded on ONE node) and ``backward(ctx, *grads)`` receives one gradient per
output: zeros for a float output nobody used, None for an integer output (an index, an argmax),
which keeps its dtype and never takes a gradient.

Keyword arguments of ``apply`` are passed to ``forward`` as constants (axis, shape...). Python
numbers, lists and arrays among the positional inputs become constant tensors; a Python number
takes the dtype of the first floating-point tensor input (else of the first tensor), so
``x * 2.0`` stays float32 for a float32 ``x``.
"""
import numpy as np

from .core import (DEFAULT_FLOAT, Context, GradMode, Node, ScopeState, TensorBase,  # noqa: F401
                   share_version, to_array)  # (Context: the ctx of ``forward``, re-exported)
from .errors import AnomalyError, MicrotensorError


def kind_of_nonfinite(array):
    """``"NaN"`` if ``array`` holds a NaN, else ``"Inf"`` (for anomaly messages)."""
    return "NaN" if np.isnan(array).any() else "Inf"


def check_forward_anomaly(fn, node_scope, arrays, out):
    """Called by Function.apply in anomaly mode: raise if ``out`` is the first non-finite array."""
    if out.dtype.kind != "f" or np.isfinite(out).all():
        return
    bad_inputs = [i for i, a in enumerate(arrays) if a.dtype.kind == "f" and not np.isfinite(a).all()]
    origin = f"input {bad_inputs[0]} already held NaN/Inf" if bad_inputs else "inputs were finite"
    raise AnomalyError(f"forward of {fn.name!r} in scope {node_scope!r} produced "
                       f"{kind_of_nonfinite(out)} ({origin})")


def _dtype_leader(inputs):
    """The tensor whose dtype constants follow: the first floating-point one, else the first one."""
    first = None
    for x in inputs:
        if isinstance(x, TensorBase):
            if x.data.dtype.kind == "f":
                return x
            if first is None:
                first = x
    return first


def _constant(value, like):
    """A constant tensor for a non-tensor input, in the dtype a NumPy/PyTorch user expects."""
    if isinstance(value, np.ndarray):
        return like._wrap(value, False)
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        # A scalar is "weak", as in NumPy 2 and PyTorch: it takes the tensor's dtype, so float32
        # stays float32; only a float scalar next to an integer tensor makes a (default) float.
        is_float = isinstance(value, (float, np.floating))
        if like.dtype.kind == "f":
            dtype = like.dtype
        elif is_float:
            dtype = DEFAULT_FLOAT
        elif not (like.dtype.kind == "b" and not isinstance(value, bool)):
            dtype = like.dtype
        else:
            dtype = None
        return like._wrap(np.asarray(value, dtype=dtype), False)
    if isinstance(value, (list, tuple)):
        # Like a number, a list follows a float tensor's dtype: `x32 + [1, 2]` stays float32.
        return like._wrap(to_array(value, like.dtype if like.dtype.kind == "f" else None), False)
    raise TypeError(f"op input must be a Tensor, an ndarray or a number, not {type(value).__name__}")


def _checked_output(fn, out, position=None):
    """``out`` as an ndarray of a numeric dtype, or a TypeError naming the op and the output."""
    where = "" if position is None else f" (output {position})"
    if not isinstance(out, np.ndarray):
        if isinstance(out, np.generic):
            out = np.asarray(out)              # NumPy reductions give scalars: a 0-d array
        elif isinstance(out, TensorBase):
            raise TypeError(f"{fn.name}: forward returned a Tensor{where}; forward works on "
                            f"ndarrays: return its .data (ops call other ops only in Python code "
                            f"outside forward)")
        else:
            raise TypeError(f"{fn.name}: forward returned {type(out).__name__}{where}; return an "
                            f"ndarray (np.asarray(value, dtype=...)), or a tuple of ndarrays for "
                            f"an op with several outputs")
    if out.dtype.kind not in "fiub":
        raise TypeError(f"{fn.name}: forward returned an array of dtype {out.dtype}{where}; "
                        f"tensors hold float, int or bool data")
    return out


# ``needs_input_grad`` of one- and two-input ops, shared instead of a new tuple per node.
_NEEDS_1 = ((False,), (True,))
_NEEDS_2 = (((False, False), (False, True)), ((True, False), (True, True)))


class Function:
    """Base class of every op. Subclass it with static ``forward`` and ``backward``; call ``apply``.

    ``name`` (default: the class name in lower case) is the op's name in graphs and messages.
    ``accepts_outer_grad`` (default False): set it to True if ``backward`` can take a lazy
    :class:`~microtensor.extend.OuterGrad` as its ``grad`` (see :mod:`microtensor.gradients`).

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

    Several outputs: return a tuple, get one gradient per output.

        >>> class SumAndArgmax(mt.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.shape = x.shape
        ...         return x.sum(), np.argmax(x)
        ...     @staticmethod
        ...     def backward(ctx, grad_sum, grad_argmax):    # grad_argmax is None: an integer
        ...         return np.broadcast_to(grad_sum, ctx.shape).copy()
        >>> total, where = SumAndArgmax.apply(x)
        >>> where.dtype, where.requires_grad, total.requires_grad
        (dtype('int64'), False, True)
    """

    name = None
    accepts_outer_grad = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") is None:
            cls.name = cls.__name__.lower()

    @staticmethod
    def forward(ctx, *arrays, **attrs):
        raise NotImplementedError("an op must define forward(ctx, *arrays, **attrs)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("an op must define backward(ctx, *grads)")

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run ``forward`` on the inputs' arrays and record the node if a gradient is needed."""
        # This runs once per op per step of every model: plain loops and list displays, no
        # generator expressions, and the common all-Tensor case takes no conversions at all.
        tensors = inputs
        n = len(inputs)
        if n == 1 and isinstance(inputs[0], TensorBase):        # the fast paths: unary ...
            a = inputs[0]
            arrays = (a.data,)
            needs = _NEEDS_1[a.requires_grad]
            record = a.requires_grad and GradMode.grad_enabled
        elif n == 2 and isinstance(inputs[0], TensorBase) and isinstance(inputs[1], TensorBase):
            a, b = inputs                                      # ... and binary, all Tensors
            arrays = (a.data, b.data)
            needs = _NEEDS_2[a.requires_grad][b.requires_grad]
            record = (a.requires_grad or b.requires_grad) and GradMode.grad_enabled
        else:
            for x in inputs:
                if not isinstance(x, TensorBase):
                    like = _dtype_leader(inputs)
                    if like is None:
                        raise TypeError(f"{cls.name}: needs at least one Tensor among its "
                                        f"inputs, got {', '.join(type(y).__name__ for y in inputs)}")
                    tensors = tuple([y if isinstance(y, TensorBase) else _constant(y, like)
                                     for y in inputs])
                    break
            arrays = [t.data for t in tensors]
            needs = tuple([t.requires_grad for t in tensors])
            record = GradMode.grad_enabled and True in needs
        # The context is the node-to-be: one object per op application. (What Node(needs)
        # would do, minus a call.)
        ctx = Node.__new__(Node)
        ctx.needs_input_grad = needs
        ctx._saved = ()
        ctx.freed = False
        try:
            out = cls.forward(ctx, *arrays, **attrs) if attrs else cls.forward(ctx, *arrays)
        except MicrotensorError:
            raise
        except ValueError as error:
            # Built-in ops raise ShapeError themselves. Any other ValueError (a NumPy error inside
            # a user's op, a bad argument) keeps its type but names the op and every operand.
            shapes = ", ".join(str(a.shape) for a in arrays)
            error.args = (f"{cls.name} (operands of shapes {shapes}): {error}",) + error.args[1:]
            raise
        if not tensors:
            raise TypeError(f"{cls.name}: needs at least one Tensor input")
        wrap = tensors[0]._wrap
        if type(out) is tuple:
            return cls._record_outputs(ctx, tensors, arrays, out, record, wrap)
        if type(out) is not np.ndarray:
            out = _checked_output(cls, out)
        if out.dtype.kind != "f":
            # An integer or boolean result (a comparison, an index) carries no gradient.
            if out.dtype.kind not in "iub":
                out = _checked_output(cls, out)
            record = False
        if GradMode.anomaly:
            check_forward_anomaly(cls, ScopeState.path, arrays, out)
        result = wrap(out, record)
        if record:
            # The node is the output's vertex: the graph refers to it, never to `result`.
            result._node = result._vertex = ctx.record(cls, tensors, ScopeState.path, out,
                                                       result._seq)
        if out.base is not None:
            share_version(result, out, tensors)
        return result

    @classmethod
    def _record_outputs(cls, ctx, tensors, arrays, outs, record, wrap):
        """The multi-output half of ``apply``: one tensor per array, all on one node."""
        if not outs:
            raise TypeError(f"{cls.name}: forward returned an empty tuple; return an ndarray, "
                            f"or a tuple of one ndarray per output")
        outs = [_checked_output(cls, out, position) for position, out in enumerate(outs)]
        if GradMode.anomaly:
            for out in outs:
                check_forward_anomaly(cls, ScopeState.path, arrays, out)
        # An integer or boolean output (an index, an argmax) keeps its dtype and takes no
        # gradient, but stays an output of the node, so a drawing shows where it came from.
        results = tuple([wrap(out, record and out.dtype.kind == "f") for out in outs])
        if record:
            ports = ctx.record_outputs(cls, tensors, ScopeState.path, outs, results)
            for t, port in zip(results, ports):
                t._node, t._vertex = ctx, port
        for out, t in zip(outs, results):
            if out.base is not None:
                share_version(t, out, tensors)
        return results
