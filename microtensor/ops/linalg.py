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
        if a.ndim == 2 and b.ndim == 2 and a.shape[0] <= _FEW_ROWS and b.flags.f_contiguous \
                and not b.flags.c_contiguous:
            # x @ W.T with few rows (an RNN step): OpenBLAS is 1.2-2x faster on W @ x.T, where
            # the big operand is read in its stored order; the result is that product's
            # transposed (F-ordered) view, the same numbers.
            return (b.T @ a.T).T
        if a.ndim > 2 and b.ndim == 2:
            # (..., K) @ (K, N), e.g. a Linear layer over (T, B, K): one GEMM on the flattened
            # rows instead of NumPy's loop of small ones.
            return (a.reshape(-1, inner_a) @ b).reshape(a.shape[:-1] + (b.shape[1],))
        try:
            return a @ b
        except ValueError:
            raise ShapeError(f"matmul: {a.shape} @ {b.shape}: batch dimensions cannot be "
                             f"broadcast together") from None

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


def matmul(a, b):
    """a @ b. Example: ``mt.matmul(mt.ones(2, 3), mt.ones(3, 4)).shape == (2, 4)``"""
    return MatMul.apply(a, b)


# What `import *` (microtensor/__init__.py) exports: the op functions defined here, so a new op's
# function is public without an edit elsewhere. (The classes stay in this module's namespace.)
__all__ = [name for name, value in list(globals().items())
           if isfunction(value) and value.__module__ == __name__ and not name.startswith("_")]
