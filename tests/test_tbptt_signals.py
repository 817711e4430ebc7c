"""Ctrl-C at every point of a training step (issue 13): the checkpoint always holds one whole step.

A line tracer delivers SIGINT at each line the trainer executes during a step: in
``train_step``, in ``fit``'s loop, in ``save`` and inside the atomic write of the checkpoint.
One Ctrl-C: the step completes, the checkpoint is saved, and resuming from it ends bit-identical
to a run that was never interrupted. A second Ctrl-C at any point: training aborts at once, nothing
torn is written, the file on disk is exactly the reference state of the step it names, and
resuming from it still ends bit-identical. NaN/Inf losses stop training before the update.
"""
import math
import re
import signal
import sys

import numpy as np
import pytest

import microtensor as mt
import rnn
from microtensor.atomic import atomic_write, temporary_files
from rnn.tbptt import TBPTTTrainer, TornStateError, TrainingDiverged
from tests.checkpoint_files import same_tree

TEXT = "abcd dcba abba cdcd " * 12
STEPS = 3
WINDOW_STEP = 2                 # the step every point of which is hit
TRACED = {TBPTTTrainer.train_step.__code__, TBPTTTrainer.fit.__code__, TBPTTTrainer.save.__code__,
          atomic_write.__code__}


def make_trainer(path, log=None, **overrides):
    mt.manual_seed(0)
    vocab = rnn.data.CharVocab.from_text("abcd ")
    # Two layers with dropout: the random generator's position is part of the state too.
    model = rnn.CharRNN(vocab, hidden_size=3, embedding_dim=2, num_layers=2, dropout=0.3)
    settings = dict(batch_size=2, seq_len=4, optimizer="adam", lr=0.05, clip=1.0,
                    schedule="cosine", total_steps=STEPS, checkpoint_path=path,
                    checkpoint_every=1, progress=False, log=(log if log is not None else
                                                             (lambda message: None)))
    settings.update(overrides)
    return TBPTTTrainer(model, vocab.encode(TEXT), **settings)


def comparable(state):
    """A training state without its history (whose records hold wall-clock speeds)."""
    state = dict(state)
    state["trainer"] = {k: v for k, v in state["trainer"].items() if k != "history"}
    return state


class SignalAt:
    """Trace the trainer's lines; at line event number ``n`` send ``actions[n]`` SIGINTs."""

    def __init__(self, actions=None):
        self.actions, self.events = actions or {}, []

    def __enter__(self):
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)

    def _call(self, frame, event, arg):
        return self._line if frame.f_code in TRACED else None

    def _line(self, frame, event, arg):
        if event == "line":
            number = len(self.events)
            self.events.append((frame.f_code.co_name, frame.f_lineno))
            for _ in range(self.actions.get(number, 0)):
                signal.raise_signal(signal.SIGINT)
        return self._line


def run(path, actions=None):
    trainer = make_trainer(path)
    outcome = "returned"
    try:
        with SignalAt(actions) as points:
            trainer.fit(STEPS)
    except KeyboardInterrupt:
        outcome = "aborted"
    return trainer, points.events, outcome


def step_window(events, step):
    """Event numbers from the start of train_step number ``step`` to the start of the next."""
    starts = [i for i, (name, _) in enumerate(events)
              if name == "train_step" and (i == 0 or events[i - 1][0] != "train_step")]
    end = starts[step] if step < len(starts) else len(events)
    return range(starts[step - 1], end)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: the final state, the state after each step, its line events."""
    folder = tmp_path_factory.mktemp("reference")
    snapshots = {}

    def keep(trainer, record):
        mt.save(trainer.state_dict(), folder / f"step{trainer.step}.npz")
        snapshots[trainer.step] = comparable(mt.load(folder / f"step{trainer.step}.npz"))

    trainer = make_trainer(folder / "ckpt.npz")
    snapshots[0] = comparable(trainer.state_dict())
    with SignalAt() as points:
        trainer.fit(STEPS, callback=keep)
    return {"final": comparable(trainer.state_dict()), "steps": snapshots, "events": points.events}


def resumed_final(path):
    trainer = make_trainer(path.with_name("resumed.npz"))
    trainer.resume(path)
    trainer.fit(STEPS)
    return comparable(trainer.state_dict())


def test_the_window_covers_the_step_the_loop_and_the_atomic_save(reference):
    names = {reference["events"][i][0] for i in step_window(reference["events"], WINDOW_STEP)}
    assert names == {"train_step", "fit", "save", "atomic_write"}


def test_one_ctrl_c_at_every_point_of_a_step_saves_that_step_and_resumes_exactly(
        tmp_path, reference):
    resumed = set()
    for point in step_window(reference["events"], WINDOW_STEP):
        path = tmp_path / f"p{point}" / "ckpt.npz"
        path.parent.mkdir()
        trainer, _, outcome = run(path, {point: 1})
        where = reference["events"][point]
        assert outcome == "returned", where
        saved = mt.load(path)
        assert saved["trainer"]["step"] == trainer.step >= WINDOW_STEP, where
        assert same_tree(comparable(saved), reference["steps"][trainer.step]), where
        assert temporary_files(path) == [], where
        if trainer.step not in resumed:     # equal files resume equally: once per saved step
            assert same_tree(resumed_final(path), reference["final"]), where
            resumed.add(trainer.step)
    assert WINDOW_STEP in resumed and resumed <= {WINDOW_STEP, WINDOW_STEP + 1}


def test_a_second_ctrl_c_at_any_point_aborts_without_writing_a_torn_state(tmp_path, reference):
    first = step_window(reference["events"], WINDOW_STEP)[0]
    _, events, _ = run(tmp_path / "probe.npz", {first: 1})     # the path once Ctrl-C was pressed
    points = range(first, len(events))
    assert {events[i][0] for i in points} == {"train_step", "fit", "save", "atomic_write"}
    torn = 0
    for point in points:
        path = tmp_path / f"p{point}" / "ckpt.npz"
        path.parent.mkdir()
        actions = {first: 1}
        actions[point] = actions.get(point, 0) + 1
        trainer, _, outcome = run(path, actions)
        where = events[point]
        saved = mt.load(path)
        step = saved["trainer"]["step"]
        # The file is exactly the reference state of the step it names: never weights of one
        # step with counters of another.
        # (that state resumes bit-identically: the test above)
        assert same_tree(comparable(saved), reference["steps"][step]), where
        assert temporary_files(path) == [], where
        if outcome == "aborted" and trainer._mid_step:
            torn += 1
            with pytest.raises(TornStateError, match=r"was interrupted half-way"):
                trainer.save(tmp_path / "torn.npz")
            assert not (tmp_path / "torn.npz").exists()
    assert torn > 10                # many presses really did land in the middle of a step


def test_nan_loss_stops_before_the_update_and_keeps_the_last_finite_checkpoint(
        tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    trainer = make_trainer(path)
    real_loss = trainer.model.loss

    def poisoned(x, y, state):
        loss, new_state = real_loss(x, y, state)
        return (loss * math.nan if trainer.step == 2 else loss), new_state

    monkeypatch.setattr(trainer.model, "loss", poisoned)
    weights = None

    def remember(t, record):
        nonlocal weights
        weights = [p.data.copy() for p in t.parameters]

    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(STEPS, callback=remember)
    assert re.fullmatch(r"training diverged at step 3: the loss is nan \(learning rate "
                        r"0\.0[0-9]+: try a smaller one\); nothing saved: "
                        + re.escape(f"{path} holds step 2"), str(info.value)), str(info.value)
    assert all(np.array_equal(p.data, w) for p, w in zip(trainer.parameters, weights))
    assert mt.load(path)["trainer"]["step"] == 2                   # the last finite checkpoint
    with pytest.raises(TornStateError):
        trainer.save(path)


def test_huge_learning_rate_diverges_with_a_clear_message_and_writes_nothing(tmp_path):
    path = tmp_path / "ckpt.npz"
    trainer = make_trainer(path, lr=1e300, checkpoint_every=0)
    with pytest.raises(TrainingDiverged, match=r"step 1: the update made a weight (inf|nan) "
                                               r"\(learning rate 1e\+300: try a smaller one"):
        trainer.fit(50)
    assert not path.exists() and temporary_files(path) == []
