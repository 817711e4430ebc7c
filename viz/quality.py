"""How good a drawing's layout is, measured from Graphviz's own positions (``dot -Tjson``).

A textbook unrolled network puts every time step of one layer/direction at the same height and the
steps left to right in time order, with little empty canvas. :func:`measure` lays a
``graphviz.Digraph`` out with ``dot`` and reports, for nodes assigned to ``(row, column)`` slots
(row = layer/direction, column = time step; see :func:`viz.layout.slots`):

- ``spread``: per row, how far the steps' centres move vertically, in node heights (a textbook row:
  0; the largest row's value is ``max_spread``);
- ``time_ordered``: whether in every row the step centres run left to right in time order;
- ``fill``: total node area over the drawing's area;
- ``crossings``: pairs of edges whose straight tail-to-head segments cross;
- ``mean_edge``: mean tail-to-head distance in node heights;
- ``alignment``: how well the time steps form columns across the rows: for each step t, the x-range
  all rows' step-t boxes share, over the narrowest of them; the worst step's value (1: every row's
  step t spans the same x-range, > 0: they all overlap, <= 0: some row's step t is beside another's;
  1.0 with a single row);
- ``recurrent_crossings``: how often the drawn lines of the edges from one step to another of the
  same row (h_t -> step t+1, c_t -> step t+1) cross other drawn edges (Graphviz's splines, not
  straight segments): 0 when the recurrences run between the steps or straight along a row; an arc
  over the next step crosses that step's own edges.

The test suite asserts bounds on these (tests/test_viz_layout.py); compare ``crossings`` and
``mean_edge`` only between versions of the same graph.

Example:
    >>> import graphviz
    >>> g = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    >>> for t in range(3):
    ...     g.node(f"a{t}")
    >>> g.edge("a0", "a1"); g.edge("a1", "a2")
    >>> m = measure(g, {f"a{t}": ("row", t) for t in range(3)})
    >>> m["max_spread"], m["time_ordered"], m["crossings"], m["alignment"], m["recurrent_crossings"]
    (0.0, True, 0, 1.0, 0)
"""
import json
import math
import statistics


def layout_json(graph):
    """Graphviz's layout of ``graph`` (a ``graphviz.Digraph``) as the parsed ``-Tjson`` output."""
    return json.loads(graph.pipe(format="json").decode("utf-8"))


def _nodes(layout):
    """``{name: (x, y, width, height)}`` in points for every laid-out node (clusters excluded)."""
    nodes = {}
    for obj in layout.get("objects", []):
        if "pos" not in obj or "width" not in obj:
            continue
        x, y = (float(v) for v in obj["pos"].split(","))
        nodes[obj["name"]] = (x, y, float(obj["width"]) * 72, float(obj["height"]) * 72)
    return nodes


def _bezier_points(edge, samples=16):
    """Points along the spline Graphviz drew for ``edge`` (its ``_draw_`` cubic Bezier pieces)."""
    points = []
    for op in edge.get("_draw_", []):
        if op.get("op") not in ("b", "B"):
            continue
        ctrl = op["points"]
        for k in range(0, len(ctrl) - 3, 3):
            p0, p1, p2, p3 = ctrl[k:k + 4]
            for i in range(samples + 1):
                u = i / samples
                a, b, c, d = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3
                points.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                               a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return points


def _alignment(boxes):
    """Worst step's shared x-range across rows over its narrowest row (1.0 for one row)."""
    by_column = {}
    for columns in boxes.values():
        for column, box in columns.items():
            by_column.setdefault(column, []).append(box)
    worst = 1.0
    for column_boxes in by_column.values():
        if len(column_boxes) < 2:
            continue
        shared = min(b[2] for b in column_boxes) - max(b[0] for b in column_boxes)
        narrowest = max(1e-9, min(b[2] - b[0] for b in column_boxes))
        worst = min(worst, shared / narrowest)
    return worst


def _polyline_crossings(line, other):
    """How many times polyline ``line`` crosses polyline ``other`` (lists of points)."""
    xs, ys = [p[0] for p in other], [p[1] for p in other]
    box = (min(xs), min(ys), max(xs), max(ys))
    count = 0
    for p, q in zip(line, line[1:]):
        if max(p[0], q[0]) < box[0] or min(p[0], q[0]) > box[2] or \
                max(p[1], q[1]) < box[1] or min(p[1], q[1]) > box[3]:
            continue
        count += sum(1 for r, s in zip(other, other[1:]) if _segments_cross(p, q, r, s))
    return count


def _recurrent_crossings(layout, slots):
    """Crossings of the drawn recurrent lines with the other drawn edges."""
    ids = {obj.get("_gvid"): obj["name"] for obj in layout.get("objects", [])}
    lines = []      # (tail, head, points) of every drawn edge
    for edge in layout.get("edges", []):
        if edge.get("style") != "invis":
            lines.append((ids.get(edge["tail"]), ids.get(edge["head"]), _bezier_points(edge, samples=6)))
    count = 0
    for tail, head, points in lines:
        if tail not in slots or head not in slots or slots[tail][0] != slots[head][0] \
                or slots[tail][1] == slots[head][1]:
            continue
        for other_tail, other_head, other in lines:
            if {tail, head} & {other_tail, other_head} or len(points) < 2 or len(other) < 2:
                continue    # edges meeting at a node do not cross there
            count += _polyline_crossings(points, other)
    return count


def _segments_cross(p, q, r, s):
    """Whether segments p-q and r-s cross at a point inside both (shared endpoints do not count)."""
    def orient(a, b, c):
        value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (value > 1e-9) - (value < -1e-9)
    if {p, q} & {r, s}:
        return False
    return (orient(p, q, r) * orient(p, q, s) < 0) and (orient(r, s, p) * orient(r, s, q) < 0)


def measure(graph, slots, layout=None):
    """Layout figures of ``graph`` for nodes placed in ``slots`` (``{node name: (row, column)}``).

    Args:
        graph: a ``graphviz.Digraph`` (laid out here with ``dot -Tjson`` unless ``layout`` is given).
        slots: ``{node name: (row, column)}``; a step's centre is the centre of the bounding box of
            its row's nodes in that column. Names that are not drawn are ignored.
        layout: an already parsed ``-Tjson`` layout of ``graph``.

    Returns:
        ``dict`` with ``spread`` (``{row: node heights}``), ``max_spread``, ``time_ordered``,
        ``fill``, ``crossings``, ``mean_edge``, ``alignment``, ``recurrent_crossings``, ``width`` and
        ``height`` (points) and ``nodes``.
    """
    layout = layout_json(graph) if layout is None else layout
    nodes = _nodes(layout)
    llx, lly, urx, ury = (float(v) for v in layout["bb"].split(","))
    # points (a wall between columns, a recurrence's waypoints) are no nodes to measure by
    drawn = {name: box for name, box in nodes.items() if box[3] >= 7.2}
    node_height = statistics.median(h for _, _, _, h in drawn.values()) if drawn else 1.0
    boxes = {}
    for name, (row, column) in slots.items():
        if name not in nodes:
            continue
        x, y, w, h = nodes[name]
        box = boxes.setdefault(row, {}).setdefault(column, [math.inf, math.inf, -math.inf, -math.inf])
        box[0], box[1] = min(box[0], x - w / 2), min(box[1], y - h / 2)
        box[2], box[3] = max(box[2], x + w / 2), max(box[3], y + h / 2)
    spread, ordered = {}, True
    for row, columns in boxes.items():
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for _, b in sorted(columns.items())]
        ys = [c[1] for c in centres]
        spread[row] = (max(ys) - min(ys)) / node_height
        ordered = ordered and all(a[0] < b[0] for a, b in zip(centres, centres[1:]))
    ids = {obj.get("_gvid"): obj["name"] for obj in layout.get("objects", [])}
    segments = []
    for edge in layout.get("edges", []):
        tail, head = ids.get(edge["tail"]), ids.get(edge["head"])
        if tail in drawn and head in drawn and tail != head and edge.get("style") != "invis":
            segments.append((nodes[tail][:2], nodes[head][:2]))
    crossings = sum(1 for i, (p, q) in enumerate(segments) for r, s in segments[i + 1:]
                    if _segments_cross(p, q, r, s))
    lengths = [math.dist(p, q) / node_height for p, q in segments]
    area = max(1e-9, (urx - llx) * (ury - lly))
    return {"spread": spread, "max_spread": max(spread.values(), default=0.0),
            "time_ordered": ordered, "fill": sum(w * h for _, _, w, h in drawn.values()) / area,
            "crossings": crossings, "mean_edge": statistics.fmean(lengths) if lengths else 0.0,
            "alignment": _alignment(boxes),
            "recurrent_crossings": _recurrent_crossings(layout, slots),
            "width": urx - llx, "height": ury - lly, "nodes": len(drawn)}
