"""Safe checkpoints: ``save(obj, path)`` and ``load(path)``, an ``.npz`` that never holds a pickle.

A checkpoint is a tree of dicts (str or int keys), lists, tuples, arrays, tensors, numbers,
strings, booleans and None: a model's ``state_dict()``, an optimizer's, a step counter, a
vocabulary. Arrays are stored as ``.npy`` members of a zip (``numpy.savez``); the shape of the tree
and every scalar are stored in a JSON manifest member whose schema is
:mod:`microtensor.checkpoint_schema` (and docs/checkpoints.md). Nothing is ever unpickled.

Saving is atomic (:func:`microtensor.atomic.atomic_write`: a crash leaves the old checkpoint or
the new one, never half of one), writes through a symlink to its target, keeps the target's
permission bits, and refuses before writing anything what would not come back exactly: objects,
masked, text or object arrays, cycles, nesting deeper than ``MAX_DEPTH``.

Loading checks before anything big is read: the file must be a regular file (a FIFO is refused,
not waited on); the manifest is read under a size limit and checked node by node against the
schema; every member must be one the manifest names, with the dtype and shape it says, and the
declared sizes must fit ``max_bytes``. Every failure is a :class:`CheckpointError` naming the file
and the problem. No two entries of a loaded checkpoint share an array.

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

import numpy as np

from .atomic import atomic_write
from .checkpoint_archive import Archive, ArchiveError
from .checkpoint_schema import (FORMAT, MAX_DEPTH, MAX_INT_DIGITS, VERSION, ManifestError, build,
                                check, declared_bytes, encode)
from .errors import MicrotensorError

__all__ = ["save", "load", "is_checkpoint", "CheckpointError", "MAX_BYTES", "MAX_MANIFEST_BYTES",
           "MAX_DEPTH"]

_MANIFEST = "__microtensor_manifest__"
MAX_BYTES = 4 << 30
"""Default limit of :func:`load` on the arrays' data (4 GiB), declared and read."""
MAX_MANIFEST_BYTES = 64 << 20
"""Default limit of :func:`load` on the JSON manifest (64 MiB: a million-entry vocabulary)."""


class CheckpointError(MicrotensorError, ValueError):
    """A checkpoint cannot be read; the message names the file and the problem.

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


# ----- writing ----------------------------------------------------------------------------------
def _write_archive(fileobj, arrays):
    """Write the members to an open binary file (a separate function so tests can break it)."""
    np.savez(fileobj, **arrays)


def save(obj, path):
    """Write ``obj`` (nested dicts/lists of arrays, tensors, numbers, strings) to ``path`` atomically.

    The file is complete or absent: it is written to a temporary file beside the target, fsync'ed
    and renamed over it; if anything fails the temporary file is removed and an existing
    checkpoint is untouched. ``path`` is used as given (no suffix is added); a symlink is written
    through to its target; an existing file keeps its permission bits. Temporary files left by a
    killed save of the same target are removed.

    Raises:
        TypeError: something that would need pickle, or would not load back as it is (objects,
            modules, object/text/datetime arrays, masked arrays, ndarray subclasses).
        ValueError: a cycle (a list containing itself), nesting deeper than ``MAX_DEPTH``, an int
            of more than ``MAX_INT_DIGITS`` digits.
        FileNotFoundError: the folder does not exist. IsADirectoryError: ``path`` is a folder.

    Example:
        >>> import os, tempfile, microtensor as mt
        >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
        >>> mt.save({"weights": [mt.ones(2)], "lr": 0.1}, path)
        >>> mt.load(path)["lr"]
        0.1
    """
    path = os.fspath(path)
    root, arrays = encode(obj)                      # every refusal happens here, before writing
    manifest = {"format": FORMAT, "version": VERSION, "root": root}
    text = json.dumps(manifest, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    arrays[_MANIFEST] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: _write_archive(f, arrays))


# ----- reading ----------------------------------------------------------------------------------
def load(path, max_bytes=MAX_BYTES, max_manifest_bytes=MAX_MANIFEST_BYTES):
    """Read a checkpoint written by :func:`save`; never unpickles anything.

    Arrays come back as ndarrays (same dtype and shape, each its own buffer), tensors as tensors,
    tuples as tuples.

    Args:
        path: the file (a regular file; FIFOs and devices are refused without waiting).
        max_bytes: the most the arrays may take in total (default :data:`MAX_BYTES`, 4 GiB).
        max_manifest_bytes: the most the JSON manifest may take (default 64 MiB).

    Raises:
        FileNotFoundError, PermissionError: the file is missing or unreadable.
        CheckpointError: the file is not a regular file, not a microtensor checkpoint, truncated,
            corrupt, inconsistent with its manifest, over a limit, or holds a pickled object array
            (the message names the file and the problem).

    Example:
        >>> import os, tempfile, numpy as np, microtensor as mt
        >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
        >>> mt.save({"x": np.arange(3), "nested": {"ok": True, 7: (1.5, None)}}, path)
        >>> mt.load(path)
        {'x': array([0, 1, 2]), 'nested': {'ok': True, 7: (1.5, None)}}
    """
    path = os.fspath(path)
    try:
        with Archive(path, max_bytes=max_bytes) as archive:
            return _load(archive, path, int(max_bytes), int(max_manifest_bytes))
    except ArchiveError as error:
        raise CheckpointError(f"{path}: {error}") from None


def is_checkpoint(path):
    """True if ``path`` is a regular file holding a microtensor checkpoint's archive (its zip
    index names the manifest). Reads only the index: a quick test before replacing a file.

    Example:
        >>> import os, tempfile, microtensor as mt
        >>> folder = tempfile.mkdtemp()
        >>> mt.save({"a": 1}, os.path.join(folder, "c.npz"))
        >>> is_checkpoint(os.path.join(folder, "c.npz")), is_checkpoint(folder)
        (True, False)
    """
    try:
        with Archive(os.fspath(path), max_bytes=0) as archive:
            return _MANIFEST in archive.member_names()
    except (ArchiveError, OSError):
        return False


def _load(archive, path, max_bytes, max_manifest_bytes):
    names = archive.member_names()
    if _MANIFEST not in names:
        raise CheckpointError(f"{path}: not a microtensor checkpoint: an .npz without a "
                              f"microtensor manifest (read plain .npz files with numpy.load)")
    raw = archive.read_array(_MANIFEST, (np.dtype("|u1"), None), limit=max_manifest_bytes,
                             limit_name="max_manifest_bytes")
    manifest = _parse_manifest(raw, path)
    try:
        specs = check(manifest, MAX_DEPTH)
    except ManifestError as error:
        raise CheckpointError(f"{path}: corrupt manifest: {error}") from None
    unnamed = [n for n in names if n != _MANIFEST and n not in specs]
    if unnamed:
        raise CheckpointError(f"{path}: corrupt checkpoint: member {unnamed[0]!r} is not named "
                              f"by the manifest")
    total = sum(declared_bytes(spec) for spec in specs.values())
    if total > max_bytes:
        raise CheckpointError(f"{path}: the manifest declares {total:,} bytes of arrays, over the "
                              f"limit of {max_bytes:,} bytes (pass a larger max_bytes to load it)")
    arrays = {ref: archive.read_array(ref, spec) for ref, spec in specs.items()}
    return build(manifest["root"], arrays)


def _parse_int(digits):
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits):,} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON (a float is stored as a string)")


def _object_without_duplicates(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"an object repeats a key ({sorted(keys)})")
    return dict(pairs)


def _parse_manifest(raw, path):
    try:
        text = raw.tobytes().decode("utf-8")
        return json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant,
                          object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise CheckpointError(f"{path}: corrupt manifest: nested deeper than Python can parse "
                              f"(a checkpoint is at most {MAX_DEPTH} levels deep)") from None
    except ValueError as error:      # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"{path}: corrupt manifest: {error}") from None
