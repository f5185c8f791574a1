"""The seed's own 3-layer formulas, transcribed line by line, against both of handgrad's methods.

The MATLAB lines of the seed (§1.2, "These calculations can be implemented in MATLAB code as
follows") are copied in the comments; under each, the same expression in NumPy with MATLAB's
operators mapped one to one:

    A * B   → A @ B      (matrix product)        A .* B → A * B  (elementwise)
    A'      → A.T                                 sum(A, 2) → np.sum(A, axis=1, keepdims=True)

MATLAB's ``*`` and ``.*`` share one precedence level, left to right, and so do Python's ``@``
and ``*``: the expressions keep their meaning unchanged. ``x`` is the batch as columns
(37 × batch_size) and the biases are MATLAB columns (n × 1), broadcast as MATLAB does.
"""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import Network


def ReLU(x):
    """The seed's ``ReLU = @(x) max(x, 0)``."""
    return np.maximum(x, 0)


def ReLU_deriv(x):
    """The seed's ``ReLU_deriv = @(x) x > 0`` (as 0/1 numbers)."""
    return (x > 0).astype(float)


# Each NumPy line stays whole, under its MATLAB line:
# fmt: off
def seed_expanded_gradients(W1, b1, W2, b2, W3, b3, x, y_true):
    """§1.2 exactly as the seed's MATLAB. ``x``: (37, batch_size); ``y_true``: (1, batch_size); b's: (n, 1)."""
    batch_size = x.shape[1]
    # y_pred = W3 * ReLU(W2 * ReLU(W1 * x + b1) + b2) + b3;   (§1.1)
    y_pred = W3 @ ReLU(W2 @ ReLU(W1 @ x + b1) + b2) + b3
    # error = y_pred - y_true;
    error = y_pred - y_true

    # % Gradients for W3 and b3
    # dW3 = 2/batch_size * (error) * ReLU(W2 * ReLU(W1 * x + b1) + b2)';
    dW3 = 2 / batch_size * (error) @ ReLU(W2 @ ReLU(W1 @ x + b1) + b2).T
    # db3 = 2/batch_size * sum((error), 2);
    db3 = 2 / batch_size * np.sum((error), axis=1, keepdims=True)

    # % Gradients for W2 and b2
    # dW2 = 2/batch_size * (W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2) * ReLU(W1 * x + b1)';
    dW2 = 2 / batch_size * (W3.T @ (error)) * ReLU_deriv(W2 @ ReLU(W1 @ x + b1) + b2) @ ReLU(W1 @ x + b1).T
    # db2 = 2/batch_size * sum((W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2), 2);
    db2 = 2 / batch_size * np.sum((W3.T @ (error)) * ReLU_deriv(W2 @ ReLU(W1 @ x + b1) + b2), axis=1, keepdims=True)

    # % Gradients for W1 and b1
    # dW1 = 2/batch_size * (W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1) * x';
    dW1 = 2 / batch_size * (W2.T @ (W3.T @ (error) * ReLU_deriv(W2 @ ReLU(W1 @ x + b1) + b2))) * ReLU_deriv(W1 @ x + b1) @ x.T
    # db1 = 2/batch_size * sum((W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1), 2);
    db1 = 2 / batch_size * np.sum((W2.T @ (W3.T @ (error) * ReLU_deriv(W2 @ ReLU(W1 @ x + b1) + b2))) * ReLU_deriv(W1 @ x + b1), axis=1, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}


# fmt: on


def seed_backprop_gradients(W1, b1, W2, b2, W3, b3, x, y_true):
    """§1.3 exactly as the seed's second MATLAB listing (the same shapes as above)."""
    batch_size = x.shape[1]
    # z1 = W1 * x + b1;  a1 = ReLU(z1);
    z1 = W1 @ x + b1
    a1 = ReLU(z1)
    # z2 = W2 * a1 + b2;  a2 = ReLU(z2);
    z2 = W2 @ a1 + b2
    a2 = ReLU(z2)
    # z3 = W3 * a2 + b3;  y_pred = z3;
    z3 = W3 @ a2 + b3
    y_pred = z3
    # error = y_pred - y_true;  delta3 = 2/batch_size * (error);
    error = y_pred - y_true
    delta3 = 2 / batch_size * (error)
    # dW3 = delta3 * a2';  db3 = sum(delta3, 2);
    dW3 = delta3 @ a2.T
    db3 = np.sum(delta3, axis=1, keepdims=True)
    # delta2 = (W3' * delta3) .* ReLU_deriv(z2);  dW2 = delta2 * a1';  db2 = sum(delta2, 2);
    delta2 = (W3.T @ delta3) * ReLU_deriv(z2)
    dW2 = delta2 @ a1.T
    db2 = np.sum(delta2, axis=1, keepdims=True)
    # delta1 = (W2' * delta2) .* ReLU_deriv(z1);  dW1 = delta1 * x';  db1 = sum(delta1, 2);
    delta1 = (W2.T @ delta2) * ReLU_deriv(z1)
    dW1 = delta1 @ x.T
    db1 = np.sum(delta1, axis=1, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}


def seed_network(random_state):
    """The seed's 37-128-64-1 network: W = randn(n_l, n_{l-1}), b = zeros(n_l, 1) — plus small nonzero biases
    so that the bias gradients' broadcasting is exercised."""
    rng = np.random.default_rng(random_state)
    W1, W2, W3 = rng.standard_normal((128, 37)), rng.standard_normal((64, 128)), rng.standard_normal((1, 64))
    b1, b2, b3 = (rng.normal(scale=0.1, size=(n, 1)) for n in (128, 64, 1))  # MATLAB columns
    return W1, b1, W2, b2, W3, b3


def compare(params, X, y):
    """Both seed transcriptions vs handgrad's backprop and expanded, on rows X (N, 37), y (N,)."""
    W1, b1, W2, b2, W3, b3 = params
    x, y_true = X.T, y.reshape(1, -1)  # the seed's x = X(i:batch_end, :)'; y_true = y(i:batch_end)'
    seed_ex = seed_expanded_gradients(*params, x, y_true)
    seed_bp = seed_backprop_gradients(*params, x, y_true)
    net = Network.from_arrays([W1, W2, W3], [b1, b2, b3], activation="relu")  # MATLAB (n, 1) biases accepted
    g_bp = net.gradients(X, y, loss="mse", method="backprop")
    g_ex = net.gradients(X, y, loss="mse", method="expanded")
    for name in ["W1", "b1", "W2", "b2", "W3", "b3"]:
        ref = seed_ex[name].reshape(net.state_dict()[name].shape)  # db: (n, 1) → (n,)
        scale = np.abs(ref).max()
        assert scale > 0, name
        # The seed's two listings agree with each other, and handgrad's two methods with them.
        # rtol 1e-10 of the largest entry: sums of ~10^3 products of O(10^2) numbers, in another order.
        np.testing.assert_allclose(seed_bp[name].reshape(ref.shape), ref, rtol=1e-10, atol=1e-12 * scale)
        np.testing.assert_allclose(g_bp[name], ref, rtol=1e-10, atol=1e-12 * scale, err_msg=f"backprop {name}")
        np.testing.assert_allclose(g_ex[name], ref, rtol=1e-10, atol=1e-12 * scale, err_msg=f"expanded {name}")
    # J = 1/N Σ (ŷ_i − y_i)²
    y_pred = W3 @ ReLU(W2 @ ReLU(W1 @ x + b1) + b2) + b3
    assert g_bp.loss == pytest.approx(np.mean((y_pred - y_true) ** 2), rel=1e-12)


@pytest.mark.parametrize("batch_size", [1, 16, 32])
def test_seed_formulas_on_random_batch(batch_size):
    rng = np.random.default_rng(batch_size)
    X = np.column_stack([np.ones(batch_size), rng.random((batch_size, 36))])  # dummy column + [0, 1] features
    y = rng.normal(5.4, 3.6, size=batch_size)  # price-like targets
    compare(seed_network(batch_size), X, y)


def test_seed_formulas_on_house_data(data_dir):
    """The first batch of the seed's experiment: rows 1-32 of train_house.csv, columns 1-37 → 38."""
    data = np.loadtxt(data_dir / "house" / "train_house.csv", delimiter=",", skiprows=1, max_rows=32)
    assert data.shape == (32, 38)
    X, y = data[:, :37], data[:, 37]
    np.testing.assert_array_equal(X[:, 0], 1.0)  # the dummy column
    compare(seed_network(0), X, y)
