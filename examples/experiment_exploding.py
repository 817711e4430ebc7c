"""Experiment 2, exploding gradients: a vanilla RNN with a large recurrent weight, without and with
gradient clipping.

The task is the adding problem (``rnn.data.adding_problem``): at each of T steps the input is
(value, marker); exactly two markers are 1, and the target is the sum of the two marked values
(mean-squared error; always predicting 1.0 scores about 0.167). The recurrent weight is drawn
from N(0, gain^2 / H), whose spectral radius is about ``gain``: with gain 3 the backward map expands
and the gradient norm is in the thousands at initialisation. Both runs start from the same weights
and see the same batches, trained with plain SGD (Adam would hide the scale of the gradient); the
only difference is ``mt.nn.utils.clip_grad_norm_`` with max norm 1. We record the global gradient
norm before clipping and the loss at every step.

Usage:
    python examples/experiment_exploding.py --out out/exploding          # full run
    python examples/experiment_exploding.py --quick --out /tmp/exploding  # seconds, for CI
"""
import argparse
import csv
import math

import numpy as np

import microtensor as mt
import rnn
from rnn.data import adding_problem
from _report import prepare_output, pyplot, save_figure, write_table  # noqa: E402  (examples/ is on sys.path)


class AddingRNN(mt.nn.Module):
    """A tanh RNN cell unrolled over the sequence and a linear read-out of the last state."""

    def __init__(self, hidden_size, gain):
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = rnn.RNNCell(2, hidden_size, nonlinearity="tanh")
        # The "large recurrent weight": spectral radius about `gain`.
        large = mt.get_rng().normal(0, gain / math.sqrt(hidden_size), (hidden_size, hidden_size))
        self.cell.weight_hh.data[...] = large.astype(self.cell.weight_hh.dtype)
        self.head = mt.nn.Linear(hidden_size, 1)

    def forward(self, inputs):
        h = mt.zeros(inputs.shape[1], self.hidden_size)
        for t in range(inputs.shape[0]):
            with mt.scope(f"rnn/t{t}"):
                h = self.cell(mt.tensor(inputs[t]), h)
        return self.head(h)


def train(clip, args):
    """Train from the seed's weights; return per-step losses and pre-clip gradient norms."""
    mt.manual_seed(args.seed)
    model = AddingRNN(args.hidden, args.gain)
    optimizer = mt.optim.SGD(model.parameters(), lr=args.lr)
    losses, norms = [], []
    for step in range(args.steps):
        batch = adding_problem(args.batch, length=args.length, seed=args.seed * 100_000 + step)
        loss = ((model(batch.inputs) - mt.tensor(batch.targets)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        if clip:
            norm = float(mt.nn.utils.clip_grad_norm_(model.parameters(), args.max_norm))
        else:
            norm = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                                 for p in model.parameters() if p.grad is not None))
        losses.append(loss.item())
        norms.append(norm)
        if not (math.isfinite(losses[-1]) and math.isfinite(norm)):
            print(f"  {'clipped' if clip else 'unclipped'}: loss or gradient is no longer finite "
                  f"at step {step}: stopping this run")
            break
        optimizer.step()
    return np.array(losses), np.array(norms)


def summary(name, losses, norms, args):
    """One row of the results table."""
    tail = losses[-max(1, len(losses) // 10):]
    finished = len(losses) == args.steps and np.isfinite(losses).all()
    return {"run": name, "steps_completed": len(losses),
            "final_loss": float(np.mean(tail)) if finished else float("nan"),
            "min_loss": float(np.nanmin(np.where(np.isfinite(losses), losses, np.nan))),
            "median_grad_norm": float(np.median(norms[np.isfinite(norms)])),
            "max_grad_norm": float(np.max(norms[np.isfinite(norms)]))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/exploding", help="folder for tables and plots")
    parser.add_argument("--length", type=int, default=30, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--gain", type=float, default=3.0, help="recurrent weight ~ N(0, gain^2/H)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--max-norm", type=float, default=1.0, help="clip_grad_norm_ threshold")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.hidden, args.steps, args.batch = 8, 8, 6, 8
    out = prepare_output(args.out)

    runs = {}
    # NumPy may overflow on the way to inf in the unclipped run: that is the point, not a bug.
    with np.errstate(over="ignore", invalid="ignore"):
        for name, clip in (("no clipping", False), (f"clip_grad_norm_({args.max_norm:g})", True)):
            runs[name] = train(clip, args)
    rows = [summary(name, *runs[name], args) for name in runs]

    with open(out / "exploding_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "step", "loss", "grad_norm_before_clip"])
        for name, (losses, norms) in runs.items():
            for step, (loss, norm) in enumerate(zip(losses, norms)):
                writer.writerow([name, step, f"{loss:.6e}", f"{norm:.6e}"])
    lines = ["| run | steps completed | final loss (last 10%) | min loss | median grad norm | "
             "max grad norm |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['steps_completed']} | {r['final_loss']:.4f} | "
                     f"{r['min_loss']:.4f} | {r['median_grad_norm']:.3g} | {r['max_grad_norm']:.3g} |")
    write_table(out / "exploding_summary.md", lines)

    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, (losses, norms) in runs.items():
        axes[0].plot(norms, label=name, lw=0.8)
        axes[1].plot(losses, label=name, lw=0.8)
    axes[0].axhline(args.max_norm, color="grey", ls=":", label="clip threshold")
    axes[0].set(yscale="log", xlabel="step", ylabel="global gradient norm (before clipping)",
                title=f"tanh RNN, gain {args.gain:g}, T={args.length}")
    for name, (losses, _) in runs.items():
        if len(losses) < args.steps or not np.isfinite(losses).all():
            axes[1].annotate(f"{name}: diverged at step {len(losses) - 1}",
                             (len(losses) - 1, 1e3), xytext=(0.3, 0.9), textcoords="axes fraction",
                             arrowprops={"arrowstyle": "->"}, fontsize=8)
    # Cap the loss axis: the diverging run reaches 1e30 and would flatten the other curve.
    axes[1].set(yscale="log", xlabel="step", ylabel="MSE loss (axis capped at 1e3)",
                title="adding problem", ylim=(None, 1e3))
    axes[1].axhline(1 / 6, color="grey", ls=":", label="predict 1.0")
    axes[1].legend(fontsize=8)
    axes[0].legend()
    save_figure(fig, out / "exploding.png")
    print(f"plot: {out / 'exploding.png'}")


if __name__ == "__main__":
    main()
