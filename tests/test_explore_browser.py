"""viz.explore in a real browser: headless Chromium driven by Selenium, checked against the engine.

Skips (with the reason) only where Chromium, its driver or Selenium is missing; CI installs them
(.ci/run). Screenshots of what the tests looked at go to ``$MICROTENSOR_SCREENSHOTS`` if set.
"""
import base64
import json
import os
import re
import struct

import numpy as np
import pytest

import microtensor as mt
from viz import explore
from viz.demo import unrolled
from viz.explorer.browser import chromium, executables, open_page
from viz.style import stats_text
from viz.trace import magnitude, short, trace

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
if not all(executables()):
    pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def call(driver, js, *args):
    return driver.execute_script("return window.microtensorExplorer." + js, *args)


def screenshot(driver, name):
    folder = os.environ.get("MICROTENSOR_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        driver.save_screenshot(os.path.join(folder, name))


@pytest.fixture(scope="module")
def lstm_page(tmp_path_factory):
    """A 2-layer bidirectional LSTM over 6 steps, opened at the cells level."""
    loss, model = unrolled("lstm", steps=6, layers=2, bidirectional=True, hidden=3)
    path = tmp_path_factory.mktemp("explore") / "lstm.html"
    explore(loss, path, params=model, level="cells", title="LSTM 2 layers, bidirectional")
    return path, loss, model


def test_page_loads_without_console_errors_or_network(browser, lstm_page):
    open_page(browser, lstm_page[0])
    logs = browser.get_log("browser")
    assert [e for e in logs if e["level"] in ("SEVERE", "WARNING")] == []
    # Self-contained: scripts, styles and data are inline, so the page fetched nothing.
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources == []
    screenshot(browser, "explore_cells.png")


def test_expanding_a_step_shows_its_ops_and_collapsing_restores(browser, lstm_page):
    open_page(browser, lstm_page[0])
    closed = call(browser, "nodes()")
    # The cells level: one box per cell and step (2 layers x 2 directions x 6 steps), and the loss.
    assert [u for u in closed if not isinstance(u, str)] == [mt.graph.walk(lstm_page[1])[-1].id]
    assert len([u for u in closed if isinstance(u, str)]) == 24 and "lstm/l0/t3" in closed
    opened = call(browser, "expand(arguments[0])", "lstm/l0/t3")
    assert len(opened) > len(closed)
    assert "lstm/l0/t3" not in opened
    trace_ids = {n[0] for n in json.loads(_data(browser))["nodes"] if _cell(browser, n) == "lstm/l0/t3"}
    assert trace_ids <= set(opened)       # every op of the step is shown
    gate = next(r.id for r in mt.graph.walk(lstm_page[1]) if r.scope == "lstm/l0/t3" and r.name == "f")
    assert "f" in call(browser, "select(arguments[0])", gate)
    screenshot(browser, "explore_step_open.png")
    assert sorted(map(str, call(browser, "collapse(arguments[0])", "lstm/l0/t3"))) == sorted(map(str, closed))
    # A layer expands all its steps (both directions under "lstm/l1").
    assert len(call(browser, "expand(arguments[0])", "lstm/l1")) > len(opened)
    # The whole model closes to one box.
    loss_id = mt.graph.walk(lstm_page[1])[-1].id
    assert sorted(map(str, call(browser, "collapse(arguments[0])", "lstm"))) == sorted([str(loss_id), "lstm"])
    with pytest.raises(Exception, match="no layer, direction or time step in scope 'gru/l0'"):
        call(browser, "expand(arguments[0])", "gru/l0")


def _data(driver):
    return driver.execute_script("return document.getElementById('microtensor-data').textContent")


def _cell(driver, row):
    data = getattr(_cell, "data", None)
    if data is None:
        data = _cell.data = json.loads(_data(driver))
    index = data["fields"].index("cell")
    return None if row[index] is None else data["strings"]["scope"][row[index]]


def test_panel_numbers_equal_the_engines(browser, lstm_page):
    path, loss, model = lstm_page
    open_page(browser, path)
    weight = next(r for r in mt.graph.walk(loss) if r.tensor is model.weight_hh_l0)
    text = call(browser, "select(arguments[0])", weight.id)
    assert "weight_hh_l0" in text
    grad = model.weight_hh_l0.grad
    assert short(magnitude(grad, "l2")) in text and short(magnitude(grad, "maxabs")) in text
    data = model.weight_hh_l0.data
    assert stats_text((float(data.min()), float(data.mean()), float(data.max()))) in text
    assert "12×3" in text and "float64" in text
    screenshot(browser, "explore_panel.png")
    # An op inside a closed step: its panel still names its scope and gradient.
    h = [r for r in mt.graph.walk(loss) if r.scope == "lstm/l1/t5" and r.name == "h"][-1]
    text = call(browser, "select(arguments[0])", h.id)
    assert "lstm/l1/t5" in text and short(magnitude(h.tensor.grad)) in text


def test_backward_steps_are_the_engines_own_order(browser, tmp_path):
    """backwardStep(k) shows exactly the tensors whose gradients the engine had completed after k
    steps: observed with a hook on every tensor during a real backward pass."""
    loss, model = unrolled("gru", steps=4, layers=1, bidirectional=True, hidden=2, backward=False)
    records = mt.graph.walk(loss)
    id_of = {id(r.tensor): r.id for r in records}
    engine_order = []
    for r in records:
        if r.requires_grad:
            r.tensor.register_hook(lambda g, key=id(r.tensor): engine_order.append(id_of[key]))
    loss.backward(keep_grads=True)
    assert len(engine_order) > 50
    path = tmp_path / "gru.html"
    explore(loss, path, params=model, level="ops")
    open_page(browser, path)
    for k in (0, 1, 2, 7, len(engine_order) // 2, len(engine_order) - 1, len(engine_order)):
        assert call(browser, "backwardStep(arguments[0])", k) == engine_order[:k], k
        # And the picture agrees: exactly the nodes not reached yet say so.
        unreached = browser.execute_script(
            "return [...document.querySelectorAll('g.node[data-unit]')]"
            ".filter(g => [...g.querySelectorAll('text')].some(t => t.textContent === '∇ not reached'))"
            ".map(g => +g.id.slice(1))")
        expected = {i for i in engine_order[k:]}
        assert set(unreached) == expected, k
        if k == len(engine_order) // 2:
            screenshot(browser, "explore_backward_half.png")
    assert call(browser, "backwardStep(arguments[0])", 10 ** 6) == engine_order


def test_search_path_and_export(browser, lstm_page):
    path, loss, _ = lstm_page
    open_page(browser, path)
    records = mt.graph.walk(loss)
    names = {id(p): name for name, p in lstm_page[2].named_parameters()}
    found = call(browser, "search(arguments[0])", "weight_ih")
    assert sorted(found) == sorted(r.id for r in records if "weight_ih" in names.get(id(r.tensor), ""))
    assert len(found) == 4
    by_scope = call(browser, "search(arguments[0])", "l1/reverse/t2")
    assert by_scope and all(records[i].scope.startswith("lstm/l1/reverse/t2") for i in by_scope)
    call(browser, "search(arguments[0])", "")
    # The largest-gradient path runs along real edges from the node to the loss, and at every
    # step takes a consumer whose gradient is at least the path's narrowest so far.
    start = next(r.id for r in records if r.tensor is lstm_page[2].weight_hh_l0)
    chain = call(browser, "highlightPath(arguments[0])", start)
    assert chain[0] == start and chain[-1] == records[-1].id
    consumers = {}
    for r in records:
        for i in r.inputs:
            consumers.setdefault(i, set()).add(r.id)
    assert all(b in consumers[a] for a, b in zip(chain, chain[1:]))
    screenshot(browser, "explore_path.png")
    svg = call(browser, "exportSVG()")
    assert svg.startswith("<svg") and "http://" not in svg.replace("http://www.w3.org/", "")
    assert 'transform="matrix' not in svg.split(">", 1)[0]
    # The PNG is the same drawing rasterised: a real PNG, as large as the SVG says, at 2x.
    url = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.microtensorExplorer.exportPNG().then(done, (e) => done('error: ' + e.message));")
    assert url.startswith("data:image/png;base64,"), url[:80]
    png = base64.b64decode(url.split(",", 1)[1])
    width, height = struct.unpack(">II", png[16:24])
    svg_width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == 2 * svg_width and height > 100
    # Beyond the browser's canvas limits: a clear error, not an empty image.
    error = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.microtensorExplorer.exportPNG(400).then(() => done('no error'), (e) => done(e.message));")
    assert "too large for this browser's canvas" in error


def test_graph_without_time_steps_opens_at_ops(browser, tmp_path):
    x = mt.tensor(np.array([[1.0, -2.0]]), requires_grad=True, name="x")
    loss = (x.tanh() * 3.0).sum()
    loss.backward(keep_grads=True)
    path = tmp_path / "plain.html"
    explore(loss, path)
    open_page(browser, path)
    # x, tanh, mul (its constant 3.0 folded into the label, as in the static views) and sum.
    assert sorted(call(browser, "nodes()")) == [r.id for r in mt.graph.walk(loss) if r.op or r.name]
    assert "x" in call(browser, "select(arguments[0])", 0)


def test_a_direction_or_a_layer_closes_to_one_box(browser, lstm_page):
    """collapse("lstm/l0/reverse") draws that row as one box (striped with its steps' ∇h colours,
    titled with what it stands for), collapse("lstm/l0") both rows of the layer; expand restores."""
    path, loss, _ = lstm_page
    open_page(browser, path)
    closed = call(browser, "nodes()")
    fills = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('g.mt-box')].map("
        "g => [g.getAttribute('data-unit').slice(2), g.querySelector('rect').getAttribute('fill')]))")
    shown = call(browser, "collapse(arguments[0])", "lstm/l0/reverse")
    row = [f"lstm/l0/reverse/t{t}" for t in range(6)]
    expected = [u for u in closed if u not in row] + ["lstm/l0/reverse"]
    assert sorted(map(str, shown)) == sorted(map(str, expected))
    band = browser.execute_script(
        "const g = document.querySelector('[data-unit=\"g:lstm/l0/reverse\"]');"
        "return [g.querySelector('text').textContent,"
        "        [...g.querySelectorAll('rect[data-h]')].map(r => r.getAttribute('fill'))]")
    assert band[0] == "lstm · layer 0 · reverse, 6 steps"
    assert band[1] == [fills[p] for p in row]           # coloured by the steps it stands for
    screenshot(browser, "explore_row_closed.png")
    assert call(browser, "expand(arguments[0])", "lstm/l0/reverse") == closed
    layer = call(browser, "collapse(arguments[0])", "lstm/l0")
    assert len(layer) == len(closed) - 12 + 1 and "lstm/l0" in layer
    title = browser.execute_script(
        "return document.querySelector('[data-unit=\"g:lstm/l0\"] text').textContent")
    assert title == "lstm · layer 0, both directions, 6 steps"
    assert call(browser, "expand(arguments[0])", "lstm/l0") == closed
    with pytest.raises(Exception, match="no layer, direction or time step in scope 'lstm/l2'"):
        call(browser, "collapse(arguments[0])", "lstm/l2")


def test_closed_rows_are_the_contraction_of_the_real_edges(browser, tmp_path):
    """With every op drawn, the page's edges are the trace's; with a row closed, each edge with an
    end in that row ends at its box instead (and the row's own edges disappear)."""
    loss, model = unrolled("lstm", steps=2, layers=2, bidirectional=True, hidden=2)
    path = tmp_path / "lstm_ops.html"
    explore(loss, path, params=model, level="ops")
    open_page(browser, path)
    tr = trace(loss, params=model)
    assert {tuple(e) for e in call(browser, "edges()")} == set(tr.edges)
    for scope in ("lstm/l0/reverse", "lstm/l1"):
        call(browser, "collapse(arguments[0])", scope)

        def unit(i, scope=scope):
            n = tr.by_id[i]
            inside = n.step and (n.step.family == scope or n.step.family.startswith(scope + "/"))
            return scope if inside else i
        expected = {(unit(a), unit(b)) for a, b in tr.edges if unit(a) != unit(b)}
        assert {tuple(e) for e in call(browser, "edges()")} == expected, scope
        visible = call(browser, "nodes()")
        assert scope in visible and len(visible) == len({unit(n.id) for n in tr.nodes})
        call(browser, "expand(arguments[0])", scope)
    assert {tuple(e) for e in call(browser, "edges()")} == set(tr.edges)


def test_a_closed_row_spans_and_counts_its_own_steps(browser, tmp_path):
    """Rows of different lengths (an encoder over 5 steps, a decoder over 3): a closed decoder
    row says 3 steps and covers the decoder's 3 columns only."""
    w = mt.tensor([[0.5]], requires_grad=True, name="w")
    h = mt.ones(1, 1, name="h0")
    for family, steps in (("enc/l0", 5), ("dec/l0", 3)):
        for t in range(steps):
            with mt.scope(f"{family}/t{t}"):
                h = (h @ w).tanh()
                h.name = "h"
    loss = h.sum()
    loss.backward(keep_grads=True)
    path = tmp_path / "encdec.html"
    explore(loss, path, level="cells")
    open_page(browser, path)
    call(browser, "collapse(arguments[0])", "dec/l0")
    box = "const r = document.querySelector(arguments[0]).getBBox(); return [r.x, r.x + r.width];"
    band = browser.execute_script(box, '[data-unit="g:dec/l0"] .mt-band-frame')
    first = browser.execute_script(box, '[data-unit="c:enc/l0/t0"] rect')
    third = browser.execute_script(box, '[data-unit="c:enc/l0/t2"] rect')
    assert band == pytest.approx([first[0], third[1]])
    label = browser.execute_script(
        "return document.querySelector('[data-unit=\"g:dec/l0\"] text').textContent")
    assert label == "dec · layer 0, 3 steps"
