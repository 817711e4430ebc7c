"""viz.explore without a browser: the page file, its data and the notebook display."""
import json
import os
import re

import numpy as np
import pytest

import microtensor as mt
import viz
from viz.demo import unrolled
from viz.explorer.payload import NODE_FIELDS, heat_map, payload
from viz.trace import trace


def page_data(page):
    match = re.search(r'id="microtensor-data">(.*?)</script>', page.html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def lstm():
    return unrolled("lstm", steps=5, layers=2, bidirectional=True)


def test_page_is_one_self_contained_file(tmp_path, lstm):
    loss, model = lstm
    path = tmp_path / "sub" / "graph.html"
    page = viz.explore(loss, path, params=model)
    assert page.path == str(path) and path.read_text(encoding="utf-8") == page.html
    # No file or address is fetched: no src=/href= to anything, no CSS url(), no @import.
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=', page.html)
    assert "url(http" not in page.html and "@import" not in page.html
    assert [f for f in os.listdir(path.parent)] == ["graph.html"]     # atomic: no temporary left
    assert page.html.count("<script") == 4    # data, Graphviz, pan and zoom, the explorer


def test_inline_display_is_an_iframe_of_the_page(lstm):
    page = viz.explore(lstm[0], params=lstm[1])
    assert page.path is None
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "microtensorExplorer" in shown
    assert "<script" not in shown           # escaped inside srcdoc: it cannot leak into the notebook


def test_payload_speaks_the_engines_numbers(lstm):
    loss, model = lstm
    tr = trace(loss, params=model)
    data = payload(tr)
    nodes = {n[0]: dict(zip(NODE_FIELDS, n)) for n in data["nodes"]}
    assert set(nodes) == {n.id for n in tr.nodes}
    w = next(n for n in tr.nodes if n.name == "weight_hh_l1_reverse")
    assert data["strings"]["name"][nodes[w.id]["name"]] == "weight_hh_l1_reverse"
    assert nodes[w.id]["l2"] == viz.short(viz.magnitude(model.weight_hh_l1_reverse.grad))
    assert data["order"] == mt.graph.backward_order(loss)
    # Inputs are stored as id differences: they give back the trace's edges.
    edges = sorted((i - d, i) for i, n in nodes.items() for d in n["inputs"])
    assert edges == sorted(tr.edges)
    # One cell per layer, direction and step, in the layout's rows.
    assert len(data["cells"]) == 2 * 2 * 5
    assert data["rows"] == ["lstm · layer 0", "lstm · layer 0 · reverse", "lstm · layer 1",
                            "lstm · layer 1 · reverse"]


def test_contracted_edges_keep_each_step_to_its_own_step(lstm):
    """With the nodes outside the steps hidden, layer 1's step t is fed by layer 0's step t only,
    not by every step through the stacked outputs, and the loss by the last step of each row."""
    loss, model = lstm
    tr = trace(loss, params=model)
    data = payload(tr)
    step = {n.id: n.step for n in tr.nodes}
    for src, dst, label in data["contracted"]:
        if step[src] is not None and step[dst] is not None:
            assert step[src].t == step[dst].t and step[src].family != step[dst].family
    into_loss = [(src, label) for src, dst, label in data["contracted"] if dst == tr.roots[0]]
    assert len(into_loss) == 2 and all(label == "+ 4 other steps" for _, label in into_loss)
    # The loss reads output[-1]: position 4 of both directions (the reverse direction's first step),
    # the one step of each row whose hidden state gets a gradient from it.
    assert {step[src] for src, _ in into_loss} == {("lstm/l1", 4), ("lstm/l1/reverse", 4)}


def test_long_unrolls_open_at_cells_and_small_graphs_at_ops(lstm):
    small, _ = unrolled("lstm", steps=4)
    assert payload(trace(small))["open_at_cells"] is False
    assert payload(trace(small), level="cells")["open_at_cells"] is True
    long, _ = unrolled("rnn", steps=120, hidden=2)
    assert payload(trace(long))["open_at_cells"] is True
    with pytest.raises(ValueError, match="level must be one of"):
        payload(trace(long), level="steps")


def test_heat_maps_summarise_large_arrays():
    assert heat_map(np.array(3.0)) == "3.0e+0:f"
    big = heat_map(np.arange(100 * 40, dtype=float).reshape(100, 40))
    scale, digits = big.split(":")
    assert len(digits) == 16 * 16 and digits[0] < digits[-1] == "f"
    assert heat_map(np.array([np.inf, 1.0])) == "1.0e+0:0f"
    assert heat_map(np.zeros((2, 2))) == "0:8888"
    # 3-D: leading axes fold into rows.
    assert len(heat_map(np.ones((2, 3, 4))).split(":")[1]) == 6 * 4


def test_page_stores_a_bounded_summary_per_node():
    """Only what the page shows is stored: whatever the tensors' sizes, a node costs at most its
    two 16 × 16 heat maps plus its label and statistics (the 200-step figures are in docs/viz.md)."""
    loss, model = unrolled("lstm", steps=3, layers=1, hidden=32, batch=8)     # gates are 8 × 128
    page = viz.explore(loss, params=model)
    text = re.search(r'id="microtensor-data">(.*?)</script>', page.html, re.S).group(1)
    data = page_data(page)
    assert len(text.encode()) / len(data["nodes"]) < 2 * (16 * 16 + 10) + 250
    biggest = max(data["nodes"], key=lambda n: len(n[NODE_FIELDS.index("gheat")] or ""))
    assert len(biggest[NODE_FIELDS.index("gheat")].split(":")[1]) == 16 * 16


def test_bad_arguments_are_named(lstm):
    with pytest.raises(ValueError, match="norm must be one of"):
        viz.explore(lstm[0], norm="l3")
    with pytest.raises(TypeError, match="Tensor"):
        viz.explore("loss")


def test_command_line_writes_the_page(tmp_path, capsys):
    from viz.cli import main
    out = tmp_path / "graph.html"
    assert main(["--cell", "gru", "--steps", "3", "--layers", "2", "--bidirectional", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (explorer page)"
    assert 'id="microtensor-data"' in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "g.html"), "--flow", str(tmp_path / "f.png")])
    assert exit_info.value.code == 2 and "--flow goes with a picture" in capsys.readouterr().err


def test_a_graph_without_gradients_warns_and_has_nothing_to_replay():
    from viz import NoGradientWarning
    x = mt.tensor([1.0, 2.0], requires_grad=True, name="x")
    loss = (x * x).sum()
    with pytest.warns(NoGradientWarning, match=r"call loss.backward\(keep_grads=True\)"):
        page = viz.explore(loss)
    assert page_data(page)["order"] == []
