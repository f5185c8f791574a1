"""``handgrad bench <target>``: measurements that regenerate pages of ``docs/``.

Each target is a sub-command of ``bench``; ``gradients`` times backpropagation
against the expanded form (:mod:`handgrad.teaching.cost_measure`). To add a
target, write a ``_register_<name>(targets)`` function below and list it in
``TARGETS``. ``EXAMPLES`` (the ``--help`` epilog) shows typical command lines.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from ..errors import ConfigError
from ..teaching import cost_measure

EXAMPLES = """examples:
  handgrad bench gradients                  # print the table
  handgrad bench gradients --out docs/      # and write docs/gradient-cost.md, docs/img/gradient-cost.png
  handgrad bench gradients --quick          # depths 1-4, width 64, batch 32: a smoke run
"""


def _register_gradients(targets) -> None:
    p = targets.add_parser(
        "gradients",
        help="time one gradient by backpropagation and by the expanded form, at depths 1-10",
        description=(
            "Measure the time per gradient of backpropagation (§1.3) and of the expanded form (§1.2) "
            "for networks of L weight layers of one width, medians of interleaved runs, beside the "
            "analytic ratio of matrix-product flops; then the seed's network 37-128-64-1 at batch 32. "
            "Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the command for representative figures."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--depths", type=int, nargs="+", default=list(range(1, 11)), metavar="L", help="depths (default 1-10)"
    )
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256], metavar="W", help="widths (default 64 256)")
    p.add_argument(
        "--batches", type=int, nargs="+", default=[32, 256], metavar="N", help="batch sizes (default 32 256)"
    )
    p.add_argument("--repeats", type=int, default=15, help="interleaved rounds per figure (default 15)")
    p.add_argument("--min-time", type=float, default=0.01, help="seconds per sample, at least (default 0.01)")
    p.add_argument("--quick", action="store_true", help="depths 1-4, width 64, batch 32, 3 repeats (a smoke run)")
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="write DIR/gradient-cost.md and DIR/img/gradient-cost.png"
    )
    p.set_defaults(func=run_gradients)


TARGETS = (_register_gradients,)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark that regenerates a page of docs/",
        description="Measurements that regenerate pages of docs/ (tables, a plot, the command and machine).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for add in TARGETS:
        add(targets)


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (thread-count variables included), for the report."""
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ]
    words = ["handgrad", "bench", "gradients"]
    defaults = {
        "depths": list(range(1, 11)),
        "widths": [64, 256],
        "batches": [32, 256],
        "repeats": 15,
        "min_time": 0.01,
    }
    for name, default in defaults.items():
        value = getattr(args, name)
        if value != default:
            words += [f"--{name.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    words += ["--out", str(args.out)]
    return " ".join([*env, shlex.join(words)])


def run_gradients(args: argparse.Namespace) -> int:
    if args.quick:
        args.depths, args.widths, args.batches, args.repeats = [1, 2, 3, 4], [64], [32], 3
    for name, values in (("--depths", args.depths), ("--widths", args.widths), ("--batches", args.batches)):
        if any(v < 1 for v in values):
            raise ConfigError(f"{name} must be positive integers, got {values}")
    if args.repeats < 1 or not args.min_time > 0:
        raise ConfigError(f"--repeats must be >= 1 and --min-time > 0, got {args.repeats} and {args.min_time}")
    print(cost_measure.machine(), flush=True)
    results, seed = cost_measure.run(
        args.depths, args.widths, args.batches, args.repeats, args.min_time, progress=lambda s: print(s, flush=True)
    )
    c = seed.analytic
    print(
        f"seed network 37-128-64-1, batch 32: measured ratio {seed.ratio:.2f}, analytic {c.flop_ratio:.2f} (flops), "
        f"{c.product_ratio:.2f} (products)"
    )
    if args.out is not None:
        for path in cost_measure.write_report(results, seed, args.out, _command(args), args.repeats):
            print(f"wrote {path}")
    return 0
