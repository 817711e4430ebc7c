"""Experiment 6b, one-to-many: spell a number's English name from a single input vector.

The input is one vector, a one-hot code of a number 0..N-1; the output is the number's name, one
character per step, padded with "." to a fixed length ("seven....", "thirteen."). ``rnn.OneToMany``
reads the input at step 0 and then, at every later step, either zeros (``feed="zeros"``) or its
own previous output (``feed="previous"``, the output fed back through a learned linear map, with
the gradient flowing back through that feedback too). Both are trained the same way (cross-entropy
at every step, Adam) and scored on exact spelling, greedily, with no teacher.

The run reports per-character and whole-word accuracy for both feeding modes and checks the
word accuracy against the stated target (``--target``, 100% by default: the task is a lookup
table, so anything less means the model failed to carry the input's identity through time).

Usage:
    python examples/experiment_one_to_many.py --out out/one_to_many          # full run
    python examples/experiment_one_to_many.py --quick --out /tmp/one_to_many  # seconds, for CI
"""
import argparse
import time

import numpy as np

import microtensor as mt
import rnn
from _report import prepare_output, write_table  # noqa: E402  (examples/ is on sys.path)

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
PAD = "."


def spelling_data(count):
    """One-hot inputs (N, N), target ids (L, N) and the alphabet, for the first ``count`` names."""
    names = NAMES[:count]
    alphabet = [PAD] + sorted(set("".join(names)))
    length = max(len(n) for n in names) + 1        # at least one "." ends every word
    inputs = np.eye(count, dtype=np.float32)
    targets = np.array([[alphabet.index(c) for c in name.ljust(length, PAD)] for name in names]).T
    return inputs, targets, alphabet


def train(feed, inputs, targets, alphabet, args):
    """Train one generator; return it, its loss history and its training time."""
    mt.manual_seed(args.seed)
    steps, count = targets.shape
    model = rnn.OneToMany(count, args.hidden, len(alphabet), cell=args.cell, feed=feed)
    optimizer = mt.optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    start = time.perf_counter()
    for _ in range(args.steps):
        logits = model(mt.tensor(inputs), steps=steps)                   # (L, N, V)
        loss = mt.nn.functional.cross_entropy(logits.reshape(steps * count, len(alphabet)),
                                              mt.tensor(targets.reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return model, losses, time.perf_counter() - start


def spell(model, inputs, steps, alphabet):
    """The greedy spelling of every input (the model feeds itself, no teacher)."""
    with mt.no_grad():
        ids = model(mt.tensor(inputs), steps=steps).data.argmax(axis=-1)    # (L, N)
    return ids, ["".join(alphabet[i] for i in ids[:, j]) for j in range(ids.shape[1])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/one_to_many", help="folder for the results table")
    parser.add_argument("--count", type=int, default=20, choices=range(2, len(NAMES) + 1),
                        metavar=f"2..{len(NAMES)}", help="how many numbers to spell")
    parser.add_argument("--cell", default="gru", choices=("lstm", "gru", "rnn"))
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--target", type=float, default=1.0, help="stated word accuracy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.hidden, args.steps = 4, 8, 5
    out = prepare_output(args.out)

    inputs, targets, alphabet = spelling_data(args.count)
    rows = []
    for feed in ("zeros", "previous"):
        model, losses, seconds = train(feed, inputs, targets, alphabet, args)
        ids, words = spell(model, inputs, targets.shape[0], alphabet)
        char_accuracy = float((ids == targets).mean())
        word_accuracy = float((ids == targets).all(axis=0).mean())
        rows.append((feed, losses[-1], char_accuracy, word_accuracy, seconds))
        print(f"feed={feed:8s}: final loss {losses[-1]:.4f}, characters {char_accuracy:.3f}, "
              f"words {word_accuracy:.3f} ({seconds:.1f}s)")
        wrong = [f"{w} (want {NAMES[j]})" for j, w in enumerate(words) if w.rstrip(PAD) != NAMES[j]]
        print("   spelled:", ", ".join(w.rstrip(PAD) for w in words[:8]), "...")
        if wrong:
            print("   wrong:", ", ".join(wrong[:6]))
    lines = [f"{args.cell.upper()} (H={args.hidden}), {args.count} names, {args.steps} Adam steps "
             f"(full batch), greedy spelling, target word accuracy {args.target:.2f}", "",
             "| feed | final loss | character accuracy | word accuracy | target | seconds |",
             "|---|---|---|---|---|---|"]
    for feed, loss, chars, words, seconds in rows:
        reached = "reached" if words >= args.target else "NOT reached"
        lines.append(f"| {feed} | {loss:.4f} | {chars:.3f} | {words:.3f} | {reached} | {seconds:.0f} |")
    write_table(out / "one_to_many_summary.md", lines)


if __name__ == "__main__":
    main()
