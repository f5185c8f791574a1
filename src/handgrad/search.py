r"""A budgeted hyper-parameter search: successive halving over learning rate, widths and weight decay.

``handgrad train --search N`` runs it; in Python, :func:`successive_halving` on an
estimator. (With scikit-learn installed, its ``GridSearchCV``, ``RandomizedSearchCV``
and ``HalvingRandomSearchCV`` work on the estimators as well, with ``n_jobs``:
``tests/test_search.py``.)

The rule (Jamieson & Talwalkar, 2016; Li et al.'s Hyperband rung): draw ``N``
candidates from :data:`SPACE`; train all of them for a small number of epochs;
keep the best third by the validation loss, train the survivors three times as
long (continuing where they stopped: ``warm_start``), and so on until one is left
or the epoch budget ``max_epochs`` is reached. The total cost is about
``log_3 N`` times that of training the winner alone. Every candidate is judged
on the same held-out rows (a stratified split for classifiers), never on the
rows it trains on; the winner is returned fitted, with the table of every rung.

    >>> import numpy as np
    >>> from handgrad import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = X[:, 0] - 2 * X[:, 1] ** 2
    >>> result = successive_halving(MLPRegressor(max_iter=9), X, y, n_candidates=4, random_state=0)
    >>> len(result.table) >= 4 and result.best_params["hidden_layer_sizes"] in [c for c in SPACE["hidden_layer_sizes"]]
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .estimators import DEFAULTS
from .init import as_generator
from .params import Integer, check
from .training.split import validation_split

#: What the search draws from: learning rates and weight decays log-uniformly, widths from a list.
SPACE = {
    "learning_rate": (1e-4, 3e-2),
    "weight_decay": (1e-6, 1e-1),
    "hidden_layer_sizes": [(32,), (64,), (128,), (64, 32), (128, 64), (256, 128), (128, 128, 64)],
}


@dataclass
class SearchResult:
    """The winner and how the search got there.

    Attributes
    ----------
    best_estimator : MLPRegressor or MLPClassifier
        Fitted on the training rows (not the held-out ones), with the winner's settings.
    best_params : dict
    table : list of dict
        One row per candidate and rung: ``rung``, ``candidate``, the settings, ``epochs``
        (trained so far) and ``val_loss`` (the loss on the held-out rows: MSE in the
        target's units for regression, log loss for classification) and ``val_score``
        (R² or accuracy).
    validation_rows : ndarray of int
        Indices of the held-out rows.
    """

    best_estimator: object
    best_params: dict
    table: list[dict] = field(default_factory=list)
    validation_rows: np.ndarray | None = None

    def format_table(self) -> str:
        head = "rung  cand  epochs  learning_rate  weight_decay  hidden           val_loss   val_score"
        lines = [head]
        for r in self.table:
            lines.append(
                f"{r['rung']:>4}  {r['candidate']:>4}  {r['epochs']:>6}  {r['learning_rate']:>13.3g}  "
                f"{r['weight_decay']:>12.3g}  {tuple(r['hidden_layer_sizes'])!s:<15}  {r['val_loss']:>9.4g}  "
                f"{r['val_score']:>9.4f}"
            )
        return "\n".join(lines)


def _draw(space: dict, rng: np.random.Generator) -> dict:
    lo, hi = space["learning_rate"]
    wlo, whi = space["weight_decay"]
    widths = space["hidden_layer_sizes"]
    return {
        "learning_rate": float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        "weight_decay": float(np.exp(rng.uniform(np.log(wlo), np.log(whi)))),
        "hidden_layer_sizes": tuple(widths[int(rng.integers(len(widths)))]),
    }


def _validation_loss(est, X, y) -> tuple[float, float]:
    """(loss, score) on held-out rows: MSE and R² (regression), log loss and accuracy (classification)."""
    if hasattr(est, "predict_proba"):
        P = est.predict_proba(X)
        index = np.searchsorted(est.classes_, np.asarray(y))
        p = np.clip(P[np.arange(len(index)), index], 1e-15, 1.0)
        return float(-np.mean(np.log(p))), float(est.score(X, y))
    pred = est.predict(X)
    resid = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return float(np.mean(resid**2)), float(est.score(X, y))


def successive_halving(
    estimator,
    X,
    y,
    *,
    n_candidates: int = 9,
    max_epochs: int | None = None,
    factor: int = 3,
    validation_fraction: float = 0.2,
    random_state=None,
    space: dict | None = None,
    sample_weight=None,
    on_rung=None,
) -> SearchResult:
    """Successive halving over :data:`SPACE` for an (unfitted) estimator's other settings.

    Parameters
    ----------
    estimator : MLPRegressor or MLPClassifier
        Its hyper-parameters are the starting point; the search sets ``learning_rate``,
        ``weight_decay``, ``hidden_layer_sizes`` (and ``max_iter`` per rung, ``warm_start``,
        ``random_state``, ``early_stopping=False``: the held-out rows judge the candidates).
    X : array-like of shape (n_samples, n_features); y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    n_candidates : int, default 9
    max_epochs : int, optional
        Epochs of the last rung's survivors in all (default: the estimator's ``max_iter``).
    factor : int, default 3
        Keep the best ``1/factor`` each rung; survivors train ``factor`` times as long.
    validation_fraction : float, default 0.2
        The held-out rows (stratified by class for a classifier).
    random_state : int, Generator or None
        Draws the candidates, the split and each candidate's initialisation.
    on_rung : callable(list of dict), optional
        Called with each rung's rows (the command line prints them).
    """
    n_candidates = check("n_candidates", n_candidates, Integer(low=1))
    factor = check("factor", factor, Integer(low=2))
    validation_fraction = check("validation_fraction", validation_fraction)
    if validation_fraction == 0:
        raise ConfigError("successive_halving needs held-out rows: validation_fraction must be > 0")
    space = SPACE if space is None else space
    if max_epochs is None:  # the estimator's max_iter ("auto": at most DEFAULTS.auto_max_epochs)
        max_epochs = DEFAULTS.auto_max_epochs if isinstance(estimator.max_iter, str) else estimator.max_iter
    max_epochs = check("max_epochs", max_epochs, Integer(low=1))
    rng = as_generator(random_state)
    X = X if hasattr(X, "iloc") or hasattr(X, "subset") else np.asarray(X)
    y_arr = np.asarray(y)
    n = len(y_arr)
    is_classifier = hasattr(estimator, "predict_proba")
    train_idx, val_idx = validation_split(n, validation_fraction, y_arr if is_classifier else None, rng)
    if hasattr(X, "subset"):  # a Dataset (the command line's, already encoded)
        take = lambda A, idx: A.subset(idx)  # noqa: E731
    elif hasattr(X, "iloc"):  # a DataFrame
        take = lambda A, idx: A.iloc[idx]  # noqa: E731
    else:
        take = lambda A, idx: A[idx]  # noqa: E731
    X_tr, X_val, y_tr, y_val = take(X, train_idx), take(X, val_idx), y_arr[train_idx], y_arr[val_idx]
    w_tr = None if sample_weight is None else np.asarray(sample_weight)[train_idx]

    # Rungs: epochs r_0, r_0 f, r_0 f^2, ... ending at max_epochs.
    n_rungs = 1
    while factor ** (n_rungs - 1) < n_candidates:  # enough rungs to get down to one candidate
        n_rungs += 1
    budgets = [max(1, round(max_epochs / factor ** (n_rungs - 1 - k))) for k in range(n_rungs)]
    base = estimator.get_params(deep=False)
    candidates = []
    for c in range(n_candidates):
        params = _draw(space, rng)
        est = type(estimator)(**{**base, **params, "early_stopping": False, "warm_start": True,
                                 "random_state": int(rng.integers(2**31 - 1))})  # fmt: skip
        candidates.append({"candidate": c, "params": params, "estimator": est, "epochs": 0})
    table: list[dict] = []
    alive = candidates
    for rung, budget in enumerate(budgets):
        if len(alive) == 1:
            budget = budgets[-1]  # the last one standing trains to the whole budget at once
        rows = []
        for cand in alive:
            extra = budget - cand["epochs"]
            if extra > 0:
                cand["estimator"].set_params(max_iter=extra)
                cand["estimator"].fit(X_tr, y_tr, sample_weight=w_tr)
                cand["epochs"] = budget
            loss, score = _validation_loss(cand["estimator"], X_val, y_val)
            cand["val_loss"] = loss if math.isfinite(loss) else math.inf
            row = {"rung": rung, "candidate": cand["candidate"], **cand["params"], "epochs": cand["epochs"],
                   "val_loss": loss, "val_score": score}  # fmt: skip
            rows.append(row)
        table += rows
        if on_rung is not None:
            on_rung(rows)
        alive = sorted(alive, key=lambda c: c["val_loss"])
        if alive[0]["epochs"] >= budgets[-1] or rung == len(budgets) - 1:
            break
        alive = alive[: max(1, len(alive) // factor)]
    best = min(alive, key=lambda c: c["val_loss"])
    est = best["estimator"]
    est.set_params(max_iter=base.get("max_iter", est.max_iter), warm_start=base.get("warm_start", False))
    return SearchResult(est, dict(best["params"]), table, val_idx)
