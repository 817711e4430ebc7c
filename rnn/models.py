"""Ready-made recurrent models: many-to-one, many-to-many, one-to-many and the char-level LM.

All are :class:`microtensor.nn.Module` s built from ``rnn.RNN/LSTM/GRU`` (or their cells), with
PyTorch's time-major layout: sequences are ``(T, B, features)`` or ``(T, B)`` ids.

* :class:`ManyToOne` (alias :class:`SequenceClassifier`): read a sequence, predict from the last
  state, or each sequence's own last state when ``lengths`` are given (masked padding).
* :class:`ManyToMany`: an output at every step.
* :class:`OneToMany`: generate a sequence from one input, feeding either zeros or its own previous
  output as the next input.
* :class:`CharRNN`: a character-level language model (vocabulary, embedding, stacked
  LSTM/GRU/RNN, linear head) with :meth:`CharRNN.generate` and :meth:`CharRNN.bits_per_char`.

Example:
    >>> import microtensor as mt, rnn
    >>> mt.manual_seed(0)
    >>> model = rnn.ManyToOne(input_size=1, hidden_size=8, output_size=2, cell="gru")
    >>> model(mt.randn(5, 3, 1)).shape          # (T=5, B=3, 1) -> (B, classes)
    (3, 2)
"""
import math

import numpy as np

import microtensor as mt

from . import cells as _cells, layers as _layers
from .conventions import CELL_KINDS, cell_kind, positive_int
from .data import CharVocab

__all__ = ["ManyToOne", "SequenceClassifier", "ManyToMany", "OneToMany", "CharRNN",
           "make_layer", "detach_state", "CELL_TYPES", "CheckpointMismatch"]

CELL_TYPES = tuple(CELL_KINDS)      # the names of the built-in cells: rnn.conventions.CELL_KINDS
CHECKPOINT_FORMAT = "rnn.CharRNN"
CHECKPOINT_VERSION = 1


class CheckpointMismatch(ValueError):
    """A readable checkpoint that does not hold what was asked for (e.g. not a CharRNN)."""


def _check_cell(cell):
    return cell_kind(cell).name


def make_layer(cell, input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False,
               fused=False, name=None):
    """A recurrent layer by cell name: ``"lstm"``, ``"gru"``, ``"rnn"`` (tanh) or ``"rnn_relu"``.

    Example:
        >>> import rnn
        >>> type(make_layer("gru", 3, 4)).__name__
        'GRU'
    """
    kind = cell_kind(cell)
    kwargs = dict(num_layers=num_layers, dropout=dropout, bidirectional=bidirectional,
                  fused=fused, name=name)
    if kind.nonlinearity is not None:
        kwargs["nonlinearity"] = kind.nonlinearity
    return getattr(_layers, kind.layer)(input_size, hidden_size, **kwargs)


def _make_cell(cell, input_size, hidden_size):
    kind = cell_kind(cell)
    kwargs = {} if kind.nonlinearity is None else {"nonlinearity": kind.nonlinearity}
    return getattr(_cells, kind.cell)(input_size, hidden_size, **kwargs)


def detach_state(state):
    """Cut a recurrent state (a tensor, or a tuple such as LSTM's ``(h, c)``) from its graph.

    Truncated BPTT carries the values into the next chunk but not the graph behind them.

    Example:
        >>> import microtensor as mt
        >>> h = mt.ones(2, requires_grad=True) * 2
        >>> [s.requires_grad for s in detach_state((h, h))]
        [False, False]
    """
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


def _as_ids(x, what):
    """Integer token ids as an int64 array (from a list, an ndarray or an integer Tensor)."""
    array = x.data if isinstance(x, mt.Tensor) else np.asarray(x)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integer token ids, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


class _Encoder(mt.nn.Module):
    """Inputs -> recurrent outputs: an optional embedding (for ids) then the stacked layer."""

    def __init__(self, input_size, hidden_size, cell, num_layers, bidirectional, dropout,
                 num_embeddings, fused, name):
        super().__init__()
        self.num_embeddings = num_embeddings
        if num_embeddings is not None:
            self.embedding = mt.nn.Embedding(positive_int(num_embeddings, "num_embeddings"),
                                             input_size)
        self.rnn = make_layer(cell, input_size, hidden_size, num_layers, dropout, bidirectional,
                              fused, name=name)

    def embed(self, x):
        if self.num_embeddings is None:
            return x
        return self.embedding(mt.tensor(_as_ids(x, "inputs")))


class ManyToOne(mt.nn.Module):
    """Read a whole sequence, predict one output from the last hidden state.

    With ``lengths`` the prediction uses each sequence's *own* last state (padded steps change
    nothing and get no gradient), so a padded batch gives the same result as each sequence alone.
    A bidirectional model concatenates the last layer's forward and backward final states.

    Args:
        input_size: features per step (or the embedding size when ``num_embeddings`` is given).
        hidden_size: recurrent state size ``H``.
        output_size: number of classes (logits), or of regression outputs.
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"rnn_relu"``.
        num_layers, bidirectional, dropout, fused: passed to the recurrent layer.
        num_embeddings: if given, inputs are token ids ``(T, B)`` looked up in an embedding.

    Inputs: ``x`` of shape ``(T, B, input_size)`` (or ids ``(T, B)``), optional ``lengths (B,)``.

    Outputs: ``(B, output_size)``.

    Example:
        >>> import microtensor as mt, rnn
        >>> mt.manual_seed(0)
        >>> clf = rnn.SequenceClassifier(4, 6, 3, num_embeddings=10)
        >>> ids = mt.tensor([[1, 2], [3, 0], [4, 0]])            # (T=3, B=2), second is length 1
        >>> clf(ids, lengths=[3, 1]).shape
        (2, 3)
    """

    def __init__(self, input_size, hidden_size, output_size, cell="lstm", num_layers=1,
                 bidirectional=False, dropout=0.0, num_embeddings=None, fused=False):
        super().__init__()
        self.encoder = _Encoder(input_size, hidden_size, cell, num_layers, bidirectional, dropout,
                                num_embeddings, fused, name=None)
        self.directions = 2 if bidirectional else 1
        self.head = mt.nn.Linear(hidden_size * self.directions, positive_int(output_size, "output_size"))

    def features(self, x, lengths=None):
        """The final hidden state(s) the prediction is made from: ``(B, H * directions)``."""
        _, state = self.encoder.rnn(self.encoder.embed(x), lengths=lengths)
        h_n = state[0] if isinstance(state, tuple) else state      # (layers * dirs, B, H)
        last = [h_n[h_n.shape[0] - self.directions + d] for d in range(self.directions)]
        return last[0] if len(last) == 1 else mt.cat(last, axis=-1)

    def forward(self, x, lengths=None):
        return self.head(self.features(x, lengths))


SequenceClassifier = ManyToOne


class ManyToMany(mt.nn.Module):
    """An output at every step (tagging, next-value prediction, running parity).

    Args: as :class:`ManyToOne`.

    Inputs: ``x (T, B, input_size)`` or ids ``(T, B)``, optional ``hx`` and ``lengths``.

    Outputs: ``(y, state)`` with ``y`` of shape ``(T, B, output_size)`` (zero-state outputs past
    each length pass through the head's bias; mask them in the loss) and the final state.

    Example:
        >>> import microtensor as mt, rnn
        >>> mt.manual_seed(0)
        >>> y, h = rnn.ManyToMany(1, 8, 1, cell="rnn")(mt.randn(6, 2, 1))
        >>> y.shape, h.shape
        ((6, 2, 1), (1, 2, 8))
    """

    def __init__(self, input_size, hidden_size, output_size, cell="lstm", num_layers=1,
                 bidirectional=False, dropout=0.0, num_embeddings=None, fused=False):
        super().__init__()
        self.encoder = _Encoder(input_size, hidden_size, cell, num_layers, bidirectional, dropout,
                                num_embeddings, fused, name=None)
        directions = 2 if bidirectional else 1
        self.head = mt.nn.Linear(hidden_size * directions, positive_int(output_size, "output_size"))

    def forward(self, x, hx=None, lengths=None):
        out, state = self.encoder.rnn(self.encoder.embed(x), hx, lengths=lengths)
        return self.head(out), state


class OneToMany(mt.nn.Module):
    """Generate a sequence of ``steps`` outputs from a single input vector.

    Step 0 reads the input ``x``; every later step reads either zeros (``feed="zeros"``) or the
    model's own previous output (``feed="previous"``), mapped to the input size by a learned
    linear layer when ``output_size != input_size``. Gradients flow back through the fed-back
    outputs too (backprop through the generated sequence). Each step runs inside the scope
    ``"{name}/l{k}/t{t}"`` like the library's layers, so the unrolled graph draws by time step.

    Args:
        input_size, hidden_size, output_size: sizes.
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"rnn_relu"``.
        num_layers: stacked cells.
        feed: ``"zeros"`` or ``"previous"``.
        name: scope name (default ``"one_to_many"``).

    Inputs: ``x (B, input_size)``, ``steps`` (int).

    Outputs: ``(B, ...)`` -> ``(steps, B, output_size)``.

    Example:
        >>> import microtensor as mt, rnn
        >>> mt.manual_seed(0)
        >>> gen = rnn.OneToMany(3, 8, 2, cell="gru", feed="previous")
        >>> gen(mt.randn(4, 3), steps=5).shape
        (5, 4, 2)
    """

    def __init__(self, input_size, hidden_size, output_size, cell="lstm", num_layers=1,
                 feed="zeros", name="one_to_many"):
        super().__init__()
        if feed not in ("zeros", "previous"):
            raise ValueError(f"feed must be 'zeros' or 'previous', got {feed!r}")
        self.input_size = positive_int(input_size, "input_size")
        self.feed = feed
        self.name = name
        self.cells = mt.nn.ModuleList(
            [_make_cell(cell, input_size if k == 0 else hidden_size, hidden_size)
             for k in range(positive_int(num_layers, "num_layers"))])
        self.head = mt.nn.Linear(hidden_size, positive_int(output_size, "output_size"))
        if feed == "previous" and output_size != input_size:
            self.feedback = mt.nn.Linear(output_size, input_size)

    def forward(self, x, steps):
        steps = positive_int(steps, "steps")
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise mt.ShapeError(f"OneToMany: expected x of shape (batch, {self.input_size}), "
                                f"got {x.shape}")
        states = [None] * len(self.cells)
        outputs = []
        step_input = x
        for t in range(steps):
            h = step_input                                              # input of layer 0
            for k, cell in enumerate(self.cells):
                with mt.scope(f"{self.name}/l{k}/t{t}"):
                    states[k] = cell(h, states[k])
                    h = states[k][0] if isinstance(states[k], tuple) else states[k]
            with mt.scope(f"{self.name}/head/t{t}"):
                y = self.head(h)                                        # (B, output_size)
                outputs.append(y)
                if self.feed == "zeros":
                    step_input = mt.zeros_like(x)
                else:
                    step_input = self.feedback(y) if getattr(self, "feedback", None) is not None else y
        return mt.stack(outputs, axis=0)                                # (steps, B, output_size)


class CharRNN(mt.nn.Module):
    """A character-level language model: embedding -> stacked LSTM/GRU/RNN -> linear head.

    Args:
        vocab: a :class:`rnn.data.CharVocab` (or a text to build one from).
        hidden_size: recurrent state size.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"rnn_relu"``.
        embedding_dim: embedding size (default: ``min(64, hidden_size)``).
        dropout: between recurrent layers (training mode only).
        fused: use the fused (fast, one node per layer) recurrent kernels; the explicit path
            (``fused=False``) draws every gate as a node. Both compute the same numbers.

    Inputs: ids ``(T, B)`` and an optional state (as returned by a previous call).

    Outputs: ``(logits, state)``, logits of shape ``(T, B, len(vocab))``.

    Example:
        >>> import microtensor as mt, rnn
        >>> mt.manual_seed(0)
        >>> model = rnn.CharRNN("hello world", hidden_size=16)
        >>> logits, state = model(model.vocab.encode("hello")[:, None])
        >>> logits.shape
        (5, 1, 9)
        >>> len(model.generate("he", n=10, seed=0))
        12
    """

    def __init__(self, vocab, hidden_size=128, num_layers=1, cell="lstm", embedding_dim=None,
                 dropout=0.0, fused=True):
        super().__init__()
        if isinstance(vocab, str):
            vocab = CharVocab.from_text(vocab)
        if not isinstance(vocab, CharVocab):
            raise TypeError(f"vocab must be a CharVocab or a text, got {type(vocab).__name__}")
        self.vocab = vocab
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.cell = _check_cell(cell)
        self.embedding_dim = positive_int(embedding_dim or min(64, hidden_size), "embedding_dim")
        self.dropout = float(dropout)
        self.embedding = mt.nn.Embedding(len(vocab), self.embedding_dim)
        self.rnn = make_layer(self.cell, self.embedding_dim, self.hidden_size, self.num_layers,
                              dropout=self.dropout, fused=fused, name=self.cell)
        self.head = mt.nn.Linear(self.hidden_size, len(vocab))

    @property
    def fused(self):
        """Whether the recurrent layer runs its fused kernels."""
        return bool(getattr(self.rnn, "fused", False))

    def set_fused(self, fused):
        """Switch between the fused and the explicit (every gate a node) path; returns self."""
        self.rnn.fused = bool(fused)
        return self

    def config(self):
        """The constructor arguments (without the vocabulary), for checkpoints.

        Example:
            >>> import rnn
            >>> rnn.CharRNN("ab", hidden_size=8).config()["hidden_size"]
            8
        """
        return {"hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "cell": self.cell, "embedding_dim": self.embedding_dim, "dropout": self.dropout}

    def extra_repr(self):
        return f"vocab={len(self.vocab)}, cell={self.cell!r}"

    def to_checkpoint(self):
        """Everything needed to rebuild this model: a dict for :func:`microtensor.save`.

        Example:
            >>> import os, tempfile, microtensor as mt, rnn
            >>> model = rnn.CharRNN("abc", hidden_size=4)
            >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
            >>> mt.save(model.to_checkpoint(), path)
            >>> rnn.CharRNN.from_checkpoint(path).vocab == model.vocab
            True
        """
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                "config": self.config(), "vocab": self.vocab.to_dict(),
                "model": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint, fused=True):
        """Rebuild a model from :meth:`to_checkpoint`'s dict or a file written from it (also a
        training checkpoint of :class:`rnn.tbptt.TBPTTTrainer`).

        Raises :class:`CheckpointMismatch` (a ``ValueError``) for a checkpoint of something else.
        """
        if not isinstance(checkpoint, dict):
            path = checkpoint
            checkpoint = mt.load(path)
        else:
            path = "checkpoint"
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
            raise CheckpointMismatch(
                f"{path}: not a CharRNN checkpoint (format {found!r}, expected "
                f"{CHECKPOINT_FORMAT!r}); give a file written by `python -m rnn train` or "
                f"CharRNN.to_checkpoint()")
        if checkpoint.get("version", 0) > CHECKPOINT_VERSION:
            raise CheckpointMismatch(f"{path}: checkpoint version {checkpoint['version']} is newer "
                                     f"than this library's {CHECKPOINT_VERSION}")
        try:
            vocab = CharVocab.from_dict(checkpoint["vocab"])
            model = cls(vocab, fused=fused, **checkpoint["config"])
            model.load_state_dict(checkpoint["model"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointMismatch(f"{path}: damaged CharRNN checkpoint: {error}") from None
        return model

    def forward(self, ids, state=None):
        ids = _as_ids(ids, "CharRNN input")
        if ids.ndim != 2:
            raise mt.ShapeError(f"CharRNN expects ids of shape (T, B), got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise ValueError(f"CharRNN: ids must lie in [0, {len(self.vocab)}), got values in "
                             f"[{ids.min()}, {ids.max()}]")
        x = self.embedding(mt.tensor(ids))                  # (T, B, E)
        out, state = self.rnn(x, state)                     # (T, B, H)
        return self.head(out), state                        # (T, B, V)

    def loss(self, ids, targets, state=None):
        """Mean cross-entropy (nats per character) of predicting ``targets``; returns ``(loss, state)``.

        Example:
            >>> import microtensor as mt, numpy as np, rnn
            >>> mt.manual_seed(0)
            >>> model = rnn.CharRNN("abc", hidden_size=4)
            >>> loss, _ = model.loss(np.array([[1], [2]]), np.array([[2], [3]]))
            >>> 0 < loss.item() < 3
            True
        """
        logits, state = self(ids, state)
        targets = _as_ids(targets, "targets")
        T, B, V = logits.shape
        loss = mt.nn.functional.cross_entropy(logits.reshape(T * B, V),
                                              mt.tensor(targets.reshape(T * B)))
        return loss, state

    def bits_per_char(self, text, batch_size=16, seq_len=256):
        """Average bits per character of predicting ``text`` (each char from the ones before it).

        The text is cut into ``batch_size`` parallel streams that are read in chunks with the
        state carried, without gradients, in eval mode. Lower is better; a model that has learnt
        nothing scores ``log2(len(vocab))``.

        Example:
            >>> import microtensor as mt, rnn
            >>> mt.manual_seed(0)
            >>> model = rnn.CharRNN("abcd", hidden_size=8)
            >>> round(model.bits_per_char("abcdabcd" * 8, batch_size=2), 1)   # untrained: ~log2(5)
            2.3
        """
        from .data import StreamBatcher
        ids = self.vocab.encode(text) if isinstance(text, str) else _as_ids(text, "text")
        batch_size = max(1, min(int(batch_size), len(ids) // 2))
        batcher = StreamBatcher(ids, batch_size, seq_len)
        was_training = self.training
        self.eval()
        total_nats, count, state = 0.0, 0, None
        try:
            with mt.no_grad():
                for x, y in batcher:
                    loss, state = self.loss(x, y, state)
                    total_nats += loss.item() * y.size
                    count += y.size
        finally:
            self.train(was_training)
        return total_nats / count / math.log(2)

    def generate(self, prefix="", n=200, temperature=1.0, top_k=None, seed=None):
        """Continue ``prefix`` with ``n`` sampled characters; returns ``prefix`` + the new text.

        Args:
            prefix: text to start from (may be empty: the model then starts after a newline,
                or its first character if it has never seen one).
            n: how many characters to generate.
            temperature: divides the logits; < 1 is more conservative, 0 means greedy (argmax).
            top_k: sample only among the ``top_k`` most likely characters.
            seed: seed of a private generator (default: the global ``mt.get_rng()``).

        Example:
            >>> import microtensor as mt, rnn
            >>> mt.manual_seed(0)
            >>> model = rnn.CharRNN("ab", hidden_size=4)
            >>> model.generate("a", n=5, temperature=0) == model.generate("a", n=5, temperature=0)
            True
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
        rng = np.random.default_rng(seed) if seed is not None else mt.get_rng()
        start = prefix if prefix else ("\n" if "\n" in self.vocab else self.vocab.itos[-1])
        ids = self.vocab.encode(start)
        was_training = self.training
        self.eval()
        out = []
        try:
            with mt.no_grad():
                logits, state = self(ids[:, None])
                last = logits.data[-1, 0].astype(np.float64)
                for _ in range(n):
                    next_id = _sample(last, temperature, top_k, rng)
                    out.append(next_id)
                    logits, state = self(np.array([[next_id]]), state)
                    last = logits.data[-1, 0].astype(np.float64)
        finally:
            self.train(was_training)
        return prefix + self.vocab.decode(out)


def _sample(logits, temperature, top_k, rng):
    """One id from logits (1-D float64) with temperature and top-k; temperature 0 is argmax."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.size:
        cutoff = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled >= cutoff, scaled, -np.inf)
    scaled = scaled - scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int(rng.choice(probs.size, p=probs))
