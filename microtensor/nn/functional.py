"""Stateless layer and loss functions, named and behaving as ``torch.nn.functional``.

Losses and normalisation are fused ops (one graph node each, hand-derived backward, stable for
extreme inputs); ``linear``, ``mse_loss`` and the activations are composites of primitive ops.

Example:
    >>> import microtensor as mt
    >>> import microtensor.nn.functional as F
    >>> logits = mt.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    >>> loss = F.cross_entropy(logits, mt.tensor([0]))
    >>> loss.backward()
    >>> round(loss.item(), 4), logits.grad.shape
    (0.1698, (1, 3))
"""
import numpy as np

from ..creation import get_rng
from ..ops import nn as nn_ops
from ..ops.elementwise import leaky_relu, relu, sigmoid, softplus, tanh
from ..ops.linalg import Linear as LinearOp
from ..ops.reduce import log_softmax as _log_softmax
from ..ops.reduce import softmax as _softmax
from ..tensor import Tensor, tensor

__all__ = ["linear", "embedding", "layer_norm", "dropout", "softmax", "log_softmax",
           "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
           "relu", "tanh", "sigmoid", "leaky_relu", "softplus"]


def _as_tensor(x, what):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float, np.number)):
        return tensor(x)
    raise TypeError(f"{what} must be a Tensor or array-like, got {type(x).__name__}")


def _check_reduction(reduction, fn):
    # Checked here, before the op runs, so the error is not reported as an operand-shape problem.
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{fn}: reduction must be one of ('none', 'mean', 'sum'), not {reduction!r}")


def _as_array(x):
    return None if x is None else np.asarray(x.data if isinstance(x, Tensor) else x)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features), recorded
    as ONE node ``linear`` (as PyTorch records one ``AddmmBackward``).

    Example:
        >>> import microtensor as mt
        >>> y = linear(mt.ones(2, 3), mt.ones(4, 3, requires_grad=True), mt.zeros(4))
        >>> y.shape, y.grad_fn.op
        ((2, 4), 'linear')
    """
    if bias is None:
        return LinearOp.apply(input, weight)
    return LinearOp.apply(input, weight, bias)


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` picked by the integer tensor ``input``; output shape input.shape + (dim,).

    Repeated indices accumulate their gradients; the ``padding_idx`` row gets none.

    Example:
        >>> import microtensor as mt
        >>> table = mt.randn(10, 4, requires_grad=True)
        >>> embedding(mt.tensor([[1, 2], [3, 1]]), table).shape
        (2, 2, 4)
    """
    idx = _as_tensor(input, "embedding: input")
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} out of range for {n} rows")
        padding_idx = padding_idx % n
    return nn_ops.Embedding.apply(weight, idx, padding_idx=padding_idx)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` axes, then scale and shift.

    Example:
        >>> import microtensor as mt
        >>> y = layer_norm(mt.tensor([[1.0, 2.0, 3.0]]), (3,))
        >>> [round(v, 3) for v in y.data[0].tolist()]
        [-1.225, 0.0, 1.225]
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise ValueError(f"layer_norm: input of shape {input.shape} does not end with the "
                         f"normalized_shape {shape}")
    if weight is None and bias is not None:
        weight = np.ones(shape, dtype=input.dtype)   # bias without weight: scale by one
    affine = [a for a in (weight, bias) if a is not None]
    return nn_ops.LayerNorm.apply(input, *affine, normalized_ndim=len(shape), eps=eps)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) in training;
    the identity otherwise. The mask comes from the global generator (``mt.manual_seed``).

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(1000)
        >>> kept = float((dropout(x, 0.25).data > 0).mean())
        >>> 0.65 < kept < 0.85, dropout(x, 0.25, training=False) is x
        (True, True)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        mask = np.zeros(input.shape, dtype=bool)
        scale = 0.0
    else:
        mask = get_rng().random(input.shape) >= p
        scale = 1.0 / (1.0 - p)
    return nn_ops.Dropout.apply(input, mask=mask, scale=scale)


def softmax(input, dim=-1):
    """Stable softmax along ``dim``.

    Example:
        >>> import microtensor as mt
        >>> softmax(mt.zeros(1, 4), dim=-1).data
        array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """
    return _softmax(input, axis=dim)


def log_softmax(input, dim=-1):
    """Stable log-softmax along ``dim`` (a fused op).

    Example:
        >>> import microtensor as mt
        >>> round(log_softmax(mt.tensor([0.0, 0.0]), dim=0).data[0].item(), 4)
        -0.6931
    """
    return _log_softmax(input, axis=dim)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)`` against class indices.

    Args:
        input: unnormalised logits, class axis 1 (or 0 for a single sample).
        target: integer class indices, shape ``(N,)`` / ``()`` / ``(N, d1, ...)``.
        weight: optional per-class weights, shape ``(C,)``.
        ignore_index: targets equal to this contribute nothing (and are not counted by ``mean``).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        label_smoothing: e in [0, 1]: the target is (1 - e) one-hot + e / C uniform.

    Example:
        >>> import microtensor as mt
        >>> logits = mt.tensor([[1e4, 0.0], [0.0, 0.0]], requires_grad=True)
        >>> cross_entropy(logits, mt.tensor([1, -100]), reduction="sum").item()
        10000.0
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return nn_ops.CrossEntropy.apply(input, _as_tensor(target, "cross_entropy: target"),
                                     weight=_as_array(weight), ignore_index=ignore_index,
                                     reduction=reduction, label_smoothing=float(label_smoothing))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (e.g. the output of ``log_softmax``).

    Example:
        >>> import microtensor as mt
        >>> logp = log_softmax(mt.tensor([[0.0, 0.0]]), dim=1)
        >>> round(nll_loss(logp, mt.tensor([1])).item(), 4)
        0.6931
    """
    _check_reduction(reduction, "nll_loss")
    return nn_ops.NLLLoss.apply(input, _as_tensor(target, "nll_loss: target"),
                                weight=_as_array(weight), ignore_index=ignore_index,
                                reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced by ``reduction``.

    Example:
        >>> import microtensor as mt
        >>> mse_loss(mt.tensor([1.0, 3.0]), mt.tensor([0.0, 0.0])).item()
        5.0
    """
    _check_reduction(reduction, "mse_loss")
    target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
    if tuple(target_shape) != tuple(input.shape):
        raise ValueError(f"mse_loss: target shape {tuple(target_shape)} must equal input shape "
                         f"{input.shape}")
    diff = input - target
    sq = diff * diff
    return sq if reduction == "none" else sq.sum() if reduction == "sum" else sq.mean()


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable op (finite for logits of +-1e4).

    Args:
        input: logits of any shape; target: probabilities in [0, 1] of the same shape.
        weight: optional rescaling, broadcast against the input (may require grad).
        pos_weight: optional weight of positive examples, broadcast along the last axis.

    Example:
        >>> import microtensor as mt
        >>> round(binary_cross_entropy_with_logits(mt.tensor([0.0]), mt.tensor([1.0])).item(), 4)
        0.6931
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = _as_tensor(target, "binary_cross_entropy_with_logits: target")
    inputs = (input, target) if weight is None else (input, target, weight)
    return nn_ops.BinaryCrossEntropyWithLogits.apply(*inputs, pos_weight=_as_array(pos_weight),
                                                     reduction=reduction)
