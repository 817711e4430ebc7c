"""One way to write a file so that a crash never leaves it half-written: :func:`atomic_write`.

The data goes to a temporary file in the target's own folder (so the final rename never crosses
a file system), is flushed and fsync'ed, gets the permission bits the file should have, and is
renamed over the target with ``os.replace``; then the folder is fsync'ed so the rename itself
survives a power cut. Readers see the old file or the new one, never a mixture.

What the user set up is kept:

* **Symbolic links are written through**: when ``path`` is a symlink (or lies in a symlinked
  folder) the file it points to is replaced and the link stays a link, as ``open(path, "w")``
  would do. A dangling link creates its target.
* **Permission bits are kept**: re-saving a ``chmod 600`` file leaves it 0600; a new file gets
  ``0666 & ~umask`` like any file the user creates.
* **Nothing that is not a regular file is replaced**: a folder, FIFO, socket or device at
  ``path`` is refused before anything is written.

A process killed mid-write (``kill -9``, power cut) cannot remove its temporary file. The name of
a temporary file records the writer's process id, ``.<name>.<pid>.<random>.tmp``, and every
successful write removes the temporary files *of the same target* whose writer is no longer
running. Files of other targets and of writers still running (two processes saving to one path)
are never touched.

Example:
    >>> import os, tempfile
    >>> from microtensor.atomic import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(path, "hello") == path, open(path).read()
    (True, 'hello')
    >>> os.chmod(path, 0o600)
    >>> _ = atomic_write(path, b"again")
    >>> oct(os.stat(path).st_mode & 0o777), open(path).read()
    ('0o600', 'again')
"""
import os
import re
import secrets
import stat

__all__ = ["atomic_write", "temporary_files"]

_SUFFIX = ".tmp"


def _prefix(name, pid):
    return f".{name}.{pid}."


def _pattern(name):
    # The random part is 8 hex digits; anchored so that the temporary files of "a.npz" never
    # match those of "a.npz.1" or "b.npz".
    return re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}{re.escape(_SUFFIX)}\Z")


def temporary_files(path):
    """The temporary files :func:`atomic_write` made for ``path`` (finished or not), as paths.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> temporary_files(os.path.join(folder, "ckpt.npz"))
        []
    """
    target = _resolve(os.fspath(path))
    folder, name = os.path.split(target)
    pattern = _pattern(name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, e) for e in entries if pattern.match(e))


def _process_is_gone(pid):
    """True only when no process ``pid`` exists (on POSIX; elsewhere never claim it is gone)."""
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)                 # signal 0: existence check, nothing is sent
    except ProcessLookupError:
        return True
    except OSError:                     # EPERM: it exists and belongs to someone else
        return False
    return False


def _remove_stale(target):
    pattern = _pattern(os.path.basename(target))
    for tmp in temporary_files(target):
        pid = int(pattern.match(os.path.basename(tmp)).group(1))
        if pid != os.getpid() and _process_is_gone(pid):
            try:
                os.unlink(tmp)
            except OSError:             # someone else removed it first, or no permission
                pass


def _resolve(path):
    """The file to replace: ``path`` with every symbolic link followed (also a dangling one)."""
    return os.path.realpath(path)


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _mode_for(target, path):
    """The permission bits the new file gets; refuses a target that is not a regular file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return _default_mode()
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"cannot write {path!r}: it is a directory (give a file path)")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"cannot write {path!r}: it is not a regular file (a FIFO, socket or "
                      f"device); refusing to replace it")
    return stat.S_IMODE(st.st_mode)


def atomic_write(path, data, make_dirs=False):
    """Write ``data`` to ``path`` atomically; returns ``path``.

    Args:
        path: the file to write (str or path-like). A symlink is written through to its target.
        data: ``bytes``, ``str`` (written as UTF-8) or a function ``write(fileobj)`` that writes
            the content to an open binary file.
        make_dirs: create missing parent folders (else a missing folder is an error).

    Raises:
        FileNotFoundError: the folder does not exist (and ``make_dirs`` is false).
        IsADirectoryError / OSError: ``path`` is a folder, FIFO, socket or device.
        Whatever ``write`` or the disk raises (e.g. ``OSError: No space left on device``); in
        every case the temporary file is removed and the file at ``path`` is untouched.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "a", "b.bin")
        >>> _ = atomic_write(path, lambda f: f.write(b"\\x00\\x01"), make_dirs=True)
        >>> open(path, "rb").read()
        b'\\x00\\x01'
    """
    path = os.fspath(path)
    target = _resolve(path)
    folder, name = os.path.split(target)
    if make_dirs:
        os.makedirs(folder, exist_ok=True)
    elif not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: folder {folder!r} does not exist")
    mode = _mode_for(target, path)
    # The name is chosen before the file exists, so that an interrupt (Ctrl-C) landing anywhere,
    # even between creating the file and learning its name, is cleaned up by name below.
    tmp = os.path.join(folder, f"{_prefix(name, os.getpid())}{secrets.token_hex(4)}{_SUFFIX}")
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o600)
        except FileExistsError:         # 32 random bits and our pid taken: not ours to remove
            tmp = None
            raise
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else bytes(data))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    _fsync_folder(folder)
    _remove_stale(target)
    return path


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
