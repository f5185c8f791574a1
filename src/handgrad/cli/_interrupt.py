"""Interruption and resumption of ``handgrad train``: the graceful stop, the checkpointer, the restore.

SIGINT (Ctrl-C) or SIGTERM lets the current epoch finish (:class:`StopRequest`,
installed by :func:`graceful_stop`); :class:`Checkpointer` then writes the full
:class:`~handgrad.training.TrainState` at that epoch boundary and raises
:class:`Interrupted`. :func:`restore` reads such a checkpoint back for ``--resume``,
with the run's arguments, refusing changed input files.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from ..modelfile import load_arrays_json, save_arrays_json
from ..training import TrainState
from . import Terminated
from ._common import file_digest, usage_error

#: Options that belong to one invocation, not to the run: allowed beside --resume.
PER_INVOCATION = {"resume", "quiet", "force", "func", "command", "distributed", "dist_backend", "dist_timeout"}


class Interrupted(Exception):
    def __init__(self, signum: int, epoch: int, path: Path | None):
        super().__init__(signum, epoch, path)
        self.signum, self.epoch, self.path = signum, epoch, path


class StopRequest:
    """First SIGINT/SIGTERM: finish the epoch, checkpoint, stop. A second one: stop at once."""

    def __init__(self):
        self.signum: int | None = None

    def handler(self, signum, frame):
        if self.signum is not None:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signum = signum
        print(
            "handgrad: stopping at the end of this epoch to write a checkpoint (signal again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


@contextlib.contextmanager
def graceful_stop():
    stop = StopRequest()
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop.handler)
    except ValueError:  # not the main thread: leave the signals alone
        pass
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Checkpointer:
    """``on_checkpoint`` of :func:`train`, called after every epoch with the full :class:`TrainState`.

    Writes the state every ``every`` epochs, and at once when a stop was requested
    (then raises :class:`Interrupted`): the state is taken at an epoch boundary,
    so a resumed run continues exactly where this one stopped.
    """

    def __init__(self, every: int, path_of, stop: StopRequest, config: dict, dp=None):
        self.every = every
        self.path_of = path_of  # a callable: the path (creating the run folder) when first needed
        self.stop = stop
        self.config = config
        self.written: Path | None = None
        #: Data-parallel: the ranks agree on a stop every epoch (a signal may reach one rank only,
        #: or reach them in different epochs) and only rank 0 writes.
        self.dp = dp

    def __call__(self, state: TrainState) -> None:
        due = self.every and state.epoch % self.every == 0
        signum = self.stop.signum
        if self.dp is not None and self.dp.any(signum is not None) and signum is None:
            signum = signal.SIGTERM  # another rank was asked to stop
        if due or signum is not None:
            if self.dp is None or self.dp.is_main:
                self.write(state)
        if signum is not None:
            raise Interrupted(signum, state.epoch, self.written)

    def write(self, state: TrainState) -> None:
        arrays, meta = state.to_arrays_and_metadata()
        meta["cli"] = self.config
        path = self.path_of()
        save_arrays_json(path, arrays, meta, force=True)  # our own file, replaced atomically each time
        self.written = path


def _check_stored_args(where, stored, parser: argparse.ArgumentParser) -> None:
    """Validate a checkpoint's stored arguments as the parser validates the command line's.

    A checkpoint is a file a person can edit (``"epochs": "twenty"``): each stored
    value must be what its flag's parser would have produced (its type, its
    choices, one value or a list); otherwise a one-line error names the flag.
    """
    if not isinstance(stored, dict):
        raise usage_error(f"{where}: the checkpoint's stored arguments are not a table; it was edited or is damaged")
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    for dest, value in stored.items():
        action = actions.get(dest)
        if action is None or value is None or value == action.default:
            continue
        flag = action.option_strings[-1]
        problem = _stored_value_problem(action, value)
        if problem:
            raise usage_error(
                f"{where}: the checkpoint stores {flag} {value!r}, which {problem}; "
                "the checkpoint was edited or is damaged (start a new run)"
            )


def _stored_value_problem(action: argparse.Action, value) -> str | None:
    """Why ``value`` is not what ``action`` parses to, or None."""
    if action.nargs == 0:  # store_true / store_false / version ...
        return None if isinstance(value, bool) else "is not true or false"
    if isinstance(action, argparse.BooleanOptionalAction):
        return None if isinstance(value, bool) else "is not true or false"
    if action.nargs in ("*", "+") or isinstance(action.nargs, int):
        if not isinstance(value, list):
            return "is not a list"
        items = value
    else:
        items = [value]
    convert = action.type or str
    for item in items:
        if isinstance(item, (bool, dict, list)) or item is None:
            return f"holds {item!r}, not a {getattr(convert, '__name__', 'value')}"
        if convert in (int, float):
            if not isinstance(item, (int, float)) or (convert is int and not isinstance(item, int)):
                return f"is not a{'n integer' if convert is int else ' number'}"
        else:
            if not isinstance(item, str):
                return "is not text"
            try:
                if convert is not str:
                    convert(item)
            except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
                return f"is not accepted ({exc})"
        if action.choices is not None and item not in action.choices:
            return f"is not one of {sorted(action.choices)}"
    return None


def restore(args, parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, TrainState, dict]:
    """The run's arguments and state from ``--resume CHECKPOINT``; ``parser`` is the ``train`` parser (its defaults)."""
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    given = {k: v for k, v in vars(args).items() if k not in PER_INVOCATION and v != parser.get_default(k)}
    arrays, meta = load_arrays_json(args.resume)
    cli = meta.pop("cli", None)
    if not isinstance(cli, dict) or "args" not in cli:
        raise usage_error(f"{args.resume}: a handgrad file, but not a checkpoint written by 'handgrad train'")
    # A flag equal to the run's own is allowed: the command torchrun --max-restarts reruns
    # (the run's flags with --resume of its checkpoint) continues the run.
    differ = [flags.get(k, k) for k, v in given.items() if not _same_setting(v, cli["args"].get(k))]
    if differ:
        raise usage_error(
            f"--resume continues a run with the settings stored in its checkpoint; drop {', '.join(differ)} "
            "(only --quiet and --force may be given with --resume, or the run's own flags)"
        )
    try:
        state = TrainState.from_arrays_and_metadata(arrays, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise usage_error(f"{args.resume}: the checkpoint is incomplete: {exc}") from None
    _check_stored_args(args.resume, cli["args"], parser)
    for flag in ("train", "valid", "test"):
        source = cli["args"].get(flag)
        if isinstance(source, str) and (
            source == "-" or source.startswith(("/dev/fd/", "/proc/self/fd/", "/dev/stdin"))
        ):
            raise usage_error(
                f"{args.resume}: the run read --{flag} from a pipe or standard input ({source}), which cannot be "
                "read again; resuming needs the same rows: start a new run from a file"
            )
    restored = argparse.Namespace(**{**vars(args), **cli["args"]})
    restored.resume, restored.quiet, restored.force = args.resume, args.quiet, args.force
    for name, digest in cli.get("digests", {}).items():
        path = cli["args"].get(name)
        if path and file_digest(path) != digest:
            raise usage_error(
                f"{path} has changed since the checkpoint {args.resume} was written; resuming would not "
                "reproduce the run (restore the file, or start a new run)"
            )
    return restored, state, cli


def _same_setting(given, stored) -> bool:
    """Whether a flag's value is the one stored in the checkpoint (a path: the same file)."""
    if given == stored:
        return True
    if isinstance(given, list) and isinstance(stored, list):
        return given == stored
    if isinstance(given, str) and isinstance(stored, str):
        return str(Path(given).resolve()) == stored
    return False
