"""Step two of drawing: a :class:`~viz.trace.Trace` -> ``graphviz.Digraph`` (built, not rendered).

Three views of the same graph:

- ``"ops"``: every primitive op is a node (rounded box) carrying its output tensor's name, shape
  and gradient magnitude; parameters (bold boxes), inputs (parallelograms) and the root/loss
  (double octagon) are drawn distinctly; ops sit in nested clusters from their scope path
  (model > layer > direction > time step).
- ``"cells"``: one box per cell per time step, coloured by the gradient reaching its hidden state
  (one column per time step); the cell's internals, parameters and inputs are hidden.
- ``"rolled"``: each layer/direction drawn once with a loop edge labelled ``T = ...`` and a strip
  with one coloured square per time step.

Every fill comes from one :class:`~viz.colors.ColorScale` (log10 of the gradient magnitude) shared
by the whole picture, explained by a legend node. Node names come from the walk's ids (creation
order), so the same program gives byte-identical DOT source.

Example:
    >>> import microtensor as mt
    >>> x = mt.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    >>> loss = (x * x).sum()
    >>> loss.backward(keep_grads=True)
    >>> g = draw(loss)
    >>> type(g).__name__, g.microtensor_view
    ('Digraph', 'ops')
    >>> "∇ 4.5e+0" in g.source
    True
"""
import html
import math
import re
import warnings

import graphviz

from .colors import (BAD_FILL, MASKED_FILL, NO_GRAD_FILL, ZERO_GRAD_FILL, ColorScale, font_color,
                     interpolate)
from .trace import short, shape_text, trace as make_trace

VIEWS = ("ops", "cells", "rolled")
SHOW = ("grad", "shape", "value", "name")
DEFAULT_MAX_NODES = 600
FONT = "Helvetica"
UNREACHED_FILL = "#f7f7f7"    # animation: gradient not there yet
UNREACHED_FONT = "#c0c0c0"
_STRIP_CELLS = 60             # most squares in a rolled view's strip (more steps share a square)


class NodeBudgetError(ValueError):
    """The graph has more nodes than ``max_nodes`` and no fallback view was allowed."""


class GraphTooLargeWarning(UserWarning):
    """Issued when :func:`draw` falls back to a coarser view because of ``max_nodes``."""


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------
def _natural_key(text):
    """Sort "l2" before "l10" and "t9" before "t10"."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _grad_word(norm):
    return "‖∇‖₂" if norm == "l2" else "max|∇|"


def _fill(node, scale, revealed=None):
    """``(fillcolor, fontcolor)`` of a node from its gradient status."""
    if revealed is not None and node.id not in revealed and node.status != "nograd":
        return UNREACHED_FILL, UNREACHED_FONT
    if node.status == "ok":
        color = scale.color(node.grad_magnitude)
        return color, font_color(color)
    if node.status == "bad":
        return BAD_FILL, "white"
    if node.status == "zero":
        return ZERO_GRAD_FILL, "black"
    return NO_GRAD_FILL, "#555555"


def _grad_text(node):
    if node.status == "nograd":
        return "∇ none" if node.record.requires_grad else "no grad"
    return f"∇ {short(node.grad_magnitude)}"


def _stats_text(stats):
    low, mean, high = stats
    return f"{short(low)} / {short(mean)} / {short(high)}"


def _tooltip(node, norm):
    """Full statistics, shown by SVG viewers on hover."""
    title = node.name or node.op or node.kind
    lines = [f"#{node.id} {title}" + (f" = {node.op}" if node.op and node.name else ""),
             f"kind: {node.kind}" + (f"   scope: {node.scope}" if node.scope else ""),
             f"shape: {node.shape}   dtype: {node.dtype}",
             f"value min/mean/max: {_stats_text(node.value_stats)}"]
    if node.status == "nograd":
        lines.append("gradient: none" if node.record.requires_grad else "gradient: not required")
    else:
        lines.append(f"gradient L2 norm: {short(node.grad_l2)}   max-abs: {short(node.grad_maxabs)}")
    if node.nonfinite_value:
        lines.append("value holds NaN or Inf")
    return "\\n".join(lines).replace('"', "'")


def _label(node, show, const_text=""):
    lines = []
    if node.kind in ("op", "root") and node.op is not None:
        head = node.op + const_text
        lines.append(f"{node.name} = {head}" if node.name and "name" in show else head)
    elif node.kind == "detached":
        lines.append(f"detached {node.name}" if node.name else "detached")
    else:
        lines.append(node.name or ("parameter" if node.kind == "param" else "input"))
    if "shape" in show:
        lines.append(shape_text(node.shape))
    if "value" in show:
        lines.append(f"val {_stats_text(node.value_stats)}")
    if "grad" in show:
        lines.append(_grad_text(node))
    return "\\n".join(line.replace('"', "'") for line in lines)


def _const_text(node, tr):
    values = [tr.by_id[i].const_value for i in node.inputs if tr.by_id[i].kind == "const"]
    return f" [{', '.join(f'{v:g}' for v in values)}]" if values else ""


def _scope_label(part):
    match = re.match(r"^t(\d+)$", part)
    if match:
        return f"t = {match.group(1)}"
    match = re.match(r"^l(\d+)$", part)
    if match:
        return f"layer {match.group(1)}"
    return part


def _cluster_name(path):
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", path)


# Background of nested clusters by depth: model, layer, direction, step.
_CLUSTER_FILLS = ("#f3f6fb", "#e9eff8", "#f6f3fb", "#fbfbf4", "#f4f4f4")


def _cluster_attrs(path, depth, masked=False):
    part = path.rsplit("/", 1)[-1]
    label = _scope_label(part)
    fill = _CLUSTER_FILLS[min(depth, len(_CLUSTER_FILLS) - 1)]
    if re.match(r"^t\d+$", part):
        fill = "#fafafa"
        if masked:
            fill = MASKED_FILL
            label += " · masked (zero ∇h)"
    return {"label": label, "style": "rounded,filled", "fillcolor": fill, "color": "#b0b0b0",
            "fontname": FONT, "fontsize": "11", "labeljust": "l"}


def _legend(scale, norm, view, extra=None, title=None):
    """The graph's HTML label: an optional title, the colour bar and the key to shapes and fills.

    It is the graph label rather than a node so that it takes no rank and does not push the
    drawing apart.
    """
    exps = list(range(scale.low_exp, scale.high_exp + 1))
    if len(exps) > 13:
        step = math.ceil(len(exps) / 13)
        exps = exps[::step] + ([scale.high_exp] if exps[::step][-1] != scale.high_exp else [])
    bar = "".join(f'<TD BGCOLOR="{interpolate((e - scale.low_exp) / (scale.high_exp - scale.low_exp))}"'
                  f' WIDTH="40" HEIGHT="14" FIXEDSIZE="TRUE"></TD>' for e in exps)
    ticks = "".join(f'<TD WIDTH="40" HEIGHT="16" FIXEDSIZE="TRUE"><FONT POINT-SIZE="9">1e{e}</FONT></TD>'
                    for e in exps)
    word = "L2 norm" if norm == "l2" else "max |entry|"

    def row(inner):
        return f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{inner}</TD></TR>'

    def text(words, size=10, color="black", bold=False):
        body = html.escape(words)
        body = f"<B>{body}</B>" if bold else body
        return f'<FONT POINT-SIZE="{size}" COLOR="{color}">{body}</FONT>'

    def swatch(color, words, mark="■"):
        # Coloured text marks rather than table cells: a nested table would be stretched to the
        # legend's width and scatter the key.
        return f'<FONT COLOR="{color}" POINT-SIZE="14">{mark}</FONT>{text(" " + words + "     ", 9)}'

    rows = [row(text(title, 16))] if title else []
    rows.append(row(text(f"gradient magnitude ∇ = {word} of dL/dx (log scale, shared by the whole "
                         f"picture)", 10, bold=True)))
    rows.append(row(f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0" WIDTH="{40 * len(exps)}" '
                    f'HEIGHT="30" FIXEDSIZE="TRUE"><TR>{bar}</TR>'
                    f'<TR>{ticks}</TR></TABLE>'))
    rows.append(row(swatch("#777777", "zero gradient (∇ 0)", "□")
                    + swatch("#cfcfcf", "no gradient (input, constant, not reached)")
                    + swatch(BAD_FILL, "NaN or Inf")))
    if view == "ops":
        key = ("rounded box = op (with its output) · bold box = parameter · "
               "note = input · octagon = loss · dashed = cut by detach()")
    elif view == "cells":
        key = "one box per cell and time step, coloured by ∇ of its hidden state · dashed = detach()"
    else:
        key = "each layer/direction drawn once; its strip shows ∇ of the hidden state at every step"
    rows.append(row(text(key, 9)))
    if extra:
        rows.append(row(text(extra, 9, color="#b00000")))
    return ('<<TABLE ID="legend" TOOLTIP="legend" HREF="#legend" BORDER="1" COLOR="#999999" '
            'CELLBORDER="0" CELLSPACING="1" CELLPADDING="3" '
            f'BGCOLOR="white">{"".join(rows)}</TABLE>>')


def _new_graph(rankdir):
    graph_attr = {"rankdir": rankdir, "fontname": FONT, "newrank": "true", "nodesep": "0.2",
                  "ranksep": "0.3", "bgcolor": "white"}
    return graphviz.Digraph("microtensor", graph_attr=graph_attr,
                            node_attr={"fontname": FONT, "fontsize": "10", "margin": "0.06,0.03"},
                            edge_attr={"arrowsize": "0.6", "color": "#666666", "fontname": FONT})


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
def _hidden_states(tr, hidden):
    """``{(family, t): TracedNode}`` of each step's hidden state (see rnn.diagnostics.step_states)."""
    from rnn.diagnostics import step_states
    records = [n.record for n in tr.by_id.values()]
    return {key: tr.by_id[rec.id] for key, rec in step_states(records, name=hidden).items()}


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


def _draw_ops(tr, g, scale, show, revealed, hidden, leaves=True):
    states = _hidden_states(tr, hidden) if tr.steps() else {}
    masked = _masked_cells(tr, states)
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
                is_masked = bool(step) and ("/".join(parts[:i - 1]), int(step.group(1))) in masked
                clusters[path] = graphviz.Digraph(_cluster_name(path),
                                                  graph_attr=_cluster_attrs(path, i - 1, is_masked))
                children.setdefault("/".join(parts[:i - 1]), []).append(path)

    def target(scope):
        return clusters[scope] if scope else g

    roots = set(tr.roots)
    skipped = set() if leaves else {n.id for n in tr.nodes
                                    if n.kind in ("param", "input") and n.id not in roots}
    for n in tr.nodes:
        if n.id in skipped:
            continue
        fill, fontc = _fill(n, scale, revealed)
        attrs = {"label": _label(n, show, _const_text(n, tr)), "fillcolor": fill, "fontcolor": fontc,
                 "tooltip": _tooltip(n, tr.norm), "id": f"n{n.id}"}
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
        kids = sorted(children.get(path, []), key=_natural_key)
        for kid in kids:
            clusters[path].subgraph(clusters[kid])
    for kid in sorted(children.get("", []), key=_natural_key):
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


def _kept_node_attrs(n, scale, tr, show, revealed):
    fill, fontc = _fill(n, scale, revealed)
    attrs = {"label": _label(n, show, _const_text(n, tr)), "fillcolor": fill, "fontcolor": fontc,
             "tooltip": _tooltip(n, tr.norm), "id": f"n{n.id}"}
    if n.id in tr.roots:
        attrs.update(shape="doubleoctagon" if n.record.tensor.size == 1 else "box",
                     style="filled,bold", penwidth="2")
    else:
        attrs.update(shape="box", style="filled,dashed")
    return attrs


def _family_label(family):
    parts = family.split("/")
    return " · ".join(_scope_label(p) for p in parts)


def _draw_cells(tr, g, scale, show, revealed, hidden, leaves=True):
    states = _hidden_states(tr, hidden)
    if not states:
        raise ValueError(_NO_STEPS)
    masked = _masked_cells(tr, states)
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
                                             graph_attr=_cluster_attrs(f"t{t}", 4, all_masked))
        for family, node in sorted(by_t[t], key=lambda x: _natural_key(x[0])):
            fill, fontc = _fill(node, scale, revealed)
            lines = [_family_label(family), f"t = {t}"]
            if "shape" in show:
                lines.append(f"{hidden} {shape_text(node.shape)}")
            if "grad" in show:
                lines.append(f"∇{hidden} {short(node.grad_magnitude)}" if node.status != "nograd"
                             else f"∇{hidden} none")
            if (family, t) in masked:
                lines.append("masked")
            col.node(name(("cell", family, t)), label="\\n".join(lines), shape="box",
                     style="rounded,filled" + (",dashed" if (family, t) in masked else ""),
                     fillcolor=fill, fontcolor=fontc, tooltip=_tooltip(node, tr.norm),
                     id=name(("cell", family, t)))
        if not big:
            g.subgraph(col)
    for n in tr.nodes:
        if n.id in keep:
            g.node(f"n{n.id}", **_kept_node_attrs(n, scale, tr, show, revealed))
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
    heads = {t: name(("cell",) + min(((f, t) for f, _ in by_t[t]), key=lambda k: _natural_key(k[0])))
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


def _draw_rolled(tr, g, scale, show, revealed, hidden, leaves=True):
    states = _hidden_states(tr, hidden)
    if not states:
        raise ValueError(_NO_STEPS)
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

    for family in sorted(families, key=_natural_key):
        steps = sorted(families[family], key=lambda x: x[0])
        values = [node.grad_magnitude for _, node in steps]
        statuses = [node.status if revealed is None or node.id in revealed or node.status == "nograd"
                    else "nograd" for _, node in steps]
        cells, per = _strip(values, statuses, scale)
        ts = [t for t, _ in steps]
        span = len(cells)
        first, last = steps[0][1], steps[-1][1]
        title = html.escape(f"{_family_label(family)} cell, unrolled T = {len(steps)}")
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
            g.node(f"n{n.id}", **_kept_node_attrs(n, scale, tr, show, revealed))
    for a, b in _units_and_edges(tr, unit_of):
        g.edge(name(a), name(b))
    _cut_stubs(tr, lambda nm, **kw: g.node(nm, **kw),
               lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))


def _view_range(tr, view, hidden):
    """Smallest and largest magnitude among what the view colours (None if nothing has one)."""
    if view == "ops":
        return tr.magnitude_range
    shown = list(_hidden_states(tr, hidden).values())
    shown += [tr.by_id[i] for i in tr.roots] + [n for n in tr.nodes if n.kind == "detached"]
    values = [n.grad_magnitude for n in shown if n.status == "ok"]
    return (min(values), max(values)) if values else None


_NO_STEPS = ("view='cells' and view='rolled' need time-step scopes: run each step inside "
             "mt.scope('<model>/l<k>/t<t>') (rnn.RNN/LSTM/GRU do); this graph has none, use view='ops'")
_DRAWERS = {"ops": _draw_ops, "cells": _draw_cells, "rolled": _draw_rolled}


def _count(tr, view, hidden):
    stubs = sum(1 for src, _, _ in tr.cuts if src is None)
    if view == "ops":
        return len(tr.nodes) + stubs
    kept = len(tr.roots) + sum(1 for n in tr.nodes if n.kind == "detached") + stubs
    steps = {tuple(n.step) for n in tr.nodes if n.step is not None}
    if view == "cells":
        return len(steps) + kept
    return len({s[0] for s in steps}) + kept


def _choose_view(tr, view, max_nodes, fallback, hidden):
    """The view to draw within the node budget, and a message when it differs from ``view``."""
    count = _count(tr, view, hidden)
    if max_nodes is None or count <= max_nodes:
        return view, None
    has_steps = any(n.step is not None for n in tr.nodes)
    candidates = {"ops": ["cells", "rolled"], "cells": ["rolled"], "rolled": []}[view]
    if fallback == "rolled":
        candidates = [c for c in candidates if c == "rolled"]
    if fallback != "raise" and has_steps:
        for candidate in candidates:
            if _count(tr, candidate, hidden) <= max_nodes or candidate == "rolled":
                return candidate, (f"view={view!r} would draw {count} nodes > max_nodes={max_nodes} "
                                   f"(dot would take very long): drawing view={candidate!r} instead; "
                                   f"pass a larger max_nodes= to force it")
    reason = ("" if has_steps else " and the graph has no time-step scopes to fall back to "
              "view='cells'/'rolled'")
    raise NodeBudgetError(f"view={view!r} would draw {count} nodes > max_nodes={max_nodes}{reason}; "
                          f"pass a larger max_nodes= (dot may take minutes) or view='cells'/'rolled'")


def draw(root, *, view="ops", show=("grad", "shape"), max_nodes=DEFAULT_MAX_NODES, fallback="cells",
         rankdir="LR", norm="l2", params=None, hidden="h", title=None, legend=True, revealed=None,
         leaves=True):
    """Draw the graph behind ``root`` as a ``graphviz.Digraph`` (built, not rendered).

    Call after ``loss.backward(keep_grads=True)`` so that every node has its gradient. In Jupyter
    the returned Digraph displays inline; :func:`render` writes it to a file.

    Args:
        root: the tensor to draw from (usually the loss), or a list of tensors.
        view: ``"ops"`` (every op), ``"cells"`` (one box per cell and time step) or ``"rolled"``
            (each layer drawn once with a per-step strip).
        show: what labels carry, any of ``"grad"`` (gradient magnitude), ``"shape"``, ``"value"``
            (min / mean / max of the data) and ``"name"`` (``h = tanh``; on by default via names).
        max_nodes: node budget; above it ``fallback`` applies (None: no budget).
        fallback: ``"cells"`` (then ``"rolled"`` if still too big), ``"rolled"`` or ``"raise"``
            (:class:`NodeBudgetError`). A fallback issues a :class:`GraphTooLargeWarning`, and the
            legend says so.
        rankdir: Graphviz direction, ``"LR"`` (time runs left to right) or ``"TB"``.
        norm: ``"l2"`` or ``"maxabs"``: the gradient magnitude shown and coloured.
        params: a Module or ``{name: tensor}`` to name unnamed parameters.
        hidden: the name of a step's hidden state (cells/rolled views and masked steps).
        title: an optional title above the picture.
        legend: draw the legend (colour bar and key).
        revealed: if given, only nodes with these ids show their gradient colour (the rest are
            drawn faded): used by :func:`viz.animate_backward`.
        leaves: ops view: draw parameters and inputs (False hides them and their edges, which
            declutters long unrolls; the cells and rolled views never draw them).

    Returns:
        ``graphviz.Digraph``; its ``microtensor_view`` attribute says which view was drawn and
        ``microtensor_trace`` holds the :class:`~viz.trace.Trace`.

    Example:
        >>> import microtensor as mt
        >>> h = mt.tensor([[0.1, 0.2]], requires_grad=True, name="h0")
        >>> W = mt.tensor([[0.5, 0.0], [0.0, 0.5]], requires_grad=True, name="W")
        >>> for t in range(3):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = (h @ W).tanh()
        ...         h.name = "h"
        >>> loss = h.sum()
        >>> loss.backward(keep_grads=True)
        >>> g = draw(loss, view="cells")
        >>> g.source.count("cluster_t")
        3
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    bad = [s for s in show if s not in SHOW]
    if bad:
        raise ValueError(f"show entries must be among {SHOW}, got {bad}")
    show = tuple(show) + ("name",)
    if fallback not in ("cells", "rolled", "raise"):
        raise ValueError(f"fallback must be 'cells', 'rolled' or 'raise', not {fallback!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'TB', 'RL' or 'BT', not {rankdir!r}")
    tr = make_trace(root, norm=norm, params=params)
    chosen, message = _choose_view(tr, view, max_nodes, fallback, hidden)
    if message:
        warnings.warn(message, GraphTooLargeWarning, stacklevel=2)
    scale = ColorScale.for_range(_view_range(tr, chosen, hidden))
    g = _new_graph(rankdir)
    revealed = None if revealed is None else set(revealed)
    _DRAWERS[chosen](tr, g, scale, show, revealed, hidden, leaves)
    if legend:
        g.attr(label=_legend(scale, norm, chosen, message, title), labelloc="t", labeljust="l")
    elif title:
        g.attr(label=title, labelloc="t", fontsize="16")
    g.microtensor_view = chosen
    g.microtensor_trace = tr
    return g
