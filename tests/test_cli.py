"""End-to-end: ``handgrad train / predict / evaluate / datasets`` in a subprocess, on the seed's files.

The seed-compatible run is checked against a plain-NumPy transcription of the
seed's MATLAB loop written here (it calls nothing from handgrad); predictions are
checked across ``predict`` and ``evaluate`` and against the true targets with NumPy.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

RTOL = 1e-10  # the bound for the seed mode, float64


def run_cli(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handgrad", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def head(src: Path, dst: Path, n_lines: int) -> Path:
    """The first ``n_lines`` lines of ``src`` (header included), like ``head -n``."""
    with open(src) as f:
        lines = [next(f) for _ in range(n_lines)]
    dst.write_text("".join(lines))
    return dst


def read_columns(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and float matrix of a numeric CSV file, with the csv module (independent of handgrad)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


# ------------------------------------------------------------ the seed's loop, transcribed
def seed_loop(params, X, y, X_val, y_val, lr, batch_size, epochs, variant, perms=None):
    """The seed's MATLAB loop for a 3-layer ReLU/MSE network, line by line.

    ``params`` = [W1, b1, W2, b2, W3, b3] with b as given (n,); MATLAB columns inside.
    Returns the final parameters and the validation loss of every epoch.
    """
    W1, b1, W2, b2, W3, b3 = (np.array(p, dtype=float) for p in params)
    b1, b2, b3 = b1.reshape(-1, 1), b2.reshape(-1, 1), b3.reshape(-1, 1)
    X, y = X.copy(), y.copy()
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    relu_deriv = lambda z: (z > 0).astype(float)  # noqa: E731
    val = []
    for epoch in range(epochs):
        for i in range(0, X.shape[0], batch_size):
            end = min(i + batch_size, X.shape[0])
            x = X[i:end].T
            y_true = y[i:end].reshape(1, -1)
            z1 = W1 @ x + b1
            a1 = relu(z1)
            z2 = W2 @ a1 + b2
            a2 = relu(z2)
            y_pred = W3 @ a2 + b3
            delta3 = 2 / batch_size * (y_pred - y_true)  # NOTE: batch_size, also on the last partial batch
            dW3, db3 = delta3 @ a2.T, delta3.sum(axis=1, keepdims=True)
            delta2 = (W3.T @ delta3) * relu_deriv(z2)
            dW2, db2 = delta2 @ a1.T, delta2.sum(axis=1, keepdims=True)
            delta1 = (W2.T @ delta2) * relu_deriv(z1)
            dW1, db1 = delta1 @ x.T, delta1.sum(axis=1, keepdims=True)
            W3, b3 = W3 - lr * dW3, b3 - lr * db3
            W2, b2 = W2 - lr * dW2, b2 - lr * db2
            W1, b1 = W1 - lr * dW1, b1 - lr * db1
        pred = W3 @ relu(W2 @ relu(W1 @ X_val.T + b1) + b2) + b3
        val.append(float(np.sum((pred - y_val.reshape(1, -1)) ** 2) / X_val.shape[0]))
        if perms is not None:
            X, y = X[perms[epoch]], y[perms[epoch]]  # the expanded loop reshuffles after each epoch
    return [W1, b1[:, 0], W2, b2[:, 0], W3, b3[:, 0]], val


def rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _numba_missing() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.mark.parametrize(
    "gradient, engine",
    [
        ("backprop", "numpy"),
        ("expanded", "numpy"),
        pytest.param("backprop", "compiled", marks=pytest.mark.skipif(_numba_missing(), reason="needs handgrad[fast]")),
    ],
)
def test_seed_compatible_run_matches_the_seeds_loop(data_dir, tmp_path, gradient, engine):
    train = head(data_dir / "house" / "train_house.csv", tmp_path / "train.csv", 201)  # 200 rows = 6 x 32 + 8
    valid = head(data_dir / "house" / "test_house.csv", tmp_path / "valid.csv", 101)
    header, T = read_columns(train)
    _, V = read_columns(valid)
    assert header[-1] == "price" and header[0] == "dummy"
    X, y, X_val, y_val = T[:, :-1], T[:, -1], V[:, :-1], V[:, -1]  # the seed: columns 1-37 are features
    rng = np.random.default_rng(7)
    sizes = [37, 16, 8, 1]
    params = []
    for l in range(1, 4):
        params += [rng.standard_normal((sizes[l], sizes[l - 1])), 0.1 * rng.standard_normal(sizes[l])]
    np.savez(tmp_path / "init.npz", **{f"{k}{l}": params[2 * (l - 1) + (k == "b")] for l in (1, 2, 3) for k in "Wb"})
    epochs = 4
    perms = np.stack([rng.permutation(200) for _ in range(epochs)]) if gradient == "expanded" else None
    extra = []
    if perms is not None:
        np.save(tmp_path / "perms.npy", perms)
        extra = ["--permutations", tmp_path / "perms.npy"]
    r = run_cli(
        "train", "--train", train, "--valid", valid, "--target", "price", "--hidden", 16, 8,
        "--activation", "relu", "--optimizer", "sgd", "--lr", "1e-4", "--batch-size", 32, "--epochs", epochs,
        "--print-every", 1, "--seed-compatible", "--gradient", gradient, "--engine", engine,
        "--init-weights", tmp_path / "init.npz", *extra, "--export-weights", tmp_path / "final.npz", "--no-save",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected, val = seed_loop(params, X, y, X_val, y_val, 1e-4, 32, epochs, gradient, perms)
    with np.load(tmp_path / "final.npz", allow_pickle=False) as got:
        assert sorted(got.files) == ["W1", "W2", "W3", "b1", "b2", "b3"]
        for l in (1, 2, 3):
            assert rel_err(got[f"W{l}"], expected[2 * l - 2]) < RTOL
            assert rel_err(got[f"b{l}"], expected[2 * l - 1]) < RTOL
    printed = [float(v) for v in re.findall(r"^Epoch \d+, Validation Loss: (\S+)$", r.stdout, re.M)]
    assert printed == pytest.approx(val, abs=5e-7)  # printed with 6 decimals, as %f
    assert re.search(r"^Elapsed time is \d+\.\d+ seconds\.$", r.stdout, re.M)
    assert "features (37): dummy, " in r.stdout  # the dummy column is an input, as in the seed
    assert not (tmp_path / "runs").exists()  # --no-save: no run folder


def test_seed_compatible_without_init_weights_draws_randn_from_the_seed(data_dir, tmp_path):
    train = head(data_dir / "house" / "train_house.csv", tmp_path / "train.csv", 41)
    common = ["train", "--train", train, "--target", "price", "--hidden", 4, "--epochs", 0, "--seed-compatible", "--quiet", "--no-save"]  # fmt: skip
    r = run_cli(*common, "--seed", 3, "--export-weights", tmp_path / "w.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "w.npz") as w:
        # zero epochs: the initial weights. randn, unscaled (std ~ 1 whatever the fan-in), zero biases.
        assert w["W1"].shape == (4, 37) and w["W2"].shape == (1, 4)
        assert 0.6 < w["W1"].std() < 1.4
        assert not w["b1"].any() and not w["b2"].any()
        W1 = w["W1"].copy()
    r = run_cli(*common, "--seed", 4, "--export-weights", tmp_path / "w4.npz", cwd=tmp_path)
    with np.load(tmp_path / "w4.npz") as w:
        assert not np.array_equal(w["W1"], W1)


# ------------------------------------------------------------ predict / evaluate
def test_regression_train_predict_evaluate_roundtrip_with_shuffled_columns(data_dir, tmp_path):
    ins = data_dir / "insurance"
    model = tmp_path / "ins.npz"
    r = run_cli(
        "train", "--train", ins / "train_insurance.csv", "--valid", ins / "valid_insurance.csv",
        "--test", ins / "test_insurance.csv", "--target", "charges", "--hidden", 16, "--epochs", 30,
        "-o", model, "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert model.is_file()

    # The test file without its target, columns reversed, plus a column the model never saw.
    header, M = read_columns(ins / "test_insurance.csv")
    n = M.shape[0]
    assert re.search(rf"^test\s+{n}\s", r.stdout, re.M)  # scored on every row of --test
    assert header[0] == ""  # the row index, dropped by the loader
    names = header[1:-1]
    order = list(reversed(range(len(names))))
    shuffled = tmp_path / "shuffled.csv"
    with open(shuffled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["extra", *(names[j] for j in order)])
        for row in M:
            w.writerow(["9.5", *(repr(float(row[1 + j])) for j in order)])
    out1, out2 = tmp_path / "p1.csv", tmp_path / "p2.csv"
    r1 = run_cli("predict", model, ins / "test_insurance.csv", "-o", out1)
    r2 = run_cli("predict", model, shuffled, "-o", out2)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert out1.read_bytes() == out2.read_bytes()  # same predictions, whatever the column order

    # A file to fill in: the target column present but empty is ignored, not a missing-value error.
    template = tmp_path / "template.csv"
    with open(template, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["charges", *(names[j] for j in order)])
        for row in M:
            w.writerow(["", *(repr(float(row[1 + j])) for j in order)])
    out3 = tmp_path / "p3.csv"
    r3 = run_cli("predict", model, template, "-o", out3)
    assert r3.returncode == 0, r3.stderr
    assert out3.read_bytes() == out1.read_bytes()
    h, P = read_columns(out1)
    assert h == ["charges_predicted"] and P.shape == (n, 1)

    # evaluate's metrics are those of predict's output against the true target.
    r = run_cli("evaluate", model, ins / "test_insurance.csv", "--json")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    y = M[:, -1]
    err = P[:, 0] - y
    assert metrics["rows"] == n and metrics["task"] == "regression"
    assert metrics["mse"] == pytest.approx(np.mean(err**2), rel=1e-12)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
    assert metrics["r2"] == pytest.approx(1 - np.sum(err**2) / np.sum((y - y.mean()) ** 2), rel=1e-12)

    # --keep passes the input columns through; '-o -' writes to standard output.
    r = run_cli("predict", model, shuffled, "--keep", "-o", "-")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines()))
    assert rows[0] == ["extra", *(names[j] for j in order), "charges_predicted"]
    assert [float(row[-1]) for row in rows[1:]] == P[:, 0].tolist()


def test_classifier_on_smoke_labels_probabilities_and_evaluate(data_dir, tmp_path):
    smoke = data_dir / "smoke"
    train = head(smoke / "train_smoke.csv", tmp_path / "train.csv", 1501)
    valid = head(smoke / "valid_smoke.csv", tmp_path / "valid.csv", 501)
    model = tmp_path / "smoke.npz"
    r = run_cli(
        "train", "--train", train, "--target", "smoking", "--epochs", 5, "--hidden", 16, "-o", model, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "target: smoking (binary, classes [0, 1])" in r.stdout
    assert "height(cm)" in r.stdout  # names with parentheses survive
    out = tmp_path / "pred.csv"
    r = run_cli("predict", model, valid, "--proba", "-o", out)
    assert r.returncode == 0, r.stderr
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["smoking_predicted", "proba_0", "proba_1"]
    labels = np.array([int(row[0]) for row in rows[1:]])
    proba = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(labels, proba.argmax(axis=1))
    header, V = read_columns(valid)
    y = V[:, header.index("smoking")].astype(int)
    r = run_cli("evaluate", model, valid, "--json")
    metrics = json.loads(r.stdout)
    assert metrics["accuracy"] == pytest.approx(np.mean(labels == y), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(y.size), y])), rel=1e-9)
    expected = [[int(np.sum((y == t) & (labels == p))) for p in (0, 1)] for t in (0, 1)]
    assert metrics["confusion"] == expected
    r = run_cli("evaluate", model, valid)
    assert r.returncode == 0 and "accuracy" in r.stdout and "confusion matrix" in r.stdout


# ------------------------------------------------------------ never overwrite
def test_force_semantics_for_model_weights_and_predictions(data_dir, tmp_path):
    train = head(data_dir / "house" / "train_house.csv", tmp_path / "train.csv", 65)
    model = tmp_path / "model.npz"
    model.write_bytes(b"precious")
    base = ["train", "--train", train, "--target", "price", "--hidden", 4, "--epochs", 2, "--quiet"]
    r = run_cli(*base, "-o", model, cwd=tmp_path)
    assert r.returncode == 2
    assert str(model) in r.stderr and "--force" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Epoch" not in r.stdout and "final metrics" not in r.stdout  # refused before training
    assert model.read_bytes() == b"precious"
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"also precious")
    r = run_cli(*base, "-o", tmp_path / "new.npz", "--export-weights", weights, cwd=tmp_path)
    assert r.returncode == 2 and str(weights) in r.stderr
    assert weights.read_bytes() == b"also precious" and not (tmp_path / "new.npz").exists()

    r = run_cli(*base, "-o", model, "--export-weights", weights, "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert model.read_bytes()[:2] == b"PK"
    with np.load(weights) as w:
        assert w["W1"].shape == (4, 37)

    out = tmp_path / "pred.csv"
    out.write_text("old\n")
    r = run_cli("predict", model, train, "-o", out)
    assert r.returncode == 2 and str(out) in r.stderr and out.read_text() == "old\n"
    r = run_cli("predict", model, train, "-o", out, "--force")
    assert r.returncode == 0 and out.read_text().startswith("price_predicted\n")
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


# ------------------------------------------------------------ the default job
def test_bare_handgrad_trains_on_a_builtin_set_into_a_fresh_run_folder(tmp_path):
    r = run_cli("--epochs", 20, cwd=tmp_path)  # `handgrad` alone, shortened
    assert r.returncode == 0, r.stderr
    assert "sine" in r.stdout and "target: y (regression)" in r.stdout
    # The first line counts the whole data set (200 points), the split line its parts.
    assert r.stdout.splitlines()[0] == "sine: 200 samples"
    assert "split (seed 0): 120 training, 40 validation, 40 test samples" in r.stdout
    assert re.search(r"^Epoch 20, Validation Loss: [0-9.]+", r.stdout, re.M)
    assert re.search(r"^valid\s+40\s", r.stdout, re.M)
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and re.fullmatch(r"sine-\d{8}-\d{6}", folders[0].name)
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == ["activations.png", "fit.gif", "fit.png", "loss.png", "model.npz", "predicted_vs_actual.png"]
    assert f"model saved to {Path('runs') / folders[0].name / 'model.npz'}" in r.stdout
    assert (folders[0] / "fit.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_run_folders_never_collide(tmp_path):
    from handgrad.cli._common import RunFolder

    a, b = RunFolder(tmp_path, "x").get(), RunFolder(tmp_path, "x").get()
    assert a != b and a.is_dir() and b.is_dir()


def test_without_matplotlib_the_default_run_says_how_to_get_plots(tmp_path):
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib hidden for this test')\n")
    import os

    env = {**os.environ, "PYTHONPATH": str(fake)}
    r = run_cli("train", "--epochs", 3, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert 'pip install "handgrad[plot]"' in r.stdout
    (folder,) = (tmp_path / "runs").iterdir()
    assert [p.name for p in folder.iterdir()] == ["model.npz"]
    r = run_cli("train", "--epochs", 3, "--plot", "--no-save", cwd=tmp_path, env=env)  # asked for: an error
    assert r.returncode == 2 and 'pip install "handgrad[plot]"' in r.stderr


def test_classification_plots_on_request(tmp_path):
    r = run_cli("train", "--dataset", "spiral", "--epochs", 3, "--quiet", "--plot", tmp_path / "plots", "--no-save")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "activations.png",
        "decision_boundary.png",
        "loss.png",
    ]
    r = run_cli("train", "--dataset", "spiral", "--epochs", 1, "--plot-fit", tmp_path / "f.png", "--no-save")
    assert r.returncode == 2 and "--plot-fit applies to one input, regression" in r.stderr


def test_activation_plot_shows_the_networks_activations(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    out = tmp_path / "act.png"
    r = run_cli(
        "train",
        "--dataset",
        "xor",
        "--hidden",
        3,
        3,
        "--activation",
        "tanh",
        "elu",
        "--epochs",
        2,
        "--quiet",
        "--no-save",
        "--plot-activations",
        out,
    )
    assert r.returncode == 0, r.stderr
    with pil.open(out) as im:
        im.verify()
        assert im.format == "PNG"
    # Three distinct activations (tanh, elu, and the output's identity) make a wider figure than one.
    one = tmp_path / "one.png"
    r = run_cli(
        "train",
        "--dataset",
        "xor",
        "--hidden",
        3,
        "--activation",
        "identity",
        "--epochs",
        1,
        "--quiet",
        "--no-save",
        "--plot-activations",
        one,
    )
    assert r.returncode == 0, r.stderr
    with pil.open(out) as many, pil.open(one) as single:
        assert many.size[0] * many.size[1] > single.size[0] * single.size[1]


# ------------------------------------------------------------ datasets, help
def test_datasets_lists_builtins_and_the_seeds_folder(data_dir):
    r = run_cli("datasets")
    assert r.returncode == 0, r.stderr
    for name in ("sine", "xor", "friedman1", "spiral", "diabetes", "digits"):
        assert re.search(rf"^  {name}\s+available", r.stdout, re.M)
    assert str(data_dir.resolve()) in r.stdout or str(data_dir) in r.stdout
    assert "house/train_house.csv" in r.stdout and "--seed-compatible" in r.stdout


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "datasets", "gradcheck", "derive", "bench"])
def test_help_has_examples(command, capsys):
    from handgrad.cli import main

    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"handgrad {command}" in out
