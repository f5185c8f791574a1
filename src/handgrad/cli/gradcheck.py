"""``handgrad gradcheck``: check the gradients of a chosen architecture against finite differences."""

from __future__ import annotations

import argparse

import numpy as np

from ..activations import ACTIVATIONS
from ..gradcheck import gradcheck
from ..losses import LOSSES, get_loss
from ..network import GRADIENT_METHODS, Network
from ..params import check, check_memory, estimate_bytes

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
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0) of the weights and the batch")
    p.add_argument("--eps", type=float, default=1e-5, help="finite-difference step, > 0 (default: 1e-5)")
    p.add_argument("--tol", type=float, default=1e-5, help="largest accepted relative error, >= 0 (default: 1e-5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Every setting checked before any work, by the rules of handgrad.params, naming the flag.
    inputs = check("--inputs", args.inputs, "inputs")
    hidden = check("--hidden", args.hidden, "hidden")
    outputs = check("--outputs", args.outputs, "outputs")
    batch = check("--batch", args.batch, "batch")
    seed = check("--seed", args.seed, "seed")
    eps = check("--eps", args.eps, "eps")
    tol = check("--tol", args.tol, "tol")
    sizes = [inputs, *hidden, outputs]
    # The network, its float64 copy, the analytic and the numeric gradients: refused with the
    # figures (not a MemoryError) when they cannot fit.
    check_memory(estimate_bytes(sizes, batch, np.float64, copies=5), f"a gradient check of a {sizes} network")
    activation = args.activation[0] if len(args.activation) == 1 else args.activation
    net = Network(
        sizes,
        activation=activation,
        output_activation=args.output_activation,
        init=args.init,
        random_state=seed,
    )
    loss = get_loss(args.loss)
    loss.check_outputs(outputs)  # before printing anything: e.g. a softmax over one output
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(batch, inputs))
    Y = loss.example_targets(rng, outputs, batch).T  # (batch, outputs): 0/1, one-hot or real, as the loss needs
    n_params = sum(p.size for p in net.parameters())
    print(f"network {net.layer_sizes}, activations {[a.name for a in net.activations]}, loss {loss.name}")
    print(f"batch of {batch} random samples; {n_params} parameters, {2 * n_params} loss evaluations per method")
    methods = GRADIENT_METHODS if args.method == "both" else (args.method,)
    ok = True
    for method in methods:
        report = gradcheck(net, X, Y, loss=loss, method=method, eps=eps, tol=tol)
        print()
        print(report)
        ok &= report.ok
    return 0 if ok else 1
