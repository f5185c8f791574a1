"""Quality of handgrad's estimators with their defaults, against scikit-learn and the seed's loop.

Everything is measured in one run and printed as Markdown (``docs/results.md``
records a run with the command that produced it)::

    python benchmarks/bench_quality.py            # all parts, ~2-4 minutes on 2 cores
    python benchmarks/bench_quality.py house xor  # some parts

Parts
-----
house    train_house.csv → test_house.csv, target ``price``, all 37 other columns
         (``dummy`` included). Test MSE over seeds 0, 1, 2 of: handgrad
         ``MLPRegressor()`` defaults; scikit-learn ``MLPRegressor()`` defaults after
         ``StandardScaler``; the seed's loop (``train(mode="seed")``: 37-128-64-1
         ReLU, weights ``randn`` from ``numpy.random.default_rng(seed)``, biases 0,
         SGD lr 1e-4, batch 32 in file order, 100 epochs, raw data).
smoke    train_smoke.csv → the 466 rows of test_smoke.csv that are not copies of
         training rows, and valid_smoke.csv; target ``smoking``, raw features.
         Accuracy over seeds 0, 1, 2: handgrad ``MLPClassifier()`` defaults vs
         scikit-learn ``MLPClassifier()`` after ``StandardScaler`` (the whole test
         file, 95.8 % copies of training rows, shown only as a memorisation figure).
sine     1→50→50→1 ReLU on y = sin(πx), 200 points on [0, 2]: training MSE.
xor      2-2-1 sigmoid + binary cross-entropy, Adam lr 0.1, 300 epochs: solved
         seeds out of 10 with ``n_init=10``, and the single-run rate over 100 seeds.
digits   scikit-learn's digits, 25 % stratified test split (random_state=0):
         handgrad ``MLPClassifier()`` defaults, test accuracy.
decay    the regressor's weight_decay default (1e-4 vs 3e-3) on Friedman #1 and
         diabetes, with scikit-learn beside it.

The seed's data are read from ``../shared/data`` (or ``$HANDGRAD_DATA``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from handgrad import DivergenceError, Network
from handgrad.estimators import MLPClassifier, MLPRegressor
from handgrad.training import train

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))
SEEDS = (0, 1, 2)


def read(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """X (n, n_columns - 1) and y (n,) from a headed numeric CSV."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    A = np.loadtxt(path, delimiter=",", skiprows=1)
    j = header.index(target)
    return np.delete(A, j, axis=1), A[:, j]


def sklearn_pipeline(estimator):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), estimator)


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def fmt(values, digits=4) -> str:
    return f"{np.mean(values):.{digits}f} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def part_house() -> None:
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    X, y = read(DATA / "house" / "train_house.csv", "price")
    Xt, yt = read(DATA / "house" / "test_house.csv", "price")
    assert X.shape[1] == 37
    rows = {
        "handgrad MLPRegressor() defaults": [],
        "scikit-learn MLPRegressor() + StandardScaler": [],
        "seed's loop, 100 epochs": [],
    }
    secs = {k: [] for k in rows}
    for seed in SEEDS:
        t = time.perf_counter()
        est = MLPRegressor(random_state=seed).fit(X, y)
        secs["handgrad MLPRegressor() defaults"].append(time.perf_counter() - t)
        rows["handgrad MLPRegressor() defaults"].append(mse(est.predict(Xt), yt))

        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after 200 epochs
            sk = sklearn_pipeline(SkMLPRegressor(random_state=seed)).fit(X, y)
        secs["scikit-learn MLPRegressor() + StandardScaler"].append(time.perf_counter() - t)
        rows["scikit-learn MLPRegressor() + StandardScaler"].append(mse(sk.predict(Xt), yt))

        # The seed's experiment: randn weights (unscaled), zero biases, raw data.
        net = Network([37, 128, 64, 1], activation="relu", init="randn", random_state=np.random.default_rng(seed))
        t = time.perf_counter()
        try:
            train(net, X, y, loss="mse", optimizer="sgd", lr=1e-4, batch_size=32, epochs=100, mode="seed")
            value = mse(net.forward(Xt)[:, 0], yt)
        except DivergenceError as exc:
            print(f"  seed {seed}: the seed's loop diverged: {exc}", file=sys.stderr)
            value = float("nan")
        secs["seed's loop, 100 epochs"].append(time.perf_counter() - t)
        rows["seed's loop, 100 epochs"].append(value)
    print("\n### (a) house: test MSE (train_house → test_house, seeds 0, 1, 2)\n")
    print("| model | test MSE: mean (per seed) | fit seconds (mean) |")
    print("| --- | --- | --- |")
    for name, values in rows.items():
        print(f"| {name} | {fmt(values)} | {np.mean(secs[name]):.1f} |")
    print(f"| predicting the training mean | {mse(np.full_like(yt, y.mean()), yt):.4f} | |")


def part_smoke() -> None:
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = read(DATA / "smoke" / "train_smoke.csv", "smoking")
    Xt, yt = read(DATA / "smoke" / "test_smoke.csv", "smoking")
    Xv, yv = read(DATA / "smoke" / "valid_smoke.csv", "smoking")
    y, yt, yv = y.astype(int), yt.astype(int), yv.astype(int)
    # NOTE: 10,673 of the 11,139 test rows are verbatim copies (label included) of training rows
    # (../shared/data/DATA.md): accuracy on the whole test file measures memorisation. Judge on the
    # test rows that are not in the training file, and on valid_smoke.csv (no row shared).
    seen = {row.tobytes() for row in np.column_stack([X, y])}
    new = np.array([row.tobytes() not in seen for row in np.column_stack([Xt, yt])])
    parts = {"new test rows": (Xt[new], yt[new]), "valid_smoke": (Xv, yv), "whole test file (memorisation)": (Xt, yt)}
    scores = {name: {"handgrad": [], "sklearn": []} for name in parts}
    t_ours, t_theirs = [], []
    for seed in SEEDS:
        t = time.perf_counter()
        ours = MLPClassifier(random_state=seed).fit(X, y)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = sklearn_pipeline(SkMLPClassifier(random_state=seed)).fit(X, y)
        t_theirs.append(time.perf_counter() - t)
        for name, (A, b) in parts.items():
            scores[name]["handgrad"].append(ours.score(A, b))
            scores[name]["sklearn"].append(theirs.score(A, b))
    print(
        f"\n### (b) smoke: accuracy (raw features, train_smoke → {int(new.sum())} new test rows / valid_smoke, "
        "seeds 0, 1, 2)\n"
    )
    print("| model | " + " | ".join(f"{name}: mean (per seed)" for name in parts) + " | fit seconds (mean) |")
    print("| --- " * (len(parts) + 2) + "|")
    cells = " | ".join(fmt(scores[name]["handgrad"]) for name in parts)
    print(f"| handgrad MLPClassifier() defaults (raw X) | {cells} | {np.mean(t_ours):.1f} |")
    cells = " | ".join(fmt(scores[name]["sklearn"]) for name in parts)
    print(f"| scikit-learn MLPClassifier() + StandardScaler | {cells} | {np.mean(t_theirs):.1f} |")
    cells = " | ".join(f"{max(np.mean(b), 1 - np.mean(b)):.4f}" for _, b in parts.values())
    print(f"| majority class | {cells} | |")


def part_sine() -> None:
    x = np.linspace(0.0, 2.0, 200)[:, None]
    y = np.sin(np.pi * x[:, 0])
    print("\n### (c) sin(πx) on [0, 2], 1→50→50→1 ReLU, 200 points\n")
    print("| setting | training MSE |")
    print("| --- | --- |")
    for seed in SEEDS:
        est = MLPRegressor(hidden_layer_sizes=(50, 50), learning_rate=0.01, max_iter=2000, random_state=seed).fit(x, y)
        print(
            f"| MLPRegressor(hidden_layer_sizes=(50, 50), learning_rate=0.01, max_iter=2000, random_state={seed}) | {mse(est.predict(x), y):.2e} |"
        )


def part_xor() -> None:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    kw = dict(hidden_layer_sizes=(2,), activation="sigmoid", learning_rate=0.1, max_iter=300)
    solved = sum(
        bool((MLPClassifier(n_init=10, random_state=s, **kw).fit(X, y).predict(X) == y).all()) for s in range(10)
    )
    single, minima = 0, 0
    for s in range(100):
        est = MLPClassifier(n_init=1, random_state=s, **kw).fit(X, y)
        ok = bool((est.predict(X) == y).all())
        single += ok
        minima += (not ok) and abs(est.loss_ - np.log(2) / 2) < 0.02
    print("\n### (d) XOR, 2-2-1 sigmoid, binary cross-entropy, Adam lr 0.1, 300 full-batch epochs\n")
    print("| setting | solved (all 4 right) |")
    print("| --- | --- |")
    print(f"| n_init=10 (best of 10 initialisations), seeds 0-9 | {solved} / 10 |")
    print(f"| n_init=1 (one run), seeds 0-99 | {single} / 100 ({minima} of the failures end at J ≈ ln2/2 = 0.347) |")


def part_digits() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, Xt, y, yt = train_test_split(d.data, d.target, test_size=0.25, random_state=0, stratify=d.target)
    print("\n### (e) digits (scikit-learn), 25 % stratified test split\n")
    print("| model | test accuracy |")
    print("| --- | --- |")
    for seed in SEEDS:
        acc = MLPClassifier(random_state=seed).fit(X, y).score(Xt, yt)
        print(f"| MLPClassifier(random_state={seed}) defaults | {acc:.4f} |")


def part_decay() -> None:
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    from handgrad.data.datasets import load_diabetes, make_friedman1

    tr, te = make_friedman1(2000, random_state=0), make_friedman1(2000, random_state=1)
    d = load_diabetes()
    sets = {
        "Friedman #1 (2000 / 2000)": (tr.X, tr.y, te.X, te.y),
        "diabetes (first 300 / last 142)": (d.X[:300], d.y[:300], d.X[300:], d.y[300:]),
    }
    print("\n### regressor weight_decay default: test MSE, seeds 0, 1, 2\n")
    print("| data | weight_decay=1e-4 | weight_decay=3e-3 (default) | scikit-learn + StandardScaler |")
    print("| --- | --- | --- | --- |")
    for name, (X, y, Xt, yt) in sets.items():
        cells = []
        for wd in (1e-4, 3e-3):
            cells.append(
                fmt([mse(MLPRegressor(weight_decay=wd, random_state=s).fit(X, y).predict(Xt), yt) for s in SEEDS], 3)
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = [mse(sklearn_pipeline(SkMLPRegressor(random_state=s)).fit(X, y).predict(Xt), yt) for s in SEEDS]
        print(f"| {name} | {cells[0]} | {cells[1]} | {fmt(sk, 3)} |")


PARTS = {
    "house": part_house,
    "smoke": part_smoke,
    "sine": part_sine,
    "xor": part_xor,
    "digits": part_digits,
    "decay": part_decay,
}


def main(argv: list[str]) -> int:
    names = argv or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    print(f"_python benchmarks/bench_quality.py {' '.join(argv)}_".replace(" _", "_"))
    for name in names:
        t = time.perf_counter()
        PARTS[name]()
        print(f"\n_{name}: {time.perf_counter() - t:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
