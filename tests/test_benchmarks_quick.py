"""The benchmark suite runs end to end in its quick mode, so the harness cannot rot.

(It measures nothing here: timings are for `python -m benchmarks`, never for tests.)
"""
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks.workers import Worker, WorkerError, close_all, start_workers

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_benchmarks_quick_writes_every_section(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = (tmp_path / "results.md").read_text(encoding="utf-8")
    for section in ("## 1. Char-LSTM training step", "## 2. Per-op engine overhead",
                    "## 3. Time and memory against T"):
        assert section in report
    for implementation in ("| numpy |", "| mt-explicit |", "| mt-fused |", "| torch-cell |",
                           "| torch-lstm |"):
        assert implementation in report or "torch" in implementation and "skipped" in report
    assert "1 thread" in report                    # what threadpoolctl saw inside a worker
    assert "**met**" not in report and "**MISSED**" not in report   # quick sizes have no targets


def test_every_implementation_runs_in_its_own_process_with_one_blas_thread(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")         # must not reach the workers
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1")
    workers, skipped = start_workers("charlm", ["numpy", "mt-explicit"], 1, 4, 3)
    try:
        pids = {w.call("environment")["pid"] for w in workers.values()}
        assert len(pids) == 2 and os.getpid() not in pids
        for worker in workers.values():
            env = worker.call("environment")
            assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OPENBLAS_CORETYPE"] is None \
                and env["OPENBLAS_L2_SIZE"] is None
            assert "1 thread" in worker.blas and "Prescott" not in worker.blas
    finally:
        close_all(workers)


def test_a_failing_worker_names_its_task():
    with pytest.raises(WorkerError, match="charlm no-such-model"):
        Worker("charlm", "no-such-model", 1, 4, 3)
