"""Per-epoch cost of the estimators with Adam (the general training step), against scikit-learn.

The seed's workload (`bench_epoch.py`) runs plain SGD through handgrad's fused step; what most
users run is an estimator with Adam and L2, which goes through the general step. This times
``fit`` for a fixed number of epochs on the house data (standardised inputs), network (128, 64),
Adam 1e-3, L2 1e-4, for handgrad's ``MLPRegressor`` and scikit-learn's (``tol=0`` and an endless
``n_iter_no_change`` so that both run every epoch), interleaved, medians, per epoch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_estimators.py
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleave
from handgrad import MLPRegressor
from handgrad.data import load_csv, seed_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per fit (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (default 5)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 200])
    args = parser.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    ds = load_csv(seed_file("house", "train"), target="price")
    std = ds.X.std(axis=0)
    X = np.ascontiguousarray((ds.X - ds.X.mean(axis=0)) / np.where(std > 0, std, 1.0))
    y = ds.y
    print(f"house: {X.shape[0]} rows x {X.shape[1]} features; (128, 64) ReLU, Adam 1e-3, L2 1e-4, {args.epochs} epochs")
    print("| batch | handgrad ms / epoch | scikit-learn ms / epoch | scikit-learn ÷ handgrad |")
    print("| ---: | ---: | ---: | ---: |")
    for bs in args.batch_sizes:
        common = {"hidden_layer_sizes": (128, 64), "batch_size": bs, "max_iter": args.epochs, "random_state": 0}
        cases = {
            "handgrad": lambda common=common: MLPRegressor(**common, weight_decay=1e-4, scale_inputs=False).fit(X, y),
            "scikit-learn": lambda common=common: SkMLPRegressor(
                **common, alpha=1e-4, tol=0, n_iter_no_change=10**9
            ).fit(X, y),
        }
        med = interleave(cases, rounds=args.rounds, warmup=1)
        h, s = (med[k] / args.epochs * 1e3 for k in ("handgrad", "scikit-learn"))
        print(f"| {bs} | {h:.1f} | {s:.1f} | {s / h:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
