"""rnn.models: many-to-one, many-to-many, one-to-many and the CharRNN language model."""
import math

import numpy as np
import pytest

import microtensor as mt
import rnn
from rnn.data import CharVocab, parity, sine_waves
from rnn.models import CheckpointMismatch, detach_state


def seeded(seed=0):
    mt.manual_seed(seed)


# ----- many-to-one -----------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_many_to_one_with_lengths_equals_each_sequence_alone(cell):
    seeded()
    model = rnn.ManyToOne(2, 5, 3, cell=cell).double()
    x = np.random.default_rng(0).standard_normal((6, 3, 2))
    lengths = np.array([6, 2, 4])
    x[2:, 1] = 99.0          # padding garbage must not matter
    x[4:, 2] = -99.0
    batch = model(mt.tensor(x), lengths=lengths).data
    for j, n in enumerate(lengths):
        alone = model(mt.tensor(x[:n, j:j + 1])).data
        np.testing.assert_allclose(batch[j], alone[0], rtol=1e-12, atol=1e-12)


def test_many_to_one_gives_no_gradient_to_padding_and_bidirectional_concatenates():
    seeded()
    model = rnn.SequenceClassifier(2, 4, 2, cell="gru", bidirectional=True).double()
    assert model.head.weight.shape == (2, 8)
    x = mt.tensor(np.ones((5, 2, 2)), requires_grad=True)
    model(x, lengths=[5, 3]).sum().backward()
    assert np.all(x.grad[3:, 1] == 0) and np.all(x.grad[:3, 1] != 0)
    # Without lengths the last state is used, and the padding steps do get a gradient.
    x.grad = None
    model(x).sum().backward()
    assert np.all(x.grad[3:, 1] != 0)


def test_many_to_one_with_embedding_reads_ids():
    seeded()
    model = rnn.ManyToOne(4, 6, 2, num_embeddings=10)
    assert model(np.array([[1, 2], [3, 4]])).shape == (2, 2)
    with pytest.raises(TypeError, match="integer token ids"):
        model(np.ones((2, 2, 4)))


def test_many_to_one_learns_parity_of_three_bits():
    seeded(1)
    train = parity(256, length=3, seed=0)
    model = rnn.ManyToOne(1, 16, 2, cell="gru")
    opt = mt.optim.Adam(model.parameters(), lr=0.03)
    targets = mt.tensor(train.targets)
    for _ in range(120):
        loss = mt.nn.functional.cross_entropy(model(mt.tensor(train.inputs)), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = parity(200, length=3, seed=5)
    accuracy = (model(mt.tensor(test.inputs)).data.argmax(-1) == test.targets).mean()
    assert accuracy > 0.95


# ----- many-to-many ----------------------------------------------------------------------------
def test_many_to_many_fits_sine_waves():
    seeded(0)
    data = sine_waves(32, length=20, seed=0)
    model = rnn.ManyToMany(1, 16, 1, cell="lstm")
    opt = mt.optim.Adam(model.parameters(), lr=0.02)
    x, y = mt.tensor(data.inputs), mt.tensor(data.targets)
    losses = []
    for _ in range(60):
        out, _ = model(x)
        assert out.shape == (20, 32, 1)
        loss = ((out - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_many_to_many_state_continues_a_sequence():
    seeded()
    model = rnn.ManyToMany(1, 4, 1, cell="lstm").double()
    x = mt.tensor(np.random.default_rng(0).standard_normal((6, 2, 1)))
    whole, _ = model(x)
    first, state = model(x[:3])
    second, _ = model(x[3:], detach_state(state))
    np.testing.assert_allclose(np.concatenate([first.data, second.data]), whole.data, rtol=1e-12)


# ----- one-to-many -----------------------------------------------------------------------------
@pytest.mark.parametrize("feed", ["zeros", "previous"])
def test_one_to_many_matches_a_hand_written_loop(feed):
    seeded()
    model = rnn.OneToMany(3, 5, 2, cell="lstm", feed=feed).double()
    x = mt.tensor(np.random.default_rng(1).standard_normal((4, 3)))
    got = model(x, steps=4).data
    cell = model.cells[0]
    state, inp, expected = None, x, []
    for t in range(4):
        state = cell(inp, state)
        y = model.head(state[0])
        expected.append(y.data)
        inp = mt.zeros_like(x) if feed == "zeros" else model.feedback(y)
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-12)


def test_one_to_many_feeding_back_outputs_sends_gradient_through_them():
    seeded()
    model = rnn.OneToMany(2, 4, 2, cell="rnn", feed="previous").double()
    assert "feedback" not in model._modules          # same sizes: outputs fed back directly
    x = mt.tensor(np.ones((1, 2)), requires_grad=True)
    out = model(x, steps=3)
    walked = mt.graph.walk(out)
    scopes = {r.scope for r in walked}
    assert {"one_to_many/l0/t0", "one_to_many/l0/t2", "one_to_many/head/t1"} <= scopes
    # The last output depends on the head's weights through the fed-back earlier outputs too:
    # perturbing the head changes step 2's *input*, so the finite difference differs from the
    # one with a zero feed.
    out[2].sum().backward()
    analytic = model.head.weight.grad.copy()
    eps = 1e-6
    model.head.weight.data[0, 0] += eps
    up = model(x, steps=3)[2].sum().item()
    model.head.weight.data[0, 0] -= 2 * eps
    down = model(x, steps=3)[2].sum().item()
    assert analytic[0, 0] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_one_to_many_errors():
    with pytest.raises(ValueError, match="feed"):
        rnn.OneToMany(2, 3, 2, feed="sometimes")
    with pytest.raises(mt.ShapeError, match="expected x of shape"):
        rnn.OneToMany(2, 3, 2)(mt.ones(2, 5), steps=2)


# ----- CharRNN ---------------------------------------------------------------------------------
TEXT = "hello world, hello recurrent world. "


def test_char_rnn_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch parity test")
    seeded()
    model = rnn.CharRNN(TEXT, hidden_size=6, num_layers=2, embedding_dim=3).double()
    ids = model.vocab.encode(TEXT[:10])[:, None].repeat(2, axis=1)
    ids[:, 1] = model.vocab.encode(TEXT[5:15])
    logits, (h, c) = model(ids)

    emb = torch.nn.Embedding(len(model.vocab), 3).double()
    lstm = torch.nn.LSTM(3, 6, num_layers=2).double()
    head = torch.nn.Linear(6, len(model.vocab)).double()
    state = {k: torch.from_numpy(v) for k, v in model.state_dict().items()}
    emb.load_state_dict({"weight": state["embedding.weight"]})
    lstm.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    out, (th, tc) = lstm(emb(torch.from_numpy(ids)))
    expected = head(out)
    np.testing.assert_allclose(logits.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.data, tc.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_char_rnn_fused_and_explicit_paths_agree():
    seeded()
    model = rnn.CharRNN(TEXT, hidden_size=5, cell="gru").double()
    ids = model.vocab.encode(TEXT)[:, None]
    fused, _ = model(ids)
    explicit, _ = model.set_fused(False)(ids)
    assert not model.fused
    np.testing.assert_allclose(fused.data, explicit.data, rtol=1e-10, atol=1e-12)
    ops = {r.op for r in mt.graph.walk(model.loss(ids[:-1], ids[1:])[0])}
    assert "sigmoid" in ops                  # explicit: every gate is a node


def test_char_rnn_rejects_bad_ids():
    seeded()
    model = rnn.CharRNN("abc", hidden_size=4)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\)"):
        model(np.array([[7]]))
    with pytest.raises(mt.ShapeError, match=r"\(T, B\)"):
        model(np.array([1, 2]))
    with pytest.raises(ValueError, match="cell must be one of"):
        rnn.CharRNN("abc", cell="transformer")


def test_bits_per_char_is_the_mean_cross_entropy_in_bits():
    seeded()
    model = rnn.CharRNN(TEXT, hidden_size=8).double()
    ids = model.vocab.encode(TEXT * 3)
    with mt.no_grad():
        nats = model.loss(ids[:-1, None], ids[1:, None])[0].item()
    # One stream read in chunks with the state carried == one pass over the whole text.
    assert model.bits_per_char(TEXT * 3, batch_size=1, seq_len=7) == \
        pytest.approx(nats / math.log(2), rel=1e-10)
    # Untrained, the model is close to uniform over the vocabulary.
    assert abs(model.bits_per_char(TEXT * 3) - math.log2(len(model.vocab))) < 0.5


def test_generate_is_seeded_greedy_and_top_k():
    seeded()
    model = rnn.CharRNN(TEXT, hidden_size=8)
    a = model.generate("hel", n=20, temperature=1.0, seed=3)
    assert a == model.generate("hel", n=20, temperature=1.0, seed=3)
    assert a.startswith("hel") and len(a) == 23
    assert a != model.generate("hel", n=20, temperature=1.0, seed=4)
    greedy = model.generate("hel", n=10, temperature=0)
    assert model.generate("hel", n=10, temperature=1.0, top_k=1, seed=9) == greedy
    # Greedy by hand: argmax of the logits, one character at a time.
    text = "hel"
    for _ in range(10):
        logits, _ = model(model.vocab.encode(text)[:, None])
        text += model.vocab.itos[int(logits.data[-1, 0].argmax())]
    assert text == greedy
    with pytest.raises(ValueError, match="temperature"):
        model.generate("a", temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        model.generate("a", top_k=0)
    assert model.training                     # generate restores the mode


def test_top_k_only_samples_among_the_k_most_likely():
    from rnn.models import _sample
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 5.0, 4.0, -1.0, 3.9])
    picks = {_sample(logits, 10.0, 2, rng) for _ in range(200)}
    assert picks == {1, 2}


def test_checkpoint_round_trip_and_foreign_checkpoints(tmp_path):
    seeded()
    model = rnn.CharRNN(TEXT, hidden_size=6, num_layers=2, cell="gru", dropout=0.1)
    path = tmp_path / "m.npz"
    mt.save(model.to_checkpoint(), path)
    seeded(5)
    loaded = rnn.CharRNN.from_checkpoint(path)
    assert loaded.config() == model.config() and loaded.vocab == model.vocab
    ids = model.vocab.encode(TEXT)[:, None]
    loaded.eval(), model.eval()             # dropout off: the same weights give the same logits
    np.testing.assert_array_equal(loaded(ids)[0].data, model(ids)[0].data)
    mt.save({"format": "something-else"}, tmp_path / "other.npz")
    with pytest.raises(CheckpointMismatch, match="not a CharRNN checkpoint"):
        rnn.CharRNN.from_checkpoint(tmp_path / "other.npz")
    broken = model.to_checkpoint()
    del broken["model"]["head.weight"]
    with pytest.raises(CheckpointMismatch, match="head.weight"):
        rnn.CharRNN.from_checkpoint(broken)


def test_vocab_from_text_or_vocab():
    model = rnn.CharRNN(CharVocab("xyz", specials=("<pad>",)), hidden_size=4)
    assert len(model.vocab) == 5 and model.head.weight.shape == (5, 4)
    with pytest.raises(TypeError, match="CharVocab or a text"):
        rnn.CharRNN(42)
