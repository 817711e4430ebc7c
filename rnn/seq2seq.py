"""Sequence-to-sequence: an encoder, a decoder with teacher forcing, and attention.

* :class:`Encoder`: embedding + stacked (optionally bidirectional) LSTM/GRU/RNN over the padded
  source; returns every step's output (the attention's keys) and the final state.
* :class:`AdditiveAttention` (Bahdanau et al. 2015: ``v . tanh(W_q s + W_k h_j)``) and
  :class:`DotAttention` (Luong et al. 2015: ``s . h_j``, optionally scaled). Both mask source
  padding and return the weights, shape ``(B, S)``, for plotting.
* :class:`Decoder`: one step at a time (scopes ``"decoder/l{k}/t{t}"``), Bahdanau-style: the
  previous state attends over the source, the context joins the embedded previous token as the
  cell's input, and the output layer reads ``[state; context]``. Teacher forcing with a ratio:
  at each step the next input is the true previous token with probability ``teacher_forcing``,
  else the model's own previous prediction. Greedy and sampled decoding.
* :class:`Seq2Seq`: the two together, with :meth:`Seq2Seq.loss` and :meth:`Seq2Seq.decode` for
  :class:`rnn.data.Seq2SeqData` batches.

Everything is time-major: source ids ``(S, B)``, target ids ``(T, B)``, pad id 0.

Example:
    >>> import microtensor as mt, rnn
    >>> from rnn.data import reversal
    >>> from rnn.seq2seq import Seq2Seq
    >>> mt.manual_seed(0)
    >>> batch = reversal(4, min_length=2, max_length=5, n_symbols=5, seed=0)
    >>> model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=16,
    ...                       attention="additive")
    >>> logits, weights = model(batch.src, batch.src_lengths, batch.tgt_in)
    >>> logits.shape == batch.tgt_in.shape + (len(batch.tgt_vocab),), weights.shape
    (True, (6, 4, 5))
    >>> model.loss(batch).backward()
"""
import math

import numpy as np

import microtensor as mt

from .conventions import positive_int
from .models import _as_ids, _check_cell, _make_cell, make_layer

__all__ = ["Encoder", "Decoder", "AdditiveAttention", "DotAttention", "Seq2Seq",
           "sequence_accuracy"]

# A large negative score for padded source positions: exp() of it underflows to exactly 0.
_MASKED_SCORE = -1e9


def _source_mask(lengths, S):
    """``(S, B)`` bool, True at real (non-pad) source positions."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.arange(S)[:, None] < lengths[None, :]


class Encoder(mt.nn.Module):
    """Embed the source ids and run a stacked recurrent layer over them.

    A bidirectional encoder's outputs concatenate both directions (size ``2H``); its final state
    per layer is the *sum* of the two directions, so a unidirectional decoder of size ``H`` can
    start from it.

    Args:
        vocab_size: source vocabulary size (id 0 is padding).
        embedding_dim, hidden_size: sizes.
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"rnn_relu"``.
        num_layers, bidirectional, dropout, fused: of the recurrent layer (scope ``"encoder"``).

    Inputs: ``src (S, B)`` ids, ``lengths (B,)``.

    Outputs: ``(outputs (S, B, H * directions), state)`` with state ``(L, B, H)`` (a tuple
    ``(h, c)`` for LSTM).

    Example:
        >>> import microtensor as mt
        >>> mt.manual_seed(0)
        >>> enc = Encoder(10, 4, 6, cell="lstm", bidirectional=True)
        >>> out, (h, c) = enc(mt.tensor([[1, 2], [3, 0]]), lengths=[2, 1])
        >>> out.shape, h.shape
        ((2, 2, 12), (1, 2, 6))
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, cell="gru", num_layers=1,
                 bidirectional=False, dropout=0.0, fused=False):
        super().__init__()
        self.cell = _check_cell(cell)
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.directions = 2 if bidirectional else 1
        self.embedding = mt.nn.Embedding(positive_int(vocab_size, "vocab_size"),
                                         positive_int(embedding_dim, "embedding_dim"), padding_idx=0)
        self.rnn = make_layer(self.cell, embedding_dim, hidden_size, num_layers, dropout,
                              bidirectional, fused, name="encoder")

    @property
    def output_size(self):
        """Size of each step's output (the attention keys): ``H * directions``."""
        return self.hidden_size * self.directions

    def forward(self, src, lengths=None):
        src = _as_ids(src, "source")
        if src.ndim != 2:
            raise mt.ShapeError(f"Encoder expects source ids of shape (S, B), got {src.shape}")
        lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        outputs, state = self.rnn(self.embedding(mt.tensor(src)), lengths=lengths)
        if self.directions == 2:
            state = tuple(self._sum_directions(s) for s in state) if isinstance(state, tuple) \
                else self._sum_directions(state)
        return outputs, state

    def _sum_directions(self, s):
        L, B, H = self.num_layers, s.shape[1], self.hidden_size
        return s.reshape(L, 2, B, H).sum(axis=1)                 # (L, B, H)


class AdditiveAttention(mt.nn.Module):
    """Bahdanau attention: ``score_j = v . tanh(W_q s + W_k h_j)``, softmax over source steps.

    Args: ``query_size`` (decoder state), ``key_size`` (encoder output), ``attention_size``.

    Inputs: ``query (B, Q)``, ``keys (S, B, K)``, ``mask (S, B)`` bool (True = real step),
    ``projected_keys`` (optional: :meth:`project_keys` ``(keys)``, computed once per sequence).

    Outputs: ``(context (B, K), weights (B, S))``, weights summing to 1 over real steps.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> mt.manual_seed(0)
        >>> attn = AdditiveAttention(3, 4, 5)
        >>> mask = np.array([[True, True], [True, False]])
        >>> ctx, w = attn(mt.randn(2, 3), mt.randn(2, 2, 4), mask)
        >>> ctx.shape, w.data[1].round(6).tolist()
        ((2, 4), [1.0, 0.0])
    """

    def __init__(self, query_size, key_size, attention_size=None):
        super().__init__()
        attention_size = attention_size or query_size
        self.query_proj = mt.nn.Linear(query_size, attention_size, bias=False)
        self.key_proj = mt.nn.Linear(key_size, attention_size)
        self.v = mt.nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys):
        """``W_k h_j + b`` for every source step: ``(S, B, A)``."""
        return self.key_proj(keys)

    def forward(self, query, keys, mask, projected_keys=None):
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        energy = (projected_keys + self.query_proj(query)).tanh()      # (S, B, A)
        scores = self.v(energy).squeeze(-1)                             # (S, B)
        return _attend(scores, keys, mask)


class DotAttention(mt.nn.Module):
    """Dot-product attention: ``score_j = s . h_j`` (divided by ``sqrt(size)`` if ``scale``).

    If the key size differs from the query size (e.g. a bidirectional encoder) the keys are first
    mapped to the query size by a learned linear layer (Luong's "general" score).

    Inputs/Outputs: as :class:`AdditiveAttention`.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> attn = DotAttention(2, 2)
        >>> keys = mt.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])                # (S=2, B=1, 2)
        >>> ctx, w = attn(mt.tensor([[10.0, 0.0]]), keys, np.ones((2, 1), bool))
        >>> w.data.round(4).tolist()
        [[1.0, 0.0]]
    """

    def __init__(self, query_size, key_size, scale=False):
        super().__init__()
        self.scale = 1.0 / math.sqrt(query_size) if scale else None
        if key_size != query_size:
            self.key_proj = mt.nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys):
        """The keys in the query's space: ``(S, B, Q)``."""
        return self.key_proj(keys) if getattr(self, "key_proj", None) is not None else keys

    def forward(self, query, keys, mask, projected_keys=None):
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = (projected_keys * query.unsqueeze(0)).sum(axis=-1)     # (S, B)
        if self.scale is not None:
            scores = scores * self.scale
        return _attend(scores, keys, mask)


def _attend(scores, keys, mask):
    """Masked softmax over source steps, then the weighted sum of the keys."""
    scores = scores + np.where(mask, 0.0, _MASKED_SCORE).astype(scores.dtype)
    weights = scores.softmax(axis=0)                                    # (S, B)
    weights.name = "attention"
    context = (weights.unsqueeze(-1) * keys).sum(axis=0)                # (B, K)
    return context, weights.transpose(1, 0)                             # (B, S)


class Decoder(mt.nn.Module):
    """Generate target tokens one step at a time, optionally attending over the encoder outputs.

    Args:
        vocab_size: target vocabulary size.
        embedding_dim, hidden_size: sizes (``hidden_size`` must equal the encoder's to start from
            its final state).
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"rnn_relu"``.
        num_layers: stacked cells (must equal the encoder's to start from its state).
        attention: None, ``"additive"`` or ``"dot"``.
        context_size: the encoder output size (keys), needed with attention.

    Example:
        >>> import microtensor as mt
        >>> mt.manual_seed(0)
        >>> dec = Decoder(7, 4, 6, cell="gru", attention="dot", context_size=6)
        >>> keys = mt.randn(3, 2, 6)
        >>> logits, weights = dec(mt.tensor([[1, 1], [4, 5]]), None, keys, [3, 2])
        >>> logits.shape, weights.shape
        ((2, 2, 7), (2, 2, 3))
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, cell="gru", num_layers=1,
                 attention=None, context_size=None):
        super().__init__()
        if attention not in (None, "additive", "dot"):
            raise ValueError(f"attention must be None, 'additive' or 'dot', got {attention!r}")
        if attention is not None and context_size is None:
            raise ValueError("a decoder with attention needs context_size (the encoder's output "
                             "size)")
        self.cell = _check_cell(cell)
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.attention_type = attention
        self.context_size = int(context_size) if attention is not None else 0
        self.embedding = mt.nn.Embedding(vocab_size, positive_int(embedding_dim, "embedding_dim"),
                                         padding_idx=0)
        self.cells = mt.nn.ModuleList(
            [_make_cell(cell, (embedding_dim + self.context_size) if k == 0 else hidden_size,
                        hidden_size) for k in range(positive_int(num_layers, "num_layers"))])
        if attention == "additive":
            self.attention = AdditiveAttention(hidden_size, self.context_size)
        elif attention == "dot":
            self.attention = DotAttention(hidden_size, self.context_size)
        self.out = mt.nn.Linear(hidden_size + self.context_size, vocab_size)

    @property
    def num_layers(self):
        """Number of stacked cells."""
        return len(self.cells)

    def initial_states(self, encoder_state, batch_size):
        """Per-layer cell states from an encoder's final state (None -> zeros).

        An LSTM decoder after a GRU/RNN encoder starts with a zero cell state; a GRU/RNN decoder
        after an LSTM encoder takes its ``h``.
        """
        if encoder_state is None:
            return [None] * self.num_layers
        h = encoder_state[0] if isinstance(encoder_state, tuple) else encoder_state
        c = encoder_state[1] if isinstance(encoder_state, tuple) else None
        if h.shape != (self.num_layers, batch_size, self.hidden_size):
            raise mt.ShapeError(f"Decoder: the encoder state has shape {h.shape}; expected "
                                f"(num_layers={self.num_layers}, batch={batch_size}, "
                                f"hidden_size={self.hidden_size}): give encoder and decoder the "
                                f"same hidden_size and num_layers")
        states = []
        for k in range(self.num_layers):
            if self.cell == "lstm":
                states.append((h[k], c[k] if c is not None else mt.zeros_like(h[k])))
            else:
                states.append(h[k])
        return states

    def step(self, tokens, states, keys=None, mask=None, projected_keys=None):
        """One decoding step from the previous tokens ``(B,)``; returns ``(logits, states, weights)``."""
        previous_top = states[-1][0] if isinstance(states[-1], tuple) else states[-1]
        x = self.embedding(mt.tensor(tokens))                            # (B, E)
        weights = None
        context = None
        if self.attention_type is not None:
            with mt.scope("attention"):
                if previous_top is None:
                    previous_top = mt.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
                context, weights = self.attention(previous_top, keys, mask, projected_keys)
            x = mt.cat([x, context], axis=-1)                           # (B, E + K)
        new_states = []
        for k, cell in enumerate(self.cells):
            with mt.scope(f"l{k}"):
                state = cell(x, states[k])
            new_states.append(state)
            x = state[0] if isinstance(state, tuple) else state         # (B, H)
        features = x if context is None else mt.cat([x, context], axis=-1)
        return self.out(features), new_states, weights                  # (B, V)

    def forward(self, tgt_in, encoder_state, keys=None, src_lengths=None, teacher_forcing=1.0):
        """Teacher-forced (with probability ``teacher_forcing`` per step) decoding of ``tgt_in``.

        Returns ``(logits (T, B, V), weights (T, B, S) or None)``.
        """
        tgt_in = _as_ids(tgt_in, "decoder input")
        T, B = tgt_in.shape
        keys, mask, projected = self._prepare(keys, src_lengths, B)
        states = self.initial_states(encoder_state, B)
        logits, weights = [], []
        tokens = tgt_in[0]
        for t in range(T):
            if t > 0:
                use_truth = teacher_forcing >= 1.0 or mt.get_rng().random() < teacher_forcing
                tokens = tgt_in[t] if use_truth else np.argmax(logits[-1].data, axis=-1)
            with mt.scope(f"decoder/t{t}"):
                step_logits, states, w = self.step(tokens, states, keys, mask, projected)
            logits.append(step_logits)
            weights.append(w)
        stacked = mt.stack(logits, axis=0)                              # (T, B, V)
        return stacked, (mt.stack(weights, axis=0) if weights[0] is not None else None)

    def _prepare(self, keys, src_lengths, B):
        if self.attention_type is None:
            return None, None, None
        if keys is None:
            raise ValueError("a decoder with attention needs the encoder outputs (keys)")
        S = keys.shape[0]
        mask = _source_mask(src_lengths if src_lengths is not None else np.full(B, S), S)
        return keys, mask, self.attention.project_keys(keys)

    def generate(self, encoder_state, keys, src_lengths, sos, eos, max_len, method="greedy",
                 temperature=1.0, rng=None):
        """Decode without targets: greedy (argmax) or sampled, stopping when all emitted ``eos``.

        Returns ``(ids (T, B), weights (T, B, S) ndarray or None)``; steps after a sequence's
        ``eos`` are 0 (padding).
        """
        if method not in ("greedy", "sample"):
            raise ValueError(f"method must be 'greedy' or 'sample', got {method!r}")
        rng = mt.get_rng() if rng is None else rng
        B = keys.shape[1] if keys is not None else (
            encoder_state[0] if isinstance(encoder_state, tuple) else encoder_state).shape[1]
        keys, mask, projected = self._prepare(keys, src_lengths, B)
        states = self.initial_states(encoder_state, B)
        tokens = np.full(B, sos, dtype=np.int64)
        finished = np.zeros(B, dtype=bool)
        out, weights = [], []
        for t in range(int(max_len)):
            with mt.scope(f"decoder/t{t}"):
                logits, states, w = self.step(tokens, states, keys, mask, projected)
            scores = logits.data.astype(np.float64)
            if method == "greedy":
                tokens = scores.argmax(axis=-1)
            else:
                scores = scores / max(temperature, 1e-8)
                probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
                probs /= probs.sum(axis=-1, keepdims=True)
                tokens = np.array([rng.choice(p.size, p=p) for p in probs])
            tokens = np.where(finished, 0, tokens)
            out.append(tokens)
            weights.append(None if w is None else w.data)
            finished |= tokens == eos
            if finished.all():
                break
        ids = np.stack(out, axis=0)
        return ids, (np.stack(weights, axis=0) if weights[0] is not None else None)


class Seq2Seq(mt.nn.Module):
    """An :class:`Encoder` and a :class:`Decoder`, with loss and decoding for padded batches.

    Args: ``encoder``, ``decoder``, and the target ``sos``/``eos``/``pad`` ids (defaults match
    :func:`rnn.data.make_seq2seq`: pad 0, sos 1, eos 2).

    Example:
        >>> import microtensor as mt
        >>> from rnn.data import dates
        >>> mt.manual_seed(0)
        >>> batch = dates(3, seed=0)
        >>> model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=8)
        >>> ids, _ = model.decode(batch.src, batch.src_lengths, max_len=4)
        >>> ids.shape
        (4, 3)
    """

    def __init__(self, encoder, decoder, sos=1, eos=2, pad=0):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.sos, self.eos, self.pad = int(sos), int(eos), int(pad)

    @classmethod
    def build(cls, src_vocab_size, tgt_vocab_size, hidden_size=64, embedding_dim=None,
              cell="gru", num_layers=1, attention=None, bidirectional=False):
        """A matching encoder and decoder of the given sizes (the usual way to make one)."""
        embedding_dim = embedding_dim or min(32, hidden_size)
        encoder = Encoder(src_vocab_size, embedding_dim, hidden_size, cell, num_layers,
                          bidirectional)
        decoder = Decoder(tgt_vocab_size, embedding_dim, hidden_size, cell, num_layers,
                          attention, context_size=encoder.output_size)
        return cls(encoder, decoder)

    def forward(self, src, src_lengths, tgt_in, teacher_forcing=1.0):
        """Returns ``(logits (T, B, V), attention weights (T, B, S) or None)``."""
        keys, state = self.encoder(src, src_lengths)
        return self.decoder(tgt_in, state, keys, src_lengths, teacher_forcing)

    def loss(self, batch, teacher_forcing=1.0):
        """Mean cross-entropy per real target token of a :class:`rnn.data.Seq2SeqData` batch."""
        logits, _ = self(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing)
        T, B, V = logits.shape
        return mt.nn.functional.cross_entropy(logits.reshape(T * B, V),
                                              mt.tensor(batch.tgt_out.reshape(T * B)),
                                              ignore_index=self.pad)

    def decode(self, src, src_lengths, max_len=20, method="greedy", temperature=1.0, rng=None):
        """Translate without targets. Returns ``(ids (T, B), weights (T, B, S) or None)``."""
        with mt.no_grad():
            keys, state = self.encoder(src, src_lengths)
            return self.decoder.generate(state, keys, src_lengths, self.sos, self.eos, max_len,
                                         method, temperature, rng)


def sequence_accuracy(pred_ids, tgt_out, tgt_lengths):
    """Per-sequence exact match: every target token up to and including ``<eos>`` predicted.

    Returns a bool array ``(B,)``.

    Example:
        >>> import numpy as np
        >>> sequence_accuracy(np.array([[5, 5], [2, 6]]), np.array([[5, 5], [2, 2]]), [2, 2]).tolist()
        [True, False]
    """
    pred_ids, tgt_out = np.asarray(pred_ids), np.asarray(tgt_out)
    T = max(pred_ids.shape[0], tgt_out.shape[0])
    pred = np.zeros((T, pred_ids.shape[1]), dtype=np.int64)
    pred[:pred_ids.shape[0]] = pred_ids
    tgt = np.zeros_like(pred)
    tgt[:tgt_out.shape[0]] = tgt_out
    valid = np.arange(T)[:, None] < np.asarray(tgt_lengths)[None, :]
    return ((pred == tgt) | ~valid).all(axis=0)
