"""Experiment 5, sequence-to-sequence with and without attention: accuracy by input length, and an
attention heat map.

Two ``rnn.seq2seq.Seq2Seq`` models (GRU encoder and decoder, same sizes, same seed, same batches)
learn the same task; one decoder attends over the encoder's outputs (additive, Bahdanau), the
other sees only the encoder's final state, a fixed-size summary of the whole input. The task is
sequence reversal (``rnn.data.reversal``: "abcd" -> "dcba") by default, or date-format translation
(``--task dates``: "5 March 1998" -> "1998-03-05"). Test accuracy is exact match of the greedy
decoding, by input length; the heat map shows where the attention model looked while writing each
output symbol (for reversal, the anti-diagonal).

Usage:
    python examples/experiment_seq2seq.py --out out/seq2seq                # full run
    python examples/experiment_seq2seq.py --task dates --out out/seq2seq_dates
    python examples/experiment_seq2seq.py --quick --out /tmp/seq2seq        # seconds, for CI
"""
import argparse
import csv
import time

import numpy as np

import microtensor as mt
from rnn.data import dates, minibatches, reversal
from rnn.seq2seq import Seq2Seq, sequence_accuracy
from _report import prepare_output, pyplot, save_figure, write_table  # noqa: E402  (examples/ is on sys.path)

MODELS = {"attention": "additive", "no attention": None}


def make_data(args):
    """Training and test :class:`rnn.data.Seq2SeqData` (the test set uses the training vocabularies)."""
    if args.task == "dates":
        train = dates(args.train_size, seed=args.seed)
        test = dates(args.test_size, seed=args.seed + 1000, src_vocab=train.src_vocab,
                     tgt_vocab=train.tgt_vocab)
    else:
        train = reversal(args.train_size, min_length=args.min_length, max_length=args.max_length,
                         n_symbols=args.symbols, seed=args.seed)
        test = reversal(args.test_size, min_length=args.min_length, max_length=args.max_length,
                        n_symbols=args.symbols, seed=args.seed + 1000)
    return train, test


def train_model(attention, train, args):
    """Train one model; return it, its per-epoch mean losses and its training time."""
    mt.manual_seed(args.seed)
    model = Seq2Seq.build(len(train.src_vocab), len(train.tgt_vocab), hidden_size=args.hidden,
                          cell="gru", attention=attention)
    optimizer = mt.optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        epoch_losses = []
        for batch in minibatches(train, args.batch, seed=args.seed + epoch):
            loss = model.loss(batch, teacher_forcing=1.0)
            optimizer.zero_grad()
            loss.backward()
            mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            epoch_losses.append(loss.item())
        losses.append(float(np.mean(epoch_losses)))
        print(f"  {'attention' if attention else 'no attention'}: epoch {epoch + 1} "
              f"loss {losses[-1]:.4f} ({time.perf_counter() - start:.0f}s)", flush=True)
    return model, losses, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/seq2seq", help="folder for tables and plots")
    parser.add_argument("--task", choices=("reversal", "dates"), default="reversal")
    parser.add_argument("--min-length", type=int, default=3, help="reversal: shortest input")
    parser.add_argument("--max-length", type=int, default=10, help="reversal: longest input")
    parser.add_argument("--symbols", type=int, default=6, help="reversal: alphabet size")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.train_size, args.test_size, args.epochs, args.batch = 8, 40, 20, 1, 20
        args.max_length = 6
    out = prepare_output(args.out)

    train, test = make_data(args)
    source_lengths = np.array([len(s) for s, _ in test.pairs])
    max_target = int(test.tgt_lengths.max()) + 2
    results = {}
    for name, attention in MODELS.items():
        model, losses, seconds = train_model(attention, train, args)
        ids, weights = model.decode(test.src, test.src_lengths, max_len=max_target)
        correct = sequence_accuracy(ids, test.tgt_out, test.tgt_lengths)
        results[name] = (correct, ids, weights, losses, seconds)
        print(f"{name}: test exact match {correct.mean():.3f} ({seconds:.0f}s)", flush=True)

    # Accuracy by input length (dates: grouped in bins, their lengths vary more).
    if args.task == "dates":
        groups = [(lo, hi) for lo, hi in ((6, 9), (10, 13), (14, 17), (18, 22), (23, 40))
                  if ((source_lengths >= lo) & (source_lengths <= hi)).any()]
    else:
        groups = [(n, n) for n in np.unique(source_lengths)]
    labels = [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in groups]
    with open(out / "seq2seq_by_length.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "input_length", "n", "exact_match"])
        for name, (correct, *_rest) in results.items():
            for label, (lo, hi) in zip(labels, groups):
                chosen = (source_lengths >= lo) & (source_lengths <= hi)
                writer.writerow([name, label, int(chosen.sum()), f"{correct[chosen].mean():.4f}"])
    lines = ["| model | overall | " + " | ".join(f"len {label}" for label in labels) + " | train s |",
             "|---" * (len(labels) + 3) + "|"]
    for name, (correct, _, _, _, seconds) in results.items():
        cells = [f"{correct[(source_lengths >= lo) & (source_lengths <= hi)].mean():.2f}"
                 for lo, hi in groups]
        lines.append(f"| {name} | {correct.mean():.3f} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    write_table(out / "seq2seq_summary.md", lines)
    _, ids, _, _, _ = results["attention"]
    for j in range(min(6, len(test))):
        got = test.tgt_vocab.decode(ids[:, j], skip_specials=True)
        src, want = test.pairs[j]
        print(f"  {src:>24} -> {got:<14} {'ok' if got == want else 'expected ' + want}")

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, (correct, *_rest) in results.items():
        ax.plot(labels, [correct[(source_lengths >= lo) & (source_lengths <= hi)].mean()
                         for lo, hi in groups], "o-", label=name)
    ax.set(xlabel="input length", ylabel="test exact match", ylim=(-0.02, 1.02),
           title=f"{args.task}: GRU encoder-decoder (H={args.hidden})")
    ax.legend()
    save_figure(fig, out / "seq2seq_accuracy.png")

    # The heat map of the longest test input the attention model got right (else the longest).
    correct, ids, weights, _, _ = results["attention"]
    candidates = np.flatnonzero(correct) if correct.any() else np.arange(len(test))
    j = int(candidates[np.argmax(source_lengths[candidates])])
    source = test.pairs[j][0]
    out_ids = ids[:, j]
    eos = 2
    n_out = int(np.flatnonzero(out_ids == eos)[0]) + 1 if (out_ids == eos).any() else len(out_ids)
    grid = weights[:n_out, j, :len(source)]                       # (output steps, input chars)
    out_labels = [test.tgt_vocab.itos[i] for i in out_ids[:n_out]]
    fig, ax = plt.subplots(figsize=(0.4 * len(source) + 1.5, 0.4 * n_out + 1.2))
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source)), list(source))
    ax.set_yticks(range(n_out), out_labels)
    ax.set(xlabel="input", ylabel="output", title="attention weights")
    save_figure(fig, out / "seq2seq_attention.png")
    print(f"plots: {out / 'seq2seq_accuracy.png'}, {out / 'seq2seq_attention.png'}")


if __name__ == "__main__":
    main()
