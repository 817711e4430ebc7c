"""rnn.data (vocabulary, stream batching, synthetic tasks) and rnn.corpus (default text, files)."""
import datetime

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnn import corpus, data
from rnn.data import CharVocab, StreamBatcher, batchify


# ----- CharVocab -------------------------------------------------------------------------------
@settings(max_examples=30)
@given(st.text(min_size=1, max_size=60))
def test_vocab_round_trip_any_unicode(text):
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text     # "\ufffd" itself is the unknown token and decodes as such
    assert CharVocab.from_dict(vocab.to_dict()) == vocab
    assert CharVocab.from_array(vocab.to_array()) == vocab


def test_vocab_layout_specials_unknown_then_sorted_chars():
    vocab = CharVocab.from_text("cba", specials=("<pad>", "<sos>"))
    assert vocab.itos == ["<pad>", "<sos>", "\ufffd", "a", "b", "c"]
    assert vocab.unk_index == 2
    assert vocab.index("<sos>") == 1 and vocab.index("c") == 5


def test_vocab_unknown_characters_map_to_unk_and_decode_as_marker():
    vocab = CharVocab.from_text("abc")
    ids = vocab.encode("a\u00e9z\U0001F600b")   # é, z and an emoji were never seen
    assert ids.tolist() == [1, 0, 0, 0, 2]
    assert vocab.decode(ids) == "a\ufffd\ufffd\ufffdb"
    assert "z" not in vocab and "a" in vocab


def test_vocab_min_count_drops_rare_characters():
    vocab = CharVocab.from_text("aaab", min_count=2)
    assert "a" in vocab and "b" not in vocab
    assert vocab.encode("b").tolist() == [vocab.unk_index]


def test_vocab_decode_skip_specials_and_range_check():
    vocab = CharVocab("ab", specials=("<pad>", "<eos>"))
    assert vocab.decode([3, 4, 1, 0], skip_specials=True) == "ab"
    assert vocab.decode([3, 1]) == "a<eos>"
    with pytest.raises(ValueError, match="ids must lie in"):
        vocab.decode([5])


def test_vocab_bad_inputs_are_clear():
    with pytest.raises(TypeError, match="str"):
        CharVocab.from_text(b"bytes")
    with pytest.raises(ValueError, match="distinct"):
        CharVocab("ab", specials=("<p>", "<p>"))
    with pytest.raises(ValueError, match="not a CharVocab"):
        CharVocab.from_dict({"oops": 1})
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])


# ----- stream batching -------------------------------------------------------------------------
def test_batchify_streams_are_contiguous_columns():
    out = batchify(np.arange(10), 3)
    assert out.shape == (3, 3)
    assert out[:, 0].tolist() == [0, 1, 2] and out[:, 2].tolist() == [6, 7, 8]


def test_batchify_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="too short"):
        batchify(np.arange(5), 4)
    with pytest.raises(ValueError, match=">= 1"):
        batchify(np.arange(5), 0)


@settings(max_examples=30)
@given(n=st.integers(4, 60), batch=st.integers(1, 4), k=st.integers(1, 9))
def test_stream_batcher_covers_each_stream_once_with_shifted_targets(n, batch, k):
    if n // batch < 2:
        return
    ids = np.arange(n)
    b = StreamBatcher(ids, batch, k)
    xs, ys = zip(*list(b))
    assert len(xs) == len(b)
    x, y = np.concatenate(xs), np.concatenate(ys)
    streams = batchify(ids, batch)
    np.testing.assert_array_equal(x, streams[:-1])
    np.testing.assert_array_equal(y, streams[1:])
    assert all(c.shape[0] <= k for c in xs)


def test_stream_batcher_resume_continues_at_same_chunk():
    ids = np.arange(100)
    a = StreamBatcher(ids, 4, 5)
    for _ in range(7):          # past one epoch (5 chunks per epoch)
        a.next_chunk()
    b = StreamBatcher(ids, 4, 5)
    b.load_state_dict(a.state_dict())
    assert b.epoch == 1
    for _ in range(4):
        np.testing.assert_array_equal(a.next_chunk()[0], b.next_chunk()[0])
    with pytest.raises(ValueError, match="outside this stream"):
        b.load_state_dict({"position": 10_000, "epoch": 0})


# ----- synthetic tasks -------------------------------------------------------------------------
TASKS = [
    lambda seed: data.adding_problem(5, length=12, seed=seed),
    lambda seed: data.copy_memory(5, seed=seed),
    lambda seed: data.parity(5, length=9, min_length=3, seed=seed),
    lambda seed: data.sine_waves(5, length=12, seed=seed),
]


@pytest.mark.parametrize("make", TASKS)
def test_tasks_are_reproducible_by_seed_and_vary_with_it(make):
    a, b, c = make(1), make(1), make(2)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.inputs, c.inputs)


def test_adding_problem_targets_are_sum_of_the_two_marked_values():
    d = data.adding_problem(50, length=20, seed=0)
    values, markers = d.inputs[..., 0], d.inputs[..., 1]
    assert (markers.sum(0) == 2).all()
    assert (markers[:10].sum(0) == 1).all()      # one mark in each half
    np.testing.assert_allclose(d.targets[:, 0], (values * markers).sum(0), rtol=1e-6)
    assert d.inputs.dtype == np.float32


def test_copy_memory_layout():
    d = data.copy_memory(4, n_symbols=5, copy_length=3, delay=6, seed=0)
    assert d.inputs.shape == (12, 4)
    np.testing.assert_array_equal(d.targets[-3:], d.inputs[:3])
    assert (d.inputs[8] == 6).all() and (d.inputs[3:8] == 0).all() and (d.inputs[9:] == 0).all()
    assert d.mask[-3:].all() and not d.mask[:-3].any()
    assert ((d.inputs[:3] >= 1) & (d.inputs[:3] <= 5)).all()


def test_parity_with_lengths_ignores_padding():
    d = data.parity(40, length=10, min_length=2, seed=0)
    bits = d.inputs[..., 0]
    for j in range(40):
        n = d.lengths[j]
        assert bits[n:, j].sum() == 0
        assert d.targets[j] == int(bits[:n, j].sum()) % 2
    running = data.parity(3, length=6, running=True, seed=0)
    np.testing.assert_array_equal(running.targets[-1], data.parity(3, length=6, seed=0).targets)


def test_sine_waves_targets_are_next_values():
    d = data.sine_waves(3, length=30, seed=0)
    np.testing.assert_allclose(d.inputs[1:], d.targets[:-1])
    assert np.abs(d.inputs).max() <= 1.0


def test_minibatches_cover_everything_once():
    d = data.parity(23, length=5, running=True, seed=0)
    seen = []
    for batch in data.minibatches(d, 5, seed=1):
        assert batch.targets.shape[0] == 5     # per-step targets keep their time axis
        seen.extend(batch.inputs[..., 0].T.tolist())
    assert sorted(seen) == sorted(d.inputs[..., 0].T.tolist())


def test_reversal_encoding():
    d = data.reversal(6, min_length=2, max_length=7, seed=0)
    v = d.tgt_vocab
    for j, (s, t) in enumerate(d.pairs):
        assert t == s[::-1]
        assert d.src_vocab.decode(d.src[:d.src_lengths[j], j]) == s
        assert d.tgt_in[0, j] == v.index(data.SOS)
        assert v.decode(d.tgt_in[1:d.tgt_lengths[j], j]) == t
        assert v.decode(d.tgt_out[:d.tgt_lengths[j], j]) == t + data.EOS
        assert (d.tgt_out[d.tgt_lengths[j]:, j] == 0).all()


def test_dates_targets_are_the_iso_form_of_the_source():
    d = data.dates(300, seed=0)
    assert len({len(s) for s, _ in d.pairs}) > 8              # many input lengths
    for s, t in d.pairs:
        parsed = datetime.date.fromisoformat(t)
        assert 1950 <= parsed.year <= 2049
        assert str(parsed.day) in s
    assert d.src_vocab.unk_index not in d.src                  # fixed alphabet covers all formats
    test = data.dates(5, seed=1, src_vocab=d.src_vocab, tgt_vocab=d.tgt_vocab)
    assert test.src_vocab is d.src_vocab
    sub = d.subset(np.array([0, 1]))
    assert sub.src.shape[0] == max(sub.src_lengths)


# ----- corpus ----------------------------------------------------------------------------------
def test_default_corpus_is_offline_english_prose():
    text, source = corpus.default_corpus()
    assert source == "pydoc_data.topics"
    assert len(text) > 200_000 and " the " in text
    assert corpus.default_corpus()[0] == text                   # deterministic


def test_fallback_corpus_without_pydoc_data(monkeypatch):
    def missing():
        raise ImportError("no pydoc_data")
    monkeypatch.setattr(corpus, "_pydoc_topics_text", missing)
    text, source = corpus.default_corpus()
    assert source == "stdlib docstrings" and len(text) > 50_000


def test_load_text_errors(tmp_path):
    with pytest.raises(corpus.TextFileError, match="does not exist"):
        corpus.load_text(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(corpus.TextFileError, match="empty"):
        corpus.load_text(empty)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(corpus.TextFileError, match="binary"):
        corpus.load_text(binary)
    with pytest.raises(corpus.TextFileError, match="directory"):
        corpus.load_text(tmp_path)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    assert corpus.load_text(latin) == "caf\u00e9 au lait\n"


def test_split_text():
    train, valid = corpus.split_text("x" * 95 + "y" * 5, valid_fraction=0.05)
    assert train == "x" * 95 and valid == "y" * 5
    with pytest.raises(ValueError):
        corpus.split_text("abc", valid_fraction=1.0)
