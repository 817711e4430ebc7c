"""The package behind :func:`viz.explore`: one self-contained interactive page of an unrolled graph.

- :mod:`viz.explorer.payload`: what the page knows (nodes, grid, backward order), as JSON data.
- :mod:`viz.explorer.page`: the HTML file (template, style, script and vendored libraries inline)
  and :class:`Explorer`, which shows it inline in Jupyter.
- ``explorer.js``: the page itself; its API ``window.microtensorExplorer`` is in docs/viz.md.
"""
from .page import Explorer, explore

__all__ = ["explore", "Explorer"]
