"""Experiment 1, vanishing gradients: vanilla RNN vs LSTM vs GRU on a long-range recall task.

The task ("remember the first symbol"): a sequence of T random symbols out of K (one-hot, plus a
marker channel that is 1 at step 0); the label is the symbol at step 0, to be predicted from the
hidden state after the last step. Everything after step 0 is noise, so the only useful gradient is
the one that survives T steps of backpropagation. Chance is 1/K.

Four models: a tanh RNN, an LSTM and a GRU with PyTorch's initialisation, and an LSTM whose
forget-gate bias starts at +2 ("lstm_fb"). For each model and each sequence length we train a fresh
model with Adam and report the accuracy on held-out sequences, and we record ||dL/dh_t|| against t
(the gradient of the loss with respect to each hidden state, kept with ``retain_grad``) at
initialisation and after training.

Usage:
    python examples/experiment_vanishing.py --out out/vanishing          # full run (minutes)
    python examples/experiment_vanishing.py --quick --out /tmp/vanishing  # seconds, for CI
"""
import argparse
import csv
import time

import numpy as np

import microtensor as mt
import rnn
from _report import prepare_output, pyplot, save_figure, write_table  # noqa: E402  (examples/ is on sys.path)

# "lstm_fb" is an LSTM whose forget gate's bias starts at --forget-bias (2 by default) instead of
# PyTorch's near-zero initialisation, so that the cell path starts open (see docs/tutorial.md, 5).
CELLS = ("rnn", "lstm", "gru", "lstm_fb")


def recall_batch(rng, batch_size, length, num_symbols, distractors="noise"):
    """Inputs (T, B, K+1): one-hot symbols plus a marker that is 1 at step 0; labels (B,): the
    symbol at step 0.

    After step 0 the inputs are random symbols (``distractors="noise"``) or zeros ("blank").
    """
    symbols = rng.integers(0, num_symbols, size=(length, batch_size))
    inputs = np.zeros((length, batch_size, num_symbols + 1), dtype=np.float32)   # (T, B, K+1)
    inputs[:, :, :num_symbols] = np.eye(num_symbols, dtype=np.float32)[symbols]
    inputs[0, :, num_symbols] = 1.0      # a marker channel: "this is the symbol to remember"
    if distractors == "blank":
        inputs[1:] = 0
    return inputs, symbols[0]


class LastStateClassifier(mt.nn.Module):
    """A recurrent cell unrolled over the sequence, and a linear head on the last hidden state.

    The loop is written out (rather than calling ``rnn.LSTM``) so that every hidden state is a
    tensor we can keep the gradient of.
    """

    def __init__(self, cell, input_size, hidden_size, num_classes, forget_bias=0.0):
        super().__init__()
        self.kind = cell
        self.hidden_size = hidden_size
        # fused=True: each step is one op with a hand-written backward (same numbers, faster);
        # the hidden state of every step is still its own tensor.
        if cell == "rnn":
            self.cell = rnn.RNNCell(input_size, hidden_size, nonlinearity="tanh", fused=True)
        elif cell in ("lstm", "lstm_fb"):
            self.cell = rnn.LSTMCell(input_size, hidden_size, fused=True)
            if cell == "lstm_fb":
                # Gate order i, f, g, o: add to the forget gate's bias.
                self.cell.bias_hh.data[hidden_size:2 * hidden_size] += forget_bias
        else:
            self.cell = rnn.GRUCell(input_size, hidden_size, fused=True)
        self.head = mt.nn.Linear(hidden_size, num_classes)

    def forward(self, inputs, keep_hidden=False):
        """Logits (B, C) for inputs (T, B, K) (an ndarray) and, if ``keep_hidden``, the hidden
        states h_1..h_T with their gradients retained."""
        batch_size = inputs.shape[1]
        h = mt.zeros(batch_size, self.hidden_size)
        is_lstm = self.kind.startswith("lstm")
        state = (h, mt.zeros(batch_size, self.hidden_size)) if is_lstm else h
        hidden = []
        for t, x in enumerate(inputs):
            with mt.scope(f"{self.kind}/t{t}"):
                state = self.cell(mt.tensor(x), state)
            h = state[0] if is_lstm else state
            if keep_hidden:
                h.retain_grad()
                hidden.append(h)
        return self.head(h), hidden


def hidden_gradient_norms(model, inputs, labels):
    """||dL/dh_t|| for t = 1..T, averaged over the batch (the loss is the mean cross-entropy)."""
    model.zero_grad()
    logits, hidden = model(inputs, keep_hidden=True)
    mt.nn.functional.cross_entropy(logits, mt.tensor(labels)).backward()
    model.zero_grad()
    # In float64: squaring float32 gradients of 1e-23 underflows to 0 and would fake a cliff.
    return np.array([np.linalg.norm(h.grad.astype(np.float64), axis=1).mean() for h in hidden])


def accuracy(model, inputs, labels):
    """Fraction of sequences whose first symbol the model names."""
    with mt.no_grad():
        logits, _ = model(inputs)
    return float((logits.data.argmax(axis=1) == labels).mean())


def run_one(cell, length, args, seed):
    """Train one model; return its accuracy and gradient norms before and after training."""
    mt.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LastStateClassifier(cell, args.symbols + 1, args.hidden, args.symbols, args.forget_bias)
    probe_inputs, probe_labels = recall_batch(rng, args.batch, length, args.symbols, args.distractors)
    norms_init = hidden_gradient_norms(model, probe_inputs, probe_labels)
    optimizer = mt.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    losses = []
    for _ in range(args.steps):
        inputs, labels = recall_batch(rng, args.batch, length, args.symbols, args.distractors)
        logits, _ = model(inputs)
        loss = mt.nn.functional.cross_entropy(logits, mt.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        # Clipping keeps the vanilla RNN's occasional spikes from ruining the comparison.
        mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    norms_trained = hidden_gradient_norms(model, probe_inputs, probe_labels)
    test_inputs, test_labels = recall_batch(np.random.default_rng(seed + 1000), args.test_size,
                                            length, args.symbols, args.distractors)
    return {"cell": cell, "length": length, "accuracy": accuracy(model, test_inputs, test_labels),
            "final_loss": float(np.mean(losses[-max(1, args.steps // 10):])),
            "seconds": seconds, "norms_init": norms_init, "norms_trained": norms_trained}


def write_outputs(results, args, out):
    """accuracy table (csv + markdown), gradient norms (csv) and the two plots."""
    lengths = sorted({r["length"] for r in results})
    with open(out / "vanishing_accuracy.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "length", "accuracy", "final_loss", "train_seconds"])
        for r in results:
            writer.writerow([r["cell"], r["length"], f"{r['accuracy']:.4f}",
                             f"{r['final_loss']:.4f}", f"{r['seconds']:.1f}"])
    with open(out / "vanishing_gradnorms.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "length", "when", "t", "grad_norm"])
        for r in results:
            for when in ("init", "trained"):
                for t, value in enumerate(r[f"norms_{when}"], start=1):
                    writer.writerow([r["cell"], r["length"], when, t, f"{value:.6e}"])
    lines = ["| cell | " + " | ".join(f"T={n}" for n in lengths) + " |",
             "|---" * (len(lengths) + 1) + "|"]
    for cell in args.cells:
        row = {r["length"]: r["accuracy"] for r in results if r["cell"] == cell}
        lines.append(f"| {cell} | " + " | ".join(f"{row[n]:.2f}" for n in lengths) + " |")
    print(f"\naccuracy on {args.test_size} held-out sequences (chance {1 / args.symbols:.2f}):")
    write_table(out / "vanishing_accuracy.md", lines)
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for cell in args.cells:
        ax.plot(lengths, [next(r["accuracy"] for r in results if r["cell"] == cell
                               and r["length"] == n) for n in lengths], "o-", label=cell)
    ax.axhline(1 / args.symbols, color="grey", ls=":", label="chance")
    ax.set(xscale="log", xlabel="sequence length T", ylabel="held-out accuracy",
           title="Recall the first symbol", ylim=(0, 1.05))
    ax.legend()
    save_figure(fig, out / "vanishing_accuracy.png")
    plot_length = max(lengths) if args.plot_length not in lengths else args.plot_length
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, when in zip(axes, ("init", "trained")):
        for cell in args.cells:
            r = next(r for r in results if r["cell"] == cell and r["length"] == plot_length)
            ax.plot(np.arange(1, plot_length + 1), r[f"norms_{when}"], label=cell)
        ax.set(yscale="log", xlabel="time step t", title=f"{when}, T={plot_length}")
    axes[0].set_ylabel("||dL/dh_t||")
    axes[0].legend()
    save_figure(fig, out / "vanishing_gradnorms.png")
    print(f"plots: {out / 'vanishing_accuracy.png'}, {out / 'vanishing_gradnorms.png'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/vanishing", help="folder for tables and plots")
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 50, 100, 200])
    parser.add_argument("--steps", type=int, default=1000, help="training steps per model")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--test-size", type=int, default=512)
    parser.add_argument("--plot-length", type=int, default=100,
                        help="sequence length whose gradient norms are plotted")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--distractors", choices=("noise", "blank"), default="noise",
                        help="what the inputs after the first symbol are")
    parser.add_argument("--forget-bias", type=float, default=2.0,
                        help="added to the forget gate's bias at initialisation of 'lstm_fb'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths, args.steps, args.hidden, args.batch, args.test_size = [5, 10], 5, 8, 8, 32
        args.plot_length = 10
    out = prepare_output(args.out)
    results = []
    for length in args.lengths:
        for cell in args.cells:
            r = run_one(cell, length, args, args.seed)
            results.append(r)
            print(f"{cell:4s} T={length:3d}: accuracy {r['accuracy']:.3f}  loss {r['final_loss']:.3f}  "
                  f"||dL/dh_1||/||dL/dh_T|| init {r['norms_init'][0] / r['norms_init'][-1]:.2e} "
                  f"trained {r['norms_trained'][0] / r['norms_trained'][-1]:.2e}  "
                  f"({r['seconds']:.1f}s)", flush=True)
    write_outputs(results, args, out)


if __name__ == "__main__":
    main()
