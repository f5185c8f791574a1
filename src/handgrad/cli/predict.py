"""``handgrad predict``: a model and a CSV file in, a CSV file of predictions out.

Columns are matched by name, in any order; extra columns are ignored (or passed
through with ``--keep``); a missing input column is an error naming it; the
target column is not needed. A classifier writes the predicted label and, with
``--proba``, the probability of each class.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import stat
import sys
from pathlib import Path

from .._files import atomic_write, open_input
from ..data.csv import iter_csv_chunks
from ..errors import FileWriteError
from ..preprocessing import check_predictions
from . import UsageError
from ._common import (
    CLASSIFICATION,
    MISSING_CHOICES,
    add_number_format,
    check_output,
    delimiter_arg,
    fmt_number,
    load_estimator,
    model_classes,
    model_schema,
    model_task,
    reading,
    usage_error,
)

EXAMPLES = """examples:
  handgrad predict model.npz new.csv -o predictions.csv
  handgrad predict model.npz new.csv --keep -o -          input columns and predictions, to standard output
  handgrad predict classifier.npz new.csv --proba -o out.csv --force

output columns: <target>_predicted (regression: the value in the target's units; classification:
the label), with --proba one proba_<class> column per class, with --keep the input columns first.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict the target of every row of a CSV file with a trained model",
        description=(
            "Read MODEL (written by 'handgrad train') and CSV, match the model's input columns by name (any order; "
            "extra columns are ignored; the target column is not needed), and write one prediction per row."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file written by handgrad train or an estimator's save")
    p.add_argument("csv", metavar="CSV", help="the rows to predict (header row with the model's column names)")
    p.add_argument(
        "-o", "--output", default="-", metavar="OUT.csv", help="output CSV file, '-' for standard output (default)"
    )
    p.add_argument("--keep", action="store_true", help="also write the input file's columns (pass-through)")
    p.add_argument("--proba", action="store_true", help="classification: add the probability of each class")
    p.add_argument("--force", action="store_true", help="overwrite OUT.csv if it exists")
    p.add_argument(
        "--delimiter", default=",", type=delimiter_arg, help="field separator of CSV (default ','; tab: '\\t' or tab)"
    )
    p.add_argument(
        "--missing",
        choices=MISSING_CHOICES,
        help="rows with missing values: the model's policy by default; 'drop' leaves them out",
    )
    add_number_format(p)
    p.set_defaults(func=run)


def _kept_rows(path, delimiter: str):
    """The header and an iterator over the data rows of ``path`` as text (blank lines skipped, as the loader does)."""
    source = open_input(path, error=UsageError)
    f = source.open_text()
    rows = (row for row in csv.reader(f, delimiter=delimiter) if row and not (len(row) == 1 and not row[0].strip()))
    header = next(rows, [])
    return [name.strip() for name in header], rows, f


def _read_chunks(args, schema):
    """The input's chunks (:func:`iter_csv_chunks`); a failed read names the input file."""
    with reading(args.csv):
        yield from iter_csv_chunks(
            args.csv, schema, missing=args.missing, delimiter=args.delimiter,
            decimal=args.decimal, thousands=args.thousands,
        )  # fmt: skip


def _chunk_columns(est, ds, task: str, proba_wanted: bool, where: str) -> tuple[list[str], list[list[str]]]:
    """The output columns (header names, formatted values) of one chunk; non-finite predictions refused."""
    if task in CLASSIFICATION:
        proba = est.predict_proba(ds)
        check_predictions(proba, rows=ds.rows, where=where)
        labels = [str(c) for c in model_classes(est)]
        columns = [[labels[k] for k in proba.argmax(axis=1)]]
        if proba_wanted:
            columns += [[fmt_number(v) for v in proba[:, j].tolist()] for j in range(len(labels))]
        return labels, columns
    pred = est.predict(ds)
    check_predictions(pred, rows=ds.rows, where=where)
    return [], [[fmt_number(v) for v in pred.tolist()]]


def _stream(args, est, schema, task: str, out) -> int:
    """Write the header and one block of rows per chunk of the input into the text stream ``out``; the row count."""
    writer = csv.writer(out, lineterminator="\n")
    column = f"{schema.target}_predicted" if schema.target else "predicted"
    keep = _kept_rows(args.csv, args.delimiter) if args.keep else None
    n = 0
    try:
        chunks = _read_chunks(args, schema)
        next_row = 0  # the index of the next data row the --keep reader gives
        for k, ds in enumerate(chunks):
            labels, columns = _chunk_columns(est, ds, task, args.proba, args.csv)
            if keep is not None:
                kept = []
                for i in ds.rows.tolist():
                    while next_row <= i:
                        row = next(keep[1])
                        next_row += 1
                    kept.append(row)
                columns = [[row[j] if j < len(row) else "" for row in kept] for j in range(len(keep[0]))] + columns
            if k == 0:
                header = list(keep[0]) if keep is not None else []
                header.append(column)
                if args.proba:
                    header += [f"proba_{label}" for label in labels]
                writer.writerow(header)
            writer.writerows(zip(*columns))
            out.flush()
            n += ds.n_samples
    finally:
        if keep is not None:
            keep[2].close()
    return n


def run(args: argparse.Namespace) -> int:
    to_stdout = args.output == "-"
    if not to_stdout:
        check_output(args.output, force=args.force, flag="-o")
    if args.keep:
        # NOTE: --keep reads the input a second time, beside the chunks; a pipe gives its rows once.
        regular = args.csv != "-" and stat.S_ISREG(os.stat(args.csv).st_mode)
        if not regular:
            raise usage_error(
                f"{args.csv}: --keep reads the input twice, but a pipe or standard input can be read only once; "
                "save it to a file first"
            )
    est = load_estimator(args.model)
    schema = model_schema(est, args.model)
    task = model_task(est)
    if args.proba and task not in CLASSIFICATION:
        raise usage_error(f"--proba is for classifiers; {args.model} is a {task} model")
    if to_stdout:
        try:
            _stream(args, est, schema, task, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            if exc.filename is not None or isinstance(exc, FileWriteError):
                raise
            # NOTE: what is left in stdout's buffer would fail again at exit: send it to /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise FileWriteError(
                exc.errno, f"cannot write standard output: {exc.strerror or exc}", "<stdout>"
            ) from None
        return 0
    written = [0]

    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        try:
            written[0] = _stream(args, est, schema, task, text)
            text.flush()
        finally:
            text.detach()

    try:
        atomic_write(args.output, write, force=args.force, error=UsageError)
    except UsageError as exc:
        raise usage_error(str(exc).replace("force=True (--force)", "--force")) from None
    print(f"{written[0]} predictions written to {Path(args.output)}", file=sys.stderr)
    return 0
