r"""Export a trained model to ONNX, so that it runs outside Python (onnxruntime, C++, C#, the browser).

The exported graph computes exactly what ``predict`` / ``predict_proba`` compute, in
float32, written with standard ONNX operators (default domain, opset 17) so that
onnxruntime's default build runs it:

* input ``X`` of shape (N, n_features), float32, numeric features in the order the
  model was fitted on (``feature_names`` in the model's metadata);
* the stored input scaling ``A_0 = (X − x_mean) / x_scale`` (and, for a model trained
  by ``handgrad train`` with ``--missing mean``/``most_frequent``, the stored fill value
  where an input is NaN);
* each layer ``z_l = W_l a_{l−1} + b_l`` as ``Gemm(A, W_l, b_l, transB=1)`` on rows
  (``W_l`` of shape (n_l, n_{l−1}), as stored), then ``a_l = σ_l(z_l)`` with σ_l any
  activation of :mod:`handgrad.activations`, built from elementary operators:

  ==========  ==========================================================
  identity    nothing
  relu        ``Relu``
  leaky_relu  ``LeakyRelu(alpha=0.01)``
  sigmoid     ``Sigmoid``
  tanh        ``Tanh``
  softplus    ``Relu(z) + Log(1 + Exp(−|z|))`` (stable, as ``logaddexp(0, z)``)
  elu         ``Elu(alpha=1)``
  gelu        ``½ z (1 + Tanh(√(2/π) (z + 0.044715 z³)))`` (the tanh approximation)
  ==========  ==========================================================

* the output transform. Regressor: ``predictions = z_L · y_scale + y_mean`` (shape (N,)
  for one output, (N, n_outputs) otherwise). Classifier: ``probabilities`` (N, n_classes)
  (one output: ``[1 − σ(z), σ(z)]``; several: ``Softmax``; multi-label: ``σ(z)`` per label)
  and ``label`` (N,), ``classes_[ArgMax]`` through a ``Gather`` (multi-label: the 0/1 matrix
  ``z > 0``).

A network of layers (:class:`handgrad.layers.LayerStack`, ``layers=`` / ``--layers``) runs
in inference mode after the same input scaling. The scaled rows are reshaped to the declared
input shape, batch first — images ``(N, C, H, W)`` (ONNX's NCHW: a row is one ``(C, H, W)``
sample in C order), sequences ``(N, T, F)`` — and each layer becomes:

==================  =======================================================================
dense(n)            ``Flatten`` (axis 1, the per-sample C order) where its input is not a
                    vector, then ``Gemm(A, W, b, transB=1)`` and the activation above
conv(F,KhxKw,...)   ``Conv`` with ``W.reshape(F, C, kh, kw)``, ``pads [p_h, p_w, p_h, p_w]``,
                    the strides, then the activation
maxpool, avgpool    ``MaxPool`` / ``AveragePool``, floor mode, no padding (so
                    ``count_include_pad`` never applies: every window averages kh·kw pixels)
dropout(p)          nothing (the identity in inference)
batchnorm           ``(x − running_mean) · γ/sqrt(running_var + ε) + β`` per feature or
                    channel (``Sub``, ``Mul``, ``Add``; the running statistics as constants)
layernorm           ``LayerNormalization(axis=1, epsilon=ε)`` over every per-sample axis
                    (opset 17; one fused kernel, measured at least as accurate as the explicit
                    ReduceMean/Sub/Mul/... graph: largest error 2.9e-4 against 7.8e-4 in
                    float32 on rows with |mean|/std = 3·10⁴)
rnn(n[,seq])        ``RNN`` (Tanh) on ``(T, N, F)``, ``W = Wx``, ``R = Wh``, ``B = [b, 0]``
lstm(n[,seq])       ``LSTM`` with the row blocks of ``Wx``, ``Wh``, ``b`` permuted from
                    handgrad's (PyTorch's) gate order i, f, g, o to ONNX's i, o, f, c
an activation       its operators, elementwise
==================  =======================================================================

A recurrent layer returns ``Y_h`` squeezed to ``(N, n)`` (``h_T``), or with ``seq`` ``Y``
squeezed to ``(T, N, n)``, kept time major for a next recurrent layer and transposed to
``(N, T, n)`` before a dense layer flattens it (t-major, as handgrad does). The output
transform is then the one above. The model's metadata adds ``layers`` and ``input_shape``.
An LSTM's input batch gets one sequence of zeros appended, whose output is dropped: onnxruntime
(1.32) aborts the process on an LSTM over zero sequences, and this keeps an empty ``X`` working.

Not exported (refused with a :class:`~handgrad.errors.ConfigError`): models with
categorical (text / one-hot encoded) input columns — encode them before the model, or
train on numeric columns — custom activation functions, and layer types registered
outside handgrad (the message names the layer).

Needs the ``onnx`` package (``pip install "handgrad[onnx]"``), imported only here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ModelFileError
from .layers.conv import AvgPool2D, Conv2D, MaxPool2D
from .layers.dense import ActivationLayer, Dense
from .layers.normalization import BatchNorm, Dropout, LayerNorm
from .layers.recurrent import LSTM, RNN

#: The operator set the graph is written for (onnxruntime has run it since 1.12).
OPSET = 17
#: The ONNX IR version written (8 goes with opset 17; any onnxruntime since 1.12 reads it).
IR_VERSION = 8

#: Activations the exporter can write, by name (all of :data:`handgrad.activations.ACTIVATIONS`).
SUPPORTED_ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError(
            'exporting to ONNX needs the onnx package; install it with: pip install "handgrad[onnx]"'
        ) from None
    return onnx


class _Graph:
    """Nodes and constants of one ONNX graph, with fresh names for intermediate values."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value, dtype=np.float32) -> str:
        """A constant tensor (an initializer); returns its name."""
        name = self.name(stem)
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        if array.dtype.kind in "OUS":  # labels that are text
            tensor = self.helper.make_tensor(
                name,
                self.onnx.TensorProto.STRING,
                array.shape,
                [str(v).encode("utf-8") for v in array.ravel()],
            )
        else:
            tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, output: str | None = None, **attrs) -> str:
        """Append one node; returns the name of its (single) output."""
        out = output or self.name(stem or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _activation(g: _Graph, name: str, z: str, layer: int) -> str:
    """``a = σ(z)`` for the activation called ``name`` (see the table in the module docstring)."""
    if name == "identity":
        return z
    if name == "relu":
        return g.op("Relu", [z], f"a{layer}")
    if name == "leaky_relu":
        from .activations import LEAKY_SLOPE

        return g.op("LeakyRelu", [z], f"a{layer}", alpha=float(LEAKY_SLOPE))
    if name == "sigmoid":
        return g.op("Sigmoid", [z], f"a{layer}")
    if name == "tanh":
        return g.op("Tanh", [z], f"a{layer}")
    if name == "softplus":
        # NOTE: ONNX's Softplus is log(exp(z) + 1), which overflows to inf in float32 for
        # z > 88; handgrad computes logaddexp(0, z) = max(z, 0) + log(1 + e^{−|z|}).
        one = g.const("one", 1.0)
        tail = g.op("Log", [g.op("Add", [one, g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])])])
        return g.op("Add", [g.op("Relu", [z]), tail], f"a{layer}")
    if name == "elu":
        from .activations import ELU_ALPHA

        return g.op("Elu", [z], f"a{layer}", alpha=float(ELU_ALPHA))
    if name == "gelu":
        from .activations import _GELU_C, _GELU_K

        z3 = g.op("Mul", [g.op("Mul", [z, z]), z])
        u = g.op("Mul", [g.const("gelu_c", _GELU_C), g.op("Add", [z, g.op("Mul", [g.const("gelu_k", _GELU_K), z3])])])
        half_z = g.op("Mul", [g.const("half", 0.5), z])
        return g.op("Mul", [half_z, g.op("Add", [g.const("one", 1.0), g.op("Tanh", [u])])], f"a{layer}")
    raise ConfigError(
        f"cannot export the activation {name!r} to ONNX; the exporter writes {list(SUPPORTED_ACTIVATIONS)} "
        "(a custom activation function has no ONNX form)"
    )


# ---------------------------------------------------------------------- layer stacks
# Inside the graph a layer's output is held batch first, (N, *out_shape) — per sample the C order
# of handgrad's shape, so that Flatten gives exactly the row a dense layer reads — except a sequence
# (T, F) between recurrent layers, held time major (T, N, F) as ONNX's RNN and LSTM take it
# (layout 0). ``_Tensor`` is the value's name with which of the two it is.
_BATCH, _TIME = "batch", "time"

#: handgrad's LSTM stacks its gates i, f, g, o (PyTorch's order); ONNX's LSTM i, o, f, c (c = g):
#: the row blocks of Wx, Wh and b in ONNX's order.
_LSTM_GATE_ORDER = (0, 3, 1, 2)


def _is_stack(network) -> bool:
    return hasattr(network, "train_batch")  # a stack of layers (handgrad.layers.LayerStack)


def _batch_first(g: _Graph, A: str, layout: str) -> str:
    """``A`` as (N, *shape): a time-major sequence (T, N, F) transposed to (N, T, F)."""
    return g.op("Transpose", [A], "batch_first", perm=[1, 0, 2]) if layout == _TIME else A


def _time_major(g: _Graph, A: str, layout: str) -> str:
    """``A`` as (T, N, F), what ONNX's RNN and LSTM read: a batch-first (N, T, F) transposed."""
    return A if layout == _TIME else g.op("Transpose", [A], "time_major", perm=[1, 0, 2])


def _exportable(layer) -> bool:
    return isinstance(
        layer, (Dense, ActivationLayer, Conv2D, MaxPool2D, AvgPool2D, Dropout, BatchNorm, LayerNorm, RNN, LSTM)
    )


def _recurrent(g: _Graph, layer, params, A: str, layout: str, l: int) -> tuple[str, str]:
    """ONNX's RNN / LSTM over ``A`` (T, N, F) with handgrad's ``Wx``, ``Wh``, ``b``; h_T (N, n) or h_1..h_T (T, N, n)."""
    n = layer.n
    Wx, Wh, b = (np.asarray(params[k], dtype=np.float64) for k in ("Wx", "Wh", "b"))
    if isinstance(layer, LSTM):
        # [i; f; g; o] → [i; o; f; c]: permute the blocks of n rows
        blocks = [slice(k * n, (k + 1) * n) for k in _LSTM_GATE_ORDER]
        Wx, Wh, b = (np.concatenate([M[s] for s in blocks]) for M in (Wx, Wh, b))
        op, extra = "LSTM", {}
    else:
        op, extra = "RNN", {"activations": ["Tanh"]}
    X = _time_major(g, A, layout)
    # NOTE: onnxruntime (1.32) aborts the whole process (std::terminate) on an LSTM over a batch of
    # zero sequences; one sequence of zeros is appended to the batch and its output dropped after.
    guard = op == "LSTM"
    if guard:
        X = g.op("Pad", [X, g.const("pad_one_sequence", [0, 0, 0, 0, 1, 0], np.int64)], f"x{l}_padded")
    # W (1, gates·n, F), R (1, gates·n, n), B (1, 2·gates·n) = [Wb; Rb]: handgrad's one bias b and Rb = 0
    inputs = [
        X,
        g.const(f"Wx{l}", Wx[None]),
        g.const(f"Wh{l}", Wh[None]),
        g.const(f"b{l}", np.concatenate([b, np.zeros_like(b)])[None]),
    ]
    Y, Y_h = g.name(f"h{l}_seq"), g.name(f"h{l}_last")
    if layer.seq:
        # Y (T, 1, N, n): every state, one direction → (T, N, n), time major for what follows
        g.nodes.append(g.helper.make_node(op, inputs, [Y], hidden_size=n, **extra))
        out, layout, batch_axis = g.op("Squeeze", [Y, g.const("axis1", [1], np.int64)]), _TIME, 1
    else:
        # Y_h (1, N, n): the last state h_T → (N, n)
        g.nodes.append(g.helper.make_node(op, inputs, ["", Y_h], hidden_size=n, **extra))
        out, layout, batch_axis = g.op("Squeeze", [Y_h, g.const("axis0", [0], np.int64)]), _BATCH, 0
    if guard:  # drop the appended sequence: [0, -1) along the batch axis
        ints = (g.const("zero_i", [0], np.int64), g.const("minus_one", [-1], np.int64))
        out = g.op("Slice", [out, *ints, g.const("batch_axis", [batch_axis], np.int64)], f"a{l}")
    return out, layout


def _layer(g: _Graph, layer, params, A: str, layout: str, l: int) -> tuple[str, str]:
    """Layer ``l`` of a stack in inference mode: ``(a_l, its layout)`` from ``(a_{l−1}, its layout)``."""
    if isinstance(layer, Dense):
        A = _batch_first(g, A, layout)
        if len(layer.in_shape) > 1:
            A = g.op("Flatten", [A], "flat", axis=1)  # (N, n_{l−1}): the per-sample C order, as handgrad reads it
        # z_l = W_l a_{l−1} + b_l, on rows: Z = A W_lᵀ + b_l, shape (N, n_l)
        Z = g.op("Gemm", [A, g.const(f"W{l}", params["W"]), g.const(f"b{l}", params["b"])], f"z{l}", transB=1)
        return _activation(g, layer.activation.name, Z, l), _BATCH
    if isinstance(layer, ActivationLayer):
        return _activation(g, layer.activation.name, A, l), layout  # elementwise: any layout
    if isinstance(layer, Dropout):
        return A, layout  # inverted dropout is the identity in inference
    if isinstance(layer, Conv2D):
        F, (C, _, _), (kh, kw) = layer.filters, layer.in_shape, layer.kernel
        (ph, pw), (sh, sw) = layer.pad, layer.stride
        W = np.asarray(params["W"]).reshape(F, C, kh, kw)  # columns (c, i, j): ONNX's (F, C, kh, kw)
        Z = g.op(
            "Conv",
            [A, g.const(f"W{l}", W), g.const(f"b{l}", params["b"])],
            f"z{l}",
            kernel_shape=[kh, kw],
            strides=[sh, sw],
            pads=[ph, pw, ph, pw],  # [top, left, bottom, right]
        )
        return _activation(g, layer.activation.name, Z, l), _BATCH
    if isinstance(layer, (MaxPool2D, AvgPool2D)):
        # Windows that do not fit are dropped (floor mode, ceil_mode=0); no padding, so AveragePool's
        # count_include_pad never applies: every window averages its kh·kw pixels, as handgrad's.
        op = "MaxPool" if isinstance(layer, MaxPool2D) else "AveragePool"
        return g.op(op, [A], f"a{l}", kernel_shape=list(layer.kernel), strides=list(layer.stride)), _BATCH
    if isinstance(layer, BatchNorm):
        # Inference: a = (x − running_mean) ∘ γ/sqrt(running_var + ε) + β, per feature (N, n) or channel (N, C, H, W)
        scale = np.asarray(params["gamma"], dtype=np.float64) / np.sqrt(layer.running_var + layer.eps)
        per = (-1,) if len(layer.in_shape) == 1 else (-1, 1, 1)
        mean = layer.running_mean.reshape(per)
        A = g.op("Sub", [A, g.const(f"running_mean{l}", mean)])
        A = g.op("Mul", [A, g.const(f"bn_scale{l}", scale.reshape(per))])
        return g.op("Add", [A, g.const(f"beta{l}", np.asarray(params["beta"]).reshape(per))], f"a{l}"), layout
    if isinstance(layer, LayerNorm):
        # Each sample over all its values (axis 1 onwards of (N, *shape)), γ and β of the per-sample shape
        A = _batch_first(g, A, layout)
        out = g.op(
            "LayerNormalization",
            [A, g.const(f"gamma{l}", params["gamma"]), g.const(f"beta{l}", params["beta"])],
            f"a{l}",
            axis=1,
            epsilon=float(layer.eps),
        )
        return out, _BATCH
    if isinstance(layer, (RNN, LSTM)):
        return _recurrent(g, layer, params, A, layout, l)
    raise ConfigError(_refusal(layer))


def _refusal(layer) -> str:
    return (
        f"cannot export the layer {layer.spec()!r} ({type(layer).__name__}) to ONNX; the exporter writes "
        "dense, conv, maxpool, avgpool, dropout, batchnorm, layernorm, rnn, lstm and the activations"
    )


def _stack_body(g: _Graph, stack, A: str) -> str:
    """The layers of ``stack`` on ``A`` (N, n_0) in inference mode: ``a_L`` of shape (N, n_L)."""
    shape = tuple(stack.input_shape)
    if len(shape) > 1:
        # A row is one sample flattened in C order: (N, C, H, W) for images (NCHW), (N, T, F) for sequences
        A = g.op("Reshape", [A, g.const("input_shape", [-1, *shape], np.int64)], "x")
    layout = _BATCH
    for l, (layer, params) in enumerate(zip(stack.layers, stack.params), start=1):
        A, layout = _layer(g, layer, params, A, layout, l)
    return _batch_first(g, A, layout)


def build_onnx(
    network,
    *,
    kind: str,
    x_mean,
    x_scale,
    y_mean=None,
    y_scale=None,
    classes=None,
    multilabel: bool = False,
    fill=None,
    feature_names=None,
    doc: str = "",
):
    """The ONNX model (an ``onnx.ModelProto``) of a trained network and its input/output transforms.

    Parameters
    ----------
    network : Network
        Trained; ``W_l`` of shape (n_l, n_{l−1}), activations by name.
    kind : {"regression", "binary", "multiclass"}
        "binary" means one output read through the sigmoid (two classes); "multiclass"
        several outputs through the softmax (or independent sigmoids if ``multilabel``).
    x_mean, x_scale : array of shape (n_features,)
        The network sees ``(X − x_mean) / x_scale``.
    y_mean, y_scale : array of shape (n_outputs,), regression only
        Predictions are ``z_L · y_scale + y_mean``.
    classes : array of shape (n_classes,), classification only
        The labels, in the order of the probability columns.
    multilabel : bool
        Classification with one independent sigmoid per output; ``label`` is the 0/1 matrix.
    fill : array of shape (n_features,) or None
        Value replacing a NaN input, per column (NaN: none; the NaN flows through).
    feature_names : list of str or None
        Stored in the model's metadata (``feature_names``) and the input's doc string.
    doc : str
        The model's doc string.
    """
    onnx = _onnx()
    helper, TP = onnx.helper, onnx.TensorProto
    names = [a.name for a in network.activations]
    for a in names:
        if a not in SUPPORTED_ACTIVATIONS:
            _activation(_Graph(onnx), a, "z", 0)  # raises with the message naming it
    n_in, n_out = network.n_inputs, network.n_outputs
    x_mean = np.asarray(x_mean, dtype=np.float64).reshape(-1)
    x_scale = np.asarray(x_scale, dtype=np.float64).reshape(-1)
    if x_mean.shape != (n_in,) or x_scale.shape != (n_in,):
        raise ConfigError(
            f"x_mean and x_scale must have shape ({n_in},) for a network with {n_in} inputs, "
            f"got {x_mean.shape} and {x_scale.shape}"
        )
    g = _Graph(onnx)
    A = "X"
    if fill is not None and np.isfinite(np.asarray(fill, dtype=np.float64)).any():
        fill = np.asarray(fill, dtype=np.float64).reshape(-1)
        # Where(IsNaN(X), fill, X) for the columns that have a fill value; NaN fill leaves NaN.
        A = g.op("Where", [g.op("IsNaN", [A]), g.const("fill", fill), A], "imputed")
    A = g.op("Sub", [A, g.const("x_mean", x_mean)], "centred")
    A = g.op("Div", [A, g.const("x_scale", x_scale)], "a0")  # A_0, shape (N, n_0)
    if _is_stack(network):
        A = _stack_body(g, network, A)
    else:
        for l, (W, b, act) in enumerate(zip(network.weights, network.biases, names), start=1):
            # z_l = W_l a_{l−1} + b_l, on rows: Z = A W_lᵀ + b_l, shape (N, n_l)
            Z = g.op("Gemm", [A, g.const(f"W{l}", W), g.const(f"b{l}", b)], f"z{l}", transB=1)
            A = _activation(g, act, Z, l)
    outputs = []
    if kind == "regression":
        if y_mean is None or y_scale is None:
            raise ConfigError("a regression export needs y_mean and y_scale (use zeros and ones for none)")
        y_mean = np.asarray(y_mean, dtype=np.float64).reshape(-1)
        y_scale = np.asarray(y_scale, dtype=np.float64).reshape(-1)
        if y_mean.shape != (n_out,) or y_scale.shape != (n_out,):
            raise ConfigError(f"y_mean and y_scale must have shape ({n_out},), got {y_mean.shape} and {y_scale.shape}")
        Y = g.op("Add", [g.op("Mul", [A, g.const("y_scale", y_scale)]), g.const("y_mean", y_mean)])
        if n_out == 1:
            g.op("Reshape", [Y, g.const("flat", [-1], np.int64)], output="predictions")
            outputs.append(helper.make_tensor_value_info("predictions", TP.FLOAT, ["N"]))
        else:
            g.op("Identity", [Y], output="predictions")
            outputs.append(helper.make_tensor_value_info("predictions", TP.FLOAT, ["N", n_out]))
    elif kind in ("binary", "multiclass"):
        classes = np.asarray(classes)
        if multilabel:
            g.op("Sigmoid", [A], output="probabilities")
            g.op("Cast", [g.op("Greater", [A, g.const("zero", 0.0)])], output="label", to=TP.INT64)  # σ(z) > ½ ⇔ z > 0
            outputs.append(helper.make_tensor_value_info("label", TP.INT64, ["N", n_out]))
            outputs.append(helper.make_tensor_value_info("probabilities", TP.FLOAT, ["N", n_out]))
        else:
            if n_out == 1:
                if classes.shape != (2,):
                    raise ConfigError(f"one output needs exactly 2 classes, got {classes.tolist()!r}")
                p = g.op("Sigmoid", [A], "p1")
                g.op("Concat", [g.op("Sub", [g.const("one", 1.0), p]), p], output="probabilities", axis=1)
                # NOTE: ArgMax over [−z, z] (not over the rounded probabilities): class 1 exactly
                # when z > 0, as predict; a tie (z = 0) takes the first, class 0, as predict.
                scores = g.op("Concat", [g.op("Neg", [A]), A], "scores", axis=1)
            else:
                if classes.shape != (n_out,):
                    raise ConfigError(f"{n_out} outputs need {n_out} classes, got {classes.tolist()!r}")
                g.op("Softmax", [A], output="probabilities", axis=-1)
                scores = A  # softmax is increasing: the largest logit is the most probable class
            index = g.op("ArgMax", [scores], "index", axis=1, keepdims=0)
            if classes.dtype.kind in "biu":
                labels, elem = classes.astype(np.int64), TP.INT64
            elif classes.dtype.kind == "f":
                labels, elem = classes.astype(np.float64), TP.DOUBLE
            else:
                labels, elem = np.array([str(c) for c in classes], dtype=object), TP.STRING
            g.op("Gather", [g.const("classes", labels, dtype=None), index], output="label", axis=0)
            outputs.append(helper.make_tensor_value_info("label", elem, ["N"]))
            outputs.append(helper.make_tensor_value_info("probabilities", TP.FLOAT, ["N", len(classes)]))
    else:
        raise ConfigError(f"kind must be 'regression', 'binary' or 'multiclass', got {kind!r}")
    X = helper.make_tensor_value_info("X", TP.FLOAT, ["N", n_in])
    if feature_names is not None:
        X.doc_string = "features, in this order: " + ", ".join(map(str, feature_names))
    graph = helper.make_graph(g.nodes, "handgrad", [X], outputs, initializer=g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="handgrad",
        producer_version=_version(),
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    meta = {
        "task": "multilabel" if multilabel else kind,
        "layer_sizes": ",".join(map(str, network.layer_sizes)),
        "activations": ",".join(names),
    }
    if _is_stack(network):
        meta["layers"] = network.spec
        meta["input_shape"] = "x".join(map(str, network.input_shape))
    if feature_names is not None:
        meta["feature_names"] = ",".join(map(str, feature_names))
    if classes is not None and kind != "regression":
        meta["classes"] = ",".join(str(c) for c in np.asarray(classes).tolist())
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def _version() -> str:
    from . import __version__

    return str(__version__)


def _write(model, path) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    from .modelfile import atomic_write

    data = model.SerializeToString()
    return atomic_write(Path(path), lambda f: f.write(data), force=True)


def _check_exportable(network) -> None:
    """ConfigError naming the first layer of a stack that has no ONNX form (a layer type registered by a user)."""
    if _is_stack(network):
        for layer in network.layers:
            if not _exportable(layer):
                raise ConfigError(_refusal(layer))


def estimator_to_onnx(est, path=None):
    """The ONNX model of a fitted :class:`~handgrad.estimators.MLPRegressor` / ``MLPClassifier``.

    Written to ``path`` if given (replacing a file there). Returns the ``onnx.ModelProto``;
    run it with ``onnxruntime.InferenceSession(model.SerializeToString())`` on
    ``X.astype(numpy.float32)``.
    """
    if not hasattr(est, "network_"):
        raise ConfigError(f"this {type(est).__name__} is not fitted yet; call fit before exporting it")
    _check_exportable(est.network_)
    names = getattr(est, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    fill = None
    schema = getattr(est, "schema_", None)  # a table's columns (handgrad train, DataFrames, text columns)
    if schema is not None:
        categorical = [c.name for c in schema.columns if c.kind != "numeric"]
        if categorical:
            raise ConfigError(
                f"the model one-hot encodes the categorical column(s) {categorical}; the ONNX export takes "
                "numeric features only (encode those columns as numbers before training, or predict with "
                "'handgrad predict')"
            )
        names = list(schema.feature_names)
        if schema.missing in ("mean", "most_frequent"):
            fill = np.array([math.nan if c.fill is None else float(c.fill) for c in schema.columns])
    common: dict[str, Any] = {"x_mean": est.x_mean_, "x_scale": est.x_scale_, "feature_names": names, "fill": fill}
    if hasattr(est, "classes_"):
        multilabel = bool(getattr(est, "_is_multilabel", False))
        kind = "binary" if est.n_outputs_ == 1 and not multilabel else "multiclass"
        model = build_onnx(
            est.network_, kind=kind, classes=est.classes_, multilabel=multilabel, doc=repr(est), **common
        )
    else:
        model = build_onnx(
            est.network_, kind="regression", y_mean=est.y_mean_, y_scale=est.y_scale_, doc=repr(est), **common
        )
    if path is not None:
        _write(model, path)
    return model


def model_file_to_onnx(model_path, path=None):
    """The ONNX model of a model file: an estimator's ``save`` or ``handgrad train -o``.

    A model whose schema has categorical columns is refused (:class:`ConfigError`):
    the export takes numeric features only.
    """
    from .estimators import load as load_estimator
    from .modelfile import load_model

    loaded = load_model(model_path)
    meta = loaded.metadata or {}
    if meta.get("estimator") in ("MLPRegressor", "MLPClassifier"):
        return estimator_to_onnx(load_estimator(model_path), path)
    if meta.get("schema") is None:
        raise ModelFileError(
            f"{model_path}: a bare network without scaling or schema; export a model written by "
            "'handgrad train -o' or by an estimator's save()"
        )
    from .data import Schema

    schema = Schema.from_dict(meta["schema"])
    categorical = [c.name for c in schema.columns if c.kind != "numeric"]
    if categorical:
        raise ConfigError(
            f"{model_path}: the model one-hot encodes the categorical column(s) {categorical}; the ONNX export "
            "takes numeric features only (encode those columns as numbers before training, or predict with "
            "'handgrad predict')"
        )
    arrays = loaded.arrays
    try:
        x_mean, x_scale = arrays["x_mean"], arrays["x_scale"]
    except KeyError as exc:
        raise ModelFileError(f"{model_path}: the model lacks its input scaling {exc.args[0]!r}") from None
    fill = None
    if schema.missing in ("mean", "most_frequent"):
        fill = np.array([math.nan if c.fill is None else float(c.fill) for c in schema.columns])
    task = schema.task or "regression"
    common: dict[str, Any] = {
        "x_mean": x_mean,
        "x_scale": x_scale,
        "fill": fill,
        "feature_names": schema.feature_names,
        "doc": f"handgrad train model {Path(model_path).name}: target {schema.target!r}",
    }
    net = loaded.network
    _check_exportable(net)
    if task == "regression":
        model = build_onnx(net, kind="regression", y_mean=arrays.get("y_mean"), y_scale=arrays.get("y_scale"), **common)
    else:
        loss = str(meta.get("loss") or "")
        if net.n_outputs == 1 and loss == "binary_crossentropy":
            kind = "binary"
        elif net.n_outputs > 1 and loss == "softmax_crossentropy":
            kind = "multiclass"
        else:
            raise ConfigError(
                f"{model_path}: a {task} model with {net.n_outputs} outputs and loss {loss!r}; the export reads "
                "binary_crossentropy with one output or softmax_crossentropy with one output per class"
            )
        model = build_onnx(net, kind=kind, classes=np.asarray(schema.classes), **common)
    if path is not None:
        _write(model, path)
    return model
