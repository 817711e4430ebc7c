"""Matrix multiplication with NumPy's rules (1-d operands, batched leading axes)."""
from inspect import isfunction

import numpy as np

from ..extend import Function, OuterGrad, ShapeError, unbroadcast


_FEW_ROWS = 128      # up to this many rows, x @ W.T is computed as (W @ x.T).T (measured)


def _weight_grad(a, grad):
    """a.T @ grad, lazily when the dtypes agree (see microtensor.extend.OuterGrad)."""
    if a.dtype != grad.dtype:
        return a.T @ grad
    return OuterGrad([a], [grad])


def _product(a, b):
    """a @ b (inner dimensions already checked) by the fastest route for the common shapes."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] <= _FEW_ROWS and b.flags.f_contiguous \
            and not b.flags.c_contiguous:
        # x @ W.T with few rows (an RNN step): OpenBLAS is 1.2-2x faster on W @ x.T, where
        # the big operand is read in its stored order; the result is that product's
        # transposed (F-ordered) view, the same numbers.
        return (b.T @ a.T).T
    if a.ndim > 2 and b.ndim == 2:
        # (..., K) @ (K, N), e.g. a Linear layer over (T, B, K): one GEMM on the flattened
        # rows instead of NumPy's loop of small ones.
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[1],))
    try:
        return a @ b
    except ValueError:
        raise ShapeError(f"matmul: {a.shape} @ {b.shape}: batch dimensions cannot be "
                         f"broadcast together") from None


class MatMul(Function):
    """a @ b. Example: ``x @ w``."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: {a.shape} @ {b.shape}: both operands need at least 1 dimension")
        inner_a = a.shape[-1]
        inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if inner_a != inner_b:
            raise ShapeError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {inner_a} != {inner_b}")
        ctx.save_for_backward(a, b)
        return _product(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # The weight-side gradient a.T @ grad is returned unevaluated (OuterGrad): when the
        # same weight is used at every step of an unroll, the backward pass multiplies all the
        # steps' factors in one GEMM instead of T small ones plus T additions.
        if a.ndim == 2 and b.ndim == 2:   # the common case, without reshaping
            return (grad @ b.T if need_a else None,
                    _weight_grad(a, grad) if need_b else None)
        if a.ndim > 2 and b.ndim == 2:    # (..., K) @ (K, N): flatten the rows, two GEMMs
            rows_a = a.reshape(-1, a.shape[-1])
            rows_g = grad.reshape(-1, grad.shape[-1])
            return ((rows_g @ b.T).reshape(a.shape) if need_a else None,
                    _weight_grad(rows_a, rows_g) if need_b else None)
        # Promote 1-d operands to matrices, as NumPy does, then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # b's axis first: for 1-d @ 1-d the gradient is 0-d and must become (1, 1).
        g2 = grad
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        grad_a = grad_b = None
        if need_a:
            grad_a = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            grad_b = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Linear(Function):
    """``x @ W.T + b`` as one node (PyTorch's ``F.linear``): ``W`` is (out, in), ``b`` (out,) or
    absent, ``x`` (..., in). One op instead of transpose, matmul and add: one output array
    instead of two (the product would be held only as the add's input), and the gradients of
    ``W`` and ``b`` straight from the incoming gradient.

    Example:
        >>> import microtensor as mt
        >>> x, w = mt.ones(2, 3, requires_grad=True), mt.ones(4, 3, requires_grad=True)
        >>> y = Linear.apply(x, w, mt.zeros(4, requires_grad=True))
        >>> y.shape, y.grad_fn.op
        ((2, 4), 'linear')
    """

    @staticmethod
    def forward(ctx, x, w, b=None):
        if w.ndim != 2:
            raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got {w.shape}")
        if x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input's last dimension is {x.shape[-1:]} but weight expects "
                             f"in_features={w.shape[1]} (input shape {x.shape})")
        if b is not None and b.shape != (w.shape[0],):
            raise ShapeError(f"linear: bias must have shape ({w.shape[0]},) (out_features), "
                             f"got {b.shape}")
        ctx.save_for_backward(x, w)
        out = _product(x, w.T)
        if b is not None:
            if out.dtype == b.dtype or np.result_type(out, b) == out.dtype:
                out += b                   # our own fresh product: no second array
            else:
                out = out + b
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        rows_g = grad.reshape(-1, w.shape[0])
        grad_x = (rows_g @ w).reshape(x.shape) if needs[0] else None
        grad_w = _weight_grad(rows_g, x.reshape(-1, w.shape[1])) if needs[1] else None
        if len(needs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, (rows_g.sum(axis=0) if needs[2] else None)


def matmul(a, b):
    """a @ b. Example: ``mt.matmul(mt.ones(2, 3), mt.ones(3, 4)).shape == (2, 4)``"""
    return MatMul.apply(a, b)


# What `import *` (microtensor/__init__.py) exports: the op functions defined here, so a new op's
# function is public without an edit elsewhere. (The classes stay in this module's namespace.)
__all__ = [name for name, value in list(globals().items())
           if isfunction(value) and value.__module__ == __name__ and not name.startswith("_")]
