"""The data of ``handgrad train``: a CSV file (``--train`` with ``--valid``/``--test``) or a built-in data set.

Reads the files and infers the schema; holds out the validation and test rows of a
built-in data set (and of ``--train`` only when ``--val-fraction`` asks); returns the
notes to print about what was loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Dataset, Schema, load_csv, load_dataset, read_table, resolve_target
from ..data.schema import MAX_CLASSES
from ..errors import DataError
from ._common import CLASSIFICATION, reading, usage_error
from ._train_settings import Settings

#: The built-in data set of a bare ``handgrad train`` (and of ``handgrad``).
DEFAULT_DATASET = "sine"


def load_data(args, cfg: Settings) -> tuple[Dataset, Dataset | None, Dataset | None, str, list[str]]:
    """``(train, valid, test, run name, notes)``; the valid/test parts may be None.

    ``notes`` are lines to print, the first the summary of the data as loaded
    (all its samples, before any part is held out).
    """
    if args.train:
        with reading(args.train):
            train_ds = _load_train_csv(args)
        notes = [train_ds.summary()]
        classes = train_ds.schema.classes or []
        if args.task is None and train_ds.task == "multiclass" and not any(isinstance(c, str) for c in classes):
            # NOTE: counts, ratings and ages are small integers too; say how the guess was made
            # and how to overrule it, before a long run trains the wrong kind of model.
            notes.append(
                f"task inferred: {train_ds.target_name!r} holds {len(classes)} distinct integers "
                f"(at most {MAX_CLASSES}), taken as class labels; for amounts pass --task regression"
            )
        name = Path(args.train).stem
        valid = test = None
        if args.valid:
            with reading(args.valid):
                valid = load_csv(args.valid, schema=train_ds.schema, require_target=True, **_formats(args))
        if args.test:
            with reading(args.test):
                test = load_csv(args.test, schema=train_ds.schema, require_target=True, **_formats(args))
    else:
        if args.target or args.drop or args.categorical or args.missing or args.task:
            raise usage_error("--target, --drop, --categorical, --missing and --task apply to a CSV file (--train)")
        name = (args.dataset or DEFAULT_DATASET).strip().lower()
        data = load_dataset(name)
        notes = [data.summary()]
        valid = test = None
        train_ds = data
        if data.n_samples < 20:
            notes.append(f"{name} has only {data.n_samples} samples: training and validating on all of them")
            if cfg.val_fraction > 0:
                valid = data
        else:
            parts = data.split(valid=cfg.val_fraction, test=0.2, random_state=args.seed)
            train_ds, valid, test = parts
        return train_ds, valid, test, name, notes
    if valid is None and cfg.split_train:
        # NOTE: only on request (--val-fraction): by default every row goes to the estimator,
        # as MLPRegressor().fit(table) would get them (with --early-stopping it holds out its own part).
        parts = train_ds.split(valid=cfg.val_fraction, random_state=args.seed)
        train_ds, valid = parts.train, parts.valid
        notes.append(
            f"validation: {valid.n_samples} rows held out of {Path(args.train).name} at random "
            f"(--val-fraction {cfg.val_fraction:g}, seed {args.seed}"
            + (", stratified)" if train_ds.task in CLASSIFICATION else ")")
        )
    return train_ds, valid, test, name, notes


def _formats(args) -> dict:
    """How the CSV files write numbers: ``--delimiter``, ``--decimal``, ``--thousands``."""
    # NOTE: getattr: a checkpoint written before --decimal existed has no such arguments.
    return {
        "delimiter": args.delimiter,
        "decimal": getattr(args, "decimal", ".") or ".",
        "thousands": getattr(args, "thousands", None),
    }


def _load_train_csv(args) -> Dataset:
    table = read_table(args.train, drop=args.drop, categorical=args.categorical, **_formats(args))
    target = resolve_target(table, args.target if args.target is not None else -1)
    task = args.task if args.task in ("regression", "binary", "multiclass") else None
    missing = args.missing or "error"
    schema = Schema.fit(table, target, task=task, missing=missing)
    if args.task == "classification" and schema.task == "regression":
        values = table.columns[target]
        n_classes = np.unique(values[~np.isnan(values)]).size
        if n_classes > 100:
            raise DataError(
                f"{args.train}: target {target!r} has {n_classes} distinct values; too many for classification"
            )
        schema = Schema.fit(table, target, task="binary" if n_classes == 2 else "multiclass", missing=missing)
    X, y, rows = schema.encode(table, require_target=True)
    return Dataset(X, y, schema.feature_names, target, schema.task, schema, str(args.train), rows)
