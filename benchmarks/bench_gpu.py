"""Time per epoch on a GPU: handgrad's engine on PyTorch (``train(device="cuda")``) vs PyTorch's own eager loop.

The workload: the house data (``train_house.csv``, 10,000 rows × 37 features,
standardised, target standardised), MSE, batches in file order, and two networks:

* ``seed``: the seed's 37-128-64-1 (ReLU);
* ``wide``: 37-512-512-512-1 (ReLU),

at batch sizes 32, 256 and 4096, with the same optimizer on both sides (``--optimizer``:
``sgd`` lr 1e-3 or ``adam`` lr 1e-3), float32 by default (``--dtype float64`` too).

What one epoch is, for each contender (``--epochs`` epochs per timed call, divided):

* **handgrad**: ``train(net, X, y, device=DEVICE, optimizer=..., batch_size=B, shuffle=False,
  epochs=E)`` — the public call: it checks the data on the host, copies them to the device
  once, copies θ there, runs the engine (:mod:`handgrad.backprop` through
  :mod:`handgrad.backend`'s PyTorch primitives: the bias folded into each product, one flat
  parameter buffer, buffers allocated once, the batch losses read once per epoch) and copies θ
  back at each epoch's end.
* **handgrad step**: the engine alone, :meth:`handgrad.training.step.Step.run_epoch` on
  buffers already on the device (what ``train`` runs inside), synchronised at the end.
* **torch eager**: ``nn.Sequential(Linear, ReLU, ..., Linear)``, ``torch.optim.SGD`` /
  ``torch.optim.Adam`` (PyTorch's default implementation: foreach on CUDA), ``nn.MSELoss()``;
  a Python loop over batches pre-sliced on the device: ``zero_grad(); loss(model(x), y).backward();
  step()``, ``torch.cuda.synchronize()`` at the end of the call.

All cases run interleaved (one call of each per round, the order rotated), medians over the
rounds, and the ratio ``torch eager / handgrad`` (above 1: handgrad is faster).

Run on a machine with a GPU, from the repository root::

    python benchmarks/bench_gpu.py --device cuda --rounds 7 --markdown gpu.md

It also runs on the CPU (``--device cpu``: PyTorch's CPU tensors on both sides), which the
tests use with tiny settings (``--rows 300 --batches 32 --rounds 1 --epochs 1``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleave

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))
NETWORKS = {"seed": [37, 128, 64, 1], "wide": [37, 512, 512, 512, 1]}
LR = {"sgd": 1e-3, "adam": 1e-3}


def load_house(rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The house data, standardised (features and target), the first ``rows`` rows."""
    path = DATA / "house" / "train_house.csv"
    if not path.is_file():
        sys.exit(f"the seed's data are not at {path} (set HANDGRAD_DATA)")
    d = np.loadtxt(path, delimiter=",", skiprows=1)[:rows]
    X, y = d[:, :37], d[:, 37]
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return np.ascontiguousarray(X), (y - y.mean()) / y.std()


def _sync(device):
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def handgrad_case(X, y, sizes, batch_size, optimizer, dtype, device, epochs):
    """The public call: train(..., device=DEVICE)."""
    from handgrad import Network
    from handgrad.training import train

    net = Network(sizes, activation="relu", random_state=0, dtype=dtype)
    X, y = X.astype(dtype), y.astype(dtype)
    if device == "cpu":  # torch tensors: PyTorch on the CPU (NumPy input with device="cpu" is NumPy's engine)
        import torch

        X, y = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        train(net, X, y, device=device, optimizer=optimizer, lr=LR[optimizer], epochs=epochs,
              batch_size=batch_size, shuffle=False, progress=False)  # fmt: skip

    return run


def handgrad_step_case(X, y, sizes, batch_size, optimizer, dtype, device, epochs):
    """The engine alone: Step.run_epoch on buffers already on the device."""
    from handgrad import Network, backend
    from handgrad.losses import get_loss
    from handgrad.parameters import BlockParameters
    from handgrad.training.optimizers import get_optimizer
    from handgrad.training.step import Step

    net = Network(sizes, activation="relu", random_state=0, dtype=dtype)
    bk = backend.select(device, like=_torch_cpu())  # PyTorch on the device, also for "cpu"
    params = BlockParameters(bk.asarray(net.theta), net.layout, net.activations)
    opt = get_optimizer(optimizer, net.parameters(), lr=LR[optimizer])
    opt.to_backend(params.theta, bk)
    step = Step(params, get_loss("mse"), opt, X.astype(dtype), y.astype(dtype)[:, None], None, batch_size)

    def run():
        for _ in range(epochs):
            step.run_epoch()
        _sync(device)

    return run


def _torch_cpu():
    import torch

    return torch.zeros(1)


def torch_case(X, y, sizes, batch_size, optimizer, dtype, device, epochs):
    """PyTorch's own eager loop: nn.Sequential + torch.optim on the same device."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    tdt = getattr(torch, np.dtype(dtype).name)
    layers = []
    for i, (m, n) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(m, n))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device=device, dtype=tdt)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=LR[optimizer])
    loss_fn = nn.MSELoss()
    Xd = torch.as_tensor(X, dtype=tdt, device=device)
    yd = torch.as_tensor(y[:, None], dtype=tdt, device=device)
    batches = [(Xd[i : i + batch_size], yd[i : i + batch_size]) for i in range(0, len(X), batch_size)]

    def run():
        for _ in range(epochs):
            for xb, yb in batches:
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                opt.step()
        _sync(device)

    return run


def describe(device) -> str:
    import torch

    where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    if torch.device(device).type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{where}; torch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu (default cuda)")
    p.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    p.add_argument("--batches", nargs="+", type=int, default=[32, 256, 4096])
    p.add_argument("--optimizer", default="sgd", choices=list(LR))
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--epochs", type=int, default=3, help="epochs per timed call (default 3)")
    p.add_argument("--rows", type=int, default=None, help="use the first ROWS rows (default: all 10,000)")
    p.add_argument("--markdown", type=Path, help="also write the table to this file")
    p.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: PyTorch's; CPU runs)")
    args = p.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    X, y = load_house(args.rows)
    dtype = np.dtype(args.dtype)
    lines = [
        f"Time per epoch, house data ({len(X)} rows), MSE, {args.optimizer} lr {LR[args.optimizer]}, {args.dtype}, "
        f"device {args.device}: {describe(args.device)}. Medians of {args.rounds} interleaved rounds of "
        f"{args.epochs} epochs.",
        "",
        "| network | batch | handgrad train() ms | handgrad step ms | torch eager ms | torch / handgrad train() |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    print(lines[0], flush=True)
    for name in args.networks:
        sizes = NETWORKS[name]
        for B in args.batches:
            common = (X, y, sizes, B, args.optimizer, dtype, args.device, args.epochs)
            cases = {
                "handgrad": handgrad_case(*common),
                "handgrad step": handgrad_step_case(*common),
                "torch eager": torch_case(*common),
            }
            med = {k: v / args.epochs * 1e3 for k, v in interleave(cases, rounds=args.rounds).items()}
            row = (
                f"| {name} {'-'.join(map(str, sizes))} | {B} | {med['handgrad']:.2f} | {med['handgrad step']:.2f} | "
                f"{med['torch eager']:.2f} | {med['torch eager'] / med['handgrad']:.2f} |"
            )
            lines.append(row)
            print(row, flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
