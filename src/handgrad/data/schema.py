"""The schema of a tabular data set: which columns are features, how each is encoded.

A :class:`Schema` is learned from a training file (:meth:`Schema.fit`) and stored
in the model file (:meth:`Schema.to_dict` is plain JSON). At prediction time it
encodes another file the same way (:meth:`Schema.encode`): columns are matched
**by name, in any order**; extra columns are ignored; a missing feature column is
a :class:`~handgrad.errors.DataError` naming it.

Encoding rules
--------------
* A **numeric** column becomes one feature, as read (float64).
* A **categorical** column (text, or named in ``categorical=``) becomes one 0/1
  feature per category seen in the training file, named ``"column=category"``,
  categories sorted. NOTE: a category not seen in training is an **error** at
  prediction time (naming the file, line, column, value and the known categories),
  not an all-zero row: a silent all-zero encoding is a value the network never saw.
* **Missing values** (an empty field, ``NA``, ``N/A``, ``NaN``, ``null``, ``?``) are
  an error naming ``file:line`` and the column, unless ``missing=`` is ``"drop"``
  (drop the row), ``"mean"`` (numeric columns: the training mean; categorical: the
  most frequent category) or ``"most_frequent"`` (every column: the most frequent
  value). The fill values are stored in the schema, so prediction fills the same way.
* The **task** is inferred from the target column unless given: a text target is
  classification; a numeric target whose values are all integers with at most
  :data:`MAX_CLASSES` distinct values (and at least two) is classification too;
  anything else is regression. Classification with two classes is ``"binary"``,
  with more ``"multiclass"``. The target is encoded as the index of its class in
  ``classes`` (sorted), or kept as float64 for regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._memory import check_memory
from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .csv import RawTable

#: A numeric target with at most this many distinct integer values is a class label.
MAX_CLASSES = 20
#: A text column with more than MAX_CLASSES distinct values and more than this fraction of its
#: rows distinct is refused (an identifier or free text, not categories): see _check_distinct.
MAX_DISTINCT_FRACTION = 0.5
TASKS = ("regression", "binary", "multiclass")
KINDS = ("numeric", "categorical")
MISSING_POLICIES = ("error", "drop", "mean", "most_frequent")
SCHEMA_VERSION = 1


@dataclass
class ColumnSpec:
    """How one input column becomes features.

    Attributes
    ----------
    name : str
        The column's name in the header.
    kind : {"numeric", "categorical"}
    categories : list of str or None
        The one-hot categories (categorical columns), in feature order.
    fill : float, str or None
        The value that replaces a missing entry (when the schema's ``missing``
        policy imputes), learned from the training file.
    """

    name: str
    kind: str
    categories: list[str] | None = None
    fill: float | str | None = None

    @property
    def feature_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories or []]


@dataclass
class Schema:
    """Feature columns, their encoding, the target and the task (see the module docstring).

    Attributes
    ----------
    columns : list of ColumnSpec
        The input columns, in feature order.
    target : str or None
        The target column's name (None for a file without one).
    task : {"regression", "binary", "multiclass"} or None
    classes : list or None
        The class labels (sorted; numbers stay numbers), for classification.
    missing : {"error", "drop", "mean", "most_frequent"}
        What was done with missing values when the schema was fitted.
    """

    columns: list[ColumnSpec]
    target: str | None = None
    task: str | None = None
    classes: list | None = None
    missing: str = "error"
    dropped: list[str] = field(default_factory=list)

    # ----------------------------------------------------------- properties
    @property
    def feature_names(self) -> list[str]:
        """The encoded features' names, in the order of X's columns."""
        return [name for col in self.columns for name in col.feature_names]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def column_names(self) -> list[str]:
        """The input columns' names (before one-hot encoding)."""
        return [col.name for col in self.columns]

    def summary(self) -> str:
        """A few lines for a person: features, target, task (the CLI prints this)."""
        kinds = []
        for col in self.columns:
            if col.kind == "numeric":
                kinds.append(col.name)
            else:
                kinds.append(f"{col.name} (categorical: {len(col.categories or [])} categories)")
        lines = [f"features ({self.n_features}): " + ", ".join(kinds)]
        if self.target is not None:
            classes = "" if self.classes is None else f", classes {self.classes}"
            lines.append(f"target: {self.target} ({self.task}{classes})")
        if self.dropped:
            # An empty name is the unnamed first column that was detected as a row index.
            names = (repr(name) if name else "(unnamed row-index column)" for name in self.dropped)
            lines.append("dropped: " + ", ".join(names))
        return "\n".join(lines)

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (stored in model files)."""
        return {
            "version": SCHEMA_VERSION,
            "columns": [
                {"name": c.name, "kind": c.kind, "categories": c.categories, "fill": c.fill} for c in self.columns
            ],
            "feature_names": self.feature_names,
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "missing": self.missing,
            "dropped": list(self.dropped),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """The inverse of :meth:`to_dict`, validating every field (DataError on junk)."""
        if not isinstance(data, dict):
            raise DataError(f"schema must be a JSON object, got {type(data).__name__}")
        version = data.get("version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION or version < 1:
            raise DataError(f"schema version {version!r} is not supported (this handgrad reads 1..{SCHEMA_VERSION})")
        raw_columns = data.get("columns")
        if not isinstance(raw_columns, list):
            raise DataError("schema 'columns' must be a list")
        columns = []
        for i, c in enumerate(raw_columns):
            if not isinstance(c, dict) or not isinstance(c.get("name"), str) or c.get("kind") not in KINDS:
                raise DataError(f"schema column {i} must be {{'name': str, 'kind': one of {KINDS}}}, got {c!r}")
            categories = c.get("categories")
            if c["kind"] == "categorical":
                if (
                    not isinstance(categories, list)
                    or not categories
                    or not all(isinstance(v, str) for v in categories)
                    or len(set(categories)) != len(categories)
                ):
                    raise DataError(
                        f"schema column {c['name']!r}: categories must be a non-empty list of distinct strings"
                    )
            elif categories is not None:
                raise DataError(f"schema column {c['name']!r} is numeric but has categories")
            fill = c.get("fill")
            if fill is not None and (not isinstance(fill, (int, float, str)) or isinstance(fill, bool)):
                raise DataError(f"schema column {c['name']!r}: fill must be a number, a string or null")
            columns.append(ColumnSpec(c["name"], c["kind"], categories, fill))
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise DataError(f"schema has duplicate column names: {names}")
        target = data.get("target")
        task = data.get("task")
        classes = data.get("classes")
        missing = data.get("missing", "error")
        if target is not None and not isinstance(target, str):
            raise DataError(f"schema 'target' must be a string or null, got {target!r}")
        if task is not None and task not in TASKS:
            raise DataError(f"schema 'task' must be one of {TASKS}, got {task!r}")
        if classes is not None and (
            not isinstance(classes, list)
            or len(classes) < 2
            or not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in classes)
        ):
            raise DataError(f"schema 'classes' must be a list of at least two numbers or strings, got {classes!r}")
        if (task in ("binary", "multiclass")) != (classes is not None):
            raise DataError(f"schema task {task!r} and classes {classes!r} do not agree")
        if task == "binary" and len(classes) != 2:
            raise DataError(f"schema task 'binary' needs exactly two classes, got {classes!r}")
        if missing not in MISSING_POLICIES:
            raise DataError(f"schema 'missing' must be one of {MISSING_POLICIES}, got {missing!r}")
        dropped = data.get("dropped", [])
        if not isinstance(dropped, list) or not all(isinstance(v, str) for v in dropped):
            raise DataError("schema 'dropped' must be a list of strings")
        schema = cls(columns, target, task, classes, missing, dropped)
        stored = data.get("feature_names")
        if stored is not None and stored != schema.feature_names:
            raise DataError("schema 'feature_names' do not match its columns and categories")
        return schema

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(
        cls,
        table: RawTable,
        target: str | None,
        *,
        task: str | None = None,
        missing: str = "error",
    ) -> Schema:
        """Learn the encoding of ``table`` (a training file) with ``target`` as the label column."""
        if missing not in MISSING_POLICIES:
            raise DataError(f"missing={missing!r}; expected one of {MISSING_POLICIES}")
        if task is not None and task not in TASKS:
            raise DataError(f"task={task!r}; expected one of {TASKS} or None (infer it)")
        feature_cols = [name for name in table.names if name != target]
        if not feature_cols:
            raise DataError(f"{table.path}: no feature columns left (columns {table.names}, target {target!r})")
        used = feature_cols + ([target] if target else [])
        if missing == "error":
            _check_no_missing(table, used, None, "error")
        any_missing = any(table.has_missing(n) for n in used)
        keep = table.rows_without_missing(used) if missing == "drop" and any_missing else None
        columns = []
        for name in feature_cols:
            kind = table.kinds[name]
            if kind == "numeric" and missing not in ("mean", "most_frequent") and not table.has_missing(name):
                # NOTE: the common case, kept free of whole-column copies (1M-row files).
                columns.append(ColumnSpec(name, "numeric"))
                continue
            values = table.columns[name] if keep is None else table.columns[name][keep]
            missing_mask = _missing_mask(values, kind)
            present = values[~missing_mask]
            if present.size == 0:
                raise DataError(f"{table.path}: column {name!r} has no values (every entry is missing)")
            if kind == "numeric":
                fill = None
                if missing == "mean":
                    fill = float(present.mean())
                elif missing == "most_frequent":
                    fill = float(_most_frequent(present))
                columns.append(ColumnSpec(name, "numeric", None, fill))
            else:
                categories = sorted(set(present.tolist()))
                _check_distinct(table.path, name, len(categories), present.size, "column")
                fill = _most_frequent(present) if missing in ("mean", "most_frequent") else None
                columns.append(ColumnSpec(name, "categorical", categories, fill))
        task_, classes = None, None
        if target is not None:
            values = table.columns[target] if keep is None else table.columns[target][keep]
            task_, classes = infer_task(values, table.kinds[target], task, f"{table.path}: target {target!r}")
            if task is None and table.kinds[target] == "categorical":
                n_present = int(np.sum(~_missing_mask(values, "categorical")))
                _check_distinct(table.path, target, len(classes), n_present, "target")
        return cls(columns, target, task_, classes, missing, list(table.dropped))

    # --------------------------------------------------------------- encode
    def encode(self, table: RawTable, *, missing: str | None = None, require_target: bool = False):
        """Encode ``table`` with this schema.

        Parameters
        ----------
        table : RawTable
            A file read by :func:`handgrad.data.csv.read_table`.
        missing : str, optional
            Override the schema's missing-value policy (``"error"``/``"drop"`` make
            sense at prediction time; imputation uses the fill values learned in fit).
        require_target : bool
            True (training, evaluation): the target column must be there, and its
            missing values follow the policy like any column's. False (prediction):
            ``y`` is None when the column is absent or has any missing value (a file
            of rows to predict may carry an empty target column).

        Returns
        -------
        X : ndarray of shape (n_rows, n_features), float64
        y : ndarray of shape (n_rows,) or None
            float64 for regression, int64 class indices for classification.
        rows : ndarray of shape (n_rows,), int64
            The index in ``table`` of each kept row (all rows unless ``missing="drop"``).
        """
        policy = self.missing if missing is None else missing
        if policy not in MISSING_POLICIES:
            raise DataError(f"missing={policy!r}; expected one of {MISSING_POLICIES}")
        absent = [name for name in self.column_names if name not in table.columns]
        if absent:
            raise DataError(
                f"{table.path}: missing column{'s' if len(absent) > 1 else ''} "
                f"{', '.join(repr(a) for a in absent)} (the model was trained on {self.column_names}; "
                f"this file has {table.names})"
            )
        has_target = self.target is not None and self.target in table.columns
        if has_target and not require_target and table.has_missing(self.target):
            # Prediction: the target is not needed, and a target column left (partly) empty, as in a
            # template of rows to predict, is not an error: it is ignored.
            has_target = False
        if require_target and not has_target:
            raise DataError(
                f"{table.path}: the target column {self.target!r} is missing; columns: {table.names}"
                if self.target is not None
                else f"{table.path}: this schema has no target column"
            )
        used = self.column_names + ([self.target] if has_target else [])
        rows = None  # None: every row of the table, without copying columns
        if policy == "drop" and any(table.has_missing(n) for n in used):
            rows = np.flatnonzero(table.rows_without_missing(used))
            if rows.size == 0:
                raise DataError(f"{table.path}: every row has a missing value (missing='drop' leaves no rows)")
        for col in self.columns:
            if table.kinds[col.name] != col.kind and col.kind == "numeric":
                raise DataError(f"{table.path}: column {col.name!r} holds text but the model expects numbers")
        if (
            table.block is not None
            and all(col.kind == "numeric" for col in self.columns)
            and not any(table.has_missing(n) for n in self.column_names)
        ):
            # Fast path: gather X row-wise from the parsed block (one pass, contiguous reads).
            index = [table.block_index[n] for n in self.column_names]
            X = _gather_columns(table.block, index) if rows is None else table.block[np.ix_(rows, index)]
        else:
            X = self._encode_columns(table, rows, policy, used)
        y = None
        if has_target:
            values = table.columns[self.target]
            y = self._encode_target(table, values if rows is None else values[rows], rows, policy)
        return X, y, np.arange(table.n_rows) if rows is None else rows

    def _encode_columns(self, table: RawTable, rows: np.ndarray | None, policy: str, used: list[str]) -> np.ndarray:
        """X column by column: one-hot blocks, filled missing values."""
        n = table.n_rows if rows is None else rows.size
        what = f"{table.path}: the encoded features ({n} rows × {self.n_features} columns)"
        check_memory(n * self.n_features * 8, what)
        X = np.empty((n, self.n_features), dtype=np.float64)
        j = 0
        for col in self.columns:
            values = table.columns[col.name] if rows is None else table.columns[col.name][rows]
            if table.has_missing(col.name):
                mask = _missing_mask(values, col.kind)
                if mask.any():
                    if policy in ("mean", "most_frequent") and col.fill is not None:
                        values = values.copy()
                        values[mask] = col.fill
                    else:
                        _check_no_missing(table, used, rows, policy)
            if col.kind == "numeric":
                X[:, j] = values
                j += 1
            else:
                X[:, j : j + len(col.categories)] = self._one_hot(table, col, values, rows)
                j += len(col.categories)
        return X

    def _one_hot(self, table: RawTable, col: ColumnSpec, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(n_rows, n_categories) 0/1 block; an unseen category is an error (module docstring)."""
        categories = np.asarray(col.categories, dtype=object)
        order = np.argsort(categories)
        sorted_cats = categories[order]
        str_values = values  # text columns hold str (missing ones were filled or rejected above)
        pos = np.searchsorted(sorted_cats, str_values)
        pos = np.minimum(pos, len(sorted_cats) - 1)
        unseen = sorted_cats[pos] != str_values
        if unseen.any():
            i = int(np.argmax(unseen))
            raise DataError(
                f"{table.path}:{table.line_of(_row(rows, i))}: column {col.name!r} has the value {str_values[i]!r}, "
                f"which the model never saw in training; known categories: {col.categories}"
            )
        index = order[pos]
        out = np.zeros((values.size, len(col.categories)))
        out[np.arange(values.size), index] = 1.0
        return out

    def _encode_target(self, table: RawTable, values: np.ndarray, rows: np.ndarray | None, policy: str) -> np.ndarray:
        kind = table.kinds[self.target]
        if table.has_missing(self.target) and _missing_mask(values, kind).any():
            _check_no_missing(table, [self.target], rows, "error")
        if self.task == "regression":
            if kind != "numeric":
                raise DataError(f"{table.path}: target {self.target!r} holds text but the task is regression")
            return values.astype(np.float64)
        # Class indices without a Python loop per row: match the distinct values only.
        uniq, inverse = np.unique(values, return_inverse=True)
        lookup = {_class_key(c): k for k, c in enumerate(self.classes)}
        mapped = np.array([lookup.get(_class_key(u), -1) for u in uniq.tolist()], dtype=np.int64)
        index = mapped[inverse.reshape(-1)]
        if (index < 0).any():
            i = int(np.argmax(index < 0))
            raise DataError(
                f"{table.path}:{table.line_of(_row(rows, i))}: target {self.target!r} has the class "
                f"{values.tolist()[i]!r}, not one of the model's classes {self.classes}"
            )
        return index


# ---------------------------------------------------------------- helpers
def _check_distinct(where: str, name: str, n_distinct: int, n_present: int, what: str) -> None:
    """Refuse a text column (or target) in which almost every value differs.

    NOTE: such a column (an identifier, free text, numbers in a format not
    recognised) would silently become ``n_distinct`` one-hot features, or as
    many classes: a 50,000-name column made an 18.6 GiB matrix. It is refused
    here, from the distinct values alone, before anything is allocated.
    """
    if n_distinct <= MAX_CLASSES or n_distinct <= MAX_DISTINCT_FRACTION * n_present:
        return
    if what == "target":
        use = "as a classification target it would make"
        fix = (
            "choose another target (--target), or, if it holds numbers, say how they are written "
            "(decimal=',' / thousands=',': --decimal , / --thousands ,)"
        )
    else:
        use = "one-hot encoding would make"
        fix = (
            f"drop it (drop=[{name!r}], --drop {name!r}), or, if it holds numbers, say how they are written "
            "(decimal=',' / thousands=',': --decimal , / --thousands ,)"
        )
    raise DataError(
        f"{where}: {what} {name!r} holds text with {n_distinct} distinct values in {n_present} rows (almost "
        f"every value differs: an identifier, free text, or numbers in an unrecognised format); {use} "
        f"{n_distinct} {'classes' if what == 'target' else 'features'}. {fix[0].upper()}{fix[1:]}"
    )


def _gather_columns(block: np.ndarray, index: list[int]) -> np.ndarray:
    """``block[:, index]``: a view if the columns are adjacent, else a copy made in runs.

    NOTE: the usual case (every column but a first or last target) is one run of
    adjacent columns, returned as a strided **view** of the parsed block: no copy,
    so loading needs about one times the table's memory instead of two, and no
    second pass over 1M × 30 values. A view is a valid (n_samples, n_features)
    float64 array; it is not C-contiguous (``np.ascontiguousarray`` if needed).
    ``np.take(block, index, axis=1)`` would copy element by element (1.3 s for 1M × 29).
    """
    if index == list(range(index[0], index[0] + len(index))):
        return block[:, index[0] : index[0] + len(index)]
    X = np.empty((block.shape[0], len(index)), dtype=block.dtype)
    out = 0
    while out < len(index):
        end = out + 1
        while end < len(index) and index[end] == index[end - 1] + 1:
            end += 1
        X[:, out:end] = block[:, index[out] : index[out] + (end - out)]
        out = end
    return X


def _row(rows: np.ndarray | None, i: int) -> int:
    """The table row of the i-th encoded row."""
    return i if rows is None else int(rows[i])


def _check_no_missing(table: RawTable, names: list[str], rows: np.ndarray | None, policy: str) -> None:
    """Raise a DataError naming file:line and column of the first missing value among ``rows`` (None: all)."""
    first = None
    for name in names:
        if not table.has_missing(name):
            continue
        values = table.columns[name] if rows is None else table.columns[name][rows]
        mask = _missing_mask(values, table.kinds[name])
        if mask.any():
            i = int(np.argmax(mask))
            if first is None or i < first[0]:
                first = (i, name)
    if first is None:
        return
    i, name = first
    value = table.columns[name][_row(rows, i)]
    shown = "an empty field or NA" if value is None else "NaN or an empty field"
    hint = (
        "drop such rows (missing='drop', --missing drop) or impute them (missing='mean' or 'most_frequent')"
        if policy == "error"
        else "the model's schema cannot fill it in"
    )
    raise DataError(f"{table.path}:{table.line_of(_row(rows, i))}: missing value ({shown}) in column {name!r}; {hint}")


def _missing_mask(values: np.ndarray, kind: str) -> np.ndarray:
    """True where an entry is missing: NaN in a numeric column, None in a text one."""
    if kind == "numeric":
        return np.isnan(values)
    return np.fromiter((v is None for v in values), dtype=bool, count=values.size)


def _most_frequent(values: np.ndarray):
    """The most frequent value (ties: the smallest), as a Python scalar."""
    uniq, counts = np.unique(values, return_counts=True)
    value = uniq[int(np.argmax(counts))]
    return value.item() if hasattr(value, "item") else value


def _class_key(value):
    """A hashable key equating 1, 1.0 and the stored JSON number 1."""
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        value = float(value)
        return ("n", int(value)) if value.is_integer() else ("n", value)
    return ("s", str(value))


def infer_task(values: np.ndarray, kind: str, task: str | None, where: str) -> tuple[str, list | None]:
    """The task and classes of a target column (rule in the module docstring).

    Parameters
    ----------
    values : ndarray of shape (n_rows,)
        float64 (numeric, NaN = missing) or object (text, None = missing).
    kind : {"numeric", "categorical"}
    task : str or None
        The caller's choice; None infers it.
    where : str
        Names the file and column in messages.
    """
    present = values[~_missing_mask(values, kind)]
    if kind == "numeric":
        uniq = np.unique(present)
        integral = bool(np.all(uniq == np.round(uniq)))
        if task is None:
            task = "regression"
            if integral and 2 <= uniq.size <= MAX_CLASSES:
                task = "binary" if uniq.size == 2 else "multiclass"
        classes = [int(v) if integral else float(v) for v in uniq] if task != "regression" else None
    else:
        if task == "regression":
            raise DataError(f"{where} holds text (e.g. {present[0]!r}); it cannot be a regression target")
        classes = sorted(set(present.tolist()))
        if task is None:
            task = "binary" if len(classes) == 2 else "multiclass"
    if task != "regression":
        if len(classes) < 2:
            raise DataError(f"{where} has a single class {classes}; classification needs at least two")
        if task == "binary" and len(classes) != 2:
            raise DataError(f"{where} has {len(classes)} classes {classes[:10]}; task 'binary' needs exactly two")
    return task, classes
