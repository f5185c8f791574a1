"""The two gradient methods (§1.3 backprop, §1.2 expanded) and their entry points, without torch.

The cross-check against finite differences and PyTorch over every activation x loss x depth x
width is in ``test_torch_crosscheck.py``; here: the columns fast path, per-layer expanded
gradients, linearity over samples, sample weights, batch size 1, and what is (not) modified.
"""

from __future__ import annotations

import numpy as np
import pytest

from finite_differences import finite_differences
from handgrad import Network, get_loss
from handgrad import gradients as G


def problem(sizes=(4, 6, 5, 3), activation="tanh", N=7, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), activation=activation, init="glorot_normal", random_state=seed)
    for b in net.biases:
        b[:] = rng.normal(scale=0.2, size=b.shape)
    X = rng.normal(size=(N, sizes[0]))
    Y = rng.normal(size=(N, sizes[-1]))
    return net, X, Y


def test_columns_fast_path_equals_public_method():
    net, X, Y = problem()
    loss = get_loss("huber")
    w = np.linspace(0.5, 2.0, 7)
    fast = G.backprop(net, X.T, Y.T, loss, w)
    public = net.gradients(X, Y, loss, sample_weight=w)
    ex = G.expanded(net, X.T, Y.T, loss, w)
    for name in net.parameter_names():
        np.testing.assert_array_equal(fast[name], public[name])
        np.testing.assert_allclose(ex[name], fast[name], rtol=1e-12, atol=1e-15)
    assert fast.loss == public.loss == pytest.approx(ex.loss, rel=1e-15)


@pytest.mark.parametrize("l", [1, 2, 3])
def test_expanded_layer_alone(l):
    """expanded_layer(l) needs no other layer's result, and gives backprop's dW_l, db_l."""
    net, X, Y = problem(activation="sigmoid")
    loss = get_loss("mse")
    dW, db = G.expanded_layer(net, l, X.T, Y.T, loss)
    ref = net.gradients(X, Y, loss)
    np.testing.assert_allclose(dW, ref[f"W{l}"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, ref[f"b{l}"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_batch_gradient_is_mean_of_sample_gradients(method):
    """J is a mean over samples, so its gradient is the mean of the one-sample gradients."""
    net, X, Y = problem(activation="gelu", N=5)
    whole = net.gradients(X, Y, "mse", method=method)
    per_sample = [net.gradients(X[i : i + 1], Y[i : i + 1], "mse", method=method) for i in range(5)]
    for name in net.parameter_names():
        mean = np.mean([g[name] for g in per_sample], axis=0)
        np.testing.assert_allclose(whole[name], mean, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_integer_sample_weight_equals_repeated_rows(method):
    net, X, Y = problem(activation="elu", N=4)
    w = np.array([3.0, 1.0, 0.0, 2.0])
    weighted = net.gradients(X, Y, "mae", method=method, sample_weight=w)
    rows = np.repeat(np.arange(4), w.astype(int))
    repeated = net.gradients(X[rows], Y[rows], "mae", method=method)
    for name in net.parameter_names():
        np.testing.assert_allclose(weighted[name], repeated[name], rtol=1e-12, atol=1e-15)
    assert weighted.loss == pytest.approx(repeated.loss, rel=1e-14)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_weighted_gradient_matches_finite_differences(method):
    net, X, Y = problem(sizes=(3, 4, 2), activation="softplus", N=5)
    w = np.array([0.1, 2.0, 1.0, 0.0, 0.7])
    g = net.gradients(X, Y, "mse", method=method, sample_weight=w)
    for name, a, n in zip(net.parameter_names(), g, finite_differences(net, X, Y, sample_weight=w)):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_batch_of_one_and_one_dimensional_target(method):
    net, X, Y = problem(sizes=(4, 3, 1), N=1)
    g1 = net.gradients(X, Y[:, 0], "mse", method=method)  # y of shape (1,)
    g2 = net.gradients(X, Y, "mse", method=method)  # (1, 1)
    for name, a, b, n in zip(net.parameter_names(), g1, g2, finite_differences(net, X, Y)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_inputs_and_parameters_unchanged(method):
    net, X, Y = problem()
    before = net.state_dict(), X.copy(), Y.copy()
    g = net.gradients(X, Y, "softmax_crossentropy", method=method)
    for name, p in net.state_dict().items():
        np.testing.assert_array_equal(p, before[0][name])
    np.testing.assert_array_equal(X, before[1])
    np.testing.assert_array_equal(Y, before[2])
    for grad, p in zip(g, net.parameters()):  # fresh arrays, not views of the parameters
        assert not np.shares_memory(grad, p)


def test_repeated_calls_are_deterministic():
    net, X, Y = problem(activation="relu")
    a = net.gradients(X, Y)
    b = net.gradients(X, Y)
    for name in net.parameter_names():
        np.testing.assert_array_equal(a[name], b[name])


def test_backward_leaves_its_input_alone():
    """Network.backward must not scale the caller's dJ/dŶ in place (the columns fast path may)."""
    net, X, Y = problem(activation="tanh")
    net = Network.from_arrays(net.weights, net.biases, activation="tanh", output_activation="sigmoid")
    cache = net.forward_columns(X.T)
    dJ = 2 / 7 * (cache.output - Y.T)
    kept = dJ.copy()
    g = net.backward(cache, dJ)
    np.testing.assert_array_equal(dJ, kept)
    ref = net.gradients(X, Y, "mse")
    for name in net.parameter_names():
        np.testing.assert_allclose(g[name], ref[name], rtol=1e-14)


def test_gradient_descent_step_reduces_loss():
    """A small step against the gradient lowers J: the sign of every gradient is right."""
    net, X, Y = problem(activation="leaky_relu")
    for method in ["backprop", "expanded"]:
        trial = net.copy()
        J0 = trial.loss(X, Y)
        g = trial.gradients(X, Y, method=method)
        for p, d in zip(trial.parameters(), g):
            p -= 1e-3 * d
        assert trial.loss(X, Y) < J0 - 1e-4 * g.norm() ** 2  # first-order decrease ≈ 1e-3 |g|²


def test_deep_and_wide_network_methods_agree():
    """Depth 8, mixed widths, per-layer activations: expanded (O(L²)) still equals backprop."""
    sizes = [5, 9, 2, 7, 7, 3, 8, 4, 3]
    acts = ["relu", "tanh", "gelu", "elu", "sigmoid", "softplus", "leaky_relu"]
    rng = np.random.default_rng(3)
    net = Network(sizes, activation=acts, init="glorot_normal", random_state=3)
    X = rng.normal(size=(11, 5))
    Y = np.eye(3)[rng.integers(0, 3, 11)]
    bp = net.gradients(X, Y, "softmax_crossentropy")
    ex = net.gradients(X, Y, "softmax_crossentropy", method="expanded")
    for name in net.parameter_names():
        np.testing.assert_allclose(ex[name], bp[name], rtol=1e-10, atol=1e-14, err_msg=name)
