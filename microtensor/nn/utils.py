"""Gradient clipping, as ``torch.nn.utils``: one global norm over all parameters.

Example:
    >>> import numpy as np, microtensor as mt
    >>> w = mt.nn.Parameter(np.zeros(2))
    >>> w.grad = np.array([3.0, 4.0])
    >>> float(clip_grad_norm_([w], max_norm=1.0))
    5.0
    >>> np.round(w.grad, 4)
    array([0.6, 0.8])
"""
import math

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, fn):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: expected Tensors/Parameters, got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together, in place, so that their global norm is at most ``max_norm``.

    The global norm is the ``norm_type``-norm of the vector of all gradient elements
    (``inf`` for the max-abs norm). Gradients are multiplied by min(1, max_norm / (norm + 1e-6)),
    which keeps their direction, exactly as PyTorch does.

    Args:
        parameters: a tensor or an iterable of tensors (parameters without ``.grad`` are skipped).
        max_norm: the cap. norm_type: p of the p-norm, or ``float("inf")``.
        error_if_nonfinite: raise RuntimeError if the norm is NaN or Inf (else clip anyway, as
            PyTorch: a NaN norm makes every gradient NaN; an Inf norm zeroes the finite elements
            and makes the infinite ones NaN).
        foreach: accepted for PyTorch compatibility and ignored.

    Returns: the global norm BEFORE clipping, as a NumPy scalar of the gradients' dtype (it
    supports ``float()``, ``.item()`` and formatting).

    Example:
        >>> import numpy as np, microtensor as mt
        >>> a, b = mt.nn.Parameter(np.zeros(1)), mt.nn.Parameter(np.zeros(1))
        >>> a.grad, b.grad = np.array([6.0]), np.array([8.0])
        >>> round(clip_grad_norm_([a, b], 5.0).item(), 6), np.round(a.grad, 4), np.round(b.grad, 4)
        (10.0, array([3.]), array([4.]))
    """
    grads = _grads(parameters, "clip_grad_norm_")
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return np.float32(0.0)
    dtype = np.result_type(*grads)
    # Overflow to Inf and Inf * 0 = NaN are results here (reported, or raised on request), not bugs.
    with np.errstate(over="ignore", invalid="ignore"):
        total = _global_norm(grads, norm_type, dtype)
        if error_if_nonfinite and not np.isfinite(total):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                               f"gradients is non-finite ({total}), so it cannot be clipped. Set "
                               f"error_if_nonfinite=False to clip anyway.")
        # Computed in the gradients' dtype like PyTorch; NaN stays NaN (a NaN norm poisons the grads).
        coef = dtype.type(max_norm) / (total + dtype.type(1e-6))
        if coef > 1:
            coef = dtype.type(1.0)
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def _global_norm(grads, norm_type, dtype):
    """The norm_type-norm of all gradient elements together, as a scalar of ``dtype``."""
    if math.isinf(norm_type):
        per_tensor = [np.max(np.abs(g)) if g.size else np.zeros((), g.dtype) for g in grads]
        total = np.max(np.stack(per_tensor).astype(dtype))
    else:
        per_tensor = [np.sum(np.abs(g) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = np.sum(np.stack(per_tensor).astype(dtype) ** norm_type) ** (1.0 / norm_type)
    return dtype.type(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.zeros(3))
        >>> w.grad = np.array([-5.0, 0.5, 2.0])
        >>> clip_grad_value_([w], 1.0)
        >>> w.grad
        array([-1. ,  0.5,  1. ])
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        np.clip(g, -clip_value, clip_value, out=g)
