"""CSV loading: the seed's files, ordinary user files, every broken file, schemas at prediction time."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handgrad.data import MAX_CLASSES, Schema, load_csv, read_table
from handgrad.errors import DataError, HandgradError


def write(tmp_path, text: str, name: str = "data.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def read_with_csv_module(path):
    """An independent reader: header and float rows through the csv module."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[float(v) for v in row] for row in rows[1:]])


# ------------------------------------------------------------ the seed's files
def test_house_matches_an_independent_reader(data_dir):
    path = data_dir / "house" / "train_house.csv"
    header, table = read_with_csv_module(path)
    ds = load_csv(path, target="price")
    assert ds.X.shape == (10_000, 37) and ds.X.dtype == np.float64
    assert ds.feature_names == header[:-1] and ds.feature_names[0] == "dummy"
    np.testing.assert_array_equal(ds.X, table[:, :-1])
    np.testing.assert_array_equal(ds.y, table[:, -1])
    assert ds.task == "regression" and ds.classes is None
    # DATA.md: price mean 5.39, std 3.57 in train.
    assert ds.y.mean() == pytest.approx(5.39, abs=0.01) and ds.y.std() == pytest.approx(3.57, abs=0.01)


def test_house_target_by_position(data_dir):
    path = data_dir / "house" / "test_house.csv"
    by_name = load_csv(path, target="price")
    for target in (-1, 37, "-1", "37"):
        ds = load_csv(path, target=target)
        assert ds.target_name == "price"
        np.testing.assert_array_equal(ds.X, by_name.X)


def test_insurance_row_index_is_dropped(data_dir):
    for part in ("train", "valid", "test"):
        path = data_dir / "insurance" / f"{part}_insurance.csv"
        header, table = read_with_csv_module_skip_first(path)
        ds = load_csv(path, target="charges")
        assert "" not in ds.feature_names and ds.schema.dropped == [""]
        assert "dropped: (unnamed row-index column)" in ds.summary().splitlines()
        assert ds.feature_names == header[1:-1]
        np.testing.assert_array_equal(ds.X, table[:, 1:-1])
        assert ds.task == "regression"


def read_with_csv_module_skip_first(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[float(v) for v in row] for row in rows[1:]])


def test_smoke_names_with_spaces_and_parentheses(data_dir):
    path = data_dir / "smoke" / "valid_smoke.csv"
    ds = load_csv(path, target="smoking")
    assert "height(cm)" in ds.feature_names and "fasting blood sugar" in ds.feature_names
    assert ds.task == "binary" and ds.classes == [0, 1]
    # First data row of valid_smoke.csv (DATA.md / the file): age 50, height 150, smoking 0.
    assert ds.X[0, ds.feature_names.index("age")] == 50
    assert ds.X[0, ds.feature_names.index("height(cm)")] == 150
    assert ds.y[0] == 0 and ds.y.dtype == np.int64
    reg = load_csv(path, target="hemoglobin")
    assert reg.task == "regression" and reg.y[0] == 15.5


def test_schema_reencodes_the_test_file_in_any_column_order(data_dir, tmp_path):
    train = load_csv(data_dir / "smoke" / "valid_smoke.csv", target="smoking")
    header, table = read_with_csv_module(data_dir / "smoke" / "valid_smoke.csv")
    order = np.random.default_rng(0).permutation(len(header))
    shuffled = tmp_path / "shuffled.csv"
    with open(shuffled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([header[j] for j in order])
        for row in table[:50]:
            w.writerow([repr(float(row[j])) for j in order])
    schema = Schema.from_dict(json.loads(json.dumps(train.schema.to_dict())))
    again = load_csv(shuffled, schema=schema)
    np.testing.assert_array_equal(again.X, train.X[:50])
    np.testing.assert_array_equal(again.y, train.y[:50])


# --------------------------------------------------------- ordinary user files
def test_quoted_names_categorical_columns_and_extra_columns(tmp_path):
    path = write(
        tmp_path,
        '"weight (kg)","colour",note,"price, USD"\n4.5,red,x,1.0\n6.0,"blue",y,2.5\n5.2, red ,z,1.5\n',
    )
    ds = load_csv(path, target="price, USD", drop=["note"])
    assert ds.feature_names == ["weight (kg)", "colour=blue", "colour=red"]
    np.testing.assert_array_equal(ds.X, [[4.5, 0, 1], [6.0, 1, 0], [5.2, 0, 1]])
    np.testing.assert_array_equal(ds.y, [1.0, 2.5, 1.5])
    assert ds.schema.dropped == ["note"]
    # Prediction file: columns reordered, no target, an extra column.
    new = write(tmp_path, "extra,colour,weight (kg)\n9,blue,7.0\n9,red,3.0\n", "new.csv")
    pred = load_csv(new, schema=ds.schema)
    np.testing.assert_array_equal(pred.X, [[7.0, 1, 0], [3.0, 0, 1]])
    assert pred.y is None


def test_prediction_file_missing_a_column_names_it(tmp_path):
    ds = load_csv(write(tmp_path, "a,b,c,y\n1,2,3,0.5\n4,5,6,1.5\n"), target="y")
    new = write(tmp_path, "c,a,y\n1,2,3\n", "new.csv")
    with pytest.raises(DataError, match=r"missing column 'b'"):
        load_csv(new, schema=ds.schema)
    with pytest.raises(DataError, match=r"target column 'y' is missing"):
        load_csv(write(tmp_path, "a,b,c\n1,2,3\n", "n2.csv"), schema=ds.schema, require_target=True)


def test_unseen_category_is_an_error_naming_line_and_value(tmp_path):
    ds = load_csv(write(tmp_path, "colour,y\nred,1.5\nblue,2.5\n"), target="y")
    new = write(tmp_path, "colour\nred\n\ngreen\n", "new.csv")
    with pytest.raises(DataError, match=r"new.csv:4: column 'colour' has the value 'green'.*\['blue', 'red'\]"):
        load_csv(new, schema=ds.schema)


def test_categorical_override_for_numeric_codes(tmp_path):
    path = write(tmp_path, "code,y\n3,1.0\n1,2.0\n3,3.0\n")
    ds = load_csv(path, target="y", categorical=["code"])
    assert ds.feature_names == ["code=1", "code=3"]
    np.testing.assert_array_equal(ds.X, [[0, 1], [1, 0], [0, 1]])


def test_bom_blank_lines_and_line_numbers(tmp_path):
    path = write(tmp_path, "\ufeffa,b\n1,2\n\n3,4\n\n5,oops\n")
    with pytest.raises(DataError, match=r"data.csv:6: column 'b' is numeric but holds the text 'oops'"):
        load_csv(path, target="b")
    ok = load_csv(write(tmp_path, "\ufeffa,b\n1,2\n\n3,4\n", "ok.csv"), target="b")
    assert ok.feature_names == ["a"] and ok.X.tolist() == [[1.0], [3.0]]


def test_windows_line_endings(tmp_path):
    path = write(tmp_path, "\ufeffa,b,y\r\n1,2,0.5\r\n3,4,1.5\r\n")
    ds = load_csv(path, target="y")
    assert ds.X.tolist() == [[1.0, 2.0], [3.0, 4.0]] and ds.y.tolist() == [0.5, 1.5]
    with pytest.raises(DataError, match=r"bad.csv:3: expected 3 fields"):
        load_csv(write(tmp_path, "a,b,y\r\n1,2,0.5\r\n3,4\r\n", "bad.csv"), target="y")


@pytest.mark.parametrize(
    ("values", "task", "classes"),
    [
        ([0.5, 1.5, 2.5], "regression", None),
        ([0, 1, 1, 0], "binary", [0, 1]),
        ([3, 1, 2, 1], "multiclass", [1, 2, 3]),
        (["yes", "no", "yes"], "binary", ["no", "yes"]),
        (["a", "b", "c"], "multiclass", ["a", "b", "c"]),
        (list(range(MAX_CLASSES + 1)), "regression", None),  # too many distinct integers
        (list(range(MAX_CLASSES)), "multiclass", list(range(MAX_CLASSES))),
    ],
)
def test_task_inference(tmp_path, values, task, classes):
    rows = "".join(f"{i},{v}\n" for i, v in enumerate(values))
    ds = load_csv(write(tmp_path, "x,t\n" + rows), target="t")
    assert ds.task == task and ds.classes == classes
    if classes is not None:
        # y holds the index of each row's class in ``classes``.
        expected = [classes.index(v) for v in values]
        assert ds.y.tolist() == expected


def test_task_override(tmp_path):
    path = write(tmp_path, "x,t\n1,0\n2,1\n3,2\n")
    assert load_csv(path, target="t", task="regression").y.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(DataError, match="needs exactly two"):
        load_csv(path, target="t", task="binary")
    with pytest.raises(DataError, match="cannot be a regression target"):
        load_csv(write(tmp_path, "x,t\n1,a\n2,b\n", "s.csv"), target="t", task="regression")


# -------------------------------------------------------------- missing values
MISSING = "a,b,colour,y\n1,10,red,1.5\n2,,blue,2.5\n3,30,,3.5\n4,NA,red,4.5\n"


def test_missing_values_rejected_with_file_line_column(tmp_path):
    with pytest.raises(DataError, match=r"data.csv:3: missing value .* column 'b'"):
        load_csv(write(tmp_path, MISSING), target="y")


def test_missing_values_dropped(tmp_path):
    ds = load_csv(write(tmp_path, MISSING), target="y", missing="drop")
    # Categories come from the rows kept: only "red" is left.
    assert ds.feature_names == ["a", "b", "colour=red"]
    assert ds.X.tolist() == [[1.0, 10.0, 1.0]] and ds.y.tolist() == [1.5]
    assert ds.rows.tolist() == [0]


def test_missing_values_imputed_and_fill_reused_at_prediction(tmp_path):
    ds = load_csv(write(tmp_path, MISSING), target="y", missing="mean")
    # b: mean of 10 and 30 is 20; colour: most frequent is red (2 of 3).
    assert ds.X[:, 1].tolist() == [10.0, 20.0, 30.0, 20.0]
    assert ds.X[2, 2:].tolist() == [0.0, 1.0]  # colour=blue, colour=red
    new = write(tmp_path, "y,colour,b,a\n0,,nan,7\n", "new.csv")
    pred = load_csv(new, schema=Schema.from_dict(ds.schema.to_dict()))
    assert pred.X.tolist() == [[7.0, 20.0, 0.0, 1.0]]
    mf = load_csv(write(tmp_path, "a,y\n1,0.5\n1,1.5\n5,2.5\n,3.5\n", "mf.csv"), target="y", missing="most_frequent")
    assert mf.X[:, 0].tolist() == [1.0, 1.0, 5.0, 1.0]


def test_missing_target_value_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"data.csv:3: missing value .* column 'y'"):
        load_csv(write(tmp_path, "a,y\n1,0.5\n2,\n"), target="y", missing="mean")


# ---------------------------------------------------------------- broken files
BROKEN = [
    ("ragged", "a,b,c\n1,2,3\n4,5\n", r"bad.csv:3: expected 3 fields \(as in the header\), found 2"),
    ("ragged long", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", r"bad.csv:4: expected 3 fields .* found 4"),
    ("text", "a,b,c\n1,2,3\n4,5,6\n7,eight,9\n", r"bad.csv:4: column 'b' is numeric but holds the text 'eight'"),
    ("empty", "", r"bad.csv: the file is empty"),
    ("blank only", "\n\n", r"bad.csv: the file is empty"),
    ("header only", "a,b,c\n", r"bad.csv: the file has a header but no data rows"),
    ("nan", "a,b,c\n1,2,3\n4,NaN,6\n", r"bad.csv:3: missing value \(NaN or an empty field\) in column 'b'"),
    ("inf", "a,b,c\n1,2,3\n4,-inf,6\n", r"bad.csv:3: column 'b' holds an infinite value"),
    ("semicolons", "a;b;c\n1;2;3\n", r"bad.csv:1: .*semicolon-separated; pass delimiter=';'"),
    ("tabs", "a\tb\tc\n1\t2\t3\n", r"bad.csv:1: .*tab-separated"),
    ("duplicate", "a,b,a,c\n1,2,3,4\n", r"bad.csv:1: duplicate column name 'a' \(columns 1 and 3\)"),
    ("unnamed", "a,,c\n1,2,3\n", r"bad.csv:1: column 2 has no name"),
    ("missing target", "a,b,d\n1,2,3\n", r"bad.csv: no target column 'c'; the columns are \['a', 'b', 'd'\]"),
]


@pytest.mark.parametrize(("case", "text", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_raise_data_error_naming_the_place(tmp_path, case, text, message):
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(DataError, match=message):
        load_csv(path, target="c")


def test_not_utf8_names_line_and_byte(tmp_path):
    path = write(tmp_path, b"a,b,c\n1,2,3\n4,\xe9t\xe9,6\n", "bad.csv")
    with pytest.raises(DataError, match=r"bad.csv:3: byte 0xe9 .* not UTF-8"):
        load_csv(path, target="c")


def test_utf16_file_is_reported_as_not_utf8(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n", "bad.csv", encoding="utf-16")
    with pytest.raises(DataError, match=r"bad.csv:1: byte 0xff .* not UTF-8"):
        load_csv(path, target="c")


def test_directory_and_absent_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_csv(tmp_path, target="c")
    with pytest.raises(FileNotFoundError):  # an OSError: the CLI prints "no such file"
        load_csv(tmp_path / "absent.csv", target="c")


def test_close_match_suggested_for_a_typo(tmp_path):
    with pytest.raises(DataError, match=r"did you mean 'price'"):
        load_csv(write(tmp_path, "area,price\n1,2\n"), target="prise")


def test_target_index_out_of_range_and_drop_unknown(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"index 5 is out of range; the file has 2 columns"):
        load_csv(path, target=5)
    with pytest.raises(DataError, match=r"cannot drop column 'z'"):
        load_csv(path, target="b", drop=["z"])
    with pytest.raises(DataError, match=r"was dropped|also dropped"):
        load_csv(path, target="b", drop=["b"])


def test_unnamed_non_index_column_can_be_dropped_by_empty_name(tmp_path):
    path = write(tmp_path, ",a,b\n5,1,2\n3,3,4\n")  # not increasing: not a row index
    with pytest.raises(DataError, match="column 1 has no name"):
        load_csv(path, target="b")
    ds = load_csv(path, target="b", drop=[""])
    assert ds.feature_names == ["a"]


def test_errors_are_handgrad_errors():
    assert issubclass(DataError, HandgradError) and issubclass(DataError, ValueError)


# ------------------------------------------------------- fast and slow paths
def test_fast_and_slow_paths_agree_and_error_deep_in_a_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 5))
    lines = ["a,b,c,d,e,label"] + [",".join(repr(float(v)) for v in row) + ",x" for row in X]
    path = write(tmp_path, "\n".join(lines) + "\n", "big.csv")
    via_csv_module = read_table(path, drop=["label"])  # the text column forces the csv-module path
    numeric_only = write(tmp_path, "\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", "num.csv")
    via_numpy = read_table(numeric_only)  # all numeric: the C parser
    for name in "abcde":
        np.testing.assert_array_equal(via_csv_module.columns[name], via_numpy.columns[name])
    np.testing.assert_array_equal(np.column_stack([via_numpy.columns[n] for n in "abcde"]), X)
    assert via_numpy.lines is None and via_csv_module.lines is not None  # which path each took
    # A bad value on the last line is found by line number (after the C parser gave up).
    broken = [*lines[:-1], lines[-1].replace(lines[-1].split(",")[2], "1.2.3", 1)]
    path = write(tmp_path, "\n".join(broken) + "\n", "broken.csv")
    with pytest.raises(DataError, match=r"broken.csv:3001: column 'c' is numeric but holds the text '1.2.3'"):
        load_csv(path, target="a", drop=["label"])


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=20),
    st.sampled_from(["repr", "e", "quoted"]),
)
def test_numbers_round_trip_through_a_file(tmp_path_factory, rows, style):
    fmt = {"repr": repr, "e": lambda v: f"{v:.17e}", "quoted": lambda v: f'"{v!r}"'}[style]
    path = tmp_path_factory.mktemp("rt") / "rt.csv"
    path.write_text("x,y,z\n" + "".join(",".join(fmt(v) for v in row) + "\n" for row in rows))
    ds = load_csv(path, target="z", task="regression")
    expected = np.array(rows)
    np.testing.assert_array_equal(ds.X, expected[:, :2])
    np.testing.assert_array_equal(ds.y, expected[:, 2])
    assert all(math.isfinite(v) for v in ds.X.ravel())


# ------------------------------------------- inputs that are not plain files (issue 9)
import bz2  # noqa: E402
import gzip  # noqa: E402
import lzma  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import tracemalloc  # noqa: E402

from handgrad.data.csv import iter_csv_chunks  # noqa: E402

TEXT = "a,colour,y\n" + "".join(f"{i},{'red' if i % 3 else 'blue'},{i * 0.5}\n" for i in range(50))


def feed_pipe(data: bytes) -> str:
    """A /dev/fd/N name for the read end of a pipe that a thread fills (as bash's <(...) gives)."""
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as f:
            f.write(data)

    threading.Thread(target=writer, daemon=True).start()
    return f"/dev/fd/{r}"


def test_a_pipe_is_read_once_and_completely(tmp_path):
    expected = load_csv(write(tmp_path, TEXT), target="y")
    name = feed_pipe(TEXT.encode())
    try:
        ds = load_csv(name, target="y")  # several passes (sniff, parse): a spooled copy, not a second read
    finally:
        os.close(int(name.rsplit("/", 1)[1]))
    assert ds.X.shape == (50, 3) and ds.name == name
    np.testing.assert_array_equal(ds.X, expected.X)
    np.testing.assert_array_equal(ds.y, expected.y)


def test_a_fifo_and_standard_input(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    threading.Thread(target=lambda: fifo.write_text(TEXT), daemon=True).start()
    assert load_csv(fifo, target="y").X.shape == (50, 3)
    code = "from handgrad.data import load_csv; ds = load_csv('-', target='y'); print(ds.X.shape, ds.name)"
    r = subprocess.run([sys.executable, "-c", code], input=TEXT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(50, 3) <stdin>"


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("f.csv.gz", gzip.compress),
        ("f.csv.bz2", bz2.compress),
        ("f.csv.xz", lzma.compress),
        ("no_suffix", gzip.compress),
    ],
)
def test_compressed_files_are_recognised_by_their_first_bytes(tmp_path, name, compress):
    expected = load_csv(write(tmp_path, TEXT), target="y")
    ds = load_csv(write(tmp_path, compress(TEXT.encode()), name), target="y")
    np.testing.assert_array_equal(ds.X, expected.X)
    numeric = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(10))  # the C parser's path, too
    assert load_csv(write(tmp_path, compress(numeric.encode()), "n_" + name), target="b").X[:, 0].tolist() == list(
        range(10)
    )
    # A compressed pipe (`<(cat f.csv.gz)`) and a compressed file predicted on in chunks.
    name_fd = feed_pipe(compress(TEXT.encode()))
    try:
        np.testing.assert_array_equal(load_csv(name_fd, target="y").X, expected.X)
    finally:
        os.close(int(name_fd.rsplit("/", 1)[1]))


def test_a_gz_suffix_on_a_plain_file_is_read_as_plain(tmp_path):
    assert load_csv(write(tmp_path, TEXT, "plain.csv.gz"), target="y").X.shape == (50, 3)


@pytest.mark.parametrize("newline", ["\r", "\r\n", "mixed"])
def test_cr_only_and_mixed_line_endings_with_a_text_column(tmp_path, newline):
    lines = ["a,colour,y", "1,red,0.5", "2,blue,1.5", "3,red,2.5", "4,blue,oops"]
    if newline == "mixed":
        text = lines[0] + "\n" + lines[1] + "\r" + lines[2] + "\r\n" + lines[3] + "\n"
        bad = text + lines[4] + "\r"
    else:
        text = newline.join(lines[:4]) + newline
        bad = text + lines[4] + newline
    ds = load_csv(write(tmp_path, text), target="y")
    assert ds.X.tolist() == [[1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [3.0, 0.0, 1.0]] and ds.y.tolist() == [0.5, 1.5, 2.5]
    with pytest.raises(DataError, match=r"bad.csv:5: column 'y' is numeric but holds the text 'oops'"):
        load_csv(write(tmp_path, bad, "bad.csv"), target="y")


def test_a_malformed_record_is_reported_on_its_own_line(tmp_path):
    rows = "a,b,y\n1,2,3\n1,2,3\n1,2,3\n"
    # Line 5 holds a field beyond the csv module's limit: reported on line 5 (it was 6).
    path = write(tmp_path, rows + "1," + "x" * 200_000 + ",3\n1,2,3\n", "big.csv")
    with pytest.raises(DataError, match=r"big.csv:5: not valid CSV: field larger than field limit"):
        load_csv(path, target="y")
    # An unclosed quote on line 5 swallows the rest: the error names line 5 and the span.
    path = write(tmp_path, rows + '1,"2,3\n1,2,3\n1,2,3\n', "quote.csv")
    with pytest.raises(DataError, match=r"quote.csv:5: expected 3 fields .*runs from line 5 to line 7"):
        load_csv(path, target="y")
    # Neighbours: a ragged row after blank lines, and a multi-line quoted field that is fine.
    with pytest.raises(DataError, match=r"ragged.csv:6: expected 3 fields"):
        load_csv(write(tmp_path, rows + "\n1,2\n", "ragged.csv"), target="y")
    ok = write(tmp_path, 'a,note,y\n1,"two\nlines",3\n2,x,4\n3,"two\nlines",5\n', "ok.csv")
    assert load_csv(ok, target="y", drop=["note"]).X.tolist() == [[1.0], [2.0], [3.0]]


# ------------------------------------------------------------------ number formats
# German style: "1,5" is 1.5 and "1.007,25" is 1007.25.
SEMICOLON = "width;price;y\n" + "".join(f"{i},5;{i}.007,25;{i % 2}\n" for i in range(1, 30))


def test_decimal_commas_and_thousands_separators_are_parsed_when_asked(tmp_path):
    path = write(tmp_path, SEMICOLON, "de.csv")
    ds = load_csv(path, target="y", delimiter=";", decimal=",", thousands=".")
    assert ds.feature_names == ["width", "price"]
    assert ds.X[:2].tolist() == [[1.5, 1007.25], [2.5, 2007.25]]
    quoted = "a,price,y\n" + "".join(f'{i},"{i * 1000 + 7:,}",{i % 2}\n' for i in range(1, 30))
    ds = load_csv(write(tmp_path, quoted, "us.csv"), target="y", thousands=",")
    assert ds.X[:2, 1].tolist() == [1007.0, 2007.0] and ds.feature_names == ["a", "price"]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            SEMICOLON,
            {"delimiter": ";"},
            r"column 'width' holds numbers written with a decimal comma \(e.g. '1,5'\): "
            r"pass decimal=',' \(--decimal ,\)",
        ),
        (
            SEMICOLON,
            {"delimiter": ";", "decimal": ","},
            r"column 'price' .*thousands='.' \(--decimal , --thousands .\)",
        ),
        (
            "a,price,y\n" + "".join(f'{i},"{i * 1000 + 7:,}",{i % 2}\n' for i in range(1, 30)),
            {},
            r"column 'price' holds numbers written with a comma \(e.g. '1,007'\): pass thousands=',' \(--thousands ,\)",
        ),
        ("a,price,y\n1,2,0\n" + '1,"12,345",1\n' + "1,2,0\n" * 5, {}, r"a.csv:3: column 'price' .*--thousands ,"),
    ],
    ids=["decimal comma", "thousands dot", "thousands comma", "a stray one in a numeric column"],
)
def test_numbers_in_an_unrecognised_format_name_the_column_and_the_flag(tmp_path, text, options, message):
    with pytest.raises(DataError, match=message):
        load_csv(write(tmp_path, text, "a.csv"), target="y", **options)


def test_thousands_groups_must_be_groups_of_three(tmp_path):
    text = 'a,y\n"1,000",1\n"12,34",2\n'
    with pytest.raises(DataError, match=r"a.csv:3: column 'a' .*'12,34'"):
        load_csv(write(tmp_path, text, "a.csv"), target="y", thousands=",")
    with pytest.raises(DataError, match="decimal must be"):
        load_csv(write(tmp_path, text, "a.csv"), target="y", decimal=";")


def test_an_integer_too_large_for_float64_names_its_column_and_line(tmp_path):
    path = write(tmp_path, "a,y\n1,3\n" + "9" * 400 + ",4\n2,5\n", "big.csv")
    with pytest.raises(DataError, match=r"big.csv:3: column 'a' .*too large for float64"):
        load_csv(path, target="y")
    path = write(tmp_path, "a,y\n1,3\n1e309,4\n2,5\n", "e.csv")  # neighbour: an exponent beyond the range
    with pytest.raises(DataError, match=r"e.csv:3: column 'a' .*'1e309' is too large for float64"):
        load_csv(path, target="y")


# ------------------------------------------------------- almost every value distinct
def test_a_column_of_distinct_strings_is_refused_before_any_one_hot(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("name,x,y\n" + "".join(f"person{i:06d},{i % 7},{i % 3}\n" for i in range(50_000)))
    tracemalloc.start()
    try:
        with pytest.raises(
            DataError,
            match=r"names.csv: column 'name' holds text with 50000 distinct values in "
            r"50000 rows.*--drop 'name'",
        ):
            load_csv(path, target="y")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6  # the one-hot matrix would be 50,000 × 50,000 × 8 bytes = 20 GB
    assert load_csv(path, target="y", drop=["name"]).X.shape == (50_000, 1)


def test_a_many_class_text_target_is_refused_but_real_categories_are_kept(tmp_path):
    rows = "".join(f"{i},label{i}\n" for i in range(100))
    with pytest.raises(DataError, match=r"target 'label' holds text with 100 distinct values in 100 rows"):
        load_csv(write(tmp_path, "x,label\n" + rows), target="label")
    # Neighbours: 30 categories over 1,000 rows is a categorical column; 20 distinct names in 20 rows too.
    many = "".join(f"{i},city{i % 30},{i % 2}\n" for i in range(1000))
    assert load_csv(write(tmp_path, "x,city,y\n" + many, "ok.csv"), target="y").n_features == 31
    few = "".join(f"{i},name{i},{i % 2}\n" for i in range(20))
    assert load_csv(write(tmp_path, "x,name,y\n" + few, "few.csv"), target="y").n_features == 21


# ------------------------------------------------------------------ chunks
def test_chunks_agree_with_the_whole_file_and_keep_row_numbers(tmp_path):
    path = write(tmp_path, TEXT)
    whole = load_csv(path, target="y")
    chunks = list(iter_csv_chunks(path, whole.schema, 7))
    assert [c.n_samples for c in chunks] == [7] * 7 + [1]
    np.testing.assert_array_equal(np.vstack([c.X for c in chunks]), whole.X)
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), whole.y)
    np.testing.assert_array_equal(np.concatenate([c.rows for c in chunks]), np.arange(50))
    # Through a pipe: one pass, nothing spooled.
    name = feed_pipe(TEXT.encode())
    try:
        np.testing.assert_array_equal(np.vstack([c.X for c in iter_csv_chunks(name, whole.schema, 16)]), whole.X)
    finally:
        os.close(int(name.rsplit("/", 1)[1]))


def test_chunk_errors_name_the_files_line_and_drop_keeps_row_indices(tmp_path):
    train = load_csv(write(tmp_path, TEXT), target="y")
    lines = TEXT.splitlines()
    lines[40] = "39,green,1.0"  # an unseen category on line 41, in the sixth chunk of 8 rows
    path = write(tmp_path, "\n".join(lines) + "\n", "new.csv")
    with pytest.raises(DataError, match=r"new.csv:41: column 'colour' has the value 'green'"):
        list(iter_csv_chunks(path, train.schema, 8))
    lines[40] = "39,,1.0"
    path = write(tmp_path, "\n".join(lines) + "\n", "gap.csv")
    rows = np.concatenate([c.rows for c in iter_csv_chunks(path, train.schema, 8, missing="drop")])
    assert rows.tolist() == [r for r in range(50) if r != 39]
    with pytest.raises(DataError, match=r"chunk_rows must be an integer >= 1"):
        list(iter_csv_chunks(path, train.schema, 0))


def test_chunk_memory_does_not_grow_with_the_number_of_rows(tmp_path):
    schema = load_csv(write(tmp_path, "a,b,y\n1,2,3.5\n2,1,4.25\n"), target="y").schema
    peaks = []
    for n in (20_000, 80_000):
        path = tmp_path / f"rows{n}.csv"
        path.write_text("a,b,y\n" + "".join(f"{i},{i % 5},{i}\n" for i in range(n)))
        tracemalloc.start()
        total = sum(c.n_samples for c in iter_csv_chunks(path, schema, 1000))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert total == n
    assert peaks[1] < 1.5 * peaks[0] and peaks[1] < 20e6


def test_numeric_chunks_take_the_fast_path_and_fall_back_with_exact_lines(tmp_path):
    rows = [f"{i},{i % 5},{i}.5" for i in range(50)]
    clean = write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n", "clean.csv")
    schema = load_csv(clean, target="y").schema
    whole = load_csv(clean, schema=schema)
    chunks = list(iter_csv_chunks(clean, schema, 8))
    np.testing.assert_array_equal(np.vstack([c.X for c in chunks]), whole.X)
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), whole.y)
    # A blank line (chunk 2) and a quoted value (chunk 3) send the rest through the csv module: same values.
    odd = [*rows[:10], "", *rows[10:20], '"20",0,20.5', *rows[21:]]
    path = write(tmp_path, "a,b,y\n" + "\n".join(odd) + "\n", "odd.csv")
    np.testing.assert_array_equal(np.vstack([c.X for c in iter_csv_chunks(path, schema, 8)]), whole.X)
    # A word on line 42 (after the blank line 12), in the sixth chunk: named on its line.
    bad = [*odd[:40], "40,four,40.5", *odd[41:]]
    with pytest.raises(DataError, match=r"bad.csv:42: column 'b' is numeric but holds the text 'four'"):
        list(iter_csv_chunks(write(tmp_path, "a,b,y\n" + "\n".join(bad) + "\n", "bad.csv"), schema, 8))
    # A missing value (drop) and an extra text column the model does not use.
    gap = [*rows[:30], "30,,30.5", *rows[31:]]
    path = write(tmp_path, "a,b,y\n" + "\n".join(gap) + "\n", "gap.csv")
    kept = np.concatenate([c.rows for c in iter_csv_chunks(path, schema, 8, missing="drop")])
    assert kept.tolist() == [r for r in range(50) if r != 30]
    extra = write(tmp_path, "note,a,b,y\n" + "".join(f"n{i},{r}\n" for i, r in enumerate(rows)), "extra.csv")
    np.testing.assert_array_equal(np.vstack([c.X for c in iter_csv_chunks(extra, schema, 8)]), whole.X)
