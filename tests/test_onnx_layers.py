"""ONNX export of layer stacks (handgrad.layers): every layer type and option, exported from a trained
estimator and run in onnxruntime on float32 inputs, gives ``predict`` / ``predict_proba`` to float32
rounding; and ``handgrad export`` on a layered model file through the command line."""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import handgrad  # noqa: E402
from handgrad.errors import ConfigError  # noqa: E402
from handgrad.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from handgrad.layers import Dense, Layer, LayerStack  # noqa: E402
from handgrad.layers.normalization import BatchNorm  # noqa: E402
from handgrad.onnx import build_onnx  # noqa: E402
from test_onnx import close_in_float32, run  # noqa: E402  (the same onnxruntime helpers)


def images(rng, n, shape):
    """``n`` rows of images of ``shape`` flattened (C order), with a per-pixel offset and scale (the input scaling matters)."""
    d = int(np.prod(shape))
    return rng.normal(size=(n, d)) * rng.uniform(0.5, 5.0, size=d) + rng.uniform(-20, 20, size=d)


def target(X):
    """A smooth regression target of the rows of ``X`` that depends on many pixels, in units far from 1."""
    S = (X - X.mean(0)) / X.std(0)
    k = S.shape[1]
    return 50 * np.tanh(S[:, : k // 2].mean(1) * 3) + 20 * S[:, k // 3] * S[:, -1] + 300


# Each option of each layer type, on 2x7x7 images (odd sides: floor-mode pooling drops the last row and column).
IMAGE_STACKS = [
    "conv(3,3x3)-relu",
    "conv(3,3x3,pad=1)-tanh",
    "conv(3,3x3,pad=same)-elu",
    "conv(3,3x3,stride=2,pad=1)-relu",
    "conv(2,3x5,pad=1x2)-gelu",
    "conv(2,2x3,stride=2x1)-sigmoid",
    "conv(3,3x3,pad=1)-leaky_relu-maxpool(2)",
    "conv(3,3x3)-softplus-maxpool(3,stride=2)",
    "maxpool(2,stride=1)-conv(2,2x2)",
    "avgpool(2)-dense(6)-relu",
    "avgpool(3,stride=2)-conv(2,2x2)-tanh",
    "conv(3,3x3,pad=1)-relu-avgpool(2x3,stride=1x2)",
    "relu-conv(2,3x3)-tanh",
    "conv(3,3x3)-maxpool(2)-tanh",
    "dropout(0.3)-conv(3,3x3)-relu-dropout(0.5)-dense(5)-relu-dropout(0.2)",
    "conv(3,3x3,pad=1)-layernorm-relu",
    "conv(3,3x3)-relu-layernorm(eps=0.1)-maxpool(2)",
]

# Every recurrent option on sequences of 6 steps of 4 features.
SEQUENCE_STACKS = [
    "rnn(5)",
    "rnn(5,seq)",
    "lstm(5)",
    "lstm(5,seq)",
    "lstm(6,seq)-lstm(4)",
    "rnn(5,seq)-rnn(3)",
    "rnn(4,seq)-lstm(3,seq)-dense(5)-relu",
    "lstm(4,seq)-layernorm-rnn(3)",
    "lstm(4,seq)-tanh-dropout(0.1)",
    "layernorm-lstm(4)",
    "dropout(0.2)-rnn(4)-dense(3)-elu",
]

VECTOR_STACKS = [
    "dense(8)-relu-layernorm-dense(4)-tanh",
    "layernorm(eps=0.5)-dense(6)-sigmoid",
    "dense(8)-relu-dropout(0.4)-dense(6)-softplus",
]


@pytest.fixture(scope="module")
def image_data():
    rng = np.random.default_rng(0)
    X = images(rng, 90, (2, 7, 7))
    return X, target(X)


@pytest.fixture(scope="module")
def sequence_data():
    rng = np.random.default_rng(1)
    X = images(rng, 90, (6, 4))
    return X, target(X)


def check_regressor(layers, input_shape, X, y, **kw):
    est = MLPRegressor(layers=layers, input_shape=input_shape, max_iter=4, random_state=0, **kw).fit(X, y)
    assert est.network_.spec.startswith(est.network_.layers[0].spec())  # a LayerStack, not a Network
    out = run(est.to_onnx(), X)
    assert set(out) == {"predictions"}
    want = est.predict(X)
    assert np.std(want) > 1e-3  # a trained, input-dependent model: the comparison means something
    close_in_float32(out["predictions"], want)
    return est


@pytest.mark.parametrize("layers", IMAGE_STACKS)
def test_image_layers_regressor(layers, image_data):
    X, y = image_data
    check_regressor(layers, "2x7x7", X, y)


@pytest.mark.parametrize("layers", SEQUENCE_STACKS)
def test_sequence_layers_regressor(layers, sequence_data):
    X, y = sequence_data
    check_regressor(layers, "6x4", X, y)


@pytest.mark.parametrize("layers", VECTOR_STACKS)
def test_vector_layers_regressor(layers, image_data):
    X, y = image_data
    check_regressor(layers, None, X[:, :12], y)


def test_multi_output_regressor_through_an_lstm(sequence_data):
    X, y = sequence_data
    Y = np.column_stack([y, -0.01 * y, np.sin(X[:, 3])])
    est = MLPRegressor(layers="lstm(6,seq)-lstm(4)", input_shape="6x4", max_iter=4, random_state=0).fit(X, Y)
    out = run(est.to_onnx(), X)["predictions"]
    assert out.shape == (len(X), 3)
    for j in range(3):
        close_in_float32(out[:, j], est.predict(X)[:, j])


@pytest.mark.parametrize(
    "layers, input_shape, scale_inputs",
    [
        ("conv(3,3x3,pad=1)-batchnorm-relu-maxpool(2)", "2x7x7", True),  # per channel, over H, W and the batch
        ("conv(3,3x3)-relu-batchnorm(momentum=0.5,eps=0.01)", "2x7x7", True),
        ("dense(8)-tanh-batchnorm-dense(4)-relu", None, True),  # per feature
        ("batchnorm-conv(2,3x3)-relu", "2x7x7", False),  # on the raw input itself (statistics far from 0 and 1)
    ],
)
def test_batchnorm_with_running_statistics_from_training(layers, input_shape, scale_inputs, image_data):
    X, y = image_data
    if input_shape is None:
        X = X[:, :12]
    est = check_regressor(layers, input_shape, X, y, batch_size=16, scale_inputs=scale_inputs)
    norms = [x for x in est.network_.layers if isinstance(x, BatchNorm)]
    assert norms
    for bn in norms:
        # trained a few epochs: the running statistics have moved from their start (0 and 1)
        assert np.abs(bn.running_var - 1).max() > 1e-2
    # and they matter: the same model with the statistics reset predicts otherwise (beyond the tolerance)
    reset = copy.deepcopy(est)
    for bn in (x for x in reset.network_.layers if isinstance(x, BatchNorm)):
        bn.running_mean, bn.running_var = np.zeros_like(bn.running_mean), np.ones_like(bn.running_var)
    assert not np.allclose(reset.predict(X), est.predict(X), rtol=1e-3)


def test_lstm_gate_order_matters(sequence_data):
    """The exporter's gate permutation is needed: the graph without it does not match (the test can fail)."""
    import handgrad.onnx as hx

    X, y = sequence_data
    est = MLPRegressor(layers="lstm(5)", input_shape="6x4", max_iter=4, random_state=0).fit(X, y)
    close_in_float32(run(est.to_onnx(), X)["predictions"], est.predict(X))
    order = hx._LSTM_GATE_ORDER
    try:
        hx._LSTM_GATE_ORDER = (0, 1, 2, 3)  # handgrad's order i, f, g, o read as ONNX's i, o, f, c
        wrong = run(est.to_onnx(), X)["predictions"]
    finally:
        hx._LSTM_GATE_ORDER = order
    assert not np.allclose(wrong, est.predict(X), rtol=1e-3)


def test_an_lstm_graph_runs_on_zero_rows(sequence_data, tmp_path):
    """onnxruntime aborts the process on an LSTM over zero sequences; the exported graph pads one and drops it.

    Run in a subprocess: without the guard the abort would take pytest down with it.
    """
    X, y = sequence_data
    est = MLPRegressor(layers="lstm(4,seq)-lstm(3)", input_shape="6x4", max_iter=2, random_state=0).fit(X, y)
    est.to_onnx(tmp_path / "lstm.onnx")
    code = (
        "import numpy as np, onnxruntime as ort, sys; "
        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
        "print(s.run(None, {'X': np.zeros((0, 24), np.float32)})[0].shape)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lstm.onnx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(0,)"
    close_in_float32(run(tmp_path / "lstm.onnx", X[:1])["predictions"], est.predict(X[:1]))


# ------------------------------------------------------------------ classifiers
@pytest.fixture(scope="module")
def digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    return X[:300], y[:300]


def check_classifier(est, X):
    out = run(est.to_onnx(), X)
    P = est.predict_proba(X)
    close_in_float32(out["probabilities"], P)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    # Labels: identical except where the two most probable classes are within float32 rounding.
    top2 = np.sort(P, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.mean() > 0.9
    assert np.array_equal(np.asarray(out["label"])[clear], est.predict(X)[clear])
    return out


def test_multiclass_cnn_on_digits(digits):
    X, y = digits
    est = MLPClassifier(
        layers="conv(4,3x3,pad=1)-relu-maxpool(2)-dense(16)-relu-dropout(0.2)",
        input_shape="1x8x8",
        max_iter=15,
        random_state=0,
    ).fit(X, y)
    out = check_classifier(est, X)
    assert out["probabilities"].shape == (len(X), 10) and out["label"].dtype == np.int64
    assert (out["label"] == y).mean() > 0.5  # it learned something: the comparison is not of constant outputs


def test_multiclass_lstm_on_digit_rows_with_text_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    est = MLPClassifier(layers="lstm(12)", input_shape="8x8", max_iter=5, random_state=0).fit(X, names[y])
    out = check_classifier(est, X)
    assert set(np.asarray(out["label"]).tolist()) <= set(names.tolist())


@pytest.mark.parametrize(
    "layers, input_shape",
    [("conv(3,3x3)-relu-batchnorm-avgpool(2)", "2x7x7"), ("rnn(6,seq)-lstm(4)", "6x4")],
)
def test_binary_classifier(layers, input_shape, image_data, sequence_data):
    X, y = image_data if input_shape == "2x7x7" else sequence_data
    labels = np.array(["no", "yes"])[(y > np.median(y)).astype(int)]
    est = MLPClassifier(layers=layers, input_shape=input_shape, max_iter=5, random_state=0).fit(X, labels)
    out = run(est.to_onnx(), X)
    assert out["probabilities"].shape == (len(X), 2)
    close_in_float32(out["probabilities"], est.predict_proba(X))
    z = est._network_output(X)[:, 0]
    clear = np.abs(z) > 1e-4
    assert clear.mean() > 0.9
    assert np.array_equal(np.asarray(out["label"])[clear], est.predict(X)[clear])


def test_multilabel_classifier_through_a_recurrent_layer(sequence_data):
    X, y = sequence_data
    S = (X - X.mean(0)) / X.std(0)
    Y = np.column_stack([S[:, 0] > 0, S[:, 5] + S[:, 9] > 0, y > np.median(y)]).astype(int)
    est = MLPClassifier(layers="rnn(6,seq)-lstm(4)", input_shape="6x4", max_iter=5, random_state=0).fit(X, Y)
    out = run(est.to_onnx(), X)
    close_in_float32(out["probabilities"], est.predict_proba(X))
    z = est._network_output(X)
    clear = (np.abs(z) > 1e-4).all(axis=1)
    assert clear.mean() > 0.9
    assert np.array_equal(out["label"][clear], est.predict(X)[clear])


def test_float32_layer_stack(image_data):
    X, y = image_data
    est = check_regressor("conv(3,3x3,pad=1)-relu-batchnorm-avgpool(2)-layernorm", "2x7x7", X, y, dtype="float32")
    assert est.network_.dtype == np.float32


def test_metadata_names_the_layers(image_data, tmp_path):
    X, y = image_data
    est = MLPRegressor(layers="conv(2,3x3)-relu-maxpool(2)", input_shape="2x7x7", max_iter=2, random_state=0)
    est.fit(X, y)
    path = tmp_path / "m.onnx"
    est.to_onnx(path)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["layers"] == "conv(2,3x3)-relu-maxpool(2)-dense(1)"
    assert props["input_shape"] == "2x7x7"
    assert props["layer_sizes"] == "98,50,8,1"  # 2x7x7, conv 3x3 → 2x5x5, maxpool(2) → 2x2x2
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Reshape", "Conv", "Relu", "MaxPool", "Flatten", "Gemm"} <= ops


def test_a_layer_without_an_onnx_form_is_refused_by_name():
    class Square(Layer):
        kind = "square"

        def forward(self, a, params, training):
            return a * a

    stack = LayerStack([Square(), Dense(1)], input_shape=3, random_state=0)
    with pytest.raises(ConfigError, match=r"'square'.*Square"):
        build_onnx(stack, kind="regression", x_mean=np.zeros(3), x_scale=np.ones(3), y_mean=[0.0], y_scale=[1.0])


# ------------------------------------------------------------------ command line
def cli(*args, cwd):
    """``python -m handgrad ARGS`` in a subprocess (the worktree's code: PYTHONPATH is inherited)."""
    env = dict(os.environ)
    if env.get("PYTHONPATH"):  # a relative PYTHONPATH=src must still point at this checkout from another cwd
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    return subprocess.run(
        [sys.executable, "-m", "handgrad", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_export_of_a_layered_train_model(tmp_path, sequence_data):
    X, y = sequence_data
    with open(tmp_path / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{j}" for j in range(X.shape[1])] + ["target"])
        w.writerows([[*(f"{v:.17g}" for v in row), f"{t:.17g}"] for row, t in zip(X, y)])
    model = tmp_path / "m.npz"
    r = cli(
        "train",
        "--train",
        "train.csv",
        "--target",
        "target",
        "--layers",
        "lstm(5,seq)-rnn(4)",
        "--input-shape",
        "6x4",
        "--epochs",
        "3",
        "--quiet",
        "-o",
        model,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    r = cli("export", model, "-o", "m.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ONNX model written" in r.stdout
    est = handgrad.load(model)
    close_in_float32(run(tmp_path / "m.onnx", X)["predictions"], est.predict(X))


def test_cli_export_of_a_layered_estimator_file(tmp_path, digits):
    X, y = digits
    est = MLPClassifier(layers="conv(3,3x3,pad=1)-relu-batchnorm-maxpool(2)", input_shape="1x8x8", max_iter=3)
    est.set_params(random_state=0).fit(X, y)
    est.save(tmp_path / "cnn.npz")
    r = cli("export", "cnn.npz", "-o", "cnn.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    close_in_float32(run(tmp_path / "cnn.onnx", X)["probabilities"], est.predict_proba(X))
