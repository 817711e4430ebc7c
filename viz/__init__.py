"""viz: pictures of microtensor graphs, made for teaching backprop through time.

- :func:`draw` the graph behind a tensor as a ``graphviz.Digraph`` (views ``"ops"``, ``"cells"``,
  ``"rolled"``), coloured by log gradient magnitude; :func:`render` it to SVG/PNG/PDF/DOT.
- :func:`plot_gradient_flow` ``||dL/dh_t||`` against t for several models (matplotlib).
- :func:`animate_backward` frames (PNG), an animated GIF and an HTML page of the backward pass.
- :func:`explore` one self-contained interactive page (and inline notebook view) of the graph.
- ``python -m viz --cell lstm --steps 4 --out lstm.svg`` from the command line.

Example:
    >>> import microtensor as mt, viz
    >>> x = mt.tensor([1.0, -1.0], requires_grad=True, name="x")
    >>> loss = (x.tanh() * 2.0).sum()
    >>> loss.backward(keep_grads=True)
    >>> viz.draw(loss).microtensor_view
    'ops'
"""
from .trace import (FreedGraphWarning, NoGradientWarning, Trace, TracedNode, magnitude, short,
                    trace)
from .colors import ColorScale
from .dot import GraphTooLargeWarning, NodeBudgetError, draw
from .render import DotNotFoundError, dot_available, render
from .flow import plot_gradient_flow
from .animate import animate_backward
from .explorer import Explorer, explore

__all__ = ["draw", "render", "trace", "plot_gradient_flow", "animate_backward", "Trace",
           "TracedNode", "ColorScale", "NodeBudgetError", "GraphTooLargeWarning",
           "DotNotFoundError", "FreedGraphWarning", "NoGradientWarning", "dot_available",
           "magnitude", "short", "explore", "Explorer"]
