"""The compiled epoch (handgrad.training.compiled) against the NumPy engine.

Every case trains two copies of one network on the same data: one with the public
``handgrad.training.train`` (the NumPy engine), one with ``compiled.run_epoch`` over the
flat ``[W_l | b_l]`` layout, and compares the parameters, the optimizer state, the loss
and the last gradient norm. Tolerances, at each call site: float64 1e-12 relative to the
largest entry; float32 ``FLOAT32_RTOL`` (a few float32 roundings, amplified by the steps).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from handgrad import Network
from handgrad.activations import Activation
from handgrad.errors import ConfigError
from handgrad.losses import get_loss
from handgrad.training import train
from handgrad.training.optimizers import get_optimizer

numba = pytest.importorskip("numba", reason='the compiled epoch needs Numba (pip install "handgrad[fast]")')

from handgrad.training import compiled  # noqa: E402 (after the skip: the module itself never needs numba to import)

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu"]
LOSSES = ["mse", "mae", "huber", "binary_crossentropy", "softmax_crossentropy"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw"]
#: float32 against float32: each run differs from the engine by float32 roundings (ε ≈ 6e-8)
#: in a different order, amplified over the steps (measured: at most 2.2e-7); 2e-6 is ~30 ε.
FLOAT32_RTOL = 2e-6


def _data(n, n_in, n_out, loss, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if loss == "softmax_crossentropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif loss == "binary_crossentropy":
        Y = (rng.random((n, n_out)) < 0.4).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    return X.astype(dtype), Y.astype(dtype)


def _engine(net, X, Y, *, loss, optimizer, lr, epochs, batch_size, weight_decay=0.0, **kw):
    """Train with the NumPy engine; returns (theta, optimizer state rows, history)."""
    opt = get_optimizer(optimizer, net.parameters(), lr=lr, weight_decay=weight_decay or None)
    hist = train(net, X, Y, loss=loss, optimizer=opt, epochs=epochs, batch_size=batch_size, progress=False, **kw)
    return compiled.pack(net), compiled.pack_state(opt), hist


def _compiled(net, X, Y, *, loss, optimizer, lr, epochs, batch_size, weight_decay=0.0, sample_weight=None,
              seed_denominator=0, orders=None, halves=False):  # fmt: skip
    """Train with run_epoch; returns (theta, state, [(loss_sum, weight_sum, sq, bad, t) per epoch], grad)."""
    loss_fn = get_loss(loss)
    opt = get_optimizer(optimizer, net.parameters(), lr=lr, weight_decay=weight_decay or None)
    sizes, acts, loss_code, opt_code, hyper = compiled.codes(net, loss_fn, opt)
    theta = compiled.pack(net)
    grad = np.empty_like(theta)
    state = np.zeros((compiled.STATE_ROWS[opt_code], theta.size), theta.dtype)
    Y = np.ascontiguousarray(Y.reshape(len(X), -1))
    w = np.empty(0, X.dtype) if sample_weight is None else np.asarray(sample_weight, X.dtype)
    t, out = 0, []
    for e in range(epochs):
        order = np.arange(len(X)) if orders is None else orders[e]
        res = compiled.run_epoch(theta, grad, state, X, Y, w, order, batch_size, sizes, acts, loss_code, opt_code,
                                 hyper, t, lr, seed_denominator, halves)  # fmt: skip
        t = res[4]
        out.append(res)
    return theta, state, out, grad


def _close64(actual, expected):
    """float64: equal to 1e-12 relative to the largest entry."""
    scale = max(float(np.max(np.abs(expected))), 1e-300) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)


def _compare(net_sizes, act, loss, optimizer, *, n=70, batch_size=16, epochs=3, lr=0.02, weight_decay=0.0, halves=False,
             output_activation="identity", dtype=np.float64, seed=0, **train_kw):  # fmt: skip
    X, Y = _data(n, net_sizes[0], net_sizes[-1], loss, seed, dtype)
    net = Network(net_sizes, activation=act, output_activation=output_activation, random_state=seed, dtype=dtype)
    net2 = net.copy()
    theta_ref, state_ref, hist = _engine(net, X, Y, loss=loss, optimizer=optimizer, lr=lr, epochs=epochs,
                                         batch_size=batch_size, weight_decay=weight_decay, shuffle=False, **train_kw)  # fmt: skip
    seed_den = batch_size if train_kw.get("mode") == "seed" else 0
    theta, state, per_epoch, _ = _compiled(net2, X, Y, loss=loss, optimizer=optimizer, lr=lr, epochs=epochs,
                                           batch_size=batch_size, weight_decay=weight_decay,
                                           sample_weight=train_kw.get("sample_weight"), seed_denominator=seed_den,
                                           halves=halves)  # fmt: skip
    assert all(bad == 0 for *_, bad, _t in per_epoch)
    losses = np.array([ls / ws for ls, ws, *_ in per_epoch])
    grad_norms = np.sqrt([sq for _, _, sq, *_ in per_epoch])
    if dtype == np.float64:
        _close64(theta, theta_ref)
        _close64(state, state_ref)
        _close64(losses, np.array(hist["train_loss"]))
        _close64(grad_norms, np.array(hist["grad_norm"]))
    else:
        for a, b in [(theta, theta_ref), (state, state_ref), (losses, np.array(hist["train_loss"]))]:
            scale = float(np.max(np.abs(b))) if b.size else 1.0
            np.testing.assert_allclose(a, b, rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL * scale)
    assert per_epoch[-1][4] == epochs * -(-n // batch_size)  # every step made: t counts them
    return theta


# --------------------------------------------------------------------------- every piece, float64 to 1e-12
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_activation(act):
    _compare([4, 7, 5, 3], act, "mse", "sgd")


@pytest.mark.parametrize("output_activation", ["sigmoid", "tanh", "gelu"])
def test_output_activation_other_than_identity(output_activation):
    # δ_L = dJ/dŶ ∘ σ_L'(z_L) with a non-trivial σ_L
    _compare([4, 6, 2], "tanh", "mse", "momentum", output_activation=output_activation)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("n_out", [1, 3])
def test_every_loss_and_output_width(loss, n_out):
    if loss == "softmax_crossentropy" and n_out == 1:
        pytest.skip("softmax_crossentropy needs at least 2 outputs (the engine refuses 1)")
    _compare([4, 6, n_out], "tanh", loss, "adam", lr=0.01)


def test_huber_threshold_is_the_losses():
    from handgrad.losses import Huber

    X, Y = _data(40, 3, 2, "huber")
    Y *= 4  # residuals on both sides of δ
    for delta in (0.3, 2.5):
        net = Network([3, 5, 2], activation="relu", random_state=1)
        net2 = net.copy()
        theta_ref, *_ = _engine(net, X, Y, loss=Huber(delta), optimizer="sgd", lr=0.05, epochs=2, batch_size=8,
                                shuffle=False)  # fmt: skip
        opt = get_optimizer("sgd", net2.parameters(), lr=0.05)
        sizes, acts, lc, oc, hyper = compiled.codes(net2, Huber(delta), opt)
        assert hyper[compiled.HYPER.index("huber_delta")] == delta
        theta = compiled.pack(net2)
        for _ in range(2):
            compiled.run_epoch(theta, np.empty_like(theta), np.zeros((0, theta.size)), X, Y, np.empty(0),
                               np.arange(40), 8, sizes, acts, lc, oc, hyper, 0, 0.05, 0)  # fmt: skip
        _close64(theta, theta_ref)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_every_optimizer_with_and_without_weight_decay(optimizer, weight_decay):
    # weight decay on the weights only, never the biases: the engine's rule, compared entry by entry
    _compare([5, 8, 6, 2], "relu", "mse", optimizer, lr=0.01, weight_decay=weight_decay, epochs=4)


@pytest.mark.parametrize("sizes", [[4, 1], [4, 6, 1], [4, 6, 5, 3], [4, 6, 5, 4, 3]])
def test_depths_one_to_four(sizes):
    _compare(sizes, "elu", "mse", "nesterov")


@pytest.mark.parametrize("n", [64, 70, 5])
def test_short_last_batch_and_batch_larger_than_data(n):
    # 70 = 4 × 16 + 6 (a short last batch); 64 (none); 5 (one batch, smaller than batch_size)
    _compare([3, 6, 2], "relu", "huber", "adam", n=n, lr=0.01)


@pytest.mark.parametrize("batch_size", [64, 65, 100])
def test_batches_above_the_kernels_column_copy_threshold(batch_size):
    # up to compiled._COLUMNS_UP_TO rows a batch is also kept as columns (another product layout); above, not
    assert compiled._COLUMNS_UP_TO == 64
    _compare([4, 9, 7, 2], "relu", "mse", "adam", n=230, batch_size=batch_size, lr=0.01)


def test_seed_denominator_also_on_the_short_last_batch():
    # mode="seed": dJ/dŶ = 2/batch_size (Ŷ − Y) on every batch, the last (6 of 16 rows) too
    theta = _compare([4, 8, 6, 1], "relu", "mse", "sgd", n=70, batch_size=16, lr=1e-3, mode="seed")
    net = Network([4, 8, 6, 1], activation="relu", random_state=0)
    X, Y = _data(70, 4, 1, "mse")
    own_mean, *_ = _compiled(net, X, Y, loss="mse", optimizer="sgd", lr=1e-3, epochs=3, batch_size=16)
    assert np.max(np.abs(own_mean - theta)) > 1e-8  # the denominator matters: the test can fail


def test_sample_weights():
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 3.0, 70)
    _compare([4, 7, 3], "sigmoid", "binary_crossentropy", "adamw", sample_weight=w, lr=0.01)
    _compare([4, 7, 3], "relu", "mse", "sgd", sample_weight=w, lr=0.01)


def test_shuffled_order_is_the_engines():
    # train(shuffle=True, random_state=s) draws rng.permutation(n) each epoch; the same orders here
    X, Y = _data(70, 4, 2, "mse")
    net = Network([4, 6, 2], activation="tanh", random_state=2)
    net2 = net.copy()
    theta_ref, state_ref, _ = _engine(net, X, Y, loss="mse", optimizer="momentum", lr=0.02, epochs=3,
                                      batch_size=16, shuffle=True, random_state=7)  # fmt: skip
    rng = np.random.default_rng(7)
    orders = [rng.permutation(70).astype(np.int64) for _ in range(3)]
    theta, state, *_ = _compiled(net2, X, Y, loss="mse", optimizer="momentum", lr=0.02, epochs=3, batch_size=16,
                                 orders=orders)  # fmt: skip
    _close64(theta, theta_ref)
    _close64(state, state_ref)


# --------------------------------------------------------------------------- float32
@pytest.mark.parametrize(
    ("act", "loss", "optimizer"),
    [("relu", "mse", "sgd"), ("gelu", "huber", "adam"), ("tanh", "softmax_crossentropy", "nesterov"),
     ("sigmoid", "binary_crossentropy", "adamw"), ("elu", "mae", "momentum")],
)  # fmt: skip
def test_float32(act, loss, optimizer):
    theta = _compare([5, 8, 6, 3], act, loss, optimizer, dtype=np.float32, lr=0.01, weight_decay=0.01)
    assert theta.dtype == np.float32


# --------------------------------------------------------------------------- the kernel's own contract
def test_first_non_finite_batch_stops_the_epoch_before_its_update():
    X, Y = _data(70, 4, 1, "mse")
    Y[40, 0] = np.nan  # row 40 is in the third batch of 16
    net = Network([4, 6, 1], activation="relu", random_state=0)
    opt = get_optimizer("adam", net.parameters(), lr=0.01)
    sizes, acts, lc, oc, hyper = compiled.codes(net, get_loss("mse"), opt)
    theta = compiled.pack(net)
    state = np.zeros((2, theta.size))
    loss_sum, weight_sum, _, bad, t = compiled.run_epoch(theta, np.empty_like(theta), state, X, Y, np.empty(0),
                                                         np.arange(70), 16, sizes, acts, lc, oc, hyper, 0, 0.01, 0)  # fmt: skip
    assert (bad, t, weight_sum) == (3, 2, 32.0)
    # exactly two steps were made: the same as an epoch over the first two batches alone
    ref = Network([4, 6, 1], activation="relu", random_state=0)
    theta_two, state_two, per_epoch, _ = _compiled(ref, X[:32], Y[:32], loss="mse", optimizer="adam", lr=0.01,
                                                   epochs=1, batch_size=16)  # fmt: skip
    np.testing.assert_array_equal(theta, theta_two)
    np.testing.assert_array_equal(state, state_two)
    assert loss_sum == per_epoch[0][0]


def test_grad_holds_the_last_batchs_gradient():
    X, Y = _data(70, 4, 2, "mse")
    net = Network([4, 6, 2], activation="tanh", random_state=0)
    before = net.copy()
    theta, _, per_epoch, grad = _compiled(net, X, Y, loss="mse", optimizer="sgd", lr=0.01, epochs=1, batch_size=16)
    # the last batch (rows 64..69) was applied with θ_before_last = θ + lr g
    compiled.unpack(theta + 0.01 * grad, before)
    g = before.gradients(X[64:], Y[64:], loss="mse")
    expected = compiled.pack(Network.from_arrays([g[f"W{l}"] for l in (1, 2)], [g[f"b{l}"] for l in (1, 2)],
                                                 activation="tanh"))  # fmt: skip
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)
    assert per_epoch[0][2] == pytest.approx(float(grad @ grad), rel=1e-12)


def test_pack_and_unpack_are_the_contracts_layout():
    net = Network([3, 4, 2], random_state=0)
    theta = compiled.pack(net)
    # W_l[i, j] = theta[off_l + i (n_{l-1}+1) + j],  b_l[i] = theta[off_l + i (n_{l-1}+1) + n_{l-1}]
    assert theta[1 * 4 + 2] == net.weights[0][1, 2]
    assert theta[2 * 4 + 3] == net.biases[0][2]
    off2 = 4 * 4
    assert theta[off2 + 1 * 5 + 4] == net.biases[1][1]
    assert theta[off2 + 0 * 5 + 3] == net.weights[1][0, 3]
    other = Network([3, 4, 2], random_state=1)
    compiled.unpack(theta, other)
    for a, b in zip(other.parameters(), net.parameters()):
        np.testing.assert_array_equal(a, b)


def test_codes_refuse_what_the_kernel_does_not_implement():
    cube = Activation("cube", lambda z: z**3, lambda z: 3 * z**2)
    net = Network([2, 3, 1], activation=cube, random_state=0)
    opt = get_optimizer("sgd", net.parameters())
    assert not compiled.applies(net, get_loss("mse"), opt)
    with pytest.raises(ConfigError, match="cube"):
        compiled.codes(net, get_loss("mse"), opt)
    assert compiled.applies(Network([2, 3, 1], random_state=0), get_loss("mse"), opt)


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_numba_is_imported_lazily_and_its_absence_named():
    r = _run_python("import sys, handgrad, handgrad.training.compiled; print('numba' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
    r = _run_python(
        "import sys; sys.modules['numba'] = None\n"
        "from handgrad.training import compiled\n"
        "assert not compiled.available()\n"
        "try:\n    compiled.load()\nexcept ImportError as e:\n    print(e)\n"
    )
    assert r.returncode == 0, r.stderr
    assert 'pip install "handgrad[fast]"' in r.stdout


def test_pack_state_and_unpack_state_round_trip():
    net = Network([3, 4, 2], random_state=0)
    opt = get_optimizer("adam", net.parameters(), lr=0.01)
    X, Y = _data(20, 3, 2, "mse")
    train(net, X, Y, optimizer=opt, epochs=1, batch_size=8, progress=False)
    state = compiled.pack_state(opt)
    assert state.shape == (2, compiled.pack(net).size) and np.any(state != 0)
    fresh = get_optimizer("adam", net.parameters(), lr=0.01)
    compiled.unpack_state(state, fresh)
    for slot in ("m", "v"):
        for a, b in zip(fresh.state[slot], opt.state[slot]):
            np.testing.assert_array_equal(a, b)


def test_the_same_call_gives_bit_identical_results():
    X, Y = _data(70, 4, 3, "softmax_crossentropy")
    runs = []
    for _ in range(2):
        net = Network([4, 9, 3], activation="gelu", random_state=5)
        theta, state, per_epoch, _ = _compiled(net, X, Y, loss="softmax_crossentropy", optimizer="adamw", lr=0.01,
                                               epochs=2, batch_size=16, weight_decay=0.01)  # fmt: skip
        runs.append((theta, state, per_epoch))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


def test_the_seeds_experiment_on_house(data_dir):
    # The seed's workload itself: 37-128-64-1 ReLU, randn weights, SGD 1e-4, batch 32 in file order, the
    # fixed 2/batch_size (also on the last 16 rows); two epochs against train(mode="seed") to 1e-12.
    rows = np.loadtxt(data_dir / "house" / "train_house.csv", delimiter=",", skiprows=1)
    X, y = np.ascontiguousarray(rows[:, :37]), rows[:, 37]
    net = Network([37, 128, 64, 1], activation="relu", init="randn", random_state=0)
    net2 = net.copy()
    theta_ref, _, hist = _engine(net, X, y, loss="mse", optimizer="sgd", lr=1e-4, epochs=2, batch_size=32, mode="seed")
    theta, _, per_epoch, _ = _compiled(net2, X, y, loss="mse", optimizer="sgd", lr=1e-4, epochs=2, batch_size=32,
                                       seed_denominator=32)  # fmt: skip
    _close64(theta, theta_ref)
    _close64(np.array([ls / ws for ls, ws, *_ in per_epoch]), np.array(hist["train_loss"]))


# =========================================================================== train(engine=...) end to end
@pytest.fixture
def kernel_calls(monkeypatch):
    """The compiled epochs that train() runs, each as its ``halves`` argument (step.py calls compiled.run_epoch)."""
    calls = []
    real = compiled.run_epoch

    def counting(*args, **kwargs):
        calls.append(bool(args[16]) if len(args) > 16 else kwargs.get("halves", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(compiled, "run_epoch", counting)
    return calls


@pytest.mark.parametrize(
    "optimizer, weight_decay, extra",
    [
        ("sgd", 0.0, {}),
        ("momentum", 1e-3, {"lr_schedule": "cosine"}),
        ("adam", 1e-3, {"early_stopping": True, "patience": 2, "restore_best": True}),
        ("adamw", 1e-2, {"sample_weight": np.linspace(0.5, 2.0, 90)}),
    ],
)
def test_train_with_the_compiled_engine_equals_the_numpy_engine(kernel_calls, optimizer, weight_decay, extra):
    # The whole of train() on each engine: shuffled batches, validation, a schedule, early stopping with
    # restore-best, sample weights, the optimizer's state carried across epochs. float64 to 1e-12.
    X, Y = _data(90, 4, 2, "mse", seed=3)
    Xv, Yv = _data(30, 4, 2, "mse", seed=4)
    runs = {}
    for engine in ("numpy", "compiled"):
        net = Network([4, 6, 5, 2], activation="tanh", random_state=0)
        hist = train(net, X, Y, optimizer=optimizer, lr=0.03, weight_decay=weight_decay, epochs=6, batch_size=16,
                     shuffle=True, random_state=7, validation_data=(Xv, Yv), progress=False, engine=engine,
                     **extra)  # fmt: skip
        runs[engine] = (net.theta.copy(), hist)
        if engine == "numpy":
            assert kernel_calls == []
    assert len(kernel_calls) == len(runs["compiled"][1]["train_loss"]) > 0  # every epoch compiled
    _close64(runs["compiled"][0], runs["numpy"][0])
    for key in ("train_loss", "val_loss", "grad_norm", "lr"):
        _close64(np.array(runs["compiled"][1][key]), np.array(runs["numpy"][1][key]))


def test_auto_takes_the_compiled_epoch_only_for_long_trainings(kernel_calls, monkeypatch):
    from handgrad.training import loop

    X, Y = _data(40, 3, 1, "mse")
    train(Network([3, 4, 1], random_state=0), X, Y, epochs=2, batch_size=8, progress=False)  # engine="auto"
    assert kernel_calls == []  # a fraction of a second of NumPy work: loading Numba would not pay
    monkeypatch.setattr(loop, "AUTO_COMPILED_SECONDS", 0.0)
    train(Network([3, 4, 1], random_state=0), X, Y, epochs=2, batch_size=8, progress=False)
    assert len(kernel_calls) == 2


# =========================================================================== each batch in two halves
@pytest.mark.parametrize(
    "act, loss, optimizer, kw",
    [
        ("relu", "mse", "sgd", {}),
        ("tanh", "huber", "momentum", {"weight_decay": 1e-2}),
        ("gelu", "softmax_crossentropy", "adam", {"weight_decay": 1e-3}),
        ("sigmoid", "binary_crossentropy", "adamw", {"weight_decay": 1e-2}),
        ("elu", "mae", "nesterov", {}),
        ("relu", "mse", "sgd", {"mode": "seed"}),
        ("relu", "mse", "adam", {"sample_weight": np.linspace(0.2, 3.0, 70)}),
    ],
)
@pytest.mark.parametrize("batch_size", [2, 7, 16, 69])  # halves of 1 and 1, 3 and 4, ...; 70 rows: a last batch of 1
def test_two_halves_of_each_batch_give_the_engines_numbers(act, loss, optimizer, kw, batch_size):
    n_out = 3 if loss == "softmax_crossentropy" else 2
    _compare([4, 9, 6, n_out], act, loss, optimizer, batch_size=batch_size, halves=True, **kw)


def test_two_halves_in_float32():
    _compare([5, 12, 3], "relu", "mse", "adam", batch_size=33, halves=True, dtype=np.float32)


@pytest.mark.parametrize(
    "sizes, batch_size, expected",
    [
        ([20, 16, 1], 64, False),  # largest product 320 x 64 = 20k multiply-adds: one BLAS thread, no split
        ([20, 256, 1], 128, True),  # 5,120 x 128 = 655k: each batch in two halves
        ([64, 1024, 1], 512, False),  # 65,536 x 512 = 33.6M: BLAS's own threads
    ],
)
def test_train_splits_batches_in_halves_for_mid_sized_products(kernel_calls, sizes, batch_size, expected):
    import os

    X, Y = _data(2 * batch_size + 3, sizes[0], 1, "mse")
    train(Network(sizes, random_state=0), X, Y, epochs=1, batch_size=batch_size, engine="compiled", progress=False)
    assert kernel_calls == [expected and (os.cpu_count() or 1) >= 2]
    kernel_calls.clear()
    train(Network(sizes, random_state=0), X, Y, epochs=1, batch_size=batch_size, engine="compiled", progress=False,
          blas_threads=None)  # fmt: skip
    assert kernel_calls == [False]  # blas_threads=None leaves threads to the user: no split either


def test_no_halves_below_the_threaded_range_or_without_threadpoolctl(kernel_calls, monkeypatch):
    from handgrad.training import loop

    X, Y = _data(300, 20, 1, "mse")
    # 5,120 x 32 = 164k multiply-adds: threads asked for, but halves of 16 rows are slower (measured)
    train(Network([20, 256, 1], random_state=0), X, Y, epochs=1, batch_size=32, engine="compiled", progress=False,
          blas_threads=2)  # fmt: skip
    monkeypatch.setattr(loop, "_can_limit_blas", lambda: False)  # each half would run BLAS on every core
    train(Network([20, 256, 1], random_state=0), X, Y, epochs=1, batch_size=128, engine="compiled", progress=False)
    assert kernel_calls == [False, False]


_CONCURRENT_HALVES = """
import threading
import numpy as np
from handgrad import Network
from handgrad.training import train

rng = np.random.default_rng(2)
X, Y = rng.normal(size=(400, 20)), rng.normal(size=(400, 1))


def fit(seed):
    net = Network([20, 256, 1], activation="relu", random_state=seed)
    train(net, X, Y, optimizer="adam", lr=1e-3, epochs=3, batch_size=128, shuffle=True, random_state=seed,
          engine="compiled", progress=False)
    return net.theta.copy()


alone = [fit(seed) for seed in range(4)]
together = [None] * 4
threads = [threading.Thread(target=lambda s=s: together.__setitem__(s, fit(s))) for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert all(np.array_equal(a, b) for a, b in zip(alone, together)), "different numbers"
print("ok")
"""


def test_trainings_in_halves_from_several_threads_at_once_give_each_its_own_numbers():
    # Each epoch in halves launches a parallel region; compiled.run_epoch lets one such epoch run at a
    # time: Numba's "workqueue" threading layer (its fallback without OpenMP or TBB, forced here) aborts
    # the process on concurrent launches. Four threads, four trainings: each ends where it ends alone.
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    r = subprocess.run([sys.executable, "-c", _CONCURRENT_HALVES], capture_output=True, text=True, env=env,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_train_in_halves_equals_the_numpy_engine(kernel_calls):
    X, Y = _data(600, 20, 2, "mse", seed=5)
    runs = {}
    for engine in ("numpy", "compiled"):
        net = Network([20, 256, 2], activation="relu", random_state=0)
        hist = train(net, X, Y, optimizer="adam", lr=1e-3, epochs=3, batch_size=128, shuffle=True, random_state=1,
                     validation_data=(X[:100], Y[:100]), progress=False, engine=engine)  # fmt: skip
        runs[engine] = (net.theta.copy(), hist)
    if kernel_calls != [True] * 3:
        pytest.skip("one CPU: no halves")
    _close64(runs["compiled"][0], runs["numpy"][0])
    for key in ("train_loss", "val_loss", "grad_norm"):
        _close64(np.array(runs["compiled"][1][key]), np.array(runs["numpy"][1][key]))


def test_divergence_is_reported_by_the_compiled_engine_as_by_the_numpy_engine():
    from handgrad.errors import DivergenceError

    X, Y = _data(64, 3, 1, "mse")
    out = {}
    for engine in ("numpy", "compiled"):
        net = Network([3, 8, 1], random_state=0)
        with pytest.raises(DivergenceError) as info:
            train(net, X, Y * 1e3, optimizer="sgd", lr=50.0, epochs=30, batch_size=8, shuffle=False, progress=False,
                  engine=engine)  # fmt: skip
        out[engine] = (str(info.value), info.value.epoch, net.theta.copy())
    assert out["compiled"][:2] == out["numpy"][:2]  # the same epoch, mini-batch and message
    _close64(out["compiled"][2], out["numpy"][2])  # restored to the same last good parameters


def test_the_compiled_engine_refuses_what_it_does_not_run(tmp_path):
    from handgrad.data.cache import RowCache
    from handgrad.layers import LayerStack

    X, Y = _data(20, 3, 1, "mse")
    with pytest.raises(ConfigError, match="engine"):
        train(Network([3, 1]), X, Y, engine="fast", progress=False)
    with pytest.raises(ConfigError, match='engine="compiled"'):
        train(Network([3, 1]), X, Y, engine="compiled", gradient="expanded", progress=False)
    with pytest.raises(ConfigError, match='engine="compiled"'):
        train(LayerStack("dense(4)-relu-dense(1)", 3), X, Y, engine="compiled", progress=False)
    cache = RowCache.write([(X, Y[:, 0])], tmp_path / "rows.npy")  # rows streamed from disk
    with pytest.raises(ConfigError, match='engine="compiled"'):
        train(Network([3, 1]), cache, None, engine="compiled", progress=False)


def test_numpys_blas_keeps_one_thread_while_the_kernels_may_use_more():
    # Two OpenBLAS pools taking turns on the same cores (SciPy's for the kernel, NumPy's for the
    # validation pass) made each compiled epoch up to 2.4x slower: during a compiled training whose
    # products get several threads, NumPy's BLAS is held to one.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from handgrad.training import Callback

    compiled.load()
    info = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    kernel = [p for p in info if compiled.is_kernel_blas(p["filepath"])]
    others = [p for p in info if not compiled.is_kernel_blas(p["filepath"])]
    if not (kernel and others):
        pytest.skip("NumPy and SciPy share one BLAS here: nothing to keep apart")
    before = {p["filepath"]: p["num_threads"] for p in info}
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append({p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info()
                         if p["user_api"] == "blas"})  # fmt: skip

    X, Y = _data(600, 64, 1, "mse")
    # largest product 65,536 x 512 rows: above HALVES_UP_TO, so the kernel's products take BLAS's threads
    wide = Network([64, 1024, 1], random_state=0)
    train(wide, X, Y, epochs=1, batch_size=512, engine="compiled", callbacks=[Spy()], progress=False,
          validation_data=(X[:50], Y[:50]))  # fmt: skip
    assert all(seen[0][p["filepath"]] == 1 for p in others)
    assert all(seen[0][p["filepath"]] == before[p["filepath"]] for p in kernel)
    assert {
        p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
    } == before


def test_the_command_line_says_once_that_it_compiles_the_kernel(tmp_path):
    # The first compiled training on a machine compiles the kernel (10-20 s): `handgrad train` says so
    # (compiled.on_compile); from Numba's cache on, nothing. An empty NUMBA_CACHE_DIR is a new machine.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    np.savetxt(tmp_path / "rows.csv", np.column_stack([X, X.sum(axis=1)]), delimiter=",", header="a,b,c,y",
               comments="")  # fmt: skip
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    cmd = [sys.executable, "-m", "handgrad", "train", "--train", str(tmp_path / "rows.csv"), "--target", "y",
           "--epochs", "2", "--engine", "compiled", "--no-save"]  # fmt: skip
    said = []
    for _ in range(2):
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        said.append("compiling the training kernel for float64" in r.stderr)
    assert said == [True, False]
    assert compiled.on_compile is None  # the library itself says nothing
