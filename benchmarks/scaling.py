"""Backward time and peak memory against the unroll length T (should both grow linearly).

For each T, one training step of the char-LSTM (see :mod:`benchmarks.charlm`) is measured twice:
once for time (forward and backward separately, CPU time, median of a few runs) and once under
``tracemalloc`` for the peak memory of forward + backward above what was allocated before.
Timing and memory runs are separate because tracing every allocation slows Python down.

"The activations backward must keep" is what the hand-written NumPy reference keeps between its
forward and its backward: the embedded inputs (T*B*E), the four gate activations (T*B*4H),
h and c for every step plus the initial ones (2*(T+1)*B*H), tanh(c) (T*B*H) and the softmax
probabilities (T*B*V), all float32. Peak memory is reported as a multiple of that.

Example:
    >>> rows = run(steps_list=(8, 16), batch=2, hidden=8, names=("mt-fused",), repeats=1, log=None)
    >>> [r["steps"] for r in rows], rows[0]["peak_ratio"] > 0
    ([8, 16], True)
"""
import statistics
import tracemalloc

import numpy as np

from . import charlm

DEFAULT_STEPS = (100, 300, 1000, 3000, 10000)


def activation_bytes(batch, hidden, steps, embed=charlm.EMBED_SIZE, vocab=charlm.VOCAB_SIZE,
                     itemsize=4):
    """Bytes of the arrays the NumPy reference keeps for its backward pass.

    Example:
        >>> activation_bytes(1, 1, 1, embed=1, vocab=1)        # 1 + 4 + 2*2 + 1 + 1 floats
        44
    """
    floats = steps * batch * (embed + 4 * hidden + hidden + vocab) + 2 * (steps + 1) * batch * hidden
    return floats * itemsize


def _one_step(impl, inputs, targets):
    """Forward then backward; returns (forward seconds, backward seconds) in CPU time."""
    if isinstance(impl, charlm.NumpyImpl):
        start = charlm.CLOCK()
        impl.model.loss_and_grads(inputs, targets, impl.model.zero_state(inputs.shape[0]))
        return charlm.CLOCK() - start, float("nan")
    start = charlm.CLOCK()
    state = None if not isinstance(impl, charlm.MtOpsImpl) else impl.state
    loss, _ = impl.loss(inputs, targets, state)
    middle = charlm.CLOCK()
    loss.backward()
    end = charlm.CLOCK()
    for p in (impl.params.values() if isinstance(impl, charlm.MtOpsImpl) else impl.model.parameters()):
        p.grad = None
    return middle - start, end - middle


def _peak_bytes(impl, inputs, targets):
    """Peak traced bytes of one forward + backward, above the bytes allocated before it."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _one_step(impl, inputs, targets)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run(steps_list=DEFAULT_STEPS, batch=4, hidden=64, names=("numpy", "mt-explicit", "mt-fused"),
        repeats=3, log=print):
    """Measure every implementation at every T; returns a list of dict rows."""
    rows = []
    for steps in steps_list:
        config = charlm.Config(batch, hidden, steps)
        corpus = charlm.make_corpus(batch * (steps + 1) + 1)
        skipped = {}
        impls = charlm.build_all(config, names, corpus=corpus, skipped=skipped)
        for name, impl in impls.items():
            inputs, targets = impl.batches.next()
            _one_step(impl, inputs, targets)                    # warm up
            times = [_one_step(impl, inputs, targets) for _ in range(repeats if steps < 3000 else 1)]
            forward = statistics.median(t[0] for t in times)
            backward = statistics.median(t[1] for t in times)
            peak = _peak_bytes(impl, inputs, targets)
            kept = activation_bytes(batch, hidden, steps)
            row = {"name": name, "steps": steps, "batch": batch, "hidden": hidden,
                   "forward_s": forward, "backward_s": backward,
                   "backward_us_per_step": backward / steps * 1e6,
                   "total_us_per_step": (forward + (0 if np.isnan(backward) else backward)) / steps * 1e6,
                   "peak_bytes": peak, "peak_bytes_per_step": peak / steps,
                   "activation_bytes": kept, "peak_ratio": peak / kept}
            rows.append(row)
            if log:
                log(f"  T={steps:6d} {name:12s} fwd {forward * 1e3:8.1f} ms  bwd {backward * 1e3:8.1f} ms "
                    f"({row['backward_us_per_step']:.0f} us/step)  peak {peak / 2**20:7.1f} MiB "
                    f"= {row['peak_ratio']:.2f}x activations")
    return rows


def growth_exponent(rows, name, key="total_us_per_step"):
    """The k in time ~ T^k, fitted by least squares on log-log (1 = linear, 2 = quadratic).

    Example:
        >>> rows = [{"name": "a", "steps": t, "total_us_per_step": 5.0} for t in (10, 100, 1000)]
        >>> round(growth_exponent(rows, "a"), 6)
        1.0
    """
    points = [(r["steps"], r[key] * r["steps"]) for r in rows
              if r["name"] == name and not np.isnan(r[key])]
    if len(points) < 2:
        return float("nan")
    log_t, log_time = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(log_t, log_time, 1)[0])
