"""Command line: ``python -m rnn train | sample``.

``train`` fits a character-level language model (:class:`rnn.CharRNN`) with truncated BPTT on a
text file (default: the built-in offline corpus, Python's language reference); ``sample`` writes
text from a checkpoint. The README's first command, which also draws the trained model's graph,
is ``python -m viz demo`` (it lives in viz, which may use rnn, never the reverse).

Examples::

    python -m rnn train --text shakespeare.txt --cell lstm --hidden 256 --layers 2 \\
        --seq 64 --batch 32 --steps 2000 --out ckpt.npz
    python -m rnn sample ckpt.npz --prefix "ROMEO:" -n 500 --temperature 0.8

Example:
    >>> parser = build_parser()
    >>> args = parser.parse_args(["sample", "ckpt.npz", "-n", "10"])
    >>> args.command, args.n, args.temperature
    ('sample', 10, 0.8)
"""
import argparse
import codecs
import os
import sys

import numpy as np

import microtensor as mt

from .conventions import positive_int
from .corpus import TextFileError, default_corpus, load_text, split_text
from .models import CELL_TYPES, CharRNN, CheckpointMismatch
from .preflight import (PreflightError, check_fits_in_memory, check_output_file, machine_memory,
                        training_bytes)
from .tbptt import OPTIMIZERS, SCHEDULES, TBPTTTrainer, TrainingDiverged

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A problem with the user's input, reported as ``error: ...`` with exit status 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    try:
        return positive_int(value, "the value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _encoding(text):
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown text encoding {text!r} (e.g. utf-8, "
                                         f"latin-1, cp1252, utf-16)") from None


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _fraction(text):
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to a help text once: not where the text already names its default,
    nor for an empty default (None, "") or a flag (an option that is simply off)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, "") or action.nargs == 0:
            return text
        return super()._get_help_string(action)


def build_parser():
    """The argument parser of ``python -m rnn`` (sub-commands train and sample)."""
    parser = argparse.ArgumentParser(
        prog="python -m rnn",
        description="Character-level recurrent language models with truncated BPTT, on "
                    "microtensor. The guided tour that also draws the graph is "
                    "`python -m viz demo --out out`.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample}")
    sub.required = True

    train = sub.add_parser(
        "train", help="train a char-level LM on a text file (default: the built-in corpus)",
        description="Train a character-level language model with truncated backprop through "
                    "time: the text is cut into --batch parallel streams read in chunks of "
                    "--seq characters, the hidden state carried from chunk to chunk. Ctrl-C "
                    "stops after the current step and saves a checkpoint; --resume continues it "
                    "exactly.",
        formatter_class=_DefaultsOnce)
    train.add_argument("--text", help="text file to learn (default: Python's language "
                       "reference from the standard library's pydoc_data, offline)")
    train.add_argument("--encoding", type=_encoding, default=None,
                       help="the text file's encoding (default: UTF-8, or Latin-1 for a file "
                            "that is not UTF-8 but reads as text)")
    train.add_argument("--cell", choices=CELL_TYPES, default="lstm", help="recurrent cell")
    train.add_argument("--hidden", type=_positive_int, default=256, help="hidden size")
    train.add_argument("--layers", type=_positive_int, default=2, help="stacked layers")
    train.add_argument("--embedding", type=_positive_int, default=None,
                       help="embedding size (default: min(64, hidden))")
    train.add_argument("--dropout", type=_fraction, default=0.0, help="dropout between layers")
    train.add_argument("--seq", type=_positive_int, default=64,
                       help="truncation length k (characters per chunk)")
    train.add_argument("--batch", type=_positive_int, default=32, help="parallel streams B")
    train.add_argument("--steps", type=_positive_int, default=2000, help="training steps")
    train.add_argument("--minutes", type=_positive_float, default=None,
                       help="stop after this many minutes even if --steps is not reached")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    train.add_argument("--lr", type=_positive_float, default=2e-3, help="learning rate")
    train.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                       help="learning-rate schedule over --steps")
    train.add_argument("--clip", type=_non_negative_float, default=1.0,
                       help="max global gradient norm (0: no clipping)")
    train.add_argument("--valid-fraction", type=_fraction, default=0.05,
                       help="fraction of the text (its end) held out for bits-per-char")
    train.add_argument("--eval-every", type=_non_negative_int, default=200,
                       help="evaluate held-out bits/char every N steps (0: only at the end)")
    train.add_argument("--checkpoint-every", type=_non_negative_int, default=200,
                       help="save a checkpoint every N steps (0: only at the end / on Ctrl-C)")
    train.add_argument("--out", default="charrnn.npz", help="checkpoint file to write")
    train.add_argument("--resume", metavar="CKPT", help="continue a run from this checkpoint "
                       "(same text, --batch and --seq; the model comes from the checkpoint)")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument("--sample-chars", type=_non_negative_int, default=300,
                       help="characters to sample at the end (0: none)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--threads", type=_non_negative_int, default=1,
                       help="BLAS threads (small recurrent matrices run fastest on one; "
                            "0: leave the library's default)")

    sample = sub.add_parser(
        "sample", help="generate text from a checkpoint",
        description="Generate text from a checkpoint written by `python -m rnn train` or "
                    "`python -m viz demo`.",
        formatter_class=_DefaultsOnce)
    sample.add_argument("checkpoint", help="checkpoint file (.npz)")
    sample.add_argument("--prefix", default="", help="text to continue")
    sample.add_argument("-n", type=_non_negative_int, default=500, help="characters to generate")
    sample.add_argument("--temperature", type=_non_negative_float, default=0.8,
                        help="sampling temperature (0: always the most likely character)")
    sample.add_argument("--top-k", type=_positive_int, default=None,
                        help="sample only among the k most likely characters")
    sample.add_argument("--seed", type=int, default=None, help="random seed")

    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", 0):
        limit_blas_threads(args.threads)
    try:
        if args.command == "train":
            return cmd_train(args)
        return cmd_sample(args)
    except (CLIError, TextFileError, CheckpointMismatch, mt.serialize.CheckpointError,
            PreflightError, TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:           # a second Ctrl-C: the trainer said what was kept
        print("aborted", file=sys.stderr)
        return 130


# ----- shared ----------------------------------------------------------------------------------
def _load_corpus(path, encoding=None):
    if path is None:
        text, source = default_corpus()
        return text, f"built-in corpus ({source})"
    memory = machine_memory()
    # Reading needs the bytes, the text and one id per character: refuse what cannot fit.
    return load_text(path, encoding=encoding, max_bytes=None if memory is None else memory // 10), path


def _check_fits(n_chars, batch, what="--batch"):
    if n_chars // batch < 2:
        raise CLIError(f"the training text has {n_chars} characters: too short for {what} "
                       f"{batch} parallel streams (each needs at least 2 characters); use a "
                       f"smaller {what} or a longer text")


def _load_checkpoint(path, what):
    """Load a checkpoint that must be a dict (what train writes); ``what`` names its use."""
    if not os.path.exists(path):
        raise CLIError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a directory, not a checkpoint file")
    try:
        checkpoint = mt.load(path)
    except PermissionError:
        raise CLIError(f"checkpoint {path!r} cannot be read: permission denied") from None
    if not isinstance(checkpoint, dict):
        raise CLIError(f"{path}: a valid checkpoint, but it holds a {type(checkpoint).__name__}, "
                       f"not {what}")
    return checkpoint


def _check_finite(model, path):
    """Refuse a model whose weights or first outputs are NaN/Inf (a diverged run's)."""
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise CLIError(f"{path}: the model's weights hold NaN or Inf (the run that wrote it "
                       f"diverged); retrain it with a smaller --lr")
    with mt.no_grad(), np.errstate(all="ignore"):
        logits, _ = model(np.zeros((1, 1), dtype=np.int64))
    if not np.isfinite(logits.data).all():
        raise CLIError(f"{path}: the model's outputs overflow to NaN or Inf (its weights are "
                       f"huge: the run that wrote it diverged); retrain it with a smaller --lr")


def limit_blas_threads(n):
    """Ask the BLAS library NumPy uses to run on ``n`` threads; returns True if it could.

    The recurrent matrices here are small (batch x hidden), so a BLAS call is over before extra
    threads pay for themselves; on a busy machine those threads even slow training down many
    times. Uses threadpoolctl (the ``threads`` extra); without it nothing happens.
    ``OPENBLAS_NUM_THREADS`` set by the user takes precedence.

    Example:
        >>> isinstance(limit_blas_threads(1), bool)
        True
    """
    if os.environ.get("OPENBLAS_NUM_THREADS"):
        return False
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=int(n), user_api="blas")   # as a call (not a with-block) it stays
    return True


def _print_sample(title, text):
    print(f"--- {title} " + "-" * max(0, 60 - len(title)))
    print(text)
    print("-" * 65)


# ----- train -----------------------------------------------------------------------------------
def cmd_train(args):
    """``python -m rnn train``."""
    # Everything that can be checked is checked before any training starts.
    check_output_file(args.out, "--out", inputs=[args.text])
    text, source = _load_corpus(args.text, args.encoding)
    train_text, valid_text = split_text(text, args.valid_fraction)
    mt.manual_seed(args.seed)
    checkpoint = None
    if args.resume:
        checkpoint = _load_checkpoint(args.resume, "a training checkpoint of `python -m rnn train`")
        model = CharRNN.from_checkpoint(checkpoint)
        _check_finite(model, args.resume)
    else:
        embedding = args.embedding or min(64, args.hidden)
        check_fits_in_memory(
            training_bytes(args.cell, len(set(train_text)) + 1, args.hidden, args.layers,
                           embedding, args.batch, args.seq, args.optimizer),
            f"a {args.cell.upper()} with --hidden {args.hidden} --layers {args.layers} --batch "
            f"{args.batch} --seq {args.seq}")
        model = CharRNN(train_text, hidden_size=args.hidden, num_layers=args.layers,
                        cell=args.cell, embedding_dim=args.embedding, dropout=args.dropout)
    train_ids = model.vocab.encode(train_text)
    _check_fits(len(train_ids), args.batch)
    valid_ids = model.vocab.encode(valid_text) if len(valid_text) >= 2 else None
    trainer = TBPTTTrainer(
        model, train_ids, valid_ids, batch_size=args.batch, seq_len=args.seq,
        optimizer=args.optimizer, lr=args.lr, clip=args.clip, schedule=args.schedule,
        total_steps=args.steps, eval_every=args.eval_every, checkpoint_path=args.out,
        checkpoint_every=args.checkpoint_every, progress=not args.no_progress)
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint)
        print(f"resumed {args.resume} at step {trainer.step}")
    print(f"text: {source}: {len(text):,} characters ({len(train_text):,} train, "
          f"{len(valid_text):,} held out), vocabulary {len(model.vocab)}")
    print(f"model: {model.cell.upper()} {model.num_layers}x{model.hidden_size}, "
          f"{model.num_parameters():,} parameters; TBPTT k={args.seq}, B={args.batch}")
    trainer.fit(args.steps, time_limit=None if args.minutes is None else args.minutes * 60)
    final = trainer.evaluate()
    if final is not None:
        print(f"held-out bits per character: {final:.3f}")
    print(f"checkpoint: {args.out} (step {trainer.step})")
    if args.sample_chars:
        _print_sample("sample", model.generate("", n=args.sample_chars, temperature=0.8,
                                               seed=args.seed))
    return 130 if trainer.interrupted else 0


# ----- sample ----------------------------------------------------------------------------------
def cmd_sample(args):
    """``python -m rnn sample``."""
    model = CharRNN.from_checkpoint(_load_checkpoint(args.checkpoint, "a CharRNN checkpoint"))
    _check_finite(model, args.checkpoint)
    unknown = sorted({c for c in args.prefix if c not in model.vocab})
    if unknown:
        print(f"note: the model never saw {''.join(unknown)!r}; it reads them as 'unknown'",
              file=sys.stderr)
    print(model.generate(args.prefix, n=args.n, temperature=args.temperature, top_k=args.top_k,
                         seed=args.seed))
    return 0
