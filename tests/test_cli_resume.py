"""End-to-end: a run killed mid-way (SIGINT or SIGTERM) and resumed ends bit-identical to a run left alone.

Each test starts the real command line in a subprocess with checkpoints, sends a
signal as soon as a checkpoint appears, checks the exit code (130 / 143), the
one-line message and that no model was written, resumes with ``--resume``, and
compares the final weights (and the loss history) with an uninterrupted run,
bit for bit.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from handgrad.modelfile import load_model


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "handgrad", *map(str, args)]


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def signal_after_checkpoint(args, checkpoint: Path, signum: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``handgrad args``; send ``signum`` once ``checkpoint`` is (re)written; return the finished process."""
    before = digest(checkpoint)
    proc = subprocess.Popen(cli(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while digest(checkpoint) in (before, None) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def same_weights(a: Path, b: Path) -> None:
    with np.load(a) as wa, np.load(b) as wb:
        assert sorted(wa.files) == sorted(wb.files)
        for name in wa.files:
            if name == "__metadata__":  # a model file's JSON (paths, timings) may differ; its arrays may not
                continue
            assert wa[name].tobytes() == wb[name].tobytes(), name  # to the bit


def losses(model: Path) -> list:
    epochs = load_model(model).metadata["history"]["epochs"]
    return [(e["epoch"], e["train_loss"], e["val_loss"]) for e in epochs]


def interrupt_resume_compare(tmp_path: Path, args: list, signals: tuple[int, ...]) -> None:
    ref = run_ok([*args, "-o", "ref.npz", "--export-weights", "ref_w.npz"], tmp_path)
    assert "Elapsed time" in ref.stdout
    checkpoint = tmp_path / "ck.npz"
    run_args = [
        *args,
        "--checkpoint-every",
        3,
        "--checkpoint",
        checkpoint,
        "-o",
        "run.npz",
        "--export-weights",
        "run_w.npz",
    ]
    for k, signum in enumerate(signals):
        step = run_args if k == 0 else ["train", "--resume", checkpoint, "--quiet"]
        r = signal_after_checkpoint(step, checkpoint, signum, tmp_path)
        code = 130 if signum == signal.SIGINT else 143
        assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("handgrad: interrupted (") and f"handgrad train --resume {checkpoint}" in last
        assert not (tmp_path / "run.npz").exists() and not (tmp_path / "run_w.npz").exists()
    r = run_ok(["train", "--resume", checkpoint, "--quiet"], tmp_path)
    same_weights(tmp_path / "run_w.npz", tmp_path / "ref_w.npz")
    assert losses(tmp_path / "run.npz") == losses(tmp_path / "ref.npz")
    same_weights(tmp_path / "run.npz", tmp_path / "ref.npz")  # the model file's arrays too


def run_ok(args, cwd) -> subprocess.CompletedProcess:
    r = subprocess.run(cli(*args), cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_standard_mode_sigint_then_sigterm_then_resume_is_bit_identical(data_dir, tmp_path):
    # Adam, shuffling, a validation split and early stopping with restore-best: every piece of state matters.
    ins = data_dir / "insurance" / "train_insurance.csv"
    args = ["train", "--train", ins, "--target", "charges", "--hidden", 32, 16, "--epochs", 150, "--batch-size", 8]
    args += ["--patience", 40, "--seed", 5, "--quiet"]
    interrupt_resume_compare(tmp_path, args, (signal.SIGINT, signal.SIGTERM))


def test_seed_mode_with_permutations_sigterm_and_resume_is_bit_identical(data_dir, tmp_path):
    lines = (data_dir / "house" / "train_house.csv").read_text().splitlines(keepends=True)[:201]
    (tmp_path / "train.csv").write_text("".join(lines))
    epochs = 120
    np.save(tmp_path / "perms.npy", np.stack([np.random.default_rng(e).permutation(200) for e in range(epochs)]))
    args = ["train", "--train", "train.csv", "--target", "price", "--hidden", 16, 8, "--seed-compatible"]
    args += ["--gradient", "expanded", "--permutations", "perms.npy", "--epochs", epochs, "--batch-size", 4, "--quiet"]
    interrupt_resume_compare(tmp_path, args, (signal.SIGTERM,))


def test_resume_refuses_other_settings_and_changed_data(data_dir, tmp_path):
    lines = (data_dir / "house" / "train_house.csv").read_text().splitlines(keepends=True)[:101]
    (tmp_path / "train.csv").write_text("".join(lines))
    args = ["train", "--train", "train.csv", "--target", "price", "--hidden", 4, "--epochs", 4, "--quiet"]
    run_ok([*args, "--checkpoint-every", 2, "--checkpoint", "ck.npz", "--no-save"], tmp_path)
    r = subprocess.run(cli("train", "--resume", "ck.npz", "--epochs", 9), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "drop --epochs" in r.stderr
    (tmp_path / "train.csv").write_text("".join(lines[:-1]))
    r = subprocess.run(cli("train", "--resume", "ck.npz"), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "train.csv has changed since the checkpoint" in r.stderr


def test_estimator_held_out_split_with_early_stopping_sigint_and_resume_is_bit_identical(data_dir, tmp_path):
    # Since handgrad train trains the estimator, --train alone holds out nothing (the estimators'
    # defaults); --early-stopping makes the estimator hold out its validation part (the one split),
    # which a resumed run must draw again, row for row.
    ins = data_dir / "insurance" / "train_insurance.csv"
    args = ["train", "--train", ins, "--target", "charges", "--hidden", 16, "--epochs", 120, "--batch-size", 16]
    args += ["--early-stopping", "--patience", 30, "--seed", 2, "--quiet"]
    interrupt_resume_compare(tmp_path, args, (signal.SIGINT,))
    assert all(e[2] is not None for e in losses(tmp_path / "run.npz"))  # a validation loss every epoch
