"""Truncated backpropagation through time (TBPTT) for language models over one long stream.

The stream of ids is cut into ``B`` parallel streams (:func:`rnn.data.batchify`) read in chunks
of ``k`` steps. Each training step runs one chunk from the state the previous chunk ended in,
backpropagates through those ``k`` steps only, and then *cuts the graph*: the final state is
detached (its values go on, the graph behind it is dropped). So memory is ``O(k)`` whatever the
length of the text, and gradients see at most ``k`` steps back. With ``k`` at least the stream
length the single chunk is the whole sequence and the gradient is exactly full BPTT's.

:class:`TBPTTTrainer` adds what a real run needs: global-norm gradient clipping (the pre-clip norm
is reported), a choice of optimizer and learning-rate schedule, evaluation every N steps,
checkpoints every N steps and on Ctrl-C (atomic, via :func:`microtensor.save`), exact resume
(model, optimizer, schedule, random generator, carried state and data position: a resumed run
gives the same numbers as an uninterrupted one) and a progress bar (tqdm when installed, plain
lines otherwise) showing loss, bits per char, tokens/s and gradient norm.

Example:
    >>> import microtensor as mt, rnn
    >>> from rnn.tbptt import TBPTTTrainer
    >>> mt.manual_seed(0)
    >>> text = "the cat sat on the mat. " * 20
    >>> model = rnn.CharRNN(text, hidden_size=16)
    >>> trainer = TBPTTTrainer(model, model.vocab.encode(text), batch_size=4, seq_len=10,
    ...                        lr=0.01, progress=False)
    >>> history = trainer.fit(30)
    >>> history[-1]["loss"] < history[0]["loss"]
    True
"""
import json
import math
import os
import signal
import threading
import time

import numpy as np

import microtensor as mt

from .data import StreamBatcher
from .models import CHECKPOINT_FORMAT, CheckpointMismatch, detach_state

__all__ = ["TBPTTTrainer", "TrainingDiverged", "TornStateError", "make_optimizer",
           "make_scheduler", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "step")
_LN2 = math.log(2)


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite; training stopped *before* the update, so
    no diverged state was used or saved (the last checkpoint written stays as it was).

    Example:
        >>> print(TrainingDiverged(5, "the loss is", float("nan"), lr=1e300))
        training diverged at step 5: the loss is nan (learning rate 1e+300: try a smaller one)
    """

    def __init__(self, step, what, value, lr=None, kept=None):
        hint = "" if lr is None else f" (learning rate {lr:g}: try a smaller one)"
        kept = "" if kept is None else f"; nothing saved: {kept}"
        super().__init__(f"training diverged at step {step}: {what} {value}{hint}{kept}")
        self.step, self.what, self.value, self.lr = step, what, value, lr


class TornStateError(RuntimeError):
    """The trainer was interrupted in the middle of a step: weights, optimizer, data position and
    counters no longer describe one step, so it refuses to save them."""


def make_optimizer(name, parameters, lr, weight_decay=0.0, momentum=0.9):
    """An optimizer by name: ``adam``, ``adamw``, ``sgd`` (with momentum), ``rmsprop``, ``adagrad``.

    Example:
        >>> import microtensor as mt
        >>> type(make_optimizer("sgd", [mt.nn.Parameter(mt.zeros(2))], lr=0.1)).__name__
        'SGD'
    """
    name = str(name).lower()
    params = list(parameters)
    if name == "adam":
        return mt.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return mt.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return mt.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return mt.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return mt.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")


def make_scheduler(name, optimizer, total_steps):
    """A per-step learning-rate schedule: ``constant`` (None), ``cosine`` (to 0 over
    ``total_steps``) or ``step`` (x0.3 at each third of ``total_steps``).

    Example:
        >>> import microtensor as mt
        >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
        >>> type(make_scheduler("cosine", opt, 100)).__name__
        'CosineAnnealingLR'
    """
    name = "constant" if name is None else str(name).lower()
    if name == "constant":
        return None
    if name == "cosine":
        return mt.optim.CosineAnnealingLR(optimizer, T_max=max(1, int(total_steps)))
    if name == "step":
        return mt.optim.StepLR(optimizer, step_size=max(1, int(total_steps) // 3), gamma=0.3)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {name!r}")


def _global_norm(parameters):
    squares = [float(np.sum(np.square(p.grad, dtype=np.float64)))
               for p in parameters if p.grad is not None]
    return math.sqrt(sum(squares))


class TBPTTTrainer:
    """Train a stream language model (e.g. :class:`rnn.CharRNN`) with truncated BPTT.

    The model must provide ``loss(x, y, state) -> (mean loss in nats, new state)`` for id chunks
    ``x, y`` of shape ``(k, B)`` (``CharRNN.loss`` does).

    Args:
        model: the model.
        train_ids: the training stream (1-D int array).
        valid_ids: optional held-out stream for bits-per-char evaluation.
        batch_size: parallel streams ``B``.
        seq_len: truncation length ``k`` (steps per chunk).
        optimizer: a name (see :data:`OPTIMIZERS`) or an ``mt.optim`` optimizer.
        lr, weight_decay: for a named optimizer.
        clip: max global gradient norm, or None for no clipping (the norm is reported anyway).
        schedule: ``"constant"``, ``"cosine"`` or ``"step"`` over ``total_steps``.
        total_steps: the planned length of the run (for the schedule).
        eval_every: evaluate on ``valid_ids`` every this many steps (0: never).
        checkpoint_path: where checkpoints go (None: never).
        checkpoint_every: save every this many steps (0: only at the end and on Ctrl-C).
        progress: show a progress bar (tqdm if importable, else a line every ``log_every`` steps).
        log_every: how often the plain progress lines are printed.
        eval_chars: evaluate on at most this many held-out characters (keeps evaluation quick).

    Example:
        >>> import microtensor as mt, rnn
        >>> mt.manual_seed(0)
        >>> model = rnn.CharRNN("abab", hidden_size=8)
        >>> t = TBPTTTrainer(model, model.vocab.encode("abab" * 50), batch_size=2, seq_len=8,
        ...                  clip=1.0, progress=False)
        >>> record = t.train_step()
        >>> sorted(record)
        ['bpc', 'grad_norm', 'loss', 'lr', 'step', 'tokens', 'tokens_per_s']
    """

    def __init__(self, model, train_ids, valid_ids=None, batch_size=32, seq_len=64,
                 optimizer="adam", lr=2e-3, weight_decay=0.0, clip=1.0, schedule="constant",
                 total_steps=1000, eval_every=0, checkpoint_path=None, checkpoint_every=0,
                 progress=True, log_every=50, eval_chars=20_000, log=print):
        self.model = model
        self.batcher = StreamBatcher(np.asarray(train_ids), batch_size, seq_len)
        self.valid_ids = None if valid_ids is None or len(valid_ids) < 2 else \
            np.asarray(valid_ids)[:int(eval_chars)]
        self.parameters = list(model.parameters())
        if isinstance(optimizer, str):
            self.optimizer = make_optimizer(optimizer, self.parameters, lr, weight_decay)
        else:
            self.optimizer = optimizer
        self.scheduler = make_scheduler(schedule, self.optimizer, total_steps)
        self.clip = None if clip is None or clip <= 0 else float(clip)
        self.total_steps = int(total_steps)
        self.eval_every = int(eval_every)
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        self.checkpoint_every = int(checkpoint_every)
        self.progress = progress
        self.log_every = max(1, int(log_every))
        self.log = log
        self.step = 0
        self.tokens = 0
        self.state = None
        self.history = []
        self.interrupted = False
        self._stop_requested = False
        self._mid_step = False
        self._saved_step = self._saved_path = None

    # ----- one step ------------------------------------------------------------------------------
    def train_step(self):
        """Train on the next chunk; returns the step's record (loss, bpc, grad_norm, lr, ...).

        Raises :class:`TrainingDiverged` when the loss or the gradient norm is NaN/Inf (before
        the optimizer moves anything) or the update made a weight NaN/Inf. From the first line
        to the last the trainer is *between* steps (the data position moved, the weights not
        yet): :meth:`save` refuses to write it until a step completes.
        """
        started = time.perf_counter()
        self._mid_step = True
        if self.batcher.at_epoch_start:
            self.state = None            # the streams restart: nothing to carry over
        x, y = self.batcher.next_chunk()
        self.model.train()
        for p in self.parameters:
            p.grad = None
        loss, state = self.model.loss(x, y, self.state)
        value = float(loss.item())
        lr = self.optimizer.param_groups[0]["lr"]
        if not math.isfinite(value):
            raise TrainingDiverged(self.step + 1, "the loss is", value, lr)
        loss.backward()
        if self.clip is not None:
            grad_norm = float(mt.nn.utils.clip_grad_norm_(self.parameters, self.clip))
        else:
            grad_norm = _global_norm(self.parameters)
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(self.step + 1, "the gradient norm is", grad_norm, lr)
        with np.errstate(over="ignore", invalid="ignore"):     # reported just below, clearly
            self.optimizer.step()
        largest = max(float(np.max(np.abs(p.data))) if p.data.size else 0.0
                      for p in self.parameters)
        if not math.isfinite(largest):
            raise TrainingDiverged(self.step + 1, "the update made a weight", largest, lr)
        if self.scheduler is not None:
            self.scheduler.step()
        # The graph is cut here: the next chunk starts from these values, not from their history.
        self.state = detach_state(state)
        self.step += 1
        self.tokens += int(y.size)
        self._mid_step = False
        seconds = max(time.perf_counter() - started, 1e-9)
        record = {"step": self.step, "loss": value, "bpc": value / _LN2, "grad_norm": grad_norm,
                  "lr": float(lr), "tokens": self.tokens, "tokens_per_s": y.size / seconds}
        return record

    def evaluate(self):
        """Bits per character on the held-out stream (None without one)."""
        if self.valid_ids is None:
            return None
        batch = max(1, min(8, len(self.valid_ids) // 64))
        return float(self.model.bits_per_char(self.valid_ids, batch_size=batch, seq_len=128))

    # ----- the loop ------------------------------------------------------------------------------
    def fit(self, steps, time_limit=None, callback=None):
        """Train until ``self.step == steps`` (a resumed trainer continues to the same target).

        Ctrl-C (SIGINT) is deferred to the end of the step in flight: that step completes, a
        checkpoint is saved (if a path was given) and ``fit`` returns with
        ``self.interrupted = True``. A second Ctrl-C aborts at once: ``KeyboardInterrupt`` is
        raised and *nothing* is written, so the last checkpoint on disk (one whole step) stays as
        it was. A NaN/Inf loss or gradient raises :class:`TrainingDiverged` before the update,
        also without writing.

        Args:
            steps: the step number to reach (None: no limit; then give ``time_limit``).
            time_limit: stop after this many seconds (None: no limit).
            callback: ``callback(trainer, record)`` after every step (may call :meth:`stop`).

        Returns: ``self.history`` (one record per step, with ``val_bpc`` where evaluated).
        """
        if steps is None and time_limit is None:
            raise ValueError("fit(steps=None) needs a time_limit")
        steps = math.inf if steps is None else int(steps)
        self.interrupted = False
        self._stop_requested = False
        bar = self._progress_bar(steps)
        previous_handler = self._install_sigint_handler()
        started = time.perf_counter()
        try:
            while self.step < steps and not self._stop_requested:
                record = self.train_step()
                if self.eval_every and (self.step % self.eval_every == 0 or self.step == steps):
                    record["val_bpc"] = self.evaluate()
                self.history.append(record)
                self._show(bar, record)
                if callback is not None:
                    callback(self, record)
                if self.checkpoint_path and self.checkpoint_every and \
                        self.step % self.checkpoint_every == 0:
                    self.save(self.checkpoint_path)
                if time_limit is not None and time.perf_counter() - started > time_limit:
                    break
            self.interrupted = self._stop_requested and self.step < steps
            if self.checkpoint_path:
                self.save(self.checkpoint_path)
        except KeyboardInterrupt:
            # A second Ctrl-C (or a first one where no handler could be installed): abort now,
            # writing nothing; a save it interrupted was atomic, so the old file is intact.
            where = f" in the middle of step {self.step + 1}" if self._mid_step else ""
            self.log(f"aborted{where}: nothing saved; {self._last_checkpoint()}")
            raise
        except TrainingDiverged as error:          # say which checkpoint is still good
            raise TrainingDiverged(error.step, error.what, error.value, error.lr,
                                   kept=self._last_checkpoint()) from None
        finally:
            self._restore_sigint_handler(previous_handler)
            if bar is not None:
                bar.close()
        if self.interrupted:
            self.log(f"interrupted at step {self.step}: checkpoint saved to "
                     f"{self.checkpoint_path} (resume from it to continue)" if self.checkpoint_path
                     else f"interrupted at step {self.step}")
        return self.history

    def _last_checkpoint(self):
        if self._saved_step is None:
            return "no checkpoint was written by this run"
        return f"{self._saved_path} holds step {self._saved_step}"

    def stop(self):
        """Ask :meth:`fit` to stop after the current step (what Ctrl-C does)."""
        self._stop_requested = True

    def _install_sigint_handler(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop_requested:               # second Ctrl-C: abort now
                raise KeyboardInterrupt
            self._stop_requested = True            # first: finish this step, then save
        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:                         # e.g. embedded interpreters
            return None

    @staticmethod
    def _restore_sigint_handler(previous):
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _progress_bar(self, steps):
        if not self.progress:
            return None
        try:
            from tqdm.auto import tqdm      # a widget in a notebook, text in a terminal
        except ImportError:
            return None
        return tqdm(total=None if steps == math.inf else steps, initial=self.step, unit="step",
                    dynamic_ncols=True, desc=f"TBPTT k={self.batcher.seq_len}", leave=True)

    def _show(self, bar, record):
        postfix = {"loss": f"{record['loss']:.3f}", "bpc": f"{record['bpc']:.3f}",
                   "tok/s": f"{record['tokens_per_s']:.0f}", "|g|": f"{record['grad_norm']:.2f}"}
        if record.get("val_bpc") is not None:
            postfix["val_bpc"] = f"{record['val_bpc']:.3f}"
        if bar is not None:
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
        elif self.progress and (record["step"] % self.log_every == 0 or "val_bpc" in record):
            self.log(f"step {record['step']:>6}  " + "  ".join(f"{k} {v}" for k, v in postfix.items()))

    # ----- checkpoints ---------------------------------------------------------------------------
    def state_dict(self):
        """Everything a resumed run needs, as a tree :func:`microtensor.save` can store."""
        state = self.state
        if state is None:
            carried = None
        elif isinstance(state, tuple):
            carried = [s.data for s in state]
        else:
            carried = [state.data]
        checkpoint = self.model.to_checkpoint() if hasattr(self.model, "to_checkpoint") else \
            {"format": "rnn.tbptt", "model": self.model.state_dict()}
        checkpoint["trainer"] = {
            "step": self.step, "tokens": self.tokens, "batcher": self.batcher.state_dict(),
            "batch_size": self.batcher.batch_size, "seq_len": self.batcher.seq_len,
            "carried_state": carried, "carried_is_tuple": isinstance(state, tuple),
            "rng": mt.get_rng().bit_generator.state,
            # JSON keeps the records exactly round-trippable; as the bytes of an array entry it
            # is compressed with the arrays instead of growing the manifest, whose size a load
            # limits (64 MiB by default: ~400,000 steps' records as text).
            "history": np.frombuffer(json.dumps(self.history).encode("utf-8"), dtype=np.uint8),
        }
        checkpoint["optimizer"] = self.optimizer.state_dict()
        checkpoint["scheduler"] = None if self.scheduler is None else self.scheduler.state_dict()
        return checkpoint

    def load_state_dict(self, checkpoint):
        """Restore a :meth:`state_dict` (model, optimizer, schedule, RNG, state, data position).

        Raises :class:`~rnn.models.CheckpointMismatch` (a ValueError) for anything that is not a
        whole training state of this trainer's settings, also for damaged contents (a missing
        entry, a wrong type), instead of the raw ``KeyError``/``TypeError``.
        """
        if not isinstance(checkpoint, dict):
            raise CheckpointMismatch(f"a training checkpoint is a dict; this one holds a "
                                     f"{type(checkpoint).__name__}")
        try:
            self._load_state_dict(checkpoint)
        except CheckpointMismatch:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise CheckpointMismatch(f"damaged training checkpoint ({type(error).__name__}: "
                                     f"{error})") from None
        self._mid_step = False

    def _load_state_dict(self, checkpoint):
        if "trainer" not in checkpoint or "optimizer" not in checkpoint:
            raise CheckpointMismatch("this checkpoint holds a model only, not a training run; "
                                     "it cannot be resumed (start a new run from it instead)")
        t = checkpoint["trainer"]
        if (t["batch_size"], t["seq_len"]) != (self.batcher.batch_size, self.batcher.seq_len):
            raise CheckpointMismatch(
                f"the checkpoint was trained with batch_size={t['batch_size']}, seq_len="
                f"{t['seq_len']}; this trainer has batch_size={self.batcher.batch_size}, "
                f"seq_len={self.batcher.seq_len}: resume with the same settings")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if (checkpoint.get("scheduler") is None) != (self.scheduler is None):
            raise CheckpointMismatch("the checkpoint and this trainer disagree on using an LR "
                                     "schedule: resume with the same --schedule")
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.batcher.load_state_dict(t["batcher"])
        self.step, self.tokens = int(t["step"]), int(t["tokens"])
        carried = t["carried_state"]
        if carried is None:
            self.state = None
        else:
            tensors = tuple(mt.tensor(a) for a in carried)
            self.state = tensors if t["carried_is_tuple"] else tensors[0]
        mt.get_rng().bit_generator.state = t["rng"]
        history = t["history"]           # (a JSON string in checkpoints written before)
        self.history = json.loads(history if isinstance(history, str)
                                  else np.asarray(history, dtype=np.uint8).tobytes().decode("utf-8"))

    def save(self, path):
        """Write a checkpoint (atomically: an interrupted write leaves the old file intact).

        Raises :class:`TornStateError` if a step was interrupted half-way (its data position,
        weights and counters disagree): such a state is never written.
        """
        if self._mid_step:
            raise TornStateError(f"not saving {path}: step {self.step + 1} was interrupted half-way, "
                                 f"so weights, optimizer, data position and counters disagree; "
                                 f"resume from the last checkpoint instead")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        mt.save(self.state_dict(), path)
        self._saved_step, self._saved_path = self.step, os.fspath(path)

    def resume(self, path):
        """Continue from a checkpoint file written by :meth:`save`; returns self."""
        checkpoint = mt.load(path)
        if not isinstance(checkpoint, dict) or checkpoint.get("format") not in \
                (CHECKPOINT_FORMAT, "rnn.tbptt"):
            raise CheckpointMismatch(f"{path}: not a training checkpoint of this library")
        self.load_state_dict(checkpoint)
        return self
