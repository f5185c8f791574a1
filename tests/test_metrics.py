"""handgrad.metrics against scikit-learn's and against hand-worked values."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from handgrad import metrics


@pytest.mark.parametrize("n_outputs", [None, 1, 3])
def test_regression_metrics_match_scikit_learn(n_outputs):
    rng = np.random.default_rng(0)
    shape = (50,) if n_outputs is None else (50, n_outputs)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    w = rng.uniform(0.1, 2.0, size=50)
    assert metrics.mean_squared_error(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert metrics.mean_absolute_error(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert metrics.r2_score(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert metrics.r2_score(y, p, w) == pytest.approx(skm.r2_score(y, p, sample_weight=w), rel=1e-12)


def test_r2_hand_worked():
    # y = (1, 2, 3), ŷ = (1, 2, 4): Σ(y − ŷ)² = 1, ȳ = 2, Σ(y − ȳ)² = 2, so R² = 1 − 1/2.
    assert metrics.r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == 0.5


def test_r2_of_a_constant_target():
    y = np.full(4, 3.0)
    assert math.isnan(metrics.r2_score(y, y + 1))
    assert metrics.r2_score(y, y, force_finite=True) == 1.0
    assert metrics.r2_score(y, y + 1, force_finite=True) == 0.0


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=40)
    y = rng.integers(0, 3, size=40)
    pred = proba.argmax(axis=1)
    w = rng.uniform(0.1, 2.0, size=40)
    assert metrics.accuracy_score(y, pred) == pytest.approx(skm.accuracy_score(y, pred), rel=1e-12)
    assert metrics.accuracy_score(y, pred, w) == pytest.approx(skm.accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    assert metrics.log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]), rel=1e-12)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, pred, 3), skm.confusion_matrix(y, pred, labels=[0, 1, 2]))


def test_accuracy_of_label_matrices_needs_every_label_right():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    pred = np.array([[1, 0], [0, 0], [1, 1]])
    assert metrics.accuracy_score(y, pred) == pytest.approx(2 / 3)
