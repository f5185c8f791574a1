"""One rank of a data-parallel run for tests/test_distributed.py (run as a subprocess).

Usage: python distributed_worker.py OUT.npz CASE [DIE_AT_EPOCH]
The environment carries RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT as torchrun sets them.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from handgrad import Network
from handgrad.data.cache import RowCache
from handgrad.errors import HandgradError
from handgrad.training import Callback, train
from handgrad.training.distributed import DataParallel

CASES = {
    # name: (n_rows, layer sizes, train() keywords)
    "sgd": (203, [5, 16, 8, 1], {"optimizer": "sgd", "lr": 0.02, "batch_size": 16, "shuffle": False}),
    "adam_shuffled": (203, [5, 12, 3], {"optimizer": "adam", "lr": 0.01, "batch_size": 32, "random_state": 3}),
    "tiny_last_batch": (97, [5, 7, 1], {"optimizer": "momentum", "lr": 0.01, "batch_size": 16, "random_state": 0}),
    "weighted_l2": (150, [5, 9, 1], {"optimizer": "adam", "batch_size": 20, "weight_decay": 1e-3, "random_state": 1}),
    "bce": (160, [5, 6, 1], {"optimizer": "adamw", "batch_size": 25, "loss": "binary_crossentropy", "random_state": 2}),
    # rows on disk (a RowCache read in chunks of 48 rows, shuffled chunk by chunk), every rank reading every chunk
    "streamed": (203, [5, 12, 1], {"optimizer": "adam", "batch_size": 16, "random_state": 4, "cache": True}),
}


def data(case: str):
    n, sizes, kw = CASES[case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0]))
    Y = np.tanh(X @ rng.standard_normal((sizes[0], sizes[-1]))) + 0.1 * rng.standard_normal((n, sizes[-1]))
    if kw.get("loss") == "binary_crossentropy":
        Y = (Y > 0).astype(float)
    w = rng.uniform(0.5, 2.0, n) if case == "weighted_l2" else None
    return X, Y, w, sizes, dict(kw)


def run(case: str, distributed=None, epochs: int = 4, callbacks=()):
    X, Y, w, sizes, kw = data(case)
    net = Network(sizes, activation="tanh" if case == "bce" else "relu", random_state=1)
    with tempfile.TemporaryDirectory() as tmp:
        if kw.pop("cache", False):
            X, Y = RowCache.write([(X, Y)], Path(tmp) / "rows.npy"), None
            X.chunk_rows = 48
        hist = train(net, X, Y, epochs=epochs, sample_weight=w, progress=False, distributed=distributed,
                     callbacks=list(callbacks), **kw)  # fmt: skip
    return net, hist


class Die(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            os._exit(3)  # a rank that dies without a word


if __name__ == "__main__":
    out, case = sys.argv[1], sys.argv[2]
    die = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    dp = DataParallel.from_environment(timeout=20)
    callbacks = [Die(die)] if die and dp.rank == 1 else []
    try:
        net, hist = run(case, dp, epochs=6 if die else 4, callbacks=callbacks)
    except HandgradError as exc:
        print(f"handgrad: error: {exc}", file=sys.stderr)
        os._exit(2)  # NOTE: not sys.exit: the process group's teardown would wait for the dead rank
    dp.close()
    np.savez(out, theta=net.theta, train_loss=np.array([e["train_loss"] for e in hist.epochs]))
