"""A tour of the recurrent cells: build each one, check it against PyTorch, print its gates.

For every cell type (RNN with tanh and relu, LSTM, GRU, layer-normalised LSTM) this script

1. builds the cell in float64 and runs one step on a fixed input and state;
2. if PyTorch is installed, copies the cell's state dict into PyTorch's cell (unchanged) and checks
   that the new state and every gradient agree (to 1e-6); also checks the fused cell (one op) gives
   the same numbers as the explicit one (to 1e-10);
3. prints the activations of every named gate of that one step (found by walking the graph, the
   same records the renderer in viz draws), e.g. ``i``, ``f``, ``g``, ``o``, ``c``, ``h`` for LSTM.

It writes the printed report to ``OUT/cells_tour.txt``.

Usage:
    python examples/cells_tour.py --out out/tour                  # batch 2, hidden 4
    python examples/cells_tour.py --quick --out /tmp/tour         # batch 1, hidden 3 (CI)
"""
import argparse
import os
import pathlib
import tempfile

import numpy as np

import microtensor as mt
import rnn

CELLS = [
    # (label, our constructor, PyTorch class name or None, constructor kwargs)
    ("RNNCell (tanh)", rnn.RNNCell, "RNNCell", {"nonlinearity": "tanh"}),
    ("RNNCell (relu)", rnn.RNNCell, "RNNCell", {"nonlinearity": "relu"}),
    ("LSTMCell", rnn.LSTMCell, "LSTMCell", {}),
    ("GRUCell", rnn.GRUCell, "GRUCell", {}),
    ("LayerNormLSTMCell", rnn.LayerNormLSTMCell, None, {}),
]


def one_step(cell, x, state):
    """Run one step with gradients; return (new state tuple, loss, grads of x, state, params)."""
    x = mt.tensor(x, requires_grad=True)
    state = tuple(mt.tensor(s, requires_grad=True) for s in state)
    cell.zero_grad()                       # gradients of earlier steps must not accumulate
    new = cell(x, state if len(state) > 1 else state[0])
    new = new if isinstance(new, tuple) else (new,)
    loss = sum(((s * s).sum() for s in new[1:]), (new[0] * new[0]).sum())
    loss.backward(keep_grads=True)
    grads = [x.grad] + [s.grad for s in state] + [p.grad for p in cell.parameters()]
    return new, grads


def torch_check(torch, cell, torch_name, kwargs, x, state):
    """Largest difference between our step and PyTorch's (state and every gradient)."""
    theirs = getattr(torch.nn, torch_name)(cell.input_size, cell.hidden_size, **kwargs).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s, requires_grad=True) for s in state)
    new = theirs(xt, st if len(st) > 1 else st[0])
    new = new if isinstance(new, tuple) else (new,)
    sum((s * s).sum() for s in new).backward()
    ours, grads = one_step(cell, x, state)
    theirs_grads = [xt.grad] + [s.grad for s in st] + [p.grad for p in theirs.parameters()]
    diffs = [np.abs(a.data - b.detach().numpy()).max() for a, b in zip(ours, new)]
    diffs += [np.abs(a - b.numpy()).max() for a, b in zip(grads, theirs_grads)]
    return max(diffs)


def fused_check(cls, cell, kwargs, x, state):
    """Largest difference between the explicit cell and the same cell with fused=True."""
    fused = cls(cell.input_size, cell.hidden_size, fused=True, **kwargs).double()
    fused.load_state_dict(cell.state_dict())
    a, grads_a = one_step(cell, x, state)
    b, grads_b = one_step(fused, x, state)
    diffs = [np.abs(p.data - q.data).max() for p, q in zip(a, b)]
    diffs += [np.abs(p - q).max() for p, q in zip(grads_a, grads_b)]
    return max(diffs)


def gate_report(cell, x, state):
    """Lines showing each named intermediate of one step (walked from the graph; the forward
    runs under ``mt.keep_values()``, since by default the graph keeps only what backward saved)."""
    with mt.keep_values():
        new, _ = one_step(cell, x, state)
    lines = []
    for record in mt.graph.walk(*new):
        if record.name and record.op is not None:
            values = np.array2string(record.tensor.data[0], precision=3, suppress_small=True)
            grad = record.grad
            norm = f"{np.linalg.norm(grad):.3g}" if grad is not None else "-"
            lines.append(f"    {record.name:>2} = {record.op:<8} {values}   |dL/d{record.name}| = {norm}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--out", default="out/cells_tour", help="directory for the report")
    args = parser.parse_args(argv)
    batch, input_size, hidden = (1, 2, 3) if args.quick else (2, 3, 4)
    try:
        import torch
    except ImportError:
        torch = None

    mt.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, input_size))
    report = [f"cells tour: batch={batch}, input_size={input_size}, hidden_size={hidden}, "
              f"PyTorch {'available' if torch is not None else 'not installed (checks skipped)'}"]
    failures = []
    for label, cls, torch_name, kwargs in CELLS:
        cell = cls(input_size, hidden, **kwargs).double()
        state = tuple(rng.standard_normal((batch, hidden)) * 0.5
                      for _ in range(cell.num_states))
        report.append("")
        report.append(f"{label}: parameters " + ", ".join(
            f"{n} {p.shape}" for n, p in cell.named_parameters()))
        if torch is not None and torch_name is not None:
            diff = torch_check(torch, cell, torch_name, kwargs, x, state)
            report.append(f"  PyTorch nn.{torch_name}: max difference {diff:.2e} "
                          f"(state and all gradients)")
            if diff > 1e-6:
                failures.append(f"{label} differs from PyTorch by {diff:.2e}")
        if hasattr(cell, "fused_sequence"):
            diff = fused_check(cls, cell, kwargs, x, state)
            report.append(f"  fused == explicit: max difference {diff:.2e}")
            if diff > 1e-10:
                failures.append(f"{label}: fused differs from explicit by {diff:.2e}")
        report.append("  gate activations of one step (first sequence of the batch):")
        report.extend(gate_report(cell, x, state))
    text = "\n".join(report)
    print(text)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Write atomically: a reader never sees half a report.
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, out / "cells_tour.txt")
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
