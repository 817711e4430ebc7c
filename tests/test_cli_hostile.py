"""`python -m rnn train | sample` check first (issue 13): every user mistake is one `error:` line
and exit status 2, found before any training starts; nothing blocks, nothing of the user's is
replaced, and a diverging run says so instead of writing a NaN checkpoint."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import microtensor as mt
import rnn
from rnn.cli import main
from tests.checkpoint_files import array_node, write_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "the quick brown fox jumps over the lazy dog. " * 40
SMALL = ["--hidden", "8", "--layers", "1", "--seq", "8", "--batch", "4", "--steps", "3",
         "--no-progress", "--sample-chars", "0", "--eval-every", "0"]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def error_of(argv, capsys):
    """Run the command line; it must fail with exit 2 and exactly one `error:` line, and must
    not have started training (nothing printed about the model)."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "model:" not in captured.out, "training started before the check"
    return captured.err


def train_args(text_file, out, *extra):
    return ["train", "--text", str(text_file), "--out", str(out), *SMALL, *extra]


# ----- output paths ----------------------------------------------------------------------------
def test_out_that_is_a_directory_is_refused_before_training(text_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = error_of(train_args(text_file, "."), capsys)
    assert "--out '.' is a directory; give a file name such as './charrnn.npz'" in err


def test_out_that_cannot_be_written_is_refused_before_training(text_file, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    err = error_of(train_args(text_file, blocker / "ckpt.npz"), capsys)
    assert f"cannot be written: {str(blocker)!r} is a file, not a folder" in err
    if os.geteuid() != 0:                            # root writes anywhere chmod allows nothing
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert "Permission denied" in error_of(train_args(text_file, locked / "c.npz"), capsys)
        finally:
            locked.chmod(0o700)


def test_out_that_is_the_users_file_is_not_replaced(text_file, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    err = error_of(train_args(text_file, notes), capsys)
    assert "exists and is not a microtensor checkpoint; refusing to replace it" in err
    assert notes.read_text() == "my notes"
    err = error_of(train_args(text_file, text_file), capsys)
    assert "is the input file" in err and text_file.read_text(encoding="utf-8") == TEXT


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_out_that_is_a_fifo_is_refused(text_file, tmp_path, capsys):
    fifo = tmp_path / "out.npz"
    os.mkfifo(fifo)
    assert "is not a regular file" in error_of(train_args(text_file, fifo), capsys)


# ----- input text ------------------------------------------------------------------------------
def _without_blocking(argv):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", main(argv)), daemon=True)
    thread.start()
    thread.join(60)
    return thread, result


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_text_that_is_a_fifo_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "stream.txt"
    os.mkfifo(fifo)
    thread, result = _without_blocking(["train", "--text", str(fifo), "--out",
                                        str(tmp_path / "c.npz"), *SMALL])
    if thread.is_alive():
        with open(fifo, "wb"):                       # unblock it so the test run can end
            pass
        pytest.fail("train --text FIFO blocked")
    assert result["code"] == 2
    assert "is a FIFO (named pipe); the whole text is read before training" in \
        capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_text_is_refused(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text(TEXT)
    secret.chmod(0)
    assert "Permission denied" in error_of(["train", "--text", str(secret), *SMALL], capsys)


def test_encoding_option(tmp_path, capsys):
    text = "café crème brûlée, déjà vu. " * 30
    path = tmp_path / "fr.txt"
    path.write_bytes(text.encode("cp1252"))
    err = error_of(["train", "--text", str(path), "--encoding", "utf-8",
                    "--out", str(tmp_path / "c.npz"), *SMALL], capsys)
    assert "is not utf-8 text (invalid continuation byte at byte 3); give the file's encoding " \
           "with --encoding" in err
    out = tmp_path / "fr.npz"
    assert main(["train", "--text", str(path), "--encoding", "cp1252", "--out", str(out),
                 *SMALL]) == 0
    assert "é" in mt.load(out)["vocab"]["chars"]
    with pytest.raises(SystemExit) as info:
        main(["train", "--text", str(path), "--encoding", "klingon"])
    assert info.value.code == 2
    assert "unknown text encoding 'klingon'" in capsys.readouterr().err


# ----- sizes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value", [("--hidden", "1000000000"), ("--batch", "1000000000000"),
                                           ("--layers", "100000000")])
def test_sizes_that_cannot_fit_in_memory_are_refused_before_building(text_file, tmp_path, capsys,
                                                                     option, value):
    argv = train_args(text_file, tmp_path / "c.npz")
    argv[argv.index(option) + 1] = value
    err = error_of(argv, capsys)
    assert f"{option} {value}" in err and "of memory to train; this machine has" in err


# ----- checkpoints given to --resume and sample --------------------------------------------------
def test_resume_of_a_valid_checkpoint_with_the_wrong_content(text_file, tmp_path, capsys):
    listed = tmp_path / "list.npz"
    mt.save([1, 2, 3], listed)
    err = error_of(train_args(text_file, tmp_path / "c.npz", "--resume", str(listed)), capsys)
    assert "a valid checkpoint, but it holds a list, not a training checkpoint" in err
    assert "holds a list, not a CharRNN checkpoint" in error_of(["sample", str(listed)], capsys)
    model_only = tmp_path / "model.npz"
    mt.save(rnn.CharRNN(TEXT, hidden_size=8).to_checkpoint(), model_only)
    err = error_of(train_args(text_file, tmp_path / "c.npz", "--resume", str(model_only)), capsys)
    assert "holds a model only, not a training run" in err
    good = tmp_path / "good.npz"
    assert main(train_args(text_file, good)) == 0
    capsys.readouterr()
    damaged = mt.load(good)
    damaged["trainer"]["tokens"] = "many"
    mt.save(damaged, good)
    err = error_of(train_args(text_file, tmp_path / "c.npz", "--resume", str(good)), capsys)
    assert "damaged training checkpoint (ValueError: invalid literal for int()" in err


def test_member_stored_as_raw_json_is_an_error_line_for_sample_and_resume(text_file, tmp_path,
                                                                          capsys):
    path = write_checkpoint(tmp_path / "raw.npz", array_node(), {"a0": b"[1.0, 2.0, 3.0]"})
    assert "raw.npz: truncated or corrupt checkpoint: cannot read 'a0'" in \
        error_of(["sample", str(path)], capsys)
    assert "cannot read 'a0'" in error_of(
        train_args(text_file, tmp_path / "c.npz", "--resume", str(path)), capsys)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_sample_of_a_fifo_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "ckpt.npz"
    os.mkfifo(fifo)
    thread, result = _without_blocking(["sample", str(fifo)])
    if thread.is_alive():
        with open(fifo, "wb"):
            pass
        pytest.fail("sample FIFO blocked")
    assert result["code"] == 2 and "not a regular file" in capsys.readouterr().err


def test_huge_learning_rate_is_a_clear_error_and_writes_no_nan_checkpoint(text_file, tmp_path,
                                                                          capsys):
    out = tmp_path / "c.npz"
    code = main(train_args(text_file, out, "--lr", "1e300", "--checkpoint-every", "1"))
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1
    assert captured.err.startswith("error: training diverged at step 1: the update made a weight")
    assert "(learning rate 1e+300: try a smaller one); nothing saved: no checkpoint was written " \
           "by this run" in captured.err
    assert not out.exists() and os.listdir(tmp_path) == ["corpus.txt"]


def test_sample_of_a_diverged_checkpoint_is_an_error_line(tmp_path, capsys):
    model = rnn.CharRNN(TEXT, hidden_size=8)
    for p in model.parameters():
        p.data[...] = np.nan
        break
    mt.save(model.to_checkpoint(), tmp_path / "nan.npz")
    assert "weights hold NaN or Inf (the run that wrote it diverged)" in \
        error_of(["sample", str(tmp_path / "nan.npz")], capsys)
    for p in model.parameters():
        p.data[...] = 3e38                      # float32: logits overflow
    mt.save(model.to_checkpoint(), tmp_path / "huge.npz")
    assert "outputs overflow to NaN or Inf" in error_of(["sample", str(tmp_path / "huge.npz")],
                                                        capsys)


def test_errors_from_a_real_process_are_one_line_not_a_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    for argv in (["train", "--out", str(tmp_path), "--hidden", "8"],
                 ["train", "--hidden", "1000000000", "--out", str(tmp_path / "c.npz")],
                 ["sample", str(tmp_path)]):
        result = subprocess.run([sys.executable, "-m", "rnn", *argv], capture_output=True,
                                text=True, env=env, timeout=300)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, \
            result.stderr
        assert "Traceback" not in result.stderr + result.stdout
