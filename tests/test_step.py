"""The training step (handgrad.training.step) against the §1.2 expanded gradient in the same loop.

The step runs the engine's one backpropagation (handgrad.backprop: biases folded into
the products, one flat parameter buffer, the learning rate folded into δ_L for plain
SGD); the reference runs the same loop with ``gradient="expanded"``, the deliberately
independent §1.2 formulas (no folding, no flat buffer, a separate forward pass).
Both must give the same numbers up to rounding (~1e-16 relative per step).
(These tests compared the former fused SGD step with the former general step; there is
one step now, so the reference is the expanded form.)
"""

import numpy as np
import pytest

from handgrad import Network
from handgrad.errors import DivergenceError
from handgrad.losses import get_loss
from handgrad.training import SGD, Adam, train
from handgrad.training.callbacks import Callback
from handgrad.training.step import Step


def _data(n=203, n_in=5, n_out=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    Y = np.tanh(X @ rng.standard_normal((n_in, n_out))) + 0.1 * rng.standard_normal((n, n_out))
    return X, Y


def _run(monkeypatch, enabled, sizes, activation="relu", dtype=np.float64, **kw):
    """``enabled``: the engine's step; else the reference loop on the §1.2 expanded gradient."""
    if not enabled:
        kw = {**kw, "gradient": "expanded"}
    X, Y = _data(n_in=sizes[0], n_out=sizes[-1])
    net = Network(sizes, activation=activation, random_state=1, dtype=dtype)
    kw = {"optimizer": "sgd", "lr": 0.02, "epochs": 4, "batch_size": 16, "progress": False, **kw}
    hist = train(net, X.astype(dtype), Y.astype(dtype), **kw)
    return net, hist


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize(
    "sizes, activation, kw",
    [
        ([5, 16, 8, 1], "relu", {"shuffle": True, "random_state": 3}),  # 203 rows: a short last batch
        ([5, 16, 8, 1], "relu", {"mode": "seed"}),  # the seed's fixed 2/batch_size on that batch
        ([5, 12, 3], "identity", {"shuffle": False}),  # linear hidden layer, two outputs
        ([5, 10, 9, 8, 2], "relu", {"batch_size": 7, "random_state": 0}),  # three hidden layers
        ([5, 4, 1], "relu", {"lr_schedule": "cosine", "random_state": 0}),  # lr changes per epoch
        ([5, 7, 6, 2], "identity", {"random_state": 0}),  # identity hidden layers, sample-major buffers
        ([5, 3], "relu", {"random_state": 0}),  # no hidden layer: linear regression, three outputs
        ([5, 6, 1], "relu", {"batch_size": 500, "random_state": 0}),  # one batch, shorter than batch_size
        ([5, 16, 8, 1], "relu", {"validation_fraction": 0.2, "metric": "mse", "random_state": 0}),
    ],
)
def test_step_matches_expanded_reference(monkeypatch, sizes, activation, kw):
    net_g, hist_g = _run(monkeypatch, False, sizes, activation, **kw)
    net_f, hist_f = _run(monkeypatch, True, sizes, activation, **kw)
    for name, p_f, p_g in zip(net_f.parameter_names(), net_f.parameters(), net_g.parameters()):
        assert _rel(p_f, p_g) < 1e-12, name
    for e_f, e_g in zip(hist_f.epochs, hist_g.epochs):
        assert e_f["train_loss"] == pytest.approx(e_g["train_loss"], rel=1e-12)
        assert e_f["grad_norm"] == pytest.approx(e_g["grad_norm"], rel=1e-10)


def test_step_float32(monkeypatch):
    net_g, _ = _run(monkeypatch, False, [5, 16, 8, 1], dtype=np.float32, random_state=0)
    net_f, _ = _run(monkeypatch, True, [5, 16, 8, 1], dtype=np.float32, random_state=0)
    assert net_f.dtype == np.float32
    for p_f, p_g in zip(net_f.parameters(), net_g.parameters()):
        assert _rel(p_f, p_g) < 1e-5


def test_lr_is_folded_only_where_the_update_is_lr_times_g():
    net = Network([3, 4, 1], random_state=0)
    assert SGD(net.parameters(), lr=0.1).folds_lr
    assert not SGD(list(net.parameters()), lr=0.1).folds_lr  # a plain list: no flat buffer to update whole
    assert not Adam(net.parameters()).folds_lr
    assert not SGD(net.parameters(), momentum=0.9).folds_lr
    assert not SGD(net.parameters(), weight_decay=1e-3).folds_lr
    X, Y = _data(n=20, n_in=3)
    mse = get_loss("mse")
    assert Step(net, mse, SGD(net.parameters(), lr=0.1), X, Y, None, 8).fold_lr
    assert not Step(net, mse, SGD(net.parameters(), lr=0.1), X, Y, None, 8, gradient="expanded").fold_lr
    assert not Step(net, mse, SGD(net.parameters(), lr=0.1), X, Y, None, 8, grad_hook=lambda g: None).fold_lr


def test_step_repeat_is_bit_identical():
    _, hist1 = _run(pytest.MonkeyPatch(), True, [5, 16, 8, 1], random_state=7)
    net1, _ = _run(pytest.MonkeyPatch(), True, [5, 16, 8, 1], random_state=7)
    net2, hist2 = _run(pytest.MonkeyPatch(), True, [5, 16, 8, 1], random_state=7)
    for p1, p2 in zip(net1.parameters(), net2.parameters()):
        assert np.array_equal(p1, p2)
    assert [e["train_loss"] for e in hist1.epochs] == [e["train_loss"] for e in hist2.epochs]


def test_step_updates_the_networks_own_arrays_and_optimizer_count():
    X, Y = _data()
    net = Network([5, 16, 8, 1], random_state=1)
    arrays = net.parameters()
    before = [p.copy() for p in arrays]
    opt = SGD(net.parameters(), lr=0.02)
    train(net, X, Y, optimizer=opt, epochs=2, batch_size=16, progress=False, random_state=0)
    assert all(a is b for a, b in zip(arrays, net.parameters()))  # the same objects, updated in place
    assert all(not np.array_equal(a, b) for a, b in zip(arrays, before))
    assert opt.t == 2 * 13  # 203 rows in batches of 16: 13 steps an epoch


def test_step_sees_changes_callbacks_make_between_epochs(monkeypatch):
    class ZeroFirstBias(Callback):
        def on_epoch_end(self, epoch, logs):
            self.network.biases[0][:] = 0.0

        def on_train_begin(self, context):
            self.network = context.network

    results = []
    for gradient in ("expanded", "backprop"):
        X, Y = _data()
        net = Network([5, 16, 8, 1], random_state=1)
        train(net, X, Y, optimizer="sgd", lr=0.02, epochs=3, batch_size=16, progress=False, random_state=0,
              callbacks=[ZeroFirstBias()], gradient=gradient)  # fmt: skip
        results.append(net)
    for p_f, p_g in zip(results[1].parameters(), results[0].parameters()):
        np.testing.assert_allclose(p_f, p_g, rtol=1e-12, atol=1e-300)


def test_step_divergence_stops_at_once_and_keeps_last_good_weights(monkeypatch):
    epochs_run = []
    run_epoch = Step.run_epoch

    def spy(self):
        out = run_epoch(self)
        epochs_run.append(out.bad_batch)  # the 1-based bad batch, or None
        return out

    monkeypatch.setattr(Step, "run_epoch", spy)
    X, Y = _data()
    Y = Y * 1e6
    net = Network([5, 16, 8, 1], random_state=1)
    # epoch 1 with a harmless rate, then a rate that overflows within the second epoch
    train(net, X, Y, optimizer="sgd", lr=1e-14, epochs=1, batch_size=16, progress=False, shuffle=False)
    good = [p.copy() for p in net.parameters()]
    assert all(np.isfinite(p).all() for p in good)
    with pytest.raises(DivergenceError, match="mini-batch") as info:
        train(net, X, Y, optimizer="sgd", lr=10.0, epochs=3, batch_size=16, progress=False, shuffle=False)
    for p, g in zip(net.parameters(), good):
        assert np.array_equal(p, g)  # restored to the start of the diverging epoch
    assert info.value.epoch == 1
    assert info.value.history.stop_reason == "diverged"
    assert len(info.value.history) == 0  # stopped inside the first epoch of that call
    assert epochs_run[0] is None and epochs_run[1] is not None and len(epochs_run) == 2  # at once
    assert epochs_run[1] < 13  # 203 rows in batches of 16: before the end of the epoch


@pytest.mark.parametrize("gradient", ["backprop", "expanded"])
def test_grad_norm_is_the_last_mini_batch_gradient_norm(gradient):
    X, Y = _data(n=40)
    net = Network([5, 16, 8, 1], random_state=1)
    ref = net.copy()
    hist = train(net, X, Y, optimizer="sgd", lr=0.05, epochs=1, batch_size=16, shuffle=False, progress=False,
                 gradient=gradient)  # fmt: skip
    # By hand with the public API: SGD on rows 0-15 and 16-31, then the gradient on rows 32-39.
    for i in (0, 16):
        g = ref.gradients(X[i : i + 16], Y[i : i + 16])
        for p, gp in zip(ref.parameters(), g):
            p -= 0.05 * gp
    g_last = ref.gradients(X[32:], Y[32:])
    expected = np.sqrt(sum(float(np.sum(gp**2)) for gp in g_last))
    assert hist.epochs[0]["grad_norm"] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("optimizer", "weighted"), [("sgd", False), ("adam", False), ("adam", True)])
def test_gathering_rows_from_x_without_an_augmented_copy_gives_the_same_numbers(optimizer, weighted):
    """Large data: each batch's rows are gathered from X in the epoch's order (no copy of the data)."""
    X, Y = _data()
    w = np.random.default_rng(3).uniform(0.5, 2, len(X)) if weighted else None
    results = []
    for gather in (False, True):
        net = Network([5, 16, 8, 1], random_state=1)
        opt = SGD(net.parameters(), lr=0.02) if optimizer == "sgd" else Adam(net.parameters(), lr=0.01)
        step = Step(net, get_loss("mse"), opt, X, Y, w, 16, reorder=True, gather_from_X=gather)
        assert step.gather_from_X is gather and (step.X_aug is None) is gather
        rng = np.random.default_rng(0)
        for _ in range(3):
            step.set_order(rng.permutation(len(X)))
            step.run_epoch()
        np.testing.assert_array_equal(step.rows, X)
        results.append(net.theta.copy())
    np.testing.assert_array_equal(results[0], results[1])
