"""``handgrad train --distributed``: the command line on torch.distributed, started as torchrun starts it.

Two processes get the environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
and run the same command; the model rank 0 writes must equal one process's (float64, 1e-12),
rank 1 must print nothing and write nothing. A rank killed mid-run stops the other with one
line, and rerunning the same command (``--resume`` of the run's own checkpoint: what
``torchrun --max-restarts`` does) ends with the weights of a run left alone. The real
``torchrun`` (``python -m torch.distributed.run``) is tried too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch.distributed")

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 6))
    y = np.sin(X @ rng.standard_normal(6)) + 0.1 * rng.standard_normal(3000)
    path = tmp_path_factory.mktemp("data") / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,f,y", comments="", fmt="%.10g")
    return path


def flags(csv_file, epochs=6):
    return ["--train", csv_file, "--target", "y", "--hidden", "32", "16", "--batch-size", "64",
            "--epochs", str(epochs), "--seed", "3", "--print-every", "1"]  # fmt: skip


def start_ranks(args, cwds, world=2):
    """Start ``world`` ranks of ``python -m handgrad train --distributed ARGS`` as torchrun would."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")  # fmt: skip
        cmd = [PY, "-m", "handgrad", "train", "--distributed", "--dist-timeout", "30", *map(str, args)]
        procs.append(subprocess.Popen(cmd, cwd=cwds[rank], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))  # fmt: skip
    return procs


def finish(procs, timeout=120):
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [p.returncode for p in procs], outs


def weights(path: Path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__metadata__"}


def assert_close(a: Path, b: Path, exact=False):
    wa, wb = weights(a), weights(b)
    assert sorted(wa) == sorted(wb)
    for name in wa:
        if exact:
            assert wa[name].tobytes() == wb[name].tobytes(), name
        elif wa[name].dtype.kind == "f":
            scale = max(1.0, float(np.abs(wa[name]).max(initial=0.0)))
            assert np.abs(wa[name] - wb[name]).max(initial=0.0) <= 1e-12 * scale, name


def one_process(csv_file, model, epochs=6):
    cmd = [PY, "-m", "handgrad", "train", *map(str, flags(csv_file, epochs)), "-q", "-o", str(model)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_two_ranks_equal_one_process_and_only_rank_0_writes(tmp_path, csv_file):
    one_process(csv_file, tmp_path / "one.npz")
    cwd0, cwd1 = tmp_path / "r0", tmp_path / "r1"
    cwd0.mkdir(), cwd1.mkdir()
    codes, outs = finish(start_ranks([*flags(csv_file), "-o", "model.npz", "--plot-loss", "loss.png"], [cwd0, cwd1]))
    assert codes == [0, 0], outs
    assert_close(tmp_path / "one.npz", cwd0 / "model.npz")
    assert "model saved to model.npz" in outs[0][0] and "Epoch 6" in outs[0][0]
    assert outs[1][0] == "" and outs[1][1] == ""  # rank 1: silent
    assert list(cwd1.iterdir()) == []  # and wrote nothing (no model, no plot, no run folder)


def test_a_failing_rank_stops_the_others_before_training(tmp_path, csv_file):
    cwd0, cwd1 = tmp_path / "r0", tmp_path / "r1"
    cwd0.mkdir(), cwd1.mkdir()
    (cwd0 / "model.npz").write_text("not mine")  # rank 0 refuses to overwrite it
    t0 = time.monotonic()
    codes, outs = finish(start_ranks([*flags(csv_file), "-o", "model.npz"], [cwd0, cwd1]))
    assert codes == [2, 2], outs
    assert "model.npz" in outs[0][1] and "exists" in outs[0][1]
    assert "another rank stopped before training" in outs[1][1]
    assert "Traceback" not in outs[0][1] + outs[1][1]
    assert time.monotonic() - t0 < 25  # not the 30 s collective timeout
    assert (cwd0 / "model.npz").read_text() == "not mine"


def test_killed_rank_and_rerun_with_resume_ends_as_a_run_left_alone(tmp_path, csv_file):
    epochs = 30
    one_process(csv_file, tmp_path / "one.npz", epochs)
    alone = tmp_path / "alone"
    alone.mkdir()
    codes, outs = finish(start_ranks([*flags(csv_file, epochs), "-q", "-o", "model.npz"], [alone, alone]))
    assert codes == [0, 0], outs

    # The command torchrun --max-restarts would rerun: the run's flags and --resume of its own checkpoint.
    cwd = tmp_path / "run"
    cwd.mkdir()
    command = [*flags(csv_file, epochs), "-q", "-o", "model.npz", "--checkpoint-every", "1", "--resume", "ck.npz"]
    procs = start_ranks(command, [cwd, cwd])
    deadline = time.monotonic() + 120
    while not (cwd / "ck.npz").exists() and procs[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert procs[0].poll() is None, "the run ended before a rank could be killed; make it longer"
    procs[1].send_signal(signal.SIGKILL)  # rank 1 dies mid-run, without a word
    codes, outs = finish(procs)
    assert codes[1] == -signal.SIGKILL
    assert codes[0] == 2, outs[0]
    err = outs[0][1].strip().splitlines()
    assert len(err) == 1 and err[0].startswith("handgrad: error: rank 0") and "Traceback" not in outs[0][1], err
    assert not (cwd / "model.npz").exists()
    from handgrad.modelfile import load_arrays_json

    _, meta = load_arrays_json(cwd / "ck.npz")
    assert 1 <= meta["epoch"] < epochs

    codes, outs = finish(start_ranks(command, [cwd, cwd]))  # the restart
    assert codes == [0, 0], outs
    assert_close(alone / "model.npz", cwd / "model.npz", exact=True)  # the same two ranks: to the bit
    assert_close(tmp_path / "one.npz", cwd / "model.npz")  # one process: to rounding


def test_resume_refuses_a_changed_setting(tmp_path, csv_file):
    cwd = tmp_path
    command = [*flags(csv_file, 2), "-q", "-o", "model.npz", "--checkpoint-every", "1", "--resume", "ck.npz"]
    done = subprocess.run([PY, "-m", "handgrad", "train", *map(str, command)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (cwd / "ck.npz").exists() and (cwd / "model.npz").exists()
    changed = [str(c) for c in command]
    changed[changed.index("--seed") + 1] = "4"
    done = subprocess.run([PY, "-m", "handgrad", "train", *changed, "--force"], cwd=cwd, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "drop --seed" in done.stderr and "--train" not in done.stderr.split("drop")[1]


def test_real_torchrun(tmp_path, csv_file):
    one_process(csv_file, tmp_path / "one.npz")
    cmd = [PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "handgrad", "train", "--distributed", *map(str, flags(csv_file)), "-q", "-o", "model.npz"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("model saved to model.npz") == 1
    assert_close(tmp_path / "one.npz", tmp_path / "model.npz")


def test_two_ranks_streaming_a_file_equal_one_process(tmp_path, csv_file):
    stream = ["--stream", "--chunk-rows", "500", "--cache", "rows.npy"]
    cwd0, cwd1, one = tmp_path / "r0", tmp_path / "r1", tmp_path / "one"
    for d in (cwd0, cwd1, one):
        d.mkdir()
    cmd = [PY, "-m", "handgrad", "train", *map(str, flags(csv_file)), *stream, "-q", "-o", "model.npz"]
    done = subprocess.run(cmd, cwd=one, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    codes, outs = finish(start_ranks([*flags(csv_file), *stream, "-o", "model.npz"], [cwd0, cwd1]))
    assert codes == [0, 0], outs
    assert "streaming" in outs[0][0] and outs[1][0] == ""
    assert_close(one / "model.npz", cwd0 / "model.npz")
    assert sorted(p.name for p in cwd1.iterdir()) == ["rows.rank1.npy"]  # its own cache, and no model


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_epoch_with_a_checkpoint(tmp_path, csv_file):
    epochs = 30
    alone = tmp_path / "alone"
    alone.mkdir()
    codes, outs = finish(start_ranks([*flags(csv_file, epochs), "-q", "-o", "model.npz"], [alone, alone]))
    assert codes == [0, 0], outs
    cwd = tmp_path / "run"
    cwd.mkdir()
    command = [*flags(csv_file, epochs), "-q", "-o", "model.npz", "--checkpoint", "ck.npz", "--checkpoint-every", "5"]
    procs = start_ranks(command, [cwd, cwd])
    deadline = time.monotonic() + 120
    while not (cwd / "ck.npz").exists() and procs[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert procs[0].poll() is None, "the run ended before the signal; make it longer"
    procs[1].send_signal(signal.SIGTERM)  # only rank 1 is told to stop
    codes, outs = finish(procs)
    assert codes == [143, 143], outs
    assert "checkpoint written to" in outs[0][1] and "resume with" in outs[0][1]
    assert outs[1][1].count("\n") <= 1  # rank 1: at most StopRequest's line
    assert not (cwd / "model.npz").exists()
    codes, outs = finish(start_ranks(["--resume", "ck.npz", "-q"], [cwd, cwd]))
    assert codes == [0, 0], outs
    assert_close(alone / "model.npz", cwd / "model.npz", exact=True)


def test_distributed_without_torchrun_is_a_one_line_error(tmp_path, csv_file):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    cmd = [PY, "-m", "handgrad", "train", "--distributed", *map(str, flags(csv_file)), "-o", "m.npz"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("handgrad: error: --distributed needs the environment torchrun sets")
    assert "torchrun --nproc-per-node" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([*cmd, "--dist-timeout", "0"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "--dist-timeout must be a positive number" in done.stderr
