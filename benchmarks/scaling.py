"""Time and memory against the unroll length T: both should grow linearly, and memory stay small.

For each T and implementation, a fresh worker process (:mod:`benchmarks.workers`) builds the
char-LSTM of :mod:`benchmarks.charlm`, runs one warm-up step, then measures one training step's
forward and backward: wall time (median of a few runs), then under ``tracemalloc`` (a separate run:
tracing slows Python down) the memory above what was allocated before the step:

* ``held``: what is still allocated when the forward has finished (the graph, or the arrays the
  NumPy reference keeps for its backward);
* ``forward_peak``: the peak during the forward, i.e. the peak memory of the unroll;
* ``peak``: the peak of forward + backward.

The yardstick is the NumPy reference's ``held`` at the same T (what a hand-written program keeps
for backward: embedded inputs, the gate activations, h, c and tanh(c) of every step, the softmax);
its ``kept_bytes`` (the arrays themselves) is reported next to it as a check. The issue's targets:
``forward_peak`` at T = 1,000 at most 2.0x the yardstick for the explicit cells, 1.2x fused.

Example:
    >>> rows = run(steps_list=(8, 16), batch=2, hidden=8, names=("numpy", "mt-fused"), repeats=1, log=None)
    >>> [r["steps"] for r in rows], rows[-1]["peak_ratio"] > 0
    ([8, 8, 16, 16], True)
"""
import statistics
import tracemalloc

import numpy as np

from . import charlm
from .numpy_lstm import kept_bytes
from .workers import Worker

DEFAULT_STEPS = (100, 300, 1000, 3000, 10000)
DEFAULT_NAMES = ("numpy", "mt-explicit", "mt-fused")
#: The issue's memory targets: forward peak of a 1,000-step unroll / NumPy's held bytes.
MEMORY_TARGETS = {"mt-explicit": 2.0, "mt-fused": 1.2}
MEMORY_TARGET_STEPS = 1000


class ScalingTask:
    """Forward and backward of one training step at a given T, timed and traced, in a worker.

    Example:
        >>> row = ScalingTask("mt-fused", charlm.Config(2, 4, 5)).measure(repeats=1)
        >>> row["held_bytes"] > 0 and row["peak_bytes"] >= row["forward_peak_bytes"]
        True
    """

    def __init__(self, name, config):
        self.name = name
        corpus = charlm.make_corpus(config.batch * (config.steps + 1) + 1)
        self.impl = charlm.build(name, config, corpus=corpus)
        self.inputs, self.targets = self.impl.batches.next()

    def forward(self):
        """Returns what backward needs."""
        impl = self.impl
        if isinstance(impl, charlm.NumpyImpl):
            model = impl.model
            return model.forward(self.inputs, self.targets, model.zero_state(self.inputs.shape[0]))[1]
        state = impl.state if isinstance(impl, charlm.MtOpsImpl) else None
        return impl.loss(self.inputs, self.targets, state)[0]

    def backward(self, kept):
        impl = self.impl
        if isinstance(impl, charlm.NumpyImpl):
            impl.model.backward(kept)
            return
        kept.backward()
        params = impl.params.values() if isinstance(impl, charlm.MtOpsImpl) else impl.model.parameters()
        for p in params:
            p.grad = None

    def _timed(self):
        start = charlm.CLOCK()
        kept = self.forward()
        middle = charlm.CLOCK()
        self.backward(kept)
        return middle - start, charlm.CLOCK() - middle

    def measure(self, repeats=3):
        """Seconds of forward and backward (medians) and the traced bytes (see the module doc)."""
        self._timed()                                            # warm-up
        times = [self._timed() for _ in range(repeats)]
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            kept = self.forward()
            held, forward_peak = tracemalloc.get_traced_memory()
            reference_kept = kept_bytes(kept) if isinstance(kept, dict) else None
            breakdown = None if isinstance(kept, dict) else graph_breakdown(kept)
            self.backward(kept)
            del kept
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return {"forward_s": statistics.median(t[0] for t in times),
                "backward_s": statistics.median(t[1] for t in times),
                "held_bytes": held - base, "forward_peak_bytes": forward_peak - base,
                "peak_bytes": peak - base, "kept_bytes": reference_kept, "graph": breakdown}


def _base(array):
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def graph_breakdown(loss):
    """What a recorded graph holds, by why it is alive (the profile behind the memory ratios).

    Returns bytes of the distinct arrays (views once) that some node's backward saved
    (``saved_bytes``), of the op outputs still alive that no backward saved (``unsaved_bytes``:
    the ones the caller holds, such as the loss; the graph itself holds none), and the number of
    nodes. Leaves (parameters, inputs) existed before the forward and are left out.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(4, requires_grad=True)
        >>> row = graph_breakdown(((x + 1) * 2).tanh().sum())
        >>> row["nodes"], row["saved_bytes"], row["unsaved_bytes"]
        (4, 32, 4)

    (Saved: ``x + 1``, which the product keeps, and the tanh's output; alive but unsaved: the
    sum, which the caller holds. The product, which nobody saved, is already freed.)
    """
    import microtensor as mt
    saved, held, nodes, leaves = {}, {}, set(), set()
    for record in mt.graph.walk(loss):
        tensor = record.tensor
        node = tensor.grad_fn
        if node is None:              # parameters and inputs existed before the forward
            leaves.add(id(_base(tensor.data)))
            continue
        if tensor.data is not None:   # (None: an output nobody keeps, already freed)
            base = _base(tensor.data)
            held[id(base)] = base.nbytes
        if id(node) not in nodes:
            nodes.add(id(node))
            for array in node.ctx.saved_tensors:
                if isinstance(array, np.ndarray):
                    base = _base(array)
                    saved[id(base)] = base.nbytes
    for key in leaves:
        saved.pop(key, None)
    return {"saved_bytes": sum(saved.values()),
            "unsaved_bytes": sum(b for k, b in held.items() if k not in saved), "nodes": len(nodes)}


def make_task(name, batch, hidden, steps):
    """The worker's factory (see :mod:`benchmarks.workers`): arguments arrive as strings."""
    return ScalingTask(name, charlm.Config(int(batch), int(hidden), int(steps)))


def run(steps_list=DEFAULT_STEPS, batch=4, hidden=64, names=DEFAULT_NAMES, repeats=3, log=print):
    """Measure every implementation at every T, each in a fresh process; returns dict rows.

    Ratios are to the NumPy reference's ``held`` bytes at the same T (``numpy`` must be in
    ``names``, first).
    """
    rows = []
    for steps in steps_list:
        yardstick = None
        for name in names:
            with Worker("scaling", name, batch, hidden, steps) as worker:
                if worker.skipped:
                    continue
                row = worker.call("measure", repeats=repeats if steps < 3000 else 1)
            if name == "numpy":
                yardstick = row["held_bytes"]
            row.update(name=name, steps=steps, batch=batch, hidden=hidden,
                       forward_us_per_step=row["forward_s"] / steps * 1e6,
                       backward_us_per_step=row["backward_s"] / steps * 1e6,
                       held_ratio=row["held_bytes"] / yardstick,
                       forward_peak_ratio=row["forward_peak_bytes"] / yardstick,
                       peak_ratio=row["peak_bytes"] / yardstick,
                       peak_bytes_per_step=row["peak_bytes"] / steps)
            rows.append(row)
            if log:
                log(f"  T={steps:6d} {name:12s} fwd {row['forward_s'] * 1e3:8.1f} ms  "
                    f"bwd {row['backward_s'] * 1e3:8.1f} ms  held {row['held_bytes'] / 2**20:7.1f} MiB "
                    f"(x{row['held_ratio']:.2f})  peak {row['peak_bytes'] / 2**20:7.1f} MiB "
                    f"(x{row['peak_ratio']:.2f})")
    return rows


def growth_exponent(rows, name, key="backward_us_per_step"):
    """The k in time ~ T^k, fitted by least squares on log-log (1 = linear, 2 = quadratic).

    Example:
        >>> rows = [{"name": "a", "steps": t, "backward_us_per_step": 5.0} for t in (10, 100, 1000)]
        >>> round(growth_exponent(rows, "a"), 6)
        1.0
    """
    points = [(r["steps"], r[key] * r["steps"]) for r in rows
              if r["name"] == name and not np.isnan(r[key])]
    if len(points) < 2:
        return float("nan")
    log_t, log_time = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(log_t, log_time, 1)[0])
