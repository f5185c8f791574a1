"""Reading CSV files: the seed's data sets and ordinary user files.

What a file must look like
--------------------------
UTF-8 text (a byte-order mark is fine), one header row, comma-separated (pass
``delimiter=`` otherwise), fields optionally quoted with ``"``. Column names may
contain spaces and parentheses (``"height(cm)"``, ``"fasting blood sugar"``).
Blank lines are skipped. Every error is a :class:`~handgrad.errors.DataError`
naming ``file:line`` (1-based, as a text editor shows it) and the column by name.

A first column with an empty name (or pandas' ``"Unnamed: 0"``) holding
non-negative integers in strictly increasing order is a row index (pandas'
``to_csv`` writes one; the seed's insurance files have one, with gaps where rows
went to another split): it is dropped, and the schema says so. A last column
without a name and without values (every line, the header included, ends with
the delimiter, as spreadsheet exports often do) is ignored. Any other column
without a name is an error (name it, or ``drop=[""]``).

How it is fast
--------------
A file whose columns all look numeric (in the first :data:`SNIFF_ROWS` rows, a column is
text if more than half of its values are not numbers) is
parsed by NumPy's C parser (``np.loadtxt``, NumPy >= 1.23), with no Python loop
per row: 1,000,000 rows × 30 columns load in seconds (``benchmarks/bench_load.py``).
If that parse fails, or the file has text columns or infinities, the file is read
again with the ``csv`` module, row by row, which finds and names the exact bad
line (or, for text columns, collects the categories).
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .schema import Schema
from .table import Dataset

#: Rows read with the csv module to decide which columns are numeric.
SNIFF_ROWS = 1000
#: Field values that mean "missing" (compared after stripping spaces, case-insensitive).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
#: Header names a row-index column is written with (empty: most tools; pandas reads it back as "Unnamed: 0").
ROW_INDEX_NAMES = ("", "Unnamed: 0")


@dataclass
class RawTable:
    """The columns of a CSV file as read, before encoding.

    Attributes
    ----------
    path : str
    names : list of str
        The kept columns, in file order.
    columns : dict of str to ndarray of shape (n_rows,)
        float64 for numeric columns (NaN where a value is missing); object arrays
        of str for text columns (None where missing).
    kinds : dict of str to {"numeric", "categorical"}
    header : list of str
        Every column of the header, dropped ones included.
    dropped : list of str
        The columns dropped (asked for, or a detected row index).
    """

    path: str
    names: list[str]
    columns: dict[str, np.ndarray]
    kinds: dict[str, str]
    header: list[str]
    dropped: list[str] = field(default_factory=list)
    lines: np.ndarray | None = field(default=None, repr=False)
    delimiter: str = ","
    #: Columns holding at least one missing value (the others skip every missing-value check).
    missing_columns: set[str] = field(default_factory=set)
    #: The fast path's (n_rows, n_fields) array, whose columns ``columns`` are views of
    #: (``block_index`` maps names to its columns): X is gathered from it row-wise.
    block: np.ndarray | None = field(default=None, repr=False)
    block_index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line_of(self, row: int) -> int:
        """The 1-based line number of data row ``row`` (for messages)."""
        if self.lines is None:
            # The fast path does not keep line numbers; only an error message needs them.
            self.lines = _scan_line_numbers(self.path, self.delimiter)
        return int(self.lines[row])

    def has_missing(self, name: str) -> bool:
        return name in self.missing_columns

    def rows_without_missing(self, names: Iterable[str]) -> np.ndarray:
        """Boolean mask of shape (n_rows,): True where none of ``names`` is missing."""
        keep = np.ones(self.n_rows, dtype=bool)
        for name in names:
            if name not in self.missing_columns:
                continue
            values = self.columns[name]
            if self.kinds[name] == "numeric":
                keep &= ~np.isnan(values)
            else:
                keep &= np.fromiter((v is not None for v in values), dtype=bool, count=values.size)
        return keep


# ------------------------------------------------------------------ public
def load_csv(
    path,
    target: str | int | None = None,
    *,
    drop: Sequence[str | int] = (),
    categorical: Sequence[str] = (),
    task: str | None = None,
    missing: str | None = None,
    schema: Schema | dict | None = None,
    delimiter: str = ",",
    require_target: bool = False,
) -> Dataset:
    """Load a CSV file as features ``X``, target ``y`` and the :class:`Schema` that encodes them.

    Parameters
    ----------
    path : str or Path
    target : str, int or None
        The target column: its name, or its 0-based position in the header
        (negative counts from the end: ``-1`` is the last column, the seed's
        ``price``). A string of digits that is not a column name is a position.
        None: no target (a file to predict on).
    drop : sequence of str or int
        Columns to ignore (names or 0-based positions; ``""`` is an unnamed column).
    categorical : sequence of str
        Columns to one-hot encode even though they hold numbers (e.g. codes).
    task : {"regression", "binary", "multiclass"} or None
        Override the inferred task (rule in :mod:`handgrad.data.schema`).
    missing : {"error", "drop", "mean", "most_frequent"} or None
        What to do with missing values (default ``"error"``; with ``schema``, the
        schema's own policy).
    schema : Schema or its dict, optional
        Encode the file with a schema learned before (prediction, evaluation):
        columns are matched by name in any order, extra columns ignored,
        ``target`` and ``task`` come from the schema.
    delimiter : str
        The field separator (default ``","``).
    require_target : bool
        With ``schema``: raise if the target column is absent (evaluation).

    Returns
    -------
    Dataset
        ``X`` of shape (n_samples, n_features) float64, ``y`` of shape (n_samples,)
        (float64 for regression, int64 class indices for classification) or None.

    Raises
    ------
    DataError
        For every problem with the file's contents, naming file, line and column.
    OSError
        If the file cannot be opened (FileNotFoundError, PermissionError).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = f.write_text('"weight (kg)",colour,price\\n4.5,red,1.0\\n6.0,blue,2.5\\n5.2,red,1.5\\n')
    >>> ds = load_csv(f, target="price")
    >>> ds.feature_names, ds.task
    (['weight (kg)', 'colour=blue', 'colour=red'], 'regression')
    >>> ds.X[0].tolist(), ds.y.tolist()
    ([4.5, 0.0, 1.0], [1.0, 2.5, 1.5])
    """
    path = Path(path)
    if schema is not None:
        if isinstance(schema, dict):
            schema = Schema.from_dict(schema)
        kinds = {c.name: c.kind for c in schema.columns}
        if schema.target is not None:
            text_classes = schema.classes is not None and any(isinstance(c, str) for c in schema.classes)
            kinds[schema.target] = "categorical" if text_classes else "numeric"
        table = read_table(path, drop=drop, kinds=kinds, delimiter=delimiter)
        X, y, rows = schema.encode(table, missing=missing, require_target=require_target)
        return Dataset(X, y, schema.feature_names, schema.target, schema.task, schema, str(path), rows)
    table = read_table(path, drop=drop, categorical=categorical, delimiter=delimiter)
    target_name = resolve_target(table, target)
    schema = Schema.fit(table, target_name, task=task, missing=missing or "error")
    X, y, rows = schema.encode(table, require_target=target_name is not None)
    return Dataset(X, y, schema.feature_names, target_name, schema.task, schema, str(path), rows)


def resolve_target(table: RawTable, target: str | int | None) -> str | None:
    """The target column's name from a name or 0-based header position (see :func:`load_csv`)."""
    if target is None:
        return None
    if isinstance(target, str) and target in table.names:
        return target
    if isinstance(target, str) and target.strip().lstrip("-").isdigit() and target not in table.header:
        target = int(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        n = len(table.header)
        if not -n <= target < n:
            raise DataError(
                f"{table.path}: target column index {target} is out of range; the file has {n} columns "
                f"(0..{n - 1}, or -1 for the last): {table.header}"
            )
        name = table.header[target]
        if name not in table.names:
            raise DataError(f"{table.path}: target column {target} ({name!r}) was dropped")
        return name
    if isinstance(target, str) and target in table.dropped:
        raise DataError(f"{table.path}: the target column {target!r} is also dropped")
    close = difflib.get_close_matches(str(target), table.names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(f"{table.path}: no target column {target!r}{hint}; the columns are {table.names}")


def read_table(
    path,
    *,
    drop: Sequence[str | int] = (),
    categorical: Sequence[str] = (),
    kinds: dict[str, str] | None = None,
    delimiter: str = ",",
) -> RawTable:
    """Read a CSV file into a :class:`RawTable` (validated, not yet encoded).

    ``kinds`` forces a column's kind (``"numeric"``: text in it is an error;
    ``"categorical"``: read as text); ``categorical`` forces the named columns to
    text. Other columns are text if more than half of their non-missing values
    in the first :data:`SNIFF_ROWS` rows are not numbers, numeric otherwise (and
    then a word in them is an error naming its line).
    """
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise DataError(f"{where}: is a directory, expected a CSV file")
    if len(delimiter) != 1:
        raise DataError(f"delimiter must be one character, got {delimiter!r}")
    header, header_line, sample = _read_head(path, delimiter)
    names = [name.strip() for name in header]
    _check_header(where, names, delimiter)
    n_fields = len(names)

    dropped = _resolve_drop(where, names, drop)
    forced = dict(kinds or {})
    for name in categorical:
        if name not in names:
            raise DataError(f"{where}: categorical column {name!r} is not in the file; columns: {names}")
        forced[name] = "categorical"
    for j, row in enumerate(sample):
        if len(row) != n_fields:
            raise _ragged(where, row_line=sample.lines[j], expected=n_fields, got=len(row), delimiter=delimiter)
    sniffed = {name: _sniff_kind([row[j] for row in sample]) for j, name in enumerate(names)}
    column_kinds = {name: forced.get(name, sniffed[name]) for name in names}

    columns: dict[str, np.ndarray] | None = None
    lines = block = None
    all_numeric = all(k == "numeric" for k in sniffed.values()) and all(
        column_kinds[n] == "numeric" for n in names if n not in dropped
    )
    if all_numeric:
        block = _read_fast(path, len(names), delimiter, header_line)
    if block is not None:
        columns = {name: block[:, j] for j, name in enumerate(names) if name not in dropped}
        has_nan = np.isnan(block).any(axis=0)  # one pass over contiguous memory
        missing = {name for j, name in enumerate(names) if has_nan[j] and name not in dropped}
    else:
        columns, lines = _read_slow(path, names, dropped, column_kinds, delimiter, n_fields)
        missing = {
            name
            for name, values in columns.items()
            if (np.isnan(values).any() if column_kinds[name] == "numeric" else any(v is None for v in values))
        }

    kept = [n for n in names if n not in dropped]
    table = RawTable(
        where, kept, columns, {n: column_kinds[n] for n in kept}, names, dropped, lines, delimiter, missing
    )
    if block is not None:
        table.block, table.block_index = block, {name: j for j, name in enumerate(names)}
    _drop_empty_last_column(table)
    _drop_row_index(table)
    if not table.names:
        raise DataError(f"{where}: every column was dropped; columns: {names}")
    return table


# ---------------------------------------------------------------- helpers
class _Sample(list):
    """The first data rows (lists of str), with their line numbers in ``lines``."""

    lines: list[int]


def _is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _read_head(path: Path, delimiter: str) -> tuple[list[str], int, _Sample]:
    """The header, the number of physical lines it ends on, and up to SNIFF_ROWS data rows."""
    sample = _Sample()
    sample.lines = []
    header: list[str] | None = None
    header_line = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in _rows(reader, str(path)):
                if _is_blank(row):
                    continue
                if header is None:
                    header, header_line = row, reader.line_num
                    continue
                sample.append(row)
                sample.lines.append(reader.line_num)
                if len(sample) >= SNIFF_ROWS:
                    break
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    if not sample:
        raise DataError(f"{path}: the file has a header but no data rows")
    return header, header_line, sample


def _rows(reader, where: str):
    """Iterate a csv reader, turning csv.Error (NUL byte, ...) into DataError with the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{where}:{reader.line_num + 1}: not valid CSV: {exc}") from None
        yield row


def _check_header(where: str, names: list[str], delimiter: str) -> None:
    if len(names) == 1:
        for other, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", "comma")):
            if other != delimiter and other in names[0]:
                raise DataError(
                    f"{where}:1: the header is a single column {names[0][:60]!r} containing {label}s: "
                    f"the file looks {label}-separated; pass delimiter={other!r} (--delimiter), "
                    f"handgrad expects {delimiter!r}"
                )
    seen: dict[str, int] = {}
    for j, name in enumerate(names, start=1):
        if name in seen:
            label = repr(name) if name else "an empty name"
            raise DataError(
                f"{where}:1: duplicate column name {label} (columns {seen[name]} and {j}); column names must be unique"
            )
        seen[name] = j


def _resolve_drop(where: str, names: list[str], drop: Sequence[str | int]) -> list[str]:
    if isinstance(drop, str):
        drop = [drop]
    dropped = []
    for item in drop:
        if isinstance(item, str) and item.strip() in names:
            dropped.append(item.strip())
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and -len(names) <= item < len(names):
            dropped.append(names[item])
        else:
            raise DataError(f"{where}: cannot drop column {item!r}: no such column; columns: {names}")
    return dropped


def _sniff_kind(values: list[str]) -> str:
    """ "categorical" if more than half of the non-missing values are not numbers, else "numeric".

    NOTE: a numeric column with a stray word (a typo, "n.a.") stays numeric, so the
    word is reported as an error with its line instead of silently turning the
    column into categories.
    """
    n_text = n_present = 0
    for v in values:
        v = v.strip()
        if v.lower() in MISSING_TOKENS:
            continue
        n_present += 1
        try:
            float(v)
        except ValueError:
            n_text += 1
    return "categorical" if n_text * 2 > n_present else "numeric"


def _read_fast(path: Path, n_fields: int, delimiter: str, header_line: int) -> np.ndarray | None:
    """The (n_rows, n_fields) array from NumPy's C parser; None if that fails (the slow path then names the problem)."""
    try:
        data = np.loadtxt(
            path,
            delimiter=delimiter,
            skiprows=header_line,
            dtype=np.float64,
            ndmin=2,
            quotechar='"',
            comments=None,
            encoding="utf-8",
        )
    except (ValueError, UnicodeDecodeError):
        return None
    # NOTE: NaN stays (a missing value, handled by the schema's policy); an
    # infinity is an error the slow path localises.
    if data.shape[1] != n_fields or np.isinf(data).any():
        return None
    return data


def _read_slow(path: Path, names, dropped, kinds, delimiter: str, n_fields: int):
    """Row by row with the csv module: exact errors, and text columns. Returns (columns, lines)."""
    where = str(path)
    capacity = _count_lines(path)
    numeric = [(j, n) for j, n in enumerate(names) if n not in dropped and kinds[n] == "numeric"]
    text = [(j, n) for j, n in enumerate(names) if n not in dropped and kinds[n] == "categorical"]
    num_index = [j for j, _ in numeric]
    values = np.empty((capacity, len(numeric)))
    text_values: list[list[str | None]] = [[] for _ in text]
    lines = np.empty(capacity, dtype=np.int64)
    i = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header_seen = False
            for row in _rows(reader, where):
                if _is_blank(row):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                line = reader.line_num
                if len(row) != n_fields:
                    raise _ragged(where, line, n_fields, len(row), delimiter)
                try:
                    values[i] = [float(row[j]) for j in num_index]
                except ValueError:
                    values[i] = [_parse_number(row[j], where, line, name) for j, name in numeric]
                for k, (j, _) in enumerate(text):
                    v = row[j].strip()
                    text_values[k].append(None if v.lower() in MISSING_TOKENS else v)
                lines[i] = line
                i += 1
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    values, lines = values[:i], lines[:i]
    bad = np.isinf(values)
    if bad.any():
        r, c = (int(k) for k in np.argwhere(bad)[0])
        raise DataError(
            f"{where}:{lines[r]}: column {numeric[c][1]!r} holds an infinite value ({values[r, c]}); "
            "every value must be a finite number"
        )
    columns: dict[str, np.ndarray] = {}
    for k, (_, name) in enumerate(numeric):
        columns[name] = values[:, k]
    for k, (_, name) in enumerate(text):
        arr = np.empty(i, dtype=object)
        arr[:] = text_values[k]
        columns[name] = arr
    # Back to file order.
    return {n: columns[n] for n in names if n in columns}, lines


def _parse_number(field: str, where: str, line: int, name: str) -> float:
    v = field.strip()
    if v.lower() in MISSING_TOKENS:
        return np.nan  # a missing value: the schema's policy decides
    try:
        return float(v)
    except ValueError:
        raise DataError(
            f"{where}:{line}: column {name!r} is numeric but holds the text {field!r}; fix the value, or "
            f"one-hot encode the column with categorical=[{name!r}] (--categorical)"
        ) from None


def _ragged(where: str, row_line: int, expected: int, got: int, delimiter: str) -> DataError:
    return DataError(
        f"{where}:{row_line}: expected {expected} fields (as in the header), found {got}; "
        f"check for a missing or extra {delimiter!r} or an unclosed quote"
    )


def _drop_empty_last_column(table: RawTable) -> None:
    """Forget a last column without a name and without a single value: a trailing delimiter.

    NOTE: spreadsheet exports often end every line, the header included, with a
    delimiter (``a,b,y,``). That makes an unnamed, empty last column which holds
    nothing to learn from; treating it as a column made the default target (the
    last column) an empty name and the file unreadable without ``--target``.
    It is removed from the header too, so ``-1`` still means the last real column.
    """
    last = table.header[-1]
    if last != "" or last not in table.names:
        return
    values = table.columns[last]
    if table.kinds[last] == "numeric":
        empty = bool(np.isnan(values).all())
    else:
        empty = all(v is None for v in values)
    if not empty:
        return
    table.names.remove(last)
    del table.columns[last]
    del table.kinds[last]
    table.missing_columns.discard(last)
    table.header = table.header[:-1]


def _drop_row_index(table: RawTable) -> None:
    """Drop a first column that is an unnamed row index (module docstring); reject other unnamed columns."""
    first = table.header[0]
    if first in table.names and first in ROW_INDEX_NAMES and table.kinds[first] == "numeric":
        values = table.columns[first]
        if values.size and not np.isnan(values).any() and np.all(values == np.round(values)) and values[0] >= 0:
            # Strictly increasing, not necessarily consecutive: the seed's insurance
            # files keep the index of the rows a split picked (0, 1, ..., 5, 7, ...).
            if np.all(np.diff(values) > 0):
                table.names.remove(first)
                del table.columns[first]
                del table.kinds[first]
                table.dropped.append(first)
    if "" in table.names:
        j = table.header.index("") + 1
        raise DataError(
            f"{table.path}:1: column {j} has no name in the header; name it, or drop it with drop=[''] (--drop '')"
        )


def _count_lines(path: Path) -> int:
    """Number of lines (an upper bound on the number of rows), counted in 16 MiB chunks."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _scan_line_numbers(path: str, delimiter: str) -> np.ndarray:
    """The line number of every data row (skipping blank lines and the header)."""
    out = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header_seen = False
        for row in reader:
            if _is_blank(row):
                continue
            if header_seen:
                out.append(reader.line_num)
            header_seen = True
    return np.asarray(out, dtype=np.int64)


def _not_utf8(path: Path) -> DataError:
    """A DataError naming the line and byte of the first non-UTF-8 byte sequence."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 1]
                return DataError(
                    f"{path}:{lineno}: byte 0x{bad.hex()} at byte {exc.start + 1} of the line is not UTF-8 text; "
                    "save the file as UTF-8"
                )
    return DataError(f"{path}: the file is not UTF-8 text; save it as UTF-8")
