"""The ``handgrad`` command line (also ``python -m handgrad``).

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code).

Exit codes: 0 success; 2 a usage or data error (one line naming the problem, no
traceback: any :class:`handgrad.errors.HandgradError` or ``OSError`` on a user's
file); 1 an internal failure (a bug: the traceback is printed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import HandgradError

#: Sub-command modules, in the order ``handgrad --help`` lists them. A module
#: that is not there yet is skipped, so the CLI grows one command at a time.
COMMANDS = ("train", "predict", "evaluate", "gradcheck", "derive", "bench", "datasets")

EPILOG = """examples:
  handgrad train                          train on a built-in data set, print the validation loss
  handgrad train --train house.csv --target price --hidden 128 64
  handgrad predict model.hgm new.csv -o predictions.csv
  handgrad derive --inputs 37 --hidden 128 64 --outputs 1 --activation relu --loss mse
"""


class UsageError(HandgradError):
    """A command-line usage error found after parsing (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handgrad",
        description="Neural networks trained with gradients derived by hand.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"handgrad {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def error(message: str) -> int:
    """Print ``handgrad: error: message`` on stderr; return exit code 2."""
    print(f"handgrad: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 or 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on a usage error
    if args.command is None:
        # No sub-command: the main job (train on a built-in data set).
        if "train" in parser._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            args = parser.parse_args(["train", *(argv or [])])
        else:
            parser.print_help()
            return 0
    try:
        return int(args.func(args) or 0)
    except HandgradError as exc:
        return error(str(exc))
    except FileNotFoundError as exc:
        return error(f"{exc.filename}: no such file")
    except IsADirectoryError as exc:
        return error(f"{exc.filename}: is a directory, expected a file")
    except PermissionError as exc:
        return error(f"{exc.filename}: permission denied")
    except OSError as exc:
        return error(f"{exc.filename or ''}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print("handgrad: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
