"""The compiled epoch against handgrad's NumPy engine, JAX, PyTorch and scikit-learn (CPU).

Workloads (the seed's data: ``train_house.csv``, 10,000 rows × 37 features):

* the seed network 37-128-64-1 (ReLU, MSE, the seed's ``randn`` weights and zero
  biases, the same for every contender), plain SGD with lr 1e-4 and Adam with lr 1e-3,
  batch 32, 256 and 1024, float64 and float32, batches in file order;
* the wide network 37-512-512-512-1 (He-scaled ``randn`` weights: the unscaled ones
  overflow), SGD lr 1e-4, batch 256 (32.4 GFLOP an epoch).

Each measurement is one **fresh process** that imports its library (timed apart: the
"import" column), builds its model, then runs ``--epochs`` epochs, timing each. The figures
count the first epoch (handgrad compiled: loading the compiled kernel from Numba's cache;
JAX: tracing and compiling the epoch), as a user running a script pays it; the libraries'
imports (handgrad with its ``[fast]`` extra, i.e. Numba and SciPy's BLAS; JAX and optax;
PyTorch; scikit-learn) are not, as in issue 10's own table, and the last ratio column
counts them too. Rounds are interleaved (every case once per round, the order rotated) and
the medians over rounds reported. The contenders:

* **handgrad compiled**: ``handgrad.training.train(..., engine="compiled", shuffle=False)``,
  one call (each epoch one Numba call; BLAS threads by train()'s ``blas_threads="auto"``
  rule: one thread when ``max n_l·n_{l-1} × batch < SINGLE_THREAD_WORK``, else the default).
* **handgrad NumPy**: the same call with ``engine="numpy"``.
* **JAX**: ``jax.jit`` of a whole epoch, ``lax.scan`` over the full batches plus the short
  last batch, ``optax.sgd`` / ``optax.adam``; ``jax_enable_x64`` for float64.
* **PyTorch** eager: ``nn.Sequential(Linear, ReLU, ...)``, ``torch.optim.SGD``/``Adam``,
  ``nn.MSELoss``, a Python loop over pre-sliced batches; default threads.
* **scikit-learn**: ``MLPRegressor(solver="sgd"/"adam", alpha=0, shuffle=False, ...)``,
  one ``partial_fit`` per epoch on an initialised model.

``--peak`` measures the machine's matrix-product peak (2 and 1 threads, float64 and float32)
with NumPy's OpenBLAS and with SciPy's (the one Numba's ``np.dot`` calls); ``--compile-cost``
the compiled kernel's first call in a fresh Numba cache (cold) and in a second process (warm).

Run from the repository root; the OpenBLAS variables that some machines set (which pin
OpenBLAS to its Haswell kernels on this AVX-512 CPU) are removed for this command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_compiled.py --rounds 5 --peak --compile-cost

``--quick`` runs a tiny configuration (for testing the script).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HANDGRAD_DATA", REPO.parent / "shared" / "data"))
NETWORKS = {"seed": [37, 128, 64, 1], "wide": [37, 512, 512, 512, 1]}
LR = {"sgd": 1e-4, "adam": 1e-3}
CONTENDERS = ["compiled", "numpy", "jax", "torch", "sklearn"]
LABELS = {
    "compiled": "handgrad compiled",
    "numpy": "handgrad NumPy",
    "jax": "JAX",
    "torch": "PyTorch",
    "sklearn": "scikit-learn",
}


# =========================================================================== the workers (one per process)
def load_house(n_rows: int | None = None):
    path = DATA / "house" / "train_house.csv"
    if not path.is_file():
        sys.exit(f"the seed's data are not at {path} (set HANDGRAD_DATA)")
    rows = np.loadtxt(path, delimiter=",", skiprows=1, max_rows=n_rows)
    return np.ascontiguousarray(rows[:, :37]), rows[:, 37].copy()


def initial_weights(sizes):
    """The seed's randn weights (He-scaled for the wide network), zero biases: every contender's start."""
    rng = np.random.default_rng(0)
    scaled = sizes != NETWORKS["seed"]
    Ws = [rng.standard_normal((o, i)) * (np.sqrt(2.0 / i) if scaled else 1.0) for i, o in itertools.pairwise(sizes)]
    return Ws, [np.zeros(o) for o in sizes[1:]]


def work_compiled(X, y, sizes, dtype, batch, opt_name, epochs):
    return _work_handgrad(X, y, sizes, dtype, batch, opt_name, epochs, "compiled")


def work_numpy(X, y, sizes, dtype, batch, opt_name, epochs):
    return _work_handgrad(X, y, sizes, dtype, batch, opt_name, epochs, "numpy")


def _work_handgrad(X, y, sizes, dtype, batch, opt_name, epochs, engine):
    """``train(engine=...)``, one call, as a user runs it; BLAS threads by train()'s own rule ("auto")."""
    t0 = time.perf_counter()
    from handgrad import Network
    from handgrad.training import compiled, train

    if engine == "compiled":
        compiled.load()  # the [fast] extra's import (Numba, SciPy's BLAS); its cached kernel loads at the first call
    imported = time.perf_counter() - t0

    Ws, bs = initial_weights(sizes)
    net = Network.from_arrays(Ws, bs, activation="relu", dtype=dtype)
    X, Y = X.astype(dtype), y.astype(dtype)
    t0 = time.perf_counter()
    hist = train(net, X, Y, optimizer=opt_name, lr=LR[opt_name], epochs=epochs, batch_size=batch, shuffle=False,
                 progress=False, engine=engine)  # fmt: skip
    total = time.perf_counter() - t0
    times = list(hist["seconds"])
    times[0] += total - sum(times)  # the call's own setup counts in its first epoch
    return imported, times, list(hist["train_loss"])


def work_jax(X, y, sizes, dtype, batch, opt_name, epochs):
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    imported = time.perf_counter() - t0
    if dtype == np.float64:
        jax.config.update("jax_enable_x64", True)

    Ws, bs = initial_weights(sizes)
    params = [(jnp.asarray(W, dtype), jnp.asarray(b, dtype)) for W, b in zip(Ws, bs)]
    opt = optax.sgd(LR[opt_name]) if opt_name == "sgd" else optax.adam(LR[opt_name])
    X, Y = X.astype(dtype), y.astype(dtype).reshape(-1, 1)
    n_full = len(X) // batch
    Xf = jnp.asarray(X[: n_full * batch].reshape(n_full, batch, -1))
    Yf = jnp.asarray(Y[: n_full * batch].reshape(n_full, batch, -1))
    Xr, Yr = jnp.asarray(X[n_full * batch :]), jnp.asarray(Y[n_full * batch :])

    def forward(params, x):
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W.T + b)
        W, b = params[-1]
        return x @ W.T + b

    def loss(params, x, y):  # handgrad's J: mean over samples of the squared error summed over outputs
        r = forward(params, x) - y
        return jnp.mean(jnp.sum(r * r, axis=1))

    def step(carry, batch_xy):
        params, opt_state = carry
        value, g = jax.value_and_grad(loss)(params, *batch_xy)
        updates, opt_state = opt.update(g, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    @jax.jit
    def epoch(params, opt_state, Xf, Yf, Xr, Yr):
        (params, opt_state), values = lax.scan(step, (params, opt_state), (Xf, Yf))
        total = jnp.sum(values) * batch
        if Xr.shape[0]:
            (params, opt_state), value = step((params, opt_state), (Xr, Yr))
            total = total + value * Xr.shape[0]
        return params, opt_state, total

    times, losses = [], []
    t0 = time.perf_counter()
    opt_state = opt.init(params)
    for _ in range(epochs):
        params, opt_state, total = epoch(params, opt_state, Xf, Yf, Xr, Yr)
        losses.append(float(total) / len(X))  # float() waits for the result
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return imported, times, losses


def work_torch(X, y, sizes, dtype, batch, opt_name, epochs):
    t0 = time.perf_counter()
    import torch

    imported = time.perf_counter() - t0

    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(tdtype)
    Ws, bs = initial_weights(sizes)
    with torch.no_grad():
        for layer, W, b in zip([m for m in model if isinstance(m, torch.nn.Linear)], Ws, bs):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    Xt = torch.tensor(X, dtype=tdtype)
    yt = torch.tensor(y.reshape(-1, 1), dtype=tdtype)
    batches = [(Xt[i : i + batch], yt[i : i + batch]) for i in range(0, len(Xt), batch)]
    times, losses = [], []
    t0 = time.perf_counter()
    cls = torch.optim.SGD if opt_name == "sgd" else torch.optim.Adam
    opt = cls(model.parameters(), lr=LR[opt_name])
    loss_fn = torch.nn.MSELoss()
    for _ in range(epochs):
        total = 0.0
        for xb, yb in batches:
            opt.zero_grad()
            value = loss_fn(model(xb), yb)
            value.backward()
            opt.step()
            total += value.item() * len(xb)
        losses.append(total / len(Xt))
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return imported, times, losses


def work_sklearn(X, y, sizes, dtype, batch, opt_name, epochs):
    t0 = time.perf_counter()
    from sklearn.neural_network import MLPRegressor

    imported = time.perf_counter() - t0

    X, y = X.astype(dtype), y.astype(dtype)
    # NOTE: scikit-learn's squared_error is ½ mean (ŷ − y)², whose gradient is half handgrad's (and the
    # others'): SGD gets twice the rate, so that every contender takes the same steps (Adam is scale-free).
    lr = 2 * LR[opt_name] if opt_name == "sgd" else LR[opt_name]
    model = MLPRegressor(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver=opt_name, momentum=0.0,
                         nesterovs_momentum=False, batch_size=batch, learning_rate_init=lr,
                         learning_rate="constant", max_iter=1, shuffle=False, alpha=0.0, early_stopping=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X[:batch], y[:batch])  # initialises (not timed); then the common weights
    Ws, bs = initial_weights(sizes)
    model.coefs_ = [np.ascontiguousarray(W.T, dtype=dtype) for W in Ws]  # sklearn stores W_lᵀ
    model.intercepts_ = [b.astype(dtype) for b in bs]
    del model._optimizer  # a fresh optimizer (Adam's moments at 0), as every contender starts with
    times, losses = [], []
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.partial_fit(X, y)
        losses.append(2 * model.loss_)  # sklearn's squared_error loss is ½ mean (ŷ − y)²
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return imported, times, losses


WORKERS = {
    "compiled": work_compiled,
    "numpy": work_numpy,
    "jax": work_jax,
    "torch": work_torch,
    "sklearn": work_sklearn,
}


def worker_main(spec: dict) -> None:
    X, y = load_house(spec.get("rows"))
    dtype = np.float64 if spec["dtype"] == "float64" else np.float32
    imported, times, losses = WORKERS[spec["contender"]](
        X, y, spec["sizes"], dtype, spec["batch"], spec["opt"], spec["epochs"]
    )
    print(json.dumps({"import": imported, "times": times, "losses": [float(v) for v in losses]}))


# =========================================================================== peak and compilation cost
def peak_main() -> None:
    """GFLOP/s of a large square product, NumPy's BLAS and SciPy's, 2 and 1 threads (best of 5)."""
    import scipy.linalg.blas as sblas
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    n = 3072
    out = {}
    for dtype in (np.float64, np.float32):
        A = np.asfortranarray(np.random.default_rng(0).random((n, n)).astype(dtype))
        gemm = sblas.dgemm if dtype == np.float64 else sblas.sgemm
        for threads in (2, 1):
            with controller.limit(limits=threads, user_api="blas"):
                for lib, fn, args in (("numpy", np.dot, (A, A)), ("scipy", gemm, (1.0, A, A))):
                    fn(*args)
                    best = min(_timed(fn, *args) for _ in range(5))
                    out[f"{lib} {np.dtype(dtype).name} {threads} thread(s)"] = 2 * n**3 / best / 1e9
    print(json.dumps(out))


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def products_main() -> None:
    """µs per product of one seed step at batch 32 (float64, one BLAS thread, CPU time, best of 3):
    Numba's np.dot inside a compiled loop, NumPy's np.dot called from Python, a compiled hand loop."""
    import numba
    from threadpoolctl import ThreadpoolController

    @numba.njit(error_model="numpy")
    def nb_dot(A, B, out, reps):
        for _ in range(reps):
            np.dot(A, B, out)

    @numba.njit(error_model="numpy")
    def hand(A, B, out, reps):
        n, k = A.shape
        m = B.shape[1]
        for _ in range(reps):
            for i in range(n):
                for j in range(m):
                    out[i, j] = 0.0
                for p in range(k):
                    a = A[i, p]
                    for j in range(m):
                        out[i, j] += a * B[p, j]

    def numpy_dots(A, B, C, reps):
        for _ in range(reps):
            np.dot(A, B, C)

    rng = np.random.default_rng(0)
    N = 32
    # (left shape, transposed?, right shape, transposed?): the step's products, as the kernel stores them
    products = {
        "z_1 = [W_1|b_1] [x;1] (128×38 · 38×32)": ((128, 38), False, (N, 38), True),
        "z_2 = [W_2|b_2] [a_1;1] (64×129 · 129×32)": ((64, 129), False, (129, N), False),
        "z_3 = [W_3|b_3] [a_2;1] (1×65 · 65×32)": ((1, 65), False, (65, N), False),
        "[dW_3|db_3] = δ_3 [a_2;1]ᵀ (1×32 · 32×65)": ((1, N), False, (65, N), True),
        "[W_3|b_3]ᵀ δ_3 (65×1 · 1×32)": ((1, 65), True, (1, N), False),
        "[dW_2|db_2] = δ_2 [a_1;1]ᵀ (64×32 · 32×129)": ((64, N), False, (129, N), True),
        "[W_2|b_2]ᵀ δ_2 (129×64 · 64×32)": ((64, 129), True, (64, N), False),
        "[dW_1|db_1] = δ_1 [x;1] (128×32 · 32×38)": ((128, N), False, (N, 38), False),
    }
    out = {}
    controller = None
    for name, (sa, ta, sb, tb) in products.items():
        A = rng.random(sa)
        A = A.T if ta else A
        B = rng.random(sb)
        B = B.T if tb else B
        C = np.empty((A.shape[0], B.shape[1]))
        nb_dot(A, B, C, 1)
        hand(A, B, C, 1)
        if controller is None:
            controller = ThreadpoolController()  # after Numba's first np.dot: SciPy's BLAS is loaded
        reps = 2000
        with controller.limit(limits=1, user_api="blas"):
            res = {}
            for label, fn in (("numba np.dot", nb_dot), ("hand loop", hand), ("NumPy np.dot", numpy_dots)):
                best = float("inf")
                for _ in range(3):
                    t0 = time.process_time()
                    fn(A, B, C, reps)
                    best = min(best, (time.process_time() - t0) / reps * 1e6)
                res[label] = best
        out[name] = res
    print(json.dumps(out))


def compile_cost_main() -> None:
    """Seconds to import Numba and make the first call (float64, then float32) in this process."""
    t0 = time.perf_counter()
    from handgrad.training import compiled

    kernel = compiled.load()
    t_import = time.perf_counter() - t0
    out = {"import_numba_and_load": t_import}
    from handgrad import Network
    from handgrad.losses import get_loss
    from handgrad.training.optimizers import get_optimizer

    for dtype in (np.float64, np.float32):
        net = Network([3, 4, 1], random_state=0, dtype=dtype)
        opt = get_optimizer("sgd", net.parameters(), lr=0.01)
        sizes, acts, lc, oc, hyper = compiled.codes(net, get_loss("mse"), opt)
        theta = compiled.pack(net)
        X, Y = np.ones((5, 3), dtype), np.ones((5, 1), dtype)
        t0 = time.perf_counter()
        kernel(theta, np.empty_like(theta), np.zeros((0, theta.size), dtype), X, Y, np.empty(0, dtype), np.arange(5),
               2, sizes, acts, lc, oc, hyper, 0, 0.01, 0, False)  # fmt: skip
        out[f"first_call_{np.dtype(dtype).name}"] = time.perf_counter() - t0
    print(json.dumps(out))


def whole_process(rounds: int) -> list[str]:
    """Wall time of a fresh process running the seed's experiment (100 epochs, batch 32, SGD 1e-4)."""
    train_csv, valid_csv = DATA / "house" / "train_house.csv", DATA / "house" / "test_house.csv"
    with tempfile.TemporaryDirectory() as tmp:
        base = [
            sys.executable,
            "-m",
            "handgrad",
            "train",
            "--train",
            str(train_csv),
            "--valid",
            str(valid_csv),
            "--target",
            "price",
            "--hidden",
            "128",
            "64",
            "--activation",
            "relu",
            "--optimizer",
            "sgd",
            "--lr",
            "1e-4",
            "--batch-size",
            "32",
            "--epochs",
            "100",
            "--print-every",
            "10",
            "--seed-compatible",
            "-o",
            str(Path(tmp) / "model.npz"),
            "--force",
        ]
        commands = {
            f"handgrad train --seed-compatible --engine {engine}": [*base, "--engine", engine]
            for engine in ("numpy", "compiled", "auto")
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(rounds):
            for name, cmd in commands.items():
                t0 = time.perf_counter()
                r = subprocess.run(cmd, capture_output=True, text=True, check=False)
                times[name].append(time.perf_counter() - t0)
                if r.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{r.stderr[-2000:]}")
    return [
        f"- {name}: {statistics.median(v):.2f} s (median of {len(v)}; min {min(v):.2f})" for name, v in times.items()
    ]


THREAD_CASES = [("seed", b) for b in (32, 128, 256, 1024)] + [("wide", 256)]


def threads_main(spec: dict) -> None:
    """ms per later epoch of one training with ``blas_threads`` 1 or 2 (train()'s rule's measurement).

    One fresh process per measurement: NumPy's OpenBLAS, SciPy's and Numba's threads each keep a
    pool that spins for a while after its work, and pools taking turns in one process slow each other.
    """
    from handgrad import Network
    from handgrad.training import train

    X0, y0 = load_house()
    dtype = np.float64 if spec["dtype"] == "float64" else np.float32
    Ws, bs = initial_weights(NETWORKS[spec["net"]])
    net = Network.from_arrays(Ws, bs, activation="relu", dtype=dtype)
    epochs = 4 if spec["net"] == "wide" else 10
    hist = train(net, X0.astype(dtype), y0.astype(dtype), optimizer="sgd", lr=1e-4, epochs=epochs,
                 batch_size=spec["batch"], shuffle=False, progress=False, engine=spec["engine"],
                 blas_threads=spec["threads"])  # fmt: skip
    print(json.dumps(1e3 * statistics.median(hist["seconds"][1:])))


def threads_table() -> dict:
    out = {}
    for net_name, batch in THREAD_CASES:
        for dtype in ("float64", "float32"):
            for engine in ("numpy", "compiled"):
                for threads in (1, 2):
                    spec = {"net": net_name, "batch": batch, "dtype": dtype, "engine": engine, "threads": threads}
                    out[f"{net_name} b{batch} {dtype} {engine} {threads}"] = run_child(
                        ["--worker", "threads", "--spec", json.dumps(spec)]
                    )
    return out


# =========================================================================== the driver
def run_child(args: list[str], env: dict | None = None, timeout: float = 900) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def machine() -> list[str]:
    lines = []
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        lines.append(f"CPU: {info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} logical CPUs")
    except OSError:
        lines.append(f"CPU: {platform.processor() or platform.machine()}")
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for mod in ("numba", "scipy", "jax", "optax", "torch", "sklearn"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} absent")
    lines.append(", ".join(versions))
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ}
    lines.append(f"Environment: {env or 'no OPENBLAS_*/OMP_* variables set'}")
    lines.append(f"Load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--wide-epochs", type=int, default=3, help="epochs of the wide network (default 3)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256, 1024])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "adam"])
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS, choices=CONTENDERS)
    parser.add_argument("--no-wide", action="store_true", help="skip the wide network")
    parser.add_argument("--peak", action="store_true", help="also measure the matrix-product peak")
    parser.add_argument("--compile-cost", action="store_true", help="also measure the first call, cold and warm")
    parser.add_argument("--products", action="store_true", help="also time each product: Numba, NumPy, hand loop")
    parser.add_argument("--whole-process", action="store_true", help="also time the seed's 100-epoch experiment")
    parser.add_argument("--threads", action="store_true", help="also time later epochs on 1 and 2 BLAS threads")
    parser.add_argument("--quick", action="store_true", help="a tiny run: 2 rounds, 2 epochs, 2,000 rows")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--raw", type=Path, help="write every measurement to this JSON file after each round")
    parser.add_argument("--from-raw", type=Path, help="make the tables from a --raw file instead of measuring")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "peak":
        peak_main()
        return 0
    if args.worker == "products":
        products_main()
        return 0
    if args.worker == "threads":
        threads_main(json.loads(args.spec))
        return 0
    if args.worker == "compile":
        compile_cost_main()
        return 0
    if args.worker:
        worker_main(json.loads(args.worker))
        return 0

    rows = None
    if args.quick:
        args.rounds, args.epochs, args.wide_epochs, rows = 2, 2, 1, 2000
    cases = []
    for net in ["seed"] + ([] if args.no_wide else ["wide"]):
        for opt in args.optimizers if net == "seed" else ["sgd"]:
            for batch in args.batch_sizes if net == "seed" else [256]:
                for dtype in args.dtypes:
                    for contender in args.contenders:
                        epochs = args.epochs if net == "seed" else args.wide_epochs
                        cases.append({"net": net, "sizes": NETWORKS[net], "opt": opt, "batch": batch, "dtype": dtype,
                                      "contender": contender, "epochs": epochs, "rows": rows})  # fmt: skip
    report = machine()
    print("\n".join(report), flush=True)

    # The extras first (short), then the rounds; every measurement is saved after each round (--raw).
    extras: dict[str, object] = {}
    raw: dict = json.loads(args.from_raw.read_text()) if args.from_raw else {}
    if args.from_raw:
        cases, extras = raw["cases"], raw["extras"]
        results = {int(i): v for i, v in raw["results"].items()}
    else:
        if args.peak:
            extras["peak"] = run_child(["--worker", "peak"])
        if args.compile_cost:
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache)
                extras["compile_cold"] = run_child(["--worker", "compile"], env=env)
                extras["compile_warm"] = run_child(["--worker", "compile"], env=env)
        if args.products:
            extras["products"] = run_child(["--worker", "products"])
        if args.whole_process:
            extras["whole_process"] = whole_process(1 if args.quick else 3)
        if args.threads:
            extras["threads"] = threads_table()
        results: dict[int, list[dict]] = {i: [] for i in range(len(cases))}
        started = time.perf_counter()
        for r in range(args.rounds):
            k = (r * 7) % len(cases)
            for i in list(range(k, len(cases))) + list(range(k)):  # rotated order each round
                results[i].append(run_child(["--worker", json.dumps(cases[i])]))
            print(f"round {r + 1}/{args.rounds} done after {time.perf_counter() - started:.0f} s", flush=True)
            if args.raw:
                args.raw.write_text(
                    json.dumps({"cases": cases, "results": results, "extras": extras, "machine": report})
                )
    cases = [c for i, c in enumerate(cases) if results.get(i)]
    results = {j: results[i] for j, i in enumerate(i for i in sorted(results) if results[i])}

    def ratio(by: dict, field: str) -> str:
        if not {"jax", "compiled"} <= by.keys():
            return ""
        return f"{by['jax'][field] / by['compiled'][field]:.2f}×"

    lines = [
        "| network, optimizer | batch | dtype | "
        + " | ".join(LABELS[c] for c in args.contenders)
        + " | JAX ÷ compiled | later epochs only | imports counted |",
        "| --- | ---: | --- | " + " | ".join("---:" for _ in args.contenders) + " | ---: | ---: | ---: |",
    ]
    detail = ["| case | contender | import s | s/epoch counting the first | first epoch s | later epochs s (median) | "
              "final J |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    grouped: dict[tuple, dict[str, dict]] = {}
    for i, case in enumerate(cases):
        runs = results[i]
        per_epoch = statistics.median(sum(run["times"]) / len(run["times"]) for run in runs)
        first = statistics.median(run["times"][0] for run in runs)
        later = statistics.median(statistics.median(run["times"][1:] or run["times"]) for run in runs)
        imported = statistics.median(run.get("import", float("nan")) for run in runs)
        whole = statistics.median(run.get("import", float("nan")) + sum(run["times"]) for run in runs)
        final = statistics.median(run["losses"][-1] for run in runs)
        key = (case["net"], case["opt"], case["batch"], case["dtype"])
        grouped.setdefault(key, {})[case["contender"]] = {"per_epoch": per_epoch, "later": later, "whole": whole}
        name = f"{case['net']} {case['opt']} b{case['batch']} {case['dtype']}"
        detail.append(f"| {name} | {LABELS[case['contender']]} | {imported:.3f} | {per_epoch:.4f} | {first:.4f} | "
                      f"{later:.4f} | {final:.6g} |")  # fmt: skip
    for (net, opt, batch, dtype), by in grouped.items():
        cells = [f"{by[c]['per_epoch']:.4f}" if c in by else "" for c in args.contenders]
        label = f"{net} {'-'.join(map(str, NETWORKS[net]))}, {opt}"
        lines.append(
            f"| {label} | {batch} | {dtype} | " + " | ".join(cells)
            + f" | {ratio(by, 'per_epoch')} | {ratio(by, 'later')} | {ratio(by, 'whole')} |"
        )  # fmt: skip
    out = ["", "Seconds per epoch (median over rounds of: the process's epochs, the first counted; the library's import",
           "not counted). Ratios: JAX ÷ handgrad compiled, per epoch with the first counted; the later epochs' medians",
           "alone; each process's whole time with its library's import counted too:", "", *lines,
           "", "Every case:", "", *detail]  # fmt: skip

    if "peak" in extras:
        out += ["", "Matrix-product peak (3072², best of 5), GFLOP/s:", ""]
        out += [f"- {k}: {v:.0f}" for k, v in extras["peak"].items()]
    if "compile_cold" in extras:
        cold, warm = extras["compile_cold"], extras["compile_warm"]
        out += ["", "Compilation (seconds; fresh NUMBA_CACHE_DIR, then a second process on that cache):", ""]
        out += [f"- {k}: cold {cold[k]:.2f}, warm {warm[k]:.2f}" for k in cold]
    if "products" in extras:
        out += ["", "µs per product of one seed step at batch 32 (float64, 1 BLAS thread, CPU time, best of 3):", "",
                "| product | Numba's np.dot in compiled code | NumPy's np.dot from Python | compiled hand loop |",
                "| --- | ---: | ---: | ---: |"]  # fmt: skip
        for name, res in extras["products"].items():
            out.append(f"| {name} | {res['numba np.dot']:.2f} | {res['NumPy np.dot']:.2f} | {res['hand loop']:.2f} |")
    if "threads" in extras:
        out += ["", "ms per later epoch (median; a fresh process each), SGD, blas_threads=1 / 2 (the compiled epoch on",
                "2: each batch in two halves on two threads for products of 2**19-2**24 multiply-adds, else BLAS's):",
                "",
                "| network, batch, dtype | NumPy engine | compiled epoch |", "| --- | ---: | ---: |"]  # fmt: skip
        keys = list(dict.fromkeys(k.rsplit(" ", 2)[0] for k in extras["threads"]))  # in the measured order
        for k in keys:
            t = extras["threads"]
            out.append(f"| {k} | {t[k + ' numpy 1']:.2f} / {t[k + ' numpy 2']:.2f} | "
                       f"{t[k + ' compiled 1']:.2f} / {t[k + ' compiled 2']:.2f} |")  # fmt: skip
    if "whole_process" in extras:
        out += ["", "The seed's experiment, 100 epochs, whole process (start, CSV, training, exit):", ""]
        out += extras["whole_process"]
    out.append(f"\nLoad average at the end: {os.getloadavg()[0]:.2f} (1 min)")
    print("\n".join(out))
    if args.markdown:
        args.markdown.write_text("\n".join(report + out) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
