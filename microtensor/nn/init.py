"""In-place parameter initialisers with PyTorch's names and formulas.

Every random draw comes from the global generator (:func:`microtensor.get_rng`), so
``mt.manual_seed(n)`` reproduces a model's initial weights. Each function fills ``tensor.data`` in
place, keeps its dtype, and returns the tensor.

Example:
    >>> import microtensor as mt
    >>> w = mt.nn.Parameter(mt.zeros(3, 4))
    >>> _ = mt.nn.init.uniform_(w, -0.1, 0.1)
    >>> bool((abs(w.data) <= 0.1).all()), w.dtype
    (True, dtype('float32'))
"""
import math

import numpy as np

from ..creation import get_rng
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_"]


def _array(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{fn}: expected a Tensor or Parameter, got {type(tensor).__name__}")
    if tensor.data.dtype.kind != "f":
        raise TypeError(f"nn.init.{fn}: tensor must be floating point, got {tensor.dtype}")
    return tensor.data


def _fill(tensor, values):
    tensor.data[...] = values.astype(tensor.data.dtype, copy=False)
    return tensor.bump_version()     # an in-place change, as PyTorch's init_ functions are


def _fans(tensor, fn):
    """PyTorch's fan_in / fan_out: dims 1 and 0, times the receptive field (dims 2+)."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"nn.init.{fn}: fan in and fan out need a tensor with at least 2 "
                         f"dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table).

    Example:
        >>> round(calculate_gain("tanh"), 4), calculate_gain("linear")
        (1.6667, 1)
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid")
    if nonlinearity in linear:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with samples from U(a, b).

    Example:
        >>> import microtensor as mt
        >>> w = uniform_(mt.zeros(100), 2.0, 3.0)
        >>> bool(((w.data >= 2) & (w.data < 3)).all())
        True
    """
    data = _array(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"nn.init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill(tensor, get_rng().uniform(a, b, size=data.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples from N(mean, std^2).

    Example:
        >>> import microtensor as mt
        >>> normal_(mt.zeros(2, 3), std=0.02).shape
        (2, 3)
    """
    data = _array(tensor, "normal_")
    if std < 0:
        raise ValueError(f"nn.init.normal_: std must be >= 0, got {std}")
    return _fill(tensor, get_rng().normal(mean, std, size=data.shape))


def constant_(tensor, val):
    """Fill with ``val``.

    Example:
        >>> import microtensor as mt
        >>> constant_(mt.zeros(2), 0.5).data
        array([0.5, 0.5], dtype=float32)
    """
    data = _array(tensor, "constant_")
    data[...] = val
    return tensor.bump_version()


def zeros_(tensor):
    """Fill with 0.

    Example:
        >>> import microtensor as mt
        >>> zeros_(mt.ones(2)).data
        array([0., 0.], dtype=float32)
    """
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with 1.

    Example:
        >>> import microtensor as mt
        >>> ones_(mt.zeros(2)).data
        array([1., 1.], dtype=float32)
    """
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Example:
        >>> import microtensor as mt
        >>> w = xavier_uniform_(mt.zeros(4, 2))      # a = 1
        >>> bool((abs(w.data) <= 1.0).all())
        True
    """
    _array(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Example:
        >>> import microtensor as mt
        >>> xavier_normal_(mt.zeros(4, 2)).shape
        (4, 2)
    """
    _array(tensor, "xavier_normal_")
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan). ``a=sqrt(5)`` gives nn.Linear's default.

    Example:
        >>> import math, microtensor as mt
        >>> w = kaiming_uniform_(mt.zeros(3, 4), a=math.sqrt(5))   # bound 1/sqrt(4)
        >>> bool((abs(w.data) <= 0.5).all())
        True
    """
    _array(tensor, "kaiming_uniform_")
    fan_in, fan_out = _fans(tensor, "kaiming_uniform_")
    fan = _pick_fan(mode, fan_in, fan_out)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan).

    Example:
        >>> import microtensor as mt
        >>> kaiming_normal_(mt.zeros(3, 4), nonlinearity="relu").shape
        (3, 4)
    """
    _array(tensor, "kaiming_normal_")
    fan_in, fan_out = _fans(tensor, "kaiming_normal_")
    fan = _pick_fan(mode, fan_in, fan_out)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def _pick_fan(mode, fan_in, fan_out):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def orthogonal_(tensor, gain=1.0):
    """Fill with a (semi-)orthogonal matrix, as PyTorch does: QR of a Gaussian matrix, with the
    signs fixed by R's diagonal so the result is uniformly distributed; trailing dims flattened.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = orthogonal_(mt.zeros(4, 4, dtype="float64"))
        >>> bool(np.allclose(w.data @ w.data.T, np.eye(4)))
        True
    """
    data = _array(tensor, "orthogonal_")
    if data.ndim < 2:
        raise ValueError(f"nn.init.orthogonal_: need at least 2 dimensions, got shape {data.shape}")
    if data.size == 0:
        return tensor
    rows = data.shape[0]
    cols = data.size // rows
    flat = get_rng().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1
    q = q * signs
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(data.shape))
