"""The explorer page driven through its own controls (mouse, keyboard, buttons), as a reader uses it.

tests/test_explore_browser.py checks the page's JavaScript API against the engine; this module
checks that the controls on the page reach the same state: a hover shows the tooltip, clicks open
and close steps and rows, the play button and the slider replay the backward pass, the search box
finds, the path button highlights, and the SVG and PNG buttons download real files. One headless
Chromium for the module, small graphs.
"""
import os
import struct
import time
import xml.etree.ElementTree as ET

import pytest

import microtensor as mt
from viz import explore
from viz.demo import unrolled
from viz.explorer.browser import chromium, executables, open_page
from viz.trace import magnitude, short

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
if not all(executables()):
    pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    with chromium() as driver:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
        yield driver


@pytest.fixture(autouse=True)
def no_console_errors(browser):
    """Whatever a test clicked, the page logged no error or warning."""
    browser.get_log("browser")
    yield
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []


@pytest.fixture(scope="module")
def rnn_page(tmp_path_factory):
    """A 1-layer RNN over 3 steps at the ops level: every node drawn, a backward pass of ~30 steps."""
    loss, model = unrolled("rnn", steps=3, hidden=2)
    path = tmp_path_factory.mktemp("explore") / "rnn.html"
    explore(loss, path, params=model, level="ops")
    return path, loss, model


@pytest.fixture(scope="module")
def lstm_page(tmp_path_factory):
    """A 2-layer bidirectional LSTM over 4 steps, opened at the cells level."""
    loss, model = unrolled("lstm", steps=4, layers=2, bidirectional=True, hidden=2)
    path = tmp_path_factory.mktemp("explore") / "lstm.html"
    explore(loss, path, params=model, level="cells")
    return path, loss, model


def call(driver, js, *args):
    return driver.execute_script("return window.microtensorExplorer." + js, *args)


def unit(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'[data-unit="{name}"]')


def click(driver, element):
    ActionChains(driver).move_to_element(element).click().perform()


ORANGE, RED = "rgb(255, 127, 0)", "rgb(227, 26, 28)"      # explorer.css: a match, the selection and path


def ring(driver, node_id):
    """The outline colour the reader sees on a drawn node."""
    return driver.execute_script(
        "const g = document.querySelector('[data-unit=\"n:' + arguments[0] + '\"]');"
        "return getComputedStyle(g.querySelector('polygon, path, ellipse, rect')).stroke", node_id)


def drawn(driver, selector):
    """Trace ids of the drawn nodes that match a CSS selector."""
    return {int(g.get_attribute("id")[1:]) for g in driver.find_elements(By.CSS_SELECTOR, selector)}


def unreached(driver):
    """Ids of the drawn nodes that say their gradient has not arrived yet."""
    return set(driver.execute_script(
        "return [...document.querySelectorAll('g.node[data-unit]')]"
        ".filter(g => [...g.querySelectorAll('text')].some(t => t.textContent === '∇ not reached'))"
        ".map(g => +g.id.slice(1))"))


def test_hover_shows_the_tooltip_with_name_and_gradient(browser, rnn_page):
    path, loss, model = rnn_page
    open_page(browser, path)
    tip = browser.find_element(By.ID, "mt-tip")
    assert not tip.is_displayed()
    record = next(r for r in mt.graph.walk(loss) if r.tensor is model.weight_hh_l0)
    ActionChains(browser).move_to_element(unit(browser, f"n:{record.id}")).perform()
    assert tip.is_displayed()
    assert "weight_hh_l0" in tip.text and "∇ " + short(magnitude(model.weight_hh_l0.grad)) in tip.text
    h = next(r for r in mt.graph.walk(loss) if r.scope == "rnn/l0/t1" and r.name == "h")
    ActionChains(browser).move_to_element(unit(browser, f"n:{h.id}")).perform()
    assert tip.text.startswith("h = tanh") and "rnn/l0/t1" in tip.text
    assert short(magnitude(h.tensor.grad)) in tip.text


def test_play_button_and_slider_replay_the_engines_order(browser, rnn_page):
    path, loss, _ = rnn_page
    open_page(browser, path)
    order = mt.graph.backward_order(loss)
    slider = browser.find_element(By.ID, "mt-slider")
    # The slider, by keyboard: Home is before the backward pass, each arrow one more step.
    slider.send_keys(Keys.HOME)
    assert slider.get_attribute("value") == "0" and unreached(browser) == set(order)
    slider.send_keys(Keys.ARROW_RIGHT * 3)
    assert browser.find_element(By.ID, "mt-step").text == f"3 / {len(order)}"
    assert unreached(browser) == set(order[3:])
    # Play: from where the slider stands to the end, through states in between, then it stops.
    play = browser.find_element(By.ID, "mt-play")
    play.click()
    seen, deadline = [], time.time() + 30
    while "pause" in play.text:
        seen.append(int(slider.get_attribute("value")))
        assert time.time() < deadline, "the replay did not finish"
    assert seen and min(seen) < len(order) and seen == sorted(seen)
    assert slider.get_attribute("value") == str(len(order))
    assert unreached(browser) == set()
    assert browser.find_element(By.ID, "mt-step").text == f"{len(order)} / {len(order)}"
    after_play = browser.find_element(By.ID, "mt-svg-root").get_attribute("innerHTML")
    assert call(browser, "backwardStep(arguments[0])", len(order)) == order
    assert browser.find_element(By.ID, "mt-svg-root").get_attribute("innerHTML") == after_play


def test_search_box_path_button_and_clicks(browser, rnn_page):
    path, loss, model = rnn_page
    open_page(browser, path)
    records = mt.graph.walk(loss)
    box = browser.find_element(By.ID, "mt-search")
    box.send_keys("weight_")
    weights = {r.id for r in records if r.tensor is model.weight_ih_l0 or r.tensor is model.weight_hh_l0}
    assert browser.find_element(By.ID, "mt-found").text == "2 found"
    marked = drawn(browser, "g.node.mt-match")
    assert marked == weights
    assert {ring(browser, g) for g in weights} == {ORANGE}        # and the reader sees them ringed
    box.send_keys(Keys.ENTER)                    # selects the first match: its panel
    assert "weight_ih_l0" in browser.find_element(By.ID, "mt-panel").text
    # A click on a node selects it; the path button then marks the path of largest gradient.
    h = next(r for r in records if r.scope == "rnn/l0/t0" and r.name == "h")
    click(browser, unit(browser, f"n:{h.id}"))
    panel = browser.find_element(By.ID, "mt-panel").text
    assert panel.startswith("h") and "rnn/l0/t0" in panel and short(magnitude(h.tensor.grad)) in panel
    browser.find_element(By.ID, "mt-path").click()
    on_path = drawn(browser, "g.node.mt-onpath")
    assert on_path == set(call(browser, "highlightPath(arguments[0])", h.id)) and h.id in on_path
    assert records[-1].id in on_path
    assert {ring(browser, i) for i in on_path} == {RED}


def _download(folder, name, timeout=20):
    target = folder / name
    deadline = time.time() + timeout
    while not target.exists() or any(p.suffix == ".crdownload" for p in folder.iterdir()):
        assert time.time() < deadline, f"{name} was not downloaded: {os.listdir(folder)}"
        time.sleep(0.05)
    return target.read_bytes()


def test_export_buttons_download_a_valid_svg_and_png(browser, rnn_page, downloads):
    path, loss, _ = rnn_page
    open_page(browser, path)
    browser.find_element(By.ID, "mt-svg").click()
    svg = _download(downloads, "microtensor.svg")
    tree = ET.fromstring(svg)                     # well-formed XML
    assert tree.tag == "{http://www.w3.org/2000/svg}svg"
    width, height = int(tree.get("width")), int(tree.get("height"))
    texts = [t.text for t in tree.iter("{http://www.w3.org/2000/svg}text") if t.text]
    assert "weight_hh_l0" in " ".join(texts) and width > 200 and height > 100
    browser.find_element(By.ID, "mt-png").click()
    png = _download(downloads, "microtensor.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (2 * width, 2 * height)


def _edges(driver):
    return {tuple(map(str, e)) for e in call(driver, "edges()")}


def test_clicks_open_and_close_steps_and_rows(browser, lstm_page):
    path, loss, _ = lstm_page
    open_page(browser, path)
    closed = call(browser, "nodes()")
    # A click on a closed step opens it; a click on its frame closes it again.
    click(browser, unit(browser, "c:lstm/l1/t2"))
    opened = call(browser, "nodes()")
    assert "lstm/l1/t2" not in opened and len(opened) > len(closed)
    frame = browser.find_element(By.CSS_SELECTOR, 'g.cluster[data-cell="lstm/l1/t2"] > path, '
                                                  'g.cluster[data-cell="lstm/l1/t2"] > polygon')
    top = -int(frame.size["height"]) // 2 + 6                   # just inside the frame's top edge
    ActionChains(browser).move_to_element_with_offset(frame, 0, top).click().perform()
    assert sorted(map(str, call(browser, "nodes()"))) == sorted(map(str, closed))
    # A click on a row's title closes the row to one box; a click on that box opens it again.
    before = _edges(browser)
    label = browser.find_element(By.CSS_SELECTOR, '[data-row="1"]')       # layer 0, reverse
    assert label.text == "lstm · layer 0 · reverse"
    click(browser, label)
    shown = call(browser, "nodes()")
    assert "lstm/l0/reverse" in shown and not any(str(u).startswith("lstm/l0/reverse/") for u in shown)
    assert len(shown) == len(closed) - 4 + 1
    band = unit(browser, "g:lstm/l0/reverse")
    assert "lstm · layer 0 · reverse, 4 steps" in band.text
    # The edges are the contraction of the ones before: each end inside the row becomes the box.
    row = {f"lstm/l0/reverse/t{t}" for t in range(4)}
    inside = lambda u: "lstm/l0/reverse" if u in row else u     # noqa: E731
    assert _edges(browser) == {(inside(a), inside(b)) for a, b in before if inside(a) != inside(b)}
    click(browser, band)
    assert sorted(map(str, call(browser, "nodes()"))) == sorted(map(str, closed))
    assert _edges(browser) == before
    # The bracket beside a bidirectional layer's two titles closes the layer; a second click opens it.
    click(browser, browser.find_element(By.CSS_SELECTOR, '[data-scope="lstm/l1"]'))
    shown = call(browser, "nodes()")
    assert "lstm/l1" in shown and len(shown) == len(closed) - 8 + 1
    assert "lstm · layer 1, both directions, 4 steps" in unit(browser, "g:lstm/l1").text
    click(browser, browser.find_element(By.CSS_SELECTOR, '[data-scope="lstm/l1"]'))
    assert sorted(map(str, call(browser, "nodes()"))) == sorted(map(str, closed))
