"""The benchmark suite runs end to end in its quick mode, so the harness cannot rot.

(It measures nothing here: timings are for `python -m benchmarks`, never for tests.)
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_benchmarks_quick_writes_every_section(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = (tmp_path / "results.md").read_text(encoding="utf-8")
    for section in ("## 1. Char-LSTM training step", "## 2. Per-op engine overhead",
                    "## 3. Scaling with T"):
        assert section in report
    for implementation in ("| numpy |", "| mt-explicit |", "| mt-fused |"):
        assert implementation in report
