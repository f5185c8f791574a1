"""``handgrad predict`` streams (issue 9, class 8), and Ctrl-C early in a run is one line (class 4).

* predict reads and writes in chunks: rows come out before the input has ended,
  and a file of several chunks (with rows dropped by ``--missing drop`` and the
  input columns passed through by ``--keep``) gives, row for row, what the
  library gives on the whole file at once;
* SIGINT at any moment after the package is imported (the sub-commands' import,
  the parsing, the data loading, the first epochs) exits 130 without a traceback.
"""

from __future__ import annotations

import csv
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import handgrad
from handgrad.data import load_csv

#: The handgrad under test, for subprocesses run in another folder.
ENV = {**os.environ, "PYTHONPATH": str(Path(handgrad.__file__).resolve().parents[1])}
ROWS = 20_000  # more than two of predict's chunks (8192 rows)


def hg(*args, cwd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handgrad", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def write_table(path: Path, n: int, seed: int = 0) -> None:
    """``x1, x2, colour, y`` with a missing x2 every 997th row (dropped by --missing drop)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    colours = np.array(["red", "green", "blue"])[rng.integers(0, 3, n)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["x1", "x2", "colour", "y"])
        for i in range(n):
            x2 = "" if i % 997 == 5 else repr(float(x[i, 1]))
            w.writerow([repr(float(x[i, 0])), x2, colours[i], repr(float(x[i, 0] - 2 * x[i, 1]))])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stream")
    write_table(folder / "train.csv", 500, seed=1)
    r = hg("train", "--train", "train.csv", "--target", "y", "--epochs", "3", "--missing", "drop", "-o", "m.npz",
           "-q", cwd=folder)  # fmt: skip
    assert r.returncode == 0, r.stderr
    write_table(folder / "new.csv", ROWS, seed=2)
    return folder


def test_predict_in_chunks_keep_and_drop_match_the_whole_file(fitted):
    r = hg("predict", "m.npz", "new.csv", "--keep", "--missing", "drop", "-o", "p.csv", cwd=fitted)
    assert r.returncode == 0, r.stderr
    est = handgrad.load(fitted / "m.npz")
    ds = load_csv(fitted / "new.csv", schema=est.schema_, missing="drop")
    expected = est.predict(ds)
    with open(fitted / "new.csv", newline="") as f:
        original = list(csv.reader(f))
    with open(fitted / "p.csv", newline="") as f:
        out = list(csv.reader(f))
    assert out[0] == ["x1", "x2", "colour", "y", "y_predicted"]
    body = out[1:]
    assert len(body) == ds.n_samples == ROWS - len(range(5, ROWS, 997))
    assert [row[:4] for row in body] == [original[1 + i] for i in ds.rows]  # the kept columns, row for row
    # NOTE: 1e-14, not equality: BLAS rounds the last rows of a block differently (1 ulp) by block length.
    np.testing.assert_allclose(np.array([float(row[4]) for row in body]), expected, rtol=1e-14, atol=1e-14)
    assert f"{ds.n_samples} predictions written to p.csv" in r.stderr


def test_predict_writes_rows_before_its_input_ends(fitted):
    """A pipe that stays open after a chunk's worth of rows: predictions for them come out at once."""
    lines = (fitted / "new.csv").read_text().splitlines(keepends=True)
    p = subprocess.Popen(
        [sys.executable, "-m", "handgrad", "predict", "m.npz", "-"],
        cwd=fitted,
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline takes the first line only, communicate() gets the rest
    )
    try:
        p.stdin.write("".join(lines[: 8192 + 10]).encode())  # the header and one full chunk (and a bit)
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "no output while the input was still open"
        first = p.stdout.readline().decode()
        assert first.strip() == "y_predicted"
        out, err = p.communicate(input="".join(lines[8192 + 10 :]).encode(), timeout=120)
        assert p.returncode == 0, err.decode()
    finally:
        if p.poll() is None:
            p.kill()
    rest = out.decode().splitlines()
    est = handgrad.load(fitted / "m.npz")
    expected = est.predict(load_csv(fitted / "new.csv", schema=est.schema_))  # the model's missing-value policy
    np.testing.assert_allclose(np.array([float(v) for v in rest]), expected, rtol=1e-14, atol=1e-14)


def test_predict_memory_does_not_grow_with_the_rows(fitted, tmp_path):
    """Peak memory of predict on 20,000 rows and on 25× as many: within 20 MB (the chunks, not the file)."""
    resource = pytest.importorskip("resource")
    del resource
    big = tmp_path / "big.csv"
    text = (fitted / "new.csv").read_text()
    header, body = text.split("\n", 1)
    big.write_text(header + "\n" + body * 25)
    peaks = []
    for name in (fitted / "new.csv", big):
        code = (
            "import resource, sys; from handgrad.cli import main; "
            f"rc = main(['predict', 'm.npz', {str(name)!r}, '--missing', 'drop', '-o', {str(tmp_path / 'o.csv')!r}, "
            "'--force']); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
        )
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=fitted, env=ENV, capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, r.stderr
        peaks.append(int(r.stdout.split()[-1]) / 1024)
    assert peaks[1] - peaks[0] < 20, peaks


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.6])
def test_ctrl_c_early_in_train_is_one_line(tmp_path, delay):
    """SIGINT from the moment ``main`` is imported (as the console script does): exit 130, no traceback.

    NOTE: not before: a signal while ``import handgrad`` itself runs (about 0.3 s, NumPy)
    reaches the interpreter before any handgrad code can catch it.
    """
    code = (
        "import sys; from handgrad.cli import main; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
        "sys.exit(main(['train', '--dataset', 'sine', '--epochs', '100000', '--no-early-stopping', '-q', '--no-save']))"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stderr.readline() == "ready\n"
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    # Before training: one line. During training: the graceful stop's two lines (checkpoint written).
    assert lines[-1].startswith("handgrad: interrupted"), err
    assert len(lines) in (1, 2), err


@pytest.mark.parametrize("delay", [0.15, 0.3])
@pytest.mark.parametrize(
    "launcher",
    [
        # the console script installs its SIGINT handler before ``import handgrad`` (NumPy: ~0.3 s)
        ["-c", "from _handgrad_entry import main; main()"],
        # ``python -m handgrad`` imports the package before its ``__main__``: the package installs the
        # same quiet handler for that command line (handgrad._quiet_ctrl_c_while_python_m_imports)
        ["-m", "handgrad"],
    ],
    ids=["console-script", "python-m"],
)
def test_ctrl_c_while_handgrad_imports_is_one_line(tmp_path, launcher, delay):
    args = [sys.executable, *launcher, "train", "--dataset", "sine", "--epochs", "100000", "-q", "--no-save"]
    p = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("handgrad: interrupted"), err


def test_importing_handgrad_elsewhere_leaves_ctrl_c_alone():
    # Only `python -m handgrad` gets the quiet handler: a program that imports handgrad keeps Python's.
    code = "import signal, handgrad; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "True", r.stderr
