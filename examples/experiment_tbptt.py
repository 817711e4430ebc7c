"""Experiment 4, truncated BPTT: chunk length k in {5, 25, 100} on the character-level LM, bits per
character on held-out text against wall time.

Each run trains the same ``rnn.CharRNN`` (LSTM) from the same seed on the default corpus with
``rnn.tbptt.TBPTTTrainer``: the stream is cut into B parallel streams read in chunks of k
characters, the state is carried from chunk to chunk and the graph is cut between them. Every run
gets the same training-time budget (evaluation time is not counted), and held-out bits per
character is measured at regular points of that budget. Small k means many cheap updates that
see at most k characters back; large k means fewer, costlier updates with longer memory.

Wall time depends on the machine and on what else runs on it: compare the curves of one run
with each other, not with another machine's.

Usage:
    python examples/experiment_tbptt.py --out out/tbptt                # full run (3 x budget)
    python examples/experiment_tbptt.py --quick --out /tmp/tbptt        # seconds, for CI
    python examples/experiment_tbptt.py --text my.txt --budget 120 --out out/tbptt
"""
import argparse
import csv
import math
import time

import microtensor as mt
import rnn
from rnn.corpus import default_corpus, load_text, split_text
from rnn.tbptt import TBPTTTrainer
from _report import prepare_output, pyplot, save_figure, write_table  # noqa: E402  (examples/ is on sys.path)


def run(k, train_ids, valid_ids, vocab, args):
    """Train with chunk length k for ``args.budget`` seconds; return [(seconds, chars, bpc)]."""
    mt.manual_seed(args.seed)
    model = rnn.CharRNN(vocab, hidden_size=args.hidden, cell="lstm", fused=True)
    trainer = TBPTTTrainer(model, train_ids, batch_size=args.batch, seq_len=k, lr=args.lr,
                           clip=1.0, progress=False)
    points = [(0.0, 0, model.bits_per_char(valid_ids, batch_size=8, seq_len=128))]
    trained = 0.0
    next_eval = args.budget / args.evals
    while trained < args.budget:
        start = time.perf_counter()
        trainer.train_step()
        trained += time.perf_counter() - start
        if trained >= next_eval or trained >= args.budget:
            bpc = model.bits_per_char(valid_ids, batch_size=8, seq_len=128)
            points.append((trained, trainer.tokens, bpc))
            next_eval += args.budget / args.evals
            print(f"  k={k:3d}: {trained:6.1f}s  {trainer.step:5d} updates  "
                  f"{trainer.tokens:8d} chars  held-out {bpc:.3f} bits/char", flush=True)
    return points, trainer.step, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/tbptt", help="folder for tables and plots")
    parser.add_argument("--text", default=None, help="a text file (default: the built-in corpus)")
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 25, 100], help="chunk lengths")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per k")
    parser.add_argument("--evals", type=int, default=6, help="evaluations per run")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--train-chars", type=int, default=300_000,
                        help="use at most this many characters for training")
    parser.add_argument("--valid-chars", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.evals, args.hidden, args.batch = 1.0, 2, 16, 4
        args.train_chars, args.valid_chars = 5_000, 500
    out = prepare_output(args.out)

    if args.text:
        text, source = load_text(args.text), args.text
    else:
        text, source = default_corpus()
    train_text, valid_text = split_text(text, valid_fraction=0.05)
    train_text, valid_text = train_text[:args.train_chars], valid_text[:args.valid_chars]
    vocab = rnn.data.CharVocab.from_text(train_text)
    train_ids, valid_ids = vocab.encode(train_text), vocab.encode(valid_text)
    print(f"corpus: {source}, {len(train_ids):,} training / {len(valid_ids):,} held-out chars, "
          f"{len(vocab)} symbols (uniform guessing: {math.log2(len(vocab)):.2f} bits/char)")

    curves = {}
    for k in args.ks:
        points, updates, model = run(k, train_ids, valid_ids, vocab, args)
        curves[k] = (points, updates)
        sample = model.generate("def ", n=120, temperature=0.8, seed=0)
        print(f"  k={k}: sample at temperature 0.8: {sample!r}")

    with open(out / "tbptt_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["k", "train_seconds", "chars_seen", "heldout_bpc"])
        for k, (points, _) in curves.items():
            writer.writerows([k, f"{s:.1f}", c, f"{b:.4f}"] for s, c, b in points)
    lines = [f"| k | updates in {args.budget:g}s | characters seen | held-out bits/char at the end | "
             f"best |", "|---|---|---|---|---|"]
    for k, (points, updates) in curves.items():
        lines.append(f"| {k} | {updates} | {points[-1][1]:,} | {points[-1][2]:.3f} | "
                     f"{min(p[2] for p in points):.3f} |")
    write_table(out / "tbptt_summary.md", lines)

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k, (points, _) in curves.items():
        ax.plot([p[0] for p in points], [p[2] for p in points], "o-", label=f"k = {k}")
    ax.set(xlabel="training wall time (s)", ylabel="held-out bits per character",
           title=f"char-LSTM (H={args.hidden}, B={args.batch}), truncated BPTT")
    ax.legend()
    save_figure(fig, out / "tbptt.png")
    print(f"plot: {out / 'tbptt.png'}")


if __name__ == "__main__":
    main()
