"""ONNX export (handgrad.onnx, est.to_onnx(), ``handgrad export``): the exported graph, run in
onnxruntime on float32 inputs, gives handgrad's predictions to float32 rounding, for every
activation, every loss and every task."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import handgrad  # noqa: E402
from handgrad import Network  # noqa: E402
from handgrad.activations import ACTIVATIONS  # noqa: E402
from handgrad.cli import main  # noqa: E402
from handgrad.errors import ConfigError  # noqa: E402
from handgrad.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from handgrad.onnx import SUPPORTED_ACTIVATIONS, build_onnx, model_file_to_onnx  # noqa: E402


def run(model, X) -> dict[str, np.ndarray]:
    """Outputs of ``model`` (a ModelProto or a path) on ``X`` as float32, by output name."""
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": np.asarray(X, dtype=np.float32)})))


def close_in_float32(got, want, rtol=1e-4):
    """Equal to float32 rounding: relative 1e-4, absolute 1e-5 of the largest magnitude (errors add up over layers)."""
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5 * max(1.0, float(np.abs(want).max())))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)) * np.array([1.0, 10.0, 0.1, 300.0]) + np.array([0.0, 50.0, -1.0, 1000.0])
    S = (X - X.mean(0)) / X.std(0)
    return X, S, rng


def test_the_exporter_covers_every_activation_of_handgrad():
    assert set(SUPPORTED_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_each_activation_matches_numpy_from_minus_100_to_100(activation):
    # 1 → 1 → 1 network, W = 1, b = 0: the graph's hidden value is σ(x) itself, over saturation and overflow ranges.
    net = Network.from_arrays([np.ones((1, 1)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)], activation=activation)
    model = build_onnx(net, kind="regression", x_mean=[0.0], x_scale=[1.0], y_mean=[0.0], y_scale=[1.0])
    x = np.r_[np.linspace(-100, 100, 2001), -3.0, -1e-3, 0.0, 1e-3, 3.0]
    got = run(model, x[:, None])["predictions"]
    want = ACTIVATIONS[activation].function(x.astype(np.float32).astype(np.float64))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(
        got, want, rtol=2e-6, atol=1e-6 * max(1.0, np.abs(want).max()) if activation != "sigmoid" else 1e-7
    )


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_regressor_every_activation(activation, data):
    X, S, _ = data
    y = 300 * np.sin(S[:, 0]) + 40 * S[:, 1] * S[:, 2] + 7
    est = MLPRegressor(hidden_layer_sizes=(9, 7), activation=activation, max_iter=30, random_state=1).fit(X, y)
    out = run(est.to_onnx(), X)
    assert set(out) == {"predictions"} and out["predictions"].shape == (len(X),)
    close_in_float32(out["predictions"], est.predict(X))


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regressor_each_loss_multi_output(loss, data):
    X, S, _ = data
    Y = np.column_stack([S[:, 0] * 5 + 1, np.tanh(S[:, 1]) * 0.01, S[:, 3] ** 2 * 1e3])
    est = MLPRegressor(hidden_layer_sizes=(10,), activation="tanh", loss=loss, max_iter=30, random_state=2).fit(X, Y)
    out = run(est.to_onnx(), X)["predictions"]
    assert out.shape == (len(X), 3)
    for j in range(3):  # each output in its own units (scales 1e-2 to 1e3)
        close_in_float32(out[:, j], est.predict(X)[:, j])


@pytest.mark.parametrize("labels", [np.array([0, 1]), np.array(["no", "yes"]), np.array([-1.0, 2.0])])
def test_binary_classifier_probabilities_and_labels(labels, data):
    X, S, rng = data
    y = labels[(S[:, 0] + 0.5 * S[:, 1] + 0.3 * rng.normal(size=len(S)) > 0).astype(int)]
    est = MLPClassifier(hidden_layer_sizes=(8,), activation="gelu", max_iter=40, random_state=0).fit(X, y)
    out = run(est.to_onnx(), X)
    close_in_float32(out["probabilities"], est.predict_proba(X))
    assert out["probabilities"].shape == (len(X), 2)
    # Labels: identical except where the logit is within float32 rounding of 0.
    z = est._network_output(X)[:, 0]
    clear = np.abs(z) > 1e-4
    assert clear.mean() > 0.95
    assert np.array_equal(np.asarray(out["label"])[clear], est.predict(X)[clear])
    assert set(np.asarray(out["label"]).tolist()) <= set(labels.tolist())


def test_multiclass_classifier(data):
    X, S, _ = data
    classes = np.array([3, 7, 9, 11])
    y = classes[np.digitize(S[:, 0] + S[:, 1], [-1.0, 0.0, 1.0])]
    est = MLPClassifier(hidden_layer_sizes=(12, 6), activation="elu", max_iter=40, random_state=0).fit(X, y)
    out = run(est.to_onnx(), X)
    close_in_float32(out["probabilities"], est.predict_proba(X))
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-6)
    assert out["label"].dtype == np.int64
    P = est.predict_proba(X)
    top2 = np.sort(P, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert np.array_equal(out["label"][clear], est.predict(X)[clear])


def test_multilabel_classifier(data):
    X, S, _ = data
    Y = np.column_stack([S[:, 0] > 0, S[:, 1] > 0.5, S[:, 2] + S[:, 3] > 0]).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0).fit(X, Y)
    out = run(est.to_onnx(), X)
    close_in_float32(out["probabilities"], est.predict_proba(X))
    z = est._network_output(X)
    clear = (np.abs(z) > 1e-4).all(axis=1)
    assert np.array_equal(out["label"][clear], est.predict(X)[clear])


def test_float32_network_and_file_round_trip(data, tmp_path):
    X, S, _ = data
    est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=10, dtype="float32", random_state=0).fit(X, S[:, 0])
    path = tmp_path / "m.onnx"
    est.to_onnx(path)
    loaded = onnx.load(str(path))
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props["task"] == "regression" and props["layer_sizes"] == "4,6,1"
    close_in_float32(run(path, X)["predictions"], est.predict(X))


def test_unfitted_and_missing_package(monkeypatch, data):
    with pytest.raises(ConfigError, match="not fitted"):
        MLPRegressor().to_onnx()
    X, S, _ = data
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, S[:, 0])
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    with pytest.raises(ConfigError, match=r'pip install "handgrad\[onnx\]"'):
        est.to_onnx()


def test_custom_activation_is_refused():
    from handgrad.activations import Activation

    cube = Activation("cube", lambda z: z**3, lambda z: 3 * z**2)
    net = Network([2, 3, 1], activation=cube, random_state=0)
    with pytest.raises(ConfigError, match="'cube'"):
        build_onnx(net, kind="regression", x_mean=[0, 0], x_scale=[1, 1], y_mean=[0], y_scale=[1])


# ------------------------------------------------------------------ command line
def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_cli_export_of_a_train_model_with_missing_values(tmp_path, data, capsys):
    X, S, rng = data
    y = 3 * S[:, 0] - S[:, 1] + 0.1 * rng.normal(size=len(S))
    rows = [
        [*(("" if (i + j) % 17 == 0 else f"{v:.6g}") for j, v in enumerate(x)), f"{t:.6g}"]
        for i, (x, t) in enumerate(zip(X, y))
    ]
    train = _write_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "target"], rows)
    model = tmp_path / "m.npz"
    args = ["train", "--train", train, "--target", "target", "--missing", "mean", "--hidden", "8", "--epochs", "5"]
    assert main([*map(str, args), "--quiet", "-o", str(model)]) == 0
    out_path = tmp_path / "m.onnx"
    assert main(["export", str(model), "-o", str(out_path)]) == 0
    assert "ONNX model written" in capsys.readouterr().out
    # A second export refuses to overwrite without --force (exit 2, the file kept).
    before = out_path.read_bytes()
    assert main(["export", str(model), "-o", str(out_path)]) == 2
    assert out_path.read_bytes() == before
    est = handgrad.load(model)  # what handgrad train wrote: the estimator
    Xn = X.copy()
    Xn[::10, 1] = np.nan  # the graph replaces NaN by the stored fill value, as the CSV loader does
    fill = np.array([c.fill for c in est.schema_.columns], dtype=float)
    Xf = np.where(np.isnan(Xn), fill, Xn)
    close_in_float32(run(out_path, Xn)["predictions"], est.predict(Xf))


def test_cli_export_of_a_classifier_with_text_labels(tmp_path, data):
    X, S, _ = data
    labels = np.array(["low", "mid", "high"])[np.digitize(S[:, 0], [-0.5, 0.5])]
    rows = [[*(f"{v:.17g}" for v in x), lab] for x, lab in zip(X, labels)]
    train = _write_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "kind"], rows)
    model = tmp_path / "c.npz"
    assert (
        main(
            [
                "train",
                "--train",
                str(train),
                "--target",
                "kind",
                "--hidden",
                "8",
                "--epochs",
                "10",
                "--quiet",
                "-o",
                str(model),
            ]
        )
        == 0
    )
    proto = model_file_to_onnx(model)
    out = run(proto, X)
    est = handgrad.load(model)
    P = est.predict_proba(X)
    close_in_float32(out["probabilities"], P)
    top2 = np.sort(P, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert out["label"].dtype == object
    want = np.array([str(est.classes_[k]) for k in P.argmax(axis=1)], dtype=object)
    assert np.array_equal(out["label"][clear], want[clear])


def test_cli_export_refuses_categorical_inputs(tmp_path, capsys):
    rows = [[i % 5, ["red", "green"][i % 2], i * 0.5] for i in range(40)]
    train = _write_csv(tmp_path / "train.csv", ["x", "colour", "y"], rows)
    model = tmp_path / "cat.npz"
    assert (
        main(
            [
                "train",
                "--train",
                str(train),
                "--target",
                "y",
                "--hidden",
                "4",
                "--epochs",
                "2",
                "--quiet",
                "-o",
                str(model),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", str(model), "-o", str(tmp_path / "cat.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("handgrad: error: ") and "colour" in err and "numeric features only" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "cat.onnx").exists()


def test_cli_export_of_an_estimator_file(tmp_path, data):
    X, S, _ = data
    est = MLPRegressor(hidden_layer_sizes=(5,), activation="softplus", max_iter=10, random_state=0).fit(X, S[:, 2])
    est.save(tmp_path / "e.npz")
    assert main(["export", str(tmp_path / "e.npz"), "-o", str(tmp_path / "e.onnx")]) == 0
    close_in_float32(run(tmp_path / "e.onnx", X)["predictions"], est.predict(X))


def test_export_help_and_a_missing_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "handgrad export model.npz -o model.onnx" in out
    assert main(["export", str(tmp_path / "absent.npz"), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("handgrad: error: ") and "absent.npz" in err
    assert not (tmp_path / "m.onnx").exists()
