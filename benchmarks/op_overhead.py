"""Per-op engine overhead: a chain of small ops, forward + backward, against the same NumPy calls.

The chain repeats ``a = tanh(a * w + b)`` (three ops) ``repeats`` times and sums the result. The
NumPy version does exactly the arithmetic the engine's ops do, forward and backward, with the
same temporaries, so the difference per op is the engine's own cost: building the node, the
Context, the output Tensor, the topological sort and the gradient bookkeeping.

Example:
    >>> row = measure(size=4, repeats=10, rounds=1, min_seconds=0.0)
    >>> row["ops"], row["mt_us_per_op"] > 0
    (31, True)
"""
import statistics
import time

import numpy as np

import microtensor as mt

# CPU time of this process, not wall time: the benchmark machine is shared, and with BLAS and
# torch limited to one thread (see benchmarks/__main__.py) CPU time is what an idle machine's
# wall clock would show, with far less disturbance from neighbours.
CLOCK = time.process_time


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


def _time(fn, min_seconds):
    repeats, start = 0, CLOCK()
    while True:
        fn()
        repeats += 1
        elapsed = CLOCK() - start
        if elapsed >= min_seconds:
            return elapsed / repeats


def measure(size=8, repeats=100, rounds=5, min_seconds=0.2):
    """Time both chains, interleaved; returns a dict with per-op microseconds and the ratio.

    ``ops`` counts the engine's nodes (3 per repeat, plus the final sum).
    """
    rng = np.random.default_rng(0)
    x_np, w_np, b_np = (rng.standard_normal((size, size)).astype(np.float32) * 0.5 for _ in range(3))
    x = mt.tensor(x_np, requires_grad=True)
    w = mt.tensor(w_np, requires_grad=True)
    b = mt.tensor(b_np, requires_grad=True)

    def run_mt():
        x.grad = w.grad = b.grad = None
        microtensor_chain(x, w, b, repeats).backward()

    def run_mt_forward_no_grad():
        with mt.no_grad():
            microtensor_chain(x, w, b, repeats)

    def run_np():
        numpy_chain(x_np, w_np, b_np, repeats)

    # Same numbers first, or the timing means nothing.
    value, dx, dw, db = numpy_chain(x_np, w_np, b_np, repeats)
    run_mt()
    for ours, theirs in ((x.grad, dx), (w.grad, dw), (b.grad, db)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)

    timings = {"mt": [], "np": [], "mt_fwd_no_grad": []}
    for _ in range(rounds):
        timings["np"].append(_time(run_np, min_seconds))
        timings["mt"].append(_time(run_mt, min_seconds))
        timings["mt_fwd_no_grad"].append(_time(run_mt_forward_no_grad, min_seconds))
    ops = 3 * repeats + 1
    mt_s, np_s = statistics.median(timings["mt"]), statistics.median(timings["np"])
    return {"size": size, "ops": ops,
            "mt_us_per_op": mt_s / ops * 1e6, "np_us_per_op": np_s / ops * 1e6,
            "overhead_us_per_op": (mt_s - np_s) / ops * 1e6,
            "no_grad_fwd_us_per_op": statistics.median(timings["mt_fwd_no_grad"]) / ops * 1e6,
            "ratio": statistics.median(m / n for m, n in zip(timings["mt"], timings["np"]))}


def run(sizes=(8, 128), repeats=100, rounds=5, min_seconds=0.2, log=print):
    """Measure every size; returns a list of result rows (see :func:`measure`)."""
    rows = []
    for size in sizes:
        row = measure(size, repeats, rounds, min_seconds)
        log(f"  ops {size}x{size}: mt {row['mt_us_per_op']:.1f} us/op, numpy "
            f"{row['np_us_per_op']:.1f} us/op, overhead {row['overhead_us_per_op']:.1f} us/op "
            f"(x{row['ratio']:.2f})")
        rows.append(row)
    return rows
