"""``python -m viz demo`` (``make demo``, the README's main job): train, sample, save and draw."""
import json
import os
import subprocess
import sys

import pytest

import microtensor as mt
from viz.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def test_demo_quick_writes_everything_and_learns(tmp_path, capsys):
    pytest.importorskip("graphviz", reason="the demo's pictures need the graphviz package")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "sample BEFORE training" in printed and "sample AFTER" in printed
    assert f"everything is in {out}" in printed
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["heldout_bpc_after"] < summary["heldout_bpc_before"]
    assert (out / "charrnn.npz").exists()
    assert mt.load(out / "charrnn.npz")["trainer"]["step"] == summary["steps"]
    names = set(os.listdir(out))
    assert {"unrolled_ops.svg", "unrolled_cells.svg"} <= names or \
        {"unrolled_ops.dot", "unrolled_cells.dot"} <= names
    if "unrolled_ops.svg" in names:
        svg = (out / "unrolled_ops.svg").read_text(encoding="utf-8")
        assert "t = 2" in svg and "cross_entropy" in svg
    pytest.importorskip("matplotlib", reason="the flow plot needs matplotlib")
    assert (out / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_pictures_without_graphviz_dot_keep_the_dot_source(tmp_path, monkeypatch, capsys):
    pytest.importorskip("graphviz", reason="the demo's pictures need the graphviz package")
    from rnn import CharRNN
    from viz.charrnn_demo import pictures
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))        # no `dot` anywhere
    mt.manual_seed(0)
    model = CharRNN(TEXT, hidden_size=4)
    files = pictures(model, model.state_dict(), TEXT, str(tmp_path), quick=True)
    assert "dot" in capsys.readouterr().out
    assert files["graph (ops view)"].endswith("unrolled_ops.dot")
    assert "digraph" in (tmp_path / "unrolled_ops.dot").read_text(encoding="utf-8")
    assert model.fused                                          # restored after drawing


def test_demo_help_and_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0 and "--quick" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["demo", "--out", str(tmp_path / "file")])
    assert info.value.code == 2 and "is a file" in capsys.readouterr().err


def test_rnn_has_no_demo_and_never_imports_viz():
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = "import sys, rnn, rnn.cli; print('viz' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.stdout.strip() == "False"
    result = subprocess.run([sys.executable, "-m", "rnn", "demo"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2 and "invalid choice" in result.stderr
