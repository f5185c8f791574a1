"""The :class:`Dataset` every loader returns, and the train/validation/test split."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from ..training.split import SplitError, split_indices
from .schema import Schema


@dataclass
class Dataset:
    """Features, target and how they were encoded.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        One row per sample, in the order of ``feature_names``.
    y : ndarray of shape (n_samples,) or None
        float64 for regression; int64 class indices into ``classes`` for
        classification; None for a file without a target column.
    feature_names : list of str
        One name per column of X (a categorical column gives ``"name=category"``).
    target_name : str or None
    task : {"regression", "binary", "multiclass"} or None
    schema : Schema
        Encodes another file the same way (:meth:`Schema.encode`); JSON-able.
    name : str
        The file or built-in data set it came from.
    rows : ndarray of shape (n_samples,), int64, or None
        For a file: the index of each sample among the file's data rows (rows with a
        missing value are left out under ``missing="drop"``).
    description : str
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None
    task: str | None
    schema: Schema
    name: str = ""
    rows: np.ndarray | None = None
    description: str = field(default="", repr=False)

    @property
    def classes(self) -> list | None:
        """The class labels (classification), in the order of the indices in ``y``."""
        return self.schema.classes

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, X: {self.X.shape}, target={self.target_name!r}, task={self.task!r}, "
            f"n_features={self.n_features})"
        )

    def summary(self) -> str:
        """What the command line prints before training: size, features, target, task."""
        return f"{self.name}: {self.n_samples} samples\n{self.schema.summary()}"

    def subset(self, index) -> Dataset:
        """The samples at ``index`` (an int array or a boolean mask of shape (n_samples,))."""
        index = np.asarray(index)
        return replace(
            self,
            X=self.X[index],
            y=None if self.y is None else self.y[index],
            rows=None if self.rows is None else self.rows[index],
        )

    def split(self, valid: float = 0.2, test: float = 0.0, random_state=None, stratify: bool | None = None) -> Splits:
        """Shorthand for :func:`train_valid_test_split` of this data set."""
        return train_valid_test_split(self, valid=valid, test=test, random_state=random_state, stratify=stratify)


class Splits(NamedTuple):
    """The parts of a split data set (``test`` is None when no test fraction was asked)."""

    train: Dataset
    valid: Dataset | None
    test: Dataset | None


def train_valid_test_split(
    data: Dataset, valid: float = 0.2, test: float = 0.0, random_state=None, stratify: bool | None = None
) -> Splits:
    """Split ``data`` at random into train / validation / test parts.

    Parameters
    ----------
    data : Dataset
    valid, test : float
        Fractions of the samples, each in [0, 1), together < 1. A part of
        fraction 0 is None. Sizes are rounded (at least one sample per non-zero part).
    random_state : int, numpy.random.Generator or None
        Seed of the permutation (the same seed gives the same split).
    stratify : bool or None
        Keep the class proportions in every part, and every class on both sides
        when it can be (default: True for classification, False for regression).
        The rule is :func:`handgrad.training.split.split_indices`, the one that
        ``train(validation_fraction=...)`` and the estimators' early stopping use.

    Returns
    -------
    Splits(train, valid, test)

    Examples
    --------
    >>> from handgrad.data import load_dataset
    >>> parts = load_dataset("spiral", random_state=0).split(valid=0.25, random_state=0)
    >>> len(parts.train), len(parts.valid), parts.test
    (300, 100, None)
    """
    for name, f in (("valid", valid), ("test", test)):
        if not (0.0 <= f < 1.0):
            raise DataError(f"{name} fraction must be in [0, 1), got {f!r}")
    if valid + test >= 1.0:
        raise DataError(f"valid + test fractions must be < 1 to leave training samples, got {valid} + {test}")
    if stratify is None:
        stratify = data.task in ("binary", "multiclass") and data.y is not None
    if stratify and data.y is None:
        raise DataError("cannot stratify a data set without a target")
    try:
        # The one split (handgrad.training.split): the same rule as train()'s validation_fraction.
        index = split_indices(data.n_samples, (valid, test), data.y if stratify else None, random_state)
    except SplitError as exc:
        raise DataError(f"{data.name}: {exc}") from None
    return Splits(
        data.subset(index[0]),
        data.subset(index[1]) if valid > 0 else None,
        data.subset(index[2]) if test > 0 else None,
    )
