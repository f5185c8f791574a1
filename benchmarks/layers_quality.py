"""The layer types at work (issue 14): test quality over 3 seeds, each model tuned once on a validation split.

Three tasks, each model an estimator (``MLPClassifier``/``MLPRegressor``) with ``layers=`` and
``input_shape=`` (the output dense layer is appended by the estimator):

* **digits, CNN** — scikit-learn's 8×8 digits (1,797 images), a small convolutional network
  (``input_shape="1x8x8"``); the dense default ``MLPClassifier()`` for reference.
* **digits, LSTM** — the same images read as a sequence of 8 rows of 8 pixels (``input_shape="8x8"``,
  ``layers="lstm(n)"``: the last state ``h_8`` feeds the output layer).
* **noisy sine, next step** — ``s_t = sin(0.1 t) + 0.1 ε_t`` (ε standard normal, one fixed draw),
  ``t = 0..2399``; a window of 20 values predicts the next one. ``rnn(n)`` and ``lstm(n)``
  (``input_shape="20x1"``) against a dense network on the same 20 values (``MLPRegressor``).

Splits (all fixed):

* digits: stratified 75/25 train/test split, ``random_state=0`` (1,347 / 450 images);
* sine: split in time, not shuffled: windows whose target is one of the first 1,800 values train,
  windows that lie wholly in the last 600 values test (580 windows; no test value is ever seen in
  training).

The tuning rule (run once, inside this command; the test part is never looked at while tuning):
the training part is split again — digits: stratified 80/20, ``random_state=1``; sine: the last
20 % of the training windows in time. Every configuration of the model's small grid
(:data:`GRIDS`) is fitted with seeds 0, 1, 2 on the rest and scored on that validation part; the
configuration with the best mean validation score wins (the first in grid order on a tie). The
winner is then refitted on the whole training part with seeds 0, 1, 2 and scored on the test part:
mean ± sample standard deviation over the 3 seeds (min – max).

Run from the repository root::

    nice python benchmarks/layers_quality.py --markdown quality.md

``--tasks digits-cnn digits-lstm sine`` runs some of them; ``--no-tune`` skips the grid and uses
each grid's first configuration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEEDS = (0, 1, 2)

#: Each model's grid: keyword arguments of the estimator (``scale`` is this script's own:
#: "standardise" = the estimator's per-feature standardisation, "x/16" = the pixels divided by 16 and
#: ``scale_inputs=False``, one scale for every pixel as a convolution's shared weights expect).
CNN = "conv({f},3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.2)"
CNN2 = "conv(16,3x3,pad=1)-relu-conv(32,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.3)"
# NOTE: the learning rate and the schedule are in the grids since the estimators' defaults changed
# (issue 13: 3e-3 with cosine decay for classification, where these grids first ran on 1e-3, constant).
GRIDS: dict[str, list[dict]] = {
    "digits: CNN": [
        dict(layers=arch, scale="standardise", weight_decay=wd, batch_size=batch, learning_rate=lr, max_iter=100)
        for arch in (CNN.format(f=16), CNN2)
        for wd in (1e-3, 1e-2)
        for batch in (32, "auto")
        for lr in (1e-3, 3e-3)
    ],
    "digits: dense MLPClassifier() (reference)": [dict()],
    "digits: LSTM": [
        dict(
            layers=f"lstm({n})",
            weight_decay=1e-4,
            batch_size=32,
            learning_rate=lr,
            lr_schedule=schedule,
            max_iter=100,
            clip_norm=5.0,
        )
        for n in (32, 64)
        for lr in (1e-3, 3e-3)
        for schedule in (None, "auto")
    ],
    "sine: rnn": [dict(layers=f"rnn({n})", learning_rate=lr, clip_norm=5.0) for n in (16, 32) for lr in (1e-3, 3e-3)],
    "sine: lstm": [dict(layers=f"lstm({n})", learning_rate=lr, clip_norm=5.0) for n in (16, 32) for lr in (1e-3, 3e-3)],
    "sine: dense MLPRegressor on the window": [
        dict(hidden_layer_sizes=h, learning_rate=lr) for h in ((64,), (128, 64)) for lr in (1e-3, 3e-3)
    ],
}
INPUT_SHAPES = {"digits: CNN": "1x8x8", "digits: LSTM": "8x8", "sine: rnn": "20x1", "sine: lstm": "20x1"}
TASKS = {
    "digits-cnn": ["digits: CNN", "digits: dense MLPClassifier() (reference)"],
    "digits-lstm": ["digits: LSTM"],
    "sine": ["sine: rnn", "sine: lstm", "sine: dense MLPRegressor on the window"],
}

# ----------------------------------------------------------------------------- data

SINE_LENGTH, SINE_TRAIN, WINDOW, NOISE = 2400, 1800, 20, 0.1


def digits():
    """(X_train, X_test, y_train, y_test): the stratified 75/25 split, random_state=0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def digits_validation(X, y):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=1)


def sine_series(seed: int = 1234):
    """(s, clean): the noisy series s_t = sin(0.1 t) + 0.1 ε_t and its noise-free part, t = 0..2399."""
    t = np.arange(SINE_LENGTH)
    clean = np.sin(0.1 * t)
    return clean + NOISE * np.random.default_rng(seed).standard_normal(SINE_LENGTH), clean


def windows(s: np.ndarray, first: int, last: int):
    """X (n, 20) and y (n,): every window s[i:i+20] -> s[i+20] with first <= i and i + 20 < last."""
    idx = np.arange(first, last - WINDOW)
    return s[idx[:, None] + np.arange(WINDOW)], s[idx + WINDOW]


def sine():
    """(X_train, X_test, y_train, y_test, noise variance of the test targets)."""
    s, clean = sine_series()
    Xtr, ytr = windows(s, 0, SINE_TRAIN)
    Xte, yte = windows(s, SINE_TRAIN, SINE_LENGTH)
    idx = np.arange(SINE_TRAIN, SINE_LENGTH - WINDOW) + WINDOW
    return Xtr, Xte, ytr, yte, float(np.mean((s[idx] - clean[idx]) ** 2))


def sine_validation(X, y):
    """The last 20 % of the training windows in time (and no window across the cut)."""
    cut = int(0.8 * len(X))
    return X[: cut - WINDOW], X[cut:], y[: cut - WINDOW], y[cut:]


# ----------------------------------------------------------------------------- models


def build(model: str, config: dict, seed: int):
    """The estimator, and the function applied to X first (the "x/16" scaling)."""
    from handgrad import MLPClassifier, MLPRegressor

    kw = dict(config)
    scale = kw.pop("scale", "standardise")
    prep = (lambda X: X) if scale == "standardise" else (lambda X: X / 16.0)
    if scale != "standardise":
        kw["scale_inputs"] = False
    if model in INPUT_SHAPES:
        kw["input_shape"] = INPUT_SHAPES[model]
    cls = MLPClassifier if model.startswith("digits") else MLPRegressor
    return cls(random_state=seed, **kw), prep


def score(model: str, est, prep, X, y) -> float:
    """Accuracy (digits) or mean squared error (sine)."""
    pred = est.predict(prep(X))
    if model.startswith("digits"):
        return float(np.mean(pred == y))
    return float(np.mean((np.ravel(pred) - y) ** 2))


def fit_score(model: str, config: dict, seed: int, Xtr, ytr, Xev, yev) -> tuple[float, float]:
    est, prep = build(model, config, seed)
    t0 = time.perf_counter()
    est.fit(prep(Xtr), ytr)
    seconds = time.perf_counter() - t0
    return score(model, est, prep, Xev, yev), seconds


@dataclass
class Result:
    model: str
    config: dict
    scores: list[float]
    seconds: list[float]
    grid: list[tuple[dict, float]] = field(default_factory=list)


def validation_parts(model: str, Xtr, ytr, cv: int) -> list[tuple]:
    """The (X_fit, X_val, y_fit, y_val) parts the tuning scores on: the one split, or ``cv`` stratified folds (digits)."""
    if not model.startswith("digits"):
        return [sine_validation(Xtr, ytr)]
    if cv <= 1:
        return [digits_validation(Xtr, ytr)]
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(cv, shuffle=True, random_state=1).split(Xtr, ytr)
    return [(Xtr[a], Xtr[v], ytr[a], ytr[v]) for a, v in folds]


def run_model(model: str, data, tune: bool, log, cv: int = 1) -> Result:
    Xtr, Xte, ytr, yte = data
    higher_is_better = model.startswith("digits")
    grid = GRIDS[model]
    tried: list[tuple[dict, float]] = []
    if tune and len(grid) > 1:
        parts = validation_parts(model, Xtr, ytr, cv)
        for config in grid:
            mean = statistics.fmean(
                fit_score(model, config, s, Xa, ya, Xv, yv)[0] for s in SEEDS for Xa, Xv, ya, yv in parts
            )
            tried.append((config, mean))
            log(f"  {model} | {describe(config)} | validation {mean:.4f}")
        pick = max if higher_is_better else min
        best = pick(range(len(tried)), key=lambda i: (tried[i][1], -i) if higher_is_better else (tried[i][1], i))
        config = tried[best][0]
    else:
        config = grid[0]
    scores, seconds = [], []
    for s in SEEDS:
        sc, sec = fit_score(model, config, s, Xtr, ytr, Xte, yte)
        scores.append(sc)
        seconds.append(sec)
    log(f"{model} | {describe(config)} | test {scores}")
    return Result(model, config, scores, seconds, tried)


def describe(config: dict) -> str:
    if not config:
        return "defaults"
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in config.items())


def spread(values: list[float], fmt: str) -> str:
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return f"{fmt.format(mean)} ± {fmt.format(sd)} ({fmt.format(min(values))} – {fmt.format(max(values))})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--no-tune", action="store_true", help="use each grid's first configuration")
    parser.add_argument(
        "--cv",
        type=int,
        default=3,
        help="digits: tune on this many stratified folds of the training part (default 3; 1: one 80/20 split)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results: list[Result] = []
    noise = None
    for task in args.tasks:
        if task == "sine":
            Xtr, Xte, ytr, yte, noise = sine()
            data = (Xtr, Xte, ytr, yte)
        else:
            data = digits()
        for model in TASKS[task]:
            results.append(run_model(model, data, not args.no_tune, log, args.cv))

    lines = [
        "| task: model | chosen configuration | test accuracy (digits) / test MSE (sine), mean ± sd (min – max), "
        "seeds 0, 1, 2 | seconds per fit |",
        "| --- | --- | --- | ---: |",
    ]
    for r in results:
        shown = (
            spread([100 * s for s in r.scores], "{:.2f}") + " %"
            if r.model.startswith("digits")
            else spread(r.scores, "{:.5f}")
        )
        lines.append(f"| {r.model} | {describe(r.config)} | {shown} | {statistics.fmean(r.seconds):.1f} |")
    if noise is not None:
        lines.append(
            f"\nNoise floor of the sine task: σ² = {NOISE**2:.5f} (the noise variance); on the test targets "
            f"mean (s_t − sin(0.1 t))² = {noise:.5f}."
        )
    lines.append("\nValidation scores of every configuration tried (mean over seeds 0, 1, 2):\n")
    lines += ["| model | configuration | validation score |", "| --- | --- | ---: |"]
    for r in results:
        for config, mean in r.grid:
            mark = " **(chosen)**" if config is r.config else ""
            lines.append(f"| {r.model} | {describe(config)}{mark} | {mean:.4f} |")
    lines.append(f"\nTotal time: {time.perf_counter() - t0:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
