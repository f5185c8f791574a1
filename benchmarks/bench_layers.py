"""Time one training epoch of the layer types (issue 14): handgrad's LayerStack vs PyTorch (CPU).

The models (the same architecture on both sides; the data of ``benchmarks/layers_quality.py``):

* **digits CNN two-layer**: ``conv(16,3x3,pad=1)-relu-conv(32,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.3)-dense(10)``
  (the one ``docs/results.md``'s tuning chose), on the same images;
* **digits CNN**: ``conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.2)-dense(10)`` on
  the 1,347 training images of scikit-learn's digits (``1x8x8``, pixels / 16), softmax
  cross-entropy. PyTorch: ``nn.Sequential(Conv2d(1, 8, 3, padding=1), ReLU, MaxPool2d(2), Flatten,
  Linear(128, 64), ReLU, Dropout(0.2), Linear(64, 10))``, ``CrossEntropyLoss``.
* **digits LSTM**: ``lstm(32)-dense(10)`` on the same images as 8 steps of 8 pixels (``8x8``).
  PyTorch: ``nn.LSTM(8, 32, batch_first=True)``, its last step's output into ``Linear(32, 10)``.
* **sine RNN / LSTM**: ``rnn(32)-dense(1)`` / ``lstm(32)-dense(1)`` on the 1,780 training windows
  of the noisy sine (``20x1``: 20 steps of 1 value), MSE. PyTorch: ``nn.RNN(1, 32, batch_first=True)``
  (tanh) / ``nn.LSTM(1, 32, batch_first=True)``, the last step's output into ``Linear(32, 1)``.

``--cnn-filters 16`` / ``--lstm-units 64`` (repeatable) add the digits CNN / LSTM of that width.

What one "epoch" is, for each contender: one pass over the training rows in a fixed order
(no shuffling), batches of B rows, each batch's gradient the mean over its rows, one Adam update
(lr 1e-3) per batch, in training mode (dropout active):

* **handgrad**: ``train(stack, X, Y, loss=..., optimizer="adam", epochs=1, batch_size=B,
  shuffle=False, clip_norm=None)`` on a ``LayerStack`` — the public call, including its input
  checks, its buffers and the history entry; ``blas_threads="auto"`` (its default: one BLAS thread
  for these small products). The optimizer (and its moments) is made by each call.
* **PyTorch**: the model above, ``torch.optim.Adam(lr=1e-3)``; a Python loop over batches pre-sliced
  into a list of tensors: ``zero_grad(); loss(model(x), y).backward(); step()``. float32 and
  float64; ``torch.set_num_threads`` left at its default (printed), and again with 1 thread.

All cases of one model and batch size run interleaved (one call of each per round, the order
rotated: ``benchmarks/_timing.py``), medians over the rounds; ratios ``PyTorch / handgrad`` in the
same dtype (above 1: handgrad is faster). The process CPU time of each call (all threads) is shown too:
on a shared machine it does not count waiting for a free core (but it counts threads spinning).

Run from the repository root::

    nice python benchmarks/bench_layers.py --rounds 9 --markdown speed.md

``--profile MODEL`` instead runs ``cProfile`` over handgrad's epochs of one model (float64, batch 32)
and prints the hot spots.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleave, torch_epoch
from layers_quality import digits, sine

LR = 1e-3


def models(cnn_filters: list[int], lstm_units: list[int] = ()) -> dict[str, dict]:
    """name -> the handgrad specification, input shape, task and the data."""
    Xd, _, yd, _ = digits()
    Xd = Xd / 16.0
    Xs, _, ys, _, _ = sine()
    out = {}
    for f in [8, *[f for f in cnn_filters if f != 8]]:
        out[f"digits CNN conv({f})"] = dict(
            spec=f"conv({f},3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.2)-dense(10)",
            shape=(1, 8, 8), task="classification", X=Xd, y=yd, filters=f,
        )  # fmt: skip
    # the two-layer CNN that docs/results.md's tuning chose
    out["digits CNN two-layer"] = dict(
        spec="conv(16,3x3,pad=1)-relu-conv(32,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.3)-dense(10)",
        shape=(1, 8, 8), task="classification", X=Xd, y=yd, two_layer=True,
    )  # fmt: skip
    for n in [32, *[n for n in lstm_units if n != 32]]:
        out[f"digits LSTM lstm({n})"] = dict(
            spec=f"lstm({n})-dense(10)", shape=(8, 8), task="classification", X=Xd, y=yd, units=n
        )
    out["sine RNN rnn(32)"] = dict(spec="rnn(32)-dense(1)", shape=(20, 1), task="regression", X=Xs, y=ys, units=32)
    out["sine LSTM lstm(32)"] = dict(spec="lstm(32)-dense(1)", shape=(20, 1), task="regression", X=Xs, y=ys, units=32)
    return out


def targets(m: dict) -> np.ndarray:
    if m["task"] == "classification":
        return np.eye(10)[m["y"]]
    return m["y"].reshape(-1, 1)


def handgrad_case(m: dict, batch_size: int, dtype=np.float64):
    from handgrad.layers import LayerStack
    from handgrad.training import train

    stack = LayerStack(m["spec"], m["shape"], random_state=0, dtype=dtype)
    X, Y = m["X"].astype(dtype), targets(m).astype(dtype)
    loss = "softmax_crossentropy" if m["task"] == "classification" else "mse"

    def run():
        train(stack, X, Y, loss=loss, optimizer="adam", lr=LR, epochs=1, batch_size=batch_size, shuffle=False,
              progress=False, clip_norm=None)  # fmt: skip

    return run


def torch_model(m: dict):
    import torch
    from torch import nn

    if m.get("two_layer"):
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10),
        )  # fmt: skip
    if "filters" in m:
        f = m["filters"]
        return nn.Sequential(
            nn.Conv2d(1, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(f * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10),
        )  # fmt: skip

    F = m["shape"][1]
    n_out = 10 if m["task"] == "classification" else 1
    cell = nn.RNN if m["spec"].startswith("rnn") else nn.LSTM

    class Last(nn.Module):
        def __init__(self):
            super().__init__()
            self.rec = cell(F, m["units"], batch_first=True)
            self.out = nn.Linear(m["units"], n_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.rec(x)
            return self.out(h[:, -1])

    return Last()


def torch_case(m: dict, batch_size: int, dtype_name: str, threads: int | None = None):
    import torch

    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    model = torch_model(m).to(dtype).train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    Xt = torch.tensor(m["X"], dtype=dtype).reshape(-1, *m["shape"])
    if m["task"] == "classification":
        yt = torch.tensor(m["y"], dtype=torch.long)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        yt = torch.tensor(m["y"].reshape(-1, 1), dtype=dtype)
        loss_fn = torch.nn.MSELoss()
    return torch_epoch(model, opt, loss_fn, Xt, yt, batch_size, threads)


def machine() -> list[str]:
    import torch

    lines = []
    try:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"
        )
    except OSError:
        cpu = platform.processor() or platform.machine()
    lines.append(f"CPU: {cpu}, nproc = {os.cpu_count()} (os.sched_getaffinity: {len(os.sched_getaffinity(0))})")
    lines.append(f"Python {platform.python_version()}, NumPy {np.__version__}, PyTorch {torch.__version__} "
                 f"(torch.get_num_threads() = {torch.get_num_threads()})")  # fmt: skip
    try:
        lines.append(f"Load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    except OSError:
        pass
    return lines


def profile(m: dict, batch_size: int, epochs: int, top: int) -> str:
    run = handgrad_case(m, batch_size)
    run()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(epochs):
        run()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--models", nargs="+", help="names (or unique prefixes) of the models to time")
    parser.add_argument("--cnn-filters", type=int, action="append", default=[], help="also time this CNN width")
    parser.add_argument("--lstm-units", type=int, action="append", default=[], help="also time this digits LSTM width")
    parser.add_argument(
        "--torch-threads",
        nargs="+",
        default=["default", "1"],
        help="PyTorch's thread counts to time ('default': torch.get_num_threads() as it is); default: default 1",
    )
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    parser.add_argument("--profile", metavar="MODEL", help="profile handgrad's epoch of this model instead")
    parser.add_argument("--profile-epochs", type=int, default=5)
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before timing: its thread pool is created once)

    all_models = models(args.cnn_filters, args.lstm_units)

    def pick(prefix: str) -> str:
        found = [name for name in all_models if name.startswith(prefix)]
        if len(found) != 1:
            sys.exit(f"--models/--profile {prefix!r} names {found or 'no model'}; the models: {list(all_models)}")
        return found[0]

    if args.profile:
        name = pick(args.profile)
        print(f"{name}, float64, batch {args.batch_sizes[0]}, {args.profile_epochs} epochs:")
        print(profile(all_models[name], args.batch_sizes[0], args.profile_epochs, 25))
        return 0

    chosen = [pick(p) for p in args.models] if args.models else list(all_models)
    header = machine()
    rows = []
    for name in chosen:
        m = all_models[name]
        for B in args.batch_sizes:
            cases = {
                "handgrad float64": handgrad_case(m, B),
                "handgrad float32": handgrad_case(m, B, np.float32),
            }
            for threads in args.torch_threads:
                for dt in ("float64", "float32"):
                    if threads == "default":
                        cases[f"PyTorch {dt}"] = torch_case(m, B, dt)
                    else:
                        n = int(threads)
                        cases[f"PyTorch {dt}, {n} thread{'s' * (n > 1)}"] = torch_case(m, B, dt, threads=n)
            samples: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}
            med = interleave(cases, rounds=args.rounds, warmup=2, samples=samples, cpu_samples=cpu)
            for case, t in med.items():
                ref = "handgrad float32" if "float32" in case else "handgrad float64"
                lo, hi = min(samples[case]), max(samples[case])
                rows.append(
                    (name, B, case, t * 1e3, lo * 1e3, hi * 1e3, t / med[ref], statistics.median(cpu[case]) * 1e3)
                )
            print(f"{name}, batch {B} done", file=sys.stderr, flush=True)

    lines = [
        "| model | batch | implementation | median ms / epoch | min – max ms | PyTorch ÷ handgrad (same dtype) "
        "| median CPU ms (all threads) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, B, case, ms, lo, hi, ratio, cpu_ms in rows:
        shown = "" if case.startswith("handgrad") else f"{ratio:.2f}×"
        lines.append(f"| {name} | {B} | {case} | {ms:.1f} | {lo:.1f} – {hi:.1f} | {shown} | {cpu_ms:.1f} |")
    head = f"Rounds: {args.rounds} (after 2 untimed), interleaved; wall-clock time."
    text = "\n".join(["Machine:", *[f"- {line}" for line in header], "", head, "", *lines])
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
