"""Gradient descent by hand: the seed's loop, stepped through with handgrad's engine.

Fits y = sin(πx) on [0, 2] with a 1-50-50-1 ReLU network, computing the
gradients with backpropagation (§1.3) and updating every W_l and b_l with plain
SGD, exactly as the seed's MATLAB loop does. Run: ``python examples/by_hand.py``.
"""

import numpy as np

from handgrad import Network

rng = np.random.default_rng(0)
X = np.linspace(0, 2, 200).reshape(-1, 1)  # (n_samples, n_features)
y = np.sin(np.pi * X[:, 0])  # (n_samples,)

net = Network([1, 50, 50, 1], activation="relu", init="he", random_state=0)
lr, batch_size = 0.01, 20
for epoch in range(1, 2001):
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        rows = order[start : start + batch_size]
        grads = net.gradients(X[rows], y[rows], loss="mse", method="backprop")
        for param, grad in zip(net.parameters(), grads):  # W1, b1, W2, b2, W3, b3
            param -= lr * grad
    if epoch % 400 == 0:
        print(f"Epoch {epoch}, Training Loss: {net.loss(X, y, 'mse'):.6f}")
