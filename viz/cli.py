"""``python -m viz``: draw a small unrolled RNN/LSTM/GRU after one backward pass of a default loss;
``python -m viz demo``: the README's main job (:mod:`viz.charrnn_demo`).

Example (shell)::

    python -m viz --cell lstm --steps 4 --hidden 3 --layers 1 --view ops --out lstm.svg
    python -m viz --cell rnn --steps 30 --view rolled --out rnn30.png --flow rnn30_flow.png

Example:
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "gru.dot")
    >>> main(["--cell", "gru", "--steps", "2", "--out", out])
    wrote .../gru.dot (ops view)
    0
    >>> open(out).read().startswith("digraph")
    True
"""
import argparse
import os
import re
import sys
import warnings

from .demo import CELLS, LOSSES, unrolled
from .dot import DEFAULT_MAX_NODES, VIEWS, SHOW, GraphTooLargeWarning, NodeBudgetError, draw
from .explorer import explore
from .render import FORMATS, DotNotFoundError, render

PAGES = ("html",)    # --out graph.html writes the interactive page (viz.explore), not a picture


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser():
    """The argument parser (its ``--help`` documents every flag).

    Example:
        >>> build_parser().parse_args(["--cell", "rnn"]).steps
        4
    """
    p = argparse.ArgumentParser(
        prog="python -m viz",
        description="Draw an unrolled recurrent network after one backward pass, every node "
                    "coloured by the magnitude of its gradient (log scale).",
        epilog="The format follows --out's suffix: .svg, .png, .pdf (need Graphviz's `dot`) or "
               ".dot (DOT source only). Without `dot` the DOT source is written and the exit "
               "status is 3. `python -m viz demo --out out` is the README's main job: train a "
               "small char-LSTM for a minute and draw it (see python -m viz demo --help).")
    p.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (default: lstm)")
    p.add_argument("--steps", type=_positive, default=4, help="time steps T to unroll (default: 4)")
    p.add_argument("--hidden", type=_positive, default=3, help="hidden size H (default: 3)")
    p.add_argument("--input", type=_positive, default=2, dest="input_size",
                   help="input size I (default: 2)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size B (default: 1)")
    p.add_argument("--layers", type=_positive, default=1, help="stacked layers (default: 1)")
    p.add_argument("--bidirectional", action="store_true", help="two directions per layer")
    p.add_argument("--lengths", type=lambda s: [int(v) for v in s.split(",")], default=None,
                   help="comma-separated sequence lengths, one per batch entry (masked steps "
                        "are greyed), e.g. --batch 2 --lengths 4,2")
    p.add_argument("--loss", choices=LOSSES, default="last",
                   help="'last': loss on the last step's output (gradients travel back in time); "
                        "'all': on every step's output (default: last)")
    p.add_argument("--view", choices=VIEWS, default="ops",
                   help="ops: every op; cells: one box per cell and step; rolled: each layer "
                        "once with a per-step strip (default: ops)")
    p.add_argument("--show", default="grad,shape",
                   help=f"comma-separated label contents among {','.join(s for s in SHOW if s != 'name')} "
                        f"(default: grad,shape)")
    p.add_argument("--norm", choices=("l2", "maxabs"), default="l2",
                   help="gradient magnitude: L2 norm or largest absolute entry (default: l2)")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="layout direction: LR (time left to right) or TB (default: LR)")
    p.add_argument("--max-nodes", type=_positive, default=DEFAULT_MAX_NODES,
                   help=f"node budget before falling back to a coarser view (default: {DEFAULT_MAX_NODES})")
    p.add_argument("--fallback", choices=("cells", "rolled", "raise"), default="cells",
                   help="what to do above --max-nodes (default: cells, then rolled)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="parameter and input dtype (default: float64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--title", default=None, help="title above the picture")
    p.add_argument("--flow", default=None, metavar="PATH",
                   help="also write the gradient-flow plot ||dL/dh_t|| vs t (.png/.svg/.pdf; "
                        "needs matplotlib)")
    p.add_argument("--out", default="graph.svg",
                   help=f"output file; suffix one of {', '.join('.' + f for f in FORMATS + PAGES)} "
                        f"(.html: the interactive explorer page, see viz.explore) (default: graph.svg)")
    p.add_argument("--size", type=_size, default=None, metavar="W,H",
                   help="largest picture size in inches, e.g. 13.3,7.5 for a 16:9 slide (the "
                        "drawing shrinks to fit; default: as laid out, a PNG at most 25 MP)")
    p.add_argument("--dpi", type=_positive_float, default=None,
                   help="PNG resolution in dots per inch (default: Graphviz's 96)")
    return p


def _size(text):
    try:
        width, height = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected W,H in inches, e.g. 13.3,7.5; got {text!r}") from None
    if not (width > 0 and height > 0):
        raise argparse.ArgumentTypeError(f"expected two positive numbers of inches, got {text!r}")
    return (width, height)


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def cli_words(message):
    """A library message in command-line words: ``max_nodes=600`` -> ``--max-nodes 600``,
    ``view='cells'`` -> ``--view cells``.

    Example:
        >>> cli_words("view='ops' would draw 900 nodes > max_nodes=600; pass a larger max_nodes=")
        '--view ops would draw 900 nodes > --max-nodes 600; pass a larger --max-nodes'
    """
    message = re.sub(r"max_nodes=(\d+)", r"--max-nodes \1", message)
    message = message.replace("max_nodes=", "--max-nodes")
    message = re.sub(r"view='(\w+)'/'(\w+)'", r"--view \1 or \2", message)
    return re.sub(r"view='(\w+)'", r"--view \1", message)


def _check_path(parser, option, path, formats):
    """An output path's suffix and folder, checked before anything is built."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if os.path.isdir(path):
        parser.error(f"{option} {path!r} is a folder: give a file name ending in "
                     f"{', '.join('.' + f for f in formats)}")
    if suffix not in formats:
        parser.error(f"{option} must end in one of {', '.join('.' + f for f in formats)}, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        parser.error(f"{option} {path!r}: cannot write into {existing!r}")


# Past this many recorded graph nodes building the graph alone takes seconds and hundreds of MB
# (10,000 LSTM steps: 6.8 s, 478 MB) before any view could be chosen.
MAX_RECORDED_NODES = 60_000


def _probe_nodes(args):
    """Recorded graph nodes the arguments would make, extrapolated from 1- and 2-step probes
    (the recording grows linearly in the steps), without building the real graph."""
    from microtensor.graph import walk
    counts = []
    for steps in (1, 2):
        loss, _ = unrolled(args.cell, steps=steps, hidden=1, layers=args.layers, input_size=1,
                           batch=1, bidirectional=args.bidirectional, loss=args.loss, seed=0,
                           backward=False)
        counts.append(len(walk(loss)))
    per_step = counts[1] - counts[0]
    return counts[0] + per_step * (args.steps - 1), per_step


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad arguments, 3 no ``dot``).

    Example:
        >>> import os, tempfile
        >>> main(["--cell", "rnn", "--steps", "2", "--view", "rolled",
        ...       "--out", os.path.join(tempfile.mkdtemp(), "rnn.dot")])
        wrote .../rnn.dot (rolled view)
        0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        from .charrnn_demo import main as demo
        return demo(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    show = tuple(s.strip() for s in args.show.split(",") if s.strip())
    bad = [s for s in show if s not in SHOW]
    if bad:
        parser.error(f"--show entries must be among {', '.join(SHOW)}; got {', '.join(bad)}")
    _check_path(parser, "--out", args.out, FORMATS + PAGES)
    suffix = os.path.splitext(args.out)[1].lower().lstrip(".")
    if suffix in PAGES and args.flow:
        parser.error("--flow goes with a picture: leave it out for an explorer page (--out *.html)")
    if args.flow:
        _check_path(parser, "--flow", args.flow, ("png", "svg", "pdf"))
    if args.lengths is not None and len(args.lengths) != args.batch:
        parser.error(f"--lengths needs one length per batch entry ({args.batch}), got {args.lengths}")
    recorded, per_step = _probe_nodes(args)
    if recorded > MAX_RECORDED_NODES:
        most = max(1, (MAX_RECORDED_NODES - (recorded - per_step * args.steps)) // per_step)
        parser.error(f"--steps {args.steps} would record about {recorded:,} graph nodes "
                     f"({per_step} per step) before drawing anything; viz builds at most "
                     f"{MAX_RECORDED_NODES:,}: use --steps {most} or fewer")
    if args.fallback == "raise" and args.view == "ops" and recorded > args.max_nodes:
        print(f"error: --view ops would draw about {recorded:,} nodes > --max-nodes "
              f"{args.max_nodes}: pass a larger --max-nodes, --view cells or rolled, or "
              f"--fallback cells", file=sys.stderr)
        return 2
    try:
        loss, model = unrolled(args.cell, steps=args.steps, hidden=args.hidden, layers=args.layers,
                               input_size=args.input_size, batch=args.batch,
                               bidirectional=args.bidirectional, loss=args.loss, seed=args.seed,
                               dtype=args.dtype, lengths=args.lengths)
    except ValueError as error:
        parser.error(str(error))
    if suffix in PAGES:
        explore(loss, args.out, params=model, norm=args.norm, title=args.title)
        print(f"wrote {args.out} (explorer page)")
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphTooLargeWarning)
        try:
            graph = draw(loss, view=args.view, show=show, max_nodes=args.max_nodes,
                         fallback=args.fallback, rankdir=args.rankdir, norm=args.norm, params=model,
                         title=args.title, words=cli_words)
        except NodeBudgetError as error:
            print(f"error: {cli_words(str(error))}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"note: {cli_words(str(w.message))}", file=sys.stderr)
    status = 0
    try:
        render(graph, args.out, size=args.size, dpi=args.dpi)
        print(f"wrote {args.out} ({graph.microtensor_view} view)")
    except DotNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        status = 3
    if args.flow:
        from rnn.diagnostics import hidden_grad_norms
        from .flow import plot_gradient_flow
        norms = hidden_grad_norms(loss, norm=args.norm)
        plot_gradient_flow({f"{args.cell.upper()} {k.split('/', 1)[-1]}": v for k, v in norms.items()},
                           out=args.flow, norm=args.norm)
        print(f"wrote {args.flow}")
    return status
