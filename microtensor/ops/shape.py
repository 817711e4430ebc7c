"""Shape ops: reshape, transpose, expand, indexing, cat, stack, and composites built from them."""
from inspect import isfunction

import numpy as np

from ..extend import Function, IndexedGrad, ShapeError, unbroadcast


def _check_axis(axis, ndim, op, shape):
    """``axis`` as a non-negative int, or a ShapeError naming the op (never a silent wrap)."""
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of shape {shape}")
    return int(axis) % max(ndim, 1)


def _shape_arg(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """View the data with a new shape (same number of elements; one -1 is inferred).

    Example: ``x.reshape(2, 3)``.
    """

    @staticmethod
    def forward(ctx, a, shape=()):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {a.shape} ({a.size} elements) "
                             f"into {shape}") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Transpose(Function):
    """Permute the axes (``axes[i]`` is the input axis that becomes output axis i)."""

    @staticmethod
    def forward(ctx, a, axes=None):
        if axes is None:
            axes = tuple(reversed(range(a.ndim)))
        if len(axes) != a.ndim or not all(-a.ndim <= x < a.ndim for x in axes) or \
                sorted(int(x) % a.ndim for x in axes) != list(range(a.ndim)):
            raise ShapeError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{a.ndim} axes of a tensor of shape {a.shape}")
        axes = tuple(int(x) % a.ndim for x in axes)
        inverse = [0] * len(axes)          # (np.argsort on a tuple costs more than the op)
        for position, axis in enumerate(axes):
            inverse[axis] = position
        ctx.inverse = tuple(inverse)
        return a.transpose(axes)

    accepts_outer_grad = True      # a lazy weight gradient transposes by swapping its factors

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(ctx.inverse)


class Expand(Function):
    """Broadcast to a larger shape without copying (-1 keeps a dimension).

    Example: ``x.expand(4, 3)``.
    """

    @staticmethod
    def forward(ctx, a, shape=()):
        lead = len(shape) - a.ndim
        if lead < 0:
            raise ShapeError(f"expand: cannot expand {a.shape} to fewer dimensions {shape}")
        if any(s == -1 for s in shape[:lead]):
            raise ShapeError(f"expand: cannot expand {a.shape} to {shape}: -1 (keep the size) "
                             f"is only allowed for existing axes, not new leading ones")
        shape = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        ctx.shape = a.shape
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(f"expand: cannot expand {a.shape} to {shape} (only size-1 axes "
                             f"can grow)") from None

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)


def _is_int(item):
    return type(item) is int or isinstance(item, np.integer)


def _plain_index(index):
    """The index as NumPy takes it, and whether it is 'advanced' (holds an index array).

    A Tensor, a list or a tuple inside an index is an index array, as in NumPy and PyTorch:
    ``x[(0, 0), :]`` takes row 0 twice, exactly like ``x[[0, 0], :]``.
    """
    if type(index) is tuple:
        for item in index:                 # the common x[:, a:b] / x[t]: nothing to convert
            if type(item) is not slice and type(item) is not int:
                break
        else:
            return index, False
    elif type(index) is int or type(index) is slice:
        return index, False
    items = index if type(index) is tuple else (index,)
    converted, advanced = [], False
    for item in items:
        data = getattr(item, "data", None)
        if isinstance(data, np.ndarray) and not isinstance(item, np.ndarray):
            item = data                    # a Tensor
        if isinstance(item, (list, tuple)):
            item = np.asarray(item)
            if item.size == 0 and item.dtype.kind == "f":
                item = item.astype(np.intp)    # `x[[]]` selects nothing, as in NumPy
        if isinstance(item, np.ndarray):
            if item.dtype.kind not in "iub":
                raise TypeError(f"getitem: index arrays must hold integers or booleans, not "
                                f"{item.dtype}")
            advanced = True
        elif isinstance(item, (bool, np.bool_)):
            advanced = True                # x[True] adds an axis, as a 0-d boolean mask
        converted.append(item)
    index = tuple(converted) if type(index) is tuple else converted[0]
    if advanced and type(index) is tuple and any(_is_int(item) for item in index):
        return index, "mixed"
    return index, advanced


def _pytorch_order(shape, index):
    """``probe[index]`` as PyTorch computes it, for a probe of ``shape`` holding each element's
    position: integers are applied first (they select), then the rest; NumPy instead treats the
    integers as index arrays, which can move the advanced axes to the front."""
    first, rest = [], []
    for item in index:
        if _is_int(item):
            first.append(item)
        elif item is None or item is Ellipsis:
            first.append(item)
            rest.append(slice(None) if item is None else Ellipsis)
        else:
            width = item.ndim if isinstance(item, np.ndarray) and item.dtype.kind == "b" else 1
            first.extend([slice(None)] * width)
            rest.append(item)
    probe = np.arange(int(np.prod(shape))).reshape(shape)
    return probe[tuple(first)][tuple(rest)], probe[index]


class _AmbiguousIndex(IndexError):
    """An index NumPy and PyTorch read differently (see GetItem)."""


class GetItem(Function):
    """``a[index]``: ints, slices, None, Ellipsis, integer arrays, lists, tuples and nested lists
    inside the index, Tensors and boolean masks, as NumPy and PyTorch do.

    Repeated integer indices accumulate their gradients. The one form on which NumPy and PyTorch
    disagree (an integer and an index array separated by a slice: ``x[0, :, [0, 1]]``, where
    NumPy puts the indexed axis first and PyTorch does not) raises an IndexError saying how to
    write either.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, 3, requires_grad=True)
        >>> x[(0, 0), :].sum().backward()
        >>> x.grad[0]
        array([2., 2., 2.], dtype=float32)
    """

    @staticmethod
    def forward(ctx, a, index=None):
        index, advanced = _plain_index(index)
        ctx.shape, ctx.index, ctx.advanced = a.shape, index, bool(advanced)
        try:
            if advanced == "mixed":
                pytorch, numpy = _pytorch_order(a.shape, index)
                if pytorch.shape != numpy.shape or not np.array_equal(pytorch, numpy):
                    raise _AmbiguousIndex(
                        f"getitem: index {index!r} mixes an integer and an index array "
                        f"separated by a slice, where NumPy (result shape {numpy.shape}) and "
                        f"PyTorch (result shape {pytorch.shape}) order the result's axes "
                        f"differently; apply the integer first (x[0][:, idx], PyTorch's order) "
                        f"or make it a list (x[[0], :, idx], NumPy's)")
            return a[index]
        except _AmbiguousIndex:
            raise
        except IndexError as error:
            raise ShapeError(f"getitem: index {index!r} does not fit shape {a.shape}: {error}") from None

    @staticmethod
    def backward(ctx, grad):
        # Not a dense zeros-with-a-hole: the backward pass adds `grad` into one shared buffer,
        # so taking x[t] for every t of a (T, ...) tensor costs O(T), not O(T^2).
        return IndexedGrad(ctx.shape, ctx.index, grad, ctx.advanced)


class Cat(Function):
    """Join tensors along an existing axis. Example: ``mt.cat([x, y], axis=0)``."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ShapeError("cat: needs at least one tensor")
        ndim = arrays[0].ndim
        if ndim == 0:
            raise ShapeError("cat: cannot concatenate 0-d tensors (use stack)")
        axis = _check_axis(axis, ndim, "cat", arrays[0].shape)
        for a in arrays:
            if a.ndim != ndim or a.shape[:axis] + a.shape[axis + 1:] != \
                    arrays[0].shape[:axis] + arrays[0].shape[axis + 1:]:
                raise ShapeError(f"cat: shapes {[x.shape for x in arrays]} differ outside axis {axis}")
        ctx.axis = axis
        ctx.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """Join same-shaped tensors along a new axis. Example: ``mt.stack([x, y])``."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ShapeError("stack: needs at least one tensor")
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ShapeError(f"stack: all shapes must be equal, got {[a.shape for a in arrays]}")
        out = np.stack(arrays, axis=axis)
        ctx.axis = axis % out.ndim
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))


class Split(Function):
    """Cut along ``axis`` into pieces of the given ``sizes``: one node, one output per piece.

    Example:
        >>> import microtensor as mt
        >>> i, f = Split.apply(mt.zeros(2, 6, requires_grad=True), sizes=(4, 2), axis=1)
        >>> i.shape, f.shape, i.grad_fn is f.grad_fn
        ((2, 4), (2, 2), True)
    """

    @staticmethod
    def forward(ctx, a, sizes=(), axis=0):
        # Basic slices (views), not np.split: for the few small pieces of an LSTM's gates the
        # loop is several times faster (measured by stream perf).
        prefix = (slice(None),) * axis
        pieces, start = [], 0
        for size in sizes:
            pieces.append(a[prefix + (slice(start, start + size),)])
            start += size
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):            # (zeros for a piece nobody used)
        # A piece differs from the input only along the split axis, so the axis is read from
        # the shapes rather than kept on ctx (one attribute dict less per step of an LSTM).
        # (With one piece the axis does not matter; with several, one differs from the input.)
        shape = ctx.input_shapes[0]
        axis = next((d for g in grads for d, size in enumerate(g.shape) if size != shape[d]), 0)
        return np.concatenate(grads, axis=axis)


# ----- functions (also the Tensor methods) -----------------------------------------------------
def reshape(a, *shape):
    """Reshape; accepts ``reshape(a, 2, 3)`` and ``reshape(a, (2, 3))``.

    Example:
        >>> import microtensor as mt
        >>> mt.arange(6.0).reshape(2, 3).shape
        (2, 3)
    """
    return Reshape.apply(a, shape=_shape_arg(shape))


def transpose(a, *axes):
    """Transpose. No axes: reverse them. Two axes: swap them (PyTorch's ``transpose(d0, d1)``).
    All axes: permute (NumPy's ``transpose(axes)``).

    Example:
        >>> import microtensor as mt
        >>> mt.zeros(2, 3, 4).transpose(0, 2).shape
        (4, 3, 2)
    """
    axes = _shape_arg(axes) if axes else None
    ndim = a.ndim
    # Two axes always mean "swap" (PyTorch), also on a 2-d tensor, where NumPy's reading of
    # (0, 1) as a permutation would silently do nothing.
    if axes is not None and len(axes) == 2:
        d0, d1 = (_check_axis(x, ndim, "transpose", a.shape) for x in axes)
        perm = list(range(ndim))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        axes = tuple(perm)
    return Transpose.apply(a, axes=axes)


def permute(a, *axes):
    """Reorder all axes. Example: ``mt.zeros(2, 3, 4).permute(2, 0, 1).shape == (4, 2, 3)``"""
    return Transpose.apply(a, axes=_shape_arg(axes))


def squeeze(a, axis=None):
    """Remove size-1 axes (all of them, or ``axis``, which must have size 1).

    Example:
        >>> import microtensor as mt
        >>> mt.zeros(1, 3, 1).squeeze().shape
        (3,)
    """
    shape = a.shape
    if axis is None:
        new = tuple(s for s in shape if s != 1)
    else:
        axes = {_check_axis(x, len(shape), "squeeze", shape)
                for x in ((axis,) if isinstance(axis, (int, np.integer)) else axis)}
        for x in axes:
            if shape[x] != 1:
                raise ShapeError(f"squeeze: axis {x} of shape {shape} has size {shape[x]}, not 1")
        new = tuple(s for i, s in enumerate(shape) if i not in axes)
    return Reshape.apply(a, shape=new)


def unsqueeze(a, axis):
    """Insert a size-1 axis at ``axis``. Example: ``mt.zeros(3).unsqueeze(0).shape == (1, 3)``"""
    if axis is None:
        raise TypeError("unsqueeze needs an axis")
    ndim = a.ndim + 1
    if not -ndim <= axis < ndim:
        raise ShapeError(f"unsqueeze: axis {axis} out of range for {a.ndim}-d shape {a.shape}")
    shape = list(a.shape)
    shape.insert(axis % ndim, 1)
    return Reshape.apply(a, shape=tuple(shape))


def expand(a, *shape):
    """Broadcast size-1 axes to ``shape`` (-1 keeps one). Example: ``mt.ones(1, 3).expand(2, 3)``"""
    return Expand.apply(a, shape=_shape_arg(shape))


def flatten(a, start_dim=0, end_dim=-1):
    """Merge axes ``start_dim..end_dim`` into one.

    Example: ``mt.zeros(2, 3, 4).flatten(1).shape == (2, 12)``
    """
    shape = a.shape
    if not shape:
        return Reshape.apply(a, shape=(1,))
    start = _check_axis(start_dim, len(shape), "flatten", shape)
    end = _check_axis(end_dim, len(shape), "flatten", shape)
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for shape {shape}")
    merged = int(np.prod(shape[start:end + 1]))
    return Reshape.apply(a, shape=shape[:start] + (merged,) + shape[end + 1:])


def cat(tensors, axis=0, dim=None):
    """Concatenate along an existing axis.

    Example:
        >>> import microtensor as mt
        >>> mt.cat([mt.zeros(2, 3), mt.ones(2, 1)], axis=1).shape
        (2, 4)
    """
    return Cat.apply(*tensors, axis=axis if dim is None else dim)


def stack(tensors, axis=0, dim=None):
    """Stack along a new axis. Example: ``mt.stack([mt.zeros(3), mt.ones(3)]).shape == (2, 3)``"""
    return Stack.apply(*tensors, axis=axis if dim is None else dim)


def split(a, split_size_or_sections, axis=0):
    """Split into pieces of ``split_size`` (last may be smaller) or of the listed sizes (PyTorch).

    The pieces are the outputs of ONE ``split`` node (a drawing shows one op with its pieces).

    Example:
        >>> import microtensor as mt
        >>> [p.shape for p in mt.arange(5.0).split(2)]
        [(2,), (2,), (1,)]
    """
    axis = _check_axis(axis, a.ndim, "split", a.shape)
    length = a.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: size must be positive, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (length // split_size_or_sections)
        if length % split_size_or_sections:
            sizes.append(length % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise ShapeError(f"split: sizes {sizes} sum to {sum(sizes)}, but axis {axis} of "
                             f"shape {a.shape} has {length}")
    return Split.apply(a, sizes=tuple(map(int, sizes)), axis=axis)


def chunk(a, chunks, axis=0):
    """Split into ``chunks`` nearly equal pieces (PyTorch's chunk).

    Example:
        >>> import microtensor as mt
        >>> [p.shape for p in mt.zeros(4, 6).chunk(3, axis=1)]
        [(4, 2), (4, 2), (4, 2)]
    """
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    axis = _check_axis(axis, a.ndim, "chunk", a.shape)
    length = a.shape[axis]
    return split(a, max(-(-length // chunks), 1), axis)


# What `import *` (microtensor/__init__.py) exports: the op functions defined here, so a new op's
# function is public without an edit elsewhere. (The classes stay in this module's namespace.)
__all__ = [name for name, value in list(globals().items())
           if isfunction(value) and value.__module__ == __name__ and not name.startswith("_")]
