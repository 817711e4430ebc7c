"""The explorer page: the graph's data (:mod:`viz.explorer.payload`) poured into one HTML file.

Scripts, styles and data are inline, so the page needs no network when it is opened (a lecture
hall's projector has none): Graphviz compiled to WebAssembly (``@viz-js/viz``) lays out the steps
the reader opens, ``svg-pan-zoom`` pans and zooms; both are vendored in ``viz/vendor`` at pinned
versions with their licences (see ``viz/vendor/README.md``).

Example:
    >>> import os, tempfile
    >>> import microtensor as mt
    >>> x = mt.tensor([1.0, -2.0], requires_grad=True, name="x")
    >>> loss = (x * x).sum()
    >>> loss.backward(keep_grads=True)
    >>> page = explore(loss, os.path.join(tempfile.mkdtemp(), "graph.html"))
    >>> os.path.basename(page.path), page.html.startswith("<!DOCTYPE html>")
    ('graph.html', True)
"""
import html
import json
import os

import microtensor as mt

from ..trace import trace as make_trace
from .payload import payload

_HERE = os.path.dirname(os.path.abspath(__file__))
_VENDOR = os.path.join(os.path.dirname(_HERE), "vendor")
# (file, folder) of each script in load order: the libraries, then the explorer on top of them.
SCRIPTS = (("viz-global.js", _VENDOR), ("svg-pan-zoom.min.js", _VENDOR), ("explorer.js", _HERE))


def _read(folder, name):
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return f.read()


def _inline_script(text):
    # A literal "</script" inside a script (the data's strings, a library) would end it early.
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


class Explorer:
    """The written page: ``path`` (or None), ``html`` (the text); shows itself inline in Jupyter.

    In a notebook the page runs inside an ``<iframe srcdoc>``, so its scripts and styles cannot
    clash with the notebook's own.

    Example:
        >>> page = Explorer("<!DOCTYPE html><p>hi</p>", None)
        >>> page._repr_html_().startswith("<iframe")
        True
    """

    def __init__(self, html_text, path, height=640):
        self.html = html_text
        self.path = path
        self.height = height

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:{int(self.height)}px;border:1px solid #ccc" '
                f'title="microtensor explorer"></iframe>')

    def __repr__(self):
        return f"Explorer(path={self.path!r}, {len(self.html.encode('utf-8'))} bytes)"


def explore(root, path=None, *, params=None, level="auto", norm="l2", title=None, hidden="h", height=640):
    """Write the interactive page of the graph behind ``root`` and return it as an :class:`Explorer`.

    Call after ``loss.backward(keep_grads=True)``. The page pans and zooms; opens and closes
    layers, directions and time steps down to every op (a long unroll opens with every step
    closed to one box per cell); shows a node's name, op, scope, shape, dtype, value and
    gradient statistics and heat maps on click; replays the backward pass in the engine's
    order (slider, play button); searches by name, op or scope; highlights the path of largest
    gradient from the loss to the selected node; and exports the view as SVG or PNG. Its
    JavaScript API, ``window.microtensorExplorer``, is described in docs/viz.md.

    Args:
        root: the loss (or a tensor, or a list of tensors) to draw from.
        path: where to write the HTML file (atomically); None writes nothing (a notebook's
            inline display needs no file).
        params: a Module or ``{name: tensor}`` naming the parameters (``weight_hh_l0``).
        level: how the page opens: ``"cells"`` (one box per cell and step, nodes outside the
            steps hidden), ``"ops"`` (everything) or ``"auto"`` (cells for graphs of more than
            ``viz.explorer.payload.OPEN_AT_OPS`` nodes).
        norm: ``"l2"`` or ``"maxabs"``: how a gradient array becomes the one magnitude coloured.
        title: shown above the graph.
        hidden: the name of a step's hidden state (a closed step's box shows its gradient).
        height: the height in pixels of the inline display in a notebook.

    Returns:
        :class:`Explorer` (``.path``, ``.html``; displays inline in Jupyter).

    Example:
        >>> import microtensor as mt
        >>> w = mt.tensor([[0.5]], requires_grad=True, name="w")
        >>> loss = (w * 3.0).tanh().sum()
        >>> loss.backward(keep_grads=True)
        >>> "window.microtensorExplorer" in explore(loss, params={"w": w}).html
        True
    """
    data = payload(make_trace(root, norm=norm, params=params), title=title, hidden=hidden, level=level)
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    head = _read(_HERE, "page.html")
    page = head.replace("{{title}}", html.escape(title or "microtensor explorer"))
    page = page.replace("{{style}}", _read(_HERE, "explorer.css"), 1)
    scripts = "\n".join(_inline_script(_read(folder, name)) for name, folder in SCRIPTS)
    data_tag = ('<script type="application/json" id="microtensor-data">'
                + text.replace("</", "<\\/") + "</script>")
    page = page.replace("{{scripts}}", data_tag + "\n" + scripts, 1)
    if path is not None:
        mt.atomic_write(path, page, make_dirs=True)
    return Explorer(page, None if path is None else os.fspath(path), height)
