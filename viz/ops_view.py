"""The ops view: every op a node, laid out as the textbook unrolled network.

Each time step is a cluster and a column band of its own, in time order left to right; each layer
and direction a row (:func:`viz.layout.slots`). A node outside the steps that many steps use (a
weight, the input sequence) is drawn once in a band on the left with its total gradient, and inside
every step that uses it as a small stand-in "as used at t" carrying that step's share of the
gradient (:mod:`viz.shares`): no edge fans across the picture, and the shares are a lesson of
their own (how much each step contributes to dL/dW). Likewise a node that gathers every step's
output (the ``stack`` before the loss) gets a stand-in "output t" in each step.

Example:
    >>> import microtensor as mt, viz
    >>> W = mt.tensor([[0.5]], requires_grad=True, name="W")
    >>> h = mt.ones(1, 1, name="h0")
    >>> for t in range(2):
    ...     with mt.scope(f"rnn/l0/t{t}"):
    ...         h = (h @ W).tanh(); h.name = "h"
    >>> loss = h.sum()
    >>> loss.backward(keep_grads=True)
    >>> src = viz.draw(loss).source
    >>> "W at t=0" in src and "W at t=1" in src
    True
"""
import html
import math
from collections import namedtuple

import graphviz

from rnn import conventions

from .layout import gathered_outputs, shared_inputs, slots
from .shares import share
from .style import (cluster_attrs, cluster_name, detail_lines, family_label, header_attrs,
                    kept_node_attrs, natural_key, node_fill, node_tooltip, share_node_attrs)
from .trace import magnitude


def _node_attrs(n, tr, scale, show, revealed):
    """A node of the ops view: the views' node attributes, with a grey outline for a zero gradient."""
    attrs = kept_node_attrs(n, scale, tr, show, revealed)
    if n.status == "zero":
        attrs["color"] = "#888888"
    return attrs


StandIn = namedtuple("StandIn", "name node key kind grad known_after", defaults=((),))
StandIn.__doc__ = """A per-step stand-in of a node outside the steps: DOT ``name``, the TracedNode
``node`` it stands for, its step ``key`` ``(family, t)``, ``kind`` ``"used"`` (the node as used by
this step's ops) or ``"gathered"`` (this step's output, gathered by the node), ``grad``, this
step's share of the gradient (None when it cannot be recomputed), and ``known_after``, the ids of
the nodes whose backward computes that share (the step's consumers of a used node; the gathering
node): an animation frame shows the share once the gradient has reached all of them."""


def _total(tr, pairs):
    """Sum of :func:`viz.shares.share` over ``(consumer id, source id)`` pairs, None if any is."""
    total = None
    for consumer, source in pairs:
        part = share(tr, tr.by_id[consumer], source)
        if part is None:
            return None
        total = part if total is None else total + part
    return total


def stand_ins(tr, leaves=True):
    """The per-step stand-ins the ops view draws: ``{(node id, (family, t)): StandIn}``.

    Example:
        >>> import microtensor as mt
        >>> W = mt.tensor([2.0], requires_grad=True, name="W")
        >>> h = mt.ones(1)
        >>> for t in range(2):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = h * W
        >>> loss = h.sum()
        >>> loss.backward(keep_grads=True)
        >>> from viz.trace import trace
        >>> [(s.name, s.grad.tolist()) for s in stand_ins(trace(loss)).values()]
        [('s0_rnn_l0_t0', [2.0]), ('s0_rnn_l0_t1', [2.0])]
    """
    result = {}
    for source, steps in shared_inputs(tr).items():
        node = tr.by_id[source]
        if not leaves and node.kind in ("param", "input") and source not in tr.roots:
            continue
        for key, consumers in steps.items():
            if all(tr.by_id[c].op == "getitem" for c in consumers):
                continue    # the step's slice of a sequence (x_proj[t]) stands for it already
            name = f"s{source}_{cluster_name(_step_path(key))[8:]}"
            grad = _total(tr, [(c, source) for c in consumers]) if node.record.requires_grad else None
            result[(source, key)] = StandIn(name, node, key, "used", grad, tuple(consumers))
    for target, steps in gathered_outputs(tr).items():
        node = tr.by_id[target]
        for key, sources in steps.items():
            name = f"g{target}_{cluster_name(_step_path(key))[8:]}"
            result[(target, key)] = StandIn(name, node, key, "gathered",
                                            _total(tr, [(target, s) for s in sources]), (target,))
    return result


def shown_magnitudes(tr, norm, leaves=True):
    """Every gradient magnitude the ops view colours (nodes and stand-ins), for the colour scale."""
    values = [n.grad_magnitude for n in tr.nodes if n.status == "ok"]
    for s in stand_ins(tr, leaves).values():
        if s.grad is not None:
            value = magnitude(s.grad, norm)
            if value > 0 and math.isfinite(value):
                values.append(value)
    return values


def _multi_output_attrs(tr, first, outputs, scale, show, revealed):
    """One node for the outputs of one multi-output op: its name on top, a cell per output (its
    name, shape and gradient, filled by its gradient), each a port its edges leave from."""
    cells = []
    for n in outputs:
        fill, fontc = node_fill(n, scale, revealed)
        lines = [n.name or f"output {n.record.output_index}"] + detail_lines(n, show, revealed)
        body = "<BR/>".join(html.escape(line) for line in lines)
        cells.append(f'<TD PORT="o{n.record.output_index}" BGCOLOR="{fill}" STYLE="ROUNDED">'
                     f'<FONT COLOR="{fontc}">{body}</FONT></TD>')
    label = (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="3">'
             f'<TR><TD COLSPAN="{len(cells)}" BORDER="0">{html.escape(first.op)}</TD></TR>'
             f'<TR>{"".join(cells)}</TR></TABLE>>')
    tooltip = "\\n\\n".join(node_tooltip(n, tr.norm) for n in outputs)
    return {"label": label, "shape": "plain", "tooltip": tooltip, "id": f"n{first.id}"}


def _step_path(key):
    return f"{key[0]}/t{key[1]}"


def draw_ops(tr, g, scale, show, revealed, hidden, leaves=True):
    """Add the ops view of ``tr`` to ``g`` (see the module docstring); returns ``{DOT node name:
    (family, t)}`` of the nodes drawn in the steps.

    The graph flows bottom to top (Graphviz ``rankdir=BT``): inside a step the input is below,
    the new state and the output above, and the steps stand side by side in time order under a
    ``t = k`` header (greyed for a step padded under ``lengths``); see :func:`_grid`.
    """
    from .views import step_marks
    masked, notes = step_marks(tr)
    grid = slots(tr)
    roots = set(tr.roots)
    skipped = set() if leaves else {n.id for n in tr.nodes
                                    if n.kind in ("param", "input") and n.id not in roots}
    shared = {i for i in shared_inputs(tr) if i not in skipped}
    gathered = gathered_outputs(tr)
    all_stand_ins = stand_ins(tr, leaves)
    # A step's slice of a sequence shared by the steps (x_proj[t]) is drawn without its edge from
    # the sequence, which would fan across the picture: the slice stands for it in its step.
    slices = {dst for src, dst in tr.edges if src in shared and grid[dst].where == "step"
              and (src, (grid[dst].family, grid[dst].column)) not in all_stand_ins}
    # A multi-output op (split into the gates) is one node with a port per named output.
    group_of = {n.id: n.record.node_id for n in tr.nodes if n.record.num_outputs > 1}

    def head(i):
        return f"n{group_of.get(i, i)}"

    def tail(i):
        if i in group_of:
            # ":n" (top, in a bottom-to-top graph): the edge leaves upwards from its cell
            return f"n{group_of[i]}:o{tr.by_id[i].record.output_index}:n"
        return f"n{i}"

    # Clusters from the scope path down to the layer/direction (a step is a column, not a box:
    # Graphviz cannot be told the left-to-right order of sibling clusters).
    clusters, children = {}, {}

    def cluster(path):
        if path not in clusters:
            parts = path.split("/")
            clusters[path] = graphviz.Digraph(cluster_name(path),
                                              graph_attr=cluster_attrs(path, len(parts) - 1))
            parent = "/".join(parts[:-1])
            children.setdefault(parent, []).append(path)
            if parent:
                cluster(parent)
        return clusters[path]

    # First the grid: dot's order within a rank follows the order nodes first appear in.
    # Without newrank: with it, dot lets crossing minimisation override the chained order.
    g.graph_attr.pop("newrank", None)
    headers, position = _grid(tr, grid, all_stand_ins, g, skipped, group_of)
    for (family, t), name in headers.items():
        g.node(name, **header_attrs(t, (family, t) in masked, notes.get((family, t))))
    # sorted: DOT's node order steers dot's layout, so the same graph must give the same source
    families = sorted({slot.family for slot in grid.values() if slot.where == "step"}, key=natural_key)
    for family in families:
        name = f"row_{cluster_name(family)[8:]}"
        if name in position:
            g.node(name, label=family_label(family), shape="plaintext", fontsize="16")
    layer_scopes = {"/".join(f.split("/")[:i]) for f in families for i in range(1, f.count("/") + 2)}
    for n in tr.nodes:
        if n.id in skipped or (n.id in group_of and group_of[n.id] != n.id):
            continue
        if n.id in group_of:
            attrs = _multi_output_attrs(tr, n, [o for o in tr.nodes if group_of.get(o.id) == n.id],
                                        scale, show, revealed)
        else:
            attrs = _node_attrs(n, tr, scale, show, revealed)
        if n.id in slices:      # its edge from the sequence is left out: the legend says so
            attrs["class"] = "slice"
        slot = grid[n.id]
        if slot.where != "step" and n.scope and n.scope not in layer_scopes:
            cluster(n.scope).node(f"n{n.id}", **attrs)
        else:
            # Steps, the row of what comes before them and the layers' own ops stay outside any
            # cluster: a node cannot be both in a cluster and in a rank set of the root graph,
            # and the rank sets are what make the grid.
            g.node(f"n{n.id}", **attrs)
    for s in all_stand_ins.values():
        g.node(s.name, **share_node_attrs(s, scale, revealed, tr.norm, show))
    for target, steps in gathered.items():
        # Every step's output stand-in names the node; one edge, from the step nearest to it.
        last = max(steps, key=lambda k: (k[1], natural_key(k[0])))
        g.edge(all_stand_ins[(target, last)].name, head(target))

    drawn = set()
    for src, dst in tr.edges:
        if src in skipped:
            continue
        a, b = grid[src], grid[dst]
        attrs = {}
        if src in shared and b.where == "step":
            key = (src, (b.family, b.column))
            if key not in all_stand_ins:
                continue        # a per-step slice: the slice itself is drawn in the step
            edge = (all_stand_ins[key].name, head(dst))
        elif dst in gathered and a.where == "step":
            edge = (tail(src), all_stand_ins[(dst, (a.family, a.column))].name)
        else:
            edge = (tail(src), head(dst))
        if edge in drawn:           # the outputs of one multi-output op share its inputs
            continue
        drawn.add(edge)
        _edge(g, position, *edge, **attrs)
    _cut_edges(tr, g)

    # Attach clusters bottom-up (a subgraph's text is copied when attached).
    for path in sorted(clusters, key=lambda p: -p.count("/")):
        for kid in sorted(children.get(path, []), key=natural_key):
            clusters[path].subgraph(clusters[kid])
    for kid in sorted(children.get("", []), key=natural_key):
        g.subgraph(clusters[kid])
    placed = {head(n.id): (grid[n.id].family, grid[n.id].column) for n in tr.nodes
              if grid[n.id].where == "step" and n.id not in skipped}
    placed.update({s.name: s.key for s in all_stand_ins.values()})
    return placed


def _edge(g, position, tail, head, **attrs):
    """Add the edge ``tail -> head``; one against the grid's order (down into a lower rank: a
    recurrence from the top of a step into the bottom of the next; or right to left in a rank: a
    reverse direction's) is written ``head -> tail`` and drawn backwards, so that dot ranks it
    like the other edges and routes it between the walls of the steps' columns; as
    ``constraint=false`` it would arc over the next step."""
    ends = [position.get(name.split(":")[0]) for name in (tail, head)]
    if None not in ends and ends[0] > ends[1]:
        tail, head = head, tail
        attrs["dir"] = "back"
    g.edge(tail, head, **attrs)


def _lane_ranks(edges, lanes, same=None):
    """Longest-path level of every lane in the DAG ``edges`` (lane -> lane), iteratively.

    ``same`` maps a lane to the lane whose level it shares (a recurrent chain such as ``f*c`` and
    ``c``, drawn side by side). An edge that would close a cycle (steps that disagree on their
    order) is ignored.
    """
    same = same or {}

    def rep(lane):
        while lane in same:
            lane = same[lane]
        return lane

    edges = [(rep(a), rep(b)) for a, b in edges]
    reps = {rep(lane) for lane in lanes}
    succ, indegree = {}, {lane: 0 for lane in reps}
    for a, b in edges:
        if a != b and b not in succ.setdefault(a, set()):
            succ[a].add(b)
            indegree[b] += 1
    level = {lane: 0 for lane in reps}
    ready = [lane for lane in reps if indegree[lane] == 0]
    done = set()
    while len(done) < len(reps):
        if not ready:       # a cycle: release its earliest lane and carry on
            ready = [min((lane for lane in reps if lane not in done), key=repr)]
        lane = ready.pop()
        done.add(lane)
        for nxt in sorted(succ.get(lane, ()), key=repr):
            if nxt in done:
                continue
            level[nxt] = max(level[nxt], level[lane] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    # A lane with no input inside the step (a weight's stand-in, the step's input) sits just
    # below its first consumer rather than on the bottom level, far from where it is used.
    for lane in reps:
        if indegree_of(edges, lane) == 0 and succ.get(lane):
            level[lane] = max(0, min(level[b] for b in succ[lane]) - 1)
    return {lane: level[rep(lane)] for lane in lanes}


def indegree_of(edges, lane):
    return sum(1 for a, b in edges if b == lane and a != lane)


def _grid(tr, grid, all_stand_ins, g, skipped, group_of):
    """Emit the constraints that make the textbook grid; returns ``(headers, position)``: the
    column headers' DOT names by ``(family, t)`` and ``{DOT name: (rank, place)}`` of every node
    put in a rank (rank 0 at the bottom, place = left-to-right position in it).

    Per row (layer/direction), every lane (one op; see :func:`viz.layout.slots`; a stand-in is a
    lane of its own) gets a level, its longest path from the step's inputs, the same in every
    step. All nodes of one level, over all steps of the row, form one Graphviz rank
    (``rank=same``) chained left to right by invisible edges: step t's lanes in lane order
    (mirrored in a reverse direction, whose recurrence runs right to left), then step t+1's. So
    every step repeats one arrangement, every step of a row stands at the same height, time runs
    left to right and steps never interleave. A recurrent state that feeds the op making the
    next one directly (``c_t -> f*c -> c_t+1``, GRU's ``h_t -> z*h -> h_t+1``) shares that op's
    level: the cell path is one straight row through the steps.

    The rows are stacked bottom to top (layer 0, its reverse direction, layer 1, ...), each over
    its own band: what only that row uses from outside its steps (its parameters and inputs on
    the lower rank, what is computed once per sequence, e.g. the hoisted input projection, above
    them, spread under the row's columns), so the band's edges stay short. Between two columns an
    invisible wall runs through every rank, so step t of every row stands between the same walls
    (the columns line up across the rows), and one ``t = k`` header per column tops the grid.
    """
    def lane(i):        # the outputs of a multi-output op share its first output's lane
        return grid[group_of.get(i, i)].lane

    members = {}        # (family, t) -> {lane: dot name}
    order = {}          # (family, lane) -> sort key inside a level
    lane_edges = {}     # family -> [(lane, lane)]
    for n in tr.nodes:
        slot = grid[n.id]
        if slot.where == "step" and group_of.get(n.id, n.id) == n.id and n.id not in skipped:
            members.setdefault((slot.family, slot.column), {})[slot.lane] = f"n{n.id}"
            order[(slot.family, slot.lane)] = slot.lane
    # A node from before the steps that only one step uses (h0, c0, a detach() cut carried into
    # the next chunk) is drawn in that step's column, just below (or, for a state of a straight
    # chain, just before) where it is used.
    own_step = {}
    for n in tr.nodes:
        slot = grid[n.id]
        if slot.where != "step" or n.id in skipped:
            continue
        for i in n.inputs:
            if grid.get(i) is not None and grid[i].where == "before" and i not in skipped:
                own_step.setdefault(i, set()).add((slot.family, slot.column))
    own_step = {i: next(iter(keys)) for i, keys in own_step.items()
                if len(keys) == 1 and not any(i in n.inputs for n in tr.nodes
                                              if grid[n.id].where != "step")}
    recurrent = {}      # family -> {(lane at t, lane at t +- 1)}
    for n in tr.nodes:
        slot = grid[n.id]
        if slot.where != "step":
            continue
        for i in n.inputs:
            src = grid.get(i)
            if src is None or src.where != "step" or i in skipped or src.family != slot.family:
                continue
            if src.column == slot.column:
                if lane(i) != lane(n.id):
                    lane_edges.setdefault(slot.family, []).append((lane(i), lane(n.id)))
            else:
                recurrent.setdefault(slot.family, set()).add((lane(i), lane(n.id)))
    same = {}           # family -> {lane: lane whose level it shares}
    for family, pairs in recurrent.items():
        for a, b in sorted(pairs, key=repr):
            # b makes a from a's previous value in a few ops (f*c -> c; f*c -> c -> where under
            # lengths): one straight chain, all on a's level
            path = _short_path(lane_edges.get(family, ()), b, a)
            for x in path[:-1]:
                _link(same.setdefault(family, {}), x, a)
    for i, key in own_step.items():
        consumers = [n for n in tr.nodes if i in n.inputs and grid[n.id].where == "step"]
        members.setdefault(key, {})[("own", i)] = f"n{i}"
        order[(key[0], ("own", i))] = min(lane(n.id) for n in consumers) - 0.5
        chained = [lane(n.id) for n in consumers if lane(n.id) in same.get(key[0], {})]
        if chained:     # c0 starts the cell path's row (its other uses: edges down from it)
            same[key[0]][("own", i)] = chained[0]
            consumers = [n for n in consumers if lane(n.id) == chained[0]]
        for n in consumers:
            lane_edges.setdefault(key[0], []).append((("own", i), lane(n.id)))
    for s in all_stand_ins.values():
        family, t = s.key
        own = (s.kind, s.node.id)
        members.setdefault(s.key, {})[own] = s.name
        touching = (grid_consumers(tr, s.node.id, s.key, grid) if s.kind == "used"
                    else [i for i in s.node.inputs if grid[i].where == "step"
                          and (grid[i].family, grid[i].column) == s.key])
        lanes_touched = [lane(i) for i in touching]
        for other in lanes_touched:
            lane_edges.setdefault(family, []).append((own, other) if s.kind == "used" else (other, own))
        base = min(lanes_touched, default=0) if s.kind == "used" else max(lanes_touched, default=0)
        order.setdefault((family, own), base + (-0.5 if s.kind == "used" else 0.5))
    families = sorted({family for family, _ in members}, key=natural_key)
    row_of = {family: row for row, family in enumerate(families)}
    bands = _bands(tr, grid, row_of, skipped, group_of, own_step, all_stand_ins)
    gathered_by = {}
    for s in all_stand_ins.values():
        if s.kind == "gathered":
            gathered_by.setdefault(s.key[0], {})[f"n{s.node.id}"] = None
    columns = sorted({t for _, t in members})
    # A rank: (names on the left, {t: names in column t}, names on the right).
    ranks = []          # bottom to top
    for family in families:
        reverse = conventions.parse_scope(f"{family}/t0").reverse
        for leaves_or_ops in bands.get(family, ()):
            # spread under the row's columns (ops in creation order, leaves under their first op)
            share = -(-len(leaves_or_ops) // len(columns))
            ranks.append(([], {t: leaves_or_ops[k * share:(k + 1) * share]
                               for k, t in enumerate(columns)}, []))
        steps = sorted(t for fam, t in members if fam == family)
        lanes = {x for t in steps for x in members[(family, t)]}
        level = _lane_ranks(lane_edges.get(family, []), lanes, same.get(family))
        top = max(level.values())
        by_level = {}
        for x in lanes:
            by_level.setdefault(level[x], []).append(x)
        chained = set(same.get(family, {})) | set(same.get(family, {}).values())
        for a, b in recurrent.get(family, ()):
            if b not in chained and b in level and a in level and level[b] < level[a]:
                # the next step's op that takes the state from a step's top: first in its
                # level, where the state comes down between the steps
                order[(family, b)] = -1
        for lvl in range(top + 1):
            label = [f"row_{cluster_name(family)[8:]}"] if len(families) > 1 and lvl == top // 2 else []
            cells = {}
            for t in steps:
                in_step = sorted(by_level.get(lvl, ()), key=lambda x: (order[(family, x)], repr(x)),
                                 reverse=reverse)
                cells[t] = [members[(family, t)][x] for x in in_step if x in members[(family, t)]]
            # the stack of this row's outputs: right of its last step
            ranks.append((label, cells, list(gathered_by.get(family, ())) if lvl == top else []))
    headers = {}
    for t in columns:
        family = min((f for f, k in members if k == t), key=natural_key)
        headers[(family, t)] = f"step_{cluster_name(family)[8:]}_t{t}"
    ranks.append(([], {t: [name] for (_, t), name in headers.items()}, []))
    # Between two columns an invisible wall runs through every rank of the grid (a point per
    # rank, heavy edges between them): every row's step t stands between the same two walls, so
    # the columns line up across the rows and a recurrence has its gutter.
    position = {}
    previous = None
    for number, (left, cells, right) in enumerate(ranks):
        names = list(left)
        for k, t in enumerate(columns):
            if k:
                names.append(f"wall{t}_{number}")
            names += cells.get(t, [])
        names += right
        g.body.append("\t{rank=same; " + "; ".join(f'"{x}"' for x in names) + "}\n")
        for x, y in zip(names, names[1:]):
            g.edge(x, y, style="invis")
        for place, name in enumerate(names):
            position[name] = (number, place)
        for t in columns[1:]:
            g.node(f"wall{t}_{number}", shape="point", width="0", height="0", label="", style="invis")
            if previous is not None:
                g.edge(f"wall{t}_{number - 1}", f"wall{t}_{number}", style="invis", weight="100")
        if previous is not None:        # each rank above the one before: the rows stack
            g.edge(previous[0], names[0], style="invis", weight="0")
        previous = names
    # The header centred over its column: between its two walls, which the header rank's chain
    # pulls it to equally (dot balances a node between equal pulls). The first and last columns
    # have one wall each: their headers are pulled to the column's top cells instead.
    for t in {columns[0], columns[-1]} if columns else ():
        family = next(f for f, k in headers if k == t)
        for x in ranks[-2][1].get(t, ()):
            g.edge(x, headers[(family, t)], style="invis", weight="10")
    return headers, position


def _short_path(edges, start, goal, most=2):
    """Lanes from ``start`` to ``goal`` along ``edges`` in at most ``most`` steps (shortest), or
    ``[]``; breadth first, no recursion."""
    if start == goal:
        return []
    succ = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    came = {start: None}
    frontier = [start]
    for _ in range(most):
        nxt = []
        for lane in frontier:
            for b in sorted(succ.get(lane, ()), key=repr):
                if b not in came:
                    came[b] = lane
                    nxt.append(b)
        frontier = nxt
        if goal in came:
            path = [goal]
            while came[path[-1]] is not None:
                path.append(came[path[-1]])
            return path[::-1]
    return []


def _link(same, lane, other):
    """Put ``lane`` on ``other``'s level in ``same`` (lane -> lane), never closing a loop."""
    def root(x):
        while x in same:
            x = same[x]
        return x
    a, b = root(lane), root(other)
    if a != b:
        same[a] = b


def _bands(tr, grid, row_of, skipped, group_of, own_step, all_stand_ins):
    """``{family: [leaves, ops]}``: the nodes from outside the steps drawn under each row.

    A node goes to the lowest row whose steps it feeds (through other such nodes), its leaves
    (parameters, inputs) on a rank below its ops; a node gathering a row's outputs (the stack)
    is drawn at that row's top instead, and one only a single step uses in that step.
    """
    feeding = _feeding_the_steps(tr, grid)
    gathered = {s.node.id for s in all_stand_ins.values() if s.kind == "gathered"}
    consumers = {}
    for n in tr.nodes:
        for i in n.inputs:
            consumers.setdefault(i, set()).add(n.id)
    families = {row: family for family, row in row_of.items()}
    reach = {}
    for n in sorted(tr.nodes, key=lambda n: -n.id):      # consumers before their inputs
        if grid[n.id].where == "step":
            continue
        rows = set()
        for c in consumers.get(n.id, ()):
            slot = grid[c]
            rows |= {row_of[slot.family]} if slot.where == "step" and slot.family in row_of \
                else reach.get(c, set())
        reach[n.id] = rows
    bands = {}
    for n in tr.nodes:
        if (n.id not in feeding or n.id in skipped or group_of.get(n.id, n.id) != n.id
                or n.id in own_step or n.id in gathered or not reach.get(n.id)):
            continue
        band = bands.setdefault(families[min(reach[n.id])], ([], []))
        band[0 if not n.inputs else 1].append(n.id)
    result = {}
    for family, (leaves, ops) in bands.items():
        # each leaf under the first op of the band that uses it
        first = {}
        for place, i in enumerate(ops):
            for j in tr.by_id[i].inputs:
                first.setdefault(j, place)
        leaves.sort(key=lambda i: (first.get(i, len(ops)), i))
        result[family] = ([f"n{i}" for i in leaves], [f"n{i}" for i in ops])
    return result


def _feeding_the_steps(tr, grid):
    """Ids of the nodes outside the steps that some step depends on (its parameters, inputs,
    initial states and what is computed once per sequence), found backwards from the steps."""
    feeding = set()
    for n in sorted(tr.nodes, key=lambda n: -n.id):      # consumers before their inputs
        if grid[n.id].where == "step" or n.id in feeding:
            for i in n.inputs:
                if grid.get(i) is not None and grid[i].where != "step":
                    feeding.add(i)
    return feeding


def grid_consumers(tr, source, key, grid):
    """Ids of the nodes of step ``key`` that use ``source``."""
    return [n.id for n in tr.nodes if grid[n.id].where == "step"
            and (grid[n.id].family, grid[n.id].column) == key and source in n.inputs]


def _cut_edges(tr, g):
    """Detach cuts: a dashed edge from the source when it is in the graph, else from a stub."""
    from .views import cut_stubs
    cut_stubs(tr, lambda name, **kw: g.node(name, **kw),
              lambda s, d, **kw: g.edge(s if isinstance(s, str) else f"n{s}", f"n{d}", **kw))
