"""docs/extending.md cannot rot: its ```python blocks run, in order, in one namespace."""
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def test_every_code_block_of_the_extending_guide_runs():
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    namespace = {"__name__": "extending_doc"}
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/extending.md block {number}", "exec"), namespace)
    assert namespace["values"].shape == (4,) and namespace["index"].dtype.kind == "i"
