"""The checkpoint manifest: a tree of typed JSON nodes, written by :func:`encode`, checked by
:func:`check` and turned back into Python objects by :func:`build`.

The manifest is the JSON object ``{"format": "microtensor-checkpoint", "version": 1, "root":
NODE}``. Every node is a JSON object whose ``"t"`` names its kind and whose other keys are exactly
the ones listed (no more, no fewer; docs/checkpoints.md is the same table in prose):

======== ============================== ===================================================
``t``    other keys                     meaning
======== ============================== ===================================================
none     (none)                         ``None``
bool     ``v``: true/false              a ``bool``
int      ``v``: JSON integer            an ``int`` (at most :data:`MAX_INT_DIGITS` digits)
float    ``v``: string                  a ``float``, as ``repr`` writes it (exact; nan, inf)
str      ``v``: string                  a ``str``
array    ``ref, dtype, shape``          an ndarray stored as member ``<ref>.npy``
scalar   ``ref, dtype, shape`` (``[]``) a NumPy scalar (``np.float32(1.5)``)
tensor   ``ref, dtype, shape,           a :class:`~microtensor.Tensor`
         requires_grad``
list     ``items``: [NODE, ...]         a ``list``
tuple    ``items``: [NODE, ...]         a ``tuple``
dict     ``items``: [[KEY, NODE], ...]  a ``dict``; KEY is ``{"s": str}`` or ``{"i": int}``
======== ============================== ===================================================

``ref`` is ``a<k>`` (``k`` a decimal number); every ref names a different member, so no two
entries of a loaded checkpoint share an array. ``dtype`` is a NumPy type string (``"<f8"``,
``"|b1"``) of a bool, integer, float or complex type. Nesting is at most :data:`MAX_DEPTH` deep.

Example:
    >>> import numpy as np
    >>> root, arrays = encode({"w": np.zeros(2), "step": 3})
    >>> root["items"][1]
    [{'s': 'step'}, {'t': 'int', 'v': 3}]
    >>> specs = check({"format": FORMAT, "version": VERSION, "root": root})
    >>> specs
    {'a0': (dtype('float64'), (2,))}
    >>> build(root, arrays)
    {'w': array([0., 0.]), 'step': 3}
"""
import math
import re

import numpy as np

from .tensor import Tensor, tensor

__all__ = ["encode", "check", "build", "ManifestError", "FORMAT", "VERSION", "MAX_DEPTH",
           "MAX_INT_DIGITS"]

FORMAT = "microtensor-checkpoint"
VERSION = 1
# Deep enough for any state dict (a model's is 3-6 levels), shallow enough that no walk of a
# checked tree can come near Python's recursion limit, whatever the file says.
MAX_DEPTH = 100
# Far more than any counter or seed needs; Python refuses to parse ints above 4300 digits anyway.
MAX_INT_DIGITS = 1000
# Bool, integers, floats and complex numbers are stored and read without pickle; text, dates,
# bytes, structured and object arrays are not.
SAFE_DTYPE_KINDS = "biufc"
_DTYPE = re.compile(r"[<>|][biufc][0-9]{1,2}\Z")
_REF = re.compile(r"a(0|[1-9][0-9]{0,8})\Z")
_ARRAY_KINDS = ("array", "scalar", "tensor")
_KEYS = {"none": set(), "bool": {"v"}, "int": {"v"}, "float": {"v"}, "str": {"v"},
         "array": {"ref", "dtype", "shape"}, "scalar": {"ref", "dtype", "shape"},
         "tensor": {"ref", "dtype", "shape", "requires_grad"},
         "list": {"items"}, "tuple": {"items"}, "dict": {"items"}}


class ManifestError(ValueError):
    """The manifest breaks the schema; the message says where (``model.weight``) and how."""


def _child(where, step):
    return f"{where}{step}" if step.startswith("[") or not where else f"{where}.{step}"


def _at(where):
    return where or "the top level"


# ----- saving -----------------------------------------------------------------------------------
def encode(obj, max_depth=MAX_DEPTH):
    """The manifest node of ``obj`` and its arrays ``{ref: ndarray}``; refuses what cannot
    round-trip exactly (TypeError for a kind, ValueError for a cycle, depth or size).

    Example:
        >>> encode([1.5, None])[0]
        {'t': 'list', 'items': [{'t': 'float', 'v': '1.5'}, {'t': 'none'}]}
    """
    arrays = {}
    return _encode(obj, "", arrays, 0, max_depth, set()), arrays


def _encode(obj, where, arrays, depth, max_depth, open_containers):
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, np.generic):      # before bool/int/float: np.float64 is a float subclass
        return _encode_array(np.asarray(obj), where, arrays, "scalar")
    if isinstance(obj, bool):
        return {"t": "bool", "v": obj}
    if type(obj) is int:
        if obj.bit_length() > MAX_INT_DIGITS * 3:       # 3 bits per digit: a safe lower bound
            raise ValueError(f"save: the int at {_at(where)} has about {obj.bit_length() * 0.30103:.0f} "
                             f"digits; a checkpoint stores ints of up to {MAX_INT_DIGITS} digits")
        return {"t": "int", "v": obj}
    if type(obj) is float:
        return {"t": "float", "v": repr(obj)}           # repr round-trips exactly, NaN/Inf too
    if isinstance(obj, str):
        return {"t": "str", "v": str(obj)}
    if isinstance(obj, Tensor):
        node = _encode_array(obj.data, where, arrays, "tensor")
        node["requires_grad"] = bool(obj.requires_grad)
        return node
    if isinstance(obj, np.ndarray):
        return _encode_array(obj, where, arrays, "array")
    if isinstance(obj, (dict, list, tuple)):
        return _encode_container(obj, where, arrays, depth, max_depth, open_containers)
    hint = " (save module.state_dict() instead of the module)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {_at(where)}{hint}; a "
                    f"checkpoint holds dicts, lists, tuples, arrays, tensors, int, float, str, "
                    f"bool and None")


def _encode_container(obj, where, arrays, depth, max_depth, open_containers):
    if id(obj) in open_containers:
        raise ValueError(f"save: the {type(obj).__name__} at {_at(where)} contains itself (a "
                         f"cycle); a checkpoint stores trees only")
    if depth >= max_depth:
        raise ValueError(f"save: the structure at {_at(where)} is nested more than {max_depth} "
                         f"levels deep; a checkpoint stores at most {max_depth}")
    open_containers.add(id(obj))
    try:
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                    raise TypeError(f"save: dict key {key!r} at {_at(where)} must be a str or an "
                                    f"int, not {type(key).__name__}")
                key_node = {"s": str(key)} if isinstance(key, str) else {"i": int(key)}
                value_node = _encode(value, _child(where, str(key)), arrays, depth + 1, max_depth,
                                     open_containers)
                items.append([key_node, value_node])
            return {"t": "dict", "items": items}
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"t": kind, "items": [_encode(v, _child(where, f"[{i}]"), arrays, depth + 1,
                                             max_depth, open_containers)
                                     for i, v in enumerate(obj)]}
    finally:
        open_containers.discard(id(obj))


def _encode_array(array, where, arrays, kind):
    if isinstance(array, np.ma.MaskedArray):
        raise TypeError(f"save: the array at {_at(where)} is a masked array; its mask would be "
                        f"lost (store array.data and array.mask as two arrays)")
    if type(array) is not np.ndarray:
        raise TypeError(f"save: the array at {_at(where)} is a {type(array).__name__} (an ndarray "
                        f"subclass), which would load as a plain ndarray (store np.asarray(x))")
    if array.dtype.kind not in SAFE_DTYPE_KINDS or array.dtype.fields is not None:
        raise TypeError(f"save: the array at {_at(where)} has dtype {array.dtype}; only bool, "
                        f"integer, float and complex arrays can be stored without pickle "
                        f"(store text as str or a list of str)")
    ref = f"a{len(arrays)}"
    arrays[ref] = array
    return {"t": kind, "ref": ref, "dtype": array.dtype.str, "shape": list(array.shape)}


# ----- loading: check ---------------------------------------------------------------------------
def check(manifest, max_depth=MAX_DEPTH):
    """Validate a parsed manifest against the schema, reading no array; returns ``{ref: (dtype,
    shape)}`` of the members it names. Raises :class:`ManifestError` saying where and what.

    Example:
        >>> check({"format": FORMAT, "version": VERSION, "root": {"t": "int", "v": "100"}})
        Traceback (most recent call last):
        ...
        microtensor.checkpoint_schema.ManifestError: at the top level: the int node holds str '100'
    """
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError("not a microtensor checkpoint: unknown manifest format")
    if type(manifest.get("version")) is not int or manifest["version"] != VERSION:
        raise ManifestError(f"checkpoint format version {manifest.get('version')!r} is not "
                            f"supported (this microtensor reads version {VERSION})")
    if set(manifest) != {"format", "version", "root"}:
        raise ManifestError(f"the manifest has keys {sorted(manifest)}, expected format, "
                            f"version, root")
    specs = {}
    # Iterative, as the file decides the depth; nodes are checked in file order, so a message
    # names the first bad node.
    stack = [(manifest["root"], "", 0)]
    while stack:
        node, where, depth = stack.pop()
        stack.extend(reversed(_check_node(node, where, depth, max_depth, specs)))
    return specs


def _fail(where, problem):
    raise ManifestError(f"at {_at(where)}: {problem}")


def _check_node(node, where, depth, max_depth, specs):
    """Check one node; returns its children as ``(node, where, depth)``."""
    if depth > max_depth:
        _fail(where, f"nested more than {max_depth} levels deep")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str) or node["t"] not in _KEYS:
        _fail(where, f"not a node (expected an object whose 't' is one of {', '.join(_KEYS)}): "
                     f"{_short(node)}")
    kind = node["t"]
    extra = set(node) - {"t"}
    if extra != _KEYS[kind]:
        _fail(where, f"a {kind} node has keys {sorted(extra)}, expected {sorted(_KEYS[kind])}")
    if kind == "none":
        return ()
    if kind in ("bool", "int", "float", "str"):
        _check_value(kind, node["v"], where)
        return ()
    if kind in _ARRAY_KINDS:
        _check_array(node, where, specs)
        return ()
    items = node["items"]
    if not isinstance(items, list):
        _fail(where, f"the items of a {kind} node are {_short(items)}, not a list")
    if kind != "dict":
        return [(v, _child(where, f"[{i}]"), depth + 1) for i, v in enumerate(items)]
    children, seen = [], set()
    for item in items:
        if not isinstance(item, list) or len(item) != 2:
            _fail(where, f"a dict item must be [key, node], got {_short(item)}")
        key = _check_key(item[0], where)
        if key in seen:
            _fail(where, f"dict key {key!r} appears twice")
        seen.add(key)
        children.append((item[1], _child(where, str(key)), depth + 1))
    return children


def _check_value(kind, value, where):
    expected = {"bool": bool, "int": int, "float": str, "str": str}[kind]
    if type(value) is not expected:
        _fail(where, f"the {kind} node holds {type(value).__name__} {_short(value)}")
    if kind == "int" and value.bit_length() > MAX_INT_DIGITS * 4:
        _fail(where, f"the int node holds a number of more than {MAX_INT_DIGITS} digits")
    if kind == "float":
        try:
            if len(value) > 40:
                raise ValueError
            float(value)
        except ValueError:
            _fail(where, f"a float node holds {_short(value)}, which is not a number")


def _check_key(key_node, where):
    if isinstance(key_node, dict) and len(key_node) == 1:
        if type(key_node.get("s")) is str:
            return key_node["s"]
        if type(key_node.get("i")) is int:
            return key_node["i"]
    _fail(where, f"a dict key must be {{\"s\": string}} or {{\"i\": integer}}, got "
                 f"{_short(key_node)}")


def _check_array(node, where, specs):
    ref, dtype, shape = node["ref"], node["dtype"], node["shape"]
    if not isinstance(ref, str) or not _REF.match(ref):
        _fail(where, f"array reference {_short(ref)} is not of the form a<number>")
    if ref in specs:
        _fail(where, f"array {ref!r} is named by two entries (a checkpoint never shares arrays)")
    if not isinstance(dtype, str) or not _DTYPE.match(dtype):
        _fail(where, f"dtype {_short(dtype)} is not a bool, integer, float or complex type")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        _fail(where, f"dtype {dtype!r} is not a NumPy type")
    if np_dtype.str != dtype or np_dtype.kind not in SAFE_DTYPE_KINDS:
        _fail(where, f"dtype {dtype!r} is not a bool, integer, float or complex type")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape) \
            or len(shape) > 32:
        _fail(where, f"shape {_short(shape)} is not a list of at most 32 sizes >= 0")
    if node["t"] == "scalar" and shape:
        _fail(where, f"a scalar node has shape {shape}; a scalar's shape is []")
    if node["t"] == "tensor" and type(node["requires_grad"]) is not bool:
        _fail(where, f"requires_grad is {_short(node['requires_grad'])}, not true/false")
    specs[ref] = (np_dtype, tuple(shape))


def declared_bytes(spec):
    """Bytes the data of an array of ``(dtype, shape)`` takes (exact, no overflow).

    Example:
        >>> declared_bytes((np.dtype("<f8"), (10 ** 6, 10 ** 6)))
        8000000000000
    """
    dtype, shape = spec
    return dtype.itemsize * math.prod(shape)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----- loading: build ---------------------------------------------------------------------------
def build(node, arrays):
    """The Python object of a :func:`check`-ed node, with ``arrays`` ``{ref: ndarray}`` read
    from the archive. Recursion is safe here: ``check`` bounded the depth by ``MAX_DEPTH``.

    Example:
        >>> build({"t": "tuple", "items": [{"t": "float", "v": "nan"}]}, {})
        (nan,)
    """
    kind = node["t"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node["v"]
    if kind == "float":
        return float(node["v"])
    if kind == "scalar":
        return arrays[node["ref"]][()]
    if kind == "tensor":
        return tensor(arrays[node["ref"]], requires_grad=node["requires_grad"])
    if kind == "array":
        return arrays[node["ref"]]
    if kind == "dict":
        return {next(iter(key.values())): build(value, arrays) for key, value in node["items"]}
    items = [build(v, arrays) for v in node["items"]]
    return items if kind == "list" else tuple(items)
