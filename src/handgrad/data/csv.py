"""Reading CSV files: the seed's data sets and ordinary user files.

What a file must look like
--------------------------
UTF-8 text (a byte-order mark is fine), one header row, comma-separated (pass
``delimiter=`` otherwise), fields optionally quoted with ``"``. Column names may
contain spaces and parentheses (``"height(cm)"``, ``"fasting blood sugar"``).
Blank lines are skipped; line endings may be LF, CRLF, CR or a mixture. Every
error is a :class:`~handgrad.errors.DataError` naming ``file:line`` (1-based, as
a text editor shows it; the line a record starts on) and the column by name.

The file may be gzip-, bzip2- or xz-compressed (recognised by its first bytes),
``-`` (standard input), a pipe or FIFO (``<(zcat f.csv.gz)``): such an input is
read once, and :func:`load_csv`'s several passes read a copy spooled to a
temporary file (:func:`handgrad._files.open_input`). :func:`iter_csv_chunks`
reads a file once, in chunks, for prediction with memory independent of its length.

Numbers may be written with a decimal comma or thousands separators when the
loader is told (``decimal=","``, ``thousands=","``: ``--decimal``, ``--thousands``);
otherwise a column of such numbers is an error naming the column and the
option, never a text column.

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
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._files import InputSource, open_input
from ..errors import DataError
from .schema import Schema
from .table import Dataset

#: Rows read with the csv module to decide which columns are numeric.
SNIFF_ROWS = 1000
#: Rows per chunk of the row-by-row reader (whole-file loading).
CHUNK_ROWS = 65_536
#: Rows per chunk of :func:`iter_csv_chunks` by default: small enough that a chunk's lines
#: (kept as text while NumPy parses them) cost a few MB even for wide rows, large enough
#: that the per-chunk overhead is negligible.
STREAM_CHUNK_ROWS = 8192
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
    #: Where the rows came from (reread only to find line numbers for a message).
    source: InputSource | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line_of(self, row: int) -> int:
        """The 1-based line number of data row ``row`` (for messages)."""
        if self.lines is None:
            # The fast path does not keep line numbers; only an error message needs them.
            if self.source is None or not self.source.seekable:
                return row + 2  # no way back to the file: the row's line if it has no blank lines
            self.lines = _scan_line_numbers(self.source, self.delimiter)
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
    decimal: str = ".",
    thousands: str | None = None,
) -> Dataset:
    """Load a CSV file as features ``X``, target ``y`` and the :class:`Schema` that encodes them.

    Parameters
    ----------
    path : str or Path
        A CSV file, possibly gzip/bzip2/xz-compressed (recognised by its first
        bytes); ``-`` for standard input; a pipe or FIFO (read once).
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
    decimal : {".", ","}
        The decimal mark (``--decimal``): ``","`` reads ``3,14`` as 3.14 (the
        file's delimiter must then be another character, e.g. ``";"``).
    thousands : str or None
        The thousands separator (``--thousands``): ``","`` reads ``"12,345"`` as
        12345 (groups of three digits only). Without these options, a column of
        such numbers is an error naming the column and the option to pass.

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
    formats = {"delimiter": delimiter, "decimal": decimal, "thousands": thousands}
    if schema is not None:
        if isinstance(schema, dict):
            schema = Schema.from_dict(schema)
        table = read_table(path, drop=drop, kinds=_schema_kinds(schema), **formats)
        X, y, rows = schema.encode(table, missing=missing, require_target=require_target)
        return Dataset(X, y, schema.feature_names, schema.target, schema.task, schema, table.path, rows)
    table = read_table(path, drop=drop, categorical=categorical, **formats)
    target_name = resolve_target(table, target)
    schema = Schema.fit(table, target_name, task=task, missing=missing or "error")
    X, y, rows = schema.encode(table, require_target=target_name is not None)
    return Dataset(X, y, schema.feature_names, target_name, schema.task, schema, table.path, rows)


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
    decimal: str = ".",
    thousands: str | None = None,
) -> RawTable:
    """Read a CSV file into a :class:`RawTable` (validated, not yet encoded).

    ``kinds`` forces a column's kind (``"numeric"``: text in it is an error;
    ``"categorical"``: read as text); ``categorical`` forces the named columns to
    text. Other columns are text if more than half of their non-missing values
    in the first :data:`SNIFF_ROWS` rows are not numbers, numeric otherwise (and
    then a word in them is an error naming its line). A column of numbers
    written with a decimal comma or thousands separators (``"12,345"``) that
    ``decimal``/``thousands`` do not describe is an error naming the column and
    the option, never a text column.

    ``path`` may be ``-`` (standard input), a pipe or FIFO (read once; see
    :func:`handgrad._files.open_input`), or a gzip/bzip2/xz-compressed file.
    """
    options = _NumberFormat.make(delimiter, decimal, thousands)
    source = open_input(path, passes="many", error=DataError)
    where = source.name
    header, header_line, sample = _read_head(source, delimiter)
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
            raise _ragged(where, sample.lines[j], n_fields, len(row), delimiter, sample.ends[j])
    sniffed = {name: _sniff_kind([row[j] for row in sample], options.parse) for j, name in enumerate(names)}
    for j, name in enumerate(names):
        if sniffed[name] == "categorical" and name not in forced and name not in dropped:
            options.check_text_column(where, name, [row[j] for row in sample])
    column_kinds = {name: forced.get(name, sniffed[name]) for name in names}

    columns: dict[str, np.ndarray] | None = None
    lines = block = None
    all_numeric = all(k == "numeric" for k in sniffed.values()) and all(
        column_kinds[n] == "numeric" for n in names if n not in dropped
    )
    if all_numeric and options.plain:
        block = _read_fast(source, len(names), delimiter, header_line)
    if block is not None:
        columns = {name: block[:, j] for j, name in enumerate(names) if name not in dropped}
        has_nan = np.isnan(block).any(axis=0)  # one pass over contiguous memory
        missing = {name for j, name in enumerate(names) if has_nan[j] and name not in dropped}
    else:
        columns, lines = _read_slow(source, names, dropped, column_kinds, options, n_fields)
        missing = {
            name
            for name, values in columns.items()
            if (np.isnan(values).any() if column_kinds[name] == "numeric" else any(v is None for v in values))
        }

    kept = [n for n in names if n not in dropped]
    table = RawTable(
        where, kept, columns, {n: column_kinds[n] for n in kept}, names, dropped, lines, delimiter, missing
    )
    table.source = source
    if block is not None:
        table.block, table.block_index = block, {name: j for j, name in enumerate(names)}
    _drop_empty_last_column(table)
    _drop_row_index(table)
    if not table.names:
        raise DataError(f"{where}: every column was dropped; columns: {names}")
    return table


def iter_csv_chunks(
    path,
    schema: Schema | dict,
    chunk_rows: int = STREAM_CHUNK_ROWS,
    *,
    missing: str | None = None,
    delimiter: str = ",",
    decimal: str = ".",
    thousands: str | None = None,
    require_target: bool = False,
) -> Iterator[Dataset]:
    """Encode a file with ``schema`` in chunks of at most ``chunk_rows`` rows, in one pass.

    For prediction on files of any length: memory is proportional to
    ``chunk_rows``, not to the file, and the first chunk is ready as soon as its
    rows are read. ``path`` may be ``-``, a pipe or a FIFO (read once, never
    copied) or a compressed file. Errors name the file's real line numbers.

    Parameters
    ----------
    path : str or Path
    schema : Schema or its dict
        The model's schema (columns matched by name, as :func:`load_csv` does).
    chunk_rows : int
        Rows per chunk (>= 1).
    missing, delimiter, decimal, thousands, require_target
        As for :func:`load_csv`.

    Yields
    ------
    Dataset
        ``X`` of shape (n_chunk, n_features); ``y`` (or None); ``rows`` of shape
        (n_chunk,), int64: the index of each sample among the file's data rows
        (so a caller can tell rows dropped by ``missing="drop"``).
    """
    if isinstance(schema, dict):
        schema = Schema.from_dict(schema)
    if not isinstance(chunk_rows, (int, np.integer)) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise DataError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
    options = _NumberFormat.make(delimiter, decimal, thousands)
    kinds = _schema_kinds(schema)
    source = open_input(path, passes="once", error=DataError)
    where = source.name
    with source.open_text() as f:
        records = _records(f, where, delimiter)
        header, _, _ = next(records, (None, 0, 0))
        if header is None:
            raise DataError(f"{where}: the file is empty; expected a header row and data rows")
        names = [name.strip() for name in header]
        _check_header(where, names, delimiter)
        # Columns the schema does not use are skipped unparsed (extra columns are ignored).
        used = set(schema.column_names) | ({schema.target} if schema.target else set())
        dropped = [n for n in names if n not in used]
        column_kinds = {n: kinds.get(n, "categorical") for n in names}
        kept = [n for n in names if n not in dropped]
        numeric_only = options.plain and all(column_kinds[n] == "numeric" for n in kept)
        offset = 0
        for columns, lines in _chunks(
            f, records, where, names, dropped, column_kinds, options, chunk_rows, numeric_only
        ):
            missing_cols = {
                n
                for n, v in columns.items()
                if (np.isnan(v).any() if column_kinds[n] == "numeric" else any(x is None for x in v))
            }
            table = RawTable(
                where, kept, columns, {n: column_kinds[n] for n in kept}, names, dropped, lines, delimiter, missing_cols
            )
            X, y, rows = schema.encode(table, missing=missing, require_target=require_target)
            yield Dataset(X, y, schema.feature_names, schema.target, schema.task, schema, where, rows + offset)
            offset += len(lines)
        if offset == 0:
            raise DataError(f"{where}: the file has a header but no data rows")


def _chunks(f, records, where, names, dropped, kinds, options: _NumberFormat, chunk_rows: int, numeric_only: bool):
    """``(columns, lines)`` of each chunk of the text stream ``f`` after its header (see :func:`_parse_records`).

    NOTE: while every used column is numeric, a chunk's lines go to NumPy's C
    parser (``np.loadtxt`` of the lines, the used columns only): several times
    faster than the csv module. A chunk it cannot take as it is (a quote, a
    blank line, a missing value, a bad number) switches to the csv module for
    the rest of the file, starting with that chunk's lines, so the error is
    found and named with its line exactly as :func:`load_csv` names it. Lines are
    never read twice: the stream may be a pipe.
    """
    line = records.lines_read  # the header's last line
    if numeric_only:
        index = [j for j, n in enumerate(names) if n not in dropped]
        while True:
            lines = list(itertools.islice(f, chunk_rows))
            if not lines:
                return
            block = _parse_lines_fast(lines, options.delimiter, index, len(names))
            if block is None:
                pending = lines
                break
            columns = {names[j]: block[:, k] for k, j in enumerate(index)}
            yield columns, np.arange(line + 1, line + 1 + len(lines), dtype=np.int64)
            line += len(lines)
    else:
        pending = []
    slow = _records(itertools.chain(pending, f), where, options.delimiter, first_line=line) if pending else records
    yield from _parse_records(slow, where, names, dropped, kinds, options, chunk_rows)


def _parse_lines_fast(lines: list[str], delimiter: str, index: list[int], n_fields: int) -> np.ndarray | None:
    """The (n_lines, len(index)) float64 block of ``lines``, or None if the C parser cannot take them as they are."""
    for text in lines:
        if '"' in text or not text.strip() or text.count(delimiter) != n_fields - 1:
            return None
    try:
        block = np.loadtxt(lines, delimiter=delimiter, usecols=index, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    if block.shape != (len(lines), len(index)) or np.isinf(block).any():
        return None  # the csv module names the infinity (or the number too large) and its line
    return block


# ---------------------------------------------------------------- helpers
def _schema_kinds(schema: Schema) -> dict[str, str]:
    """Each column's kind as the schema reads it (the target's from its classes)."""
    kinds = {c.name: c.kind for c in schema.columns}
    if schema.target is not None:
        text_classes = schema.classes is not None and any(isinstance(c, str) for c in schema.classes)
        kinds[schema.target] = "categorical" if text_classes else "numeric"
    return kinds


class _Sample(list):
    """The first data rows (lists of str), with the lines each starts and ends on."""

    lines: list[int]
    ends: list[int]


def _is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


class _Records:
    """``(row, first line, last line)`` of each non-blank record of the text stream ``f``.

    NOTE: a record starts on the line after the previous record ended (the csv
    module's ``line_num`` counts the lines consumed so far, so after a failed or
    multi-line record it points at the record's *last* line). Errors name the
    first line, where a person looks for the cause (an unclosed quote).
    Line endings may be LF, CRLF, CR alone, or a mixture (``newline=""``).
    ``lines_read`` is the number of the last line consumed (``first_line`` plus
    the reader's count): where a reader of the same stream carries on.
    """

    def __init__(self, f, where: str, delimiter: str, source: InputSource | None = None, first_line: int = 0):
        self._reader = csv.reader(f, delimiter=delimiter)
        self._where = where
        self._source = source
        self._first = first_line
        self.lines_read = first_line

    def __iter__(self):
        return self

    def __next__(self) -> tuple[list[str], int, int]:
        while True:
            start = self.lines_read + 1
            try:
                row = next(self._reader)
            except csv.Error as exc:
                raise DataError(f"{self._where}:{start}: not valid CSV: {exc}") from None
            except UnicodeDecodeError:
                raise _not_utf8(self._source, self._where) from None
            self.lines_read = self._first + self._reader.line_num
            if not _is_blank(row):
                return row, start, self.lines_read


_records = _Records


def _read_head(source: InputSource, delimiter: str) -> tuple[list[str], int, _Sample]:
    """The header, the number of physical lines it ends on, and up to SNIFF_ROWS data rows."""
    sample = _Sample()
    sample.lines, sample.ends = [], []
    header: list[str] | None = None
    header_line = 0
    with source.open_text() as f:
        for row, start, end in _records(f, source.name, delimiter, source):
            if header is None:
                header, header_line = row, end
                continue
            sample.append(row)
            sample.lines.append(start)
            sample.ends.append(end)
            if len(sample) >= SNIFF_ROWS:
                break
    if header is None:
        raise DataError(f"{source.name}: the file is empty; expected a header row and data rows")
    if not sample:
        raise DataError(f"{source.name}: the file has a header but no data rows")
    return header, header_line, sample


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


# ------------------------------------------------------------- number formats
#: A number with a decimal comma ("3,14", "-0,5"), and one with thousands groups ("12,345", "1,234,567.5").
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_THOUSANDS_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$")  # "1.234,5": German style


@dataclass
class _NumberFormat:
    """How numbers are written: the decimal mark and an optional thousands separator.

    ``parse(text) -> float`` raises ValueError for text that is not a number in
    this format; with the defaults it is ``float`` itself (the fast path).
    """

    delimiter: str
    decimal: str = "."
    thousands: str | None = None

    @classmethod
    def make(cls, delimiter: str, decimal: str, thousands: str | None) -> _NumberFormat:
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise DataError(f"delimiter must be one character, got {delimiter!r}")
        if decimal not in (".", ","):
            raise DataError(f"decimal must be '.' or ',', got {decimal!r}")
        if thousands is not None and thousands not in (",", ".", " ", "'", "_"):
            raise DataError(f"thousands must be one of ',', '.', ' ', \"'\", '_' or None, got {thousands!r}")
        if thousands == decimal:
            raise DataError(f"decimal and thousands are both {decimal!r}; they must differ")
        # NOTE: a mark equal to the delimiter is fine in quoted fields ("12,345" in a
        # comma-separated file); unquoted, the row has too many fields and says so.
        return cls(delimiter, decimal, thousands)

    @property
    def plain(self) -> bool:
        return self.decimal == "." and self.thousands is None

    def parse(self, text: str) -> float:
        if self.plain:
            return float(text)
        v = text.strip()
        if self.thousands is not None and self.thousands in v:
            sep, mark = re.escape(self.thousands), re.escape(self.decimal)
            pattern = rf"^[+-]?\d{{1,3}}({sep}\d{{3}})+({mark}\d*)?$"
            if not re.match(pattern, v):
                raise ValueError(text)
            v = v.replace(self.thousands, "")
        if self.decimal != ".":
            if "." in v and self.thousands != ".":
                raise ValueError(text)  # "1.5" in a decimal-comma file is a mistake, not 1.5
            v = v.replace(self.decimal, ".")
        return float(v)

    def hint(self, name: str, values: Sequence[str]) -> str | None:
        """The option to pass if most of ``values`` are numbers in another format, else None."""
        present = [v.strip() for v in values if v.strip().lower() not in MISSING_TOKENS]
        if not present:
            return None
        decimal_comma = sum(bool(_DECIMAL_COMMA.match(v)) for v in present)
        thousands_comma = sum(bool(_THOUSANDS_COMMA.match(v)) for v in present)
        thousands_dot = sum(bool(_THOUSANDS_DOT.match(v)) for v in present)
        half = len(present) / 2
        example = next(
            (v for v in present if _DECIMAL_COMMA.match(v) or _THOUSANDS_COMMA.match(v) or _THOUSANDS_DOT.match(v)),
            present[0],
        )
        if thousands_dot > half and self.thousands != ".":
            return (
                f"column {name!r} holds numbers written with '.' between thousands and ',' as the decimal mark "
                f"(e.g. {example!r}): pass decimal=',', thousands='.' (--decimal , --thousands .), or drop it"
            )
        numeric_like = sum(bool(_DECIMAL_COMMA.match(v) or _THOUSANDS_COMMA.match(v)) or _is_float(v) for v in present)
        if decimal_comma + thousands_comma == 0 or numeric_like <= half:
            return None
        if thousands_comma and not decimal_comma - thousands_comma > 0 and self.thousands != ",":
            # Every "12,345" also reads as a decimal comma: name both, the user knows which.
            return (
                f"column {name!r} holds numbers written with a comma (e.g. {example!r}): pass thousands=',' "
                f"(--thousands ,) if the comma separates thousands, or decimal=',' (--decimal ,) if it is "
                "the decimal mark; or drop the column"
            )
        if self.decimal != ",":
            return (
                f"column {name!r} holds numbers written with a decimal comma (e.g. {example!r}): pass "
                "decimal=',' (--decimal ,), or drop the column"
            )
        return None

    def check_text_column(self, where: str, name: str, values: Sequence[str]) -> None:
        """Raise if a column read as text is really numbers in an unrecognised format."""
        hint = self.hint(name, values)
        if hint is not None:
            raise DataError(f"{where}: {hint}")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_kind(values: list[str], parse=float) -> str:
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
            parse(v)
        except ValueError:
            n_text += 1
    return "categorical" if n_text * 2 > n_present else "numeric"


def _read_fast(source: InputSource, n_fields: int, delimiter: str, header_line: int) -> np.ndarray | None:
    """The (n_rows, n_fields) array from NumPy's C parser; None if that fails (the slow path then names the problem)."""
    try:
        with source.open_text() as f:
            data = np.loadtxt(
                f,
                delimiter=delimiter,
                skiprows=header_line,
                dtype=np.float64,
                ndmin=2,
                quotechar='"',
                comments=None,
            )
    except (ValueError, UnicodeDecodeError, IndexError):
        return None
    # NOTE: NaN stays (a missing value, handled by the schema's policy); an
    # infinity is an error the slow path localises.
    if data.shape[1] != n_fields or np.isinf(data).any():
        return None
    return data


def _read_slow(source: InputSource, names, dropped, kinds, options: _NumberFormat, n_fields: int):
    """Row by row with the csv module: exact errors, and text columns. Returns (columns, lines)."""
    with source.open_text() as f:
        records = _records(f, source.name, options.delimiter, source)
        next(records, None)  # the header
        chunks = list(_parse_records(records, source.name, names, dropped, kinds, options, CHUNK_ROWS))
    if not chunks:
        raise DataError(f"{source.name}: the file has a header but no data rows")
    if len(chunks) == 1:
        return chunks[0]
    columns = {name: np.concatenate([c[name] for c, _ in chunks]) for name in chunks[0][0]}
    return columns, np.concatenate([lines for _, lines in chunks])


def _parse_records(records, where: str, names, dropped, kinds, options: _NumberFormat, chunk_rows: int):
    """``(columns, lines)`` for each run of up to ``chunk_rows`` records, columns in file order.

    Numeric columns are float64 (NaN where missing), text columns object arrays
    of str (None where missing); ``lines`` holds each row's first line.
    """
    numeric = [(j, n) for j, n in enumerate(names) if n not in dropped and kinds[n] == "numeric"]
    text = [(j, n) for j, n in enumerate(names) if n not in dropped and kinds[n] == "categorical"]
    num_index = [j for j, _ in numeric]
    n_fields = len(names)
    parse = options.parse
    while True:
        values = np.empty((chunk_rows, len(numeric)))
        text_values: list[list[str | None]] = [[] for _ in text]
        lines = np.empty(chunk_rows, dtype=np.int64)
        i = 0
        for row, start, end in records:
            if len(row) != n_fields:
                raise _ragged(where, start, n_fields, len(row), options.delimiter, end)
            try:
                parsed = [parse(row[j]) for j in num_index]
            except ValueError:
                parsed = [_parse_number(row[j], where, start, name, options) for j, name in numeric]
            if _INF in parsed or _NEG_INF in parsed:
                k = next(k for k, v in enumerate(parsed) if v in (_INF, _NEG_INF))
                raise _infinite(where, start, numeric[k][1], row[numeric[k][0]], parsed[k])
            values[i] = parsed
            for k, (j, _) in enumerate(text):
                v = row[j].strip()
                text_values[k].append(None if v.lower() in MISSING_TOKENS else v)
            lines[i] = start
            i += 1
            if i == chunk_rows:
                break
        if i == 0:
            return
        columns: dict[str, np.ndarray] = {}
        for k, (_, name) in enumerate(numeric):
            columns[name] = values[:i, k]
        for k, (_, name) in enumerate(text):
            arr = np.empty(i, dtype=object)
            arr[:] = text_values[k]
            columns[name] = arr
        yield {n: columns[n] for n in names if n in columns}, lines[:i]
        if i < chunk_rows:
            return


_INF, _NEG_INF = float("inf"), float("-inf")


def _infinite(where: str, line: int, name: str, text: str, value: float) -> DataError:
    """An infinity in the file, or (the usual case) a number too large for float64."""
    if text.strip().lower().lstrip("+-") in ("inf", "infinity"):
        return DataError(
            f"{where}:{line}: column {name!r} holds an infinite value ({value}); every value must be a finite number"
        )
    shown = text.strip() if len(text.strip()) <= 40 else f"{text.strip()[:20]}...({len(text.strip())} characters)"
    return DataError(
        f"{where}:{line}: column {name!r} holds an infinite value: the number {shown!r} is too large for "
        f"float64 (largest {np.finfo(np.float64).max:.4g}); rescale the column (e.g. write it in thousands) "
        f"or drop it (drop=[{name!r}], --drop {name!r})"
    )


def _parse_number(field: str, where: str, line: int, name: str, options: _NumberFormat) -> float:
    v = field.strip()
    if v.lower() in MISSING_TOKENS:
        return np.nan  # a missing value: the schema's policy decides
    try:
        return options.parse(v)
    except ValueError:
        pass
    hint = options.hint(name, [v])
    if hint is not None:
        raise DataError(f"{where}:{line}: {hint}") from None
    raise DataError(
        f"{where}:{line}: column {name!r} is numeric but holds the text {field!r}; fix the value, or "
        f"one-hot encode the column with categorical=[{name!r}] (--categorical)"
    ) from None


def _ragged(
    where: str, row_line: int, expected: int, got: int, delimiter: str, end_line: int | None = None
) -> DataError:
    span = ""
    if end_line is not None and end_line > row_line:
        span = f" (the record runs from line {row_line} to line {end_line}: an unclosed quote?)"
    return DataError(
        f"{where}:{row_line}: expected {expected} fields (as in the header), found {got}{span}; "
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


def _scan_line_numbers(source: InputSource, delimiter: str) -> np.ndarray:
    """The first line of every data row (skipping blank lines and the header)."""
    with source.open_text() as f:
        starts = [start for _, start, _ in _records(f, source.name, delimiter, source)]
    return np.asarray(starts[1:], dtype=np.int64)


def _not_utf8(source: InputSource | None, where: str) -> DataError:
    """A DataError naming the line and byte of the first non-UTF-8 byte sequence."""
    if source is not None and source.seekable:
        lineno = 0
        with source.open() as f:
            for raw in f:
                # NOTE: bytes.splitlines() also splits at a lone CR, as the csv reader counts lines.
                for part in raw.splitlines() or [b""]:
                    lineno += 1
                    try:
                        part.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        bad = part[exc.start : exc.start + 1]
                        return DataError(
                            f"{where}:{lineno}: byte 0x{bad.hex()} at byte {exc.start + 1} of the line is not "
                            "UTF-8 text; save the file as UTF-8"
                        )
    return DataError(f"{where}: the file is not UTF-8 text; save it as UTF-8")
