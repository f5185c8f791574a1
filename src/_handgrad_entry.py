"""The ``handgrad`` console script's entry point: Ctrl-C from its first instruction is one line, exit 130.

NOTE: importing the package (NumPy, the estimators: about 0.3 s) happens *after* this module
installs a SIGINT handler, so that Ctrl-C in the first half second of ``handgrad train`` prints
``handgrad: interrupted`` and exits with 130 instead of a KeyboardInterrupt traceback from inside
an import. Once :func:`handgrad.cli.main` runs, it handles Ctrl-C itself (a graceful stop that
writes a checkpoint during training). Kept outside the package: a module inside it would run
only after the package's own import.
"""

import signal
import sys


def _interrupted_while_starting(signum, frame):
    sys.stderr.write("handgrad: interrupted\n")
    raise SystemExit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    from handgrad.cli import main as cli_main

    signal.signal(signal.SIGINT, previous)  # from here on: KeyboardInterrupt, which cli.main turns into one line
    sys.exit(cli_main())


if __name__ == "__main__":  # pragma: no cover
    main()
