"""kill -9 during saves (issue 13): the checkpoint on disk is always the old one or the new one,
loadable and consistent, and the next save removes the temporary files the killed ones left."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import microtensor as mt
from microtensor.atomic import temporary_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILLS = 10

# Saves an 8 MB state again and again; "stall" mode stops half-way through writing (the moment a
# kill is sure to leave a temporary file behind).
CHILD = r"""
import sys, time
import numpy as np
import microtensor as mt
from microtensor import serialize
path, mode = sys.argv[1], sys.argv[2]
if mode == "stall":
    def stalled(fileobj, arrays):
        fileobj.write(b"PK\x03\x04 half of a checkpoint")
        fileobj.flush()
        print("writing", flush=True)
        time.sleep(600)
    serialize._write_archive = stalled
state = np.empty(1_000_000)
print("ready", flush=True)
k = 0
while True:
    k += 1
    state.fill(k)
    mt.save({"k": k, "w": state}, path)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_kill_9_during_saves_never_loses_the_checkpoint_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "ckpt.npz"
    mt.save({"k": 0, "w": np.zeros(1_000_000)}, path)
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    rng = random.Random(13)
    left_behind = 0
    for i in range(KILLS):
        mode = "stall" if i % 3 == 0 else "loop"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode],
                                 stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout.readline() == "ready\n"
            if mode == "stall":
                assert child.stdout.readline() == "writing\n"
            else:
                time.sleep(rng.uniform(0.0, 0.4))          # somewhere in a run of saves
        finally:
            child.kill()                                   # SIGKILL: no cleanup can run
            child.wait()
            child.stdout.close()
        checkpoint = mt.load(path)                         # always loadable ...
        assert np.all(checkpoint["w"] == checkpoint["k"])  # ... and one consistent save
        left_behind += len(temporary_files(path))
    assert left_behind > 0                                 # the kills did leave files behind
    mt.save({"k": -1, "w": np.ones(3)}, path)
    assert temporary_files(path) == [] and os.listdir(tmp_path) == ["ckpt.npz"]
    assert mt.load(path)["k"] == -1
