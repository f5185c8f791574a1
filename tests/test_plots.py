"""Tests of handgrad.plots: every picture is a valid image of figsize × dpi pixels,
says what it should (checked in SVG text, with metrics computed independently),
and bad input raises a handgrad error before anything is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import matplotlib as mpl
import numpy as np
import pytest
from PIL import Image

from handgrad import Network
from handgrad.errors import ConfigError, HandgradError, NonFiniteError, ShapeError
from handgrad.plots import (
    FitRecorder,
    PlotDependencyError,
    animate_fit_1d,
    plot_activations,
    plot_decision_boundary,
    plot_fit_1d,
    plot_loss_curves,
    plot_predicted_vs_actual,
)

# Small images keep the tests fast: 3 × 2 inches at 40 dpi = 120 × 80 pixels.
SMALL = {"figsize": (3, 2), "dpi": 40}

HISTORY = {
    "train_loss": [3.0, 2.0, 1.5, 1.2, 1.0, 0.9, 0.85, 0.8],
    "val_loss": [3.2, 2.3, 1.7, None, 1.3, 1.25, 1.3, 1.35],
}


def image_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()  # a truncated or corrupt file fails here
    with Image.open(path) as im:
        return im.size


def svg_text(plot, *args, path, **kwargs) -> str:
    """Draw to SVG with text kept as text (not glyph paths), so that the words can be searched."""
    with mpl.rc_context({"svg.fonttype": "none"}):
        plot(*args, path, **kwargs)
    return path.read_text(encoding="utf-8")


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def sine():
    rng = np.random.default_rng(0)
    x = np.linspace(-np.pi, np.pi, 60)
    return x, np.sin(x) + 0.05 * rng.normal(size=x.shape)


@pytest.fixture
def quadrants():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(80, 2))
    return X, (X[:, 0] > 0).astype(int)


# ------------------------------------------------------------------ loss curves
class FakeHistory:
    """The training loop's History, as far as the plots use it: ``.epochs``, a list of dicts."""

    def __init__(self, epochs):
        self.epochs = epochs


def rows(history):
    return [
        {"epoch": i + 1, "train_loss": t, "val_loss": v}
        for i, (t, v) in enumerate(zip(history["train_loss"], history["val_loss"]))
    ]


@pytest.mark.parametrize(
    "history",
    [HISTORY, rows(HISTORY), FakeHistory(rows(HISTORY)), {"epochs": rows(HISTORY), "settings": {}}],
    ids=["dict-of-lists", "list-of-dicts", "object-with-epochs", "to_dict"],
)
def test_loss_curves_every_history_form_gives_an_image_of_figsize_times_dpi(tmp_path, history):
    out = plot_loss_curves(history, tmp_path / "loss.png", **SMALL)
    assert out == tmp_path / "loss.png"
    assert image_size(out) == (120, 80)


def test_loss_curves_default_size_is_640_by_400(tmp_path):
    assert image_size(plot_loss_curves(HISTORY, tmp_path / "loss.png")) == (640, 400)


def test_loss_curves_mark_the_epoch_of_lowest_validation_loss(tmp_path):
    # Validation is lowest at epoch 6 (1.25) although the train loss keeps falling to epoch 8.
    text = svg_text(plot_loss_curves, HISTORY, path=tmp_path / "loss.svg")
    assert "best: epoch 6 (validation 1.25)" in text
    assert "validation" in text and "train" in text
    assert "log scale" not in text  # 0.8 … 3.2: less than a decade, a linear axis


def test_loss_curves_without_validation_mark_the_lowest_train_loss(tmp_path):
    history = {"train_loss": [2.0, 0.5, 0.7]}
    text = svg_text(plot_loss_curves, history, path=tmp_path / "loss.svg")
    assert "best: epoch 2 (train 0.5)" in text


def test_loss_curves_validation_every_k_epochs_and_custom_epoch_numbers(tmp_path):
    # The seed prints the validation loss every 10 epochs: None in between.
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": (2 / e if e % 10 == 0 else None)} for e in range(1, 31)]
    text = svg_text(plot_loss_curves, history, path=tmp_path / "loss.svg")
    assert "best: epoch 30 (validation 0.06667)" in text


def test_loss_curves_survive_a_diverged_epoch_and_use_log_scale_over_decades(tmp_path):
    history = {"train_loss": [1000.0, 10.0, 0.1, float("inf")], "val_loss": [900.0, 12.0, 0.2, float("nan")]}
    text = svg_text(plot_loss_curves, history, path=tmp_path / "loss.svg")
    assert "log scale" in text  # chosen automatically: the losses span four decades
    assert "best: epoch 3 (validation 0.2)" in text


def test_loss_curves_title_and_forced_linear_scale(tmp_path):
    history = {"train_loss": [1000.0, 0.1]}
    text = svg_text(plot_loss_curves, history, path=tmp_path / "loss.svg", log_scale=False, title="My run")
    assert "My run" in text and "log scale" not in text


@pytest.mark.parametrize(
    ("history", "error", "words"),
    [
        ({"train_loss": []}, HandgradError, "empty"),
        ([], HandgradError, "empty"),
        (FakeHistory([]), HandgradError, "empty"),
        ({"train_loss": [1.0, 2.0], "val_loss": [1.0]}, ShapeError, "differ in length"),
        ({"accuracy": [0.5]}, HandgradError, "no loss"),
        ({"train_loss": [None, None], "val_loss": [None, None]}, HandgradError, "no finite loss"),
        ({"train_loss": ["a lot"]}, HandgradError, "not a number"),
        ([{"epoch": 1, "train_loss": 1.0}, 3.0], HandgradError, "history entry 1"),
        (42, HandgradError, "got int"),
    ],
)
def test_loss_curves_bad_history_raises_and_writes_nothing(tmp_path, history, error, words):
    with pytest.raises(error, match=words):
        plot_loss_curves(history, tmp_path / "loss.png")
    assert listing(tmp_path) == []


def test_loss_curves_log_scale_with_a_zero_loss_is_an_error(tmp_path):
    with pytest.raises(HandgradError, match="positive"):
        plot_loss_curves({"train_loss": [1.0, 0.0]}, tmp_path / "loss.png", log_scale=True)
    assert listing(tmp_path) == []


# ------------------------------------------------------------------ predicted vs actual
def test_predicted_vs_actual_title_has_r2_and_mse_computed_independently(tmp_path):
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    y_hat = y + 0.3 * rng.normal(size=50)
    text = svg_text(plot_predicted_vs_actual, y, y_hat, path=tmp_path / "pva.svg")
    assert f"R² = {r2_score(y, y_hat):.3f}" in text
    assert f"MSE = {mean_squared_error(y, y_hat):.4g}" in text


def test_predicted_vs_actual_one_panel_per_output_sets_the_default_width(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 3))
    assert image_size(plot_predicted_vs_actual(y, y + 0.1, tmp_path / "a.png", dpi=20)) == (3 * 90, 90)
    # (n,) goes with (n, 1): a 1-D target is one output.
    out = plot_predicted_vs_actual(y[:, 0], y[:, :1], tmp_path / "b.png", **SMALL)
    assert image_size(out) == (120, 80)


def test_predicted_vs_actual_caps_the_panels_and_says_so(tmp_path):
    y = np.random.default_rng(4).normal(size=(20, 6))
    text = svg_text(plot_predicted_vs_actual, y, y, path=tmp_path / "pva.svg", dpi=20)
    assert "first 4 of 6 outputs" in text
    assert "output 4:" in text and "output 5:" not in text


def test_predicted_vs_actual_constant_target_has_no_r2(tmp_path):
    text = svg_text(plot_predicted_vs_actual, np.ones(5), np.arange(5.0), path=tmp_path / "pva.svg")
    assert "R² = n/a" in text
    assert "MSE = 3," in text or "MSE = 3<" in text  # ((0-1)² + 0² + 1² + 2² + 3²) / 5 = 15 / 5


@pytest.mark.parametrize(
    ("y_true", "y_pred", "error", "words"),
    [
        (np.zeros(5), np.zeros(4), ShapeError, r"\(5,\).*\(4,\)"),
        (np.zeros((5, 2)), np.zeros((5, 3)), ShapeError, "must match"),
        (np.zeros((5, 2)), np.zeros(5), ShapeError, "must match"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), ShapeError, "n_samples"),
        (np.zeros(0), np.zeros(0), ShapeError, "empty"),
        (np.array([1.0, np.nan]), np.zeros(2), NonFiniteError, "y_true"),
        (np.zeros(2), ["a", "b"], ShapeError, "numeric"),
    ],
)
def test_predicted_vs_actual_bad_shapes_raise_and_write_nothing(tmp_path, y_true, y_pred, error, words):
    with pytest.raises(error, match=words):
        plot_predicted_vs_actual(y_true, y_pred, tmp_path / "pva.png")
    assert listing(tmp_path) == []


# ------------------------------------------------------------------ 1-D fit and its animation
def test_fit_1d_draws_the_data_and_the_curve(tmp_path, sine):
    x, y = sine
    out = plot_fit_1d(lambda X: np.sin(X[:, 0]), x, y, tmp_path / "fit.png", **SMALL)
    assert image_size(out) == (120, 80)
    # A Network is a callable (n, 1) → (n, 1); x as a column works too.
    net = Network([1, 8, 1], activation="tanh", random_state=0)
    out = plot_fit_1d(net, x[:, None], y, tmp_path / "net.png", x_grid=np.linspace(-4, 4, 50))
    assert image_size(out) == (640, 400)


def test_fit_1d_accepts_an_object_with_predict(tmp_path, sine):
    class Model:
        def predict(self, X):
            return np.zeros(X.shape[0])

    assert image_size(plot_fit_1d(Model(), *sine, tmp_path / "fit.png", **SMALL)) == (120, 80)


@pytest.mark.parametrize(
    ("predict", "x", "y", "error", "words"),
    [
        (lambda X: X[:, 0], np.zeros((5, 2)), np.zeros(5), ShapeError, "one input feature"),
        (lambda X: X[:, 0], np.zeros(5), np.zeros(4), ShapeError, "5 samples but y has 4"),
        (lambda X: np.hstack([X, X]), np.zeros(5), np.zeros(5), ShapeError, "one output"),
        (lambda X: X[:, 0] / 0, np.ones(5), np.zeros(5), NonFiniteError, "prediction"),
        ("not callable", np.zeros(5), np.zeros(5), ConfigError, "callable"),
    ],
)
def test_fit_1d_bad_input_raises_and_writes_nothing(tmp_path, predict, x, y, error, words):
    with np.errstate(all="ignore"), pytest.raises(error, match=words):
        plot_fit_1d(predict, x, y, tmp_path / "fit.png")
    assert listing(tmp_path) == []


def gif_frames(path) -> tuple[tuple[int, int], int, list[int]]:
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        return im.size, im.n_frames, durations


def test_animation_of_arrays_has_one_frame_per_snapshot(tmp_path, sine):
    x, y = sine
    grid = np.linspace(-3.5, 3.5, 40)
    snapshots = [(epoch, (epoch / 5) * np.sin(grid)) for epoch in range(6)]
    out = animate_fit_1d(snapshots, x, y, tmp_path / "fit.gif", x_grid=grid, fps=10, hold_last=0, **SMALL)
    size, n_frames, durations = gif_frames(out)
    assert size == (120, 80)
    assert n_frames == 6
    assert durations[0] == 100  # 10 frames per second


def test_animation_holds_the_last_frame_without_extra_frames(tmp_path, sine):
    x, y = sine
    grid = np.linspace(-3.5, 3.5, 40)
    snapshots = [(0, 0 * grid), (1, np.sin(grid))]
    out = animate_fit_1d(snapshots, x, y, tmp_path / "fit.gif", x_grid=grid, fps=10, hold_last=1.0, **SMALL)
    _, n_frames, durations = gif_frames(out)
    assert n_frames == 2
    assert durations[-1] >= 1000  # the last frame shows for its own 0.1 s plus the 1 s hold


def test_animation_of_callables_subsampled_to_max_frames(tmp_path, sine):
    x, y = sine
    snapshots = [(e, (lambda a: lambda X: a * np.sin(X[:, 0]))(e / 30)) for e in range(31)]
    grid = np.linspace(-3.5, 3.5, 30)
    out = animate_fit_1d(snapshots, x, y, tmp_path / "fit.gif", x_grid=grid, max_frames=5, hold_last=0, **SMALL)
    assert gif_frames(out)[1] == 5


def train_sine_by_hand(net, x, y, recorder, epochs=30, lr=0.05):
    """Full-batch gradient descent through the engine, calling the recorder as the training loop would."""
    recorder.on_train_begin({"network": net})
    for epoch in range(1, epochs + 1):
        g = net.gradients(x[:, None], y, loss="mse")
        for p, dp in zip(net.parameters(), g):
            p -= lr * dp  # in place: the recorder sees the live network
        assert recorder.on_epoch_end(epoch, {"train_loss": g.loss}) is None
    recorder.on_train_end(None)


def test_fit_recorder_records_a_training_run_and_animates_it(tmp_path, sine):
    x, y = sine
    net = Network([1, 16, 1], activation="tanh", random_state=0)
    recorder = FitRecorder(net, np.linspace(-3.5, 3.5, 50), every=10)
    train_sine_by_hand(net, x, y, recorder, epochs=25)
    assert [epoch for epoch, _ in recorder.snapshots] == [0, 10, 20, 25]
    curves = [curve for _, curve in recorder.snapshots]
    assert all(c.shape == (50,) for c in curves)
    assert not np.allclose(curves[0], curves[-1])  # the curve moved: copies, not views of one array
    out = recorder.animate(x, y, tmp_path / "train.gif", hold_last=0, **SMALL)
    assert gif_frames(out)[:2] == ((120, 80), 4)


def test_fit_recorder_and_loss_curves_with_the_real_training_loop(tmp_path, sine):
    from handgrad.training import History, train

    x, y = sine
    net = Network([1, 16, 1], activation="tanh", random_state=0)
    recorder = FitRecorder(net, np.linspace(-3.5, 3.5, 40), every=4)
    history = train(
        net, x[:, None], y, optimizer="adam", lr=0.02, epochs=10, batch_size=16,
        validation_fraction=0.2, callbacks=[recorder], random_state=0,
    )  # fmt: skip
    assert isinstance(history, History) and len(history) == 10
    assert [epoch for epoch, _ in recorder.snapshots] == [0, 4, 8, 10]
    assert gif_frames(recorder.animate(x, y, tmp_path / "fit.gif", hold_last=0, **SMALL))[1] == 4
    best = history.best_epoch  # the training module's own choice, compared with the picture's
    val = history["val_loss"][best - 1]
    text = svg_text(plot_loss_curves, history, path=tmp_path / "loss.svg")
    assert f"best: epoch {best} (validation {val:.4g})" in text
    assert image_size(plot_loss_curves(history.to_dict(), tmp_path / "loss.png", **SMALL)) == (120, 80)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"snapshots": []}, HandgradError, "empty"),
        ({"snapshots": [(0, np.zeros(40))], "x_grid": None}, ConfigError, "x_grid"),
        ({"snapshots": [(0, np.zeros(39))]}, ShapeError, r"\(39,\).*40"),
        ({"snapshots": [(0, np.zeros(40), "extra")]}, HandgradError, "pair"),
        ({"snapshots": [("first", np.zeros(40))]}, HandgradError, "not a number"),
        ({"snapshots": [(0, np.full(40, np.nan))]}, NonFiniteError, "epoch 0"),
        ({"fps": 0}, ConfigError, "fps"),
        ({"max_frames": 1}, ConfigError, "max_frames"),
        ({"path_name": "fit.png"}, ConfigError, ".gif"),
    ],
)
def test_animation_bad_input_raises_and_writes_nothing(tmp_path, sine, kwargs, error, words):
    x, y = sine
    args = {"snapshots": [(0, np.zeros(40)), (1, np.ones(40))], "x_grid": np.linspace(-3, 3, 40), **kwargs}
    path = tmp_path / args.pop("path_name", "fit.gif")
    with pytest.raises(error, match=words):
        animate_fit_1d(args.pop("snapshots"), x, y, path, **args)
    assert listing(tmp_path) == []


def test_fit_recorder_rejects_bad_settings():
    with pytest.raises(ConfigError, match="every"):
        FitRecorder(lambda X: X[:, 0], np.linspace(0, 1, 5), every=0)
    with pytest.raises(ShapeError, match="x_grid"):
        FitRecorder(lambda X: X[:, 0], np.zeros((5, 2)))


# ------------------------------------------------------------------ decision boundary
def pixel(path, fx: float, fy: float) -> tuple[int, ...]:
    """The RGB colour at fractions (fx, fy) of the image's width and height."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        return rgb.getpixel((int(fx * rgb.width), int(fy * rgb.height)))


def test_decision_boundary_labels_colour_the_two_half_planes_differently(tmp_path, quadrants):
    X, y = quadrants
    out = plot_decision_boundary(lambda G: (G[:, 0] > 0).astype(int), X, y, tmp_path / "db.png", resolution=30)
    assert image_size(out) == (600, 500)
    # Left and right of x₁ = 0, away from the points' markers in the grid's corners near the frame.
    left, right = pixel(out, 0.16, 0.9), pixel(out, 0.9, 0.9)
    assert left != right


@pytest.mark.parametrize(
    ("predict", "string_labels"),
    [
        (lambda G: 1 / (1 + np.exp(-5 * G[:, 0])), False),  # probability of class 1, (m,)
        (lambda G: 5 * G[:, :1], False),  # logits, (m, 1)
        (lambda G: np.column_stack([-G[:, 0], G[:, 0]]), False),  # per-class scores, (m, 2)
        (lambda G: (G[:, 0] > 0).astype(float), False),  # integer-valued floats: labels
        (lambda G: np.where(G[:, 0] > 0, "b", "a"), True),  # the same string labels as y
    ],
    ids=["probability", "logits", "scores", "float-labels", "string-labels"],
)
def test_decision_boundary_accepts_every_documented_prediction(tmp_path, quadrants, predict, string_labels):
    X, y = quadrants
    labels = np.array(["a", "b"])[y] if string_labels else y
    out = plot_decision_boundary(predict, X, labels, tmp_path / "db.png", resolution=20, **SMALL)
    assert image_size(out) == (120, 80)


def test_decision_boundary_with_string_labels_and_one_hot_y(tmp_path, quadrants):
    X, y = quadrants
    strings = np.array(["cat", "dog"])[y]
    text = svg_text(
        plot_decision_boundary,
        lambda G: np.where(G[:, 0] > 0, "dog", "cat"),
        X,
        strings,
        path=tmp_path / "db.svg",
        resolution=10,
    )
    assert "class cat" in text and "class dog" in text
    one_hot = np.eye(2)[y]
    out = plot_decision_boundary(
        lambda G: np.column_stack([-G[:, 0], G[:, 0]]), X, one_hot, tmp_path / "db.png", resolution=10, **SMALL
    )
    assert image_size(out) == (120, 80)


def test_decision_boundary_explains_predicted_classes_without_data(tmp_path, quadrants):
    X, y = quadrants
    text = svg_text(plot_decision_boundary, lambda G: np.full(len(G), 2), X, y, path=tmp_path / "db.svg", resolution=10)
    assert "predicted 2 (no data)" in text


@pytest.mark.parametrize(
    ("X", "y", "predict", "kwargs", "error", "words"),
    [
        (np.zeros(10), np.zeros(10), None, {}, ShapeError, r"\(n_samples, 2\).*\(10,\)"),
        (np.zeros((10, 3)), np.zeros(10), None, {}, ShapeError, "pick two features"),
        (np.zeros((0, 2)), np.zeros(0), None, {}, ShapeError, "no samples"),
        (np.zeros((10, 2)), np.zeros(9), None, {}, ShapeError, "9 labels but X has 10"),
        (np.zeros((10, 2)), np.zeros(10), lambda G: G[:5, 0], {}, ShapeError, "predict returned shape"),
        (np.zeros((10, 2)), np.arange(10) % 3, lambda G: 0.5 + 0 * G[:, 0], {}, HandgradError, "3 classes"),
        (np.zeros((10, 2)), np.zeros(10), None, {"resolution": 1}, ConfigError, "resolution"),
        (np.full((10, 2), np.inf), np.zeros(10), None, {}, NonFiniteError, "X"),
    ],
)
def test_decision_boundary_bad_input_raises_and_writes_nothing(tmp_path, X, y, predict, kwargs, error, words):
    predict = predict or (lambda G: np.zeros(len(G), dtype=int))
    with pytest.raises(error, match=words):
        plot_decision_boundary(predict, X, y, tmp_path / "db.png", resolution=kwargs.get("resolution", 10))
    assert listing(tmp_path) == []


# ------------------------------------------------------------------ activations
def test_activations_all_of_them_in_a_grid_of_four_columns(tmp_path):
    out = plot_activations(None, tmp_path / "act.png", dpi=20)
    # 8 activations → 2 rows × 4 columns of 3 × 2.5 inches.
    assert image_size(out) == (4 * 60, 2 * 50)


def test_activations_by_name_with_aliases(tmp_path):
    text = svg_text(plot_activations, ["relu", "logistic"], path=tmp_path / "act.svg")
    assert "relu" in text and "sigmoid" in text
    assert "σ′(z)" in text
    assert image_size(plot_activations("tanh", tmp_path / "one.png", **SMALL)) == (120, 80)


def test_activations_draw_the_derivative_that_the_engine_uses(tmp_path):
    # A user-supplied activation: its σ' must be drawn as given, so a wrong derivative shows.
    from handgrad.activations import Activation

    cube = Activation("cube", lambda z: z**3 / 64, lambda z: 3 * z**2 / 64)
    text = svg_text(plot_activations, [cube], path=tmp_path / "act.svg")
    assert "cube" in text


@pytest.mark.parametrize(
    ("names", "kwargs", "error", "words"),
    [
        (["relu", "swish"], {}, ConfigError, "unknown activation 'swish'"),
        ([], {}, HandgradError, "no activation"),
        (["relu"], {"z_range": (4, -4)}, ConfigError, "z_range"),
        (["relu"], {"ncols": 0}, ConfigError, "ncols"),
        (["relu"], {"dpi": -1}, ConfigError, "positive"),
    ],
)
def test_activations_bad_input_raises_and_writes_nothing(tmp_path, names, kwargs, error, words):
    with pytest.raises(error, match=words):
        plot_activations(names, tmp_path / "act.png", **kwargs)
    assert listing(tmp_path) == []


# ------------------------------------------------------------------ files
def test_unknown_suffix_missing_folder_and_folder_as_path_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"'\.txt' is not one of .*\.png"):
        plot_loss_curves(HISTORY, tmp_path / "loss.txt")
    with pytest.raises(ConfigError, match="none"):
        plot_loss_curves(HISTORY, tmp_path / "loss")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_loss_curves(HISTORY, tmp_path / "nowhere" / "loss.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(IsADirectoryError):
        plot_loss_curves(HISTORY, tmp_path / "dir.png")
    assert listing(tmp_path) == ["dir.png"]


def test_overwrite_false_keeps_an_existing_file_and_true_replaces_it(tmp_path):
    path = tmp_path / "loss.png"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        plot_loss_curves(HISTORY, path, overwrite=False)
    assert path.read_bytes() == b"precious"
    plot_loss_curves(HISTORY, path, **SMALL)  # overwrite=True is the default
    assert image_size(path) == (120, 80)
    assert listing(tmp_path) == ["loss.png"]


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "loss.png"
    plot_loss_curves(HISTORY, path, **SMALL)
    before = path.read_bytes()

    def half_write(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_write)
    with pytest.raises(OSError, match="disk full"):
        plot_loss_curves(HISTORY, path, figsize=(5, 5))
    assert path.read_bytes() == before
    assert listing(tmp_path) == ["loss.png"]


def test_new_images_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = plot_loss_curves(HISTORY, tmp_path / "loss.png", **SMALL)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_svg_and_pdf_follow_the_suffix(tmp_path):
    assert (plot_loss_curves(HISTORY, tmp_path / "a.svg", **SMALL)).read_text().lstrip().startswith("<?xml")
    assert (plot_loss_curves(HISTORY, tmp_path / "a.pdf", **SMALL)).read_bytes().startswith(b"%PDF")


# ------------------------------------------------------------------ matplotlib stays optional
def run_python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_importing_handgrad_plots_does_not_import_matplotlib(tmp_path):
    result = run_python(
        """
        import sys
        import handgrad, handgrad.plots
        print("matplotlib" in sys.modules)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_without_matplotlib_every_function_says_how_to_install_it(tmp_path):
    result = run_python(
        """
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        import numpy as np
        from handgrad import plots
        from handgrad.errors import HandgradError
        calls = [
            lambda: plots.plot_loss_curves({"train_loss": [1.0]}, "a.png"),
            lambda: plots.plot_predicted_vs_actual(np.zeros(3), np.zeros(3), "b.png"),
            lambda: plots.plot_fit_1d(lambda X: X[:, 0], np.zeros(3), np.zeros(3), "c.png"),
            lambda: plots.animate_fit_1d([(0, np.zeros(3))], np.zeros(3), np.zeros(3), "d.gif", x_grid=np.arange(3.0)),
            lambda: plots.plot_decision_boundary(lambda G: G[:, 0] > 0, np.zeros((3, 2)), np.zeros(3), "e.png"),
            lambda: plots.plot_activations(["relu"], "f.png"),
        ]
        for call in calls:
            try:
                call()
            except plots.PlotDependencyError as exc:
                assert isinstance(exc, ImportError) and isinstance(exc, HandgradError)
                print(exc)
            else:
                print("no error")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 6
    assert all('pip install "handgrad[plot]"' in line for line in lines), lines
    assert listing(tmp_path) == []


def test_plot_dependency_error_is_both_an_import_error_and_a_handgrad_error():
    assert issubclass(PlotDependencyError, ImportError)
    assert issubclass(PlotDependencyError, HandgradError)
