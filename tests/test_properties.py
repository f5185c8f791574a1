"""Property-based tests (hypothesis) over random architectures, activations, losses and batch sizes.

Architectures: depth 1-5, every width 1-8, one activation per hidden layer and one for the output,
any loss, batch sizes 1-6 (1 always among the explored values). The number of examples comes from
the profile loaded in ``conftest.py`` ("ci": fewer; "dev": more), not from this file.

* backprop == expanded, tightly (the same mathematics evaluated in another order);
* backprop == central differences, more loosely, on draws away from every kink;
* every gradient has its parameter's shape and dtype, and J is the loss at the parameters.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st

from handgrad import Network
from handgrad.activations import ACTIVATIONS

ACTIVATION_NAMES = sorted(ACTIVATIONS)
LOSS_NAMES = ["mse", "mae", "huber", "binary_crossentropy", "softmax_crossentropy"]
KINKED = {"relu", "leaky_relu", "elu"}


@st.composite
def problems(draw):
    depth = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    hidden = draw(st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=depth - 1, max_size=depth - 1))
    output = draw(st.sampled_from(ACTIVATION_NAMES))
    loss = draw(st.sampled_from(LOSS_NAMES))
    if loss == "softmax_crossentropy" and sizes[-1] == 1:
        sizes[-1] = 2  # a softmax over one output is refused (J = 0, every gradient 0)
    N = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    return sizes, hidden, output, loss, N, seed


def build(sizes, hidden, output, loss, N, seed):
    """The network and a batch: weights ~ N(0, 1/fan_in) (out of saturation), biases ~ N(0, 0.3²)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in itertools.pairwise(sizes)]
    biases = [rng.normal(scale=0.3, size=m) for m in sizes[1:]]
    net = Network.from_arrays(weights, biases, activation=hidden, output_activation=output)
    X = rng.normal(size=(N, sizes[0]))
    n_out = sizes[-1]
    if loss == "binary_crossentropy":
        Y = rng.integers(0, 2, size=(N, n_out)).astype(float)
    elif loss == "softmax_crossentropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, size=N)]
    else:
        Y = rng.normal(size=(N, n_out))
    return net, X, Y


def off_kinks(net, X, Y, loss, margin=1e-3):
    """True if no kinked activation sees |z| < margin and no MAE/Huber residual sits on its kink."""
    cache = net.forward_columns(X.T)
    for act, z in zip(net.activations, cache.z):
        if act.name in KINKED and np.abs(z).min() < margin:
            return False
    r = np.abs(cache.output - Y.T)
    if loss == "mae" and r.min() < margin:
        return False
    return not (loss == "huber" and np.abs(r - 1.0).min() < margin)


@given(problems())
@example(([1, 1], [], "identity", "mse", 1, 0))  # the smallest network, batch of one
@example(([8, 8, 8, 8, 8, 8], ["relu", "tanh", "gelu", "elu"], "sigmoid", "binary_crossentropy", 1, 1))
def test_backprop_equals_expanded(problem):
    loss = problem[3]
    net, X, Y = build(*problem)
    bp = net.gradients(X, Y, loss, method="backprop")
    ex = net.gradients(X, Y, loss, method="expanded")
    assert bp.names() == ex.names() == net.parameter_names()
    for name, g_bp, g_ex, p in zip(net.parameter_names(), bp, ex, net.parameters()):
        assert g_bp.shape == g_ex.shape == p.shape, name
        assert g_bp.dtype == g_ex.dtype == p.dtype, name
        # Same mathematics in another order: round-off only.
        np.testing.assert_allclose(g_ex, g_bp, rtol=1e-10, atol=1e-13, err_msg=name)
    J = net.loss(X, Y, loss)
    assert bp.loss == J
    np.testing.assert_allclose(ex.loss, J, rtol=1e-14)


@given(problems())
@example(([2, 3, 1], ["tanh"], "identity", "mse", 1, 2))
def test_backprop_equals_finite_differences(problem):
    loss = problem[3]
    net, X, Y = build(*problem)
    assume(off_kinks(net, X, Y, loss))
    bp = net.gradients(X, Y, loss)
    eps = 1e-6
    for name, g, p in zip(net.parameter_names(), bp, net.parameters()):
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            J_plus = net.loss(X, Y, loss)
            p[idx] = old - eps
            J_minus = net.loss(X, Y, loss)
            p[idx] = old
            numeric[idx] = (J_plus - J_minus) / (2 * eps)
        # Central differences: truncation ~eps², round-off ~1e-16 J / eps.
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@given(problems(), st.lists(st.floats(0.0, 5.0), min_size=6, max_size=6))
def test_weighted_backprop_equals_expanded(problem, raw_weights):
    loss, N = problem[3], problem[4]
    w = np.array(raw_weights[:N])
    assume(w.sum() > 1e-3)
    net, X, Y = build(*problem)
    bp = net.gradients(X, Y, loss, sample_weight=w)
    ex = net.gradients(X, Y, loss, method="expanded", sample_weight=w)
    for name, g_bp, g_ex in zip(net.parameter_names(), bp, ex):
        np.testing.assert_allclose(g_ex, g_bp, rtol=1e-10, atol=1e-13, err_msg=name)
    # J = Σ w_i ℓ_i / Σ w_i, from the one-sample losses
    per_sample = [net.loss(X[i : i + 1], Y[i : i + 1], loss) for i in range(N)]
    np.testing.assert_allclose(bp.loss, np.dot(w, per_sample) / w.sum(), rtol=1e-12, atol=1e-300)
