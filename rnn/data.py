"""Data for recurrent models: a character vocabulary, stream batching and synthetic tasks.

Everything here is plain NumPy (no tensors, no gradients), seeded, and time-major like PyTorch's
recurrent layers: a batch of sequences has shape ``(T, B, ...)``.

* :class:`CharVocab`: characters <-> integer ids, with an unknown-character id and optional special
  tokens (``<pad>``, ``<sos>``, ``<eos>`` for seq2seq); saves to a plain dict for checkpoints.
* :func:`batchify` and :class:`StreamBatcher`: one long stream of ids -> ``B`` parallel streams cut
  into chunks of ``k`` steps, for truncated backprop through time (see :mod:`rnn.tbptt`).
* Synthetic tasks with fixed seeds: :func:`adding_problem`, :func:`copy_memory`,
  :func:`reversal`, :func:`dates`, :func:`parity`, :func:`sine_waves`.

Example:
    >>> from rnn.data import CharVocab, batchify
    >>> vocab = CharVocab.from_text("hello world")
    >>> vocab.decode(vocab.encode("hello"))
    'hello'
    >>> batchify(vocab.encode("hello world"), batch_size=2).shape   # (steps, streams)
    (5, 2)
"""
import datetime
import json
from dataclasses import dataclass

import numpy as np

__all__ = ["CharVocab", "batchify", "StreamBatcher", "SequenceData", "Seq2SeqData",
           "minibatches", "adding_problem", "copy_memory", "reversal", "dates", "parity",
           "sine_waves", "pad_sequences"]


# ------------------------------------------------------------------------------------------------
# Vocabulary
# ------------------------------------------------------------------------------------------------
class CharVocab:
    """A mapping between characters and integer ids.

    Ids are laid out as: the special tokens first (in the order given), then the unknown token,
    then the known characters sorted by code point. Encoding a character that was not in the
    training text gives :attr:`unk_index` instead of failing, so a model trained on one text can
    read any other.

    Args:
        chars: the known characters (any iterable of 1-character strings; duplicates ignored).
        unknown: the token shown when decoding the unknown id (default ``"\\ufffd"``, the
            replacement character).
        specials: extra whole-word tokens such as ``("<pad>", "<sos>", "<eos>")``; they get the
            first ids (so ``<pad>`` is 0 when listed first) and are never produced by
            :meth:`encode` from text.

    Example:
        >>> vocab = CharVocab.from_text("abca")
        >>> len(vocab), vocab.encode("cab").tolist()
        (4, [3, 1, 2])
        >>> vocab.encode("z").tolist() == [vocab.unk_index]
        True
        >>> vocab.decode([3, 1, 2, 0])
        'cab\\ufffd'
    """

    def __init__(self, chars, unknown="\ufffd", specials=()):
        specials = tuple(str(s) for s in specials)
        if len(set(specials)) != len(specials):
            raise ValueError(f"special tokens must be distinct, got {specials}")
        if unknown in specials:
            raise ValueError(f"the unknown token {unknown!r} cannot also be a special token")
        known = sorted(set(chars) - {unknown})
        for c in known:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars must be single characters, got {c!r}")
        self.specials = specials
        self.unknown = unknown
        self.itos = list(specials) + [unknown] + known
        self.stoi = {c: i for i, c in enumerate(self.itos) if i >= len(specials)}
        self.unk_index = len(specials)
        # A lookup table over code points makes encoding a long text one vectorised gather.
        self._max_code = max((ord(c) for c in known), default=0)
        self._table = np.full(self._max_code + 1, self.unk_index, dtype=np.int64)
        for c in known:
            self._table[ord(c)] = self.stoi[c]

    @classmethod
    def from_text(cls, text, unknown="\ufffd", specials=(), min_count=1):
        """Build a vocabulary of the characters of ``text`` (those seen at least ``min_count`` times).

        Example:
            >>> CharVocab.from_text("aab", min_count=2).itos
            ['\\ufffd', 'a']
        """
        if not isinstance(text, str):
            raise TypeError(f"from_text expects a str, got {type(text).__name__}")
        if min_count <= 1:
            chars = set(text)
        else:
            codes, counts = np.unique(_code_points(text), return_counts=True)
            chars = {chr(c) for c, n in zip(codes, counts) if n >= min_count}
        return cls(chars, unknown=unknown, specials=specials)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, char):
        return char in self.stoi and char != self.unknown

    def __eq__(self, other):
        return isinstance(other, CharVocab) and self.itos == other.itos and \
            self.specials == other.specials

    def __repr__(self):
        return f"CharVocab(size={len(self)}, specials={list(self.specials)})"

    def index(self, token):
        """The id of one character or special token (unknown characters give ``unk_index``).

        Example:
            >>> CharVocab("ab", specials=("<pad>",)).index("<pad>")
            0
        """
        if token in self.specials:
            return self.specials.index(token)
        return self.stoi.get(token, self.unk_index)

    def encode(self, text):
        """The ids of the characters of ``text`` as an int64 array (unknown -> ``unk_index``).

        Example:
            >>> CharVocab("ab").encode("abba").tolist()
            [1, 2, 2, 1]
        """
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        codes = _code_points(text)
        ids = np.full(codes.shape, self.unk_index, dtype=np.int64)
        inside = codes <= self._max_code
        ids[inside] = self._table[codes[inside]]
        return ids

    def decode(self, ids, skip_specials=False):
        """The text of a sequence of ids (special tokens written out unless ``skip_specials``).

        Example:
            >>> v = CharVocab("ab", specials=("<sos>",))
            >>> v.decode([0, 2, 3]), v.decode([0, 2, 3], skip_specials=True)
            ('<sos>ab', 'ab')
        """
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.itos)):
            raise ValueError(f"decode: ids must lie in [0, {len(self.itos)}), "
                             f"got values in [{ids.min()}, {ids.max()}]")
        first = len(self.specials) if skip_specials else 0
        return "".join(self.itos[i] for i in ids.tolist() if i >= first)

    def to_dict(self):
        """A plain, JSON-friendly description (for checkpoints); :meth:`from_dict` inverts it.

        Example:
            >>> v = CharVocab("ba", specials=("<pad>",))
            >>> v.to_dict()
            {'chars': 'ab', 'unknown': '\\ufffd', 'specials': ['<pad>']}
            >>> CharVocab.from_dict(v.to_dict()) == v
            True
        """
        return {"chars": "".join(self.itos[self.unk_index + 1:]), "unknown": self.unknown,
                "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a vocabulary from :meth:`to_dict`'s output."""
        try:
            return cls(d["chars"], unknown=d["unknown"], specials=tuple(d["specials"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a CharVocab description ({error!r}): expected a dict with "
                             f"'chars', 'unknown' and 'specials'") from None

    def to_array(self):
        """The vocabulary as a uint8 array (UTF-8 JSON), storable in an ``.npz`` without pickle.

        Example:
            >>> v = CharVocab("xyz")
            >>> CharVocab.from_array(v.to_array()) == v
            True
        """
        return np.frombuffer(json.dumps(self.to_dict()).encode("utf-8"), dtype=np.uint8).copy()

    @classmethod
    def from_array(cls, array):
        """Rebuild a vocabulary from :meth:`to_array`'s output."""
        try:
            d = json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"not a stored CharVocab: {error}") from None
        return cls.from_dict(d)


def _code_points(text):
    """The Unicode code points of ``text`` as an int64 array, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# Stream batching for truncated BPTT
# ------------------------------------------------------------------------------------------------
def batchify(ids, batch_size):
    """Cut one long stream into ``batch_size`` contiguous parallel streams, time-major.

    Stream ``b`` is the ``b``-th contiguous slice of ``ids``; the tail that does not fill a full
    row is dropped. Column ``b`` of the result is stream ``b``, so that row ``t + 1`` continues
    row ``t`` in every stream and a hidden state can be carried from one chunk to the next.

    Returns: an array of shape ``(len(ids) // batch_size, batch_size)``.

    Example:
        >>> batchify(np.arange(7), 2)
        array([[0, 3],
               [1, 4],
               [2, 5]])
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"batchify expects a 1-D stream of ids, got shape {ids.shape}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    steps = len(ids) // batch_size
    if steps < 2:
        raise ValueError(f"a stream of {len(ids)} ids is too short for {batch_size} parallel "
                         f"streams: each needs at least 2 ids (an input and its next-id target)")
    return ids[:steps * batch_size].reshape(batch_size, steps).T.copy()


class StreamBatcher:
    """Chunks of ``seq_len`` steps over ``batch_size`` parallel streams, for truncated BPTT.

    Each chunk is ``(inputs, targets)`` of shape ``(k, B)`` where ``targets`` are the inputs
    shifted one step ahead; consecutive chunks continue each stream, so a hidden state carried
    from one chunk to the next sees the text without gaps. The last chunk of a pass may be
    shorter. After the last chunk the batcher wraps around to the start (a new *epoch*, when a
    carried state should be reset): :attr:`position` and :attr:`epoch` say where it is, and
    :meth:`state_dict` / :meth:`load_state_dict` let a resumed run continue at the same chunk.

    Args:
        ids: the stream (1-D ints).
        batch_size: number of parallel streams ``B``.
        seq_len: chunk length ``k``.

    Example:
        >>> b = StreamBatcher(np.arange(10), batch_size=2, seq_len=3)
        >>> x, y = b.next_chunk()
        >>> x.T.tolist(), y.T.tolist()
        ([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]])
        >>> x, y = b.next_chunk()          # the remaining step of each stream
        >>> x.T.tolist(), b.epoch
        ([[3], [8]], 0)
        >>> b.next_chunk()[0].T.tolist(), b.epoch   # wrapped around
        ([[0, 1, 2], [5, 6, 7]], 1)
    """

    def __init__(self, ids, batch_size, seq_len):
        seq_len = int(seq_len)
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.data = batchify(ids, batch_size)   # (N, B)
        self.batch_size = int(batch_size)
        self.seq_len = seq_len
        self.position = 0
        self.epoch = 0

    @property
    def steps_per_stream(self):
        """Length of each parallel stream."""
        return self.data.shape[0]

    def __len__(self):
        """Number of chunks in one pass over the streams."""
        return -(-(self.steps_per_stream - 1) // self.seq_len)

    @property
    def at_epoch_start(self):
        """True when the next chunk starts the streams from the beginning."""
        return self.position == 0

    def next_chunk(self):
        """The next ``(inputs, targets)`` chunk, wrapping to the start after the last one."""
        if self.position >= self.steps_per_stream - 1:
            self.position = 0
            self.epoch += 1
        start = self.position
        stop = min(start + self.seq_len, self.steps_per_stream - 1)
        self.position = stop
        return self.data[start:stop], self.data[start + 1:stop + 1]

    def __iter__(self):
        """One pass over the streams from the current position to the end of the epoch."""
        while True:
            if self.position >= self.steps_per_stream - 1:
                return
            yield self.next_chunk()

    def state_dict(self):
        """Where the batcher is: ``{"position": int, "epoch": int}``."""
        return {"position": int(self.position), "epoch": int(self.epoch)}

    def load_state_dict(self, state):
        """Continue from a :meth:`state_dict`."""
        position, epoch = int(state["position"]), int(state["epoch"])
        if not 0 <= position < self.steps_per_stream:
            raise ValueError(f"batcher position {position} is outside this stream "
                             f"(length {self.steps_per_stream}): a different text or batch size?")
        self.position, self.epoch = position, epoch


# ------------------------------------------------------------------------------------------------
# Synthetic tasks
# ------------------------------------------------------------------------------------------------
@dataclass
class SequenceData:
    """A batch of sequence examples, time-major.

    Attributes:
        inputs: ``(T, N, features)`` floats, or ``(T, N)`` ids.
        targets: per sequence ``(N,)`` / ``(N, 1)``, or per step ``(T, N, ...)``.
        lengths: ``(N,)`` valid lengths, or None when every sequence is ``T`` long.
        mask: ``(T, N)`` bool, True where a per-step target counts, or None (all count).
        per_step: True when ``targets`` has a time axis first (many-to-many).

    Example:
        >>> d = parity(6, length=4, seed=0)
        >>> d.inputs.shape, d.targets.shape, len(d.subset(slice(0, 2)))
        ((4, 6, 1), (6,), 2)
    """
    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray = None
    mask: np.ndarray = None
    per_step: bool = False

    def __len__(self):
        return self.inputs.shape[1]

    def subset(self, index):
        """The examples ``index`` (a slice or an int array along the batch axis)."""
        return SequenceData(
            inputs=self.inputs[:, index],
            targets=self.targets[:, index] if self.per_step else self.targets[index],
            lengths=None if self.lengths is None else self.lengths[index],
            mask=None if self.mask is None else self.mask[:, index],
            per_step=self.per_step)


def minibatches(data, batch_size, shuffle=True, seed=0):
    """Yield :class:`SequenceData` / :class:`Seq2SeqData` minibatches (one pass).

    Example:
        >>> d = parity(10, length=4, seed=0)
        >>> [len(b) for b in minibatches(d, 4, shuffle=False)]
        [4, 4, 2]
    """
    n = len(data)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, int(batch_size)):
        yield data.subset(order[start:start + int(batch_size)])


def _rng(seed):
    return np.random.default_rng(seed)


def adding_problem(n, length=50, seed=0, dtype=np.float32):
    """The adding problem (Hochreiter & Schmidhuber 1997): sum the two marked numbers.

    Each step has two features: a value ``U(0, 1)`` and a marker that is 1 at exactly two steps
    (one in each half of the sequence) and 0 elsewhere. The target is the sum of the two marked
    values; predicting 1.0 always gives a mean squared error of about 0.167, the baseline to beat.

    Returns: :class:`SequenceData` with ``inputs (T, n, 2)`` and ``targets (n, 1)``.

    Example:
        >>> d = adding_problem(3, length=6, seed=0)
        >>> d.inputs.shape, d.targets.shape
        ((6, 3, 2), (3, 1))
        >>> bool(np.allclose((d.inputs[..., 0] * d.inputs[..., 1]).sum(0), d.targets[:, 0]))
        True
    """
    if length < 2:
        raise ValueError(f"adding_problem needs length >= 2, got {length}")
    rng = _rng(seed)
    values = rng.random((length, n))
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((length, n))
    markers[first, np.arange(n)] = 1.0
    markers[second, np.arange(n)] = 1.0
    inputs = np.stack([values, markers], axis=-1).astype(dtype)
    targets = (values * markers).sum(0, keepdims=True).T.astype(dtype)
    return SequenceData(inputs, targets)


def copy_memory(n, n_symbols=8, copy_length=10, delay=20, seed=0):
    """The copy-memory task (Arjovsky et al. 2016): remember symbols across a long blank delay.

    Ids: 0 = blank, 1..n_symbols = symbols, n_symbols + 1 = the "now recall" marker. The input is
    ``copy_length`` random symbols, ``delay - 1`` blanks, the marker and ``copy_length`` blanks;
    the target is blanks until the marker and then the symbols. The baseline of always guessing
    blank after memorising nothing has cross-entropy ``copy_length * log(n_symbols) / T``.

    Returns: :class:`SequenceData` with ``inputs (T, n)`` and ``targets (T, n)`` ids,
    ``T = delay + 2 * copy_length``, and ``mask (T, n)`` True on the recall steps.

    Example:
        >>> d = copy_memory(2, n_symbols=3, copy_length=2, delay=3, seed=1)
        >>> d.inputs[:, 0].tolist(), d.targets[:, 0].tolist()
        ([2, 3, 0, 0, 4, 0, 0], [0, 0, 0, 0, 0, 2, 3])
    """
    if copy_length < 1 or delay < 1 or n_symbols < 1:
        raise ValueError("copy_memory needs copy_length >= 1, delay >= 1 and n_symbols >= 1")
    rng = _rng(seed)
    total = delay + 2 * copy_length
    symbols = rng.integers(1, n_symbols + 1, size=(copy_length, n))
    inputs = np.zeros((total, n), dtype=np.int64)
    targets = np.zeros((total, n), dtype=np.int64)
    inputs[:copy_length] = symbols
    inputs[copy_length + delay - 1] = n_symbols + 1
    targets[-copy_length:] = symbols
    mask = np.zeros((total, n), dtype=bool)
    mask[-copy_length:] = True
    return SequenceData(inputs, targets, mask=mask, per_step=True)


def parity(n, length=20, min_length=None, running=False, seed=0, dtype=np.float32):
    """Parity of a bit string: is the number of ones odd? (a classic long-range dependency).

    Args:
        length: the (maximum) sequence length ``T``.
        min_length: if given, each sequence has a random length in ``[min_length, length]``;
            the bits after it are zero and ``lengths`` says where each ends (use the last valid
            state, e.g. ``rnn.SequenceClassifier`` with ``lengths``).
        running: targets per step (parity of the prefix), shape ``(T, n)``, instead of one per
            sequence ``(n,)``.

    Returns: :class:`SequenceData` with ``inputs (T, n, 1)`` floats and int64 targets.

    Example:
        >>> d = parity(2, length=5, seed=3)
        >>> bits = d.inputs[..., 0].T.astype(int)
        >>> bool(((bits.sum(1) % 2) == d.targets).all())
        True
        >>> parity(2, length=5, running=True, seed=3).targets.shape
        (5, 2)
    """
    rng = _rng(seed)
    bits = rng.integers(0, 2, size=(length, n))
    lengths = None
    mask = None
    if min_length is not None:
        if not 1 <= min_length <= length:
            raise ValueError(f"min_length must be in [1, length={length}], got {min_length}")
        lengths = rng.integers(min_length, length + 1, size=n)
        mask = np.arange(length)[:, None] < lengths[None, :]
        bits = bits * mask
    prefix = np.cumsum(bits, axis=0) % 2
    targets = prefix if running else prefix[-1]
    return SequenceData(bits[..., None].astype(dtype), targets.astype(np.int64), lengths,
                        mask if running else None, per_step=running)


def sine_waves(n, length=50, seed=0, min_freq=0.02, max_freq=0.1, noise=0.0, dtype=np.float32):
    """Sine waves with random frequency, phase and amplitude: predict the next value.

    Returns: :class:`SequenceData` with ``inputs (T, n, 1)`` and ``targets (T, n, 1)`` where
    ``targets[t] = wave[t + 1]`` (many-to-many regression). ``noise`` adds Gaussian noise to the
    inputs only.

    Example:
        >>> d = sine_waves(4, length=10, seed=0)
        >>> d.inputs.shape, bool(np.allclose(d.inputs[1:], d.targets[:-1]))
        ((10, 4, 1), True)
    """
    rng = _rng(seed)
    freq = rng.uniform(min_freq, max_freq, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    amplitude = rng.uniform(0.5, 1.0, size=n)
    t = np.arange(length + 1)[:, None]
    wave = amplitude * np.sin(2 * np.pi * freq * t + phase)          # (T + 1, n)
    inputs = wave[:-1] + (noise * rng.standard_normal((length, n)) if noise else 0.0)
    return SequenceData(inputs[..., None].astype(dtype), wave[1:, :, None].astype(dtype),
                        per_step=True)


# ------------------------------------------------------------------------------------------------
# Sequence-to-sequence tasks
# ------------------------------------------------------------------------------------------------
PAD, SOS, EOS = "<pad>", "<sos>", "<eos>"


@dataclass
class Seq2SeqData:
    """Padded source/target batches for an encoder-decoder, time-major, pad id 0.

    Attributes:
        src: ``(S, N)`` source ids, padded with ``0``.
        src_lengths: ``(N,)``.
        tgt_in: ``(T, N)`` decoder inputs: ``<sos>`` then the target (teacher forcing).
        tgt_out: ``(T, N)`` decoder targets: the target then ``<eos>``, padded with ``0``.
        tgt_lengths: ``(N,)`` target lengths including ``<eos>``.
        src_vocab, tgt_vocab: :class:`CharVocab` with specials ``<pad>, <sos>, <eos>``.
        pairs: the ``(source, target)`` strings.

    Example:
        >>> d = reversal(5, seed=0)
        >>> d.src.shape[1], d.tgt_vocab.decode(d.tgt_in[:, 0], skip_specials=True) == d.pairs[0][1]
        (5, True)
    """
    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_lengths: np.ndarray
    src_vocab: CharVocab
    tgt_vocab: CharVocab
    pairs: list

    def __len__(self):
        return self.src.shape[1]

    def subset(self, index):
        """The examples ``index``, re-trimmed to the longest source/target they contain."""
        index = np.arange(len(self))[index]
        s_len, t_len = self.src_lengths[index], self.tgt_lengths[index]
        s_max, t_max = int(s_len.max(initial=1)), int(t_len.max(initial=1))
        return Seq2SeqData(self.src[:s_max, index], s_len, self.tgt_in[:t_max, index],
                           self.tgt_out[:t_max, index], t_len, self.src_vocab, self.tgt_vocab,
                           [self.pairs[i] for i in index])


def pad_sequences(seqs, pad=0):
    """Stack 1-D int sequences into a time-major ``(T_max, N)`` array and their lengths.

    Example:
        >>> x, lengths = pad_sequences([[1, 2, 3], [4]])
        >>> x.tolist(), lengths.tolist()
        ([[1, 4], [2, 0], [3, 0]], [3, 1])
    """
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((int(lengths.max(initial=0)), len(seqs)), pad, dtype=np.int64)
    for j, s in enumerate(seqs):
        out[:len(s), j] = s
    return out, lengths


def make_seq2seq(pairs, src_vocab=None, tgt_vocab=None):
    """Encode ``(source, target)`` string pairs into :class:`Seq2SeqData`.

    Vocabularies are built from the pairs unless given (give the training set's vocabularies
    when encoding a test set).

    Example:
        >>> d = make_seq2seq([("ab", "ba"), ("abc", "cba")])
        >>> d.src.shape, d.tgt_in.shape, d.tgt_vocab.decode(d.tgt_out[:, 0], skip_specials=True)
        ((3, 2), (4, 2), 'ba')
    """
    specials = (PAD, SOS, EOS)
    if src_vocab is None:
        src_vocab = CharVocab.from_text("".join(s for s, _ in pairs), specials=specials)
    if tgt_vocab is None:
        tgt_vocab = CharVocab.from_text("".join(t for _, t in pairs), specials=specials)
    sos, eos = tgt_vocab.index(SOS), tgt_vocab.index(EOS)
    src, src_lengths = pad_sequences([src_vocab.encode(s) for s, _ in pairs])
    encoded = [tgt_vocab.encode(t) for _, t in pairs]
    tgt_in, _ = pad_sequences([np.concatenate([[sos], t]) for t in encoded])
    tgt_out, tgt_lengths = pad_sequences([np.concatenate([t, [eos]]) for t in encoded])
    return Seq2SeqData(src, src_lengths, tgt_in, tgt_out, tgt_lengths, src_vocab, tgt_vocab,
                       list(pairs))


def reversal(n, min_length=3, max_length=10, n_symbols=10, seed=0):
    """Sequence reversal as a seq2seq task: the target is the source backwards.

    Symbols are the first ``n_symbols`` lowercase letters.

    Example:
        >>> d = reversal(2, min_length=3, max_length=5, seed=0)
        >>> [t == s[::-1] for s, t in d.pairs]
        [True, True]
    """
    if not 1 <= n_symbols <= 26:
        raise ValueError(f"n_symbols must be in [1, 26], got {n_symbols}")
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    rng = _rng(seed)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz"[:n_symbols]))
    pairs = []
    for length in rng.integers(min_length, max_length + 1, size=n):
        s = "".join(alphabet[rng.integers(0, n_symbols, size=length)])
        pairs.append((s, s[::-1]))
    vocab = CharVocab(alphabet.tolist(), specials=(PAD, SOS, EOS))
    return make_seq2seq(pairs, vocab, vocab)


# Month names spelled out here rather than through strftime, whose names depend on the locale.
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DATE_FORMATS = (
    lambda d: f"{d.day} {_MONTHS[d.month - 1]} {d.year}",              # 5 March 1998
    lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",             # March 5, 1998
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",                   # 05/03/1998
    lambda d: f"{d.day} {_MONTHS[d.month - 1][:3]} {d.year % 100:02d}",  # 5 Mar 98
    lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",                   # 1998.03.05
    lambda d: f"{_DAYS[d.weekday()]}, {_MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",                 # 3/5/98 (US order)
)


def dates(n, seed=0, first_year=1950, last_year=2049, src_vocab=None, tgt_vocab=None):
    """Date-format translation: human-written dates (7 formats) -> ISO ``YYYY-MM-DD``.

    Two-digit years are unambiguous because years lie in ``[first_year, first_year + 99]``.
    Sources range from 6 to about 30 characters, so accuracy can be measured by input length.

    Returns: :class:`Seq2SeqData`. Pass a training set's vocabularies for a test set.

    Example:
        >>> d = dates(3, seed=0)
        >>> d.pairs[0]
        ('January 24, 2035', '2035-01-24')
        >>> all(len(t) == 10 for _, t in d.pairs)
        True
    """
    if last_year - first_year > 99:
        raise ValueError("dates: years must span at most 100 years so that 2-digit years are "
                         "unambiguous")
    rng = _rng(seed)
    start = datetime.date(first_year, 1, 1).toordinal()
    stop = datetime.date(last_year, 12, 31).toordinal()
    pairs = []
    for day, fmt in zip(rng.integers(start, stop + 1, size=n),
                        rng.integers(0, len(DATE_FORMATS), size=n)):
        d = datetime.date.fromordinal(int(day))
        pairs.append((DATE_FORMATS[fmt](d), d.isoformat()))
    if src_vocab is None:
        # A fixed alphabet (not the sample's) so that train and test sets agree by default.
        letters = "".join(sorted(set("".join(_MONTHS + _DAYS))))
        src_vocab = CharVocab(letters + "0123456789 ,./", specials=(PAD, SOS, EOS))
    if tgt_vocab is None:
        tgt_vocab = CharVocab("0123456789-", specials=(PAD, SOS, EOS))
    return make_seq2seq(pairs, src_vocab, tgt_vocab)
