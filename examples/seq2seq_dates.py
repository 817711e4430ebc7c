"""Translate human-written dates to ISO format with an attention encoder-decoder.

    python examples/seq2seq_dates.py --out runs/dates             # a few minutes on 2 cores
    python examples/seq2seq_dates.py --attention dot --out runs/dates_dot
    python examples/seq2seq_dates.py --quick --out /tmp/dates      # seconds (CI)

"5 March 1998", "Thursday, Mar 5 1998", "3/5/98" ... -> "1998-03-05". A GRU encoder reads the
characters; a GRU decoder writes the answer one character at a time, attending over the
encoder's outputs (additive/Bahdanau attention by default), trained with teacher forcing that
decays from 1.0 to 0.5 (Adam, cosine learning-rate schedule). Writes into --out:
``results.json`` (exact-match accuracy overall and by input length), ``examples.txt`` (greedy
translations of test dates) and, with matplotlib, ``attention.png`` (where the decoder looked
while writing each output character).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # run from a checkout without installing

import microtensor as mt  # noqa: E402
from rnn.cli import limit_blas_threads  # noqa: E402
from rnn.data import dates, minibatches  # noqa: E402
from rnn.seq2seq import Seq2Seq, sequence_accuracy  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--attention", default="additive", choices=["additive", "dot", "none"])
    p.add_argument("--cell", default="gru", choices=["gru", "lstm", "rnn"])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--train-size", type=int, default=4000)
    p.add_argument("--test-size", type=int, default=500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny data and model (CI)")
    p.add_argument("--out", default="runs/dates", help="output folder")
    return p.parse_args(argv)


def evaluate(model, data, max_len=12):
    ids, weights = model.decode(data.src, data.src_lengths, max_len=max_len)
    correct = sequence_accuracy(ids, data.tgt_out, data.tgt_lengths)
    return correct, ids, weights


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.hidden, args.train_size, args.test_size, args.epochs, args.batch = 16, 128, 32, 1, 32
    limit_blas_threads(1)
    os.makedirs(args.out, exist_ok=True)
    mt.manual_seed(args.seed)
    train = dates(args.train_size, seed=args.seed)
    test = dates(args.test_size, seed=args.seed + 1000, src_vocab=train.src_vocab,
                 tgt_vocab=train.tgt_vocab)
    attention = None if args.attention == "none" else args.attention
    model = Seq2Seq.build(len(train.src_vocab), len(train.tgt_vocab), hidden_size=args.hidden,
                          cell=args.cell, attention=attention)
    opt = mt.optim.Adam(model.parameters(), lr=args.lr)
    batches_per_epoch = -(-len(train) // args.batch)
    total = args.epochs * batches_per_epoch
    # The learning rate anneals to 0 so the last epochs settle instead of wandering.
    schedule = mt.optim.CosineAnnealingLR(opt, T_max=total)
    print(f"{len(train)} training dates, {len(test)} test dates; {args.cell.upper()} "
          f"{args.hidden}, attention={args.attention}, {model.num_parameters():,} parameters")
    started, step = time.perf_counter(), 0
    for epoch in range(args.epochs):
        losses = []
        for batch in minibatches(train, args.batch, seed=args.seed + epoch):
            # Teacher forcing decays linearly from 1.0 to 0.5 so that the decoder learns to
            # continue from its own guesses, which is what it must do at test time.
            ratio = 1.0 - 0.5 * step / max(1, total - 1)
            loss = model.loss(batch, teacher_forcing=ratio)
            opt.zero_grad()
            loss.backward()
            mt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            losses.append(loss.item())
            step += 1
        correct, _, _ = evaluate(model, test)
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, test exact match "
              f"{correct.mean():.1%} ({time.perf_counter() - started:.0f} s)")

    correct, ids, weights = evaluate(model, test)
    lengths = np.array([len(s) for s, _ in test.pairs])
    by_length = {}
    for lo, hi in ((6, 9), (10, 13), (14, 17), (18, 22)):
        chosen = (lengths >= lo) & (lengths <= hi)
        if chosen.any():
            by_length[f"{lo}-{hi}"] = {"n": int(chosen.sum()),
                                       "accuracy": float(correct[chosen].mean())}
    results = {"args": vars(args), "seconds": time.perf_counter() - started,
               "test_exact_match": float(correct.mean()), "by_input_length": by_length}
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print("accuracy by input length:", ", ".join(f"{k}: {v['accuracy']:.1%} (n={v['n']})"
                                                 for k, v in by_length.items()))
    lines = []
    for j in range(min(10, len(test))):
        got = test.tgt_vocab.decode(ids[:, j], skip_specials=True)
        src, want = test.pairs[j]
        lines.append(f"{src:>24} -> {got:<10} {'ok' if got == want else 'expected ' + want}")
    print("\n".join(lines))
    with open(os.path.join(args.out, "examples.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    if weights is not None:
        _plot_attention(test, ids, weights, os.path.join(args.out, "attention.png"))
    print(f"wrote {args.out}/")


def _plot_attention(test, ids, weights, path, j=None):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no attention.png)")
        return
    lengths = test.src_lengths
    j = int(np.argmax(lengths)) if j is None else j            # the longest source: most to see
    src = test.pairs[j][0]
    out_ids = ids[:, j]
    n_out = int(np.flatnonzero(out_ids == 2)[0] + 1) if (out_ids == 2).any() else len(out_ids)
    grid = weights[:n_out, j, :len(src)]                       # (output chars, input chars)
    labels = [test.tgt_vocab.itos[i] for i in out_ids[:n_out]]
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(src)), 0.35 * n_out + 1.5), dpi=110)
    ax.imshow(grid, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(src)), list(src))
    ax.set_yticks(range(n_out), labels)
    ax.set_xlabel("input characters")
    ax.set_ylabel("output characters")
    ax.set_title(f"attention while translating {src!r}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
