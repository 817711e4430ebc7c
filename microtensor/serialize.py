"""Safe checkpoints: ``save(obj, path)`` and ``load(path)``, an ``.npz`` that never holds a pickle.

A checkpoint is a nested structure of dicts (str or int keys), lists, tuples, arrays, tensors,
numbers, strings, booleans and None: a model's ``state_dict()``, an optimizer's, a step counter, a
vocabulary. Arrays are stored as ``.npy`` members of a zip (``numpy.savez``); the shape of the tree
and every scalar are stored in a JSON manifest member. Loading uses ``allow_pickle=False``, so a
file can never run code, and a file holding a pickled object array is refused.

Writes are atomic: the archive goes to a temporary file in the same folder, is flushed and
fsync'ed, then renamed over the target with ``os.replace``; a crash half-way leaves the previous
checkpoint untouched. A truncated, corrupt or foreign file raises :class:`CheckpointError` naming
the file and what is wrong.

Example:
    >>> import os, tempfile, numpy as np, microtensor as mt
    >>> model = mt.nn.Linear(3, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> mt.save({"model": model.state_dict(), "step": 100, "vocab": ["a", "b"]}, path)
    >>> ckpt = mt.load(path)
    >>> ckpt["step"], ckpt["vocab"], bool((ckpt["model"]["weight"] == model.weight.data).all())
    (100, ['a', 'b'], True)
"""
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .errors import MicrotensorError
from .tensor import Tensor, tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "microtensor-checkpoint"
VERSION = 1
_MANIFEST = "__microtensor_manifest__"
# Array dtypes that NumPy stores and reads back without pickle: bool, ints, floats, complex.
_SAFE_KINDS = "biufc"


class CheckpointError(MicrotensorError, ValueError):
    """A checkpoint cannot be written or read; the message names the file and the problem.

    Example:
        >>> import os, tempfile, microtensor as mt
        >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("hello")
        >>> try:
        ...     mt.load(path)
        ... except mt.serialize.CheckpointError as e:
        ...     print(str(e).split(": ", 1)[1])
        not a microtensor checkpoint: it is not a zip/.npz archive (wrong format, or truncated to nothing)
    """


# ----- encoding the tree ------------------------------------------------------------------------
def _encode(obj, where, arrays):
    """The JSON node for ``obj``; arrays go into ``arrays`` under a generated member name."""
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, (bool, np.bool_)) and not isinstance(obj, np.ndarray):
        return {"t": "bool", "v": bool(obj)}
    if isinstance(obj, int):
        return {"t": "int", "v": int(obj)}
    if isinstance(obj, float):
        return {"t": "float", "v": repr(float(obj))}    # repr round-trips exactly, NaN/Inf included
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, np.generic):
        return _encode_array(np.asarray(obj), where, arrays, kind="scalar")
    if isinstance(obj, np.ndarray):
        return _encode_array(obj, where, arrays, kind="array")
    if isinstance(obj, Tensor):
        node = _encode_array(obj.data, where, arrays, kind="tensor")
        node["requires_grad"] = bool(obj.requires_grad)
        return node
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: dict key {key!r} at {where or 'the top level'} must be a str "
                                f"or an int, not {type(key).__name__}")
            key_node = {"s": key} if isinstance(key, str) else {"i": int(key)}
            items.append([key_node, _encode(value, f"{where}.{key}" if where else str(key), arrays)])
        return {"t": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"t": kind, "items": [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]}
    hint = " (save module.state_dict() instead of the module)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {where or 'the top level'}{hint}; "
                    f"a checkpoint holds dicts, lists, tuples, arrays, tensors, numbers, strings, "
                    f"booleans and None")


def _encode_array(array, where, arrays, kind):
    if array.dtype.kind not in _SAFE_KINDS:
        raise TypeError(f"save: the array at {where or 'the top level'} has dtype {array.dtype}; "
                        f"only bool, integer, float and complex arrays can be stored without pickle "
                        f"(store text as str or a list of str)")
    name = f"a{len(arrays)}"
    arrays[name] = array
    return {"t": kind, "ref": name, "dtype": array.dtype.str, "shape": list(array.shape)}


def _decode(node, arrays, path):
    kind = node.get("t") if isinstance(node, dict) else None
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node["v"]
    if kind == "float":
        return float(node["v"])
    if kind in ("array", "scalar", "tensor"):
        array = arrays(node)
        if kind == "scalar":
            return array[()]
        if kind == "tensor":
            return tensor(array, requires_grad=node.get("requires_grad", False))
        return array
    if kind == "dict":
        out = {}
        for key_node, value in node["items"]:
            key = key_node["s"] if "s" in key_node else int(key_node["i"])
            out[key] = _decode(value, arrays, path)
        return out
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, path) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    raise CheckpointError(f"{path}: corrupt manifest: unknown entry {node!r:.80}")


# ----- writing ----------------------------------------------------------------------------------
def _default_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_archive(fileobj, arrays):
    """Write the members to an open binary file (a separate function so tests can break it)."""
    np.savez(fileobj, **arrays)


def save(obj, path):
    """Write ``obj`` (nested dicts/lists of arrays, tensors, numbers, strings) to ``path`` atomically.

    The file is complete or absent: it is written to a temporary file in the same folder, flushed,
    fsync'ed and renamed over ``path``; if anything fails the temporary file is removed and an
    existing checkpoint at ``path`` is untouched. ``path`` is used as given (no suffix is added).

    Raises TypeError for anything that would need pickle (objects, object arrays, modules).

    Example:
        >>> import os, tempfile, microtensor as mt
        >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
        >>> mt.save({"weights": [mt.ones(2)], "lr": 0.1}, path)
        >>> mt.load(path)["lr"]
        0.1
    """
    path = os.fspath(path)
    arrays = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, "", arrays)}
    arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: folder {directory!r} for {path!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----- reading ----------------------------------------------------------------------------------
def load(path):
    """Read a checkpoint written by :func:`save`; never unpickles anything.

    Arrays come back as ndarrays (same dtype and shape), tensors as tensors, tuples as tuples.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt, not a microtensor checkpoint, or holds
            a pickled object array (message names the file and the problem).

    Example:
        >>> import os, tempfile, numpy as np, microtensor as mt
        >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
        >>> mt.save({"x": np.arange(3), "nested": {"ok": True, 7: (1.5, None)}}, path)
        >>> mt.load(path)
        {'x': array([0, 1, 2]), 'nested': {'ok': True, 7: (1.5, None)}}
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        raise CheckpointError(f"{path}: not a microtensor checkpoint: it is not a zip/.npz archive "
                              f"(wrong format, or truncated to nothing)")
    try:
        archive = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile as error:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint: the archive's index is "
                              f"missing or damaged, as when a file is cut short ({error})") from None
    except (zlib.error, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({error})") from None
    with archive:
        manifest = _read_manifest(archive, path)
        loaded = {}

        def fetch(node):
            name = node.get("ref")
            if name in loaded:
                return loaded[name]
            if name not in archive.files:
                raise CheckpointError(f"{path}: corrupt checkpoint: array {name!r} listed in the "
                                      f"manifest is missing from the archive")
            array = _read_member(archive, name, path)
            expected = (np.dtype(node["dtype"]), tuple(node["shape"]))
            if (array.dtype, array.shape) != expected:
                raise CheckpointError(f"{path}: corrupt checkpoint: array {name!r} is "
                                      f"{array.dtype}{array.shape}, the manifest says "
                                      f"{expected[0]}{expected[1]}")
            loaded[name] = array
            return array

        try:
            return _decode(manifest["root"], fetch, path)
        except (KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(f"{path}: corrupt manifest ({type(error).__name__}: {error})") from None


def _read_member(archive, name, path):
    try:
        return archive[name]
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise CheckpointError(f"{path}: member {name!r} is a pickled object array; refusing to "
                                  f"load it (unpickling can run arbitrary code)") from None
        raise CheckpointError(f"{path}: corrupt array {name!r} ({error})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint: cannot read {name!r} "
                              f"({error})") from None


def _read_manifest(archive, path):
    if _MANIFEST not in archive.files:
        raise CheckpointError(f"{path}: not a microtensor checkpoint: an .npz without a "
                              f"microtensor manifest (read plain .npz files with numpy.load)")
    raw = _read_member(archive, _MANIFEST, path)
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "root" not in manifest:
        raise CheckpointError(f"{path}: not a microtensor checkpoint: unknown manifest format")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {manifest.get('version')} is not "
                              f"supported (this microtensor reads version {VERSION})")
    return manifest
