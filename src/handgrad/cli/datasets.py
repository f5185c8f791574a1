"""``handgrad datasets``: the built-in data sets, and where the seed's CSV files are."""

from __future__ import annotations

import argparse
import importlib.util

from ..data import list_datasets, seed_data_dir
from ..data.datasets import SEED_FILES

#: Built-in sets that come from scikit-learn.
NEEDS_SKLEARN = {"diabetes", "digits"}

EXAMPLES = """examples:
  handgrad datasets
  handgrad train --dataset spiral --plot
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "datasets",
        help="list the built-in data sets and where the seed's CSV files are",
        description="List the built-in data sets (for 'handgrad train --dataset NAME'), whether each is available, "
        "and the seed project's CSV files ($HANDGRAD_DATA, or ../shared/data next to the repository).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    have_sklearn = importlib.util.find_spec("sklearn") is not None
    print("built-in data sets (handgrad train --dataset NAME):")
    for name, description in list_datasets().items():
        ok = have_sklearn or name not in NEEDS_SKLEARN
        status = "available" if ok else 'needs: pip install "handgrad[sklearn]"'
        print(f"  {name:<10} {status:<10}  {description}")
    root = seed_data_dir()
    print()
    if root is None:
        print("the seed's data sets: not found; set HANDGRAD_DATA to the folder holding house/, insurance/, smoke/")
        return 0
    print(f"the seed's data sets, in {root}:")
    for name, parts in SEED_FILES.items():
        files = []
        for part, rel in parts.items():
            present = (root / rel).is_file()
            files.append(f"{part}={rel}" + ("" if present else " (missing)"))
        print(f"  {name:<10} " + ", ".join(files))
    house = root / SEED_FILES["house"]["train"]
    if house.is_file():
        print()
        print("the seed's experiment on house:")
        print(
            f"  handgrad train --train {house} --valid {root / SEED_FILES['house']['test']} --target price "
            "--hidden 128 64 --activation relu --optimizer sgd --lr 1e-4 --batch-size 32 --epochs 100 "
            "--print-every 10 --seed-compatible"
        )
    return 0
