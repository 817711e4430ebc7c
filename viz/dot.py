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
import warnings

from rnn import conventions

from .colors import ColorScale
from .style import legend_label, new_graph, styles_used
from .trace import NoGradientWarning, trace as make_trace
from .ops_view import draw_ops, shown_magnitudes
from .views import draw_cells, draw_rolled, hidden_states

DRAWERS = {"ops": draw_ops, "cells": draw_cells, "rolled": draw_rolled}

VIEWS = ("ops", "cells", "rolled")
SHOW = ("grad", "shape", "value", "name")
DEFAULT_MAX_NODES = 600


class NodeBudgetError(ValueError):
    """The graph has more nodes than ``max_nodes`` and no fallback view was allowed.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> loss = (x * 2.0 * 3.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> try:
        ...     draw(loss, max_nodes=2, fallback="raise")
        ... except NodeBudgetError as error:
        ...     print(str(error)[:46])
        view='ops' would draw 4 nodes > max_nodes=2 an
    """


class GraphTooLargeWarning(UserWarning):
    """Issued when :func:`draw` falls back to a coarser view because of ``max_nodes``.

    Example:
        >>> import warnings
        >>> import microtensor as mt
        >>> h = mt.ones(1, requires_grad=True)
        >>> for t in range(3):
        ...     with mt.scope(f"rnn/l0/t{t}"):
        ...         h = (h * 0.5).tanh()
        >>> loss = h.sum()
        >>> loss.backward(keep_grads=True)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     view = draw(loss, max_nodes=5).microtensor_view
        >>> view, caught[0].category.__name__
        ('cells', 'GraphTooLargeWarning')
    """


def _view_range(tr, view, hidden, leaves):
    """Smallest and largest magnitude among what the view colours (None if nothing has one)."""
    if view == "ops":
        values = shown_magnitudes(tr, tr.norm, leaves)
        return (min(values), max(values)) if values else None
    shown = list(hidden_states(tr, hidden).values())
    shown += [tr.by_id[i] for i in tr.roots] + [n for n in tr.nodes if n.kind == "detached"]
    values = [n.grad_magnitude for n in shown if n.status == "ok"]
    return (min(values), max(values)) if values else None


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


def _dot_rankdir(view, rankdir):
    """Graphviz's rankdir for ``view`` when time should run along ``rankdir``.

    In the ops view the data flows across a step (input below, output above) and the steps stand
    side by side, so time left to right is ``BT`` inside Graphviz; top to bottom is ``LR``.
    """
    if view != "ops":
        return rankdir
    return {"LR": "BT", "RL": "TB", "TB": "LR", "BT": "RL"}[rankdir]


def draw(root, *, view="ops", show=("grad", "shape"), max_nodes=DEFAULT_MAX_NODES, fallback="cells",
         rankdir="LR", norm="l2", params=None, hidden=conventions.HIDDEN, title=None, legend=True,
         revealed=None, leaves=True, words=None):
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
        words: a function that puts draw's messages (the fallback note drawn in the legend and
            its warning) in the caller's words: the command line passes
            :func:`viz.cli.cli_words`, so its picture says ``--max-nodes``, not ``max_nodes=``.

    Returns:
        ``graphviz.Digraph``; its ``microtensor_view`` attribute says which view was drawn,
        ``microtensor_trace`` holds the :class:`~viz.trace.Trace` and ``microtensor_grid`` maps
        the DOT names of the nodes drawn in the time-step grid to their ``(family, t)``.

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
        >>> g.source.count("step_t") >= 3, "c_rnn_l0_t2" in g.source
        (True, True)
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
    roots = [tr.by_id[i].tensor for i in tr.roots]
    freed = any(r.grad_fn is not None and r.grad_fn.freed for r in roots)   # warned by trace
    if not freed and all(n.status == "nograd" for n in tr.nodes) and any(r.requires_grad for r in roots):
        warnings.warn("no node of this graph has a gradient, so the picture would be all grey: call "
                      "loss.backward(keep_grads=True) before drawing to see every gradient",
                      NoGradientWarning, stacklevel=2)
    chosen, message = _choose_view(tr, view, max_nodes, fallback, hidden)
    if message and words is not None:
        message = words(message)
    if message:
        warnings.warn(message, GraphTooLargeWarning, stacklevel=2)
    scale = ColorScale.for_range(_view_range(tr, chosen, hidden, leaves))
    g = new_graph(_dot_rankdir(chosen, rankdir))
    revealed = None if revealed is None else set(revealed)
    placed = DRAWERS[chosen](tr, g, scale, show, revealed, hidden, leaves)
    if legend:
        g.attr(label=legend_label(scale, norm, chosen, message, title, used=styles_used(g.source)),
               labelloc="t", labeljust="l")
    elif title:
        g.attr(label=title, labelloc="t", fontsize="16")
    g.microtensor_view = chosen
    g.microtensor_trace = tr
    g.microtensor_grid = placed
    return g
