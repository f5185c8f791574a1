"""mode="seed" against an independent plain-NumPy transcription of the seed's MATLAB loops.

The transcription below is written from the seed document (§1.2 and §1.3 MATLAB
code) and ``DATA.md`` only: it calls nothing from handgrad. It keeps MATLAB's
column biases ``b (n, 1)``, its left-to-right evaluation of ``*`` and ``.*`` in
the expanded formulas, and its semantics: batches of ``batch_size`` rows in file
order, the gradient scaled by ``2/batch_size`` also on the last partial batch,
updates from gradients computed before any update, the validation loss
``sum((y_val_pred - y_val').^2) / size(X_val, 1)`` after each epoch, and (for the
expanded-gradient loop) ``X = X(idx, :)`` with the caller's permutation after
each epoch.

Tolerance: the issue's "1e-10 relative in float64", per array as
max|handgrad − reference| / max|reference|, and elementwise for the losses.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from handgrad import Network
from handgrad.training import train

RTOL = 1e-10  # the bound


def relu(x):
    return np.maximum(x, 0)


def relu_deriv(x):
    return (x > 0).astype(float)


def seed_loop(W1, b1, W2, b2, W3, b3, X, y, X_val, y_val, learning_rate, batch_size, epochs, variant, perms=None):
    """The seed's MATLAB training loop, transcribed line by line (3 layers, ReLU, MSE).

    ``b`` are columns (n, 1) as in MATLAB; ``y`` and ``y_val`` are 1-D.
    Returns the final parameters and the per-epoch validation losses.
    """
    W1, b1, W2, b2, W3, b3 = (np.array(p, dtype=float) for p in (W1, b1, W2, b2, W3, b3))
    b1, b2, b3 = b1.reshape(-1, 1), b2.reshape(-1, 1), b3.reshape(-1, 1)
    X, y = X.copy(), y.copy()
    n = X.shape[0]
    val_losses = []
    for epoch in range(epochs):  # for epoch = 1:epochs
        for i in range(0, n, batch_size):  # for i = 1:batch_size:size(X, 1)
            batch_end = min(i + batch_size, n)
            x = X[i:batch_end, :].T  # x = X(i:batch_end, :)';
            y_true = y[i:batch_end].reshape(1, -1)  # y_true = y(i:batch_end)';
            if variant == "backprop":  # §1.3
                z1 = W1 @ x + b1
                a1 = relu(z1)
                z2 = W2 @ a1 + b2
                a2 = relu(z2)
                z3 = W3 @ a2 + b3
                y_pred = z3
                error = y_pred - y_true
                delta3 = 2 / batch_size * error
                dW3 = delta3 @ a2.T
                db3 = np.sum(delta3, axis=1, keepdims=True)
                delta2 = (W3.T @ delta3) * relu_deriv(z2)
                dW2 = delta2 @ a1.T
                db2 = np.sum(delta2, axis=1, keepdims=True)
                delta1 = (W2.T @ delta2) * relu_deriv(z1)
                dW1 = delta1 @ x.T
                db1 = np.sum(delta1, axis=1, keepdims=True)
            else:  # §1.2, MATLAB's left-to-right order of * and .*
                y_pred = W3 @ relu(W2 @ relu(W1 @ x + b1) + b2) + b3
                error = y_pred - y_true
                dW3 = (2 / batch_size * error) @ relu(W2 @ relu(W1 @ x + b1) + b2).T
                db3 = 2 / batch_size * np.sum(error, axis=1, keepdims=True)
                dW2 = ((2 / batch_size * (W3.T @ error)) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2)) @ relu(
                    W1 @ x + b1
                ).T
                db2 = (
                    2
                    / batch_size
                    * np.sum((W3.T @ error) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2), axis=1, keepdims=True)
                )
                inner = W2.T @ ((W3.T @ error) * relu_deriv(W2 @ relu(W1 @ x + b1) + b2))
                dW1 = ((2 / batch_size * inner) * relu_deriv(W1 @ x + b1)) @ x.T
                db1 = 2 / batch_size * np.sum(inner * relu_deriv(W1 @ x + b1), axis=1, keepdims=True)
            # W3 = W3 - learning_rate * dW3; ... (W3, b3, W2, b2, W1, b1)
            W3 = W3 - learning_rate * dW3
            b3 = b3 - learning_rate * db3
            W2 = W2 - learning_rate * dW2
            b2 = b2 - learning_rate * db2
            W1 = W1 - learning_rate * dW1
            b1 = b1 - learning_rate * db1
        y_val_pred = W3 @ relu(W2 @ relu(W1 @ X_val.T + b1) + b2) + b3
        val_losses.append(np.sum((y_val_pred - y_val.reshape(1, -1)) ** 2) / X_val.shape[0])
        if perms is not None:  # idx = randperm(...); X = X(idx, :); y = y(idx);
            X, y = X[perms[epoch]], y[perms[epoch]]
    return [W1, b1[:, 0], W2, b2[:, 0], W3, b3[:, 0]], np.array(val_losses)


def seed_init(sizes, rng):
    """randn weights and zero biases, as the seed initialises them."""
    Ws = [rng.standard_normal((n_out, n_in)) for n_in, n_out in itertools.pairwise(sizes)]
    bs = [np.zeros(n_out) for n_out in sizes[1:]]
    return Ws, bs


def run_both(Ws, bs, X, y, Xv, yv, lr, batch_size, epochs, variant, perms=None):
    ref_params, ref_val = seed_loop(
        Ws[0], bs[0], Ws[1], bs[1], Ws[2], bs[2], X, y, Xv, yv, lr, batch_size, epochs, variant, perms
    )
    net = Network.from_arrays(Ws, bs, activation="relu")
    hist = train(
        net, X, y, loss="mse", optimizer="sgd", lr=lr, epochs=epochs, batch_size=batch_size,
        mode="seed", gradient=variant, permutations=perms, validation_data=(Xv, yv),
    )  # fmt: skip
    return net, hist, ref_params, ref_val


def assert_seed_match(net, hist, ref_params, ref_val):
    for name, got, want in zip(net.parameter_names(), net.parameters(), ref_params):
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err <= RTOL, f"{name}: relative difference {err:.3g} > {RTOL}"
    np.testing.assert_allclose(hist["val_loss"], ref_val, rtol=RTOL, atol=0)


def load_house(data_dir, n_train, n_val):
    train_rows = np.loadtxt(data_dir / "house" / "train_house.csv", delimiter=",", skiprows=1, max_rows=n_train)
    val_rows = np.loadtxt(data_dir / "house" / "test_house.csv", delimiter=",", skiprows=1, max_rows=n_val)
    # The seed: features = columns 1-37 (the dummy column included), target = column 38.
    return train_rows[:, :37], train_rows[:, 37], val_rows[:, :37], val_rows[:, 37]


@pytest.mark.parametrize("variant", ["backprop", "expanded"])
def test_seed_mode_matches_the_seed_loop_on_house(data_dir, variant):
    # 1,000 rows = 31 × 32 + 8: the last batch is partial, scaled by 2/32 anyway.
    X, y, Xv, yv = load_house(data_dir, 1000, 400)
    rng = np.random.default_rng(7)
    Ws, bs = seed_init([37, 128, 64, 1], rng)
    epochs = 3
    perms = np.stack([rng.permutation(len(X)) for _ in range(epochs)]) if variant == "expanded" else None
    net, hist, ref_params, ref_val = run_both(Ws, bs, X, y, Xv, yv, 1e-4, 32, epochs, variant, perms)
    assert_seed_match(net, hist, ref_params, ref_val)
    assert ref_val[-1] < ref_val[0]  # the run learns (so the comparison is of a real trajectory)


@pytest.mark.parametrize("variant", ["backprop", "expanded"])
def test_seed_mode_matches_on_synthetic_data_with_a_partial_batch(variant):
    rng = np.random.default_rng(3)
    n = 100  # 3 × 32 + 4
    X = rng.random((n, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    Xv = rng.random((30, 5))
    yv = Xv @ rng.standard_normal(5)
    Ws, bs = seed_init([5, 7, 6, 1], rng)
    bs = [rng.standard_normal(b.shape) * 0.1 for b in bs]  # non-zero biases exercise b's updates
    epochs = 4
    perms = np.stack([rng.permutation(n) for _ in range(epochs)])
    net, hist, ref_params, ref_val = run_both(Ws, bs, X, y, Xv, yv, 1e-2, 32, epochs, variant, perms)
    assert_seed_match(net, hist, ref_params, ref_val)


def test_standard_mode_differs_from_seed_mode_only_through_the_partial_batch():
    """The default mode averages over the rows actually in the batch; with no partial
    batch (n a multiple of batch_size) and no shuffling both modes agree."""
    rng = np.random.default_rng(5)
    X = rng.random((64, 4))
    y = X.sum(axis=1)
    Ws, bs = seed_init([4, 6, 5, 1], rng)

    def run(n_rows, mode):
        net = Network.from_arrays(Ws, bs)
        train(net, X[:n_rows], y[:n_rows], optimizer="sgd", lr=1e-2, epochs=2, batch_size=32, mode=mode, shuffle=False)
        return net.parameters()

    for a, b in zip(run(64, "seed"), run(64, "standard")):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    # 48 = 32 + 16: the seed weights the last batch's gradient by 2/32 instead of 2/16.
    assert any(not np.allclose(a, b, rtol=1e-6) for a, b in zip(run(48, "seed"), run(48, "standard")))


def test_permutations_compose_and_the_last_row_has_no_effect():
    rng = np.random.default_rng(11)
    n = 40
    X = rng.random((n, 3))
    y = X[:, 0] - X[:, 1]
    Ws, bs = seed_init([3, 4, 4, 1], rng)
    perms = np.stack([rng.permutation(n) for _ in range(3)])
    other_last = perms.copy()
    other_last[-1] = np.arange(n)[::-1]

    def run(p):
        net = Network.from_arrays(Ws, bs)
        train(net, X, y, optimizer="sgd", lr=1e-2, epochs=3, batch_size=8, mode="seed", permutations=p)
        return net.parameters()

    for a, b in zip(run(perms), run(other_last)):
        np.testing.assert_array_equal(a, b)
    # ... but the earlier rows matter (epoch 2 runs in the order perms[0]).
    assert any(not np.array_equal(a, b) for a, b in zip(run(perms), run(None)))


def test_bad_permutations_are_rejected_with_the_expected_shape():
    from handgrad.errors import ConfigError, ShapeError

    net = Network([2, 3, 1], random_state=0)
    X, y = np.ones((10, 2)), np.ones(10)
    with pytest.raises(ShapeError, match=r"\(3, 10\)"):
        train(net, X, y, epochs=3, mode="seed", permutations=np.zeros((2, 10), dtype=int))
    with pytest.raises(ShapeError, match="not a permutation"):
        train(net, X, y, epochs=1, mode="seed", permutations=np.ones((1, 10), dtype=int))
    with pytest.raises(ConfigError, match="seed"):
        train(net, X, y, epochs=1, permutations=np.arange(10)[None, :])


@pytest.mark.parametrize("gradient", ["backprop", "expanded"])
def test_seed_mode_fixed_denominator_with_a_loss_other_than_mse(gradient):
    # The seed scales every batch's gradient by 1/batch_size, the short last batch too; for any
    # loss that is the mean-over-the-batch gradient times N_b / batch_size. Written here by hand.
    from handgrad import Network
    from handgrad.training import train

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    net = Network([3, 4, 1], activation="tanh", random_state=0)
    expected = net.copy()
    lr, batch_size = 0.05, 4
    for i in range(0, 6, batch_size):  # batches of 4 and 2, in file order
        rows = slice(i, i + batch_size)
        n_b = len(X[rows])
        g = expected.gradients(X[rows], y[rows], loss="huber")
        for p, dp in zip(expected.parameters(), g):
            p -= lr * dp * n_b / batch_size
    train(net, X, y, loss="huber", optimizer="sgd", lr=lr, batch_size=batch_size, epochs=1, mode="seed",
          gradient=gradient)  # fmt: skip
    for p, q in zip(net.parameters(), expected.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
