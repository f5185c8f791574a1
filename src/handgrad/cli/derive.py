"""``handgrad derive``: the seed's derivation for your network, optionally checked numerically.

See ``EXAMPLES`` (the ``--help`` epilog) for typical command lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..losses import LOSSES
from ..params import check, check_memory, estimate_bytes
from ..teaching.derive import FORMATS, derive
from ..teaching.layers import LayerDerivation
from ._common import check_output, write_text_atomically

EXAMPLES = """examples:
  handgrad derive --inputs 37 --hidden 128 64 --outputs 1 --activation relu --loss mse
  handgrad derive --inputs 10 --hidden 32 16 --outputs 3 --activation tanh relu \\
                  --loss softmax_crossentropy --format markdown -o derivation.md --check
  handgrad derive --input-shape 1x8x8 --loss softmax_crossentropy --check \\
                  --layers "conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.2)-dense(10)"
  handgrad derive --input-shape 8x8 --layers "lstm(16)-dense(10)" --loss softmax_crossentropy --check
"""

_SUFFIX_FORMATS = {".md": "markdown", ".markdown": "markdown", ".tex": "latex", ".txt": "text"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "derive",
        help="print the derivation (model, loss, expanded gradients, backpropagation) for a network",
        description=(
            "Emit the seed's derivation for a fully connected network: the model as one formula and as "
            "the forward recurrence with shapes, the loss and dJ/dŶ, the gradient of every W_l and b_l "
            "written out whole (§1.2), backpropagation with the deltas (§1.3), and σ'. "
            "--check evaluates the printed formulas on a random batch against finite differences."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    p.add_argument("--inputs", type=int, metavar="N0", help="number of input features n_0 (a dense network)")
    p.add_argument(
        "--layers",
        metavar="SPEC",
        help='layers of any type, output layer included, e.g. "conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-'
        'dropout(0.2)-dense(10)" or "lstm(16)-dense(10)" (with --input-shape, instead of --inputs/--hidden)',
    )
    p.add_argument(
        "--input-shape", metavar="SHAPE", help="with --layers: one sample's shape, 1x8x8 (C x H x W) or 8x8 (T x F)"
    )
    p.add_argument(
        "--hidden", type=int, nargs="*", default=[], metavar="N", help="hidden widths (none: no hidden layer)"
    )
    p.add_argument("--outputs", type=int, default=1, metavar="NL", help="number of outputs n_L (default 1)")
    p.add_argument(
        "--activation",
        nargs="+",
        default=["relu"],
        metavar="NAME",
        help="hidden activation: one for all hidden layers, or one per hidden layer (default relu)",
    )
    p.add_argument(
        "--output-activation", default="identity", metavar="NAME", help="output activation (default identity)"
    )
    p.add_argument("--loss", default="mse", metavar="NAME", help=f"one of {', '.join(LOSSES)} (default mse)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o suffix .md/.tex/.txt, else text)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the derivation to FILE (never over an existing file without --force)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing -o file")
    p.add_argument("--check", action="store_true", help="evaluate the formulas numerically; exit 1 if they fail")
    p.add_argument("--batch", type=int, default=4, help="batch size N of the check (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0) of the check (default 0)")
    p.add_argument(
        "--tol", type=float, default=1e-5, help="largest relative error the check accepts, >= 0 (default 1e-5)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.layers is not None or args.input_shape is not None:
        return _run_layers(args)
    if args.inputs is None:
        raise ConfigError("give --inputs N0 (a dense network), or --layers SPEC with --input-shape SHAPE")
    # Every setting checked before any work, by the rules of handgrad.params, naming the flag.
    sizes = [
        check("--inputs", args.inputs, "inputs"),
        *check("--hidden", args.hidden, "hidden"),
        check("--outputs", args.outputs, "outputs"),
    ]
    batch = check("--batch", args.batch, "batch")
    seed = check("--seed", args.seed, "seed")
    tol = check("--tol", args.tol, "tol")
    if args.check:  # before writing anything: the check must be able to run
        check_memory(estimate_bytes(sizes, batch, np.float64, copies=7), f"--check of a network of layer sizes {sizes}")
    activation = args.activation[0] if len(args.activation) == 1 else args.activation
    if len(args.activation) > 1 and len(args.activation) != len(args.hidden):
        raise ConfigError(
            f"--activation got {len(args.activation)} names {args.activation} for {len(args.hidden)} hidden "
            "layers; give one name, or one per hidden layer"
        )
    if args.output is not None:
        # Checked before any work: nothing the user had is overwritten without --force.
        check_output(args.output, force=args.force, flag="-o")
    der = derive(sizes, activation, args.output_activation, args.loss)
    fmt = args.format
    if fmt is None:
        fmt = _SUFFIX_FORMATS.get(args.output.suffix.lower(), "text") if args.output else "text"
    return _emit(args, der, fmt, batch, seed, tol)


def _emit(args: argparse.Namespace, der, fmt: str, batch: int, seed: int, tol: float) -> int:
    """Write the derivation ``der`` in ``fmt`` (to ``-o`` or standard output), then ``--check`` it: the exit code."""
    out = der.render(fmt)
    if args.output is not None:
        write_text_atomically(args.output, out, force=args.force)
        print(f"wrote {args.output} ({fmt})", file=sys.stderr)
    else:
        sys.stdout.write(out)
    if args.check:
        report = der.check(batch=batch, random_state=seed, tol=tol)
        print()
        print(report)
        return 0 if report.ok else 1
    return 0


def _run_layers(args: argparse.Namespace) -> int:
    """``derive --layers SPEC --input-shape SHAPE``: the derivation of a stack of layers (handgrad.teaching.layers)."""
    if args.layers is None or args.input_shape is None:
        raise ConfigError("--layers and --input-shape go together")
    if args.inputs is not None or args.hidden or args.outputs != 1 or args.activation != ["relu"]:
        raise ConfigError(
            "--layers describes the whole network (output layer included); drop --inputs, --hidden, --outputs "
            "and --activation"
        )
    if args.output_activation != "identity":
        raise ConfigError("with --layers, write the output activation after the last layer (dense(1)-sigmoid)")
    batch = check("--batch", args.batch, "batch")
    seed = check("--seed", args.seed, "seed")
    tol = check("--tol", args.tol, "tol")
    if args.output is not None:
        check_output(args.output, force=args.force, flag="-o")
    der = LayerDerivation(args.layers, args.input_shape, args.loss)
    return _emit(args, der, args.format or "markdown", batch, seed, tol)
