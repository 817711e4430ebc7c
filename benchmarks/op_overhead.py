"""Per-op engine overhead: a chain of small ops, forward + backward, against the same NumPy calls.

The chain repeats ``a = tanh(a * w + b)`` (three ops) ``repeats`` times and sums the result. The
NumPy version does exactly the arithmetic the engine's ops do, forward and backward, with the
same temporaries, so the difference per op is the engine's own cost: building the node, the
Context, the output Tensor, the topological sort and the gradient bookkeeping. PyTorch's eager
mode runs the same chain in the same run (the issue's target: microtensor at most 0.75x its
time per op). Each implementation runs in its own process (:mod:`benchmarks.workers`).

Example:
    >>> row = measure(size=4, repeats=10, rounds=1, steps=2, log=None)
    >>> row["ops"], row["us_per_op"]["microtensor"] > 0
    (31, True)
"""
import statistics
import time

import numpy as np

import microtensor as mt

from .workers import close_all, interleave, ratios_to, start_workers

# Wall clock, as the protocol says: what a user waits for (each implementation runs
# alone, in its own process, one BLAS thread).
CLOCK = time.perf_counter


def numpy_chain(x, w, b, repeats):
    """Forward and backward of the chain by hand; returns (value, dx, dw, db)."""
    saved = []
    a = x
    for _ in range(repeats):
        z = a * w
        z = z + b
        out = np.tanh(z)
        saved.append((a, out))
        a = out
    value = a.sum()
    grad = np.ones_like(a)                      # d sum / d a
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for a_prev, out in reversed(saved):
        grad = grad * (1 - out * out)           # tanh
        db = db + grad                          # add (b is used at every step: accumulate)
        dw = dw + grad * a_prev                 # mul, gradient of w
        grad = grad * w                         # mul, gradient of a
    return value, grad, dw, db


def microtensor_chain(x, w, b, repeats):
    """The same chain with microtensor; returns the summed output tensor (call backward on it)."""
    a = x
    for _ in range(repeats):
        a = (a * w + b).tanh()
    return a.sum()


def torch_chain(x, w, b, repeats):
    """The same chain in PyTorch eager mode; returns the summed output (call backward on it)."""
    import torch
    a = x
    for _ in range(repeats):
        a = torch.tanh(a * w + b)
    return a.sum()


#: The rows of the per-op table: name -> what one timed call does.
IMPLEMENTATIONS = ("numpy", "microtensor", "microtensor-no-grad", "torch")


class ChainTask:
    """One implementation of the chain on ``size x size`` float32 arrays, in a worker process.

    ``run(steps)`` times ``steps`` calls (forward + backward; forward only for
    ``microtensor-no-grad``); ``check()`` returns the value and gradient sums, to compare
    implementations before trusting their times.

    Example:
        >>> task = ChainTask("microtensor", 4, 10)
        >>> len(task.run(2)["seconds"]), len(task.check()["values"])
        (2, 4)
    """

    def __init__(self, name, size, repeats):
        if name not in IMPLEMENTATIONS:
            raise ValueError(f"unknown op-chain implementation {name!r}; choose from {IMPLEMENTATIONS}")
        self.name, self.size, self.repeats = name, size, repeats
        rng = np.random.default_rng(0)
        self.arrays = [rng.standard_normal((size, size)).astype(np.float32) * 0.5 for _ in range(3)]
        if name == "torch":
            import torch
            torch.set_num_threads(1)
            self.tensors = [torch.tensor(a, requires_grad=True) for a in self.arrays]
        elif name.startswith("microtensor"):
            self.tensors = [mt.tensor(a, requires_grad=True) for a in self.arrays]

    def once(self):
        """One forward + backward; returns (value, dx, dw, db) as NumPy (grads None without)."""
        if self.name == "numpy":
            return numpy_chain(*self.arrays, self.repeats)
        if self.name == "microtensor-no-grad":
            with mt.no_grad():
                return microtensor_chain(*self.tensors, self.repeats).item(), None, None, None
        for t in self.tensors:
            t.grad = None
        chain = torch_chain if self.name == "torch" else microtensor_chain
        out = chain(*self.tensors, self.repeats)
        out.backward()
        return (out.item(),) + tuple(np.asarray(t.grad) for t in self.tensors)

    def run(self, steps):
        """Wall seconds of each of ``steps`` calls."""
        seconds = []
        for _ in range(steps):
            start = CLOCK()
            self.once()
            seconds.append(CLOCK() - start)
        return {"seconds": seconds}

    def check(self):
        """The chain's value and the sum of each gradient (NaN where there is none)."""
        value, *grads = self.once()
        return {"values": [float(value)] + [float("nan") if g is None else float(g.sum()) for g in grads]}


def make_task(name, size, repeats):
    """The worker's factory (see :mod:`benchmarks.workers`): arguments arrive as strings."""
    return ChainTask(name, int(size), int(repeats))


def measure(size=8, repeats=100, rounds=5, steps=20, log=print):
    """Every implementation in its own process, interleaved; returns one table row (a dict).

    Per-op times are microseconds per op (``ops`` = 3 per repeat, plus the final sum);
    ``ratio_to_torch`` is microtensor's over PyTorch eager's, median over rounds.
    """
    workers, skipped = start_workers("ops", IMPLEMENTATIONS, size, repeats, log=log)
    try:
        reference = workers["numpy"].call("check")["values"]
        for name, worker in workers.items():
            values = worker.call("check")["values"]
            for ours, theirs in zip(values, reference):
                if not np.isnan(ours) and not np.isclose(ours, theirs, rtol=1e-4, atol=1e-4):
                    raise AssertionError(f"op chain {name} at {size}x{size}: {values} differ from "
                                         f"NumPy's {reference}")
        interleave(workers, rounds=1, steps=max(1, steps // 4))              # warm-up
        medians, _ = interleave(workers, rounds=rounds, steps=steps)
    finally:
        close_all(workers)
    ops = 3 * repeats + 1
    row = {"size": size, "ops": ops, "skipped": skipped,
           "us_per_op": {name: statistics.median(m) / ops * 1e6 for name, m in medians.items()}}
    if "torch" in medians:
        row["ratio_to_torch"] = ratios_to(medians, "torch")["microtensor"]
    row["ratio_to_numpy"] = ratios_to(medians, "numpy")["microtensor"]
    return row


def run(sizes=(8, 128), repeats=100, rounds=5, steps=20, log=print):
    """Measure every size; returns a list of result rows (see :func:`measure`)."""
    rows = []
    for size in sizes:
        row = measure(size, repeats, rounds, steps, log=log)
        per_op = row["us_per_op"]
        if log:
            log(f"  ops {size}x{size}: " + ", ".join(f"{k} {v:.2f} us/op" for k, v in per_op.items())
                + f"; microtensor / torch x{row.get('ratio_to_torch', float('nan')):.2f}")
        rows.append(row)
    return rows
