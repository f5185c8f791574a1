"""scikit-learn's own estimator checks, run on both estimators (``check_estimator`` in CI).

scikit-learn is an optional extra: the whole module is skipped without it
(``pip install "handgrad[sklearn]"``). The instances are small (16 hidden units,
100 epochs) so that the ~100 checks run in seconds; the checks exercise the
protocol, input validation and a minimum of fitting quality.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks

from handgrad.estimators import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=100, learning_rate=0.01, random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, learning_rate=0.01, random_state=0),
]


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot pass by design, with the reason (none so far)."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
@pytest.mark.filterwarnings("ignore:Estimator MLP.* does not inherit from `sklearn.base.BaseEstimator`")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
