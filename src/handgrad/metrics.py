"""Metrics of predictions in the target's units (NumPy only).

One definition of each metric, used by the command line (``handgrad evaluate``,
the final table of ``handgrad train``), by the estimators' ``score`` and by the
plots.

Shapes follow the public API: targets and predictions are ``(n_samples,)`` or
``(n_samples, n_outputs)`` (a 1-D array is one output). Unlike the losses
(:mod:`handgrad.losses`, which sum over outputs as the seed's ``J`` does), the
regression metrics here are the **mean over every element**, as
``sklearn.metrics`` reports them; with one output the two agree.

Example::

    >>> import numpy as np
    >>> y, p = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])
    >>> mean_squared_error(y, p), mean_absolute_error(y, p), r2_score(y, p)
    (0.3333333333333333, 0.3333333333333333, 0.5)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "accuracy_score",
    "confusion_matrix",
    "log_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "r2_score",
]

#: Probabilities are clipped to at least this before the log in :func:`log_loss`.
LOG_LOSS_EPS = 1e-15


def _columns(a: np.ndarray) -> np.ndarray:
    """``a`` of shape (n,) or (n, k) as (n, k)."""
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``mean (ŷ − y)²`` over every element; for one output the seed's ``J``.

    ``y_true``, ``y_pred``: the same shape, (n_samples,) or (n_samples, n_outputs).
    """
    return float(np.mean((np.asarray(y_pred, dtype=np.float64) - y_true) ** 2))


def mean_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``mean |ŷ − y|`` over every element (shapes as :func:`mean_squared_error`)."""
    return float(np.mean(np.abs(np.asarray(y_pred, dtype=np.float64) - y_true)))


def r2_score(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None, *, force_finite: bool = False
) -> float:
    """Coefficient of determination ``1 − Σ w (y − ŷ)² / Σ w (y − ȳ)²``, averaged over outputs.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,), optional
    force_finite : bool, default False
        What a constant target (``Σ w (y − ȳ)² = 0``) scores: NaN (it has no R²)
        when False; 1 if predicted exactly and 0 otherwise when True
        (scikit-learn's ``r2_score`` default, used by the estimators' ``score``).
    """
    Y, P = _columns(y_true), _columns(y_pred)
    w = np.ones(Y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = w @ Y / w.sum()
    ss_res = w @ (Y - P) ** 2  # (n_outputs,)
    ss_tot = w @ (Y - mean) ** 2
    r2 = 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1)
    constant = np.where(ss_res > 0, 0.0, 1.0) if force_finite else math.nan
    return float(np.mean(np.where(ss_tot > 0, r2, constant)))


def accuracy_score(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """The (weighted) fraction of samples predicted right.

    ``y_true``, ``y_pred``: labels of shape (n_samples,), or 0/1 label matrices of
    shape (n_samples, n_labels), where a sample is right only if every label is.
    """
    right = np.asarray(y_pred) == np.asarray(y_true)
    if right.ndim == 2:
        right = right.all(axis=1)
    return float(np.average(right, weights=sample_weight))


def log_loss(y_index: np.ndarray, proba: np.ndarray) -> float:
    """Mean of ``−log p(true class)``, p clipped at :data:`LOG_LOSS_EPS`.

    ``y_index``: true class indices, int, shape (n_samples,); ``proba``:
    probabilities of shape (n_samples, n_classes).
    """
    p_true = np.clip(proba[np.arange(y_index.size), y_index], LOG_LOSS_EPS, 1.0)
    return float(-np.mean(np.log(p_true)))


def confusion_matrix(y_index: np.ndarray, pred_index: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, shape (n_classes, n_classes): row = true class, column = predicted class.

    ``y_index``, ``pred_index``: class indices, int, shape (n_samples,).
    """
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (y_index, pred_index), 1)
    return confusion
