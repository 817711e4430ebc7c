"""The three views: how a :class:`~viz.trace.Trace` becomes nodes, clusters and edges.

- :func:`viz.ops_view.draw_ops`: every op, time steps as columns, layers and directions as rows.
- :func:`draw_cells`: one box per cell per time step (one column per step), internals hidden; ops
  outside the cells are contracted so that their edges pass through.
- :func:`draw_rolled`: each layer/direction once, with a loop edge and a per-step strip.

Each takes ``(trace, graph, scale, show, revealed, hidden, leaves)``, adds to ``graph`` and returns
``{DOT node name: (family, t)}`` of the nodes it placed in the time-step grid; :func:`viz.draw`
picks one, adds the legend and keeps that mapping as ``microtensor_grid``.
"""
import html
import math
import re

import numpy as np
from rnn import conventions

from .colors import BAD_FILL, MASKED_FILL, NO_GRAD_FILL, ZERO_GRAD_FILL
from .layout import family_key
from .style import (dot_text, family_label, header_attrs, kept_node_attrs, natural_key, node_fill,
                    node_tooltip, reached)
from .trace import short, shape_text

_STRIP_CELLS = 60             # most squares in a rolled view's strip (more steps share a square)
WRAP = 20      # the most time steps on one line of the cells view
NO_STEPS = ("view='cells' and view='rolled' need time-step scopes: run each step inside "
            "mt.scope('<model>/l<k>/t<t>') (rnn.RNN/LSTM/GRU do, unless fused=True); this graph "
            "has none, use view='ops'")


def cut_stubs(tr, add_node, add_edge):
    """Detach cuts: a dashed edge from the source when it is in the graph, else from a stub."""
    for k, (src, dst, text) in enumerate(tr.cuts):
        if src is None:
            stub = f"cut{k}"
            add_node(stub, label=dot_text(f"✂ {text}"), shape="box", style="dashed,rounded",
                     color="#888888", fontcolor="#555555", fontsize="9", tooltip=text)
            add_edge(stub, dst, style="dashed", color="#888888", label="✂ detach()", fontsize="8")
        else:
            # Kept as a ranking constraint: the next chunk of a truncated BPTT is laid out after
            # the step it continues from.
            add_edge(src, dst, style="dashed", color="#888888", label="✂ detach()", fontsize="8",
                     penwidth="1.5")


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


def step_marks(tr):
    """``(masked, notes)``: the steps padded under ``lengths`` and notes for partly padded ones.

    Found from ``where(mask, new, old)`` ops whose condition is a boolean leaf named ``"mask"``
    (the marker a layer gives its ``lengths`` mask, made only at steps where some sequence is
    padding): a step where every sequence is padding is ``masked``; one where some are gets the
    note ``"k of B sequences masked"``. A zero gradient alone never marks a step as masked: it can
    be mathematically zero (a reverse direction's early steps under a loss on the last output).

    Example:
        >>> import numpy as np
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.ones(2, 1, requires_grad=True)
        >>> with mt.scope("rnn/l0/t0"):
        ...     h = mt.where(mt.tensor(np.array([[True], [False]]), name="mask"), h.tanh(), h)
        >>> with mt.scope("rnn/l0/t1"):
        ...     h = mt.where(mt.tensor(np.array([[False], [False]]), name="mask"), h.tanh(), h)
        >>> step_marks(trace(h.sum()))
        ({('rnn/l0', 1)}, {('rnn/l0', 0): '1 of 2 sequences masked'})
    """
    masked, notes = set(), {}
    for n in tr.nodes:
        if n.op != "where" or n.step is None:
            continue
        key = tuple(n.step)
        cond = tr.by_id[n.inputs[0]]
        data = cond.tensor.data
        if cond.op is None and cond.name == conventions.MASK and data.dtype == bool and data.size:
            padded = int(data.size - np.count_nonzero(data))
            if padded == data.size:
                masked.add(key)
                notes.pop(key, None)
            elif padded and key not in masked:
                notes[key] = f"{padded} of {data.size} sequences masked"
    return masked, notes


def _backward_in_time(tr, key_of):
    """Families with an edge from a later step to an earlier one (reverse-direction recurrence)."""
    families = set()
    for src, dst in tr.edges:
        a, b = key_of(src), key_of(dst)
        if a is not None and b is not None and a[0] == b[0] and a[1] > b[1]:
            families.add(a[0])
    return families


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


def contracted_edges(tr, unit_of, step_of, live):
    """Unit -> unit edges with every node without a unit contracted, thinned to the real data flow.

    ``unit_of(node)`` is the drawn unit or None (see :func:`_units_and_edges`); ``step_of(unit)``
    its ``(family, t)`` when it stands in a time step, else None; ``live(unit)`` whether that
    step unit's gradient is nonzero. Between layers the outputs are stacked over time and sliced
    again, which structurally links every step of layer k to every step of layer k+1: where step
    t -> step t links exist between two families only those are kept (otherwise, e.g. attention,
    all). Many steps of one family feeding one unit through contracted ops (the stack of all
    outputs before a loss on the last step) would draw T converging edges: only the edge from the
    family's last step with a gradient is kept, labelled with how many it stands for. Returns
    ``[(src, dst, label or None)]`` in first-seen order.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> h = mt.tensor([[0.5]], requires_grad=True)
        >>> outs = []
        >>> for t in range(5):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h.tanh(); h.name = "h"
        ...     outs.append(h)
        >>> loss = mt.stack(outs).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> shown = {n.id for n in tr.nodes if n.name == "h"} | set(tr.roots)
        >>> edges = contracted_edges(tr, lambda n: n.id if n.id in shown else None,
        ...                          lambda i: tr.by_id[i].step, lambda i: True)
        >>> [label for _, dst, label in edges if dst in tr.roots]
        ['+ 4 other steps']
    """
    edges = _units_and_edges(tr, unit_of)
    key = {u: step_of(u) for pair in edges for u in pair}
    diagonal = {(key[a][0], key[b][0]) for a, b in edges
                if key[a] and key[b] and key[a][0] != key[b][0] and key[a][1] == key[b][1]}
    edges = [(a, b) for a, b in edges
             if not (key[a] and key[b] and (key[a][0], key[b][0]) in diagonal and key[a][1] != key[b][1])]
    fan_in = {}
    for a, b in edges:
        if key[a] and not (key[b] and key[b][0] == key[a][0]):
            fan_in.setdefault((b, key[a][0]), []).append(a)
    labels, dropped = {}, set()
    for (b, family), sources in fan_in.items():
        if len(sources) > 3:
            final = max([u for u in sources if live(u)] or sources,
                        key=lambda u: key[u][1])      # the step nearest the node it feeds
            labels[(final, b)] = f"+ {len(sources) - 1} other steps"
            dropped |= {(u, b) for u in sources if u != final}
    return [(a, b, labels.get((a, b))) for a, b in edges if (a, b) not in dropped]


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
    masked, notes = step_marks(tr)
    keep = set(tr.roots) | {n.id for n in tr.nodes if n.kind == "detached"}

    def unit_of(n):
        if n.step is not None:
            return ("cell",) + tuple(n.step)
        return ("node", n.id) if n.id in keep else None

    def name(u):
        return f"c_{re.sub(r'[^A-Za-z0-9]', '_', u[1])}_t{u[2]}" if u[0] == "cell" else f"n{u[1]}"

    # The grid: one rank (column) per time step holding a "t = k" header and the step's cells,
    # chained top to bottom (highest layer on top, a reverse direction above its forward one),
    # and a first column of row titles. Plain rank sets and chains, no clusters: Graphviz keeps a
    # chain's order but not the order of sibling clusters.
    families = sorted({f for f, _ in states}, key=family_key, reverse=True)
    columns = sorted({t for _, t in states})
    # A long sequence wraps onto lines of at most WRAP steps, one under the other (a 40-step row
    # would be a 4,500 px strip no slide can show readably); the recurrence from a line's last
    # step to the next line's first is drawn as a pair of labelled stubs.
    lines = [columns[k:k + math.ceil(len(columns) / math.ceil(len(columns) / WRAP))]
             for k in range(0, len(columns), math.ceil(len(columns) / math.ceil(len(columns) / WRAP)))]
    line_of = {t: number for number, line in enumerate(lines) for t in line}
    chain, row_label = [], {}
    for number, line in enumerate(lines):
        chain.append("rows" if number == 0 else f"rows_{number}")
        g.node(chain[-1], label="", shape="point", style="invis", width="0")
        for family in families:
            label = f"row_{name(('cell', family, 0))}" + (f"_{number}" if number else "")
            text = family_label(family)
            if number:      # a continued line: its row title names the step it continues
                reverse = conventions.parse_scope(f"{family}/t0").reverse
                text += f"\\n{'to' if reverse else 'from'} t = {lines[number - 1][-1]}"
            g.node(label, label=text, shape="plaintext", fontsize="11")
            row_label[name(("cell", family, line[0]))] = label
            chain.append(label)
    _rank_chain(g, chain)
    # Past 50 steps only every tenth column is titled: 2,000 headers would double the drawing.
    titled = {t for t in columns if len(columns) <= 50 or t % 10 == 0 or t == columns[-1]
              or t == lines[line_of[t]][0]}
    for place in range(len(lines[0])):
        chain = []
        for line in lines:
            if place >= len(line):
                continue
            t = line[place]
            header = f"step_t{t}"
            all_masked = all((f, t) in masked for f in families if (f, t) in states)
            if t in titled:
                g.node(header, **header_attrs(t, all_masked))
                chain.append(header)
            for family in families:
                node = states.get((family, t))
                if node is None:
                    continue
                fill, fontc = node_fill(node, scale, revealed)
                lines_of_text = [hidden + (f" {shape_text(node.shape)}" if "shape" in show else "")]
                if "grad" in show and not reached(node, revealed):
                    lines_of_text.append(f"∇{hidden} not reached yet")
                elif "grad" in show:
                    lines_of_text.append(f"∇{hidden} {short(node.grad_magnitude)}"
                                         if node.status != "nograd" else f"∇{hidden} none")
                if (family, t) in masked:
                    lines_of_text.append("masked (padding)")
                    fill, fontc = MASKED_FILL, "#555555"
                elif (family, t) in notes:
                    lines_of_text.append(notes[(family, t)])
                cell = name(("cell", family, t))
                g.node(cell, label="\\n".join(lines_of_text), shape="box", style="rounded,filled",
                       fillcolor=fill, fontcolor=fontc, id=cell,
                       tooltip=f"{family_label(family)}, t = {t}\\n" + node_tooltip(node, tr.norm))
                chain.append(cell)
        _rank_chain(g, chain)
    for number, line in enumerate(lines):
        for family in families:
            if (family, line[0]) in states:
                label = f"row_{name(('cell', family, 0))}" + (f"_{number}" if number else "")
                g.edge(label, name(("cell", family, line[0])), style="invis", weight="10")
        # the first column of every line is titled
        g.edge("rows" if number == 0 else f"rows_{number}", f"step_t{line[0]}", style="invis")
    for n in tr.nodes:
        if n.id in keep:
            g.node(f"n{n.id}", **kept_node_attrs(n, scale, tr, show, revealed))
    if len(lines) > 1:      # the loss right of the longest line, not in its last column
        for i in tr.roots:
            family = next(f for f in families if (f, lines[0][-1]) in states)
            g.edge(name(("cell", family, lines[0][-1])), f"n{i}", style="invis")
    edges = contracted_edges(tr, unit_of, lambda u: (u[1], u[2]) if u[0] == "cell" else None,
                             lambda u: states[(u[1], u[2])].status != "zero")
    above = {family: i for i, family in enumerate(families)}     # smaller = higher up
    for a, b, label in edges:
        attrs = {}
        if label:
            attrs.update(label=label, fontsize="8")
        last = max(t for f, t in states if f == a[1]) if a[0] == "cell" else None
        if a[0] == "cell" and b[0] != "cell" and last > a[2]:
            # A node fed by an earlier step than the row's last (the loss over all outputs; the
            # one drawn edge of "+ k other steps" from the last step before padding) stands
            # right of the row's last step: ranked by that edge, the edge would take the row's
            # place in the columns it crosses and push the later steps out of the row.
            g.edge(name(("cell", a[1], last)), name(b), style="invis")
            attrs["constraint"] = "false"
        if a[0] == "cell" and b[0] == "cell" and line_of[a[2]] != line_of[b[2]]:
            _wrapped_edge(g, name(a), a[2], name(b), b[2],
                          lambda cell: row_label[cell], **attrs)
        elif a[0] == "cell" and b[0] == "cell" and a[1] == b[1] and a[2] > b[2]:
            # A reverse-direction recurrence t+1 -> t, drawn t -> t+1 with the arrow reversed:
            # it ranks like a forward edge and the row keeps its time order.
            g.edge(name(b), name(a), dir="back", **attrs)
        elif a[0] == "cell" and b[0] == "cell" and a[2] == b[2] and above[a[1]] > above[b[1]]:
            # Up a column (layer k -> k+1 at one step): drawn downwards with the arrow reversed,
            # so that it agrees with the column's top-to-bottom chain.
            g.edge(name(b), name(a), dir="back", **attrs)
        else:
            g.edge(name(a), name(b), **attrs)
    cut_stubs(tr, lambda nm, **kw: g.node(nm, **kw),
              lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))
    return {name(("cell",) + key): key for key in states}


def _wrapped_edge(g, tail, t_tail, head, t_head, label_of, **attrs):
    """An edge between the end of one line of a wrapped cells view and the start of the next:
    right of the earlier step (at its line's end) a stub naming the later step (``t = 20``); at
    the next line's start the edge comes from (or, in a reverse direction, goes to) the row's
    title, which names the earlier step. Arrows point the way the edge goes."""
    early, late = (tail, head) if t_tail < t_head else (head, tail)
    out_stub = f"wrap_{early}_to_{late}"
    g.node(out_stub, label=f"t = {max(t_tail, t_head)}", shape="plaintext", fontsize="9",
           fontcolor="#555555")
    back = {} if t_tail < t_head else {"dir": "back"}
    g.edge(early, out_stub, **back, **attrs)
    g.edge(label_of(late), late, **back, **attrs)


def _rank_chain(g, names):
    """One Graphviz rank holding ``names``, kept in this order by invisible edges."""
    g.body.append("\t{rank=same; " + "; ".join(f'"{x}"' for x in names) + "}\n")
    for a, b in zip(names, names[1:]):
        g.edge(a, b, style="invis")


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
               tooltip=f"{dot_text(family)}\\n{detail}", id=u)
        g.edge(u, u, label=f"T = {len(steps)}", fontsize="10", color="#444444", penwidth="1.5")
    for n in tr.nodes:
        if n.id in keep:
            g.node(f"n{n.id}", **kept_node_attrs(n, scale, tr, show, revealed))
    for a, b in _units_and_edges(tr, unit_of):
        g.edge(name(a), name(b))
    cut_stubs(tr, lambda nm, **kw: g.node(nm, **kw),
              lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))
    return {}      # one node per family: no grid
