"""Reverse-mode differentiation: the backward pass, grad modes, ``grad()`` and anomaly mode.

The backward pass is iterative (no recursion, so a 10,000-step unroll is fine), accumulates the
gradients of a tensor used many times into a fresh array (never in place into an array somebody
else holds), and frees each node's saved arrays as soon as it is done with them unless
``retain_graph=True``.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
"""
import functools
from contextlib import contextmanager

import numpy as np

from .errors import AnomalyError, GraphFreedError, ShapeError
from .graph import topological_order


class _Mode:
    grad_enabled = True
    anomaly = False


class _GradMode:
    """Sets the grad mode inside a ``with`` block, or around every call of a decorated function.

    Reentrant: the same object may be entered again (each exit restores what its enter saw).
    """

    def __init__(self, flag):
        self.flag = bool(flag)
        self._previous = []

    def __enter__(self):
        self._previous.append(_Mode.grad_enabled)
        _Mode.grad_enabled = self.flag

    def __exit__(self, *exc_info):
        _Mode.grad_enabled = self._previous.pop()

    def __call__(self, fn):
        flag = self.flag

        @functools.wraps(fn)
        def with_grad_mode(*args, **kwargs):
            with _GradMode(flag):
                return fn(*args, **kwargs)
        return with_grad_mode


class set_grad_enabled(_GradMode):
    """Turn recording of the graph on or off: inside a ``with`` block, or from now on.

    As in PyTorch, the call itself sets the mode, so ``mt.set_grad_enabled(False)`` on its own
    line turns recording off until ``mt.set_grad_enabled(True)``; used as a context manager the
    previous mode comes back at the end of the block.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> with mt.set_grad_enabled(False):
        ...     print((x * 2).requires_grad)
        False
        >>> (x * 2).requires_grad
        True
    """

    def __init__(self, flag):
        super().__init__(flag)
        self._before_call = _Mode.grad_enabled
        _Mode.grad_enabled = self.flag

    def __enter__(self):
        # The mode was set by the call: the block restores what was there before it.
        self._previous.append(self._before_call)
        _Mode.grad_enabled = self.flag

    def __call__(self, fn):
        # As a decorator it only acts around calls (PyTorch does the same): undo the call's effect.
        _Mode.grad_enabled = self._before_call
        return super().__call__(fn)


def no_grad():
    """Context manager (or decorator): ops inside record no graph (inference, optimizer updates).

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> with mt.no_grad():
        ...     y = x * 2
        >>> y.requires_grad
        False
    """
    return _GradMode(False)


def enable_grad():
    """Context manager (or decorator): record the graph again inside a ``no_grad()`` block.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> with mt.no_grad(), mt.enable_grad():
        ...     print((x * 2).requires_grad)
        True
    """
    return _GradMode(True)


def is_grad_enabled():
    """Whether ops record the graph right now.

    Example:
        >>> import microtensor as mt
        >>> mt.is_grad_enabled()
        True
    """
    return _Mode.grad_enabled


@contextmanager
def detect_anomaly():
    """Raise :class:`AnomalyError` where the first NaN/Inf appears, naming op, scope and direction.

    Checks every op's output in forward and every gradient it returns in backward, so it is slow:
    use it to find a problem, not to train.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([-1.0], requires_grad=True)
        >>> with mt.detect_anomaly(), mt.scope("lstm/l0/t37"):
        ...     try:
        ...         x.log()
        ...     except mt.AnomalyError as e:
        ...         print(e)
        forward of 'log' in scope 'lstm/l0/t37' produced NaN (inputs were finite)
    """
    previous = _Mode.anomaly
    _Mode.anomaly = True
    try:
        yield
    finally:
        _Mode.anomaly = previous


def _kind_of_nonfinite(array):
    return "NaN" if np.isnan(array).any() else "Inf"


def check_forward_anomaly(fn, node_scope, arrays, out):
    """Called by Function.apply in anomaly mode: raise if ``out`` is the first non-finite array."""
    if out.dtype.kind != "f" or np.isfinite(out).all():
        return
    bad_inputs = [i for i, a in enumerate(arrays) if a.dtype.kind == "f" and not np.isfinite(a).all()]
    origin = f"input {bad_inputs[0]} already held NaN/Inf" if bad_inputs else "inputs were finite"
    raise AnomalyError(f"forward of {fn.name!r} in scope {node_scope!r} produced "
                       f"{_kind_of_nonfinite(out)} ({origin})")


def _check_backward_anomaly(node, upstream, index, grad):
    if grad.dtype.kind == "f" and not np.isfinite(grad).all():
        origin = "upstream gradient was finite" if np.isfinite(upstream).all() \
            else "upstream gradient already held NaN/Inf"
        raise AnomalyError(f"backward of {node.op!r} in scope {node.scope!r} produced "
                           f"{_kind_of_nonfinite(grad)} in the gradient of input {index} ({origin})")


_FREED_MESSAGE = ("Trying to backward through the graph a second time (or to reach a node whose "
                  "saved arrays were already freed by backward()). Pass retain_graph=True to the "
                  "first backward() if you need to backward through the graph again.")


class IndexedGrad:
    """A gradient that is zero everywhere except at ``index`` (what indexing's backward returns).

    ``x[t]`` of a ``(T, B, 4H)`` tensor is taken T times in an unrolled RNN; a dense gradient for
    each would allocate and sum T full ``(T, B, 4H)`` arrays (quadratic in T). The backward pass
    instead adds ``values`` into one buffer at ``index``. Ops return it from ``backward``; user
    code never sees one (gradients handed to hooks and ``.grad`` are always ndarrays).

    Example:
        >>> g = IndexedGrad((3, 2), (1,), np.ones(2, dtype=np.float32))
        >>> g.to_dense()
        array([[0., 0.],
               [1., 1.],
               [0., 0.]], dtype=float32)
    """

    __slots__ = ("shape", "index", "values", "advanced")

    def __init__(self, shape, index, values, advanced=False):
        self.shape = shape
        self.index = index
        self.values = values
        self.advanced = advanced     # integer/boolean arrays: repeated entries must accumulate

    @property
    def dtype(self):
        return self.values.dtype

    def astype(self, dtype):
        return IndexedGrad(self.shape, self.index, self.values.astype(dtype), self.advanced)

    def add_into(self, buffer):
        """buffer[index] += values, in place (accumulating repeated advanced indices)."""
        if self.advanced:
            np.add.at(buffer, self.index, self.values)
        else:
            buffer[self.index] += self.values

    def to_dense(self):
        """The full gradient as a new ndarray."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        if self.advanced:
            np.add.at(out, self.index, self.values)
        else:
            out[self.index] = self.values
        return out


class OuterGrad:
    """A weight gradient kept as a sum of products ``sum_i lefts[i].T @ rights[i]``, computed late.

    An unrolled RNN multiplies by the same weight at every step; each step's matmul backward
    contributes ``x_t.T @ g_t``. Computing and adding T small products costs T GEMMs and T
    full-size additions; keeping the factors and multiplying once, ``concat(x).T @ concat(g)``,
    is one large GEMM. MatMul's backward returns one; the backward pass concatenates them,
    passes them through ``transpose`` (``W.T`` in ``x @ W.T``) by swapping the factors, and turns
    them into an ndarray (``to_dense``) before anything else sees them. Pending rows are bounded
    (``max_pending``): past that, they are multiplied out into a partial sum.

    Example:
        >>> a, g = np.ones((2, 3), dtype=np.float32), np.ones((2, 4), dtype=np.float32)
        >>> total = OuterGrad([a], [g])
        >>> total.extend(OuterGrad([a], [g]))
        >>> total.to_dense()[0]
        array([4., 4., 4., 4.], dtype=float32)
        >>> total.transpose((1, 0)).shape
        (4, 3)
    """

    __slots__ = ("lefts", "rights", "partial", "pending")
    max_pending = 1 << 23          # elements of pending factors (32 MB of float32)

    def __init__(self, lefts, rights, partial=None):
        self.lefts = lefts
        self.rights = rights
        self.partial = partial     # an ndarray holding terms already multiplied out, or None
        self.pending = sum(x.size for x in lefts) + sum(x.size for x in rights)

    @property
    def shape(self):
        return (self.lefts[0].shape[1], self.rights[0].shape[1])

    @property
    def dtype(self):
        return self.rights[0].dtype

    def astype(self, dtype):
        return self.to_dense().astype(dtype)

    def transpose(self, axes=(1, 0)):
        """(sum_i L_i.T R_i).T = sum_i R_i.T L_i: swap the factors, nothing is computed."""
        if tuple(int(x) for x in axes) == (0, 1):
            return self
        partial = None if self.partial is None else self.partial.T
        return OuterGrad(self.rights, self.lefts, partial)

    def copy(self):
        """A new accumulator (own lists) with the same value."""
        return OuterGrad(list(self.lefts), list(self.rights), self.partial)

    def extend(self, other):
        """self += other, in place (self must be an accumulator made by ``copy``)."""
        self.lefts.extend(other.lefts)
        self.rights.extend(other.rights)
        self.pending += other.pending
        if other.partial is not None:
            self.partial = other.partial if self.partial is None else self.partial + other.partial
        if self.pending > self.max_pending:
            self.partial = self.to_dense()
            self.lefts, self.rights, self.pending = [], [], 0

    def to_dense(self):
        """The gradient as a new ndarray: one GEMM over all pending terms."""
        if not self.lefts:
            return self.partial.copy()
        if len(self.lefts) == 1:
            out = self.lefts[0].T @ self.rights[0]
        else:
            out = np.concatenate(self.lefts).T @ np.concatenate(self.rights)
        if self.partial is not None:
            out += self.partial
        return out


def _accumulate(grads, owned, key, grad):
    """grads[key] += grad, for ndarray, IndexedGrad and OuterGrad gradients, without a temporary
    when the buffer is one this backward pass made (listed in ``owned``)."""
    previous = grads.get(key)
    kind = type(grad)
    if previous is None:
        if kind is IndexedGrad:
            grads[key] = grad.to_dense()
            owned.add(key)
        elif kind is OuterGrad:
            grads[key] = grad.copy()
            owned.add(key)
        else:
            grads[key] = grad            # may alias `g` or another input's gradient: not owned
        return
    if type(previous) is OuterGrad:     # (always owned)
        if kind is OuterGrad:
            previous.extend(grad)
            return
        previous = grads[key] = previous.to_dense()
    if kind is OuterGrad:
        grad, kind = grad.to_dense(), np.ndarray
    if kind is IndexedGrad:
        if key not in owned:
            previous = grads[key] = previous.copy()
            owned.add(key)
        grad.add_into(previous)
    elif key in owned:
        previous += grad                 # our own buffer: accumulate without a temporary
    else:
        # Out of place: `previous` may alias `g` or another input's gradient.
        total = previous + grad
        grads[key] = total
        if type(total) is np.ndarray:   # (0-d operands give a NumPy scalar)
            owned.add(key)


def run_backward(roots, root_grads, retain_graph=False, keep_grads=False, capture=None):
    """The engine behind ``Tensor.backward`` and :func:`grad`.

    ``capture`` (a dict id(tensor) -> None) switches to functional mode: the gradients of those
    tensors are returned in it and no ``.grad`` is written.
    """
    grads = {}
    # Keys whose array in `grads` was allocated here and is referenced nowhere else: further
    # contributions can be added into it in place, without a temporary per addition.
    owned = set()
    for root, g in zip(roots, root_grads):
        key = id(root)
        grads[key] = g if key not in grads else grads[key] + g
    anomaly = _Mode.anomaly
    # Consumers before their inputs: every contribution to a gradient is in before it is used.
    for tensor in reversed(topological_order(roots, only_requires_grad=True)):
        key = id(tensor)
        g = grads.pop(key, None)
        if g is None:
            continue
        is_owned = key in owned
        if is_owned:
            owned.discard(key)
        node = tensor._node
        if type(g) is OuterGrad:
            # Stay lazy only into a transpose (x @ W.T), whose backward swaps the factors.
            if node is None or not node.fn._passes_outer_grad or tensor._hooks \
                    or capture is not None or keep_grads or tensor._retains_grad:
                g = g.to_dense()
        if tensor._hooks:
            for hook in tensor._hooks:
                replaced = hook(g)
                if replaced is not None:
                    g = np.asarray(replaced.data if hasattr(replaced, "data") else replaced)
                    is_owned = False
        if node is None:
            if capture is not None:
                if key in capture:
                    capture[key] = g
            # A leaf owns its .grad array (optimizers and clipping modify it in place), so it
            # never shares memory with a gradient another tensor might also hold.
            elif tensor.grad is not None:
                tensor.grad = tensor.grad + g
            elif is_owned and g.dtype == tensor.dtype and not tensor._hooks:
                tensor.grad = g      # allocated by this pass and held by nobody else: no copy
            else:
                tensor.grad = g.astype(tensor.dtype, copy=True)
            continue
        if node.freed:
            raise GraphFreedError(_FREED_MESSAGE)
        if capture is not None:
            if key in capture:
                capture[key] = g
        elif keep_grads or tensor._retains_grad:
            tensor.grad = g
        ctx = node.ctx
        input_grads = node.fn.backward(ctx, g)
        if type(input_grads) is not tuple:
            input_grads = tuple(input_grads) if type(input_grads) is list else (input_grads,)
        inputs = node.inputs
        if len(input_grads) != len(inputs):
            raise RuntimeError(f"backward of {node.op!r} returned {len(input_grads)} gradients "
                               f"for {len(inputs)} inputs")
        index = -1
        for inp, ig in zip(inputs, input_grads):
            index += 1
            if ig is None or not inp.requires_grad:
                continue
            data = inp.data
            if ig.shape != data.shape:
                raise ShapeError(f"backward of {node.op!r} returned a gradient of shape {ig.shape} "
                                 f"for input {index} of shape {data.shape}")
            if ig.dtype != data.dtype:
                ig = ig.astype(data.dtype)
            if anomaly:
                if type(ig) is OuterGrad:
                    ig = ig.to_dense()
                _check_backward_anomaly(node, g, index,
                                        ig.values if type(ig) is IndexedGrad else ig)
            _accumulate(grads, owned, id(inp), ig)
        if not retain_graph:
            ctx.release()
            node.freed = True
            if not keep_grads:
                # Drop the structure too, so intermediate activations can be collected.
                node.inputs = ()


def backward(tensor, gradient=None, retain_graph=False, keep_grads=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``. See ``Tensor.backward``."""
    if not tensor.requires_grad:
        raise RuntimeError("backward() called on a tensor that does not require grad and has no "
                           "graph: make an input requires_grad=True (and not under no_grad())")
    root_grad = _root_gradient(tensor, gradient)
    run_backward([tensor], [root_grad], retain_graph=retain_graph, keep_grads=keep_grads)
    if keep_grads or tensor._retains_grad:
        if tensor._node is not None:
            tensor.grad = root_grad


def _root_gradient(tensor, gradient):
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output; this one has "
                               f"shape {tensor.shape}: pass gradient= of that shape")
        return np.ones_like(tensor.data)
    g = np.asarray(getattr(gradient, "data", gradient), dtype=tensor.dtype)
    if g.shape != tensor.shape:
        raise ShapeError(f"backward: gradient shape {g.shape} != tensor shape {tensor.shape}")
    return g


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (no ``.grad`` is written).

    Args:
        outputs: a tensor or a sequence of tensors.
        inputs: a tensor or a sequence of tensors (leaves or intermediates).
        grad_outputs: gradients of the outputs (default: ones, for scalar outputs).
        retain_graph: keep the graph for another backward pass.
        allow_unused: return None for an input the outputs do not depend on instead of raising.

    Returns: a tuple of ndarrays, one per input.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([3.0], requires_grad=True)
        >>> mt.grad((x ** 2).sum(), x)
        (array([6.], dtype=float32),)
    """
    from .tensor import Tensor
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError("grad(): an output does not require grad and has no graph")
    root_grads = [_root_gradient(o, g) for o, g in zip(outputs, grad_outputs)]
    capture = {id(t): None for t in inputs}
    run_backward(outputs, root_grads, retain_graph=retain_graph, capture=capture)
    result = []
    for i, t in enumerate(inputs):
        g = capture[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): input {i} is not used by the outputs (or needs no grad); "
                               f"pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)
