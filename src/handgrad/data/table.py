"""The :class:`Dataset` every loader returns, and the train/validation/test split."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from ..errors import DataError
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
        Keep the class proportions in every part (default: True for
        classification, False for regression).

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
    rng = np.random.default_rng(random_state)
    if stratify is None:
        stratify = data.task in ("binary", "multiclass") and data.y is not None
    groups = [np.arange(data.n_samples)]
    if stratify:
        if data.y is None:
            raise DataError("cannot stratify a data set without a target")
        groups = [np.flatnonzero(data.y == c) for c in np.unique(data.y)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        group = rng.permutation(group)
        n_valid = _part_size(len(group), valid, len(groups) == 1)
        n_test = _part_size(len(group), test, len(groups) == 1)
        if n_valid + n_test >= len(group) and len(groups) == 1:
            raise DataError(
                f"{data.name}: {len(group)} samples are too few for valid={valid}, test={test} with a training part"
            )
        parts[1].append(group[:n_valid])
        parts[2].append(group[n_valid : n_valid + n_test])
        parts[0].append(group[n_valid + n_test :])
    if stratify:
        _fill_empty_parts(parts, (valid, test))
    index = [np.sort(np.concatenate(p)) for p in parts]
    if index[0].size == 0:
        raise DataError(
            f"{data.name}: {data.n_samples} samples are too few for valid={valid}, test={test} with a training part"
        )
    return Splits(
        data.subset(index[0]),
        data.subset(index[1]) if valid > 0 else None,
        data.subset(index[2]) if test > 0 else None,
    )


def _fill_empty_parts(parts: list[list[np.ndarray]], fractions: tuple[float, float]) -> None:
    """Give a requested validation or test part that stratification left empty one sample.

    NOTE: per class, ``round(n_class * fraction)`` is 0 for a class with few samples,
    so with many small classes (5 rows of 5 classes, valid=0.2) every class keeps all
    its rows for training and the validation part would be empty although it was asked
    for (the documented rule: at least one sample per non-zero part). The sample is
    taken from the class with the most training samples, which disturbs the class
    proportions least; a class is never left without training samples while another
    has two or more.
    """
    for k, fraction in zip((1, 2), fractions):
        if fraction == 0 or sum(p.size for p in parts[k]) > 0:
            continue
        g = int(np.argmax([p.size for p in parts[0]]))
        if sum(p.size for p in parts[0]) < 2:
            return  # too few samples: the caller reports it
        parts[k][g] = parts[0][g][:1]
        parts[0][g] = parts[0][g][1:]


def _part_size(n: int, fraction: float, at_least_one: bool) -> int:
    if fraction == 0:
        return 0
    size = round(n * fraction)
    return max(size, 1) if at_least_one else size
