"""One step's share of a gradient: what flows back through one consumer into one input.

A weight used at every time step has one gradient, the sum over the steps. Drawn inside each step
as "the weight as used here", it should carry that step's own contribution to dL/dW: the gradient
that the step's op sends back into the weight. After the backward pass the ops' saved arrays are
freed, but ``keep_grads=True`` keeps them with the graph and each drawn tensor's gradient,
which is enough to recompute the vector-Jacobian product of the common ops that consume a weight
or gather the steps' outputs (the data a drawing sees: what a tensor, a saved array kept with the
graph by ``keep_grads=True``, or ``mt.keep_values()`` kept). For any other op, or an operand whose
value was not kept, :func:`share` returns None and the picture says the share was not computed;
it never guesses.

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


def _matmul(grad, other, shapes, index):
    """Input ``index``'s part of ``a @ b``; ``other`` is the other operand's value."""
    if len(shapes[0]) < 2 or len(shapes[1]) < 2:
        return None
    if index == 0:
        return unbroadcast(grad @ np.swapaxes(other, -1, -2), shapes[0])
    return unbroadcast(np.swapaxes(other, -1, -2) @ grad, shapes[1])


def _linear(grad, other, shapes, index):
    """Input ``index``'s part of ``x @ w.T + b`` (mt.nn.functional.linear); ``other`` is the
    other one of x and w."""
    rows = grad.reshape(-1, shapes[1][0])
    if index == 0:
        return (rows @ other).reshape(shapes[0])
    return rows.T @ other.reshape(-1, shapes[1][1])


def _gathered(grad, shapes, index, op):
    """The slice of a ``stack``/``cat`` gradient that belongs to input ``index``."""
    shape = shapes[index]
    for axis in range(grad.ndim):
        if op == "stack":
            if grad.shape[axis] != len(shapes) or grad.shape[:axis] + grad.shape[axis + 1:] != shape:
                continue
            return np.take(grad, index, axis=axis)
        sizes = [x[axis] if len(x) == grad.ndim else -1 for x in shapes]
        rest = grad.shape[:axis] + grad.shape[axis + 1:]
        if sum(sizes) == grad.shape[axis] and all(x[:axis] + x[axis + 1:] == rest for x in shapes):
            start = sum(sizes[:index])
            return np.take(grad, range(start, start + sizes[index]), axis=axis)
    return None


def _one_input(op, grad, inputs, index):
    """``inputs`` are traced nodes: their shapes always serve, their values only where the op's
    gradient needs the other operand's."""
    shapes = [tuple(n.shape) for n in inputs]
    if op == "add":
        return unbroadcast(grad, shapes[index])
    if op == "sub":
        return unbroadcast(grad if index == 0 else -grad, shapes[index])
    if op in ("stack", "cat"):
        return _gathered(grad, shapes, index, op)
    if op == "transpose" and grad.ndim == 2 and grad.T.shape == shapes[0]:
        return grad.T
    if op == "linear" and index == 2:
        return grad.reshape(-1, shapes[1][0]).sum(axis=0)
    if op not in ("mul", "matmul", "linear") or index > 1:
        return None
    other = _value(inputs[1 - index])
    if other is None:
        return None                      # the other operand's value was not kept: no guess
    if op == "mul":
        return unbroadcast(grad * other, shapes[index])
    if op == "matmul":
        return _matmul(grad, other, shapes, index)
    return _linear(grad, other, shapes, index)


def _value(node):
    data = node.tensor.data
    return None if data is None else np.asarray(data, dtype=np.float64)


def share(trace, consumer, source):
    """The gradient ``consumer`` (a TracedNode) sends back into its input with id ``source``.

    Sums over every position where ``source`` is an input (``x * x``). Returns a float64 array of
    the input's shape, or None when it cannot be recomputed: no kept gradient on the consumer, an
    operand whose value the graph did not keep, or an op outside the few this module knows (add,
    sub, mul, matmul, linear, 2-D transpose, stack, cat).

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
    grad = np.asarray(grad, dtype=np.float64)
    total = None
    for index, node in enumerate(inputs):
        if node.id != source:
            continue
        part = _one_input(consumer.op, grad, inputs, index)
        if part is None or part.shape != tuple(node.shape):
            return None
        total = part if total is None else total + part
    return total
