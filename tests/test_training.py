"""The training loop: semantics, early stopping, divergence, callbacks, reproducibility, resume."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from handgrad import Network
from handgrad.errors import ConfigError, DivergenceError
from handgrad.training import (
    Adam,
    Callback,
    EarlyStopping,
    History,
    PrintEvery,
    TrainState,
    step,
    train,
)


def regression_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    return X, y


def params_of(net):
    return [p.copy() for p in net.parameters()]


class Recorder(Callback):
    """Records the hooks called and a copy of the parameters after every epoch."""

    def __init__(self):
        self.events, self.params = [], []

    def on_train_begin(self, context):
        self.events.append("begin")
        self.net = context.network

    def on_epoch_end(self, epoch, logs):
        self.events.append(epoch)
        self.params.append(params_of(self.net))

    def on_train_end(self, history):
        self.events.append("end")


# ------------------------------------------------------------------ basic semantics
def test_training_reduces_the_loss_and_fills_the_history():
    X, y = regression_data()
    net = Network([3, 16, 1], random_state=0)
    hist = train(net, X, y, optimizer="adam", lr=0.01, epochs=30, random_state=0, validation_fraction=0.25)
    assert len(hist) == 30 and hist.stop_reason == "completed"
    assert [e["epoch"] for e in hist] == list(range(1, 31))
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert hist["val_loss"][-1] < hist["val_loss"][0]
    for e in hist:
        assert set(e) == {"epoch", "train_loss", "val_loss", "grad_norm", "lr", "seconds"}
        assert e["grad_norm"] > 0 and e["seconds"] >= 0 and e["lr"] == 0.01


def test_one_standard_epoch_equals_manual_steps_with_the_mean_over_each_batch():
    """Without shuffling, an epoch is SGD on batches in order, each gradient the mean over
    the batch's own rows (40 = 32 + 8: the last batch averages over 8), via the public API."""
    X, y = regression_data(40)
    net = Network([3, 5, 1], random_state=1)
    manual = net.copy()
    train(net, X, y, optimizer="sgd", lr=0.1, epochs=1, batch_size=32, shuffle=False)
    for i in (0, 32):
        g = manual.gradients(X[i : i + 32], y[i : i + 32])
        for p, gp in zip(manual.parameters(), g):
            p -= 0.1 * gp
    for a, b in zip(net.parameters(), manual.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_expanded_gradient_gives_the_same_training():
    X, y = regression_data(50)
    a, b = Network([3, 6, 4, 1], random_state=2), Network([3, 6, 4, 1], random_state=2)
    train(a, X, y, optimizer="sgd", lr=0.05, epochs=3, batch_size=16, random_state=0)
    train(b, X, y, optimizer="sgd", lr=0.05, epochs=3, batch_size=16, random_state=0, gradient="expanded")
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("activation, loss", [("tanh", "mse"), ("sigmoid", "huber"), ("relu", "mae")])
def test_general_activations_and_losses_match_the_engine_gradients(activation, loss):
    X, y = regression_data(24)
    net = Network([3, 5, 1], activation=activation, random_state=3)
    manual = net.copy()
    train(net, X, y, loss=loss, optimizer="sgd", lr=0.1, epochs=1, batch_size=24, shuffle=False)
    g = manual.gradients(X, y, loss=loss)
    for p, gp in zip(manual.parameters(), g):
        p -= 0.1 * gp
    for a, b in zip(net.parameters(), manual.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_sample_weight_zero_rows_are_ignored():
    X, y = regression_data(40)
    w = np.r_[np.ones(20), np.zeros(20)]
    a, b = Network([3, 5, 1], random_state=4), Network([3, 5, 1], random_state=4)
    train(a, X, y, sample_weight=w, optimizer="sgd", lr=0.1, epochs=3, batch_size=40, shuffle=False)
    train(b, X[:20], y[:20], optimizer="sgd", lr=0.1, epochs=3, batch_size=20, shuffle=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_classification_with_metric_and_stratified_split():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 2))
    labels = (X[:, 0] + X[:, 1] > 0.8).astype(int)  # about 1/4 positives
    net = Network([2, 8, 1], random_state=0)
    states = []
    hist = train(
        net, X, labels, loss="binary_crossentropy", metric="accuracy", epochs=40, lr=0.05,
        validation_fraction=0.25, stratify=labels, random_state=0, checkpoint_every=40, on_checkpoint=states.append,
    )  # fmt: skip
    assert hist["metric"][-1] > 0.85 and hist["val_metric"][-1] > 0.8
    val = states[0].split["val"]
    assert len(val) == 30
    assert labels[val].mean() == pytest.approx(labels.mean(), abs=0.02)  # class proportions kept


def test_schedule_sets_the_learning_rate_each_epoch():
    X, y = regression_data(32)
    hist = train(Network([3, 4, 1], random_state=0), X, y, lr=0.1, epochs=5, lr_schedule=step(2, 0.5))
    assert hist["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


# --------------------------------------------------------------- reproducibility
def test_same_random_state_is_bit_identical_and_another_is_not():
    X, y = regression_data()

    def run(seed):
        net = Network([3, 8, 1], random_state=0)
        hist = train(net, X, y, optimizer="adam", epochs=5, random_state=seed, validation_fraction=0.2)
        return params_of(net), hist["train_loss"]

    (p1, l1), (p2, l2), (p3, _) = run(5), run(5), run(6)
    assert l1 == l2
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(p1, p3))


def test_optimizer_instance_keeps_its_state_across_calls_and_history_continues():
    X, y = regression_data(48)
    a, b = Network([3, 6, 1], random_state=0), Network([3, 6, 1], random_state=0)
    train(a, X, y, optimizer="adam", lr=0.01, epochs=4, shuffle=False)
    opt = Adam(b.parameters(), lr=0.01)
    hist = History()
    for _ in range(4):  # partial_fit-style: one epoch per call, same optimizer and history
        train(b, X, y, optimizer=opt, epochs=1, shuffle=False, history=hist)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert opt.t == 4 * 2  # 48 rows = 2 batches per epoch
    assert [e["epoch"] for e in hist] == [1, 2, 3, 4]


@pytest.mark.parametrize("mode", ["standard", "seed"])
def test_resume_from_a_checkpoint_is_bit_identical(mode):
    X, y = regression_data(70)
    Xv, yv = regression_data(20, seed=9)
    perms = np.stack([np.random.default_rng(i).permutation(70) for i in range(6)]) if mode == "seed" else None
    kw = dict(
        optimizer="adam", lr=0.01, epochs=6, batch_size=16, random_state=3, mode=mode, permutations=perms,
        early_stopping=True, patience=50,
    )  # fmt: skip
    kw.update(validation_data=(Xv, yv)) if mode == "seed" else kw.update(validation_fraction=0.2)

    full = Network([3, 8, 1], random_state=0)
    states = []
    hist_full = train(full, X, y, checkpoint_every=3, on_checkpoint=states.append, **kw)
    assert [s.epoch for s in states] == [3, 6]

    # Through the file layer's format: arrays + JSON, no pickle.
    arrays, meta = states[0].to_arrays_and_metadata()
    state = TrainState.from_arrays_and_metadata(
        {k: np.array(v) for k, v in arrays.items()}, json.loads(json.dumps(meta))
    )
    resumed = Network([3, 8, 1], random_state=123)  # other weights: the state overrides them
    hist_resumed = train(resumed, X, y, resume=state, **kw)
    for p, q in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)
    assert hist_resumed["train_loss"] == hist_full["train_loss"]
    assert hist_resumed["val_loss"] == hist_full["val_loss"]


# ------------------------------------------------------------------ early stopping
def test_early_stopping_stops_after_patience_epochs_without_improvement():
    X, y = regression_data(32)
    # lr = 0 and no shuffling: every epoch's loss equals the first one's, so none improves.
    hist = train(Network([3, 4, 1], random_state=0), X, y, optimizer="sgd", lr=0.0, epochs=100,
                 early_stopping=True, patience=3, shuffle=False)  # fmt: skip
    assert len(hist) == 4 and hist.stop_reason == "early_stopping"
    full = train(Network([3, 4, 1], random_state=0), X, y, optimizer="sgd", lr=0.0, epochs=10)
    assert len(full) == 10 and full.stop_reason == "completed"


def test_min_delta_counts_small_improvements_as_none():
    X, y = regression_data(64)
    kw = dict(optimizer="sgd", lr=1e-4, epochs=30, early_stopping=True, patience=2, random_state=0)
    slow = train(Network([3, 4, 1], random_state=0), X, y, min_delta=0.0, **kw)
    strict = train(Network([3, 4, 1], random_state=0), X, y, min_delta=1.0, **kw)
    assert len(slow) == 30  # tiny but steady improvements
    assert len(strict) == 3  # none exceeds 1.0


def test_restore_best_puts_back_the_best_epochs_weights():
    X, y = regression_data(64)
    Xv, yv = X, -y  # training on y makes the loss on -y worse: epoch 1 is the best
    rec = Recorder()
    net = Network([3, 8, 1], random_state=0)
    hist = train(net, X, y, lr=0.01, epochs=8, validation_data=(Xv, yv), early_stopping=True, patience=100,
                 callbacks=[rec], random_state=0)  # fmt: skip
    best = hist.best_epoch
    assert best < 8 and hist["val_loss"][best - 1] == min(hist["val_loss"])
    for p, q in zip(net.parameters(), rec.params[best - 1]):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for p, q in zip(net.parameters(), rec.params[-1]))

    # restore_best=False keeps the last epoch's weights.
    net2 = Network([3, 8, 1], random_state=0)
    train(net2, X, y, lr=0.01, epochs=8, validation_data=(Xv, yv), early_stopping=True, patience=100,
          restore_best=False, random_state=0)  # fmt: skip
    for p, q in zip(net2.parameters(), rec.params[-1]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_validates_its_settings():
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ConfigError, match="min_delta"):
        EarlyStopping(min_delta=-1)


# ----------------------------------------------------------------------- divergence
def test_divergence_raises_at_once_and_keeps_the_last_good_weights():
    X, y = regression_data(64)
    X = X * 1e3  # unscaled inputs and a large rate: SGD blows up
    net = Network([3, 16, 1], random_state=0)
    start = params_of(net)
    with pytest.raises(DivergenceError, match="learning rate") as info:
        train(net, X, y, optimizer="sgd", lr=10.0, epochs=5, batch_size=8)
    exc = info.value
    assert exc.epoch == 1 and "mini-batch" in str(exc)
    assert exc.history.stop_reason == "diverged"
    for p, q, name in zip(net.parameters(), start, net.parameter_names()):
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, q)  # diverged in epoch 1: back to the start
        np.testing.assert_array_equal(exc.last_good[name], p)


def test_nan_appearing_later_restores_the_previous_epochs_weights():
    X, y = regression_data(32)

    class Poison(Callback):
        def on_train_begin(self, context):
            self.net = context.network

        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.good = params_of(self.net)
                self.net.weights[0][0, 0] = np.nan

    poison = Poison()
    net = Network([3, 4, 1], random_state=0)
    with pytest.raises(DivergenceError) as info:
        train(net, X, y, epochs=5, callbacks=[poison])
    assert info.value.epoch == 3
    for p, q in zip(net.parameters(), poison.good):
        np.testing.assert_array_equal(p, q)


# ------------------------------------------------------------------------ callbacks
def test_callback_hooks_are_called_and_a_callback_can_stop():
    X, y = regression_data(32)

    class StopAt3(Recorder):
        def on_epoch_end(self, epoch, logs):
            super().on_epoch_end(epoch, logs)
            return epoch == 3

    rec = StopAt3()
    hist = train(Network([3, 4, 1], random_state=0), X, y, epochs=10, callbacks=[rec])
    assert rec.events == ["begin", 1, 2, 3, "end"]
    assert len(hist) == 3 and hist.stop_reason == "callback"


def test_print_every_prints_the_seeds_line(capsys):
    X, y = regression_data(32)
    hist = train(Network([3, 4, 1], random_state=0), X, y, epochs=20, print_every=10, validation_data=(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Epoch {k}, Validation Loss: {hist['val_loss'][k - 1]:f}" for k in (10, 20)]
    buf = io.StringIO()
    PrintEvery(1, "{epoch}:{train_loss:.1f}", file=buf).on_epoch_end(1, {"epoch": 1, "train_loss": 2.0})
    assert buf.getvalue() == "1:2.0\n"


def test_progress_bar_is_off_when_not_a_terminal_and_on_when_asked(capsys):
    pytest.importorskip("tqdm")
    X, y = regression_data(32)
    train(Network([3, 4, 1], random_state=0), X, y, epochs=3)  # stderr is captured: not a TTY
    assert capsys.readouterr().err == ""
    train(Network([3, 4, 1], random_state=0), X, y, epochs=3, progress=True)
    assert "3/3" in capsys.readouterr().err
    train(Network([3, 4, 1], random_state=0), X, y, epochs=3, progress=True, verbose=-1)  # quiet wins
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kw, match",
    [(dict(mode="matlab"), "unknown mode"), (dict(gradient="numeric"), "unknown gradient"),
     (dict(epochs=-1), "epochs"), (dict(batch_size=0), "batch_size"), (dict(validation_fraction=1.0), "validation_fraction"),
     (dict(checkpoint_every=2), "on_checkpoint"), (dict(metric="f1"), "unknown metric"),
     (dict(validation_fraction=0.5, validation_data=(np.ones((2, 3)), np.ones(2))), "not both")],
)  # fmt: skip
def test_bad_settings_raise_config_errors(kw, match):
    X, y = regression_data(10)
    with pytest.raises(ConfigError, match=match):
        train(Network([3, 2, 1], random_state=0), X, y, **kw)


def test_bad_data_raise_shape_errors():
    from handgrad.errors import ShapeError

    net = Network([3, 2, 1], random_state=0)
    with pytest.raises(ShapeError, match="features"):
        train(net, np.ones((5, 4)), np.ones(5))
    with pytest.raises(ShapeError, match="rows"):
        train(net, np.ones((5, 3)), np.ones(4))


def test_blas_threads_are_limited_only_inside_the_call():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(blas_threads())

    X, y = regression_data(32)
    train(Network([3, 4, 1], random_state=0), X, y, epochs=1, callbacks=[Spy()])
    assert seen and all(n == 1 for n in seen[0])  # the seed-sized products run on one thread
    assert blas_threads() == before  # and the user's setting is back
    train(Network([3, 4, 1], random_state=0), X, y, epochs=1, callbacks=[Spy()], blas_threads=None)
    assert seen[1] == before


def test_logged_regression_metrics_are_those_of_the_predictions():
    # The history's metric is computed from the trained network's predictions with the same definitions
    # as the command line's final table (sklearn's: R² averaged per output, MSE over every element).
    from handgrad import Network
    from handgrad.training import train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X[:, 0], 10 * X[:, 1] + 5])
    for name in ("r2", "mse", "mae"):
        net = Network([3, 5, 2], random_state=0)
        hist = train(net, X, Y, metric=name, epochs=3, shuffle=False, random_state=0)
        P = net.forward(X)
        expected = {
            "r2": np.mean(1 - ((Y - P) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)),
            "mse": np.mean((Y - P) ** 2),
            "mae": np.mean(np.abs(Y - P)),
        }[name]
        assert hist["metric"][-1] == pytest.approx(expected, rel=1e-10)
