"""Experiment 3, layer normalisation: LSTM vs LayerNorm-LSTM on the adding problem, loss curves.

Both models are the same size, unrolled cell by cell (``rnn.LSTMCell`` and
``rnn.LayerNormLSTMCell``), start from the same seed, see the same batches of the adding problem
(``rnn.data.adding_problem``: sum the two marked values of a T-step sequence; predicting 1.0
always scores an MSE of about 0.167) and are trained with Adam. We record the training loss at
every step, the held-out MSE at the end, and the training time. Several seeds give a spread.

Usage:
    python examples/experiment_layernorm.py --out out/layernorm          # full run
    python examples/experiment_layernorm.py --quick --out /tmp/layernorm  # seconds, for CI
"""
import argparse
import csv
import time

import numpy as np

import microtensor as mt
import rnn
from rnn.data import adding_problem
from _report import prepare_output, pyplot, save_figure, write_table  # noqa: E402  (examples/ is on sys.path)

MODELS = {"LSTM": "LSTMCell", "LayerNorm-LSTM": "LayerNormLSTMCell"}
BASELINE_MSE = 1 / 6   # always predicting 1.0: Var(U1 + U2) = 2/12


class AddingLSTM(mt.nn.Module):
    """An LSTM-type cell unrolled over the sequence and a linear read-out of the last state."""

    def __init__(self, cell_name, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = getattr(rnn, cell_name)(2, hidden_size)
        self.head = mt.nn.Linear(hidden_size, 1)

    def forward(self, inputs):
        batch_size = inputs.shape[1]
        state = (mt.zeros(batch_size, self.hidden_size), mt.zeros(batch_size, self.hidden_size))
        for t in range(inputs.shape[0]):
            with mt.scope(f"lstm/t{t}"):
                state = self.cell(mt.tensor(inputs[t]), state)
        return self.head(state[0])


def train(cell_name, seed, args):
    """Per-step training losses, held-out MSE and seconds for one model and seed."""
    mt.manual_seed(seed)
    model = AddingLSTM(cell_name, args.hidden)
    optimizer = mt.optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    start = time.perf_counter()
    for step in range(args.steps):
        batch = adding_problem(args.batch, length=args.length, seed=seed * 100_000 + step)
        loss = ((model(batch.inputs) - mt.tensor(batch.targets)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    test = adding_problem(args.test_size, length=args.length, seed=999_999)
    with mt.no_grad():
        test_mse = float(((model(test.inputs) - mt.tensor(test.targets)) ** 2).mean().item())
    return np.array(losses), test_mse, seconds


def smooth(values, window):
    """Running mean over ``window`` steps (shorter at the start), to read noisy curves."""
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    starts = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return (cumulative[1:] - cumulative[starts]) / (np.arange(1, len(values) + 1) - starts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/layernorm", help="folder for tables and plots")
    parser.add_argument("--length", type=int, default=50, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--test-size", type=int, default=500)
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.hidden, args.steps, args.batch, args.seeds, args.test_size = 6, 8, 4, 8, [0], 16
    out = prepare_output(args.out)

    results = {}
    for name, cell_name in MODELS.items():
        for seed in args.seeds:
            losses, test_mse, seconds = train(cell_name, seed, args)
            results[name, seed] = (losses, test_mse, seconds)
            print(f"{name:15s} seed {seed}: held-out MSE {test_mse:.4f}  "
                  f"last-50-step train loss {losses[-50:].mean():.4f}  ({seconds:.1f}s)", flush=True)

    with open(out / "layernorm_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "seed", "step", "loss"])
        for (name, seed), (losses, _, _) in results.items():
            writer.writerows([name, seed, step, f"{loss:.6f}"] for step, loss in enumerate(losses))
    # The first step at which the smoothed loss is half the baseline, a "how fast" number.
    lines = [f"| model | held-out MSE (mean over {len(args.seeds)} seeds) | per seed | "
             f"first step with smoothed loss < {BASELINE_MSE / 2:.3f} | train seconds |",
             "|---|---|---|---|---|"]
    for name in MODELS:
        mses = [results[name, s][1] for s in args.seeds]
        firsts = []
        for s in args.seeds:
            below = np.flatnonzero(smooth(results[name, s][0], 25) < BASELINE_MSE / 2)
            firsts.append(str(below[0]) if below.size else "never")
        seconds = sum(results[name, s][2] for s in args.seeds)
        lines.append(f"| {name} | {np.mean(mses):.4f} | {', '.join(f'{m:.4f}' for m in mses)} | "
                     f"{', '.join(firsts)} | {seconds:.0f} |")
    write_table(out / "layernorm_summary.md", lines)

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.8))
    colors = {"LSTM": "tab:blue", "LayerNorm-LSTM": "tab:orange"}
    for (name, seed), (losses, _, _) in results.items():
        ax.plot(smooth(losses, 25), color=colors[name], alpha=0.9 if seed == args.seeds[0] else 0.5,
                label=name if seed == args.seeds[0] else None)
    ax.axhline(BASELINE_MSE, color="grey", ls=":", label="predict 1.0")
    ax.set(yscale="log", xlabel="step", ylabel="training MSE (25-step running mean)",
           title=f"adding problem, T={args.length}, H={args.hidden}, {len(args.seeds)} seeds")
    ax.legend()
    save_figure(fig, out / "layernorm.png")
    print(f"plot: {out / 'layernorm.png'}")


if __name__ == "__main__":
    main()
