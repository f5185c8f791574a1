"""Regressions found by using handgrad as its users would (a student, a teacher, a practitioner).

Each test reproduces one bug seen from the outside (a command line run, a script)
and fails without its fix.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from handgrad import Network, gradcheck, train
from handgrad.data import load_csv
from handgrad.data.table import train_valid_test_split
from handgrad.errors import ConfigError
from handgrad.teaching.derive import derive


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handgrad", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with one line on stderr naming every needle, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("handgrad"), r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------ splitting
def test_stratified_split_gives_a_requested_validation_part_at_least_one_sample(tmp_path):
    # 5 rows of 5 classes: per class round(1 * 0.2) = 0, so stratification used to leave the
    # validation part empty and `handgrad train` failed with "X_val has no samples".
    f = tmp_path / "tiny.csv"
    f.write_text("a,b,y\n0,1,0\n2,3,1\n4,5,2\n6,7,3\n8,9,4\n")
    data = load_csv(f, target="y")
    assert data.task == "multiclass"
    X = data.X
    parts = train_valid_test_split(data, valid=0.2, random_state=0)
    assert len(parts.valid) == 1
    assert len(parts.train) == 4
    # No sample lost or duplicated.
    together = np.sort(np.concatenate([parts.train.X[:, 0], parts.valid.X[:, 0]]))
    assert together.tolist() == X[:, 0].tolist()


# NOTE: `handgrad train --train` holds rows out only on request since it trains the estimator
# (defaults defined once, issue 8): by --val-fraction here, or by the estimator's early stopping.
@pytest.mark.parametrize("hold_out", [["--val-fraction", "0.2"], ["--early-stopping"]])
def test_train_on_tiny_file_with_one_row_per_class_holds_one_row_out(tmp_path, hold_out):
    f = tmp_path / "tiny.csv"
    f.write_text("a,b,label\n1,2,1\n2,1,2\n3,4,3\n4,3,4\n5,6,5\n")
    r = run_cli("train", "--train", f, "--epochs", "2", "--no-save", "--quiet", *hold_out)
    assert r.returncode == 0, r.stderr
    assert "valid          1" in r.stdout, r.stdout


# ------------------------------------------------------------- derive -o
def test_derive_never_overwrites_an_existing_output_without_force(tmp_path):
    out = tmp_path / "notes.tex"
    out.write_text("my own notes\n")
    r = run_cli("derive", "--inputs", 2, "--hidden", 3, "--outputs", 1, "-o", out)
    one_line_error(r, "notes.tex", "--force")
    assert out.read_text() == "my own notes\n"
    r = run_cli("derive", "--inputs", 2, "--hidden", 3, "--outputs", 1, "-o", out, "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("\\documentclass")


def test_derive_into_a_missing_folder_names_the_folder(tmp_path):
    r = run_cli("derive", "--inputs", 2, "--outputs", 1, "-o", tmp_path / "nope" / "d.md")
    one_line_error(r, "the folder", "nope")
    assert not (tmp_path / "nope").exists()


# ------------------------------------------- a loss that cannot fit the network
def test_softmax_over_one_output_is_refused_not_checked_on_zeros():
    # The softmax of one logit is 1: J = 0 and every gradient 0, so gradcheck "passed"
    # and training changed nothing.
    net = Network([3, 4, 1], random_state=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        net.gradients(X, np.zeros(5), loss="softmax_crossentropy")
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        gradcheck(net, X, np.zeros(5), loss="softmax_crossentropy")
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        train(net, X, np.zeros(5), loss="softmax_crossentropy", epochs=1)
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        derive([3, 4, 1], loss="softmax_crossentropy")


def test_cli_gradcheck_and_derive_refuse_softmax_with_one_output():
    for command in ("gradcheck", "derive"):
        r = run_cli(command, "--inputs", 3, "--hidden", 4, "--outputs", 1, "--loss", "softmax_crossentropy")
        one_line_error(r, "at least 2 outputs", "binary_crossentropy")
        assert r.stdout == ""


# ------------------------------------------------------------- CSV files
def test_trailing_delimiter_on_every_line_is_not_a_column(tmp_path):
    # A spreadsheet export: "a,b,y," on every line. The empty, unnamed last column was
    # taken as the default target (the last column) and the file could not be read.
    f = tmp_path / "export.csv"
    f.write_text("a,b,y,\n1,2,3,\n2,3,4.5,\n3,4,5,\n4,5,7.5,\n5,6,5,\n6,7,5.5,\n")
    data = load_csv(f, target=-1)
    assert data.target_name == "y"
    assert data.feature_names == ["a", "b"]
    assert data.y.tolist() == [3, 4.5, 5, 7.5, 5, 5.5]
    r = run_cli("train", "--train", f, "--epochs", "2", "-o", tmp_path / "m.npz", "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli("predict", tmp_path / "m.npz", f)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 7


def test_an_unnamed_last_column_with_values_is_still_an_error(tmp_path):
    f = tmp_path / "odd.csv"
    f.write_text("a,b,y,\n1,2,3,\n2,3,4,x\n3,4,5,\n")
    r = run_cli("train", "--train", f, "--target", "y", "--epochs", "1", "--no-save")
    one_line_error(r, "odd.csv:1", "column 4 has no name")


def test_delimiter_backslash_t_as_typed_in_a_shell_means_tab(tmp_path):
    # The loader's message for a tab-separated file says delimiter='\t'; typed in a shell,
    # --delimiter '\t' passes backslash + t, which was refused as "not one character".
    f = tmp_path / "tabs.csv"
    f.write_text("a\tb\ty\n1\t2\t3\n2\t1\t3.5\n3\t0.5\t4\n4\t0\t4.5\n5\t1\t4\n")
    r = run_cli("train", "--train", f, "--epochs", "1", "-o", tmp_path / "m.npz", "--quiet", "--delimiter", "\\t")
    assert r.returncode == 0, r.stderr
    for command in ("predict", "evaluate"):
        r = run_cli(command, tmp_path / "m.npz", f, "--delimiter", "tab")
        assert r.returncode == 0, (command, r.stderr)


# ------------------------------------------------------------ the terminal
def test_output_closed_by_its_reader_is_not_reported_as_an_error(tmp_path):
    # `handgrad train ... | head -2` printed "handgrad: error: : Broken pipe" and exited 2.
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "handgrad",
            "train",
            "--dataset",
            "sine",
            "--epochs",
            "300",
            "--print-every",
            "1",
            "--no-early-stopping",
            "--no-save",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    p.stdout.readline()
    p.stdout.close()  # as `head -1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141
    assert err == ""


def test_integer_target_taken_as_classes_says_how_to_train_a_regression(tmp_path):
    # Counts 0..6 are inferred as 7 classes; the run said only "multiclass", not why or how to overrule it.
    f = tmp_path / "counts.csv"
    f.write_text("a,count\n" + "".join(f"{i / 10},{i % 7}\n" for i in range(40)))
    r = run_cli("train", "--train", f, "--epochs", "1", "--no-save")
    assert r.returncode == 0, r.stderr
    assert "taken as class labels; for amounts pass --task regression" in r.stdout
    r = run_cli("train", "--train", f, "--epochs", "1", "--no-save", "--task", "regression")
    assert "target: count (regression)" in r.stdout
    assert "taken as class labels" not in r.stdout
