"""viz with Graphviz's `dot`: real SVG/PNG/PDF files, the SVG parsed as XML; the CLI; golden DOT."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import microtensor as mt
import viz
from viz import colors
from viz.cli import main as cli_main
from viz.demo import unrolled
from viz.render import DotNotFoundError
from viz.trace import short

from tests.regenerate_golden import CASES, GOLDEN_DIR, golden_source

needs_dot = pytest.mark.skipif(not viz.dot_available(),
                               reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_svg(path):
    return ET.parse(path).getroot()


def groups(root, cls):
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def title(g):
    return g.find(f"{SVG}title").text


def texts(g):
    return [t.text or "" for t in g.iter(f"{SVG}text")]


def fill(g):
    for shape in g.iter():
        painted = shape.get("fill") not in (None, "none")
        if shape.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse") and painted:
            return shape.get("fill")
    return None


@needs_dot
def test_svg_has_a_column_per_step_gradients_ordered_fills_legend_and_tooltips(tmp_path):
    loss, model = unrolled("lstm", steps=3, hidden=2)
    path = viz.render(loss, tmp_path / "lstm.svg", params=model)
    root = parse_svg(path)
    # one header per step, left to right in time order (by their position, not the SVG's order)
    headers = {title(g): float(next(g.iter(f"{SVG}text")).get("x")) for g in groups(root, "node")
               if title(g).startswith("step_")}
    assert sorted(headers, key=headers.get) == ["step_lstm_l0_t0", "step_lstm_l0_t1",
                                                "step_lstm_l0_t2"]
    trace = viz.trace(loss, params=model)
    by_name = {f"n{n.id}": n for n in trace.nodes}
    nodes = {title(g): g for g in groups(root, "node")}
    ops = [name for name, n in by_name.items() if n.kind in ("op", "root") and n.record.num_outputs == 1]
    assert len(ops) > 30
    pairs = []
    for name, n in by_name.items():       # a multi-output op: one node, a gradient per output
        if n.record.num_outputs > 1 and n.record.output_index == 0:
            outputs = [m for m in by_name.values() if m.record.node_id == n.id]
            assert [t for t in texts(nodes[name]) if t.startswith("∇ ")] == \
                [f"∇ {short(m.grad_magnitude)}" for m in outputs]
    for name in ops:
        g = nodes[name]
        grad_lines = [t for t in texts(g) if t.startswith("∇ ")]
        assert grad_lines == [f"∇ {short(by_name[name].grad_magnitude)}"], name
        if by_name[name].status == "ok":
            pairs.append((by_name[name].grad_magnitude, colors.luminance(fill(g))))
    pairs.sort()
    # Lightness grows with the magnitude (up to the rounding of colours to 8-bit channels).
    assert all(b[1] >= a[1] - 2e-3 for a, b in zip(pairs, pairs[1:]))
    assert pairs[-1][1] - pairs[0][1] > 0.1
    assert pairs[0][0] * 10 < pairs[-1][0]
    # Legend: the graph label table, with its colour bar and key.
    legend = [g for g in root.iter(f"{SVG}g") if g.get("id") == "a_legend"]
    assert legend and any("gradient magnitude" in t for t in texts(root))
    # Tooltips on every node with the full statistics (stand-ins: their source's, and the share).
    for name, g in nodes.items():
        if name.startswith(("step_", "wall", "via")):     # headers, the grid's invisible points
            continue
        tips = [a.get(f"{XLINK}title") for a in g.iter(f"{SVG}a")]
        assert tips and "shape:" in tips[0] and "value min/mean/max" in tips[0], name
        if name in by_name and by_name[name].record.num_outputs > 1:
            continue
        if name[0] in "sg":
            assert "this step's share of the gradient" in tips[0]
        elif by_name[name].status == "ok":
            assert "gradient L2 norm" in tips[0] and "max-abs" in tips[0]


@needs_dot
@pytest.mark.parametrize("suffix,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_render_formats(tmp_path, suffix, magic):
    loss, _ = unrolled("gru", steps=2, hidden=2)
    path = viz.render(loss, tmp_path / f"g.{suffix}", view="cells")
    assert open(path, "rb").read(len(magic)) == magic
    assert [p.name for p in tmp_path.iterdir()] == [f"g.{suffix}"]   # no temporary left behind


def test_render_dot_needs_no_graphviz_and_rejects_unknown_suffix(tmp_path):
    loss, _ = unrolled("rnn", steps=2, hidden=2)
    path = viz.render(loss, tmp_path / "g.dot")
    assert open(path).read() == viz.draw(loss).source
    with pytest.raises(ValueError, match=r"\.svg"):
        viz.render(loss, tmp_path / "g.jpeg")


def test_missing_dot_says_how_to_install_and_writes_dot_source(tmp_path, monkeypatch):
    loss, _ = unrolled("rnn", steps=2, hidden=2)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz") as info:
        viz.render(loss, tmp_path / "g.svg")
    assert info.value.dot_path == str(tmp_path / "g.dot")
    assert open(info.value.dot_path).read().startswith("digraph microtensor")
    assert not (tmp_path / "g.svg").exists()
    status = cli_main(["--cell", "rnn", "--steps", "2", "--out", str(tmp_path / "c.png")])
    assert status == 3 and (tmp_path / "c.dot").exists()


@needs_dot
def test_two_thousand_steps_render_in_cells_and_rolled_views(tmp_path):
    loss, _ = unrolled("rnn", steps=2000, hidden=2, input_size=1)
    rolled = parse_svg(viz.render(loss, tmp_path / "rolled.svg", view="rolled"))
    assert [title(g) for g in groups(rolled, "node")] == ["f_rnn_l0", f"n{viz.trace(loss).roots[0]}"]
    cells = parse_svg(viz.render(loss, tmp_path / "cells.svg", view="cells", max_nodes=None))
    drawn = [title(g) for g in groups(cells, "node")]
    # 100 lines of 20 steps (viz.views.WRAP), each with its row title and a stub to the next
    assert len([t for t in drawn if t.startswith("c_")]) == 2000 and len(drawn) < 2600
    with pytest.warns(viz.GraphTooLargeWarning, match=r"would draw \d+ nodes > max_nodes=600"):
        fallback = parse_svg(viz.render(loss, tmp_path / "ops.svg"))
    assert len(groups(fallback, "node")) == 2
    assert any("max_nodes=600" in t for t in texts(fallback))


# ----- command line ----------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("view", ["ops", "cells", "rolled"])
def test_cli_renders_each_cell_and_view(tmp_path, cell, view, capsys):
    out = tmp_path / f"{cell}.svg"
    assert cli_main(["--cell", cell, "--steps", "3", "--hidden", "2", "--view", view, "--out", str(out)]) == 0
    root = parse_svg(out)
    assert f"({view} view)" in capsys.readouterr().out
    if view == "ops":
        steps = [g for g in groups(root, "node") if re.fullmatch(rf"step_{cell}_l0_t\d", title(g))]
        assert len(steps) == 3
    elif view == "cells":
        assert len([g for g in groups(root, "node") if title(g).startswith("c_")]) == 3
    else:
        assert [title(g) for g in groups(root, "node") if title(g).startswith("f_")] == [f"f_{cell}_l0"]


def test_cli_help_documents_every_flag():
    result = subprocess.run([sys.executable, "-m", "viz", "--help"], capture_output=True, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0
    for flag in ("--cell", "--steps", "--hidden", "--layers", "--view", "--out", "--bidirectional",
                 "--lengths", "--norm", "--show", "--max-nodes", "--fallback", "--flow", "--loss",
                 "--rankdir", "--seed", "--dtype", "--title", "--input", "--batch"):
        assert flag in result.stdout


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    for argv, word in [(["--out", str(tmp_path / "x.jpg")], "--out must end"),
                       (["--show", "colour"], "--show entries"),
                       (["--batch", "2", "--lengths", "3"], "one length per batch"),
                       (["--steps", "0"], "positive integer"),
                       (["--steps", "2", "--lengths", "5"], "at most")]:
        with pytest.raises(SystemExit) as info:
            cli_main(argv + (["--out", str(tmp_path / "a.dot")] if "--out" not in argv else []))
        assert info.value.code == 2
        assert word in capsys.readouterr().err


def test_cli_refuses_above_budget_with_raise(tmp_path, capsys):
    status = cli_main(["--steps", "10", "--max-nodes", "20", "--fallback", "raise",
                       "--out", str(tmp_path / "a.dot")])
    assert status == 2 and "--max-nodes 20" in capsys.readouterr().err


def test_cli_flow_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="the flow plot needs matplotlib")
    assert cli_main(["--cell", "rnn", "--steps", "5", "--out", str(tmp_path / "g.dot"),
                     "--flow", str(tmp_path / "flow.png")]) == 0
    assert open(tmp_path / "flow.png", "rb").read(4) == b"\x89PNG"


# ----- golden files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dot(name):
    expected = (GOLDEN_DIR / f"{name}.dot").read_text(encoding="utf-8")
    actual = golden_source(name)
    assert actual == expected, (f"the drawing of {name} changed; if intended, regenerate with "
                                f"`python -m tests.regenerate_golden` (make golden) and commit")


def test_golden_files_are_all_checked():
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.dot")) == sorted(CASES)


def test_golden_cases_run_in_a_fresh_process_identically():
    code = ("from tests.regenerate_golden import golden_source; import sys; "
            "sys.stdout.write(golden_source('rnn_3_steps_ops'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT, PYTHONHASHSEED="123"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN_DIR / "rnn_3_steps_ops.dot").read_text(encoding="utf-8")


def test_jupyter_display_hook_present():
    loss, _ = unrolled("rnn", steps=2, hidden=2)
    g = viz.draw(loss)
    assert hasattr(g, "_repr_mimebundle_") or hasattr(g, "_repr_svg_")
    assert isinstance(mt.graph.walk(loss), list)


@needs_dot
def test_gallery_pictures_build(tmp_path):
    """Two of the gallery's pictures (the fast ones) build, and every picture the docs show exists."""
    from viz import gallery
    written = gallery._tbptt(str(tmp_path)) + gallery._masked(str(tmp_path))
    assert [os.path.basename(p) for p in written] == ["tbptt_cut_ops.png", "lstm_lengths_masked_cells.png"]
    for p in written:
        assert open(p, "rb").read(4) == b"\x89PNG"
    docs = open(os.path.join(ROOT, "docs", "viz.md"), encoding="utf-8").read()
    for name in re.findall(r"gallery/([\w.]+\.(?:png|gif))", docs):
        assert os.path.exists(os.path.join(ROOT, "docs", "gallery", name)), name


@needs_dot
@pytest.mark.parametrize("view", ["ops", "cells", "rolled"])
def test_hostile_scope_and_tensor_names_render(tmp_path, view):
    """A scope ending in a backslash or holding quotes, and names with both, stay text."""
    W = mt.tensor([[0.5]], requires_grad=True, name='W "hh"\\')
    h = mt.ones(1, 1, name="h0")
    for t in range(2):
        with mt.scope(f'my "net"\\/l0/t{t}'):
            h = (h @ W).tanh()
            h.name = "h"
    loss = h.sum()
    loss.name = 'loss\\'
    loss.backward(keep_grads=True)
    root = parse_svg(viz.render(loss, tmp_path / "g.svg", view=view))
    words = " ".join(t for g in root.iter(f"{SVG}g") for t in texts(g))
    if view == "ops":
        assert "W 'hh'\\" in words and "loss\\" in words
    else:
        assert "my 'net'\\" in words


def test_draw_says_what_it_takes():
    with pytest.raises(TypeError, match="takes a microtensor Tensor .* not int"):
        viz.draw(3)
    with pytest.raises(TypeError, match="the list holds a str"):
        viz.draw([mt.ones(1), "loss"])


def test_cli_checks_sizes_and_paths_before_building(tmp_path, capsys):
    import time
    started = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        cli_main(["--steps", "100000", "--out", str(tmp_path / "g.svg")])
    assert info.value.code == 2 and time.perf_counter() - started < 20
    err = capsys.readouterr().err
    assert "--steps 100000 would record about" in err and "use --steps" in err
    assert "Traceback" not in err
    for option, value, words in (("--flow", ".", "is a folder"), ("--flow", "flow.txt", ".png"),
                                 ("--out", str(tmp_path), "is a folder")):
        with pytest.raises(SystemExit) as info:
            cli_main(["--steps", "2", option, value] + ([] if option == "--out" else
                                                        ["--out", str(tmp_path / "g.dot")]))
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "error:" in err and words in err and "Traceback" not in err
    assert not (tmp_path / "g.dot").exists()          # nothing was drawn before the check
    with pytest.raises(SystemExit):
        cli_main(["--steps", "2", "--size", "0,3", "--out", str(tmp_path / "g.dot")])
    assert "two positive numbers" in capsys.readouterr().err


def test_cli_budget_messages_speak_command_line(tmp_path, capsys):
    assert cli_main(["--cell", "lstm", "--steps", "30", "--view", "ops", "--max-nodes", "100",
                     "--fallback", "raise", "--out", str(tmp_path / "g.dot")]) == 2
    err = capsys.readouterr().err
    assert "--max-nodes" in err and "max_nodes=" not in err and "view='" not in err


@needs_dot
def test_size_and_dpi_set_the_picture_size(tmp_path):
    from PIL import Image
    loss, model = unrolled("lstm", steps=4, hidden=3)
    default = Image.open(viz.render(loss, tmp_path / "a.png", params=model))
    assert default.width <= 2500 and default.width * default.height <= 25e6   # a slide, readable
    small = Image.open(viz.render(loss, tmp_path / "b.png", params=model, size=(6, 4), dpi=100))
    assert small.width <= 600 and small.height <= 400
    sharp = Image.open(viz.render(loss, tmp_path / "c.png", params=model, dpi=192))
    assert abs(sharp.width - 2 * default.width) <= 4
    status = cli_main(["--cell", "lstm", "--steps", "4", "--size", "6,4", "--dpi", "100",
                       "--out", str(tmp_path / "d.png")])
    assert status == 0 and Image.open(tmp_path / "d.png").width <= 600


def test_gallery_pictures_fit_slides_and_the_repository():
    from PIL import Image
    folder = os.path.join(ROOT, "docs", "gallery")
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        assert os.path.getsize(path) < 1_000_000, name                 # under 1 MB each
        if name.endswith(".png"):
            with Image.open(path) as im:
                assert im.width * im.height <= 25_000_000, name      # no decompression bomb
                if name.endswith("_ops.png"):
                    assert im.width <= 3000, (name, im.size)


def test_the_fallback_note_in_the_picture_speaks_the_callers_words(tmp_path, capsys):
    """Drawn by the command line, the legend's note says --max-nodes / --view; from Python it
    keeps the keyword names."""
    out = tmp_path / "g.dot"
    assert cli_main(["--cell", "lstm", "--steps", "30", "--view", "ops", "--max-nodes", "100",
                     "--out", str(out)]) == 0
    picture = out.read_text(encoding="utf-8")
    assert "--max-nodes 100" in picture and "--view ops" in picture
    assert "max_nodes=" not in picture and "view='" not in picture
    loss, _ = unrolled("lstm", steps=30, hidden=2)
    with pytest.warns(viz.GraphTooLargeWarning):
        source = viz.draw(loss, max_nodes=100).source
    assert "max_nodes=100" in source and "--max-nodes" not in source
