"""A whole default fit: handgrad's estimators against scikit-learn's MLP defaults behind a StandardScaler.

Issue 8's target: ``MLPRegressor().fit`` on house and ``MLPClassifier().fit`` on smoke at least 3×
faster than scikit-learn's defaults (``make_pipeline(StandardScaler(), MLPRegressor())``), with an
equal or better test score. Each fit is timed whole (its own validation split, early stopping and
all), interleaved with the other contender, the same seeds for both, medians over the seeds.

* house: train on ``train_house.csv`` (10,000 rows), score on ``test_house.csv`` (MSE; R²).
* smoke: train on ``train_smoke.csv`` (42,500 rows), score accuracy on ``valid_smoke.csv`` and on the
  466 rows of ``test_smoke.csv`` that are not in the training file (the other 10,673 are copies of
  training rows: ``../shared/data/DATA.md``).

    python benchmarks/bench_defaults.py --seeds 0 1 2
    python benchmarks/bench_defaults.py --seeds 0 1 2 --one-thread   # on a machine busy with other jobs

The "engine" column says whether handgrad's ``engine="auto"`` loaded the compiled epoch (Numba).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings

import numpy as np

from handgrad import MLPClassifier, MLPRegressor
from handgrad.data import load_csv, seed_file
from handgrad.training import compiled


def smoke_new_test_rows(train, test) -> np.ndarray:
    """Indices of the test rows (features and label) that do not appear in the training file."""
    seen = {row.tobytes() for row in np.column_stack([train.X, train.y]).astype(np.float64)}
    rows = np.column_stack([test.X, test.y]).astype(np.float64)
    return np.array([i for i, row in enumerate(rows) if row.tobytes() not in seen], dtype=np.intp)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=["house", "smoke"])
    parser.add_argument(
        "--one-thread",
        action="store_true",
        help="BLAS limited to one thread for both contenders (threadpoolctl): on a machine busy with other "
        "jobs, scikit-learn's BLAS threads otherwise contend with them (handgrad limits its own)",
    )
    args = parser.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)"
          + ("; BLAS one thread for both" if args.one_thread else ""))  # fmt: skip
    print()
    print("| set | contender | seed | fit s | epochs | score | engine |")
    print("| --- | --- | ---: | ---: | ---: | --- | --- |")
    summary = {}
    for name in args.sets:
        if name == "house":
            tr = load_csv(seed_file("house", "train"), target="price")
            te = load_csv(seed_file("house", "test"), target="price")
            contenders = {"handgrad": lambda s: MLPRegressor(random_state=s),
                          "scikit-learn": lambda s: make_pipeline(StandardScaler(), SkR(random_state=s))}  # fmt: skip

            def score(model, tr=tr, te=te):
                p = model.predict(te.X)
                return {"test MSE": float(np.mean((p - te.y) ** 2))}

            y_train = tr.y
        else:
            tr = load_csv(seed_file("smoke", "train"), target="smoking")
            va = load_csv(seed_file("smoke", "valid"), target="smoking")
            te = load_csv(seed_file("smoke", "test"), target="smoking")
            new = smoke_new_test_rows(tr, te)
            contenders = {"handgrad": lambda s: MLPClassifier(random_state=s),
                          "scikit-learn": lambda s: make_pipeline(StandardScaler(), SkC(random_state=s))}  # fmt: skip

            def score(model, va=va, te=te, new=new):
                return {"valid acc": float(np.mean(model.predict(va.X) == va.y)),
                        "new-test acc": float(np.mean(model.predict(te.X[new]) == te.y[new]))}  # fmt: skip

            y_train = tr.y
        for seed in args.seeds:
            order = list(contenders) if seed % 2 == 0 else list(contenders)[::-1]  # interleaved, alternating
            for who in order:
                model = contenders[who](seed)
                with threadpool_limits(1) if args.one_thread else contextlib.nullcontext():
                    t0 = time.perf_counter()
                    model.fit(tr.X, y_train)
                    seconds = time.perf_counter() - t0
                est = model[-1] if hasattr(model, "steps") else model
                sc = score(model)
                summary.setdefault((name, who), []).append((seconds, sc))
                # handgrad's engine: "auto" loads Numba (the compiled epoch) only for a training it picks it for.
                engine = "" if who != "handgrad" else ("compiled" if compiled._compiled is not None else "numpy")
                print(f"| {name} | {who} | {seed} | {seconds:.2f} | {est.n_iter_} | "
                      + ", ".join(f"{k} {v:.4f}" for k, v in sc.items()) + f" | {engine} |", flush=True)  # fmt: skip
    print()
    print("| set | contender | median fit s | median scores | speed-up of handgrad |")
    print("| --- | --- | ---: | --- | ---: |")
    for (name, who), runs in summary.items():
        t = float(np.median([r[0] for r in runs]))
        keys = runs[0][1].keys()
        scores = ", ".join(f"{k} {np.median([r[1][k] for r in runs]):.4f}" for k in keys)
        ref = float(np.median([r[0] for r in summary[(name, "handgrad")]]))
        print(f"| {name} | {who} | {t:.2f} | {scores} | {t / ref:.2f}× |")
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
