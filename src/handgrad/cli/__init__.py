"""The ``handgrad`` command line (also ``python -m handgrad``).

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code).

Exit codes: 0 success; 2 a usage or data error (one line naming the problem, no
traceback: an argparse usage error, any :class:`handgrad.errors.HandgradError`
or an ``OSError`` on a user's file); 1 an internal failure (a bug: the traceback
is printed); 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM; 141 (silently) when
the reader of standard output closed it (``handgrad predict ... | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import HandgradError

#: Sub-command modules, in the order ``handgrad --help`` lists them. A module
#: that is not there yet is skipped, so the CLI grows one command at a time.
COMMANDS = ("train", "predict", "evaluate", "export", "datasets", "gradcheck", "derive", "bench")

EPILOG = """examples:
  handgrad                                train on a built-in data set (same as: handgrad train)
  handgrad train --train house.csv --target price --hidden 128 64 -o house.npz
  handgrad predict house.npz new.csv -o predictions.csv
  handgrad evaluate house.npz test.csv
  handgrad datasets                       the built-in data sets, and where the seed's files are
  handgrad derive --inputs 37 --hidden 128 64 --outputs 1 --activation relu --loss mse

Each command has its own help: handgrad train --help
"""


class UsageError(HandgradError):
    """A command-line usage error found after parsing (exit code 2)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that it unwinds like Ctrl-C (exit code 143)."""

    signum = signal.SIGTERM


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (exit code 2), naming the command."""

    def error(self, message: str):  # argparse calls this on a usage error and expects it not to return
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="handgrad",
        description="Neural networks trained with gradients derived by hand.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    """Print ``handgrad: error: message`` on stderr (one line); return exit code 2."""
    message = " ".join(str(message).split("\n"))
    print(f"handgrad: error: {message}", file=sys.stderr)
    return 2


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_exception():
    """SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) while the command runs."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (e.g. main() called from a test thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1, 2, 130 or 143)."""
    # NOTE: Ctrl-C while the sub-commands are imported or the arguments parsed (the first
    # half second of a run) is the same one line and exit code as later on, not a traceback.
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        return _interrupted(exc)


def _interrupted(exc: KeyboardInterrupt) -> int:
    code = 143 if isinstance(exc, Terminated) else 130
    what = "terminated (SIGTERM)" if code == 143 else "interrupted"
    print(f"handgrad: {what}", file=sys.stderr)
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if "train" in choices and not any(a in choices or a in ("-h", "--help", "--version") for a in argv):
        # No sub-command: the main job (train on a built-in data set), so `handgrad` alone shows something.
        argv = ["train", *argv]
    args = parser.parse_args(argv)  # exits with 2 on a usage error
    if args.command is None:
        parser.print_help()
        return 0
    with _sigterm_as_exception():
        try:
            return int(args.func(args) or 0)
        except HandgradError as exc:
            return error(str(exc))
        except BrokenPipeError:
            # The reader of standard output went away (`handgrad predict ... | head`): not an
            # error of the user's input, so no message; point stdout at /dev/null so that the
            # interpreter's final flush does not fail again, and exit as a shell reports SIGPIPE.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141
        except FileNotFoundError as exc:
            return error(f"{exc.filename}: no such file")
        except IsADirectoryError as exc:
            return error(f"{exc.filename}: is a directory, expected a file")
        except PermissionError as exc:
            return error(f"{exc.filename}: permission denied")
        except OSError as exc:
            return error(f"{exc.filename or ''}: {exc.strerror or exc}")
        except KeyboardInterrupt as exc:
            return _interrupted(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
