"""Loading a large CSV: time and peak memory of ``handgrad.data.load_csv``.

Generates a file of ``--rows`` rows × ``--cols`` numeric columns (the last is the
target) in a temporary folder, then loads it several times, each load in a fresh
Python process (so that peak memory is that load's own), interleaving the methods:

* ``handgrad``: ``load_csv(path, target="y")`` (NumPy's C parser, validation, schema, X/y);
* ``np.loadtxt``: the bare C parser, for reference;
* ``pandas``: ``pd.read_csv``, only if pandas is installed (it is not required);
* ``csv module``: ``csv.reader`` + ``float()`` per value, the Python loop handgrad avoids
  (``--with-csv-module``; slow).

Reports the median wall time and the median peak resident memory (``ru_maxrss``)
above the process's size just before loading, plus tracemalloc's peak of traced
allocations (NumPy reports its buffers to tracemalloc) from one separate, untimed run.

Run (unset the machine's OpenBLAS overrides for the timing run only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_load.py
    python benchmarks/bench_load.py --rows 100000 --repeats 3   # quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time, tracemalloc
path, method, trace = sys.argv[1], sys.argv[2], sys.argv[3] == "trace"
import numpy as np
if method == "handgrad":
    from handgrad.data import load_csv
elif method == "pandas":
    import pandas as pd
import csv
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
if method == "handgrad":
    ds = load_csv(path, target="y")
    shape = ds.X.shape
elif method == "np.loadtxt":
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    shape = data.shape
elif method == "pandas":
    df = pd.read_csv(path)
    shape = df.shape
elif method == "csv module":
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = [[float(v) for v in row] for row in reader]
    data = np.array(rows)
    shape = data.shape
elapsed = time.perf_counter() - t0
_, traced_peak = tracemalloc.get_traced_memory() if trace else (0, 0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "rss_peak_mib": peak / 1024, "rss_above_start_mib": (peak - base) / 1024,
                  "traced_peak_mib": traced_peak / 2**20, "shape": list(shape)}))
"""


def generate(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """Write ``rows`` × ``cols`` random numbers (last column "y") with 6 significant decimals, in chunks."""
    rng = np.random.default_rng(seed)
    header = ",".join([f"x{j}" for j in range(1, cols)] + ["y"])
    with open(path, "w") as f:
        f.write(header + "\n")
        chunk = 100_000
        for start in range(0, rows, chunk):
            block = rng.standard_normal((min(chunk, rows - start), cols)) * 100
            np.savetxt(f, block, delimiter=",", fmt="%.6g")


def run(path: Path, method: str, trace: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), method, "trace" if trace else "time"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-csv-module", action="store_true", help="also time the pure-Python csv loop")
    args = parser.parse_args()

    methods = ["handgrad", "np.loadtxt"]
    try:
        import pandas  # noqa: F401

        methods.append("pandas")
    except ImportError:
        print("pandas is not installed: not compared")
    if args.with_csv_module:
        methods.append("csv module")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.csv"
        t0 = time.perf_counter()
        generate(path, args.rows, args.cols)
        size_mib = path.stat().st_size / 2**20
        print(
            f"generated {args.rows:,} rows x {args.cols} columns, {size_mib:.0f} MiB, in {time.perf_counter() - t0:.1f} s"
        )
        results: dict[str, list[dict]] = {m: [] for m in methods}
        for _ in range(args.repeats):  # interleaved: each round runs every method once
            for method in methods:
                results[method].append(run(path, method))
        # tracemalloc slows Python-level allocations, so it gets its own (untimed) run.
        traced = {method: run(path, method, trace=True)["traced_peak_mib"] for method in methods}

    print(f"\n{'method':<12} {'median s':>9} {'rss above start MiB':>20} {'rss peak MiB':>13} {'traced peak MiB':>16}")
    base = None
    for method, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        above = statistics.median(r["rss_above_start_mib"] for r in runs)
        peak = statistics.median(r["rss_peak_mib"] for r in runs)
        traced_mib = traced[method]
        base = base or seconds
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(
            f"{method:<12} {seconds:>9.2f} {above:>20.0f} {peak:>13.0f} {traced_mib:>16.0f}"
            f"   (x{seconds / base:.2f} of handgrad; runs: {each})"
        )
    x_mib = args.rows * (args.cols - 1) * 8 / 2**20
    print(f"\nfor scale: X alone is {args.rows:,} x {args.cols - 1} float64 = {x_mib:.0f} MiB")


if __name__ == "__main__":
    main()
