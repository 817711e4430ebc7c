"""mt.save / mt.load: exact round trips, no pickle ever, atomic writes, clear errors."""
import io
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor import serialize
from microtensor.serialize import CheckpointError
from tests.checkpoint_files import same_tree


def _model():
    return mt.nn.Sequential(mt.nn.Embedding(7, 4, padding_idx=0), mt.nn.LayerNorm(4),
                            mt.nn.Linear(4, 3))


def test_round_trip_of_every_supported_kind(tmp_path):
    obj = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array([np.nan, np.inf, -0.0, 1e-300]),
        "ints": np.array([[1, -2]], dtype=np.int16),
        "bools": np.array([True, False]),
        "empty": np.zeros((0, 3)),
        "zero_d": np.array(2.5),
        "np_scalar": np.float32(1.25),
        "tensor": mt.tensor([1.0, 2.0], requires_grad=True),
        "numbers": [1, 2.5, float("nan"), float("-inf"), True, None, 10 ** 30],
        "text": "héllo\n\"quoted\"",
        "tuple": (1, ("nested", [])),
        "int_keys": {0: "zero", 12: {"deep": np.ones(1)}},
        "vocab": ["a", "b", " "],
    }
    path = tmp_path / "all.npz"
    mt.save(obj, path)
    back = mt.load(path)
    assert set(back) == set(obj)
    for key in ("f32", "f64", "ints", "bools", "empty", "zero_d"):
        assert back[key].dtype == obj[key].dtype and back[key].shape == obj[key].shape
        np.testing.assert_array_equal(back[key], obj[key])
    assert np.signbit(back["f64"][2])
    assert isinstance(back["np_scalar"], np.float32) and back["np_scalar"] == 1.25
    assert isinstance(back["tensor"], mt.Tensor) and back["tensor"].requires_grad
    np.testing.assert_array_equal(back["tensor"].data, [1.0, 2.0])
    nums = back["numbers"]
    assert nums[0] == 1 and nums[1] == 2.5 and np.isnan(nums[2]) and nums[3] == float("-inf")
    assert nums[4] is True and nums[5] is None and nums[6] == 10 ** 30
    assert back["text"] == obj["text"] and back["vocab"] == obj["vocab"]
    assert back["tuple"] == (1, ("nested", []))
    assert back["int_keys"][0] == "zero" and back["int_keys"][12]["deep"].tolist() == [1.0]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 31 - 1), dtype=st.sampled_from(["float32", "float64"]))
def test_module_state_survives_save_and_load_exactly(tmp_path, seed, dtype):
    mt.manual_seed(seed)
    model = _model().to(dtype)
    path = tmp_path / "model.npz"
    mt.save(model.state_dict(), path)
    mt.manual_seed(seed + 1)
    fresh = _model().to(dtype)
    assert not np.array_equal(fresh[2].weight.data, model[2].weight.data)
    fresh.load_state_dict(mt.load(path))
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name   # bit-exact


def test_full_training_checkpoint_resumes_identically(tmp_path):
    """Model + optimizer + step saved mid-training: resuming gives the same weights as not stopping."""
    rng = np.random.default_rng(0)
    x, y = mt.tensor(rng.standard_normal((6, 4))), rng.integers(0, 3, 6)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            mt.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    mt.manual_seed(0)
    straight = mt.nn.Linear(4, 3)
    train(straight, mt.optim.Adam(straight.parameters(), lr=0.05), 6)

    mt.manual_seed(0)
    model = mt.nn.Linear(4, 3)
    opt = mt.optim.Adam(model.parameters(), lr=0.05)
    train(model, opt, 3)
    mt.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": 3}, tmp_path / "c.npz")
    ckpt = mt.load(tmp_path / "c.npz")
    resumed = mt.nn.Linear(4, 3)
    resumed.load_state_dict(ckpt["model"])
    opt2 = mt.optim.Adam(resumed.parameters(), lr=0.05)
    opt2.load_state_dict(ckpt["optim"])
    train(resumed, opt2, 6 - ckpt["step"])
    np.testing.assert_array_equal(resumed.weight.data, straight.weight.data)
    np.testing.assert_array_equal(resumed.bias.data, straight.bias.data)


def test_save_refuses_what_would_need_pickle(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=r"array at a\.b has dtype object"):
        mt.save({"a": {"b": np.array([{}, 1], dtype=object)}}, path)
    with pytest.raises(TypeError, match="save module.state_dict"):
        mt.save({"model": mt.nn.Linear(2, 2)}, path)
    with pytest.raises(TypeError, match=r"cannot store a set at s"):
        mt.save({"s": {1, 2}}, path)
    with pytest.raises(TypeError, match="dict key"):
        mt.save({(1, 2): 3}, path)
    assert not path.exists() and os.listdir(tmp_path) == []        # nothing half-written


def _write_pickled_checkpoint(path):
    """A file that looks like ours but whose array member is a pickle (what an attacker would send)."""
    manifest = (b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "array", '
                b'"ref": "a0", "dtype": "|O", "shape": [1]}}')
    np.savez(path, a0=np.array([{"evil": True}], dtype=object),
             **{serialize._MANIFEST: np.frombuffer(manifest, dtype=np.uint8)})


def test_pickled_object_array_is_refused(tmp_path, monkeypatch):
    import pickle
    # If anything tried to unpickle, this would make the test fail loudly.
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled!"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled!"))
    path = tmp_path / "evil.npz"
    _write_pickled_checkpoint(path)                  # the manifest admits the object dtype
    with pytest.raises(CheckpointError, match=r"evil\.npz: corrupt manifest: .*dtype '\|O' is not"):
        mt.load(path)
    honest_looking = tmp_path / "liar.npz"           # the manifest claims floats
    manifest = (b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "array", '
                b'"ref": "a0", "dtype": "<f8", "shape": [1]}}')
    np.savez(honest_looking, a0=np.array([{"evil": True}], dtype=object),
             **{serialize._MANIFEST: np.frombuffer(manifest, dtype=np.uint8)})
    with pytest.raises(CheckpointError, match=r"liar\.npz: member 'a0' is a pickled object array"):
        mt.load(honest_looking)


def test_crash_while_writing_leaves_old_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mt.save({"step": 1, "w": np.ones(3)}, path)

    def half_write_then_crash(fileobj, arrays):
        fileobj.write(b"PK\x03\x04 partial garbage")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(serialize, "_write_archive", half_write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        mt.save({"step": 2, "w": np.zeros(3)}, path)
    assert mt.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.npz"]                    # the temporary file is gone


def test_crash_at_rename_leaves_old_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mt.save({"step": 1}, path)

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        mt.save({"step": 2}, path)
    monkeypatch.undo()
    assert mt.load(path) == {"step": 1}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_save_is_written_through_a_temporary_file_then_renamed(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.path.dirname(src), os.path.basename(src), dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    mt.save({"a": 1}, tmp_path / "m.npz")
    [(folder, tmp_name, dst)] = renames
    assert folder == str(tmp_path) and tmp_name.startswith(".m.npz.") and str(dst).endswith("m.npz")


@pytest.mark.parametrize("keep", [0, 3, 100, -22, -1])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    mt.save({"w": np.arange(500.0), "name": "x"}, path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(CheckpointError, match=r"ckpt\.npz: .*(truncated|not a zip)"):
        mt.load(path)


def test_corrupted_byte_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    mt.save({"w": np.arange(500.0)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF                                   # inside the array's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"ckpt\.npz: truncated or corrupt.*CRC"):
        mt.load(path)


def test_foreign_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"notes\.txt: not a microtensor checkpoint"):
        mt.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))
    with pytest.raises(CheckpointError, match=r"plain\.npz: .*without a microtensor manifest"):
        mt.load(plain)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(CheckpointError, match=r"other\.zip: not a microtensor checkpoint"):
        mt.load(other_zip)
    with pytest.raises(FileNotFoundError):
        mt.load(tmp_path / "missing.npz")


def test_manifest_that_disagrees_with_the_arrays_is_an_error(tmp_path):
    path = tmp_path / "bad.npz"
    manifest = (b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "array", '
                b'"ref": "a0", "dtype": "<f8", "shape": [3]}}')
    np.savez(path, a0=np.ones(2), **{serialize._MANIFEST: np.frombuffer(manifest, np.uint8)})
    with pytest.raises(CheckpointError, match=r"bad\.npz: corrupt checkpoint: array 'a0'"):
        mt.load(path)
    future = tmp_path / "future.npz"
    manifest = b'{"format": "microtensor-checkpoint", "version": 99, "root": {"t": "none"}}'
    np.savez(future, **{serialize._MANIFEST: np.frombuffer(manifest, np.uint8)})
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        mt.load(future)


def test_save_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mt.save({"a": 1}, tmp_path / "nope" / "x.npz")


def test_loading_never_calls_numpy_load(tmp_path, monkeypatch):
    """The reader parses .npy headers itself (bounded), so np.load and its pickle path never run."""
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load called"))
    mt.save({"a": np.ones(2)}, tmp_path / "a.npz")
    np.testing.assert_array_equal(mt.load(tmp_path / "a.npz")["a"], [1.0, 1.0])


def test_file_is_a_standard_npz(tmp_path):
    """Other tools can read the arrays with plain NumPy (also without pickle)."""
    mt.save({"w": np.arange(3.0)}, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["a0"], [0.0, 1.0, 2.0])
    assert io.BytesIO((tmp_path / "w.npz").read_bytes()).read(2) == b"PK"


_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.text(max_size=8),
    st.floats(allow_nan=False) | st.sampled_from([float("inf"), float("-inf")]),
    st.builds(lambda shape, seed, dt: np.random.default_rng(seed).normal(size=shape).astype(dt),
              st.lists(st.integers(0, 3), max_size=3).map(tuple), st.integers(0, 99),
              st.sampled_from(["float32", "float64", "int32", "bool"])))
_trees = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(st.text(max_size=5) | st.integers(-5, 5), inner, max_size=3)), max_leaves=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_trees)
def test_any_supported_tree_round_trips_exactly(tmp_path, tree):
    path = tmp_path / "tree.npz"
    mt.save(tree, path)
    assert same_tree(tree, mt.load(path))
