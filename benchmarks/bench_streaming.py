"""Training on a CSV file larger than memory: resident memory and time per epoch against in-memory training.

    python benchmarks/bench_streaming.py /tmp/big --rows 20000000 --epochs 2 --subset 2000000

1. Writes ``DIR/big.csv`` (``make_big_csv.py``: ROWS rows of 30 features and a target, ~6 GB)
   unless it is there.
2. Times the two candidate epoch costs on the first ``--probe`` rows: (a) parsing the CSV again
   (``iter_csv_chunks``, what an epoch costs when it re-reads the text) and (b) reading the
   binary cache chunk by chunk (what ChunkedStep does).
3. ``handgrad train --train big.csv --stream`` (the default network and Adam, batch 200) in a
   child process whose resident memory is sampled from ``/proc/PID/status`` every 0.1 s
   (VmRSS, and VmHWM: the kernel's peak): one pass into the cache, then EPOCHS epochs.
4. In-memory training (``MLPRegressor.fit`` on arrays) of the first SUBSET rows, same settings:
   seconds per epoch per row against the streamed run's.
5. Streaming prediction of the whole file chunk by chunk (``iter_csv_chunks`` + ``predict``).

Prints the figures of docs/scaling.md's streaming section; deletes nothing but its cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_sampled(cmd: list[str], kill_above_mb: float | None = None, **kw) -> dict:
    """Run ``cmd``; its exit code, output, peak VmRSS sampled every 0.1 s and VmHWM (kB).

    ``kill_above_mb``: SIGKILL the command when its resident memory passes this (``killed`` is then True).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    peak = {"rss": 0, "hwm": 0, "killed": False}

    def sample():
        while proc.poll() is None:
            rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
            peak["rss"] = max(peak["rss"], rss or 0)
            peak["hwm"] = max(peak["hwm"], hwm or 0)
            if kill_above_mb is not None and (rss or 0) > kill_above_mb * 1024:
                peak["killed"] = True
                proc.kill()
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    t.join()
    return {"code": proc.returncode, "out": out, "err": err, "peak_rss_mb": peak["rss"] / 1024,
            "peak_hwm_mb": peak["hwm"] / 1024, "wall_s": wall, "killed": peak["killed"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--subset", type=int, default=2_000_000)
    ap.add_argument("--probe", type=int, default=1_000_000)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--cli-predict-limit-mb", type=float, default=3000,
                    help="run `handgrad predict` on the whole file, killed above this resident memory")  # fmt: skip
    args = ap.parse_args()
    from handgrad import MLPRegressor, load
    from handgrad.data.cache import RowCache
    from handgrad.data.csv import iter_csv_chunks
    from handgrad.data.stream import csv_chunks, csv_head

    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    big = d / "big.csv"
    figures: dict = {}
    if not big.exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "make_big_csv.py"), str(big), "--rows", str(args.rows)], check=True)
        figures["generate_s"] = time.perf_counter() - t0
    figures["csv_bytes"] = big.stat().st_size
    print(f"{big}: {figures['csv_bytes'] / 1e9:.2f} GB")

    # 2. the two candidates, on the first --probe rows
    head = csv_head(big, "y")
    probe = d / "probe.csv"
    with open(big, "rb") as src, open(probe, "wb") as dst:
        for i, line in enumerate(src):
            if i > args.probe:
                break
            dst.write(line)
    t0 = time.perf_counter()
    n = sum(ds.X.shape[0] for ds in iter_csv_chunks(probe, head.schema, 65_536, require_target=True))
    parse_s = time.perf_counter() - t0
    cache = RowCache.write(csv_chunks(probe, head.schema), d / "probe.npy")
    raw = np.empty((65_536, cache.n_columns))
    X = np.empty((65_536, cache.n_features))
    Y = np.empty((65_536, 1))
    t0 = time.perf_counter()
    for start in range(0, cache.n_rows, 65_536):
        stop = min(start + 65_536, cache.n_rows)
        cache.read_scaled(start, stop, raw, X[: stop - start], Y[: stop - start])
    read_s = time.perf_counter() - t0
    os.unlink(d / "probe.npy")
    os.unlink(probe)
    figures["per_million_rows"] = {"parse_csv_s": parse_s * 1e6 / n, "read_cache_s": read_s * 1e6 / n}
    print(f"per million rows: parse the CSV {parse_s * 1e6 / n:.2f} s, read the cache {read_s * 1e6 / n:.3f} s")

    # 3. streamed training of the whole file
    model = d / "streamed.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "handgrad", "train", "--train", str(big), "--target", "y", "--stream",
           "--epochs", str(args.epochs), "--cache", str(d / "cache.npy"), "-o", str(model), "--force", "-q"]  # fmt: skip
    r = run_sampled(cmd, env=env)
    if r["code"] != 0:
        raise SystemExit(r["err"])
    epochs = [e["seconds"] for e in load(model).history_.epochs]
    figures["streamed"] = {"wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "peak_hwm_mb": r["peak_hwm_mb"],
                           "epoch_s": epochs, "convert_s": r["wall_s"] - sum(epochs)}  # fmt: skip
    print(f"streamed: {r['wall_s']:.0f} s in all, epochs {[round(e, 1) for e in epochs]} s, peak RSS "
          f"{r['peak_rss_mb']:.0f} MB (VmHWM {r['peak_hwm_mb']:.0f} MB)")  # fmt: skip

    # 4. in memory, the first --subset rows of the cache
    c = RowCache(d / "cache.npy", 30)
    A = np.empty((args.subset, c.n_columns))
    c.read(0, args.subset, A)
    est = MLPRegressor(max_iter=args.epochs, random_state=0)
    est.fit(A[:, :30], A[:, 30])
    mem_epochs = [e["seconds"] for e in est.history_.epochs]
    per_row_mem = min(mem_epochs) / args.subset
    per_row_stream = min(epochs) / c.n_rows
    figures["in_memory"] = {"rows": args.subset, "epoch_s": mem_epochs, "per_million_rows_s": per_row_mem * 1e6}
    figures["ratio"] = per_row_stream / per_row_mem
    print(f"in memory ({args.subset} rows): epochs {[round(e, 2) for e in mem_epochs]} s: "
          f"{per_row_mem * 1e6:.2f} s per million rows; streamed {per_row_stream * 1e6:.2f}: "
          f"ratio {figures['ratio']:.2f}")  # fmt: skip
    del A
    os.unlink(d / "cache.npy")

    # 5. streaming prediction of the file
    est = load(model)
    t0 = time.perf_counter()
    sq = 0.0
    n = 0
    for ds in iter_csv_chunks(big, est.schema_, 65_536, require_target=True):
        p = est.predict(ds.X)
        sq += float(((p - ds.y) ** 2).sum())
        n += ds.X.shape[0]
    figures["predict"] = {"s": time.perf_counter() - t0, "rows": n, "mse": sq / n}
    print(f"streamed prediction of {n} rows: {figures['predict']['s']:.0f} s, MSE {sq / n:.4f}")

    # 6. the command line's predict on the whole file (streams where cli/predict.py reads in chunks)
    out = d / "pred.csv"
    r = run_sampled([sys.executable, "-m", "handgrad", "predict", str(model), str(big), "-o", str(out), "--force"],
                    kill_above_mb=args.cli_predict_limit_mb, env=env)  # fmt: skip
    figures["cli_predict"] = {k: r[k] for k in ("code", "peak_rss_mb", "peak_hwm_mb", "wall_s", "killed")}
    figures["cli_predict"]["stderr"] = r["err"][-500:]
    if out.exists():
        os.unlink(out)
    print(f"handgrad predict on the whole file: exit {r['code']}, {r['wall_s']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
          + (f" (killed above {args.cli_predict_limit_mb:.0f} MB: it does not stream)" if r["killed"] else ""))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
