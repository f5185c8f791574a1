"""``handgrad evaluate``: a model's metrics on a labelled CSV file.

Regression: MSE (the seed's loss), MAE and R², in the target's units.
Classification: accuracy, log-loss and the confusion matrix.
"""

from __future__ import annotations

import argparse
import json

from ..data import load_csv
from ..preprocessing import constant_columns
from ._common import (
    CLASSIFICATION,
    MISSING_CHOICES,
    add_number_format,
    delimiter_arg,
    format_confusion,
    load_estimator,
    model_classes,
    model_metrics,
    model_schema,
    model_task,
    r2_text,
    reading,
    usage_error,
)

EXAMPLES = """examples:
  handgrad evaluate model.npz test.csv
  handgrad evaluate model.npz test.csv --json          machine-readable
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="metrics of a trained model on a labelled CSV file",
        description=(
            "Read MODEL and a CSV file that holds the model's input columns and its target column (matched by "
            "name, any order), and print MSE/MAE/R² (regression) or accuracy/log-loss/confusion matrix."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file written by handgrad train")
    p.add_argument("csv", metavar="CSV", help="labelled rows (the model's columns and its target)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument(
        "--delimiter", default=",", type=delimiter_arg, help="field separator (default ','; tab: '\\t' or tab)"
    )
    p.add_argument("--missing", choices=MISSING_CHOICES, help="override the model's policy")
    add_number_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    est = load_estimator(args.model)
    schema = model_schema(est, args.model)
    task, classes = model_task(est), model_classes(est)
    if schema.target is None:
        raise usage_error(
            f"{args.model}: the model does not name its target column, so it cannot be evaluated on a CSV"
        )
    with reading(args.csv):
        ds = load_csv(
            args.csv, schema=schema, missing=args.missing, delimiter=args.delimiter, require_target=True,
            decimal=args.decimal, thousands=args.thousands,
        )  # fmt: skip
    metrics = model_metrics(est, ds)
    if task not in CLASSIFICATION and constant_columns(ds.y):
        metrics["r2"] = None  # undefined for a constant target (JSON has no NaN)
    if args.json:
        out = {"rows": ds.n_samples, "target": schema.target, "task": task, **metrics}
        if task in CLASSIFICATION:
            out["classes"] = classes
        print(json.dumps(out))
        return 0
    print(f"{args.model} on {args.csv}: {ds.n_samples} rows, target {schema.target!r} ({task})")
    if task in CLASSIFICATION:
        print(f"accuracy  {metrics['accuracy']:.6f}")
        print(f"log-loss  {metrics['log_loss']:.6g}")
        print(format_confusion(metrics["confusion"], classes))
    else:
        print(f"MSE  {metrics['mse']:.6g}")
        print(f"MAE  {metrics['mae']:.6g}")
        print(f"R²   {r2_text(metrics['r2'], ds.y)}")
    return 0
