"""Opening explorer pages in headless Chromium (Selenium): for the tests and for measuring.

``python -m viz.explorer.browser`` writes the page of a 2-layer bidirectional LSTM over 200 steps
and prints its size and the time it takes to open (from navigation start to the first frame the
browser painted with the drawing, ``window.microtensorExplorer.loadedAt``), over a few runs.

Example:
    >>> FLAGS[:2]
    ('--headless', '--no-sandbox')
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager

# Without these Chromium, running as root in a container, tries the network and fails noisily.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,900")


def executables():
    """``(chromium, chromedriver)`` paths, or None for each one that is not installed.

    Example:
        >>> len(executables())
        2
    """
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


@contextmanager
def chromium():
    """A Selenium driver of headless Chromium with a fresh profile, quit and removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    binary, driver_path = executables()
    if not (binary and driver_path):
        raise RuntimeError("Chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = Options()
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="explore-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path, timeout=60):
    """Load an explorer page and wait until it has drawn; returns its open time in milliseconds.

    Raises AssertionError with the console's messages if the page logs an error first.
    """
    driver.get("file://" + os.path.abspath(os.fspath(path)))
    deadline = time.time() + timeout
    while not driver.execute_script("return window.microtensorExplorerReady === true"):
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert time.time() < deadline, f"{path} did not finish drawing within {timeout} s"
        time.sleep(0.02)
    return driver.execute_script("return window.microtensorExplorer.loadedAt")


def screenshots(folder):
    """Save the pictures of docs/viz.md's explorer section into ``folder`` (PNG, 1400 × 900).

    ``python -m viz.explorer.browser --screenshots docs/images`` refreshes them after the page
    changes; look at every one.
    """
    import microtensor as mt
    from ..demo import unrolled
    from .page import explore
    os.makedirs(folder, exist_ok=True)
    work = tempfile.mkdtemp(prefix="explore-shots-")
    loss, lstm = unrolled("lstm", steps=6, layers=2, bidirectional=True)
    explore(loss, os.path.join(work, "lstm6.html"), params=lstm, level="cells",
            title="LSTM 2 layers, bidirectional")
    gru, gru_model = unrolled("gru", steps=4, layers=1, bidirectional=True, hidden=2)
    explore(gru, os.path.join(work, "gru.html"), params=gru_model, level="ops", title="GRU, bidirectional")
    long, long_model = unrolled("lstm", steps=200, layers=2, bidirectional=True)
    explore(long, os.path.join(work, "lstm200.html"), params=long_model, title="LSTM, 200 steps")
    with chromium() as driver:
        def api(js, *args):
            return driver.execute_script("return window.microtensorExplorer." + js, *args)

        def shot(name):
            driver.save_screenshot(os.path.join(folder, name))
        records = mt.graph.walk(loss)
        open_page(driver, os.path.join(work, "lstm6.html"))
        api("highlightPath(arguments[0])", next(r.id for r in records if r.tensor is lstm.weight_hh_l0))
        shot("explore_cells.png")
        open_page(driver, os.path.join(work, "lstm6.html"))
        api("expand(arguments[0])", "lstm/l0/t3")
        api("select(arguments[0])", next(r.id for r in records if r.scope == "lstm/l0/t3" and r.name == "f"))
        shot("explore_step_open.png")
        open_page(driver, os.path.join(work, "gru.html"))
        api("backwardStep(arguments[0])", len(api("backwardOrder()")) // 2)
        shot("explore_backward.png")
        open_page(driver, os.path.join(work, "lstm200.html"))
        api("select(arguments[0])", mt.graph.walk(long)[-1].id)
        shot("explore_200_steps.png")
        api("collapse(arguments[0])", "lstm/l0/reverse")
        shot("explore_row_closed.png")
    shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    """Measure the page of a long unroll: its size in MB and its open times in seconds."""
    parser = argparse.ArgumentParser(
        prog="python -m viz.explorer.browser",
        description="Size and open time of an explorer page of an unrolled bidirectional LSTM.")
    parser.add_argument("--steps", type=int, default=200, help="time steps (default: 200)")
    parser.add_argument("--layers", type=int, default=2, help="layers (default: 2)")
    parser.add_argument("--hidden", type=int, default=3, help="hidden size (default: 3)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    parser.add_argument("--runs", type=int, default=5, help="page loads to time (default: 5)")
    parser.add_argument("--cold", type=int, default=3,
                        help="loads more, each in a freshly started browser (default: 3)")
    parser.add_argument("--out", default=None, help="where to write the page (default: a temporary file)")
    parser.add_argument("--screenshots", metavar="FOLDER", default=None,
                        help="instead: save the screenshots of docs/viz.md into FOLDER")
    args = parser.parse_args(argv)
    if args.screenshots:
        screenshots(args.screenshots)
        return 0
    from ..demo import unrolled
    from .page import explore
    loss, model = unrolled("lstm", steps=args.steps, layers=args.layers, bidirectional=True,
                           hidden=args.hidden, batch=args.batch)
    path = args.out or os.path.join(tempfile.mkdtemp(), "explore.html")
    started = time.perf_counter()
    explore(loss, path, params=model)
    written = time.perf_counter() - started
    print(f"{args.layers}-layer bidirectional LSTM, {args.steps} steps, H={args.hidden}, B={args.batch}: "
          f"{os.path.getsize(path) / 1e6:.2f} MB ({os.path.getsize(path)} bytes), written in {written:.1f} s")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    times, stages, cold = [], [], []
    with chromium() as driver:
        for _ in range(args.runs):
            times.append(open_page(driver, path) / 1000)
            stages.append(driver.execute_script("return window.microtensorExplorer.timings"))
    for _ in range(args.cold):
        with chromium() as driver:       # a browser that has never opened the page (nor any other)
            cold.append(open_page(driver, path) / 1000)
    median = sorted(times)[len(times) // 2]
    print("open times (s), one browser: " + ", ".join(f"{t:.2f}" for t in times) + f"; median {median:.2f}")
    if cold:
        print("open times (s), a fresh browser each: " + ", ".join(f"{t:.2f}" for t in cold)
              + f"; median {sorted(cold)[len(cold) // 2]:.2f}")
    # Where the time goes (ms since navigation start, median over the loads): the page's own
    # script starts (the HTML and the libraries parsed), the data is parsed and indexed,
    # Graphviz's WebAssembly is ready, the boxes and the edges are drawn, pan and zoom set up
    # (the browser lays the drawing out); the open time adds the first painted frame.
    print("stages (ms, median): " + ", ".join(
        f"{key} {sorted(s[key] for s in stages)[len(stages) // 2]:.0f}"
        for key in ("start", "parsed", "built", "graphviz", "boxes", "edges", "rendered")))
    if load_before is not None:
        print("load average before measuring: " + " ".join(f"{v:.1f}" for v in load_before))
        print("load average while measuring: " + " ".join(f"{v:.1f}" for v in os.getloadavg())
              + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
