"""The command line: python -m rnn train | sample, its help and its errors (the demo: test_viz_demo)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import microtensor as mt
from rnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train(text_file, out, *extra):
    return main(["train", "--text", str(text_file), "--hidden", "8", "--layers", "1",
                 "--seq", "8", "--batch", "4", "--steps", "6", "--eval-every", "3",
                 "--out", str(out), "--no-progress", "--sample-chars", "20", *extra])


def test_help_via_python_dash_m():
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-m", "rnn", "--help"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0
    for command in ("train", "sample"):
        assert command in result.stdout


@pytest.mark.parametrize("command, option", [("train", "--hidden"), ("sample", "--temperature")])
def test_subcommand_help(command, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert option in capsys.readouterr().out


def test_train_then_sample_then_resume(text_file, tmp_path, capsys):
    ckpt = tmp_path / "ckpt.npz"
    assert train(text_file, ckpt) == 0
    out = capsys.readouterr().out
    assert "held-out bits per character" in out and "checkpoint" in out
    saved = mt.load(ckpt)
    assert saved["trainer"]["step"] == 6 and saved["config"]["hidden_size"] == 8

    assert main(["sample", str(ckpt), "--prefix", "the ", "-n", "30", "--seed", "1"]) == 0
    sample = capsys.readouterr().out.rstrip("\n")
    assert sample.startswith("the ") and len(sample) == 34
    assert main(["sample", str(ckpt), "--prefix", "the ", "-n", "30", "--seed", "1"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == sample        # seeded: reproducible

    assert train(text_file, ckpt, "--resume", str(ckpt), "--steps", "9") == 0
    assert "resumed" in capsys.readouterr().out
    assert mt.load(ckpt)["trainer"]["step"] == 9


def test_sample_with_unknown_prefix_characters_warns(text_file, tmp_path, capsys):
    ckpt = tmp_path / "ckpt.npz"
    train(text_file, ckpt)
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--prefix", "QZ", "-n", "5"]) == 0
    captured = capsys.readouterr()
    assert "never saw" in captured.err and captured.out.startswith("QZ")


def error_of(argv, capsys):
    code = main(argv)
    assert code == 2
    return capsys.readouterr().err


def test_empty_binary_and_missing_text_files(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in error_of(["train", "--text", str(empty)], capsys)
    blob = tmp_path / "weights.bin"
    blob.write_bytes(np.arange(1000, dtype=np.float64).tobytes())
    assert "binary" in error_of(["train", "--text", str(blob)], capsys)
    assert "does not exist" in error_of(["train", "--text", str(tmp_path / "nope.txt")], capsys)


def test_missing_foreign_and_corrupt_checkpoints(tmp_path, capsys):
    assert "does not exist" in error_of(["sample", str(tmp_path / "none.npz")], capsys)
    foreign = tmp_path / "foreign.npz"
    mt.save({"weights": np.ones(3)}, foreign)
    assert "not a CharRNN checkpoint" in error_of(["sample", str(foreign)], capsys)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(2))
    err = error_of(["sample", str(plain)], capsys)
    assert "plain.npz" in err
    notes = tmp_path / "notes.npz"
    notes.write_text("hello")
    assert "not a microtensor checkpoint" in error_of(["sample", str(notes)], capsys)
    assert "directory" in error_of(["sample", str(tmp_path)], capsys)


@pytest.mark.parametrize("option, value", [("--hidden", "0"), ("--layers", "-1"),
                                           ("--seq", "0"), ("--batch", "x"),
                                           ("--steps", "0"), ("--lr", "-1")])
def test_impossible_sizes_are_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and ("positive" in err or "expected" in err)


def test_batch_too_large_for_the_text(tmp_path, capsys):
    small = tmp_path / "small.txt"
    small.write_text("abcdefghij")
    err = error_of(["train", "--text", str(small), "--batch", "32", "--valid-fraction", "0"],
                   capsys)
    assert "too short for --batch 32" in err


@pytest.mark.parametrize("command", ["train", "sample"])
def test_help_names_each_default_once(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())        # argparse wraps lines
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: )" not in text
    for option in re.split(r" (?=--?[a-z])", text)[1:]:
        assert option.count("default") <= 1, option
    assert "(default: 256)" in text or command == "sample"   # a plain default is still shown
