"""Elementwise ops with NumPy broadcasting. Binary ops share one ``unbroadcast``."""
from inspect import isfunction

import numpy as np

from ..extend import Function, ShapeError, promote, unbroadcast


_CONSTANTS = {}


def _constants(dtype):
    """``(one, half)`` as read-only 0-d arrays of ``dtype``, made once per dtype.

    NumPy 2 converts a Python number operand on every ufunc call; on an LSTM step's small arrays
    that costs about as much as the arithmetic (``a * 0.5`` ~2x ``a * half``, measured on (1, 64)
    float32). A 0-d array of the operand's own dtype gives the same numbers without it.
    """
    pair = _CONSTANTS.get(dtype)
    if pair is None:
        pair = tuple(np.array(v, dtype=dtype) for v in (1, 0.5))
        for c in pair:
            c.flags.writeable = False
        _CONSTANTS[dtype] = pair
    return pair


def _broadcast_error(name, symbol, a, b):
    return ShapeError(f"{name}: {a.shape} {symbol} {b.shape}: shapes cannot be broadcast together")


class Add(Function):
    """a + b. Example: ``x + y``."""

    @staticmethod
    def forward(ctx, a, b):
        if a.dtype is not b.dtype:         # (the common same-dtype call skips the function)
            a, b = promote(a, b)
        if a.shape != b.shape:             # only a broadcasting add keeps the shapes: most
            ctx.shapes = a.shape, b.shape  # adds of an unroll keep nothing on their node
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", "+", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        shapes = getattr(ctx, "shapes", None)
        if shapes is None:                 # no broadcasting: both gradients are grad itself
            return grad if need_a else None, grad if need_b else None
        sa, sb = shapes
        return unbroadcast(grad, sa) if need_a else None, unbroadcast(grad, sb) if need_b else None


class Sub(Function):
    """a - b. Example: ``x - y``."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        ctx.shapes = a.shape, b.shape
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", "-", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(grad, sa) if need_a else None,
                unbroadcast(-grad, sb) if need_b else None)


class Mul(Function):
    """a * b. Example: ``x * y``."""

    @staticmethod
    def forward(ctx, a, b):
        if a.dtype is not b.dtype:
            a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", "*", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            grad_a = grad * b
            if grad_a.shape != a.shape:        # (most products do not broadcast)
                grad_a = unbroadcast(grad_a, a.shape)
        if need_b:
            grad_b = grad * a
            if grad_b.shape != b.shape:
                grad_b = unbroadcast(grad_b, b.shape)
        return grad_a, grad_b


class Div(Function):
    """a / b. Example: ``x / y``."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", "/", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_over_b = grad / b
        return (unbroadcast(grad_over_b, a.shape) if need_a else None,
                unbroadcast(-grad_over_b * a / b, b.shape) if need_b else None)


class Pow(Function):
    """a ** b (the gradient for b needs a > 0). Example: ``x ** 2``."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _broadcast_error("pow", "**", a, b) from None
        if a.dtype.kind in "iub" and b.dtype.kind in "iu" and (b < 0).any():
            # NumPy's rule (an integer result cannot hold 2 ** -1): not a broadcasting problem.
            raise ValueError("integers to negative integer powers are not allowed (NumPy's "
                             "rule); make the base floating point, e.g. x.float() ** -1")
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors[:2]
        out = ctx.saved_tensors[2]
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            # d(a**b)/da = b * a**(b-1), taken as 0 where b == 0 (a**0 is constant), so that
            # x ** 0 at x == 0 does not give 0 * inf = NaN.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                local = b * a ** (b - 1)
            local = np.where(b == 0, np.zeros((), dtype=local.dtype), local)
            grad_a = unbroadcast(grad * local, a.shape)
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            grad_b = unbroadcast(grad * out * log_a, b.shape)
        return grad_a, grad_b


class Maximum(Function):
    """Elementwise maximum; at ties the gradient is split evenly (as PyTorch does).

    Example: ``mt.maximum(x, y)``.
    """

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", ",", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        share_a = (a > b) + 0.5 * (a == b)
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(grad * share_a, a.shape) if need_a else None,
                unbroadcast(grad * (1 - share_a), b.shape) if need_b else None)


class Minimum(Function):
    """Elementwise minimum; at ties the gradient is split evenly. Example: ``mt.minimum(x, y)``."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        try:
            return np.minimum(a, b)
        except ValueError:
            raise _broadcast_error("minimum", ",", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        share_a = (a < b) + 0.5 * (a == b)
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(grad * share_a, a.shape) if need_a else None,
                unbroadcast(grad * (1 - share_a), b.shape) if need_b else None)


class Where(Function):
    """where(cond, a, b): a where cond is true, else b. ``cond`` gets no gradient."""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = cond.astype(bool, copy=False)
        a, b = promote(a, b)
        ctx.save_for_backward(cond)
        ctx.shapes = a.shape, b.shape
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ShapeError(f"where: condition {cond.shape}, a {a.shape}, b {b.shape}: "
                             f"shapes cannot be broadcast together") from None

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        _, need_a, need_b = ctx.needs_input_grad
        zero = np.zeros((), dtype=grad.dtype)
        return (None,
                unbroadcast(np.where(cond, grad, zero), sa) if need_a else None,
                unbroadcast(np.where(cond, zero, grad), sb) if need_b else None)


class Neg(Function):
    """-a. Example: ``-x``."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """exp(a). Example: ``x.exp()``."""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """Natural logarithm. Example: ``x.log()``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    """Square root. Example: ``x.sqrt()``."""

    @staticmethod
    def forward(ctx, a):
        with np.errstate(invalid="ignore"):
            out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Sin(Function):
    """sin(a). Example: ``x.sin()``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class Cos(Function):
    """cos(a). Example: ``x.cos()``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Abs(Function):
    """|a| (gradient 0 at 0, as PyTorch). Example: ``abs(x)``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.sign(a)


class Tanh(Function):
    """Hyperbolic tangent. Example: ``x.tanh()``."""

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        local = np.multiply(out, out)                      # 1 - out^2, in one new buffer
        if not local.ndim:                                 # (0-d: NumPy gives a scalar)
            return grad * (1 - local)
        np.subtract(_constants(out.dtype)[0], local, out=local)
        local *= grad
        return local


class Sigmoid(Function):
    """Logistic sigmoid 1 / (1 + exp(-a)), computed as (1 + tanh(a/2)) / 2: no overflow.

    Example: ``x.sigmoid()``.
    """

    @staticmethod
    def forward(ctx, a):
        if a.dtype.kind == "f" and a.ndim:
            one, half = _constants(a.dtype)
            out = np.multiply(a, half)
            np.tanh(out, out=out)
        else:                       # (0-d gives a NumPy scalar; an integer the default float)
            one, half = 1, 0.5
            out = np.tanh(a * half)
        out += one
        out *= half
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        local = np.subtract(_constants(out.dtype)[0], out)   # (1 - out) out, in one new buffer
        local *= out
        local *= grad
        return local


class Relu(Function):
    """max(a, 0) (gradient 0 at 0). Example: ``x.relu()``."""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class LeakyRelu(Function):
    """a if a > 0 else negative_slope * a. Example: ``x.leaky_relu(0.1)``."""
    name = "leaky_relu"

    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return np.where(a > 0, a, a * np.asarray(negative_slope, dtype=a.dtype))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.where(a > 0, 1, ctx.negative_slope).astype(grad.dtype)


class Softplus(Function):
    """log(1 + exp(a)), computed without overflow. Example: ``x.softplus()``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.logaddexp(0, a).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * ((1 + np.tanh(a * 0.5)) * 0.5)


class Clip(Function):
    """Clamp into [low, high] (either may be None); gradient 1 strictly inside, 0 outside.

    Example: ``x.clip(-1, 1)``.
    """

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        if low is None and high is None:
            # TypeError, like a missing argument (a ValueError would be reported as a shape error).
            raise TypeError("clip: give at least one of min and max")
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        return np.clip(a, low, high).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        inside = np.ones(a.shape, dtype=bool)
        if ctx.low is not None:
            inside &= a >= ctx.low
        if ctx.high is not None:
            inside &= a <= ctx.high
        return grad * inside


class Cast(Function):
    """Convert to another dtype; the gradient is cast back. Example: ``x.astype('float64')``."""

    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


class _Comparison(Function):
    """Comparisons return boolean tensors that carry no gradient.

    Example: ``x < y, x == y (Less, Equal, ...)``.
    """
    compare = None

    @classmethod
    def forward(cls, ctx, a, b):
        try:
            return cls.compare(a, b)
        except ValueError:
            raise _broadcast_error(cls.name, "vs", a, b) from None

    @staticmethod
    def backward(ctx, grad):     # (never called: a boolean output records no node)
        return None, None


class Less(_Comparison):
    name, compare = "lt", staticmethod(np.less)


class LessEqual(_Comparison):
    name, compare = "le", staticmethod(np.less_equal)


class Greater(_Comparison):
    name, compare = "gt", staticmethod(np.greater)


class GreaterEqual(_Comparison):
    name, compare = "ge", staticmethod(np.greater_equal)


class Equal(_Comparison):
    name, compare = "eq", staticmethod(np.equal)


class NotEqual(_Comparison):
    name, compare = "ne", staticmethod(np.not_equal)


# ----- module-level functions: mt.exp(x) is x.exp() ---------------------------------------------
def add(a, b):
    """a + b. Example: ``mt.add(mt.ones(2), 1.0)``"""
    return Add.apply(a, b)


def sub(a, b):
    """a - b. Example: ``mt.sub(mt.ones(2), 1.0)``"""
    return Sub.apply(a, b)


def mul(a, b):
    """a * b. Example: ``mt.mul(mt.ones(2), 3.0)``"""
    return Mul.apply(a, b)


def div(a, b):
    """a / b. Example: ``mt.div(mt.ones(2), 4.0)``"""
    return Div.apply(a, b)


def pow(a, b):
    """a ** b. Example: ``mt.pow(mt.ones(2), 2)``"""
    return Pow.apply(a, b)


def neg(a):
    """-a. Example: ``mt.neg(mt.ones(2))``"""
    return Neg.apply(a)


def exp(a):
    """exp(a). Example: ``mt.exp(mt.zeros(2))``"""
    return Exp.apply(a)


def log(a):
    """log(a). Example: ``mt.log(mt.ones(2))``"""
    return Log.apply(a)


def sqrt(a):
    """sqrt(a). Example: ``mt.sqrt(mt.ones(2))``"""
    return Sqrt.apply(a)


def sin(a):
    """sin(a). Example: ``mt.sin(mt.zeros(2))``"""
    return Sin.apply(a)


def cos(a):
    """cos(a). Example: ``mt.cos(mt.zeros(2))``"""
    return Cos.apply(a)


def abs(a):
    """|a|. Example: ``mt.abs(mt.tensor([-1.0]))``"""
    return Abs.apply(a)


def tanh(a):
    """tanh(a). Example: ``mt.tanh(mt.zeros(2))``"""
    return Tanh.apply(a)


def sigmoid(a):
    """1 / (1 + exp(-a)). Example: ``mt.sigmoid(mt.zeros(2))``"""
    return Sigmoid.apply(a)


def relu(a):
    """max(a, 0). Example: ``mt.relu(mt.tensor([-1.0, 2.0]))``"""
    return Relu.apply(a)


def leaky_relu(a, negative_slope=0.01):
    """Leaky ReLU. Example: ``mt.leaky_relu(mt.tensor([-1.0]), 0.1)``"""
    return LeakyRelu.apply(a, negative_slope=negative_slope)


def softplus(a):
    """log(1 + exp(a)). Example: ``mt.softplus(mt.zeros(2))``"""
    return Softplus.apply(a)


def clip(a, min=None, max=None):
    """Clamp into [min, max]. Example: ``mt.clip(mt.tensor([-2.0, 2.0]), -1, 1)``"""
    return Clip.apply(a, low=min, high=max)


def maximum(a, b):
    """Elementwise maximum. Example: ``mt.maximum(mt.ones(2), 0.5)``"""
    return Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise minimum. Example: ``mt.minimum(mt.ones(2), 0.5)``"""
    return Minimum.apply(a, b)


def where(cond, a, b):
    """``a`` where ``cond`` else ``b`` (no gradient for cond).

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([-1.0, 2.0])
        >>> mt.where(x > 0, x, 0.0)
        tensor([0., 2.], dtype=float32)
    """
    # A Python number takes the dtype of the floating-point operand, not cond's bool (see
    # Function.apply), so `where(x > 0, x, 0)` keeps a float32 x float32.
    return Where.apply(cond, a, b)


# What `import *` (microtensor/__init__.py) exports: the op functions defined here, so a new op's
# function is public without an edit elsewhere. (The classes stay in this module's namespace.)
__all__ = [name for name, value in list(globals().items())
           if isfunction(value) and value.__module__ == __name__ and not name.startswith("_")]
