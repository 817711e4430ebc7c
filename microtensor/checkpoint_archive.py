"""Reading a checkpoint's zip archive with limits: nothing is read before it is known to fit.

:class:`Archive` opens the file without blocking and only if it is a regular file (a FIFO named
``ckpt.npz`` would otherwise block forever), lists the zip's members and refuses unknown
compression methods, encryption, duplicate names and declared sizes over the limit, all from the
zip's index. :meth:`Archive.read_array` then parses a member's ``.npy`` header, compares dtype,
shape and the member's declared size with what the manifest says, and only then reads exactly
that many bytes, in pieces, into the array's own buffer (the zip's CRC is checked at the end).
So a small file that declares or expands to something huge costs nothing.

Every problem is raised as :class:`ArchiveError` (a ``ValueError``) with a sentence; the caller
adds the file name. Nothing here unpickles: the ``.npy`` data is read as raw bytes into a NumPy
buffer of a dtype the schema allows.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> np.savez(path, a0=np.arange(3.0))
    >>> with Archive(path, max_bytes=1000) as archive:
    ...     archive.read_array("a0", (np.dtype("<f8"), (3,)))
    array([0., 1., 2.])
"""
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

__all__ = ["Archive", "ArchiveError", "MEMBER_SUFFIX"]

MEMBER_SUFFIX = ".npy"
_CHUNK = 1 << 20
# Deflate cannot expand data more than ~1032:1; a member declaring more is lying.
_MAX_DEFLATE_RATIO = 1100
_NPY_HEADER_LIMIT = 10_000
# What can go wrong while parsing a damaged zip or .npy: zipfile, zlib and NumPy's header parser
# raise these for truncated or flipped bytes. They are turned into one sentence each.
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
           struct.error, NotImplementedError, UnicodeDecodeError, OverflowError, KeyError,
           IndexError, TypeError, SyntaxError, RuntimeError)


class ArchiveError(ValueError):
    """The archive is damaged, foreign or over a limit; the message says which."""


def _open_regular_file(path):
    """Open ``path`` for reading only if it is a regular file, never blocking (FIFOs)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)           # FileNotFoundError / PermissionError name the file
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ArchiveError("it is a directory, not a checkpoint file")
        if not stat.S_ISREG(mode):
            raise ArchiveError("it is not a regular file (a FIFO, socket or device); a "
                               "checkpoint is read from a regular file only")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class Archive:
    """A checkpoint's zip archive, opened for bounded reading (a context manager).

    Args:
        path: the file.
        max_bytes: the most the arrays' data may take in total, as declared and as read.
    """

    def __init__(self, path, max_bytes):
        self.max_bytes = int(max_bytes)
        self._file = _open_regular_file(path)
        try:
            head = self._file.read(4)
            if head != b"PK\x03\x04":
                raise ArchiveError("not a microtensor checkpoint: it is not a zip/.npz archive "
                                   "(wrong format, or truncated to nothing)")
            self._file.seek(0)
            try:
                self._zip = zipfile.ZipFile(self._file)
                self.members = self._index(self._zip.infolist())
            except ArchiveError:
                raise
            except _DAMAGE as error:
                raise ArchiveError(f"truncated or corrupt checkpoint: the archive's index is "
                                   f"missing or damaged, as when a file is cut short "
                                   f"({type(error).__name__}: {error})") from None
        except BaseException:
            self._file.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    def _index(self, infos):
        members = {}
        for info in infos:
            name = info.filename
            if name in members:
                raise ArchiveError(f"the archive holds two members named {name!r}")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ArchiveError(f"member {name!r} uses zip compression method "
                                   f"{info.compress_type}; a checkpoint uses only stored (0) or "
                                   f"deflate (8)")
            limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
                info.compress_size * _MAX_DEFLATE_RATIO + 1024
            if info.file_size > limit:
                raise ArchiveError(f"member {name!r} declares {info.file_size:,} bytes from "
                                   f"{info.compress_size:,} compressed: its sizes are damaged")
            members[name] = info
        return members

    def member_names(self):
        """The members' names without the ``.npy`` suffix (in archive order)."""
        return [n[:-len(MEMBER_SUFFIX)] if n.endswith(MEMBER_SUFFIX) else n for n in self.members]

    def declared_size(self, name):
        """The uncompressed size the zip index declares for member ``name``."""
        return self.members[name + MEMBER_SUFFIX].file_size

    def read_array(self, name, spec, limit=None, limit_name="max_bytes"):
        """Read member ``name`` as an array of ``spec = (dtype, shape)``, checking the ``.npy``
        header against it before reading the data; ``limit`` caps the data bytes (default
        ``max_bytes``). A shape of None accepts a 1-D array of any length (the manifest)."""
        dtype, shape = spec
        limit = self.max_bytes if limit is None else limit
        info = self.members.get(name + MEMBER_SUFFIX)
        if info is None:
            raise ArchiveError(f"array {name!r} listed in the manifest is missing from the archive")
        try:
            with self._zip.open(info) as member:
                return self._read_npy(member, info, name, dtype, shape, limit, limit_name)
        except ArchiveError:
            raise
        except _DAMAGE as error:
            raise ArchiveError(f"truncated or corrupt checkpoint: cannot read {name!r} "
                               f"({type(error).__name__}: {error})") from None

    def _read_npy(self, member, info, name, dtype, shape, limit, limit_name):
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(member, max_header_size=_NPY_HEADER_LIMIT)
        elif version in ((2, 0), (3, 0)):
            header = np.lib.format.read_array_header_2_0(member, max_header_size=_NPY_HEADER_LIMIT)
        else:
            raise ArchiveError(f"member {name!r} has .npy format version {version}")
        found_shape, fortran_order, found_dtype = header
        if found_dtype.kind == "O" or found_dtype.hasobject:
            raise ArchiveError(f"member {name!r} is a pickled object array; refusing to load it "
                               f"(unpickling can run arbitrary code)")
        if shape is None and len(found_shape) == 1:     # the manifest: bytes of any length
            shape = tuple(found_shape)
        if shape is None or (found_dtype.str, tuple(found_shape)) != (dtype.str, tuple(shape)):
            wanted = "a 1-D array" if shape is None else f"{dtype}{tuple(shape)}"
            raise ArchiveError(f"corrupt checkpoint: array {name!r} is {found_dtype}"
                               f"{tuple(found_shape)}, the manifest says {wanted}")
        size = dtype.itemsize * math.prod(shape)
        if size > limit:
            raise ArchiveError(f"array {name!r} declares {size:,} bytes ({dtype}{tuple(shape)}), "
                               f"over the limit of {limit:,} bytes (pass a larger {limit_name} "
                               f"to load it)")
        header_size = member.tell()
        if info.file_size != header_size + size:
            raise ArchiveError(f"corrupt checkpoint: member {name!r} declares "
                               f"{info.file_size:,} bytes, its header says {header_size + size:,}")
        buffer = bytearray(size)
        view, done = memoryview(buffer), 0
        while done < size:
            piece = member.read(min(_CHUNK, size - done))
            if not piece:
                raise ArchiveError(f"truncated or corrupt checkpoint: array {name!r} ends after "
                                   f"{done:,} of {size:,} bytes")
            view[done:done + len(piece)] = piece
            done += len(piece)
        if member.read(1):              # reaching the end makes zipfile check the CRC
            raise ArchiveError(f"corrupt checkpoint: array {name!r} has data past its end")
        order = "F" if fortran_order else "C"
        return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)
