"""Saving keeps what the user set up (issue 13): symlinks, permission bits, no stale temporary
files, and a refusal before writing for anything that would not come back exactly."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import microtensor as mt
from microtensor.atomic import atomic_write, temporary_files


def test_saving_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "runs" / "ckpt.npz"
    real.parent.mkdir()
    mt.save({"step": 1}, real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    mt.save({"step": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert mt.load(real) == {"step": 2} and mt.load(link) == {"step": 2}
    assert sorted(os.listdir(real.parent)) == ["ckpt.npz"] and \
        sorted(os.listdir(tmp_path)) == ["latest.npz", "runs"]


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "new.npz")
    mt.save({"step": 3}, link)
    assert link.is_symlink() and mt.load(tmp_path / "new.npz") == {"step": 3}


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_resaving_keeps_the_permission_bits(tmp_path, mode):
    path = tmp_path / "ckpt.npz"
    mt.save({"step": 1}, path)
    os.chmod(path, mode)
    mt.save({"step": 2}, path)
    assert os.stat(path).st_mode & 0o7777 == mode and mt.load(path) == {"step": 2}


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        mt.save({"a": 1}, tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == 0o640


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_this_target_only_are_removed(tmp_path):
    path = tmp_path / "ckpt.npz"
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".ckpt.npz.{dead}.abcd1234.tmp"
    running = tmp_path / f".ckpt.npz.{alive}.ef015678.tmp"      # a writer still at work
    other = tmp_path / f".other.npz.{dead}.abcd1234.tmp"        # another target's
    longer = tmp_path / f".ckpt.npz.1.{dead}.abcd1234.tmp"      # target "ckpt.npz.1"
    users = tmp_path / ".ckpt.npz.notes.tmp"                    # not our pattern at all
    for f in (stale, running, other, longer, users):
        f.write_bytes(b"partial")
    assert set(temporary_files(path)) == {str(stale), str(running)}
    mt.save({"step": 1}, path)
    assert not stale.exists()
    assert running.exists() and other.exists() and longer.exists() and users.exists()


def test_refused_targets_are_left_alone(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a directory"):
        mt.save({"a": 1}, tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.npz"
        os.mkfifo(fifo)
        with pytest.raises(OSError, match=r"pipe\.npz.*not a regular file"):
            mt.save({"a": 1}, fifo)
        assert fifo.exists() and not fifo.is_file()             # still the FIFO
    assert temporary_files(tmp_path / "pipe.npz") == []
    with pytest.raises(FileNotFoundError, match=r"folder .*nope.* does not exist"):
        mt.save({"a": 1}, tmp_path / "nope" / "x.npz")


# ----- refused before anything is written ----------------------------------------------------------
def _nothing_written(tmp_path, obj, error, match):
    path = tmp_path / "ckpt.npz"
    mt.save({"old": True}, path)
    with pytest.raises(error, match=match):
        mt.save(obj, path)
    assert mt.load(path) == {"old": True} and os.listdir(tmp_path) == ["ckpt.npz"]


def test_masked_array_is_refused(tmp_path):
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    _nothing_written(tmp_path, {"m": masked}, TypeError, r"array at m is a masked array; its mask")


def test_ndarray_subclass_is_refused(tmp_path):
    class Tagged(np.ndarray):
        pass

    _nothing_written(tmp_path, {"m": np.zeros(2).view(Tagged)}, TypeError,
                     r"Tagged \(an ndarray subclass")


@pytest.mark.parametrize("array", [np.array(["a", "bc"]), np.array([b"x"]),
                                   np.array(["2020-01-01"], dtype="datetime64[D]"),
                                   np.array([1], dtype=object),
                                   np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")])])
def test_text_object_date_and_structured_arrays_are_refused(tmp_path, array):
    _nothing_written(tmp_path, {"x": [array]}, TypeError, r"array at x\[0\] has dtype")


def test_a_list_containing_itself_is_refused(tmp_path):
    loop = [1, 2]
    loop.append(loop)
    _nothing_written(tmp_path, {"a": loop}, ValueError, r"the list at a\[2\] contains itself \(a cycle\)")
    d = {}
    d["me"] = {"again": d}
    _nothing_written(tmp_path, d, ValueError, r"the dict at me\.again contains itself")


def test_shared_but_acyclic_structures_are_saved_as_copies(tmp_path):
    leaf = [1, 2]
    mt.save({"x": leaf, "y": leaf}, tmp_path / "c.npz")
    back = mt.load(tmp_path / "c.npz")
    assert back == {"x": [1, 2], "y": [1, 2]} and back["x"] is not back["y"]


def test_over_deep_nesting_is_refused_and_100_levels_are_fine(tmp_path):
    deep = None
    for _ in range(100):
        deep = [deep]
    (tmp_path / "ok").mkdir()
    mt.save(deep, tmp_path / "ok" / "deep.npz")
    back = mt.load(tmp_path / "ok" / "deep.npz")
    for _ in range(100):
        back = back[0]
    assert back is None
    (tmp_path / "refused").mkdir()
    _nothing_written(tmp_path / "refused", [deep], ValueError,
                     r"nested more than 100 levels deep")


def test_huge_int_and_int_subclass_are_refused(tmp_path):
    _nothing_written(tmp_path, {"n": 10 ** 5000}, ValueError, r"the int at n has about 5000 digits")
    import enum

    class Colour(enum.IntEnum):
        RED = 1

    _nothing_written(tmp_path, {"c": Colour.RED}, TypeError, r"cannot store a Colour at c")


def test_numpy_scalars_keep_their_type(tmp_path):
    values = {"f64": np.float64(1.5), "b": np.bool_(True), "i": np.int64(-3), "c": np.complex64(1j)}
    mt.save(values, tmp_path / "s.npz")
    back = mt.load(tmp_path / "s.npz")
    for key, value in values.items():
        assert type(back[key]) is type(value) and back[key] == value


def test_fortran_ordered_and_big_endian_arrays_round_trip(tmp_path):
    f = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    big = np.arange(3, dtype=">i4")
    mt.save({"f": f, "big": big}, tmp_path / "o.npz")
    back = mt.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(back["f"], f)
    assert back["big"].dtype == big.dtype and back["big"].tolist() == [0, 1, 2]


def test_atomic_write_writes_bytes_text_and_callables(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    assert atomic_write(path, "héllo", make_dirs=True) == str(path)
    assert path.read_text(encoding="utf-8") == "héllo"
    atomic_write(path, lambda f: f.write(b"\x00"))
    assert path.read_bytes() == b"\x00"

    def broken(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"\x00" and os.listdir(path.parent) == ["f.txt"]


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"),
                    reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path):
    """RLIMIT_FSIZE makes every write past 100 kB fail (EFBIG), as a full disk would."""
    path = tmp_path / "ckpt.npz"
    mt.save({"step": 1}, path)
    script = (
        "import resource, signal, sys, numpy as np, microtensor as mt\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        "    mt.save({'step': 2, 'w': np.zeros(100_000)}, sys.argv[1])\n"
        "except OSError as error:\n"
        "    print('refused', error.errno)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=root), timeout=120)
    assert result.stdout.startswith("refused "), result.stderr
    assert mt.load(path) == {"step": 1} and os.listdir(tmp_path) == ["ckpt.npz"]


def test_two_processes_saving_to_one_path_never_break_each_other(tmp_path):
    """Each save's clean-up leaves the other writer's temporary file alone (its writer lives)."""
    path = tmp_path / "ckpt.npz"
    script = ("import sys, numpy as np, microtensor as mt\n"
              "for k in range(30):\n"
              "    mt.save({'who': sys.argv[2], 'k': k, 'w': np.full(50_000, k)}, sys.argv[1])\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, OPENBLAS_NUM_THREADS="1")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(path), who], env=env,
                                stderr=subprocess.PIPE, text=True) for who in ("a", "b")]
    errors = [w.communicate(timeout=300)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    last = mt.load(path)
    assert last["who"] in ("a", "b") and last["k"] == 29 and np.all(last["w"] == 29)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
