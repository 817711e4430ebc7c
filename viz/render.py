"""Writing pictures to files: DOT source, or SVG/PNG/PDF through Graphviz's ``dot`` program.

Every file is written atomically (a temporary file in the same directory, then ``os.replace``),
so an interrupted run never leaves half a picture behind.

Example:
    >>> import os, tempfile
    >>> import microtensor as mt
    >>> x = mt.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> loss = (x * x).sum()
    >>> loss.backward(keep_grads=True)
    >>> path = render(loss, os.path.join(tempfile.mkdtemp(), "graph.dot"))
    >>> open(path).read().startswith("digraph microtensor")
    True
"""
import os
import shutil

import graphviz

import microtensor as mt

FORMATS = ("svg", "png", "pdf", "dot", "gv")

INSTALL_HINT = ("Graphviz's `dot` program was not found on PATH. Install Graphviz "
                "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
                "conda: conda install -c conda-forge graphviz; Windows: winget install graphviz) "
                "and make sure `dot -V` works.")


class DotNotFoundError(RuntimeError):
    """Graphviz's ``dot`` binary is missing; the message says how to install it and where the DOT
    source was written instead (``.dot_path``).

    Example:
        >>> error = DotNotFoundError("install Graphviz", "graph.dot")
        >>> isinstance(error, RuntimeError), error.dot_path
        (True, 'graph.dot')
    """

    def __init__(self, message, dot_path=None):
        super().__init__(message)
        self.dot_path = dot_path


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` atomically, creating parent directories: the
    project's one atomic write (:func:`microtensor.atomic_write`), which also keeps an existing
    file's permission bits and writes through a symlink.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "sub", "a.txt")
        >>> atomic_write(p, "hello") == p, open(p).read()
        (True, 'hello')
    """
    return mt.atomic_write(os.fspath(path), data, make_dirs=True)


def dot_available():
    """Whether Graphviz's ``dot`` program can be run.

    Example:
        >>> isinstance(dot_available(), bool)
        True
    """
    return shutil.which("dot") is not None


# A bitmap is capped at this many inches at the default 96 dpi: 52 x 52 in = 5,000 x 5,000 px = 25 MP.
MAX_INCHES = 52.0
DEFAULT_DPI = 96


def sized(graph, size=None, dpi=None, fmt="png"):
    """A copy of ``graph`` with Graphviz's ``size`` (inches, shrink to fit) and ``dpi`` set.

    ``size`` is ``(width, height)`` in inches or ``"W,H"``; without it a bitmap is capped at
    25 megapixels (:data:`MAX_INCHES` square at the dpi used), vector formats are left as laid out.

    Example:
        >>> import graphviz
        >>> g = sized(graphviz.Digraph(), size=(10, 6), dpi=150)
        >>> g.graph_attr["size"], g.graph_attr["dpi"]
        ('10,6', '150')
    """
    g = graph.copy()
    for attr in ("microtensor_view", "microtensor_trace", "microtensor_grid"):
        if hasattr(graph, attr):
            setattr(g, attr, getattr(graph, attr))
    if isinstance(size, str):
        size = tuple(float(v) for v in size.split(","))
    if size is not None:
        width, height = (float(v) for v in size)
        if not (width > 0 and height > 0):
            raise ValueError(f"size must be two positive numbers of inches, got {size!r}")
        g.graph_attr["size"] = f"{width:g},{height:g}"
    if dpi is not None:
        if not dpi > 0:
            raise ValueError(f"dpi must be positive, got {dpi!r}")
        g.graph_attr["dpi"] = f"{dpi:g}"
    if size is None and fmt == "png":
        inches = MAX_INCHES * DEFAULT_DPI / float(dpi or DEFAULT_DPI)
        g.graph_attr.setdefault("size", f"{inches:g},{inches:g}")
    return g


def render(root, path, *, size=None, dpi=None, **draw_options):
    """Draw ``root`` (a tensor, list of tensors, or an already drawn Digraph) into ``path``.

    The format comes from the suffix: ``.svg``, ``.png``, ``.pdf`` (rendered by ``dot``) or
    ``.dot``/``.gv`` (the DOT source, no Graphviz needed). ``size=(w, h)`` (inches) shrinks the
    picture to fit; ``dpi=`` sets a bitmap's resolution (Graphviz's default 96); a PNG is never
    over 25 megapixels unless ``size``/``dpi`` ask for it. Keyword options go to
    :func:`viz.draw`. If ``dot`` is missing, the DOT source is written next to ``path`` (suffix
    ``.dot``) and :class:`DotNotFoundError` says how to install Graphviz.

    Returns: ``path``.

    Example:
        >>> import os, tempfile
        >>> import microtensor as mt
        >>> w = mt.tensor([0.5], requires_grad=True, name="w")
        >>> loss = (w * 3.0).sum()
        >>> loss.backward(keep_grads=True)
        >>> out = render(loss, os.path.join(tempfile.mkdtemp(), "w.svg"))
        >>> b"<svg" in open(out, "rb").read()
        True
    """
    from .dot import draw
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"cannot tell the format from {path!r}: use a path ending in "
                         f"{', '.join('.' + f for f in FORMATS)}")
    graph = root if isinstance(root, graphviz.Digraph) else draw(root, **draw_options)
    graph = sized(graph, size, dpi, fmt)
    if fmt in ("dot", "gv"):
        return atomic_write(path, graph.source)
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        dot_path = os.path.splitext(path)[0] + ".dot"
        atomic_write(dot_path, graph.source)
        raise DotNotFoundError(f"{INSTALL_HINT} The DOT source was written to {dot_path}; render it "
                               f"later with: dot -T{fmt} {dot_path} -o {path}", dot_path) from None
    return atomic_write(path, data)
