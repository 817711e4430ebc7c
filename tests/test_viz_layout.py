"""Layout quality from Graphviz's own positions (``dot -Tjson``): the textbook grid (issue 10).

Within each row (layer/direction) every time step's centre is at one height, the steps run left to
right in time order, the nodes fill the drawing, and edges stay short and rarely cross. The bounds
on crossings and edge length are the figures of this layout with some room, so that a change that
brings the staircase or the fan of parameter edges back fails here. Measured without the legend
(the layout itself).
"""
import pytest

import viz
from viz.demo import unrolled
from viz.quality import measure

needs_dot = pytest.mark.skipif(not viz.dot_available(),
                               reason="Graphviz's `dot` is not installed (apt-get install graphviz)")

CASES = {
    # name: (unrolled(...) arguments, view, least fill, most crossings, longest mean edge,
    #        most crossings of the recurrent lines with other edges)
    "rnn_ops": (dict(cell="rnn", steps=4, hidden=3), "ops", 0.075, 10, 4.0, 2),
    "lstm_ops": (dict(cell="lstm", steps=4, hidden=3), "ops", 0.075, 25, 4.5, 14),
    "rnn_2_layer_bidirectional_ops": (dict(cell="rnn", steps=3, hidden=3, layers=2, bidirectional=True),
                                      "ops", 0.075, 45, 5.0, 6),
    "lstm_2_layer_bidirectional_ops": (dict(cell="lstm", steps=3, hidden=3, layers=2,
                                            bidirectional=True), "ops", 0.075, 90, 5.0, 40),
    "lstm_2_layer_bidirectional_cells": (dict(cell="lstm", steps=5, hidden=3, layers=2,
                                              bidirectional=True, loss="all"), "cells", 0.20, 4, 4.0, 10),
    "gru_2_layer_cells": (dict(cell="gru", steps=5, hidden=3, layers=2, loss="all"),
                          "cells", 0.20, 4, 4.0, 2),
    # the loss fed by every step of two rows, each edge drawn (three steps: no "+ k other steps")
    "gru_2_layer_bidirectional_3_steps_cells": (dict(cell="gru", steps=3, hidden=2, layers=2,
                                                     bidirectional=True, loss="all"),
                                                "cells", 0.20, 16, 4.0, 10),
    # the loss is fed by every step; its one drawn edge comes from the last unpadded one
    "lstm_lengths_masked_cells": (dict(cell="lstm", steps=6, hidden=3, lengths=[4], loss="all"),
                                  "cells", 0.20, 2, 5.0, 2),
}


def layout_of(kw, view):
    loss, model = unrolled(seed=0, **kw)
    graph = viz.draw(loss, view=view, params=model, legend=False)
    return graph, measure(graph, graph.microtensor_grid)


@needs_dot
@pytest.mark.parametrize("name", sorted(CASES))
def test_textbook_grid(name):
    kw, view, least_fill, most_crossings, longest_edge, most_recurrent_crossings = CASES[name]
    graph, m = layout_of(kw, view)
    rows = {family for family, _ in graph.microtensor_grid.values()}
    directions = 2 if kw.get("bidirectional") else 1
    assert set(m["spread"]) == rows and len(rows) == kw.get("layers", 1) * directions
    assert m["max_spread"] <= 0.25, m["spread"]          # every step of a row at one height
    assert m["time_ordered"]                              # t = 0, 1, ... left to right, every row
    assert m["fill"] >= least_fill, m
    assert m["crossings"] <= most_crossings, m
    assert m["mean_edge"] <= longest_edge, m
    # the columns line up across the rows: every row's step t overlaps the others' (worst step:
    # at least half the narrowest one's width shared)
    assert m["alignment"] >= 0.5, m
    # h_t -> step t+1 runs between the steps and c_t -> step t+1 along the row, not over a step
    assert m["recurrent_crossings"] <= most_recurrent_crossings, m


@needs_dot
@pytest.mark.parametrize("kw", [dict(cell="rnn", steps=4, hidden=2, bidirectional=True),
                                dict(cell="lstm", steps=5, hidden=2, batch=2, lengths=[5, 3]),
                                dict(cell="gru", steps=3, hidden=2, layers=2, bidirectional=True)])
def test_reverse_directions_masks_and_layers_keep_the_grid_in_the_ops_view(kw):
    graph, m = layout_of(kw, "ops")
    assert m["max_spread"] <= 0.25 and m["time_ordered"] and m["alignment"] >= 0.5, m
    assert m["fill"] >= 0.075, m


@needs_dot
def test_a_staircase_fails_the_measure():
    """The measure itself: steps drawn one above the other are a spread, not a row."""
    import graphviz
    stair = graphviz.Digraph(graph_attr={"rankdir": "TB"})
    for t in range(3):
        stair.edge(f"a{t}", f"a{t + 1}")
    m = measure(stair, {f"a{t}": ("row", t) for t in range(4)})
    assert m["max_spread"] >= 3 and not m["time_ordered"]
    row = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    for t in range(3):
        row.edge(f"a{t}", f"a{t + 1}")
    m = measure(row, {f"a{t}": ("row", t) for t in range(4)})
    assert m["max_spread"] == 0 and m["time_ordered"] and m["crossings"] == 0


@needs_dot
def test_an_arc_over_the_next_step_and_a_misaligned_column_fail_the_measures():
    """The measures themselves, on pinned positions: a recurrence from the top of step 0 across
    step 1 to its far side crosses step 1's edge; one that comes down beside step 0 does not; two
    rows whose step 1 stand side by side are not aligned."""
    import graphviz

    def pinned(positions, edges, slots):
        g = graphviz.Digraph(engine="neato", graph_attr={"splines": "line"},
                             node_attr={"shape": "box", "width": "0.3", "height": "0.3"})
        for name, (x, y) in positions.items():
            g.node(name, pos=f"{x},{y}!")
        for a, b in edges:
            g.edge(a, b)
        return measure(g, slots)

    step = {"a0": ("r", 0), "b0": ("r", 0), "a1": ("r", 1), "b1": ("r", 1), "c1": ("r", 1), "d1": ("r", 1)}
    edges = [("a0", "b0"), ("a1", "b1"), ("c1", "d1"), ("b0", "a1")]
    for a1, crossings in ((3, 1), (0.6, 0)):
        positions = {"a0": (0, 0), "b0": (0, 3), "a1": (a1, 0), "b1": (3, 3), "c1": (1, 1.5), "d1": (4, 1.5)}
        assert pinned(positions, edges, step)["recurrent_crossings"] == crossings
    rows = {"p0": ("r0", 0), "p1": ("r0", 1), "q0": ("r1", 0), "q1": ("r1", 1)}
    aligned = pinned({"p0": (0, 0), "p1": (2, 0), "q0": (0, 2), "q1": (2, 2)}, [], rows)
    beside = pinned({"p0": (0, 0), "p1": (2, 0), "q0": (4, 2), "q1": (6, 2)}, [], rows)
    assert aligned["alignment"] == pytest.approx(1.0) and beside["alignment"] < 0


@needs_dot
def test_a_long_cells_view_wraps_onto_lines_that_each_keep_the_grid():
    """30 steps are two lines of 15 (at most viz.views.WRAP a line), one under the other: each
    line a straight row in time order, the recurrence between them drawn as a stub naming the
    next line's first step and a row title naming the line's predecessor."""
    from viz.views import WRAP
    graph, _ = layout_of(dict(cell="lstm", steps=30, hidden=2), "cells")
    lines = {name: (f"{family} line {t // 15}", t) for name, (family, t) in graph.microtensor_grid.items()}
    m = measure(graph, lines)
    assert WRAP < 30 and len(m["spread"]) == 2 and m["max_spread"] <= 0.25 and m["time_ordered"], m
    centres = {}
    for name, (line, t) in lines.items():
        centres.setdefault(line, []).append(t)
    assert sorted(len(ts) for ts in centres.values()) == [15, 15]
    assert 'label="t = 15"' in graph.source and "from t = 14" in graph.source
    assert m["width"] < 1600      # points: wrapped, not a 3,300-point strip


@needs_dot
@pytest.mark.parametrize("kw, chain", [
    (dict(cell="lstm", steps=4, hidden=3), ("f*c", "c")),                 # the cell path
    (dict(cell="lstm", steps=4, hidden=2, batch=2, lengths=[4, 2]), ("f*c", "c")),
    (dict(cell="gru", steps=4, hidden=3), ("z*h", "h")),
    (dict(cell="rnn", steps=4, hidden=3), ("h_proj", "h")),               # d2l's row of h_t
])
def test_the_state_path_is_one_straight_row_through_the_steps(kw, chain):
    from viz.quality import layout_json
    graph, _ = layout_of(kw, "ops")
    tr = graph.microtensor_trace
    ys = {}
    for obj in layout_json(graph)["objects"]:
        i = int(obj["name"][1:]) if obj["name"][1:].isdigit() and obj["name"][0] == "n" else None
        if i is not None and i in tr.by_id and tr.by_id[i].name in chain and tr.by_id[i].step:
            ys.setdefault(tr.by_id[i].name, []).append(float(obj["pos"].split(",")[1]))
    assert sorted(ys) == sorted(chain) and all(len(v) == kw["steps"] for v in ys.values()), ys
    assert len({y for v in ys.values() for y in v}) == 1, ys


def test_the_same_graph_gives_the_same_dot_source_whatever_the_hash_seed():
    # dot's layout follows the order nodes appear in, so a set's iteration order (which depends
    # on PYTHONHASHSEED for strings) must not reach the DOT source.
    import os
    import subprocess
    import sys
    code = ("import hashlib, viz, viz.demo as d\n"
            "loss, model = d.unrolled('lstm', steps=3, hidden=2, layers=2, bidirectional=True)\n"
            "print(hashlib.md5(viz.draw(loss, params=model, view='ops').source.encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3")}
    assert len(digests) == 1
