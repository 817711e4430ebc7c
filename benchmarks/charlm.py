"""The char-LSTM training-step benchmark: every implementation, same data, same weights, interleaved.

The task (issue 7): one training step (forward, backward, SGD update) of
Embedding(65, 64) -> one-layer LSTM(64, H) -> Linear(H, 65) -> mean cross-entropy over B*T,
hidden state carried between steps, float32, on a fixed seeded synthetic corpus.

Implementations (each a small class with ``step()`` returning the loss):

* ``numpy``        the hand-written reference in :mod:`benchmarks.numpy_lstm` (ratio 1.0 by definition);
* ``mt-explicit``  microtensor, ``rnn.LSTM`` with explicit cells (every gate a graph node);
* ``mt-fused``     microtensor, ``rnn.LSTM`` with the fused cell (one Function per sequence);
* ``mt-ops``       microtensor, an LSTM written inline from public ``mt`` ops in this file
                   (input projection hoisted, one gate matmul per step): what the engine alone costs;
* ``torch-lstm``   PyTorch ``nn.LSTM`` (C++ kernels), and ``torch-cell``, a Python loop of ``nn.LSTMCell``.

The issue's protocol (:func:`run`): each implementation in its own process
(:mod:`benchmarks.workers`), rounds interleaved, wall clock, median seconds per step after
warm-up, one BLAS thread, and the losses checked equal after the same number of steps.
Implementations whose code is missing (no torch) are skipped and listed as such. All of them
start from the same parameters (:func:`benchmarks.numpy_lstm.init_params`) and read the same data,
so their losses agree step by step; :func:`check_losses` verifies that, after the warm-up (before
anything is timed) and again after the last round.

Example:
    >>> config = Config(batch=2, hidden=8, steps=5)
    >>> impls = build_all(config, names=("numpy", "mt-ops"))
    >>> losses = [impl.step() for impl in impls.values()]
    >>> abs(losses[0] - losses[1]) < 1e-4
    True
"""
import dataclasses
import statistics
import time

import numpy as np

import microtensor as mt

from .numpy_lstm import NumpyCharLSTM, init_params
from .workers import close_all, interleave, ratios_to, start_workers

# Wall clock, as the protocol says: what a user waits for. Each implementation runs in
# its own process, alone (the others wait for their turn), on one BLAS thread.
CLOCK = time.perf_counter

VOCAB_SIZE = 65
EMBED_SIZE = 64
LEARNING_RATE = 0.1

#: (B, H, T) configurations of issues 7 and 12.
CONFIGS = ((1, 64, 25), (32, 128, 64), (16, 256, 256), (64, 512, 64))
#: The rows of the issue's table (``mt-ops`` is available on request: the engine alone).
DEFAULT_NAMES = ("numpy", "mt-explicit", "mt-fused", "torch-cell", "torch-lstm")
#: Training steps each implementation runs before it is timed (and its losses are compared).
WARMUP_STEPS = 2


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark configuration: batch size B, hidden size H, unroll length T."""
    batch: int
    hidden: int
    steps: int

    def __str__(self):
        return f"B={self.batch} H={self.hidden} T={self.steps}"


def make_corpus(length, vocab_size=VOCAB_SIZE, seed=1234):
    """A fixed, seeded synthetic character stream with learnable structure (a sparse Markov chain).

    Each symbol has four likely successors, so a model's loss can fall well below log(V).

    Example:
        >>> corpus = make_corpus(1000)
        >>> corpus.shape, corpus.dtype, int(corpus.max()) < 65
        ((1000,), dtype('int64'), True)
    """
    rng = np.random.default_rng(seed)
    successors = rng.integers(0, vocab_size, size=(vocab_size, 4))
    choices = rng.integers(0, 4, size=length)
    noise = rng.random(length) < 0.1
    random_symbols = rng.integers(0, vocab_size, size=length)
    out = np.empty(length, dtype=np.int64)
    symbol = 0
    for k in range(length):
        symbol = random_symbols[k] if noise[k] else successors[symbol, choices[k]]
        out[k] = symbol
    return out


class Batches:
    """Consecutive ``(inputs, targets)`` windows of a stream split into B rows (state carries over).

    Example:
        >>> b = Batches(np.arange(20), batch=2, steps=3)
        >>> x, y = b.next()
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2], [10, 11, 12]], [[1, 2, 3], [11, 12, 13]])
    """

    def __init__(self, corpus, batch, steps):
        per_row = len(corpus) // batch
        if per_row < steps + 1:
            raise ValueError(f"corpus of {len(corpus)} symbols is too short for B={batch}, T={steps}")
        self.rows = corpus[:per_row * batch].reshape(batch, per_row)
        self.steps = steps
        self.position = 0

    def next(self):
        """The next ``(inputs, targets)``, each ``(B, T)`` int64; wraps around at the end."""
        if self.position + self.steps + 1 > self.rows.shape[1]:
            self.position = 0
        p = self.position
        self.position += self.steps
        return self.rows[:, p:p + self.steps], self.rows[:, p + 1:p + self.steps + 1]


# ----- implementations ------------------------------------------------------------------------
class NumpyImpl:
    """The hand-written reference."""
    name = "numpy"

    def __init__(self, config, params, batches):
        self.model = NumpyCharLSTM(VOCAB_SIZE, EMBED_SIZE, config.hidden, params=params)
        self.batches = batches

    def step(self):
        return float(self.model.train_step(*self.batches.next(), lr=LEARNING_RATE))

    def gradients(self, inputs, targets):
        """Gradients of one step from a zero state, for parity tests."""
        return self.model.loss_and_grads(inputs, targets, self.model.zero_state(inputs.shape[0]))[1]


def _cross_entropy(logits, targets):
    """Mean cross-entropy: ``mt.nn.functional.cross_entropy`` when it exists, else from primitives."""
    functional = getattr(mt.nn, "functional", None)
    if functional is not None and hasattr(functional, "cross_entropy"):
        return functional.cross_entropy(logits, targets)
    log_probs = logits.log_softmax(axis=-1)
    return -log_probs[np.arange(len(targets)), targets].mean()


def _sgd_update(parameters, lr):
    """p <- p - lr * grad, in place, then clear the gradient (what optim.SGD.step + zero_grad do)."""
    for p in parameters:
        if p.grad is not None:
            grad = p.grad
            grad *= lr
            p.data -= grad
            p.grad = None


class MtOpsImpl:
    """An LSTM language model written inline from public microtensor ops (no rnn package).

    It is organised like the NumPy reference (input projection hoisted, one gate matmul per
    step), so its ratio to NumPy is the engine's own overhead: Python work per op and backward.
    """
    name = "mt-ops"

    def __init__(self, config, params, batches):
        self.params = {k: mt.tensor(v, requires_grad=True, name=k) for k, v in params.items()}
        self.batches = batches
        self.hidden = config.hidden
        zeros = mt.zeros(config.batch, config.hidden)
        self.state = (zeros, zeros)

    def loss(self, inputs, targets, state):
        """The loss tensor (graph recorded) and the final (h, c)."""
        p = self.params
        batch, steps = inputs.shape
        hidden = self.hidden
        x = p["embedding.weight"][inputs.T]                                   # (T, B, E)
        bias = p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"]
        x_proj = (x.reshape(steps * batch, EMBED_SIZE) @ p["lstm.weight_ih_l0"].T + bias)
        x_proj = x_proj.reshape(steps, batch, 4 * hidden)                     # (T, B, 4H)
        w_hh_t = p["lstm.weight_hh_l0"].T
        h, c = state
        outputs = []
        for t in range(steps):
            gates = x_proj[t] + h @ w_hh_t                                    # (B, 4H)
            i, f, g, o = gates.chunk(4, axis=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outputs.append(h)
        hs = mt.stack(outputs).reshape(steps * batch, hidden)                 # (T*B, H)
        logits = hs @ p["head.weight"].T + p["head.bias"]                     # (T*B, V)
        return _cross_entropy(logits, np.ascontiguousarray(targets.T).reshape(-1)), (h, c)

    def step(self):
        inputs, targets = self.batches.next()
        loss, (h, c) = self.loss(inputs, targets, self.state)
        loss.backward()
        _sgd_update(self.params.values(), LEARNING_RATE)
        self.state = (h.detach(), c.detach())
        return float(loss.item())

    def gradients(self, inputs, targets):
        """Gradients of one step from a zero state, for parity tests."""
        zeros = mt.zeros(inputs.shape[0], self.hidden)
        loss, _ = self.loss(inputs, targets, (zeros, zeros))
        loss.backward()
        grads = {k: p.grad for k, p in self.params.items()}
        for p in self.params.values():
            p.grad = None
        return grads


class _MtModelImpl:
    """Embedding -> rnn.LSTM -> Linear from the library, trained with mt.optim.SGD."""
    name = None
    fused = False

    def __init__(self, config, params, batches):
        import rnn
        self.model = _build_mt_model(rnn, config.hidden, self.fused)
        state = self.model.state_dict()
        for name, value in params.items():
            if name not in state:
                raise KeyError(f"{self.name}: model has no parameter {name!r}; it has {sorted(state)}")
        self.model.load_state_dict(params)
        self.optimizer = mt.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.batches = batches
        self.state = None

    def loss(self, inputs, targets, state):
        x = mt.tensor(np.ascontiguousarray(inputs.T))                         # (T, B) time-major
        logits, state = self.model(x, state)                                  # (T, B, V)
        flat = logits.reshape(-1, VOCAB_SIZE)
        return _cross_entropy(flat, np.ascontiguousarray(targets.T).reshape(-1)), state

    def step(self):
        inputs, targets = self.batches.next()
        loss, state = self.loss(inputs, targets, self.state)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.state = tuple(s.detach() for s in state)
        return float(loss.item())

    def gradients(self, inputs, targets):
        loss, _ = self.loss(inputs, targets, None)
        self.optimizer.zero_grad()
        loss.backward()
        grads = {k: p.grad for k, p in self.model.named_parameters()}
        self.optimizer.zero_grad()
        return grads


def _build_mt_model(rnn, hidden, fused):
    """The char model from library parts: Embedding, rnn.LSTM (explicit or fused), Linear."""

    class CharLSTM(mt.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = mt.nn.Embedding(VOCAB_SIZE, EMBED_SIZE)
            self.lstm = _make_lstm(rnn, EMBED_SIZE, hidden, fused)
            self.head = mt.nn.Linear(hidden, VOCAB_SIZE)

        def forward(self, tokens, state=None):
            out, state = self.lstm(self.embedding(tokens), state)          # (T, B, H)
            return self.head(out), state

    return CharLSTM()


def _make_lstm(rnn, input_size, hidden, fused):
    """rnn.LSTM with the explicit or the fused cell, whichever spelling the library uses."""
    if not fused:
        return rnn.LSTM(input_size, hidden)
    for kwargs in ({"fused": True}, {"cell": "fused"}):
        try:
            return rnn.LSTM(input_size, hidden, **kwargs)
        except TypeError:
            continue
    fused_module = __import__("rnn.fused", fromlist=["FusedLSTMCell"])
    return rnn.LSTM(input_size, hidden, cell=fused_module.FusedLSTMCell)


class MtExplicitImpl(_MtModelImpl):
    """rnn.LSTM with explicit cells."""
    name = "mt-explicit"


class MtFusedImpl(_MtModelImpl):
    """rnn.LSTM with the fused cell."""
    name = "mt-fused"
    fused = True


class _TorchImpl:
    """Shared by the two PyTorch implementations: same parameters, torch.optim.SGD."""
    name = None

    def __init__(self, config, params, batches):
        import torch
        self.torch = torch
        torch.set_num_threads(1)     # like NumPy's BLAS on this shared box: compare per-core work
        self.embedding = torch.nn.Embedding(VOCAB_SIZE, EMBED_SIZE)
        self.head = torch.nn.Linear(config.hidden, VOCAB_SIZE)
        self.recurrent = self.make_recurrent(config)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(params["embedding.weight"]))
            self.head.weight.copy_(torch.from_numpy(params["head.weight"]))
            self.head.bias.copy_(torch.from_numpy(params["head.bias"]))
            for suffix in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = suffix + ("_l0" if self.layer_suffix else "")
                getattr(self.recurrent, name).copy_(torch.from_numpy(params["lstm." + suffix + "_l0"]))
        self.parameters = [*self.embedding.parameters(), *self.recurrent.parameters(),
                           *self.head.parameters()]
        self.optimizer = torch.optim.SGD(self.parameters, lr=LEARNING_RATE)
        self.batches = batches
        zeros = torch.zeros(config.batch, config.hidden)
        self.state = (zeros, zeros)

    def step(self):
        torch = self.torch
        inputs, targets = self.batches.next()
        x = self.embedding(torch.from_numpy(np.ascontiguousarray(inputs.T)))   # (T, B, E)
        out, state = self.run(x, self.state)                                    # (T, B, H)
        logits = self.head(out).reshape(-1, VOCAB_SIZE)
        loss = torch.nn.functional.cross_entropy(
            logits, torch.from_numpy(np.ascontiguousarray(targets.T).reshape(-1)))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.state = tuple(s.detach() for s in state)
        return float(loss.item())


class TorchLSTMImpl(_TorchImpl):
    """PyTorch nn.LSTM (C++ loop)."""
    name = "torch-lstm"
    layer_suffix = True

    def make_recurrent(self, config):
        return self.torch.nn.LSTM(EMBED_SIZE, config.hidden)

    def run(self, x, state):
        h, c = state
        out, (h, c) = self.recurrent(x, (h[None], c[None]))
        return out, (h[0], c[0])


class TorchCellImpl(_TorchImpl):
    """A Python loop of PyTorch nn.LSTMCell."""
    name = "torch-cell"
    layer_suffix = False

    def make_recurrent(self, config):
        return self.torch.nn.LSTMCell(EMBED_SIZE, config.hidden)

    def run(self, x, state):
        h, c = state
        outputs = []
        for x_t in x:
            h, c = self.recurrent(x_t, (h, c))
            outputs.append(h)
        return self.torch.stack(outputs), (h, c)


IMPLEMENTATIONS = {cls.name: cls for cls in (NumpyImpl, MtExplicitImpl, MtFusedImpl, MtOpsImpl,
                                             TorchLSTMImpl, TorchCellImpl)}


def build(name, config, corpus=None):
    """One implementation on the shared parameters and data; raises ImportError without torch.

    Example:
        >>> build("numpy", Config(1, 4, 3)).step() > 0
        True
    """
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}; choose from {sorted(IMPLEMENTATIONS)}")
    if corpus is None:
        corpus = make_corpus(max(20_000, config.batch * (config.steps * 4 + 1)))
    params = init_params(VOCAB_SIZE, EMBED_SIZE, config.hidden, seed=0)
    return IMPLEMENTATIONS[name](config, params, Batches(corpus, config.batch, config.steps))


def build_all(config, names=tuple(IMPLEMENTATIONS), corpus=None, skipped=None):
    """Instantiate the named implementations on identical parameters and identical data, in
    this process (tests and profiles; the timed benchmark uses :func:`run`).

    An implementation that cannot be built (missing torch) is left out; its reason is stored in
    ``skipped`` (a dict) when one is given.
    """
    if corpus is None:
        corpus = make_corpus(max(20_000, config.batch * (config.steps * 4 + 1)))
    impls = {}
    for name in names:
        try:
            impls[name] = build(name, config, corpus)
        except ImportError as error:
            if skipped is not None:
                skipped[name] = f"{type(error).__name__}: {error}"
    return impls


def check_losses(losses, rtol=2e-3, reference="numpy"):
    """Raise AssertionError unless every implementation's losses equal the reference's, step by
    step (same number of steps, relative tolerance ``rtol``); returns the largest relative gap.

    Example:
        >>> check_losses({"numpy": [4.0, 3.0], "mt": [4.0, 3.0001]}) < 1e-4
        True
    """
    expected = np.asarray(losses[reference], dtype=np.float64)
    worst = 0.0
    for name, values in losses.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != expected.shape:
            raise AssertionError(f"{name} ran {values.size} steps, {reference} {expected.size}")
        gap = float(np.max(np.abs(values - expected) / np.abs(expected))) if values.size else 0.0
        if not gap <= rtol:                   # (NaN fails too)
            raise AssertionError(f"{name} losses {values.tolist()} differ from {reference}'s "
                                 f"{expected.tolist()} (largest relative gap {gap:.2g} > {rtol})")
        worst = max(worst, gap)
    return worst


def check_agreement(impls, steps=2, rtol=2e-3):
    """Run ``steps`` training steps of each in-process implementation; raise if any loss differs
    from numpy's. Returns the dict name -> list of losses.
    """
    losses = {name: [impl.step() for _ in range(steps)] for name, impl in impls.items()}
    if "numpy" in losses:
        check_losses(losses, rtol)
    return losses


class CharlmTask:
    """One implementation's training loop in a worker process (:mod:`benchmarks.workers`).

    Example:
        >>> task = CharlmTask("numpy", Config(1, 4, 3))
        >>> reply = task.run(2)
        >>> len(reply["seconds"]), len(reply["values"])
        (2, 2)
    """

    def __init__(self, name, config):
        self.impl = build(name, config)

    def run(self, steps):
        """Wall seconds and loss of each of ``steps`` training steps."""
        seconds, losses = [], []
        for _ in range(steps):
            start = CLOCK()
            losses.append(self.impl.step())
            seconds.append(CLOCK() - start)
        return {"seconds": seconds, "values": losses}


def make_task(name, batch, hidden, steps):
    """The worker's factory (see :mod:`benchmarks.workers`): arguments arrive as strings."""
    return CharlmTask(name, Config(int(batch), int(hidden), int(steps)))


@dataclasses.dataclass
class Result:
    """One configuration's measurements: ``timings`` name -> {"seconds", "ratio", "rounds"}."""
    config: Config
    timings: dict
    skipped: dict
    steps_per_round: int
    loss_gap: float


def run(configs=CONFIGS, rounds=5, names=DEFAULT_NAMES, seconds_per_round=1.0, max_steps=50,
        rtol=2e-3, log=print):
    """Benchmark every configuration by the issue's protocol; returns a list of :class:`Result`.

    Per configuration: one worker process per implementation; :data:`WARMUP_STEPS` steps each,
    whose losses must agree; then ``rounds`` interleaved rounds of the same number of steps for
    everyone (as many as the slowest implementation runs in ``seconds_per_round``, at least 2,
    at most ``max_steps``); the losses of all those steps must agree too. ``seconds`` is the
    median over rounds of each round's median step; ``ratio`` the median over rounds of
    (time / NumPy's time in the same round).
    """
    results = []
    for config in configs:
        workers, skipped = start_workers("charlm", names, config.batch, config.hidden, config.steps,
                                         log=log)
        try:
            warm = {name: worker.call("run", steps=WARMUP_STEPS) for name, worker in workers.items()}
            check_losses({name: reply["values"] for name, reply in warm.items()}, rtol)
            slowest = max(reply["seconds"][-1] for reply in warm.values())
            steps = int(min(max_steps, max(2, seconds_per_round // slowest)))
            medians, losses = interleave(workers, rounds, steps)
            gap = check_losses(losses, rtol)
        finally:
            close_all(workers)
        ratios = ratios_to(medians, "numpy")
        timings = {name: {"seconds": statistics.median(m), "ratio": ratios[name], "rounds": m}
                   for name, m in medians.items()}
        for name, t in timings.items():
            if log:
                log(f"  {config}  {name:12s} {t['seconds'] * 1e3:9.2f} ms/step  "
                    f"{config.batch * config.steps / t['seconds']:10.0f} tok/s  x{t['ratio']:.2f}")
        results.append(Result(config, timings, skipped, steps, gap))
    return results
