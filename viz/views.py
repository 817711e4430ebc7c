"""The three views: how a :class:`~viz.trace.Trace` becomes nodes, clusters and edges.

- :func:`draw_ops`: every op, in nested clusters from the scope path (model > layer > direction >
  time step).
- :func:`draw_cells`: one box per cell per time step (one column per step), internals hidden; ops
  outside the cells are contracted so that their edges pass through.
- :func:`draw_rolled`: each layer/direction once, with a loop edge and a per-step strip.

Each takes ``(trace, graph, scale, show, revealed, hidden, leaves)`` and adds to ``graph``;
:func:`viz.draw` picks one and adds the legend.
"""
import html
import math
import re

import graphviz
import numpy as np

from .colors import BAD_FILL, NO_GRAD_FILL, ZERO_GRAD_FILL
from .style import (cluster_attrs, cluster_name, const_text, family_label, kept_node_attrs,
                    natural_key, node_fill, node_label, node_tooltip)
from .trace import short, shape_text

_STRIP_CELLS = 60             # most squares in a rolled view's strip (more steps share a square)
NO_STEPS = ("view='cells' and view='rolled' need time-step scopes: run each step inside "
            "mt.scope('<model>/l<k>/t<t>') (rnn.RNN/LSTM/GRU do, unless fused=True); this graph "
            "has none, use view='ops'")


def _cut_stubs(tr, add_node, add_edge):
    """Detach cuts: a dashed edge from the source when it is in the graph, else from a stub."""
    for k, (src, dst, text) in enumerate(tr.cuts):
        if src is None:
            stub = f"cut{k}"
            add_node(stub, label=f"✂ {text}".replace('"', "'"), shape="box", style="dashed,rounded",
                     color="#888888", fontcolor="#555555", fontsize="9", tooltip=text)
            add_edge(stub, dst, style="dashed", color="#888888", label="✂ detach()", fontsize="8")
        else:
            # Kept as a ranking constraint: the next chunk of a truncated BPTT is laid out after
            # the step it continues from.
            add_edge(src, dst, style="dashed", color="#888888", label="✂ detach()", fontsize="8",
                     penwidth="1.5")


def _family_order_edges(steps_by_family, first_node, add_edge):
    """Invisible edges t -> t+1 in families whose recurrence runs backwards in time (reverse
    direction), so that every family's steps are laid out left to right in time order."""
    for family, ts in steps_by_family.items():
        for a, b in zip(ts, ts[1:]):
            add_edge(first_node[(family, a)], first_node[(family, b)], style="invis", weight="2")


# ----------------------------------------------------------------------------------------------
# views
# ----------------------------------------------------------------------------------------------
def hidden_states(tr, hidden):
    """``{(family, t): TracedNode}`` of each step's hidden state (see rnn.diagnostics.step_states).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.ones(1, requires_grad=True)
        >>> with mt.scope("gru/l0/t0"):
        ...     h = h.tanh(); h.name = "h"
        >>> [(key, node.op) for key, node in hidden_states(trace(h.sum()), "h").items()]
        [(('gru/l0', 0), 'tanh')]
    """
    from rnn.diagnostics import step_states
    records = [n.record for n in tr.by_id.values()]
    return {key: tr.by_id[rec.id] for key, rec in step_states(records, name=hidden).items()}


def partial_masks(tr):
    """``{(family, t): "k of B sequences masked"}`` for steps that mask some, not all, sequences.

    Found from ``where(mask, new, old)`` ops whose condition is a boolean leaf named ``"mask"``
    (the marker a layer gives its ``lengths`` mask); fully masked steps are found by their zero
    gradient instead (:func:`_masked_cells`).

    Example:
        >>> import numpy as np
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.ones(2, 1, requires_grad=True)
        >>> with mt.scope("rnn/l0/t0"):
        ...     h = mt.where(mt.tensor(np.array([[True], [False]]), name="mask"), h.tanh(), h)
        >>> partial_masks(trace(h.sum()))
        {('rnn/l0', 0): '1 of 2 sequences masked'}
    """
    notes = {}
    for n in tr.nodes:
        if n.op != "where" or n.step is None or tuple(n.step) in notes:
            continue
        cond = tr.by_id[n.inputs[0]]
        data = cond.tensor.data
        if cond.op is None and cond.name == "mask" and data.dtype == bool and data.size:
            masked = int(data.size - np.count_nonzero(data))
            if 0 < masked < data.size:
                notes[tuple(n.step)] = f"{masked} of {data.size} sequences masked"
    return notes


def _masked_cells(tr, states):
    """Steps whose hidden state got an exactly-zero gradient (padding masked by ``lengths``)."""
    return {key for key, node in states.items() if node.status == "zero"}


def _backward_in_time(tr, key_of):
    """Families with an edge from a later step to an earlier one (reverse-direction recurrence)."""
    families = set()
    for src, dst in tr.edges:
        a, b = key_of(src), key_of(dst)
        if a is not None and b is not None and a[0] == b[0] and a[1] > b[1]:
            families.add(a[0])
    return families


def draw_ops(tr, g, scale, show, revealed, hidden, leaves=True):
    """Every op a node, nested in clusters from its scope path; parameters, inputs, the loss.

    Example:
        >>> import microtensor as mt, viz
        >>> x = mt.tensor([1.0], requires_grad=True, name="x")
        >>> with mt.scope("rnn/l0/t0"):
        ...     y = (x * 2.0).sum()
        >>> y.backward(keep_grads=True)
        >>> "subgraph cluster_rnn_l0_t0" in viz.draw(y, view="ops").source
        True
    """
    states = hidden_states(tr, hidden) if tr.steps() else {}
    masked = _masked_cells(tr, states)
    notes = partial_masks(tr)
    # Build the scope tree: path -> (subgraph, depth); nodes go into the deepest cluster.
    clusters = {}
    children = {}
    for n in tr.nodes:
        if not n.scope:
            continue
        parts = n.scope.split("/")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path not in clusters:
                step = re.match(r"^t(\d+)$", parts[i - 1])
                key = ("/".join(parts[:i - 1]), int(step.group(1))) if step else None
                attrs = cluster_attrs(path, i - 1, key in masked, notes.get(key))
                clusters[path] = graphviz.Digraph(cluster_name(path), graph_attr=attrs)
                children.setdefault("/".join(parts[:i - 1]), []).append(path)

    def target(scope):
        return clusters[scope] if scope else g

    roots = set(tr.roots)
    skipped = set() if leaves else {n.id for n in tr.nodes
                                    if n.kind in ("param", "input") and n.id not in roots}
    for n in tr.nodes:
        if n.id in skipped:
            continue
        fill, fontc = node_fill(n, scale, revealed)
        attrs = {"label": node_label(n, show, const_text(n, tr)), "fillcolor": fill, "fontcolor": fontc,
                 "tooltip": node_tooltip(n, tr.norm), "id": f"n{n.id}"}
        if n.id in roots:
            attrs.update(shape="doubleoctagon" if n.record.tensor.size == 1 else "box",
                         style="filled,bold", penwidth="2")
        elif n.kind == "op":
            attrs.update(shape="box", style="rounded,filled")
        elif n.kind == "param":
            attrs.update(shape="box", style="filled,bold", penwidth="2")
        elif n.kind == "detached":
            attrs.update(shape="box", style="filled,dashed")
        else:
            attrs.update(shape="note", style="filled")
        if n.status == "zero":
            attrs["color"] = "#888888"
        target(n.scope).node(f"n{n.id}", **attrs)

    step_of = {n.id: n.step for n in tr.nodes}
    backwards = _backward_in_time(tr, lambda i: step_of.get(i))
    for src, dst in tr.edges:
        if src in skipped:
            continue
        a, b = step_of.get(src), step_of.get(dst)
        attrs = {}
        if a is not None and b is not None and a.family == b.family and a.t > b.t:
            attrs["constraint"] = "false"
        elif tr.by_id[src].kind == "param" and b is not None:
            # A parameter feeds every step: left as a ranking constraint, it ties every step's
            # input-side ops to the far left and stacks the steps; free, each step stays compact
            # and the steps run left to right.
            attrs["constraint"] = "false"
        g.edge(f"n{src}", f"n{dst}", **attrs)
    _cut_stubs(tr, lambda name, **kw: g.node(name, **kw),
               lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))
    if backwards:
        first = {}
        for n in tr.nodes:
            if n.step is not None and n.step.family in backwards:
                first.setdefault(tuple(n.step), f"n{n.id}")
        steps = {}
        for fam, t in sorted(first):
            steps.setdefault(fam, []).append(t)
        _family_order_edges(steps, first, g.edge)

    # Attach clusters bottom-up (a subgraph's text is copied when attached), children in
    # natural order so time steps appear as t0, t1, ..., t10.
    for path in sorted(clusters, key=lambda p: -p.count("/")):
        kids = sorted(children.get(path, []), key=natural_key)
        for kid in kids:
            clusters[path].subgraph(clusters[kid])
    for kid in sorted(children.get("", []), key=natural_key):
        g.subgraph(clusters[kid])


def _units_and_edges(tr, unit_of):
    """Contract every node without a unit; return unit -> unit edges in first-seen order.

    ``unit_of(node)`` is the drawn unit (a cell, a family, a node) or None to contract the node:
    edges pass through contracted nodes (one pass in creation order, no recursion).
    """
    sources = {}
    edges = {}
    for n in tr.nodes:
        u = unit_of(n)
        feeders = set()
        for i in n.inputs:
            inp = tr.by_id[i]
            if inp.kind == "const":
                continue
            ui = unit_of(inp)
            if ui is not None:
                feeders.add(ui)
            else:
                feeders |= sources.get(i, frozenset())
        if u is None:
            sources[n.id] = frozenset(feeders)
        else:
            for f in sorted(feeders, key=repr):
                if f != u:
                    edges.setdefault((f, u), None)
    return list(edges)


def draw_cells(tr, g, scale, show, revealed, hidden, leaves=True):
    """One box per cell and time step, coloured by its hidden state's gradient; one column per step.

    Example:
        >>> import microtensor as mt, viz
        >>> h = mt.tensor([[0.5]], requires_grad=True)
        >>> for t in range(2):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h.tanh(); h.name = "h"
        >>> loss = h.sum()
        >>> loss.backward(keep_grads=True)
        >>> import re
        >>> sorted(set(re.findall(r"c_rnn_l0_t[0-9]", viz.draw(loss, view="cells").source)))
        ['c_rnn_l0_t0', 'c_rnn_l0_t1']
    """
    states = hidden_states(tr, hidden)
    if not states:
        raise ValueError(NO_STEPS)
    masked = _masked_cells(tr, states)
    notes = partial_masks(tr)
    keep = set(tr.roots) | {n.id for n in tr.nodes if n.kind == "detached"}

    def unit_of(n):
        if n.step is not None:
            return ("cell",) + tuple(n.step)
        return ("node", n.id) if n.id in keep else None

    def name(u):
        return f"c_{re.sub(r'[^A-Za-z0-9]', '_', u[1])}_t{u[2]}" if u[0] == "cell" else f"n{u[1]}"

    big = len(states) > 300   # thousands of clusters make dot slow: use plain columns then
    by_t = {}
    for (family, t), node in states.items():
        by_t.setdefault(t, []).append((family, node))
    for t in sorted(by_t):
        all_masked = all((family, t) in masked for family, _ in by_t[t])
        col = g if big else graphviz.Digraph(f"cluster_t{t}",
                                             graph_attr=cluster_attrs(f"t{t}", 4, all_masked))
        for family, node in sorted(by_t[t], key=lambda x: natural_key(x[0])):
            fill, fontc = node_fill(node, scale, revealed)
            lines = [family_label(family), f"t = {t}"]
            if "shape" in show:
                lines.append(f"{hidden} {shape_text(node.shape)}")
            if "grad" in show:
                lines.append(f"∇{hidden} {short(node.grad_magnitude)}" if node.status != "nograd"
                             else f"∇{hidden} none")
            if (family, t) in masked:
                lines.append("masked")
            elif (family, t) in notes:
                lines.append(notes[(family, t)])
            col.node(name(("cell", family, t)), label="\\n".join(lines), shape="box",
                     style="rounded,filled" + (",dashed" if (family, t) in masked else ""),
                     fillcolor=fill, fontcolor=fontc, tooltip=node_tooltip(node, tr.norm),
                     id=name(("cell", family, t)))
        if not big:
            g.subgraph(col)
    for n in tr.nodes:
        if n.id in keep:
            g.node(f"n{n.id}", **kept_node_attrs(n, scale, tr, show, revealed))
    edges = _units_and_edges(tr, unit_of)
    # Between layers the outputs are stacked over time and sliced again, which structurally links
    # every step of layer k to every step of layer k+1. Where step t -> step t links exist between
    # two families, draw only those (the real data flow); otherwise (e.g. attention) draw all.
    diagonal = {(a[1], b[1]) for a, b in edges
                if a[0] == "cell" and b[0] == "cell" and a[1] != b[1] and a[2] == b[2]}
    edges = [(a, b) for a, b in edges
             if not (a[0] == "cell" and b[0] == "cell" and (a[1], b[1]) in diagonal and a[2] != b[2])]
    # Many cells feeding one node through contracted ops (the stack of all outputs before a loss
    # on the last step) would draw T converging edges that make dot crawl: keep the edge from the
    # family's last step that got a gradient (masked padding steps get none) and say how many
    # edges it stands for.
    fan_in = {}
    for a, b in edges:
        if a[0] == "cell" and not (b[0] == "cell" and b[1] == a[1]):
            fan_in.setdefault((b, a[1]), []).append(a)
    labels = {}
    for (b, family), sources in fan_in.items():
        if len(sources) > 3:
            live = [u for u in sources if states[(u[1], u[2])].status != "zero"] or sources
            final = (min if family.endswith("reverse") else max)(live, key=lambda u: u[2])
            labels[(final, b)] = f"+ {len(sources) - 1} other steps"
            dropped = {(u, b) for u in sources if u != final}
            edges = [e for e in edges if e not in dropped]
    backwards = set()
    for a, b in edges:
        attrs = {}
        if (a, b) in labels:
            attrs.update(label=labels[(a, b)], fontsize="8", style="dashed")
        if a[0] == "cell" and b[0] == "cell" and a[1] == b[1] and a[2] > b[2]:
            attrs["constraint"] = "false"
            backwards.add(a[1])
        g.edge(name(a), name(b), **attrs)
    _cut_stubs(tr, lambda nm, **kw: g.node(nm, **kw),
               lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))
    # Columns in time order, whatever the directions: an invisible chain through each column's
    # first cell (reverse-direction recurrences were drawn with constraint=false above).
    columns = sorted(by_t)
    heads = {t: name(("cell",) + min(((f, t) for f, _ in by_t[t]), key=lambda k: natural_key(k[0])))
             for t in columns}
    for a, b in zip(columns, columns[1:]):
        g.edge(heads[a], heads[b], style="invis", weight="4")


def _strip(values, statuses, scale):
    """HTML cells: one square per (group of) time step(s), coloured like the nodes."""
    count = len(values)
    per = max(1, math.ceil(count / _STRIP_CELLS))
    cells = []
    for start in range(0, count, per):
        chunk = [(v, s) for v, s in zip(values[start:start + per], statuses[start:start + per])]
        ok = [v for v, s in chunk if s == "ok"]
        if any(s == "bad" for _, s in chunk):
            color = BAD_FILL
        elif ok:
            color = scale.color(max(ok))
        elif any(s == "zero" for _, s in chunk):
            color = ZERO_GRAD_FILL
        else:
            color = NO_GRAD_FILL
        cells.append(f'<TD BGCOLOR="{color}" WIDTH="{12 if count > 20 else 22}" HEIGHT="16" '
                     f'BORDER="1" COLOR="#dddddd"></TD>')
    return cells, per


def draw_rolled(tr, g, scale, show, revealed, hidden, leaves=True):
    """Each layer/direction once: a loop edge ``T = ...`` and a strip of per-step hidden gradients.

    Example:
        >>> import microtensor as mt, viz
        >>> h = mt.tensor([[0.5]], requires_grad=True)
        >>> for t in range(3):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h.tanh(); h.name = "h"
        >>> loss = h.sum()
        >>> loss.backward(keep_grads=True)
        >>> 'label="T = 3"' in viz.draw(loss, view="rolled").source
        True
    """
    states = hidden_states(tr, hidden)
    if not states:
        raise ValueError(NO_STEPS)
    keep = set(tr.roots) | {n.id for n in tr.nodes if n.kind == "detached"}
    families = {}
    for (family, t), node in states.items():
        families.setdefault(family, []).append((t, node))

    def unit_of(n):
        if n.step is not None:
            return ("family", n.step.family)
        return ("node", n.id) if n.id in keep else None

    def name(u):
        return f"f_{re.sub(r'[^A-Za-z0-9]', '_', u[1])}" if u[0] == "family" else f"n{u[1]}"

    for family in sorted(families, key=natural_key):
        steps = sorted(families[family], key=lambda x: x[0])
        values = [node.grad_magnitude for _, node in steps]
        statuses = [node.status if revealed is None or node.id in revealed or node.status == "nograd"
                    else "nograd" for _, node in steps]
        cells, per = _strip(values, statuses, scale)
        ts = [t for t, _ in steps]
        span = len(cells)
        first, last = steps[0][1], steps[-1][1]
        title = html.escape(f"{family_label(family)} cell, unrolled T = {len(steps)}")
        caption = f"∇{hidden} per step, t = {ts[0]} … {ts[-1]}"
        if per > 1:
            caption += f" ({per} steps per square)"
        ends = (f"∇{hidden}(t={ts[0]}) = {short(first.grad_magnitude)}   "
                f"∇{hidden}(t={ts[-1]}) = {short(last.grad_magnitude)}")
        label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
                 f'<TR><TD COLSPAN="{span}"><B>{title}</B></TD></TR>'
                 f'<TR>{"".join(cells)}</TR>'
                 f'<TR><TD COLSPAN="{span}"><FONT POINT-SIZE="9">{html.escape(caption)}</FONT></TD></TR>'
                 f'<TR><TD COLSPAN="{span}"><FONT POINT-SIZE="9">{html.escape(ends)}</FONT></TD></TR>'
                 f'</TABLE>>')
        detail = "\\n".join(f"t={t}: ∇{hidden} {short(node.grad_magnitude)}" for t, node in steps[:60])
        if len(steps) > 60:
            detail += f"\\n… ({len(steps) - 60} more steps)"
        u = name(("family", family))
        g.node(u, label=label, shape="box", style="rounded,filled", fillcolor="white",
               tooltip=f"{family}\\n{detail}", id=u)
        g.edge(u, u, label=f"T = {len(steps)}", fontsize="10", color="#444444", penwidth="1.5")
    for n in tr.nodes:
        if n.id in keep:
            g.node(f"n{n.id}", **kept_node_attrs(n, scale, tr, show, revealed))
    for a, b in _units_and_edges(tr, unit_of):
        g.edge(name(a), name(b))
    _cut_stubs(tr, lambda nm, **kw: g.node(nm, **kw),
               lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))


DRAWERS = {"ops": draw_ops, "cells": draw_cells, "rolled": draw_rolled}
