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
from heapq import heappop, heappush

import numpy as np

from .core import GradMode
from .core import Node, Port, TensorBase, VersionClock, gc_paused, shown, vertex_of
from .errors import FREED_MESSAGE, AnomalyError, GraphFreedError, ShapeError
from .function import kind_of_nonfinite
from .gradients import IndexedGrad, OuterGrad


class _GradMode:
    """Sets the grad mode inside a ``with`` block, or around every call of a decorated function.

    Reentrant: the same object may be entered again (each exit restores what its enter saw).
    """

    def __init__(self, flag):
        self.flag = bool(flag)
        self._previous = []

    def __enter__(self):
        self._previous.append(GradMode.grad_enabled)
        GradMode.grad_enabled = self.flag

    def __exit__(self, *exc_info):
        GradMode.grad_enabled = self._previous.pop()

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
        self._before_call = GradMode.grad_enabled
        GradMode.grad_enabled = self.flag

    def __enter__(self):
        # The mode was set by the call: the block restores what was there before it.
        self._previous.append(self._before_call)
        GradMode.grad_enabled = self.flag

    def __call__(self, fn):
        # As a decorator it only acts around calls (PyTorch does the same): undo the call's effect.
        GradMode.grad_enabled = self._before_call
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
    return GradMode.grad_enabled


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
    previous = GradMode.anomaly
    GradMode.anomaly = True
    try:
        yield
    finally:
        GradMode.anomaly = previous


def _check_backward_anomaly(node, upstream, index, grad):
    if grad.dtype.kind == "f" and not np.isfinite(grad).all():
        finite = all(np.isfinite(u).all() for u in upstream if u is not None)
        origin = "upstream gradient was finite" if finite else "upstream gradient already held NaN/Inf"
        raise AnomalyError(f"backward of {node.op!r} in scope {node.scope!r} produced "
                           f"{kind_of_nonfinite(grad)} in the gradient of input {index} ({origin})")


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


def _incoming_gradient(vertex, node, g, keep_grads, capture):
    """The gradient of ``vertex`` (an op output's record; ``node`` its op) once all its
    contributions are in: densified where needed, passed through its hooks, captured or kept.
    Returns ``(g, replaced)``."""
    if type(g) is OuterGrad:
        # Stay lazy only into an op that takes it (transpose: x @ W.T swaps the factors).
        if node is None or not node.fn.accepts_outer_grad or vertex._hooks \
                or capture is not None or keep_grads or vertex._retains_grad:
            g = g.to_dense()
    replaced = False
    if vertex._hooks:
        for hook in vertex._hooks:
            result = hook(g)
            if result is not None:
                g = np.asarray(result.data if hasattr(result, "data") else result)
                replaced = True
    if node is not None:
        if capture is not None:
            if id(vertex) in capture:
                capture[id(vertex)] = g
        elif keep_grads or vertex._retains_grad:
            vertex._grad = g
    return g, replaced


def _to_leaf(tensor, g, is_owned, capture):
    """Accumulate a finished gradient into a leaf's ``.grad`` (or capture it for ``grad()``)."""
    if capture is not None:
        if id(tensor) in capture:
            capture[id(tensor)] = g
    # A leaf owns its .grad array (optimizers and clipping modify it in place), so it never
    # shares memory with a gradient another tensor might also hold.
    elif tensor._grad is not None:
        tensor._grad = tensor._grad + g
    elif is_owned and g.dtype == tensor.dtype and not tensor._hooks:
        tensor._grad = g         # allocated by this pass and held by nobody else: no copy
    else:
        tensor._grad = g.astype(tensor.dtype, copy=True)


def _output_gradients(node, grads, owned, keep_grads, capture):
    """One gradient per output of a multi-output node: zeros for a float output nobody used,
    None for an integer output."""
    by_index = {}
    for index, port in node.live_outputs():
        key = id(port)
        g = grads.pop(key, None)
        if g is not None:
            owned.discard(key)
            by_index[index] = _incoming_gradient(port, node, g, keep_grads, capture)[0]
    out = []
    for index, (shape, dtype) in enumerate(node.output_specs):
        g = by_index.get(index)
        if g is None and dtype.kind == "f":
            g = np.zeros(shape, dtype=dtype)
        out.append(g)
    return out


def _where(node):
    return f"backward of {node.op!r}" + (f" in scope {node.scope!r}" if node.scope else "")


def _name_through_views(t, cell):
    """`` 'w'`` for a named tensor; `` (a view of 'w')`` for an unnamed view of one (``w.T``)."""
    if t.name:
        return f" {t.name!r}"
    seen = t
    while seen.grad_fn is not None and not seen.name:
        sources = [x for x in seen.grad_fn.inputs if x._version_cell is cell]
        if not sources:
            return ""
        seen = shown(sources[0])
    return f" (a view of {seen.name!r})" if seen.name else ""


def _check_saved_versions(node):
    """Refuse to run a backward whose saved arrays were changed in place since its forward
    (called only for nodes made before the latest in-place change anywhere). A saved array is
    matched to an input or output by identity (see ``OpOutput._is_output``)."""
    candidates = [(f"input {i}", v) for i, v in enumerate(node.inputs)]
    if node.outputs is None:
        candidates.append(("its output", node))
    else:
        candidates.extend((f"output {i}", p) for i, p in node.live_outputs())
    for array in node._saved:
        for what, v in candidates:
            cell = v._version_cell
            if cell is None or cell[1] <= node.clock:
                continue
            if v._is_output(array) if type(v) in (Node, Port) else v.data is array:
                t = shown(v, array)
                raise RuntimeError(
                    f"{_where(node)}: {what}{_name_through_views(t, cell)} of shape {t.shape}, "
                    f"saved for the gradient, was changed in place since (now at version "
                    f"{cell[0]}): an in-place method (add_, zero_, ...), an optimizer step or "
                    f"nn.init ran between forward and this backward. Run the forward again "
                    f"after the change, or change a copy.")


def _name_the_op(error, node):
    """Put ``backward of 'op' in scope '...':`` in front of an error raised by an op's backward."""
    where = _where(node)
    if error.args and isinstance(error.args[0], str):
        error.args = (f"{where}: {error.args[0]}",) + error.args[1:]
    else:
        error.args = (where,) + error.args


def run_backward(roots, root_grads, retain_graph=False, keep_grads=False, capture=None):
    """The engine behind ``Tensor.backward`` and :func:`grad`.

    It visits the graph's vertices that receive a gradient (leaf tensors, and the
    :class:`~microtensor.core.OpOutput` records of op outputs) in reverse creation order, which
    is the schedule ``graph.backward_steps`` describes (an op's consumers are all made after it,
    so when a vertex comes up every contribution to its gradient is in). The schedule is built
    as it goes, from a heap of the vertices that have received a gradient so far: one pass, no
    separate reachability walk and sort.

    ``capture`` (a dict id(vertex) -> None) switches to functional mode: the gradients of those
    vertices are returned in it and no ``.grad`` is written.
    """
    grads = {}
    # Keys whose array in `grads` was allocated here and is referenced nowhere else: further
    # contributions can be added into it in place, without a temporary per addition.
    owned = set()
    heap = []                        # (-creation number, vertex): the latest-made vertex first
    for root, g in zip(roots, root_grads):
        root = vertex_of(root)
        key = id(root)
        if key in grads:
            grads[key] = grads[key] + g
        else:
            grads[key] = g
            heappush(heap, (-root._seq, root))
    anomaly = GradMode.anomaly
    # Whether every vertex's gradient must go through _incoming_gradient (keep it, capture it).
    watch_all = keep_grads or capture is not None
    ndarray = np.ndarray
    done = None                      # multi-output nodes already run (their other outputs skip)
    # The pass allocates no reference cycles, only arrays and small tuples, so the cyclic
    # collector has nothing to find while it runs; at batch 1 it was ~10% of a training step.
    with gc_paused():
        while heap:
            vertex = heappop(heap)[1]
            kind = type(vertex)
            if kind is Node:
                node = vertex
                key = id(vertex)
                g = grads.pop(key)
                if key in owned:
                    owned.discard(key)
                if watch_all or type(g) is OuterGrad or vertex._hooks or vertex._retains_grad:
                    g = _incoming_gradient(vertex, node, g, keep_grads, capture)[0]
                if node.freed:
                    raise GraphFreedError(FREED_MESSAGE)
                grads_out = None             # one output: backward(node, g), no tuple to unpack
            elif kind is Port:               # an output of a multi-output op
                node = vertex.node
                if done is None:
                    done = set()
                elif id(node) in done:
                    continue                # its backward already ran, for all its outputs
                done.add(id(node))
                if node.freed:
                    raise GraphFreedError(FREED_MESSAGE)
                grads_out = _output_gradients(node, grads, owned, keep_grads, capture)
            else:                            # a leaf tensor
                key = id(vertex)
                g = grads.pop(key)
                is_owned = key in owned
                if is_owned:
                    owned.discard(key)
                if vertex._hooks or type(g) is OuterGrad:
                    g, replaced = _incoming_gradient(vertex, None, g, keep_grads, capture)
                    is_owned = is_owned and not replaced
                _to_leaf(vertex, g, is_owned, capture)
                continue
            if node.clock != VersionClock.now:
                _check_saved_versions(node)
            try:
                input_grads = node.fn.backward(node, g) if grads_out is None \
                    else node.fn.backward(node, *grads_out)
            except Exception as error:
                _name_the_op(error, node)
                raise
            inputs = node.inputs
            if type(input_grads) is not tuple:
                input_grads = tuple(input_grads) if type(input_grads) is list else (input_grads,)
            if len(input_grads) != len(inputs):
                raise RuntimeError(f"backward of {node.op!r} returned {len(input_grads)} "
                                   f"gradients for {len(inputs)} inputs")
            for index, inp in enumerate(inputs):
                ig = input_grads[index]
                if ig is None:
                    continue
                if type(inp) is Node:        # an op's output (always takes a gradient)
                    shape, dtype = inp._shape, inp._dtype
                elif not inp.requires_grad:
                    continue
                elif type(inp) is Port:
                    shape, dtype = inp._shape, inp._dtype
                else:                        # a leaf tensor
                    data = inp.data
                    shape, dtype = data.shape, data.dtype
                if ig.shape != shape:
                    raise ShapeError(f"backward of {node.op!r} returned a gradient of shape "
                                     f"{ig.shape} for input {index} of shape {shape}")
                if ig.dtype is not dtype and ig.dtype != dtype:     # (builtin dtypes: one object)
                    ig = ig.astype(dtype)
                if anomaly:
                    if type(ig) is OuterGrad:
                        ig = ig.to_dense()
                    _check_backward_anomaly(node, (g,) if grads_out is None else grads_out, index,
                                            ig.values if type(ig) is IndexedGrad else ig)
                key = id(inp)
                if key not in grads:         # the first contribution: schedule the vertex
                    heappush(heap, (-inp._seq, inp))
                    if type(ig) is ndarray:
                        grads[key] = ig      # (not owned: it may alias another gradient)
                        continue
                _accumulate(grads, owned, key, ig)
            if not retain_graph:
                if keep_grads:
                    # The graph is kept to be drawn: keep the saved arrays alive with it, so its
                    # vertices can still show those values (backward can no longer use them).
                    node.shown_values = node._saved
                node._saved = ()
                node.freed = True
                if not keep_grads:
                    # Drop the structure too, so the graph behind this node can be collected.
                    node.inputs = ()


def backward(tensor, gradient=None, retain_graph=False, keep_grads=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``. See ``Tensor.backward``."""
    if not tensor.requires_grad:
        raise RuntimeError("backward() called on a tensor that does not require grad and has no "
                           "graph: make an input requires_grad=True (and not under no_grad())")
    root_grad = _root_gradient(tensor, gradient)
    run_backward([tensor], [root_grad], retain_graph=retain_graph, keep_grads=keep_grads)
    if keep_grads or vertex_of(tensor)._retains_grad:
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
    outputs = [outputs] if isinstance(outputs, TensorBase) else list(outputs)
    inputs = [inputs] if isinstance(inputs, TensorBase) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (TensorBase, np.ndarray)):
        grad_outputs = [grad_outputs]
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError("grad(): an output does not require grad and has no graph")
    root_grads = [_root_gradient(o, g) for o, g in zip(outputs, grad_outputs)]
    capture = {id(vertex_of(t)): None for t in inputs}
    run_backward(outputs, root_grads, retain_graph=retain_graph, capture=capture)
    result = []
    for i, t in enumerate(inputs):
        g = capture[id(vertex_of(t))]
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): input {i} is not used by the outputs (or needs no grad); "
                               f"pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)
