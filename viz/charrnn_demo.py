"""``python -m viz demo``: the README's main job (``make demo``), in one output folder.

A character-level LSTM (:class:`rnn.CharRNN`) learns Python's language reference (the built-in,
offline corpus) for about a minute with truncated BPTT and a progress bar; samples before and
after, a checkpoint, the unrolled graph of the trained model with every gradient (ops and cells
views) and the gradient flow over time. It lives in ``viz`` because it draws: ``viz`` may use
``rnn``, never the reverse.

Example (shell)::

    python -m viz demo --out out            # what `make demo` runs
    python -m viz demo --out out --quick    # a few seconds

Example:
    >>> build_parser().parse_args(["--quick"]).quick
    True
"""
import argparse
import json
import os
import time

import microtensor as mt
from rnn import CharRNN, TBPTTTrainer
from rnn.cli import limit_blas_threads
from rnn.conventions import CELL_KINDS, positive_int
from rnn.corpus import default_corpus, split_text


def _positive_int(text):
    try:
        return positive_int(int(text), "the value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    """The argument parser of ``python -m viz demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m viz demo",
        description="Train a small character-level LSTM on the built-in corpus (Python's "
                    "language reference) for about a minute with a progress bar, print samples "
                    "before and after, save a checkpoint, and render the unrolled graph with "
                    "gradients and the gradient-flow plot into --out.")
    parser.add_argument("--out", default="out", help="output folder (default: out)")
    parser.add_argument("--minutes", type=_positive_float, default=1.0,
                        help="training time (default: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long version (tiny model, a few steps)")
    parser.add_argument("--cell", choices=tuple(CELL_KINDS), default="lstm",
                        help="recurrent cell (default: lstm)")
    parser.add_argument("--hidden", type=_positive_int, default=None,
                        help="hidden size (default: 128, with --quick 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (small recurrent matrices run fastest on one; "
                             "0: leave the library's default; default: 1)")
    return parser


def main(argv=None):
    """Run the demo from the command line; returns the exit status (0 ok, 2 bad arguments,
    130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"--out {args.out!r} is a file: give a folder for the demo's files")
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        limit_blas_threads(args.threads)
    return run(args)


def _print_titled(title, text):
    print(f"--- {title} " + "-" * max(0, 60 - len(title)))
    print(text)
    print("-" * 65)


def run(args):
    """The demo with parsed ``args`` (see :func:`build_parser`); returns the exit status."""
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    quick = args.quick
    hidden = args.hidden or (32 if quick else 128)
    batch, seq = (8, 32) if quick else (32, 64)
    seconds = 4.0 if quick else args.minutes * 60
    max_steps = 15 if quick else None          # the full demo is bounded by time
    sample_chars = 80 if quick else 300

    text, source = default_corpus()
    train_text, valid_text = split_text(text, 0.05)
    mt.manual_seed(args.seed)
    model = CharRNN(train_text, hidden_size=hidden, num_layers=1, cell=args.cell)
    untrained = model.state_dict()
    print(f"microtensor demo: a character-level {args.cell.upper()} learns to write like "
          f"Python's language reference")
    print(f"  corpus: {source}, {len(text):,} characters (offline, from the standard library), "
          f"vocabulary {len(model.vocab)}")
    print(f"  model: embedding {model.embedding_dim} -> {args.cell.upper()} {hidden} -> linear "
          f"{len(model.vocab)} ({model.num_parameters():,} parameters)")
    print(f"  training: truncated BPTT, {batch} parallel streams x {seq} steps, Adam, clip 1.0, "
          f"about {seconds:.0f} s")
    valid_ids = model.vocab.encode(valid_text)
    eval_ids = valid_ids[:2_000 if quick else 20_000]
    bpc_before = model.bits_per_char(eval_ids, batch_size=8, seq_len=128)
    before = model.generate("The ", n=sample_chars, temperature=0.8, seed=args.seed)
    _print_titled(f"sample BEFORE training (held-out {bpc_before:.2f} bits/char)", before)

    checkpoint = os.path.join(out, "charrnn.npz")
    trainer = TBPTTTrainer(model, model.vocab.encode(train_text), valid_ids, batch_size=batch,
                           seq_len=seq, optimizer="adam", lr=3e-3, clip=1.0,
                           schedule="constant", eval_every=0,
                           checkpoint_path=checkpoint, checkpoint_every=100,
                           progress=not args.no_progress, log_every=10,
                           eval_chars=len(eval_ids))
    started = time.perf_counter()
    trainer.fit(max_steps, time_limit=seconds)
    elapsed = time.perf_counter() - started
    bpc_after = model.bits_per_char(eval_ids, batch_size=8, seq_len=128)
    after = model.generate("The ", n=sample_chars, temperature=0.8, seed=args.seed)
    _print_titled(f"sample AFTER {trainer.step} steps, {elapsed:.0f} s (held-out "
                  f"{bpc_after:.2f} bits/char)", after)

    files = {"checkpoint": checkpoint}
    files.update(pictures(model, untrained, valid_text, out, quick))
    summary = {"corpus": source, "corpus_chars": len(text), "cell": args.cell,
               "hidden_size": hidden, "parameters": model.num_parameters(),
               "batch_size": batch, "seq_len": seq, "steps": trainer.step,
               "tokens": trainer.tokens, "seconds": round(elapsed, 1),
               "heldout_bpc_before": round(bpc_before, 4),
               "heldout_bpc_after": round(bpc_after, 4),
               "heldout_chars": int(len(eval_ids)),
               "sample_before": before, "sample_after": after}
    files["summary"] = os.path.join(out, "summary.json")
    mt.atomic_write(files["summary"], json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\nheld-out bits per character: {bpc_before:.3f} before -> {bpc_after:.3f} after "
          f"{trainer.step} steps ({trainer.tokens:,} characters seen)")
    print(f"everything is in {out}/:")
    for what, path in files.items():
        if path:
            print(f"  {what:<16} {os.path.relpath(path, out)}")
    print(f"continue training: python -m rnn train --resume {checkpoint} --batch {batch} "
          f"--seq {seq} --schedule constant --lr 3e-3 --steps {trainer.step + 500} "
          f"--out {checkpoint}")
    print(f"sample more:       python -m rnn sample {checkpoint} --prefix \"The \" -n 500")
    return 130 if trainer.interrupted else 0


def pictures(model, untrained_state, valid_text, out, quick):
    """Render a short unroll of the trained model (every gate a node) and the gradient flow.

    Returns ``{description: path}`` of the files written (None for what could not be made).
    """
    import viz
    from rnn.diagnostics import hidden_grad_norms
    files = {}
    fused = model.fused
    model.set_fused(False)                  # the explicit path: every gate is a graph node
    model.eval()
    try:
        # 1. A 3-step unroll drawn op by op, and a 12-step one drawn cell by cell.
        for name, steps, view in (("unrolled_ops", 3, "ops"), ("unrolled_cells", 12, "cells")):
            ids = model.vocab.encode(valid_text[:steps + 1])
            with mt.keep_values():          # for drawing: every node's value
                loss, _ = model.loss(ids[:-1, None], ids[1:, None])
            loss.backward(keep_grads=True)
            title = (f"{model.cell.upper()} unrolled over {steps} characters "
                     f"{valid_text[:steps]!r}: every node coloured by |dL/d node|")
            path = os.path.join(out, name)
            files[f"graph ({view} view)"] = _render(viz, loss, path, view, model, title)
            model.zero_grad()
        # 2. ||dL/dh_t|| over a longer unroll: trained vs untrained weights.
        steps = 20 if quick else 60
        ids = model.vocab.encode(valid_text[:steps + 1])
        curves = {}
        trained_state = model.state_dict()
        for label, state in (("untrained", untrained_state), ("trained", trained_state)):
            model.load_state_dict(state)
            # Only the last character's prediction: how far back does its gradient reach?
            logits, _ = model(ids[:-1, None])
            last = logits[-1]                                            # (1, V)
            loss = mt.nn.functional.cross_entropy(last, mt.tensor(ids[-1:]))
            loss.backward(keep_grads=True)
            norms = hidden_grad_norms(loss)
            curves[f"{label} {model.cell.upper()}"] = next(iter(norms.values()))
            model.zero_grad()
        model.load_state_dict(trained_state)
        path = os.path.join(out, "gradient_flow.png")
        try:
            fig = viz.plot_gradient_flow(
                curves, out=path, distance=True,
                title=f"How far back the loss of the last character reaches "
                      f"({steps}-step unroll)")
            import matplotlib.pyplot as plt
            plt.close(fig)
            files["gradient flow"] = path
        except ImportError as error:
            print(f"(skipping the gradient-flow plot: {error})")
    finally:
        model.set_fused(fused)
        model.zero_grad()
    return files


def _render(viz, loss, stem, view, model, title):
    """Render SVG (and PNG) with Graphviz; if ``dot`` is missing keep the DOT source and say so."""
    try:
        path = viz.render(loss, stem + ".svg", view=view, params=model, title=title)
        viz.render(loss, stem + ".png", view=view, params=model, title=title)
        return path
    except viz.DotNotFoundError as error:
        print(f"(Graphviz's `dot` is missing, so {stem}.svg was not drawn: {error})")
        return getattr(error, "dot_path", stem + ".dot")
