"""Hostile and careless use, as a table (issue 9): input, call, expected outcome, message, files kept.

Each row of :data:`CASES` is one case:

* ``files``: the folder's contents before the call (name → bytes, or a function
  of the folder that makes the file: FIFOs, compressed files, model files);
* ``call``: either a command line (run by bash in the folder, so ``<(...)``,
  pipes and redirections work; ``{hg}`` is ``python -m handgrad``) or a Python
  function of the folder (the library);
* ``expect``: the exit code (command lines) or the exception class (library;
  None: must succeed);
* ``fragment``: text the one-line error (stderr of a command; ``str(exc)``) or,
  on success, the output (stdout + stderr; the function's return value) must hold;
* ``unchanged``: files that must be byte-for-byte what they were. A failing
  case must also leave no new file in the folder (no temporary, no half-written
  output).

Rows marked ``wiring`` need the command line to call a library function this
branch provides (see the report of brief C); they are expected to fail until then.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import handgrad
from handgrad import Network
from handgrad._memory import MemoryLimitError, check_memory, estimate_training_bytes
from handgrad.data import load_csv
from handgrad.data.csv import iter_csv_chunks
from handgrad.errors import ConfigError, DataError, FileWriteError, ModelFileError, NonFiniteError, ShapeError
from handgrad.modelfile import METADATA_KEY, load_arrays_json, load_model, save_arrays_json, save_model
from handgrad.preprocessing import (
    check_precision,
    check_predictions,
    constant_warnings,
    scaling_stats,
    standardise,
    unstandardise,
    weighted_mean_std,
)

HG = f"{sys.executable} -m handgrad"
#: The handgrad under test, for subprocesses run in another folder (a relative PYTHONPATH would not reach it).
ENV = {**os.environ, "PYTHONPATH": str(Path(handgrad.__file__).resolve().parents[1])}
ROWS = 60
_rng = np.random.default_rng(0)
_X = _rng.standard_normal((ROWS, 2))
GOOD = "a,b,y\n" + "".join(
    f"{float(x[0])!r},{float(x[1])!r},{float(x @ [1.0, 2.0] + 0.1)!r}\n" for x in _X
)  # numeric, regression
TEXTCOL = "a,colour,y\n" + "".join(f"{i},{'red' if i % 3 else 'blue'},{i * 0.5 + 0.25}\n" for i in range(ROWS))
KEEP = b"yesterday's results\n"


# ------------------------------------------------------------------ recipes
def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def fifo(folder: Path, name: str) -> None:
    os.mkfifo(folder / name)


def model(folder: Path, name: str = "m.npz", *extra: str) -> None:
    """A regression model of GOOD (a, b → y), trained for two epochs by the command line."""
    (folder / "_train.csv").write_text(GOOD)
    args = ["train", "--train", "_train.csv", "--target", "y", "--epochs", "2", "-o", name, "-q", "--seed", "0"]
    r = subprocess.run(
        [sys.executable, "-m", "handgrad", *args, *extra],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    (folder / "_train.csv").unlink()


BINARY = "a,b,label\n" + "".join(f"{float(x[0])!r},{float(x[1])!r},{'yes' if x[0] + x[1] > 0 else 'no'}\n" for x in _X)


def classifier(folder: Path) -> None:
    """A binary classifier of BINARY (a, b → label), trained for two epochs by the command line."""
    (folder / "_train.csv").write_text(BINARY)
    r = subprocess.run(
        [sys.executable, "-m", "handgrad", "train", "--train", "_train.csv", "--target", "label", "--epochs", "2",
         "-o", "c.npz", "-q"],
        cwd=folder, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (folder / "_train.csv").unlink()


def checkpoint_with(**edited) -> Callable[[Path], None]:
    """A checkpoint of a 2-of-4-epoch run on GOOD (and its f.csv), its stored arguments then edited by hand."""

    def recipe(folder: Path) -> None:
        (folder / "f.csv").write_text(GOOD)
        args = ["train", "--train", "f.csv", "--target", "y", "--epochs", "2", "--checkpoint-every", "1",
                "--checkpoint", "c.npz", "--no-save", "-q"]  # fmt: skip
        r = subprocess.run(
            [sys.executable, "-m", "handgrad", *args], cwd=folder, env=ENV, capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, r.stderr
        arrays, meta = load_arrays_json(folder / "c.npz")
        meta["cli"]["args"].update(edited)
        save_arrays_json(folder / "c.npz", arrays, meta, force=True)

    return recipe


def train_model_of(folder: Path, text: str, *flags: str) -> None:
    """``m.npz``: a model trained by the command line for two epochs on ``text`` (target y)."""
    (folder / "_train.csv").write_text(text)
    r = subprocess.run(
        [sys.executable, "-m", "handgrad", "train", "--train", "_train.csv", "--target", "y", "--epochs", "2",
         "-o", "m.npz", "-q", *flags],
        cwd=folder, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (folder / "_train.csv").unlink()


def decimal_model(folder: Path) -> None:
    train_model_of(folder, SEMICOLON, "--delimiter", ";", "--decimal", ",", "--thousands", ".")


def checkpoint_from_pipe(folder: Path) -> None:
    """A checkpoint of a run that read --train from process substitution (``<(cat f.csv)``)."""
    (folder / "f.csv").write_text(GOOD)
    command = (
        f"{HG} train --train <(cat f.csv) --target y --epochs 2 --checkpoint-every 1 --checkpoint c.npz --no-save -q"
    )
    r = subprocess.run(["bash", "-c", command], cwd=folder, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def model32(folder: Path) -> None:
    model(folder, "m.npz", "--float32")


def model_with_scaling(**stored: float) -> Callable[[Path], None]:
    """A valid model file whose stored scaling overflows: x / 1e-320 for inputs, ŷ · 1e308 + 1e308 for outputs."""

    def recipe(folder: Path) -> None:
        model(folder, "m.npz")
        loaded = load_model(folder / "m.npz")
        arrays = {**loaded.arrays, **{k: np.full_like(loaded.arrays[k], v) for k, v in stored.items()}}
        save_model(folder / "m.npz", loaded.network, arrays=arrays, metadata=loaded.metadata, force=True)

    return recipe


def zip_bomb(folder: Path, name: str = "bomb.npz") -> None:
    """A model file with an extra array of 64 MiB of zeros, consistently declared, deflated to ~64 KB."""
    model(folder, "_m.npz")
    src_path = folder / "_m.npz"
    with np.load(src_path) as z:
        document = json.loads(z[METADATA_KEY].tobytes())
    n = 8 << 20
    zeros = bytes(1 << 20)
    digest = hashlib.sha256()
    for _ in range(n * 8 // len(zeros)):
        digest.update(zeros)
    document["arrays"]["x_extra"] = {"shape": [n], "dtype": "float64", "sha256": digest.hexdigest()}
    meta = io.BytesIO()
    np.save(meta, np.frombuffer(json.dumps(document).encode(), dtype=np.uint8))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    with zipfile.ZipFile(src_path) as src, zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, meta.getvalue() if info.filename.startswith(METADATA_KEY) else src.read(info))
        with zf.open("x_extra.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            for _ in range(n * 8 // len(zeros)):
                f.write(zeros)
    src_path.unlink()


def distinct_names(n: int) -> str:
    return "name,x,y\n" + "".join(f"person{i:06d},{i % 7},{i % 3 + 0.5}\n" for i in range(n))


SEMICOLON = "width;price;y\n" + "".join(f"{i},5;{i}.007,25;{i % 2}\n" for i in range(1, 40))
THOUSANDS = "a,price,y\n" + "".join(f'{i},"{i * 1000 + 7:,}",{i % 2}\n' for i in range(1, 40))
CR_ONLY = TEXTCOL.replace("\n", "\r")
MIXED = "".join(line + ("\r\n", "\r", "\n")[i % 3] for i, line in enumerate(TEXTCOL.splitlines()))
BIGINT = "a,b,y\n1,2,0.5\n" + "9" * 400 + ",3,1.5\n2,1,2.5\n3,0,3.5\n"
LINE5 = "a,b,y\n1,2,0.5\n2,1,1.5\n3,0,2.5\n4," + "x" * 200_000 + ",3.5\n5,1,4.5\n"


def pipe_name(data: bytes) -> str:
    """``/dev/fd/N`` of a pipe a thread fills: what ``<(cat f.csv)`` gives a program."""
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as f:
            f.write(data)

    threading.Thread(target=writer, daemon=True).start()
    return f"/dev/fd/{r}"


# ------------------------------------------------------------------ library calls
def lib_pipe(folder: Path) -> str:
    name = pipe_name(GOOD.encode())
    try:
        return str(load_csv(name, target="y").X.shape)
    finally:
        os.close(int(name.rsplit("/", 1)[1]))


def lib_chunks_from_pipe(folder: Path) -> str:
    schema = load_csv(folder / "f.csv", target="y").schema
    name = pipe_name(GOOD.encode())
    try:
        return str(sum(c.n_samples for c in iter_csv_chunks(name, schema, 7)))
    finally:
        os.close(int(name.rsplit("/", 1)[1]))


def null_device(folder: Path, name: str = "null") -> None:
    """A character device like /dev/null (1, 3) inside the test's folder.

    NOTE: never the real /dev/null: code that wrongly replaces a device would
    replace the machine's /dev/null (the old command line did, as root). A clone
    in the folder shows the same fault and harms nothing. Skipped without mknod.
    """
    try:
        os.mknod(folder / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a character device here: {exc}")


def lib_save_to_device(folder: Path) -> str:
    save_model(folder / "null", Network([2, 1]), force=True)
    mode = os.stat(folder / "null").st_mode
    return "character device" if stat.S_ISCHR(mode) else f"REPLACED: mode {mode:o}"


def lib_plot_to_device(folder: Path) -> str:
    pytest.importorskip("matplotlib")
    from handgrad.plots import plot_loss_curves

    plot_loss_curves({"train_loss": [1.0, 0.5]}, folder / "img.png", figsize=(2, 2), dpi=20)
    mode = os.stat(folder / "img.png").st_mode
    return "character device" if stat.S_ISCHR(mode) else f"REPLACED: mode {mode:o}"


def lib_plot_enospc(folder: Path) -> None:
    pytest.importorskip("matplotlib")
    from handgrad.plots import plot_loss_curves

    real = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    os.fsync = full
    try:
        plot_loss_curves({"train_loss": [1.0, 0.5]}, folder / "loss.png", figsize=(2, 2), dpi=20)
    finally:
        os.fsync = real


def read_only_folder(folder: Path) -> None:
    ro = folder / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(ro)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.decode().strip()}")


def lib_destination_read_only(folder: Path) -> None:
    from handgrad._files import check_destination

    try:
        check_destination(folder / "ro" / "m.npz")
    finally:
        subprocess.run(["umount", str(folder / "ro")], capture_output=True)


def lib_enospc(folder: Path) -> None:
    real = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    os.fsync = full
    try:
        save_model(folder / "m.npz", Network([2, 1]), force=True)
    finally:
        os.fsync = real


def lib_object_bigint(folder: Path) -> None:
    from handgrad._validation import as_float_array

    as_float_array(np.array([[1, 2], [3, 10**400]], dtype=object), "X", np.float64)


def lib_scale(factor: float) -> Callable[[Path], str]:
    def call(folder: Path) -> str:
        X = _X * factor
        mean, scale = scaling_stats(X)
        Z = standardise(X, mean, scale)
        expected = (_X - _X.mean(axis=0)) / _X.std(axis=0)
        error = float(np.abs(Z - expected).max())
        back = unstandardise(Z, mean, scale)
        assert np.allclose(back / factor, _X, rtol=1e-12, atol=1e-12)
        return f"max error {'ok' if error < 1e-12 else error}"

    return call


def lib_constant_target(folder: Path) -> str:
    return "\n".join(constant_warnings(_X, np.full(ROWS, 3.0), ["a", "b"], "price"))


def lib_float32_1e39(folder: Path) -> None:
    check_precision(np.array([[1.0, 2.0], [3.0, 1e39]]), np.float32, ["a", "big"])


def lib_standardise_float32(folder: Path) -> None:
    X = np.array([[1.0, 2.0], [3.0, 1e39]])
    standardise(X, np.zeros(2), np.ones(2), np.float32, names=["a", "big"])


def lib_nonfinite_predictions(folder: Path) -> None:
    check_predictions(np.array([[1.0], [2.0], [np.nan]]), rows=np.array([2, 3, 4]), where="new.csv")


def lib_memory(folder: Path) -> None:
    needed = estimate_training_bytes([30, 100_000, 100_000, 1], 1000, 32, np.float64)
    check_memory(needed, "training a network of [30, 100000, 100000, 1]", available=64 << 30)


def lib_memory_ok(folder: Path) -> str:
    needed = estimate_training_bytes([30, 64, 1], 1000, 32, np.float64)
    check_memory(needed, "training", available=64 << 30)
    return f"{needed} bytes"


def lib_memory_of_this_machine(folder: Path) -> str:
    from handgrad._memory import available_memory

    available = available_memory()
    assert available is not None and available > 0
    check_memory(available // 2, "half of it")  # fits
    with pytest.raises(MemoryLimitError, match=r"twice of it needs about .* this machine has .* available"):
        check_memory(2 * available + (1 << 30), "twice of it")
    return "known"


def lib_blocked_statistics(folder: Path) -> str:
    """The scaling statistics taken a few columns at a time equal, bit for bit, the whole-array formula."""
    rng = np.random.default_rng(3)
    for n, d in ((2_000_000, 3), (700_000, 13), (1000, 37)):
        for order in "CF":
            X = np.asarray(rng.standard_normal((n, d)) * 1e300 + 3e300, order=order)
            # the formula on the columns as contiguous arrays (the statistics do not depend on X's order)
            Xf = np.asfortranarray(X)
            m = np.max(np.abs(Xf), axis=0)
            Xs = Xf / m
            mean = Xs.mean(axis=0)
            std = np.sqrt(((Xs - mean) ** 2).mean(axis=0))
            got = weighted_mean_std(X)
            assert np.array_equal(got[0], mean * m) and np.array_equal(got[1], std * m), (n, d, order)
            other = weighted_mean_std(np.ascontiguousarray(X) if order == "F" else Xf)
            assert np.array_equal(got[0], other[0]) and np.array_equal(got[1], other[1]), (n, d, order)
    return "identical"


def lib_fit_huge_network(folder: Path) -> None:
    handgrad.MLPRegressor(hidden_layer_sizes=(100_000, 100_000), max_iter=1).fit(_X, _X[:, 0])


def lib_fit_object_bigint(folder: Path) -> None:
    X = np.array([[1, 2], [3, 10**400], [5, 6]], dtype=object)
    handgrad.MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, [1.0, 2.0, 3.0])


def lib_predict_object_bigint(folder: Path) -> None:
    est = handgrad.MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(_X, _X[:, 0])
    est.predict(np.array([[1, 10**400]], dtype=object))


def lib_predict_float32_1e300(folder: Path) -> None:
    est = handgrad.MLPRegressor(hidden_layer_sizes=(3,), max_iter=1, dtype="float32").fit(_X, _X[:, 0])
    est.predict(np.array([[1.0, 2.0], [1e300, 1e300]]))


def lib_predict_stored_scale_overflows(folder: Path) -> None:
    est = handgrad.MLPRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0).fit(_X, _X[:, 0])
    est.y_scale_, est.y_mean_ = np.array([1e308]), np.array([1e308])
    est.network_.biases[-1][...] = 10.0  # every scaled output near 10: 10 · 1e308 + 1e308 overflows (whatever the init)
    est.predict(_X)


def lib_proba_nonfinite(folder: Path) -> None:
    est = handgrad.MLPClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(_X, _X[:, 0] > 0)
    est.network_.biases[-1][...] = np.nan  # a damaged output bias: every logit NaN
    est.predict_proba(_X)


def lib_fit_batch_size_0(folder: Path) -> None:
    handgrad.MLPRegressor(batch_size=0).fit(_X, _X[:, 0])


def lib_fit_early_stopping_text(folder: Path) -> None:
    handgrad.MLPRegressor(early_stopping="yes").fit(_X, _X[:, 0])


def lib_load(name: str, **kwargs) -> Callable[[Path], str]:
    def call(folder: Path) -> str:
        ds = load_csv(folder / name, **kwargs)
        return f"{ds.X.shape} {ds.feature_names}"

    return call


def lib_model(name: str) -> Callable[[Path], str]:
    def call(folder: Path) -> str:
        return str(load_model(folder / name).network.layer_sizes)

    return call


# ------------------------------------------------------------------ the table
@dataclass
class Case:
    id: str
    files: dict
    call: str | Callable[[Path], object]
    expect: int | type[BaseException] | None
    fragment: str
    unchanged: tuple[str, ...] = ("keep.txt",)
    wiring: str = ""
    needs: tuple[str, ...] = field(default_factory=tuple)


CASES = [
    # 1. Non-seekable and compressed inputs.
    Case("lib: csv from a pipe", {}, lib_pipe, None, f"({ROWS}, 2)"),
    Case("lib: chunks from a pipe", {"f.csv": GOOD}, lib_chunks_from_pipe, None, str(ROWS)),
    Case("lib: gzip without suffix", {"data": gz(GOOD)}, lib_load("data", target="y"), None, f"({ROWS}, 2)"),
    Case(
        "cli: predict <(cat f.csv)",
        {"f.csv": GOOD, "m.npz": model},
        "{hg} predict m.npz <(cat f.csv) -o p.csv",
        0,
        f"{ROWS} predictions written to p.csv",
    ),
    Case(
        "cli: train --train <(zcat f.csv.gz)",
        {"f.csv.gz": gz(GOOD)},
        "{hg} train --train <(zcat f.csv.gz) --target y --epochs 2 -o m.npz -q",
        0,
        "model saved to m.npz",
    ),
    Case(
        "cli: predict f.csv.gz",
        {"f.csv.gz": gz(GOOD), "m.npz": model},
        "{hg} predict m.npz f.csv.gz -o p.csv",
        0,
        f"{ROWS} predictions written",
    ),
    Case(
        "cli: predict from standard input",
        {"f.csv": GOOD, "m.npz": model},
        "cat f.csv | {hg} predict m.npz - -o p.csv",
        0,
        f"{ROWS} predictions written",
    ),
    # 2. Number formats and almost-distinct columns.
    Case(
        "lib: decimal commas",
        {"de.csv": SEMICOLON},
        lib_load("de.csv", target="y", delimiter=";"),
        DataError,
        "column 'width' holds numbers written with a decimal comma",
    ),
    Case(
        "lib: decimal commas parsed",
        {"de.csv": SEMICOLON},
        lib_load("de.csv", target="y", delimiter=";", decimal=",", thousands="."),
        None,
        "['width', 'price']",
    ),
    Case(
        "lib: thousands",
        {"th.csv": THOUSANDS},
        lib_load("th.csv", target="y"),
        DataError,
        "column 'price' holds numbers written with a comma (e.g. '1,007'): pass thousands=','",
    ),
    Case(
        "lib: thousands parsed",
        {"th.csv": THOUSANDS},
        lib_load("th.csv", target="y", thousands=","),
        None,
        "['a', 'price']",
    ),
    Case(
        "cli: train decimal commas",
        {"de.csv": SEMICOLON},
        "{hg} train --train de.csv --delimiter ';' --target y --epochs 2 -o m.npz",
        2,
        "--decimal ,",
    ),
    Case(
        "cli: train thousands",
        {"th.csv": THOUSANDS},
        "{hg} train --train th.csv --target y --epochs 2 -o m.npz",
        2,
        "--thousands ,",
    ),
    Case(
        "lib: 50,000 distinct strings",
        {"n.csv": distinct_names(50_000)},
        lib_load("n.csv", target="y"),
        DataError,
        "column 'name' holds text with 50000 distinct values in 50000 rows",
    ),
    Case(
        "cli: 5,000 distinct strings",
        {"n.csv": distinct_names(5000)},
        "{hg} train --train n.csv --target y --epochs 2 -o m.npz",
        2,
        "5000 distinct values",
    ),
    Case(
        "lib: many-class text target",
        {"t.csv": "x,label\n" + "".join(f"{i},L{i}\n" for i in range(100))},
        lib_load("t.csv", target="label"),
        DataError,
        "target 'label' holds text with 100 distinct values",
    ),
    # 3. Files: devices, FIFOs, zip bombs, full disks.
    Case("lib: save to a device (as /dev/null)", {"null": null_device}, lib_save_to_device, None, "character device"),
    Case(
        "cli: predict -o DEVICE --force (as /dev/null)",
        {"f.csv": GOOD, "m.npz": model, "null": null_device},
        "{hg} predict m.npz f.csv -o null --force && test -c null && echo still-a-device",
        0,
        "still-a-device",
    ),
    Case(
        "lib: plot into a device",
        {"img.png": lambda d: null_device(d, "img.png")},
        lib_plot_to_device,
        None,
        "character device",
    ),
    Case(
        "lib: plot on a full disk",
        {},
        lib_plot_enospc,
        FileWriteError,
        "cannot write {folder}/loss.png: No space left on device",
    ),
    Case(
        "lib: destination on a read-only file system",
        {"ro": read_only_folder},
        lib_destination_read_only,
        FileWriteError,
        "ro/m.npz: the folder {folder}/ro is on a read-only file system",
    ),
    Case(
        "lib: FIFO as model",
        {"m.npz": lambda d: fifo(d, "m.npz")},
        lib_model("m.npz"),
        ModelFileError,
        "m.npz: is a pipe (FIFO), not a regular file",
    ),
    Case(
        "cli: FIFO as model",
        {"f.csv": GOOD, "m.npz": lambda d: fifo(d, "m.npz")},
        "{hg} predict m.npz f.csv -o p.csv",
        2,
        "is a pipe (FIFO), not a regular file",
    ),
    Case("lib: zip bomb", {"bomb.npz": zip_bomb}, lib_model("bomb.npz"), ModelFileError, "a zip bomb?"),
    Case(
        "cli: zip bomb",
        {"f.csv": GOOD, "bomb.npz": zip_bomb},
        "{hg} predict bomb.npz f.csv -o p.csv",
        2,
        "refusing to decompress it",
        ("keep.txt", "bomb.npz"),
    ),
    Case(
        "lib: disk full",
        {"m.npz": model},
        lib_enospc,
        FileWriteError,
        "cannot write {folder}/m.npz: No space left on device",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "cli: -o on a full disk",
        {"m.npz": model},
        "{hg} predict m.npz big.csv -o tiny/p.csv --force",
        2,
        "tiny/p.csv: No space left on device",
        ("keep.txt", "tiny/p.csv"),
        needs=("tiny",),
    ),
    Case(
        "cli: standard output on a full disk",
        {"m.npz": model},
        "{hg} predict m.npz big.csv > tiny/p.csv",
        2,
        "No space left on device",
        ("keep.txt",),
        needs=("tiny",),
    ),
    # 4. Tracebacks that must be one line.
    Case("lib: CR-only line endings", {"cr.csv": CR_ONLY}, lib_load("cr.csv", target="y"), None, f"({ROWS}, 3)"),
    Case("lib: mixed line endings", {"mx.csv": MIXED}, lib_load("mx.csv", target="y"), None, f"({ROWS}, 3)"),
    Case(
        "cli: train CR-only with a text column",
        {"cr.csv": CR_ONLY},
        "{hg} train --train cr.csv --target y --epochs 2 -o m.npz -q",
        0,
        "model saved",
    ),
    Case(
        "lib: CSV integer too large",
        {"b.csv": BIGINT},
        lib_load("b.csv", target="y"),
        DataError,
        "b.csv:3: column 'a' holds an infinite value: the number",
    ),
    Case(
        "cli: predict CSV integer too large",
        {"b.csv": BIGINT, "m.npz": model},
        "{hg} predict m.npz b.csv -o p.csv",
        2,
        "too large for float64",
    ),
    Case(
        "lib: object array integer too large",
        {},
        lib_object_bigint,
        ShapeError,
        "the value at row 1, column 1 (an integer of 401 digits) is too large for float64",
    ),
    Case(
        "lib: malformed CSV on line 5",
        {"l5.csv": LINE5},
        lib_load("l5.csv", target="y"),
        DataError,
        "l5.csv:5: not valid CSV",
    ),
    Case(
        "cli: malformed CSV on line 5",
        {"l5.csv": LINE5},
        "{hg} train --train l5.csv --target y --epochs 2 -o m.npz",
        2,
        "l5.csv:5: not valid CSV",
    ),
    # 5. Numerics.
    Case("lib: features near 1e300", {}, lib_scale(1e300), None, "max error ok"),
    Case("lib: features near 1e-300", {}, lib_scale(1e-300), None, "max error ok"),
    Case("lib: constant target", {}, lib_constant_target, None, "the target 'price' is constant"),
    Case(
        "lib: float32 and 1e39",
        {},
        lib_float32_1e39,
        NonFiniteError,
        "column 'big' holds 1e+39 at row 1, beyond float32's largest value",
    ),
    Case("lib: standardise into float32", {}, lib_standardise_float32, NonFiniteError, "'big' holds 1e+39 at row 1"),
    Case(
        "lib: non-finite prediction",
        {},
        lib_nonfinite_predictions,
        NonFiniteError,
        "new.csv: the prediction for row 4 is nan",
    ),
    Case(
        "cli: float32 model, inputs 1e300",
        {"big.csv": "a,b\n1,2\n1e300,1e300\n", "m.npz": model32},
        "{hg} predict m.npz big.csv -o p.csv",
        2,
        "finite",
        ("keep.txt", "m.npz"),
    ),
    # 6. Memory.
    Case(
        "cli: stored input scaling overflows",
        {"f.csv": GOOD, "m.npz": model_with_scaling(x_scale=1e-320)},
        "{hg} predict m.npz f.csv -o p.csv",
        2,
        "which cannot be scaled",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "cli: stored target scaling overflows",
        {"f.csv": GOOD, "m.npz": model_with_scaling(y_scale=1e308, y_mean=1e308)},
        "{hg} predict m.npz f.csv -o p.csv",
        2,
        "not a finite number",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "lib: --hidden 100000 100000",
        {},
        lib_memory,
        MemoryLimitError,
        "training a network of [30, 100000, 100000, 1] needs about",
    ),
    Case("lib: the machine's memory", {}, lib_memory_of_this_machine, None, "known"),
    Case("lib: a small network fits", {}, lib_memory_ok, None, "bytes"),
    Case(
        "cli: --hidden 100000 100000",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --hidden 100000 100000 --epochs 1 -o m.npz",
        2,
        "needs about",
    ),
    # 7. Wiring of the command line (brief G): every class above reached from train / predict / evaluate.
    Case(
        "cli: predict -o DEVICE without --force",
        {"f.csv": GOOD, "m.npz": model, "null": null_device},
        "{hg} predict m.npz f.csv -o null && test -c null && echo still-a-device",
        0,
        "still-a-device",
    ),
    Case(
        "cli: float32 model, 1e300 in the second chunk",
        {
            "big.csv": "a,b\n" + "".join(f"{i % 7},{'1e300' if i == 15000 else i % 5}\n" for i in range(20_000)),
            "m.npz": model32,
        },
        "{hg} predict m.npz big.csv -o p.csv",
        2,
        "big.csv: 'b' holds 1e+300 at row 15000, which cannot be scaled to float32",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "cli: predict > /dev/full",
        {"f.csv": GOOD, "m.npz": model},
        "{hg} predict m.npz f.csv > /dev/full",
        2,
        "cannot write standard output: No space left on device",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "cli: predict --proba | head -1",
        {"c.npz": classifier},
        "{hg} predict c.npz big.csv --proba | head -1 > /dev/null; exit ${PIPESTATUS[0]}",
        141,
        "",
        ("keep.txt", "c.npz"),
        needs=("big",),
    ),
    Case(
        "cli: predict --keep from a pipe",
        {"f.csv": GOOD, "m.npz": model},
        "cat f.csv | {hg} predict m.npz - --keep -o p.csv",
        2,
        "--keep reads the input twice",
    ),
    Case(
        "cli: predict --keep",
        {"f.csv": GOOD, "m.npz": model},
        "{hg} predict m.npz f.csv --keep -o p.csv && head -1 p.csv",
        0,
        "a,b,y,y_predicted",
    ),
    Case(
        "cli: predict decimal commas",
        {"de.csv": SEMICOLON, "m.npz": decimal_model},
        "{hg} predict m.npz de.csv --delimiter ';' --decimal , --thousands . -o p.csv",
        0,
        "39 predictions written",
    ),
    Case(
        "cli: predict decimal commas without --decimal",
        {"de.csv": SEMICOLON, "m.npz": decimal_model},
        "{hg} predict m.npz de.csv --delimiter ';' -o p.csv",
        2,
        "--decimal ,",
    ),
    Case(
        "cli: evaluate thousands",
        {"th.csv": THOUSANDS, "m.npz": lambda d: train_model_of(d, THOUSANDS, "--thousands", ",")},
        "{hg} evaluate m.npz th.csv --thousands ,",
        0,
        "39 rows",
    ),
    Case(
        "cli: train decimal commas parsed",
        {"de.csv": SEMICOLON},
        "{hg} train --train de.csv --delimiter ';' --decimal , --thousands . --target y --epochs 2 -o m.npz -q",
        0,
        "model saved",
    ),
    Case(
        "cli: train --plot-loss with an unknown suffix",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 -o m.npz --plot-loss loss.xyz",
        2,
        "'.xyz' is not an image format",
        needs=("matplotlib",),
    ),
    Case(
        "cli: train --plot naming a file",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 -o m.npz --plot keep.txt",
        2,
        "keep.txt: is a file; --plot takes a folder",
        needs=("matplotlib",),
    ),
    Case(
        "cli: train --checkpoint equal to -o",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 -o m.npz --checkpoint ./m.npz --checkpoint-every 1",
        2,
        "name the same file",
    ),
    Case(
        "cli: train --runs-dir that is a file",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 --runs-dir keep.txt",
        2,
        "keep.txt: is not a folder",
    ),
    Case(
        "cli: train -o on a read-only file system",
        {"f.csv": GOOD, "ro": read_only_folder},
        "{hg} train --train f.csv --target y --epochs 2 -o ro/m.npz",
        2,
        "is on a read-only file system",
    ),
    Case(
        "cli: train -o into a missing folder",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 -o nowhere/m.npz",
        2,
        "the folder nowhere does not exist",
    ),
    Case(
        "cli: train -o an existing model",
        {"f.csv": GOOD, "m.npz": model},
        "{hg} train --train f.csv --target y --epochs 2 -o m.npz",
        2,
        "pass --force to overwrite it",
        ("keep.txt", "m.npz"),
    ),
    Case(
        "cli: train --no-save -o F",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --epochs 2 --no-save -o m.npz",
        2,
        "contradict each other",
    ),
    Case(
        "cli: train --hidden 1000000000",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --hidden 1000000000 --epochs 1 -o m.npz",
        2,
        "needs about",
    ),
    Case(
        "cli: train --seed -1",
        {"f.csv": GOOD},
        "{hg} train --train f.csv --target y --seed -1 --epochs 1 -o m.npz",
        2,
        "--seed must be an integer >= 0",
    ),
    Case(
        "cli: train on a constant target",
        {"c.csv": "a,b,y\n" + "".join(f"{i},{i % 5},3.5\n" for i in range(40))},
        "{hg} train --train c.csv --target y --epochs 2 -o m.npz",
        0,
        "R² is undefined",
    ),
    Case(
        "cli: train on identical rows",
        {"c.csv": "a,b,y\n" + "1,2,3.5\n" * 40},
        "{hg} train --train c.csv --target y --epochs 2 --val-fraction 0.2 -o m.npz > out.txt && cat out.txt"
        " && ! grep -q -e nan -e 'e+' out.txt",
        0,
        "undefined",
    ),
    Case(
        "cli: train --float32 --no-scale on 1e39",
        {"f.csv": "a,big,y\n" + "".join(f"{i},{'1e39' if i == 7 else i},{i}\n" for i in range(30))},
        "{hg} train --train f.csv --target y --float32 --no-scale --epochs 1 -o m.npz",
        2,
        "column 'big' holds 1e+39 at row 7, beyond float32's largest value",
    ),
    Case(
        "cli: train --train <(cat f.csv) with checkpoints",
        {"f.csv": GOOD},
        "{hg} train --train <(cat f.csv) --target y --epochs 2 --checkpoint-every 1 --checkpoint c.npz -o m.npz -q",
        0,
        "model saved to m.npz",
    ),
    Case(
        "cli: resume a checkpoint with epochs 'twenty'",
        {"c.npz": checkpoint_with(epochs="twenty")},
        "{hg} train --resume c.npz",
        2,
        "the checkpoint stores --epochs 'twenty', which is not an integer",
        ("keep.txt", "c.npz"),
    ),
    Case(
        "cli: resume a checkpoint with hidden 'abc'",
        {"c.npz": checkpoint_with(hidden="abc")},
        "{hg} train --resume c.npz",
        2,
        "the checkpoint stores --hidden 'abc', which is not a list",
        ("keep.txt", "c.npz"),
    ),
    Case(
        "cli: resume a checkpoint with an unknown optimizer",
        {"c.npz": checkpoint_with(optimizer="rmsprop")},
        "{hg} train --resume c.npz",
        2,
        "is not one of",
        ("keep.txt", "c.npz"),
    ),
    Case(
        "cli: resume a run that read a pipe",
        {"c.npz": checkpoint_from_pipe},
        "{hg} train --resume c.npz",
        2,
        "the run read --train from a pipe or standard input (/dev/fd/",
        ("keep.txt", "c.npz", "f.csv"),
    ),
    Case(
        "cli: derive -o an existing file",
        {},
        "{hg} derive --inputs 2 --hidden 3 --outputs 1 -o keep.txt",
        2,
        "keep.txt: the file already exists; pass --force",
    ),
    Case("lib: scaling statistics in blocks of columns", {}, lib_blocked_statistics, None, "identical"),
    Case(
        "lib: fit a network too large for the machine",
        {},
        lib_fit_huge_network,
        MemoryLimitError,
        "training a network of [2, 100000, 100000, 1] on 60 rows needs about",
    ),
    Case(
        "lib: fit on an object array with 10**400",
        {},
        lib_fit_object_bigint,
        ShapeError,
        "X: the value at row 1, column 1 (an integer of 401 digits) is too large for float64",
    ),
    Case(
        "lib: predict an object array with 10**400",
        {},
        lib_predict_object_bigint,
        ShapeError,
        "too large for float64",
    ),
    Case("lib: float32 model, inputs 1e300", {}, lib_predict_float32_1e300, NonFiniteError, "row 1"),
    Case(
        "lib: stored target scaling overflows",
        {},
        lib_predict_stored_scale_overflows,
        NonFiniteError,
        "inf, not a finite number (an input far outside the training data",
    ),
    Case("lib: classifier with non-finite logits", {}, lib_proba_nonfinite, NonFiniteError, "not a finite number"),
    Case("lib: batch_size 0", {}, lib_fit_batch_size_0, ConfigError, "batch_size must be 'auto' or an integer >= 1"),
    Case("lib: early_stopping 'yes'", {}, lib_fit_early_stopping_text, ConfigError, "early_stopping must be"),
    # Files and folders that are not what they seem.
    Case(
        "lib: directory as CSV",
        {"d.csv": lambda d: (d / "d.csv").mkdir()},
        lib_load("d.csv", target="y"),
        DataError,
        "is a directory",
    ),
]


@pytest.fixture(scope="module")
def big_csv() -> str:
    return "a,b\n" + "".join(
        f"{float(x[0])!r},{float(x[1])!r}\n" for x in np.random.default_rng(1).normal(size=(3000, 2))
    )


def make_folder(folder: Path, case: Case, big: str) -> None:
    (folder / "keep.txt").write_bytes(KEEP)
    if "matplotlib" in case.needs:
        pytest.importorskip("matplotlib")
    if "big" in case.needs:
        (folder / "big.csv").write_text(big)
    for name, content in case.files.items():
        if callable(content):
            content(folder)
        else:
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if "tiny" in case.needs:
        tiny = folder / "tiny"
        tiny.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(tiny)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a 16 KiB tmpfs here: {r.stderr.decode().strip()}")
        (tiny / "p.csv").write_bytes(b"old predictions\n")
        (folder / "big.csv").write_text(big)


def listing(folder: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


def param(case: Case):
    marks = (
        [pytest.mark.xfail(reason=f"needs the command line to call {case.wiring}", strict=False)] if case.wiring else []
    )
    return pytest.param(case, id=case.id, marks=marks)


def test_the_table_is_large_and_its_ids_unique():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [param(c) for c in CASES])
def test_hostile(case: Case, tmp_path, big_csv):
    folder = tmp_path / "work"
    folder.mkdir()
    make_folder(folder, case, big_csv)
    try:
        before = listing(folder)
        fragment = case.fragment.replace("{folder}", str(folder))
        if isinstance(case.call, str):
            command = case.call.replace("{hg}", HG)
            r = subprocess.run(
                ["bash", "-c", command], cwd=folder, env=ENV, capture_output=True, text=True, timeout=120
            )
            assert r.returncode == case.expect, (r.returncode, r.stdout, r.stderr)
            if r.returncode == 141:  # the reader of standard output went away: silently, as a shell's SIGPIPE
                assert r.stderr == "", r.stderr
            elif r.returncode == 0:
                assert fragment in r.stdout + r.stderr, (fragment, r.stdout, r.stderr)
            else:
                lines = r.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("handgrad: error: "), r.stderr
                assert "Traceback" not in r.stderr
                assert fragment in lines[0], (fragment, lines[0])
        elif case.expect is None:
            result = case.call(folder)
            assert fragment in str(result), (fragment, result)
        else:
            with pytest.raises(case.expect) as info:
                case.call(folder)
            message = str(info.value)
            assert "\n" not in message
            assert fragment in message, (fragment, message)
        after = listing(folder)
        for name in case.unchanged:
            assert after.get(name) == before.get(name), f"{name} changed"
        if case.expect not in (None, 0):
            assert after.keys() == before.keys(), sorted(set(after) ^ set(before))
    finally:
        for mounted in ("tiny", "ro"):
            if (folder / mounted).is_dir():
                subprocess.run(["umount", str(folder / mounted)], capture_output=True)
