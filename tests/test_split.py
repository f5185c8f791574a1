"""The one stratified split (handgrad.training.split), as train(), the estimators and the data sets' split use it."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import Network, train
from handgrad.data import Dataset, Schema
from handgrad.data.schema import ColumnSpec
from handgrad.data.table import train_valid_test_split
from handgrad.errors import ConfigError, DataError
from handgrad.training.split import SplitError, split_indices, validation_split


def test_issue_example_twelve_rows_of_three_classes_hold_out_one_row_per_class_everywhere():
    # The issue: 12 rows of 3 classes with fraction 0.1 used to give 3 rows in train() and 1 in the
    # data sets' split. Per class round(0.4) = 0, raised to 1 so that every class is on both sides.
    labels = np.repeat([0, 1, 2], 4)
    train_idx, val_idx = validation_split(12, 0.1, labels, np.random.default_rng(0))
    assert sorted(labels[val_idx].tolist()) == [0, 1, 2]
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(12))
    ds = Dataset(np.arange(12.0)[:, None], labels, ["x"], "y", "multiclass",
                 Schema([ColumnSpec("x", "numeric")], "y", "multiclass", [0, 1, 2]))  # fmt: skip
    parts = train_valid_test_split(ds, valid=0.1, random_state=0)
    np.testing.assert_array_equal(np.sort(parts.valid.X[:, 0]), np.sort(val_idx.astype(float)))


def test_train_holds_out_the_same_rows_as_the_split():
    # train() takes its validation rows from validation_split with its own generator (first draw).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 2))
    labels = np.repeat([0, 1], 10)
    _, val_idx = validation_split(20, 0.25, labels, np.random.default_rng(11))
    net = Network([2, 1], activation="relu", random_state=0)
    seen = []
    train(net, X, labels[:, None].astype(float), loss="binary_crossentropy", epochs=1, validation_fraction=0.25,
          stratify=labels, random_state=11, checkpoint_every=1, on_checkpoint=seen.append)  # fmt: skip
    np.testing.assert_array_equal(seen[0].split["val"], val_idx)


def test_without_stratification_every_requested_part_has_a_row():
    train_idx, val_idx, test_idx = split_indices(10, (0.01, 0.2), None, np.random.default_rng(0))
    assert (len(train_idx), len(val_idx), len(test_idx)) == (7, 1, 2)


def test_single_row_classes_and_errors():
    # 5 rows of 5 classes: round(0.2) = 0 for each; the requested part still gets a row.
    train_idx, val_idx = validation_split(5, 0.2, np.arange(5), np.random.default_rng(0))
    assert len(val_idx) == 1 and len(train_idx) == 4
    with pytest.raises(SplitError, match="too few") as info:
        split_indices(2, (0.5, 0.4), None, np.random.default_rng(0))
    assert isinstance(info.value, ConfigError) and isinstance(info.value, DataError)
    with pytest.raises(SplitError, match="fractions"):
        split_indices(10, (0.6, 0.5))
