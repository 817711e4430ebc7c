"""Regenerate the golden DOT files in tests/golden/ (``python -m tests.regenerate_golden`` or
``make golden``). tests/test_viz_golden.py fails on any change to them: look at the diff, and if the
new drawing is intended, run this and commit the files."""
import pathlib
import sys

GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"


def _rnn_3_steps_ops():
    from viz.demo import unrolled
    from viz import draw
    loss, model = unrolled("rnn", steps=3, hidden=3, input_size=2, seed=0)
    return draw(loss, view="ops", params=model)


def _lstm_2_steps_ops():
    from viz.demo import unrolled
    from viz import draw
    loss, model = unrolled("lstm", steps=2, hidden=2, input_size=2, seed=1)
    return draw(loss, view="ops", params=model)


def _gru_bidirectional_cells():
    from viz.demo import unrolled
    from viz import draw
    loss, model = unrolled("gru", steps=3, hidden=2, layers=2, bidirectional=True, seed=2, loss="all")
    return draw(loss, view="cells", params=model)


def _rnn_5_steps_rolled():
    from viz.demo import unrolled
    from viz import draw
    loss, model = unrolled("rnn", steps=5, hidden=2, seed=3)
    return draw(loss, view="rolled", params=model)


# name -> function building the Digraph; the file is tests/golden/<name>.dot
CASES = {
    "rnn_3_steps_ops": _rnn_3_steps_ops,
    "lstm_2_steps_ops": _lstm_2_steps_ops,
    "gru_2_layer_bidirectional_cells": _gru_bidirectional_cells,
    "rnn_5_steps_rolled": _rnn_5_steps_rolled,
}


def golden_source(name):
    """The DOT source the current code draws for golden case ``name``."""
    return CASES[name]().source


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    GOLDEN_DIR.mkdir(exist_ok=True)
    from viz.render import atomic_write
    for name in CASES:
        path = GOLDEN_DIR / f"{name}.dot"
        atomic_write(path, golden_source(name))
        print(f"wrote {path.relative_to(root)}")


if __name__ == "__main__":
    main()
