"""scikit-learn's hyper-parameter searches on handgrad's estimators, with n_jobs=2 (worker processes:
the estimators are cloned, pickled to the workers by joblib, fitted there and sent back)."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.experimental import enable_halving_search_cv  # noqa: E402, F401 (enables HalvingRandomSearchCV)
from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV  # noqa: E402

from handgrad.estimators import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = 2 * X[:, 0] - X[:, 1] + 0.5 * np.sin(3 * X[:, 2]) + 0.1 * rng.normal(size=150)
    return X, y


@pytest.fixture(scope="module")
def classification():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 4))
    y = np.array(["a", "b", "c"])[np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])]
    return X, y


def _small(cls, **kw):
    return cls(hidden_layer_sizes=(8,), max_iter=15, batch_size=32, random_state=0, **kw)


def test_grid_search_regressor_n_jobs_2(regression):
    X, y = regression
    grid = {"learning_rate": [1e-3, 1e-2], "weight_decay": [0.0, 1e-3]}
    search = GridSearchCV(_small(MLPRegressor), grid, cv=3, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_ in search.cv_results_["params"]
    # The refitted best model is a fitted handgrad estimator with the best settings.
    best = search.best_estimator_
    assert isinstance(best, MLPRegressor) and best.learning_rate == search.best_params_["learning_rate"]
    assert best.predict(X).shape == (150,)
    # A learning rate of 1e-2 learns this linear-ish target far better than 1e-3 in 15 epochs.
    assert search.best_params_["learning_rate"] == 1e-2
    assert search.score(X, y) > 0.5


def test_grid_search_classifier_n_jobs_2_with_log_loss(classification):
    X, y = classification
    search = GridSearchCV(
        _small(MLPClassifier), {"hidden_layer_sizes": [(4,), (16,)]}, cv=3, n_jobs=2, scoring="neg_log_loss"
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert (search.cv_results_["mean_test_score"] < 0).all()
    assert set(search.predict(X)) <= {"a", "b", "c"}
    assert search.predict_proba(X).shape == (150, 3)


def test_randomized_search_both_estimators_n_jobs_2(regression, classification):
    X, y = regression
    distributions = {"learning_rate": [3e-3, 1e-2, 3e-2], "activation": ["relu", "tanh"], "batch_size": [16, 64]}
    search = RandomizedSearchCV(_small(MLPRegressor), distributions, n_iter=4, cv=3, n_jobs=2, random_state=0)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4 and np.isfinite(search.cv_results_["mean_test_score"]).all()
    Xc, yc = classification
    search = RandomizedSearchCV(_small(MLPClassifier), distributions, n_iter=4, cv=3, n_jobs=2, random_state=0)
    search.fit(Xc, yc)
    assert 0.5 < search.best_score_ <= 1.0


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_halving_random_search_over_max_iter_n_jobs_2(cls, regression, classification):
    # Successive halving with the number of epochs as the resource, as a budgeted search would run it.
    X, y = regression if cls is MLPRegressor else classification
    search = HalvingRandomSearchCV(
        _small(cls),
        {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2], "weight_decay": [0.0, 1e-4, 1e-2]},
        resource="max_iter",
        min_resources=4,
        max_resources=16,
        factor=2,
        cv=3,
        n_jobs=2,
        random_state=0,
    ).fit(X, y)
    resources = search.cv_results_["n_resources"]
    assert min(resources) == 4 and max(resources) == 16
    assert search.best_estimator_.max_iter == 16
    assert search.best_estimator_.n_iter_ == 16  # the refit trained for the full budget
    assert np.isfinite(search.best_score_)


def test_halving_random_search_over_samples(classification):
    X, y = classification
    search = HalvingRandomSearchCV(
        _small(MLPClassifier), {"learning_rate": [3e-3, 1e-2, 3e-2]}, cv=3, n_jobs=2, random_state=0, min_resources=45
    ).fit(X, y)
    assert max(search.cv_results_["n_resources"]) > min(search.cv_results_["n_resources"])
    assert search.best_estimator_.predict(X).shape == (150,)
