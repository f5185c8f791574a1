"""In-memory tables (pandas DataFrames, NumPy object arrays) as the CSV loader's :class:`RawTable`.

The estimators encode a table with text columns through the same
:class:`~handgrad.data.Schema` that ``handgrad train`` builds from a CSV file: this
module turns the table into a :class:`RawTable` (one array per column, a kind per
column), and the Schema does the rest (one-hot categories, unseen categories and
missing values as errors naming the value).

pandas is **not** a dependency: a DataFrame is recognised by duck typing
(``.columns``, ``.dtypes``, ``.to_numpy()``).

Kinds
-----
* DataFrame: a column of a numeric or boolean dtype is numeric; any other dtype
  (object, string, category) is text, unless every value in it is a number.
* Object or string array: a column is text when more than half of its present
  values are not numbers (the CSV loader's rule), numeric otherwise; a word in a
  numeric column is then a :class:`~handgrad.errors.NonNumericError` naming the
  column, the row, the value and the fix.

Missing values (None, NaN, pandas' NA, or one of :data:`~handgrad.data.MISSING_TOKENS`
in a text column) follow the Schema's policy. Rows are numbered from 0 in messages
(``X:3`` is row 3).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import DataError, NonNumericError, ShapeError
from .csv import MISSING_TOKENS, RawTable

__all__ = ["as_raw_table", "is_frame", "is_table"]


def is_frame(X) -> bool:
    """Whether ``X`` looks like a pandas DataFrame (``.columns``, ``.dtypes``, ``.to_numpy``)."""
    return not isinstance(X, np.ndarray) and all(hasattr(X, a) for a in ("columns", "dtypes", "to_numpy"))


def is_table(X) -> bool:
    """Whether ``X`` holds text and so needs a Schema: a DataFrame with a non-numeric column, or an
    object / string array with a ``str`` in it. (An object array of numbers is an ordinary matrix.)"""
    if is_frame(X):
        return not all(_numeric_dtype(d) for d in X.dtypes)
    if isinstance(X, np.ndarray) and X.dtype.kind in "US":
        return True
    if isinstance(X, np.ndarray) and X.dtype == object:
        return any(isinstance(v, str) for v in X.ravel().tolist())
    return False


def _numeric_dtype(dtype) -> bool:
    """A NumPy or pandas dtype of numbers or booleans (pandas' extension dtypes carry ``kind`` too)."""
    return getattr(dtype, "kind", "O") in "biuf"


def as_raw_table(
    X, *, names: list[str] | None = None, kinds: dict[str, str] | None = None, where: str = "X"
) -> RawTable:
    """``X`` (a DataFrame, or an array of shape (n_samples, n_columns)) as a :class:`RawTable`.

    Parameters
    ----------
    X : DataFrame-like or array of shape (n_samples, n_columns)
        Column names: the DataFrame's (as ``str``), or ``x0, x1, ...`` for an array.
    names : list of str, optional
        The names of an array's columns, in order (a fitted Schema's, at prediction time).
    kinds : dict of str to {"numeric", "categorical"}, optional
        Force these columns' kinds (a fitted Schema's, at prediction time); then only these
        columns are converted (others are ignored, as a CSV file's extra columns are).
    where : str
        Names the table in messages.
    """
    if is_frame(X):
        names = [str(c) for c in X.columns]
        A = np.asarray(X.to_numpy())  # object when the dtypes are mixed: each column is converted below
        columns = [A[:, j] for j in range(A.shape[1])]
        numeric_dtype = [_numeric_dtype(d) for d in X.dtypes]
    else:
        A = np.asarray(X)
        if A.ndim != 2:
            raise ShapeError(f"{where} must be 2-D (n_samples, n_columns), got shape {A.shape}")
        if names is not None and len(names) != A.shape[1]:
            raise ShapeError(f"{where} has {A.shape[1]} columns; expected {len(names)}: {names}")
        names = list(names) if names is not None else [f"x{j}" for j in range(A.shape[1])]
        columns = [A[:, j] for j in range(A.shape[1])]
        numeric_dtype = [A.dtype.kind in "biuf"] * A.shape[1]
    if len(set(names)) != len(names):
        raise DataError(f"{where} has duplicate column names: {names}")
    kinds = dict(kinds or {})
    out: dict[str, np.ndarray] = {}
    out_kinds: dict[str, str] = {}
    missing: set[str] = set()
    for name, values, is_num in zip(names, columns, numeric_dtype):
        if kinds and name not in kinds:
            continue
        kind = kinds.get(name)
        if is_num and kind != "categorical":
            # NOTE: pandas' nullable integers hold NA: to_numpy(float) is NaN there.
            col = (
                np.array([np.nan if _is_missing(v) else v for v in values.tolist()], dtype=np.float64)
                if values.dtype == object
                else np.asarray(values, dtype=np.float64)
            )
            kind = "numeric"
        else:
            cells = [None if _is_missing(v) else v for v in np.asarray(values, dtype=object).tolist()]
            if kind is None:
                present = [v for v in cells if v is not None]
                numbers_ = sum(_as_number(v) is not None for v in present)
                kind = "numeric" if present and numbers_ * 2 >= len(present) else "categorical"
            if kind == "numeric":
                col = np.empty(len(cells))
                for i, v in enumerate(cells):
                    if v is None:
                        col[i] = np.nan
                        continue
                    number = _as_number(v)
                    if number is None:
                        raise NonNumericError(
                            f"{where}: column {name!r} is numeric, but row {i} holds {v!r}, not a number; "
                            "fix the value, mark it missing (None or NaN), or, if the column is a category, "
                            f"give it as text in every row (e.g. df[{name!r}].astype(str)) to one-hot encode it"
                        )
                    col[i] = number
            else:
                col = np.array([None if v is None else (v if isinstance(v, str) else _text(v)) for v in cells],
                               dtype=object)  # fmt: skip
        out[name], out_kinds[name] = col, kind
        if np.isnan(col).any() if kind == "numeric" else any(v is None for v in col):
            missing.add(name)
    n = len(columns[0]) if columns else 0
    kept = [name for name in names if name in out]
    return RawTable(where, kept, out, out_kinds, list(names), [], np.arange(n), ",", missing)


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TOKENS
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return bool(np.isnan(float(v)))
    try:  # pandas' NA / NaT: neither equal nor unequal to anything
        return bool(v != v)
    except (TypeError, ValueError):
        return True


def _as_number(v) -> float | None:
    """``v`` as a float if it is a number or a numeric string, else None."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _text(v) -> str:
    """A non-string category value as the CSV loader would read it (``3`` and ``3.0`` both as ``"3"``...)."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer():
        return str(int(v))
    return str(v)
