"""Tensor factories and the seeded random generator.

Every random number in microtensor (``randn``, ``rand``, ``nn.init``, dropout) comes from one
``numpy.random.Generator`` that :func:`manual_seed` resets, so a seed reproduces a run.

Example:
    >>> import microtensor as mt
    >>> mt.manual_seed(0); a = mt.randn(2)
    >>> mt.manual_seed(0); b = mt.randn(2)
    >>> bool((a.data == b.data).all())
    True
"""
import numpy as np

from .core import DEFAULT_FLOAT, check_grad_dtype
from .tensor import make_tensor


class _Random:
    generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the global random generator. Example: ``mt.manual_seed(42)``"""
    _Random.generator = np.random.default_rng(int(seed))


def get_rng():
    """The global ``numpy.random.Generator`` (for code that draws its own random numbers).

    Example:
        >>> import microtensor as mt
        >>> mt.get_rng().integers(0, 10, size=3).shape
        (3,)
    """
    return _Random.generator


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _finish(array, requires_grad, name):
    if requires_grad:
        check_grad_dtype(array.dtype)
    t = make_tensor(array, bool(requires_grad))
    t.name = name
    return t


def _dtype(dtype):
    return DEFAULT_FLOAT if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, requires_grad=False, name=None):
    """Zeros. Example: ``mt.zeros(2, 3)`` or ``mt.zeros((2, 3), dtype="float64")``"""
    return _finish(np.zeros(_shape(shape), dtype=_dtype(dtype)), requires_grad, name)


def ones(*shape, dtype=None, requires_grad=False, name=None):
    """Ones. Example: ``mt.ones(2, 3)``"""
    return _finish(np.ones(_shape(shape), dtype=_dtype(dtype)), requires_grad, name)


def full(shape, fill_value, dtype=None, requires_grad=False, name=None):
    """A tensor filled with ``fill_value``. Example: ``mt.full((2, 2), 7.0)``"""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _finish(np.full(shape, fill_value, dtype=_dtype(dtype)), requires_grad, name)


def zeros_like(t, dtype=None, requires_grad=False):
    """Zeros with ``t``'s shape and dtype. Example: ``mt.zeros_like(mt.ones(2))``"""
    return _finish(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad, None)


def ones_like(t, dtype=None, requires_grad=False):
    """Ones with ``t``'s shape and dtype. Example: ``mt.ones_like(mt.zeros(2))``"""
    return _finish(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad, None)


def eye(n, m=None, dtype=None, requires_grad=False):
    """Identity matrix. Example: ``mt.eye(3)``"""
    return _finish(np.eye(n, m, dtype=_dtype(dtype)), requires_grad, None)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Evenly spaced values; ints give int64, floats float32 (as PyTorch).

    Example:
        >>> import microtensor as mt
        >>> mt.arange(3).dtype, mt.arange(3.0).dtype
        (dtype('int64'), dtype('float32'))
    """
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        values = values.astype(dtype)
    elif values.dtype.kind == "f":
        values = values.astype(DEFAULT_FLOAT)
    return _finish(values, requires_grad, None)


def randn(*shape, dtype=None, requires_grad=False, name=None):
    """Standard normal samples from the seeded generator. Example: ``mt.randn(2, 3)``"""
    values = _Random.generator.standard_normal(_shape(shape)).astype(_dtype(dtype))
    return _finish(values, requires_grad, name)


def rand(*shape, dtype=None, requires_grad=False, name=None):
    """Uniform [0, 1) samples from the seeded generator. Example: ``mt.rand(2, 3)``"""
    values = _Random.generator.random(_shape(shape)).astype(_dtype(dtype))
    return _finish(values, requires_grad, name)
