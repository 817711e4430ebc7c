"""Gradient flow over time: ``||dL/dh_t||`` against t on a log scale, one line per model/layer.

The per-step norms come from :func:`rnn.diagnostics.hidden_grad_norms`; this module only plots
them. matplotlib is an optional extra (``pip install microtensor[plot]``), imported when a plot
is made.

Example:
    >>> import numpy as np
    >>> fig = plot_gradient_flow({"RNN": 0.5 ** np.arange(10)[::-1], "LSTM": np.ones(10)})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['RNN', 'LSTM']
"""
import io
import os

import numpy as np

import microtensor as mt

from .render import atomic_write

_PLOT_FORMATS = ("png", "svg", "pdf")


def _pyplot():
    try:
        import matplotlib
        if "MPLBACKEND" not in os.environ and not _interactive():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("viz.plot_gradient_flow needs matplotlib: pip install 'microtensor[plot]' "
                          "(or pip install matplotlib)") from None
    return plt


def _interactive():
    import sys
    return "ipykernel" in sys.modules


def _series(items):
    """``[(label, ndarray)]`` from ``{label: norms or loss tensor}``, a loss, or pairs."""
    if isinstance(items, mt.Tensor):
        items = {"": items}
    pairs = list(items.items()) if isinstance(items, dict) else list(items)
    from rnn.diagnostics import hidden_grad_norms
    out = []
    for label, value in pairs:
        if isinstance(value, mt.Tensor):
            for family, norms in hidden_grad_norms(value).items():
                out.append((f"{label} {family}".strip(), norms))
        else:
            values = np.asarray(value, dtype=np.float64)
            if values.ndim != 1:
                raise ValueError(f"series {label!r}: expected one norm per time step (1-D), got "
                                 f"shape {values.shape}")
            out.append((str(label), values))
    if not out:
        raise ValueError("plot_gradient_flow needs at least one series")
    return out


def plot_gradient_flow(series, out=None, *, ax=None, title=None, norm="l2", distance=False):
    """Plot the gradient norm reaching each time step's hidden state, log scale, one line per series.

    Args:
        series: ``{label: norms}`` where norms is a 1-D array indexed by t (e.g. one entry of
            :func:`rnn.diagnostics.hidden_grad_norms`) or a loss tensor (its graph is measured,
            one line per layer/direction); also a single loss tensor.
        out: optional path (``.png``, ``.svg``, ``.pdf``), written atomically.
        ax: draw into this matplotlib Axes instead of a new figure.
        title: the axes' title (a default one explains the picture).
        norm: only for the y label: ``"l2"`` or ``"maxabs"``.
        distance: put ``T-1-t`` (steps back from the end) on the x axis instead of t.

    Returns:
        the matplotlib Figure.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "flow.png")
        >>> fig = plot_gradient_flow({"RNN": [1e-6, 1e-3, 1.0]}, out=path)
        >>> open(path, "rb").read(4)
        b'\\x89PNG'
    """
    plt = _pyplot()
    data = _series(series)
    if out is not None:
        fmt = os.path.splitext(os.fspath(out))[1].lower().lstrip(".")
        if fmt not in _PLOT_FORMATS:
            raise ValueError(f"out must end in .png, .svg or .pdf, got {out!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    else:
        fig = ax.figure
    for label, values in data:
        shown = np.where(values > 0, values, np.nan)   # zero/absent steps leave a gap on a log axis
        t = np.arange(len(values))
        x = (len(values) - 1 - t) if distance else t
        ax.plot(x, shown, marker="o", markersize=3, linewidth=1.6, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the last step (T-1-t)" if distance else "time step t")
    ax.set_ylabel("‖dL/dh_t‖₂" if norm == "l2" else "max |dL/dh_t|")
    ax.set_title(title if title is not None else "Gradient reaching each time step's hidden state")
    ax.grid(True, which="major", alpha=0.3)
    if any(label for label, _ in data):
        ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    if out is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
        atomic_write(out, buffer.getvalue())
    if ax is None and _interactive():
        # In Jupyter the inline backend shows every open figure at the end of the cell, and the
        # returned figure is shown again as the cell's value: closed here, it is shown once.
        plt.close(fig)
    return fig
