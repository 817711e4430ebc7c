"""Where every traced node belongs in an unrolled picture: the one home of the grid.

The textbook figure of backprop through time is a grid: one **column** per time step (time runs
left to right), one **row** per layer and direction (layer 0 forward at the bottom, its reverse
direction above it, then layer 1, ...), and inside a step the same ops in the same order in every
column (a **lane** per op: the ``i`` gate of step 3 sits where the ``i`` gate of step 2 sits).

:func:`slots` assigns each node of a :class:`~viz.trace.Trace` such a place. The static views
(:mod:`viz.views`) draw from it, and so can an interactive page: it is plain data, no Graphviz.
:func:`shared_inputs` and :func:`gathered_outputs` find the nodes outside the steps that many
steps use (a weight) or feed (the stack of all outputs): drawn as they are, their edges would fan
across the whole picture, so the views draw a small per-step stand-in instead.

Example:
    >>> import microtensor as mt
    >>> from viz.trace import trace
    >>> W = mt.tensor([[0.5]], requires_grad=True, name="W")
    >>> h = mt.ones(1, 1, name="h0")
    >>> for t in range(2):
    ...     with mt.scope(f"rnn/l0/t{t}"):
    ...         h = (h @ W).tanh(); h.name = "h"
    >>> tr = trace(h.sum())
    >>> [(tr.by_id[i].op, s.row, s.column, s.lane) for i, s in slots(tr).items() if s.column is not None]
    [('matmul', 0, 0, 0), ('tanh', 0, 0, 1), ('matmul', 0, 1, 0), ('tanh', 0, 1, 1)]
"""
from collections import namedtuple

Slot = namedtuple("Slot", "row family column lane where")
Slot.__doc__ = """A node's place in the grid.

``row``: index of its layer/direction (0 = layer 0 forward, then its reverse direction, then
layer 1, ...), None outside the steps. ``family``: that row's scope path (``"lstm/l1/reverse"``).
``column``: the time step t, None outside the steps. ``lane``: the op's fixed position inside its
step (the same in every column of the row), None outside the steps. ``where``: ``"step"``,
``"before"`` (nothing from a step flows into it: parameters, inputs, initial states, hoisted
projections) or ``"after"`` (it depends on some step: stacked outputs, the loss)."""


def family_key(family):
    """Sort key of a layer/direction scope path: by model, then layer number, forward first.

    Example:
        >>> sorted(["lstm/l1", "lstm/l0/reverse", "lstm/l10", "lstm/l0"], key=family_key)
        ['lstm/l0', 'lstm/l0/reverse', 'lstm/l1', 'lstm/l10']
    """
    from .style import natural_key
    return natural_key(family)


def rows(trace):
    """The layer/direction families of ``trace`` in row order (row 0 first).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> x = mt.ones(1, requires_grad=True)
        >>> for fam in ("gru/l1", "gru/l0/reverse", "gru/l0"):
        ...     with mt.scope(f"{fam}/t0"):
        ...         x = x.tanh()
        >>> rows(trace(x.sum()))
        ['gru/l0', 'gru/l0/reverse', 'gru/l1']
    """
    return sorted({n.step.family for n in trace.nodes if n.step is not None}, key=family_key)


def lane_key(node):
    """What identifies "the same op" in two steps: its name if it has one, else its op.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.ones(1, requires_grad=True)
        >>> lane_key(trace((h.tanh()).sum()).by_id[1])
        'tanh'
    """
    if node.name is not None:
        return f"{node.name} = {node.op}" if node.op else node.name
    return node.op or node.kind


def _after(trace):
    """Ids of the nodes outside the steps that some step's node flows into."""
    downstream = set()
    for n in trace.nodes:      # creation order: inputs come first
        if n.step is not None:
            continue
        if any(trace.by_id[i].step is not None or i in downstream for i in n.inputs):
            downstream.add(n.id)
    return downstream


def slots(trace):
    """``{node id: Slot}`` for every drawn node of ``trace`` (see :class:`Slot`).

    Lanes are numbered per row in the order the ops first appear inside a step; the k-th op with
    the same :func:`lane_key` in a step takes the same lane in every step, so an op that only some
    steps have (the ``where`` of a masked step) takes a lane of its own without moving the others.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> x = mt.ones(1, requires_grad=True, name="x")
        >>> with mt.scope("rnn/l0/t0"):
        ...     y = (x * 2.0).tanh()
        >>> s = slots(trace(y.sum()))
        >>> [(v.where, v.column, v.lane) for v in s.values()]
        [('before', None, None), ('step', 0, 0), ('step', 0, 1), ('after', None, None)]
    """
    order = {family: row for row, family in enumerate(rows(trace))}
    after = _after(trace)
    lanes = {}          # family -> {(lane key, occurrence): lane}
    seen = {}           # (family, t) -> {lane key: count so far}
    result = {}
    for n in trace.nodes:
        if n.step is None:
            result[n.id] = Slot(None, None, None, None, "after" if n.id in after else "before")
            continue
        family, t = n.step
        key = lane_key(n)
        counts = seen.setdefault((family, t), {})
        occurrence = counts.get(key, 0)
        counts[key] = occurrence + 1
        family_lanes = lanes.setdefault(family, {})
        lane = family_lanes.setdefault((key, occurrence), len(family_lanes))
        result[n.id] = Slot(order[family], family, t, lane, "step")
    return result


def shared_inputs(trace):
    """Nodes outside the steps that ops in two or more steps use: ``{id: {(family, t): [ids]}}``.

    The consumers are grouped by step, in creation order. A weight (or its hoisted transpose)
    is the typical case; drawn once with an edge to every step, it would fan edges across the
    picture.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> W = mt.tensor([2.0], requires_grad=True, name="W")
        >>> h = mt.ones(1)
        >>> for t in range(2):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h * W
        >>> shared_inputs(trace(h.sum()))
        {0: {('rnn/l0', 0): [2], ('rnn/l0', 1): [3]}}
    """
    uses = {}
    for n in trace.nodes:
        if n.step is None:
            continue
        for i in dict.fromkeys(n.inputs):
            source = trace.by_id[i]
            if source.kind != "const" and source.step is None:
                uses.setdefault(i, {}).setdefault(tuple(n.step), []).append(n.id)
    return {i: steps for i, steps in sorted(uses.items()) if len(steps) > 1}


def gathered_outputs(trace):
    """Nodes outside the steps fed by two or more steps: ``{id: {(family, t): [input ids]}}``.

    Typically the ``stack`` of every step's output.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.ones(1, requires_grad=True)
        >>> outs = []
        >>> for t in range(2):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h.tanh(); outs.append(h)
        >>> gathered_outputs(trace(mt.stack(outs).sum()))
        {3: {('rnn/l0', 0): [1], ('rnn/l0', 1): [2]}}
    """
    result = {}
    for n in trace.nodes:
        if n.step is not None:
            continue
        feeders = {}
        for i in dict.fromkeys(n.inputs):
            source = trace.by_id[i]
            if source.step is not None:
                feeders.setdefault(tuple(source.step), []).append(i)
        if len(feeders) > 1:
            result[n.id] = feeders
    return result
