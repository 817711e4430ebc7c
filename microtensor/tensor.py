"""``Tensor``: an ndarray, an optional gradient, and the node of the op that made it.

Operators are one-liners that call an op's ``apply`` (see ``microtensor/ops``). Results keep their
inputs' dtype: float32 by default, float64 on request; Python numbers do not upcast.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
    >>> y = (x * 2 + 1).sum()
    >>> y.backward()
    >>> x.grad
    array([[2., 2.],
           [2., 2.]], dtype=float32)
"""
import weakref

import numpy as np

from . import autograd
from .errors import ShapeError
from .core import (GradMode, TensorBase, add_hook, check_grad_dtype, tensor_maker, to_array,
                   version_cell)
from .core import axis_or_dim as _axis
from .ops.elementwise import (Abs, Add, Cast, Clip, Cos, Div, Equal, Exp, Greater, GreaterEqual,
                              LeakyRelu, Less, LessEqual, Log, Maximum, Minimum, Mul, Neg,
                              NotEqual, Pow, Relu, Sigmoid, Sin, Softplus, Sqrt, Sub, Tanh)
from .ops.linalg import MatMul
from .ops.reduce import Cumsum, LogSoftmax, LogSumExp, Max, Mean, Min, Prod, Softmax, Sum, Var, std
from .ops.shape import (GetItem, chunk, expand, flatten, permute, reshape, split, squeeze,
                        transpose, unsqueeze)


def tensor(data, requires_grad=False, dtype=None, name=None):
    """Make a tensor from numbers, nested lists or an ndarray (always copies).

    Python floats become float32 (PyTorch's default), Python ints int64; an ndarray keeps its
    dtype. Only floating-point tensors can require gradients.

    Example:
        >>> import microtensor as mt
        >>> mt.tensor([1.0, 2.0], requires_grad=True, name="w")
        tensor([1., 2.], dtype=float32, requires_grad=True, name='w')
    """
    array = to_array(data, None if dtype is None else np.dtype(dtype))
    if requires_grad:
        check_grad_dtype(array.dtype)
    t = make_tensor(array, bool(requires_grad))
    t.name = name
    return t


class Tensor(TensorBase):
    """An n-dimensional array that records the ops applied to it (see :func:`tensor`).

    Attributes:
        data: the ndarray. Writes into it are untracked, exactly like PyTorch's ``.data``: a
            backward pass that saved the old values would use the new ones. Change a tensor in
            place with its in-place methods (``add_``, ``mul_``, ``zero_``, ``copy_``,
            ``clamp_``) or call :meth:`bump_version` after writing into ``.data``: then such a
            backward raises instead.
        grad: ndarray of the same shape and dtype after ``backward()`` (leaves, or every node
            with ``keep_grads=True``), else None.
        requires_grad: whether gradients flow to this tensor.
        name: an optional label shown in graphs.

    Example:
        >>> import microtensor as mt
        >>> t = mt.tensor([[1.0, 2.0, 3.0]])
        >>> t.shape, t.T.shape, t.dtype
        ((1, 3), (3, 1), dtype('float32'))
    """

    __slots__ = ()
    # NumPy must hand `ndarray * tensor` to Tensor.__rmul__ instead of converting the tensor.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        source = tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)
        for slot in TensorBase.__slots__:
            if slot != "__weakref__":
                setattr(self, slot, getattr(source, slot))

    @property
    def T(self):
        """The transpose (all axes reversed)."""
        return self.transpose()

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __hash__(self):
        return object.__hash__(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             f"ambiguous; use .any() / .all() on .data")
        return bool(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number.

        Example:
            >>> import microtensor as mt
            >>> mt.tensor([2.5]).item()
            2.5
        """
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def numpy(self):
        """The data as an ndarray (shared, not copied).

        Example:
            >>> import microtensor as mt
            >>> mt.ones(2).numpy()
            array([1., 1.], dtype=float32)
        """
        return self.data

    def tolist(self):
        """The data as nested Python lists."""
        return self.data.tolist()

    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph (the edge is remembered
        weakly, so a renderer can draw the cut dashed without keeping the old graph alive).

        Example:
            >>> import microtensor as mt
            >>> h = mt.ones(2, requires_grad=True) * 2
            >>> h.detach().requires_grad
            False
        """
        t = make_tensor(self.data, False)
        t.name = self.name
        t._detached_from = weakref.ref(self._vertex or self)   # (what the graph holds of self)
        t._version_cell = version_cell(self)      # the same memory: the same version counter
        return t

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place and return self.

        Example:
            >>> import microtensor as mt
            >>> mt.zeros(2).requires_grad_().requires_grad
            True
        """
        if requires_grad:
            check_grad_dtype(self.data.dtype)
        self.requires_grad = bool(requires_grad)
        return self

    def astype(self, dtype):
        """A copy converted to ``dtype`` (differentiable between float dtypes).

        Example:
            >>> import microtensor as mt
            >>> mt.ones(2).astype("float64").dtype
            dtype('float64')
        """
        dtype = np.dtype(dtype)   # (an integer or boolean result records no graph)
        return Cast.apply(self, dtype=dtype)

    def double(self):
        """``astype(float64)``."""
        return self.astype(np.float64)

    def float(self):
        """``astype(float32)``."""
        return self.astype(np.float32)

    # ----- autograd -----------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False, keep_grads=False):
        """Backpropagate from this tensor, accumulating into the leaves' ``.grad``.

        Args:
            gradient: d(loss)/d(self); may be omitted for a one-element tensor.
            retain_graph: keep saved arrays so that backward can run through the graph again.
            keep_grads: also keep the gradient of every intermediate tensor in its ``.grad`` and
                keep the graph's structure, so it can be walked and drawn afterwards.

        Example:
            >>> import microtensor as mt
            >>> x = mt.tensor([1.0, 2.0], requires_grad=True)
            >>> h = x * 3
            >>> (h * h).sum().backward(keep_grads=True)
            >>> x.grad, h.grad
            (array([18., 36.], dtype=float32), array([ 6., 12.], dtype=float32))
        """
        autograd.backward(self, gradient, retain_graph=retain_graph, keep_grads=keep_grads)

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned array replaces it.

        Returns a handle whose ``remove()`` unregisters the hook.

        Example:
            >>> import microtensor as mt
            >>> x = mt.tensor([1.0], requires_grad=True)
            >>> handle = x.register_hook(lambda g: g * 10)
            >>> (x * 2).sum().backward()
            >>> x.grad
            array([20.], dtype=float32)
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        return add_hook(self._vertex or self, fn)    # an op output's hooks live on its vertex

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward.

        Example:
            >>> import microtensor as mt
            >>> x = mt.tensor([1.0], requires_grad=True)
            >>> h = x * 2
            >>> h.retain_grad()
            >>> (h * h).sum().backward()
            >>> h.grad
            array([4.], dtype=float32)
        """
        (self._vertex or self)._retains_grad = True

    def zero_grad_(self):
        """Set ``.grad`` to None."""
        self.grad = None

    # ----- in place (never recorded in the graph; each bumps the version counter) --------------
    def add_(self, other, alpha=1):
        """``self += alpha * other`` in place; returns self.

        In-place methods are for updates outside the graph (under ``mt.no_grad()``, or on
        tensors that need no gradient). Each bumps the tensor's version, so a backward pass that
        saved the old values raises instead of silently using the new ones.

        Example:
            >>> import microtensor as mt
            >>> w = mt.ones(3, requires_grad=True)
            >>> with mt.no_grad():
            ...     _ = w.add_(mt.tensor([1.0, 2.0, 3.0]), alpha=-0.5)
            >>> w.data, w._version
            (array([ 0.5,  0. , -0.5], dtype=float32), 1)
        """
        value = _in_place_operand(self, "add_", other)
        if alpha != 1:
            value = value * np.asarray(alpha, dtype=self.dtype)
        return _write_in_place(self, "add_", np.add, value)

    def mul_(self, other):
        """``self *= other`` in place; returns self. Example: ``mt.ones(2).mul_(3.0)``"""
        return _write_in_place(self, "mul_", np.multiply, _in_place_operand(self, "mul_", other))

    def zero_(self):
        """Fill with zeros in place; returns self. Example: ``mt.ones(2).zero_()``"""
        _check_in_place(self, "zero_")
        return _write_in_place(self, "zero_", np.multiply, np.zeros((), dtype=self.dtype))

    def copy_(self, src):
        """Copy ``src``'s values into this tensor (broadcast, cast to its dtype); returns self.

        Example:
            >>> import microtensor as mt
            >>> mt.zeros(2, 2).copy_(mt.tensor([1.0, 2.0])).data
            array([[1., 2.],
                   [1., 2.]], dtype=float32)
        """
        value = _in_place_operand(self, "copy_", src)
        return _write_in_place(self, "copy_", _assign, value)

    def clamp_(self, min=None, max=None):
        """Clamp into [min, max] in place; returns self. Example: ``mt.ones(2).clamp_(max=0.5)``"""
        if min is None and max is None:
            raise TypeError("clamp_: give at least one of min and max")
        _check_in_place(self, "clamp_")
        return _write_in_place(self, "clamp_", _clip_into(min, max), None)

    clip_ = clamp_

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(", threshold=50,
                               precision=4)
        extras = [f"dtype={self.dtype}"]
        if self._node is not None:
            extras.append(f"op={self._node.op}")
            if self._node.scope:
                extras.append(f"scope={self._node.scope!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    # ----- arithmetic (each a one-liner onto an op) ---------------------------------------------
    def __add__(self, other): return Add.apply(self, other)
    def __radd__(self, other): return Add.apply(other, self)
    def __sub__(self, other): return Sub.apply(self, other)
    def __rsub__(self, other): return Sub.apply(other, self)
    def __mul__(self, other): return Mul.apply(self, other)
    def __rmul__(self, other): return Mul.apply(other, self)
    def __truediv__(self, other): return Div.apply(self, other)
    def __rtruediv__(self, other): return Div.apply(other, self)
    def __pow__(self, other): return Pow.apply(self, other)
    def __rpow__(self, other): return Pow.apply(other, self)
    def __matmul__(self, other): return MatMul.apply(self, other)
    def __rmatmul__(self, other): return MatMul.apply(other, self)
    def __neg__(self): return Neg.apply(self)
    def __pos__(self): return self
    def __abs__(self): return Abs.apply(self)

    # Comparisons give boolean tensors that carry no gradient.
    def __lt__(self, other): return Less.apply(self, other)
    def __le__(self, other): return LessEqual.apply(self, other)
    def __gt__(self, other): return Greater.apply(self, other)
    def __ge__(self, other): return GreaterEqual.apply(self, other)
    def __eq__(self, other): return Equal.apply(self, other)
    def __ne__(self, other): return NotEqual.apply(self, other)

    # ----- elementwise --------------------------------------------------------------------------
    def exp(self): return Exp.apply(self)
    def sin(self): return Sin.apply(self)
    def cos(self): return Cos.apply(self)
    def log(self): return Log.apply(self)
    def sqrt(self): return Sqrt.apply(self)
    def abs(self): return Abs.apply(self)
    def tanh(self): return Tanh.apply(self)
    def sigmoid(self): return Sigmoid.apply(self)
    def relu(self): return Relu.apply(self)
    def leaky_relu(self, negative_slope=0.01): return LeakyRelu.apply(self, negative_slope=negative_slope)
    def softplus(self): return Softplus.apply(self)
    def clip(self, min=None, max=None): return Clip.apply(self, low=min, high=max)
    clamp = clip
    def maximum(self, other): return Maximum.apply(self, other)
    def minimum(self, other): return Minimum.apply(self, other)
    def pow(self, exponent): return Pow.apply(self, exponent)
    def matmul(self, other): return MatMul.apply(self, other)

    # ----- reductions (axis, or its alias dim) --------------------------------------------------
    # (dtype= and out= are what NumPy passes when it is handed a tensor: np.sum(t) calls t.sum)
    def sum(self, axis=None, keepdims=False, dim=None, dtype=None, out=None): return Sum.apply(_numpy_style(self, "sum", dtype, out), axis=_axis(axis, dim), keepdims=keepdims)
    def mean(self, axis=None, keepdims=False, dim=None, dtype=None, out=None): return Mean.apply(_numpy_style(self, "mean", dtype, out), axis=_axis(axis, dim), keepdims=keepdims)
    def max(self, axis=None, keepdims=False, dim=None, out=None): return Max.apply(_numpy_style(self, "max", None, out), axis=_axis(axis, dim), keepdims=keepdims)
    def min(self, axis=None, keepdims=False, dim=None, out=None): return Min.apply(_numpy_style(self, "min", None, out), axis=_axis(axis, dim), keepdims=keepdims)
    def var(self, axis=None, keepdims=False, dim=None, ddof=0, dtype=None, out=None): return Var.apply(_numpy_style(self, "var", dtype, out), axis=_axis(axis, dim), keepdims=keepdims, ddof=ddof)
    def std(self, axis=None, keepdims=False, dim=None, ddof=0, dtype=None, out=None): return std(_numpy_style(self, "std", dtype, out), axis, keepdims, dim, ddof)
    def prod(self, axis=None, keepdims=False, dim=None, dtype=None, out=None): return Prod.apply(_numpy_style(self, "prod", dtype, out), axis=_axis(axis, dim), keepdims=keepdims)
    def cumsum(self, axis=None, dim=None, dtype=None, out=None): return Cumsum.apply(_numpy_style(self, "cumsum", dtype, out), axis=_axis(axis, dim))
    def logsumexp(self, axis=None, keepdims=False, dim=None): return LogSumExp.apply(self, axis=_axis(axis, dim), keepdims=keepdims)
    def softmax(self, axis=None, dim=None): return Softmax.apply(self, axis=_axis(axis, dim, default=-1))
    def log_softmax(self, axis=None, dim=None): return LogSoftmax.apply(self, axis=_axis(axis, dim, default=-1))

    # ----- shape --------------------------------------------------------------------------------
    def reshape(self, *shape): return reshape(self, *shape)
    view = reshape
    def transpose(self, *axes): return transpose(self, *axes)
    def permute(self, *axes): return permute(self, *axes)
    def squeeze(self, axis=None, dim=None): return squeeze(self, _axis(axis, dim))
    def unsqueeze(self, axis=None, dim=None): return unsqueeze(self, _axis(axis, dim))
    def expand(self, *shape): return expand(self, *shape)
    def flatten(self, start_dim=0, end_dim=-1): return flatten(self, start_dim, end_dim)
    def split(self, split_size_or_sections, axis=0, dim=None): return split(self, split_size_or_sections, _axis(axis, dim))
    def chunk(self, chunks, axis=0, dim=None): return chunk(self, chunks, _axis(axis, dim))
    def __getitem__(self, index): return GetItem.apply(self, index=index)


#: Wrap an ndarray in a Tensor without copying or checking (the fast path every op takes).
#: Function.apply makes every op output with its first input's ``_wrap``: a plain Tensor, also
#: for ops on a Parameter (as in PyTorch).
make_tensor = tensor_maker(Tensor)
Tensor._wrap = staticmethod(make_tensor)


def _numpy_style(t, op, dtype, out):
    """The tensor a reduction runs on, for the ``dtype=`` / ``out=`` NumPy passes (``np.sum(t)``
    calls ``t.sum(axis=None, dtype=None, out=None)``): dtype casts first, as PyTorch's does."""
    if out is not None:
        raise TypeError(f"{op}: out= is not supported (a tensor op always makes a new tensor): "
                        f"write y = np.{op}(x) or y = x.{op}()")
    return t if dtype is None or np.dtype(dtype) == t.dtype else t.astype(dtype)


def _check_in_place(t, op, other=None):
    """In-place changes are not recorded: refuse one that a gradient would have to go through."""
    if not GradMode.grad_enabled:
        return
    if t.requires_grad:
        what = "a leaf tensor" if t._node is None else f"the output of {t._node.op!r}"
        raise RuntimeError(f"{op}: {what} that requires grad cannot be changed in place while the "
                           f"graph is recorded (in-place ops are never recorded); do the update "
                           f"under mt.no_grad(), or use the out-of-place op ({op[:-1]})")
    if isinstance(other, TensorBase) and other.requires_grad:
        raise RuntimeError(f"{op}: the value requires grad, but an in-place change is not "
                           f"recorded, so no gradient would reach it; use the out-of-place op "
                           f"({op[:-1]})")


def _in_place_operand(t, op, other):
    _check_in_place(t, op, other)
    if isinstance(other, TensorBase) or isinstance(other, np.ndarray):
        return getattr(other, "data", other)
    value = np.asarray(other)
    # A Python number takes the tensor's dtype (weak, as in PyTorch) unless it would lose its
    # kind: 0.5 into an integer tensor is refused by the same_kind cast below.
    if value.dtype.kind in "iub" or t.dtype.kind == "f":
        value = value.astype(t.dtype)
    return value


def _assign(target, value, out, casting):
    np.copyto(out, value, casting=casting)


def _clip_into(low, high):
    def clip(target, value, out, casting):
        np.clip(target, low, high, out=out)
    return clip


def _write_in_place(t, op, ufunc, value):
    """Run ``ufunc(t.data, value, out=t.data)`` and bump the version, or say what was wrong."""
    try:
        ufunc(t.data, value, out=t.data, casting="same_kind")
    except TypeError as error:
        raise TypeError(f"{op}: cannot write {np.asarray(value).dtype} values into a {t.dtype} "
                        f"tensor in place ({error})") from None
    except ValueError as error:
        if not t.data.flags.writeable:
            raise ValueError(f"{op}: this tensor's memory is read-only (an expand() view shares "
                             f"one value among many positions); change a copy") from None
        raise ShapeError(f"{op}: a value of shape {np.shape(value)} cannot be written into a "
                         f"tensor of shape {t.shape} ({error})") from None
    t.bump_version()
    return t
