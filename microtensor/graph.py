"""The graph as data: node records, an iterative walk, and the order backward visits them.

Every op application that needs a gradient leaves a :class:`~microtensor.core.Node` on its output
tensor(s) (``tensor.grad_fn``). A node knows its op, its inputs' vertices (a leaf tensor, or the
record an op keeps of its output: :class:`~microtensor.core.OpOutput`; the graph holds no op
output's tensor), the scope path that was active when it was made (``"lstm/l0/t3"``) and a
creation sequence number. :func:`walk` turns the graph behind any tensor into a list of
:class:`GraphRecord` in topological order with stable ids (creation order, never ``id()``),
which is what the renderer in ``viz`` draws; :func:`backward_order` says in which order
``backward()`` visits those records.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> with mt.scope("rnn"), mt.scope("t0"):
    ...     y = (x * x).sum()
    >>> [(r.id, r.op, r.scope) for r in mt.graph.walk(y)]
    [(0, None, ''), (1, 'mul', 'rnn/t0'), (2, 'sum', 'rnn/t0')]
"""
from operator import attrgetter

import numpy as np

from .core import (Node, OpOutput, OutputView, Port, current_scope, keep_values,  # noqa: F401
                   producer, scope, shown, vertex_of)  # (the graph's vocabulary, re-exported)


class GraphRecord:
    """One tensor of a walked graph, with everything a drawing or a diagnostic needs.

    ``id`` is its position in creation order among the walked tensors (stable across runs);
    ``op`` is None for a leaf; ``inputs`` are the ids of the op's inputs; ``tensor`` is the tensor
    itself (its ``.data`` and, after ``backward(keep_grads=True)``, its ``.grad``).
    ``was_detached`` tells a leaf made by ``detach()`` (a truncated-BPTT cut); ``detached_source``
    is the tensor it was cut from if that still exists (``detached_from`` is its id when it is
    also part of this graph). ``node_id`` is the same for all outputs of one op application (the
    record id of its first output in the walk; a leaf's own id), ``output_index`` the tensor's
    position among them (0 for single-output ops and leaves) and ``num_outputs`` their number.
    """

    __slots__ = ("id", "tensor", "op", "inputs", "scope", "name", "shape", "dtype",
                 "requires_grad", "is_leaf", "detached_from", "was_detached", "detached_source",
                 "node_id", "output_index", "num_outputs")

    def __repr__(self):
        return (f"GraphRecord(id={self.id}, op={self.op!r}, name={self.name!r}, "
                f"shape={self.shape}, scope={self.scope!r}, inputs={self.inputs})")

    @property
    def grad(self):
        """The tensor's gradient if it was kept (``keep_grads=True``, leaves, ``retain_grad``)."""
        return self.tensor.grad


def topological_order(roots, only_requires_grad=False, with_siblings=False):
    """The graph's vertices reachable from ``roots`` (tensors or vertices), every input before
    its consumers. Iterative.

    A vertex is a leaf tensor, or the record an op keeps of its output (an
    :class:`~microtensor.core.OpOutput`: the op's node, or one :class:`~microtensor.core.Port`
    of a multi-output op), which outlives the output tensor. Creation order is a topological
    order (an op's inputs exist before its outputs), so one reachability pass plus one C-level
    sort by creation number does it, and the order does not depend on which root was given
    first. The backward pass walks it in reverse. ``with_siblings`` also takes the other live
    outputs of a reached multi-output op (a drawing shows the whole op; backward does not
    need them).

    Example:
        >>> import microtensor as mt
        >>> a = mt.tensor([1.0], requires_grad=True)
        >>> [v is a for v in topological_order([a * 2])]
        [True, False, False]
    """
    seen = set()
    order = []
    stack = [vertex_of(r) for r in roots]
    while stack:
        vertex = stack.pop()
        key = id(vertex)
        if key in seen:
            continue
        seen.add(key)
        order.append(vertex)
        node = producer(vertex)
        if node is not None:
            for inp in node.inputs:
                if id(inp) not in seen and (not only_requires_grad or type(inp) is Node
                                            or inp.requires_grad):
                    stack.append(inp)
            if with_siblings and node.outputs is not None:
                for _, sibling in node.live_outputs():
                    if id(sibling) not in seen:
                        stack.append(sibling)
    order.sort(key=_creation_number)
    return order


_creation_number = attrgetter("_seq")


def walk(*roots):
    """The graph behind ``roots`` as :class:`GraphRecord` s in creation (= topological) order.

    Ids are positions in creation order, so the same program gives the same ids on every run.
    All live outputs of a multi-output op are walked once one of them is reached. Works after
    ``backward(keep_grads=True)`` or ``retain_graph=True``; after a plain backward the graph's
    structure is released and only the root is left. A record's ``tensor`` is the tensor for a
    leaf and for a root, else an :class:`~microtensor.core.OutputView` of the op output, whose
    ``data`` is None once no backward, tensor or :func:`~microtensor.keep_values` keeps the
    array.

    Example:
        >>> import microtensor as mt
        >>> w = mt.tensor([[1.0, 2.0]], requires_grad=True, name="w")
        >>> y = (w @ w.T).tanh()
        >>> [r.op for r in walk(y)]
        [None, 'transpose', 'matmul', 'tanh']
        >>> a, b = mt.ones(4, requires_grad=True).split(2)
        >>> [(r.id, r.op, r.node_id, r.output_index, r.num_outputs) for r in walk(b)]
        [(0, None, 0, 0, 1), (1, 'split', 1, 0, 2), (2, 'split', 1, 1, 2)]
    """
    vertices = topological_order(roots, with_siblings=True)
    ids = {id(v): i for i, v in enumerate(vertices)}
    given = {id(vertex_of(r)): r for r in roots}
    found = _saved_values(vertices)
    records = []
    for i, v in enumerate(vertices):
        r = GraphRecord()
        r.id = i
        t = given.get(id(v))
        r.tensor = t = shown(v, found.get(id(v))) if t is None else t
        node = producer(v)
        r.op = node.op if node is not None else None
        r.inputs = tuple(ids[id(x)] for x in node.inputs) if node is not None else ()
        r.scope = node.scope if node is not None else v._scope
        r.name = t.name
        r.shape = t.shape
        r.dtype = t.dtype
        r.requires_grad = t.requires_grad
        r.is_leaf = node is None
        r.node_id, r.output_index, r.num_outputs = i, 0, 1
        if node is not None and node.outputs is not None:
            r.num_outputs = len(node.outputs)
            present = [(index, ids[id(o)]) for index, o in node.live_outputs() if id(o) in ids]
            r.node_id = present[0][1]
            r.output_index = next(index for index, rid in present if rid == i)
        source = v._detached_from() if v._detached_from is not None else None
        r.was_detached = v._detached_from is not None
        r.detached_source = shown(source) if source is not None else None
        r.detached_from = ids.get(id(source)) if source is not None else None
        records.append(r)
    return records


def _saved_values(vertices):
    """``{id(vertex): array}`` for the op outputs whose array a node of the graph keeps: saved
    for its backward, or kept with the graph by ``backward(keep_grads=True)``. Only a vertex's
    producer and consumers are searched, so the ``id`` match is exact (see
    ``OpOutput._is_output``)."""
    found = {}
    done = set()
    for v in vertices:
        node = producer(v)
        if node is None or id(node) in done:
            continue
        done.add(id(node))
        arrays = node._saved or getattr(node, "shown_values", ())
        if not arrays:
            continue
        outputs = (node,) if node.outputs is None else tuple(p for _, p in node.live_outputs())
        for x in node.inputs + outputs:
            if isinstance(x, OpOutput) and id(x) not in found:
                for array in arrays:
                    if isinstance(array, np.ndarray) and x._is_output(array):
                        found[id(x)] = array
                        break
    return found


def backward_steps(roots):
    """The backward pass's schedule, in the order ``backward()`` visits it: each step is a
    vertex (a leaf tensor or an op output's record), or a tuple of the reached outputs of one
    multi-output op, whose gradients are complete at that step. Iterative.

    Reverse creation order over the vertices reachable through inputs that require a gradient;
    the reached outputs of one multi-output op form one step (in output order), taken where the
    first of them comes up, since its backward runs once for all of them. ``backward()`` runs
    exactly this schedule; :func:`backward_order` reports it as walk ids.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([1.0], requires_grad=True)
        >>> [step is x for step in backward_steps([(x * 2).sum()])]
        [False, False, True]
    """
    order = topological_order(roots, only_requires_grad=True)
    order.reverse()
    done = reached = None
    for position, vertex in enumerate(order):
        if type(vertex) is not Port:
            continue
        # A multi-output op (rare): all its reached outputs become one step, at the first.
        node = vertex.node
        if done is None:
            done, reached = set(), {id(v) for v in order}
        if id(node) in done:
            order[position] = None
            continue
        done.add(id(node))
        order[position] = tuple([p for _, p in node.live_outputs() if id(p) in reached])
    return order if done is None else [step for step in order if step is not None]


def backward_order(*roots):
    """The record ids of ``walk(*roots)`` in the order ``backward()`` completes their gradients.

    One entry per tensor that takes part in backward (requires a gradient and is reached from a
    root through such tensors): the roots first, every leaf after all its consumers, and all the
    reached outputs of a multi-output op next to each other. Tensors that need no gradient
    (constants, integer outputs) are not in it. A step-by-step replay of the backward pass (the
    explorer's "backward step k") is ``backward_order(root)[:k]``.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([1.0, 2.0], requires_grad=True, name="x")
        >>> loss = (x * 3.0).sum()
        >>> [(r.id, r.op) for r in walk(loss)]
        [(0, None), (1, None), (2, 'mul'), (3, 'sum')]
        >>> backward_order(loss)
        [3, 2, 0]
    """
    # (walk's ids are positions in this order: no records or values are needed here)
    ids = {id(v): i for i, v in enumerate(topological_order(roots, with_siblings=True))}
    order = []
    for step in backward_steps(roots):
        if type(step) is tuple:
            order.extend(ids[id(v)] for v in step)
        else:
            order.append(ids[id(step)])
    return order
