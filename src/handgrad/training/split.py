"""The one random split of rows into a training part and held-out parts (validation, test).

Used by :func:`handgrad.training.train` (``validation_fraction``), by the estimators
(early stopping) and by :func:`handgrad.data.train_valid_test_split` (the command
line's parts of a built-in data set), so that the same rows, fraction and seed
give the same parts everywhere.

The rule
--------
Rows are grouped (one group, or one per class when stratifying); each group is
permuted by ``rng`` (one ``rng.permutation`` per group, groups in sorted label
order) and its first rows go to the held-out parts in order, the rest to training.
A part of fraction ``f`` takes ``round(f * n_group)`` rows of a group, and:

* without stratification, at least one row (a part that was asked for is never empty);
* with stratification, **every class on both sides when it can be**: a class of
  two rows or more gives each requested part at least one row while keeping at
  least one for training (parts are served in order: with several parts, a small
  class may run out before the last); a class of a single row keeps it for training
  (unless ``round(f) = 1``). A requested part left empty gets one row from the class
  with the most training rows, if that class keeps one (or if every class has a
  single row: 5 rows of 5 classes still give a validation row).

Errors (:class:`SplitError`: both a ConfigError and a DataError, so a ValueError)
name the fractions and the row count when a part, or the training part, would be empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

__all__ = ["SplitError", "split_indices", "validation_split"]


class SplitError(ConfigError, DataError):
    """Fractions that leave a part empty: a setting (ConfigError, as ``train`` raised) that does
    not fit the data (DataError, as the data sets' split raised)."""


def split_indices(
    n: int, fractions: Sequence[float], stratify=None, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Indices of the training part and of each held-out part, each sorted.

    Parameters
    ----------
    n : int
        Number of rows.
    fractions : sequence of float
        The held-out parts' fractions (e.g. ``(valid,)`` or ``(valid, test)``), each in
        [0, 1), together < 1; a part of fraction 0 is empty.
    stratify : array of shape (n,) or (n, n_classes), optional
        Class labels (or one-hot rows) to keep every class on both sides.
    rng : numpy Generator
        The source of the permutations.

    Returns
    -------
    list of ndarray of int
        ``[train, part_1, part_2, ...]``, each sorted ascending.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    fractions = [float(f) for f in fractions]
    for f in fractions:
        if not 0.0 <= f < 1.0:
            raise SplitError(f"held-out fractions must be in [0, 1), got {fractions}")
    if sum(fractions) >= 1.0:
        raise SplitError(f"held-out fractions {fractions} add up to {sum(fractions):g}; they must leave training rows")
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        if labels.shape[0] != n:
            raise ShapeError(f"stratify has {labels.shape[0]} labels but there are {n} rows; need one label per row")
        if labels.ndim == 2:  # one-hot rows
            labels = labels.argmax(axis=1)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    k = len(fractions)
    parts: list[list[np.ndarray]] = [[] for _ in range(k + 1)]  # [train, part_1, ...]
    for group in groups:
        group = rng.permutation(group)
        m, start = len(group), 0
        for i, f in enumerate(fractions):
            size = round(f * m)
            if f > 0 and stratify is None:
                size = max(size, 1)  # a part that was asked for is never empty
            elif f > 0 and m >= 2:
                size = min(max(size, 1), max(m - start - 1, 0))  # every class on both sides when it can be
            parts[i + 1].append(group[start : start + size])
            start += size
        parts[0].append(group[start:])
    if stratify is not None:
        _fill_empty_parts(parts, fractions)
    out = [np.sort(np.concatenate(p)).astype(np.intp) for p in parts]
    if out[0].size == 0 or any(f > 0 and part.size == 0 for f, part in zip(fractions, out[1:])):
        raise SplitError(
            f"{n} rows are too few for held-out fractions {fractions} with a training part: they leave "
            f"{[part.size for part in out[1:]]} held out and {out[0].size} for training; every part needs a row"
        )
    return out


def validation_split(n: int, fraction: float, stratify=None, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` indices: :func:`split_indices` with one held-out part."""
    train, val = split_indices(n, (fraction,), stratify, rng)
    return train, val


def _fill_empty_parts(parts: list[list[np.ndarray]], fractions: list[float]) -> None:
    """Give a requested part that stratification left empty one row (module docstring).

    NOTE: single-row classes leave a part empty (5 rows of 5 classes, fraction
    0.2: round(0.2) = 0 for each), and so do two-row classes with two parts
    asked for. The row comes from the class with the most training rows, if it
    keeps one; a class is emptied only when every class has a single row.
    """
    for i, f in enumerate(fractions, start=1):
        if f == 0 or sum(p.size for p in parts[i]) > 0:
            continue
        sizes = [p.size for p in parts[0]]
        g = int(np.argmax(sizes))
        singletons = all(sum(part[j].size for part in parts) == 1 for j in range(len(sizes)))
        if sum(sizes) < 2 or (sizes[g] < 2 and not singletons):
            return  # too few rows: the caller reports it
        parts[i][g] = parts[0][g][:1]
        parts[0][g] = parts[0][g][1:]
