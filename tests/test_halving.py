"""handgrad's own budgeted search (handgrad.search.successive_halving)."""

import numpy as np
import pytest

from handgrad import MLPClassifier, MLPRegressor
from handgrad.errors import ConfigError
from handgrad.search import SPACE, successive_halving


def _regression(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] - 2 * X[:, 1] ** 2 + 0.05 * rng.normal(size=n)


def test_rungs_keep_the_best_third_and_train_survivors_longer():
    X, y = _regression()
    result = successive_halving(MLPRegressor(max_iter=27), X, y, n_candidates=9, random_state=0)
    rungs = sorted({r["rung"] for r in result.table})
    assert rungs == [0, 1, 2]
    per_rung = [[r for r in result.table if r["rung"] == k] for k in rungs]
    assert [len(p) for p in per_rung] == [9, 3, 1]
    assert [p[0]["epochs"] for p in per_rung] == [3, 9, 27]
    # the survivors of rung k are the best third of rung k by validation loss
    for k in (0, 1):
        best = sorted(per_rung[k], key=lambda r: r["val_loss"])[: len(per_rung[k + 1])]
        assert {r["candidate"] for r in best} == {r["candidate"] for r in per_rung[k + 1]}
    winner = per_rung[-1][0]
    assert result.best_estimator.n_iter_ == 27
    assert result.best_params["learning_rate"] == winner["learning_rate"]
    assert SPACE["learning_rate"][0] <= winner["learning_rate"] <= SPACE["learning_rate"][1]


def test_the_winner_is_judged_on_rows_it_did_not_train_on():
    X, y = _regression()
    result = successive_halving(MLPRegressor(max_iter=6), X, y, n_candidates=3, random_state=1)
    val = result.validation_rows
    assert len(val) == round(0.2 * len(y))
    est = result.best_estimator
    pred = est.predict(X[val])
    mse = float(np.mean((pred - y[val]) ** 2))
    assert mse == pytest.approx(result.table[-1]["val_loss"], rel=1e-12)


def test_classifier_search_uses_log_loss_and_a_stratified_split():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    result = successive_halving(MLPClassifier(max_iter=9), X, y, n_candidates=3, random_state=0)
    val = result.validation_rows
    assert set(y[val]) == {"yes", "no"}
    P = result.best_estimator.predict_proba(X[val])
    idx = np.searchsorted(result.best_estimator.classes_, y[val])
    assert -np.mean(np.log(P[np.arange(len(val)), idx])) == pytest.approx(result.table[-1]["val_loss"], rel=1e-9)


def test_same_seed_same_search():
    X, y = _regression(120)
    a = successive_halving(MLPRegressor(max_iter=4), X, y, n_candidates=4, random_state=5)
    b = successive_halving(MLPRegressor(max_iter=4), X, y, n_candidates=4, random_state=5)
    assert a.table == b.table


@pytest.mark.parametrize("kw", [{"n_candidates": 0}, {"factor": 1}, {"validation_fraction": 0.0}])
def test_bad_settings_are_refused(kw):
    X, y = _regression(50)
    with pytest.raises(ConfigError):
        successive_halving(MLPRegressor(max_iter=2), X, y, **kw)


def test_cli_search_keeps_the_winner_and_prints_every_rung(tmp_path, capsys):
    import handgrad
    from handgrad.cli import main

    model = tmp_path / "m.npz"
    code = main(["train", "--dataset", "friedman1", "--search", "4", "--epochs", "9", "--seed", "1", "-o", str(model)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "search: rung 0, 4 candidate(s), 1 epochs each" in out
    kept = [line for line in out.splitlines() if line.startswith("search: kept #")]
    assert len(kept) == 1
    est = handgrad.load(model)
    assert f"hidden {tuple(est.hidden_layer_sizes)}" in kept[0]
    assert est.n_iter_ == 9  # the winner trained to the whole budget


def test_cli_search_refuses_zero_candidates(tmp_path, capsys):
    from handgrad.cli import main

    assert main(["train", "--dataset", "friedman1", "--search", "0", "--no-save"]) == 2
    assert "--search must be an integer >= 1" in capsys.readouterr().err
