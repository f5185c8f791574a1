"""Time one training epoch of the seed's workload: handgrad vs scikit-learn vs PyTorch (CPU).

The workload (the seed's experiment): ``train_house.csv`` (10,000 rows × 37
features, the dummy column included), a 37-128-64-1 ReLU network, MSE, plain
mini-batch SGD with learning rate 1e-4, batches in file order (no shuffling),
batch size 32 (and 256).

What one "epoch" is, for each contender (every one a single pass over the
10,000 rows in file order, each mini-batch's gradient the mean over its rows):

* **handgrad**: ``train(net, X, y, optimizer="sgd", lr=1e-4, epochs=1,
  batch_size=B, shuffle=False)`` — the public call, including its input checks,
  its buffer allocation and the history entry (no validation set). It takes the
  one training step (``handgrad.training.step``) that serves every optimizer; the
  rows "Adam" time the same epoch with Adam (lr 1e-3), with and without L2.
* **scikit-learn**: ``MLPRegressor(solver="sgd", momentum=0, batch_size=B,
  learning_rate_init=1e-4, shuffle=False, alpha=0).partial_fit(X, y)`` on an
  already initialised model: exactly one epoch, with no validation split
  (``early_stopping=False``) — but with sklearn's own per-call input checks, as
  handgrad's call has its own. (A 1-iteration ``fit`` would add the weight
  initialisation and a ConvergenceWarning.)
* **PyTorch**: ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)``,
  ``torch.optim.SGD(lr=1e-4)``, ``nn.MSELoss()``; a Python loop over batches
  pre-sliced into a list of tensors: ``zero_grad(); loss(model(x), y).backward();
  step()``. float32 and float64. ``torch.set_num_threads`` is left at its default
  (printed below).

scikit-learn float32: the same model given float32 data (recent scikit-learn keeps
float32 input in float32: its weights and activations then are float32 too).

All cases run interleaved (one call of each per round, the order rotated),
medians over the rounds, ratios ``other / handgrad``.

Run from the repository root (the OpenBLAS tuning variables some machines set
are removed for this command only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_epoch.py --rounds 15

``--markdown FILE`` also writes the table and the machine description to FILE.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleave, torch_epoch

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))
SIZES = [37, 128, 64, 1]
LR = 1e-4


def load_house() -> tuple[np.ndarray, np.ndarray]:
    path = DATA / "house" / "train_house.csv"
    if not path.is_file():
        sys.exit(f"the seed's data are not at {path} (set HANDGRAD_DATA)")
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    return np.ascontiguousarray(rows[:, :37]), rows[:, 37].copy()


def seed_init(seed: int = 0):
    """The seed's initialisation: randn weights, zero biases (shared by every contender)."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((n_out, n_in)) for n_in, n_out in itertools.pairwise(SIZES)]
    bs = [np.zeros(n) for n in SIZES[1:]]
    return Ws, bs


def handgrad_case(
    X, y, batch_size, dtype=np.float64, blas_threads="auto", optimizer="sgd", weight_decay=0.0, engine="numpy"
):
    """``blas_threads="auto"`` is train()'s default (one BLAS thread for these small
    products); None leaves NumPy's BLAS at its default thread count.

    ``optimizer="adam"`` (lr 1e-3; ``weight_decay`` its L2) times the same epoch with
    the estimators' optimizer: the one training step (``handgrad.training.step``) serves
    every optimizer, so its cost beyond SGD's is the optimizer's own update."""
    from handgrad import Network
    from handgrad.training import train

    Ws, bs = seed_init()
    net = Network.from_arrays(Ws, bs, activation="relu", dtype=dtype)
    X, y = X.astype(dtype), y.astype(dtype)
    lr = LR if optimizer == "sgd" else 1e-3

    def run():
        train(net, X, y, optimizer=optimizer, lr=lr, weight_decay=weight_decay, epochs=1, batch_size=batch_size,
              shuffle=False, progress=False, blas_threads=blas_threads, engine=engine)  # fmt: skip

    return run


def sklearn_case(X, y, batch_size, blas_threads=None, dtype=np.float64):
    """scikit-learn keeps float32 input in float32 (its weights and activations too)."""
    from sklearn.neural_network import MLPRegressor

    X, y = X.astype(dtype), y.astype(dtype)
    model = MLPRegressor(
        hidden_layer_sizes=tuple(SIZES[1:-1]),
        activation="relu",
        solver="sgd",
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=batch_size,
        learning_rate_init=LR,
        learning_rate="constant",
        max_iter=1,
        shuffle=False,
        alpha=0.0,
        early_stopping=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y)  # initialises; then the seed's weights (sklearn stores W_lᵀ)
    Ws, bs = seed_init()
    # NOTE: C-ordered copies, as sklearn makes its own weights: a transposed view (or
    # W.T.astype, which keeps the view's F order) slows its products by a third.
    model.coefs_ = [np.ascontiguousarray(W.T, dtype=dtype) for W in Ws]
    model.intercepts_ = [b.astype(dtype) for b in bs]
    if blas_threads is None:
        return lambda: model.partial_fit(X, y)
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()  # made once: threadpool_limits() would rescan the libraries each call

    def run_limited():
        with controller.limit(limits=blas_threads, user_api="blas"):
            model.partial_fit(X, y)

    return run_limited


def torch_case(X, y, batch_size, dtype_name, threads=None):
    import torch

    dtype = getattr(torch, dtype_name)
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dtype)
    Ws, bs = seed_init()
    with torch.no_grad():
        for layer, W, b in zip([m for m in model if isinstance(m, torch.nn.Linear)], Ws, bs):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.MSELoss()
    Xt = torch.tensor(X, dtype=dtype)
    yt = torch.tensor(y.reshape(-1, 1), dtype=dtype)
    return torch_epoch(model, opt, loss_fn, Xt, yt, batch_size, threads)


def numpy_floor_case(X, y, batch_size):
    """The least NumPy work this step can be: a lower bound for any NumPy implementation.

    Hand-unrolled for 37-128-64-1 ReLU/MSE/SGD, with the biases folded into the
    products (``[W_l | b_l] [a_{l-1}; 1]``, and ``[dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ``)
    and all parameters in one flat array, so the update is two whole-array calls:
    20 NumPy calls per step, no Python structure. Not a usable trainer (no checks,
    fixed shapes): it shows how far handgrad's general step is from the floor.
    """
    Ws, bs = seed_init()
    total = sum(W.size + b.size for W, b in zip(Ws, bs))
    P, G, D = np.zeros(total), np.zeros(total), np.empty(total)
    Wa, Ga, off = [], [], 0
    for W, b in zip(Ws, bs):
        n, m = W.shape
        Wa.append(P[off : off + n * (m + 1)].reshape(n, m + 1))
        Ga.append(G[off : off + n * (m + 1)].reshape(n, m + 1))
        Wa[-1][:, :m], Wa[-1][:, m] = W, b
        off += n * (m + 1)
    WT = [W[:, :-1].T for W in Wa]
    Xa = np.ascontiguousarray(np.c_[X, np.ones(len(X))])
    Y = y.reshape(-1, 1)
    batches = [(Xa[i : i + batch_size].T, Y[i : i + batch_size].T) for i in range(0, len(X), batch_size)]
    bufs = {}
    for N in {A.shape[1] for A, _ in batches}:
        a1, a2 = np.empty((129, N)), np.empty((65, N))
        a1[128], a2[64] = 1.0, 1.0
        bufs[N] = (np.empty((128, N)), a1, np.empty((64, N)), a2, np.empty((1, N)), np.empty((128, N)), np.empty((64, N)), np.empty((1, N)))  # fmt: skip

    def run():
        for A0, Yb in batches:
            N = A0.shape[1]
            z1, a1, z2, a2, z3, d1, d2, d3 = bufs[N]
            np.dot(Wa[0], A0, out=z1)
            np.maximum(z1, 0.0, out=a1[:-1])
            np.dot(Wa[1], a1, out=z2)
            np.maximum(z2, 0.0, out=a2[:-1])
            np.dot(Wa[2], a2, out=z3)
            np.subtract(z3, Yb, out=d3)
            float(np.vdot(d3, d3))
            np.multiply(d3, 2.0 / N, out=d3)
            np.dot(d3, a2.T, out=Ga[2])
            np.dot(WT[2], d3, out=d2)
            np.multiply(d2, a2[:-1] > 0, out=d2)
            np.dot(d2, a1.T, out=Ga[1])
            np.dot(WT[1], d2, out=d1)
            np.multiply(d1, a1[:-1] > 0, out=d1)
            np.dot(d1, A0.T, out=Ga[0])
            float(np.dot(G, G))
            np.multiply(G, LR, out=D)
            np.subtract(P, D, out=P)

    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()

    def run_one_thread():
        with controller.limit(limits=1, user_api="blas"):
            run()

    return run_one_thread


def machine() -> list[str]:
    import sklearn
    import threadpoolctl
    import torch

    lines = []
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        lines.append(f"CPU: {info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} logical CPUs")
    except OSError:
        lines.append(f"CPU: {platform.processor() or platform.machine()}")
    lines.append(f"Python {platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}, "
                 f"PyTorch {torch.__version__} (torch.get_num_threads() = {torch.get_num_threads()})")  # fmt: skip
    for pool in threadpoolctl.threadpool_info():
        lines.append(
            f"BLAS ({pool.get('prefix')}): {pool.get('internal_api')} {pool.get('version')}, "
            f"{pool.get('architecture', '')}, {pool.get('num_threads')} threads, {pool.get('filepath', '').rsplit('/', 1)[-1]}"
        )
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ}
    lines.append(f"Environment: {env or 'no OPENBLAS_*/OMP_* variables set'}")
    try:
        lines.append(f"Load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    except OSError:
        pass
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    parser.add_argument(
        "--numpy-floor", action="store_true", help="also time a hand-unrolled minimal NumPy step (float64, 1 thread)"
    )
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before timing: its thread pool is created once)

    X, y = load_house()
    header = machine()
    rows = []
    for B in args.batch_sizes:
        cases = {
            "handgrad float64": handgrad_case(X, y, B),
            "handgrad float64, Adam": handgrad_case(X, y, B, optimizer="adam"),
            "handgrad float64, Adam + L2 3e-3": handgrad_case(X, y, B, optimizer="adam", weight_decay=3e-3),
            "handgrad float64, compiled epoch": handgrad_case(X, y, B, engine="compiled"),
            "handgrad float64, compiled epoch, Adam": handgrad_case(X, y, B, optimizer="adam", engine="compiled"),
            "handgrad float64, BLAS default threads": handgrad_case(X, y, B, blas_threads=None),
            "handgrad float32": handgrad_case(X, y, B, dtype=np.float32),
            "scikit-learn float64": sklearn_case(X, y, B),
            "scikit-learn float64, BLAS 1 thread": sklearn_case(X, y, B, blas_threads=1),
            "scikit-learn float32": sklearn_case(X, y, B, dtype=np.float32),
            "PyTorch float32": torch_case(X, y, B, "float32"),
            "PyTorch float64": torch_case(X, y, B, "float64"),
            "PyTorch float32, 1 thread": torch_case(X, y, B, "float32", threads=1),
            "PyTorch float64, 1 thread": torch_case(X, y, B, "float64", threads=1),
        }
        if args.numpy_floor:
            cases["NumPy floor (hand-unrolled step, not a trainer)"] = numpy_floor_case(X, y, B)
        samples: dict[str, list[float]] = {}
        med = interleave(cases, rounds=args.rounds, warmup=2, samples=samples)
        for name, t in med.items():
            ref = "handgrad float32" if "float32" in name else "handgrad float64"
            rows.append((B, name, t * 1e3, min(samples[name]) * 1e3, max(samples[name]) * 1e3, t / med[ref]))
        print(f"batch {B} done", file=sys.stderr)

    lines = [
        "| batch | implementation | median ms / epoch | min – max ms | median ÷ handgrad (same dtype) |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for B, name, ms, lo, hi, ratio in rows:
        lines.append(f"| {B} | {name} | {ms:.1f} | {lo:.1f} – {hi:.1f} | {ratio:.2f}× |")
    table = "\n".join(lines)
    head = f"Rounds: {args.rounds}, interleaved; wall-clock time. Ratios compare with handgrad in the same dtype."
    text = "\n".join(["Machine:", *[f"- {line}" for line in header], "", head, "", table])
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
