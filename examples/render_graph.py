"""Draw backprop through time: an unrolled LSTM and a vanilla RNN, every node coloured by its gradient.

This script

1. runs an LSTM (from ``rnn``) over T steps, puts a loss on the last output and calls
   ``loss.backward(keep_grads=True)`` so that every intermediate tensor keeps its gradient;
2. draws the unrolled graph three ways with ``viz.render``: every op (``view="ops"``), one box per
   cell and time step (``"cells"``) and each layer once with a per-step strip (``"rolled"``);
3. measures ``||dL/dh_t||`` per step with ``rnn.hidden_grad_norms`` for a vanilla RNN and the
   LSTM, prints them and plots them side by side (``viz.plot_gradient_flow``, needs matplotlib);
4. writes the backward pass as frames + GIF + HTML (``viz.animate_backward``).

Without Graphviz's ``dot`` it writes the DOT sources instead and says how to install Graphviz.

Usage:
    python examples/render_graph.py --out out/graphs                # T = 6, 2 layers for "cells"
    python examples/render_graph.py --quick --out /tmp/graphs       # T = 3 (CI)
"""
import argparse
import os
import warnings

import numpy as np

import rnn
import viz
from viz.demo import unrolled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, runs in seconds (CI)")
    parser.add_argument("--out", default="out/graphs", help="output directory")
    parser.add_argument("--steps", type=int, default=None, help="time steps (default 6, quick 3)")
    args = parser.parse_args()
    steps = args.steps or (3 if args.quick else 6)
    os.makedirs(args.out, exist_ok=True)
    suffix = ".svg" if viz.dot_available() else ".dot"
    if suffix == ".dot":
        print("Graphviz's `dot` was not found: writing DOT sources (sudo apt-get install graphviz, "
              "or brew install graphviz, to get SVG)")

    # 1. An LSTM over `steps` steps, loss on the last output, every gradient kept.
    loss, lstm = unrolled("lstm", steps=steps, hidden=3, seed=0)
    print(f"LSTM over {steps} steps: loss = {loss.item():.4f}")

    # 2. Three views of the same graph.
    for view in ("ops", "cells", "rolled"):
        path = viz.render(loss, os.path.join(args.out, f"lstm_{view}{suffix}"), view=view,
                          params=lstm, title=f"LSTM, {steps} steps ({view} view)")
        print(f"wrote {path}")
    deep, _ = unrolled("lstm", steps=steps, hidden=3, layers=2, bidirectional=True, loss="all")
    path = viz.render(deep, os.path.join(args.out, f"lstm_2_layer_bidir_cells{suffix}"), view="cells")
    print(f"wrote {path}")

    # 3. Gradient reaching each step: vanilla RNN vs LSTM.
    flow_steps = 10 if args.quick else 30
    rnn_loss, _ = unrolled("rnn", steps=flow_steps, hidden=8, seed=0)
    lstm_loss, _ = unrolled("lstm", steps=flow_steps, hidden=8, seed=0, forget_bias=2.0)
    norms = {"vanilla RNN": rnn.hidden_grad_norms(rnn_loss)["rnn/l0"],
             "LSTM (forget bias +2)": rnn.hidden_grad_norms(lstm_loss)["lstm/l0"]}
    for label, values in norms.items():
        print(f"{label:>22}: ||dL/dh_0|| = {values[0]:.2e}   ||dL/dh_T-1|| = {values[-1]:.2e}   "
              f"ratio {values[0] / values[-1]:.1e}")
    assert np.all(np.isfinite(norms["vanilla RNN"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.GraphTooLargeWarning)
        path = viz.render([rnn_loss, lstm_loss], os.path.join(args.out, f"rnn_vs_lstm_rolled{suffix}"),
                          view="rolled")
    print(f"wrote {path}")
    try:
        viz.plot_gradient_flow(norms, out=os.path.join(args.out, "gradient_flow.png"))
        print(f"wrote {os.path.join(args.out, 'gradient_flow.png')}")
    except ImportError as error:
        print(f"skipped the flow plot: {error}")

    # 4. The backward pass, step by step.
    if viz.dot_available():
        small, model = unrolled("rnn", steps=3, hidden=2, seed=0)
        result = viz.animate_backward(small, os.path.join(args.out, "backward"), params=model,
                                      formats=("png", "html") if args.quick else ("png", "gif", "html"))
        print(f"wrote {len(result['frames'])} frames and {result['html']}")


if __name__ == "__main__":
    main()
