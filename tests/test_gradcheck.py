"""The public gradcheck: passes on handgrad's gradients, catches a wrong one, and says where."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import Activation, ConfigError, GradcheckReport, Network, gradcheck, numeric_gradients
from handgrad.gradcheck import relative_error


def data(n_in=3, n_out=2, N=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, n_in)), rng.normal(size=(N, n_out))


@pytest.mark.parametrize("method", ["backprop", "expanded"])
@pytest.mark.parametrize("loss", ["mse", "huber", "binary_crossentropy", "softmax_crossentropy"])
def test_passes_on_correct_gradients(method, loss):
    net = Network([3, 5, 4, 2], activation="tanh", random_state=0)
    X, Y = data()
    if loss in ("binary_crossentropy", "softmax_crossentropy"):
        Y = np.eye(2)[np.arange(6) % 2]
    report = gradcheck(net, X, Y, loss=loss, method=method, tol=1e-6)
    assert isinstance(report, GradcheckReport)
    assert report.ok, str(report)
    assert [p.name for p in report.parameters] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.shape for p in report.parameters] == [(5, 3), (5,), (4, 5), (4,), (2, 4), (2,)]
    assert report.max_rel_error < 1e-6
    assert report.method == method


def test_catches_a_wrong_derivative_and_names_the_worst_entry():
    """A user pair with a wrong derivative (2x too large) in the hidden layer: gradcheck fails on W1/b1."""
    wrong_tanh = Activation("wrong_tanh", np.tanh, lambda z: 2 * (1 - np.tanh(z) ** 2))
    net = Network([3, 4, 2], activation=wrong_tanh, random_state=1)
    X, Y = data(seed=1)
    report = gradcheck(net, X, Y, tol=1e-5)
    assert not report.ok
    by_name = {p.name: p for p in report.parameters}
    # the output layer does not involve σ': still right; the hidden layer is off by a factor 2
    assert by_name["W2"].max_rel_error < 1e-6 and by_name["b2"].max_rel_error < 1e-6
    assert by_name["W1"].max_rel_error == pytest.approx(0.5, rel=1e-4)  # |2n − n| / |2n|
    worst = by_name["W1"]
    assert worst.analytic == pytest.approx(2 * worst.numeric, rel=1e-5)
    text = str(report)
    assert "FAIL" in text and "W1" in text and "backprop vs central differences" in text
    assert f"{report.max_rel_error:.3e}" in text


def test_report_text_on_pass():
    net = Network([2, 3, 1], activation="sigmoid", random_state=0)
    X, Y = data(2, 1)
    text = str(gradcheck(net, X, Y))
    assert text.splitlines()[0].startswith("gradient check (backprop vs central differences, eps=1e-05, tol=1e-05)")
    assert text.splitlines()[-1].startswith("PASS: worst relative error")
    assert len(text.splitlines()) == 2 + 4 + 1  # header, column titles, W1 b1 W2 b2, verdict


def test_numeric_gradients_are_central_differences():
    """numeric_gradients = (J(θ+ε) − J(θ−ε)) / 2ε, checked on a 1-layer linear net where J is quadratic.

    For J = 1/N Σ ||W x + b − y||², central differences are exact up to round-off.
    """
    W, b = np.array([[1.0, -2.0]]), np.array([0.5])
    net = Network.from_arrays([W], [b], output_activation="identity")
    X = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]])
    y = np.array([1.0, -1.0, 2.0])
    r = X @ W[0] + b[0] - y  # residuals
    exact_dW = 2 / 3 * (r @ X)
    exact_db = 2 / 3 * r.sum()
    dW, db = numeric_gradients(net, X, y, "mse", eps=1e-4)
    np.testing.assert_allclose(dW, [exact_dW], rtol=1e-9)
    np.testing.assert_allclose(db, [exact_db], rtol=1e-9)


def test_float32_network_checked_in_float64_and_unchanged():
    net = Network([3, 4, 2], activation="gelu", random_state=2, dtype=np.float32)
    before = net.state_dict()
    X, Y = data()
    report = gradcheck(net, X, Y, tol=1e-6)
    assert report.ok, str(report)
    assert net.dtype == np.float32
    for name, p in net.state_dict().items():
        np.testing.assert_array_equal(p, before[name])


def test_sample_weight_passed_through():
    net = Network([3, 4, 2], activation="tanh", random_state=0)
    X, Y = data()
    assert gradcheck(net, X, Y, sample_weight=np.array([1, 0, 2, 0.5, 1, 3.0]), tol=1e-6).ok


def test_relative_error_floor():
    """Entries that are ~0 are judged on the parameter's scale, not as a ratio of round-offs."""
    numeric = np.array([1.0, 1e-12, 0.0])
    analytic = np.array([1.0 + 1e-9, 2e-12, 1e-13])
    rel = relative_error(analytic, numeric)
    np.testing.assert_allclose(rel, [1e-9 / (1 + 1e-9), 1e-12 / 1e-3, 1e-13 / 1e-3], rtol=1e-6)
    assert relative_error(np.zeros(2), np.zeros(2)).max() == 0.0


def test_unknown_method():
    net = Network([2, 1], random_state=0)
    with pytest.raises(ConfigError, match=r"unknown gradient method 'numeric'; expected one of \('backprop'"):
        gradcheck(net, np.ones((2, 2)), np.ones(2), method="numeric")


def test_bad_input_rejected_like_gradients():
    net = Network([2, 1], random_state=0)
    with pytest.raises(ValueError, match=r"X has 3 features"):
        gradcheck(net, np.ones((2, 3)), np.ones(2))
