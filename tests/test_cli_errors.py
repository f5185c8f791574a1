"""End-to-end: broken inputs give exit code 2, one line naming the problem, and write nothing.

Every case runs the real command line in a subprocess, in a folder holding the
inputs and a pre-existing file; afterwards the folder must hold exactly what it
held before (no model, no run folder, no temporary file) and the pre-existing
file must be unchanged byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GOOD = "a,b,y\n1.0,2.0,3.0\n2.0,1.0,3.5\n3.0,0.5,4.0\n4.0,0.0,4.5\n"


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handgrad", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean_failure(r: subprocess.CompletedProcess, before: dict, folder: Path, *needles: str) -> None:
    """Exit 2, one line on stderr starting 'handgrad', naming every needle; nothing written."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("handgrad"), lines[0]
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert snapshot(folder) == before
    assert not (folder / "runs").exists()


@pytest.fixture
def work(tmp_path) -> Path:
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "old_model.npz").write_bytes(b"a model from yesterday")
    return tmp_path


# (file contents, extra arguments, what the message must name)
BROKEN_TRAIN = {
    "missing target": ("a,b,c\n1,2,3\n4,5,6\n", ["--target", "y"], ["bad.csv", "no target column 'y'"]),
    "ragged row": (
        "a,b,y\n1,2,3\n4,5,6,7\n8,9,10\n",
        ["--target", "y"],
        ["bad.csv:3:", "expected 3 fields", "found 4"],
    ),
    "text in a numeric column": (
        "a,b,y\n1,2,3\n4,5,6\n7,8,9\n1,oops,3\n",
        ["--target", "y"],
        ["bad.csv:5:", "column 'b'", "'oops'"],
    ),
    "empty file": ("", ["--target", "y"], ["bad.csv", "empty"]),
    "header only": ("a,b,y\n", ["--target", "y"], ["bad.csv", "no data rows"]),
    "NaN": ("a,b,y\n1,2,3\n4,NaN,6\n7,8,9\n", ["--target", "y"], ["bad.csv:3:", "missing value", "column 'b'"]),
    "inf": ("a,b,y\n1,2,3\n4,5,6\n7,inf,9\n", ["--target", "y"], ["bad.csv:4:", "column 'b'", "infinite"]),
    "wrong delimiter": ("a;b;y\n1;2;3\n4;5;6\n", ["--target", "y"], ["bad.csv:1:", "semicolon", "--delimiter"]),
    "target index out of range": (GOOD, ["--target", "7"], ["bad.csv", "index 7 is out of range"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_TRAIN))
def test_train_on_a_broken_file(work, case):
    text, extra, needles = BROKEN_TRAIN[case]
    (work / "bad.csv").write_text(text)
    before = snapshot(work)
    r = run_cli("train", "--train", "bad.csv", *extra, "--epochs", 1, "-o", "new_model.npz", cwd=work)
    assert_clean_failure(r, before, work, *needles)


def test_broken_validation_file_is_named(work):
    (work / "valid.csv").write_text("a,y\n1,2\n")  # column b missing
    before = snapshot(work)
    r = run_cli("train", "--train", "good.csv", "--valid", "valid.csv", "--target", "y", cwd=work)
    assert_clean_failure(r, before, work, "valid.csv", "missing column 'b'")


def test_a_directory_instead_of_a_file(work):
    (work / "folder.csv").mkdir()
    before = snapshot(work)
    r = run_cli("train", "--train", "folder.csv", "--target", "y", cwd=work)
    assert_clean_failure(r, before, work, "folder.csv", "is a directory")
    r = run_cli("predict", "folder.csv", "good.csv", cwd=work)
    assert_clean_failure(r, before, work, "folder.csv", "is a directory")


def test_an_unreadable_file(work):
    if os.geteuid() == 0:
        # Root reads any file whatever its mode: use a file whose read fails another way
        # (/proc/self/mem opens, then read() fails with EIO).
        target, needles = "/proc/self/mem", ["/proc/self/mem", "Input/output error"]
    else:
        (work / "secret.csv").write_text(GOOD)
        os.chmod(work / "secret.csv", 0)
        target, needles = "secret.csv", ["secret.csv", "permission denied"]
    before = snapshot(work) if os.geteuid() == 0 else None
    r = run_cli("train", "--train", target, "--target", "0", "-o", "new_model.npz", cwd=work)
    if before is None:
        os.chmod(work / "secret.csv", 0o600)
        before = snapshot(work)
    assert_clean_failure(r, before, work, *needles)


def test_missing_file(work):
    before = snapshot(work)
    r = run_cli("train", "--train", "nope.csv", "--target", "y", cwd=work)
    assert_clean_failure(r, before, work, "nope.csv", "no such file")


# ------------------------------------------------------------ the seed's files
def test_init_weights_of_the_wrong_shape_name_the_array_and_both_shapes(work):
    np.savez(work / "init.npz", W1=np.zeros((3, 2)), b1=np.zeros(3), W2=np.zeros((1, 4)), b2=np.zeros(1))
    before = snapshot(work)
    args = ["train", "--train", "good.csv", "--target", "y", "--hidden", 3, "--seed-compatible"]
    r = run_cli(*args, "--init-weights", "init.npz", cwd=work)
    assert_clean_failure(r, before, work, "init.npz", "W2 has shape (1, 4)", "2-3-1", "(1, 3)")
    np.savez(work / "init2.npz", W1=np.zeros((3, 2)), b1=np.zeros(3))
    before = snapshot(work)
    r = run_cli(*args, "--init-weights", "init2.npz", cwd=work)
    assert_clean_failure(r, before, work, "init2.npz", "missing: ['W2', 'b2']")
    np.savez(work / "obj.npz", W1=np.array([{"x": 1}], dtype=object))
    before = snapshot(work)
    r = run_cli(*args, "--hidden", "--init-weights", "obj.npz", cwd=work)  # no hidden layer: W1, b1 only
    assert_clean_failure(r, before, work, "obj.npz")


def test_permutations_are_validated(work):
    args = ["train", "--train", "good.csv", "--target", "y", "--hidden", 3, "--seed-compatible", "--epochs", 2]
    cases = {
        "shape.npy": (np.zeros((3, 4), dtype=int), ["shape.npy", "(3, 4)", "(2, 4)"]),
        "dup.npy": (
            np.array([[0, 1, 2, 3], [0, 0, 2, 3]]),
            ["dup.npy", "row 1 (epoch 2)", "not a permutation of 0..3"],
        ),
        "matlab.npy": (np.array([[1, 2, 3, 4], [4, 3, 2, 1]]), ["matlab.npy", "1-based", "subtract 1"]),
    }
    for name, (P, _) in cases.items():
        np.save(work / name, P)
    before = snapshot(work)
    for name, (_, needles) in cases.items():
        r = run_cli(*args, "--permutations", name, cwd=work)
        assert_clean_failure(r, before, work, *needles)


# ------------------------------------------------------------ predict / evaluate
def test_predict_errors(work):
    r = run_cli("train", "--train", "good.csv", "--target", "y", "--epochs", 1, "--quiet", "-o", "m.npz", cwd=work)
    assert r.returncode == 0, r.stderr
    (work / "nob.csv").write_text("a,y\n1,2\n")
    (work / "notes.txt").write_text("not a model\n")
    before = snapshot(work)
    r = run_cli("predict", "m.npz", "nob.csv", "-o", "out.csv", cwd=work)
    assert_clean_failure(r, before, work, "nob.csv", "missing column 'b'")
    r = run_cli("predict", "notes.txt", "good.csv", "-o", "out.csv", cwd=work)
    assert_clean_failure(r, before, work, "notes.txt", "not a handgrad model file")
    r = run_cli("predict", "old_model.npz", "good.csv", cwd=work)
    assert_clean_failure(r, before, work, "old_model.npz")
    r = run_cli("evaluate", "m.npz", "nob.csv", cwd=work)
    assert_clean_failure(r, before, work, "nob.csv", "missing column 'b'")
    (work / "unlabelled.csv").write_text("b,a\n1,2\n")
    before = snapshot(work)
    r = run_cli("evaluate", "m.npz", "unlabelled.csv", cwd=work)
    assert_clean_failure(r, before, work, "unlabelled.csv", "target column 'y' is missing")


# ------------------------------------------------------------ usage
@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--hidden", "0"], "--hidden widths must be positive"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["train", "--activation", "relu", "tanh", "relu"], "one per hidden layer (2)"),
        (["train", "--dataset", "sine", "--loss", "binary_crossentropy"], "does not fit a regression task"),
        (["train", "--permutations", "p.npy"], "--seed-compatible"),
        (["train", "--dataset", "nope"], "unknown data set 'nope'"),
    ],
)
def test_usage_errors_are_one_line(work, args, needle):
    before = snapshot(work)
    r = run_cli(*args, cwd=work)
    assert_clean_failure(r, before, work, needle)


def test_an_internal_failure_is_not_disguised_as_a_user_error(monkeypatch):
    # Exit code 1 (a traceback) is reserved for bugs: main() lets a non-user error through.
    from handgrad.cli import datasets, main

    monkeypatch.setattr(datasets, "list_datasets", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["datasets"])
