"""Experiment 6a, many-to-one: classify the parity of variable-length bit strings.

Each example is a string of 2..T bits (``rnn.data.parity`` with ``min_length``), padded to T with
zeros; the label is 1 if the number of ones is odd. ``rnn.SequenceClassifier`` (a ManyToOne
model) reads the sequence and classifies from each sequence's *own* last hidden state (``lengths``
masks the padding). Parity is a long-range task in miniature: flipping any one bit flips the
answer, so the model has to carry one bit of state through every step; guessing scores 50%.

The run reports held-out accuracy by sequence length and checks it against the stated target
(``--target``, 95% by default, on held-out strings).

Usage:
    python examples/experiment_many_to_one.py --out out/many_to_one          # full run
    python examples/experiment_many_to_one.py --quick --out /tmp/many_to_one  # seconds, for CI
"""
import argparse
import csv
import time

import numpy as np

import microtensor as mt
import rnn
from rnn.data import parity
from _report import prepare_output, write_table  # noqa: E402  (examples/ is on sys.path)


def evaluate(model, data):
    """Predicted labels for a :class:`rnn.data.SequenceData` (no graph is recorded)."""
    model.eval()
    with mt.no_grad():
        logits = model(mt.tensor(data.inputs), lengths=data.lengths)
    model.train()
    return logits.data.argmax(axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/many_to_one", help="folder for tables and plots")
    parser.add_argument("--max-length", type=int, default=10, help="longest bit string T")
    parser.add_argument("--cell", default="gru", choices=("lstm", "gru", "rnn"))
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--target", type=float, default=0.95, help="stated held-out accuracy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.max_length, args.hidden, args.steps, args.batch = 4, 8, 5, 16
    out = prepare_output(args.out)

    mt.manual_seed(args.seed)
    model = rnn.SequenceClassifier(1, args.hidden, 2, cell=args.cell, fused=True)
    optimizer = mt.optim.Adam(model.parameters(), lr=args.lr)
    test = parity(2000, length=args.max_length, min_length=2, seed=10_000 + args.seed)
    history = []
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = parity(args.batch, length=args.max_length, min_length=2, seed=args.seed * 100_000 + step)
        logits = model(mt.tensor(batch.inputs), lengths=batch.lengths)
        loss = mt.nn.functional.cross_entropy(logits, mt.tensor(batch.targets))
        optimizer.zero_grad()
        loss.backward()
        mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == args.steps:
            accuracy = float((evaluate(model, test) == test.targets).mean())
            history.append((step, loss.item(), accuracy, time.perf_counter() - start))
            print(f"step {step:4d}  loss {loss.item():.4f}  held-out accuracy {accuracy:.3f}", flush=True)
    seconds = time.perf_counter() - start

    predictions = evaluate(model, test)
    accuracy = float((predictions == test.targets).mean())
    by_length = {int(n): float((predictions == test.targets)[test.lengths == n].mean())
                 for n in np.unique(test.lengths)}
    with open(out / "many_to_one_history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "train_loss", "heldout_accuracy", "seconds"])
        writer.writerows([s, f"{l:.5f}", f"{a:.4f}", f"{t:.1f}"] for s, l, a, t in history)
    lines = [f"{args.cell.upper()} (H={args.hidden}), {args.steps} steps of batch {args.batch}, "
             f"{seconds:.0f}s: held-out accuracy **{accuracy:.3f}** on {len(test)} strings "
             f"(target {args.target:.2f}: {'reached' if accuracy >= args.target else 'NOT reached'})",
             "", "| length | " + " | ".join(str(n) for n in by_length) + " |",
             "|---" * (len(by_length) + 1) + "|",
             "| accuracy | " + " | ".join(f"{a:.2f}" for a in by_length.values()) + " |"]
    write_table(out / "many_to_one_summary.md", lines)
    examples = ["".join(str(int(b)) for b in test.inputs[:test.lengths[j], j, 0]) for j in range(5)]
    for j, bits in enumerate(examples):
        print(f"  {bits:>{args.max_length}s} -> predicted {predictions[j]}, true {test.targets[j]}")


if __name__ == "__main__":
    main()
