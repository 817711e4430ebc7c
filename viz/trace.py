"""Step one of drawing: the graph behind a tensor as plain data (no Graphviz here).

:func:`trace` walks the graph iteratively with :func:`microtensor.graph.walk` and returns a
:class:`Trace`: one :class:`TracedNode` per drawn tensor with its kind (op, parameter, input,
constant, detached, root), its scope parsed into layer/direction/time step, its gradient
magnitude and the statistics the tooltips show, plus the edges. Ids are the walk's ids (creation
order), never ``id()``, so the same program always gives the same trace.

Example:
    >>> import microtensor as mt
    >>> w = mt.tensor([[0.5, -1.0]], requires_grad=True, name="w")
    >>> with mt.scope("rnn/l0/t0"):
    ...     h = (w * 2.0).tanh()
    >>> loss = h.sum()
    >>> loss.backward(keep_grads=True)
    >>> t = trace(loss)
    >>> [(n.id, n.kind, n.op) for n in t.nodes]
    [(0, 'param', None), (2, 'op', 'mul'), (3, 'op', 'tanh'), (4, 'root', 'sum')]
    >>> t.nodes[1].step
    StepKey(family='rnn/l0', t=0)
"""
import math
import warnings
from collections import namedtuple

import numpy as np

import microtensor as mt
from rnn import conventions

NORMS = ("l2", "maxabs")
# What a TracedNode caches for a value the graph did not keep (None means "not computed yet").
NOT_KEPT = ()


class NoGradientWarning(UserWarning):
    """Nothing in the drawn graph has a gradient: ``backward`` was not called (or not with
    ``keep_grads=True``), so every node would be grey.

    Example:
        >>> import warnings
        >>> import microtensor as mt
        >>> loss = (mt.ones(2, requires_grad=True) * 2.0).sum()
        >>> from viz import draw
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = draw(loss)
        >>> caught[0].category is NoGradientWarning
        True
    """


class FreedGraphWarning(UserWarning):
    """The tensor's graph was released by a plain ``backward()``: there is nothing to draw.

    Example:
        >>> import warnings
        >>> import microtensor as mt
        >>> loss = (mt.ones(2, requires_grad=True) * 2.0).sum()
        >>> loss.backward()
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = trace(loss)
        >>> caught[0].category is FreedGraphWarning
        True
    """


StepKey = namedtuple("StepKey", "family t")
StepKey.__doc__ = """Where a node sits in an unrolled network: ``family`` is the scope path before
the time-step part (``"lstm/l0/reverse"``), ``t`` the step. Sorting gives time order."""


def parse_scope(scope):
    """Split a scope path into ``(StepKey or None, path of the step cluster or None)``.

    The step convention (``t<k>``, the first such part marks the step; anything after it, a
    sub-scope inside a cell, belongs to the same step) is :mod:`rnn.conventions`'s, the one home
    rnn, its diagnostics and viz share.

    Example:
        >>> parse_scope("lstm/l1/reverse/t3/gates")
        (StepKey(family='lstm/l1/reverse', t=3), 'lstm/l1/reverse/t3')
        >>> parse_scope("head")
        (None, None)
    """
    step = conventions.parse_scope(scope) if scope else None
    if step is None:
        return None, None
    return StepKey(step.family, step.t), step.step


def magnitude(grad, norm="l2"):
    """The size of a gradient array: its L2 norm or its largest absolute entry (``norm="maxabs"``).

    Example:
        >>> magnitude(np.array([3.0, -4.0])), magnitude(np.array([3.0, -4.0]), "maxabs")
        (5.0, 4.0)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    g = np.asarray(grad, dtype=np.float64)
    if g.size == 0:
        return 0.0
    largest = float(np.max(np.abs(g)))
    if norm == "maxabs" or largest == 0 or not math.isfinite(largest):
        return largest
    # Scaled so that tiny gradients (1e-200, deep in a vanishing-gradient unroll) do not square
    # to zero and huge ones do not overflow.
    scaled = g / largest
    return largest * float(np.sqrt(np.sum(scaled * scaled)))


def short(value):
    """A number in short scientific notation, as node labels show it.

    Example:
        >>> short(0.0234), short(12345.0), short(0.0), short(float("nan")), short(-1.0)
        ('2.3e-2', '1.2e+4', '0', 'NaN', '-1.0e+0')
    """
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


def shape_text(shape):
    """``(2, 3)`` -> ``"2×3"``; ``()`` -> ``"scalar"``.

    Example:
        >>> shape_text((2, 3)), shape_text(())
        ('2×3', 'scalar')
    """
    return "×".join(str(s) for s in shape) if shape else "scalar"


class TracedNode:
    """One tensor to draw.

    Attributes:
        id: the walk id (creation order).
        kind: ``"op"``, ``"root"`` (the tensor drawn from; made by an op or a leaf), ``"param"``
            (a leaf that requires grad), ``"input"`` (a leaf without grad), ``"const"`` (an
            unnamed one-element leaf without grad, e.g. the ``2.0`` in ``x * 2.0``: folded into its
            consumer's label), ``"detached"`` (a leaf made by ``detach()``).
        op: the op name, or None for a leaf.
        name: the tensor's name (or the name given through ``params=``), or None.
        scope: the scope path; ``step`` and ``cell`` are its parsed time step (see
            :func:`parse_scope`).
        status: ``"ok"`` (a finite, non-zero gradient), ``"zero"``, ``"nograd"`` (none computed or
            kept), ``"bad"`` (NaN or Inf in the gradient).
        grad_magnitude: the gradient's size under the trace's norm, or None without a gradient.
        grad_l2, grad_maxabs: both sizes (for tooltips), or None.
        value_stats: ``(min, mean, max)`` of the data (NaN for an empty tensor).
        inputs: ids of the op's inputs (folded constants included).

    Example:
        >>> import microtensor as mt
        >>> w = mt.tensor([1.0], requires_grad=True, name="w")
        >>> node = trace((w * 3.0).sum()).by_id[0]
        >>> node.kind, node.name, node.status
        ('param', 'w', 'nograd')
    """

    __slots__ = ("id", "kind", "op", "name", "scope", "step", "cell", "shape", "dtype", "status",
                 "grad_magnitude", "grad_l2", "grad_maxabs", "_value_stats", "inputs", "record",
                 "const_value")

    def __repr__(self):
        return f"TracedNode(id={self.id}, kind={self.kind!r}, op={self.op!r}, name={self.name!r})"

    @property
    def tensor(self):
        """The traced tensor itself."""
        return self.record.tensor

    @property
    def value_stats(self):
        """``(min, mean, max)`` of the data, computed when first asked (only drawn nodes need it);
        None if the value was not kept (no backward saved it: see ``mt.keep_values``)."""
        if self._value_stats is None:
            data = self.record.tensor.data
            self._value_stats = NOT_KEPT if data is None else _value_stats(data)
        return None if self._value_stats is NOT_KEPT else self._value_stats

    @property
    def nonfinite_value(self):
        """Whether the data holds NaN or Inf (False when the value was not kept)."""
        data = self.record.tensor.data
        return data is not None and data.dtype.kind == "f" and not np.isfinite(data).all()


class Trace:
    """The result of :func:`trace`: nodes by id, edges, detach cuts and the shared magnitude range.

    Attributes:
        nodes: drawn nodes (folded constants excluded), in id order.
        by_id: every traced node (constants included) by id.
        edges: ``(src, dst)`` pairs between drawn nodes, in order.
        cuts: ``(src or None, dst, description)`` for every ``detach()``: ``src`` is the id of the
            detached-from tensor when it is in the graph, None when it is not (drawn as a stub).
        roots: ids of the tensors the trace started from.
        norm: ``"l2"`` or ``"maxabs"``.
        magnitude_range: ``(smallest, largest)`` finite non-zero gradient magnitude, or None.

    Example:
        >>> import microtensor as mt
        >>> w = mt.tensor([1.0, -2.0], requires_grad=True, name="w")
        >>> loss = (w * w).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> len(tr.nodes), tr.edges, tr.roots
        (3, [(0, 1), (0, 1), (1, 2)], [2])
    """

    def __init__(self, nodes, by_id, edges, cuts, roots, norm):
        self.nodes = nodes
        self.by_id = by_id
        self.edges = edges
        self.cuts = cuts
        self.roots = roots
        self.norm = norm
        finite = [n.grad_magnitude for n in nodes if n.status == "ok"]
        self.magnitude_range = (min(finite), max(finite)) if finite else None

    def steps(self):
        """The time steps present, sorted: family first, then time.

        Example:
            >>> import microtensor as mt
            >>> x = mt.ones(2, requires_grad=True)
            >>> for t in range(2):
            ...     with mt.scope(f"rnn/l0/t{t}"):
            ...         x = x.tanh()
            >>> trace(x.sum()).steps()
            [StepKey(family='rnn/l0', t=0), StepKey(family='rnn/l0', t=1)]
        """
        return sorted({n.step for n in self.nodes if n.step is not None})


def _roots_list(root):
    if isinstance(root, mt.Tensor):
        return [root]
    if not isinstance(root, (list, tuple)):
        raise TypeError(f"viz.draw/trace takes a microtensor Tensor (usually the loss, after "
                        f"loss.backward(keep_grads=True)) or a list of Tensors, not "
                        f"{type(root).__name__}")
    roots = list(root)
    for r in roots:
        if not isinstance(r, mt.Tensor):
            raise TypeError(f"viz.draw/trace takes a Tensor or a list of Tensors; the list holds a "
                            f"{type(r).__name__}")
    if not roots:
        raise ValueError("draw/trace needs at least one tensor")
    return roots


def _param_names(params):
    """``{id(tensor): name}`` from a Module (its named_parameters) or a dict name -> tensor."""
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return {id(t): name for name, t in items}


def _value_stats(data):
    if data.size == 0 or data.dtype.kind not in "fiub":
        return (math.nan, math.nan, math.nan)
    d = data.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        return (float(np.min(d)), float(np.mean(d)), float(np.max(d)))


def _gradient_fields(node, tensor, norm):
    grad = tensor.grad if tensor.requires_grad else None
    node.grad_l2 = node.grad_maxabs = node.grad_magnitude = None
    if grad is None:
        node.status = "nograd"
        return
    g = np.asarray(grad)
    largest = float(np.max(np.abs(g))) if g.size else 0.0
    if not math.isfinite(largest):   # NaN propagates through max; so does Inf
        node.status = "bad"
        node.grad_l2 = node.grad_maxabs = node.grad_magnitude = math.nan
        return
    node.grad_maxabs = largest
    node.grad_l2 = magnitude(g, "l2") if largest > 0 else 0.0
    node.grad_magnitude = node.grad_l2 if norm == "l2" else node.grad_maxabs
    if node.grad_maxabs == 0:
        node.status = "zero"
    elif not math.isfinite(node.grad_magnitude):
        node.status = "bad"   # the norm itself overflowed float64
    else:
        node.status = "ok"


def trace(root, norm="l2", params=None):
    """Walk the graph behind ``root`` (a tensor or a list of tensors) into a :class:`Trace`.

    Call it after ``loss.backward(keep_grads=True)`` to see every node's gradient; without kept
    gradients the nodes are traced as ``"nograd"``.

    Args:
        root: the tensor(s) to draw from, usually the loss.
        norm: ``"l2"`` (default) or ``"maxabs"``: how a gradient array becomes one magnitude.
        params: optional Module or ``{name: tensor}`` naming unnamed parameters in labels.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([3.0, 4.0], requires_grad=True, name="x")
        >>> loss = (x * x).sum()
        >>> loss.backward(keep_grads=True)
        >>> t = trace(loss)
        >>> t.by_id[0].grad_magnitude, t.magnitude_range
        (10.0, (1.0, 10.0))
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    roots = _roots_list(root)
    names = _param_names(params)
    records = mt.graph.walk(*roots)
    freed = [r for r in roots if r.grad_fn is not None and r.grad_fn.freed and not r.grad_fn.inputs]
    if freed:
        warnings.warn("backward() already freed the graph behind this tensor, so only the tensor "
                      "itself can be drawn: call loss.backward(keep_grads=True) to keep the graph "
                      "and every intermediate gradient for drawing", FreedGraphWarning, stacklevel=3)
    root_ids = {id(r) for r in roots}
    by_id = {}
    scopes = {}
    consumers = {}
    for rec in records:
        for i in rec.inputs:
            consumers.setdefault(i, []).append(rec.id)
    for rec in records:
        t = rec.tensor
        n = TracedNode()
        n.id = rec.id
        n.record = rec
        n.op = rec.op
        n.name = rec.name if rec.name is not None else names.get(id(t))
        n.scope = rec.scope
        parsed = scopes.get(rec.scope)
        if parsed is None:
            parsed = scopes[rec.scope] = parse_scope(rec.scope)
        n.step, n.cell = parsed
        n.shape = tuple(rec.shape)
        n.dtype = rec.dtype
        n.inputs = rec.inputs
        n._value_stats = None
        n.const_value = None
        # was_detached (not just detached_from, which is None when the source is outside this
        # graph) is what lets a truncated-BPTT cut show as a stub.
        detached = rec.was_detached
        if id(t) in root_ids:
            n.kind = "root"
        elif not rec.is_leaf:
            n.kind = "op"
        elif rec.requires_grad:
            n.kind = "param"
        elif detached:
            n.kind = "detached"
        elif n.name is None and t.data.size == 1 and rec.id in consumers:
            n.kind = "const"
            n.const_value = t.data.reshape(()).item()
        else:
            n.kind = "input"
        _gradient_fields(n, t, norm)
        by_id[rec.id] = n
    nodes = [n for n in by_id.values() if n.kind != "const"]
    edges = [(i, n.id) for n in nodes for i in n.inputs if by_id[i].kind != "const"]
    cuts = []
    for n in nodes:
        if n.kind != "detached":
            continue
        source_id = n.record.detached_from
        if source_id is not None:
            cuts.append((source_id, n.id, f"detach() of #{source_id}"))
            continue
        source = n.record.detached_source
        if source is None:
            cuts.append((None, n.id, "detach() of a tensor that no longer exists"))
        else:
            where = source.scope
            what = source.name or (source.grad_fn.op if source.grad_fn is not None else "tensor")
            cuts.append((None, n.id, f"detach() of {what}" + (f" in {where}" if where else "")
                         + " (outside this graph)"))
    root_order = [rec.id for rec in records if id(rec.tensor) in root_ids]
    return Trace(nodes, by_id, edges, cuts, root_order, norm)
