"""The backward pass as a film: frames in which the gradient reaches the nodes in backward order.

Frame 1 shows only the loss with its gradient; each next frame reveals the nodes of one more time
step (walking back from the last step to the first, in reverse creation order, which is a valid
backward order); the last frame shows every gradient, including the parameters', whose gradients
are sums over all steps. A node not reached yet is drawn "not reached" (light, without its value);
a stage that changes nothing the view shows (ops outside the cells, in the cells view) is merged
into the frame before it, so no two frames are alike. Every frame uses the same layout and the
same colour scale, so only the colours change. Output: numbered PNG frames, an animated GIF
(Pillow, which matplotlib brings) and one self-contained HTML page with a slider.

Example:
    >>> import os, tempfile
    >>> import microtensor as mt
    >>> x = mt.tensor([[0.5, -0.5]], requires_grad=True, name="x")
    >>> h = x
    >>> for t in range(2):
    ...     with mt.scope(f"rnn/l0/t{t}"):
    ...         h = (h * 0.9).tanh()
    >>> loss = h.sum()
    >>> loss.backward(keep_grads=True)
    >>> result = animate_backward(loss, tempfile.mkdtemp(), formats=("html",))
    >>> len(result["frames"]), os.path.basename(result["html"])
    (4, 'backward.html')
"""
import base64
import io
import os

from .dot import draw
from .render import DotNotFoundError, INSTALL_HINT, atomic_write

import graphviz


def backward_stages(trace):
    """Node ids grouped in the order the backward pass gives them gradients.

    Returns a list of ``(description, [ids])``: first the root, then one group per run of
    consecutive nodes of the same time step (or outside any step), walking creation order
    backwards; finally the leaves (parameters), whose gradients are complete only at the end.

    Example:
        >>> import microtensor as mt
        >>> from viz.trace import trace
        >>> w = mt.tensor([1.0], requires_grad=True, name="w")
        >>> with mt.scope("rnn/l0/t0"):
        ...     y = w * 2.0
        >>> [d for d, _ in backward_stages(trace(y.sum()))]
        ['loss', 'rnn/l0 t = 0', 'parameters']
    """
    roots = set(trace.roots)
    stages = [("loss", sorted(roots))]
    current_key, current = object(), None
    for n in sorted(trace.nodes, key=lambda n: -n.id):
        if n.id in roots or n.kind not in ("op",):
            continue
        key = tuple(n.step) if n.step is not None else None
        if key != current_key:
            text = f"{key[0]} t = {key[1]}" if key is not None else (n.scope or "outside the steps")
            current = (text, [])
            stages.append(current)
            current_key = key
        current[1].append(n.id)
    leaves = [n.id for n in trace.nodes if n.kind in ("param", "detached") and n.id not in roots]
    if leaves:
        stages.append(("parameters", leaves))
    return stages


def _merge(stages, max_frames):
    if len(stages) <= max_frames:
        return stages
    per = -(-len(stages) // max_frames)
    merged = []
    for start in range(0, len(stages), per):
        group = stages[start:start + per]
        merged.append((f"{group[0][0]} … {group[-1][0]}" if len(group) > 1 else group[0][0],
                       [i for _, ids in group for i in ids]))
    return merged


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:1em}} img{{max-width:100%;border:1px solid #ccc}}
#caption{{margin:.5em 0;font-weight:bold}}</style></head>
<body><h2>{title}</h2>
<div><button onclick="go(-1)">&#9664; back</button> <button onclick="play()">play / pause</button>
<button onclick="go(1)">next &#9654;</button>
<input id="slider" type="range" min="0" max="{last}" value="0" oninput="show(+this.value)" style="width:40%">
<span id="counter"></span></div>
<div id="caption"></div><img id="frame" alt="backward pass frame">
<script>
const frames = [{frames}];
const captions = [{captions}];
let i = 0, timer = null;
function show(k) {{ i = Math.max(0, Math.min(frames.length - 1, k));
  document.getElementById('frame').src = 'data:image/png;base64,' + frames[i];
  document.getElementById('caption').textContent = captions[i];
  document.getElementById('slider').value = i;
  document.getElementById('counter').textContent = (i + 1) + ' / ' + frames.length; }}
function go(d) {{ show(i + d); }}
function play() {{ if (timer) {{ clearInterval(timer); timer = null; return; }}
  timer = setInterval(() => {{ if (i >= frames.length - 1) {{ clearInterval(timer); timer = null; }}
                               else go(1); }}, {frame_ms}); }}
show(0);
</script></body></html>
"""


def animate_backward(root, out, *, view="ops", max_frames=40, formats=("png", "gif", "html"),
                     frame_ms=800, **draw_options):
    """Write the frames of the backward pass through the graph behind ``root`` into directory ``out``.

    Call after ``loss.backward(keep_grads=True)``: the gradients shown are the final ones, revealed
    in backward order.

    Args:
        root: the loss (or the tensor drawn from).
        out: output directory (created if needed).
        view: ``"ops"``, ``"cells"`` or ``"rolled"`` (see :func:`viz.draw`).
        max_frames: at most this many frames (consecutive stages are merged beyond it).
        formats: any of ``"png"`` (numbered frames ``frame_000.png`` ...), ``"gif"``
            (``backward.gif``) and ``"html"`` (``backward.html``, frames embedded, with a slider).
        frame_ms: GIF/HTML time per frame in milliseconds.
        **draw_options: passed to :func:`viz.draw` (``norm``, ``show``, ``params``, ...).

    Returns:
        ``{"frames": [png paths], "gif": path or None, "html": path or None}``; "frames" lists the
        frame files written, or (without "png") the frame captions.

    Raises:
        DotNotFoundError: Graphviz's ``dot`` is missing (frames are rendered with it).

    Example:
        >>> import tempfile
        >>> import microtensor as mt
        >>> w = mt.tensor([0.5], requires_grad=True, name="w")
        >>> with mt.scope("rnn/l0/t0"):
        ...     loss = (w * 2.0).tanh().sum()
        >>> loss.backward(keep_grads=True)
        >>> result = animate_backward(loss, tempfile.mkdtemp(), formats=("png",))
        >>> [p.rsplit("/", 1)[-1] for p in result["frames"]]
        ['frame_000.png', 'frame_001.png', 'frame_002.png']
    """
    bad = [f for f in formats if f not in ("png", "gif", "html")]
    if bad:
        raise ValueError(f"formats must be among 'png', 'gif', 'html', got {bad}")
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    os.makedirs(out, exist_ok=True)
    full = draw(root, view=view, **draw_options)
    stages = _merge(backward_stages(full.microtensor_trace), max_frames - 1)
    view = full.microtensor_view        # keep a fallback chosen by the node budget
    draw_options.pop("max_nodes", None)
    # One frame per stage that changes what the view shows: a stage of nodes the view does not
    # draw (ops outside the cells, in the cells view) would repeat the previous frame.
    frames, revealed, previous = [], set(), None
    for text, ids in stages + [("all gradients", [])]:
        revealed.update(ids)
        shown = None if not ids else set(revealed)
        options = {**draw_options, "title": None}
        look = draw(root, view=view, max_nodes=None, revealed=shown, **options).source
        if look == previous:
            frames[-1] = (frames[-1][0], shown, f"{frames[-1][2]}, {text}" if ids else frames[-1][2])
            continue
        previous = look
        frames.append((text, shown, None))
    images, captions = [], []
    for k, (text, shown, merged) in enumerate(frames):
        what = merged or text
        caption = (f"backward {k + 1}/{len(frames)}: " +
                   (f"gradient reaches {what}" if shown is not None else "every gradient (final)"))
        frame_graph = draw(root, view=view, max_nodes=None, revealed=shown,
                           **{"title": caption, **draw_options})
        try:
            images.append(frame_graph.pipe(format="png"))
        except graphviz.ExecutableNotFound:
            raise DotNotFoundError(f"{INSTALL_HINT} animate_backward renders its frames with it.") from None
        captions.append(caption)
    result = BackwardAnimation(frames=captions, gif=None, html=None)
    if "png" in formats:
        result["frames"] = [atomic_write(os.path.join(out, f"frame_{k:03d}.png"), png)
                            for k, png in enumerate(images)]
    if "gif" in formats:
        result["gif"] = atomic_write(os.path.join(out, "backward.gif"), _gif(images, frame_ms))
    if "html" in formats:
        page = _HTML.format(title="Backward pass, time step by time step", last=len(images) - 1,
                            frame_ms=int(frame_ms),
                            frames=",".join(f"'{base64.b64encode(p).decode()}'" for p in images),
                            captions=",".join(repr(c) for c in captions))
        result["html"] = atomic_write(os.path.join(out, "backward.html"), page)
    return result


class BackwardAnimation(dict):
    """What :func:`animate_backward` wrote (``"frames"``, ``"gif"``, ``"html"``); as a notebook
    cell's value it plays inline (the GIF, else the first frame).

    Example:
        >>> BackwardAnimation(frames=[], gif=None, html=None)._repr_html_()
        '<p>no frames written</p>'
    """

    def _repr_html_(self):
        path = self.get("gif") or next((p for p in self.get("frames", ()) if str(p).endswith(".png")),
                                       None)
        if not path:
            return "<p>no frames written</p>"
        kind = "gif" if str(path).endswith(".gif") else "png"
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        return f'<img src="data:image/{kind};base64,{data}" alt="backward pass">'


def _gif(images, frame_ms):
    """An animated GIF of PNG frames, padded to one size on white."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("the GIF needs Pillow (it comes with matplotlib): pip install pillow, or "
                          "ask animate_backward for formats=('png', 'html')") from None
    frames = [Image.open(io.BytesIO(p)).convert("RGB") for p in images]
    width = max(f.width for f in frames)
    height = max(f.height for f in frames)
    padded = []
    for f in frames:
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(f, (0, 0))
        padded.append(canvas)
    buffer = io.BytesIO()
    durations = [frame_ms] * (len(padded) - 1) + [frame_ms * 3]   # linger on the final picture
    padded[0].save(buffer, format="GIF", save_all=True, append_images=padded[1:],
                   duration=durations, loop=0)
    return buffer.getvalue()
