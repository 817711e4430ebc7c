"""rnn.seq2seq: encoder, attention, decoder (teacher forcing, greedy/sampled decoding), training."""
import numpy as np
import pytest

import microtensor as mt
from rnn.data import dates, reversal
from rnn.seq2seq import (AdditiveAttention, Decoder, DotAttention, Encoder, Seq2Seq,
                         sequence_accuracy)


def softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_additive_attention_matches_numpy_and_masks_padding():
    mt.manual_seed(0)
    attn = AdditiveAttention(3, 4, 5).double()
    rng = np.random.default_rng(0)
    q, keys = rng.standard_normal((2, 3)), rng.standard_normal((4, 2, 4))
    mask = np.arange(4)[:, None] < np.array([4, 2])[None, :]
    ctx, w = attn(mt.tensor(q), mt.tensor(keys), mask)
    Wq, Wk, bk = attn.query_proj.weight.data, attn.key_proj.weight.data, attn.key_proj.bias.data
    v = attn.v.weight.data[0]
    scores = np.tanh(keys @ Wk.T + bk + q @ Wq.T) @ v                  # (S, B)
    scores[~mask] = -np.inf
    expected_w = softmax(scores, axis=0)
    np.testing.assert_allclose(w.data, expected_w.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ctx.data, (expected_w[..., None] * keys).sum(0), rtol=1e-12)
    assert np.all(w.data[1, 2:] == 0)


def test_dot_attention_scaling_and_key_projection():
    attn = DotAttention(2, 2, scale=True).double()
    keys = mt.tensor(np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    _, w = attn(mt.tensor([[2.0, 0.0]]).double(), keys, np.ones((2, 1), bool))
    np.testing.assert_allclose(w.data, softmax(np.array([[2 / np.sqrt(2), 0.0]]), axis=1))
    projected = DotAttention(3, 5)
    assert projected.key_proj.weight.shape == (3, 5)
    ctx, w = projected(mt.ones(2, 3), mt.ones(4, 2, 5), np.ones((4, 2), bool))
    assert ctx.shape == (2, 5) and w.shape == (2, 4)


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_attention_gradients_pass_gradcheck(attention):
    mt.manual_seed(0)
    attn = (AdditiveAttention(3, 3) if attention == "additive" else DotAttention(3, 3)).double()
    mask = np.array([[True, True], [True, True], [True, False]])
    q = mt.randn(2, 3, dtype="float64", requires_grad=True)
    keys = mt.randn(3, 2, 3, dtype="float64", requires_grad=True)
    assert mt.gradcheck(lambda q, k: attn(q, k, mask)[0], [q, keys])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encoder_padding_does_not_change_a_sequence(cell):
    mt.manual_seed(0)
    enc = Encoder(8, 3, 4, cell=cell, bidirectional=True).double()
    src = np.array([[1, 2], [3, 4], [5, 0], [6, 0]])
    outputs, state = enc(src, [4, 2])
    alone, alone_state = enc(src[:2, 1:], [2])
    np.testing.assert_allclose(outputs.data[:2, 1], alone.data[:, 0], rtol=1e-12)
    assert np.all(outputs.data[2:, 1] == 0)
    h = state[0] if cell == "lstm" else state
    h_alone = alone_state[0] if cell == "lstm" else alone_state
    np.testing.assert_allclose(h.data[:, 1], h_alone.data[:, 0], rtol=1e-12)
    assert h.shape == (1, 2, 4)                  # directions summed for the decoder


def test_teacher_forcing_ratio():
    mt.manual_seed(0)
    batch = reversal(3, min_length=3, max_length=5, n_symbols=6, seed=0)
    model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=8,
                          attention="additive").double()
    changed = batch.tgt_in.copy()
    changed[1:] = (changed[1:] + 1) % len(batch.tgt_vocab)
    run = lambda tgt, ratio: model(batch.src, batch.src_lengths, tgt, ratio)[0].data
    # Full teacher forcing reads the given targets ...
    assert not np.allclose(run(batch.tgt_in, 1.0), run(changed, 1.0))
    # ... none at all only reads <sos> and then its own predictions.
    np.testing.assert_array_equal(run(batch.tgt_in, 0.0), run(changed, 0.0))
    # A ratio in between draws from the global generator, so a seed reproduces it.
    mt.manual_seed(3)
    a = run(batch.tgt_in, 0.5)
    mt.manual_seed(3)
    np.testing.assert_array_equal(a, run(batch.tgt_in, 0.5))


def test_greedy_decoding_feeds_back_its_own_argmax():
    mt.manual_seed(1)
    batch = dates(4, seed=0)
    model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=8,
                          cell="lstm", attention="dot")
    ids, weights = model.decode(batch.src, batch.src_lengths, max_len=6)
    free_running = model(batch.src, batch.src_lengths, batch.tgt_in[:6], teacher_forcing=0.0)
    expected = free_running[0].data.argmax(-1)
    for j in range(4):
        stop = np.flatnonzero(expected[:, j] == model.eos)
        end = stop[0] + 1 if stop.size else len(expected)
        np.testing.assert_array_equal(ids[:end, j], expected[:end, j])
        assert np.all(ids[end:, j] == 0)
    assert weights.shape == (ids.shape[0], 4, batch.src.shape[0])
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def test_sampled_decoding_is_reproducible_with_a_generator():
    mt.manual_seed(0)
    batch = reversal(3, seed=1)
    model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=8)
    a, none = model.decode(batch.src, batch.src_lengths, max_len=5, method="sample",
                           rng=np.random.default_rng(7))
    b, _ = model.decode(batch.src, batch.src_lengths, max_len=5, method="sample",
                        rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert none is None                       # no attention, no weights
    with pytest.raises(ValueError, match="greedy"):
        model.decode(batch.src, batch.src_lengths, method="beam")


def test_decoder_errors():
    with pytest.raises(ValueError, match="attention must be"):
        Decoder(5, 3, 4, attention="multihead", context_size=4)
    with pytest.raises(ValueError, match="context_size"):
        Decoder(5, 3, 4, attention="dot")
    enc = Encoder(5, 3, 6)
    dec = Decoder(5, 3, 4)
    _, state = enc(np.array([[1], [2]]))
    with pytest.raises(mt.ShapeError, match="same hidden_size and num_layers"):
        dec(np.array([[1]]), state)


def test_loss_ignores_padding():
    mt.manual_seed(0)
    batch = reversal(4, min_length=2, max_length=6, seed=0)
    model = Seq2Seq.build(len(batch.src_vocab), len(batch.tgt_vocab), hidden_size=8,
                          attention="additive").double()
    loss = model.loss(batch)
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    logp = logits.data - np.log(np.exp(logits.data).sum(-1, keepdims=True))
    real = batch.tgt_out != 0
    picked = np.take_along_axis(logp, batch.tgt_out[..., None], -1)[..., 0]
    assert loss.item() == pytest.approx(-picked[real].mean(), rel=1e-10)


def test_sequence_accuracy_needs_every_token_up_to_eos():
    tgt = np.array([[4, 5], [2, 6], [0, 2]])
    pred = np.array([[4, 5], [2, 6], [9, 3]])     # second misses its <eos>
    assert sequence_accuracy(pred, tgt, [2, 3]).tolist() == [True, False]
    assert sequence_accuracy(pred[:1], tgt, [2, 3]).tolist() == [False, False]


def test_attention_model_learns_to_reverse_short_sequences():
    mt.manual_seed(0)
    train = reversal(256, min_length=2, max_length=4, n_symbols=4, seed=0)
    model = Seq2Seq.build(len(train.src_vocab), len(train.tgt_vocab), hidden_size=24,
                          attention="dot")
    opt = mt.optim.Adam(model.parameters(), lr=0.03)
    first = None
    for step in range(50):
        loss = model.loss(train)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    assert loss.item() < 0.3 * first
    test = reversal(100, min_length=2, max_length=4, n_symbols=4, seed=9)
    ids, _ = model.decode(test.src, test.src_lengths, max_len=6)
    assert sequence_accuracy(ids, test.tgt_out, test.tgt_lengths).mean() > 0.8   # seen: 0.86
