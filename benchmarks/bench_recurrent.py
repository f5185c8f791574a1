"""Forward + backward per epoch of the recurrent layers against PyTorch on CPU (same model, same batches).

Two models, as issue 14 asks:

* ``lstm(32)-dense(10)`` on scikit-learn's 8×8 digits read as sequences of 8 rows of 8 pixels
  (T=8, F=8), the 1437 training rows of an 80 % split, batch 64, softmax cross-entropy;
* ``rnn(32)-dense(1)`` on next-step prediction of a noisy sine over a window of 20 steps
  (T=20, F=1), 1437 windows, batch 64, squared error.

Each "epoch" is forward + loss + backward over every batch (no optimizer step on either side),
handgrad's :meth:`LayerStack.train_batch` against ``nn.LSTM``/``nn.RNN`` + ``nn.Linear`` with
autograd, in float64 and float32, timed interleaved (``_timing.interleave``), medians.
Both run on one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) unless
``--threads`` says otherwise.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_recurrent.py
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleave
from handgrad.layers import LayerStack
from handgrad.losses import get_loss


def digits_sequences():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:1437] / 16.0  # 8 rows of 8 pixels per image: T = 8 steps of F = 8 features
    return X, np.eye(10)[y[:1437]]


def sine_windows(T=20, n=1437, seed=0):
    rng = np.random.default_rng(seed)
    s = np.sin(0.3 * np.arange(n + T + 1)) + 0.1 * rng.normal(size=n + T + 1)
    X = np.stack([s[i : i + T] for i in range(n)])  # (n, T): T steps of 1 feature
    return X, s[T : T + n, None]


def handgrad_epoch(net, X, Y, loss, batch):
    A0 = np.ascontiguousarray(X.T)
    Yc = np.ascontiguousarray(Y.T)
    grad = np.zeros(net.layout.size, net.dtype)
    batches = [(A0[:, i : i + batch], Yc[:, i : i + batch]) for i in range(0, X.shape[0], batch)]

    def run():
        for a, y in batches:
            net.train_batch(a, y, None, loss, None, 1.0, grad)

    return run


def torch_epoch(kind, n_units, T, F, n_out, X, Y, dtype, batch, classify):
    import torch

    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.RNN
    rnn = cls(F, n_units).to(dtype)
    head = torch.nn.Linear(n_units, n_out).to(dtype)
    Xt = torch.from_numpy(X.reshape(-1, T, F).transpose(1, 0, 2).copy()).to(dtype)  # (T, N, F)
    Yt = torch.from_numpy(Y.argmax(1) if classify else Y).to(dtype if not classify else torch.long)
    batches = [(Xt[:, i : i + batch], Yt[i : i + batch]) for i in range(0, X.shape[0], batch)]
    params = list(rnn.parameters()) + list(head.parameters())
    lossf = torch.nn.functional.cross_entropy if classify else torch.nn.functional.mse_loss

    def run():
        for x, y in batches:
            for p in params:
                p.grad = None
            seq, _ = rnn(x)
            J = lossf(head(seq[-1]), y)
            J.backward()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cases = {}
    for name, kind, (X, Y), T, F, n_out, loss, classify in [
        ("lstm(32)-dense(10) digits 8x8", "lstm", digits_sequences(), 8, 8, 10, "softmax_crossentropy", True),
        ("rnn(32)-dense(1) sine window 20", "rnn", sine_windows(), 20, 1, 1, "mse", False),
    ]:
        for dt, tdt in [(np.float64, torch.float64), (np.float32, torch.float32)]:
            net = LayerStack(f"{kind}(32)-dense({n_out})", (T, F), random_state=0, dtype=dt)
            Xd, Yd = X.astype(dt), Y.astype(dt)
            bits = np.dtype(dt).itemsize * 8
            cases[f"{name} f{bits} handgrad"] = handgrad_epoch(net, Xd, Yd, get_loss(loss), args.batch)
            cases[f"{name} f{bits} torch"] = torch_epoch(kind, 32, T, F, n_out, Xd, Yd, tdt, args.batch, classify)
    medians = interleave(cases, rounds=args.rounds, warmup=2)
    print(f"numpy {np.__version__}, torch {torch.__version__}, threads {args.threads}, batch {args.batch}")
    print(f"{'case':<45} {'ms/epoch':>9} {'torch/handgrad':>15}")
    for key, seconds in medians.items():
        ratio = ""
        if key.endswith("handgrad"):
            ratio = f"{medians[key[: -len('handgrad')] + 'torch'] / seconds:.2f}x"
        print(f"{key:<45} {1e3 * seconds:9.2f} {ratio:>15}")


if __name__ == "__main__":
    main()
