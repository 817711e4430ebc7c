"""Train a character-level language model with truncated BPTT and write like the text it read.

    python examples/char_lm.py --out runs/char_lm                 # ~5 minutes on 2 cores
    python examples/char_lm.py --text my.txt --cell gru --minutes 10 --out runs/mine
    python examples/char_lm.py --quick --out /tmp/char_lm          # seconds (CI)

Default text: Python's language reference from the standard library (offline). Writes into
--out: the checkpoint (``charrnn.npz``, usable with ``python -m rnn sample``), ``history.json``
(loss, bits/char, gradient norm per step, held-out bits/char), ``samples.txt`` (at temperatures
0.5, 0.8 and 1.0) and, with matplotlib, ``curves.png`` (training and held-out bits/char).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # run from a checkout without installing

import microtensor as mt  # noqa: E402
import rnn  # noqa: E402
from rnn.cli import limit_blas_threads  # noqa: E402
from rnn.corpus import default_corpus, load_text, split_text  # noqa: E402
from rnn.tbptt import TBPTTTrainer  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", help="text file (default: the built-in corpus)")
    p.add_argument("--cell", default="lstm", choices=rnn.models.CELL_TYPES)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--seq", type=int, default=64, help="truncation length k")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--minutes", type=float, default=None, help="time limit")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny model, a few steps (CI)")
    p.add_argument("--out", default="runs/char_lm", help="output folder")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.hidden, args.layers, args.seq, args.batch, args.steps = 16, 1, 16, 4, 12
    limit_blas_threads(1)
    os.makedirs(args.out, exist_ok=True)
    text, source = (load_text(args.text), args.text) if args.text else default_corpus()
    if args.quick:
        text = text[:20_000]
    train_text, valid_text = split_text(text, 0.05)
    mt.manual_seed(args.seed)
    model = rnn.CharRNN(train_text, hidden_size=args.hidden, num_layers=args.layers,
                        cell=args.cell)
    print(f"{source}: {len(text):,} chars, vocab {len(model.vocab)}; {args.cell.upper()} "
          f"{args.layers}x{args.hidden}, {model.num_parameters():,} parameters")
    trainer = TBPTTTrainer(
        model, model.vocab.encode(train_text), model.vocab.encode(valid_text),
        batch_size=args.batch, seq_len=args.seq, lr=args.lr, clip=1.0, schedule="cosine",
        total_steps=args.steps, eval_every=max(1, args.steps // 10),
        checkpoint_path=os.path.join(args.out, "charrnn.npz"),
        checkpoint_every=max(1, args.steps // 5), progress=not args.quick)
    started = time.perf_counter()
    history = trainer.fit(args.steps, time_limit=None if args.minutes is None else args.minutes * 60)
    seconds = time.perf_counter() - started
    final_bpc = trainer.evaluate()
    print(f"{trainer.step} steps in {seconds:.0f} s: held-out {final_bpc:.3f} bits/char "
          f"(uniform guess: {__import__('math').log2(len(model.vocab)):.2f})")

    samples = []
    for temperature in (0.5, 0.8, 1.0):
        sample = model.generate("The ", n=60 if args.quick else 400, temperature=temperature,
                                seed=args.seed)
        samples.append(f"--- temperature {temperature} ---\n{sample}\n")
    print("\n".join(samples))
    with open(os.path.join(args.out, "samples.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(samples))
    with open(os.path.join(args.out, "history.json"), "w", encoding="utf-8") as f:
        json.dump({"source": source, "args": vars(args), "seconds": seconds,
                   "final_heldout_bpc": final_bpc, "history": history}, f, indent=1)
    _plot(history, os.path.join(args.out, "curves.png"))
    print(f"wrote {args.out}/: charrnn.npz, history.json, samples.txt, curves.png")


def _plot(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no curves.png)")
        return
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot([r["step"] for r in history], [r["bpc"] for r in history], lw=0.8, alpha=0.6,
            label="training chunk")
    evaluated = [r for r in history if r.get("val_bpc") is not None]
    ax.plot([r["step"] for r in evaluated], [r["val_bpc"] for r in evaluated], "o-",
            label="held out")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title("Character-level LM trained with truncated BPTT")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
