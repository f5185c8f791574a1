"""The engine on other array libraries (handgrad.backend): PyTorch (CPU here, CUDA where present) and array-api-strict.

The same §1.3 code runs on every backend, so on float64 every result must equal NumPy's to
1e-12 with the same parameters, batches and random_state (float32: to float32 rounding).
NumPy itself is checked against the expanded form and finite differences in test_gradients.py;
here each backend is checked against NumPy and against its own expanded form (§1.2).
CUDA tests are marked ``cuda`` and skip where PyTorch sees no GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import Network, backend
from handgrad import backprop as bp
from handgrad.errors import ConfigError, DivergenceError
from handgrad.gradients import expanded
from handgrad.losses import get_loss
from handgrad.parameters import BlockParameters
from handgrad.training import Callback, train
from handgrad.training.step import Step

torch = pytest.importorskip("torch")
xs = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible to PyTorch on this machine")

#: backend name -> NumPy array -> that library's array (on the CPU)
CONVERT = {
    "torch": torch.from_numpy,
    "strict": xs.asarray,
}
BACKENDS = list(CONVERT)


def _cuda(a):
    return torch.from_numpy(a).to("cuda")


def _device_gradients(net, A0, Y, loss, w, kind, convert=None):
    """backprop (§1.3) and expanded (§1.2) on ``kind``'s arrays; both as flat NumPy arrays."""
    convert = convert or CONVERT[kind]
    bk = backend.of(convert(np.zeros(1)))
    params = BlockParameters(bk.asarray(net.theta), net.layout, net.activations)
    A0d, Yd = convert(np.ascontiguousarray(A0)), convert(np.ascontiguousarray(Y))
    wd = None if w is None else convert(w)
    ws = bp.Workspace(net.layer_sizes, net.activations, A0.shape[1], net.dtype, bk)
    bp.forward(params.blocks, params.activations, bp.augment(A0d), ws)
    J = float(bp.loss_and_output_delta(loss, net.activations[-1], ws, Yd, wd))
    grad = bk.zeros(net.layout.size, net.dtype)
    bp.backward(params.blocks, params.activations, ws, net.layout.blocks(grad), delta_L_ready=True)
    g_ex = expanded(params, A0d, Yd, loss, wd)
    flat_ex = np.concatenate([backend.to_numpy(p).ravel(order="F") for p in _blocks_of(g_ex)])
    return backend.to_numpy(grad), flat_ex, J, g_ex.loss


def _blocks_of(g):
    """[dW_l | db_l] blocks (as the flat layout stores them, column by column) of a Gradients."""
    out = []
    for dW, db in zip(g.dW, g.db):
        dWn, dbn = backend.to_numpy(dW), backend.to_numpy(db)
        out.append(np.concatenate([dWn, dbn[:, None]], axis=1))
    return out


LOSS_CASES = [
    ("mse", "identity", 2),
    ("mae", "identity", 2),
    ("huber", "identity", 2),
    ("binary_crossentropy", "identity", 2),
    ("softmax_crossentropy", "identity", 3),
    ("mse", "sigmoid", 1),
    ("mse", "relu", 1),
]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "softplus", "elu", "gelu", "identity"]


def _problem(activation, out_act, loss, n_out, dtype=np.float64, N=9, weighted=False, seed=0):
    rng = np.random.default_rng(seed)
    net = Network([4, 6, 5, n_out], activation=activation, output_activation=out_act, random_state=seed, dtype=dtype)
    X = rng.normal(size=(N, 4)).astype(dtype)
    Y = get_loss(loss).example_targets(rng, n_out, N).T.astype(dtype)
    w = rng.uniform(0.5, 2.0, N).astype(dtype) if weighted else None
    return net, X, Y, w


# --------------------------------------------------------------------------- the namespace and backend
def test_numpy_is_its_own_namespace_and_backend():
    a = np.zeros(3)
    assert backend.namespace(a) is np
    assert backend.namespace(a, 1.0, None) is np
    assert backend.of(a) is backend.NUMPY
    assert backend.select(None, like=a) is backend.NUMPY
    assert backend.select("cpu", like=a) is backend.NUMPY
    # the NumPy primitives are NumPy's own functions (the engine's fast path makes the same calls)
    assert backend.NUMPY.dot is np.dot and backend.NUMPY.multiply is np.multiply


@pytest.mark.parametrize("kind", BACKENDS)
def test_other_arrays_get_their_library(kind):
    a = CONVERT[kind](np.zeros(3))
    xp = backend.namespace(a)
    assert xp is not np
    bk = backend.select(None, like=a)
    assert bk.lazy and bk.xp is xp
    assert bk.name == ("torch" if kind == "torch" else "array_api_strict")


@pytest.mark.parametrize("kind", BACKENDS)
def test_primitives_write_into_their_buffer(kind):
    """Each primitive writes the NumPy result into the very buffer given (a view of a larger array)."""
    bk = backend.of(CONVERT[kind](np.zeros(1)))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    A, B = rng.normal(size=(3, 5)), rng.normal(size=(5, 4))
    base = bk.zeros(40, np.float64)
    out = bk.xp.reshape(base[:12], (4, 3)).T  # a transposed view, as the gradient blocks are
    xd, yd = CONVERT[kind](x), CONVERT[kind](y)
    cases = {
        "multiply": (lambda: bk.multiply(xd, yd, out=out), x * y),
        "add": (lambda: bk.add(xd, 2.5, out=out), x + 2.5),
        "subtract": (lambda: bk.subtract(xd, yd, out=out), x - y),
        "divide": (lambda: bk.divide(xd, yd, out=out), x / y),
        "maximum": (lambda: bk.maximum(xd, 0.0, out=out), np.maximum(x, 0.0)),
        "greater": (lambda: bk.greater(xd, 0.0, out=out), (x > 0).astype(float)),
        "sqrt": (lambda: bk.sqrt(bk.xp.abs(xd), out=out), np.sqrt(np.abs(x))),
        "dot": (lambda: bk.dot(CONVERT[kind](A), CONVERT[kind](B), out=out), A @ B),
    }
    for name, (run, expected) in cases.items():
        run()
        got = backend.to_numpy(base)[:12].reshape(4, 3).T
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-15, err_msg=name)
    assert float(bk.sumsq(xd)) == pytest.approx(float(np.vdot(x, x)), rel=1e-14)


def test_cuda_device_without_a_gpu_is_a_clear_error():
    if CUDA:
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        backend.select("cuda", like=np.zeros(3))
    net = Network([2, 3, 1], random_state=0)
    before = net.theta.copy()
    with pytest.raises(ConfigError, match="device='cuda:1'"):
        train(net, np.zeros((4, 2)), np.zeros(4), device="cuda:1", epochs=1, progress=False)
    np.testing.assert_array_equal(net.theta, before)


def test_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        backend.select("gpu0", like=np.zeros(3))


# --------------------------------------------------------------------------- the gradient suite
@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backprop_equals_numpy_every_activation(kind, activation):
    net, X, Y, _ = _problem(activation, "identity", "mse", 2)
    g_np = net.gradients(X, Y, loss="mse")
    g_dev, g_ex, J, J_ex = _device_gradients(net, X.T, Y.T, get_loss("mse"), None, kind)
    np.testing.assert_allclose(g_dev, g_np.flat, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_ex, g_np.flat, rtol=1e-12, atol=1e-14)
    assert J == pytest.approx(g_np.loss, rel=1e-12) and J_ex == pytest.approx(g_np.loss, rel=1e-12)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize(("loss", "out_act", "n_out"), LOSS_CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_backprop_equals_numpy_every_loss(kind, loss, out_act, n_out, weighted):
    net, X, Y, w = _problem("tanh", out_act, loss, n_out, weighted=weighted, seed=3)
    g_np = net.gradients(X, Y, loss=loss, sample_weight=w)
    g_dev, g_ex, J, J_ex = _device_gradients(net, X.T, Y.T, get_loss(loss), w, kind)
    assert np.abs(g_np.flat).max() > 1e-3  # not comparing zeros
    np.testing.assert_allclose(g_dev, g_np.flat, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_ex, g_np.flat, rtol=1e-12, atol=1e-14)
    assert J == pytest.approx(g_np.loss, rel=1e-12) and J_ex == pytest.approx(g_np.loss, rel=1e-12)


@pytest.mark.parametrize("kind", BACKENDS)
def test_float32_gradients_equal_numpy_float32(kind):
    net, X, Y, _ = _problem("relu", "identity", "mse", 2, dtype=np.float32, N=33)
    g_np = net.gradients(X, Y, loss="mse")
    g_dev, _, _, _ = _device_gradients(net, X.T, Y.T, get_loss("mse"), None, kind)
    assert g_dev.dtype == np.float32
    np.testing.assert_allclose(g_dev, g_np.flat, rtol=2e-5, atol=1e-6)


# --------------------------------------------------------------------------- training
def _train(kind, X, Y, *, dtype=np.float64, sizes=(4, 8, 6, 2), activation="relu", device=None, **kw):
    net = Network(list(sizes), activation=activation, random_state=7, dtype=dtype)
    convert = (lambda a: a) if kind == "numpy" else (_cuda if kind == "cuda" else CONVERT[kind])
    settings = dict(epochs=3, batch_size=16, random_state=11, progress=False)
    settings.update(kw)
    hist = train(net, convert(X), convert(Y), device=device, **settings)
    return net, hist


def _data(n=101, n_in=4, n_out=2, dtype=np.float64, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    Y = (np.sin(X[:, :n_out]) + 0.1 * rng.normal(size=(n, n_out))).astype(dtype)
    return X, Y


TRAIN_CASES = {
    "seed sgd": dict(optimizer="sgd", lr=0.05, shuffle=False),
    "sgd shuffled": dict(optimizer="sgd", lr=0.05),
    "momentum": dict(optimizer="momentum", lr=0.02),
    "nesterov l2": dict(optimizer="nesterov", lr=0.02, weight_decay=1e-3),
    "adam": dict(optimizer="adam", lr=1e-2),
    "adam l2": dict(optimizer="adam", lr=1e-2, weight_decay=1e-3),
    "adamw": dict(optimizer="adamw", lr=1e-2),
    "validation": dict(optimizer="adam", lr=1e-2, validation_fraction=0.2, metric="r2"),
    "expanded": dict(optimizer="sgd", lr=0.05, gradient="expanded"),
    "seed mode": dict(optimizer="sgd", lr=0.05, mode="seed"),
    "huber tanh": dict(optimizer="adam", lr=1e-2, loss="huber", activation="tanh"),
    "early stopping": dict(
        optimizer="adam", lr=0.2, epochs=12, validation_fraction=0.3, early_stopping=True, patience=1
    ),
    "schedule": dict(optimizer="momentum", lr=0.05, lr_schedule="cosine", epochs=4),
}


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_training_equals_numpy(kind, case):
    X, Y = _data()
    kw = dict(TRAIN_CASES[case])
    net_np, h_np = _train("numpy", X, Y, **kw)
    net_d, h_d = _train(kind, X, Y, **kw)
    assert isinstance(net_d.theta, np.ndarray)  # the network stays NumPy
    assert np.abs(net_np.theta - Network([4, 8, 6, 2], random_state=7).theta).max() > 1e-3  # it trained
    np.testing.assert_allclose(net_d.theta, net_np.theta, rtol=1e-12, atol=1e-12)
    for e_np, e_d in zip(h_np.epochs, h_d.epochs):
        for key in ("train_loss", "val_loss", "grad_norm", "metric", "val_metric"):
            if e_np.get(key) is not None:
                assert e_d[key] == pytest.approx(e_np[key], rel=1e-12), key


@pytest.mark.parametrize("kind", BACKENDS)
def test_weighted_classification_equals_numpy(kind):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4))
    Y = np.eye(3)[rng.integers(0, 3, 90)]
    w = rng.uniform(0.5, 2, 90)
    kw = dict(sizes=(4, 8, 6, 3), loss="softmax_crossentropy", optimizer="adam", lr=1e-2, metric="accuracy")
    net_np, h_np = _train("numpy", X, Y, sample_weight=w, **kw)
    convert = CONVERT[kind]
    net_d = Network([4, 8, 6, 3], random_state=7)
    h_d = train(net_d, convert(X), convert(Y), sample_weight=convert(w), epochs=3, batch_size=16,
                random_state=11, progress=False, loss="softmax_crossentropy", optimizer="adam", lr=1e-2, metric="accuracy")  # fmt: skip
    np.testing.assert_allclose(net_d.theta, net_np.theta, rtol=1e-12, atol=1e-12)
    assert h_d.epochs[-1]["train_loss"] == pytest.approx(h_np.epochs[-1]["train_loss"], rel=1e-12)


@pytest.mark.parametrize("kind", BACKENDS)
def test_float32_training_equals_numpy_float32(kind):
    X, Y = _data(dtype=np.float32)
    net_np, h_np = _train("numpy", X, Y, dtype=np.float32, optimizer="adam", lr=1e-2)
    net_d, h_d = _train(kind, X, Y, dtype=np.float32, optimizer="adam", lr=1e-2)
    assert net_d.theta.dtype == np.float32
    np.testing.assert_allclose(net_d.theta, net_np.theta, rtol=1e-4, atol=1e-5)
    assert h_d.epochs[-1]["train_loss"] == pytest.approx(h_np.epochs[-1]["train_loss"], rel=1e-4)


def test_device_cpu_with_torch_tensors_trains_with_torch_there():
    """The input decides: torch tensors train with PyTorch (here on the CPU); seen by a grad hook's type."""
    X, Y = _data()
    seen = []
    net = Network([4, 8, 6, 2], random_state=7)
    # the Step the loop builds is not reachable from outside: check the backend train() would choose
    assert backend.select(None, like=torch.from_numpy(X)).name == "torch"
    assert backend.select("cpu", like=torch.from_numpy(X)).name == "torch"
    params = BlockParameters(backend.of(torch.zeros(1)).asarray(net.theta), net.layout, net.activations)
    from handgrad.training.optimizers import SGD

    opt = SGD(net.parameters(), lr=0.01)
    opt.to_backend(params.theta, backend.of(params.theta))
    step = Step(params, get_loss("mse"), opt, X, Y, None, 16, grad_hook=lambda g: seen.append(type(g)))
    step.run_epoch()
    opt.to_host()
    assert seen and all(t is torch.Tensor for t in seen)
    assert isinstance(opt.theta, np.ndarray)


@pytest.mark.parametrize("kind", BACKENDS)
def test_divergence_names_the_same_batch_and_restores(kind):
    X, Y = _data()
    Y = Y * 1e200  # the squared error overflows in the first batch
    errors = {}
    for k in ("numpy", kind):
        with pytest.raises(DivergenceError) as info:
            _train(k, X, Y, optimizer="sgd", lr=0.1)
        errors[k] = str(info.value)
    assert errors[kind] == errors["numpy"]
    assert "mini-batch 1" in errors[kind]


class _HalveWeights(Callback):
    """Changes the parameters at each epoch's end (what restore_best does): must reach the device."""

    def on_train_begin(self, context):
        self.net = context.network

    def on_epoch_end(self, epoch, logs):
        self.net.theta *= 0.5
        return False


@pytest.mark.parametrize("kind", BACKENDS)
def test_callbacks_see_and_change_the_trained_parameters(kind):
    X, Y = _data()
    net_np, _ = _train("numpy", X, Y, optimizer="adam", lr=1e-2, callbacks=[_HalveWeights()])
    net_d, _ = _train(kind, X, Y, optimizer="adam", lr=1e-2, callbacks=[_HalveWeights()])
    np.testing.assert_allclose(net_d.theta, net_np.theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", BACKENDS)
def test_checkpoint_and_resume_on_a_device_equal_numpy(kind):
    """Checkpoints carry the device's optimizer state; resuming on the device ends where NumPy does."""
    X, Y = _data()
    states = []
    kw = dict(optimizer="adam", lr=1e-2, epochs=4, checkpoint_every=2, on_checkpoint=states.append)
    net_np, _ = _train("numpy", X, Y, **kw)
    mid_np = states[0]
    states.clear()
    _train(kind, X, Y, **kw)
    mid_d = states[0]
    for key, a in mid_np.optimizer_arrays.items():
        np.testing.assert_allclose(mid_d.optimizer_arrays[key], a, rtol=1e-12, atol=1e-15, err_msg=key)
    net_r, _ = _train(kind, X, Y, optimizer="adam", lr=1e-2, epochs=4, resume=mid_d)
    np.testing.assert_allclose(net_r.theta, net_np.theta, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- CUDA (where present)
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("case", ["seed sgd", "adam", "validation", "nesterov l2"])
def test_cuda_training_equals_numpy(case):
    """On the GPU the products sum in another order (cuBLAS): equal to NumPy to 1e-9, float64."""
    X, Y = _data()
    kw = dict(TRAIN_CASES[case])
    net_np, h_np = _train("numpy", X, Y, **kw)
    net_c, h_c = _train("cuda", X, Y, **kw)
    np.testing.assert_allclose(net_c.theta, net_np.theta, rtol=1e-9, atol=1e-10)
    assert h_c.epochs[-1]["train_loss"] == pytest.approx(h_np.epochs[-1]["train_loss"], rel=1e-9)


@pytest.mark.cuda
@needs_cuda
def test_device_cuda_moves_numpy_input_to_the_gpu():
    X, Y = _data()
    net_np, _ = _train("numpy", X, Y, optimizer="adam", lr=1e-2)
    net_c, _ = _train("numpy", X, Y, optimizer="adam", lr=1e-2, device="cuda")
    assert isinstance(net_c.theta, np.ndarray)
    np.testing.assert_allclose(net_c.theta, net_np.theta, rtol=1e-9, atol=1e-10)
    assert backend.select("cuda:0", like=X).device.type == "cuda"


@pytest.mark.cuda
@needs_cuda
def test_cuda_gradients_equal_numpy():
    net, X, Y, w = _problem("tanh", "identity", "huber", 2, weighted=True, N=64)
    g_np = net.gradients(X, Y, loss="huber", sample_weight=w)
    g_dev, g_ex, _, _ = _device_gradients(net, X.T, Y.T, get_loss("huber"), w, "cuda", convert=_cuda)
    np.testing.assert_allclose(g_dev, g_np.flat, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g_ex, g_np.flat, rtol=1e-10, atol=1e-13)


@pytest.mark.cuda
@needs_cuda
def test_cuda_float32_training():
    X, Y = _data(dtype=np.float32)
    net_np, _ = _train("numpy", X, Y, dtype=np.float32, optimizer="adam", lr=1e-2)
    net_c, _ = _train("cuda", X, Y, dtype=np.float32, optimizer="adam", lr=1e-2)
    np.testing.assert_allclose(net_c.theta, net_np.theta, rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------- the GPU benchmark runs
def test_bench_gpu_runs_on_the_cpu(data_dir, tmp_path):
    """benchmarks/bench_gpu.py with tiny settings on --device cpu (the same code as on cuda)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "gpu.md"
    args = [
        "--device",
        "cpu",
        "--rows",
        "300",
        "--batches",
        "32",
        "100",
        "--rounds",
        "1",
        "--epochs",
        "1",
        "--torch-threads",
        "1",
    ]
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "bench_gpu.py"), *args, "--markdown", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HANDGRAD_DATA": str(data_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| seed") or line.startswith("| wide")]
    assert [r.split("|")[1].split()[0] for r in rows] == ["seed", "seed", "wide", "wide"]
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert all(float(c) > 0 for c in cells[2:])


# --------------------------------------------------------------------------- data larger than the device
@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("case", ["sgd shuffled", "seed sgd", "adam l2"])
def test_data_in_chunks_equal_numpy(kind, case, monkeypatch):
    """Data that do not fit on the device stay on the host and go there in chunks: the same numbers."""
    X, Y = _data(n=203)
    w = np.random.default_rng(1).uniform(0.5, 2, 203)
    kw = dict(TRAIN_CASES[case])
    if kw.get("mode") != "seed":
        kw["sample_weight"] = w
    net_np, h_np = _train("numpy", X, Y, **kw)
    bk_type = type(backend.of(CONVERT[kind](np.zeros(1))))
    chunks = []
    original = Step._upload
    monkeypatch.setattr(bk_type, "rows_that_fit", lambda self, n, bytes_per_row: 50, raising=False)
    monkeypatch.setattr(Step, "_upload", lambda self, c0, c1: (chunks.append((c0, c1)), original(self, c0, c1)))
    if "sample_weight" in kw:
        kw["sample_weight"] = CONVERT[kind](w)
    net_d, h_d = _train(kind, X, Y, **kw)
    # 50 rows fit: chunks of 48 (three batches of 16), copied at the start of each, every epoch
    assert chunks[:5] == [(0, 48), (48, 96), (96, 144), (144, 192), (192, 203)]
    assert len(chunks) == 5 * 3
    np.testing.assert_allclose(net_d.theta, net_np.theta, rtol=1e-12, atol=1e-12)
    assert h_d.epochs[-1]["train_loss"] == pytest.approx(h_np.epochs[-1]["train_loss"], rel=1e-12)


def test_estimator_device_hyper_parameter_and_tensor_input():
    """MLPRegressor(device=...) trains where it says; torch tensors in, NumPy predictions out."""
    torch = pytest.importorskip("torch")
    from handgrad import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] - X[:, 1] ** 2
    ref = MLPRegressor(hidden_layer_sizes=(8,), max_iter=4, random_state=0).fit(X, y)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=4, random_state=0, device="cpu")
    est.fit(torch.tensor(X), torch.tensor(y))
    pred = est.predict(torch.tensor(X))
    assert isinstance(pred, np.ndarray)
    np.testing.assert_allclose(pred, ref.predict(X), rtol=1e-12, atol=1e-12)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda"):
            MLPRegressor(max_iter=1, device="cuda").fit(X, y)
