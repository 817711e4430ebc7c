"""Truncated BPTT trainer: exact gradients, the graph cut, state carrying, clipping, schedules,
evaluation, checkpoints, Ctrl-C and exact resume."""
import json
import math
import os
import signal

import numpy as np
import pytest

import microtensor as mt
import rnn
from rnn.tbptt import TBPTTTrainer, make_optimizer, make_scheduler

TEXT = "abcd dcba abba cdcd " * 12


def tiny_model(seed=0, cell="lstm", dtype="float64", **kwargs):
    mt.manual_seed(seed)
    model = rnn.CharRNN(rnn.data.CharVocab.from_text("abcd"), hidden_size=3, embedding_dim=2,
                        cell=cell, **kwargs)
    return model.to(dtype)


def frozen_trainer(model, ids, batch_size, seq_len):
    """A trainer whose optimizer does not move the parameters (lr=0), so the gradient of every
    step is taken at the same point and can be compared with a reference."""
    return TBPTTTrainer(model, ids, batch_size=batch_size, seq_len=seq_len, optimizer="sgd",
                        lr=0.0, clip=None, progress=False)


def numeric_gradient(params, f, eps=1e-6):
    grads = []
    for p in params:
        g = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            p.data[i] = old + eps
            up = f()
            p.data[i] = old - eps
            down = f()
            p.data[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("seq_len", [6, 50])
def test_k_at_least_T_gives_exactly_full_bptt_gradient(cell, seq_len):
    model = tiny_model(cell=cell)
    ids = model.vocab.encode("abcdbadcab cadb")[:14]       # 2 streams of 7 ids: T = 6 steps
    trainer = frozen_trainer(model, ids, batch_size=2, seq_len=seq_len)
    trainer.train_step()
    got = [p.grad.copy() for p in model.parameters()]

    streams = rnn.data.batchify(ids, 2)
    x, y = streams[:-1], streams[1:]

    def full_loss():
        with mt.no_grad():
            return model.loss(x, y)[0].item()
    expected = numeric_gradient(list(model.parameters()), full_loss)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-8)


def test_k_below_T_cuts_the_graph_between_chunks():
    model = tiny_model()
    ids = model.vocab.encode("abcdbadcab cadbdcba")[:18]    # 2 streams of 9 ids: T = 8
    trainer = frozen_trainer(model, ids, batch_size=2, seq_len=4)
    trainer.train_step()
    trainer.train_step()                                    # the second chunk: steps 4..7
    got = [p.grad.copy() for p in model.parameters()]

    streams = rnn.data.batchify(ids, 2)
    x1, x2, y2 = streams[:4], streams[4:8], streams[5:9]
    with mt.no_grad():
        _, carried = model(x1)
    carried = tuple(s.detach() for s in carried)

    def chunk_loss_from_fixed_state():
        with mt.no_grad():
            return model.loss(x2, y2, carried)[0].item()

    def chunk_loss_through_first_chunk():
        with mt.no_grad():
            _, state = model(x1)
            return model.loss(x2, y2, state)[0].item()
    params = list(model.parameters())
    truncated = numeric_gradient(params, chunk_loss_from_fixed_state)
    untruncated = numeric_gradient(params, chunk_loss_through_first_chunk)
    for g, e in zip(got, truncated):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-8)
    # The recurrent weights' gradient really lost the path into the first chunk.
    w_hh = [n for n, _ in model.named_parameters()].index("rnn.weight_hh_l0")
    assert not np.allclose(got[w_hh], untruncated[w_hh], rtol=1e-3, atol=1e-6)


def test_state_is_carried_across_chunks():
    model = tiny_model()
    ids = model.vocab.encode(TEXT)
    batch, k = 3, 7
    trainer = frozen_trainer(model, ids, batch_size=batch, seq_len=k)
    chunks = len(trainer.batcher)
    records = [trainer.train_step() for _ in range(chunks)]
    streams = rnn.data.batchify(ids, batch)
    with mt.no_grad():
        full = model.loss(streams[:-1], streams[1:])[0].item()
    weighted = sum(r["loss"] * min(k, streams.shape[0] - 1 - i * k) for i, r in enumerate(records))
    assert weighted / (streams.shape[0] - 1) == pytest.approx(full, rel=1e-12)
    # A new epoch starts from a fresh state.
    trainer.train_step()
    assert trainer.batcher.epoch == 1


def test_clipping_caps_the_norm_and_reports_the_norm_before_clipping():
    unclipped = TBPTTTrainer(tiny_model(), tiny_model().vocab.encode(TEXT), batch_size=2,
                             seq_len=5, clip=None, progress=False)
    expected = unclipped.train_step()["grad_norm"]
    model = tiny_model()
    trainer = TBPTTTrainer(model, model.vocab.encode(TEXT), batch_size=2, seq_len=5, clip=1e-3,
                           optimizer="sgd", lr=0.0, progress=False)
    record = trainer.train_step()
    assert record["grad_norm"] == pytest.approx(expected, rel=1e-9)
    assert expected > 1e-2
    after = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters()))
    assert after == pytest.approx(1e-3, rel=1e-3)


def test_optimizer_and_schedule_choices():
    params = [mt.nn.Parameter(mt.zeros(2))]
    names = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop",
             "adagrad": "Adagrad"}
    for name, cls in names.items():
        assert type(make_optimizer(name, params, lr=0.1)).__name__ == cls
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("lbfgs", params, lr=0.1)
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_scheduler("linear", make_optimizer("sgd", params, lr=0.1), 10)

    model = tiny_model()
    trainer = TBPTTTrainer(model, model.vocab.encode(TEXT), batch_size=2, seq_len=5, lr=0.1,
                           schedule="cosine", total_steps=4, progress=False)
    lrs = [r["lr"] for r in trainer.fit(4)]
    np.testing.assert_allclose(lrs, [0.1 * (1 + math.cos(math.pi * s / 4)) / 2 for s in range(4)])


def test_training_lowers_loss_and_evaluates_every_n_steps():
    mt.manual_seed(0)
    model = rnn.CharRNN(TEXT, hidden_size=16)
    ids = model.vocab.encode(TEXT)
    trainer = TBPTTTrainer(model, ids, valid_ids=ids[:100], batch_size=4, seq_len=10, lr=0.02,
                           eval_every=20, progress=False)
    before = model.bits_per_char(TEXT)
    history = trainer.fit(60)
    evaluated = [r["step"] for r in history if "val_bpc" in r]
    assert evaluated == [20, 40, 60]
    assert model.bits_per_char(TEXT) < before - 0.5
    assert history[-1]["val_bpc"] < history[evaluated[0] - 1]["val_bpc"] + 1e-9


def make_run(tmp_path, seed=1, **kwargs):
    """A small run with every source of state in play: Adam, a schedule, clipping, 2 layers
    with dropout (random numbers), and more steps than one pass over the data."""
    mt.manual_seed(seed)
    model = rnn.CharRNN(TEXT, hidden_size=8, num_layers=2, dropout=0.3)
    settings = dict(batch_size=3, seq_len=7, optimizer="adam", lr=0.01, clip=0.5,
                    schedule="cosine", total_steps=16, progress=False,
                    checkpoint_path=str(tmp_path / "run.npz"))
    settings.update(kwargs)
    return TBPTTTrainer(model, model.vocab.encode(TEXT), **settings)


def assert_same_run(a, b):
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)

    def without_timing(history):
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in history]
    assert without_timing(a.history) == without_timing(b.history)
    assert a.step == b.step and a.batcher.state_dict() == b.batcher.state_dict()


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    straight = make_run(tmp_path / "a")
    straight.fit(16)
    assert straight.batcher.epoch >= 1                       # the run crossed an epoch

    first = make_run(tmp_path / "b")
    first.fit(9)
    resumed = make_run(tmp_path / "c", seed=99)             # different init, different RNG
    mt.manual_seed(12345)
    resumed.resume(tmp_path / "b" / "run.npz")
    assert resumed.step == 9
    resumed.fit(16)
    assert_same_run(straight, resumed)


def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes_exactly(tmp_path):
    straight = make_run(tmp_path / "a")
    straight.fit(8)

    def press_ctrl_c(trainer, record):
        if record["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
    messages = []
    run = make_run(tmp_path / "b", log=messages.append)
    handler_before = signal.getsignal(signal.SIGINT)
    run.fit(8, callback=press_ctrl_c)
    assert signal.getsignal(signal.SIGINT) is handler_before     # handler restored
    assert run.interrupted and run.step == 3
    assert "interrupted at step 3" in messages[-1]
    saved = mt.load(tmp_path / "b" / "run.npz")
    assert saved["trainer"]["step"] == 3

    resumed = make_run(tmp_path / "c", seed=7).resume(tmp_path / "b" / "run.npz")
    resumed.fit(8)
    assert not resumed.interrupted
    assert_same_run(straight, resumed)


def test_checkpoint_every_n_steps(tmp_path):
    seen = []

    def look(trainer, record):
        path = tmp_path / "run.npz"
        seen.append(mt.load(path)["trainer"]["step"] if path.exists() else None)
    run = make_run(tmp_path, checkpoint_every=2)
    run.fit(5, callback=look)
    # The callback runs before that step's save: the file lags one step at even steps.
    assert seen == [None, None, 2, 2, 4]
    assert mt.load(tmp_path / "run.npz")["trainer"]["step"] == 5   # final save


def test_resume_refuses_other_settings_and_model_only_checkpoints(tmp_path):
    run = make_run(tmp_path)
    run.fit(2)
    other = make_run(tmp_path / "x", seq_len=9)
    with pytest.raises(ValueError, match="seq_len=7"):
        other.resume(tmp_path / "run.npz")
    model_only = tmp_path / "model.npz"
    mt.save(run.model.to_checkpoint(), model_only)
    with pytest.raises(ValueError, match="model only"):
        make_run(tmp_path / "y").resume(model_only)
    mt.save({"something": np.ones(2)}, tmp_path / "foreign.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        make_run(tmp_path / "z").resume(tmp_path / "foreign.npz")


def test_progress_plain_lines_without_tqdm(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tqdm", None)          # makes `import tqdm` fail
    lines = []
    model = tiny_model(dtype="float32")
    trainer = TBPTTTrainer(model, model.vocab.encode(TEXT), batch_size=2, seq_len=5,
                           progress=True, log_every=2, log=lines.append)
    trainer.fit(4)
    assert len(lines) == 2
    for key in ("loss", "bpc", "tok/s", "|g|"):
        assert key in lines[0]


def test_progress_bar_with_tqdm(capsys):
    pytest.importorskip("tqdm", reason="tqdm is optional")
    model = tiny_model(dtype="float32")
    trainer = TBPTTTrainer(model, model.vocab.encode(TEXT), batch_size=2, seq_len=5, progress=True)
    trainer.fit(3)
    err = capsys.readouterr().err
    assert "bpc" in err and "tok/s" in err and "|g|" in err


def test_tbptt_training_loop_matches_pytorch():
    """Several TBPTT steps (state carried and detached, Adam, clipping) give PyTorch's weights."""
    torch = pytest.importorskip("torch", reason="PyTorch parity test")
    model = tiny_model(cell="lstm")
    ids = model.vocab.encode(TEXT)
    trainer = TBPTTTrainer(model, ids, batch_size=3, seq_len=5, optimizer="adam", lr=0.05,
                           clip=0.1, progress=False)
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    emb = torch.nn.Embedding(len(model.vocab), 2).double()
    lstm = torch.nn.LSTM(2, 3).double()
    head = torch.nn.Linear(3, len(model.vocab)).double()
    emb.load_state_dict({"weight": state["embedding.weight"]})
    lstm.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=0.05)
    streams = torch.from_numpy(rnn.data.batchify(ids, 3))
    hidden, norms = None, []
    for start in range(0, 6 * 5, 5):
        x, y = streams[start:start + 5], streams[start + 1:start + 6]
        out, hidden = lstm(emb(x), hidden)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, len(model.vocab)),
                                                 y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 0.1)))
        opt.step()
        hidden = tuple(h.detach() for h in hidden)
    records = trainer.fit(6)
    np.testing.assert_allclose([r["grad_norm"] for r in records], norms, rtol=1e-9)
    np.testing.assert_allclose(model.head.weight.data, head.weight.detach().numpy(), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(model.rnn.weight_hh_l0.data, lstm.weight_hh_l0.detach().numpy(),
                               rtol=1e-9, atol=1e-12)


def test_a_long_history_is_kept_out_of_the_manifest_and_old_text_histories_still_load(tmp_path):
    """The records go into a compressed array entry: in the manifest, which a load limits to
    64 MiB, some 400,000 steps' records would make the saved run impossible to resume."""
    import zipfile
    from microtensor.serialize import _MANIFEST
    run = make_run(tmp_path / "a")
    run.fit(2)
    record = dict(run.history[-1])
    sizes = []
    for n in (10, 20_000):
        run.history = [dict(record, step=k) for k in range(n)]
        path = tmp_path / "a" / f"run{n}.npz"
        run.save(path)
        with zipfile.ZipFile(path) as archive:
            sizes.append(archive.getinfo(_MANIFEST + ".npy").file_size)
    assert abs(sizes[1] - sizes[0]) < 16, sizes               # (only a shape's digits differ)
    resumed = make_run(tmp_path / "b", seed=99)
    resumed.resume(path)
    assert len(resumed.history) == 20_000 and resumed.history[-1] == dict(record, step=19_999)
    # A checkpoint written before (the history as JSON text in the manifest) still resumes.
    state = run.state_dict()
    state["trainer"]["history"] = json.dumps(run.history[:3])
    again = make_run(tmp_path / "c", seed=99)
    again.load_state_dict(state)
    assert again.history == run.history[:3]
