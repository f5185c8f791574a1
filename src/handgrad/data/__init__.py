"""Data: CSV files, their schema, and built-in data sets.

* :func:`load_csv` reads a CSV file into a :class:`Dataset` (``X`` of shape
  (n_samples, n_features), ``y``, names, the task and the :class:`Schema`);
* :class:`Schema` encodes another file the same way (columns matched by name) and
  is stored, as JSON, in the model file;
* :func:`load_dataset` / :func:`list_datasets`: the built-in data sets;
  :func:`seed_data_dir` / :func:`seed_file`: the seed project's CSV files.

See ``docs/data-and-model-files.md``.
"""

from .csv import MISSING_TOKENS, RawTable, load_csv, read_table, resolve_target
from .datasets import list_datasets, load_dataset, seed_data_dir, seed_file
from .schema import MAX_CLASSES, ColumnSpec, Schema, infer_task
from .table import Dataset, Splits, train_valid_test_split

__all__ = [
    "MAX_CLASSES",
    "MISSING_TOKENS",
    "ColumnSpec",
    "Dataset",
    "RawTable",
    "Schema",
    "Splits",
    "infer_task",
    "list_datasets",
    "load_csv",
    "load_dataset",
    "read_table",
    "resolve_target",
    "seed_data_dir",
    "seed_file",
    "train_valid_test_split",
]
