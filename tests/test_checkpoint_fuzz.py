"""Hypothesis fuzz of the loader (issue 13): bit flips, truncation and manifest edits of a valid
checkpoint give the original data or a CheckpointError, nothing else.

A manifest edit can legitimately change the data (``"step": 4`` edited to ``5`` loads as 5), so
for edits the property is: a CheckpointError, or exactly what the *edited* manifest describes,
judged by an independent checker (every value has the type its node names, every array the dtype,
shape and bytes of its member, no two arrays share memory), and the original data when the edit
changed nothing.
"""
import json
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor.serialize import CheckpointError
from tests.checkpoint_files import MANIFEST, npy_bytes, same_tree

ORIGINAL = {
    "model": {"weight": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.zeros(4),
              "ids": np.array([[1, -2]], dtype=np.int16), "mask": np.array([True, False])},
    "tensor": mt.tensor([1.5, -2.5], requires_grad=True),
    "scalar": np.float32(0.25),
    "step": 7, "lr": 0.001, "name": "run-1", "done": False, "nothing": None,
    "vocab": ["a", "b", "é"], "pair": (3, (4.5, "x")), 12: {"deep": [np.ones(2, dtype=np.complex64)]},
}
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _arrays_of(value, found):
    if isinstance(value, mt.Tensor):
        found.append(value.data)
    elif isinstance(value, np.ndarray):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _arrays_of(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _arrays_of(v, found)
    return found


def _conforms(node, value, members):
    """Does ``value`` hold exactly what ``node`` says? (independent of the loader's own code)"""
    kind = node["t"]
    if kind == "none":
        return value is None
    if kind in ("bool", "int", "str"):
        return type(value) is {"bool": bool, "int": int, "str": str}[kind] and value == node["v"]
    if kind == "float":
        return type(value) is float and same_tree(float(node["v"]), value)
    if kind in ("array", "scalar", "tensor"):
        stored = members[node["ref"]]
        if kind == "tensor":
            if not isinstance(value, mt.Tensor) or value.requires_grad != node["requires_grad"]:
                return False
            value = value.data
        ok_type = isinstance(value, np.generic) if kind == "scalar" else type(value) is np.ndarray
        return ok_type and value.dtype.str == node["dtype"] and \
            list(np.shape(value)) == node["shape"] and stored.dtype == value.dtype and \
            stored.shape == np.shape(value) and stored.tobytes() == np.asarray(value).tobytes()
    if kind == "dict":
        keys = [next(iter(k.values())) for k, _ in node["items"]]
        return type(value) is dict and list(value) == keys and \
            all(_conforms(v, value[k], members) for k, (_, v) in zip(keys, node["items"]))
    expected = list if kind == "list" else tuple
    return type(value) is expected and len(value) == len(node["items"]) and \
        all(_conforms(n, v, members) for n, v in zip(node["items"], value))


def _original_file(tmp_path):
    path = tmp_path / "orig.npz"
    mt.save(ORIGINAL, path)
    return path, path.read_bytes()


def _load_or_error(path):
    try:
        return mt.load(path), None
    except CheckpointError as error:
        assert str(error).startswith(f"{path}: "), error
        return None, error


@FUZZ
@given(bit=st.integers(min_value=0))
def test_a_flipped_bit_gives_the_original_data_or_a_checkpoint_error(tmp_path, bit):
    path, data = _original_file(tmp_path)
    damaged = bytearray(data)
    damaged[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    path.write_bytes(bytes(damaged))
    value, error = _load_or_error(path)
    assert error is not None or same_tree(ORIGINAL, value)


@FUZZ
@given(keep=st.integers(min_value=0))
def test_a_truncated_file_gives_a_checkpoint_error(tmp_path, keep):
    path, data = _original_file(tmp_path)
    path.write_bytes(data[:keep % len(data)])
    value, error = _load_or_error(path)
    assert error is not None


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6) | st.integers() |
    st.floats(allow_nan=False, allow_infinity=False) |
    st.sampled_from(["array", "scalar", "tensor", "int", "float", "str", "bool", "none", "dict",
                     "list", "tuple", "a0", "a1", "a2", "a5", "a99", "<f8", "<f4", "|b1", "<U3",
                     "|O", "<M8[s]", "abc", "100", "nan", "inf", "1e400", ""]) |
    st.lists(st.integers(0, 4), max_size=3) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["t", "v", "ref", "dtype", "shape", "items", "s", "i",
                         "requires_grad", "x"]), inner, max_size=3),
    max_leaves=6)


def _places(tree, where=()):
    """Every position in a JSON tree, as a path of keys/indices."""
    yield where
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _places(value, where + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _places(value, where + (i,))


def _edit(manifest, place, action, new):
    edited = json.loads(json.dumps(manifest))
    if not place:
        return new if action == "replace" else edited
    parent = edited
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if action == "replace":
        parent[last] = new
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent["x" if "x" not in parent else "y"] = new
    else:
        parent.insert(last, new)
    return edited


@FUZZ
@given(data=st.data())
def test_a_manifest_edit_gives_what_the_edited_manifest_says_or_a_checkpoint_error(tmp_path, data):
    path, raw = _original_file(tmp_path)
    with zipfile.ZipFile(path) as archive:
        members = {n[:-4]: np.lib.format.read_array(archive.open(n), allow_pickle=False)
                   for n in archive.namelist()}
    manifest = json.loads(members.pop(MANIFEST).tobytes())
    places = list(_places(manifest))
    # Most edits hit one field of one node (a type tag, a value, a ref, a dtype, a shape): the
    # lies a hostile manifest tells; the rest hit any position at all.
    fields = [p for p in places if p and p[-1] in ("t", "v", "ref", "dtype", "shape",
                                                   "requires_grad", "items")]
    place = data.draw(st.sampled_from(fields) | st.sampled_from(places), label="place")
    action = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="action")
    edited = _edit(manifest, place, action, data.draw(_json, label="new"))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST + ".npy", npy_bytes(np.frombuffer(
            json.dumps(edited).encode("utf-8"), dtype=np.uint8)))
        for name, array in members.items():
            archive.writestr(name + ".npy", npy_bytes(array))
    value, error = _load_or_error(path)
    if error is not None:
        return
    assert _conforms(edited["root"], value, members)
    arrays = _arrays_of(value, [])
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])
    if edited == manifest:
        assert same_tree(ORIGINAL, value)
