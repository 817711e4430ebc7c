"""Checks a command line makes before it starts work: can the output be written, can the model fit
in memory? Each failure is a :class:`PreflightError` with one sentence for the user.

A run that trains for an hour and then cannot write its checkpoint, or that asks for a
10^9-unit hidden layer and dies in ``MemoryError``, should have been told so in the first second.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_output_file(os.path.join(folder, "ckpt.npz"), "--out") == os.path.join(folder, "ckpt.npz")
    True
    >>> try:
    ...     check_output_file(folder, "--out")
    ... except PreflightError as error:
    ...     print(str(error).split(";")[0].endswith("is a directory"))
    True
"""
import os
import stat
import tempfile

import microtensor as mt

from .conventions import CELL_KINDS

__all__ = ["PreflightError", "check_output_file", "training_bytes", "check_fits_in_memory",
           "machine_memory"]

# Extra arrays per parameter kept by each optimizer (Adam: two moments; SGD: momentum).
_OPTIMIZER_COPIES = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}


class PreflightError(ValueError):
    """A command line cannot do what it was asked; the message says why and what to change."""


def check_output_file(path, option, inputs=()):
    """Check that a checkpoint can be written at ``path`` (given as ``option``); returns ``path``.

    Refused: a folder; something that is not a regular file (FIFO, device); one of the ``inputs``
    (the training text); an existing file that is not a microtensor checkpoint (it is the user's,
    and would be replaced); a folder that cannot be created or written. Missing folders are
    created (the save would create them too).
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise PreflightError(f"{option} {path!r} is a directory; give a file name such as "
                             f"{os.path.join(path, 'charrnn.npz')!r}")
    if os.path.exists(target):
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise PreflightError(f"{option} {path!r} is not a regular file (a FIFO or device); "
                                 f"give the name of a checkpoint file")
        for other in inputs:
            if other and os.path.exists(other) and os.path.samefile(target, other):
                raise PreflightError(f"{option} {path!r} is the input file {other!r}; refusing "
                                     f"to overwrite it")
        if not mt.serialize.is_checkpoint(target):
            raise PreflightError(f"{option} {path!r} exists and is not a microtensor checkpoint; "
                                 f"refusing to replace it (move it away or choose another name)")
    folder = os.path.dirname(target)
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise PreflightError(f"{option} {path!r} cannot be written: {existing!r} is a file, not "
                             f"a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise PreflightError(f"{option} {path!r} cannot be written: {reason} "
                             f"({error.filename or folder})") from None
    return path


def training_bytes(cell, vocab_size, hidden_size, num_layers, embedding_dim, batch_size,
                   seq_len, optimizer="adam", itemsize=4):
    """A lower estimate of the memory (bytes) training a CharRNN of these sizes takes: weights,
    their gradients and the optimizer's copies, plus one chunk's gate activations and logits.

    Example:
        >>> training_bytes("lstm", 100, 10 ** 9, 2, 64, 32, 64) > 10 ** 19
        True
    """
    gates = len(CELL_KINDS[cell].gates)
    H, E, V = int(hidden_size), int(embedding_dim), int(vocab_size)
    recurrent = sum(gates * H * ((E if k == 0 else H) + H) + 2 * gates * H for k in range(num_layers))
    weights = V * E + recurrent + H * V + V
    copies = 2 + _OPTIMIZER_COPIES.get(optimizer, 1)
    activations = seq_len * batch_size * (num_layers * (gates + 2) * H + 2 * V)
    return itemsize * (copies * weights + activations)


def machine_memory():
    """The machine's physical memory in bytes (None where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _human(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024


def check_fits_in_memory(needed, what, available=None):
    """Refuse ``needed`` bytes for ``what`` when the machine has less memory in total.

    Example:
        >>> check_fits_in_memory(10, "a tiny model", available=100)
        >>> try:
        ...     check_fits_in_memory(2 ** 50, "--hidden 1000000000", available=2 ** 30)
        ... except PreflightError as error:
        ...     print(error)
        --hidden 1000000000 needs at least 1.0 PiB of memory to train; this machine has 1.0 GiB
    """
    available = machine_memory() if available is None else available
    if available is not None and needed > available:
        raise PreflightError(f"{what} needs at least {_human(needed)} of memory to train; this "
                             f"machine has {_human(available)}")
