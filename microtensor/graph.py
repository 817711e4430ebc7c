"""The graph as data: scopes, node records and an iterative walk.

Every op application that needs a gradient leaves a :class:`Node` on its output tensor
(``tensor._node``). A node knows its op, its input tensors, the scope path that was active when it
was made (``"lstm/l0/t3"``) and a creation sequence number. :func:`walk` turns the graph behind any
tensor into a list of :class:`GraphRecord` in topological order with stable ids (creation order,
never ``id()``), which is what the renderer in ``viz`` draws.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> with mt.scope("rnn"), mt.scope("t0"):
    ...     y = (x * x).sum()
    >>> [(r.id, r.op, r.scope) for r in mt.graph.walk(y)]
    [(0, None, ''), (1, 'mul', 'rnn/t0'), (2, 'sum', 'rnn/t0')]
"""
import itertools
from contextlib import contextmanager
from operator import attrgetter

# One counter for tensors and nodes alike: creation order is what makes ids stable across runs.
_creation_counter = itertools.count()
next_seq = _creation_counter.__next__


class _ScopeState:
    # A list of parts and the joined path, kept in sync so that Function.apply reads one attribute.
    parts = []
    path = ""


@contextmanager
def scope(name):
    """Record ``name`` (joined with ``/`` to any enclosing scope) on every node made inside.

    Example:
        >>> import microtensor as mt
        >>> with mt.scope("lstm/l0"), mt.scope("t3"):
        ...     print(mt.current_scope())
        lstm/l0/t3
    """
    name = str(name).strip("/")
    if not name:
        raise ValueError("scope name must be a non-empty string")
    parts = _ScopeState.parts
    parts.append(name)
    previous = _ScopeState.path
    _ScopeState.path = "/".join(parts)
    try:
        yield _ScopeState.path
    finally:
        parts.pop()
        _ScopeState.path = previous


def current_scope():
    """The scope path active now (``""`` outside any scope).

    Example:
        >>> import microtensor as mt
        >>> mt.current_scope()
        ''
    """
    return _ScopeState.path


class Node:
    """The record one op application leaves on its output tensor.

    Attributes: ``fn`` (the Function class), ``ctx`` (its Context), ``inputs`` (input tensors, in
    order), ``scope`` (path string), ``seq`` (creation order), ``freed`` (backward has released the
    saved arrays).
    """

    __slots__ = ("fn", "ctx", "inputs", "scope", "seq", "freed")

    def __init__(self, fn, ctx, inputs, scope):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.scope = scope
        self.seq = next_seq()
        self.freed = False

    @property
    def op(self):
        """The op's name, e.g. ``"matmul"``."""
        return self.fn.name

    def __repr__(self):
        where = f" in {self.scope!r}" if self.scope else ""
        return f"<Node {self.op}{where}>"


class GraphRecord:
    """One tensor of a walked graph, with everything a drawing or a diagnostic needs.

    ``id`` is its position in creation order among the walked tensors (stable across runs);
    ``op`` is None for a leaf; ``inputs`` are the ids of the op's inputs; ``tensor`` is the tensor
    itself (its ``.data`` and, after ``backward(keep_grads=True)``, its ``.grad``).
    ``was_detached`` tells a leaf made by ``detach()`` (a truncated-BPTT cut); ``detached_source``
    is the tensor it was cut from if that still exists (``detached_from`` is its id when it is
    also part of this graph).
    """

    __slots__ = ("id", "tensor", "op", "inputs", "scope", "name", "shape", "dtype",
                 "requires_grad", "is_leaf", "detached_from", "was_detached", "detached_source")

    def __repr__(self):
        return (f"GraphRecord(id={self.id}, op={self.op!r}, name={self.name!r}, "
                f"shape={self.shape}, scope={self.scope!r}, inputs={self.inputs})")

    @property
    def grad(self):
        """The tensor's gradient if it was kept (``keep_grads=True``, leaves, ``retain_grad``)."""
        return self.tensor.grad


def topological_order(roots, only_requires_grad=False):
    """Tensors reachable from ``roots``, every input before its consumers. Iterative.

    Creation order is a topological order (an op's inputs exist before its output), so one
    reachability pass plus one C-level sort by creation number does it, and the order does not
    depend on which root was given first. The backward pass walks it in reverse.

    Example:
        >>> import microtensor as mt
        >>> a = mt.tensor([1.0], requires_grad=True)
        >>> [t is a for t in topological_order([a * 2])]
        [True, False, False]
    """
    seen = set()
    order = []
    stack = list(roots)
    while stack:
        tensor = stack.pop()
        key = id(tensor)
        if key in seen:
            continue
        seen.add(key)
        order.append(tensor)
        node = tensor._node
        if node is not None:
            for inp in node.inputs:
                if id(inp) not in seen and (inp.requires_grad or not only_requires_grad):
                    stack.append(inp)
    order.sort(key=_creation_number)
    return order


_creation_number = attrgetter("_seq")


def walk(*roots):
    """The graph behind ``roots`` as :class:`GraphRecord` s in creation (= topological) order.

    Ids are positions in creation order, so the same program gives the same ids on every run.
    Works after ``backward(keep_grads=True)`` or ``retain_graph=True``; after a plain backward the
    graph's structure is released and only the root is left.

    Example:
        >>> import microtensor as mt
        >>> w = mt.tensor([[1.0, 2.0]], requires_grad=True, name="w")
        >>> y = (w @ w.T).tanh()
        >>> [r.op for r in walk(y)]
        [None, 'transpose', 'matmul', 'tanh']
    """
    tensors = topological_order(roots)
    ids = {id(t): i for i, t in enumerate(tensors)}
    records = []
    for i, t in enumerate(tensors):
        r = GraphRecord()
        r.id = i
        r.tensor = t
        node = t._node
        r.op = node.op if node is not None else None
        r.inputs = tuple(ids[id(x)] for x in node.inputs) if node is not None else ()
        r.scope = node.scope if node is not None else t._scope
        r.name = t.name
        r.shape = t.shape
        r.dtype = t.dtype
        r.requires_grad = t.requires_grad
        r.is_leaf = node is None
        source = t._detached_from() if t._detached_from is not None else None
        r.was_detached = t._detached_from is not None
        r.detached_source = source
        r.detached_from = ids.get(id(source)) if source is not None else None
        records.append(r)
    return records
