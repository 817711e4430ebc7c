"""Fused neural-network ops with hand-derived backward passes.

Each is one node in the graph (so a drawn LSTM step shows ``cross_entropy`` rather than the dozen
primitives it would take), and each is numerically stable where the composite would not be:
cross-entropy of logits of 1e4 is finite, and so is its gradient.

- ``CrossEntropy``: log-softmax + negative log-likelihood, class-index targets, ``ignore_index``,
  class ``weight``, ``label_smoothing``, reduction none/mean/sum
- ``NLLLoss``: negative log-likelihood of given log-probabilities
- ``Embedding``: row lookup whose backward accumulates repeated indices
- ``LayerNorm``: normalisation over the trailing axes with optional affine weight and bias
- ``Dropout``: multiplication by a given keep-mask, scaled by 1 / (1 - p)
- ``BinaryCrossEntropyWithLogits``: stable sigmoid + binary cross-entropy

Example:
    >>> import numpy as np, microtensor as mt
    >>> logits = mt.tensor([[1e4, 0.0, -1e4]], requires_grad=True)
    >>> loss = CrossEntropy.apply(logits, mt.tensor([2]))
    >>> loss.backward()
    >>> float(loss.item()), bool(np.isfinite(logits.grad).all())
    (20000.0, True)
"""
import numpy as np

from ..extend import Function, ShapeError, unbroadcast

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def _class_last(array, op):
    """Move the class axis (axis 1 of (N, C, d1, ...), or the only axis of (C,)) to the end.

    Returns the (M, C) view the loss is computed on and a function that undoes the move.
    """
    if array.ndim == 0:
        raise ShapeError(f"{op}: input must have a class axis, got a 0-d array")
    if array.ndim == 1:
        return array[None, :], lambda g: g[0]
    moved = np.moveaxis(array, 1, -1)
    moved_shape = moved.shape
    flat = moved.reshape(-1, array.shape[1])
    return flat, lambda g: np.moveaxis(g.reshape(moved_shape), -1, 1)


def _check_target(target, input_shape, op):
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {target.dtype} "
                        f"(probability targets are not supported)")
    expected = () if len(input_shape) == 1 else (input_shape[0],) + tuple(input_shape[2:])
    if target.shape != expected:
        raise ShapeError(f"{op}: input of shape {input_shape} needs a target of shape {expected}, "
                         f"got {target.shape}")


def _gather_targets(target, ignore_index, num_classes, op):
    """Flat targets, the mask of rows that count, and the targets with ignored rows set to 0."""
    flat = target.reshape(-1).astype(np.int64, copy=False)
    keep = flat != ignore_index
    bad = keep & ((flat < 0) | (flat >= num_classes))
    if bad.any():
        raise IndexError(f"{op}: target {int(flat[bad][0])} is out of range for {num_classes} classes "
                         f"(valid: 0..{num_classes - 1}, or ignore_index={ignore_index})")
    safe = np.where(keep, flat, 0)
    return keep, safe


def _log_softmax_rows(z):
    shift = np.max(z, axis=-1, keepdims=True)
    shifted = z - shift
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _plain_rows(logits, target, ignore_index):
    """Whether this is the common call: (N, C) float logits, N >= 1 in-range class indices (N,),
    none of them ``ignore_index``, so :func:`_plain_mean_forward` applies."""
    if logits.ndim != 2 or target.ndim != 1 or logits.dtype.kind != "f" \
            or target.dtype.kind not in "iu" or not 0 < target.shape[0] == logits.shape[0]:
        return False
    if target.min() < 0 or target.max() >= logits.shape[1]:
        return False                       # (the general path names the bad target)
    return not (0 <= ignore_index < logits.shape[1] and (target == ignore_index).any())


#: Elements of exp(z - max) the plain cross-entropy makes at once (128 KiB of float32).
SOFTMAX_BLOCK = 1 << 15


def _plain_mean_forward(ctx, logits, target):
    """Mean cross-entropy of (N, C) logits, the general path's arithmetic with w = 1 and e = 0,
    in the fewest passes: per row log(sum(exp(z - max))) - (z - max)[target], the same numbers
    as log-softmax's (stable for any logits).

    It keeps the logits themselves (their tensor holds them during the forward anyway), the row
    maxima and the row sums, and makes exp(z - max) a block of rows at a time: no (N, C)
    temporary, which at the end of a long unroll was the forward's memory peak. Backward makes
    the softmax once, from the logits."""
    rows = np.arange(logits.shape[0])
    peaks = logits.max(axis=1, keepdims=True)                            # (N, 1)
    picked = logits[rows, target] - peaks[:, 0]                          # (N,)
    totals = np.empty(logits.shape[0], dtype=logits.dtype)
    block = max(1, SOFTMAX_BLOCK // max(1, logits.shape[1]))
    scratch = np.empty((min(block, logits.shape[0]), logits.shape[1]), dtype=logits.dtype)
    for start in range(0, logits.shape[0], block):
        rows_here = logits[start:start + block]
        part = scratch[:len(rows_here)]
        np.subtract(rows_here, peaks[start:start + block], out=part)
        np.exp(part, out=part)
        part.sum(axis=1, out=totals[start:start + block])
    divisor = np.asarray(logits.shape[0], dtype=logits.dtype)
    ctx.save_for_backward(logits, peaks, totals, target)
    ctx.divisor, ctx.plain = divisor, True
    return np.asarray(np.sum(np.log(totals) - picked) / divisor, dtype=logits.dtype)


class CrossEntropy(Function):
    """Cross-entropy between logits ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)`` and class indices.

    Matches ``torch.nn.functional.cross_entropy``: with ``label_smoothing`` = e the target
    distribution is (1 - e) on the class plus e / C everywhere; ``mean`` divides by the summed
    ``weight`` of the targets that are not ``ignore_index`` (their count when no weight is given).

    Backward (per row, before the reduction's scale), with p = softmax(z), w the class weights:
    dL/dz = (1 - e) w_y (p - onehot_y) + (e / C) (sum(w) p - w).

    Example:
        >>> import microtensor as mt
        >>> z = mt.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
        >>> loss = CrossEntropy.apply(z, mt.tensor([0, 1]))
        >>> round(loss.item(), 4)
        0.1269
    """
    name = "cross_entropy"

    @staticmethod
    def forward(ctx, logits, target, weight=None, ignore_index=-100, reduction="mean",
                label_smoothing=0.0):
        op = "cross_entropy"
        if weight is None and not label_smoothing and reduction == "mean" \
                and _plain_rows(logits, target, ignore_index):
            return _plain_mean_forward(ctx, logits, target)
        _check_reduction(reduction, op)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
        if logits.dtype.kind != "f":
            raise TypeError(f"{op}: logits must be floating point, got {logits.dtype}")
        _check_target(target, logits.shape, op)
        z, restore = _class_last(logits, op)
        num_classes = z.shape[1]
        keep, safe = _gather_targets(target, ignore_index, num_classes, op)
        ctx.plain = False
        if weight is None:
            w = np.ones(num_classes, dtype=logits.dtype)
        else:
            w = np.asarray(weight, dtype=logits.dtype)
            if w.shape != (num_classes,):
                raise ShapeError(f"{op}: weight must have shape ({num_classes},), got {w.shape}")
        logp = _log_softmax_rows(z)                                  # (M, C)
        rows = np.arange(z.shape[0])
        w_target = np.where(keep, w[safe], 0).astype(logits.dtype)   # (M,)
        eps = label_smoothing
        losses = -(1 - eps) * w_target * logp[rows, safe]
        if eps:
            smooth = -np.sum(logp * w, axis=1) * np.where(keep, eps / num_classes, 0)
            losses = losses + smooth.astype(logits.dtype)
        if reduction == "none":
            out = losses.reshape(target.shape)
            divisor = None
        else:
            out = np.sum(losses)
            divisor = np.sum(w_target) if reduction == "mean" else None
            if divisor is not None:
                # 0/0 = NaN when every target is ignored, as in PyTorch.
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = out / divisor
        ctx.save_for_backward(logp, w, w_target, keep, safe)
        ctx.restore, ctx.eps, ctx.divisor, ctx.reduction = restore, eps, divisor, reduction
        return np.asarray(out, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        if ctx.plain:
            logits, peaks, totals, target = ctx.saved_tensors
            dz = np.subtract(logits, peaks)
            np.exp(dz, out=dz)
            dz /= totals[:, None]                                     # softmax (N, C)
            dz[np.arange(dz.shape[0]), target] -= 1
            dz *= grad / ctx.divisor
            return dz, None
        logp, w, w_target, keep, safe = ctx.saved_tensors
        p = np.exp(logp)
        rows = np.arange(p.shape[0])
        num_classes = p.shape[1]
        eps = ctx.eps
        dz = p * ((1 - eps) * w_target)[:, None]
        dz[rows, safe] -= (1 - eps) * w_target
        if eps:
            smooth_scale = np.where(keep, eps / num_classes, 0).astype(p.dtype)[:, None]
            dz += smooth_scale * (np.sum(w) * p - w)
        if ctx.reduction == "none":
            dz *= grad.reshape(-1)[:, None]
        else:
            scale = grad if ctx.divisor is None else grad / ctx.divisor
            dz *= scale
        return ctx.restore(dz.astype(logp.dtype, copy=False)), None


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.

    Matches ``torch.nn.functional.nll_loss`` (class ``weight``, ``ignore_index``, reduction).

    Example:
        >>> import numpy as np, microtensor as mt
        >>> logp = mt.tensor(np.log([[0.5, 0.5], [0.25, 0.75]]), requires_grad=True)
        >>> round(NLLLoss.apply(logp, mt.tensor([0, 1])).item(), 4)
        0.4904
    """
    name = "nll_loss"

    @staticmethod
    def forward(ctx, logp, target, weight=None, ignore_index=-100, reduction="mean"):
        op = "nll_loss"
        _check_reduction(reduction, op)
        _check_target(target, logp.shape, op)
        x, restore = _class_last(logp, op)
        num_classes = x.shape[1]
        keep, safe = _gather_targets(target, ignore_index, num_classes, op)
        w = (np.ones(num_classes, dtype=logp.dtype) if weight is None
             else np.asarray(weight, dtype=logp.dtype))
        if w.shape != (num_classes,):
            raise ShapeError(f"{op}: weight must have shape ({num_classes},), got {w.shape}")
        w_target = np.where(keep, w[safe], 0).astype(logp.dtype)
        losses = -w_target * x[np.arange(x.shape[0]), safe]
        divisor = None
        if reduction == "none":
            out = losses.reshape(target.shape)
        else:
            out = np.sum(losses)
            if reduction == "mean":
                divisor = np.sum(w_target)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = out / divisor
        ctx.save_for_backward(w_target, safe)
        ctx.shape, ctx.restore, ctx.divisor, ctx.reduction = x.shape, restore, divisor, reduction
        return np.asarray(out, dtype=logp.dtype)

    @staticmethod
    def backward(ctx, grad):
        w_target, safe = ctx.saved_tensors
        dx = np.zeros(ctx.shape, dtype=grad.dtype)
        rows = np.arange(ctx.shape[0])
        if ctx.reduction == "none":
            dx[rows, safe] = -w_target * grad.reshape(-1)
        else:
            scale = grad if ctx.divisor is None else grad / ctx.divisor
            dx[rows, safe] = -w_target * scale
        return ctx.restore(dx), None


#: Tables with at most this many rows take their gradient as one-hot GEMMs: the GEMM costs
#: ~rows multiply-adds per gradient element, np.add.at ~10 ns per element, so the GEMM wins up to
#: a few hundred rows (measured: 3.5-8x at 65 rows, 1.4x at 256, slower from 512).
ONE_HOT_MAX_ROWS = 256
#: Elements of one one-hot block: bounds the extra memory (4 MiB of float32) for long inputs.
ONE_HOT_BLOCK = 1 << 20


def scatter_add_rows(indices, rows, num_rows):
    """A ``(num_rows, D)`` array holding the sum of ``rows[k]`` at row ``indices[k]``.

    Repeated indices accumulate (the gradient of a row lookup). Negative indices count from
    the end. A small table uses one-hot GEMMs over blocks of rows, a large one ``np.add.at``.

    Example:
        >>> scatter_add_rows(np.array([1, 1, -1]), np.ones((3, 2), dtype=np.float32), 3)
        array([[0., 0.],
               [2., 2.],
               [1., 1.]], dtype=float32)
    """
    indices = np.where(indices < 0, indices + num_rows, indices)
    if num_rows > ONE_HOT_MAX_ROWS or rows.dtype.kind != "f":
        out = np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
        np.add.at(out, indices, rows)
        return out
    ids = np.arange(num_rows, dtype=indices.dtype)[:, None]             # (V, 1)
    block = max(1, ONE_HOT_BLOCK // num_rows)
    out = None
    for start in range(0, len(indices), block):
        one_hot = (indices[start:start + block] == ids).astype(rows.dtype)   # (V, block)
        part = one_hot @ rows[start:start + block]                          # (V, D)
        if out is None:
            out = part
        else:
            out += part
    return out if out is not None else np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)


class Embedding(Function):
    """``weight[indices]``; backward accumulates repeated indices (:func:`scatter_add_rows`).

    The row at ``padding_idx`` (if given) gets no gradient, as in PyTorch.

    Example:
        >>> import microtensor as mt
        >>> table = mt.tensor([[1.0, 1.0], [2.0, 2.0]], requires_grad=True)
        >>> Embedding.apply(table, mt.tensor([1, 1, 0])).sum().backward()
        >>> table.grad
        array([[1., 1.],
               [2., 2.]], dtype=float32)
    """

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        if indices.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
        if weight.ndim != 2:
            raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim), got {weight.shape}")
        n = weight.shape[0]
        if indices.size and (indices.min() < -n or indices.max() >= n):
            bad = indices[(indices < -n) | (indices >= n)].flat[0]
            raise IndexError(f"embedding: index {int(bad)} is out of range for a table of {n} rows")
        ctx.save_for_backward(indices)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        dweight = scatter_add_rows(indices.reshape(-1), grad.reshape(-1, ctx.shape[1]), ctx.shape[0])
        if ctx.padding_idx is not None:
            dweight[ctx.padding_idx] = 0
        return dweight, None


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) over the last ``ndim`` axes, then ``* weight + bias``.

    Inputs are ``(x,)``, ``(x, weight)`` or ``(x, weight, bias)``; ``normalized_ndim`` says how
    many trailing axes are normalised. Backward, with xhat the normalised input, g = grad * weight
    and n the number of normalised elements:
    dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps).

    Example:
        >>> import microtensor as mt
        >>> y = LayerNorm.apply(mt.tensor([[1.0, 3.0]]), normalized_ndim=1, eps=0.0)
        >>> y.data
        array([[-1.,  1.]], dtype=float32)
    """
    name = "layer_norm"

    @staticmethod
    def forward(ctx, x, *affine, normalized_ndim=1, eps=1e-5):
        axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
        if normalized_ndim < 1 or normalized_ndim > x.ndim:
            raise ShapeError(f"layer_norm: cannot normalise {normalized_ndim} trailing axes of a "
                             f"tensor of shape {x.shape}")
        for name, a in zip(("weight", "bias"), affine):
            if a.shape != x.shape[x.ndim - normalized_ndim:]:
                raise ShapeError(f"layer_norm: {name} of shape {a.shape} does not match the "
                                 f"normalised shape {x.shape[x.ndim - normalized_ndim:]}")
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
        xhat = centered * inv_std
        out = xhat
        if affine:
            out = out * affine[0]
        if len(affine) > 1:
            out = out + affine[1]
        ctx.save_for_backward(xhat, inv_std, *affine[:1])
        ctx.axes, ctx.num_affine = axes, len(affine)
        return out

    @staticmethod
    def backward(ctx, grad):
        xhat, inv_std, *weight = ctx.saved_tensors
        axes = ctx.axes
        batch_axes = tuple(range(grad.ndim - len(axes)))
        g = grad * weight[0] if weight else grad
        dx = None
        if ctx.needs_input_grad[0]:
            mean_g = np.mean(g, axis=axes, keepdims=True)
            mean_gx = np.mean(g * xhat, axis=axes, keepdims=True)
            dx = (g - mean_g - xhat * mean_gx) * inv_std
        grads = [dx]
        if ctx.num_affine >= 1:
            grads.append(np.sum(grad * xhat, axis=batch_axes) if ctx.needs_input_grad[1] else None)
        if ctx.num_affine >= 2:
            grads.append(np.sum(grad, axis=batch_axes) if ctx.needs_input_grad[2] else None)
        return tuple(grads)


class Dropout(Function):
    """``x * mask * scale`` with a fixed boolean keep-``mask`` (drawn by the caller).

    Example:
        >>> import numpy as np, microtensor as mt
        >>> x = mt.ones(4, requires_grad=True)
        >>> Dropout.apply(x, mask=np.array([True, False, True, True]), scale=2.0).data
        array([2., 0., 2., 2.], dtype=float32)
    """

    @staticmethod
    def forward(ctx, x, mask=None, scale=1.0):
        if mask.shape != x.shape:
            raise ShapeError(f"dropout: mask of shape {mask.shape} for input of shape {x.shape}")
        factor = mask.astype(x.dtype) * np.asarray(scale, dtype=x.dtype)
        ctx.save_for_backward(factor)
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        (factor,) = ctx.saved_tensors
        return grad * factor


class BinaryCrossEntropyWithLogits(Function):
    """Stable binary cross-entropy on logits x with targets y in [0, 1].

    loss = (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x), times ``weight``, then the
    reduction. Inputs ``(x, y)``, ``(x, y, weight)`` or with ``pos_weight`` given as keyword
    array. Gradient w.r.t. x: (1 - y) - l sigmoid(-x) with l = 1 + (pos_weight - 1) y; w.r.t. y:
    -x + (pos_weight - 1) softplus(-x).

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([0.0, 1e4, -1e4], requires_grad=True)
        >>> loss = BinaryCrossEntropyWithLogits.apply(x, mt.tensor([1.0, 1.0, 1.0]), reduction="none")
        >>> loss.data
        array([6.931472e-01, 0.000000e+00, 1.000000e+04], dtype=float32)
    """
    name = "binary_cross_entropy_with_logits"

    @staticmethod
    def forward(ctx, x, y, *weight, pos_weight=None, reduction="mean"):
        op = "binary_cross_entropy_with_logits"
        _check_reduction(reduction, op)
        if x.shape != y.shape:
            raise ShapeError(f"{op}: target shape {y.shape} must equal input shape {x.shape}")
        y = y.astype(x.dtype, copy=False)
        softplus_neg = np.logaddexp(0, -x).astype(x.dtype, copy=False)   # log(1 + exp(-x))
        if pos_weight is None:
            log_weight = np.ones_like(x)
        else:
            log_weight = 1 + (np.asarray(pos_weight, dtype=x.dtype) - 1) * y
        losses = (1 - y) * x + log_weight * softplus_neg
        w = weight[0] if weight else None
        if w is not None:
            losses = losses * w
        out = losses if reduction == "none" else np.sum(losses) if reduction == "sum" \
            else np.mean(losses)
        ctx.save_for_backward(x, y, softplus_neg, log_weight, *weight)
        ctx.pos_weight, ctx.reduction = pos_weight, reduction
        return np.asarray(out, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, y, softplus_neg, log_weight, *weight = ctx.saved_tensors
        scale = grad if ctx.reduction != "mean" else grad / np.asarray(x.size, dtype=x.dtype)
        if weight:
            scale = scale * weight[0]
        sigmoid_neg = 0.5 * (1 - np.tanh(0.5 * x))                      # sigmoid(-x), no overflow
        dx = (1 - y - log_weight * sigmoid_neg) * scale if ctx.needs_input_grad[0] else None
        dy = None
        if ctx.needs_input_grad[1]:
            dy = -x
            if ctx.pos_weight is not None:
                dy = dy + (np.asarray(ctx.pos_weight, dtype=x.dtype) - 1) * softplus_neg
            dy = np.broadcast_to(dy * scale, x.shape).copy()
        grads = [None if dx is None else np.broadcast_to(dx, x.shape).copy(), dy]
        if weight:
            if ctx.needs_input_grad[2]:
                losses = (1 - y) * x + log_weight * softplus_neg
                gw = losses * (grad if ctx.reduction != "mean"
                               else grad / np.asarray(x.size, dtype=x.dtype))
                grads.append(unbroadcast(np.broadcast_to(gw, x.shape), weight[0].shape).copy())
            else:
                grads.append(None)
        return tuple(grads)
