"""Backprop = expanded = central differences = PyTorch autograd, over the whole grid.

Every activation x every loss x depths 1-5 x output widths 1 and 3, in float64.
The PyTorch side is built here, independently of handgrad: its own ``Linear``
orientation written out (``z = a W^T + b`` on rows), its own activations
(``F.gelu(approximate="tanh")``, ``F.elu``, ``F.softplus``, ``F.leaky_relu(0.01)``, ...)
and its own losses (``F.huber_loss``, ``F.binary_cross_entropy_with_logits``,
``F.cross_entropy`` with class-probability targets), each reduced by handgrad's
definition written out explicitly: mean over samples of the per-sample loss
summed over outputs.

The activation is used in every layer, the output layer included, so that depth 1
exercises it too (and ``delta_L = dJ/dŶ ∘ σ_L'(z_L)`` is tested for every σ).
Softmax cross-entropy needs at least two classes: its widths are 2 and 3.

Inputs are kept out of saturation (weights scaled by 1/sqrt(fan_in), |x| ~ 1) and
off the kinks: a draw is rejected and redrawn if a whole ReLU layer is dead on the batch, if any pre-activation of a kinked
activation (ReLU, leaky ReLU, ELU's second derivative) lies within 1e-3 of 0, any
MAE residual within 1e-3 of 0, or any Huber residual within 1e-3 of ±δ.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from finite_differences import finite_differences
from handgrad import Network
from handgrad.activations import ACTIVATIONS

torch = pytest.importorskip("torch")
F = torch.nn.functional

ACTIVATION_NAMES = sorted(ACTIVATIONS)
LOSS_NAMES = ["mse", "mae", "huber", "binary_crossentropy", "softmax_crossentropy"]
KINKED = {"relu", "leaky_relu", "elu"}
KINK_MARGIN = 1e-3

# PyTorch's own activations, not handgrad's formulas.
TORCH_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "elu": F.elu,
    "gelu": lambda z: F.gelu(z, approximate="tanh"),
}


def torch_loss(name, out, Y, sample_weight=None):
    """handgrad's reduction written in torch: per-sample loss summed over outputs, mean over samples.

    ``out`` and ``Y`` are (N, n_outputs) tensors (rows = samples, torch's layout).
    """
    if name == "mse":
        per_sample = ((out - Y) ** 2).sum(dim=1)
    elif name == "mae":
        per_sample = (out - Y).abs().sum(dim=1)
    elif name == "huber":
        per_sample = F.huber_loss(out, Y, reduction="none", delta=1.0).sum(dim=1)
    elif name == "binary_crossentropy":
        per_sample = F.binary_cross_entropy_with_logits(out, Y, reduction="none").sum(dim=1)
    elif name == "softmax_crossentropy":
        per_sample = F.cross_entropy(out, Y, reduction="none")  # Y: class probabilities (one-hot rows)
    else:  # pragma: no cover
        raise AssertionError(name)
    if sample_weight is None:
        return per_sample.mean()
    w = torch.as_tensor(sample_weight, dtype=torch.float64)
    return (w * per_sample).sum() / w.sum()


def torch_gradients(weights, biases, activation_names, X, Y, loss_name, sample_weight=None):
    """J and its gradients by torch autograd; W_l (n_l, n_{l-1}) as torch's Linear.weight."""
    Ws = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases]
    a = torch.tensor(X, dtype=torch.float64)  # (N, n_0): rows, not handgrad's columns
    for W, b, act in zip(Ws, bs, activation_names):
        a = TORCH_ACTIVATIONS[act](F.linear(a, W, b))  # a W^T + b
    J = torch_loss(loss_name, a, torch.tensor(Y, dtype=torch.float64), sample_weight)
    J.backward()
    grads = []
    for W, b in zip(Ws, bs):
        grads += [W.grad.numpy(), b.grad.numpy()]
    return float(J.detach()), grads


def pre_activations(weights, biases, activation, X):
    """Every z_l on rows, by a plain NumPy forward pass (to reject draws near a kink)."""
    zs, a = [], X
    for W, b in zip(weights, biases):
        z = a @ W.T + b
        zs.append(z)
        a = ACTIVATIONS[activation].function(z)
    return zs, a


def draw_problem(activation, loss, depth, n_out, seed, n_in=3, width=4, N=5):
    """A small, well-conditioned problem: (weights, biases, X, Y), redrawn away from kinks."""
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    for _ in range(1000):
        weights = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in itertools.pairwise(sizes)]
        biases = [rng.normal(scale=0.3, size=m) for m in sizes[1:]]
        X = rng.normal(size=(N, n_in))
        if loss == "binary_crossentropy":
            Y = rng.integers(0, 2, size=(N, n_out)).astype(float)
        elif loss == "softmax_crossentropy":
            Y = np.eye(n_out)[rng.integers(0, n_out, size=N)]
        else:
            Y = rng.normal(size=(N, n_out))
        zs, Yhat = pre_activations(weights, biases, activation, X)
        if activation in KINKED and min(np.abs(z).min() for z in zs) < KINK_MARGIN:
            continue
        if activation == "relu" and any((z < 0).all() for z in zs):
            continue  # a whole ReLU layer dead on this batch: every gradient below it would be 0
        if loss == "mae" and np.abs(Yhat - Y).min() < KINK_MARGIN:
            continue
        if loss == "huber" and np.abs(np.abs(Yhat - Y) - 1.0).min() < KINK_MARGIN:
            continue
        return weights, biases, X, Y
    raise AssertionError("could not draw a problem off the kinks")  # pragma: no cover


def _grid():
    for act in ACTIVATION_NAMES:
        for loss in LOSS_NAMES:
            widths = (2, 3) if loss == "softmax_crossentropy" else (1, 3)
            for depth in range(1, 6):
                for n_out in widths:
                    yield pytest.param(act, loss, depth, n_out, id=f"{act}-{loss}-L{depth}-out{n_out}")


@pytest.mark.parametrize(("activation", "loss", "depth", "n_out"), list(_grid()))
def test_backprop_expanded_fd_torch_agree(activation, loss, depth, n_out):
    seed = zlib.crc32(f"{activation}-{loss}-{depth}-{n_out}".encode())  # a fixed draw per case, reproducible
    weights, biases, X, Y = draw_problem(activation, loss, depth, n_out, seed)
    net = Network.from_arrays(weights, biases, activation=activation, output_activation=activation)

    g_bp = net.gradients(X, Y, loss, method="backprop")
    g_ex = net.gradients(X, Y, loss, method="expanded")
    J_torch, g_torch = torch_gradients(weights, biases, [activation] * depth, X, Y, loss)
    g_fd = finite_differences(net, X, Y, loss, eps=1e-6)

    # The loss VALUE agrees with torch's, not only the gradients.
    np.testing.assert_allclose(g_bp.loss, J_torch, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_ex.loss, J_torch, rtol=1e-12, atol=1e-14)
    for name, bp, ex, th, fd in zip(net.parameter_names(), g_bp, g_ex, g_torch, g_fd):
        assert bp.shape == ex.shape == th.shape == fd.shape, name
        # Same mathematics, different order of evaluation: round-off only.
        np.testing.assert_allclose(ex, bp, rtol=1e-10, atol=1e-13, err_msg=f"expanded vs backprop, {name}")
        np.testing.assert_allclose(th, bp, rtol=1e-10, atol=1e-13, err_msg=f"torch vs backprop, {name}")
        # Central differences, eps = 1e-6: truncation ~eps² and round-off ~1e-16/eps.
        np.testing.assert_allclose(fd, bp, rtol=1e-6, atol=1e-8, err_msg=f"finite differences vs backprop, {name}")
    # Not a vacuous comparison of zeros: the first layer receives a gradient.
    assert np.abs(g_bp["W1"]).max() > 1e-6


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_sample_weight_matches_torch(loss, method):
    """Weighted J = Σ w_i ℓ_i / Σ w_i, and its gradient, against torch."""
    weights, biases, X, Y = draw_problem("tanh", loss, 3, 3, seed=7, N=6)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])
    net = Network.from_arrays(weights, biases, activation="tanh")
    g = net.gradients(X, Y, loss, method=method, sample_weight=w)
    J_torch, g_torch = torch_gradients(weights, biases, ["tanh", "tanh", "identity"], X, Y, loss, w)
    np.testing.assert_allclose(g.loss, J_torch, rtol=1e-12)
    for name, ours, theirs in zip(net.parameter_names(), g, g_torch):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13, err_msg=name)


def test_soft_targets_softmax_matches_torch():
    """Softmax cross-entropy with soft targets (rows of class probabilities), as torch's F.cross_entropy."""
    weights, biases, X, _ = draw_problem("gelu", "softmax_crossentropy", 2, 4, seed=3, N=6)
    Y = np.random.default_rng(0).dirichlet(np.ones(4), size=6)
    net = Network.from_arrays(weights, biases, activation="gelu")
    g = net.gradients(X, Y, "softmax_crossentropy")
    J_torch, g_torch = torch_gradients(weights, biases, ["gelu", "identity"], X, Y, "softmax_crossentropy")
    np.testing.assert_allclose(g.loss, J_torch, rtol=1e-12)
    for name, ours, theirs in zip(net.parameter_names(), g, g_torch):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_relu_derivative_at_exact_zero_matches_torch(method):
    """At z = 0 exactly, ReLU'(0) = 0 in handgrad (the seed's ``x > 0``) and in torch: the same gradients."""
    weights = [np.zeros((3, 2)), np.array([[1.0, -2.0, 0.5]])]
    biases = [np.array([0.0, 0.0, 1.0]), np.array([0.25])]  # hidden units 1, 2 sit at z = 0 exactly
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    Y = np.array([[0.0], [1.0]])
    net = Network.from_arrays(weights, biases, activation="relu")
    g = net.gradients(X, Y, "mse", method=method)
    _, g_torch = torch_gradients(weights, biases, ["relu", "identity"], X, Y, "mse")
    for name, ours, theirs in zip(net.parameter_names(), g, g_torch):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, err_msg=name)
    assert np.all(g["W1"][:2] == 0.0)  # the two units at the kink get no gradient
