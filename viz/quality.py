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
- ``mean_edge``: mean tail-to-head distance in node heights.

The test suite asserts bounds on these (tests/test_viz_layout.py); compare ``crossings`` and
``mean_edge`` only between versions of the same graph.

Example:
    >>> import graphviz
    >>> g = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    >>> for t in range(3):
    ...     g.node(f"a{t}")
    >>> g.edge("a0", "a1"); g.edge("a1", "a2")
    >>> m = measure(g, {f"a{t}": ("row", t) for t in range(3)})
    >>> m["max_spread"], m["time_ordered"], m["crossings"]
    (0.0, True, 0)
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
        ``fill``, ``crossings``, ``mean_edge``, ``width`` and ``height`` (points) and ``nodes``.
    """
    layout = layout_json(graph) if layout is None else layout
    nodes = _nodes(layout)
    llx, lly, urx, ury = (float(v) for v in layout["bb"].split(","))
    node_height = statistics.median(h for _, _, _, h in nodes.values()) if nodes else 1.0
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
        if tail in nodes and head in nodes and tail != head and edge.get("style") != "invis":
            segments.append((nodes[tail][:2], nodes[head][:2]))
    crossings = sum(1 for i, (p, q) in enumerate(segments) for r, s in segments[i + 1:]
                    if _segments_cross(p, q, r, s))
    lengths = [math.dist(p, q) / node_height for p, q in segments]
    area = max(1e-9, (urx - llx) * (ury - lly))
    return {"spread": spread, "max_spread": max(spread.values(), default=0.0),
            "time_ordered": ordered, "fill": sum(w * h for _, _, w, h in nodes.values()) / area,
            "crossings": crossings, "mean_edge": statistics.fmean(lengths) if lengths else 0.0,
            "width": urx - llx, "height": ury - lly, "nodes": len(nodes)}
