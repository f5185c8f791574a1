"""Interleaved timing: every case runs once per round, rounds repeated, medians reported.

Interleaving (A B C, A B C, ... rather than A A A, B B B, ...) spreads slow
drifts of the machine (other processes, frequency scaling, a shared core) over
all cases alike, so their *ratios* stay meaningful on a noisy machine. The order
within a round is rotated so that no case always runs first.

    >>> import time
    >>> medians = interleave({"sleep": lambda: time.sleep(0.001), "noop": lambda: None}, rounds=3)
    >>> medians["sleep"] > medians["noop"]
    True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleave(
    cases: dict[str, Callable[[], object]],
    rounds: int = 7,
    warmup: int = 1,
    samples: dict[str, list[float]] | None = None,
    cpu_samples: dict[str, list[float]] | None = None,
) -> dict[str, float]:
    """Median wall-clock seconds of one call of each case.

    Parameters
    ----------
    cases : dict name -> callable taking no argument
    rounds : int
        Timed rounds; each calls every case once.
    warmup : int
        Untimed rounds first (caches, lazy initialisation, buffer allocation).
    samples : dict, optional
        If given, filled with every timed sample per case (wall-clock seconds).
    cpu_samples : dict, optional
        If given, filled with the process CPU time (all threads, seconds) of every
        timed call. On a shared machine this is the steadier measure of the work
        done: it does not count the time spent waiting for a free core (but it
        does count threads spinning while they wait for each other).
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:  # rotate the order each round
            c0 = time.process_time()
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    if samples is not None:
        samples.update(times)
    if cpu_samples is not None:
        cpu_samples.update(cpu)
    return {name: statistics.median(ts) for name, ts in times.items()}


def torch_epoch(model, opt, loss_fn, Xt, yt, batch_size: int, threads: int | None = None) -> Callable[[], None]:
    """One PyTorch training epoch over ``(Xt, yt)`` in batches (sliced once), on ``threads`` threads if given.

    The thread count is set for the call and restored after it, so that cases timed interleaved
    with other thread counts do not inherit it.
    """
    import torch

    batches = [(Xt[i : i + batch_size], yt[i : i + batch_size]) for i in range(0, len(Xt), batch_size)]

    def run():
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()

    if threads is None:
        return run

    def run_threads():
        default = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            run()
        finally:
            torch.set_num_threads(default)

    return run_threads
