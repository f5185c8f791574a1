"""Data-parallel training on torch.distributed (gloo over loopback) equals single-process training.

Every case runs 2 and 3 real processes (the environment torchrun would set), each
training on its part of every global mini-batch with one all-reduce per step, and
compares every rank's final parameters and losses with one process running the same
train() call: float64, 1e-12.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch.distributed")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distributed_worker as worker

WORKER = Path(__file__).resolve().parent / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, case, world, die_at=0, timeout=120):
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")  # fmt: skip
        args = [sys.executable, str(WORKER), str(tmp_path / f"rank{rank}.npz"), case]
        if die_at:
            args.append(str(die_at))
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    t0 = time.monotonic()
    results = [p.communicate(timeout=timeout) for p in procs]
    return [p.returncode for p in procs], [r[1] for r in results], time.monotonic() - t0


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("case", sorted(worker.CASES))
def test_data_parallel_equals_one_process(tmp_path, case, world):
    codes, errs, _ = launch(tmp_path, case, world)
    assert codes == [0] * world, errs
    net, hist = worker.run(case)
    ref_loss = np.array([e["train_loss"] for e in hist.epochs])
    for rank in range(world):
        got = np.load(tmp_path / f"rank{rank}.npz")
        scale = np.abs(net.theta).max()
        assert np.abs(got["theta"] - net.theta).max() <= 1e-12 * scale, (case, world, rank)
        np.testing.assert_allclose(got["train_loss"], ref_loss, rtol=1e-12)
    # every rank ends with identical weights, bit for bit (the same update of the same sum)
    thetas = [np.load(tmp_path / f"rank{r}.npz")["theta"] for r in range(world)]
    assert all(np.array_equal(t, thetas[0]) for t in thetas)


def test_a_rank_that_dies_stops_the_others_with_a_clear_error(tmp_path):
    codes, errs, seconds = launch(tmp_path, "sgd", 2, die_at=2, timeout=90)
    assert codes[1] == 3  # the rank that died
    assert codes[0] == 2, errs[0]  # the survivor: a one-line error, not a hang or a traceback
    assert "handgrad: error:" in errs[0] and "rank 0" in errs[0], errs[0]
    assert "Traceback" not in errs[0]
    assert seconds < 60  # well within the 20 s collective timeout plus start-up


def test_ranks_given_different_data_are_refused(tmp_path, monkeypatch):
    # rank 1 gets another case's data: refused on both ranks before any training
    port = free_port()
    procs = []
    for rank, case in enumerate(["sgd", "tiny_last_batch"]):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / f"r{rank}.npz"), case], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [2, 2], outs
    assert all("different" in err for _, err in outs)
