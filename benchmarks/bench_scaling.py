"""Data-parallel scaling: the all-reduce over loopback, 1 against 2 processes, and a model to 64 workers.

    python benchmarks/bench_scaling.py            # everything (a few minutes), prints docs/scaling.md's tables
    python benchmarks/bench_scaling.py --quick    # fewer repetitions

1. **All-reduce cost** (torch.distributed, gloo, two processes over 127.0.0.1): the median
   time of one ``all_reduce`` of a float64 flat buffer the size of the seed network
   (37-128-64-1: 13,185 parameters + the loss slot) and of the wide one (37-512-512-512-1:
   545,281 + 1), and of a range of sizes, fitted as ``t = α + bytes / B_loopback``.
2. **Scaling on this machine**: house data (37 inputs), the wide network, Adam, global batch
   256 and 1024: seconds per epoch with 1 process against 2 (every process with one BLAS
   thread, so that 2 processes use 2 cores), efficiency ``T_1 / (2 T_2)``.
3. **Model** for p = 1..64 workers with ring all-reduce:
   ``T_step(p) = (B/p) c + T_ar(p)``, ``T_ar(p) = 2 (p−1)/p · bytes / bandwidth + 2 (p−1) α``,
   with ``c`` the measured compute seconds per row (one process) and α the measured
   per-message latency; efficiency ``E(p) = B c / (B c + p T_ar(p))``. It prints where
   communication starts to dominate (``T_ar > (B/p) c``) and the least global batch that keeps
   ``E ≥ 80 %`` (``B ≥ 4 p T_ar(p) / c``), for 10 and 100 Gbit/s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NETWORKS = {"seed 37-128-64-1": [37, 128, 64, 1], "wide 37-512-512-512-1": [37, 512, 512, 512, 1]}


def n_parameters(sizes) -> int:
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, args: list[str], timeout: float = 900) -> list[dict]:
    """Run this script's worker mode in ``world`` processes (the environment torchrun sets); rank outputs."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({p.returncode}): {err[-2000:]}")
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


# --------------------------------------------------------------------------- workers
def worker_allreduce(sizes: list[int], reps: int) -> dict:
    from handgrad.training.distributed import DataParallel

    dp = DataParallel.from_environment(timeout=120)
    result = {}
    for n in sizes:
        buf = np.ones(n)
        for _ in range(5):
            dp.all_reduce(buf)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            dp.all_reduce(buf)
            times.append(time.perf_counter() - t0)
        result[str(n)] = statistics.median(times)
    dp.close()
    return result


def house():
    from handgrad.data import load_csv, seed_file

    ds = load_csv(seed_file("house", "train"), "price")
    X = (ds.X - ds.X.mean(0)) / np.where(ds.X.std(0) > 0, ds.X.std(0), 1.0)
    y = (ds.y - ds.y.mean()) / ds.y.std()
    return X, y[:, None]


def worker_train(sizes: list[int], batch: int, epochs: int, distributed: bool) -> dict:
    from handgrad import Network
    from handgrad.training import train
    from handgrad.training.distributed import DataParallel

    dp = DataParallel.from_environment(timeout=300) if distributed else None
    X, Y = house()
    net = Network(sizes, random_state=0)
    hist = train(net, X, Y, optimizer="adam", batch_size=batch, epochs=epochs, random_state=0, progress=False,
                 distributed=dp, blas_threads=1)  # fmt: skip
    seconds = [e["seconds"] for e in hist.epochs[1:]]  # the first epoch warms up
    if dp is not None:
        dp.close()
    return {"epoch_s": statistics.median(seconds), "rows": int(X.shape[0]), "theta0": float(net.theta[0])}


# --------------------------------------------------------------------------- the model
def ring_allreduce_s(p: int, nbytes: float, gbit: float, alpha: float) -> float:
    if p == 1:
        return 0.0
    return 2 * (p - 1) / p * nbytes / (gbit * 1e9 / 8) + 2 * (p - 1) * alpha


def model_rows(c_row: float, nbytes: float, alpha: float, batch: int, gbit: float, ps=(1, 2, 4, 8, 16, 32, 64)):
    rows = []
    for p in ps:
        t_ar = ring_allreduce_s(p, nbytes, gbit, alpha)
        comp = batch / p * c_row
        eff = batch * c_row / (batch * c_row + p * t_ar)
        b80 = 4 * p * t_ar / c_row
        rows.append({"p": p, "compute_ms": comp * 1e3, "allreduce_ms": t_ar * 1e3, "efficiency": eff,
                     "batch_for_80": b80})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs="+")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "allreduce":
            out = worker_allreduce([int(v) for v in rest[1:]], int(rest[0]))
        else:
            sizes = [int(v) for v in rest[0].split("-")]
            out = worker_train(sizes, int(rest[1]), int(rest[2]), rest[3] == "1")
        print(json.dumps(out))
        return

    reps = 30 if args.quick else 200
    epochs = 3 if args.quick else 5
    figures: dict = {"allreduce_s": {}, "scaling": [], "model": {}}
    # 1. all-reduce over loopback
    sizes = sorted({1, 1_000, 10_000, 100_000, 1_000_000, *(n_parameters(s) + 1 for s in NETWORKS.values())})
    times = launch(2, ["allreduce", str(reps), *map(str, sizes)])
    ar = {int(n): max(t[str(n)] for t in times) for n in sizes}
    figures["allreduce_s"] = ar
    nb = np.array([n * 8 for n in sizes], float)
    tt = np.array([ar[n] for n in sizes])
    slope, alpha = np.polyfit(nb, tt, 1)
    figures["loopback_fit"] = {"alpha_s": float(alpha), "bytes_per_s": float(1 / slope)}
    print("all-reduce of a float64 buffer, 2 gloo processes over loopback (median of", reps, "calls):")
    for n in sizes:
        print(f"  {n:>9} values ({n * 8 / 1e6:8.3f} MB): {ar[n] * 1e6:9.1f} µs")
    print(f"  fit: {alpha * 1e6:.1f} µs + bytes / ({1 / slope / 1e9:.2f} GB/s)")
    # The model's latency term: one message's, half the all-reduce of one value between 2 ranks
    # (2 (p − 1) = 2 messages). NOTE: over loopback this is gloo's and Python's software cost.
    alpha = ar[1] / 2
    figures["alpha_s"] = alpha

    # 2. 1 against 2 processes, wide network, house
    wide = NETWORKS["wide 37-512-512-512-1"]
    arch = "-".join(map(str, wide))
    rounds = 1 if args.quick else 3
    for batch in (256, 1024):
        ones, twos = [], []
        for _ in range(rounds):  # interleaved, medians: the machine's drift spread over both
            one = launch(1, ["train", arch, str(batch), str(epochs), "0"])[0]
            ones.append(one["epoch_s"])
            twos.append(max(r["epoch_s"] for r in launch(2, ["train", arch, str(batch), str(epochs), "1"])))
        t1, t2 = statistics.median(ones), statistics.median(twos)
        eff = t1 / (2 * t2)
        steps = -(-one["rows"] // batch)
        figures["scaling"].append({"batch": batch, "epoch_1_s": t1, "epoch_2_s": t2, "speedup": t1 / t2,
                                   "efficiency": eff, "steps": steps, "runs_1": ones, "runs_2": twos})  # fmt: skip
        print(f"wide network, house ({one['rows']} rows), batch {batch}: 1 process {t1:.3f} s/epoch, "
              f"2 processes {t2:.3f} s/epoch: speed-up {t1 / t2:.2f}, efficiency {eff:.0%} "
              f"(runs: {[round(v, 3) for v in ones]} / {[round(v, 3) for v in twos]})")  # fmt: skip

    # 3. the model: c, compute seconds per row of one process at batch 1024 (measured for both networks)
    c_rows = {}
    for name, sizes_ in NETWORKS.items():
        one = launch(1, ["train", "-".join(map(str, sizes_)), "1024", str(epochs), "0"])[0]
        c_rows[name] = one["epoch_s"] / one["rows"]
    figures["c_row_s"] = c_rows
    for name, sizes_ in NETWORKS.items():
        n_par = n_parameters(sizes_)
        c_row = c_rows[name]
        nbytes = (n_par + 1) * 8
        for gbit in (10, 100):
            for batch in (256, 1024, 8192):
                rows = model_rows(c_row, nbytes, float(alpha), batch, gbit)
                figures["model"][f"{name} | {gbit} Gbit/s | batch {batch}"] = rows
        print(f"\nmodel, {name}: {n_par} parameters, {nbytes / 1e6:.3f} MB a step, c = {c_row * 1e6:.2f} µs/row")
        for gbit in (10, 100):
            print(f"  {gbit} Gbit/s, α = {alpha * 1e6:.0f} µs:")
            print("    p    all-reduce ms   E(B=256)  E(B=1024)  E(B=8192)  B for E>=80%   comm > compute at B=1024")
            for p in (1, 2, 4, 8, 16, 32, 64):
                t_ar = ring_allreduce_s(p, nbytes, gbit, float(alpha))
                effs = [b * c_row / (b * c_row + p * t_ar) for b in (256, 1024, 8192)]
                b80 = 4 * p * t_ar / c_row
                dom = "yes" if t_ar > 1024 / p * c_row else "no"
                print(f"    {p:<4} {t_ar * 1e3:12.3f}   " + "  ".join(f"{e:8.0%}" for e in effs)
                      + f"   {b80:12.0f}   {dom}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
