"""``handgrad datasets``: the built-in data sets, where the seed's CSV files are, and fetching them.

``handgrad datasets`` lists; ``handgrad datasets fetch house|insurance|smoke|all``
downloads the seed's files from its public repository (pinned commit, SHA-256
verified) into the cache folder (``$HANDGRAD_CACHE``, default ``~/.cache/handgrad``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os

from ..data import list_datasets, seed_data_dir
from ..data.datasets import (
    SEED_FILES,
    fetch_seed_dataset,
    list_seed_datasets,
    seed_base_url,
    seed_cache_dir,
    seed_file,
)

#: Built-in sets that come from scikit-learn.
NEEDS_SKLEARN = {"diabetes", "digits"}

EXAMPLES = """examples:
  handgrad datasets
  handgrad datasets fetch house             download the seed's house files (verified) into the cache
  handgrad datasets fetch all
  handgrad datasets path house test         the path of test_house.csv (fetched on first use)
  handgrad train --dataset spiral --plot
  handgrad train --dataset house            the seed's train_house.csv (fetched on first use)

environment: HANDGRAD_DATA (a local copy of the seed's files; wins over the cache),
HANDGRAD_CACHE (the cache folder), HANDGRAD_DATA_URL (a mirror of the seed's repository)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "datasets",
        help="list the built-in data sets, where the seed's CSV files are; fetch them",
        description="List the built-in data sets (for 'handgrad train --dataset NAME'), whether each is available, "
        "and the seed project's CSV files ($HANDGRAD_DATA, ../shared/data next to the repository, or the download "
        "cache). 'handgrad datasets fetch NAME' downloads the seed's files, verified by SHA-256, into the cache.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    f = actions.add_parser(
        "fetch",
        help="download the seed's CSV files into the cache",
        description="Download the seed project's CSV files from its public repository (kapshaul/DeepLearning, "
        "a pinned commit; $HANDGRAD_DATA_URL replaces the address), check each file's SHA-256, and keep them in "
        "the cache folder ($HANDGRAD_CACHE, default ~/.cache/handgrad). A corrupted download is refused and "
        "nothing is cached.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument(
        "names", nargs="+", metavar="NAME", choices=[*SEED_FILES, "all"], help="house, insurance, smoke or all"
    )
    f.add_argument("--force", action="store_true", help="download again even if the files are cached")
    f.set_defaults(func=run_fetch)
    w = actions.add_parser(
        "path",
        help="print the path of one of the seed's files (fetched into the cache on first use)",
        description="Print the path of one of the seed's CSV files: in $HANDGRAD_DATA, ../shared/data next to the "
        "repository, or the download cache (fetched, verified, on first use). For scripts: "
        'handgrad train --train "$(handgrad datasets path house train)" ...',
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    w.add_argument("name", metavar="NAME", choices=list(SEED_FILES), help="house, insurance or smoke")
    w.add_argument("part", metavar="PART", nargs="?", default="train", help="train (default), valid or test")
    w.set_defaults(func=run_path)


def run_fetch(args: argparse.Namespace) -> int:
    names = list(SEED_FILES) if "all" in args.names else list(dict.fromkeys(args.names))
    print(f"fetching from {seed_base_url()} into {seed_cache_dir()}")
    for name in names:
        fetch_seed_dataset(name, force=args.force, log=print)
    if os.environ.get("HANDGRAD_DATA"):
        print(
            f"note: HANDGRAD_DATA={os.environ['HANDGRAD_DATA']} is set and wins over the cache; unset it to use these"
        )
    return 0


def run_path(args: argparse.Namespace) -> int:
    print(seed_file(args.name, args.part, download=True))
    return 0


def run(args: argparse.Namespace) -> int:
    have_sklearn = importlib.util.find_spec("sklearn") is not None
    print("built-in data sets (handgrad train --dataset NAME):")
    for name, description in list_datasets().items():
        ok = have_sklearn or name not in NEEDS_SKLEARN
        status = "available" if ok else 'needs: pip install "handgrad[sklearn]"'
        print(f"  {name:<10} {status:<10}  {description}")
    root = seed_data_dir()
    print()
    for name, description in list_seed_datasets().items():
        present = root is not None and all((root / rel).is_file() for rel in SEED_FILES[name].values())
        status = "available" if present else "fetched on first use (or: handgrad datasets fetch)"
        print(f"  {name:<10} {status:<10}  {description}")
    print()
    if root is None:
        print(
            "the seed's data sets: not on this machine; 'handgrad datasets fetch all' downloads them into "
            f"{seed_cache_dir()}, or set HANDGRAD_DATA to the folder holding house/, insurance/, smoke/"
        )
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
