"""docs/tutorial.md cannot rot: every ```python block in it runs, in order, in one namespace."""
import pathlib
import re

TUTORIAL = pathlib.Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
# A fenced block that opens with exactly ```python on its own line and ends at the next ``` line.
_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(markdown):
    """The source of every ```python block, in order, with the line number where it starts."""
    return [(markdown.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in _PYTHON_BLOCK.finditer(markdown)]


def test_block_extraction_finds_only_python_blocks():
    text = "intro\n```python\na = 1\n```\n```\nnot python\n```\n```python\nb = a + 1\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = a + 1\n")]


def test_tutorial_has_code():
    blocks = python_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 8, "the tutorial lost its code blocks"


def test_every_tutorial_block_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                # images and files the tutorial writes go here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__tutorial__"}
    for line, source in python_blocks(TUTORIAL.read_text(encoding="utf-8")):
        code = compile("\n" * (line - 1) + source, str(TUTORIAL), "exec")
        try:
            exec(code, namespace)
        except Exception as error:  # keep the traceback (its line numbers are the tutorial's)
            error.add_note(f"in the docs/tutorial.md code block starting at line {line}")
            raise
    # The pictures the tutorial promises were drawn (SVG with Graphviz's dot, else DOT source).
    written = {p.stem for p in tmp_path.iterdir() if p.stat().st_size > 0}
    assert {"unrolled_rnn", "unrolled_rnn_cells", "lstm_two_steps", "gradient_flow"} <= written
