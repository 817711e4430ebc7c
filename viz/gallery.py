"""Regenerate the committed pictures in ``docs/gallery/``: ``python -m viz.gallery`` (``make gallery``).

Pictures (PNG, from seeded float64 models so that they only change when the code does):

- ``rnn_4_steps_ops.png``, ``lstm_4_steps_ops.png``, ``gru_4_steps_ops.png``: one cell of each kind
  unrolled over 4 steps, every op drawn, loss on the last step.
- ``rnn_2_layer_bidirectional_ops.png``: a 2-layer bidirectional RNN, every op: the stacked grid.
- ``lstm_2_layer_bidirectional_cells.png``: a 2-layer bidirectional LSTM, one box per cell and step.
- ``rnn_vs_lstm_30_steps_rolled.png``: a vanilla RNN and an LSTM over 30 steps, each drawn once
  with a strip of ``||dL/dh_t||`` per step on one shared colour scale: the RNN's gradient vanishes.
- ``gradient_flow_rnn_lstm_gru.png``: the same norms against t for RNN, LSTM and GRU.
- ``tbptt_cut_ops.png``: truncated BPTT, two chunks of 3 steps; the ``detach()`` between them dashed.
- ``lstm_lengths_masked_cells.png``: a padded sequence (``lengths``): the masked steps greyed.
- ``rnn_backward.gif``: the backward pass of a 3-step RNN, time step by time step.

Example (shell)::

    python -m viz.gallery --out docs/gallery
"""
import argparse
import os
import sys

import microtensor as mt

from .animate import animate_backward
from .demo import unrolled
from .flow import plot_gradient_flow
from .render import atomic_write, render

DEFAULT_OUT = os.path.join("docs", "gallery")


def _ops_pictures(out):
    paths = []
    for cell, title in (("rnn", "Vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
        loss, model = unrolled(cell, steps=4, hidden=3, seed=0)
        paths.append(render(loss, os.path.join(out, f"{cell}_4_steps_ops.png"), params=model,
                            title=f"{title} unrolled over 4 steps, loss on the last output "
                                  f"(every op; colour = log10 of the gradient norm)"))
    return paths


def _stacked_ops(out):
    loss, model = unrolled("rnn", steps=3, hidden=3, layers=2, bidirectional=True, seed=0)
    return [render(loss, os.path.join(out, "rnn_2_layer_bidirectional_ops.png"), params=model,
                   title="2-layer bidirectional RNN over 3 steps (every op): columns = time steps, "
                         "rows = layers and directions, each row over its parameters")]


def _bidirectional_cells(out):
    loss, model = unrolled("lstm", steps=5, hidden=3, layers=2, bidirectional=True, loss="all", seed=0)
    return [render(loss, os.path.join(out, "lstm_2_layer_bidirectional_cells.png"), view="cells",
                   title="2-layer bidirectional LSTM over 5 steps (cells view): ∇ of each hidden state")]


def _vanishing(out):
    rnn_loss, _ = unrolled("rnn", steps=30, hidden=8, seed=0)
    lstm_loss, _ = unrolled("lstm", steps=30, hidden=8, seed=0, forget_bias=2.0)
    rolled = render([rnn_loss, lstm_loss], os.path.join(out, "rnn_vs_lstm_30_steps_rolled.png"),
                    view="rolled", title="30 steps, loss on the last output: gradient reaching "
                                         "each step; top: vanilla RNN, bottom: LSTM, forget bias +2")
    from rnn.diagnostics import hidden_grad_norms
    series = {"vanilla RNN": hidden_grad_norms(rnn_loss)["rnn/l0"]}
    for label, options in (("GRU", dict(cell="gru")), ("LSTM, default init", dict(cell="lstm")),
                           ("LSTM, forget-gate bias +2", dict(cell="lstm", forget_bias=2.0))):
        loss, _ = unrolled(steps=30, hidden=8, seed=0, **options)
        series[label] = hidden_grad_norms(loss)[f"{options['cell']}/l0"]
    path = os.path.join(out, "gradient_flow_rnn_lstm_gru.png")
    fig = plot_gradient_flow(series, out=path, title="‖dL/dh_t‖ for a loss on the last of 30 steps "
                                                     "(hidden size 8, untrained, seed 0)")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return [rolled, path]


def _tbptt(out):
    import rnn
    mt.manual_seed(0)
    cell = rnn.RNNCell(2, 3).double()
    xs = mt.randn(6, 1, 2, dtype="float64", name="x")
    target = mt.randn(1, 3, dtype="float64", name="target")
    h = mt.zeros(1, 3, dtype="float64", name="h0")
    losses = []
    for chunk in range(2):
        if chunk:
            h = h.detach()      # truncated BPTT: carry the state, cut the graph
        with mt.keep_values():  # for drawing: every node's value
            for t in range(3 * chunk, 3 * chunk + 3):
                with mt.scope(f"rnn/l0/t{t}"):
                    h = cell(xs[t], h)
            with mt.scope(f"loss{chunk}"):
                loss = (h * target).sum()
                loss.name = f"loss{chunk}"
        losses.append(loss)
    for loss in losses:
        loss.backward(keep_grads=True)
    return [render(losses, os.path.join(out, "tbptt_cut_ops.png"), leaves=False,
                   title="Truncated BPTT: two chunks of 3 steps (parameters and inputs hidden); the "
                         "dashed edge is the detach() cut: no gradient crosses it")]


def _masked(out):
    loss, model = unrolled("lstm", steps=6, hidden=3, batch=1, lengths=[4], loss="all", seed=0)
    return [render(loss, os.path.join(out, "lstm_lengths_masked_cells.png"), view="cells",
                   title="LSTM on a sequence of length 4 padded to 6 steps: masked steps get no gradient")]


def _animation(out):
    loss, model = unrolled("rnn", steps=3, hidden=2, seed=0)
    result = animate_backward(loss, os.path.join(out, ".frames"), params=model, formats=("gif",))
    target = os.path.join(out, "rnn_backward.gif")
    with open(result["gif"], "rb") as f:
        atomic_write(target, f.read())
    os.remove(result["gif"])
    os.rmdir(os.path.join(out, ".frames"))
    return [target]


PICTURES = (_ops_pictures, _stacked_ops, _bidirectional_cells, _vanishing, _tbptt, _masked, _animation)


def build(out=DEFAULT_OUT):
    """Write every gallery picture into ``out``; returns the paths written.

    Example (takes a while, so not run as a doctest)::

        paths = build("docs/gallery")
    """
    os.makedirs(out, exist_ok=True)
    paths = []
    for make in PICTURES:
        paths += make(out)
    return paths


def main(argv=None):
    """Command line: ``python -m viz.gallery [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m viz.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
