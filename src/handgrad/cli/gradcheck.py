"""``handgrad gradcheck``: check the gradients of a chosen architecture against finite differences."""

from __future__ import annotations

import argparse

import numpy as np

from ..activations import ACTIVATIONS
from ..gradcheck import gradcheck
from ..losses import LOSSES, get_loss
from ..network import GRADIENT_METHODS, Network
from ._common import usage_error

EXAMPLES = """examples:
  handgrad gradcheck                                   the seed's 37-128-64-1 ReLU network, MSE
  handgrad gradcheck --inputs 3 --hidden 5 4 --outputs 3 --activation tanh --loss softmax_crossentropy
  handgrad gradcheck --method expanded --batch 1
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gradcheck",
        help="check backprop/expanded gradients against central finite differences",
        description=(
            "Build a network of the given architecture with random weights, take a random batch, and compare "
            "its analytic gradients (backprop and/or expanded) with central finite differences in float64. "
            "Prints the worst relative error of every parameter; exits 1 if any exceeds --tol."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--inputs", type=int, default=37, help="number of input features n_0 (default: 37, the seed's)")
    p.add_argument("--hidden", type=int, nargs="*", default=[128, 64], help="hidden widths (default: 128 64)")
    p.add_argument("--outputs", type=int, default=1, help="number of outputs n_L (default: 1)")
    p.add_argument(
        "--activation",
        nargs="+",
        default=["relu"],
        choices=sorted(ACTIVATIONS),
        help="hidden activation: one for all hidden layers, or one per hidden layer (default: relu)",
    )
    p.add_argument("--output-activation", default="identity", choices=sorted(ACTIVATIONS))
    p.add_argument("--loss", default="mse", choices=sorted(LOSSES))
    p.add_argument("--method", default="both", choices=[*GRADIENT_METHODS, "both"])
    p.add_argument("--batch", type=int, default=8, help="batch size N (default: 8)")
    p.add_argument("--init", default="glorot_normal", help="weight init (default: glorot_normal)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and the batch")
    p.add_argument("--eps", type=float, default=1e-5, help="finite-difference step (default: 1e-5)")
    p.add_argument("--tol", type=float, default=1e-5, help="largest accepted relative error (default: 1e-5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.inputs < 1 or args.outputs < 1 or any(h < 1 for h in args.hidden) or args.batch < 1:
        raise usage_error("--inputs, --hidden, --outputs and --batch must be positive integers")
    activation = args.activation[0] if len(args.activation) == 1 else args.activation
    net = Network(
        [args.inputs, *args.hidden, args.outputs],
        activation=activation,
        output_activation=args.output_activation,
        init=args.init,
        random_state=args.seed,
    )
    get_loss(args.loss).check_outputs(args.outputs)  # before printing anything: e.g. a softmax over one output
    rng = np.random.default_rng(args.seed + 1)
    X = rng.normal(size=(args.batch, args.inputs))
    if args.loss == "softmax_crossentropy":
        Y = np.eye(args.outputs)[rng.integers(0, args.outputs, args.batch)]
    elif args.loss == "binary_crossentropy":
        Y = rng.integers(0, 2, (args.batch, args.outputs)).astype(float)
    else:
        Y = rng.normal(size=(args.batch, args.outputs))
    n_params = sum(p.size for p in net.parameters())
    print(f"network {net.layer_sizes}, activations {[a.name for a in net.activations]}, loss {args.loss}")
    print(f"batch of {args.batch} random samples; {n_params} parameters, {2 * n_params} loss evaluations per method")
    methods = GRADIENT_METHODS if args.method == "both" else (args.method,)
    ok = True
    for method in methods:
        report = gradcheck(net, X, Y, loss=args.loss, method=method, eps=args.eps, tol=args.tol)
        print()
        print(report)
        ok &= report.ok
    return 0 if ok else 1
