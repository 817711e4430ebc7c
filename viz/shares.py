"""One step's share of a gradient: what flows back through one consumer into one input.

A weight used at every time step has one gradient, the sum over the steps. Drawn inside each step
as "the weight as used here", it should carry that step's own contribution to dL/dW: the gradient
that the step's op sends back into the weight. After the backward pass the ops' saved arrays are
freed, but every drawn tensor still has its data and (with ``keep_grads=True``) its gradient,
which is enough to recompute the vector-Jacobian product of the common ops that consume a weight
or gather the steps' outputs. For any other op :func:`share` returns None and the picture says
the share was not computed; it never guesses.

Example:
    >>> import numpy as np
    >>> import microtensor as mt
    >>> from viz.trace import trace
    >>> W = mt.tensor([[1.0, 2.0]], requires_grad=True, name="W")
    >>> x0, x1 = mt.tensor([[1.0]]), mt.tensor([[3.0]])
    >>> loss = (x0 @ W).sum() + (x1 @ W).sum()
    >>> loss.backward(keep_grads=True)
    >>> tr = trace(loss)
    >>> [share(tr, tr.by_id[i], 0).tolist() for i in (3, 5)]
    [[[1.0, 1.0]], [[3.0, 3.0]]]
    >>> W.grad.tolist()
    [[4.0, 4.0]]
"""
import numpy as np

from microtensor.extend import unbroadcast


def _matmul(grad, a, b, index):
    if a.ndim < 2 or b.ndim < 2:
        return None
    if index == 0:
        return unbroadcast(grad @ np.swapaxes(b, -1, -2), a.shape)
    return unbroadcast(np.swapaxes(a, -1, -2) @ grad, b.shape)


def _linear(grad, x, w, index):
    """Input ``index``'s part of ``x @ w.T + b`` (mt.nn.functional.linear)."""
    rows = grad.reshape(-1, w.shape[0])
    if index == 0:
        return (rows @ w).reshape(x.shape)
    if index == 1:
        return rows.T @ x.reshape(-1, w.shape[1])
    return rows.sum(axis=0)


def _gathered(grad, inputs, index, op):
    """The slice of a ``stack``/``cat`` gradient that belongs to input ``index``."""
    shape = inputs[index].shape
    for axis in range(grad.ndim):
        if op == "stack":
            if grad.shape[axis] != len(inputs) or grad.shape[:axis] + grad.shape[axis + 1:] != shape:
                continue
            return np.take(grad, index, axis=axis)
        sizes = [x.shape[axis] if x.ndim == grad.ndim else -1 for x in inputs]
        rest = grad.shape[:axis] + grad.shape[axis + 1:]
        if sum(sizes) == grad.shape[axis] and all(x.shape[:axis] + x.shape[axis + 1:] == rest
                                                  for x in inputs):
            start = sum(sizes[:index])
            return np.take(grad, range(start, start + sizes[index]), axis=axis)
    return None


def _one_input(op, grad, arrays, index):
    if op == "add":
        return unbroadcast(grad, arrays[index].shape)
    if op == "sub":
        return unbroadcast(grad if index == 0 else -grad, arrays[index].shape)
    if op == "mul":
        return unbroadcast(grad * arrays[1 - index], arrays[index].shape)
    if op == "matmul":
        return _matmul(grad, arrays[0], arrays[1], index)
    if op == "linear":
        return _linear(grad, arrays[0], arrays[1], index)
    if op == "transpose" and grad.ndim == 2 and grad.T.shape == arrays[0].shape:
        return grad.T
    if op in ("stack", "cat"):
        return _gathered(grad, arrays, index, op)
    return None


def share(trace, consumer, source):
    """The gradient ``consumer`` (a TracedNode) sends back into its input with id ``source``.

    Sums over every position where ``source`` is an input (``x * x``). Returns a float64 array of
    the input's shape, or None when it cannot be recomputed: no kept gradient on the consumer, or
    an op outside the few this module knows (add, sub, mul, matmul, linear, 2-D transpose, stack,
    cat).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> b = mt.tensor([1.0, 1.0], requires_grad=True, name="b")
        >>> loss = (mt.ones(3, 2) + b).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> share(tr, tr.by_id[2], 0).tolist()
        [3.0, 3.0]
    """
    grad = consumer.tensor.grad if consumer.tensor.requires_grad else None
    if grad is None or consumer.op is None:
        return None
    inputs = [trace.by_id[i] for i in consumer.inputs]
    arrays = [np.asarray(n.tensor.data, dtype=np.float64) for n in inputs]
    grad = np.asarray(grad, dtype=np.float64)
    total = None
    for index, node in enumerate(inputs):
        if node.id != source:
            continue
        part = _one_input(consumer.op, grad, arrays, index)
        if part is None or part.shape != arrays[index].shape:
            return None
        total = part if total is None else total + part
    return total
