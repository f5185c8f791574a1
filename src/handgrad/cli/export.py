"""``handgrad export``: a model file in, an ONNX file out (:mod:`handgrad.onnx`).

The ONNX graph takes the numeric features as float32 (input ``X``, shape (N, n_features),
columns in the model's order) and holds the stored input scaling, every layer and the
output transform (regression: ``predictions`` in the target's units; classification:
``label`` and ``probabilities``). Needs ``pip install "handgrad[onnx]"``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..onnx import model_file_to_onnx
from ._common import check_new_file

EXAMPLES = """examples:
  handgrad export model.npz -o model.onnx
  handgrad export model.npz -o model.onnx --force      replace model.onnx

in Python (onnxruntime):
  session = onnxruntime.InferenceSession("model.onnx")
  label, probabilities = session.run(None, {"X": X.astype("float32")})
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX (numeric inputs; scaling and output transform included)",
        description=(
            "Read MODEL (written by 'handgrad train -o' or an estimator's save()) and write it as an ONNX graph: "
            "input X (float32, the model's numeric features in order), the stored input scaling, every layer, and "
            "the output transform (regression: 'predictions'; classification: 'label' and 'probabilities'). "
            "Models with categorical (one-hot encoded) input columns are refused."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", metavar="MODEL", help="model file (.npz) written by handgrad train or an estimator's save()"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument("--force", action="store_true", help="overwrite OUT.onnx if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_new_file(args.output, force=args.force, what="ONNX", flag="-o")
    model = model_file_to_onnx(args.model, args.output)
    outputs = ", ".join(o.name for o in model.graph.output)
    n_features = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    print(f"ONNX model written to {Path(args.output)} (input X: float32 (N, {n_features}); outputs: {outputs})")
    return 0
