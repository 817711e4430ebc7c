"""Hand-made checkpoint files for the hostile-input tests: any manifest, any members, any zip."""
import io
import json
import zipfile

import numpy as np

import microtensor as mt

MANIFEST = "__microtensor_manifest__"


def npy_bytes(array):
    """An array as the bytes of a ``.npy`` file (what ``np.savez`` stores per member)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def manifest_bytes(root, **top):
    manifest = {"format": "microtensor-checkpoint", "version": 1, "root": root, **top}
    return npy_bytes(np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8))


def write_checkpoint(path, manifest, members=(), compression=zipfile.ZIP_STORED):
    """Write a zip holding ``manifest`` (a root node, or raw bytes of the manifest member) and
    ``members`` (``{name: ndarray or raw bytes}``); names get ``.npy`` appended."""
    raw = manifest if isinstance(manifest, bytes) else manifest_bytes(manifest)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr(MANIFEST + ".npy", raw)
        for name, data in dict(members).items():
            archive.writestr(name + ".npy", data if isinstance(data, bytes) else npy_bytes(data))
    return path


def array_node(ref="a0", dtype="<f8", shape=(3,), kind="array"):
    node = {"t": kind, "ref": ref, "dtype": dtype, "shape": list(shape)}
    if kind == "tensor":
        node["requires_grad"] = False
    return node


def dict_node(**values):
    return {"t": "dict", "items": [[{"s": k}, v] for k, v in values.items()]}


def same_tree(a, b):
    """Are two checkpoint trees equal in every type, dtype, shape and bit (NaN equals NaN)?"""
    if isinstance(a, mt.Tensor):
        return isinstance(b, mt.Tensor) and a.requires_grad == b.requires_grad and \
            same_tree(a.data, b.data)
    if isinstance(a, (np.ndarray, np.generic)):
        return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and \
            a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_tree, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return type(b) is float and (a == b or (a != a and b != b))
    return type(a) is type(b) and a == b
