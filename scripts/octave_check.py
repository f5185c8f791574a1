r"""Check handgrad's seed mode against the seed's own MATLAB loops, run in GNU Octave.

The seed trains 37 → 128 → 64 → 1 (ReLU, MSE, SGD, lr 1e-4, batch 32 in file order, the
gradient scaled by 2/batch_size also on the last partial batch) with two MATLAB loops:
backpropagation (§1.3, never shuffles) and the expanded gradients (§1.2, reshuffles the
training rows after every epoch). ``tests/octave/seed_backprop.m`` and
``tests/octave/seed_expanded.m`` are those loops, reading the initial weights (and the
permutations) from files instead of ``randn``/``randperm``. This script

1. draws the seed's initial weights (``randn``, biases zero) and per-epoch permutations
   from ``--seed``, and writes them where Octave reads them (text, 17 significant digits:
   exact for float64);
2. runs both loops in Octave on ``house`` for ``--epochs`` epochs;
3. runs the same experiments through ``handgrad.training.train(..., mode="seed")`` and
   through a plain-NumPy transcription of the MATLAB loops written here (a third opinion:
   it tells a handgrad bug apart from floating-point differences between Octave and NumPy);
4. prints the largest relative differences of the final weights, of the weight *changes*
   (final − initial, the sharper test), and of the per-epoch validation losses.

Usage (from the repository root)::

    python scripts/octave_check.py --epochs 5
    python scripts/octave_check.py --epochs 100 --gradient backprop

Relative difference of an array ``a`` against the reference ``r``:
*normwise* = ``max|a − r| / max|r|``; *elementwise* = ``max |a − r| / |r|`` over the
entries with ``r ≠ 0`` (what ``np.testing.assert_allclose(rtol=...)`` with ``atol=0`` checks).
Needs ``octave-cli`` on PATH (``apt-get install octave``); the data at ``../shared/data``
or ``$HANDGRAD_DATA``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OCTAVE_DIR = REPO / "tests" / "octave"
DATA_DIR = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))
#: The seed's network (DATA.md): 37 inputs (the 'dummy' column included), 128, 64, 1.
SEED_SIZES = (37, 128, 64, 1)
SEED_LR = 1e-4
SEED_BATCH = 32
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
GRADIENTS = ("backprop", "expanded")
# Octave 7 prints this on exit in some environments even when all went well (exit status 0).
_OCTAVE_EXIT_NOISE = "ignoring const execution_exception& while preparing to exit"


# ----------------------------------------------------------------------------- files
def octave_executable() -> str | None:
    """Path of ``octave-cli`` (or ``octave``), or None when GNU Octave is not installed."""
    return shutil.which("octave-cli") or shutil.which("octave")


def load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The seed's reading of a data file: features = every column but the last, target = the last.

    Returns ``X`` of shape (n_rows, n_columns − 1) and ``y`` of shape (n_rows,), float64.
    """
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    return data[:, :-1], data[:, -1]


def seed_initial_params(sizes, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The seed's initialisation: ``W_l = randn(n_l, n_{l-1})`` unscaled, ``b_l = zeros(n_l)``."""
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1]))
        params[f"b{l}"] = np.zeros(sizes[l])
    return params


def seed_permutations(epochs: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Per-epoch permutations, shape (epochs, n_rows), 0-based (handgrad's PERMS.npy layout)."""
    return np.stack([rng.permutation(n_rows) for _ in range(epochs)]) if epochs else np.zeros((0, n_rows), np.int64)


def write_params(directory: Path, params: dict[str, np.ndarray]) -> None:
    """Write ``W_l`` (n_l, n_{l-1}) and ``b_l`` (n_l,) as ``seed_read_params.m`` reads them.

    NOTE: '%.17g' round-trips every float64 exactly (through a correctly rounded parser,
    as both Octave's and NumPy's are; ``check_octave_io`` verifies it).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        np.savetxt(directory / f"{name}.txt", value.reshape(value.shape[0], -1), fmt="%.17g", delimiter=",")


def read_params(directory: Path, names=PARAM_NAMES) -> dict[str, np.ndarray]:
    """Read what ``seed_write_results.m`` wrote: ``W_l`` 2-D, ``b_l`` 1-D."""
    params = {}
    for name in names:
        value = np.loadtxt(directory / f"{name}.txt", delimiter=",", dtype=np.float64, ndmin=2)
        params[name] = value.reshape(-1) if name.startswith("b") else value
    return params


# ----------------------------------------------------------------------------- Octave
@dataclass
class SeedRun:
    """One training run: final parameters, validation loss per epoch (NaN = not evaluated), seconds."""

    params: dict[str, np.ndarray]
    val_loss: np.ndarray
    elapsed: float
    stdout: str = ""


def _octave_string(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def run_octave(
    gradient: str,
    train_csv: Path,
    test_csv: Path,
    init_dir: Path,
    out_dir: Path,
    epochs: int,
    perm_file: Path | None = None,
    val_every: int = 1,
    timeout: float = 3600.0,
) -> SeedRun:
    """Run ``seed_backprop.m`` or ``seed_expanded.m`` in Octave and read back its results."""
    octave = octave_executable()
    if octave is None:
        raise RuntimeError("octave-cli is not on PATH: install GNU Octave (apt-get install octave)")
    if gradient == "backprop":
        call = "seed_backprop({}, {}, {}, {}, {:d}, {:d})".format(
            *map(_octave_string, (train_csv, test_csv, init_dir, out_dir)), epochs, val_every
        )
    elif gradient == "expanded":
        if perm_file is None:
            raise ValueError("the expanded-gradient loop needs perm_file (its per-epoch permutations)")
        call = "seed_expanded({}, {}, {}, {}, {}, {:d}, {:d})".format(
            *map(_octave_string, (train_csv, test_csv, init_dir, perm_file, out_dir)), epochs, val_every
        )
    else:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    cmd = [octave, "--norc", "--quiet", "--no-history", "--path", str(OCTAVE_DIR), "--eval", call]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    stderr = "\n".join(line for line in proc.stderr.splitlines() if _OCTAVE_EXIT_NOISE not in line).strip()
    if proc.returncode != 0:
        raise RuntimeError(f"Octave failed (exit {proc.returncode}) running {call}:\n{stderr}\n{proc.stdout}")
    text = (out_dir / "val_loss.txt").read_text().split()  # empty after a 0-epoch run
    val_loss = np.array([float(v) for v in text], dtype=np.float64)  # float("NaN") is NaN
    elapsed = float(np.loadtxt(out_dir / "elapsed.txt"))
    return SeedRun(read_params(out_dir), val_loss.reshape(-1), elapsed, proc.stdout)


def check_octave_io(workdir: Path, train_csv: Path, params: dict[str, np.ndarray]) -> tuple[bool, bool]:
    """Do Octave's ``dlmread`` of the data and of our weight files give NumPy's numbers, bit for bit?

    Returns (weights_identical, data_identical). A zero-epoch run of the backprop loop reads the
    weights and writes them straight back; the CSV is read by ``dlmread`` and re-written at '%.17g'.
    """
    init_dir, out_dir = workdir / "io_init", workdir / "io_out"
    write_params(init_dir, params)
    run = run_octave("backprop", train_csv, train_csv, init_dir, out_dir, epochs=0)
    weights_ok = all(np.array_equal(run.params[k], params[k]) for k in params)
    dump = workdir / "io_data.txt"
    call = f"d = dlmread({_octave_string(train_csv)}, ',', 1, 0); dlmwrite({_octave_string(dump)}, d, 'precision', '%.17g');"
    subprocess.run(
        [octave_executable(), "--norc", "--quiet", "--no-history", "--eval", call],
        capture_output=True,
        check=True,
        timeout=600,
    )
    X, y = load_csv(train_csv)
    octave_data = np.loadtxt(dump, delimiter=",", dtype=np.float64, ndmin=2)
    data_ok = octave_data.shape == (X.shape[0], X.shape[1] + 1) and np.array_equal(octave_data, np.column_stack([X, y]))
    return weights_ok, data_ok


def diagnose_first_step(train_csv: Path, init: dict[str, np.ndarray], workdir: Path) -> list[str]:
    """Which floating-point operations of the first backprop step differ between Octave and NumPy?

    Octave writes every intermediate of step 1 (``seed_first_step.m``); each operation is then
    redone in NumPy **from Octave's own inputs to it**, so a difference is that operation's own
    (BLAS kernel or summation order), not one inherited from upstream. Returns report lines.
    """
    init_dir, out_dir = workdir / "diag_init", workdir / "diag_out"
    write_params(init_dir, init)
    octave = octave_executable()
    call = f"seed_first_step({_octave_string(train_csv)}, {_octave_string(init_dir)}, {_octave_string(out_dir)})"
    cmd = [octave, "--norc", "--quiet", "--no-history", "--path", str(OCTAVE_DIR), "--eval", call]
    subprocess.run(cmd, capture_output=True, check=True, timeout=600)

    def oct_(name):
        return np.loadtxt(out_dir / f"{name}.txt", delimiter=",", dtype=np.float64, ndmin=2)

    def sequential_sum(a):  # column by column, left to right
        total = np.zeros(a.shape[0])
        for j in range(a.shape[1]):
            total = total + a[:, j]
        return total[:, None]

    X, y = load_csv(train_csv)
    x, y_true = X[:SEED_BATCH].T, y[:SEED_BATCH][None, :]
    W1, W2, W3 = init["W1"], init["W2"], init["W3"]
    b1, b2, b3 = (init[k].reshape(-1, 1) for k in ("b1", "b2", "b3"))
    o = {k: oct_(k) for k in ("z1", "z2", "z3", "delta3", "delta2", "delta1", "dW3", "db3", "dW2", "db2", "dW1", "db1")}
    o["z3"] = o["z3"].reshape(1, -1)
    o["delta3"] = o["delta3"].reshape(1, -1)
    o["db3"] = o["db3"].reshape(1, 1)
    a1, a2 = np.maximum(0, o["z1"]), np.maximum(0, o["z2"])
    redo = {  # name: (NumPy's result from Octave's inputs, what the operation is)
        "z1": (W1 @ x + b1, "W1*x + b1  (128x37 by 37x32)"),
        "z2": (W2 @ a1 + b2, "W2*a1 + b2  (64x128 by 128x32)"),
        "z3": (W3 @ a2 + b3, "W3*a2 + b3  (1x64 by 64x32)"),
        "delta3": (2 / SEED_BATCH * (o["z3"] - y_true), "2/batch_size * (y_pred - y_true)"),
        "delta2": ((W3.T @ o["delta3"]) * (o["z2"] > 0), "(W3'*delta3) .* ReLU_deriv(z2)"),
        "delta1": ((W2.T @ o["delta2"]) * (o["z1"] > 0), "(W2'*delta2) .* ReLU_deriv(z1)  (128x64 by 64x32)"),
        "dW3": (o["delta3"] @ a2.T, "delta3*a2'"),
        "dW2": (o["delta2"] @ a1.T, "delta2*a1'  (64x32 by 32x128)"),
        "dW1": (o["delta1"] @ x.T, "delta1*x'  (128x32 by 32x37)"),
        "db3": (o["delta3"].sum(axis=1, keepdims=True), "sum(delta3, 2)"),
        "db2": (o["delta2"].sum(axis=1, keepdims=True), "sum(delta2, 2)"),
        "db1": (o["delta1"].sum(axis=1, keepdims=True), "sum(delta1, 2)"),
    }
    lines = ["first step (rows 1-32), each operation redone in NumPy from Octave's inputs to it:"]
    for name, (ours, what) in redo.items():
        ref = o[name].reshape(ours.shape)
        n_diff = int(np.sum(ours != ref))
        extra = ""
        if name.startswith("db"):
            delta = o["delta" + name[2]]
            extra = f"; a sequential sum is bit-identical to Octave's: {np.array_equal(sequential_sum(delta), ref)}"
        lines.append(
            f"  {name:6s} {what:50s} {n_diff:5d}/{ref.size} entries differ, normwise {rel_diff(ours, ref)[0]:.1e}{extra}"
        )
    return lines


# ----------------------------------------------------------------------------- NumPy transcription
def numpy_seed_loop(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    epochs: int,
    gradient: str = "backprop",
    permutations: np.ndarray | None = None,
    lr: float = SEED_LR,
    batch_size: int = SEED_BATCH,
) -> SeedRun:
    """The two MATLAB loops transcribed line by line into NumPy (3 layers, ReLU, identity output).

    ``params``: W1 (n1, n0), b1 (n1,), ..., b3 (1,); ``X`` (n_rows, n0), ``y`` (n_rows,);
    ``permutations`` (epochs, n_rows) 0-based, needed for ``gradient="expanded"``.
    Independent of handgrad on purpose.
    """
    W1, W2, W3 = (np.array(params[k], dtype=np.float64) for k in ("W1", "W2", "W3"))
    b1, b2, b3 = (np.array(params[k], dtype=np.float64).reshape(-1, 1) for k in ("b1", "b2", "b3"))

    def relu(v):
        return np.maximum(0.0, v)

    def relu_deriv(v):
        return (v > 0).astype(np.float64)

    X, y = X.copy(), y.copy()
    n = X.shape[0]
    val_loss = np.full(epochs, np.nan)
    for epoch in range(epochs):
        for i in range(0, n, batch_size):
            x = X[i : i + batch_size].T  # (n0, B)
            y_true = y[i : i + batch_size][None, :]  # (1, B)
            if gradient == "backprop":  # §1.3
                z1 = W1 @ x + b1
                a1 = relu(z1)
                z2 = W2 @ a1 + b2
                a2 = relu(z2)
                y_pred = W3 @ a2 + b3
                delta3 = 2 / batch_size * (y_pred - y_true)  # NOTE: batch_size, also on the partial batch
                dW3, db3 = delta3 @ a2.T, delta3.sum(axis=1, keepdims=True)
                delta2 = (W3.T @ delta3) * relu_deriv(z2)
                dW2, db2 = delta2 @ a1.T, delta2.sum(axis=1, keepdims=True)
                delta1 = (W2.T @ delta2) * relu_deriv(z1)
                dW1, db1 = delta1 @ x.T, delta1.sum(axis=1, keepdims=True)
                sign = -1.0
            elif gradient == "expanded":  # §1.2, the seed's sign: error = y_true - y_pred, W += lr dW
                y_pred = W3 @ relu(W2 @ relu(W1 @ x + b1) + b2) + b3
                error = y_true - y_pred
                dW3 = 2 / batch_size * error @ relu(W2 @ relu(W1 @ x + b1) + b2).T
                db3 = 2 / batch_size * error.sum(axis=1, keepdims=True)
                dW2 = (2 / batch_size * (W3.T @ error)) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2) @ relu(W1 @ x + b1).T
                db2 = (
                    2
                    / batch_size
                    * ((W3.T @ error) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2)).sum(axis=1, keepdims=True)
                )
                inner = W2.T @ ((W3.T @ error) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2))
                dW1 = (2 / batch_size * inner) * relu_deriv(W1 @ x + b1) @ x.T
                db1 = 2 / batch_size * (inner * relu_deriv(W1 @ x + b1)).sum(axis=1, keepdims=True)
                sign = 1.0
            else:
                raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
            # W3, b3, W2, b2, W1, b1 from gradients all computed above
            W3 = W3 + sign * lr * dW3
            b3 = b3 + sign * lr * db3
            W2 = W2 + sign * lr * dW2
            b2 = b2 + sign * lr * db2
            W1 = W1 + sign * lr * dW1
            b1 = b1 + sign * lr * db1
        if gradient == "expanded":
            X, y = X[permutations[epoch]], y[permutations[epoch]]
        y_pred = W3 @ relu(W2 @ relu(W1 @ X_valid.T + b1) + b2) + b3
        val_loss[epoch] = np.sum((y_valid[None, :] - y_pred) ** 2) / y_valid.shape[0]
    final = {"W1": W1, "b1": b1[:, 0], "W2": W2, "b2": b2[:, 0], "W3": W3, "b3": b3[:, 0]}
    return SeedRun(final, val_loss, float("nan"))


# ----------------------------------------------------------------------------- handgrad
def handgrad_seed_loop(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    epochs: int,
    gradient: str = "backprop",
    permutations: np.ndarray | None = None,
) -> SeedRun:
    """The same experiment through ``handgrad.training.train(..., mode="seed")``."""
    import time

    from handgrad import Network
    from handgrad.training import train

    n_layers = len(params) // 2
    net = Network.from_arrays(
        [params[f"W{l}"] for l in range(1, n_layers + 1)],
        [params[f"b{l}"] for l in range(1, n_layers + 1)],
        activation="relu",
        output_activation="identity",
    )
    start = time.perf_counter()
    history = train(
        net,
        X,
        y,
        loss="mse",
        optimizer="sgd",
        lr=SEED_LR,
        epochs=epochs,
        batch_size=SEED_BATCH,
        shuffle=False,
        validation_data=(X_valid, y_valid),
        gradient=gradient,
        mode="seed",
        permutations=permutations if gradient == "expanded" else None,
    )
    elapsed = time.perf_counter() - start
    final = {}
    for l in range(1, n_layers + 1):
        final[f"W{l}"] = np.array(net.weights[l - 1])
        final[f"b{l}"] = np.array(net.biases[l - 1])
    return SeedRun(final, np.asarray(history["val_loss"], dtype=np.float64), elapsed)


def handgrad_cli_available() -> bool:
    """Is there a ``handgrad train`` sub-command to drive?"""
    proc = subprocess.run(
        [sys.executable, "-m", "handgrad", "train", "--help"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0 and "--seed-compatible" in proc.stdout


def handgrad_cli_run(
    init: dict[str, np.ndarray],
    train_csv: Path,
    test_csv: Path,
    workdir: Path,
    epochs: int,
    gradient: str,
    permutations: np.ndarray | None = None,
) -> SeedRun:
    """The issue's command line, verbatim: ``handgrad train ... --seed-compatible ... --export-weights``.

    The validation losses are parsed from the ``--print-every 1`` lines (at their printed precision).
    """
    import re
    import time

    init_npz, final_npz = workdir / f"cli_init_{gradient}.npz", workdir / f"cli_final_{gradient}.npz"
    np.savez(init_npz, **init)
    final_npz.unlink(missing_ok=True)  # the command refuses to overwrite (our own work file)
    cmd = [sys.executable, "-m", "handgrad", "train", "--train", str(train_csv), "--valid", str(test_csv)]
    cmd += ["--target", "price", "--hidden", "128", "64", "--activation", "relu", "--optimizer", "sgd"]
    cmd += ["--lr", "1e-4", "--batch-size", "32", "--epochs", str(epochs), "--print-every", "1"]
    cmd += ["--seed-compatible", "--gradient", gradient, "--init-weights", str(init_npz)]
    if gradient == "expanded":
        perm_npy = workdir / "cli_perms.npy"
        np.save(perm_npy, permutations)
        cmd += ["--permutations", str(perm_npy)]
    cmd += ["--export-weights", str(final_npz)]
    start = time.perf_counter()
    # cwd=workdir: the command saves its model in a new run folder there, not in the caller's directory
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=workdir)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"handgrad train failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    with np.load(final_npz) as final:
        params = {k: np.array(final[k], dtype=np.float64).reshape(init[k].shape) for k in PARAM_NAMES}
    val_loss = np.full(epochs, np.nan)
    for match in re.finditer(r"Epoch (\d+), Validation Loss: ([-+0-9.eEinfa]+)", proc.stdout):
        val_loss[int(match.group(1)) - 1] = float(match.group(2))
    return SeedRun(params, val_loss, elapsed, proc.stdout)


# ----------------------------------------------------------------------------- comparison
def rel_diff(a: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(normwise, elementwise) relative difference of ``a`` against ``ref`` (same shape)."""
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {ref.shape}")
    diff = np.abs(a - ref)
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    normwise = float(np.max(diff) / scale) if scale > 0 else float(np.max(diff, initial=0.0))
    nonzero = ref != 0
    elementwise = float(np.max(diff[nonzero] / np.abs(ref[nonzero]), initial=0.0))
    if np.any(diff[~nonzero] > 0):
        elementwise = float("inf")
    return normwise, elementwise


@dataclass
class Comparison:
    """Largest relative differences of one run against a reference run (each (normwise, elementwise))."""

    weights: tuple[float, float]
    updates: tuple[float, float]
    val_loss: tuple[float, float]
    worst_param: str


def compare(run: SeedRun, ref: SeedRun, init: dict[str, np.ndarray]) -> Comparison:
    """Compare final weights, weight changes (final − init) and the validation losses both evaluated."""
    w = [rel_diff(run.params[k], ref.params[k]) for k in PARAM_NAMES]
    u = [rel_diff(run.params[k] - init[k], ref.params[k] - init[k]) for k in PARAM_NAMES]
    both = ~np.isnan(run.val_loss) & ~np.isnan(ref.val_loss)
    v = rel_diff(run.val_loss[both], ref.val_loss[both])
    worst = PARAM_NAMES[int(np.argmax([d[0] for d in w]))]
    return Comparison(
        (max(d[0] for d in w), max(d[1] for d in w)),
        (max(d[0] for d in u), max(d[1] for d in u)),
        v,
        worst,
    )


def _fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2e} / {pair[1]:.2e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs to train (the seed: 100)")
    parser.add_argument("--gradient", choices=(*GRADIENTS, "both"), default="both")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and permutations")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the seed's data folder (has house/)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep Octave's files here (default: temporary)")
    parser.add_argument("--no-handgrad", action="store_true", help="compare Octave with the NumPy transcription only")
    parser.add_argument(
        "--diagnose", action="store_true", help="also show which operations of step 1 round differently in Octave"
    )
    parser.add_argument(
        "--cli", action="store_true", help="also run the issue's `handgrad train --seed-compatible` command line"
    )
    parser.add_argument(
        "--val-every",
        type=int,
        default=1,
        help="Octave evaluates the validation loss every so many epochs (10: the seed's loop exactly, for timing)",
    )
    args = parser.parse_args(argv)

    if octave_executable() is None:
        print("octave-cli is not on PATH: install GNU Octave (apt-get install octave)", file=sys.stderr)
        return 2
    train_csv, test_csv = args.data_dir / "house" / "train_house.csv", args.data_dir / "house" / "test_house.csv"
    X, y = load_csv(train_csv)
    X_valid, y_valid = load_csv(test_csv)
    rng = np.random.default_rng(args.seed)
    init = seed_initial_params(SEED_SIZES, rng)
    perms = seed_permutations(args.epochs, X.shape[0], rng)

    have_handgrad = not args.no_handgrad
    if have_handgrad:
        try:
            from handgrad.training import train  # noqa: F401
        except ImportError as exc:
            print(f"handgrad.training.train is not importable ({exc}); comparing with NumPy only")
            have_handgrad = False
    if args.cli and not handgrad_cli_available():
        print("`handgrad train --seed-compatible` is not available yet; skipping the command-line run")
        args.cli = False

    with tempfile.TemporaryDirectory(prefix="octave_check_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        weights_ok, data_ok = check_octave_io(workdir, train_csv, init)
        print(
            f"Octave reads our weight files bit for bit: {weights_ok}; Octave's dlmread = NumPy's loadtxt on house: {data_ok}"
        )
        if args.diagnose:
            print("\n".join(diagnose_first_step(train_csv, init, workdir)))
        init_dir, perm_file = workdir / "init", workdir / "perms.txt"
        write_params(init_dir, init)
        np.savetxt(perm_file, perms, fmt="%d", delimiter=",")

        gradients = GRADIENTS if args.gradient == "both" else (args.gradient,)
        worst = 0.0
        for gradient in gradients:
            octave = run_octave(
                gradient,
                train_csv,
                test_csv,
                init_dir,
                workdir / f"out_{gradient}",
                args.epochs,
                perm_file,
                args.val_every,
            )
            print(f"\n== {gradient}, {args.epochs} epochs, seed {args.seed} ==")
            print(f"Octave: {octave.elapsed:.2f} s between tic and toc (validation loss every {args.val_every} epochs)")
            print(octave.stdout.rstrip())
            others = {"numpy": numpy_seed_loop(init, X, y, X_valid, y_valid, args.epochs, gradient, perms)}
            if have_handgrad:
                others["handgrad"] = handgrad_seed_loop(init, X, y, X_valid, y_valid, args.epochs, gradient, perms)
                print(f"handgrad train(mode='seed'): {others['handgrad'].elapsed:.2f} s (validation loss every epoch)")
            if args.cli:
                others["cli"] = handgrad_cli_run(init, train_csv, test_csv, workdir, args.epochs, gradient, perms)
                print(f"handgrad train --seed-compatible: {others['cli'].elapsed:.2f} s (whole process)")
            print("max relative difference vs Octave (normwise / elementwise):")
            for name, run in others.items():
                c = compare(run, octave, init)
                # the command line's validation losses are only as precise as it prints them
                worst = max(worst, c.weights[0], c.updates[0], c.val_loss[1] if name != "cli" else 0.0)
                print(
                    f"  {name:9s} weights {_fmt(c.weights)} (worst {c.worst_param})  "
                    f"updates {_fmt(c.updates)}  val_loss {_fmt(c.val_loss)}"
                )
            if args.cli:
                print("(cli: validation losses as printed by --print-every 1; weights from --export-weights)")
            print("epoch  Octave val_loss          " + "  ".join(f"{k + ' val_loss':24s}" for k in others))
            for e in range(args.epochs):
                row = "  ".join(f"{run.val_loss[e]:<24.17g}" for run in others.values())
                print(f"{e + 1:5d}  {octave.val_loss[e]:<24.17g} {row}")
        print(f"\nlargest relative difference (weights and updates normwise, val_loss elementwise): {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
