"""Reductions and the softmax family. ``axis`` is None (all), an int or a tuple of ints."""
from inspect import isfunction

import numpy as np

from ..extend import Function, ShapeError, axis_or_dim


def _normalize_axis(axis, ndim, op):
    """``axis`` as a sorted tuple of non-negative ints, or a ShapeError naming the op."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    span = ndim if ndim > 1 else 1   # not max(): this module defines its own max (the op)
    for a in axes:
        if not -span <= a < span:
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % span)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else ()


def _expand_back(grad, shape, axes, keepdims):
    """Put back the reduced axes of ``grad`` (as size 1) so it broadcasts against ``shape``."""
    if not keepdims and axes:
        grad = np.expand_dims(grad, axes)
    return grad


class Sum(Function):
    """Sum over ``axis``."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _normalize_axis(axis, a.ndim, "sum")
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return np.sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        grad = _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims)
        return np.broadcast_to(grad, ctx.shape).copy()


class Mean(Function):
    """Mean over ``axis``."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _normalize_axis(axis, a.ndim, "mean")
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        ctx.count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        return np.mean(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        grad = _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims)
        return np.broadcast_to(grad / np.asarray(ctx.count, dtype=grad.dtype), ctx.shape).copy()


class _Extremum(Function):
    """Max or min over ``axis``; ties share the gradient evenly (like PyTorch's amax/amin)."""
    reduce = None

    @classmethod
    def forward(cls, ctx, a, axis=None, keepdims=False):
        axes = _normalize_axis(axis, a.ndim, cls.name)
        if a.size == 0:
            raise ShapeError(f"{cls.name}: cannot reduce an empty tensor of shape {a.shape}")
        out = cls.reduce(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        grad = _expand_back(grad, a.shape, ctx.axes, ctx.keepdims)
        hit = a == out
        return grad * hit / hit.sum(axis=ctx.axes, keepdims=True).astype(grad.dtype)


class Max(_Extremum):
    name, reduce = "max", staticmethod(np.max)


class Min(_Extremum):
    name, reduce = "min", staticmethod(np.min)


class Var(Function):
    """Variance over ``axis`` with ``ddof`` (0: population variance, as NumPy's default)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, ddof=0):
        axes = _normalize_axis(axis, a.ndim, "var")
        count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        if count - ddof <= 0:
            raise ShapeError(f"var: {count} elements along axis {axis} with ddof={ddof}")
        centered = a - a.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.keepdims, ctx.divisor = axes, keepdims, count - ddof
        return np.sum(centered * centered, axis=axes, keepdims=keepdims) / np.asarray(
            count - ddof, dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_tensors
        grad = _expand_back(grad, centered.shape, ctx.axes, ctx.keepdims)
        return grad * centered * np.asarray(2.0 / ctx.divisor, dtype=grad.dtype)


def _move_to_end(a, axes):
    """``a`` with ``axes`` moved to the end and merged into one: shape (..., prod(sizes))."""
    moved = np.moveaxis(a, axes, range(a.ndim - len(axes), a.ndim))
    return moved.reshape(moved.shape[:a.ndim - len(axes)] + (-1,)), moved.shape


class Prod(Function):
    """Product over ``axis``. The gradient of each element is the product of the OTHER elements
    (prefix times suffix products, no division), so zeros are exact: one zero gives its position
    the product of the rest and the others 0; two zeros give 0 everywhere.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> x.prod().backward()
        >>> x.grad
        array([0., 6., 0.], dtype=float32)
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _normalize_axis(axis, a.ndim, "prod")
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdims = axes, keepdims
        return np.prod(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        axes = ctx.axes
        grad = _expand_back(grad, a.shape, axes, ctx.keepdims)
        rows, moved_shape = _move_to_end(a, axes)                 # (..., n)
        ones = np.ones(rows.shape[:-1] + (1,), dtype=a.dtype)
        before = np.cumprod(np.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, rows[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = (before * after).reshape(moved_shape)
        others = np.moveaxis(others, range(a.ndim - len(axes), a.ndim), axes)
        return grad * others


class Cumsum(Function):
    """Cumulative sum along ``axis`` (None: over the flattened tensor, as NumPy).

    Example:
        >>> import microtensor as mt
        >>> mt.tensor([1.0, 2.0, 3.0]).cumsum(axis=0)
        tensor([1., 3., 6.], dtype=float32)
    """

    @staticmethod
    def forward(ctx, a, axis=None):
        ctx.shape = a.shape
        if axis is None:
            ctx.axis = None
            return np.cumsum(a.reshape(-1))
        (ctx.axis,) = _normalize_axis(axis, a.ndim, "cumsum") or (0,)
        if a.ndim == 0:
            return a.copy()
        return np.cumsum(a, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        # Each input element feeds every later output: the reversed cumulative sum of grad.
        if ctx.axis is None or grad.ndim == 0:
            return np.cumsum(grad.reshape(-1)[::-1])[::-1].reshape(ctx.shape)
        flipped = np.flip(grad, axis=ctx.axis)
        return np.flip(np.cumsum(flipped, axis=ctx.axis), axis=ctx.axis)


class LogSumExp(Function):
    """log(sum(exp(a))) over ``axis``, shifted by the max so it never overflows."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _normalize_axis(axis, a.ndim, "logsumexp")
        shift = np.max(a, axis=axes, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)
        out = np.log(np.sum(np.exp(a - shift), axis=axes, keepdims=True)) + shift
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        grad = _expand_back(grad, a.shape, ctx.axes, ctx.keepdims)
        return grad * np.exp(a - out)


class Softmax(Function):
    """exp(a) / sum(exp(a)) along one axis, shifted by the max. Example: ``x.softmax(axis=-1)``."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        (axis,) = _normalize_axis(axis, a.ndim, "softmax") or (None,)
        e = np.exp(a - np.max(a, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        gy = grad * out
        return gy - out * np.sum(gy, axis=ctx.axis, keepdims=True)


class LogSoftmax(Function):
    """a - logsumexp(a) along one axis: stable for any finite logits.

    Example: ``x.log_softmax(axis=-1)``.
    """
    name = "log_softmax"

    @staticmethod
    def forward(ctx, a, axis=-1):
        (axis,) = _normalize_axis(axis, a.ndim, "log_softmax") or (None,)
        shifted = a - np.max(a, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * np.sum(grad, axis=ctx.axis, keepdims=True)


def sum(a, axis=None, keepdims=False, dim=None):
    """Sum over ``axis`` (alias ``dim``). Example: ``mt.sum(mt.ones(2, 3), axis=1)``"""
    return Sum.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def mean(a, axis=None, keepdims=False, dim=None):
    """Mean over ``axis``. Example: ``mt.mean(mt.ones(2, 3), axis=0)``"""
    return Mean.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def max(a, axis=None, keepdims=False, dim=None):
    """Max over ``axis``. Example: ``mt.max(mt.arange(3.0))``"""
    return Max.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def min(a, axis=None, keepdims=False, dim=None):
    """Min over ``axis``. Example: ``mt.min(mt.arange(3.0))``"""
    return Min.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def var(a, axis=None, keepdims=False, dim=None, ddof=0):
    """Variance over ``axis``. Example: ``mt.var(mt.arange(4.0))``"""
    return Var.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims, ddof=ddof)


def std(a, axis=None, keepdims=False, dim=None, ddof=0):
    """Standard deviation over ``axis``: ``sqrt(var)``, with ``ddof`` (0: NumPy's default; PyTorch's
    ``unbiased=True`` is ``ddof=1``). A composite: its graph is ``var`` then ``sqrt``.

    Example:
        >>> import microtensor as mt
        >>> mt.std(mt.tensor([1.0, 3.0]))
        tensor(1., dtype=float32)
    """
    return Var.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims, ddof=ddof).sqrt()


def prod(a, axis=None, keepdims=False, dim=None):
    """Product over ``axis`` (zeros included). Example: ``mt.prod(mt.tensor([2.0, 3.0]))``"""
    return Prod.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def cumsum(a, axis=None, dim=None):
    """Cumulative sum along ``axis``. Example: ``mt.cumsum(mt.ones(3), axis=0)``"""
    return Cumsum.apply(a, axis=axis_or_dim(axis, dim))


def logsumexp(a, axis=None, keepdims=False, dim=None):
    """Stable log-sum-exp. Example: ``mt.logsumexp(mt.zeros(2, 3), axis=-1)``"""
    return LogSumExp.apply(a, axis=axis_or_dim(axis, dim), keepdims=keepdims)


def softmax(a, axis=None, dim=None):
    """Stable softmax along ``axis``. Example: ``mt.softmax(mt.zeros(2, 3), axis=-1)``"""
    return Softmax.apply(a, axis=axis_or_dim(axis, dim, -1))


def log_softmax(a, axis=None, dim=None):
    """Stable log-softmax along ``axis``. Example: ``mt.log_softmax(mt.zeros(2, 3))``"""
    return LogSoftmax.apply(a, axis=axis_or_dim(axis, dim, -1))


# What `import *` (microtensor/__init__.py) exports: the op functions defined here, so a new op's
# function is public without an edit elsewhere. (The classes stay in this module's namespace.)
__all__ = [name for name, value in list(globals().items())
           if isfunction(value) and value.__module__ == __name__ and not name.startswith("_")]
