"""Per-step gradient norms (rnn.diagnostics), the gradient-flow plot and the backward animation."""
import io
import re

import numpy as np
import pytest

import microtensor as mt
import viz
from rnn.diagnostics import hidden_grad_norms, split_step_scope, step_states
from viz.animate import backward_stages
from viz.demo import unrolled
from viz.trace import short

needs_dot = pytest.mark.skipif(not viz.dot_available(),
                               reason="Graphviz's `dot` is not installed (apt-get install graphviz)")


# ----- rnn.diagnostics -------------------------------------------------------------------------
def test_hidden_grad_norms_match_an_independent_gradient():
    loss, model = unrolled("lstm", steps=5, hidden=3, layers=2, bidirectional=True, backward=False)
    records = mt.graph.walk(loss)
    states = step_states(records)
    assert sorted({k[0] for k in states}) == ["lstm/l0", "lstm/l0/reverse", "lstm/l1", "lstm/l1/reverse"]
    assert all(r.name == "h" for r in states.values())
    keys = list(states)
    grads = mt.grad(loss, [states[k].tensor for k in keys], retain_graph=True)
    norms = hidden_grad_norms(loss)                         # no kept grads: computed inside
    for (family, t), g in zip(keys, grads):
        assert norms[family][t] == pytest.approx(np.linalg.norm(g), rel=1e-12)
    loss.backward(keep_grads=True)                         # kept grads: read, same numbers
    again = hidden_grad_norms(loss)
    for family in norms:
        np.testing.assert_allclose(again[family], norms[family], rtol=1e-12)
    cells = hidden_grad_norms(loss, name="c", norm="maxabs")
    assert set(cells) == set(norms) and all(len(v) == 5 for v in cells.values())


def test_vanilla_rnn_gradient_vanishes_backwards_in_time():
    loss, _ = unrolled("rnn", steps=30, hidden=4, weight_scale=0.5)
    norms = hidden_grad_norms(loss)["rnn/l0"]
    assert norms[-1] > 1e3 * norms[0]
    assert np.all(np.diff(np.log(norms[-10:])) > 0)


def test_hidden_grad_norms_without_scopes_raises():
    x = mt.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="time-step scopes"):
        hidden_grad_norms((x * 2.0).sum())


def test_split_step_scope():
    assert split_step_scope("a/b/t7/gates") == ("a/b", 7)
    assert split_step_scope("a/b") is None and split_step_scope("") is None


def test_masked_steps_get_zero_norm():
    loss, _ = unrolled("gru", steps=4, hidden=2, lengths=[2], loss="all")
    norms = hidden_grad_norms(loss)["gru/l0"]
    assert norms[2] == 0 and norms[3] == 0 and norms[0] > 0


# ----- flow plot -------------------------------------------------------------------------------
def test_plot_gradient_flow_files_and_lines(tmp_path):
    pytest.importorskip("matplotlib", reason="the flow plot needs matplotlib")
    rnn_loss, _ = unrolled("rnn", steps=12, hidden=3)
    lstm_loss, _ = unrolled("lstm", steps=12, hidden=3)
    fig = viz.plot_gradient_flow({"RNN": rnn_loss, "LSTM": hidden_grad_norms(lstm_loss)["lstm/l0"]},
                                 out=tmp_path / "flow.png")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["RNN rnn/l0", "LSTM"]
    np.testing.assert_allclose(lines[0].get_ydata(), hidden_grad_norms(rnn_loss)["rnn/l0"])
    assert fig.axes[0].get_yscale() == "log"
    assert open(tmp_path / "flow.png", "rb").read(4) == b"\x89PNG"
    back = viz.plot_gradient_flow({"RNN": [1e-3, 1e-2, 0.0]}, out=tmp_path / "flow.svg", distance=True)
    line = back.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [2, 1, 0] and np.isnan(line.get_ydata()[2])   # zero: a gap
    assert b"<svg" in (tmp_path / "flow.svg").read_bytes()
    with pytest.raises(ValueError, match=".png, .svg or .pdf"):
        viz.plot_gradient_flow({"x": [1.0]}, out=tmp_path / "flow.gif")
    with pytest.raises(ValueError, match="1-D"):
        viz.plot_gradient_flow({"x": [[1.0]]})


def test_plot_gradient_flow_without_matplotlib_says_what_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'microtensor\[plot\]'"):
        viz.plot_gradient_flow({"x": [1.0]})


# ----- animation -------------------------------------------------------------------------------
def test_backward_stages_follow_time_backwards():
    loss, _ = unrolled("rnn", steps=3, hidden=2)
    stages = backward_stages(viz.trace(loss))
    names = [d for d, _ in stages]
    assert names[0] == "loss" and names[-1] == "parameters"
    steps = [int(m.group(1)) for d in names if (m := re.search(r"rnn/l0 t = (\d)", d))]
    assert steps == [2, 1, 0]
    ids = [i for _, group in stages for i in group]
    assert len(ids) == len(set(ids))


@needs_dot
def test_animate_backward_writes_frames_gif_and_html(tmp_path):
    from PIL import Image
    loss, model = unrolled("rnn", steps=3, hidden=2)
    result = viz.animate_backward(loss, tmp_path / "anim", params=model)
    expected = len(result["frames"])
    assert 3 <= expected <= len(backward_stages(viz.trace(loss))) + 1      # + the final picture
    assert [p.rsplit("/", 1)[-1] for p in result["frames"]] == [f"frame_{k:03d}.png" for k in range(expected)]
    for p in result["frames"]:
        assert open(p, "rb").read(4) == b"\x89PNG"
    gif = Image.open(result["gif"])
    assert gif.format == "GIF" and gif.n_frames == expected
    page = open(result["html"], encoding="utf-8").read()
    assert page.count("data:image/png;base64,") == 1 and page.count("'iVBOR") == expected
    # Early frames hide the gradients not reached yet; the last one shows them all.
    first = Image.open(io.BytesIO(open(result["frames"][0], "rb").read())).convert("RGB")
    last = Image.open(io.BytesIO(open(result["frames"][-1], "rb").read())).convert("RGB")
    assert len(first.getcolors(1 << 24)) < len(last.getcolors(1 << 24))


@needs_dot
def test_animate_backward_merges_stages_beyond_max_frames(tmp_path):
    loss, _ = unrolled("rnn", steps=12, hidden=2)
    result = viz.animate_backward(loss, tmp_path, view="cells", max_frames=5, formats=("png",))
    assert len(result["frames"]) <= 5 and result["gif"] is None and result["html"] is None
    with pytest.raises(ValueError, match="formats"):
        viz.animate_backward(loss, tmp_path, formats=("mp4",))


@needs_dot
def test_docs_viz_md_python_blocks_run(tmp_path, monkeypatch):
    """docs/viz.md cannot rot: its python blocks run in order, in one namespace, in a temp dir."""
    pytest.importorskip("matplotlib", reason="docs/viz.md plots a gradient flow")
    import pathlib
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "viz.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/viz.md", "exec"), namespace)
    assert (tmp_path / "lstm.svg").exists() and (tmp_path / "flow.png").exists()
    assert (tmp_path / "out" / "backward" / "backward.gif").exists()


@needs_dot
@pytest.mark.parametrize("view", ["ops", "cells"])
def test_animation_frames_differ_and_unreached_nodes_hide_their_gradient(tmp_path, view):
    loss, model = unrolled("lstm", steps=3, hidden=2)
    result = viz.animate_backward(loss, tmp_path / view, view=view, params=model, formats=("png",))
    images = [open(p, "rb").read() for p in result["frames"]]
    assert len(images) >= 3
    # No two frames alike (the captions aside: drawn without them).
    from viz.animate import backward_stages
    tr = viz.trace(loss, params=model)
    looks = set()
    revealed = set()
    for _, ids in backward_stages(tr):
        revealed |= set(ids)
        looks.add(viz.draw(loss, view=view, params=model, revealed=revealed).source)
    assert len(images) <= len(looks) + 1
    first = viz.draw(loss, view=view, params=model, revealed=set(tr.roots))
    final_values = {short(n.grad_magnitude) for n in tr.nodes
                    if n.status == "ok" and n.id not in tr.roots}
    assert "not reached yet" in first.source
    hidden_lines = re.findall(r'label="([^"]*not reached yet[^"]*)"', first.source)
    assert hidden_lines and not any(v in line for line in hidden_lines for v in final_values)
    assert "gradient not reached yet" in first.source          # the legend's swatch


def test_animation_displays_inline_in_a_notebook(tmp_path):
    from viz.animate import BackwardAnimation
    png = tmp_path / "frame_000.png"
    png.write_bytes(b"\x89PNG fake")
    html = BackwardAnimation(frames=[str(png)], gif=None, html=None)._repr_html_()
    assert html.startswith('<img src="data:image/png;base64,')


def test_a_steps_share_of_a_weight_shows_in_the_frame_its_step_is_reached():
    """The share "weight_hh_l0 at t=k" is computed by step k's own backward: an animation frame
    shows it as soon as the gradient reaches that step, not only once the total is known."""
    from viz.animate import backward_stages
    from viz.ops_view import stand_ins
    loss, model = unrolled("rnn", steps=3, hidden=2)
    tr = viz.trace(loss, params=model)
    shares = {s.key[1]: s for s in stand_ins(tr).values()
              if s.kind == "used" and s.node.name == "weight_hh_l0"}
    assert sorted(shares) == [0, 1, 2]
    revealed = set()
    for description, ids in backward_stages(tr):
        revealed |= set(ids)
        if description.endswith("t = 1"):
            break
    source = viz.draw(loss, params=model, revealed=revealed).source
    label = {t: re.search(rf'\b{s.name}"? \[[^\]]*?label="([^"]*)"', source).group(1)
             for t, s in shares.items()}
    assert "not reached" not in label[2] and "not reached" not in label[1], label
    assert "not reached" in label[0], label                  # step 0 is not reached yet
