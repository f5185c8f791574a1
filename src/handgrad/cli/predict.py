"""``handgrad predict``: a model and a CSV file in, a CSV file of predictions out.

Columns are matched by name, in any order; extra columns are ignored (or passed
through with ``--keep``); a missing input column is an error naming it; the
target column is not needed. A classifier writes the predicted label and, with
``--proba``, the probability of each class.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..data import load_csv
from ._common import (
    CLASSIFICATION,
    MISSING_CHOICES,
    check_new_file,
    csv_text,
    delimiter_arg,
    fmt_number,
    load_estimator,
    model_classes,
    model_schema,
    model_task,
    reading,
    usage_error,
    write_text_atomically,
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
    p.set_defaults(func=run)


def _original_rows(path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of ``path`` as text (blank lines skipped, as the loader does)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=delimiter) if row and not (len(row) == 1 and not row[0].strip())]
    return [name.strip() for name in rows[0]], rows[1:]


def run(args: argparse.Namespace) -> int:
    to_stdout = args.output == "-"
    if not to_stdout:
        check_new_file(args.output, force=args.force, what="output", flag="-o")
    est = load_estimator(args.model)
    schema = model_schema(est, args.model)
    task = model_task(est)
    if args.proba and task not in CLASSIFICATION:
        raise usage_error(f"--proba is for classifiers; {args.model} is a {task} model")
    with reading(args.csv):
        ds = load_csv(args.csv, schema=schema, missing=args.missing, delimiter=args.delimiter)
    column = f"{schema.target}_predicted" if schema.target else "predicted"
    header: list[str] = []
    columns: list[list[str]] = []
    if args.keep:
        names, rows = _original_rows(args.csv, args.delimiter)
        kept = [rows[i] for i in ds.rows] if ds.rows is not None else rows
        header += names
        columns += [[row[j] for row in kept] for j in range(len(names))]
    if task in CLASSIFICATION:
        proba = est.predict_proba(ds)
        labels = [str(c) for c in model_classes(est)]
        header.append(column)
        columns.append([labels[k] for k in proba.argmax(axis=1)])
        if args.proba:
            for j, label in enumerate(labels):
                header.append(f"proba_{label}")
                columns.append([fmt_number(v) for v in proba[:, j]])
    else:
        header.append(column)
        columns.append([fmt_number(v) for v in est.predict(ds)])
    text = csv_text(header, columns)
    if to_stdout:
        sys.stdout.write(text)
    else:
        write_text_atomically(args.output, text, force=args.force)
        print(f"{ds.n_samples} predictions written to {Path(args.output)}", file=sys.stderr)
    return 0
