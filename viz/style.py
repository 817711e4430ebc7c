"""How things look: labels, fills, tooltips, cluster styles, the legend, the empty graph.

Shared by every view (:mod:`viz.views`), so that one picture speaks one visual language.

Example:
    >>> scope_label("t3"), scope_label("l0"), scope_label("reverse")
    ('t = 3', 'layer 0', 'reverse')
"""
import html
import math
import re

import graphviz
from rnn import conventions

from .colors import (BAD_FILL, MASKED_FILL, NO_GRAD_FILL, ZERO_GRAD_FILL, font_color, interpolate,
                     tick_text)
from .trace import magnitude, short, shape_text

FONT = "Helvetica"
UNREACHED_FILL = "#f7f7f7"    # animation: gradient not there yet
UNREACHED_FONT = "#c0c0c0"
# The marks of the ops view, as Graphviz attributes per kind of node (see mark_kind); the
# explorer page draws its nodes with the same table.
KIND_ATTRS = {
    "op": {"shape": "box", "style": "rounded,filled"},
    "root": {"shape": "doubleoctagon", "style": "filled,bold", "penwidth": "2"},
    "root_tensor": {"shape": "box", "style": "filled,bold", "penwidth": "2"},
    "param": {"shape": "box", "style": "filled,bold", "penwidth": "2"},
    "detached": {"shape": "box", "style": "filled,dashed"},
    "input": {"shape": "note", "style": "filled"},
}


def mark_kind(node, roots):
    """The :data:`KIND_ATTRS` key of a traced node: a scalar root (the loss) is an octagon, a
    tensor root a bold box, an op, parameter or detached leaf its own mark, any other leaf a note.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> tr = trace((w * 2.0).sum())
        >>> [mark_kind(n, tr.roots) for n in tr.nodes]
        ['param', 'op', 'root']
    """
    if node.id in roots:
        return "root" if node.record.tensor.size == 1 else "root_tensor"
    return node.kind if node.kind in ("op", "param", "detached") else "input"


def dot_text(text):
    """One line of user text (a tensor's name, a scope) made safe inside a DOT label or tooltip:
    a backslash stays a backslash (a trailing one would otherwise escape the closing quote) and a
    double quote becomes a single one. Lines are joined with DOT's ``\\n`` afterwards.

    Example:
        >>> dot_text('h "new"'), dot_text("net\\\\")
        ("h 'new'", 'net\\\\\\\\')
    """
    return str(text).replace("\\", "\\\\").replace('"', "'")


def natural_key(text):
    """Sort key putting "l2" before "l10" and "t9" before "t10".

    Example:
        >>> sorted(["t10", "t9", "t1"], key=natural_key)
        ['t1', 't9', 't10']
    """
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def node_fill(node, scale, revealed=None):
    """``(fillcolor, fontcolor)`` of a node from its gradient status (faded if not ``revealed``).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> from viz.colors import ColorScale
        >>> node_fill(tr.by_id[0], ColorScale(1.0, 10.0))    # ∇w = [2, 2], L2 norm 2.83
        ('#26848d', 'black')
    """
    if not reached(node, revealed):
        return UNREACHED_FILL, UNREACHED_FONT
    if node.status == "ok":
        color = scale.color(node.grad_magnitude)
        return color, font_color(color)
    if node.status == "bad":
        return BAD_FILL, "white"
    if node.status == "zero":
        return ZERO_GRAD_FILL, "black"
    return NO_GRAD_FILL, "#555555"


def grad_text(node):
    """``"∇ 2.8e+0"``, ``"∇ none"`` (requires grad, none kept) or ``"no grad"``.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> grad_text(tr.by_id[0])
        '∇ 2.8e+0'
    """
    if node.status == "nograd":
        return "∇ none" if node.record.requires_grad else "no grad"
    return f"∇ {short(node.grad_magnitude)}"


#: What a tooltip says of a value the graph did not keep (no backward needed it).
VALUE_NOT_KEPT = "not kept (forward under mt.keep_values() to see it)"


def stats_text(stats):
    """``(min, mean, max)`` in short notation.

    ``None`` (a value the graph did not keep, as no backward needed it) says so, and how to keep
    it.

    Example:
        >>> stats_text((-1.0, 0.5, 2.0))
        '-1.0e+0 / 5.0e-1 / 2.0e+0'
        >>> stats_text(None)
        'not kept (forward under mt.keep_values() to see it)'
    """
    if stats is None:
        return VALUE_NOT_KEPT
    low, mean, high = stats
    return f"{short(low)} / {short(mean)} / {short(high)}"


def node_tooltip(node, norm):
    """Full statistics, shown by SVG viewers on hover (lines joined by DOT's ``\\n``).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> print(node_tooltip(tr.by_id[0], "l2").split("\\\\n")[-1])
        gradient L2 norm: 2.8e+0   max-abs: 2.0e+0
    """
    title = node.name or node.op or node.kind
    lines = [f"#{node.id} {title}" + (f" = {node.op}" if node.op and node.name else ""),
             f"kind: {node.kind}" + (f"   scope: {node.scope}" if node.scope else ""),
             f"shape: {node.shape}   dtype: {node.dtype}",
             f"value min/mean/max: {stats_text(node.value_stats)}"]
    if node.status == "nograd":
        lines.append("gradient: none" if node.record.requires_grad else "gradient: not required")
    else:
        lines.append(f"gradient L2 norm: {short(node.grad_l2)}   max-abs: {short(node.grad_maxabs)}")
    if node.nonfinite_value:
        lines.append("value holds NaN or Inf")
    return "\\n".join(dot_text(line) for line in lines)


def reached(node, revealed):
    """Whether the backward pass has reached ``node`` in an animation frame (``revealed`` is the
    set of ids reached so far, None outside an animation)."""
    return revealed is None or node.id in revealed or node.status == "nograd"


def node_label(node, show, constants="", revealed=None):
    """The label: op (or name), then shape, value stats and gradient as ``show`` asks.

    ``constants`` is appended to the op name (folded constant inputs, e.g. ``" [2]"``). A node
    the gradient has not reached yet (animation, ``revealed``) says so instead of its final value.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> print(node_label(tr.by_id[0], ("shape", "grad")))
        w\\n2\\n∇ 2.8e+0
    """
    lines = []
    if node.kind in ("op", "root") and node.op is not None:
        head = node.op + constants
        lines.append(f"{node.name} = {head}" if node.name and "name" in show else head)
    elif node.kind == "detached":
        lines.append(f"detached {node.name}" if node.name else "detached")
    else:
        lines.append(node.name or ("parameter" if node.kind == "param" else "input"))
    lines.extend(detail_lines(node, show, revealed))
    return "\\n".join(dot_text(line) for line in lines)


def value_line(stats):
    """A label's value line: ``val min / mean / max``, or ``val not kept``.

    Example:
        >>> value_line((0.0, 1.0, 2.0)), value_line(None)
        ('val 0 / 1.0e+0 / 2.0e+0', 'val not kept')
    """
    return "val not kept" if stats is None else f"val {stats_text(stats)}"


def detail_lines(node, show, revealed=None):
    """The label lines under a node's head, as ``show`` asks: shape, value stats, gradient (or
    "not reached yet" for a node the gradient has not reached in an animation frame).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> (w * 2.0).sum().backward(keep_grads=True)
        >>> detail_lines(trace(w).by_id[0], ("shape", "grad"))
        ['2', '∇ 2.8e+0']
    """
    lines = []
    if "shape" in show:
        lines.append(shape_text(node.shape))
    if "value" in show:
        lines.append(value_line(node.value_stats))
    if "grad" in show:
        lines.append(grad_text(node) if reached(node, revealed) else "∇ not reached yet")
    return lines


def const_text(node, tr):
    """The values of a node's folded constant inputs, e.g. ``" [2]"`` for ``w * 2.0``.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> const_text(tr.by_id[2], tr)
        ' [2]'
    """
    values = [tr.by_id[i].const_value for i in node.inputs if tr.by_id[i].kind == "const"]
    return f" [{', '.join(f'{v:g}' for v in values)}]" if values else ""


def scope_label(part):
    """A cluster's title for one scope part: ``"t3"`` -> ``"t = 3"``, ``"l0"`` -> ``"layer 0"``."""
    t, layer = conventions.parse_step_part(part), conventions.parse_layer_part(part)
    if t is not None:
        return f"t = {t}"
    if layer is not None:
        return f"layer {layer}"
    return part


def cluster_name(path):
    """The Graphviz subgraph name of a scope path (must start with ``cluster``).

    Example:
        >>> cluster_name("lstm/l0/reverse/t3")
        'cluster_lstm_l0_reverse_t3'
    """
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", path)


# Background of nested clusters by depth: model, layer, direction, step.
_CLUSTER_FILLS = ("#f3f6fb", "#e9eff8", "#f6f3fb", "#fbfbf4", "#f4f4f4")


def cluster_attrs(path, depth, masked=False, note=None, label=None):
    """Graph attributes of a scope cluster: title, nested background, grey when ``masked``.

    ``note`` is appended to a time step's title (e.g. a partial mask); ``label`` replaces the
    title made from the path.

    Example:
        >>> cluster_attrs("rnn/l0/t2", 2, masked=True)["label"]
        't = 2 · masked (padding)'
        >>> cluster_attrs("rnn/l0/t2", 2, note="1 of 2 sequences masked")["label"]
        't = 2 · 1 of 2 sequences masked'
    """
    extra_label = label
    part = path.rsplit("/", 1)[-1]
    label = scope_label(part)
    fill = _CLUSTER_FILLS[min(depth, len(_CLUSTER_FILLS) - 1)]
    if conventions.parse_step_part(part) is not None:
        fill = "#fafafa"
        if masked:
            fill = MASKED_FILL
            label += " · masked (padding)"
        elif note:
            label += f" · {note}"
    return {"label": dot_text(label if extra_label is None else extra_label), "style": "rounded,filled",
            "fillcolor": fill, "color": "#b0b0b0",
            "fontname": FONT, "fontsize": "11", "labeljust": "l"}


def styles_used(source):
    """The marks a drawn graph's DOT ``source`` uses, so that the legend explains those and only
    those: fills (``"zero"``, ``"nograd"``, ``"unreached"``, ``"bad"``, ``"masked"``) and shapes
    (``"param"``, ``"stand-in"``, ``"multi"``, ``"input"``, ``"loss"``, ``"detach"``,
    ``"summary"``: an edge standing for several, ``"slice"``: a step's slice of a sequence drawn
    without its edge from the sequence).

    Example:
        >>> sorted(styles_used('n1 [fillcolor="#ffffff" shape=note style=filled]'))
        ['input', 'zero']
    """
    used = set()
    marks = {"zero": f'fillcolor="{ZERO_GRAD_FILL}"', "nograd": f'fillcolor="{NO_GRAD_FILL}"',
             "unreached": f'fillcolor="{UNREACHED_FILL}"', "bad": f'fillcolor="{BAD_FILL}"',
             "masked": f'fillcolor="{MASKED_FILL}"', "param": 'style="filled,bold"',
             "input": "shape=note", "loss": "shape=doubleoctagon", "multi": "shape=plain",
             "detach": "dashed", "summary": "other steps", "slice": "class=slice"}
    for key, mark in marks.items():
        if mark in source:
            used.add(key)
    if re.search(r"^\s*s\d+_\w+ \[", source, re.M):
        used.add("stand-in")
    # Cells of a multi-output node carry their fills as BGCOLOR.
    for key, fill in (("zero", ZERO_GRAD_FILL), ("nograd", NO_GRAD_FILL), ("bad", BAD_FILL),
                      ("unreached", UNREACHED_FILL)):
        if f'BGCOLOR="{fill}"' in source:
            used.add(key)
    return used


def _lines(pieces, joint, width=150):
    """``pieces`` joined by ``joint`` into lines of at most ``width`` characters (a longer piece
    stays whole on a line of its own).

    Example:
        >>> _lines(["a" * 6, "b" * 6, "c" * 6], " · ", width=15)
        ['aaaaaa · bbbbbb', 'cccccc']
    """
    lines = []
    for piece in pieces:
        if lines and len(lines[-1]) + len(joint) + len(piece) <= width:
            lines[-1] += joint + piece
        else:
            lines.append(piece)
    return lines


def legend_label(scale, norm, view, extra=None, title=None, used=None):
    """The graph's HTML label: an optional title, the colour bar and the key to the marks in
    ``used`` (see :func:`styles_used`; None: all of them).

    It is the graph label rather than a node so that it takes no rank and does not push the
    drawing apart. The bar spans the scale's range with its ticks.

    Example:
        >>> from viz.colors import ColorScale
        >>> label = legend_label(ColorScale(1e-3, 1.0), "l2", "ops", used={"param"})
        >>> label.startswith("<<TABLE ID=") and "1e-3" in label, "detach" in label
        (True, False)
    """
    everything = used is None
    used = {"zero", "nograd", "unreached", "masked", "bad", "param", "stand-in", "multi", "input",
            "loss", "detach", "summary", "slice"} if everything else set(used)
    values = scale.ticks(13 if scale.decades >= 1 else 5)
    bar = "".join(f'<TD BGCOLOR="{interpolate(scale.position(v))}"'
                  f' WIDTH="40" HEIGHT="14" FIXEDSIZE="TRUE"></TD>' for v in values)
    ticks = "".join(f'<TD WIDTH="40" HEIGHT="16" FIXEDSIZE="TRUE"><FONT POINT-SIZE="9">'
                    f'{tick_text(v) if scale.decades >= 1 else f"{v:.3g}"}</FONT></TD>' for v in values)
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
    rows.append(row(f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0" WIDTH="{40 * len(values)}" '
                    f'HEIGHT="30" FIXEDSIZE="TRUE"><TR>{bar}</TR>'
                    f'<TR>{ticks}</TR></TABLE>'))
    fills = [("zero", "#777777", "zero gradient (∇ 0)", "□"),
             ("nograd", "#cfcfcf", "no gradient (input, constant)", "■"),
             ("unreached", "#c0c0c0", "gradient not reached yet", "□"),
             ("masked", MASKED_FILL, "masked: padding under lengths", "■"),
             ("bad", BAD_FILL, "NaN or Inf", "■")]
    shown = [swatch(color, words, mark) for key, color, words, mark in fills if everything or key in used]
    if shown:
        rows.append(row("".join(shown)))
    if view == "ops":
        parts = ["rounded box = op (with its output)"]
        parts += ["a box per output of a multi-output op"] if "multi" in used else []
        parts += ["bold box = parameter (∇ = sum over the steps)"] if "param" in used else []
        parts += ["plain box = a tensor shared by the steps, as this step uses it "
                  "(∇ = this step's share)"] if "stand-in" in used else []
        parts += ["getitem without an input edge = this step's slice of the sequence of that name "
                  "(computed once, under the steps)"] if "slice" in used else []
        parts += ["note = input"] if "input" in used else []
    elif view == "cells":
        parts = ["one box per cell and time step, coloured by ∇ of its hidden state"]
        parts += ["an edge labelled '+ k other steps' stands for k more, one from each step"] \
            if "summary" in used else []
    else:
        parts = ["each layer/direction drawn once; its strip shows ∇ of the hidden state at every step"]
    parts += ["octagon = loss"] if "loss" in used else []
    parts += ["dashed = cut by detach()"] if "detach" in used else []
    # a few short lines rather than one as wide as a long picture
    rows += [row(text(line, 9)) for line in _lines(parts, " · ")]
    if extra:
        rows += [row(text(line, 9, color="#b00000")) for line in _lines(extra.split(" "), " ")]
    return ('<<TABLE ID="legend" TOOLTIP="legend" HREF="#legend" BORDER="1" COLOR="#999999" '
            'CELLBORDER="0" CELLSPACING="1" CELLPADDING="3" '
            f'BGCOLOR="white">{"".join(rows)}</TABLE>>')


def new_graph(rankdir):
    """An empty ``graphviz.Digraph`` with the house fonts, spacing and edge style.

    Example:
        >>> new_graph("LR").graph_attr["rankdir"]
        'LR'
    """
    graph_attr = {"rankdir": rankdir, "fontname": FONT, "newrank": "true", "nodesep": "0.2",
                  "ranksep": "0.3", "bgcolor": "white"}
    return graphviz.Digraph("microtensor", graph_attr=graph_attr,
                            node_attr={"fontname": FONT, "fontsize": "10", "margin": "0.06,0.03"},
                            edge_attr={"arrowsize": "0.6", "color": "#666666", "fontname": FONT})


def kept_node_attrs(n, scale, tr, show, revealed):
    """A drawn node's attributes: label, fill, tooltip, DOM id and its mark (:data:`KIND_ATTRS`);
    used for every node of the ops view and the nodes the cells/rolled views keep (the root, a
    detached leaf).

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> loss = (w * 2.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> tr = trace(loss)
        >>> from viz.colors import ColorScale
        >>> kept_node_attrs(tr.by_id[3], ColorScale(1.0, 10.0), tr, ("grad",), None)["shape"]
        'doubleoctagon'
    """
    fill, fontc = node_fill(n, scale, revealed)
    attrs = {"label": node_label(n, show, const_text(n, tr), revealed), "fillcolor": fill, "fontcolor": fontc,
             "tooltip": node_tooltip(n, tr.norm), "id": f"n{n.id}"}
    attrs.update(KIND_ATTRS[mark_kind(n, tr.roots)])
    return attrs


def header_attrs(t, masked=False, note=None):
    """Attributes of the ``t = k`` header above a time step's column (ops view).

    Example:
        >>> header_attrs(3, masked=True)["label"]
        't = 3 · padding'
    """
    label = f"t = {t}" + (" · padding" if masked else f" · {note}" if note else "")
    attrs = {"label": label, "shape": "box", "style": "rounded,filled", "fontsize": "12",
             "fillcolor": MASKED_FILL if masked else "#f4f4f4", "color": "#b0b0b0",
             "tooltip": f"time step {t}" + (": every sequence of the batch is padding here"
                                            if masked else "")}
    return attrs


def share_node_attrs(stand_in, scale, revealed, norm, show=("grad", "shape")):
    """Attributes of a per-step stand-in (:class:`viz.ops_view.StandIn`): a plain box (neither
    the rounded box of an op nor the bold box of a parameter) carrying this step's share of the
    gradient.

    Example:
        >>> import numpy as np
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> from viz.colors import ColorScale
        >>> from viz.ops_view import StandIn
        >>> w = mt.tensor([3.0, 4.0], requires_grad=True, name="w")
        >>> node = trace((w * 2.0).sum()).by_id[0]
        >>> s = StandIn("s0", node, ("rnn/l0", 2), "used", np.array([0.3, 0.4]))
        >>> print(share_node_attrs(s, ColorScale(0.1, 1.0), None, "l2")["label"])
        w at t=2\\n2\\n∇ 5.0e-1
    """
    node, t = stand_in.node, stand_in.key[1]
    title = node.name or node.op or node.kind
    if stand_in.kind == "used":
        head = f"{title} at t={t}"
    else:
        head = f"output t={t} → {title}"
    shape = stand_in.grad.shape if stand_in.grad is not None else None
    lines = [head]
    grad = stand_in.grad
    if stand_in.kind == "used" and shape is None:
        shape = node.shape
    if shape is not None and "shape" in show:
        lines.append(shape_text(shape))
    if "value" in show and stand_in.kind == "used":
        lines.append(value_line(node.value_stats))
    if revealed is not None and not all(i in revealed for i in stand_in.known_after or (node.id,)):
        fill, fontc = UNREACHED_FILL, UNREACHED_FONT          # (its share is not computed yet)
        lines.append("∇ not reached yet")
    elif grad is None:
        fill, fontc = NO_GRAD_FILL, "#555555"
        lines.append("no grad" if not node.record.requires_grad else "∇ share not computed")
    else:
        value = magnitude(grad, norm)
        if not math.isfinite(value):
            fill, fontc = BAD_FILL, "white"
        elif value == 0:
            fill, fontc = ZERO_GRAD_FILL, "black"
        else:
            fill = scale.color(value)
            fontc = font_color(fill)
        lines.append(f"∇ {short(value)}")
    if "grad" not in show:
        lines = [line for line in lines if not line.startswith("∇")]
    what = ("the tensor as this step's ops use it" if stand_in.kind == "used"
            else "this step's output, gathered by the node outside the steps")
    share_text = ("this step's share of the gradient: not computed" if grad is None else
                  f"this step's share of the gradient: L2 norm {short(magnitude(grad, 'l2'))}   "
                  f"max-abs {short(magnitude(grad, 'maxabs'))}")
    tooltip = (f"t = {t}: {what} (drawn once outside the steps, with the total gradient)\\n"
               f"{share_text}\\n" + node_tooltip(node, norm))
    return {"label": "\\n".join(dot_text(line) for line in lines), "shape": "box",
            "style": "filled", "fillcolor": fill, "fontcolor": fontc, "tooltip": tooltip,
            "id": stand_in.name, "color": "#888888" if fill == ZERO_GRAD_FILL else "black"}


def family_label(family):
    """A readable layer/direction title.

    Example:
        >>> family_label("lstm/l1/reverse")
        'lstm · layer 1 · reverse'
    """
    parts = family.split("/")
    return dot_text(" · ".join(scope_label(p) for p in parts))
