"""The default text corpus, available offline wherever Python is, and loading a user's text file.

The default corpus is the English text of Python's own language reference, which CPython ships in
the standard library as ``pydoc_data.topics`` (what ``help("if")`` prints): about 460,000
characters of prose with some code, the same on every machine with the same Python version. If a
stripped-down Python lacks ``pydoc_data``, the fallback is the docstrings of standard-library
modules (about half the size, ~230,000 characters, still English prose). Either way nothing is downloaded.

Example:
    >>> from rnn.corpus import default_corpus
    >>> text, source = default_corpus()
    >>> len(text) > 50_000, source in ("pydoc_data.topics", "stdlib docstrings")
    (True, True)
"""
import os
import stat

__all__ = ["default_corpus", "load_text", "split_text", "TextFileError"]


class TextFileError(ValueError):
    """A text file that cannot serve as a corpus (missing, empty, binary, undecodable)."""


# Stdlib modules whose docstrings form the fallback corpus; all pure-Python and always present.
_FALLBACK_MODULES = ("builtins", "os", "re", "json", "collections", "itertools", "functools",
                     "pathlib", "argparse", "logging", "unittest", "typing", "datetime",
                     "decimal", "fractions", "random", "statistics", "string", "textwrap",
                     "subprocess", "threading", "email", "http.client", "urllib.parse",
                     "inspect", "dataclasses", "enum", "abc", "contextlib", "heapq", "bisect")


def _pydoc_topics_text():
    from pydoc_data.topics import topics
    # Sorted by topic name so the text (and every result trained on it) is reproducible.
    return "\n\n".join(topics[name].strip() for name in sorted(topics)) + "\n"


def _docstrings_text():
    import importlib
    import inspect
    import warnings
    with warnings.catch_warnings():
        # Touching deprecated attributes (e.g. typing.io) warns; we only read docstrings.
        warnings.simplefilter("ignore")
        return _collect_docstrings(importlib, inspect)


def _collect_docstrings(importlib, inspect):
    parts = []
    for module_name in _FALLBACK_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        doc = inspect.getdoc(module)
        if doc:
            parts.append(doc)
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            doc = inspect.getdoc(getattr(module, name, None))
            # Keep substantial docstrings only; one-liners are mostly signatures.
            if doc and len(doc) > 200 and doc not in parts:
                parts.append(doc)
    return "\n\n".join(parts) + "\n"


def default_corpus(prefer="pydoc_data"):
    """The default training text and where it came from.

    Args:
        prefer: ``"pydoc_data"`` (Python's language reference, the default) or ``"docstrings"``
            (standard-library docstrings, also the automatic fallback when ``pydoc_data`` is
            missing).

    Returns: ``(text, source)`` with ``source`` either ``"pydoc_data.topics"`` or
    ``"stdlib docstrings"``.

    Example:
        >>> text, source = default_corpus(prefer="docstrings")
        >>> source, len(text) > 50_000
        ('stdlib docstrings', True)
    """
    if prefer not in ("pydoc_data", "docstrings"):
        raise ValueError(f"prefer must be 'pydoc_data' or 'docstrings', got {prefer!r}")
    if prefer == "pydoc_data":
        try:
            return _pydoc_topics_text(), "pydoc_data.topics"
        except ImportError:
            pass
    return _docstrings_text(), "stdlib docstrings"


def load_text(path, min_chars=2, encoding=None, max_bytes=None):
    """Read a text file for training, refusing what is not a readable text file with a clear error.

    Checked before anything is read: the path is a regular file (a FIFO, device or folder is
    refused without being opened, so nothing blocks), readable, and no larger than ``max_bytes``.
    Then the bytes are decoded: with ``encoding`` given, strictly in it; without, as UTF-8 (a BOM
    is skipped), or as Latin-1 when the file is not UTF-8 but nearly all its bytes are printable
    text. A file with NUL characters counts as binary.

    Raises :class:`TextFileError` (a ``ValueError``) naming the file and the problem.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "t.txt")
        >>> _ = open(path, "w", encoding="utf-8").write("hello")
        >>> load_text(path)
        'hello'
        >>> _ = open(path, "wb").write("caf\u00e9".encode("cp1252"))
        >>> load_text(path, encoding="cp1252")
        'café'
    """
    path = os.fspath(path)
    raw = _read_regular_file(path, max_bytes)
    if len(raw) == 0:
        raise TextFileError(f"text file {path!r} is empty; give a file with some text in it")
    text = _decode(raw, path, encoding)
    if "\x00" in text[:1 << 20]:
        raise TextFileError(f"{path!r} looks like a binary file (it contains NUL bytes); "
                            f"give a plain text file")
    if len(text) < min_chars:
        raise TextFileError(f"text file {path!r} has {len(text)} character(s); at least "
                            f"{min_chars} are needed")
    return text


def _read_regular_file(path, max_bytes):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TextFileError(f"text file {path!r} does not exist") from None
    except OSError as error:
        raise TextFileError(f"cannot read text file {path!r}: {error.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise TextFileError(f"{path!r} is a directory; give a text file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise TextFileError(f"{path!r} is {kind}; the whole text is read before training, so "
                            f"give a regular file (save the stream to a file first)")
    if max_bytes is not None and st.st_size > max_bytes:
        raise TextFileError(f"text file {path!r} has {st.st_size:,} bytes, more than the "
                            f"{max_bytes:,} that fit in memory here")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise TextFileError(f"cannot read text file {path!r}: {error.strerror}") from None


def _decode(raw, path, encoding):
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except LookupError:
            raise TextFileError(f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as error:
            raise TextFileError(f"{path!r} is not {encoding} text ({error.reason} at byte "
                                f"{error.start}); give the file's encoding with --encoding") \
                from None
    if b"\x00" in raw[:1 << 20]:
        raise TextFileError(f"{path!r} looks like a binary file (it contains NUL bytes); "
                            f"give a plain UTF-8 text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = raw.decode("latin-1")
        printable = sum(c.isprintable() or c in "\n\r\t" for c in text[:100_000])
        if printable < 0.95 * min(len(text), 100_000):
            raise TextFileError(f"{path!r} is not UTF-8 text ({error.reason} at byte "
                                f"{error.start}) and looks binary; give a plain text file, or "
                                f"its encoding with --encoding") from None
        return text


def split_text(text, valid_fraction=0.05):
    """Split a text into training and held-out parts (the held-out part is the end).

    Example:
        >>> split_text("abcdefghij", valid_fraction=0.2)
        ('abcdefgh', 'ij')
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    cut = len(text) - int(round(len(text) * valid_fraction))
    return text[:cut], text[cut:]
