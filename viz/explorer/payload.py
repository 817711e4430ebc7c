"""What the explorer page knows about a graph: one JSON-ready dict built from a :class:`~viz.trace.Trace`.

The page draws from this data alone (no Python at view time), so everything it shows is decided
here with the static views' own functions: labels (:func:`viz.style.node_label`), fills
(:func:`viz.style.node_fill` on one :class:`~viz.colors.ColorScale` for the whole page), the grid
(:func:`viz.layout.slots`), the engine's backward order (:func:`microtensor.graph.backward_order`)
and the legend (:func:`viz.style.legend_label`, laid out in the browser by Graphviz). Only what the
page shows is stored: per node its label, colours, statistics in the labels' short notation and
two small heat maps (arrays above :data:`HEAT_CELLS` cells per side are block-averaged).

Nodes are positional lists (the page holds tens of thousands of them); :data:`NODE_FIELDS` names
the positions.

Example:
    >>> import microtensor as mt
    >>> from viz.trace import trace
    >>> w = mt.tensor([[0.5, -1.0]], requires_grad=True, name="w")
    >>> with mt.scope("rnn/l0/t0"):
    ...     h = (w * 2.0).tanh()
    >>> loss = h.sum()
    >>> loss.backward(keep_grads=True)
    >>> data = payload(trace(loss))
    >>> [dict(zip(NODE_FIELDS, n))["label"] for n in data["nodes"]]
    ['w\\\\n1×2', 'mul [2]\\\\n1×2', 'tanh\\\\n1×2', 'sum\\\\nscalar']
    >>> data["order"], data["cells"][0][:3]
    ([4, 3, 2, 0], ['rnn/l0/t0', 0, 0])
"""
import warnings

import numpy as np

import microtensor as mt
from rnn.conventions import REVERSE

from ..colors import ColorScale
from ..layout import rows as layout_rows, slots
from ..style import (KIND_ATTRS, UNREACHED_FILL, UNREACHED_FONT, const_text, family_label, grad_text,
                     legend_label, mark_kind, node_fill, node_label, stats_text)
from ..trace import NoGradientWarning, short, shape_text
from ..views import contracted_edges, hidden_states

# Position of each field in a node list.
NODE_FIELDS = ("id", "kind", "label", "grad", "colors", "status", "name", "op", "scope", "cell",
               "shape", "dtype", "value", "l2", "maxabs", "vheat", "gheat", "inputs", "mag")
# Fields that are indices into data["strings"][field] (repeated strings are stored once).
TABLE_FIELDS = ("kind", "colors", "status", "name", "op", "scope", "cell", "shape", "dtype")
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
HEAT_CELLS = 16        # a heat map has at most this many rows and columns (block means beyond)
OPEN_AT_OPS = 400      # graphs with more nodes open at the cells level (every step collapsed)


def heat_map(array, cells=HEAT_CELLS):
    """A small picture of an array: ``"scale:digits"``, or None for an empty or non-numeric one.

    The array is viewed as 2-D (a vector is one row; leading axes are folded into rows), block
    averaged down to at most ``cells`` × ``cells`` (the page knows the shape, so it knows the
    grid), and each entry quantised to one hex digit, row by row: 8 is zero, 1 and f are -scale
    and +scale (scale = largest absolute entry, in short notation), 0 marks NaN or Inf. Fifteen
    levels are all a thumbnail can show; the exact statistics are printed beside it.

    Example:
        >>> heat_map(np.array([[-2.0, 0.0, 2.0], [1.0, 0.5, np.nan]]))
        '2.0e+0:18fca0'
        >>> len(heat_map(np.zeros((40, 3))))    # 16 × 3 block means
        50
        >>> heat_map(np.array([])), heat_map(None)
        (None, None)
    """
    if array is None:                  # a value the graph did not keep
        return None
    a = np.asarray(array)
    if a.size == 0 or a.dtype.kind not in "fiub":
        return None
    a = a.astype(np.float64).reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.astype(np.float64).reshape(1, -1)
    bad = ~np.isfinite(a)
    if a.shape[0] > cells or a.shape[1] > cells:
        a = _block_mean(np.where(bad, 0.0, a), cells)
        bad = _block_mean(bad.astype(np.float64), cells) > 0
    clean = np.where(bad, 0.0, a)
    scale = float(np.max(np.abs(clean)))
    q = (np.full(a.shape, 8, dtype=np.intp) if scale == 0
         else (8.0 + np.round(clean / scale * 7.0)).astype(np.intp))
    q[bad] = 0
    return short(scale) + ":" + _HEX_DIGITS[q.ravel()].tobytes().decode("ascii")


def _block_mean(a, cells):
    """Means over a grid of at most ``cells`` × ``cells`` nearly equal blocks."""
    for axis in (0, 1):
        n = a.shape[axis]
        if n > cells:
            starts = np.linspace(0, n, cells + 1).astype(int)[:-1]
            counts = np.diff(np.append(starts, n))
            a = np.add.reduceat(a, starts, axis=axis) / (counts[:, None] if axis == 0 else counts[None, :])
    return a


def _table():
    """A string table: ``intern(text) -> index`` and the list itself (None stays None)."""
    items, index = [], {}

    def intern(text):
        if text is None:
            return None
        if text not in index:
            index[text] = len(items)
            items.append(text)
        return index[text]
    return intern, items


def _scope_labels(families):
    """The title of every scope at or above the rows' families, as a closed box says it.

    Example:
        >>> _scope_labels(["lstm/l0", "lstm/l0/reverse"])["lstm/l0"]
        'lstm · layer 0, both directions'
        >>> _scope_labels(["enc/l0", "enc/l1"])["enc"]
        'enc, 2 rows'
    """
    labels = {}
    for family in families:
        parts = family.split("/")
        for k in range(1, len(parts) + 1):
            prefix = "/".join(parts[:k])
            if prefix in labels:
                continue
            inside = {f for f in families if f == prefix or f.startswith(prefix + "/")}
            labels[prefix] = family_label(prefix) + (
                "" if len(inside) == 1 else ", both directions" if inside == {prefix, f"{prefix}/{REVERSE}"}
                else f", {len(inside)} rows")
    return labels


LEVELS = ("auto", "cells", "ops")


def payload(tr, title=None, hidden="h", level="auto"):
    """The page's data for a trace (see the module docstring); JSON-serialisable.

    ``level`` is how the page opens: ``"cells"`` (every time step closed to one box),
    ``"ops"`` (every op shown) or ``"auto"`` (cells above :data:`OPEN_AT_OPS` nodes).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    reached = any(n.status != "nograd" for n in tr.nodes)
    if not reached:
        warnings.warn("no node of this graph has a gradient, so the page can only show values: call "
                      "loss.backward(keep_grads=True) before viz.explore to see every gradient",
                      NoGradientWarning, stacklevel=3)
    scale = ColorScale.for_range(tr.magnitude_range)
    tables = {field: _table() for field in TABLE_FIELDS}
    tables["cell"] = tables["scope"]          # a step's path is a scope path: one table
    intern = {field: table[0] for field, table in tables.items()}
    nodes = []
    for n in tr.nodes:
        kind = mark_kind(n, tr.roots)
        has_grad = n.status != "nograd"
        grad = n.tensor.grad if has_grad else None
        inputs = [n.id - i for i in n.inputs if tr.by_id[i].kind != "const"]
        nodes.append([n.id, intern["kind"](kind), node_label(n, ("shape", "name"), const_text(n, tr)),
                      grad_text(n), intern["colors"](" ".join(node_fill(n, scale))),
                      intern["status"](n.status), intern["name"](n.name), intern["op"](n.op),
                      intern["scope"](n.scope), intern["cell"](n.cell),
                      intern["shape"](shape_text(n.shape)), intern["dtype"](str(n.dtype)),
                      stats_text(n.value_stats), short(n.grad_l2) if has_grad else None,
                      short(n.grad_maxabs) if has_grad else None, heat_map(n.tensor.data),
                      heat_map(grad) if grad is not None else None, inputs,
                      float(f"{n.grad_magnitude:.4g}") if n.status == "ok" else None])
    slot = slots(tr)
    families = layout_rows(tr)
    row_of = {family: r for r, family in enumerate(families)}
    states = hidden_states(tr, hidden) if row_of else {}
    cells = {}
    for n in tr.nodes:
        if n.step is not None and n.cell not in cells:
            state = states.get(tuple(n.step))
            cells[n.cell] = [n.cell, slot[n.id].row, n.step.t, state.id if state is not None else None,
                             family_label(n.step.family)]
    ids = {n.id for n in tr.nodes}
    outside = {n.id for n in tr.nodes if n.step is None}
    roots_and_cuts = set(tr.roots) | {n.id for n in tr.nodes if n.kind == "detached"}
    shown = (ids - outside) | roots_and_cuts
    contracted = contracted_edges(tr, lambda n: n.id if n.id in shown else None,
                                  lambda i: tr.by_id[i].step, lambda i: tr.by_id[i].status != "zero")
    return {
        "title": title,
        "norm": tr.norm,
        "fields": NODE_FIELDS,
        "nodes": nodes,
        "strings": {field: table[1] for field, table in tables.items() if field != "cell"},
        # The direct edges are in the nodes' inputs: only those through contracted nodes here.
        "contracted": [list(e) for e in contracted if e[0] not in tr.by_id[e[1]].inputs],
        "cuts": [[src, dst, text] for src, dst, text in tr.cuts],
        "roots": list(tr.roots),
        # Outside the steps: "before" them (parameters, inputs, hoisted ops) go in a band below the
        # grid, the rest (stacked outputs, the loss) in a block to its right.
        "before": sorted(i for i in outside if slot[i].where == "before" and i not in tr.roots),
        "cells": sorted(cells.values(), key=lambda c: (c[1], c[2])),
        "rows": [family_label(f) for f in families],
        # Each row's scope path and the titles of every scope above the rows (a layer, a model):
        # what collapse(scope) can close to one box.
        "families": families,
        "scope_labels": _scope_labels(families),
        # Without gradients the backward pass has not happened: nothing to replay.
        "order": mt.graph.backward_order(*[tr.by_id[i].tensor for i in tr.roots]) if reached else [],
        "kinds": KIND_ATTRS,
        "unreached": [UNREACHED_FILL, UNREACHED_FONT],
        "legend": 'digraph legend { margin=0; label=' + legend_label(scale, tr.norm, "ops")
                  + '; labelloc="t"; labeljust="l"; node[shape=point, style=invis]; x; }',
        "open_at_cells": bool(cells) and (level == "cells"
                                          or level == "auto" and len(tr.nodes) > OPEN_AT_OPS),
    }
