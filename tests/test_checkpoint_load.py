"""Loading hostile checkpoints (issue 13): limits checked before reading, a manifest that lies is
never believed, every failure a CheckpointError naming the file, FIFOs refused without blocking."""
import os
import struct
import threading
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import microtensor as mt
from microtensor.serialize import CheckpointError
from tests.checkpoint_files import (MANIFEST, array_node, dict_node, manifest_bytes, npy_bytes,
                                    write_checkpoint)


def refused(path, match, **limits):
    with pytest.raises(CheckpointError, match=match) as info:
        mt.load(path, **limits)
    assert str(info.value).startswith(str(path) + ": ")           # names the file first
    return str(info.value)


def npy_header(dtype, shape):
    """Just the header of a .npy file declaring ``dtype`` and ``shape`` (no data)."""
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()                    # numpy writes the magic string too


# ----- limits before reading ---------------------------------------------------------------------
def test_small_file_expanding_to_300_mb_is_refused_before_reading(tmp_path):
    """A 0.3 MB file whose member inflates to 300 MB: the header is compared first."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST + ".npy", manifest_bytes(array_node(shape=(3,))))
        z.writestr("a0.npy", npy_bytes(np.zeros(300 * 2 ** 20 // 8)))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        refused(path, r"array 'a0' is float64\(39321600,\), the manifest says float64\(3,\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20                                       # nothing near 300 MB was read


def test_declared_size_over_max_bytes_is_refused_before_reading(tmp_path):
    path = write_checkpoint(tmp_path / "big.npz", array_node(shape=(1000,)),
                            {"a0": np.zeros(1000)})
    refused(path, r"declares 8,000 bytes of arrays, over the limit of 4,000 bytes \(pass a "
                  r"larger max_bytes", max_bytes=4000)
    assert mt.load(path, max_bytes=8000).shape == (1000,)       # the limit is adjustable


def test_npy_header_declaring_a_terabyte_is_a_checkpoint_error_not_memory_error(tmp_path):
    """10^12 float64 declared, 24 bytes of data: refused by the limit, naming the file."""
    path = tmp_path / "tera.npz"
    write_checkpoint(path, array_node(shape=(10 ** 12,)),
                     {"a0": npy_header("<f8", (10 ** 12,)) + b"\0" * 24})
    message = refused(path, r"declares 8,000,000,000,000 bytes of arrays, over the limit")
    assert "tera.npz" in message
    # and when only the member's header lies (the manifest says 3 floats):
    write_checkpoint(path, array_node(shape=(3,)),
                     {"a0": npy_header("<f8", (10 ** 12,)) + b"\0" * 24})
    refused(path, r"array 'a0' is float64\(1000000000000,\), the manifest says float64\(3,\)")


def test_100_mb_of_json_whitespace_in_the_manifest_is_refused(tmp_path):
    path = tmp_path / "spaces.npz"
    text = b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "none"}' + \
        b" " * (100 * 2 ** 20) + b"}"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST + ".npy", npy_bytes(np.frombuffer(text, dtype=np.uint8)))
    assert path.stat().st_size < 1 << 20
    refused(path, r"array '__microtensor_manifest__' declares 104,857,673 bytes .* over the limit "
                  r"of 67,108,864 bytes \(pass a larger max_manifest_bytes")


def test_member_whose_zip_sizes_lie_is_refused(tmp_path):
    """A stored member declaring more bytes than it holds is refused from the zip index."""
    path = tmp_path / "sizes.npz"
    write_checkpoint(path, array_node(shape=(3,)), {"a0": np.zeros(3)})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")                       # the last member's index entry
    struct.pack_into("<I", data, central + 24, 10 ** 9)        # its uncompressed size
    path.write_bytes(bytes(data))
    refused(path, r"(declares 1,000,000,000 bytes from|truncated or corrupt)")


# ----- a manifest that lies ---------------------------------------------------------------------
@pytest.mark.parametrize("node, match", [
    ({"t": "int", "v": "100"}, r"at the top level: the int node holds str '100'"),
    ({"t": "bool", "v": {"a": 1}}, r"the bool node holds dict"),
    ({"t": "float", "v": "abc"}, r"a float node holds 'abc', which is not a number"),
    ({"t": "int", "v": True}, r"the int node holds bool"),
    ({"t": "str", "v": 5}, r"the str node holds int"),
    ({"t": "dict", "items": [[{"i": "abc"}, {"t": "none"}]]}, r"a dict key must be"),
    ({"t": "dict", "items": [[{"s": "a"}, {"t": "none"}, {"t": "none"}]]},
     r"a dict item must be \[key, node\]"),
    ({"t": "dict", "items": [[{"s": "a"}, {"t": "none"}], [{"s": "a"}, {"t": "none"}]]},
     r"dict key 'a' appears twice"),
    ({"t": "list", "items": {"0": {"t": "none"}}}, r"the items of a list node are"),
    ({"t": "none", "v": 1}, r"a none node has keys \['v'\], expected \[\]"),
    ({"t": "pickle"}, r"not a node"),
    (dict_node(x=array_node(dtype="<U3", shape=(2,))), r"at x: dtype '<U3' is not a bool"),
    (dict_node(x=array_node(dtype="<M8[s]", shape=(2,))), r"dtype '<M8\[s\]' is not a bool"),
    (dict_node(x=array_node(dtype="|S4", shape=(2,))), r"dtype '\|S4' is not a bool"),
    (dict_node(x=array_node(shape=(-1,))), r"shape \[-1\] is not a list"),
    (dict_node(x=array_node(kind="scalar", shape=(3,))), r"a scalar node has shape \[3\]"),
    (dict_node(x=array_node(ref="../../etc/passwd")), r"array reference .* is not of the form"),
])
def test_manifest_nodes_that_lie_are_refused(tmp_path, node, match):
    path = write_checkpoint(tmp_path / "lie.npz", node, {"a0": np.zeros(3)}
                            if "a0" in repr(node) else {})
    refused(path, "corrupt manifest: .*" + match)


def test_scalar_node_pointing_at_an_array_is_refused(tmp_path):
    path = write_checkpoint(tmp_path / "s.npz", array_node(kind="scalar", shape=()),
                            {"a0": np.zeros(3)})
    refused(path, r"array 'a0' is float64\(3,\), the manifest says float64\(\)")


def test_text_and_datetime_members_are_refused_even_when_the_manifest_says_float(tmp_path):
    for bad in (np.array(["abc", "de"]), np.array(["2020-01-01"], dtype="datetime64[s]")):
        path = write_checkpoint(tmp_path / "t.npz", array_node(shape=bad.shape),
                                {"a0": bad})
        refused(path, r"array 'a0' is (<U3|datetime64\[s\]).*the manifest says float64")


def test_two_entries_naming_one_member_are_refused(tmp_path):
    """Loaded entries never share an array: a manifest that reuses a member is corrupt."""
    root = dict_node(w=array_node(), tied=array_node())
    path = write_checkpoint(tmp_path / "tied.npz", root, {"a0": np.ones(3)})
    refused(path, r"at tied: array 'a0' is named by two entries")


def test_every_member_must_be_named_by_the_manifest(tmp_path):
    path = write_checkpoint(tmp_path / "extra.npz", {"t": "none"}, {"a7": np.ones(3)})
    refused(path, r"member 'a7' is not named by the manifest")
    path = write_checkpoint(tmp_path / "missing.npz", array_node(), {})
    refused(path, r"array 'a0' listed in the manifest is missing from the archive")


def test_loaded_arrays_are_writable_and_never_shared(tmp_path):
    w = np.arange(4.0)
    mt.save({"w": w, "same_again": w, "t": mt.tensor(w)}, tmp_path / "c.npz")
    back = mt.load(tmp_path / "c.npz")
    back["w"][0] = 99.0
    assert back["same_again"][0] == 0.0 and back["t"].data[0] == 0.0
    assert not np.shares_memory(back["w"], back["same_again"])


# ----- raw Python errors become CheckpointErrors -------------------------------------------------
def test_member_stored_as_raw_json_is_a_checkpoint_error(tmp_path):
    raw = b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "none"}}'
    path = write_checkpoint(tmp_path / "raw.npz", raw)
    refused(path, r"truncated or corrupt checkpoint: cannot read '__microtensor_manifest__'")
    path = write_checkpoint(tmp_path / "raw2.npz", array_node(), {"a0": b'[1.0, 2.0, 3.0]'})
    refused(path, r"cannot read 'a0'")


@pytest.mark.parametrize("text, match", [
    (b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "dict", "items": '
     b'[[{"i": Infinity}, {"t": "none"}]]}}', r"Infinity is not JSON"),
    (b'{"format": "microtensor-checkpoint", "version": 1, "root": {"t": "int", "v": ' +
     b"7" * 5000 + b"}}", r"an integer of 5,000 digits"),
    (b'{"format": "microtensor-checkpoint", "version": 1, "root": ' + b"[" * 100_000 +
     b"]" * 100_000 + b"}", r"nested deeper than Python can parse"),
    (b'{"format": "microtensor-checkpoint", "format": "x", "version": 1, "root": {"t": "none"}}',
     r"an object repeats a key"),
    (b'\xff\xfe not utf-8', r"'utf-8' codec can't decode"),
])
def test_manifest_json_that_python_cannot_take_is_a_checkpoint_error(tmp_path, text, match):
    path = write_checkpoint(tmp_path / "j.npz", npy_bytes(np.frombuffer(text, dtype=np.uint8)))
    refused(path, "corrupt manifest: " + match)


def test_deep_but_parseable_nesting_is_refused_by_the_schema(tmp_path):
    node = {"t": "none"}
    for _ in range(150):
        node = {"t": "list", "items": [node]}
    path = write_checkpoint(tmp_path / "deep.npz", node)
    refused(path, r"nested more than 100 levels deep")


def test_unknown_zip_compression_method_is_a_checkpoint_error(tmp_path):
    path = write_checkpoint(tmp_path / "lzma.npz", {"t": "none"}, compression=zipfile.ZIP_LZMA)
    refused(path, r"uses zip compression method 14; a checkpoint uses only stored")
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.index(signature)
        struct.pack_into("<H", data, at + offset, 99)           # a method nobody implements
    path.write_bytes(bytes(data))
    refused(path, r"compression method 99")


def test_corrupt_deflate_stream_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST + ".npy", manifest_bytes({"t": "none"}))
    data = bytearray(path.read_bytes())
    start = 30 + len(MANIFEST + ".npy")
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"z\.npz: truncated or corrupt"):
        mt.load(path)
    assert zlib  # the zlib error is what zipfile raised underneath


# ----- non-regular files -------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "ckpt.npz"
    os.mkfifo(fifo)
    outcome = {}

    def attempt():
        try:
            mt.load(fifo)
        except CheckpointError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():                     # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("mt.load blocked on a FIFO")
    assert outcome["error"].startswith(f"{fifo}: it is not a regular file (a FIFO")


def test_directory_and_missing_file(tmp_path):
    refused(tmp_path, r"it is a directory, not a checkpoint file")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        mt.load(tmp_path / "missing.npz")
